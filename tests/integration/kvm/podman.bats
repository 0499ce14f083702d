#!/usr/bin/env bats
# podman as a real client of the OCI runtime, with its store, configuration
# and image from podman_helpers.bash, and every container on --network none
# (podman_net.bats tests networks). Under kiln every container boots a
# microVM, so the checks share few containers. The last test removes every
# container and the image and checks that no process of the suite is left.
# Runs where /dev/kvm works (inside tests/kvmhost/run here).
# The container scripts are single-quoted on purpose:
# shellcheck disable=SC2016
load ../helpers
load podman_helpers
bats_require_minimum_version 1.5.0

setup_file() {
	podman_setup_file
}

teardown_file() {
	podman_teardown_file
}

# prun ARGS...: `podman run --rm --network none` (ARGS: more flags, IMAGE, CMD).
prun() {
	pm run --rm --network none "$@"
}

# logs_have NAME TEXT: whether `podman logs NAME` shows a line TEXT.
logs_have() {
	pm logs "$1" 2>/dev/null | grep -qx "$2"
}

@test "podman: the stock configuration runs a container" {
	run pm run --rm --network none "$IMAGE" echo hi
	[ "$status" -eq 0 ]
	[ "$output" = hi ]
}

@test "podman: the stock default_sysctls and pids_limit reach the container" {
	local want
	# what podman's stock containers.conf asks for (Debian 12: "0 0"), as
	# /proc prints it (tab-separated)
	want=$(sed -n 's/^ *"net.ipv4.ping_group_range=\(.*\)",\{0,1\}$/\1/p' "$CONTAINERS_CONF")
	[ -n "$want" ]
	# ... and podman's default pids_limit (2048) on the container's cgroup
	run prun "$IMAGE" sh -c 'cat /proc/sys/net/ipv4/ping_group_range
		cat "/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/pids.max"'
	echo "status $status: $output" # shown if the test fails
	[ "$status" -eq 0 ]
	[ "$output" = "$(tr ' ' '\t' <<<"$want")"$'\n2048' ]
}

@test "podman: run --rm prints the container's stdout and stderr apart, exit 0" {
	run --separate-stderr prun --name out1 "$IMAGE" sh -c 'echo hello from the container; echo to-stderr >&2'
	[ "$status" -eq 0 ]
	[ "$output" = "hello from the container" ]
	[[ "$stderr" == *to-stderr* ]]
	# --rm removed it
	run pm ps -a --format '{{.Names}}'
	[ "$status" -eq 0 ]
	[[ "$output" != *out1* ]]
}

@test "podman: run exits with the container's exit code (3)" {
	run prun "$IMAGE" sh -c 'echo before-exit; exit 3'
	[ "$status" -eq 3 ]
	[[ "$output" == *before-exit* ]]
}

@test "podman: --user, --workdir and -e reach the process" {
	run --separate-stderr prun --user 1000:1000 --workdir /tmp -e FOO=bar -e KILN_TEST="two words" \
		"$IMAGE" sh -c 'id -u; id -g; pwd; echo "$FOO"; echo "$KILN_TEST"; touch ./mine && stat -c %u:%g ./mine'
	[ "$status" -eq 0 ]
	[ "$output" = $'1000\n1000\n/tmp\nbar\ntwo words\n1000:1000' ]
}

@test "podman: run -i pipes stdin in, then EOF" {
	head -c 65536 /dev/urandom >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr prun -i "$IMAGE" sh -c 'sha256sum; echo stdin-ended' <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(sha256sum <"$BATS_TEST_TMPDIR/in" | cut -d' ' -f1)  -" ]
	[ "${lines[1]}" = stdin-ended ]
}

@test "podman: run -t gives the process a terminal of the caller's size" {
	assert_tty_probe timeout -k 10 "$PM_TIMEOUT" podman --runtime "$RUNTIME" \
		run --rm --network none -t "$IMAGE" sh -c "$TTY_PROBE"
}

@test "podman: --read-only makes the root read-only, /tmp stays writable" {
	run prun --read-only "$IMAGE" sh -c 'touch /probe && echo root-writable; touch /tmp/probe && echo tmp-writable'
	echo "status $status: $output" # shown if the test fails
	[ "$status" -eq 0 ]
	[[ "$output" == *"Read-only file system"* ]]
	[[ "$output" != *root-writable* ]]
	[[ "$output" == *tmp-writable* ]]
}

@test "podman: run -d, ps, exec, a container in its UTS namespace, logs, then stop ends it with SIGTERM within -t" {
	run pm run -d --network none --name det1 "$IMAGE" \
		sh -c 'trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 0.2; done'
	[ "$status" -eq 0 ]
	wait_until 120 logs_have det1 ready
	run pm ps --format '{{.Names}} {{.Status}}'
	[ "$status" -eq 0 ]
	[[ "$output" == *"det1 Up"* ]]
	run state det1
	[ "$output" = running ]

	# exec: output, exit code, environment and user of its own
	run --separate-stderr pm exec -e EXECVAR=x1 --user 1000:1000 --workdir /tmp det1 \
		sh -c 'echo "in-exec $EXECVAR $(id -u) $(pwd)"; echo exec-err >&2; exit 5'
	[ "$status" -eq 5 ]
	[ "$output" = "in-exec x1 1000 /tmp" ]
	[[ "$stderr" == *exec-err* ]]
	# exec -i: stdin reaches the exec'd process; it sees the init's files
	run pm exec -i det1 sh -c 'cat >/tmp/from-exec; cat /tmp/from-exec; cat /proc/1/comm' <<<"piped"
	[ "$status" -eq 0 ]
	[ "$output" = $'piped\nsh' ]
	# a container in det1's UTS and IPC namespaces (container:ID, as in a
	# pod) takes det1's hostname
	run pm run --rm --network none --uts container:det1 --ipc container:det1 "$IMAGE" hostname
	echo "status $status: $output" # shown if the test fails
	[ "$status" -eq 0 ]
	[ "$output" = "$(pm inspect --format '{{.Config.Hostname}}' det1)" ]

	run pm stop -t 60 det1
	[ "$status" -eq 0 ]
	# ended by the trap (exit 0, got-term below), not by a SIGKILL (137)
	run state det1
	[ "$output" = exited ]
	run pm inspect --format '{{.State.ExitCode}}' det1
	[ "$output" = 0 ]
	run pm logs det1
	[ "$status" -eq 0 ]
	[ "$output" = $'ready\ngot-term' ]
	run pm ps --format '{{.Names}}'
	[ "$status" -eq 0 ]
	[[ "$output" != *det1* ]]
	run pm ps -a --format '{{.Names}} {{.Status}}'
	[[ "$output" == *"det1 Exited (0)"* ]]
	run pm rm det1
	[ "$status" -eq 0 ]
}

@test "podman: stop -t 3 SIGKILLs a process that ignores SIGTERM (137)" {
	local started elapsed stop_status
	# sleep as the container's init has no handler: SIGTERM does nothing
	run pm run -d --network none --name stop2 "$IMAGE" sleep 1000
	[ "$status" -eq 0 ]
	wait_until 120 state_is stop2 running
	started=$SECONDS
	# podman's debug log shows which signals it sent and when it saw the
	# container's pid go (printed when the test fails)
	run pm --log-level=debug stop -t 3 stop2
	elapsed=$((SECONDS - started))
	stop_status=$status
	echo "$output" | grep -v 'level=debug msg="\(Loading\|Initializing\|Using\|Setting\|Cached\|Reading\|Found\|Check\)' || true
	run pm inspect --format '{{.State.ExitCode}}' stop2
	echo "stop -t 3: status $stop_status after ${elapsed}s; exit code $output"
	[ "$stop_status" -eq 0 ]
	# not before the 3 s grace period (a lower bound that only a stop
	# that did not wait can break)
	[ "$elapsed" -ge 3 ]
	[ "$output" = 137 ]
	run pm ps -a --format '{{.Names}} {{.Status}}'
	[[ "$output" == *"stop2 Exited (137)"* ]]
	run pm rm stop2
	[ "$status" -eq 0 ]
}

@test "podman: kill delivers a signal; SIGKILL makes run --rm exit 137" {
	# an attached `podman run --rm` in the background, its output in a file
	prun --name kill1 "$IMAGE" \
		sh -c 'trap "echo got-usr1" USR1; echo ready; while :; do sleep 0.2; done' \
		>"$BATS_TEST_TMPDIR/out" 2>&1 3>&- &
	bg=$!
	wait_until 120 grep -qx ready "$BATS_TEST_TMPDIR/out"
	run pm kill --signal USR1 kill1
	[ "$status" -eq 0 ]
	wait_until 60 grep -qx got-usr1 "$BATS_TEST_TMPDIR/out"
	run state kill1
	[ "$output" = running ]
	run pm kill kill1
	[ "$status" -eq 0 ]
	status=0
	wait "$bg" || status=$?
	[ "$status" -eq 137 ]
	# --rm removed it
	run pm ps -a --format '{{.Names}}'
	[ "$status" -eq 0 ]
	[[ "$output" != *kill1* ]]
}

@test "podman: nothing is left behind (containers, image, processes, mounts, runtime state)" {
	local ids id
	run pm rm -af -t 0
	[ "$status" -eq 0 ]
	run pm ps -aq
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run pm rmi -af
	[ "$status" -eq 0 ]
	run pm images -q
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# every container the suite made, from podman's event log
	ids=$(grep -ohE '"ID":"[0-9a-f]{64}"' "$PMDIR"/tmp/events/*.log | cut -d'"' -f4 | sort -u)
	[ "$(wc -w <<<"$ids")" -ge 9 ]
	# no process (conmon, runtime, VMM) refers to one of them or to the store
	for id in $ids "$PMDIR"; do
		run pgrep -af "$id"
		[ -z "$output" ] || { echo "left running: $output" >&2; false; }
		[ "$status" -eq 1 ]
	done
	# ... nor runs the runtime or a helper named after it (kiln-vmm)
	run pgrep -af "^(\S*/)?$(basename "$RUNTIME")(-\S+)?( |$)"
	[ -z "$output" ] || { echo "left running: $output" >&2; false; }
	[ "$status" -eq 1 ] # none (not an error of pgrep's)
	# no container root is still mounted
	run grep -E "$PMDIR/storage/overlay/[^ ]*/merged" /proc/mounts
	[ -z "$output" ]
	[ "$status" -eq 1 ]
	# the runtime lists none of them (podman calls it without --root: the
	# runtime's default state directory)
	run "$RUNTIME" list -q
	[ "$status" -eq 0 ]
	for id in $ids; do
		[[ "$output" != *"$id"* ]] || { echo "the runtime still lists $id" >&2; false; }
	done
}
