# Shared by every bats suite: paths to the tree, the build and the tools.
# shellcheck shell=bash
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$TOP/build}
KVMHOST=$TOP/tests/kvmhost/run
export TOP BUILD KVMHOST

# Whether a QEMU of tests/kvmhost/run started with TMPDIR=$1 still runs
# (its control share lives in $1/kvmhost.*); other runs on the machine
# don't count.
kvmhost_running() {
	pgrep -f "path=$1/kvmhost\.[^,]*/ctl,mount_tag=kvmhost-ctl" >/dev/null
}

KILN_VMM=$BUILD/bin/kiln-vmm
# The guest the suites boot: kiln's own kernel (`make guest`), the test
# guest and the agent image without modules. KILN_TEST_KERNEL=debian boots
# Debian's installed kernel and the images with its modules instead (a
# suite that is about the stock kernel sets it before `load helpers`).
# KILN_CONF_DEBIAN is a kiln.conf that makes kiln boot Debian's kernel.
KILN_TEST_KERNEL=${KILN_TEST_KERNEL:-kiln}
KILN_KERNEL_RELEASE=$(cat "$BUILD/guest/release" 2>/dev/null || true)
DEBIAN_KERNEL=/boot/vmlinuz-$("$TOP/packaging/find-kernel")
DEBIAN_AGENT_INITRD=$BUILD/guest/debian/initramfs.cpio.gz
case "$KILN_TEST_KERNEL" in
kiln)
	GUEST_KERNEL=$BUILD/guest/vmlinux
	GUEST_INITRD=$BUILD/tests/guest/initramfs.cpio.gz
	AGENT_INITRD=$BUILD/guest/initramfs.cpio.gz
	;;
debian)
	GUEST_KERNEL=$DEBIAN_KERNEL
	GUEST_INITRD=$BUILD/tests/guest/initramfs-debian.cpio.gz
	AGENT_INITRD=$DEBIAN_AGENT_INITRD
	;;
*)
	echo "KILN_TEST_KERNEL=$KILN_TEST_KERNEL: want kiln or debian" >&2
	return 1
	;;
esac
export KILN_TEST_KERNEL KILN_KERNEL_RELEASE DEBIAN_KERNEL DEBIAN_AGENT_INITRD
GUEST_CMDLINE="console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.dumbkbd quiet"
export KILN_VMM GUEST_INITRD GUEST_KERNEL AGENT_INITRD GUEST_CMDLINE

# api METHOD PATH [JSON]: one request to the kiln-vmm API at $SOCK; sets
# $status (curl's), $code (HTTP status) and $body.
api() {
	local out
	out=$(curl -sS --max-time 60 --unix-socket "$SOCK" -X "$1" -w '\n%{http_code}' \
		${3:+-H 'Content-Type: application/json' --data "$3"} "http://localhost$2")
	status=$?
	code=${out##*$'\n'}
	body=${out%$'\n'*}
}

# wait_until SECS CMD...: polls CMD every 0.2 s until it succeeds.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
}

# vmm_wait PID SECS: waits for kiln-vmm PID to end and sets $status to its
# exit status; after SECS it is killed and the wait fails, so no test hangs.
vmm_wait() {
	if ! timeout "$2" tail --pid="$1" -f /dev/null; then
		kill -KILL "$1" 2>/dev/null
		echo "kiln-vmm (pid $1) still ran after $2 s" >&2
		return 1
	fi
	status=0
	wait "$1" || status=$?
}

# A --config-file for the test guest: vm_config VCPUS MIB KILN_TEST [DRIVES_JSON]
vm_config() {
	cat <<JSON
{"boot-source": {"kernel_image_path": "$GUEST_KERNEL", "initrd_path": "$GUEST_INITRD",
                 "boot_args": "$GUEST_CMDLINE kiln_test=$3"},
 "machine-config": {"vcpu_count": $1, "mem_size_mib": $2},
 "drives": [${4:-}]}
JSON
}

# show_runtime_state ROOT...: after a failed test, what its last `run`
# gave (status and output: a failed status check would hide them), and
# what the container processes and kiln's state directories under each
# ROOT show (the supervisor's log and the end of the guest console); no-op
# for a passed test or a root that is not kiln's.
show_runtime_state() {
	local root d
	[ -z "${BATS_TEST_COMPLETED:-}" ] || return 0
	if [ -n "${status:-}" ]; then
		echo "# the last run: exit status $status, output:"
		printf '%s\n' "${output:-}" | tail -n 40
	fi
	echo "# processes:"
	ps -eo pid,ppid,stat,etime,args | grep -E 'kiln|conmon|shim' | grep -v grep | cut -c1-200
	for root in "$@"; do
		for d in "$root"/*/vm/; do
			[ -f "$d/vmm.log" ] || continue
			echo "# $d"
			cat "$d/vmm.log" "$d/../vmm.err" 2>/dev/null
			tail -n 20 "$d/console.log" 2>/dev/null
		done
	done
}

# A client's -t run, checked the same way for every client: TTY_PROBE (the
# container's shell script) prints its tty, then its terminal's size once
# it has one (rows and columns non-zero; a client may set it a little after
# the process started), then both-tty if stdin and stdout are terminals,
# and exits 4.
# shellcheck disable=SC2016
TTY_PROBE='tty; i=0; until s=$(stty size 2>/dev/null) && [ -n "$s" ] && [ "${s%% *}" != 0 ]; do i=$((i+1)); [ $i -lt 100 ] || break; sleep 0.1; done; echo "$s"; [ -t 0 ] && [ -t 1 ] && echo both-tty; exit 4'

# assert_tty_probe CMD...: runs CMD (a client running TTY_PROBE with -t) on
# a 31x97 terminal of its own, made by script(1), and checks its output.
# CMD is exec'd so that it leads the terminal's session and is in its
# foreground: script's shell is $SHELL, and a shell that forked CMD would
# leave `timeout` to put it in a background process group, where the
# client's switch to raw mode stops it with SIGTTOU until the timeout.
assert_tty_probe() {
	local cmd
	cmd=$(printf '%q ' "$@")
	run script -qec "stty rows 31 cols 97; exec $cmd" /dev/null
	output=${output//$'\r'/}
	lines=()
	mapfile -t lines <<<"$output"
	printf '%s\n' "${lines[@]}" # shown if the test fails
	[ "$status" -eq 4 ]
	# (the line may start with an echoed control character)
	[[ "${lines[0]}" == */dev/pts/* || "${lines[0]}" == */dev/console ]]
	[ "${lines[1]}" = "31 97" ]
	[ "${lines[2]}" = both-tty ]
}
