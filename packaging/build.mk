# packaging/: the guest image every kiln microVM boots (`make guest`): the
# static kiln-agent as /init plus the modules of the kernel it belongs to.
# KERNEL_VERSION=... picks another installed kernel than the newest.
GUEST_IMAGE := $(BUILD)/guest/initramfs.cpio.gz
IMAGES += $(GUEST_IMAGE)

$(GUEST_IMAGE): $(BUILD)/bin/kiln-agent packaging/guest/build packaging/mkinitramfs
	packaging/guest/build -a $< -o $(@D) $(if $(KERNEL_VERSION),-k $(KERNEL_VERSION))

guest: $(GUEST_IMAGE)
.PHONY: guest

# kiln's own guest kernel (`make kernel`; not yet part of `make all`): Debian's
# linux-source-6.1 configured with packaging/guest/kernel/kiln.config, built
# outside the checkout and cached under $$KILN_CACHE_DIR (default
# /var/cache/kiln) by source version and configuration, so a machine builds
# it once; beside it the guest image for it, which holds no modules (its
# record, kernel, names the vmlinux). See docs/guest-kernel.md.
KILN_KERNEL_SOURCE ?= /usr/src/linux-source-6.1.tar.xz
KILN_KERNEL := $(BUILD)/guest/kiln-kernel/vmlinux
KILN_KERNEL_IMAGE := $(BUILD)/guest/kiln-kernel/initramfs.cpio.gz

$(KILN_KERNEL): packaging/guest/kernel/build packaging/guest/kernel/kiln.config \
		$(wildcard $(KILN_KERNEL_SOURCE))
	KILN_KERNEL_SOURCE=$(KILN_KERNEL_SOURCE) packaging/guest/kernel/build -o $(@D)

$(KILN_KERNEL_IMAGE): $(BUILD)/bin/kiln-agent $(KILN_KERNEL) packaging/guest/build packaging/mkinitramfs
	packaging/guest/build -a $< -o $(@D) -K $(KILN_KERNEL)

kernel: $(KILN_KERNEL) $(KILN_KERNEL_IMAGE) $(BUILD)/tests/guest/initramfs-nomod.cpio.gz
.PHONY: kernel
