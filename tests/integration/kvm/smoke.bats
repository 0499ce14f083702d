#!/usr/bin/env bats
# Runs where /dev/kvm works (inside tests/kvmhost/run here): proves the
# harness end to end with a real KVM guest.
load ../helpers
bats_require_minimum_version 1.5.0

@test "kvm: /dev/kvm is present and opens read-write" {
	[ -c /dev/kvm ]
	exec 9<>/dev/kvm
}

@test "kvm: a real-mode guest adds two registers and writes the result to a port" {
	run timeout 60 "$BUILD/tests/helpers/kvm_smoke"
	[ "$status" -eq 0 ]
	[ "$output" = "5-ok" ]
}

@test "kvm: kiln check --boot passes, with a probe VM's time to agent ready" {
	export KILN_CONF=$BATS_TEST_TMPDIR/kiln.conf
	: >"$KILN_CONF"
	run --separate-stderr timeout 300 "$BUILD/bin/kiln" check --boot
	printf '%s\n' "$output" "$stderr"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^ok\ +kvm\ +/dev/kvm\ is\ kvm_(intel|amd),\ read-write$ ]]
	[[ "${lines[-1]}" =~ ^ok\ +boot\ +a\ probe\ VM\'s\ agent\ answered\ [0-9]+\ ms\ after\ kiln-vmm\ started$ ]]
	# the probe VM and its directory are gone
	! pgrep -f "kiln-vmm --no-api --config-file /tmp/kiln-check"
	! ls -d /tmp/kiln-check.* 2>/dev/null
}
