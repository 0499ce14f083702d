#!/usr/bin/env bats
# podman's networks with Debian's stock configuration, the store and image
# of podman_helpers.bash: podman 4.3 here uses CNI (containernetworking-
# plugins), and its default network "podman" is the bridge cni-podman0 on
# 10.88.0.0/16 with port forwarding by the portmap plugin
# (/etc/cni/net.d/87-podman-bridge.conflist). The suite knows nothing of
# kiln: under crun or runc (KILN_TEST_RUNTIME=/usr/bin/crun) it checks
# itself. Under kiln every container boots a microVM, so three containers
# of the runtime under test (web, cli, web2) serve most checks and later
# tests reuse them; the first test runs a container of KILN_TEST_PEER
# (default crun) beside web. The last test removes everything and checks
# that no tap, tc qdisc or filter, network namespace or process is left.
# The host's servers are busybox httpd, bound to the gateway's address.
# The containers' busybox (1.35) wget goes without -T, which crashes it
# (SIGSEGV); pm's timeout bounds it instead.
# Runs where /dev/kvm works (inside tests/kvmhost/run here).
# The container scripts are single-quoted on purpose:
# shellcheck disable=SC2016
load ../helpers
load podman_helpers
bats_require_minimum_version 1.5.0

PEER=${KILN_TEST_PEER:-/usr/bin/crun}
# a network of the suite's own, dual-stack, with an MTU of its own
NET=kiln-test-net
NET_SUBNET4=10.89.42.0/24
NET_SUBNET6=fd00:6b69:6c6e::/64
NET_MTU=1400
# a dummy interface, where the host has no address besides its bridges'
DUMMY=kiln-test0
DUMMY_ADDR=198.18.42.1
# ports nothing else on the emulated host listens on
WEB_PORT=18080 PEER_PORT=18081 WEB2_PORT=18082 HOST_PORT=18090
# what each container's httpd serves
WEB_CMD=(sh -c 'mkdir /www && echo "$1" >/www/index.html && exec httpd -f -p 80 -h /www' sh)

setup_file() {
	podman_setup_file
	if [ ! -x "$PEER" ]; then
		echo "no peer runtime at $PEER (KILN_TEST_PEER names another)" >&2
		return 1
	fi
	# Where udev or systemd-tmpfiles runs, /dev/net/tun exists from boot
	# (kmod static-nodes) and opening it loads tun; the emulated host has
	# neither. (kiln makes its taps there.)
	[ -c /dev/net/tun ] || modprobe tun
	# the host's ingress qdiscs before the suite, for the last test
	tc qdisc show | grep -E '^qdisc (ingress|clsact) ' >"$BATS_FILE_TMPDIR/qdiscs.before" || true
	: >"$BATS_FILE_TMPDIR/sandboxes"
	# An address of the host that is not a bridge's: the source address of
	# its default route, or, where it has none (the emulated host has no
	# NIC), that of a dummy interface of the suite's own.
	HOST_ADDR=$(ip -4 -o route get 192.0.2.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
	if [ -z "$HOST_ADDR" ]; then
		ip link add "$DUMMY" type dummy
		ip addr add "$DUMMY_ADDR/32" dev "$DUMMY"
		ip link set "$DUMMY" up
		HOST_ADDR=$DUMMY_ADDR
	fi
	export HOST_ADDR
}

teardown_file() {
	local pid
	for pid in $(cat "$BATS_FILE_TMPDIR"/*.pid 2>/dev/null); do
		kill "$pid" 2>/dev/null || true
	done
	if [ -n "${PMDIR:-}" ]; then
		timeout -k 10 "$PM_TIMEOUT" podman rm -af -t 0 >/dev/null 2>&1 || true
		timeout -k 10 "$PM_TIMEOUT" podman network rm -f "$NET" >/dev/null 2>&1 || true
	fi
	podman_teardown_file
	ip link del "$DUMMY" 2>/dev/null || true
}

# get URL: the body at URL, fetched from the host.
get() {
	curl -sS --max-time 10 "$1"
}

# inspect NAME FORMAT: `podman inspect --format FORMAT NAME`.
inspect() {
	pm inspect --format "$2" "$1"
}

# net_field NAME NETWORK FIELD: FIELD (IPAddress, Gateway, MacAddress, ...)
# of the container's attachment to NETWORK.
net_field() {
	inspect "$1" "{{(index .NetworkSettings.Networks \"$2\").$3}}"
}

# started NAME: notes the network namespace podman gave container NAME, for
# the last test.
started() {
	local sandbox
	sandbox=$(inspect "$1" '{{.NetworkSettings.SandboxKey}}')
	[ -n "$sandbox" ]
	echo "$sandbox" >>"$BATS_FILE_TMPDIR/sandboxes"
}

# web_up NAME TEXT NETWORK PORT: container NAME of the runtime under test on
# NETWORK, serving TEXT with httpd on port 80 published at the host's PORT,
# started unless it runs (an earlier test started it); waits until it
# answers on its address.
web_up() {
	local ip
	if ! state_is "$1" running 2>/dev/null; then
		pm rm -f -t 0 "$1" >/dev/null 2>&1 || true
		pm run -d --name "$1" --network "$3" -p "$4:80" "$IMAGE" "${WEB_CMD[@]}" "$2"
		started "$1"
	fi
	ip=$(net_field "$1" "$3" IPAddress)
	wait_until 120 get "http://$ip/" >/dev/null
}

# cli_up: container cli of the runtime under test on podman's default
# network, idle, for `podman exec`.
cli_up() {
	state_is cli running 2>/dev/null && return 0
	pm rm -f -t 0 cli >/dev/null 2>&1 || true
	pm run -d --name cli "$IMAGE" sleep 100000
	started cli
}

# host_serve ADDR TEXT: busybox httpd on the host serving TEXT on
# ADDR:HOST_PORT until the suite ends; waits until it answers.
host_serve() {
	local dir=$BATS_FILE_TMPDIR/www-$1
	mkdir -p "$dir"
	echo "$2" >"$dir/index.html"
	if [ ! -f "$dir.pid" ]; then
		busybox httpd -f -p "$1:$HOST_PORT" -h "$dir" 3>&- &
		echo $! >"$dir.pid"
	fi
	wait_until 30 get "http://$1:$HOST_PORT/" >/dev/null
}

# globals NSENTER...: the global addresses of eth0 (`inet ADDR/LEN`) and
# its default routes (`default via GW`), one a line, sorted, from `ip` run
# by NSENTER... (podman exec in the container, or nsenter in its network
# namespace on the host).
globals() {
	"$@" sh -c 'ip -o addr show dev eth0 scope global; ip route; ip -6 route' |
		grep -oE '(inet6? [0-9a-f.:]+/[0-9]+|default via [0-9a-f.:]+)' | sort
}

@test "podman net: -p publishes httpd at the host's addresses, as $PEER's container" {
	local gw addr
	web_up web kiln-web podman "$WEB_PORT"
	# the same container under the peer runtime
	timeout -k 10 "$PM_TIMEOUT" podman --runtime "$PEER" run -d --name peer -p "$PEER_PORT:80" \
		"$IMAGE" "${WEB_CMD[@]}" peer-web
	started peer
	wait_until 120 get "http://$(inspect peer '{{.NetworkSettings.IPAddress}}')/" >/dev/null
	gw=$(inspect web '{{.NetworkSettings.Gateway}}')
	[ -n "$gw" ]
	# (CNI's portmap makes 127.0.0.1 work too: it sets route_localnet)
	for addr in "$HOST_ADDR" "$gw" 127.0.0.1; do
		run get "http://$addr:$PEER_PORT/"
		[ "$output" = peer-web ]
		run get "http://$addr:$WEB_PORT/"
		echo "$addr:$WEB_PORT: $output"
		[ "$status" -eq 0 ]
		[ "$output" = kiln-web ]
	done
	run timeout -k 10 "$PM_TIMEOUT" podman rm -f -t 0 peer
	[ "$status" -eq 0 ]
}

@test "podman net: a second container reaches the first at its address" {
	local ip
	web_up web kiln-web podman "$WEB_PORT"
	cli_up
	ip=$(inspect web '{{.NetworkSettings.IPAddress}}')
	[ -n "$ip" ]
	run pm exec cli wget -qO- "http://$ip/"
	[ "$status" -eq 0 ]
	[ "$output" = kiln-web ]
}

@test "podman net: a container reaches a server of the host's at the bridge's gateway address" {
	local gw
	cli_up
	gw=$(inspect cli '{{.NetworkSettings.Gateway}}')
	[ -n "$gw" ]
	host_serve "$gw" from-the-host
	run pm exec cli wget -qO- "http://$gw:$HOST_PORT/"
	[ "$status" -eq 0 ]
	[ "$output" = from-the-host ]
}

@test "podman net: eth0 has the address, MAC, MTU and default route podman gave the container" {
	local ip len mac gw sandbox mtu
	cli_up
	ip=$(inspect cli '{{.NetworkSettings.IPAddress}}')
	len=$(inspect cli '{{.NetworkSettings.IPPrefixLen}}')
	mac=$(inspect cli '{{.NetworkSettings.MacAddress}}')
	gw=$(inspect cli '{{.NetworkSettings.Gateway}}')
	sandbox=$(inspect cli '{{.NetworkSettings.SandboxKey}}')
	[ -n "$ip" ] && [ -n "$len" ] && [ -n "$mac" ] && [ -n "$gw" ] && [ -e "$sandbox" ]
	# the MTU CNI set on the container's end of the veth pair
	mtu=$(nsenter --net="$sandbox" ip -o link show dev eth0 | sed -n 's/.* mtu \([0-9]*\) .*/\1/p')
	[ -n "$mtu" ]
	run pm exec cli cat /sys/class/net/eth0/address /sys/class/net/eth0/mtu
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\n' "$mac" "$mtu")" ]
	run globals pm exec cli
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\n' "default via $gw" "inet $ip/$len" | sort)" ]
	# ... which is what the container's namespace on the host holds
	[ "$output" = "$(globals nsenter --net="$sandbox")" ]
	# and no other interface than eth0 and lo
	run pm exec cli ls /sys/class/net
	[ "$status" -eq 0 ]
	[ "$output" = $'eth0\nlo' ]
}

@test "podman net: a network of its own (podman network create, dual-stack, MTU $NET_MTU)" {
	local ip ip6 gw gw6 mac sandbox
	run pm network create --subnet "$NET_SUBNET4" --subnet "$NET_SUBNET6" --opt mtu="$NET_MTU" "$NET"
	[ "$status" -eq 0 ]
	web_up web2 kiln-web2 "$NET" "$WEB2_PORT"
	ip=$(net_field web2 "$NET" IPAddress)
	ip6=$(net_field web2 "$NET" GlobalIPv6Address)
	gw=$(net_field web2 "$NET" Gateway)
	gw6=$(net_field web2 "$NET" IPv6Gateway)
	mac=$(net_field web2 "$NET" MacAddress)
	sandbox=$(inspect web2 '{{.NetworkSettings.SandboxKey}}')
	[ -n "$ip" ] && [ -n "$ip6" ] && [ -n "$gw" ] && [ -n "$gw6" ] && [ -n "$mac" ]
	# its published port, from the host
	run get "http://$HOST_ADDR:$WEB2_PORT/"
	[ "$status" -eq 0 ]
	[ "$output" = kiln-web2 ]
	# ... and its IPv6 address
	run get "http://[$ip6]/"
	[ "$status" -eq 0 ]
	[ "$output" = kiln-web2 ]
	# eth0 as the network has it
	run pm exec web2 cat /sys/class/net/eth0/address /sys/class/net/eth0/mtu
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\n' "$mac" "$NET_MTU")" ]
	run globals pm exec web2
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\n' "default via $gw" "default via $gw6" "inet $ip/24" "inet6 $ip6/64" | sort)" ]
	[ "$output" = "$(globals nsenter --net="$sandbox")" ]
	# the host at this network's gateway
	host_serve "$gw" from-the-host-on-net
	run pm exec web2 wget -qO- "http://$gw:$HOST_PORT/"
	[ "$status" -eq 0 ]
	[ "$output" = from-the-host-on-net ]
}

@test "podman net: --network none gives only lo" {
	run pm run --rm --network none "$IMAGE" sh -c 'ls /sys/class/net; ip -o link | cut -d: -f2'
	[ "$status" -eq 0 ]
	[ "$output" = $'lo\n lo' ]
}

@test "podman net: after stop and rm no tap, tc qdisc or filter, namespace, process or state is left" {
	local ns s link dir
	run pm stop -a -t 0
	[ "$status" -eq 0 ]
	run pm rm -a
	[ "$status" -eq 0 ]
	run pm ps -aq
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run pm network rm "$NET"
	[ "$status" -eq 0 ]
	# every network namespace podman made for the suite has gone
	[ -s "$BATS_FILE_TMPDIR/sandboxes" ]
	while read -r s; do
		[ ! -e "$s" ] || { echo "$s is left" >&2; false; }
	done <"$BATS_FILE_TMPDIR/sandboxes"
	# no tap (kiln names them tap<N>_kiln) in the host's namespace or in any
	# named one; no bridge port is left
	for ns in "" $(ip netns list | cut -d' ' -f1); do
		run ip ${ns:+-n "$ns"} -o link show
		[ "$status" -eq 0 ]
		! grep -E '^[0-9]+: [^:@]*_kiln[:@]' <<<"$output" || { echo "a tap is left in netns '$ns'" >&2; false; }
		! grep -E ' master cni-podman0 ' <<<"$output" || { echo "a bridge port is left in netns '$ns'" >&2; false; }
		# ... nor a redirect of tc's on any link
		for link in $(awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' <<<"$output"); do
			run tc ${ns:+-n "$ns"} filter show dev "$link" ingress
			[[ "$output" != *mirred* ]] || { echo "a tc filter is left on $link in netns '$ns': $output" >&2; false; }
		done
	done
	# the host's ingress qdiscs are those it had before the suite
	run bash -c "tc qdisc show | grep -E '^qdisc (ingress|clsact) '"
	[ "$output" = "$(cat "$BATS_FILE_TMPDIR/qdiscs.before")" ]
	# no process of the runtime's or a helper's named after it (kiln-vmm),
	# and none refers to the suite's store
	run pgrep -af "^(\\S*/)?$(basename "$RUNTIME")(-\\S+)?( |$)"
	[ -z "$output" ] || { echo "left running: $output" >&2; false; }
	[ "$status" -eq 1 ]
	run pgrep -af "$PMDIR"
	[ -z "$output" ] || { echo "left running: $output" >&2; false; }
	[ "$status" -eq 1 ]
	# the runtime lists no container, and its state directory (the default:
	# podman calls it without --root) is empty
	run "$RUNTIME" list -q
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	dir=/run/$(basename "$RUNTIME")
	[ ! -d "$dir" ] || [ -z "$(ls -A "$dir")" ] || { ls -la "$dir" >&2; false; }
}
