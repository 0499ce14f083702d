#!/usr/bin/env bats
# `kiln check` and the refusal to boot on a host whose /dev/kvm cannot run
# kiln's guest kernel (a PVM one), on this machine: no VM boots here.
# `kiln check --boot` where KVM works is in kvm/smoke.bats.
load helpers
bats_require_minimum_version 1.5.0

KILN=$BUILD/bin/kiln
KIND=$("$TOP/packaging/kvm-kind")

setup() {
	export KILN_CONF=$BATS_TEST_TMPDIR/kiln.conf
	: >"$KILN_CONF"
	ROOT=$BATS_TEST_TMPDIR/state
}

teardown() {
	pkill -KILL -f "kiln-vmm --id pvm-probe" 2>/dev/null || true
}

@test "check: one line per requirement; the status says whether kiln can run here" {
	run --separate-stderr "$KILN" check
	printf '%s\n' "$output"
	[ ${#lines[@]} -ge 5 ]
	for l in "${lines[@]}"; do
		[[ "$l" =~ ^(ok|warn|FAIL)\ +(kvm|cgroup|network|vmm|volumes|guest)\  ]]
	done
	# Debian's virtiofsd (qemu-system-common); virtio-fs built in or a module
	local volumes_re='ok    volumes virtiofsd /usr/lib/qemu/virtiofsd \(cache=none\), virtio-fs in kernel [^ ]+ \((built in|module virtiofs, in the image `make guest` builds)\)'
	[[ "$output" =~ $volumes_re ]]
	# as root, with tun and tc (every machine this runs on has them)
	[[ "$output" == *$'\nok    network taps and tc redirects (ingress, u32, mirred) can be made\n'* ]]
	[[ "$output" == *$'\nok    vmm     '* ]]
	[[ "$output" == *$'\nok    guest   kernel '* ]]
	case $KIND in
	intel | amd)
		[[ "${lines[0]}" == "ok    kvm     /dev/kvm is kvm_$KIND, read-write" ]]
		[ "$status" -eq 0 ]
		;;
	pvm)
		[[ "${lines[0]}" == "FAIL  kvm     /dev/kvm is PVM (kvm_pvm)"*"(fix: "*"pvm_guest_kernel = true"* ]]
		[ "$status" -eq 1 ]
		;;
	*)
		[[ "${lines[0]}" == "FAIL  kvm     "* ]]
		[ "$status" -eq 1 ]
		;;
	esac
	[ -z "$stderr" ]
}

@test "check: --format json says the same" {
	run --separate-stderr "$KILN" check
	local text_status=$status
	run --separate-stderr "$KILN" check --format json
	[ "$status" -eq "$text_status" ]
	jq -e --argjson ok "$([ "$status" = 0 ] && echo true || echo false)" \
		'.ok == $ok and ([.checks[].name] | index("kvm") == 0)
		 and all(.checks[]; .status == "ok" or .status == "warn" or .status == "fail")' <<<"$output"
	if [ "$KIND" = pvm ]; then
		jq -e '.checks[0] | .status == "fail" and (.message | test("PVM")) and (.fix | test("pvm_guest_kernel"))' <<<"$output"
	fi
}

@test "check: bad usage is one line and status 1" {
	run "$KILN" check --format xml
	[ "$status" -eq 1 ]
	[ "$output" = 'kiln: check: --format: expected text or json, got "xml"' ]
	run "$KILN" check extra
	[ "$status" -eq 1 ]
	[ "$output" = 'kiln: check: unexpected argument "extra"' ]
	echo "pvm_guest_kernel = maybe" >"$KILN_CONF"
	run "$KILN" check
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "FAIL  config  $KILN_CONF:1: pvm_guest_kernel: expected true or false, got \"maybe\"" ]
}

@test "check: a missing virtiofsd is a warning naming it and kiln.conf" {
	printf 'virtiofsd = /nonexistent/virtiofsd\nvolume_cache = auto\n' >"$KILN_CONF"
	run --separate-stderr "$KILN" check
	[[ "$output" == *$'\nwarn  volumes virtiofsd /nonexistent/virtiofsd: No such file or directory: containers with host bind mounts (every podman and containerd container) cannot run (fix: apt install qemu-system-common, or set virtiofsd in '"$KILN_CONF"$')\n'* ]]
	echo "volume_cache = sometimes" >"$KILN_CONF"
	run "$KILN" check
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "FAIL  config  $KILN_CONF:1: volume_cache: expected none, auto or always, got \"sometimes\"" ]
}

@test "check: a kernel that is neither a bzImage nor a vmlinux, or too little memory for it, fails the guest line" {
	echo "kernel = /etc/hostname" >"$KILN_CONF"
	run "$KILN" check
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = "FAIL  guest   kernel /etc/hostname: neither a bzImage nor an ELF vmlinux" ]
	echo "kernel = $BUILD/bin/kiln-agent" >"$KILN_CONF"
	run "$KILN" check
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = "FAIL  guest   kernel $BUILD/bin/kiln-agent: no \"Linux version\" string in .rodata" ]
	# kiln's kernel (the default) boots in 64 MiB, Debian's bzImage needs 128
	echo "memory_mib = 32" >"$KILN_CONF"
	run "$KILN" check
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = "FAIL  guest   memory_mib = 32 in $KILN_CONF is below the 64 MiB kernel $BUILD/guest/vmlinux needs to boot" ]
	printf 'memory_mib = 64\ninitramfs = %s\n' "$DEBIAN_AGENT_INITRD" >"$KILN_CONF"
	run "$KILN" check
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = "FAIL  guest   memory_mib = 64 in $KILN_CONF is below the 128 MiB kernel $DEBIAN_KERNEL needs to boot" ]
	echo "memory_mib = 64" >"$KILN_CONF"
	run "$KILN" check
	[ "${lines[-1]}" = "ok    guest   kernel $BUILD/guest/vmlinux ($KILN_KERNEL_RELEASE), image $BUILD/guest/initramfs.cpio.gz built for it" ]
}

@test "check: a PVM host makes kiln run fail at once, in one line, leaving nothing" {
	[ "$KIND" = pvm ] || skip "this host's /dev/kvm is $KIND, not PVM"
	mkdir -p "$BATS_TEST_TMPDIR/b/rootfs/bin"
	cp /bin/busybox "$BATS_TEST_TMPDIR/b/rootfs/bin/sh"
	cd "$BATS_TEST_TMPDIR/b"
	"$KILN" spec
	run timeout 60 "$KILN" --root "$ROOT" run pvm-probe
	[ "$status" -eq 1 ]
	[ ${#lines[@]} -eq 1 ]
	[[ "$output" == "kiln: this host's /dev/kvm is PVM (kvm_pvm), "*"set pvm_guest_kernel = true in /etc/kiln/kiln.conf" ]]
	[ ! -e "$ROOT/pvm-probe" ]
	! pgrep -f "kiln-vmm --id pvm-probe"
}

@test "check: a PVM host makes kiln-vmm refuse to boot unless --pvm-guest-kernel" {
	[ "$KIND" = pvm ] || skip "this host's /dev/kvm is $KIND, not PVM"
	vm_config 1 128 none >"$BATS_TEST_TMPDIR/vm.json"
	run timeout 60 "$KILN_VMM" --no-api --config-file "$BATS_TEST_TMPDIR/vm.json"
	[ "$status" -eq 1 ]
	[ ${#lines[@]} -eq 1 ]
	[[ "$output" == "kiln-vmm: this host's /dev/kvm is PVM (kvm_pvm), "*"start kiln-vmm with --pvm-guest-kernel" ]]
	# with the switch it goes on, to the kernel it cannot read
	sed "s|$GUEST_KERNEL|$BATS_TEST_TMPDIR/no-kernel|" "$BATS_TEST_TMPDIR/vm.json" >"$BATS_TEST_TMPDIR/vm2.json"
	run timeout 60 "$KILN_VMM" --no-api --pvm-guest-kernel --config-file "$BATS_TEST_TMPDIR/vm2.json"
	[ "$status" -eq 1 ]
	[[ "$output" != *PVM* ]]
	[[ "$output" == *"no-kernel"* ]]
}
