#!/usr/bin/env bats
# kiln, the OCI runtime CLI, against busybox bundles: every verb, the flags
# podman and containerd use, and bad input. Each container is a microVM
# (10-20 s to boot in the emulated host), so the tests that boot one check
# several things each. Every test ends with nothing left behind: no state
# directory, no kiln-vmm process, no cgroup. Runs where /dev/kvm works.
# Container scripts are single-quoted on purpose:
# shellcheck disable=SC2016
load ../helpers

load runtime_helpers

# ---- no VM needed

@test "--version, --help and an unknown command" {
	run "$KILN" --version
	[ "$status" -eq 0 ]
	[[ "$output" == "kiln version "* ]]
	run "$KILN" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"create"*"exec"*"features"* ]]
	run "$KILN" frobnicate
	[ "$status" -eq 1 ]
	[[ "$output" == *'unknown command "frobnicate"'* ]]
}

@test "spec writes a config.json that create accepts; a second spec refuses" {
	cd "$BATS_TEST_TMPDIR"
	run "$KILN" spec
	[ "$status" -eq 0 ]
	[ "$(jq -r .ociVersion config.json)" = 1.3.0 ]
	[ "$(jq -r '.process.args[0]' config.json)" = sh ]
	run "$KILN" spec
	[ "$status" -eq 1 ]
	[[ "$output" == *"config.json exists"* ]]
	run "$KILN" spec --bundle "$BATS_TEST_TMPDIR/nope"
	[ "$status" -eq 1 ]
}

@test "features reports the spec range and what the guest supports" {
	run "$KILN" features
	[ "$status" -eq 0 ]
	[ "$(jq -r .ociVersionMax <<<"$output")" = 1.3.0 ]
	[ "$(jq -r '.linux.namespaces | index("pid") != null' <<<"$output")" = true ]
	[ "$(jq -r '.linux.namespaces | index("user") != null' <<<"$output")" = true ]
	[ "$(jq -r '.linux.mountExtensions.idmap.enabled' <<<"$output")" = false ]
}

@test "bad bundles: one line naming the problem, status 1, nothing left" {
	local b=$BATS_TEST_TMPDIR/b
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[ "$output" = "kiln: $b/config.json: No such file or directory" ]
	assert_clean

	mkdir -p "$b"
	echo '{"ociVersion": "1.0.2", "process": ' >"$b/config.json"
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[[ "$output" == "kiln: $b/config.json: "*"JSON"* ]]
	assert_clean

	bundle "$b" '["true"]' '{}' '{"ociVersion": "0.9.0"}'
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *'ociVersion: unsupported version "0.9.0" (kiln supports 1.0.0 to 1.3.x)'* ]]
	assert_clean
	bundle "$b" '["true"]' '{}' '{"ociVersion": "2.0.0"}'
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *'ociVersion: unsupported version "2.0.0"'* ]]
	assert_clean

	bundle "$b" '["true"]' '{"user": {"uid": "root"}}'
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"process.user.uid: expected unsigned integer"* ]]

	bundle "$b" '["true"]' '{}' '{"root": {"path": "missing-rootfs"}}'
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"root.path $b/missing-rootfs: No such file or directory"* ]]

	bundle "$b" '[]'
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"process.args: must not be empty"* ]]

	bundle "$b" '["true"]' '{"terminal": true}'
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"--console-socket is required"* ]]

	bundle "$b" '["true"]' '{}' '{"hooks": {"createContainer": [{"path": "/bin/true"}]}}'
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"hooks.createContainer: runs inside the container"* ]]

	# host directories and files are volumes (volumes.bats); other kinds
	# of file cannot be shared with the VM
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	bundle "$b" '["true"]' '{}' "{\"mounts\": [{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"$BATS_TEST_TMPDIR/fifo\"}]}"
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[ "$output" = "kiln: mounts[0]: bind mount of host $BATS_TEST_TMPDIR/fifo into /data: only directories and regular files can be shared with the VM" ]

	bundle "$b" '["true"]' '{}' '{"annotations": {"io.kiln.vm.vcpus": "0"}}'
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"annotations.io.kiln.vm.vcpus: expected 1 to 32"* ]]
	assert_clean

	# namespaces of another container, by path
	bundle "$b" '["true"]'
	ns_path "$b" pid /proc/1/ns/pid
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"linux.namespaces["?"]: joining the pid namespace /proc/1/ns/pid is not supported (a VM cannot share it)" ]]
	bundle "$b" '["true"]'
	ns_path "$b" user /proc/self/ns/user
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"linux.namespaces["?"]: joining the user namespace /proc/self/ns/user is not supported (a VM cannot share it)" ]]
	bundle "$b" '["true"]'
	ns_path "$b" uts /proc/self/ns/ipc
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"linux.namespaces["?"].path /proc/self/ns/ipc: not a namespace of type \"uts\"" ]]
	bundle "$b" '["true"]'
	ns_path "$b" ipc "$BATS_TEST_TMPDIR/no-such-ns"
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"linux.namespaces["?"].path $BATS_TEST_TMPDIR/no-such-ns: No such file or directory" ]]
	assert_clean
}

@test "a pod's namespaces by path: kiln-vmm joins them, the UTS one lends its hostname" {
	local b=$BATS_TEST_TMPDIR/b out=$BATS_TEST_TMPDIR/out pod vmm
	# a pod sandbox's stand-in: its own network, UTS and IPC namespaces
	unshare --net --uts --ipc sh -c 'hostname pod-host; exec sleep 600' 3>&- &
	pod=$!
	echo "$pod" >"$BATS_TEST_TMPDIR/pod.pid" # killed by teardown
	wait_until 10 pod_named "$pod"
	bundle "$b" '["hostname"]'
	ns_path "$b" network /proc/$pod/ns/net
	ns_path "$b" uts /proc/$pod/ns/uts
	ns_path "$b" ipc /proc/$pod/ns/ipc
	jq 'del(.hostname)' "$b/config.json" >"$b/config.json.new"
	mv "$b/config.json.new" "$b/config.json"
	"${K[@]}" create --bundle "$b" --pid-file "$BATS_TEST_TMPDIR/pid" pod1 >"$out" 2>&1
	vmm=$(cat "$BATS_TEST_TMPDIR/pid")
	[ "$(readlink /proc/$vmm/ns/net)" = "$(readlink /proc/$pod/ns/net)" ]
	[ "$(readlink /proc/$vmm/ns/uts)" = "$(readlink /proc/$pod/ns/uts)" ]
	"${K[@]}" start pod1
	wait_until 120 status_is pod1 stopped
	cat "$out" # shown if the test fails
	[ "$(cat "$out")" = pod-host ]
	"${K[@]}" delete pod1
	assert_clean
}

# netns_veth NAME: a network namespace as CNI leaves one: eth0 (a veth end,
# MAC 02:00:0a:00:03:02, MTU 1400, 10.0.3.2/24 and fd00:3::2/64, default
# routes via the host end) whose peer hNAME on the host has 10.0.3.1/24
# and fd00:3::1/64. Removed by the test's teardown (net_teardown).
netns_veth() {
	# the emulated host has no static /dev/net/tun node to autoload tun by
	[ -c /dev/net/tun ] || modprobe tun
	ip netns add "$1"
	echo "$1" >"$BATS_TEST_TMPDIR/netns"
	ip link add "h$1" type veth peer name eth0 netns "$1"
	ip addr add 10.0.3.1/24 dev "h$1"
	ip addr add fd00:3::1/64 dev "h$1" nodad
	ip link set "h$1" up
	ip -n "$1" link set lo up
	ip -n "$1" link set eth0 address 02:00:0a:00:03:02 mtu 1400 up
	ip -n "$1" addr add 10.0.3.2/24 dev eth0
	ip -n "$1" addr add fd00:3::2/64 dev eth0 nodad
	ip -n "$1" route add default via 10.0.3.1
	ip -n "$1" -6 route add default via fd00:3::1
}

# unwired NS: nothing of kiln's is left in network namespace NS.
unwired() {
	local left
	left=$(ip -n "$1" -o link show; tc -n "$1" qdisc show)
	! grep -E 'tap[0-9]+_kiln|ingress' <<<"$left" || { echo "left in $1: $left" >&2; return 1; }
}

# http_ok URL: an HTTP GET of URL answers "hello from the container".
http_ok() {
	[ "$(wget -q -T 5 -O- "$1" 2>/dev/null)" = "hello from the container" ]
}

@test "network: a veth's namespace reaches the VM: address, MAC, MTU, routes, both ways; delete unwires" {
	local b=$BATS_TEST_TMPDIR/b out=$BATS_TEST_TMPDIR/out ns=kn$$
	# kiln spec's capabilities and CAP_NET_RAW, which arping needs
	local caps='["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]'
	netns_veth "$ns"
	mkdir -p "$BATS_TEST_TMPDIR/www"
	echo "hello from the host" >"$BATS_TEST_TMPDIR/www/hello"
	busybox httpd -f -p 10.0.3.1:8083 -h "$BATS_TEST_TMPDIR/www" &
	echo $! >"$BATS_TEST_TMPDIR/pod.pid" # killed by teardown
	# the container reports what it sees (eth0 and lo, no tunnel device
	# such as sit0), reaches the host's server (busybox 1.35's wget
	# crashes with -T) and the host's end by ARP (a packet socket), then
	# serves on port 80 until killed
	bundle "$b" '["sh", "-c", "cat /sys/class/net/eth0/address /sys/class/net/eth0/mtu; ip -o -4 addr show dev eth0 | cut -d\" \" -f2,7; ip -o -6 addr show dev eth0 scope global | cut -d\" \" -f2,7; ip route | sed \"s/  */ /g; s/ $//\"; ip -6 route | grep ^default | cut -d\" \" -f1-5; ls /sys/class/net; wget -q -O- http://10.0.3.1:8083/hello; arping -c 1 -w 10 -I eth0 10.0.3.1 >/dev/null && echo arping ok; mkdir -p /tmp/www; echo hello from the container >/tmp/www/index.html; echo serving; exec httpd -f -p 80 -h /tmp/www"]' \
		"{\"capabilities\": {\"bounding\": $caps, \"effective\": $caps, \"permitted\": $caps}}"
	ns_path "$b" network "/run/netns/$ns"
	"${K[@]}" create --bundle "$b" n1 >"$out" 2>&1 || { cat "$out"; false; }
	# the tap and both redirects are in the namespace
	ip -n "$ns" link show tap0_kiln >/dev/null
	tc -n "$ns" filter show dev eth0 ingress | grep -q 'Egress Redirect to device tap0_kiln'
	tc -n "$ns" filter show dev tap0_kiln ingress | grep -q 'Egress Redirect to device eth0'
	"${K[@]}" start n1
	wait_until 120 grep -q serving "$out"
	# the host reaches the container's server at the namespace's address
	wait_until 30 http_ok http://10.0.3.2/
	wait_until 30 http_ok "http://[fd00:3::2]/"
	cat "$out" # shown if the test fails
	[ "$(cat "$out")" = "$(printf '%s\n' 02:00:0a:00:03:02 1400 'eth0 10.0.3.2/24' \
		'eth0 fd00:3::2/64' 'default via 10.0.3.1 dev eth0' \
		'10.0.3.0/24 dev eth0 scope link src 10.0.3.2' 'default via fd00:3::1 dev eth0' \
		eth0 lo 'hello from the host' 'arping ok' serving)" ]
	"${K[@]}" kill n1 KILL
	wait_until 60 status_is n1 stopped
	"${K[@]}" delete n1
	unwired "$ns"
	assert_clean
}

@test "network: no network namespace, a missing one, no /dev/net/tun: one line, nothing left" {
	local b=$BATS_TEST_TMPDIR/b ns=kn$$
	bundle "$b" '["true"]'
	jq '.linux.namespaces = [.linux.namespaces[] | select(.type != "network")]' \
		"$b/config.json" >"$b/config.json.new"
	mv "$b/config.json.new" "$b/config.json"
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[ "$output" = "kiln: the spec has no network namespace (podman --network host?): a VM cannot share the host's network stack" ]
	assert_clean

	bundle "$b" '["true"]'
	ns_path "$b" network /run/netns/kiln-no-such-ns
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[ "$output" = "kiln: network namespace /run/netns/kiln-no-such-ns: No such file or directory" ]
	assert_clean

	netns_veth "$ns"
	ns_path "$b" network "/run/netns/$ns"
	mv /dev/net/tun /dev/net/tun.kiln-test
	run "${K[@]}" create --bundle "$b" c1
	mv /dev/net/tun.kiln-test /dev/net/tun
	[ "$status" -eq 1 ]
	[ "$output" = "kiln: /dev/net/tun is missing: taps cannot be made (load the tun module: modprobe tun)" ]
	unwired "$ns"
	assert_clean
}

@test "bad ids, unknown containers and signals, --preserve-fds" {
	local b=$BATS_TEST_TMPDIR/b
	bundle "$b" '["true"]'
	run "${K[@]}" create --bundle "$b" ../escape
	[ "$status" -eq 1 ]
	[[ "$output" == *'invalid container id "../escape"'* ]]
	run "${K[@]}" create --bundle "$b" --preserve-fds 1 c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"--preserve-fds"* ]]
	for verb in state start pause resume delete; do
		run "${K[@]}" "$verb" ghost
		[ "$status" -eq 1 ]
		[ "$output" = 'kiln: container "ghost" does not exist' ]
	done
	run "${K[@]}" delete --force ghost
	[ "$status" -eq 0 ]
	run "${K[@]}" kill ghost NOSUCHSIG
	[ "$status" -eq 1 ]
	[ "$output" = 'kiln: unknown signal "NOSUCHSIG"' ]
	assert_clean
}

@test "a guest image built for another kernel is refused before any VM boots" {
	local g=$BATS_TEST_TMPDIR/guest b=$BATS_TEST_TMPDIR/b
	mkdir -p "$g"
	ln -s "$BUILD/guest/initramfs.cpio.gz" "$g/initramfs.cpio.gz"
	printf '0.0.1-other\n%s\n' "$GUEST_KERNEL" >"$g/kernel"
	echo "initramfs = $g/initramfs.cpio.gz" >"$BATS_TEST_TMPDIR/kiln.conf"
	bundle "$b" '["true"]'
	KILN_CONF=$BATS_TEST_TMPDIR/kiln.conf run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"but the guest image $g/initramfs.cpio.gz was built for 0.0.1-other"* ]]
	echo "vcpus = many" >"$BATS_TEST_TMPDIR/kiln.conf"
	KILN_CONF=$BATS_TEST_TMPDIR/kiln.conf run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"kiln.conf:1: vcpus: expected a positive number"* ]]
	assert_clean
}

# interrupted SIG FILE CMD...: runs `kiln CMD` (a create or run) in the
# background, sends it SIG once FILE exists and releases the hook that may
# hold it; kiln must undo the container: one line, status 1, the stand-in
# VMM gone, nothing left.
interrupted() {
	local sig=$1 file=$2 t=$BATS_TEST_TMPDIR pid
	shift 2
	rm -f "$t/vmm.pid" "$t/go"
	"${K[@]}" "$@" >"$t/out" 2>&1 3>&- &
	pid=$!
	wait_until 60 test -e "$file"
	kill -"$sig" "$pid"
	touch "$t/go"
	status=0
	wait "$pid" || status=$?
	cat "$t/out"
	[ "$status" -eq 1 ]
	[ "$(cat "$t/out")" = "kiln: interrupted by SIG$sig" ]
	! kill -0 "$(cat "$t/vmm.pid")" 2>/dev/null || { echo "the stand-in VMM still runs"; return 1; }
	assert_clean
}

@test "a signal while create waits undoes it: one line, status 1, nothing left" {
	local b=$BATS_TEST_TMPDIR/b t=$BATS_TEST_TMPDIR
	# A stand-in for kiln-vmm that boots nothing: the supervisor waits for
	# an agent that never answers.
	printf '#!/bin/sh\necho $$ >"%s/vmm.pid"\nexec sleep 600\n' "$t" >"$t/vmm"
	chmod +x "$t/vmm"
	printf 'vmm = %s\njail = false\n' "$t/vmm" >"$t/kiln.conf"
	bundle "$b" '["true"]'
	# SIGTERM to create while it waits for the supervisor to report
	KILN_CONF=$t/kiln.conf interrupted TERM "$t/vmm.pid" create --bundle "$b" c1
	# SIGHUP to run while a createRuntime hook holds it, after a real VM
	# reported the container created
	jq --arg t "$t" '.hooks.createRuntime = [{"path": "/bin/sh", "args": ["sh", "-c",
	    "pgrep -P $(jq -r .pid) -x kiln-vmm >\($t)/vmm.pid; touch \($t)/hook; until [ -e \($t)/go ]; do sleep 0.1; done"]}]' \
		"$b/config.json" >"$b/config.json.new"
	mv "$b/config.json.new" "$b/config.json"
	interrupted HUP "$t/hook" run --bundle "$b" c2
}

# ---- one VM each

@test "run: stdout and stderr apart, stdin, user/cwd/env/hostname, bind-mounted files, exit status" {
	local b=$BATS_TEST_TMPDIR/b
	echo "injected from the host" >"$BATS_TEST_TMPDIR/hostfile"
	mkdir -p "$BATS_TEST_TMPDIR/shm"
	# podman's shape: a host file bound onto /etc/..., a host dir onto /dev/shm
	bundle "$b" '["sh", "-c", "cat; id -u; pwd; echo $FOO; hostname; cat /etc/injected; grep -c \" /dev/shm tmpfs\" /proc/mounts; echo to-stderr >&2; exit 3"]' \
		'{"user": {"uid": 1000, "gid": 1000}, "cwd": "/tmp", "env": ["PATH=/bin", "FOO=bar"]}' \
		'{"hostname": "kiln-test"}'
	jq --arg f "$BATS_TEST_TMPDIR/hostfile" --arg d "$BATS_TEST_TMPDIR/shm" \
		'.mounts = [.mounts[] | select(.destination != "/dev/shm")] + [
		  {"destination": "/etc/injected", "type": "bind", "source": $f, "options": ["rbind", "ro"]},
		  {"destination": "/dev/shm", "type": "bind", "source": $d, "options": ["rbind"]}]' \
		"$b/config.json" >"$b/config.new"
	mv "$b/config.new" "$b/config.json"
	run bash -c "echo from-stdin | '$KILN' --root '$ROOT' run --bundle '$b' r1 2>'$BATS_TEST_TMPDIR/err'"
	echo "status $status, stdout: $output; stderr: $(cat "$BATS_TEST_TMPDIR/err")"
	[ "$status" -eq 3 ]
	[ "$output" = "$(printf 'from-stdin\n1000\n/tmp\nbar\nkiln-test\ninjected from the host\n1')" ]
	[ "$(cat "$BATS_TEST_TMPDIR/err")" = to-stderr ]
	assert_clean
}

@test "kiln's kernel: the container sees it and all the agent relies on, in a 64 MiB VM" {
	local b=$BATS_TEST_TMPDIR/b
	[ "$KILN_TEST_KERNEL" = kiln ] || skip "this suite boots Debian's kernel (KILN_TEST_KERNEL=$KILN_TEST_KERNEL)"
	[ -n "$KILN_KERNEL_RELEASE" ]
	# mkdir is refused by the spec's seccomp filter; the VM is the floor an
	# ELF vmlinux boots in (runtime/runtime.h). The root is the container's
	# ext4 disk; overlayfs (agent.bats mounts one) must be in the kernel.
	script=$(cat <<'SH'
uname -r; echo pid1=$$; cat /sys/fs/cgroup/cgroup.controllers
for n in cgroup ipc mnt net pid uts user; do [ -e /proc/self/ns/$n ] && echo ns=$n; done
sed -n 's/^Seccomp:[[:space:]]*/seccomp=/p' /proc/self/status
mkdir /tmp/x 2>/dev/null || echo mkdir=refused
awk '$2 == "/" { print "root=" $3 }' /proc/mounts
for f in ext4 erofs overlay tmpfs devtmpfs proc sysfs fuse virtiofs; do grep -qw $f /proc/filesystems && echo fs=$f; done
ls /sys/bus/virtio/drivers; [ -e /proc/modules ] || echo modules=none
sed -n 's/^MemTotal: *\([0-9]*\) kB/memtotal_kb=\1/p' /proc/meminfo
SH
)
	bundle "$b" "$(jq -cn --arg s "$script" '["sh", "-c", $s]')" '{}' \
		'{"annotations": {"io.kiln.vm.memory_mib": "64"},
		  "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
		    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}}}'
	run "${K[@]}" run --bundle "$b" k1
	printf '%s\n' "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$KILN_KERNEL_RELEASE" ]
	[[ "$KILN_KERNEL_RELEASE" == *-kiln ]]
	[ "${lines[1]}" = pid1=1 ]
	for c in cpu memory pids; do [[ " ${lines[2]} " == *" $c "* ]]; done
	for want in ns=cgroup ns=ipc ns=mnt ns=net ns=pid ns=uts ns=user seccomp=2 mkdir=refused \
		root=ext4 fs=ext4 fs=erofs fs=overlay fs=tmpfs fs=devtmpfs fs=proc fs=sysfs \
		fs=fuse fs=virtiofs virtio_blk vmw_vsock_virtio_transport virtio_net virtiofs modules=none; do
		printf '%s\n' "${lines[@]}" | grep -qxF "$want" || { echo "missing: $want"; return 1; }
	done
	mem=$(printf '%s\n' "${lines[@]}" | sed -n 's/^memtotal_kb=//p')
	[ "$mem" -gt 30000 ] && [ "$mem" -le 65536 ]
	assert_clean
}

@test "Debian's kernel, picked in kiln.conf, still runs containers; its floor is 128 MiB" {
	local b=$BATS_TEST_TMPDIR/b
	echo "initramfs = $DEBIAN_AGENT_INITRD" >"$BATS_TEST_TMPDIR/kiln.conf"
	export KILN_CONF=$BATS_TEST_TMPDIR/kiln.conf
	bundle "$b" '["sh", "-c", "uname -r; grep -c . /proc/modules"]' '{}' \
		'{"annotations": {"io.kiln.vm.memory_mib": "64"}}'
	run "${K[@]}" run --bundle "$b" d1
	[ "$status" -eq 1 ]
	[ "$output" = 'kiln: annotations.io.kiln.vm.memory_mib: expected 128 to 1048576, got "64"' ]
	assert_clean
	jq '.annotations["io.kiln.vm.memory_mib"] = "128"' "$b/config.json" >"$b/config.new"
	mv "$b/config.new" "$b/config.json"
	run "${K[@]}" run --bundle "$b" d1
	printf '%s\n' "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "${DEBIAN_KERNEL#/boot/vmlinuz-}" ]
	# the agent loaded the image's modules into it
	[ "${lines[1]}" -gt 0 ]
	assert_clean
}

@test "create, state, list, start, exec, ps, update, kill, delete, hooks" {
	local b=$BATS_TEST_TMPDIR/b out=$BATS_TEST_TMPDIR/out pid vmm
	local h=$BATS_TEST_TMPDIR/hooks
	mkdir -p "$h"
	# each host hook saves the state it was given
	bundle "$b" '["sh", "-c", "trap \"echo got TERM; exit 7\" TERM; echo started; while :; do sleep 0.1; done"]' \
		'{}' "{\"linux\": {\"cgroupsPath\": \"/kiln-test/c1\"}, \"hooks\": {
		  \"prestart\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat >$h/prestart\"]}],
		  \"createRuntime\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat >$h/createRuntime\"]}],
		  \"poststart\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat >$h/poststart\"]}],
		  \"poststop\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat >$h/poststop\"]}]}}"
	"${K[@]}" create --bundle "$b" --pid-file "$BATS_TEST_TMPDIR/pid" c1 >"$out" 2>&1
	pid=$(cat "$BATS_TEST_TMPDIR/pid")
	# the container's pid is its supervisor, kiln-vmm its child, both in the cgroup
	[ "$(cat /proc/"$pid"/comm)" = kiln-supervisor ]
	vmm=$(pgrep -P "$pid" -x kiln-vmm)
	grep -qx "$pid" /sys/fs/cgroup/kiln-test/c1/cgroup.procs
	grep -qx "$vmm" /sys/fs/cgroup/kiln-test/c1/cgroup.procs
	# kiln-vmm speaks no agent protocol: nothing of proto/ is linked in
	! nm "$KILN_VMM" | grep -q ' proto_'
	# it runs jailed: its own uid and gid, no capabilities, no_new_privs,
	# its directory as its root (nothing of the host's), the fd limit
	jail_checks "$vmm" "$ROOT/c1/vm"

	[ "$(status_of c1)" = created ]
	[ "$(jq -r .status "$h/prestart")" = created ]
	[ "$(jq -r .pid "$h/createRuntime")" = "$pid" ]
	[ ! -e "$h/poststart" ]
	[ "$("${K[@]}" state c1 | jq -r .pid)" = "$pid" ]
	[ "$("${K[@]}" state c1 | jq -r .bundle)" = "$b" ]
	run "${K[@]}" list
	[[ "${lines[1]}" == "c1 "*"$pid"*created* ]]
	run "${K[@]}" list --format json
	[ "$(jq -r '.[0].id' <<<"$output")" = c1 ]

	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[ "$output" = 'kiln: container "c1" already exists' ]

	"${K[@]}" start c1
	[ "$(status_of c1)" = running ]
	[ "$(jq -r .status "$h/poststart")" = running ]
	run "${K[@]}" start c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"already running"* ]]
	wait_until 60 grep -q started "$out"

	run "${K[@]}" exec c1 sh -c 'echo in-exec $FOO; pwd; id -u; exit 5'
	[ "$status" -eq 5 ]
	[ "$output" = "$(printf 'in-exec\n/\n0')" ]
	run "${K[@]}" exec --env FOO=x --cwd /tmp --user 1000:1000 c1 sh -c 'echo $FOO; pwd; id -u'
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'x\n/tmp\n1000')" ]
	echo '{"args": ["sh", "-c", "echo from-process-file; exit 4"], "cwd": "/"}' >"$BATS_TEST_TMPDIR/p.json"
	run "${K[@]}" exec --process "$BATS_TEST_TMPDIR/p.json" c1
	[ "$status" -eq 4 ]
	[ "$output" = from-process-file ]
	"${K[@]}" exec --detach --pid-file "$BATS_TEST_TMPDIR/epid" c1 sh -c 'sleep 1; exit 6'
	[ -s "$BATS_TEST_TMPDIR/epid" ]

	run "${K[@]}" ps --format json c1
	[ "$output" = "[$pid,$vmm]" ]
	run "${K[@]}" ps c1
	[[ "${lines[0]}" == *PID* ]]
	[[ "${lines[1]}" == *" $pid "*"kiln supervise $ROOT/c1"* ]]
	[[ "${lines[2]}" == *" $vmm "*kiln-vmm* ]]

	echo '{"memory": {"limit": 1073741824}, "pids": {"limit": 100}}' |
		"${K[@]}" update --resources - c1
	[ "$(cat /sys/fs/cgroup/kiln-test/c1/memory.max)" = 1073741824 ]
	[ "$(cat /sys/fs/cgroup/kiln-test/c1/pids.max)" = 100 ]

	run "${K[@]}" delete c1
	[ "$status" -eq 1 ]
	[[ "$output" == *'cannot delete container "c1" that is running'* ]]

	# the workload's exit status is the supervisor's: conmon and the shim read it;
	# a paused guest cannot answer, SIGKILL ends its VM without it
	"${K[@]}" pause c1
	timeout 60 "${K[@]}" kill c1 SIGKILL
	wait_until 60 status_is c1 stopped
	[ "$("${K[@]}" state c1 | jq -r .pid)" = 0 ]
	run "${K[@]}" kill c1 KILL
	[ "$status" -eq 1 ]
	"${K[@]}" delete c1
	[ "$(jq -r .status "$h/poststop")" = stopped ]
	[ ! -e /sys/fs/cgroup/kiln-test/c1 ]
	assert_clean
}

# uid_map/gid_map as the kernel prints them, one blank between fields.
MAPS='for f in /proc/self/uid_map /proc/self/gid_map; do sed "s/^ *//; s/  */ /g" $f; done'

@test "the supervisor, kiln-vmm or kiln create killed: nothing left after delete; a lost VM is one line and 255" {
	local b=$BATS_TEST_TMPDIR/b out=$BATS_TEST_TMPDIR/out sup vmm
	bundle "$b" '["sh", "-c", "echo up; exec sleep 1000"]'
	# kill -9 of the supervisor: its kiln-vmm dies with it, the container
	# is stopped, delete clears the rest
	"${K[@]}" create --bundle "$b" --pid-file "$BATS_TEST_TMPDIR/pid" k1 >"$out" 2>&1
	sup=$(cat "$BATS_TEST_TMPDIR/pid")
	vmm=$(pgrep -P "$sup" -x kiln-vmm)
	kill -KILL "$sup"
	wait_until 60 status_is k1 stopped
	wait_until 60 sh -c "! kill -0 $vmm 2>/dev/null"
	"${K[@]}" delete k1
	assert_clean
	# kill -9 of kiln create while the guest boots: delete --force clears
	# what it left (the supervisor it started, its VM, the state)
	"${K[@]}" create --bundle "$b" k3 >"$out" 2>&1 &
	local creator=$!
	wait_until 120 test -S "$ROOT/k3/vm/vsock.sock"
	kill -KILL "$creator"
	wait "$creator" || true
	"${K[@]}" delete --force k3
	assert_clean
	# kill -9 of kiln-vmm: the supervisor says so in one line and exits 255
	"${K[@]}" run --bundle "$b" k2 >"$out" 2>&1 &
	local runner=$!
	wait_until 120 grep -q up "$out"
	sup=$("${K[@]}" state k2 | jq -r .pid)
	kill -KILL "$(pgrep -P "$sup" -x kiln-vmm)"
	status=0
	wait "$runner" || status=$?
	cat "$out"
	[ "$status" -eq 255 ]
	[ "$(tail -n 1 "$out")" = "kiln: kiln-vmm was killed by SIGKILL" ]
	assert_clean
}

@test "a container's kiln-vmm has a seccomp filter on every thread; a violation is one line, nothing left" {
	local b=$BATS_TEST_TMPDIR/b out=$BATS_TEST_TMPDIR/out sup vmm
	bundle "$b" '["sh", "-c", "echo up; exec sleep 1000"]'
	"${K[@]}" create --bundle "$b" --pid-file "$BATS_TEST_TMPDIR/pid" s1 >"$out" 2>&1
	sup=$(cat "$BATS_TEST_TMPDIR/pid")
	vmm=$(pgrep -P "$sup" -x kiln-vmm)
	# every thread of kiln-vmm (main, API, vCPU) filtered; the supervisor not
	for t in /proc/"$vmm"/task/*; do
		grep -qx 'Seccomp:[[:space:]]*2' "$t/status" || { echo "$t: $(grep Seccomp: "$t/status")"; false; }
	done
	[ "$(ls /proc/"$vmm"/task | wc -l)" -ge 3 ]
	"${K[@]}" delete --force s1
	# a thread making a call outside its list (the test-only trigger)
	# kills kiln-vmm; the supervisor names it and create undoes itself
	for kind in vcpu api; do
		run env KILN_VMM_SECCOMP_SELFTEST=$kind "${K[@]}" create --bundle "$b" s2
		echo "$kind: $status: $output"
		[ "$status" -eq 1 ]
		[ "$output" = "kiln: kiln-vmm was killed by its seccomp filter (SIGSYS): it made a system call outside its allow-list" ]
		assert_clean
	done
}

@test "run: no mount namespace, root.path \".\", linux.devices, podman keep-id user namespace" {
	local b=$BATS_TEST_TMPDIR/b
	# runtime-tools' shape: root.path "." (the bundle is the root
	# filesystem) and no namespace but the user one (and the network one,
	# without which kiln refuses a spec); podman
	# --userns=keep-id's mappings: the user's own ID 1000 is the guest's
	# 1000, the rest of 0..65535 comes from 100000 up
	cp -a "$BATS_FILE_TMPDIR/rootfs" "$b"
	echo in-bundle-root >"$b/marker"
	bundle "$b" "[\"sh\", \"-c\", $(jq -Rn --arg m "$MAPS" '$m + "; id -u; id -g; stat -c \"%F %t:%T %a %u:%g\" /dev/test1; stat -c \"%F %a %u:%g\" /dev/fifo1; cat /marker; touch /tmp/mine; stat -c %u:%g /tmp/mine; stat -c %u:%g /bin/busybox"')]" \
		'{"user": {"uid": 1000, "gid": 1000}, "env": ["PATH=/bin"]}'
	jq '.root.path = "." | del(.hostname) | .linux.namespaces = [{"type": "user"}, {"type": "network"}]
	    | .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 1000},
	        {"containerID": 1000, "hostID": 1000, "size": 1},
	        {"containerID": 1001, "hostID": 101001, "size": 64535}]
	    | .linux.gidMappings = .linux.uidMappings
	    | .linux.devices = [
	        {"path": "/dev/test1", "type": "c", "major": 1, "minor": 3, "fileMode": 416, "uid": 0, "gid": 0},
	        {"path": "/dev/fifo1", "type": "p", "fileMode": 432, "uid": 1000, "gid": 1000}]' \
		"$b/config.json" >"$b/config.new"
	mv "$b/config.new" "$b/config.json"
	run timeout 300 "${K[@]}" run --bundle "$b" r1
	echo "status $status: $output"
	[ "$status" -eq 0 ]
	# the device owned by container root (the guest's 100000), the image's
	# files by an unmapped ID: nobody, as under runc (docs/runtime.md)
	[ "$output" = "$(printf '%s\n' '0 100000 1000' '1000 1000 1' '1001 101001 64535' \
		'0 100000 1000' '1000 1000 1' '1001 101001 64535' 1000 1000 \
		'character special file 1:3 640 0:0' 'fifo 660 1000:1000' in-bundle-root \
		1000:1000 65534:65534)" ]
	assert_clean
}

@test "user namespace as Kubernetes makes it: create, exec; failing poststart/poststop hooks only warn" {
	local b=$BATS_TEST_TMPDIR/b out=$BATS_TEST_TMPDIR/out h=$BATS_TEST_TMPDIR/hooks
	mkdir -p "$h"
	# a pod with hostUsers: false: 65536 IDs from a multiple of 65536
	bundle "$b" "[\"sh\", \"-c\", $(jq -Rn --arg m "$MAPS" '$m + "; id -u; hostname; stat -c %u /bin/busybox; echo started; while :; do sleep 0.1; done"')]" \
		'{"env": ["PATH=/bin"]}' "{\"hostname\": \"pod\", \"hooks\": {
		  \"poststart\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"exit 3\"]},
		                 {\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat >$h/poststart\"]}],
		  \"poststop\": [{\"path\": \"$h/no-such-hook\"},
		                {\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat >$h/poststop\"]}]}}"
	jq '.linux.namespaces += [{"type": "user"}]
	    | .linux.uidMappings = [{"containerID": 0, "hostID": 196608, "size": 65536}]
	    | .linux.gidMappings = .linux.uidMappings' "$b/config.json" >"$b/config.new"
	mv "$b/config.new" "$b/config.json"
	timeout 300 "${K[@]}" create --bundle "$b" u1 >"$out" 2>&1
	run "${K[@]}" start u1
	echo "start: $status: $output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"warning: hooks.poststart[0] (/bin/sh): exited with status 3"* ]]
	[ "$(jq -r .status "$h/poststart")" = running ]
	[ "$(status_of u1)" = running ]
	wait_until 120 grep -q started "$out"
	cat "$out"
	[ "$(cat "$out")" = "$(printf '%s\n' '0 196608 65536' '0 196608 65536' 0 pod 65534 started)" ]
	# exec joins the container's user namespace too
	run timeout 120 "${K[@]}" exec u1 sh -c "$MAPS; id -u"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\n' '0 196608 65536' '0 196608 65536' 0)" ]
	timeout 60 "${K[@]}" kill u1 KILL
	wait_until 60 status_is u1 stopped
	run "${K[@]}" delete u1
	echo "delete: $status: $output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"warning: hooks.poststop[0] ($h/no-such-hook): exited with status 127"* ]]
	[ "$(jq -r .status "$h/poststop")" = stopped ]
	assert_clean
}

@test "run: a read-only root with a mount on a new directory; SIGKILL exits 137; --detach; pause/resume; delete --force" {
	local b=$BATS_TEST_TMPDIR/b
	# podman --read-only's shape: the root read-only, a tmpfs on a
	# directory the image lacks
	bundle "$b" '["sh", "-c", "touch /probe 2>/dev/null || echo root-ro; touch /newdir/probe && echo newdir-rw; echo up; exec sleep 1000"]' \
		'{}' '{"root": {"readonly": true}}'
	jq '.mounts += [{"destination": "/newdir", "type": "tmpfs", "source": "tmpfs"}]' \
		"$b/config.json" >"$b/config.new"
	mv "$b/config.new" "$b/config.json"
	"${K[@]}" run --bundle "$b" r1 >"$BATS_TEST_TMPDIR/out" 2>&1 &
	local runner=$!
	wait_until 120 grep -q up "$BATS_TEST_TMPDIR/out"
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = $'root-ro\nnewdir-rw\nup' ]
	"${K[@]}" kill r1 9
	status=0
	wait "$runner" || status=$?
	[ "$status" -eq 137 ]
	assert_clean

	# r2's shell notes a SIGTERM in a file and runs on
	bundle "$b.2" '["sh", "-c", "trap \"echo got-term >/tmp/term\" TERM; while :; do sleep 0.2; done"]'
	"${K[@]}" run --detach --bundle "$b.2" r2 >/dev/null 2>&1
	[ "$(status_of r2)" = running ]
	"${K[@]}" pause r2
	[ "$(status_of r2)" = paused ]
	run "${K[@]}" resume c-none
	[ "$status" -eq 1 ]
	"${K[@]}" resume r2
	[ "$(status_of r2)" = running ]
	# the guest runs on after a resume
	run timeout 120 "${K[@]}" exec r2 echo after-resume
	[ "$output" = after-resume ]
	# ... and a signal still reaches the workload's trap
	"${K[@]}" kill r2 TERM
	wait_until 60 timeout 60 "${K[@]}" exec r2 grep -qx got-term /tmp/term
	[ "$(status_of r2)" = running ]
	"${K[@]}" delete --force r2
	assert_clean
}

@test "terminal: the pty goes to --console-socket and window sizes reach the guest" {
	local b=$BATS_TEST_TMPDIR/b sock=$BATS_TEST_TMPDIR/tty.sock out=$BATS_TEST_TMPDIR/tty.out
	bundle "$b" '["sh", "-c", "tty; stty size; while [ \"$(stty size)\" = \"24 80\" ]; do sleep 0.2; done; stty size"]' \
		'{"terminal": true}'
	"$RECVTTY" --size 24x80 --resize-after-ms 1500 --resize 40x100 "$sock" \
		</dev/null >"$out" 2>"$BATS_TEST_TMPDIR/recvtty.err" &
	local rpid=$!
	wait_until 10 [ -S "$sock" ]
	"${K[@]}" create --bundle "$b" --console-socket "$sock" t1
	"${K[@]}" start t1
	wait_until 120 grep -q "40 100" "$out"
	grep -q "^/dev/pts/" "$out"
	grep -q "24 80" "$out"
	wait_until 60 status_is t1 stopped
	wait "$rpid"
	"${K[@]}" delete t1
	assert_clean
}
