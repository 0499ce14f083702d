# Shared by volumes.bats and volumes_podman.bats (tests/integration/kvm/).
# The container scripts are single-quoted on purpose:
# shellcheck disable=SC2016

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

# runtime_teardown, after the last lines virtiofsd wrote when the test
# failed.
volumes_teardown() {
	[ -n "${BATS_TEST_COMPLETED:-}" ] || tail -n 20 "$ROOT"/*/virtiofsd.log 2>/dev/null || true
	runtime_teardown
}
