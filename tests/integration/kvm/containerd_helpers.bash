# Shared by containerd.bats and volumes.bats: a private containerd (root,
# state and sockets in a tmpfs of the suite's own) with the distribution's
# /etc/containerd/config.toml plus only what the suite needs, in a file the
# copy imports (containerd 1.6 merges an imported file over the main one),
# the busybox image of tests/helpers/mkimage, and ctr through the stock runc
# shim with the runtime under test as its BinaryName.
# shellcheck shell=bash
# shellcheck disable=SC2034
RUNTIME=${KILN_TEST_RUNTIME:-$BUILD/bin/kiln}
IMAGE=localhost/kiln-busybox:latest
NS=kiln-test
# the runc shim's default runtime root for namespace $NS (options.Root unset)
RUNTIME_ROOT=/run/containerd/runc/$NS
# bound on one ctr command; a VM boot in the emulated host takes 10-20 s
CTR_TIMEOUT=${KILN_TEST_TIMEOUT:-240}

containerd_setup_file() {
	if [ ! -x "$RUNTIME" ]; then
		echo "no OCI runtime at $RUNTIME (run make; KILN_TEST_RUNTIME names another)" >&2
		return 1
	fi
	export CDIR=$BATS_FILE_TMPDIR/containerd
	mkdir -p "$CDIR"
	# the overlayfs snapshotter cannot work on the emulated host's overlay root
	mount -t tmpfs -o mode=0711 kiln-test-containerd "$CDIR"
	stock_config_with "$CDIR/kiln-test.toml" >"$CDIR/config.toml"
	cat >"$CDIR/kiln-test.toml" <<CONF
version = 2
root = "$CDIR/root"
state = "$CDIR/state"

[grpc]
  address = "$CDIR/containerd.sock"

[ttrpc]
  address = "$CDIR/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$CDIR/opt"
CONF
	(containerd --config "$CDIR/config.toml" >"$CDIR/containerd.log" 2>&1 &
		echo $! >"$CDIR/containerd.pid") 3>&-
	if ! wait_until 60 ctr --address "$CDIR/containerd.sock" version >/dev/null 2>&1; then
		echo "containerd did not answer within 60 s; its log:" >&2
		cat "$CDIR/containerd.log" >&2
		return 1
	fi
	"$TOP/tests/helpers/mkimage" "$BATS_FILE_TMPDIR/busybox.tar" "$IMAGE"
	c images import "$BATS_FILE_TMPDIR/busybox.tar"
}

# stock_config_with FILE: the distribution's config.toml importing FILE (a
# top-level key goes before the first table).
stock_config_with() {
	local stock=/etc/containerd/config.toml
	[ -f "$stock" ] || { echo "no $stock (containerd's stock configuration)" >&2; return 1; }
	if grep -q '^[[:space:]]*imports[[:space:]]*=' "$stock"; then
		echo "$stock has imports of its own; add $1 to them" >&2
		return 1
	fi
	echo "imports = [\"$1\"]"
	cat "$stock"
}

containerd_teardown_file() {
	local pid id
	[ -n "${CDIR:-}" ] || return 0
	pid=$(cat "$CDIR/containerd.pid" 2>/dev/null) || true
	if [ -n "$pid" ]; then
		for id in $(c tasks ls -q 2>/dev/null); do
			c tasks kill -s KILL "$id" >/dev/null 2>&1 || true
			c tasks delete -f "$id" >/dev/null 2>&1 || true
		done
		for id in $(c containers ls -q 2>/dev/null); do
			c containers delete "$id" >/dev/null 2>&1 || true
		done
		c images rm "$IMAGE" >/dev/null 2>&1 || true
		kill -TERM "$pid" 2>/dev/null || true
		timeout 30 tail --pid="$pid" -f /dev/null || kill -KILL "$pid" 2>/dev/null || true
	fi
	umount -l "$CDIR" 2>/dev/null || true
}

# c ARGS...: ctr on the suite's containerd and namespace, never hanging a test.
c() {
	# -k: ctr run forwards SIGTERM to the task, which may ignore it
	timeout -k 10 "$CTR_TIMEOUT" ctr --address "$CDIR/containerd.sock" --namespace "$NS" "$@"
}

# crun_ ARGS...: `ctr run` through the runc shim with the runtime under test
# as its BinaryName (ARGS: more flags, IMAGE, ID, CMD).
crun_() {
	c run --runtime io.containerd.runc.v2 --runc-binary "$RUNTIME" "$@"
}

