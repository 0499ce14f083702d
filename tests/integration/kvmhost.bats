#!/usr/bin/env bats
# tests/kvmhost/run itself. --emulate boots the emulated host even where
# /dev/kvm works, so these always exercise it; each test is one boot.
load helpers
bats_require_minimum_version 1.5.0

setup() {
	export TMPDIR=$BATS_TEST_TMPDIR/tmp
	mkdir -p "$TMPDIR"
}

teardown() {
	if kvmhost_running "$TMPDIR"; then
		echo "a QEMU of tests/kvmhost/run outlived the test" >&2
		return 1
	fi
	if [ -n "$(ls -A "$TMPDIR")" ]; then
		echo "tests/kvmhost/run left files in $TMPDIR" >&2
		return 1
	fi
}

@test "kvmhost: /dev/kvm works inside, with this cwd, env and arguments; modules load on demand" {
	mkdir "$BATS_TEST_TMPDIR/here"
	cd "$BATS_TEST_TMPDIR/here"
	echo "from the host" >file
	export KVMHOST_TEST_VAR="a 'quoted' \$value"
	# stdout only: kvmhost/run may say on stderr that it waits for
	# another emulated host
	run --separate-stderr timeout 300 "$KVMHOST" --emulate -- sh -c \
		'test -c /dev/kvm && echo ok; pwd; cat file; echo "$KVMHOST_TEST_VAR"; echo "$1|$2"
		 grep -c "^dummy " /proc/modules; ip link add kvmhost-dummy type dummy && grep -c "^dummy " /proc/modules' \
		sh "two words" ""
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = ok ]
	[ "${lines[1]}" = "$BATS_TEST_TMPDIR/here" ]
	[ "${lines[2]}" = "from the host" ]
	[ "${lines[3]}" = "a 'quoted' \$value" ]
	[ "${lines[4]}" = "two words|" ]
	# a module the kernel asks for is loaded (here: dummy, for the link)
	[ "${lines[5]}" = 0 ]
	[ "${lines[6]}" = 1 ]
}

@test "kvmhost: exit status is the command's, stdout and stderr stay apart" {
	run timeout 300 bash -c '"$KVMHOST" --emulate -- sh -c "echo out; echo err >&2; exit 3" 2>/dev/null'
	[ "$status" -eq 3 ]
	[ "$output" = out ]
	run timeout 300 "$KVMHOST" --emulate -- false
	[ "$status" -ne 0 ]
}

@test "kvmhost: a command that outlives --timeout is killed and reported" {
	run timeout 300 "$KVMHOST" --emulate --timeout 30 -- sleep 1000
	[ "$status" -eq 124 ]
	[[ "$output" == *"did not finish within 30s"* ]]
}

@test "kvmhost: bad usage is refused without booting" {
	run "$KVMHOST" --emulate
	[ "$status" -ne 0 ]
	[[ "$output" == *"no command given"* ]]
	run "$KVMHOST" --mem lots -- true
	[ "$status" -ne 0 ]
	[[ "$output" == *"'lots' is not a positive whole number"* ]]
	run "$KVMHOST" --frobnicate -- true
	[ "$status" -ne 0 ]
	[[ "$output" == *"unknown option '--frobnicate'"* ]]
}

@test "kvmhost: a frozen emulated host is detected, reported and killed" {
	# SIGSTOP of QEMU is what the freezes seen look like from outside:
	# QEMU asleep at 0% CPU, its console silent. CMD says when it runs.
	mkfifo "$BATS_TEST_TMPDIR/out"
	KVMHOST_FREEZE_SECS=10 timeout 300 "$KVMHOST" --emulate -- sh -c 'echo running; exec sleep 1000' \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	local pid=$! line qemu rc=0
	exec 4<"$BATS_TEST_TMPDIR/out"
	read -r line <&4
	[ "$line" = running ]
	read -r qemu <"$(echo "$TMPDIR"/kvmhost.*/qemu.pid)"
	kill -STOP "$qemu"
	wait "$pid" || rc=$?
	exec 4<&-
	cat "$BATS_TEST_TMPDIR/err"
	[ "$rc" -eq 121 ]
	grep -E "^kvmhost: the emulated host froze: no heartbeat for [0-9]+s while running 'sh -c echo running; exec sleep 1000'; QEMU used 0.00 s of CPU time in the last [0-9]+s \(0%, asleep\); killing it$" \
		"$BATS_TEST_TMPDIR/err"
	grep -q "^  thread qemu-system-x86: state T" "$BATS_TEST_TMPDIR/err"
	grep -qx "kvmhost: an NMI from QEMU's monitor did not wake the host" "$BATS_TEST_TMPDIR/err"
	grep -q "^kvmhost: last lines of the emulated host's console:" "$BATS_TEST_TMPDIR/err"
	! kill -0 "$qemu" 2>/dev/null
}

@test "kvmhost: SIGTERM ends the emulated host and leaves nothing behind" {
	# teardown checks that no QEMU and no files are left
	mkfifo "$BATS_TEST_TMPDIR/out"
	timeout 300 "$KVMHOST" --emulate -- sh -c 'echo running; exec sleep 1000' \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	local pid=$! line rc=0
	exec 4<"$BATS_TEST_TMPDIR/out"
	read -r line <&4
	[ "$line" = running ]
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	exec 4<&-
	[ "$rc" -eq 143 ]
}

@test "kvmhost: --freeze shorter than three heartbeats is refused" {
	run "$KVMHOST" --emulate --freeze 5 -- true
	[ "$status" -eq 2 ]
	[ "$output" = "kvmhost: --freeze 5 is too short (at least 6 seconds)" ]
}

# tests/run --kvm in a scratch tree whose tests/kvmhost/run freezes on its
# first $FREEZES calls (exit 121, as the real one does) and then runs the
# command, and whose one KVM suite has one passing test.
kvm_stage_with_freezes() {
	local tree=$BATS_TEST_TMPDIR/tree
	mkdir -p "$tree/tests/kvmhost" "$tree/tests/integration/kvm"
	cp "$TOP/tests/run" "$tree/tests/run"
	cat >"$tree/tests/kvmhost/run" <<-'FAKE'
		#!/bin/bash
		while [ "$1" != -- ]; do shift; done
		shift
		n=$(cat "$BATS_TEST_TMPDIR/calls" 2>/dev/null || echo 0)
		echo $((n + 1)) >"$BATS_TEST_TMPDIR/calls"
		if [ "$n" -lt "$FREEZES" ]; then
			echo "kvmhost: the emulated host froze: (simulated)" >&2
			exit 121
		fi
		exec "$@"
	FAKE
	chmod +x "$tree/tests/kvmhost/run"
	printf '%s\n' '@test "passes" { true; }' >"$tree/tests/integration/kvm/one.bats"
	BUILD=$BATS_TEST_TMPDIR/build run "$tree/tests/run" --kvm
}

@test "tests/run: a frozen emulated host is counted and its file runs once more" {
	FREEZES=1 kvm_stage_with_freezes
	[ "$status" -eq 0 ]
	[ "$(grep -c '^# FROZEN:' <<<"$output")" -eq 1 ]
	grep -q '^# RETRY: the emulated KVM host froze (no heartbeat); running tests/integration/kvm/one.bats once more$' <<<"$output"
	[ "${lines[-2]}" = "# emulated-host freezes: 1" ]
	[ "${lines[-1]}" = "1 passed, 0 failed, 0 skipped" ]
	[ "$(cat "$BATS_TEST_TMPDIR/build/test-summary")" = "1 passed, 0 failed, 0 skipped" ]
	[ "$(cat "$BATS_TEST_TMPDIR/calls")" -eq 2 ]
}

@test "tests/run: a host that freezes twice fails its file, and both count" {
	FREEZES=2 kvm_stage_with_freezes
	[ "$status" -eq 1 ]
	[ "$(grep -c '^# FROZEN:' <<<"$output")" -eq 2 ]
	[ "${lines[-2]}" = "# emulated-host freezes: 2" ]
	[ "${lines[-1]}" = "0 passed, 1 failed, 0 skipped" ]
	[ "$(cat "$BATS_TEST_TMPDIR/build/test-summary")" = "0 passed, 1 failed, 0 skipped" ]
	[ "$(cat "$BATS_TEST_TMPDIR/calls")" -eq 2 ]
}
