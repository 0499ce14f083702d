#!/usr/bin/env bats
# kiln-vmm's command line and its Firecracker-compatible API before boot:
# nothing here needs /dev/kvm. Booting through the API is in kvm/vmm.bats.
load helpers

setup() {
	SOCK=$BATS_TEST_TMPDIR/api.sock
	"$KILN_VMM" --api-sock "$SOCK" --id test-vm >"$BATS_TEST_TMPDIR/vmm.out" 2>&1 &
	VMM_PID=$!
	wait_until 10 test -S "$SOCK"
}

teardown() {
	kill "$VMM_PID" 2>/dev/null || true
	wait "$VMM_PID" 2>/dev/null || true
}

@test "vmm api: GET / and /version describe the instance" {
	api GET /
	[ "$code" = 200 ]
	[[ "$body" == *'"id":"test-vm"'* ]]
	[[ "$body" == *'"state":"Not started"'* ]]
	api GET /version
	[ "$code" = 200 ]
	[[ "$body" == *'"firecracker_version":'* ]]
}

@test "vmm api: machine-config is set, read back and validated" {
	api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}'
	[ "$code" = 204 ]
	api GET /machine-config
	[ "$code" = 200 ]
	[[ "$body" == *'"vcpu_count":2'* ]]
	[[ "$body" == *'"mem_size_mib":256'* ]]
	api PATCH /machine-config '{"mem_size_mib": 512}'
	[ "$code" = 204 ]
	api GET /machine-config
	[[ "$body" == *'"vcpu_count":2'* && "$body" == *'"mem_size_mib":512'* ]]

	api PUT /machine-config '{"vcpu_count": 0, "mem_size_mib": 256}'
	[ "$code" = 400 ]
	[[ "$body" == *'"fault_message":'*vcpu_count* ]]
	api PUT /machine-config '{"vcpu_count": 33, "mem_size_mib": 256}'
	[ "$code" = 400 ]
	api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 32}'
	[ "$code" = 400 ]
	[[ "$body" == *mem_size_mib* ]]
	api PUT /machine-config '{"vcpu_count": "two", "mem_size_mib": 256}'
	[ "$code" = 400 ]
	[[ "$body" == *vcpu_count* ]]
	api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256, "turbo": true}'
	[ "$code" = 400 ]
	[[ "$body" == *turbo* ]]
	api PUT /machine-config '{"vcpu_count": 1,'
	[ "$code" = 400 ]
	[[ "$body" == *JSON* ]]
	# none of the bad requests changed anything
	api GET /machine-config
	[[ "$body" == *'"vcpu_count":2'* && "$body" == *'"mem_size_mib":512'* ]]
}

@test "vmm api: boot-source and drives check their files" {
	api PUT /boot-source '{"kernel_image_path": "/nonexistent/vmlinuz"}'
	[ "$code" = 400 ]
	[[ "$body" == */nonexistent/vmlinuz* ]]
	api PUT /boot-source "{\"kernel_image_path\": \"$GUEST_KERNEL\", \"initrd_path\": \"/nonexistent/initrd\"}"
	[ "$code" = 400 ]
	[[ "$body" == */nonexistent/initrd* ]]
	api PUT /boot-source "{\"kernel_image_path\": \"$GUEST_KERNEL\", \"boot_args\": \"console=ttyS0\"}"
	[ "$code" = 204 ]

	truncate -s 1M "$BATS_TEST_TMPDIR/disk.img"
	api PUT /drives/rootfs '{"drive_id": "other", "path_on_host": "/x", "is_root_device": true, "is_read_only": false}'
	[ "$code" = 400 ]
	api PUT /drives/rootfs '{"drive_id": "rootfs", "path_on_host": "/nonexistent.img", "is_root_device": true, "is_read_only": false}'
	[ "$code" = 400 ]
	[[ "$body" == */nonexistent.img* ]]
	api PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$BATS_TEST_TMPDIR/disk.img\", \"is_root_device\": true, \"is_read_only\": true}"
	[ "$code" = 204 ]
	api PATCH /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$BATS_TEST_TMPDIR/disk.img\"}"
	[ "$code" = 204 ]
	api GET /vm/config
	[ "$code" = 200 ]
	[[ "$body" == *'"drive_id":"rootfs"'* ]]
	[[ "$body" == *'"boot_args":"console=ttyS0"'* ]]
}

@test "vmm api: unknown paths, wrong methods, oversized and malformed requests" {
	api GET /no/such/thing
	[ "$code" = 404 ]
	api DELETE /machine-config
	[ "$code" = 405 ]
	big=$(head -c 60000 /dev/zero | tr '\0' 'x')
	api PUT /logger "{\"log_path\": \"$big\"}"
	[ "$code" = 413 ]
	run bash -c "printf 'GARBAGE\r\n\r\n' | socat -t 5 - UNIX-CONNECT:$SOCK"
	[[ "$output" == "HTTP/1.1 400"* ]]
	run bash -c "printf 'PUT /actions HTTP/1.1\r\nContent-Length: nope\r\n\r\n' | socat -t 5 - UNIX-CONNECT:$SOCK"
	[[ "$output" == "HTTP/1.1 400"* ]]
	# and it keeps serving
	api GET /
	[ "$code" = 200 ]
}

@test "vmm api: actions and vm state need a booted VM" {
	api PUT /actions '{"action_type": "InstanceStart"}'
	[ "$code" = 400 ]
	[[ "$body" == *boot* ]]
	api PUT /actions '{"action_type": "SendCtrlAltDel"}'
	[ "$code" = 400 ]
	api PUT /actions '{"action_type": "Explode"}'
	[ "$code" = 400 ]
	[[ "$body" == *Explode* ]]
	api PATCH /vm '{"state": "Paused"}'
	[ "$code" = 400 ]
	api PUT /vsock '{"guest_cid": 2, "uds_path": "/tmp/v.sock"}'
	[ "$code" = 400 ]
	[[ "$body" == *guest_cid* ]]
	api PUT /vsock '{"guest_cid": 3, "uds_path": "/tmp/v.sock"}'
	[ "$code" = 204 ]
	api PUT /metrics "{\"metrics_path\": \"$BATS_TEST_TMPDIR/metrics.json\"}"
	[ "$code" = 204 ]
	api PUT /actions '{"action_type": "FlushMetrics"}'
	[ "$code" = 204 ]
	grep -q '"uptime_ms":' "$BATS_TEST_TMPDIR/metrics.json"
}

@test "vmm api: fs devices are validated, shown in /vm/config, and need their socket at InstanceStart" {
	api PUT /fs/kiln '{"fs_id": "kiln", "tag": "kiln", "socket_path": "fs.sock", "cache": "none"}'
	[ "$code" = 400 ]
	[[ "$body" == *"cache: unknown field"* ]]
	api PUT /fs/kiln '{"fs_id": "other", "tag": "kiln", "socket_path": "fs.sock"}'
	[ "$code" = 400 ]
	[[ "$body" == *"does not match the fs id"* ]]
	api PUT /fs/kiln '{"fs_id": "kiln", "tag": "abcdefghijabcdefghijabcdefghijabcdefg", "socket_path": "fs.sock"}'
	[ "$code" = 400 ]
	[[ "$body" == *"longer than 36 bytes"* ]]
	api GET /vm/config
	[[ "$body" == *'"fs":[]'* ]]
	api PUT /fs/kiln "{\"fs_id\": \"kiln\", \"tag\": \"kiln\", \"socket_path\": \"$BATS_TEST_TMPDIR/fs.sock\"}"
	[ "$code" = 204 ]
	api GET /vm/config
	[[ "$body" == *"\"fs\":[{\"fs_id\":\"kiln\",\"tag\":\"kiln\",\"socket_path\":\"$BATS_TEST_TMPDIR/fs.sock\",\"num_request_queues\":1,\"queue_size\":1024}]"* ]]
	# nobody listens there: InstanceStart fails before any of the VM
	# exists, naming the device and the socket, and can be retried
	touch "$BATS_TEST_TMPDIR/vmlinux"
	api PUT /boot-source "{\"kernel_image_path\": \"$BATS_TEST_TMPDIR/vmlinux\"}"
	[ "$code" = 204 ]
	api PUT /actions '{"action_type": "InstanceStart"}'
	[ "$code" = 400 ]
	[[ "$body" == *"fs 'kiln': cannot connect to vhost-user socket '$BATS_TEST_TMPDIR/fs.sock'"* ]]
	api GET /
	[[ "$body" == *'"state":"Not started"'* ]]
	api PUT /actions '{"action_type": "InstanceStart"}'
	[ "$code" = 400 ]
	[[ "$body" == *"cannot connect to vhost-user socket"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/fs.sock" ]
}

@test "vmm api: SIGTERM stops the VMM and removes its socket" {
	kill -TERM "$VMM_PID"
	vmm_wait "$VMM_PID" 30
	[ "$status" -eq 0 ]
	[ ! -e "$SOCK" ]
}

@test "vmm cli: bad usage and bad config files get one clear line" {
	run "$KILN_VMM" --no-api
	[ "$status" -eq 2 ]
	[[ "$output" == *"--no-api needs --config-file"* ]]
	run "$KILN_VMM" --frobnicate
	[ "$status" -eq 2 ]
	[[ "$output" == *frobnicate* ]]
	run "$KILN_VMM" --no-api --config-file /nonexistent.json
	[ "$status" -eq 1 ]
	[[ "$output" == *"/nonexistent.json"* ]]
	echo '{"machine-config": {"vcpu_count": "x"' >"$BATS_TEST_TMPDIR/bad.json"
	run "$KILN_VMM" --no-api --config-file "$BATS_TEST_TMPDIR/bad.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *bad.json* ]]
	[ "${#lines[@]}" -eq 1 ]
	echo '{"machine-config": {"vcpu_count": 0, "mem_size_mib": 128}}' >"$BATS_TEST_TMPDIR/bad.json"
	run "$KILN_VMM" --no-api --config-file "$BATS_TEST_TMPDIR/bad.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *machine-config.vcpu_count* ]]
	# the API socket of the running VMM is live: a second VMM refuses it
	run "$KILN_VMM" --api-sock "$SOCK"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$SOCK"* ]]
}
