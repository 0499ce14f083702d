#!/usr/bin/env bats
# Volumes: host directories and files bind-mounted into a container are
# shared into its VM by virtio-fs, served by Debian's virtiofsd
# (runtime/volumes.h, docs/runtime.md "Volumes"). kiln's own CLI for the
# bad input and the escape attempts, then containerd with its stock
# configuration (containerd_helpers.bash); podman's are in
# volumes_podman.bats (a file of its own: its test is the longest, and an
# emulated host that freezes re-runs one file). Every VM boot costs 10-20 s
# in the emulated host, so each container runs several checks.
# Runs where /dev/kvm works (inside tests/kvmhost/run here).
# The container scripts are single-quoted on purpose:
# shellcheck disable=SC2016
load ../helpers
load runtime_helpers
load containerd_helpers
load volumes_helpers
bats_require_minimum_version 1.5.0

setup_file() {
	runtime_rootfs
	containerd_setup_file
}

teardown_file() {
	containerd_teardown_file
}

teardown() {
	volumes_teardown
}

# ---- no VM boots

@test "volumes: a source that does not exist, or no virtiofsd, is one line and leaves nothing" {
	local b=$BATS_TEST_TMPDIR/b conf=$BATS_TEST_TMPDIR/kiln.conf
	mkdir -p "$BATS_TEST_TMPDIR/data"
	bundle "$b" '["true"]' '{}' "{\"mounts\": [{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"$BATS_TEST_TMPDIR/nope\", \"options\": [\"rbind\"]}]}"
	run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[ "$output" = "kiln: mounts[0].source $BATS_TEST_TMPDIR/nope: No such file or directory" ]
	assert_clean

	bundle "$b" '["true"]' '{}' "{\"mounts\": [{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"$BATS_TEST_TMPDIR/data\", \"options\": [\"rbind\"]}]}"
	echo "virtiofsd = /nonexistent/virtiofsd" >"$conf"
	KILN_CONF=$conf run "${K[@]}" create --bundle "$b" c1
	[ "$status" -eq 1 ]
	[ "$output" = "kiln: virtiofsd /nonexistent/virtiofsd, needed for the spec's host bind mounts (install qemu-system-common, or set virtiofsd in $conf): No such file or directory" ]
	assert_clean
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/data")" ]
}

# ---- one VM

@test "volumes: kiln run shares a directory and a file; ro holds on the host; no escape to the host's files" {
	local b=$BATS_TEST_TMPDIR/b
	make_volumes
	echo "a host file" >"$BATS_TEST_TMPDIR/file"
	bundle "$b" '["sh", "-c", "cat /data/hello; echo from-guest >/data/written; cat /etc/bound; { echo x >/ro/new; } 2>/dev/null || echo ro-refused; cat /ro/kept; cat /data/shadow-link 2>&1; cat /data/../../../etc/shadow 2>&1; ls /run/kiln-volumes 2>&1; grep -c \" /data virtiofs \" /proc/mounts; sha256sum /data/big | cut -d\" \" -f1"]'
	jq --arg v "$V" --arg ro "$RO" --arg f "$BATS_TEST_TMPDIR/file" \
		'.mounts += [
		  {"destination": "/data", "type": "bind", "source": $v, "options": ["rbind", "rw"]},
		  {"destination": "/ro", "type": "bind", "source": $ro, "options": ["rbind", "ro"]},
		  {"destination": "/etc/bound", "type": "bind", "source": $f, "options": ["bind", "ro"]}]' \
		"$b/config.json" >"$b/config.new"
	mv "$b/config.new" "$b/config.json"
	run --separate-stderr timeout 300 "${K[@]}" run --bundle "$b" v1
	echo "status $status, stdout: $output; stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = from-host ]
	[ "${lines[1]}" = "a host file" ]
	[ "${lines[2]}" = ro-refused ]
	[ "${lines[3]}" = ro-file ]
	# the symlink and the ..s resolve in the container (whose rootfs has
	# no /etc/shadow), never to the host's
	[ "${lines[4]}" = "cat: can't open '/data/shadow-link': No such file or directory" ]
	[ "${lines[5]}" = "cat: can't open '/data/../../../etc/shadow': No such file or directory" ]
	# the share itself is not in the container
	[ "${lines[6]}" = "ls: /run/kiln-volumes: No such file or directory" ]
	[ "${lines[7]}" = 1 ]
	[ "${lines[8]}" = "$(sha256sum "$V/big" | cut -d' ' -f1)" ]
	[ "$(cat "$V/written")" = from-guest ]
	[ "$(ls "$RO")" = kept ]
	assert_clean
	# nothing of the volumes is mounted on the host
	run grep "$BATS_TEST_TMPDIR" /proc/self/mountinfo
	[ "$status" -eq 1 ]
}

@test "volumes: delete --force after the supervisor was killed leaves no virtiofsd" {
	local b=$BATS_TEST_TMPDIR/b pid
	mkdir -p "$BATS_TEST_TMPDIR/data"
	bundle "$b" '["true"]' '{}' "{\"mounts\": [{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"$BATS_TEST_TMPDIR/data\", \"options\": [\"rbind\"]}]}"
	# the supervisor keeps create's stdio: a file, not run's pipe
	timeout 300 "${K[@]}" create --bundle "$b" c1 >"$BATS_TEST_TMPDIR/out" 2>&1 ||
		{ cat "$BATS_TEST_TMPDIR/out"; false; }
	[ -n "$(pgrep -f "virtiofsd .*$ROOT/c1/volumes")" ]
	pid=$("${K[@]}" state c1 | jq -r .pid)
	kill -KILL "$pid"
	run "${K[@]}" delete --force c1
	[ "$status" -eq 0 ]
	assert_clean
	run grep "$BATS_TEST_TMPDIR" /proc/self/mountinfo
	[ "$status" -eq 1 ]
}

@test "volumes: a virtiofsd that dies fails the volume with EIO; the container and its VM go on" {
	local b=$BATS_TEST_TMPDIR/b
	mkdir -p "$BATS_TEST_TMPDIR/data"
	echo before >"$BATS_TEST_TMPDIR/data/f"
	bundle "$b" '["sleep", "600"]' '{}' "{\"mounts\": [{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"$BATS_TEST_TMPDIR/data\", \"options\": [\"rbind\"]}]}"
	timeout 300 "${K[@]}" create --bundle "$b" c1 >"$BATS_TEST_TMPDIR/out" 2>&1 ||
		{ cat "$BATS_TEST_TMPDIR/out"; false; }
	"${K[@]}" start c1
	run timeout 120 "${K[@]}" exec c1 cat /data/f
	[ "$status" -eq 0 ] && [ "$output" = before ]
	pkill -KILL -f "virtiofsd .*$ROOT/c1/volumes"
	# kiln-vmm takes the queues over, the supervisor says what happened
	wait_until 120 grep -q "its requests now fail with EIO" "$ROOT/c1/vm/vmm.log"
	wait_until 120 grep -q "volume daemon virtiofsd was killed by SIGKILL" "$BATS_TEST_TMPDIR/out"
	run timeout 120 "${K[@]}" exec c1 cat /data/f
	echo "status $status: $output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Input/output error"* ]]
	run timeout 120 "${K[@]}" exec c1 echo alive
	[ "$status" -eq 0 ] && [ "$output" = alive ]
	status_is c1 running
	"${K[@]}" kill c1 KILL
	run "${K[@]}" delete --force c1
	[ "$status" -eq 0 ]
	assert_clean
}

# ---- containerd: one VM

@test "volumes: ctr run --mount type=bind,src=DIR,dst=/data,options=rbind:rw" {
	mkdir -p "$BATS_TEST_TMPDIR/cvol"
	echo from-host >"$BATS_TEST_TMPDIR/cvol/hello"
	run crun_ --rm --mount "type=bind,src=$BATS_TEST_TMPDIR/cvol,dst=/data,options=rbind:rw" \
		"$IMAGE" vol-ctr sh -c 'cat /data/hello; echo from-ctr >/data/written'
	[ "$status" -eq 0 ]
	[ "$output" = from-host ]
	[ "$(cat "$BATS_TEST_TMPDIR/cvol/written")" = from-ctr ]
	run pgrep -af "virtiofsd .*/vol-ctr/volumes"
	[ "$status" -eq 1 ]
}
