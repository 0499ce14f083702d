/* The ACPI tables a guest needs to find its vCPUs and devices: RSDP, XSDT,
 * FADT (hardware-reduced, like Firecracker and QEMU's microvm), MADT and a
 * DSDT that announces each virtio-mmio device as LNRO0005. Debian's stock
 * kernel finds virtio-mmio devices only this way (it is built without
 * CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES). */
#ifndef KILN_VMM_ACPI_ACPI_H
#define KILN_VMM_ACPI_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/machine.h"
#include "vmm/mem.h"

/* The tables live in the BIOS read-only area, which Linux scans for the RSDP
 * on 16-byte boundaries (ACPI 6.4 §5.2.5.1); the range must be reserved in
 * the e820 map. The RSDP is at ACPI_TABLES_START. */
#define ACPI_TABLES_START 0xe0000ULL
#define ACPI_TABLES_END	  0x100000ULL

/* APIC ids are 0..nr_vcpus-1 and the I/O APIC takes id nr_vcpus. */
#define ACPI_MAX_VCPUS 32

struct acpi_layout {
	unsigned int nr_vcpus; /* 1..ACPI_MAX_VCPUS */
	const struct machine_virtio_slot *virtio;
	unsigned int nr_virtio; /* 0..MACHINE_VIRTIO_MAX */
	bool serial;		/* COM1: ports 0x3f8-0x3ff, ISA IRQ 4 (PNP0501) */
	bool i8042;		/* PS/2 controller: ports 0x60 and 0x64, ISA IRQ 1 (PNP0303) */
};

/* Writes RSDP, XSDT, FADT, MADT and DSDT into guest memory
 * [ACPI_TABLES_START, ACPI_TABLES_END), zeroing the rest of that range, and
 * returns the RSDP's guest-physical address (for boot_params.acpi_rsdp_addr)
 * in *rsdp_gpa. Fails without touching guest memory when the layout is out
 * of range or the tables do not fit. */
int acpi_build(struct guest_mem *mem, const struct acpi_layout *l, uint64_t *rsdp_gpa,
	       kiln_error_t *err);

#endif
