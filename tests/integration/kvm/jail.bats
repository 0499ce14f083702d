#!/usr/bin/env bats
# `kiln jail` on its own: kiln-vmm jailed the way Firecracker's jailer jails
# Firecracker, then configured and started over its API by hand, as people
# who drive kiln-vmm themselves run it (runtime/cli/jail.c). One guest boot.
load ../helpers

KILN=$BUILD/bin/kiln

setup() {
	JAILS=$BATS_TEST_TMPDIR/jails
	JAIL=$JAILS/kiln-vmm/j1/root
}

teardown() {
	[ -z "${pid:-}" ] || kill -KILL "$pid" 2>/dev/null || true
}

@test "kiln jail: kiln-vmm jailed, driven over its API, boots the guest" {
	local uid=$((1879048192 + 4242))
	"$KILN" jail --id j1 --exec-file "$KILN_VMM" --uid $uid --gid $uid \
		--chroot-base-dir "$JAILS" --bind "$GUEST_KERNEL" --bind "$GUEST_INITRD" \
		--resource-limit no-file=128 -- --api-sock /api.sock >"$BATS_TEST_TMPDIR/console" 2>&1 &
	pid=$!
	wait_until 60 test -S "$JAIL/api.sock"
	# the jailed process: the uid asked for, nothing else of root's
	[ "$(cat /proc/$pid/comm)" = kiln-vmm ]
	[ "$(awk '/^Uid:/ { print $2 }' /proc/$pid/status)" -eq $uid ]
	[ "$(awk '/^CapEff:/ { print $2 }' /proc/$pid/status)" = 0000000000000000 ]
	[ "$(awk '/^NoNewPrivs:/ { print $2 }' /proc/$pid/status)" = 1 ]
	grep -q '^Max open files *128 *128' /proc/$pid/limits
	[ ! -e /proc/$pid/root/etc ]
	[ -c /proc/$pid/root/dev/kvm ]
	SOCK=$JAIL/api.sock
	api PUT /boot-source "{\"kernel_image_path\": \"/$(basename "$GUEST_KERNEL")\",
		\"initrd_path\": \"/$(basename "$GUEST_INITRD")\", \"boot_args\": \"$GUEST_CMDLINE kiln_test=info\"}"
	[ "$code" = 204 ]
	api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}'
	[ "$code" = 204 ]
	# a host path does not exist in the jail; a path in the jail does
	api PUT /drives/d1 "{\"drive_id\": \"d1\", \"path_on_host\": \"$BATS_TEST_TMPDIR/console\", \"is_root_device\": false, \"is_read_only\": true}"
	echo "a drive at a host path: $code $body"
	[ "$code" = 400 ]
	[[ "$body" == *"cannot open '$BATS_TEST_TMPDIR/console': No such file or directory"* ]]
	api PUT /drives/d1 "{\"drive_id\": \"d1\", \"path_on_host\": \"/$(basename "$GUEST_KERNEL")\", \"is_root_device\": false, \"is_read_only\": true}"
	[ "$code" = 204 ]
	api PUT /actions '{"action_type": "InstanceStart"}'
	echo "InstanceStart: $code $body"
	[ "$code" = 204 ]
	vmm_wait "$pid" 240
	pid=
	[ "$status" -eq 0 ]
	grep -q KILN-GUEST-UP "$BATS_TEST_TMPDIR/console"
	grep -q '^nproc=1' "$BATS_TEST_TMPDIR/console"
	# nothing of the jail stays mounted on the host
	! grep -q "$JAILS" /proc/self/mountinfo
}

@test "kiln jail: bad input gets one line and status 1" {
	run "$KILN" jail --id j1 --exec-file "$KILN_VMM" --uid 0 --gid 5
	[ "$status" -eq 1 ]
	[ "$output" = 'kiln: --uid: expected a non-zero uid/gid number, got "0"' ]
	run "$KILN" jail --id j1 --exec-file "$KILN_VMM"
	[ "$status" -eq 1 ]
	[ "$output" = "kiln: jail: --id, --exec-file, --uid and --gid are required" ]
	run "$KILN" jail --id j1 --exec-file /nonexistent/kiln-vmm --uid 5 --gid 5
	[ "$status" -eq 1 ]
	[ "$output" = "kiln: --exec-file /nonexistent/kiln-vmm: No such file or directory" ]
	run "$KILN" jail --id j1 --exec-file "$KILN_VMM" --uid 5 --gid 5 --bind /nonexistent/vmlinux
	[ "$status" -eq 1 ]
	[ "$output" = "kiln: --bind /nonexistent/vmlinux: No such file or directory" ]
	run "$KILN" jail --id j1 --exec-file "$KILN_VMM" --uid 5 --gid 5 --resource-limit cpu=1
	[ "$status" -eq 1 ]
	[[ "$output" == "kiln: --resource-limit: expected no-file=N or fsize=N"* ]]
	# a dynamically linked program finds nothing it needs in the jail
	run "$KILN" jail --id j1 --exec-file /bin/true --uid 5 --gid 5 --chroot-base-dir "$JAILS"
	[ "$status" -eq 1 ]
	[[ "$output" == "kiln: jail: running /bin/true: the program or its interpreter is not in the jail"* ]]
}
