#!/usr/bin/env bats
# containerd as a real client of the OCI runtime: a private containerd
# (root, state and sockets in a tmpfs of the suite's own) runs
# the busybox image of tests/helpers/mkimage through the stock runc shim,
# `ctr run --runtime io.containerd.runc.v2 --runc-binary $KILN_TEST_RUNTIME`
# (default build/bin/kiln). --runc-binary is how ctr sets the shim's
# BinaryName option; containerd has no daemon-wide BinaryName for ctr's
# containers (that lives in the CRI plugin's runtimes table, see
# docs/containerd.md). The suite knows nothing of kiln, so it runs as well
# with runc or crun (KILN_TEST_RUNTIME=/usr/sbin/runc). Under kiln every
# task boots a microVM, so the checks share few containers. One task joins
# a network namespace the test made (ip netns, a veth pair, `ctr run
# --with-ns`). The last test removes everything and checks no shim, runtime
# process or state is left.
# containerd runs with the distribution's /etc/containerd/config.toml plus
# only what the suite needs, in a file the copy imports (containerd 1.6
# merges an imported file over the main one): its root, state, sockets and
# opt directory in the suite's tmpfs, so that it neither meets the
# machine's own containerd nor leaves anything behind.
# Runs where /dev/kvm works (inside tests/kvmhost/run here).
# The container scripts are single-quoted on purpose:
# shellcheck disable=SC2016
load ../helpers
bats_require_minimum_version 1.5.0

load containerd_helpers

setup_file() {
	containerd_setup_file
}

teardown_file() {
	containerd_teardown_file
}

teardown() {
	show_runtime_state "$RUNTIME_ROOT"
	# what the network test made (its namespace takes the veth pair along)
	[ -z "${serve_pid:-}" ] || kill "$serve_pid" 2>/dev/null || true
	[ -z "${netns:-}" ] || ip netns del "$netns" 2>/dev/null || true
	[ -z "${veth:-}" ] || ip link del "$veth" 2>/dev/null || true
	# ... and the end of containerd's own log (the shim's errors go there),
	# without the lines each new shim logs as it loads its plugins
	[ -n "${BATS_TEST_COMPLETED:-}" ] ||
		grep -v 'loading plugin' "$CDIR/containerd.log" 2>/dev/null | tail -n 40 || true
}

# late_stdin IN OUT CMD...: runs CMD with stdin from a pipe and stdout and
# stderr to OUT; writes file IN into the pipe and closes it once CMD's first
# line (its process runs) is in OUT; sets $status to CMD's exit status.
# ctr passes stdin's EOF on (CloseIO) only once the task or exec process
# exists: an EOF that comes sooner is lost and the process waits for ever
# (ctr 1.6, `ctr run` and `ctr task exec`).
late_stdin() {
	local in=$1 out=$2 bg
	shift 2
	rm -f "$BATS_TEST_TMPDIR/stdin.fifo"
	mkfifo "$BATS_TEST_TMPDIR/stdin.fifo"
	exec 5<>"$BATS_TEST_TMPDIR/stdin.fifo"
	"$@" <"$BATS_TEST_TMPDIR/stdin.fifo" >"$out" 2>&1 5>&- 3>&- &
	bg=$!
	if ! wait_until 120 test -s "$out"; then
		echo "late_stdin: $* printed nothing within 120 s" >&2
		exec 5>&-
		kill "$bg" 2>/dev/null
		wait "$bg" || true
		return 1
	fi
	cat "$in" >&5
	exec 5>&-
	status=0
	wait "$bg" || status=$?
}

# no_shims: whether no shim of the suite's containerd runs.
no_shims() {
	! pgrep -f "containerd-shim.*-address $CDIR/" >/dev/null
}

# task_status ID: RUNNING, STOPPED, ... as `ctr task ls` has it.
task_status() {
	c tasks ls | awk -v id="$1" '$1 == id { print $3 }'
}

# task_status_is ID STATUS: whether the task's status is STATUS now (for
# wait_until, which must ask again on every try).
task_status_is() {
	[ "$(task_status "$1")" = "$2" ]
}

@test "containerd: ctr run --rm shows stdout and stderr apart, with --env and --cwd" {
	run --separate-stderr crun_ --rm --env FOO=bar --cwd /tmp "$IMAGE" out1 \
		sh -c 'echo hello from the container; echo "$FOO $(pwd) $(id -u)"; echo to-stderr >&2'
	[ "$status" -eq 0 ]
	[ "$output" = $'hello from the container\nbar /tmp 0' ]
	[[ "$stderr" == *to-stderr* ]]
	# --rm removed it
	run c containers ls -q
	[ "$status" -eq 0 ]
	[[ "$output" != *out1* ]]
}

@test "containerd: ctr run exits with the task's exit status (3)" {
	run crun_ --rm "$IMAGE" exit1 sh -c 'echo before-exit; exit 3'
	[ "$status" -eq 3 ]
	[[ "$output" == *before-exit* ]]
}

@test "containerd: ctr run pipes stdin in, then EOF" {
	head -c 65536 /dev/urandom >"$BATS_TEST_TMPDIR/in"
	late_stdin "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out" \
		crun_ --rm "$IMAGE" in1 sh -c 'echo running; sha256sum; echo stdin-ended'
	cat "$BATS_TEST_TMPDIR/out" # shown if the test fails
	[ "$status" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = "running
$(sha256sum <"$BATS_TEST_TMPDIR/in" | cut -d' ' -f1)  -
stdin-ended" ]
}

@test "containerd: ctr run -t gives the task a terminal of the caller's size" {
	# ctr sets the task's terminal size only after the task started; the
	# probe waits for it
	assert_tty_probe timeout -k 10 "$CTR_TIMEOUT" ctr --address "$CDIR/containerd.sock" --namespace "$NS" \
		run --rm -t --runtime io.containerd.runc.v2 --runc-binary "$RUNTIME" "$IMAGE" tty1 \
		sh -c "$TTY_PROBE"
}

@test "containerd: run -d; the runtime holds the task; task exec; task kill with a signal, then SIGTERM" {
	local log=$CDIR/det1.log
	run crun_ -d --log-uri "file://$log" "$IMAGE" det1 \
		sh -c 'trap "echo got-usr1" USR1; trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 0.2; done'
	[ "$status" -eq 0 ]
	wait_until 120 grep -qx ready "$log"
	[ "$(task_status det1)" = RUNNING ]
	# the shim ran the runtime under test (BinaryName): it knows the task,
	# in the shim's default root, with the pid containerd has
	run "$RUNTIME" --root "$RUNTIME_ROOT" state det1
	[ "$status" -eq 0 ]
	[[ "$output" =~ \"status\":\ ?\"running\" ]]
	[ "$(sed -nE 's/.*"pid": ?([0-9]+).*/\1/p' <<<"$output")" = "$(c tasks ls | awk '$1 == "det1" { print $2 }')" ]

	# exec: output and exit status come back through ctr. (No --user: ctr
	# resolves it by mounting the running container's snapshot once more,
	# and after an exec with --user 1000 a later `cat >/tmp/f` in the
	# container failed with ENOENT, under runc and crun alike.)
	run --separate-stderr c tasks exec --exec-id e1 --cwd /tmp det1 \
		sh -c 'echo "in-exec $(id -u) $(pwd)"; echo exec-err >&2; exit 5'
	[ "$status" -eq 5 ]
	[ "$output" = "in-exec 0 /tmp" ]
	[[ "$stderr" == *exec-err* ]]
	# ... and stdin goes in; it shares the task's namespaces
	echo piped >"$BATS_TEST_TMPDIR/in"
	late_stdin "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out" \
		c tasks exec --exec-id e2 det1 sh -c 'echo running; cat >/tmp/from-exec; cat /tmp/from-exec; cat /proc/1/comm'
	cat "$BATS_TEST_TMPDIR/out" # shown if the test fails
	[ "$status" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = $'running\npiped\nsh' ]

	run c tasks kill --signal SIGUSR1 det1
	[ "$status" -eq 0 ]
	wait_until 60 grep -qx got-usr1 "$log"
	[ "$(task_status det1)" = RUNNING ]
	# ctr task kill sends SIGTERM by default; the trap ends the task with 0
	run c tasks kill det1
	[ "$status" -eq 0 ]
	wait_until 60 task_status_is det1 STOPPED
	grep -qx got-term "$log"
	run c tasks delete det1
	[ "$status" -eq 0 ]
	run c containers delete det1
	[ "$status" -eq 0 ]
}

@test "containerd: ctr task kill -s SIGKILL makes ctr run exit 137" {
	# an attached `ctr run --rm` in the background, its output in a file
	crun_ --rm "$IMAGE" kill1 sh -c 'echo running; exec sleep 1000' \
		</dev/null >"$BATS_TEST_TMPDIR/out" 2>&1 3>&- &
	bg=$!
	wait_until 120 grep -qx running "$BATS_TEST_TMPDIR/out"
	wait_until 60 task_status_is kill1 RUNNING
	run c tasks kill --signal SIGKILL kill1
	[ "$status" -eq 0 ]
	status=0
	wait "$bg" || status=$?
	[ "$status" -eq 137 ]
	# --rm removed it
	run c containers ls -q
	[ "$status" -eq 0 ]
	[[ "$output" != *kill1* ]]
}

@test "containerd: a task in a network namespace of the test's (ctr run --with-ns) has its network" {
	local mac www=$BATS_TEST_TMPDIR/www
	# the namespace: a veth pair, eth0 in it (10.199.77.2/24, MTU 1400, a
	# default route), the other end on the host (10.199.77.1/24), where
	# busybox httpd answers
	netns=kiln-test-net veth=kiln-test-h
	# as podman_net.bats: no udev here to make /dev/net/tun at boot
	[ -c /dev/net/tun ] || modprobe tun
	ip netns add "$netns"
	ip link add "$veth" mtu 1400 type veth peer name eth0 mtu 1400 netns "$netns"
	ip addr add 10.199.77.1/24 dev "$veth"
	ip link set "$veth" up
	ip -n "$netns" addr add 10.199.77.2/24 dev eth0
	ip -n "$netns" link set eth0 up
	ip -n "$netns" link set lo up
	ip -n "$netns" route add default via 10.199.77.1
	mac=$(ip -n "$netns" -o link show dev eth0 | grep -oE 'link/ether [0-9a-f:]+' | cut -d' ' -f2)
	[ -n "$mac" ]
	mkdir "$www"
	echo from-the-host >"$www/index.html"
	busybox httpd -f -p 10.199.77.1:18091 -h "$www" 3>&- &
	serve_pid=$!
	wait_until 30 curl -sf --max-time 10 http://10.199.77.1:18091/ >/dev/null

	run crun_ --rm --with-ns "network:/var/run/netns/$netns" "$IMAGE" net1 sh -c '
		cat /sys/class/net/eth0/address /sys/class/net/eth0/mtu
		ip -o addr show dev eth0 scope global; ip route | grep "^default"
		wget -qO- http://10.199.77.1:18091/; ls /sys/class/net'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$mac" ]
	[ "${lines[1]}" = 1400 ]
	[[ "${lines[2]}" =~ ^[0-9]+:\ eth0\ +inet\ 10\.199\.77\.2/24\  ]]
	[[ "${lines[3]}" =~ ^default\ via\ 10\.199\.77\.1\ dev\ eth0 ]]
	[ "${lines[4]}" = from-the-host ]
	# no interface but eth0 and lo
	[ "${lines[*]:5}" = "eth0 lo" ]
	# the task is gone: the namespace holds what the test put there, and
	# no tc qdisc or filter
	run ip -n "$netns" -o link show
	[ "$status" -eq 0 ]
	[ "$(awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' <<<"$output")" = $'lo\neth0' ]
	run tc -n "$netns" qdisc show dev eth0
	[ "$status" -eq 0 ]
	[[ "$output" != *ingress* ]]
	run tc -n "$netns" filter show dev eth0 ingress
	[ -z "$output" ]
	run ip link show "$veth"
	[ "$status" -eq 0 ]
}

@test "containerd: nothing is left behind (tasks, containers, image, shims, runtime state)" {
	local id
	run c tasks ls -q
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run c containers ls -q
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run c images rm "$IMAGE"
	[ "$status" -eq 0 ]
	run c images ls -q
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# no shim of the suite's containerd is left, and no other process but
	# containerd itself refers to the suite's directory
	wait_until 30 no_shims
	run pgrep -f "$CDIR"
	[ "$output" = "$(cat "$CDIR/containerd.pid")" ]
	# ... nor runs the runtime or a helper named after it (kiln-vmm)
	run pgrep -af "^(\\S*/)?$(basename "$RUNTIME")(-\\S+)?( |$)"
	[ -z "$output" ] || { echo "left running: $output" >&2; false; }
	[ "$status" -eq 1 ] # none (not an error of pgrep's)
	# no container root is still mounted
	run grep -E "$CDIR/state/.*/rootfs" /proc/mounts
	[ -z "$output" ]
	[ "$status" -eq 1 ]
	# the runtime lists none of the suite's containers
	run "$RUNTIME" --root "$RUNTIME_ROOT" list -q
	[ "$status" -eq 0 ]
	for id in out1 exit1 in1 tty1 det1 kill1 net1; do
		[[ "$output" != *"$id"* ]] || { echo "the runtime still lists $id" >&2; false; }
	done
}
