#!/usr/bin/env bats
# Volumes under podman with its stock configuration (podman_helpers.bash):
# -v DIR, :ro, a named volume, a host write seen live, uid 1000, two
# containers sharing (volumes.bats has kiln's own CLI and containerd).
# Runs where /dev/kvm works (inside tests/kvmhost/run here).
# The container scripts are single-quoted on purpose:
# shellcheck disable=SC2016
load ../helpers
load runtime_helpers
load podman_helpers
load volumes_helpers
bats_require_minimum_version 1.5.0

setup_file() {
	runtime_rootfs
	podman_setup_file
}

teardown_file() {
	podman_teardown_file
}

teardown() {
	volumes_teardown
	# what a failed podman test left
	pm rm -f -t 0 vol1 >/dev/null 2>&1 || true
	pm volume rm -f kiln-vol >/dev/null 2>&1 || true
}

# logs_have NAME TEXT: whether `podman logs NAME` shows a line TEXT.
logs_have() {
	pm logs "$1" 2>/dev/null | grep -qx "$2"
}

@test "volumes: podman -v DIR:/data, :ro, a named volume, a host write seen live, uid 1000, two containers" {
	local id
	make_volumes
	run pm volume create kiln-vol
	[ "$status" -eq 0 ]
	run pm run -d --network none --name vol1 -v "$V:/data" -v "$RO:/ro:ro" \
		-v kiln-vol:/named "$IMAGE" sh -c 'echo ready; while :; do sleep 0.2; done'
	[ "$status" -eq 0 ]
	id=$output
	wait_until 120 logs_have vol1 ready

	run pm exec vol1 cat /data/hello
	[ "$status" -eq 0 ] && [ "$output" = from-host ]
	# a host write while the container runs
	echo written-later >"$V/later"
	run pm exec vol1 cat /data/later
	[ "$status" -eq 0 ] && [ "$output" = written-later ]
	# 8 MiB, the same bytes on both sides
	run pm exec vol1 sha256sum /data/big
	[ "$status" -eq 0 ] && [ "${output%% *}" = "$(sha256sum "$V/big" | cut -d' ' -f1)" ]
	# 3000 small files untarred in the container arrive on the host
	run pm exec vol1 sh -c 'tar -C /data -xf /data/tree.tar && find /data/tree -type f | wc -l'
	[ "$status" -eq 0 ] && [ "$output" = 3000 ]
	[ "$(find "$V/tree" -type f | wc -l)" = 3000 ]
	[ "$(cat "$V/tree/f2999")" = "small 2999" ]
	# ownership: a file the container's uid 1000 makes is uid 1000's here
	run pm exec --user 1000:1000 vol1 sh -c 'echo mine >/data/by-1000'
	[ "$status" -eq 0 ]
	[ "$(stat -c %u:%g "$V/by-1000")" = 1000:1000 ]
	# :ro refuses writes, and the host directory is unchanged
	run pm exec vol1 sh -c 'echo x >/ro/new'
	[ "$status" -ne 0 ]
	[[ "$output" == *"Read-only file system"* ]]
	[ "$(ls "$RO")" = kept ]
	# the named volume, and a second container sharing both volumes
	run pm exec vol1 sh -c 'echo from-vol1 >/data/from1; echo named-data >/named/n'
	[ "$status" -eq 0 ]
	run pm run --rm --network none -v "$V:/data" -v kiln-vol:/named "$IMAGE" \
		sh -c 'cat /data/from1 /named/n; echo from-vol2 >/data/from2'
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'from-vol1\nnamed-data')" ]
	run pm exec vol1 cat /data/from2
	[ "$status" -eq 0 ] && [ "$output" = from-vol2 ]
	[ "$(cat "$(pm volume inspect kiln-vol --format '{{.Mountpoint}}')/n")" = named-data ]

	run pm rm -f -t 0 vol1
	[ "$status" -eq 0 ]
	run pm volume rm kiln-vol
	[ "$status" -eq 0 ]
	# podman's rm has the runtime delete the container: its volume daemon
	# went with it
	run pgrep -af "virtiofsd .*/$id/volumes"
	[ "$status" -eq 1 ]
}
