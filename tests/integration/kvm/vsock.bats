#!/usr/bin/env bats
# kiln-vmm's virtio-vsock device (hybrid, Firecracker-style) with the test
# guest's vsock_test program (tests/guest/vsock_test.c) and the stock
# kernel's vmw_vsock_virtio_transport. Runs where /dev/kvm works.
load ../helpers

BOOT_TIMEOUT=240

teardown() {
	[ -z "${pid:-}" ] || kill -KILL "$pid" 2>/dev/null || true
	[ -z "${spid:-}" ] || kill -KILL "$spid" 2>/dev/null || true
}

# The value of key=value line KEY in $output.
value() {
	printf '%s\n' "$output" | tr -d '\r' | sed -n "s/^$1=//p" | tail -n 1
}

# vsock_config KILN_TEST UDS_PATH: the test guest with a vsock device.
vsock_config() {
	cat <<JSON
{"boot-source": {"kernel_image_path": "$GUEST_KERNEL", "initrd_path": "$GUEST_INITRD",
                 "boot_args": "$GUEST_CMDLINE kiln_test=$1"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 256},
 "vsock": {"guest_cid": 3, "uds_path": "$2"}}
JSON
}

@test "vsock: host-initiated CONNECT reaches a guest listener; 1 MiB echoes back intact" {
	UDS=$BATS_TEST_TMPDIR/v.sock
	vsock_config vsock-listen "$UDS" >"$BATS_TEST_TMPDIR/vm.json"
	"$KILN_VMM" --no-api --config-file "$BATS_TEST_TMPDIR/vm.json" >"$BATS_TEST_TMPDIR/console" 2>&1 &
	pid=$!
	wait_until $BOOT_TIMEOUT grep -q 'vsock_test: listening on port 1234' "$BATS_TEST_TMPDIR/console"
	[ -S "$UDS" ]
	head -c 1M /dev/urandom >"$BATS_TEST_TMPDIR/in"
	# socat half-closes after its stdin; the guest echoes until EOF and
	# closes, which ends socat.
	{ printf 'CONNECT 1234\n'; cat "$BATS_TEST_TMPDIR/in"; } |
		timeout 120 socat -t 60 - UNIX-CONNECT:"$UDS" >"$BATS_TEST_TMPDIR/out"
	[[ "$(head -n 1 "$BATS_TEST_TMPDIR/out")" =~ ^OK\ [0-9]+$ ]]
	[ "$(tail -n +2 "$BATS_TEST_TMPDIR/out" | sha256sum)" = "$(sha256sum <"$BATS_TEST_TMPDIR/in")" ]
	vmm_wait "$pid" 120
	[ "$status" -eq 0 ]
	output=$(cat "$BATS_TEST_TMPDIR/console")
	[ "$(value vsock_listen_status)" = 0 ]
	# kiln-vmm removes its socket when it ends.
	[ ! -e "$UDS" ]
}

@test "vsock: a guest connect to CID 2 port 5000 reaches <uds_path>_5000" {
	UDS=$BATS_TEST_TMPDIR/v.sock
	socat UNIX-LISTEN:"${UDS}_5000" EXEC:cat &
	spid=$!
	wait_until 10 test -S "${UDS}_5000"
	vsock_config vsock-connect "$UDS" >"$BATS_TEST_TMPDIR/vm.json"
	run timeout $BOOT_TIMEOUT "$KILN_VMM" --no-api --config-file "$BATS_TEST_TMPDIR/vm.json"
	[ "$status" -eq 0 ]
	[ "$(value vsock_connect_reply)" = hello-from-guest ]
}

@test "vsock: a uds_path kiln-vmm cannot listen on fails the start with its path named" {
	vsock_config info "$BATS_TEST_TMPDIR/missing/v.sock" >"$BATS_TEST_TMPDIR/vm.json"
	run timeout 60 "$KILN_VMM" --no-api --config-file "$BATS_TEST_TMPDIR/vm.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"vsock"*"$BATS_TEST_TMPDIR/missing/v.sock"* ]]
}
