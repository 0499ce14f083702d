#!/usr/bin/env bats
# kiln-vmm's virtio-fs device (vmm/virtio/fs.c, docs/vmm.md "virtio-fs")
# with Debian's virtiofsd as its vhost-user back end, booting the test guest
# (tests/guest/init: kiln_test=fs, fs-dead). The guest waits for one line on
# its console (kiln-vmm's stdin, a FIFO here) where the host has something
# to do while it runs. Runs where /dev/kvm works.
load ../helpers

BOOT_TIMEOUT=240
VIRTIOFSD=/usr/lib/qemu/virtiofsd

teardown() {
	if [ -z "${BATS_TEST_COMPLETED:-}" ]; then
		echo "# console:"
		tail -n 60 "${CONSOLE:-/dev/null}" 2>/dev/null || true
		echo "# virtiofsd:"
		tail -n 30 "$BATS_TEST_TMPDIR/virtiofsd.log" 2>/dev/null || true
	fi
	[ -z "${pid:-}" ] || kill -KILL "$pid" 2>/dev/null || true
	[ -z "${fsd:-}" ] || fsd_kill
}

# virtiofsd with the default sandbox forks: the parent waits for the child
# that serves the socket. Kills both, the child first.
fsd_kill() {
	local kids
	kids=$(cat /proc/"$fsd"/task/*/children 2>/dev/null || true)
	# shellcheck disable=SC2086
	[ -z "$kids" ] || kill -KILL $kids 2>/dev/null || true
	kill -KILL "$fsd" 2>/dev/null || true
	wait "$fsd" 2>/dev/null || true
}

# start_virtiofsd: shares $BATS_TEST_TMPDIR/share on $FS_SOCK; $fsd is its
# pid. The socket is made listening under another name and renamed into
# place before virtiofsd runs (it gets it with --fd), so once $FS_SOCK
# exists a connect succeeds.
start_virtiofsd() {
	FS_SOCK=$BATS_TEST_TMPDIR/fs.sock
	python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1] + ".new")
s.listen(1)
os.rename(sys.argv[1] + ".new", sys.argv[1])
os.set_inheritable(s.fileno(), True)
os.execv(sys.argv[2], [sys.argv[2], "--fd=%d" % s.fileno()] + sys.argv[3:])
' "$FS_SOCK" "$VIRTIOFSD" -o source="$BATS_TEST_TMPDIR/share" -o cache=none \
		>"$BATS_TEST_TMPDIR/virtiofsd.log" 2>&1 3>&- &
	fsd=$!
	wait_until 60 test -S "$FS_SOCK"
}

# fs_vm_config KILN_TEST: two vCPUs, 256 MiB, the share as tag "kiln".
fs_vm_config() {
	cat <<JSON
{"boot-source": {"kernel_image_path": "$GUEST_KERNEL", "initrd_path": "$GUEST_INITRD",
                 "boot_args": "$GUEST_CMDLINE kiln_test=$1"},
 "machine-config": {"vcpu_count": 2, "mem_size_mib": 256},
 "fs": [{"fs_id": "kiln", "tag": "kiln", "socket_path": "$FS_SOCK"}]}
JSON
}

# start_vmm: kiln-vmm on vm.json with its API on $SOCK, its stdin the FIFO
# on fd 8 (bats keeps 3 for itself), the console (and kiln-vmm's log) in
# $CONSOLE; $pid is its pid.
start_vmm() {
	CONSOLE=$BATS_TEST_TMPDIR/console
	SOCK=$BATS_TEST_TMPDIR/api.sock
	mkfifo "$BATS_TEST_TMPDIR/in"
	"$KILN_VMM" --api-sock "$SOCK" --config-file "$BATS_TEST_TMPDIR/vm.json" \
		<"$BATS_TEST_TMPDIR/in" >"$CONSOLE" 2>&1 3>&- &
	pid=$!
	exec 8>"$BATS_TEST_TMPDIR/in"
}

# The value of key=value line KEY on the console.
value() {
	tr -d '\r' <"$CONSOLE" | sed -n "s/^$1=//p" | tail -n 1
}

# The "Seccomp:" mode and name of each of kiln-vmm's threads, one per line.
thread_modes() {
	local t
	for t in /proc/"$pid"/task/*; do
		printf '%s %s\n' "$(sed -n 's/^Seccomp:[[:space:]]*//p' "$t/status")" "$(cat "$t/comm")"
	done
}

@test "vmm fs: a host directory over virtio-fs and virtiofsd: read, write, 3 MiB both ways; every thread filtered" {
	mkdir "$BATS_TEST_TMPDIR/share"
	echo hello-from-host >"$BATS_TEST_TMPDIR/share/hello"
	head -c 4M /dev/urandom >"$BATS_TEST_TMPDIR/share/big"
	big_sha=$(sha256sum <"$BATS_TEST_TMPDIR/share/big" | cut -d' ' -f1)
	start_virtiofsd
	fs_vm_config fs >"$BATS_TEST_TMPDIR/vm.json"
	start_vmm
	wait_until $BOOT_TIMEOUT grep -q KILN-GUEST-FS-WAIT "$CONSOLE"
	# the device is live: every thread still runs under its filter
	run thread_modes
	echo "$output"
	[ "${#lines[@]}" -ge 3 ]
	[ "$(printf '%s\n' "$output" | grep -c '^2 ')" -eq "${#lines[@]}" ]
	[[ "$output" == *"2 vcpu0"* ]]
	[[ "$output" == *"2 vcpu1"* ]]
	# the API shows the device, and takes no new one after the start
	api GET /vm/config
	[[ "$body" == *'"fs":[{"fs_id":"kiln","tag":"kiln","socket_path":'* ]]
	api PUT /fs/other '{"fs_id": "other", "tag": "other", "socket_path": "x.sock"}'
	[ "$code" = 400 ]
	[[ "$body" == *"not supported after starting the microVM"* ]]
	echo go >&8
	vmm_wait "$pid" 120
	cat "$CONSOLE"
	[ "$status" -eq 0 ]
	[ "$(value fs_mount)" = ok ]
	[ "$(value fs_hello)" = hello-from-host ]
	[ "$(value fs_big_sha256)" = "$big_sha" ]
	[ "$(value fs_write)" = ok ]
	[ "$(cat "$BATS_TEST_TMPDIR/share/from-guest")" = written-by-guest ]
	[ "$(value fs_copy)" = ok ]
	[ "$(sha256sum <"$BATS_TEST_TMPDIR/share/out" | cut -d' ' -f1)" = "$(value fs_out_sha256)" ]
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/share/out")" = $((48 * 65536)) ]
	[ "$(value fs_umount)" = ok ]
	grep -q KILN-GUEST-DONE "$CONSOLE"
}

@test "vmm fs: virtiofsd dies under a mounted share: the guest gets EIO, kiln-vmm runs on" {
	mkdir "$BATS_TEST_TMPDIR/share"
	echo hello-from-host >"$BATS_TEST_TMPDIR/share/hello"
	start_virtiofsd
	fs_vm_config fs-dead >"$BATS_TEST_TMPDIR/vm.json"
	start_vmm
	wait_until $BOOT_TIMEOUT grep -q KILN-GUEST-FS-WAIT "$CONSOLE"
	fsd_kill
	fsd=
	# kiln-vmm notices the hang-up before the guest goes on
	wait_until 60 grep -q "fs 'kiln': vhost-user back end" "$CONSOLE"
	kill -0 "$pid"
	echo go >&8
	vmm_wait "$pid" 120
	cat "$CONSOLE"
	[ "$status" -eq 0 ]
	[ "$(value fs_hello)" = hello-from-host ]
	[[ "$(value fs_after)" == error:*"Input/output error"* ]]
	[ "$(value fs_ls)" = failed ]
	grep -q KILN-GUEST-DONE "$CONSOLE"
	# one line names the device and the socket
	[ "$(grep -c "fs 'kiln': vhost-user back end on '$FS_SOCK'" "$CONSOLE")" -eq 1 ]
}

@test "vmm fs: a missing vhost-user socket fails InstanceStart with one line" {
	FS_SOCK=$BATS_TEST_TMPDIR/missing.sock
	fs_vm_config fs >"$BATS_TEST_TMPDIR/vm.json"
	run timeout 60 "$KILN_VMM" --no-api --config-file "$BATS_TEST_TMPDIR/vm.json"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"fs 'kiln': cannot connect to vhost-user socket '$FS_SOCK'"* ]]
	[ ! -e "$FS_SOCK" ]
}
