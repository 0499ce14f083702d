#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "common/util.h"
#include "vmm/boot/linux.h"

/* boot_params / setup header offsets (Documentation/arch/x86/boot.rst,
 * "THE REAL-MODE KERNEL HEADER" and zero-page.rst). */
#define BP_ACPI_RSDP_ADDR   0x070
#define BP_E820_ENTRIES	    0x1e8
#define BP_SETUP_SECTS	    0x1f1
#define BP_JUMP		    0x200
#define BP_HEADER	    0x202
#define BP_VERSION	    0x206
#define BP_TYPE_OF_LOADER   0x210
#define BP_LOADFLAGS	    0x211
#define BP_RAMDISK_IMAGE    0x218
#define BP_RAMDISK_SIZE	    0x21c
#define BP_CMD_LINE_PTR	    0x228
#define BP_INITRD_ADDR_MAX  0x22c
#define BP_KERNEL_ALIGNMENT 0x230
#define BP_RELOCATABLE	    0x234
#define BP_XLOADFLAGS	    0x236
#define BP_CMDLINE_SIZE	    0x238
#define BP_PREF_ADDRESS	    0x258
#define BP_INIT_SIZE	    0x260
#define BP_E820_TABLE	    0x2d0
#define BP_E820_MAX	    128
#define BP_SIZE		    0x1000

#define HDRS_MAGIC	  0x53726448 /* "HdrS" */
#define XLF_KERNEL_64	  (1 << 0)
#define LOADED_HIGH	  (1 << 0)
#define STARTUP_64_OFFSET 0x200

#define E820_RAM      1
#define E820_RESERVED 2

/* PVH: XEN_ELFNOTE_PHYS32_ENTRY and struct hvm_start_info (version 1). */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC		 0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

static unsigned int e820_build(const struct guest_mem *mem, struct e820_entry *e)
{
	unsigned int n = 0;

	e[n++] = (struct e820_entry){0, BOOT_EBDA_START, E820_RAM};
	e[n++] =
	    (struct e820_entry){BOOT_EBDA_START, BOOT_HIMEM_START - BOOT_EBDA_START, E820_RESERVED};
	e[n++] = (struct e820_entry){BOOT_HIMEM_START, mem->regions[0].size - BOOT_HIMEM_START,
				     E820_RAM};
	if (mem->nr_regions > 1)
		e[n++] = (struct e820_entry){mem->regions[1].gpa, mem->regions[1].size, E820_RAM};
	return n;
}

/* Flat segments: 0x08 32-bit code (PVH), 0x10 64-bit code and 0x18 data
 * (Linux's __BOOT_CS/__BOOT_DS), 0x20 a TSS so TR is valid. */
static const uint64_t boot_gdt[] = {
    0, 0x00cf9b000000ffffULL, 0x00af9b000000ffffULL, 0x00cf93000000ffffULL, 0x00808b000000ffffULL,
};

static int write_gdt_idt(struct guest_mem *mem)
{
	uint64_t idt = 0;
	int r = gmem_write(mem, BOOT_GDT_ADDR, boot_gdt, sizeof(boot_gdt));

	return r < 0 ? r : gmem_write(mem, BOOT_IDT_ADDR, &idt, sizeof(idt));
}

/* Identity map of the first 1 GiB with 2 MiB pages: enough for the kernel,
 * zero page and command line; the kernel builds its own tables after. */
static int write_page_tables(struct guest_mem *mem)
{
	uint64_t *pml4 = gmem_ptr(mem, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = gmem_ptr(mem, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = gmem_ptr(mem, BOOT_PD_ADDR, 4096);

	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | 0x3; /* present, writable */
	pdpt[0] = BOOT_PD_ADDR | 0x3;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB page */
	return 0;
}

/* Reads exactly len bytes at off of fd into guest memory at gpa. */
static int load_range(struct guest_mem *mem, int fd, uint64_t gpa, uint64_t off, uint64_t len,
		      const char *path, kiln_error_t *err)
{
	uint8_t *dst = gmem_ptr(mem, gpa, len);
	ssize_t n;

	if (dst == NULL)
		return kiln_error_make(err, 0,
				       "%s: 0x%llx bytes at 0x%llx do not fit in guest memory",
				       path, (unsigned long long)len, (unsigned long long)gpa);
	if (lseek(fd, (off_t)off, SEEK_SET) < 0)
		return kiln_error_make(err, errno, "%s: seek", path);
	n = kiln_read_full(fd, dst, len);
	if (n < 0)
		return kiln_error_make(err, (int)-n, "read %s", path);
	if ((uint64_t)n != len)
		return kiln_error_make(err, 0, "%s is truncated", path);
	return 0;
}

static int write_cmdline(struct guest_mem *mem, const char *cmdline, uint64_t max,
			 kiln_error_t *err)
{
	size_t len = strlen(cmdline);

	if (len + 1 > max || len + 1 > BOOT_CMDLINE_MAX)
		return kiln_error_make(err, 0,
				       "kernel command line is %zu bytes; the kernel takes %llu",
				       len, (unsigned long long)max - 1);
	return gmem_write(mem, BOOT_CMDLINE_ADDR, cmdline, len + 1);
}

/* Places the initrd as high in low RAM as allowed, above `floor`. */
static int load_initrd(struct guest_mem *mem, const char *path, uint64_t floor, uint64_t addr_max,
		       uint64_t *gpa, uint64_t *size, kiln_error_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t top = mem->regions[0].size;
	struct stat st;

	if (fd < 0)
		return kiln_error_make(err, errno, "cannot open initrd %s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return kiln_error_make(err, 0, "initrd %s is not a regular file", path);
	if (addr_max + 1 < top)
		top = addr_max + 1;
	if ((uint64_t)st.st_size > top || ((top - (uint64_t)st.st_size) & ~0xfffULL) < floor)
		return kiln_error_make(err, 0, "initrd %s (%lld MiB) does not fit in guest memory",
				       path, (long long)(st.st_size >> 20));
	*gpa = (top - (uint64_t)st.st_size) & ~0xfffULL;
	*size = (uint64_t)st.st_size;
	return load_range(mem, fd, *gpa, 0, *size, path, err);
}

static int bzimage_load(struct guest_mem *mem, int fd, const struct linux_boot *b,
			struct boot_entry *out, kiln_error_t *err)
{
	const char *path = b->kernel_path;
	uint8_t hdr[1024];
	uint8_t *bp;
	uint64_t setup_size, load_addr, init_size, kernel_size, initrd_gpa = 0, initrd_size = 0;
	uint32_t align, initrd_max, cmdline_size, magic;
	uint16_t version, xloadflags;
	struct e820_entry e820[BP_E820_MAX];
	unsigned int nr_e820;
	struct stat st;
	ssize_t n;
	int r;

	if (fstat(fd, &st) < 0)
		return kiln_error_make(err, errno, "stat %s", path);
	n = kiln_read_full(fd, hdr, sizeof(hdr));
	if (n < (ssize_t)sizeof(hdr))
		return kiln_error_make(err, 0, "%s is too short to be a kernel", path);
	memcpy(&magic, hdr + BP_HEADER, 4);
	memcpy(&version, hdr + BP_VERSION, 2);
	memcpy(&xloadflags, hdr + BP_XLOADFLAGS, 2);
	memcpy(&align, hdr + BP_KERNEL_ALIGNMENT, 4);
	memcpy(&initrd_max, hdr + BP_INITRD_ADDR_MAX, 4);
	memcpy(&cmdline_size, hdr + BP_CMDLINE_SIZE, 4);
	memcpy(&load_addr, hdr + BP_PREF_ADDRESS, 8);
	init_size = 0;
	memcpy(&init_size, hdr + BP_INIT_SIZE, 4);
	if (magic != HDRS_MAGIC)
		return kiln_error_make(err, 0, "%s is neither a bzImage nor an ELF vmlinux", path);
	/* 2.12 brought xloadflags, which says whether the 64-bit entry exists. */
	if (version < 0x020c || !(xloadflags & XLF_KERNEL_64))
		return kiln_error_make(err, 0,
				       "%s: boot protocol %u.%02u without a 64-bit entry point "
				       "(need 2.12+ and XLF_KERNEL_64)",
				       path, version >> 8, version & 0xff);
	setup_size = ((uint64_t)(hdr[BP_SETUP_SECTS] ? hdr[BP_SETUP_SECTS] : 4) + 1) * 512;
	if ((uint64_t)st.st_size <= setup_size)
		return kiln_error_make(err, 0, "%s is truncated", path);
	kernel_size = (uint64_t)st.st_size - setup_size;
	if (align == 0 || (align & (align - 1)) || load_addr % align ||
	    load_addr < BOOT_HIMEM_START)
		return kiln_error_make(err, 0, "%s: unusable preferred load address 0x%llx", path,
				       (unsigned long long)load_addr);
	/* The kernel decompresses in place into init_size bytes from its load
	 * address; all of that must be RAM below the gap. */
	if (init_size < kernel_size)
		init_size = kernel_size;
	if (load_addr + init_size > mem->regions[0].size)
		return kiln_error_make(
		    err, 0, "%s needs at least %llu MiB of guest memory", path,
		    (unsigned long long)((load_addr + init_size + (1 << 20) - 1) >> 20));

	r = load_range(mem, fd, load_addr, setup_size, kernel_size, path, err);
	if (r < 0)
		return r;
	if (b->initrd_path) {
		r = load_initrd(mem, b->initrd_path, load_addr + init_size, initrd_max, &initrd_gpa,
				&initrd_size, err);
		if (r < 0)
			return r;
	}
	r = write_cmdline(mem, b->cmdline, cmdline_size ? cmdline_size + 1ULL : 256, err);
	if (r < 0)
		return r;

	/* The zero page starts as the image's own setup header (boot.rst: "copy
	 * the header from the kernel image"), then the loader's fields. */
	bp = gmem_ptr(mem, BOOT_ZERO_PAGE, BP_SIZE);
	if (bp == NULL)
		return -EFAULT;
	memset(bp, 0, BP_SIZE);
	memcpy(bp + BP_SETUP_SECTS, hdr + BP_SETUP_SECTS,
	       (size_t)(BP_HEADER + hdr[BP_JUMP + 1] - BP_SETUP_SECTS));
	bp[BP_TYPE_OF_LOADER] = 0xff; /* undefined boot loader */
	bp[BP_LOADFLAGS] |= LOADED_HIGH;
	memcpy(bp + BP_CMD_LINE_PTR, &(uint32_t){BOOT_CMDLINE_ADDR}, 4);
	memcpy(bp + BP_RAMDISK_IMAGE, &(uint32_t){(uint32_t)initrd_gpa}, 4);
	memcpy(bp + BP_RAMDISK_SIZE, &(uint32_t){(uint32_t)initrd_size}, 4);
	memcpy(bp + BP_ACPI_RSDP_ADDR, &b->rsdp_gpa, 8);
	nr_e820 = e820_build(mem, e820);
	bp[BP_E820_ENTRIES] = (uint8_t)nr_e820;
	memcpy(bp + BP_E820_TABLE, e820, nr_e820 * sizeof(e820[0]));

	r = write_gdt_idt(mem);
	if (r == 0)
		r = write_page_tables(mem);
	if (r < 0)
		return kiln_error_make(err, -r, "cannot write boot structures");
	*out = (struct boot_entry){
	    .mode = BOOT_MODE_LINUX64,
	    .rip = load_addr + STARTUP_64_OFFSET,
	    .arg = BOOT_ZERO_PAGE,
	};
	return 0;
}

/* Finds XEN_ELFNOTE_PHYS32_ENTRY in a PT_NOTE segment. */
static int pvh_entry_find(int fd, const Elf64_Phdr *ph, uint64_t *entry)
{
	cleanup_free uint8_t *notes = NULL;
	uint64_t off = 0;

	if (ph->p_filesz > 1 << 20)
		return -EINVAL;
	notes = xmalloc(ph->p_filesz);
	if (pread(fd, notes, ph->p_filesz, (off_t)ph->p_offset) != (ssize_t)ph->p_filesz)
		return -EIO;
	while (off + sizeof(Elf64_Nhdr) <= ph->p_filesz) {
		Elf64_Nhdr nh;
		uint64_t name_off, desc_off, next;

		memcpy(&nh, notes + off, sizeof(nh));
		name_off = off + sizeof(nh);
		desc_off = name_off + ((nh.n_namesz + 3ULL) & ~3ULL);
		next = desc_off + ((nh.n_descsz + 3ULL) & ~3ULL);
		if (next > ph->p_filesz)
			return -EINVAL;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(notes + name_off, "Xen", 4) == 0 &&
		    (nh.n_descsz == 4 || nh.n_descsz == 8)) {
			*entry = 0;
			memcpy(entry, notes + desc_off, nh.n_descsz);
			return 0;
		}
		off = next;
	}
	return -ENOENT;
}

static int elf_load(struct guest_mem *mem, int fd, const struct linux_boot *b,
		    struct boot_entry *out, kiln_error_t *err)
{
	const char *path = b->kernel_path;
	Elf64_Ehdr eh;
	Elf64_Phdr ph[64];
	uint64_t entry = 0, kernel_end = 0, initrd_gpa = 0, initrd_size = 0;
	struct hvm_start_info si;
	struct hvm_modlist_entry mod;
	struct hvm_memmap_entry mm[4];
	struct e820_entry e820[4];
	unsigned int nr_e820;
	bool have_entry = false;
	int r;

	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh))
		return kiln_error_make(err, 0, "%s is too short to be an ELF kernel", path);
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64)
		return kiln_error_make(err, 0, "%s is not an x86_64 ELF kernel", path);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > ARRAY_SIZE(ph))
		return kiln_error_make(err, 0, "%s: bad ELF program headers", path);
	if (pread(fd, ph, eh.e_phnum * sizeof(ph[0]), (off_t)eh.e_phoff) !=
	    (ssize_t)(eh.e_phnum * sizeof(ph[0])))
		return kiln_error_make(err, 0, "%s is truncated", path);

	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_NOTE && !have_entry)
			have_entry = pvh_entry_find(fd, &ph[i], &entry) == 0;
		if (ph[i].p_type != PT_LOAD)
			continue;
		if (ph[i].p_filesz > ph[i].p_memsz || !gmem_ptr(mem, ph[i].p_paddr, ph[i].p_memsz))
			return kiln_error_make(err, 0,
					       "%s: segment at 0x%llx (0x%llx bytes) does not fit "
					       "in guest memory",
					       path, (unsigned long long)ph[i].p_paddr,
					       (unsigned long long)ph[i].p_memsz);
		r = load_range(mem, fd, ph[i].p_paddr, ph[i].p_offset, ph[i].p_filesz, path, err);
		if (r < 0)
			return r;
		memset(gmem_ptr(mem, ph[i].p_paddr + ph[i].p_filesz, 0), 0,
		       ph[i].p_memsz - ph[i].p_filesz);
		if (ph[i].p_paddr + ph[i].p_memsz > kernel_end)
			kernel_end = ph[i].p_paddr + ph[i].p_memsz;
	}
	if (!have_entry)
		return kiln_error_make(err, 0,
				       "%s has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); "
				       "build it with CONFIG_PVH=y",
				       path);
	if (b->initrd_path) {
		r = load_initrd(mem, b->initrd_path, kernel_end, 0xffffffffULL, &initrd_gpa,
				&initrd_size, err);
		if (r < 0)
			return r;
	}
	r = write_cmdline(mem, b->cmdline, BOOT_CMDLINE_MAX, err);
	if (r < 0)
		return r;

	nr_e820 = e820_build(mem, e820);
	for (unsigned int i = 0; i < nr_e820; i++)
		mm[i] = (struct hvm_memmap_entry){e820[i].addr, e820[i].size, e820[i].type, 0};
	si = (struct hvm_start_info){
	    .magic = HVM_START_MAGIC,
	    .version = 1,
	    .cmdline_paddr = BOOT_CMDLINE_ADDR,
	    .rsdp_paddr = b->rsdp_gpa,
	    .memmap_paddr = BOOT_START_INFO + 0x80,
	    .memmap_entries = nr_e820,
	};
	if (initrd_size) {
		mod = (struct hvm_modlist_entry){.paddr = initrd_gpa, .size = initrd_size};
		si.nr_modules = 1;
		si.modlist_paddr = BOOT_START_INFO + 0x40;
		r = gmem_write(mem, si.modlist_paddr, &mod, sizeof(mod));
		if (r < 0)
			return kiln_error_make(err, -r, "cannot write the PVH module list");
	}
	r = gmem_write(mem, BOOT_START_INFO, &si, sizeof(si));
	if (r == 0)
		r = gmem_write(mem, si.memmap_paddr, mm, nr_e820 * sizeof(mm[0]));
	if (r == 0)
		r = write_gdt_idt(mem);
	if (r < 0)
		return kiln_error_make(err, -r, "cannot write boot structures");
	*out = (struct boot_entry){.mode = BOOT_MODE_PVH32, .rip = entry, .arg = BOOT_START_INFO};
	return 0;
}

int linux_load(struct guest_mem *mem, const struct linux_boot *b, struct boot_entry *out,
	       kiln_error_t *err)
{
	cleanup_close int fd = open(b->kernel_path, O_RDONLY | O_CLOEXEC);
	uint8_t ident[SELFMAG];

	if (fd < 0)
		return kiln_error_make(err, errno, "cannot open kernel %s", b->kernel_path);
	if (mem->regions[0].size <= BOOT_HIMEM_START)
		return kiln_error_make(err, 0, "guest memory is too small to boot Linux");
	if (pread(fd, ident, SELFMAG, 0) == SELFMAG && memcmp(ident, ELFMAG, SELFMAG) == 0)
		return elf_load(mem, fd, b, out, err);
	return bzimage_load(mem, fd, b, out, err);
}
