# Shared by podman.bats, podman_net.bats and volumes_podman.bats: podman
# as a real client of the OCI runtime, `podman --runtime $KILN_TEST_RUNTIME ...` (default
# build/bin/kiln), with a busybox image built by tests/helpers/mkimage and
# loaded with `podman load`. The suites know nothing of kiln, so they run as
# well with crun or runc (KILN_TEST_RUNTIME=/usr/bin/crun) to check the
# suites themselves.
#
# podman runs as root with the distribution's configuration and a private
# store. podman 4.3 reads CONTAINERS_CONF instead of every system
# containers.conf (it has no CONTAINERS_CONF_OVERRIDE), so CONTAINERS_CONF
# names a copy of the stock /usr/share/containers/containers.conf with only
# what the suites need added to its [engine] table: podman's own state in
# the suite's directory (tmp_dir, file locks), and events in a file, which
# a suite's last test reads. Everything that reaches the runtime's spec
# (capabilities, default_sysctls, ...) and the networks (CNI's stock
# /etc/cni/net.d) is the distribution's. storage.conf (Debian ships none)
# puts the store in a tmpfs of the suite's own (overlay storage cannot live
# on the emulated host's overlay root).
# shellcheck shell=bash
# shellcheck disable=SC2034
RUNTIME=${KILN_TEST_RUNTIME:-$BUILD/bin/kiln}
IMAGE=localhost/kiln-busybox:latest
# bound on one podman command; a VM boot in the emulated host takes 10-20 s
PM_TIMEOUT=${KILN_TEST_TIMEOUT:-240}

# podman_setup_file: the suite's store, configuration and image (for the
# suite's setup_file).
podman_setup_file() {
	if [ ! -x "$RUNTIME" ]; then
		echo "no OCI runtime at $RUNTIME (run make; KILN_TEST_RUNTIME names another)" >&2
		return 1
	fi
	export PMDIR=$BATS_FILE_TMPDIR/podman
	mkdir -p "$PMDIR"
	mount -t tmpfs -o mode=0700 kiln-test-podman "$PMDIR"
	mkdir -p "$PMDIR/tmp"
	export CONTAINERS_CONF=$PMDIR/containers.conf
	export CONTAINERS_STORAGE_CONF=$PMDIR/storage.conf
	stock_conf_with engine "tmp_dir = \"$PMDIR/tmp\"" 'lock_type = "file"' \
		'events_logger = "file"' >"$CONTAINERS_CONF"
	cat >"$CONTAINERS_STORAGE_CONF" <<CONF
[storage]
driver = "overlay"
graphroot = "$PMDIR/storage"
runroot = "$PMDIR/run"
CONF
	"$TOP/tests/helpers/mkimage" "$BATS_FILE_TMPDIR/busybox.tar" "$IMAGE"
	timeout -k 10 "$PM_TIMEOUT" podman load -i "$BATS_FILE_TMPDIR/busybox.tar"
}

# stock_conf_with TABLE LINE...: the distribution's containers.conf with
# LINEs added to its [TABLE] (TOML allows a table's header only once, so
# they go right below it; a table the file lacks is added at its end).
stock_conf_with() {
	local table=$1 stock=/usr/share/containers/containers.conf
	shift
	[ -f "$stock" ] || { echo "no $stock (podman's stock configuration)" >&2; return 1; }
	awk -v table="[$table]" -v add="$(printf '%s\n' "$@")" '
		{ print }
		$0 == table { print add; done = 1 }
		END { if (!done) printf "\n%s\n%s\n", table, add }' "$stock"
}

# podman_teardown_file: removes every container and image of the suite and
# its store (for the suite's teardown_file).
podman_teardown_file() {
	[ -n "${PMDIR:-}" ] || return 0
	timeout -k 10 "$PM_TIMEOUT" podman rm -af -t 0 >/dev/null 2>&1 || true
	timeout -k 10 "$PM_TIMEOUT" podman rmi -af >/dev/null 2>&1 || true
	umount -l "$PMDIR" 2>/dev/null || true
}

teardown() {
	# podman calls the runtime without --root: its default state directory
	show_runtime_state /run/kiln
}

# pm ARGS...: podman with the runtime under test, never hanging a test.
pm() {
	timeout -k 10 "$PM_TIMEOUT" podman --runtime "$RUNTIME" "$@"
}

# state NAME: the container's state as podman has it (running, exited, ...).
state() {
	pm inspect --format '{{.State.Status}}' "$1"
}

# state_is NAME STATE: whether podman has the container in STATE now (for
# wait_until, which must ask again on every try).
state_is() {
	[ "$(state "$1")" = "$2" ]
}
