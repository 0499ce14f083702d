#!/usr/bin/env bats
# Volumes: host directories and files bind-mounted into a container are
# shared into its VM by virtio-fs, served by Debian's virtiofsd
# (runtime/volumes.h, docs/runtime.md "Volumes"). kiln's own CLI for the
# bad input and the escape attempts, then podman and containerd with their
# stock configuration (podman_helpers.bash, containerd_helpers.bash). Every
# VM boot costs 10-20 s in the emulated host, so each container runs
# several checks.
# Runs where /dev/kvm works (inside tests/kvmhost/run here).
# The container scripts are single-quoted on purpose:
# shellcheck disable=SC2016
load ../helpers
load runtime_helpers
load podman_helpers
load containerd_helpers
bats_require_minimum_version 1.5.0

setup_file() {
	runtime_rootfs
	podman_setup_file
	containerd_setup_file
}

teardown_file() {
	containerd_teardown_file
	podman_teardown_file
}

teardown() {
	local id
	show_runtime_state "$ROOT"
	for id in $(ls "$ROOT" 2>/dev/null); do
		"${K[@]}" delete --force "$id" >/dev/null 2>&1 || true
	done
	[ -n "${BATS_TEST_COMPLETED:-}" ] || tail -n 20 "$ROOT"/*/virtiofsd.log /run/kiln/*/virtiofsd.log 2>/dev/null || true
	# what a failed podman test left
	pm rm -f -t 0 vol1 >/dev/null 2>&1 || true
	pm volume rm -f kiln-vol >/dev/null 2>&1 || true
}

# logs_have NAME TEXT: whether `podman logs NAME` shows a line TEXT.
logs_have() {
	pm logs "$1" 2>/dev/null | grep -qx "$2"
}

# A host directory with a file, the 8 MiB file, a tarball of 3000 small
# files and a symlink to the host's /etc/shadow; a read-only one.
make_volumes() {
	V=$BATS_TEST_TMPDIR/vol
	RO=$BATS_TEST_TMPDIR/ro
	mkdir -p "$V" "$RO" "$BATS_TEST_TMPDIR/tree"
	# the container's uid 1000 writes here too
	chmod 0777 "$V"
	echo from-host >"$V/hello"
	echo ro-file >"$RO/kept"
	ln -s /etc/shadow "$V/shadow-link"
	head -c 8M /dev/urandom >"$V/big"
	(cd "$BATS_TEST_TMPDIR/tree" && for i in $(seq 1 3000); do echo "small $i" >"f$i"; done)
	tar -C "$BATS_TEST_TMPDIR" -cf "$V/tree.tar" tree
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

# ---- podman: two VMs

@test "volumes: podman -v DIR:/data, :ro, a named volume, a host write seen live, uid 1000, two containers" {
	local id
	make_volumes
	run pm volume create kiln-vol
	[ "$status" -eq 0 ]
	run pm run -d --network none --name vol1 -v "$V:/data" -v "$RO:/ro:ro" \
		-v kiln-vol:/named "$IMAGE" sh -c 'echo ready; while :; do sleep 0.2; done'
	[ "$status" -eq 0 ]
	id=$output
	wait_until 120 logs_have vol1 ready

	run pm exec vol1 cat /data/hello
	[ "$status" -eq 0 ] && [ "$output" = from-host ]
	# a host write while the container runs
	echo written-later >"$V/later"
	run pm exec vol1 cat /data/later
	[ "$status" -eq 0 ] && [ "$output" = written-later ]
	# 8 MiB, the same bytes on both sides
	run pm exec vol1 sha256sum /data/big
	[ "$status" -eq 0 ] && [ "${output%% *}" = "$(sha256sum "$V/big" | cut -d' ' -f1)" ]
	# 3000 small files untarred in the container arrive on the host
	run pm exec vol1 sh -c 'tar -C /data -xf /data/tree.tar && find /data/tree -type f | wc -l'
	[ "$status" -eq 0 ] && [ "$output" = 3000 ]
	[ "$(find "$V/tree" -type f | wc -l)" = 3000 ]
	[ "$(cat "$V/tree/f2999")" = "small 2999" ]
	# ownership: a file the container's uid 1000 makes is uid 1000's here
	run pm exec --user 1000:1000 vol1 sh -c 'echo mine >/data/by-1000'
	[ "$status" -eq 0 ]
	[ "$(stat -c %u:%g "$V/by-1000")" = 1000:1000 ]
	# :ro refuses writes, and the host directory is unchanged
	run pm exec vol1 sh -c 'echo x >/ro/new'
	[ "$status" -ne 0 ]
	[[ "$output" == *"Read-only file system"* ]]
	[ "$(ls "$RO")" = kept ]
	# the named volume, and a second container sharing both volumes
	run pm exec vol1 sh -c 'echo from-vol1 >/data/from1; echo named-data >/named/n'
	[ "$status" -eq 0 ]
	run pm run --rm --network none -v "$V:/data" -v kiln-vol:/named "$IMAGE" \
		sh -c 'cat /data/from1 /named/n; echo from-vol2 >/data/from2'
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'from-vol1\nnamed-data')" ]
	run pm exec vol1 cat /data/from2
	[ "$status" -eq 0 ] && [ "$output" = from-vol2 ]
	[ "$(cat "$(pm volume inspect kiln-vol --format '{{.Mountpoint}}')/n")" = named-data ]

	run pm rm -f -t 0 vol1
	[ "$status" -eq 0 ]
	run pm volume rm kiln-vol
	[ "$status" -eq 0 ]
	# podman's rm has the runtime delete the container: its volume daemon
	# went with it
	run pgrep -af "virtiofsd .*/$id/volumes"
	[ "$status" -eq 1 ]
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
