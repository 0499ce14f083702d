/* The ACPI tables and the AML emitter: built into plain guest memory (no
 * KVM), then read back by offset as a guest would, and, when iasl is
 * installed (acpica-tools), disassembled and recompiled by it. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/io.h"
#include "common/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/tmpdir.h"
#include "vmm/acpi/acpi.h"
#include "vmm/acpi/aml.h"
#include "vmm/machine.h"
#include "vmm/mem.h"

#define IASL	 "/usr/bin/iasl"
#define ACPIEXEC "/usr/bin/acpiexec"
#define MEM_SIZE (16ULL << 20)

static struct machine_virtio_slot slots[MACHINE_VIRTIO_MAX];

static void slots_init(void)
{
	for (unsigned int i = 0; i < MACHINE_VIRTIO_MAX; i++)
		slots[i] = (struct machine_virtio_slot){
		    .base = MACHINE_VIRTIO_BASE + i * MACHINE_VIRTIO_SLOT,
		    .len = MACHINE_VIRTIO_SLOT,
		    .gsi = MACHINE_VIRTIO_GSI0 + i,
		};
}

static void gmem_cleanup(struct guest_mem *m)
{
	gmem_release(m);
}
#define cleanup_gmem __attribute__((cleanup(gmem_cleanup)))

/* Little-endian reads from a host copy of a table. */
static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint8_t sum8(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	for (size_t i = 0; i < len; i++)
		s += p[i];
	return s;
}

static bool mem_contains(const uint8_t *hay, size_t hay_len, const void *needle, size_t len)
{
	return memmem(hay, hay_len, needle, len) != NULL;
}

static size_t mem_count(const uint8_t *hay, size_t hay_len, const void *needle, size_t len)
{
	size_t n = 0;
	const uint8_t *p = hay, *end = hay + hay_len;

	while ((p = memmem(p, (size_t)(end - p), needle, len)) != NULL) {
		n++;
		p += len;
	}
	return n;
}

/* A built set of tables, each found the way a guest finds it. */
struct tables {
	const uint8_t *rsdp, *xsdt, *fadt, *madt, *dsdt;
	uint64_t rsdp_gpa, xsdt_gpa, fadt_gpa, madt_gpa, dsdt_gpa;
};

/* The table at gpa, with the given signature, a length that keeps it inside
 * the reserved range, and a checksum that sums to 0; NULL otherwise. */
static const uint8_t *table_get(const struct guest_mem *m, uint64_t gpa, const char *sig)
{
	const uint8_t *h = gmem_ptr(m, gpa, 36);
	uint32_t len;

	if (h == NULL || gpa < ACPI_TABLES_START || gpa + 36 > ACPI_TABLES_END) {
		tap_diag("%s at 0x%llx is outside the ACPI range", sig, (unsigned long long)gpa);
		return NULL;
	}
	if (memcmp(h, sig, 4) != 0) {
		tap_diag("0x%llx holds '%.4s', want '%s'", (unsigned long long)gpa, h, sig);
		return NULL;
	}
	len = le32(h + 4);
	if (len < 36 || gpa + len > ACPI_TABLES_END) {
		tap_diag("%s length %u runs past the ACPI range", sig, len);
		return NULL;
	}
	if (sum8(h, len) != 0) {
		tap_diag("%s checksum does not sum to 0", sig);
		return NULL;
	}
	if (memcmp(h + 10, "KILN  ", 6) != 0) {
		tap_diag("%s OEM id is '%.6s'", sig, h + 10);
		return NULL;
	}
	return h;
}

/* Builds the tables for a layout and walks RSDP -> XSDT -> FADT/MADT -> DSDT,
 * checking every signature, length and checksum on the way. */
static int tables_build(struct guest_mem *m, const struct acpi_layout *l, struct tables *t)
{
	cleanup_error kiln_error_t err = NULL;
	uint32_t xsdt_len;

	memset(t, 0, sizeof(*t));
	if (acpi_build(m, l, &t->rsdp_gpa, &err) < 0) {
		tap_diag("acpi_build: %s", err->msg);
		return -1;
	}
	if (t->rsdp_gpa != ACPI_TABLES_START)
		return -1;
	t->rsdp = gmem_ptr(m, t->rsdp_gpa, 36);
	if (t->rsdp == NULL || memcmp(t->rsdp, "RSD PTR ", 8) != 0 || sum8(t->rsdp, 20) != 0 ||
	    sum8(t->rsdp, 36) != 0 || t->rsdp[15] != 2 || le32(t->rsdp + 20) != 36) {
		tap_diag("bad RSDP");
		return -1;
	}
	t->xsdt_gpa = le64(t->rsdp + 24);
	t->xsdt = table_get(m, t->xsdt_gpa, "XSDT");
	if (t->xsdt == NULL)
		return -1;
	xsdt_len = le32(t->xsdt + 4);
	if (xsdt_len != 36 + 2 * 8) {
		tap_diag("XSDT has %u bytes of entries, want 2", xsdt_len - 36);
		return -1;
	}
	t->fadt_gpa = le64(t->xsdt + 36);
	t->madt_gpa = le64(t->xsdt + 44);
	t->fadt = table_get(m, t->fadt_gpa, "FACP");
	t->madt = table_get(m, t->madt_gpa, "APIC");
	if (t->fadt == NULL || t->madt == NULL)
		return -1;
	t->dsdt_gpa = le64(t->fadt + 140);
	t->dsdt = table_get(m, t->dsdt_gpa, "DSDT");
	return t->dsdt == NULL ? -1 : 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Builds into a bytes buffer with the emitter and checks the exact bytes. */
static bool aml_bytes_are(const struct aml *a, const uint8_t *want, size_t len)
{
	if (a->len == len && memcmp(a->data, want, len) == 0)
		return true;
	tap_diag("got %zu bytes:", a->len);
	for (size_t i = 0; i < a->len; i++)
		printf("%s%02x", i % 16 ? " " : "# ", a->data[i]);
	printf("\n");
	return false;
}

static int test_aml_pkglength(void)
{
	uint8_t b[4];

	/* One byte up to a total of 0x3f, counting itself. */
	TAP_CHECK(aml_pkglength_encode(b, 0) == 1 && b[0] == 0x01);
	TAP_CHECK(aml_pkglength_encode(b, 62) == 1 && b[0] == 0x3f);
	/* 63 content bytes: total 65 = 0x41 in two bytes (lead 0x40 | low
	 * nibble, then the next 8 bits). */
	TAP_CHECK(aml_pkglength_encode(b, 63) == 2 && b[0] == 0x41 && b[1] == 0x04);
	TAP_CHECK(aml_pkglength_encode(b, 0xffd) == 2 && b[0] == 0x4f && b[1] == 0xff);
	TAP_CHECK(aml_pkglength_encode(b, 0xffe) == 3 && b[0] == 0x81 && b[1] == 0x00 &&
		  b[2] == 0x01);
	TAP_CHECK(aml_pkglength_encode(b, 0xffffc) == 3 && b[0] == 0x8f && b[1] == 0xff &&
		  b[2] == 0xff);
	TAP_CHECK(aml_pkglength_encode(b, 0xffffd) == 4 && b[0] == 0xc1 && b[1] == 0x00 &&
		  b[2] == 0x00 && b[3] == 0x01);
	TAP_CHECK(aml_pkglength_encode(b, AML_PKGLENGTH_MAX - 4) == 4 && b[0] == 0xcf &&
		  b[1] == 0xff && b[2] == 0xff && b[3] == 0xff);
	TAP_CHECK(aml_pkglength_encode(b, AML_PKGLENGTH_MAX - 3) == 0);
	TAP_CHECK(aml_pkglength_encode(b, SIZE_MAX) == 0);
	return TAP_PASS;
}

static int test_aml_pkglength_in_scope(void)
{
	struct aml a;
	int ok;

	/* A Scope whose contents push the PkgLength to two bytes: the length
	 * is inserted in front of the name once the scope is closed. */
	aml_init(&a);
	aml_scope_begin(&a, "\\_SB");
	for (int i = 0; i < 10; i++) {
		aml_name(&a, "ABCD");
		aml_integer(&a, 0x12);
	}
	aml_end(&a);
	ok = aml_finish(&a, NULL) == 0 && a.len == 1 + 2 + 5 + 10 * 7 && a.data[0] == 0x10 &&
	     a.data[1] == (0x40 | ((2 + 5 + 70) & 0xf)) && a.data[2] == ((2 + 5 + 70) >> 4) &&
	     a.data[3] == '\\' && memcmp(a.data + 4, "_SB_", 4) == 0;
	aml_release(&a);
	TAP_CHECK(ok);
	return TAP_PASS;
}

static int test_aml_namestring(void)
{
	static const uint8_t want[] = {
	    '\\', '_',	'S',  'B',  '_',		     /* \_SB */
	    0x2e, 'A',	'_',  '_',  '_', 'V', 'R', '0', '0', /* A.VR00: DualNamePrefix */
	    '^',  '^',	0x2f, 0x03,			     /* ^^ABC.D.EFGH: MultiNamePrefix */
	    'A',  'B',	'C',  '_',  'D', '_', '_', '_', 'E', 'F', 'G', 'H', /* the 3 segments */
	    '\\', 0x00, /* \ alone: RootChar, NullName */
	};
	struct aml a;
	int ok;

	aml_init(&a);
	aml_namestring(&a, "\\_SB");
	aml_namestring(&a, "A.VR00");
	aml_namestring(&a, "^^ABC.D.EFGH");
	aml_namestring(&a, "\\");
	ok = aml_finish(&a, NULL) == 0 && aml_bytes_are(&a, want, sizeof(want));
	aml_release(&a);
	TAP_CHECK(ok);

	static const char *const bad[] = {"ABCDE", "1ABC", "ab", "A..B", "A.", ".A", "A-B"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cleanup_error kiln_error_t err = NULL;

		aml_init(&a);
		aml_namestring(&a, bad[i]);
		ok = aml_finish(&a, &err) < 0 && err != NULL && strstr(err->msg, bad[i]) != NULL;
		aml_release(&a);
		if (!ok)
			tap_diag("name '%s' was accepted", bad[i]);
		TAP_CHECK(ok);
	}
	return TAP_PASS;
}

static int test_aml_data(void)
{
	static const uint8_t want[] = {
	    0x00,							/* Zero */
	    0x01,							/* One */
	    0x0a, 0x02,							/* ByteConst */
	    0x0a, 0xff,							/* ByteConst 0xff */
	    0x0b, 0x00, 0x01,						/* WordConst */
	    0x0c, 0x00, 0x00, 0x01, 0x00,				/* DWordConst */
	    0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,	/* QWordConst */
	    0x0d, 'L',	'N',  'R',  'O',  '0',	'0',  '0',  '5',  0x00, /* String */
	    0x0c, 0x41, 0xd0, 0x05, 0x01,				/* EISAID("PNP0501") */
	    0x08, '_',	'H',  'I',  'D',  0x0c, 0x41, 0xd0, 0x03, 0x03, /* Name */
	};
	struct aml a;
	int ok;

	aml_init(&a);
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 2);
	aml_integer(&a, 0xff);
	aml_integer(&a, 0x100);
	aml_integer(&a, 0x10000);
	aml_integer(&a, 0x100000000ULL);
	aml_string(&a, "LNRO0005");
	aml_eisaid(&a, "PNP0501");
	aml_name(&a, "_HID");
	aml_eisaid(&a, "PNP0303");
	ok = aml_finish(&a, NULL) == 0 && aml_bytes_are(&a, want, sizeof(want));
	aml_release(&a);
	TAP_CHECK(ok);
	return TAP_PASS;
}

static int test_aml_eisaid(void)
{
	uint32_t v;

	/* Values as iasl compiles EISAID() (and Linux's PNP ids decode). */
	TAP_CHECK(aml_eisaid_encode("PNP0501", &v) && v == 0x0105d041);
	TAP_CHECK(aml_eisaid_encode("PNP0A03", &v) && v == 0x030ad041);
	TAP_CHECK(aml_eisaid_encode("PNP0a03", &v) && v == 0x030ad041);
	TAP_CHECK(aml_eisaid_encode("PNP0303", &v) && v == 0x0303d041);
	TAP_CHECK(!aml_eisaid_encode("PNP050", &v));
	TAP_CHECK(!aml_eisaid_encode("pNP0501", &v));
	TAP_CHECK(!aml_eisaid_encode("PNP05G1", &v));
	TAP_CHECK(!aml_eisaid_encode("PNP05011", &v));
	return TAP_PASS;
}

static int test_aml_resources(void)
{
	/* What iasl emits for
	 *   Name (_CRS, ResourceTemplate () {
	 *       IO (Decode16, 0x03F8, 0x03F8, 0x00, 0x08)
	 *       IRQNoFlags () {4}
	 *   })
	 *   Name (_CRS, ResourceTemplate () {
	 *       Memory32Fixed (ReadWrite, 0xD0001000, 0x00001000)
	 *       Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {5}
	 *   }) */
	static const uint8_t want[] = {
	    0x08, '_',	'C',  'R',  'S',  0x11, 0x10, 0x0a, 0x0d, /* Name, Buffer, size 13 */
	    0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x00, 0x08,	  /* IO */
	    0x22, 0x10, 0x00,					  /* IRQNoFlags */
	    0x79, 0x00,						  /* End Tag */
	    0x08, '_',	'C',  'R',  'S',  0x11, 0x1a, 0x0a, 0x17, /* Name, Buffer, size 23 */
	    0x86, 0x09, 0x00, 0x01, 0x00, 0x10, 0x00, 0xd0, 0x00,
	    0x10, 0x00, 0x00,					  /* Memory32Fixed */
	    0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00, /* Interrupt */
	    0x79, 0x00,						  /* End Tag */
	};
	struct aml a;
	int ok;

	aml_init(&a);
	aml_name(&a, "_CRS");
	aml_resources_begin(&a);
	aml_res_io(&a, 0x3f8, 0x3f8, 0, 8);
	aml_res_irq_noflags(&a, 1U << 4);
	aml_resources_end(&a);
	aml_name(&a, "_CRS");
	aml_resources_begin(&a);
	aml_res_memory32_fixed(&a, true, 0xd0001000, 0x1000);
	aml_res_interrupt(&a, AML_INT_CONSUMER | AML_INT_EDGE, 5);
	aml_resources_end(&a);
	ok = aml_finish(&a, NULL) == 0 && aml_bytes_are(&a, want, sizeof(want));
	aml_release(&a);
	TAP_CHECK(ok);
	return TAP_PASS;
}

static int test_aml_unbalanced(void)
{
	cleanup_error kiln_error_t err = NULL;
	struct aml a;
	int ret;

	aml_init(&a);
	aml_scope_begin(&a, "\\_SB");
	aml_device_begin(&a, "DEV0");
	aml_end(&a);
	ret = aml_finish(&a, &err);
	aml_release(&a);
	TAP_CHECK(ret < 0 && strstr(err->msg, "left open") != NULL);

	kiln_error_free(&err);
	aml_init(&a);
	aml_end(&a);
	ret = aml_finish(&a, &err);
	aml_release(&a);
	TAP_CHECK(ret < 0 && err != NULL);

	kiln_error_free(&err);
	aml_init(&a);
	aml_device_begin(&a, "DEV0");
	aml_resources_end(&a);
	ret = aml_finish(&a, &err);
	aml_release(&a);
	TAP_CHECK(ret < 0 && strstr(err->msg, "ResourceTemplate") != NULL);

	kiln_error_free(&err);
	aml_init(&a);
	for (int i = 0; i <= AML_MAX_DEPTH; i++)
		aml_scope_begin(&a, "S");
	ret = aml_finish(&a, &err);
	aml_release(&a);
	TAP_CHECK(ret < 0 && strstr(err->msg, "nested") != NULL);
	return TAP_PASS;
}

static int test_rsdp(void)
{
	cleanup_gmem struct guest_mem m = {0};
	struct acpi_layout l = {.nr_vcpus = 1};
	struct tables t;

	TAP_CHECK(gmem_init(&m, MEM_SIZE, NULL) == 0);
	TAP_CHECK(tables_build(&m, &l, &t) == 0);
	TAP_CHECK(t.rsdp_gpa == 0xe0000);
	TAP_CHECK(t.rsdp_gpa % 16 == 0);
	TAP_CHECK(memcmp(t.rsdp + 9, "KILN  ", 6) == 0);
	TAP_CHECK(le32(t.rsdp + 16) == 0); /* no RSDT: the XSDT only */
	TAP_CHECK(t.xsdt_gpa > t.rsdp_gpa && t.xsdt_gpa < ACPI_TABLES_END);
	return TAP_PASS;
}

static int test_xsdt(void)
{
	cleanup_gmem struct guest_mem m = {0};
	struct acpi_layout l = {.nr_vcpus = 2, .virtio = slots, .nr_virtio = 3, .serial = true};
	struct tables t;

	TAP_CHECK(gmem_init(&m, MEM_SIZE, NULL) == 0);
	TAP_CHECK(tables_build(&m, &l, &t) == 0);
	TAP_CHECK(t.xsdt[8] == 1);
	/* Entry 0 is the FADT, entry 1 the MADT (tables_build found them by
	 * signature); none of the tables overlaps another or the RSDP. */
	uint64_t gpa[] = {t.rsdp_gpa, t.xsdt_gpa, t.fadt_gpa, t.madt_gpa, t.dsdt_gpa};
	uint64_t len[] = {36, le32(t.xsdt + 4), le32(t.fadt + 4), le32(t.madt + 4),
			  le32(t.dsdt + 4)};
	for (size_t i = 0; i < ARRAY_SIZE(gpa); i++)
		for (size_t j = i + 1; j < ARRAY_SIZE(gpa); j++)
			TAP_CHECK(!ranges_overlap(gpa[i], len[i], gpa[j], len[j]));
	tap_diag("RSDP 0x%llx XSDT 0x%llx FADT 0x%llx MADT 0x%llx DSDT 0x%llx",
		 (unsigned long long)t.rsdp_gpa, (unsigned long long)t.xsdt_gpa,
		 (unsigned long long)t.fadt_gpa, (unsigned long long)t.madt_gpa,
		 (unsigned long long)t.dsdt_gpa);
	return TAP_PASS;
}

static int test_fadt(void)
{
	cleanup_gmem struct guest_mem m = {0};
	struct acpi_layout l = {.nr_vcpus = 1, .serial = true};
	struct tables t;
	uint32_t flags;

	TAP_CHECK(gmem_init(&m, MEM_SIZE, NULL) == 0);
	TAP_CHECK(tables_build(&m, &l, &t) == 0);
	TAP_CHECK(le32(t.fadt + 4) == 276);
	TAP_CHECK(t.fadt[8] == 6);   /* major revision */
	TAP_CHECK(t.fadt[131] == 4); /* minor revision */
	flags = le32(t.fadt + 112);
	TAP_CHECK(flags & (1U << 20)); /* HW_REDUCED_ACPI */
	TAP_CHECK(flags & (1U << 4));  /* PWR_BUTTON: no fixed power button */
	TAP_CHECK(flags & (1U << 5));  /* SLP_BUTTON */
	/* IAPC_BOOT_ARCH: no VGA, no MSI, no ASPM, no CMOS RTC; no 8042
	 * unless asked. The RTC flag (bit 5) is what keeps Linux from
	 * probing ports 0x70/0x71 (add_rtc_cmos); it is defined from FADT
	 * major version 5, so the table must say at least that. */
	TAP_CHECK(le16(t.fadt + 109) == ((1U << 2) | (1U << 3) | (1U << 4) | (1U << 5)));
	TAP_CHECK(t.fadt[8] >= 5);
	TAP_CHECK(le32(t.fadt + 40) == t.dsdt_gpa);  /* DSDT */
	TAP_CHECK(le64(t.fadt + 140) == t.dsdt_gpa); /* X_DSDT */
	/* Hardware-reduced: no FACS, SCI, SMI or PM blocks. */
	TAP_CHECK(le32(t.fadt + 36) == 0 && le64(t.fadt + 132) == 0);
	TAP_CHECK(le16(t.fadt + 46) == 0 && le32(t.fadt + 48) == 0);
	for (size_t off = 56; off < 88; off += 4)
		TAP_CHECK(le32(t.fadt + off) == 0);
	for (size_t off = 148; off < 268; off++)
		TAP_CHECK(t.fadt[off] == 0);
	TAP_CHECK(memcmp(t.fadt + 268, "KILN-VMM", 8) == 0);

	l.i8042 = true;
	TAP_CHECK(tables_build(&m, &l, &t) == 0);
	TAP_CHECK(le16(t.fadt + 109) & (1U << 1));
	TAP_CHECK(le16(t.fadt + 109) & (1U << 5));
	return TAP_PASS;
}

static int madt_check(unsigned int nr_vcpus)
{
	cleanup_gmem struct guest_mem m = {0};
	struct acpi_layout l = {.nr_vcpus = nr_vcpus};
	struct tables t;
	unsigned int nr_lapic = 0, nr_ioapic = 0, nr_iso = 0;
	uint32_t len;

	TAP_CHECK(gmem_init(&m, MEM_SIZE, NULL) == 0);
	TAP_CHECK(tables_build(&m, &l, &t) == 0);
	TAP_CHECK(le32(t.madt + 36) == MACHINE_LAPIC_ADDR);
	TAP_CHECK(le32(t.madt + 40) & 1); /* PCAT_COMPAT */
	len = le32(t.madt + 4);
	for (uint32_t off = 44; off < len;) {
		const uint8_t *e = t.madt + off;

		TAP_CHECK(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0: /* Processor Local APIC */
			TAP_CHECK(e[1] == 8);
			TAP_CHECK(e[2] == nr_lapic && e[3] == nr_lapic); /* UID, APIC id */
			TAP_CHECK(le32(e + 4) == 1);			 /* enabled */
			nr_lapic++;
			break;
		case 1: /* I/O APIC */
			TAP_CHECK(e[1] == 12);
			TAP_CHECK(e[2] == nr_vcpus);
			TAP_CHECK(le32(e + 4) == MACHINE_IOAPIC_ADDR);
			TAP_CHECK(le32(e + 8) == 0);
			nr_ioapic++;
			break;
		case 2: /* Interrupt Source Override */
			TAP_CHECK(e[1] == 10);
			TAP_CHECK(e[2] == 0 && e[3] == 0 && le32(e + 4) == 2 && le16(e + 8) == 0);
			nr_iso++;
			break;
		default:
			tap_diag("unexpected MADT entry type %u", e[0]);
			return TAP_FAIL;
		}
		off += e[1];
	}
	TAP_CHECK(nr_lapic == nr_vcpus);
	TAP_CHECK(nr_ioapic == 1);
	TAP_CHECK(nr_iso == 1);
	return TAP_PASS;
}

static int test_madt(void)
{
	static const unsigned int counts[] = {1, 2, 32};

	for (size_t i = 0; i < ARRAY_SIZE(counts); i++)
		if (madt_check(counts[i]) != TAP_PASS) {
			tap_diag("with %u vCPUs", counts[i]);
			return TAP_FAIL;
		}
	return TAP_PASS;
}

/* Each device's name, _HID, Memory32Fixed and Interrupt, as bytes. */
static int dsdt_virtio_check(const uint8_t *dsdt, const struct acpi_layout *l)
{
	size_t len = le32(dsdt + 4);

	TAP_CHECK(mem_count(dsdt, len, "LNRO0005", 9) == l->nr_virtio);
	for (unsigned int i = 0; i < l->nr_virtio; i++) {
		const struct machine_virtio_slot *s = &l->virtio[i];
		uint8_t mem[12] = {0x86, 0x09, 0x00, 0x01};
		uint8_t irq[9] = {0x89, 0x06, 0x00, 0x03, 0x01};
		char name[16];

		snprintf(name, sizeof(name), "VR%02u", i);
		TAP_CHECK(mem_count(dsdt, len, name, 4) == 1);
		for (int b = 0; b < 4; b++) {
			mem[4 + b] = (uint8_t)(s->base >> (8 * b));
			mem[8 + b] = (uint8_t)(s->len >> (8 * b));
			irq[5 + b] = (uint8_t)(s->gsi >> (8 * b));
		}
		TAP_CHECK(mem_count(dsdt, len, mem, sizeof(mem)) == 1);
		TAP_CHECK(mem_count(dsdt, len, irq, sizeof(irq)) == 1);
	}
	return TAP_PASS;
}

static int test_dsdt_virtio(void)
{
	cleanup_gmem struct guest_mem m = {0};
	struct tables t;

	TAP_CHECK(gmem_init(&m, MEM_SIZE, NULL) == 0);
	for (unsigned int n = 0; n <= MACHINE_VIRTIO_MAX; n++) {
		struct acpi_layout l = {.nr_vcpus = 1, .virtio = slots, .nr_virtio = n};

		TAP_CHECK(tables_build(&m, &l, &t) == 0);
		TAP_CHECK(t.dsdt[8] == 2);
		if (dsdt_virtio_check(t.dsdt, &l) != TAP_PASS) {
			tap_diag("with %u virtio devices", n);
			return TAP_FAIL;
		}
	}
	/* Slots need not be the machine's: any base, length and GSI. */
	struct machine_virtio_slot odd = {.base = 0xfe000000, .len = 0x200, .gsi = 23};
	struct acpi_layout l = {.nr_vcpus = 1, .virtio = &odd, .nr_virtio = 1};
	TAP_CHECK(tables_build(&m, &l, &t) == 0);
	TAP_CHECK(dsdt_virtio_check(t.dsdt, &l) == TAP_PASS);
	return TAP_PASS;
}

static int test_dsdt_legacy_devices(void)
{
	static const uint8_t com1_hid[] = {0x0c, 0x41, 0xd0, 0x05, 0x01};
	static const uint8_t com1_crs[] = {0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x00,
					   0x08, 0x22, 0x10, 0x00, 0x79, 0x00};
	static const uint8_t kbd_hid[] = {0x0c, 0x41, 0xd0, 0x03, 0x03};
	static const uint8_t kbd_crs[] = {
	    0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x00, 0x01, /* IO 0x60 */
	    0x47, 0x01, 0x64, 0x00, 0x64, 0x00, 0x00, 0x01, /* IO 0x64 */
	    0x22, 0x02, 0x00,				    /* IRQNoFlags {1} */
	    0x79, 0x00,					    /* End Tag */
	};
	cleanup_gmem struct guest_mem m = {0};
	struct acpi_layout l = {.nr_vcpus = 1, .virtio = slots, .nr_virtio = 2};
	struct tables t;
	size_t len;

	TAP_CHECK(gmem_init(&m, MEM_SIZE, NULL) == 0);
	TAP_CHECK(tables_build(&m, &l, &t) == 0);
	len = le32(t.dsdt + 4);
	TAP_CHECK(!mem_contains(t.dsdt, len, "COM1", 4));
	TAP_CHECK(!mem_contains(t.dsdt, len, com1_hid, sizeof(com1_hid)));
	TAP_CHECK(!mem_contains(t.dsdt, len, "PS2K", 4));

	l.serial = true;
	l.i8042 = true;
	TAP_CHECK(tables_build(&m, &l, &t) == 0);
	len = le32(t.dsdt + 4);
	TAP_CHECK(mem_contains(t.dsdt, len, "COM1", 4));
	TAP_CHECK(mem_contains(t.dsdt, len, com1_hid, sizeof(com1_hid)));
	TAP_CHECK(mem_contains(t.dsdt, len, com1_crs, sizeof(com1_crs)));
	TAP_CHECK(mem_contains(t.dsdt, len, "PS2K", 4));
	TAP_CHECK(mem_contains(t.dsdt, len, kbd_hid, sizeof(kbd_hid)));
	TAP_CHECK(mem_contains(t.dsdt, len, kbd_crs, sizeof(kbd_crs)));
	TAP_CHECK(dsdt_virtio_check(t.dsdt, &l) == TAP_PASS);
	return TAP_PASS;
}

/* Every combination the machine can ask for: the walk from the RSDP checks
 * signatures, checksums and that each table stays inside the range; the
 * rest of the range is zeroed even after a bigger layout was built. */
static int test_all_layouts(void)
{
	static const unsigned int vcpus[] = {1, 2, 32};
	cleanup_gmem struct guest_mem m = {0};
	size_t combos = 0;

	TAP_CHECK(gmem_init(&m, MEM_SIZE, NULL) == 0);
	for (size_t v = 0; v < ARRAY_SIZE(vcpus); v++)
		for (unsigned int n = 0; n <= MACHINE_VIRTIO_MAX; n++)
			for (int legacy = 0; legacy < 4; legacy++) {
				struct acpi_layout l = {
				    .nr_vcpus = vcpus[v],
				    .virtio = slots,
				    .nr_virtio = n,
				    .serial = legacy & 1,
				    .i8042 = legacy & 2,
				};
				struct tables t;
				uint64_t end;
				const uint8_t *p;

				if (tables_build(&m, &l, &t) < 0) {
					tap_diag("%u vCPUs, %u virtio, legacy %d", vcpus[v], n,
						 legacy);
					return TAP_FAIL;
				}
				/* The DSDT is built first, the XSDT last. */
				end = t.xsdt_gpa + le32(t.xsdt + 4);
				p = gmem_ptr(&m, end, ACPI_TABLES_END - end);
				TAP_CHECK(p != NULL);
				for (uint64_t i = 0; i < ACPI_TABLES_END - end; i++)
					TAP_CHECK(p[i] == 0);
				combos++;
			}
	tap_diag("%zu layouts checked", combos);
	return TAP_PASS;
}

static int build_fails(struct guest_mem *m, const struct acpi_layout *l, const char *want)
{
	cleanup_error kiln_error_t err = NULL;
	uint64_t rsdp = 0x1234;
	int ret = acpi_build(m, l, &rsdp, &err);

	if (ret >= 0 || err == NULL || strstr(err->msg, want) == NULL || rsdp != 0x1234) {
		tap_diag("want an error with '%s', got %d '%s'", want, ret,
			 err ? err->msg : "(none)");
		return -1;
	}
	return 0;
}

static int test_layout_errors(void)
{
	cleanup_gmem struct guest_mem m = {0};
	struct machine_virtio_slot bad;
	uint8_t *first;

	TAP_CHECK(gmem_init(&m, MEM_SIZE, NULL) == 0);
	first = gmem_ptr(&m, ACPI_TABLES_START, 1);
	TAP_CHECK(first != NULL);
	*first = 0xaa;

	TAP_CHECK(build_fails(&m, &(struct acpi_layout){.nr_vcpus = 0}, "vCPUs") == 0);
	TAP_CHECK(build_fails(&m, &(struct acpi_layout){.nr_vcpus = ACPI_MAX_VCPUS + 1}, "vCPUs") ==
		  0);
	TAP_CHECK(build_fails(&m,
			      &(struct acpi_layout){.nr_vcpus = 1,
						    .virtio = slots,
						    .nr_virtio = MACHINE_VIRTIO_MAX + 1},
			      "virtio devices") == 0);
	TAP_CHECK(
	    build_fails(&m, &(struct acpi_layout){.nr_vcpus = 1, .nr_virtio = 1}, "no slots") == 0);

	bad = (struct machine_virtio_slot){.base = 0x100000000ULL, .len = 0x1000, .gsi = 5};
	TAP_CHECK(build_fails(&m,
			      &(struct acpi_layout){.nr_vcpus = 1, .virtio = &bad, .nr_virtio = 1},
			      "4 GiB") == 0);
	bad = (struct machine_virtio_slot){.base = 0xfffff000ULL, .len = 0x2000, .gsi = 5};
	TAP_CHECK(build_fails(&m,
			      &(struct acpi_layout){.nr_vcpus = 1, .virtio = &bad, .nr_virtio = 1},
			      "4 GiB") == 0);
	bad = (struct machine_virtio_slot){.base = 0xd0000000ULL, .len = 0, .gsi = 5};
	TAP_CHECK(build_fails(&m,
			      &(struct acpi_layout){.nr_vcpus = 1, .virtio = &bad, .nr_virtio = 1},
			      "4 GiB") == 0);
	bad = (struct machine_virtio_slot){.base = 0xd0000000ULL, .len = 0x1000, .gsi = 24};
	TAP_CHECK(build_fails(&m,
			      &(struct acpi_layout){.nr_vcpus = 1, .virtio = &bad, .nr_virtio = 1},
			      "GSI 24") == 0);
	/* A failed build leaves guest memory alone. */
	TAP_CHECK(*first == 0xaa);
	return TAP_PASS;
}

static int test_small_guest(void)
{
	cleanup_gmem struct guest_mem m = {0};

	/* 512 KiB of RAM ends below the BIOS area. */
	TAP_CHECK(gmem_init(&m, 512 << 10, NULL) == 0);
	TAP_CHECK(build_fails(&m, &(struct acpi_layout){.nr_vcpus = 1}, "ACPI tables") == 0);
	return TAP_PASS;
}

/* Runs a shell command in dir with its output in dir/<log>; returns its
 * exit status (-1 if it did not exit) and the output in *out. */
static int run_logged(const char *dir, const char *cmd, const char *log, char **out)
{
	cleanup_free char *line = xasprintf("cd '%s' && %s > %s 2>&1", dir, cmd, log);
	cleanup_free char *path = xasprintf("%s/%s", dir, log);
	int st = system(line);

	*out = NULL;
	if (kiln_read_file(path, 1 << 20, out, NULL, NULL) < 0)
		*out = xstrdup("");
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int table_dump(const char *dir, const char *file, const uint8_t *p, size_t len)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, file);

	return kiln_write_file_atomic(path, p, len, 0644, NULL);
}

/* iasl decodes every table (a wrong length, checksum or field is reported as
 * an error or warning), disassembles the DSDT's AML, and compiles the result
 * back without errors. */
static int test_iasl(void)
{
	cleanup_gmem struct guest_mem m = {0};
	cleanup_tmpdir char *dir = NULL;
	cleanup_free char *out = NULL;
	cleanup_free char *dsl = NULL;
	struct acpi_layout l = {.nr_vcpus = 4,
				.virtio = slots,
				.nr_virtio = MACHINE_VIRTIO_MAX,
				.serial = true,
				.i8042 = true};
	struct tables t;
	int st;

	if (access(IASL, X_OK) != 0) {
		tap_diag("skip: " IASL " is missing (install acpica-tools)");
		return TAP_SKIP;
	}
	TAP_CHECK(gmem_init(&m, MEM_SIZE, NULL) == 0);
	TAP_CHECK(tables_build(&m, &l, &t) == 0);
	dir = test_tmpdir_make("acpi");
	TAP_CHECK(dir != NULL);
	TAP_CHECK(table_dump(dir, "xsdt.dat", t.xsdt, le32(t.xsdt + 4)) == 0);
	TAP_CHECK(table_dump(dir, "facp.dat", t.fadt, le32(t.fadt + 4)) == 0);
	TAP_CHECK(table_dump(dir, "apic.dat", t.madt, le32(t.madt + 4)) == 0);
	TAP_CHECK(table_dump(dir, "dsdt.dat", t.dsdt, le32(t.dsdt + 4)) == 0);

	/* Not the RSDP: iasl -d takes only tables with the common header. */
	static const char *const data_tables[] = {"xsdt", "facp", "apic"};
	for (size_t i = 0; i < ARRAY_SIZE(data_tables); i++) {
		cleanup_free char *cmd = xasprintf(IASL " -d %s.dat", data_tables[i]);
		cleanup_free char *dis = xasprintf("%s/%s.dsl", dir, data_tables[i]);
		cleanup_free char *text = NULL;

		free(out);
		st = run_logged(dir, cmd, "iasl.log", &out);
		if (st != 0 || strstr(out, "rror") != NULL || strstr(out, "arning") != NULL) {
			tap_diag("iasl -d %s.dat exited %d:\n%s", data_tables[i], st, out);
			return TAP_FAIL;
		}
		TAP_CHECK(kiln_read_file(dis, 1 << 20, &text, NULL, NULL) == 0);
		if (strstr(text, "rror") != NULL || strstr(text, "arning") != NULL ||
		    strstr(text, "Invalid") != NULL) {
			tap_diag("iasl's %s.dsl reports a problem:\n%s", data_tables[i], text);
			return TAP_FAIL;
		}
		/* ACPICA's own decoding of the boot flags Linux reads. */
		if (strcmp(data_tables[i], "facp") == 0 &&
		    (strstr(text, "CMOS RTC Not Present (V5) : 1") == NULL ||
		     strstr(text, "8042 Present on ports 60/64 (V2) : 1") == NULL)) {
			tap_diag("iasl's facp.dsl does not decode the boot flags as built:\n%s",
				 text);
			return TAP_FAIL;
		}
	}

	free(out);
	st = run_logged(dir, IASL " -d dsdt.dat", "iasl.log", &out);
	if (st != 0 || strstr(out, "rror") != NULL) {
		tap_diag("iasl -d dsdt.dat exited %d:\n%s", st, out);
		return TAP_FAIL;
	}
	{
		cleanup_free char *path = xasprintf("%s/dsdt.dsl", dir);

		TAP_CHECK(kiln_read_file(path, 1 << 20, &dsl, NULL, NULL) == 0);
	}
	TAP_CHECK(strstr(dsl, "Name (_HID, \"LNRO0005\")") != NULL);
	TAP_CHECK(strstr(dsl, "Name (_HID, EisaId (\"PNP0501\")") != NULL);
	TAP_CHECK(strstr(dsl, "Name (_HID, EisaId (\"PNP0303\")") != NULL);
	TAP_CHECK(strstr(dsl, "Device (VR15)") != NULL);
	TAP_CHECK(strstr(dsl, "Memory32Fixed (ReadWrite,") != NULL);
	TAP_CHECK(strstr(dsl, "0xD000F000") != NULL);
	TAP_CHECK(strstr(dsl, "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive") != NULL);
	TAP_CHECK(strstr(dsl, "IRQNoFlags ()") != NULL);

	/* Back to AML: iasl prints "Compilation successful. 0 Errors". */
	free(out);
	st = run_logged(dir, IASL " -p recompiled dsdt.dsl", "iasl.log", &out);
	if (st != 0 || strstr(out, " 0 Errors") == NULL) {
		tap_diag("iasl dsdt.dsl exited %d:\n%s", st, out);
		return TAP_FAIL;
	}

	/* ACPICA's interpreter (the one Linux runs) loads the namespace and
	 * evaluates the last device's objects. */
	if (access(ACPIEXEC, X_OK) != 0)
		return TAP_PASS;
	free(out);
	st = run_logged(
	    dir, ACPIEXEC " -b 'evaluate \\_SB.VR15._HID; evaluate \\_SB.VR15._CRS' dsdt.dat",
	    "acpiexec.log", &out);
	if (st != 0 || strstr(out, "[String] Length 08 = \"LNRO0005\"") == NULL ||
	    strstr(out, "86 09 00 01 00 00 01 D0 00 10 00 00 89 06 00 03") == NULL ||
	    strstr(out, "AE_") != NULL || strstr(out, "rror") != NULL) {
		tap_diag("acpiexec exited %d:\n%s", st, out);
		return TAP_FAIL;
	}
	return TAP_PASS;
}

int main(void)
{
	static const struct tap_test tests[] = {
	    TAP_TEST(test_aml_pkglength),
	    TAP_TEST(test_aml_pkglength_in_scope),
	    TAP_TEST(test_aml_namestring),
	    TAP_TEST(test_aml_data),
	    TAP_TEST(test_aml_eisaid),
	    TAP_TEST(test_aml_resources),
	    TAP_TEST(test_aml_unbalanced),
	    TAP_TEST(test_rsdp),
	    TAP_TEST(test_xsdt),
	    TAP_TEST(test_fadt),
	    TAP_TEST(test_madt),
	    TAP_TEST(test_dsdt_virtio),
	    TAP_TEST(test_dsdt_legacy_devices),
	    TAP_TEST(test_all_layouts),
	    TAP_TEST(test_layout_errors),
	    TAP_TEST(test_small_guest),
	    TAP_TEST(test_iasl),
	};

	slots_init();
	return tap_run(tests, ARRAY_SIZE(tests));
}
