# vmm/: kiln-vmm, the KVM microVM monitor. Everything but main.c goes into
# libkilnvmm.a so the unit tests reach it.
VMM_SRCS := $(filter-out vmm/main.c,$(wildcard vmm/*.c vmm/*/*.c))
VMM_OBJS := $(VMM_SRCS:%.c=$(BUILD)/obj/%.o)

$(BUILD)/lib/libkilnvmm.a: $(VMM_OBJS)
LIBS := $(BUILD)/lib/libkilnvmm.a $(LIBS)
FUZZ_SRCS += $(VMM_SRCS)

# Static, like kiln-agent: it runs in a jail (runtime/jail.h) where none of
# the host's libraries are. libseccomp for vmm/seccomp.c.
VMM_STATIC_LIBS := /usr/lib/x86_64-linux-gnu/libyajl_s.a
BINS += $(BUILD)/bin/kiln-vmm
$(BUILD)/bin/kiln-vmm: $(BUILD)/obj/vmm/main.o $(BUILD)/lib/libkilnvmm.a $(BUILD)/lib/libkilncommon.a
	@mkdir -p $(@D)
	$(KILN_LINK) -static -o $@ $< -Wl,--start-group $(filter %.a,$^) -Wl,--end-group \
		$(VMM_STATIC_LIBS) -lseccomp -lpthread

# The guest kiln-vmm's integration tests boot (tests/guest/init): for kiln's
# kernel, which has every driver built in, without modules; for Debian's
# (KILN_TEST_KERNEL=debian, tests/integration/helpers.bash) with the modules
# it needs.
TEST_GUEST_INITRD := $(BUILD)/tests/guest/initramfs.cpio.gz
TEST_GUEST_INITRD_DEBIAN := $(BUILD)/tests/guest/initramfs-debian.cpio.gz
TEST_HELPERS += $(TEST_GUEST_INITRD) $(TEST_GUEST_INITRD_DEBIAN)
$(TEST_GUEST_INITRD): tests/guest/init packaging/mkinitramfs $(BUILD)/tests/guest/vsock_test
	packaging/mkinitramfs -i $< -o $@ -f $(BUILD)/tests/guest/vsock_test:bin/vsock_test
$(TEST_GUEST_INITRD_DEBIAN): tests/guest/init packaging/mkinitramfs $(BUILD)/tests/guest/vsock_test
	packaging/mkinitramfs -k "$$(packaging/find-kernel)" -i $< -o $@ -m virtio_mmio -m virtio_blk \
		-m vmw_vsock_virtio_transport -m virtiofs -f $(BUILD)/tests/guest/vsock_test:bin/vsock_test

# The guest half of the vsock tests: static, the initramfs has no libc.
$(BUILD)/tests/guest/vsock_test: tests/guest/vsock_test.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=gnu11 -Wall -Wextra -Werror $(CFLAGS) $(LDFLAGS) -static -o $@ $<

# The same kernel as an ELF vmlinux, to boot through the PVH entry.
TEST_GUEST_VMLINUX := $(BUILD)/tests/guest/vmlinux
TEST_HELPERS += $(TEST_GUEST_VMLINUX)
$(TEST_GUEST_VMLINUX): tests/helpers/extract-vmlinux
	@mkdir -p $(@D)
	tests/helpers/extract-vmlinux "/boot/vmlinuz-$$(packaging/find-kernel)" $@
