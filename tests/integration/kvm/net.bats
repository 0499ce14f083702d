#!/usr/bin/env bats
# kiln-vmm's virtio-net device on a tap, with kiln's kernel and the test
# guest (tests/guest/init, kiln_test=net). Runs where /dev/kvm works and
# as root, since it makes taps: inside tests/kvmhost/run here. Two guest
# boots in all.
load ../helpers

BOOT_TIMEOUT=240
MAC=06:00:0a:00:02:02

setup() {
	# Modules do not autoload in the emulated host; loading one by hand
	# works (tests/kvmhost/stage2 loads kvm_amd the same way).
	[ -c /dev/net/tun ] || modprobe tun
	[ -c /dev/net/tun ]
}

teardown() {
	[ -z "${pid:-}" ] || kill -KILL "$pid" 2>/dev/null || true
	for p in ${spids:-}; do kill -KILL "$p" 2>/dev/null || true; done
	for t in ${taps:-}; do ip link del "$t" 2>/dev/null || true; done
}

# The value of key=value line KEY in $output.
value() {
	printf '%s\n' "$output" | tr -d '\r' | sed -n "s/^$1=//p" | tail -n 1
}

# tap_make NAME [MODE]: a tap (or tun) device the teardown removes.
tap_make() {
	ip tuntap add dev "$1" mode "${2:-tap}"
	taps="${taps:-} $1"
}

# net_config KILN_TEST TAP MAC_JSON: the test guest with one interface.
net_config() {
	cat <<JSON
{"boot-source": {"kernel_image_path": "$GUEST_KERNEL", "initrd_path": "$GUEST_INITRD",
                 "boot_args": "$GUEST_CMDLINE kiln_test=$1"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 256},
 "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "$2", "guest_mac": $3}]}
JSON
}

listening() {
	ss -Hltn "sport = :$1" | grep -q .
}

# http_serve PORT get|post FILE: answers one HTTP request on 10.0.2.1:PORT,
# sending FILE (get) or storing the request body in FILE (post). The
# request is read in full before the answer, so closing never resets it.
http_serve() {
	local h=$BATS_TEST_TMPDIR/http
	cat >"$h" <<'SH'
#!/bin/bash
len=0
while IFS= read -r line; do
	line=${line%$'\r'}
	[ -z "$line" ] && break
	case "${line,,}" in content-length:*) len=${line#*:} len=${len// /} ;; esac
done
if [ "$1" = get ]; then
	printf 'HTTP/1.0 200 OK\r\nContent-Length: %s\r\nConnection: close\r\n\r\n' "$(stat -c %s "$2")"
	cat "$2"
else
	head -c "$len" >"$2"
	printf 'HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
fi
SH
	chmod +x "$h"
	socat TCP-LISTEN:"$1",bind=10.0.2.1,reuseaddr EXEC:"$h $2 $3" &
	spids="${spids:-} $!"
	wait_until 10 listening "$1"
}

@test "net: eth0 has the configured MAC, pings the host's tap, 4 MiB go each way intact" {
	tap_make ktap0
	ip addr add 10.0.2.1/24 dev ktap0
	ip link set ktap0 up
	head -c 4M /dev/urandom >"$BATS_TEST_TMPDIR/get"
	http_serve 8080 get "$BATS_TEST_TMPDIR/get"
	http_serve 8081 post "$BATS_TEST_TMPDIR/post"
	net_config net ktap0 "\"$MAC\"" >"$BATS_TEST_TMPDIR/vm.json"
	run timeout $BOOT_TIMEOUT "$KILN_VMM" --no-api --config-file "$BATS_TEST_TMPDIR/vm.json"
	printf '%s\n' "$output" | grep -E '^(net_|kiln-|KILN-)' || true
	[ "$status" -eq 0 ]
	[ "$(value net_mac)" = "$MAC" ]
	[ "$(value net_up)" = ok ]
	[ "$(value net_ping)" = ok ]
	[ "$(value net_get_sha256)" = "$(sha256sum <"$BATS_TEST_TMPDIR/get" | cut -d' ' -f1)" ]
	[ "$(value net_post)" = ok ]
	[ "$(value net_post_sha256)" = "$(sha256sum <"$BATS_TEST_TMPDIR/post" | cut -d' ' -f1)" ]
	# kiln-vmm let go of the tap: with no process attached, it has no
	# carrier.
	[ "$(cat /sys/class/net/ktap0/carrier)" = 0 ]
}

@test "net: a tap that does not exist or is not a tap fails the start with one line naming it" {
	net_config info kilnnotap9 null >"$BATS_TEST_TMPDIR/vm.json"
	run timeout 60 "$KILN_VMM" --no-api --config-file "$BATS_TEST_TMPDIR/vm.json"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "kiln-vmm: network interface 'eth0': tap 'kilnnotap9' does not exist"* ]]
	# TUNSETIFF would have created one; nothing is left behind.
	! ip link show kilnnotap9 2>/dev/null

	tap_make ktun0 tun
	net_config info ktun0 null >"$BATS_TEST_TMPDIR/vm.json"
	run timeout 60 "$KILN_VMM" --no-api --config-file "$BATS_TEST_TMPDIR/vm.json"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "kiln-vmm: network interface 'eth0': cannot attach to tap 'ktun0' (is it a tap device?)"* ]]
}

@test "net: over the API, InstanceStart on a missing tap fails and leaves the VM startable" {
	SOCK=$BATS_TEST_TMPDIR/api.sock
	"$KILN_VMM" --api-sock "$SOCK" >"$BATS_TEST_TMPDIR/console" 2>&1 &
	pid=$!
	wait_until 10 test -S "$SOCK"
	api PUT /boot-source "{\"kernel_image_path\": \"$GUEST_KERNEL\", \"initrd_path\": \"$GUEST_INITRD\", \"boot_args\": \"$GUEST_CMDLINE kiln_test=info\"}"
	[ "$code" = 204 ]
	api PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "ktap1", "rx_rate_limiter": {"bandwidth": {"size": 1000, "refill_time": 100}}}'
	[ "$code" = 400 ]
	[[ "$body" == *"rx_rate_limiter: rate limiters are not supported by kiln-vmm"* ]]
	api PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "ktap1", "guest_mac": "06:00:0a:00:02:03"}'
	[ "$code" = 204 ]
	api PUT /actions '{"action_type": "InstanceStart"}'
	[ "$code" = 400 ]
	[[ "$body" == *"network interface 'eth0': tap 'ktap1' does not exist"* ]]
	! ip link show ktap1 2>/dev/null
	api GET /
	[[ "$body" == *'"state":"Not started"'* ]]

	tap_make ktap1
	api PUT /actions '{"action_type": "InstanceStart"}'
	[ "$code" = 204 ]
	api GET /vm/config
	[[ "$body" == *'"network-interfaces":[{"iface_id":"eth0","host_dev_name":"ktap1","guest_mac":"06:00:0a:00:02:03"'* ]]
	api PATCH /network-interfaces/eth0 '{"iface_id": "eth0"}'
	[ "$code" = 400 ]
	[[ "$body" == *"PATCH only updates rate limiters"* ]]
	vmm_wait "$pid" $BOOT_TIMEOUT
	[ "$status" -eq 0 ]
	grep -q KILN-GUEST-DONE "$BATS_TEST_TMPDIR/console"
}
