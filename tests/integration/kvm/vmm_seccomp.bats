#!/usr/bin/env bats
# kiln-vmm's seccomp filters (vmm/seccomp.c, docs/vmm.md "Seccomp"): every
# thread of a booted kiln-vmm runs under one, --no-seccomp turns them off,
# and a call outside a thread kind's list kills kiln-vmm with SIGSYS (the
# test-only KILN_VMM_SECCOMP_SELFTEST makes one). Runs where /dev/kvm works.
load ../helpers

BOOT_TIMEOUT=240
SIGSYS_STATUS=$((128 + 31))

teardown() {
	[ -z "${pid:-}" ] || kill -KILL "$pid" 2>/dev/null || true
}

# The "Seccomp:" mode and name of each of kiln-vmm's threads, one per line.
thread_modes() {
	local t
	for t in /proc/"$pid"/task/*; do
		printf '%s %s\n' "$(sed -n 's/^Seccomp:[[:space:]]*//p' "$t/status")" "$(cat "$t/comm")"
	done
}

# start ARGS...: kiln-vmm with the API on $SOCK and ARGS, console in
# $BATS_TEST_TMPDIR/console; $pid is its pid.
start() {
	SOCK=$BATS_TEST_TMPDIR/api.sock
	"$KILN_VMM" --api-sock "$SOCK" "$@" >"$BATS_TEST_TMPDIR/console" 2>&1 &
	pid=$!
}

@test "vmm seccomp: every thread of a booted kiln-vmm has a filter (main, API, each vCPU)" {
	vm_config 2 256 wait >"$BATS_TEST_TMPDIR/vm.json"
	start --config-file "$BATS_TEST_TMPDIR/vm.json"
	wait_until $BOOT_TIMEOUT grep -q KILN-GUEST-UP "$BATS_TEST_TMPDIR/console"
	run thread_modes
	echo "$output"
	# the main thread, the API thread and two vCPUs
	[ "${#lines[@]}" -eq 4 ]
	[ "$(printf '%s\n' "$output" | grep -c '^2 ')" -eq 4 ]
	[[ "$output" == *"2 kiln_api"* ]]
	[[ "$output" == *"2 vcpu0"* ]]
	[[ "$output" == *"2 vcpu1"* ]]
	# the API still works under its filter, and SIGTERM still stops it all
	api GET /
	[[ "$body" == *'"state":"Running"'* ]]
	kill -TERM "$pid"
	vmm_wait "$pid" 60
	[ "$status" -eq 0 ]
	[ ! -e "$SOCK" ]
}

@test "vmm seccomp: --no-seccomp runs every thread without a filter" {
	vm_config 1 256 wait >"$BATS_TEST_TMPDIR/vm.json"
	# The selftest's call outside the list then just succeeds.
	KILN_VMM_SECCOMP_SELFTEST=vcpu start --no-seccomp --config-file "$BATS_TEST_TMPDIR/vm.json"
	wait_until $BOOT_TIMEOUT grep -q KILN-GUEST-UP "$BATS_TEST_TMPDIR/console"
	run thread_modes
	echo "$output"
	[ "${#lines[@]}" -eq 3 ]
	[ "$(printf '%s\n' "$output" | grep -c '^0 ')" -eq 3 ]
	kill -TERM "$pid"
	vmm_wait "$pid" 60
	[ "$status" -eq 0 ]
}

@test "vmm seccomp: a call outside the API thread's list kills kiln-vmm with SIGSYS" {
	KILN_VMM_SECCOMP_SELFTEST=api start
	vmm_wait "$pid" 60
	[ "$status" -eq "$SIGSYS_STATUS" ]
}

@test "vmm seccomp: a call outside the main thread's list kills kiln-vmm with SIGSYS" {
	vm_config 1 256 wait >"$BATS_TEST_TMPDIR/vm.json"
	KILN_VMM_SECCOMP_SELFTEST=vmm start --config-file "$BATS_TEST_TMPDIR/vm.json"
	vmm_wait "$pid" $BOOT_TIMEOUT
	[ "$status" -eq "$SIGSYS_STATUS" ]
	# it got as far as starting the VM: the filter comes at the end of the boot
	grep -q "VM started" "$BATS_TEST_TMPDIR/console"
}

@test "vmm seccomp: a call outside a vCPU thread's list kills kiln-vmm with SIGSYS" {
	vm_config 1 256 wait >"$BATS_TEST_TMPDIR/vm.json"
	KILN_VMM_SECCOMP_SELFTEST=vcpu "$KILN_VMM" --no-api --config-file "$BATS_TEST_TMPDIR/vm.json" \
		>"$BATS_TEST_TMPDIR/console" 2>&1 &
	pid=$!
	vmm_wait "$pid" $BOOT_TIMEOUT
	[ "$status" -eq "$SIGSYS_STATUS" ]
	# the vCPU died before running a guest instruction
	! grep -q KILN-GUEST-UP "$BATS_TEST_TMPDIR/console"
}
