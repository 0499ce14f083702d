/* Loading a Linux kernel into guest memory: a bzImage through the x86 boot
 * protocol's 64-bit entry (Documentation/arch/x86/boot.rst), or an ELF
 * vmlinux through its PVH entry note (xen/include/public/arch-x86/
 * hvm/start_info.h), with an optional initrd and the command line. */
#ifndef KILN_VMM_BOOT_LINUX_H
#define KILN_VMM_BOOT_LINUX_H

#include <stdint.h>

#include "common/error.h"
#include "vmm/mem.h"

/* Low-memory layout shared by both entries. */
#define BOOT_GDT_ADDR	  0x500ULL
#define BOOT_IDT_ADDR	  0x528ULL  /* right after the 5-entry GDT */
#define BOOT_START_INFO	  0x6000ULL /* PVH hvm_start_info + memmap */
#define BOOT_ZERO_PAGE	  0x7000ULL /* bzImage boot_params */
#define BOOT_STACK_TOP	  0x8ff0ULL
#define BOOT_PML4_ADDR	  0x9000ULL
#define BOOT_PDPT_ADDR	  0xa000ULL
#define BOOT_PD_ADDR	  0xb000ULL
#define BOOT_CMDLINE_ADDR 0x20000ULL
#define BOOT_CMDLINE_MAX  0x10000ULL
#define BOOT_EBDA_START	  0x9fc00ULL
#define BOOT_HIMEM_START  0x100000ULL
/* [BOOT_EBDA_START, BOOT_HIMEM_START) is reserved in e820: the BIOS area
 * Linux scans for the ACPI RSDP. */

enum boot_mode {
	BOOT_MODE_LINUX64, /* 64-bit long mode, RSI = zero page */
	BOOT_MODE_PVH32,   /* 32-bit protected mode, no paging, EBX = start info */
};

struct boot_entry {
	enum boot_mode mode;
	uint64_t rip;
	uint64_t arg; /* RSI or EBX */
};

struct linux_boot {
	const char *kernel_path;
	const char *initrd_path; /* NULL: none */
	const char *cmdline;
	uint64_t rsdp_gpa; /* 0: none */
};

/* Loads the kernel (bzImage or ELF, told apart by their magic), the initrd
 * and the command line, writes the boot parameters, the e820 map, the GDT
 * and (for the 64-bit entry) identity-mapped page tables for the first
 * 1 GiB. Errors name the file and what is wrong with it. */
int linux_load(struct guest_mem *mem, const struct linux_boot *b, struct boot_entry *out,
	       kiln_error_t *err);

#endif
