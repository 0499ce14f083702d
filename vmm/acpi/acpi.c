#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "vmm/acpi/acpi.h"
#include "vmm/acpi/aml.h"

#define ACPI_OEM_ID	      "KILN  "
#define ACPI_OEM_REVISION     1
#define ACPI_CREATOR_ID	      "KILN"
#define ACPI_CREATOR_REVISION 1
#define ACPI_HYPERVISOR_ID    "KILN-VMM"

/* Every table starts on this boundary; the RSDP must be on 16 bytes for the
 * legacy scan (ACPI 6.4 §5.2.5.1), and 64 keeps each table's start round
 * in a memory dump. */
#define ACPI_TABLE_ALIGN 64

/* KVM's in-kernel I/O APIC has 24 pins (KVM_IOAPIC_NUM_PINS). */
#define ACPI_IOAPIC_PINS 24

/* The legacy PC devices the DSDT can describe. Their ISA IRQs map 1:1 onto
 * GSIs: the MADT overrides only IRQ 0. */
#define ACPI_COM1_PORT	0x3f8
#define ACPI_COM1_PORTS 8
#define ACPI_I8042_DATA 0x60
#define ACPI_I8042_CMD	0x64
#define ACPI_VIRTIO_HID "LNRO0005"
#define ACPI_PIT_IRQ	0
#define ACPI_PIT_GSI	2

/* ACPI 6.4 §5.2.5.3, revision 2. */
struct acpi_rsdp {
	char signature[8];
	uint8_t checksum; /* over the first 20 bytes (the ACPI 1.0 part) */
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* over all the structure */
	uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP layout");

/* ACPI 6.4 §5.2.6. */
struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_header) == 36, "table header layout");

/* Generic Address Structure, ACPI 6.4 §5.2.3.2. All zero: not present. */
struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS layout");

/* ACPI 6.4 §5.2.9, Table 5.9 (FADT major version 6). In a hardware-reduced
 * platform (§4.1) all the fixed-hardware fields stay zero. */
struct acpi_fadt {
	struct acpi_header header;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	char hypervisor_vendor_id[8];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT layout");
_Static_assert(offsetof(struct acpi_fadt, x_dsdt) == 140, "FADT X_DSDT offset");

#define ACPI_FADT_REVISION	 6
#define ACPI_FADT_MINOR_REVISION 4

/* IA-PC Boot Architecture Flags, ACPI 6.4 §5.2.9.3. */
#define ACPI_IAPC_8042	  (1U << 1)
#define ACPI_IAPC_NO_VGA  (1U << 2)
#define ACPI_IAPC_NO_MSI  (1U << 3)
#define ACPI_IAPC_NO_ASPM (1U << 4)
#define ACPI_IAPC_NO_RTC  (1U << 5) /* "CMOS RTC Not Present", FADT 5+ */

/* Fixed Feature Flags, ACPI 6.4 Table 5.10. PWR_BUTTON and SLP_BUTTON set
 * mean "no fixed-hardware button". */
#define ACPI_FADT_PWR_BUTTON	  (1U << 4)
#define ACPI_FADT_SLP_BUTTON	  (1U << 5)
#define ACPI_FADT_HW_REDUCED_ACPI (1U << 20)

/* ACPI 6.4 §5.2.12, Table 5.19 (MADT revision 5). */
struct acpi_madt {
	struct acpi_header header;
	uint32_t lapic_address;
	uint32_t flags;
} __attribute__((packed));

#define ACPI_MADT_REVISION    5
#define ACPI_MADT_PCAT_COMPAT (1U << 0) /* dual 8259s present: mask them */

/* Interrupt controller structures, ACPI 6.4 §5.2.12.2, .3 and .5. */
struct acpi_madt_lapic {
	uint8_t type; /* 0 */
	uint8_t length;
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_lapic) == 8, "MADT LAPIC layout");

struct acpi_madt_ioapic {
	uint8_t type; /* 1 */
	uint8_t length;
	uint8_t ioapic_id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_ioapic) == 12, "MADT I/O APIC layout");

struct acpi_madt_iso {
	uint8_t type; /* 2 */
	uint8_t length;
	uint8_t bus; /* 0: ISA */
	uint8_t source;
	uint32_t gsi;
	uint16_t flags; /* 0: conforms to the bus (edge, active high) */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_iso) == 10, "MADT ISO layout");

#define ACPI_MADT_TYPE_LAPIC	0
#define ACPI_MADT_TYPE_IOAPIC	1
#define ACPI_MADT_TYPE_ISO	2
#define ACPI_MADT_LAPIC_ENABLED (1U << 0)

#define ACPI_XSDT_REVISION 1
/* Revision 2 and up: AML integers are 64 bits (ACPI 6.4 §5.2.11.1). */
#define ACPI_DSDT_REVISION 2

/* Host copy of [ACPI_TABLES_START, ACPI_TABLES_END), filled front to back
 * and written to the guest in one piece once every table is complete. */
struct acpi_image {
	uint8_t buf[ACPI_TABLES_END - ACPI_TABLES_START];
	size_t used;
};

/* Reserves len bytes, returning the host pointer and the guest address. */
static void *acpi_image_alloc(struct acpi_image *img, size_t len, uint64_t *gpa, kiln_error_t *err)
{
	size_t off = (img->used + ACPI_TABLE_ALIGN - 1) & ~(size_t)(ACPI_TABLE_ALIGN - 1);

	if (off > sizeof(img->buf) || len > sizeof(img->buf) - off) {
		kiln_error_make(err, 0, "ACPI tables need more than the %zu bytes at 0x%llx-0x%llx",
				sizeof(img->buf), (unsigned long long)ACPI_TABLES_START,
				(unsigned long long)ACPI_TABLES_END);
		return NULL;
	}
	img->used = off + len;
	*gpa = ACPI_TABLES_START + off;
	return img->buf + off;
}

/* The byte that makes the sum of all len bytes zero (§5.2.6, Checksum). */
static uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += b[i];
	return (uint8_t)-sum;
}

static void acpi_header_init(struct acpi_header *h, const char sig[4], uint32_t length,
			     uint8_t revision)
{
	memcpy(h->signature, sig, 4);
	h->length = length;
	h->revision = revision;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	/* "KILN" then the signature, as OEM Table IDs are 8 free bytes. */
	memcpy(h->oem_table_id, "KILN", 4);
	memcpy(h->oem_table_id + 4, sig, 4);
	h->oem_revision = ACPI_OEM_REVISION;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = ACPI_CREATOR_REVISION;
}

/* Fills the checksum once everything else in the table is final. */
static void acpi_header_seal(struct acpi_header *h)
{
	h->checksum = 0;
	h->checksum = acpi_checksum(h, h->length);
}

static int acpi_layout_check(const struct acpi_layout *l, kiln_error_t *err)
{
	if (l->nr_vcpus < 1 || l->nr_vcpus > ACPI_MAX_VCPUS)
		return kiln_error_make(err, 0, "ACPI: %u vCPUs, want 1 to %d", l->nr_vcpus,
				       ACPI_MAX_VCPUS);
	if (l->nr_virtio > MACHINE_VIRTIO_MAX)
		return kiln_error_make(err, 0, "ACPI: %u virtio devices, at most %d", l->nr_virtio,
				       MACHINE_VIRTIO_MAX);
	if (l->nr_virtio > 0 && l->virtio == NULL)
		return kiln_error_make(err, 0, "ACPI: %u virtio devices but no slots",
				       l->nr_virtio);
	for (unsigned int i = 0; i < l->nr_virtio; i++) {
		const struct machine_virtio_slot *s = &l->virtio[i];

		/* Memory32Fixed holds a 32-bit base and length (§6.4.3.4). */
		if (s->len == 0 || s->base > UINT32_MAX || s->len > UINT32_MAX ||
		    s->len - 1 > UINT32_MAX - s->base)
			return kiln_error_make(err, 0,
					       "ACPI: virtio device %u at 0x%llx+0x%llx is not "
					       "within the first 4 GiB",
					       i, (unsigned long long)s->base,
					       (unsigned long long)s->len);
		if (s->gsi >= ACPI_IOAPIC_PINS)
			return kiln_error_make(err, 0,
					       "ACPI: virtio device %u has GSI %u, the I/O APIC "
					       "has %d pins",
					       i, s->gsi, ACPI_IOAPIC_PINS);
	}
	return 0;
}

/* One virtio-mmio transport as Linux's virtio_mmio driver matches it: _HID
 * "LNRO0005", the register page and the interrupt in _CRS (as QEMU's
 * microvm and Firecracker describe theirs). The interrupt is edge-triggered:
 * KVM injects it through an irqfd. */
static void acpi_dsdt_virtio_add(struct aml *a, unsigned int index,
				 const struct machine_virtio_slot *s)
{
	char name[16];

	snprintf(name, sizeof(name), "VR%02u", index);
	aml_device_begin(a, name);
	aml_name(a, "_HID");
	aml_string(a, ACPI_VIRTIO_HID);
	aml_name(a, "_UID");
	aml_integer(a, index);
	aml_name(a, "_CRS");
	aml_resources_begin(a);
	aml_res_memory32_fixed(a, true, (uint32_t)s->base, (uint32_t)s->len);
	aml_res_interrupt(a, AML_INT_CONSUMER | AML_INT_EDGE, s->gsi);
	aml_resources_end(a);
	aml_end(a);
}

/* COM1 as a PNP0501 device, so the 8250 driver binds it through PNP/ACPI. */
static void acpi_dsdt_serial_add(struct aml *a)
{
	aml_device_begin(a, "COM1");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0501");
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_CRS");
	aml_resources_begin(a);
	aml_res_io(a, ACPI_COM1_PORT, ACPI_COM1_PORT, 0, ACPI_COM1_PORTS);
	aml_res_irq_noflags(a, 1U << MACHINE_SERIAL_GSI);
	aml_resources_end(a);
	aml_end(a);
}

/* The PS/2 controller as PNP0303: with the FADT's 8042 flag, what Linux's
 * i8042 driver looks for before it probes the ports. */
static void acpi_dsdt_i8042_add(struct aml *a)
{
	aml_device_begin(a, "PS2K");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0303");
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_CRS");
	aml_resources_begin(a);
	aml_res_io(a, ACPI_I8042_DATA, ACPI_I8042_DATA, 0, 1);
	aml_res_io(a, ACPI_I8042_CMD, ACPI_I8042_CMD, 0, 1);
	aml_res_irq_noflags(a, 1U << MACHINE_I8042_GSI);
	aml_resources_end(a);
	aml_end(a);
}

/* DSDT, ACPI 6.4 §5.2.11.1: the header, then the AML of \_SB's devices. */
static int acpi_dsdt_build(struct acpi_image *img, const struct acpi_layout *l, uint64_t *gpa,
			   kiln_error_t *err)
{
	struct aml a;
	struct acpi_header *h;
	int ret;

	aml_init(&a);
	aml_scope_begin(&a, "\\_SB");
	if (l->serial)
		acpi_dsdt_serial_add(&a);
	if (l->i8042)
		acpi_dsdt_i8042_add(&a);
	for (unsigned int i = 0; i < l->nr_virtio; i++)
		acpi_dsdt_virtio_add(&a, i, &l->virtio[i]);
	aml_end(&a);
	ret = aml_finish(&a, err);
	if (ret < 0)
		goto out;
	h = acpi_image_alloc(img, sizeof(*h) + a.len, gpa, err);
	if (h == NULL) {
		ret = kiln_error_wrap(err, "DSDT");
		goto out;
	}
	acpi_header_init(h, "DSDT", (uint32_t)(sizeof(*h) + a.len), ACPI_DSDT_REVISION);
	memcpy(h + 1, a.data, a.len);
	acpi_header_seal(h);
out:
	aml_release(&a);
	return ret;
}

/* FADT, ACPI 6.4 §5.2.9: hardware-reduced (§4.1), so no PM timer, SCI or
 * PM1 blocks, and no FACS; only the DSDT's address and the boot flags. */
static int acpi_fadt_build(struct acpi_image *img, const struct acpi_layout *l, uint64_t dsdt_gpa,
			   uint64_t *gpa, kiln_error_t *err)
{
	struct acpi_fadt *f = acpi_image_alloc(img, sizeof(*f), gpa, err);

	if (f == NULL)
		return kiln_error_wrap(err, "FADT");
	acpi_header_init(&f->header, "FACP", sizeof(*f), ACPI_FADT_REVISION);
	/* The DSDT is below 4 GiB: both fields, equal, as ACPICA expects. */
	f->dsdt = (uint32_t)dsdt_gpa;
	f->x_dsdt = dsdt_gpa;
	/* As Firecracker: no VGA to probe, no MSI (no PCI), no ASPM.
	 * And no CMOS RTC at ports 0x70/0x71, said here rather than
	 * emulated: without the flag Linux registers the rtc_cmos platform
	 * device regardless (arch/x86/kernel/rtc.c add_rtc_cmos;
	 * acpi_parse_fadt clears x86_platform.legacy.rtc on it since 4.8),
	 * and its probe polls the update-in-progress bit of ports that read
	 * 0xff until it gives up: 6.9 s of Debian's 6.1 kernel's boot in
	 * tests/kvmhost's emulated host. The guest's wall clock comes from
	 * kvm-clock (MSR_KVM_WALL_CLOCK_NEW: the host's time, in ns), which
	 * replaces the RTC as x86_platform.get_wallclock. An emulated
	 * MC146818 would add a probe of some dozens of port exits and then
	 * rtc_hctosys, which resets that clock to whole seconds + 0.5 s.
	 * docs/vmm.md ("The machine") says more. */
	f->iapc_boot_arch =
	    ACPI_IAPC_NO_VGA | ACPI_IAPC_NO_MSI | ACPI_IAPC_NO_ASPM | ACPI_IAPC_NO_RTC;
	if (l->i8042)
		f->iapc_boot_arch |= ACPI_IAPC_8042;
	f->flags = ACPI_FADT_HW_REDUCED_ACPI | ACPI_FADT_PWR_BUTTON | ACPI_FADT_SLP_BUTTON;
	f->minor_version = ACPI_FADT_MINOR_REVISION;
	memcpy(f->hypervisor_vendor_id, ACPI_HYPERVISOR_ID, 8);
	acpi_header_seal(&f->header);
	return 0;
}

/* MADT, ACPI 6.4 §5.2.12: one enabled Local APIC per vCPU (APIC id = ACPI
 * processor UID = vCPU index), the I/O APIC with GSIs from 0, and the PC's
 * timer override (ISA IRQ 0 on pin 2). */
static int acpi_madt_build(struct acpi_image *img, const struct acpi_layout *l, uint64_t *gpa,
			   kiln_error_t *err)
{
	const struct acpi_madt_ioapic ioapic = {
	    .type = ACPI_MADT_TYPE_IOAPIC,
	    .length = sizeof(ioapic),
	    .ioapic_id = (uint8_t)l->nr_vcpus,
	    .address = (uint32_t)MACHINE_IOAPIC_ADDR,
	    .gsi_base = 0,
	};
	const struct acpi_madt_iso pit = {
	    .type = ACPI_MADT_TYPE_ISO,
	    .length = sizeof(pit),
	    .bus = 0,
	    .source = ACPI_PIT_IRQ,
	    .gsi = ACPI_PIT_GSI,
	    .flags = 0,
	};
	size_t len = sizeof(struct acpi_madt) + l->nr_vcpus * sizeof(struct acpi_madt_lapic) +
		     sizeof(ioapic) + sizeof(pit);
	struct acpi_madt *m = acpi_image_alloc(img, len, gpa, err);
	uint8_t *p;

	if (m == NULL)
		return kiln_error_wrap(err, "MADT");
	acpi_header_init(&m->header, "APIC", (uint32_t)len, ACPI_MADT_REVISION);
	m->lapic_address = (uint32_t)MACHINE_LAPIC_ADDR;
	m->flags = ACPI_MADT_PCAT_COMPAT;
	p = (uint8_t *)(m + 1);
	for (unsigned int i = 0; i < l->nr_vcpus; i++) {
		const struct acpi_madt_lapic lapic = {
		    .type = ACPI_MADT_TYPE_LAPIC,
		    .length = sizeof(lapic),
		    .processor_uid = (uint8_t)i,
		    .apic_id = (uint8_t)i,
		    .flags = ACPI_MADT_LAPIC_ENABLED,
		};

		memcpy(p, &lapic, sizeof(lapic));
		p += sizeof(lapic);
	}
	memcpy(p, &ioapic, sizeof(ioapic));
	p += sizeof(ioapic);
	memcpy(p, &pit, sizeof(pit));
	acpi_header_seal(&m->header);
	return 0;
}

/* XSDT, ACPI 6.4 §5.2.8: the 64-bit addresses of the other tables (the
 * DSDT is reached through the FADT). */
static int acpi_xsdt_build(struct acpi_image *img, const uint64_t *tables, size_t n, uint64_t *gpa,
			   kiln_error_t *err)
{
	size_t len = sizeof(struct acpi_header) + n * sizeof(uint64_t);
	struct acpi_header *h = acpi_image_alloc(img, len, gpa, err);

	if (h == NULL)
		return kiln_error_wrap(err, "XSDT");
	acpi_header_init(h, "XSDT", (uint32_t)len, ACPI_XSDT_REVISION);
	memcpy(h + 1, tables, n * sizeof(uint64_t));
	acpi_header_seal(h);
	return 0;
}

/* RSDP, ACPI 6.4 §5.2.5.3: revision 2 points at the XSDT only. */
static void acpi_rsdp_fill(struct acpi_rsdp *r, uint64_t xsdt_gpa)
{
	memcpy(r->signature, "RSD PTR ", 8);
	memcpy(r->oem_id, ACPI_OEM_ID, 6);
	r->revision = 2;
	r->rsdt_address = 0;
	r->length = sizeof(*r);
	r->xsdt_address = xsdt_gpa;
	r->checksum = acpi_checksum(r, offsetof(struct acpi_rsdp, length));
	r->extended_checksum = acpi_checksum(r, sizeof(*r));
}

int acpi_build(struct guest_mem *mem, const struct acpi_layout *l, uint64_t *rsdp_gpa,
	       kiln_error_t *err)
{
	cleanup_free struct acpi_image *img = xzalloc(sizeof(*img));
	uint64_t rsdp = 0, dsdt = 0, xsdt = 0, tables[2] = {0};
	struct acpi_rsdp *r;
	int ret;

	ret = acpi_layout_check(l, err);
	if (ret < 0)
		return ret;
	/* First, so that it lands at ACPI_TABLES_START. */
	r = acpi_image_alloc(img, sizeof(*r), &rsdp, err);
	if (r == NULL)
		return kiln_error_wrap(err, "RSDP");
	ret = acpi_dsdt_build(img, l, &dsdt, err);
	if (ret < 0)
		return ret;
	ret = acpi_fadt_build(img, l, dsdt, &tables[0], err);
	if (ret < 0)
		return ret;
	ret = acpi_madt_build(img, l, &tables[1], err);
	if (ret < 0)
		return ret;
	ret = acpi_xsdt_build(img, tables, ARRAY_SIZE(tables), &xsdt, err);
	if (ret < 0)
		return ret;
	acpi_rsdp_fill(r, xsdt);
	ret = gmem_write(mem, ACPI_TABLES_START, img->buf, sizeof(img->buf));
	if (ret < 0)
		return kiln_error_make(err, ret, "cannot write the ACPI tables at 0x%llx",
				       (unsigned long long)ACPI_TABLES_START);
	*rsdp_gpa = rsdp;
	return 0;
}
