#!/usr/bin/env bats
# kiln's own guest kernel (packaging/guest/kernel, docs/guest-kernel.md): what
# the build and the image script say about bad input, on this machine and
# without building a kernel (that takes minutes: `make kernel`, and
# tests/integration/manual/kiln-kernel boots it).
load helpers
bats_require_minimum_version 1.5.0

KBUILD=$TOP/packaging/guest/kernel/build

setup() {
	export KILN_CACHE_DIR=$BATS_TEST_TMPDIR/cache
}

# No half-built kernel is left in the cache after a failure.
assert_cache_clean() {
	[ -z "$(find "$KILN_CACHE_DIR" -mindepth 2 -maxdepth 2 -name 'build.*' 2>/dev/null)" ]
	[ ! -e "$BATS_TEST_TMPDIR/out/vmlinux" ]
}

@test "guest kernel: a missing kernel source is one line naming it and the package" {
	KILN_KERNEL_SOURCE=$BATS_TEST_TMPDIR/nothing.tar.xz run --separate-stderr "$KBUILD" -o "$BATS_TEST_TMPDIR/out"
	[ "$status" -eq 1 ]
	[ "$stderr" = "kernel: no kernel source at $BATS_TEST_TMPDIR/nothing.tar.xz (install linux-source-6.1: make deps)" ]
	assert_cache_clean
}

@test "guest kernel: a source that is not a tarball is refused before anything is unpacked" {
	echo "not a kernel" >"$BATS_TEST_TMPDIR/src.txt"
	KILN_KERNEL_SOURCE=$BATS_TEST_TMPDIR/src.txt run --separate-stderr "$KBUILD" -o "$BATS_TEST_TMPDIR/out"
	[ "$status" -eq 1 ]
	[ "$stderr" = "kernel: $BATS_TEST_TMPDIR/src.txt is not a kernel source tarball (.tar, .tar.xz, .tar.gz, .tar.bz2)" ]
	assert_cache_clean
}

@test "guest kernel: a tarball that is no Linux tree fails in one line and leaves nothing behind" {
	mkdir -p "$BATS_TEST_TMPDIR/src/linux-0.0"
	echo "all:" >"$BATS_TEST_TMPDIR/src/linux-0.0/Makefile"
	tar -C "$BATS_TEST_TMPDIR/src" -cJf "$BATS_TEST_TMPDIR/fake.tar.xz" linux-0.0
	KILN_KERNEL_SOURCE=$BATS_TEST_TMPDIR/fake.tar.xz run --separate-stderr "$KBUILD" -o "$BATS_TEST_TMPDIR/out"
	[ "$status" -eq 1 ]
	[ "${stderr##*$'\n'}" = "kernel: $BATS_TEST_TMPDIR/fake.tar.xz does not unpack to a Linux source tree" ]
	assert_cache_clean
}

@test "guest kernel: a bad job count and an unwritable cache are one line each" {
	KILN_KERNEL_JOBS=0 run --separate-stderr "$KBUILD" -o "$BATS_TEST_TMPDIR/out"
	[ "$status" -eq 1 ]
	[ "$stderr" = "kernel: KILN_KERNEL_JOBS='0' is not a positive whole number" ]
	tar -C "$BATS_TEST_TMPDIR" -cJf "$BATS_TEST_TMPDIR/src.tar.xz" --files-from /dev/null
	echo "a file" >"$BATS_TEST_TMPDIR/file"
	KILN_KERNEL_SOURCE=$BATS_TEST_TMPDIR/src.tar.xz KILN_CACHE_DIR=$BATS_TEST_TMPDIR/file \
		run --separate-stderr "$KBUILD" -o "$BATS_TEST_TMPDIR/out"
	[ "$status" -eq 1 ]
	[ "$stderr" = "kernel: cannot write the cache $BATS_TEST_TMPDIR/file/kernel (set KILN_CACHE_DIR to a writable folder)" ]
}

@test "guest image: -K with a file that is not a vmlinux is one line" {
	run --separate-stderr "$TOP/packaging/guest/build" -a "$BUILD/bin/kiln-agent" -o "$BATS_TEST_TMPDIR/out" -K "$BUILD/bin/kiln-agent"
	[ "$status" -eq 1 ]
	[ "$stderr" = "guest: $BUILD/bin/kiln-agent has no \"Linux version\" string: not a vmlinux" ]
	[ ! -e "$BATS_TEST_TMPDIR/out/initramfs.cpio.gz" ]
}

@test "make install: kiln finds the installed kernel and image, whose record names the installed vmlinux" {
	local p=$BATS_TEST_TMPDIR/usr
	run make -s -C "$TOP" install BUILD="$BUILD" PREFIX="$p"
	[ "$status" -eq 0 ]
	[ "$(cat "$p/share/kiln/kernel")" = "$(printf '%s\n%s' "$KILN_KERNEL_RELEASE" "$p/share/kiln/vmlinux")" ]
	cmp "$p/share/kiln/vmlinux" "$BUILD/guest/vmlinux"
	KILN_CONF=/dev/null run "$p/bin/kiln" check
	[ "${lines[-1]}" = "ok    guest   kernel $p/share/kiln/vmlinux ($KILN_KERNEL_RELEASE), image $p/share/kiln/initramfs.cpio.gz built for it" ]
}
