# Shared by every bats suite: paths to the tree, the build and the tools.
# shellcheck shell=bash
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$TOP/build}
KVMHOST=$TOP/tests/kvmhost/run
export TOP BUILD KVMHOST

# No QEMU of tests/kvmhost/run may outlive a test.
kvmhost_running() {
	pgrep -f 'mount_tag=kvmhost-ctl' >/dev/null
}
