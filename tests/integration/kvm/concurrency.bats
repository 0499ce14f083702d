#!/usr/bin/env bats
# Ten kiln containers created and run at the same time, each a microVM:
# every one finishes with its own output and exit status, and nothing is
# left behind. A file of its own because ten guests booting at once in the
# emulated host take several minutes. Runs where /dev/kvm works.
load ../helpers
load runtime_helpers

@test "10 containers at once each finish with their own output and status" {
	local i pids=()
	# ten guests booting at once in the emulated host take minutes
	echo "boot_timeout_ms = 900000" >"$BATS_TEST_TMPDIR/kiln.conf"
	export KILN_CONF=$BATS_TEST_TMPDIR/kiln.conf
	for i in $(seq 1 10); do
		bundle "$BATS_TEST_TMPDIR/b$i" "[\"sh\", \"-c\", \"echo container-$i; exit $i\"]" \
			'{}' '{"annotations": {"io.kiln.vm.memory_mib": "128"}}'
		# SIGKILL after the time limit leaves a stuck container's state
		# directory (its VMM's log and guest console) for teardown to show;
		# fd 3 closed: a VMM left running must not keep bats waiting
		timeout -s KILL 480 "${K[@]}" run --bundle "$BATS_TEST_TMPDIR/b$i" "m$i" \
			>"$BATS_TEST_TMPDIR/out$i" 2>&1 3>&- &
		pids+=($!)
	done
	for i in $(seq 1 10); do
		status=0
		wait "${pids[$((i - 1))]}" || status=$?
		[ "$status" -eq "$i" ] || { echo "m$i: status $status"; cat "$BATS_TEST_TMPDIR/out$i"; false; }
		[ "$(cat "$BATS_TEST_TMPDIR/out$i")" = "container-$i" ]
	done
	assert_clean
}
