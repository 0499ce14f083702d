# Shared by runtime.bats and concurrency.bats: the kiln binary, a busybox
# rootfs for the file, bundles made with `kiln spec` + jq, per-test state
# under --root, and the check that nothing is left behind.
# shellcheck shell=bash
# shellcheck disable=SC2034,SC2016
KILN=$BUILD/bin/kiln
RECVTTY=$BUILD/tests/helpers/recvtty

setup_file() {
	runtime_rootfs
}

# runtime_rootfs: the file's busybox rootfs (for a setup_file).
runtime_rootfs() {
	local rootfs=$BATS_FILE_TMPDIR/rootfs
	mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" \
		"$rootfs/tmp" "$rootfs/root" "$rootfs/home/user"
	chmod 1777 "$rootfs/tmp"
	cp /bin/busybox "$rootfs/bin/busybox"
	for a in $("$rootfs/bin/busybox" --list); do
		[ "$a" = busybox ] || ln -sf busybox "$rootfs/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n' \
		>"$rootfs/etc/passwd"
	printf 'root:x:0:\nuser:x:1000:\n' >"$rootfs/etc/group"
}

setup() {
	ROOT=$BATS_TEST_TMPDIR/root
	K=("$KILN" --root "$ROOT")
}

teardown() {
	runtime_teardown
}

# runtime_teardown: what teardown does, for files with a teardown of their
# own. No container, supervisor or kiln-vmm of the test stays.
runtime_teardown() {
	local id
	show_runtime_state "$ROOT"
	for id in $(ls "$ROOT" 2>/dev/null); do
		"${K[@]}" delete --force "$id" >/dev/null 2>&1 || true
	done
	# a supervisor whose kiln was killed before it saved the container's
	# state (its kiln-vmm dies with it), and any kiln-vmm orphaned
	pkill -KILL -f "kiln supervise $ROOT/" || true
	pkill -KILL -P 1 -x kiln-vmm || true
	# a host process a test started as a pod's stand-in
	if [ -f "$BATS_TEST_TMPDIR/pod.pid" ]; then
		kill "$(cat "$BATS_TEST_TMPDIR/pod.pid")" 2>/dev/null || true
	fi
	# a network namespace a test made (runtime.bats netns_veth)
	if [ -f "$BATS_TEST_TMPDIR/netns" ]; then
		ip link del "h$(cat "$BATS_TEST_TMPDIR/netns")" 2>/dev/null || true
		ip netns del "$(cat "$BATS_TEST_TMPDIR/netns")" 2>/dev/null || true
	fi
	[ ! -e /dev/net/tun.kiln-test ] || mv /dev/net/tun.kiln-test /dev/net/tun
}

# bundle DIR ARGS_JSON [PROCESS_EXTRA_JSON] [TOP_EXTRA_JSON]: a bundle
# sharing the file's busybox rootfs. The extras are merged into "process"
# and the top level (jq's *).
bundle() {
	mkdir -p "$1"
	ln -sfn "$BATS_FILE_TMPDIR/rootfs" "$1/rootfs"
	rm -f "$1/config.json"
	(cd "$1" && "$KILN" spec)
	jq --argjson args "$2" --argjson p "${3:-{\}}" --argjson t "${4:-{\}}" \
		'.process.terminal = false | .process.args = $args | .root.readonly = false
		 | .process += $p | . * $t' "$1/config.json" >"$1/config.json.new"
	mv "$1/config.json.new" "$1/config.json"
}

# ns_path DIR TYPE PATH: the bundle's TYPE namespace is joined at PATH (the
# entry is added when the spec has none of that type).
ns_path() {
	jq --arg t "$2" --arg p "$3" \
		'.linux.namespaces = ([.linux.namespaces[] | select(.type != $t)] + [{"type": $t, "path": $p}])' \
		"$1/config.json" >"$1/config.json.new"
	mv "$1/config.json.new" "$1/config.json"
}

# pod_named PID: PID's UTS namespace has the hostname pod-host.
pod_named() {
	[ "$(nsenter --uts --target "$1" hostname)" = pod-host ]
}

# Nothing of any container is left: no state, no supervisor, no VMM.
assert_clean() {
	local left
	left=$(ls -A "$ROOT" 2>/dev/null || true)
	[ -z "$left" ] || { echo "left in $ROOT: $left" >&2; return 1; }
	! pgrep -f "kiln supervise $ROOT/" >/dev/null || { echo "a supervisor still runs" >&2; return 1; }
	# kiln-vmm runs jailed, named by the container's id only: the suite
	# expects no other VM on the machine while it runs
	! pgrep -x kiln-vmm >/dev/null || { echo "kiln-vmm still runs" >&2; return 1; }
	# nor a volume daemon (runtime/volumes.h)
	! pgrep -x virtiofsd >/dev/null || { echo "virtiofsd still runs" >&2; return 1; }
}

status_of() {
	"${K[@]}" state "$1" | jq -r .status
}

# status_is ID STATUS: whether the container's status is STATUS now (for
# wait_until, which must run the state command on every try).
status_is() {
	[ "$(status_of "$1")" = "$2" ]
}


# jail_checks PID DIR: kiln-vmm PID runs in its jail DIR (runtime/jail.h).
jail_checks() {
	local st=/proc/$1/status
	# uid and gid: kiln.conf's jail_uid_base (default) plus its pid
	[ "$(awk '/^Uid:/ { print $2 }' "$st")" -eq $((1879048192 + $1)) ]
	[ "$(awk '/^Gid:/ { print $2 }' "$st")" -eq $((1879048192 + $1)) ]
	[ "$(awk '/^Groups:/ { print $2 }' "$st")" = "" ]
	[ "$(awk '/^CapEff:/ { print $2 }' "$st")" = 0000000000000000 ]
	[ "$(awk '/^CapPrm:/ { print $2 }' "$st")" = 0000000000000000 ]
	[ "$(awk '/^CapBnd:/ { print $2 }' "$st")" = 0000000000000000 ]
	[ "$(awk '/^NoNewPrivs:/ { print $2 }' "$st")" = 1 ]
	grep -q '^Max open files *2048 *2048' "/proc/$1/limits"
	# its root holds the VM's files and nothing of the host's
	[ -e "/proc/$1/root/vm.json" ] && [ -e "/proc/$1/root/rootfs.img" ]
	[ -c "/proc/$1/root/dev/kvm" ]
	[ ! -e "/proc/$1/root/etc" ] && [ ! -e "/proc/$1/root/bin" ]
	# in new mount and IPC namespaces; the host's are untouched
	[ "$(readlink "/proc/$1/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]
	[ "$(readlink "/proc/$1/ns/ipc")" != "$(readlink /proc/self/ns/ipc)" ]
	! grep -q " $2" /proc/self/mountinfo
}
