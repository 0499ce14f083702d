#!/usr/bin/env bats
# Runs where /dev/kvm works (inside tests/kvmhost/run here): proves the
# harness end to end with a real KVM guest.
load ../helpers

@test "kvm: /dev/kvm is present and opens read-write" {
	[ -c /dev/kvm ]
	exec 9<>/dev/kvm
}

@test "kvm: a real-mode guest adds two registers and writes the result to a port" {
	run timeout 60 "$BUILD/tests/helpers/kvm_smoke"
	[ "$status" -eq 0 ]
	[ "$output" = "5-ok" ]
}
