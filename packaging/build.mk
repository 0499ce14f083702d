# packaging/: the guest every kiln microVM boots (`make guest`).
#
# kiln's own kernel, the default: Debian's linux-source-6.1 configured with
# packaging/guest/kernel/kiln.config, built outside the checkout and cached
# under $$KILN_CACHE_DIR (default /var/cache/kiln) by source version and
# configuration, so a machine builds it once (docs/guest-kernel.md). Beside
# it the guest image for it: the static kiln-agent as /init, no modules; its
# record, build/guest/kernel, names the vmlinux.
KILN_KERNEL_SOURCE ?= /usr/src/linux-source-6.1.tar.xz
KILN_KERNEL := $(BUILD)/guest/vmlinux
GUEST_IMAGE := $(BUILD)/guest/initramfs.cpio.gz
IMAGES += $(KILN_KERNEL) $(GUEST_IMAGE)

$(KILN_KERNEL): packaging/guest/kernel/build packaging/guest/kernel/kiln.config \
		$(wildcard $(KILN_KERNEL_SOURCE))
	KILN_KERNEL_SOURCE=$(KILN_KERNEL_SOURCE) packaging/guest/kernel/build -o $(@D)

$(GUEST_IMAGE): $(BUILD)/bin/kiln-agent $(KILN_KERNEL) packaging/guest/build packaging/mkinitramfs
	packaging/guest/build -a $< -o $(@D) -K $(KILN_KERNEL)

# Debian's stock kernel, still supported (kiln.conf: initramfs = this image):
# the same agent plus the modules of the installed kernel it belongs to.
# KERNEL_VERSION=... picks another installed kernel than the newest.
DEBIAN_GUEST_IMAGE := $(BUILD)/guest/debian/initramfs.cpio.gz
IMAGES += $(DEBIAN_GUEST_IMAGE)

$(DEBIAN_GUEST_IMAGE): $(BUILD)/bin/kiln-agent packaging/guest/build packaging/mkinitramfs
	packaging/guest/build -a $< -o $(@D) $(if $(KERNEL_VERSION),-k $(KERNEL_VERSION))

guest: $(KILN_KERNEL) $(GUEST_IMAGE)
guest-debian: $(DEBIAN_GUEST_IMAGE)
kernel: $(KILN_KERNEL)
.PHONY: guest guest-debian kernel
