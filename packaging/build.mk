# packaging/: the guest image every kiln microVM boots (`make guest`): the
# static kiln-agent as /init plus the modules of the kernel it belongs to.
# KERNEL_VERSION=... picks another installed kernel than the newest.
GUEST_IMAGE := $(BUILD)/guest/initramfs.cpio.gz
IMAGES += $(GUEST_IMAGE)

$(GUEST_IMAGE): $(BUILD)/bin/kiln-agent packaging/guest/build packaging/mkinitramfs
	packaging/guest/build -a $< -o $(@D) $(if $(KERNEL_VERSION),-k $(KERNEL_VERSION))

guest: $(GUEST_IMAGE)
.PHONY: guest
