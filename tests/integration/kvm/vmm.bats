#!/usr/bin/env bats
# kiln-vmm booting Debian's stock kernel with the test guest
# (tests/guest/init): the suite that keeps the stock bzImage (and its ELF
# vmlinux, through the PVH entry) booting now that kiln boots its own
# kernel. Each test is one guest boot; they run where /dev/kvm works (inside
# tests/kvmhost/run here).
KILN_TEST_KERNEL=debian
load ../helpers

BOOT_TIMEOUT=240

teardown() {
	[ -z "${pid:-}" ] || kill -KILL "$pid" 2>/dev/null || true
}

# boot NAME: runs kiln-vmm on $BATS_TEST_TMPDIR/NAME.json; console in $output.
boot() {
	run timeout $BOOT_TIMEOUT "$KILN_VMM" --no-api --config-file "$BATS_TEST_TMPDIR/$1.json"
}

# The value of key=value line KEY in $output.
value() {
	printf '%s\n' "$output" | tr -d '\r' | sed -n "s/^$1=//p" | tail -n 1
}

@test "vmm: the stock kernel boots to userspace with the configured vCPUs and memory" {
	vm_config 2 256 info >"$BATS_TEST_TMPDIR/vm.json"
	boot vm
	[ "$status" -eq 0 ]
	[[ "$output" == *KILN-GUEST-UP* ]]
	[[ "$output" == *KILN-GUEST-DONE* ]]
	[[ "$output" == *"Guest-boot-time = "* ]]
	[ "$(value nproc)" = 2 ]
	mem=$(value memtotal_kb)
	# 256 MiB less what the kernel keeps for itself
	[ "$mem" -gt 150000 ] && [ "$mem" -le 262144 ]
}

@test "vmm: a 4 GiB guest gets its RAM on both sides of the 32-bit MMIO gap" {
	vm_config 1 4096 info >"$BATS_TEST_TMPDIR/vm.json"
	boot vm
	[ "$status" -eq 0 ]
	[[ "$output" == *KILN-GUEST-UP* ]]
	mem=$(value memtotal_kb)
	# 3 GiB below the gap + 1 GiB above it, less the kernel's own share
	[ "$mem" -gt 3900000 ] && [ "$mem" -le 4194304 ]
}

@test "vmm: virtio-blk moves bytes both ways intact; a read-only drive refuses writes" {
	head -c 4M /dev/urandom >"$BATS_TEST_TMPDIR/data.img"
	head -c 1M /dev/urandom >"$BATS_TEST_TMPDIR/ro.img"
	data_sha=$(sha256sum <"$BATS_TEST_TMPDIR/data.img" | cut -d' ' -f1)
	tail_sha=$(tail -c +1048577 "$BATS_TEST_TMPDIR/data.img" | sha256sum | cut -d' ' -f1)
	ro_sha=$(sha256sum <"$BATS_TEST_TMPDIR/ro.img" | cut -d' ' -f1)
	vm_config 1 256 blk "
		{\"drive_id\": \"data\", \"path_on_host\": \"$BATS_TEST_TMPDIR/data.img\", \"is_root_device\": false, \"is_read_only\": false},
		{\"drive_id\": \"ro\", \"path_on_host\": \"$BATS_TEST_TMPDIR/ro.img\", \"is_root_device\": false, \"is_read_only\": true}" \
		>"$BATS_TEST_TMPDIR/vm.json"
	boot vm
	[ "$status" -eq 0 ]
	[ "$(value data_size_sectors)" = 8192 ]
	# the guest read exactly what the host wrote
	[ "$(value data_read_sha256)" = "$data_sha" ]
	# the host file holds exactly what the guest wrote, and nothing else moved
	[ "$(value data_write)" = ok ]
	[ "$(head -c 1M "$BATS_TEST_TMPDIR/data.img" | sha256sum | cut -d' ' -f1)" = "$(value data_write_sha256)" ]
	[ "$(tail -c +1048577 "$BATS_TEST_TMPDIR/data.img" | sha256sum | cut -d' ' -f1)" = "$tail_sha" ]
	[ "$(value ro_flag)" = 1 ]
	[ "$(value ro_write)" = refused ]
	[ "$(value ro_read_sha256)" = "$ro_sha" ]
	[ "$(sha256sum <"$BATS_TEST_TMPDIR/ro.img" | cut -d' ' -f1)" = "$ro_sha" ]
}

@test "vmm: an ELF vmlinux boots through the PVH entry" {
	sed "s|$GUEST_KERNEL|$BUILD/tests/guest/vmlinux|" <(vm_config 1 256 info) >"$BATS_TEST_TMPDIR/vm.json"
	boot vm
	[ "$status" -eq 0 ]
	[[ "$output" == *KILN-GUEST-UP* ]]
	[ "$(value nproc)" = 1 ]
}

@test "vmm: driven through the API: boot, post-boot rules, pause/resume, drive resize" {
	SOCK=$BATS_TEST_TMPDIR/api.sock
	truncate -s 4M "$BATS_TEST_TMPDIR/data.img"
	truncate -s 8M "$BATS_TEST_TMPDIR/bigger.img"
	"$KILN_VMM" --api-sock "$SOCK" >"$BATS_TEST_TMPDIR/console" 2>&1 &
	pid=$!
	wait_until 10 test -S "$SOCK"
	api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}'
	[ "$code" = 204 ]
	api PUT /boot-source "{\"kernel_image_path\": \"$GUEST_KERNEL\", \"initrd_path\": \"$GUEST_INITRD\", \"boot_args\": \"$GUEST_CMDLINE kiln_test=resize\"}"
	[ "$code" = 204 ]
	api PUT /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$BATS_TEST_TMPDIR/data.img\", \"is_root_device\": false, \"is_read_only\": false}"
	[ "$code" = 204 ]
	api PUT /actions '{"action_type": "InstanceStart"}'
	[ "$code" = 204 ]
	api GET /
	[[ "$body" == *'"state":"Running"'* ]]
	api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}'
	[ "$code" = 400 ]
	[[ "$body" == *"after starting"* ]]
	api PUT /actions '{"action_type": "InstanceStart"}'
	[ "$code" = 400 ]
	api PATCH /vm '{"state": "Paused"}'
	[ "$code" = 204 ]
	api GET /
	[[ "$body" == *'"state":"Paused"'* ]]
	api PATCH /vm '{"state": "Resumed"}'
	[ "$code" = 204 ]
	wait_until $BOOT_TIMEOUT grep -q '^data_size_sectors=8192' "$BATS_TEST_TMPDIR/console"
	api PATCH /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$BATS_TEST_TMPDIR/bigger.img\"}"
	[ "$code" = 204 ]
	vmm_wait "$pid" 120
	[ "$status" -eq 0 ]
	[ "$(tr -d '\r' <"$BATS_TEST_TMPDIR/console" | grep -c '^data_size_sectors=16384')" = 1 ]
	[ ! -e "$SOCK" ]
}

@test "vmm: SendCtrlAltDel resets the guest and kiln-vmm exits 0" {
	SOCK=$BATS_TEST_TMPDIR/api.sock
	vm_config 1 256 wait >"$BATS_TEST_TMPDIR/vm.json"
	"$KILN_VMM" --api-sock "$SOCK" --config-file "$BATS_TEST_TMPDIR/vm.json" >"$BATS_TEST_TMPDIR/console" 2>&1 &
	pid=$!
	wait_until $BOOT_TIMEOUT grep -q KILN-GUEST-UP "$BATS_TEST_TMPDIR/console"
	api PUT /actions '{"action_type": "SendCtrlAltDel"}'
	[ "$code" = 204 ]
	vmm_wait "$pid" 120
	[ "$status" -eq 0 ]
}

@test "vmm: SIGTERM stops a running guest cleanly" {
	vm_config 2 256 wait >"$BATS_TEST_TMPDIR/vm.json"
	"$KILN_VMM" --no-api --config-file "$BATS_TEST_TMPDIR/vm.json" >"$BATS_TEST_TMPDIR/console" 2>&1 &
	pid=$!
	wait_until $BOOT_TIMEOUT grep -q KILN-GUEST-UP "$BATS_TEST_TMPDIR/console"
	kill -TERM "$pid"
	vmm_wait "$pid" 60
	[ "$status" -eq 0 ]
	grep -q "stopping on signal 15" "$BATS_TEST_TMPDIR/console"
}

@test "vmm: a file that is not a kernel fails InstanceStart with one line" {
	head -c 4096 /dev/urandom >"$BATS_TEST_TMPDIR/junk"
	sed "s|$GUEST_KERNEL|$BATS_TEST_TMPDIR/junk|" <(vm_config 1 128 info) >"$BATS_TEST_TMPDIR/vm.json"
	boot vm
	[ "$status" -eq 1 ]
	[[ "$output" == *"junk is neither a bzImage nor an ELF vmlinux"* ]]
}

@test "vmm: after an InstanceStart that failed midway, a retry is refused with a reason" {
	SOCK=$BATS_TEST_TMPDIR/api.sock
	head -c 4096 /dev/urandom >"$BATS_TEST_TMPDIR/junk"
	"$KILN_VMM" --api-sock "$SOCK" >"$BATS_TEST_TMPDIR/console" 2>&1 &
	pid=$!
	wait_until 10 test -S "$SOCK"
	api PUT /boot-source "{\"kernel_image_path\": \"$BATS_TEST_TMPDIR/junk\"}"
	[ "$code" = 204 ]
	api PUT /actions '{"action_type": "InstanceStart"}'
	[ "$code" = 400 ]
	[[ "$body" == *"neither a bzImage nor an ELF vmlinux"* ]]
	api GET /
	[[ "$body" == *'"state":"Not started"'* ]]
	api PUT /actions '{"action_type": "InstanceStart"}'
	[ "$code" = 400 ]
	[[ "$body" == *"start a new kiln-vmm"* ]]
	kill -TERM "$pid"
	vmm_wait "$pid" 30
	[ "$status" -eq 0 ]
}
