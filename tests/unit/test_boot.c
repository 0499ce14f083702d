/* vmm/boot/linux.c: a synthetic bzImage and a minimal ELF vmlinux with a PVH
 * note are loaded into plain guest memory (no KVM), then the zero page,
 * hvm_start_info, e820 map, page tables and GDT are read back by offset, as
 * the kernel reads them (Documentation/arch/x86/boot.rst, zero-page.rst,
 * xen/include/public/arch-x86/hvm/start_info.h). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/io.h"
#include "common/util.h"
#include "tests/unit/tap.h"
#include "vmm/boot/linux.h"
#include "vmm/mem.h"

#define MIB	  (1ULL << 20)
#define GIB	  (1ULL << 30)
#define MEM_SMALL (128 * MIB)
/* Above the 32-bit gap too: 3 GiB low, 512 MiB from 4 GiB. */
#define MEM_LARGE (3 * GIB + 512 * MIB)

#define CMDLINE "console=ttyS0 root=/dev/vda rw quiet"
#define RSDP	0xe0000ULL

/* Setup header and zero page offsets, written out from boot.rst and
 * zero-page.rst rather than taken from linux.c, so a wrong one there shows. */
#define ZP_ACPI_RSDP_ADDR     0x070
#define ZP_E820_ENTRIES	      0x1e8
#define HDR_SETUP_SECTS	      0x1f1
#define HDR_BOOT_FLAG	      0x1fe
#define HDR_JUMP	      0x200
#define HDR_HEADER	      0x202
#define HDR_VERSION	      0x206
#define HDR_TYPE_OF_LOADER    0x210
#define HDR_LOADFLAGS	      0x211
#define HDR_RAMDISK_IMAGE     0x218
#define HDR_RAMDISK_SIZE      0x21c
#define HDR_CMD_LINE_PTR      0x228
#define HDR_INITRD_ADDR_MAX   0x22c
#define HDR_KERNEL_ALIGNMENT  0x230
#define HDR_RELOCATABLE	      0x234
#define HDR_XLOADFLAGS	      0x236
#define HDR_CMDLINE_SIZE      0x238
#define HDR_PREF_ADDRESS      0x258
#define HDR_INIT_SIZE	      0x260
#define ZP_E820_TABLE	      0x2d0
#define HDRS_MAGIC	      0x53726448
#define XLF_KERNEL_64	      0x1
#define XLF_CAN_BE_LOADED_4G  0x2
#define BZ_JUMP		      0x6a /* header ends at 0x202 + 0x6a = 0x26c */
#define BZ_HEADER_END	      (HDR_HEADER + BZ_JUMP)
#define BZ_KERNEL_ALIGN	      0x200000U
#define STARTUP_64_OFFSET     0x200
#define E820_RAM	      1
#define E820_RESERVED	      2
#define E820_ENTRY_SIZE	      20
#define PVH_MEMMAP_ENTRY_SIZE 24

/* struct hvm_start_info (version 1) and struct hvm_modlist_entry. */
#define SI_MAGIC	  0x00
#define SI_VERSION	  0x04
#define SI_NR_MODULES	  0x0c
#define SI_MODLIST_PADDR  0x10
#define SI_CMDLINE_PADDR  0x18
#define SI_RSDP_PADDR	  0x20
#define SI_MEMMAP_PADDR	  0x28
#define SI_MEMMAP_ENTRIES 0x30
#define HVM_START_MAGIC	  0x336ec578
#define MOD_PADDR	  0x00
#define MOD_SIZE	  0x08

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define ELF_NOTE_OFF		 0x200
#define ELF_SEG_OFF		 0x1000

/* Only the first MiB of an initrd holds a pattern; the rest is a hole. */
#define INITRD_PATTERN_MAX MIB

/* --- Scratch files ------------------------------------------------------ */

static char tmpdir[] = "/tmp/kiln-test-boot-XXXXXX";

static void tmpdir_remove(void)
{
	rmdir(tmpdir);
}

/* A path in the scratch directory (owned), made on first use. */
static char *scratch(const char *name)
{
	static bool made;

	if (!made) {
		if (mkdtemp(tmpdir) == NULL) {
			tap_diag("mkdtemp: %s", strerror(errno));
			abort();
		}
		atexit(tmpdir_remove);
		made = true;
	}
	return xasprintf("%s/%s", tmpdir, name);
}

/* Writes buf to a new scratch file, then extends it with a hole to size
 * bytes when that is longer; returns the path (owned). */
static char *file_make(const char *name, const void *buf, size_t len, uint64_t size)
{
	char *path = scratch(name);
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || kiln_write_all(fd, buf, len) < 0 ||
	    (size > len && ftruncate(fd, (off_t)size) < 0)) {
		tap_diag("cannot write %s: %s", path, strerror(errno));
		abort();
	}
	return path;
}

static void file_remove(char **path)
{
	if (*path != NULL)
		unlink(*path);
	free(*path);
	*path = NULL;
}

static uint8_t kernel_byte(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 9) + 1);
}

static uint8_t initrd_byte(size_t i)
{
	return (uint8_t)(i * 13 + (i >> 11) + 0x40);
}

static char *initrd_write(uint64_t size)
{
	size_t len = size < INITRD_PATTERN_MAX ? (size_t)size : INITRD_PATTERN_MAX;
	cleanup_free uint8_t *buf = xmalloc(len);

	for (size_t i = 0; i < len; i++)
		buf[i] = initrd_byte(i);
	return file_make("initrd.img", buf, len, size);
}

/* --- Little-endian access ----------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* An n-byte little-endian value at gpa; all ones when it is not RAM. */
static uint64_t guest_le(const struct guest_mem *m, uint64_t gpa, unsigned int n)
{
	const uint8_t *p = gmem_ptr(m, gpa, n);
	uint64_t v = 0;

	if (p == NULL)
		return UINT64_MAX;
	for (unsigned int i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

#define G8(m, gpa)  guest_le((m), (gpa), 1)
#define G16(m, gpa) guest_le((m), (gpa), 2)
#define G32(m, gpa) guest_le((m), (gpa), 4)
#define G64(m, gpa) guest_le((m), (gpa), 8)

/* --- Synthetic kernels -------------------------------------------------- */

struct bz {
	uint8_t setup_sects; /* 0 means 4 */
	uint16_t version;
	uint16_t xloadflags;
	uint32_t initrd_max;
	uint32_t cmdline_size;
	uint64_t pref;
	uint32_t init_size;
	size_t pm_len; /* protected-mode part */
	size_t cut;    /* non-zero: the file ends after this many bytes */
};

static const struct bz bz_std = {
    .setup_sects = 5,
    .version = 0x020f,
    .xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_4G,
    .initrd_max = 0x7fffffff,
    .cmdline_size = 0x7ff,
    .pref = 0x1000000,
    .init_size = 0x400000,
    .pm_len = 0x3000,
};

static size_t bz_setup_len(const struct bz *o)
{
	return ((size_t)(o->setup_sects ? o->setup_sects : 4) + 1) * 512;
}

static char *bz_write(const struct bz *o)
{
	size_t setup = bz_setup_len(o), len = setup + o->pm_len;
	cleanup_free uint8_t *img = xzalloc(len);

	/* Setup code after the header: it must not reach the zero page. */
	memset(img + BZ_HEADER_END, 0xcc, setup - BZ_HEADER_END);
	img[HDR_SETUP_SECTS] = o->setup_sects;
	put16(img + HDR_BOOT_FLAG, 0xaa55);
	img[HDR_JUMP] = 0xeb;
	img[HDR_JUMP + 1] = BZ_JUMP;
	put32(img + HDR_HEADER, HDRS_MAGIC);
	put16(img + HDR_VERSION, o->version);
	put32(img + HDR_INITRD_ADDR_MAX, o->initrd_max);
	put32(img + HDR_KERNEL_ALIGNMENT, BZ_KERNEL_ALIGN);
	img[HDR_RELOCATABLE] = 1;
	put16(img + HDR_XLOADFLAGS, o->xloadflags);
	put32(img + HDR_CMDLINE_SIZE, o->cmdline_size);
	put64(img + HDR_PREF_ADDRESS, o->pref);
	put32(img + HDR_INIT_SIZE, o->init_size);
	for (size_t i = 0; i < o->pm_len; i++)
		img[setup + i] = kernel_byte(i);
	return file_make("bzImage", img, o->cut ? o->cut : len, 0);
}

struct elf {
	uint16_t phentsize;
	uint16_t machine;
	bool xen_note;	    /* the PVH entry note */
	bool gnu_note;	    /* a build-id note before it */
	uint32_t desc_size; /* of the PVH note: 4 or 8 */
	uint64_t entry;
	uint64_t paddr, filesz, memsz;
	size_t cut; /* non-zero: the file ends after this many bytes */
};

static const struct elf elf_std = {
    .phentsize = sizeof(Elf64_Phdr),
    .machine = EM_X86_64,
    .xen_note = true,
    .desc_size = 8,
    .entry = 0x1000200,
    .paddr = 0x1000000,
    .filesz = 0x3000,
    .memsz = 0x5000,
};

static size_t note_add(uint8_t *p, uint32_t type, const char *name, const uint8_t *desc,
		       uint32_t desc_size)
{
	Elf64_Nhdr nh = {.n_namesz = 4, .n_descsz = desc_size, .n_type = type};

	memcpy(p, &nh, sizeof(nh));
	memcpy(p + sizeof(nh), name, 4);
	memcpy(p + sizeof(nh) + 4, desc, desc_size);
	return sizeof(nh) + 4 + ((desc_size + 3) & ~3U);
}

/* Ehdr, a PT_LOAD and a PT_NOTE, the notes at ELF_NOTE_OFF and the
 * segment's file part at ELF_SEG_OFF. */
static char *elf_write(const struct elf *o)
{
	size_t len = ELF_SEG_OFF + o->filesz, notes = 0;
	cleanup_free uint8_t *img = xzalloc(len);
	Elf64_Ehdr eh = {
	    .e_type = ET_EXEC,
	    .e_machine = o->machine,
	    .e_version = EV_CURRENT,
	    .e_entry = 0xffffffff81000000ULL,
	    .e_phoff = sizeof(Elf64_Ehdr),
	    .e_ehsize = sizeof(Elf64_Ehdr),
	    .e_phentsize = o->phentsize,
	    .e_phnum = 2,
	};
	Elf64_Phdr ph[2];
	uint8_t desc[20];

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	memcpy(img, &eh, sizeof(eh));

	if (o->gnu_note) {
		memset(desc, 0x5c, sizeof(desc));
		notes += note_add(img + ELF_NOTE_OFF, NT_GNU_BUILD_ID, "GNU", desc, 20);
	}
	if (o->xen_note) {
		put64(desc, o->entry);
		notes += note_add(img + ELF_NOTE_OFF + notes, XEN_ELFNOTE_PHYS32_ENTRY, "Xen", desc,
				  o->desc_size);
	}
	ph[0] = (Elf64_Phdr){
	    .p_type = PT_LOAD,
	    .p_flags = PF_R | PF_W | PF_X,
	    .p_offset = ELF_SEG_OFF,
	    .p_vaddr = 0xffffffff80000000ULL + o->paddr,
	    .p_paddr = o->paddr,
	    .p_filesz = o->filesz,
	    .p_memsz = o->memsz,
	    .p_align = 0x200000,
	};
	ph[1] = (Elf64_Phdr){
	    .p_type = PT_NOTE,
	    .p_flags = PF_R,
	    .p_offset = ELF_NOTE_OFF,
	    .p_filesz = notes,
	    .p_memsz = notes,
	    .p_align = 4,
	};
	memcpy(img + sizeof(eh), ph, sizeof(ph));
	for (size_t i = 0; i < o->filesz; i++)
		img[ELF_SEG_OFF + i] = kernel_byte(i);
	return file_make("vmlinux", img, o->cut ? o->cut : len, 0);
}

/* --- One load ------------------------------------------------------------ */

struct boot {
	struct guest_mem mem;
	struct boot_entry entry;
	kiln_error_t err;
	char *kernel; /* set before loading to use a path as it is */
	char *initrd; /* likewise; both removed at the end */
	int r;
};

static void boot_done(struct boot *b)
{
	gmem_release(&b->mem);
	kiln_error_free(&b->err);
	file_remove(&b->kernel);
	file_remove(&b->initrd);
}
#define cleanup_boot __attribute__((cleanup(boot_done)))

/* Maps `size` bytes of guest memory and fills with 0xaa where the loader
 * writes or zeroes (the first MiB and [fill, fill + fill_len)), so what it
 * leaves out or oversteps shows; then loads b->kernel with an initrd of
 * initrd_size bytes (none when 0, unless b->initrd is set). Returns
 * linux_load's result, or 1 when guest memory cannot be mapped. */
static int boot_run(struct boot *b, uint64_t size, uint64_t initrd_size, const char *cmdline,
		    uint64_t fill, uint64_t fill_len)
{
	uint8_t *p;

	if (gmem_init(&b->mem, size, &b->err) < 0) {
		tap_diag("%s", b->err->msg);
		return 1;
	}
	memset(gmem_ptr(&b->mem, 0, BOOT_HIMEM_START), 0xaa, BOOT_HIMEM_START);
	p = gmem_ptr(&b->mem, fill, fill_len);
	if (p != NULL)
		memset(p, 0xaa, fill_len);
	if (b->initrd == NULL && initrd_size > 0)
		b->initrd = initrd_write(initrd_size);
	b->r = linux_load(&b->mem, &(struct linux_boot){b->kernel, b->initrd, cmdline, RSDP},
			  &b->entry, &b->err);
	if (b->r < 0)
		tap_diag("linux_load: %s", b->err ? b->err->msg : "failed without an error");
	return b->r;
}

static int bz_boot(struct boot *b, uint64_t size, const struct bz *o, uint64_t initrd_size,
		   const char *cmdline)
{
	if (b->kernel == NULL)
		b->kernel = bz_write(o);
	return boot_run(b, size, initrd_size, cmdline, 0, 0);
}

static int elf_boot(struct boot *b, uint64_t size, const struct elf *o, uint64_t initrd_size)
{
	if (b->kernel == NULL)
		b->kernel = elf_write(o);
	return boot_run(b, size, initrd_size, CMDLINE, o->paddr, o->memsz + 4096);
}

/* The load failed with an error whose message holds `what` (and the kernel
 * path when `names_kernel`). */
static bool failed_with(const struct boot *b, const char *what, bool names_kernel)
{
	if (b->r >= 0 || b->err == NULL) {
		tap_diag("linux_load returned %d, want an error saying \"%s\"", b->r, what);
		return false;
	}
	if (strstr(b->err->msg, what) == NULL) {
		tap_diag("message \"%s\" does not say \"%s\"", b->err->msg, what);
		return false;
	}
	if (names_kernel && strstr(b->err->msg, b->kernel) == NULL) {
		tap_diag("message \"%s\" does not name %s", b->err->msg, b->kernel);
		return false;
	}
	return true;
}

/* [gpa, gpa + size) holds the initrd's bytes. */
static bool initrd_at(const struct guest_mem *m, uint64_t gpa, uint64_t size)
{
	size_t len = size < INITRD_PATTERN_MAX ? (size_t)size : INITRD_PATTERN_MAX;
	const uint8_t *p = gmem_ptr(m, gpa, size);

	if (p == NULL)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] != initrd_byte(i)) {
			tap_diag("initrd byte %zu at 0x%llx is 0x%02x", i,
				 (unsigned long long)(gpa + i), p[i]);
			return false;
		}
	return true;
}

/* The command line at gpa, NUL-terminated. */
static bool cmdline_at(const struct guest_mem *m, uint64_t gpa, const char *want)
{
	const char *p = gmem_ptr(m, gpa, strlen(want) + 1);

	return p != NULL && memcmp(p, want, strlen(want) + 1) == 0;
}

/* --- The memory map ----------------------------------------------------- */

struct e820 {
	uint64_t addr, size;
	uint32_t type;
};

static const struct e820 e820_small[] = {
    {0, 0x9fc00, E820_RAM},
    {0x9fc00, 0x60400, E820_RESERVED},
    {0x100000, MEM_SMALL - 0x100000, E820_RAM},
};

static const struct e820 e820_large[] = {
    {0, 0x9fc00, E820_RAM},
    {0x9fc00, 0x60400, E820_RESERVED},
    {0x100000, 0xc0000000 - 0x100000, E820_RAM},
    {0x100000000, MEM_LARGE - 0xc0000000, E820_RAM},
};

/* The n entries of `stride` bytes at gpa ({u64 addr, u64 size, u32 type},
 * then a zero u32 in PVH's 24-byte form) are want, and cover `ram` bytes. */
static bool map_is(const struct guest_mem *m, uint64_t gpa, uint64_t n, unsigned int stride,
		   const struct e820 *want, size_t nwant, uint64_t ram)
{
	uint64_t total = 0;

	if (n != nwant) {
		tap_diag("%llu entries, want %zu", (unsigned long long)n, nwant);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t at = gpa + i * stride, addr = G64(m, at), size = G64(m, at + 8);
		uint64_t type = G32(m, at + 16);

		if (addr != want[i].addr || size != want[i].size || type != want[i].type ||
		    (stride == PVH_MEMMAP_ENTRY_SIZE && G32(m, at + 20) != 0)) {
			tap_diag("entry %zu is {0x%llx, 0x%llx, %llu}, want {0x%llx, 0x%llx, %u}",
				 i, (unsigned long long)addr, (unsigned long long)size,
				 (unsigned long long)type, (unsigned long long)want[i].addr,
				 (unsigned long long)want[i].size, want[i].type);
			return false;
		}
		total += size;
	}
	if (total != ram) {
		tap_diag("entries cover 0x%llx bytes, want 0x%llx", (unsigned long long)total,
			 (unsigned long long)ram);
		return false;
	}
	return true;
}

/* --- bzImage: 64-bit boot protocol -------------------------------------- */

static int test_bz_entry(void)
{
	cleanup_boot struct boot b = {0};

	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, 0, CMDLINE) == 0);
	TAP_CHECK(b.entry.mode == BOOT_MODE_LINUX64);
	TAP_CHECK(b.entry.rip == bz_std.pref + STARTUP_64_OFFSET);
	TAP_CHECK(b.entry.arg == BOOT_ZERO_PAGE);
	return TAP_PASS;
}

static int test_bz_kernel_at_pref_address(void)
{
	cleanup_boot struct boot b = {0};
	const uint8_t *k;

	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, 0, CMDLINE) == 0);
	k = gmem_ptr(&b.mem, bz_std.pref, bz_std.pm_len);
	TAP_CHECK(k != NULL);
	for (size_t i = 0; i < bz_std.pm_len; i++)
		TAP_CHECK(k[i] == kernel_byte(i));
	return TAP_PASS;
}

/* setup_sects 0 means 4 (boot.rst: "if this field is 0, the real value is 4"). */
static int test_bz_setup_sects_zero(void)
{
	cleanup_boot struct boot b = {0};
	struct bz o = bz_std;
	const uint8_t *k;

	o.setup_sects = 0;
	TAP_CHECK(bz_boot(&b, MEM_SMALL, &o, 0, CMDLINE) == 0);
	k = gmem_ptr(&b.mem, o.pref, o.pm_len);
	TAP_CHECK(k != NULL);
	for (size_t i = 0; i < o.pm_len; i++)
		TAP_CHECK(k[i] == kernel_byte(i));
	return TAP_PASS;
}

static int test_bz_zero_page_has_setup_header(void)
{
	cleanup_boot struct boot b = {0};
	const struct guest_mem *m = &b.mem;

	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, 0, CMDLINE) == 0);
	TAP_CHECK(G8(m, BOOT_ZERO_PAGE + HDR_SETUP_SECTS) == bz_std.setup_sects);
	TAP_CHECK(G16(m, BOOT_ZERO_PAGE + HDR_BOOT_FLAG) == 0xaa55);
	TAP_CHECK(G8(m, BOOT_ZERO_PAGE + HDR_JUMP + 1) == BZ_JUMP);
	TAP_CHECK(G32(m, BOOT_ZERO_PAGE + HDR_HEADER) == HDRS_MAGIC);
	TAP_CHECK(G16(m, BOOT_ZERO_PAGE + HDR_VERSION) == bz_std.version);
	TAP_CHECK(G16(m, BOOT_ZERO_PAGE + HDR_XLOADFLAGS) == bz_std.xloadflags);
	TAP_CHECK(G32(m, BOOT_ZERO_PAGE + HDR_KERNEL_ALIGNMENT) == BZ_KERNEL_ALIGN);
	TAP_CHECK(G32(m, BOOT_ZERO_PAGE + HDR_CMDLINE_SIZE) == bz_std.cmdline_size);
	TAP_CHECK(G64(m, BOOT_ZERO_PAGE + HDR_PREF_ADDRESS) == bz_std.pref);
	TAP_CHECK(G32(m, BOOT_ZERO_PAGE + HDR_INIT_SIZE) == bz_std.init_size);
	return TAP_PASS;
}

/* Only the header is copied: the setup code after it (0xcc) is not, and the
 * rest of the page is cleared (the guest memory under it held 0xaa). */
static int test_bz_zero_page_cleared_past_header(void)
{
	cleanup_boot struct boot b = {0};

	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, 0, CMDLINE) == 0);
	for (uint64_t off = 0; off < HDR_SETUP_SECTS; off++)
		if (off < ZP_ACPI_RSDP_ADDR || off >= ZP_ACPI_RSDP_ADDR + 8)
			if (off != ZP_E820_ENTRIES)
				TAP_CHECK(G8(&b.mem, BOOT_ZERO_PAGE + off) == 0);
	for (uint64_t off = BZ_HEADER_END; off < ZP_E820_TABLE; off++)
		TAP_CHECK(G8(&b.mem, BOOT_ZERO_PAGE + off) == 0);
	return TAP_PASS;
}

static int test_bz_loader_fields(void)
{
	cleanup_boot struct boot b = {0};

	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, 0, CMDLINE) == 0);
	TAP_CHECK(G8(&b.mem, BOOT_ZERO_PAGE + HDR_TYPE_OF_LOADER) == 0xff);
	TAP_CHECK(G8(&b.mem, BOOT_ZERO_PAGE + HDR_LOADFLAGS) & 0x1);
	return TAP_PASS;
}

static int test_bz_cmdline(void)
{
	cleanup_boot struct boot b = {0};

	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, 0, CMDLINE) == 0);
	TAP_CHECK(G32(&b.mem, BOOT_ZERO_PAGE + HDR_CMD_LINE_PTR) == BOOT_CMDLINE_ADDR);
	TAP_CHECK(cmdline_at(&b.mem, BOOT_CMDLINE_ADDR, CMDLINE));
	return TAP_PASS;
}

/* cmdline_size excludes the NUL: exactly that many characters still fit. */
static int test_bz_cmdline_at_cmdline_size(void)
{
	cleanup_boot struct boot b = {0};
	struct bz o = bz_std;
	char line[17];

	o.cmdline_size = 16;
	memset(line, 'x', 16);
	line[16] = '\0';
	TAP_CHECK(bz_boot(&b, MEM_SMALL, &o, 0, line) == 0);
	TAP_CHECK(cmdline_at(&b.mem, BOOT_CMDLINE_ADDR, line));
	return TAP_PASS;
}

static int test_bz_rsdp(void)
{
	cleanup_boot struct boot b = {0};

	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, 0, CMDLINE) == 0);
	TAP_CHECK(G64(&b.mem, BOOT_ZERO_PAGE + ZP_ACPI_RSDP_ADDR) == RSDP);
	return TAP_PASS;
}

static int test_bz_no_initrd(void)
{
	cleanup_boot struct boot b = {0};

	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, 0, CMDLINE) == 0);
	TAP_CHECK(G32(&b.mem, BOOT_ZERO_PAGE + HDR_RAMDISK_IMAGE) == 0);
	TAP_CHECK(G32(&b.mem, BOOT_ZERO_PAGE + HDR_RAMDISK_SIZE) == 0);
	return TAP_PASS;
}

/* The ramdisk fields point at the initrd's bytes, placed page-aligned above
 * the kernel's init_size and below both the end of RAM and `top`. */
static bool ramdisk_ok(const struct guest_mem *m, const struct bz *o, uint64_t size, uint64_t top)
{
	uint64_t image = G32(m, BOOT_ZERO_PAGE + HDR_RAMDISK_IMAGE);
	uint64_t len = G32(m, BOOT_ZERO_PAGE + HDR_RAMDISK_SIZE);

	if (len != size || image % 4096 != 0 || image < o->pref + o->init_size ||
	    image + len > top || image + len > m->regions[0].size) {
		tap_diag("ramdisk 0x%llx bytes at 0x%llx", (unsigned long long)len,
			 (unsigned long long)image);
		return false;
	}
	return initrd_at(m, image, len);
}

static int test_bz_initrd(void)
{
	cleanup_boot struct boot b = {0};

	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, 0x12345, CMDLINE) == 0);
	TAP_CHECK(ramdisk_ok(&b.mem, &bz_std, 0x12345, MEM_SMALL));
	return TAP_PASS;
}

static int test_bz_initrd_below_initrd_addr_max(void)
{
	cleanup_boot struct boot b = {0};
	struct bz o = bz_std;

	o.initrd_max = 0x3ffffff; /* the last byte it may use: 64 MiB - 1 */
	TAP_CHECK(bz_boot(&b, MEM_SMALL, &o, 0x12345, CMDLINE) == 0);
	TAP_CHECK(ramdisk_ok(&b.mem, &o, 0x12345, 0x4000000));
	return TAP_PASS;
}

/* An initrd exactly as large as the room between the kernel's init_size and
 * initrd_addr_max fits (the boundary, inclusive). */
static int test_bz_initrd_fills_room(void)
{
	cleanup_boot struct boot b = {0};
	struct bz o = bz_std;
	uint64_t room = 0x2000000 - (o.pref + o.init_size);

	o.initrd_max = 0x1ffffff;
	TAP_CHECK(bz_boot(&b, MEM_SMALL, &o, room, CMDLINE) == 0);
	TAP_CHECK(ramdisk_ok(&b.mem, &o, room, 0x2000000));
	return TAP_PASS;
}

static int test_bz_e820(void)
{
	cleanup_boot struct boot b = {0};

	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, 0, CMDLINE) == 0);
	TAP_CHECK(map_is(&b.mem, BOOT_ZERO_PAGE + ZP_E820_TABLE,
			 G8(&b.mem, BOOT_ZERO_PAGE + ZP_E820_ENTRIES), E820_ENTRY_SIZE, e820_small,
			 ARRAY_SIZE(e820_small), MEM_SMALL));
	return TAP_PASS;
}

static int test_bz_e820_above_4g(void)
{
	cleanup_boot struct boot b = {0};
	int r = bz_boot(&b, MEM_LARGE, &bz_std, 0x12345, CMDLINE);

	if (r == 1)
		return TAP_SKIP; /* cannot map 3.5 GiB here, said why */
	TAP_CHECK(r == 0);
	TAP_CHECK(map_is(&b.mem, BOOT_ZERO_PAGE + ZP_E820_TABLE,
			 G8(&b.mem, BOOT_ZERO_PAGE + ZP_E820_ENTRIES), E820_ENTRY_SIZE, e820_large,
			 ARRAY_SIZE(e820_large), MEM_LARGE));
	TAP_CHECK(ramdisk_ok(&b.mem, &bz_std, 0x12345, (uint64_t)bz_std.initrd_max + 1));
	return TAP_PASS;
}

static int test_bz_page_tables(void)
{
	cleanup_boot struct boot b = {0};
	const struct guest_mem *m = &b.mem;

	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, 0, CMDLINE) == 0);
	TAP_CHECK(G64(m, BOOT_PML4_ADDR) == (BOOT_PDPT_ADDR | 3));
	TAP_CHECK(G64(m, BOOT_PDPT_ADDR) == (BOOT_PD_ADDR | 3));
	for (uint64_t i = 1; i < 512; i++) {
		TAP_CHECK(G64(m, BOOT_PML4_ADDR + i * 8) == 0);
		TAP_CHECK(G64(m, BOOT_PDPT_ADDR + i * 8) == 0);
	}
	for (uint64_t i = 0; i < 512; i++)
		TAP_CHECK(G64(m, BOOT_PD_ADDR + i * 8) == ((i << 21) | 0x83));
	return TAP_PASS;
}

/* Descriptor bits (SDM vol. 3 §3.4.5): 43 code, 44 S, 47 P, 53 L, 54 D/B. */
#define SEG_CODE (1ULL << 43)
#define SEG_S	 (1ULL << 44)
#define SEG_P	 (1ULL << 47)
#define SEG_L	 (1ULL << 53)
#define SEG_DB	 (1ULL << 54)

static int test_bz_gdt(void)
{
	cleanup_boot struct boot b = {0};
	uint64_t cs, ds;

	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, 0, CMDLINE) == 0);
	cs = G64(&b.mem, BOOT_GDT_ADDR + 0x10);
	ds = G64(&b.mem, BOOT_GDT_ADDR + 0x18);
	TAP_CHECK(G64(&b.mem, BOOT_GDT_ADDR) == 0);
	/* the TSS descriptor TR refers to is intact (the IDT lies after it) */
	TAP_CHECK(G64(&b.mem, BOOT_GDT_ADDR + 0x20) == 0x00808b000000ffffULL);
	TAP_CHECK((cs & (SEG_P | SEG_S | SEG_CODE | SEG_L | SEG_DB)) ==
		  (SEG_P | SEG_S | SEG_CODE | SEG_L));
	TAP_CHECK((ds & (SEG_P | SEG_S | SEG_CODE)) == (SEG_P | SEG_S));
	return TAP_PASS;
}

/* --- bzImage errors ------------------------------------------------------ */

static int test_bz_err_not_a_kernel(void)
{
	cleanup_boot struct boot b = {0};
	cleanup_free uint8_t *junk = xmalloc(4096);

	memset(junk, 'k', 4096);
	b.kernel = file_make("junk", junk, 4096, 0);
	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, 0, CMDLINE) < 0);
	TAP_CHECK(failed_with(&b, "neither a bzImage nor an ELF vmlinux", true));
	return TAP_PASS;
}

static int test_bz_err_old_protocol(void)
{
	cleanup_boot struct boot b = {0};
	struct bz o = bz_std;

	o.version = 0x020b;
	TAP_CHECK(bz_boot(&b, MEM_SMALL, &o, 0, CMDLINE) < 0);
	TAP_CHECK(failed_with(&b, "boot protocol 2.11", true));
	return TAP_PASS;
}

static int test_bz_err_no_64bit_entry(void)
{
	cleanup_boot struct boot b = {0};
	struct bz o = bz_std;

	o.xloadflags = XLF_CAN_BE_LOADED_4G;
	TAP_CHECK(bz_boot(&b, MEM_SMALL, &o, 0, CMDLINE) < 0);
	TAP_CHECK(failed_with(&b, "XLF_KERNEL_64", true));
	return TAP_PASS;
}

/* The header is whole but the file ends inside the setup code. */
static int test_bz_err_truncated(void)
{
	cleanup_boot struct boot b = {0};
	struct bz o = bz_std;

	o.cut = 1024;
	TAP_CHECK(bz_boot(&b, MEM_SMALL, &o, 0, CMDLINE) < 0);
	TAP_CHECK(failed_with(&b, "is truncated", true));
	return TAP_PASS;
}

static int test_bz_err_too_short(void)
{
	cleanup_boot struct boot b = {0};
	struct bz o = bz_std;

	o.cut = 0x300;
	TAP_CHECK(bz_boot(&b, MEM_SMALL, &o, 0, CMDLINE) < 0);
	TAP_CHECK(failed_with(&b, "too short", true));
	return TAP_PASS;
}

static int test_bz_err_memory_too_small(void)
{
	cleanup_boot struct boot b = {0};
	struct bz o = bz_std;

	o.init_size = 128 << 20; /* from 16 MiB: needs 144 MiB */
	TAP_CHECK(bz_boot(&b, MEM_SMALL, &o, 0, CMDLINE) < 0);
	TAP_CHECK(failed_with(&b, "needs at least 144 MiB", true));
	return TAP_PASS;
}

static int test_bz_err_cmdline_too_long(void)
{
	cleanup_boot struct boot b = {0};
	struct bz o = bz_std;
	char line[18];

	o.cmdline_size = 16;
	memset(line, 'x', 17);
	line[17] = '\0';
	TAP_CHECK(bz_boot(&b, MEM_SMALL, &o, 0, line) < 0);
	TAP_CHECK(failed_with(&b, "command line is 17 bytes", false));
	TAP_CHECK(strstr(b.err->msg, "takes 16") != NULL);
	return TAP_PASS;
}

/* One byte more than test_bz_initrd_fills_room: it would have to start below
 * the end of the kernel's init_size. */
static int test_bz_err_initrd_too_big(void)
{
	cleanup_boot struct boot b = {0};
	struct bz o = bz_std;
	uint64_t room = 0x2000000 - (o.pref + o.init_size);

	o.initrd_max = 0x1ffffff;
	TAP_CHECK(bz_boot(&b, MEM_SMALL, &o, room + 1, CMDLINE) < 0);
	TAP_CHECK(failed_with(&b, "does not fit", false));
	TAP_CHECK(strstr(b.err->msg, b.initrd) != NULL);
	return TAP_PASS;
}

static int test_bz_err_initrd_larger_than_ram(void)
{
	cleanup_boot struct boot b = {0};

	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, MEM_SMALL + MIB, CMDLINE) < 0);
	TAP_CHECK(failed_with(&b, "does not fit", false));
	TAP_CHECK(strstr(b.err->msg, b.initrd) != NULL);
	return TAP_PASS;
}

static int test_err_missing_kernel(void)
{
	cleanup_boot struct boot b = {0};

	b.kernel = scratch("no-such-kernel");
	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, 0, CMDLINE) < 0);
	TAP_CHECK(failed_with(&b, "cannot open kernel", true));
	TAP_CHECK(b.err->status == ENOENT);
	return TAP_PASS;
}

static int test_err_missing_initrd(void)
{
	cleanup_boot struct boot b = {0};

	b.initrd = scratch("no-such-initrd");
	TAP_CHECK(bz_boot(&b, MEM_SMALL, &bz_std, 0, CMDLINE) < 0);
	TAP_CHECK(failed_with(&b, "cannot open initrd", false));
	TAP_CHECK(strstr(b.err->msg, b.initrd) != NULL);
	TAP_CHECK(b.err->status == ENOENT);
	return TAP_PASS;
}

/* --- ELF vmlinux: PVH ---------------------------------------------------- */

static int test_pvh_entry(void)
{
	cleanup_boot struct boot b = {0};

	TAP_CHECK(elf_boot(&b, MEM_SMALL, &elf_std, 0) == 0);
	TAP_CHECK(b.entry.mode == BOOT_MODE_PVH32);
	TAP_CHECK(b.entry.rip == elf_std.entry);
	TAP_CHECK(b.entry.arg == BOOT_START_INFO);
	return TAP_PASS;
}

/* The entry note may hold a 32-bit address, and follow other notes. */
static int test_pvh_entry_4_byte_note_after_another(void)
{
	cleanup_boot struct boot b = {0};
	struct elf o = elf_std;

	o.desc_size = 4;
	o.gnu_note = true;
	o.entry = 0x1000440;
	TAP_CHECK(elf_boot(&b, MEM_SMALL, &o, 0) == 0);
	TAP_CHECK(b.entry.rip == 0x1000440);
	return TAP_PASS;
}

static int test_pvh_segment_loaded(void)
{
	cleanup_boot struct boot b = {0};
	const uint8_t *k;

	TAP_CHECK(elf_boot(&b, MEM_SMALL, &elf_std, 0) == 0);
	k = gmem_ptr(&b.mem, elf_std.paddr, elf_std.filesz);
	TAP_CHECK(k != NULL);
	for (size_t i = 0; i < elf_std.filesz; i++)
		TAP_CHECK(k[i] == kernel_byte(i));
	return TAP_PASS;
}

/* p_memsz beyond p_filesz is zeroed (the memory held 0xaa), and no further. */
static int test_pvh_bss_zeroed(void)
{
	cleanup_boot struct boot b = {0};
	const uint8_t *bss;

	TAP_CHECK(elf_boot(&b, MEM_SMALL, &elf_std, 0) == 0);
	bss = gmem_ptr(&b.mem, elf_std.paddr + elf_std.filesz, elf_std.memsz - elf_std.filesz);
	TAP_CHECK(bss != NULL);
	for (size_t i = 0; i < elf_std.memsz - elf_std.filesz; i++)
		TAP_CHECK(bss[i] == 0);
	TAP_CHECK(G8(&b.mem, elf_std.paddr + elf_std.memsz) == 0xaa);
	return TAP_PASS;
}

static int test_pvh_start_info(void)
{
	cleanup_boot struct boot b = {0};
	const struct guest_mem *m = &b.mem;

	TAP_CHECK(elf_boot(&b, MEM_SMALL, &elf_std, 0) == 0);
	TAP_CHECK(G32(m, BOOT_START_INFO + SI_MAGIC) == HVM_START_MAGIC);
	TAP_CHECK(G32(m, BOOT_START_INFO + SI_VERSION) == 1);
	TAP_CHECK(G64(m, BOOT_START_INFO + SI_RSDP_PADDR) == RSDP);
	return TAP_PASS;
}

static int test_pvh_cmdline(void)
{
	cleanup_boot struct boot b = {0};
	uint64_t at;

	TAP_CHECK(elf_boot(&b, MEM_SMALL, &elf_std, 0) == 0);
	at = G64(&b.mem, BOOT_START_INFO + SI_CMDLINE_PADDR);
	TAP_CHECK(at == BOOT_CMDLINE_ADDR);
	TAP_CHECK(cmdline_at(&b.mem, at, CMDLINE));
	return TAP_PASS;
}

static int test_pvh_memmap(void)
{
	cleanup_boot struct boot b = {0};
	const struct guest_mem *m = &b.mem;

	TAP_CHECK(elf_boot(&b, MEM_SMALL, &elf_std, 0) == 0);
	TAP_CHECK(map_is(m, G64(m, BOOT_START_INFO + SI_MEMMAP_PADDR),
			 G32(m, BOOT_START_INFO + SI_MEMMAP_ENTRIES), PVH_MEMMAP_ENTRY_SIZE,
			 e820_small, ARRAY_SIZE(e820_small), MEM_SMALL));
	return TAP_PASS;
}

static int test_pvh_memmap_above_4g(void)
{
	cleanup_boot struct boot b = {0};
	const struct guest_mem *m = &b.mem;
	int r = elf_boot(&b, MEM_LARGE, &elf_std, 0);

	if (r == 1)
		return TAP_SKIP; /* cannot map 3.5 GiB here, said why */
	TAP_CHECK(r == 0);
	TAP_CHECK(map_is(m, G64(m, BOOT_START_INFO + SI_MEMMAP_PADDR),
			 G32(m, BOOT_START_INFO + SI_MEMMAP_ENTRIES), PVH_MEMMAP_ENTRY_SIZE,
			 e820_large, ARRAY_SIZE(e820_large), MEM_LARGE));
	return TAP_PASS;
}

static int test_pvh_no_initrd(void)
{
	cleanup_boot struct boot b = {0};

	TAP_CHECK(elf_boot(&b, MEM_SMALL, &elf_std, 0) == 0);
	TAP_CHECK(G32(&b.mem, BOOT_START_INFO + SI_NR_MODULES) == 0);
	return TAP_PASS;
}

static int test_pvh_initrd_module(void)
{
	cleanup_boot struct boot b = {0};
	const struct guest_mem *m = &b.mem;
	uint64_t mod, paddr, size;

	TAP_CHECK(elf_boot(&b, MEM_SMALL, &elf_std, 0x12345) == 0);
	TAP_CHECK(G32(m, BOOT_START_INFO + SI_NR_MODULES) == 1);
	mod = G64(m, BOOT_START_INFO + SI_MODLIST_PADDR);
	paddr = G64(m, mod + MOD_PADDR);
	size = G64(m, mod + MOD_SIZE);
	TAP_CHECK(size == 0x12345);
	TAP_CHECK(paddr % 4096 == 0);
	TAP_CHECK(paddr >= elf_std.paddr + elf_std.memsz);
	TAP_CHECK(paddr + size <= MEM_SMALL);
	TAP_CHECK(initrd_at(m, paddr, size));
	return TAP_PASS;
}

/* The initrd goes above the kernel's segments, never over them: with the
 * segment near the top of RAM, 16 MiB no longer fits. */
static int test_pvh_err_initrd_over_kernel(void)
{
	cleanup_boot struct boot b = {0};
	struct elf o = elf_std;

	o.paddr = MEM_SMALL - 16 * MIB;
	o.entry = o.paddr + 0x200;
	TAP_CHECK(elf_boot(&b, MEM_SMALL, &o, 16 * MIB) < 0);
	TAP_CHECK(failed_with(&b, "does not fit", false));
	TAP_CHECK(strstr(b.err->msg, b.initrd) != NULL);
	return TAP_PASS;
}

/* 0x08 is the flat 32-bit code segment PVH enters with. */
static int test_pvh_gdt(void)
{
	cleanup_boot struct boot b = {0};
	uint64_t cs;

	TAP_CHECK(elf_boot(&b, MEM_SMALL, &elf_std, 0) == 0);
	cs = G64(&b.mem, BOOT_GDT_ADDR + 0x08);
	TAP_CHECK((cs & (SEG_P | SEG_S | SEG_CODE | SEG_L | SEG_DB)) ==
		  (SEG_P | SEG_S | SEG_CODE | SEG_DB));
	return TAP_PASS;
}

/* --- ELF errors ---------------------------------------------------------- */

static int test_pvh_err_no_note(void)
{
	cleanup_boot struct boot b = {0};
	struct elf o = elf_std;

	o.xen_note = false;
	o.gnu_note = true;
	TAP_CHECK(elf_boot(&b, MEM_SMALL, &o, 0) < 0);
	TAP_CHECK(failed_with(&b, "no PVH entry note", true));
	return TAP_PASS;
}

/* The segment starts in RAM but its memsz runs past the end. */
static int test_pvh_err_segment_outside_memory(void)
{
	cleanup_boot struct boot b = {0};
	struct elf o = elf_std;

	o.paddr = MEM_SMALL - 0x4000;
	TAP_CHECK(elf_boot(&b, MEM_SMALL, &o, 0) < 0);
	TAP_CHECK(failed_with(&b, "does not fit", true));
	return TAP_PASS;
}

static int test_pvh_err_bad_phentsize(void)
{
	cleanup_boot struct boot b = {0};
	struct elf o = elf_std;

	o.phentsize = sizeof(Elf64_Phdr) - 8;
	TAP_CHECK(elf_boot(&b, MEM_SMALL, &o, 0) < 0);
	TAP_CHECK(failed_with(&b, "bad ELF program headers", true));
	return TAP_PASS;
}

static int test_pvh_err_not_x86_64(void)
{
	cleanup_boot struct boot b = {0};
	struct elf o = elf_std;

	o.machine = EM_AARCH64;
	TAP_CHECK(elf_boot(&b, MEM_SMALL, &o, 0) < 0);
	TAP_CHECK(failed_with(&b, "not an x86_64 ELF kernel", true));
	return TAP_PASS;
}

/* The file ends inside the PT_LOAD's file part. */
static int test_pvh_err_truncated(void)
{
	cleanup_boot struct boot b = {0};
	struct elf o = elf_std;

	o.cut = ELF_SEG_OFF + 0x100;
	TAP_CHECK(elf_boot(&b, MEM_SMALL, &o, 0) < 0);
	TAP_CHECK(failed_with(&b, "is truncated", true));
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_bz_entry), TAP_TEST(test_bz_kernel_at_pref_address),
	 TAP_TEST(test_bz_setup_sects_zero), TAP_TEST(test_bz_zero_page_has_setup_header),
	 TAP_TEST(test_bz_zero_page_cleared_past_header), TAP_TEST(test_bz_loader_fields),
	 TAP_TEST(test_bz_cmdline), TAP_TEST(test_bz_cmdline_at_cmdline_size),
	 TAP_TEST(test_bz_rsdp), TAP_TEST(test_bz_no_initrd), TAP_TEST(test_bz_initrd),
	 TAP_TEST(test_bz_initrd_below_initrd_addr_max), TAP_TEST(test_bz_initrd_fills_room),
	 TAP_TEST(test_bz_e820), TAP_TEST(test_bz_e820_above_4g), TAP_TEST(test_bz_page_tables),
	 TAP_TEST(test_bz_gdt), TAP_TEST(test_bz_err_not_a_kernel),
	 TAP_TEST(test_bz_err_old_protocol), TAP_TEST(test_bz_err_no_64bit_entry),
	 TAP_TEST(test_bz_err_truncated), TAP_TEST(test_bz_err_too_short),
	 TAP_TEST(test_bz_err_memory_too_small), TAP_TEST(test_bz_err_cmdline_too_long),
	 TAP_TEST(test_bz_err_initrd_too_big), TAP_TEST(test_bz_err_initrd_larger_than_ram),
	 TAP_TEST(test_err_missing_kernel), TAP_TEST(test_err_missing_initrd),
	 TAP_TEST(test_pvh_entry), TAP_TEST(test_pvh_entry_4_byte_note_after_another),
	 TAP_TEST(test_pvh_segment_loaded), TAP_TEST(test_pvh_bss_zeroed),
	 TAP_TEST(test_pvh_start_info), TAP_TEST(test_pvh_cmdline), TAP_TEST(test_pvh_memmap),
	 TAP_TEST(test_pvh_memmap_above_4g), TAP_TEST(test_pvh_no_initrd),
	 TAP_TEST(test_pvh_initrd_module), TAP_TEST(test_pvh_err_initrd_over_kernel),
	 TAP_TEST(test_pvh_gdt), TAP_TEST(test_pvh_err_no_note),
	 TAP_TEST(test_pvh_err_segment_outside_memory), TAP_TEST(test_pvh_err_bad_phentsize),
	 TAP_TEST(test_pvh_err_not_x86_64), TAP_TEST(test_pvh_err_truncated))
