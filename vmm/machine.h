/* What every device sees of the VM: guest memory, the two buses, the event
 * loop, the KVM VM fd, and the fixed x86 layout the devices are placed in. */
#ifndef KILN_VMM_MACHINE_H
#define KILN_VMM_MACHINE_H

#include <stdint.h>

#include "common/error.h"
#include "vmm/bus.h"
#include "vmm/evloop.h"
#include "vmm/mem.h"

/* MMIO space in the 32-bit gap. The first page is the boot timer (a guest
 * write of 123 to its first byte marks "booted", as in Firecracker); then
 * one page per virtio-mmio device. */
#define MACHINE_BOOT_TIMER_ADDR 0xd0000000ULL
#define MACHINE_VIRTIO_BASE	0xd0001000ULL
#define MACHINE_VIRTIO_SLOT	0x1000ULL
#define MACHINE_VIRTIO_MAX	16
#define MACHINE_IOAPIC_ADDR	0xfec00000ULL
#define MACHINE_LAPIC_ADDR	0xfee00000ULL
/* IOAPIC pins: 4 is COM1 (ISA), 1 the i8042; virtio devices from 5. */
#define MACHINE_SERIAL_GSI  4
#define MACHINE_I8042_GSI   1
#define MACHINE_VIRTIO_GSI0 5

/* One virtio-mmio device as the guest must be told about it (ACPI DSDT). */
struct machine_virtio_slot {
	uint64_t base;
	uint64_t len;
	uint32_t gsi;
};

struct machine {
	int kvm_fd;
	int vm_fd; /* -1 in unit tests without KVM */
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct evloop loop;
	unsigned int nr_vcpus;
	struct machine_virtio_slot virtio[MACHINE_VIRTIO_MAX];
	unsigned int nr_virtio;
};

/* Hands out the next virtio-mmio page and its GSI. */
int machine_virtio_slot_alloc(struct machine *m, struct machine_virtio_slot *out,
			      kiln_error_t *err);

#endif
