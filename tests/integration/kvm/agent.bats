#!/usr/bin/env bats
# kiln-agent (docs/agent-protocol.md) in a real microVM: one kiln-vmm boots
# the guest image (build/guest, kiln-agent as /init) for the whole file with
# a busybox rootfs disk (tests/helpers/mkrootfs), and each test drives
# containers in it with tests/helpers/agentctl over the hybrid vsock. Every
# container id is unique (the agent keeps an id until the VM ends). Runs
# where /dev/kvm works (inside tests/kvmhost/run here).
# The container scripts are single-quoted on purpose:
# shellcheck disable=SC2016
load ../helpers

BOOT_TIMEOUT=240
AGENTCTL=$BUILD/tests/helpers/agentctl

setup_file() {
	export UDS=$BATS_FILE_TMPDIR/vsock.sock
	cp "$BUILD/tests/guest/rootfs.ext4" "$BATS_FILE_TMPDIR/rootfs.ext4"
	# The disk is read-only; each container gets the agent's overlay
	# (tmpfs upper layer), so the containers cannot see each other's
	# writes and the image stays as built.
	cat >"$BATS_FILE_TMPDIR/vm.json" <<JSON
{"boot-source": {"kernel_image_path": "$GUEST_KERNEL", "initrd_path": "$AGENT_INITRD",
                 "boot_args": "$GUEST_CMDLINE"},
 "machine-config": {"vcpu_count": 2, "mem_size_mib": 512},
 "drives": [{"drive_id": "rootfs", "path_on_host": "$BATS_FILE_TMPDIR/rootfs.ext4",
             "is_root_device": false, "is_read_only": true}],
 "vsock": {"guest_cid": 3, "uds_path": "$UDS"}}
JSON
	# kiln-vmm's exit status goes to vmm.status (the tests are not its
	# parent, so they cannot wait(1) for it); fd 3 closed so bats does not
	# wait for it.
	(
		"$KILN_VMM" --no-api --config-file "$BATS_FILE_TMPDIR/vm.json" \
			>"$BATS_FILE_TMPDIR/console" 2>&1 &
		echo $! >"$BATS_FILE_TMPDIR/vmm.pid"
		wait $!
		echo $? >"$BATS_FILE_TMPDIR/vmm.status"
	) 3>&- &
	if ! wait_until $BOOT_TIMEOUT ping_agent; then
		echo "kiln-agent did not answer ping within $BOOT_TIMEOUT s; console:" >&2
		cat "$BATS_FILE_TMPDIR/console" >&2
		return 1
	fi
}

teardown_file() {
	local pid
	pid=$(cat "$BATS_FILE_TMPDIR/vmm.pid" 2>/dev/null) || return 0
	if [ ! -e "$BATS_FILE_TMPDIR/vmm.status" ]; then
		timeout 30 "$AGENTCTL" --uds "$UDS" shutdown >/dev/null 2>&1 || true
		timeout 60 tail --pid="$pid" -f /dev/null || kill -KILL "$pid" 2>/dev/null || true
	fi
}

# A failed test shows whether the VM is still there and what its console
# said last (a guest that panicked or a kiln-vmm that exited explains every
# later failure in the file).
teardown() {
	[ -z "${BATS_TEST_COMPLETED:-}" ] || return 0
	if [ -e "$BATS_FILE_TMPDIR/vmm.status" ]; then
		echo "# kiln-vmm exited with status $(cat "$BATS_FILE_TMPDIR/vmm.status")" >&3
	fi
	echo "# last lines of the guest console:" >&3
	tail -n 30 "$BATS_FILE_TMPDIR/console" | sed 's/^/#   /' >&3
}

ping_agent() {
	[ ! -e "$BATS_FILE_TMPDIR/vmm.status" ] || return 2 # kiln-vmm ended
	timeout 10 "$AGENTCTL" --uds "$UDS" ping 2>/dev/null
}

# actl CMD ...: agentctl on the test VM, never hanging a test.
actl() {
	timeout "${ACTL_TIMEOUT:-120}" "$AGENTCTL" --uds "$UDS" "$@"
}

# JSON string and array of strings.
jstr() {
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/\\n}
	s=${s//$'\t'/\\t}
	printf '"%s"' "$s"
}
jargs() {
	local out="" a
	for a; do out+=${out:+, }$(jstr "$a"); done
	printf '[%s]' "$out"
}

# process ARGS...: an OCI process object; S_TERMINAL, S_UID, S_GID, S_CWD,
# S_NNP (noNewPrivileges) and S_ENV (more JSON strings, comma-separated)
# change the defaults.
process() {
	cat <<JSON
{"terminal": ${S_TERMINAL:-false},
 "user": {"uid": ${S_UID:-0}, "gid": ${S_GID:-0}},
 "args": $(jargs "$@"),
 "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"${S_ENV:+, $S_ENV}],
 "cwd": "${S_CWD:-/}",
 "noNewPrivileges": ${S_NNP:-false}}
JSON
}

# spec ARGS...: a minimal OCI config.json running ARGS; S_RO=true makes the
# root read-only, S_HOSTNAME names the host, S_SECCOMP is linux.seccomp.
spec() {
	local seccomp=""

	[ -z "${S_SECCOMP:-}" ] || seccomp=", \"seccomp\": $S_SECCOMP"
	cat <<JSON
{"ociVersion": "1.0.2",
 "process": $(process "$@"),
 "root": {"path": "rootfs", "readonly": ${S_RO:-false}},
 "hostname": "${S_HOSTNAME:-kiln-test}",
 "mounts": [
  {"destination": "/proc", "type": "proc", "source": "proc"},
  {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
   "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
  {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
   "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
  {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
  {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}],
 "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}]$seccomp}}
JSON
}

# mkspec ID ARGS...: the config of container ID in $BATS_TEST_TMPDIR/ID.json.
mkspec() {
	local id=$1
	shift
	spec "$@" >"$BATS_TEST_TMPDIR/$id.json"
}

# ctr ID [RUN-FLAGS...]: agentctl run of container ID (mkspec first).
ctr() {
	local id=$1
	shift
	actl run --id "$id" --drive rootfs --overlay --bundle-config "$BATS_TEST_TMPDIR/$id.json" "$@"
}

# ctr_start ID: create + start container ID without stdio.
ctr_start() {
	actl create --id "$1" --drive rootfs --overlay --bundle-config "$BATS_TEST_TMPDIR/$1.json" >/dev/null &&
		actl start "$1"
}

# ctr_exec ID EID [EXEC-FLAGS] -- ARGS...: exec ARGS in container ID.
ctr_exec() {
	local id=$1 eid=$2 flags=()
	shift 2
	while [ "$1" != -- ]; do
		flags+=("$1")
		shift
	done
	shift
	process "$@" >"$BATS_TEST_TMPDIR/$eid.process.json"
	actl exec "$id" --exec "$eid" --process "$BATS_TEST_TMPDIR/$eid.process.json" "${flags[@]}"
}

@test "agent: ping and version answer" {
	run actl ping
	[ "$status" -eq 0 ]
	run actl version
	[ "$status" -eq 0 ]
	[[ "$output" == *'"agent":"kiln-agent"'* ]]
	[[ "$output" == *'"protocol":1'* ]]
}

@test "agent: echo's output reaches the host" {
	mkspec echo1 echo hello from kiln
	run ctr echo1
	[ "$status" -eq 0 ]
	[ "$output" = "hello from kiln" ]
}

@test "agent: stdout and stderr are kept apart" {
	mkspec split1 sh -c 'echo out1; echo err1 >&2; echo out2; echo err2 >&2'
	ctr split1 >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = $'out1\nout2' ]
	[ "$(cat "$BATS_TEST_TMPDIR/err")" = $'err1\nerr2' ]
}

@test "agent: 10 MiB of output arrive intact" {
	# the guest writes the data's sha256 on stderr, the data on stdout
	mkspec big1 sh -c 'head -c 10485760 /dev/urandom >/tmp/d && sha256sum /tmp/d >&2 && cat /tmp/d'
	ACTL_TIMEOUT=600 ctr big1 >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/out")" -eq 10485760 ]
	[ "$(sha256sum <"$BATS_TEST_TMPDIR/out" | cut -d' ' -f1)" = "$(cut -d' ' -f1 "$BATS_TEST_TMPDIR/err")" ]
}

@test "agent: stdin is piped in (1 MiB, then EOF)" {
	head -c 1M /dev/urandom >"$BATS_TEST_TMPDIR/in"
	mkspec in1 sh -c 'sha256sum; echo stdin-ended'
	run ctr in1 --stdin <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(sha256sum <"$BATS_TEST_TMPDIR/in" | cut -d' ' -f1)  -" ]
	[ "${lines[1]}" = stdin-ended ]
}

@test "agent: close_stdin ends a process's stdin while the host's stays open" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	exec 5<>"$BATS_TEST_TMPDIR/fifo"
	mkspec in2 sh -c 'cat; echo after-eof'
	ctr in2 --stdin <"$BATS_TEST_TMPDIR/fifo" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	bg=$!
	printf 'abc\n' >&5
	wait_until 60 grep -q abc "$BATS_TEST_TMPDIR/out"
	run actl close-stdin in2
	[ "$status" -eq 0 ]
	status=0
	wait "$bg" || status=$?
	exec 5>&-
	[ "$status" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = $'abc\nafter-eof' ]
}

@test "agent: exit codes 0, 1 and 42 are reported" {
	for code in 0 1 42; do
		mkspec "exit$code" sh -c "exit $code"
		run ctr "exit$code"
		[ "$status" -eq "$code" ]
	done
}

@test "agent: a SIGKILLed init is reported as signal 9 (exit code 137)" {
	mkspec kill1 sleep 1000
	ctr_start kill1
	run actl signal kill1 KILL
	[ "$status" -eq 0 ]
	run actl wait kill1
	[ "$status" -eq 137 ]
	[[ "$output" == *'"exit_code":137'* ]]
	[[ "$output" == *'"signal":9'* ]]
	# the init's status stays available
	run actl wait kill1
	[ "$status" -eq 137 ]
	# signalling an exited process is refused
	run actl signal kill1 KILL
	[ "$status" -eq 125 ]
	[[ "$output" == *invalid_state* ]]
}

@test "agent: exec runs in the running container's namespaces" {
	S_HOSTNAME=execbox mkspec exec1 sh -c 'echo marker >/tmp/m; exec sleep 1000'
	ctr_start exec1
	run ctr_exec exec1 e1 -- sh -c 'while [ ! -e /tmp/m ]; do sleep 0.1; done; cat /tmp/m; hostname; cat /proc/1/comm'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = marker ]
	[ "${lines[1]}" = execbox ]
	[[ "${lines[2]}" == sleep || "${lines[2]}" == sh ]]
	run ctr_exec exec1 e2 -- sh -c 'echo to-err >&2; exit 5'
	[ "$status" -eq 5 ]
	[ "$output" = to-err ]
	# an exec id is taken while known
	run ctr_exec exec1 e3 --detach -- sleep 1000
	[ "$status" -eq 0 ]
	run ctr_exec exec1 e3 -- true
	[ "$status" -eq 125 ]
	[[ "$output" == *already_exists* ]]
	run actl signal exec1 --exec e3 TERM
	[ "$status" -eq 0 ]
	run actl wait exec1 --exec e3
	[ "$status" -eq 143 ]
	run actl signal exec1 KILL
	run actl wait exec1
	[ "$status" -eq 137 ]
	# exec into a container that is no longer running is refused
	run ctr_exec exec1 e4 -- true
	[ "$status" -eq 125 ]
	[[ "$output" == *invalid_state* ]]
}

@test "agent: a signal reaches the container's init (sh trap)" {
	mkspec sig1 sh -c 'trap "echo got-usr1; exit 7" USR1; echo ready; while :; do sleep 0.1; done'
	ctr sig1 >"$BATS_TEST_TMPDIR/out" 2>&1 &
	bg=$!
	wait_until 60 grep -q ready "$BATS_TEST_TMPDIR/out"
	run actl signal sig1 USR1
	[ "$status" -eq 0 ]
	status=0
	wait "$bg" || status=$?
	[ "$status" -eq 7 ]
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = $'ready\ngot-usr1' ]
}

@test "agent: terminal mode gives a tty whose size the host sets" {
	S_TERMINAL=true mkspec tty1 sh -c 'test -t 0 && test -t 1 && echo isatty; tty; stty size'
	run ctr tty1 --tty --size 24x80
	[ "$status" -eq 0 ]
	output=${output//$'\r'/}
	mapfile -t lines <<<"$output"
	[ "${lines[0]}" = isatty ]
	[[ "${lines[1]}" == /dev/pts/* ]]
	[ "${lines[2]}" = "24 80" ]
}

@test "agent: a resize of a running terminal process is seen by it (stty size)" {
	S_TERMINAL=true mkspec tty2 sh -c 'echo ready; while [ "$(stty size)" != "33 77" ]; do sleep 0.1; done; echo resized $(stty size)'
	ctr tty2 --tty >"$BATS_TEST_TMPDIR/out" 2>&1 &
	bg=$!
	wait_until 60 grep -q ready "$BATS_TEST_TMPDIR/out"
	run actl resize tty2 33 77
	[ "$status" -eq 0 ]
	status=0
	wait "$bg" || status=$?
	[ "$status" -eq 0 ]
	grep -q 'resized 33 77' "$BATS_TEST_TMPDIR/out"
	# a process without a terminal cannot be resized
	mkspec notty1 sleep 1000
	ctr_start notty1
	run actl resize notty1 10 10
	[ "$status" -eq 125 ]
	[[ "$output" == *invalid_state* ]]
	actl signal notty1 KILL
}

@test "agent: user, cwd, env and hostname are applied" {
	S_UID=1000 S_GID=1000 S_CWD=/tmp S_ENV='"KILN_VAR=hello world"' S_HOSTNAME=box1 \
		mkspec proc1 sh -c 'id -u; id -g; pwd; echo "$KILN_VAR"; hostname'
	run ctr proc1
	[ "$status" -eq 0 ]
	[ "$output" = $'1000\n1000\n/tmp\nhello world\nbox1' ]
}

@test "agent: a read-only root refuses writes; its tmpfs mounts do not" {
	S_RO=true mkspec ro1 sh -c 'touch /x 2>/dev/null && echo root-writable || echo root-readonly; touch /tmp/y && echo tmp-writable'
	run ctr ro1
	[ "$status" -eq 0 ]
	[ "$output" = $'root-readonly\ntmp-writable' ]
	# without root.readonly the (overlay) root is writable
	mkspec rw1 sh -c 'touch /x && echo root-writable'
	run ctr rw1
	[ "$status" -eq 0 ]
	[ "$output" = root-writable ]
}

# frame TEXT: TEXT as one protocol frame (4-byte big-endian length first).
@test "agent: a seccomp rule from the spec blocks its syscall" {
	S_NNP=true S_SECCOMP='{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}' \
		mkspec sc1 sh -c 'mkdir /tmp/blocked; echo "mkdir=$?"; touch /tmp/allowed && echo touch=ok'
	run ctr sc1
	[ "$status" -eq 0 ]
	[[ "$output" == *"Operation not permitted"* ]]
	[[ "$output" == *"mkdir=1"* ]]
	[[ "$output" == *"touch=ok"* ]]
	# without the rule the same command succeeds
	mkspec sc2 sh -c 'mkdir /tmp/blocked; echo "mkdir=$?"'
	run ctr sc2
	[ "$status" -eq 0 ]
	[[ "$output" == *"mkdir=0"* ]]
}

frame() {
	local n=${#1}
	# shellcheck disable=SC2059
	printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) \
		$((n >> 8 & 255)) $((n & 255)))"
	printf '%s' "$1"
}

@test "agent: malformed protocol input gets error replies while a container keeps running" {
	mkspec live1 sh -c 'while :; do sleep 0.1; done'
	ctr_start live1

	run actl raw --frame '{oops'
	[ "$status" -eq 0 ]
	[[ "$output" == *'"id":null'* && "$output" == *'"code":"invalid_json"'* ]]
	run actl raw --frame '[1,2]'
	[[ "$output" == *'"code":"invalid_request"'* ]]
	run actl raw --frame '{"id":6,"method":"reboot"}'
	[[ "$output" == *'"id":6'* && "$output" == *'"code":"unknown_method"'* ]]
	run actl raw --frame '{"id":7,"method":"signal","params":{"container_id":"live1","signal":99}}'
	[[ "$output" == *'"code":"invalid_params"'* ]]
	run actl raw --frame '{"id":8,"method":"start","params":{"container_id":"no-such"}}'
	[[ "$output" == *'"code":"not_found"'* ]]
	run actl raw --frame '{"id":9,"method":"start","params":{"container_id":"live1"}}'
	[[ "$output" == *'"code":"invalid_state"'* ]]
	run actl raw --frame '{"id":10,"method":"create","params":{"container_id":"../x","spec":{}}}'
	[[ "$output" == *'"code":"invalid_params"'* ]]
	# framing errors: length 0, length above 1 MiB
	run actl raw 00000000
	[[ "$output" == *'"code":"invalid_frame"'* ]]
	run actl raw 7fffffff7b7d
	[[ "$output" == *'"code":"invalid_frame"'* ]]
	# after a bad frame the connection keeps being served
	{ frame '{"id":1,"method":"nope"'; frame '{"id":2,"method":"ping"}'; } >"$BATS_TEST_TMPDIR/two"
	run actl raw --replies 2 "@$BATS_TEST_TMPDIR/two"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *'"code":"invalid_json"'* ]]
	[ "${lines[1]}" = '{"id":2,"result":{}}' ]
	# a frame cut short by EOF gets no reply and does not upset the agent
	run actl raw --eof 000000107b22
	[ "$status" -eq 125 ]
	[[ "$output" == *"connection closed"* ]]
	# the container was not disturbed
	run ctr_exec live1 alive -- echo alive
	[ "$status" -eq 0 ]
	[ "$output" = alive ]
	run actl stats live1
	[ "$status" -eq 0 ]
	[[ "$output" == *'"pids":{"current":'* ]]
	actl signal live1 KILL
	run actl wait live1
	[ "$status" -eq 137 ]
}

@test "agent: a container id cannot be created twice" {
	mkspec dup1 true
	run ctr dup1
	[ "$status" -eq 0 ]
	run ctr dup1
	[ "$status" -eq 125 ]
	[[ "$output" == *already_exists* ]]
}

@test "agent: shutdown resets the VM and kiln-vmm exits 0" {
	run actl shutdown
	echo "agentctl shutdown: $status: $output"
	[ "$status" -eq 0 ] || { wait_until 30 test -e "$BATS_FILE_TMPDIR/vmm.status" &&
		echo "kiln-vmm's status: $(cat "$BATS_FILE_TMPDIR/vmm.status")"; false; }
	wait_until 120 test -e "$BATS_FILE_TMPDIR/vmm.status"
	[ "$(cat "$BATS_FILE_TMPDIR/vmm.status")" = 0 ]
	[ ! -e "$UDS" ]
}
