/* Guest physical memory. The guest is hostile (ARCHITECTURE.md), so no code
 * outside this file turns a guest-physical address into a host pointer
 * except through gmem_ptr(), which checks address and length against the
 * memory map (after Solo5's HVT_CHECKED_GPA_P). */
#ifndef KILN_VMM_MEM_H
#define KILN_VMM_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* x86 layout: RAM from 0 up to the 32-bit MMIO gap, the rest above 4 GiB. */
#define GMEM_GAP_START 0xc0000000ULL
#define GMEM_GAP_END   0x100000000ULL

#define GMEM_MAX_REGIONS 2

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
	uint64_t fd_offset; /* where host starts in guest_mem.fd */
};

struct guest_mem {
	struct gmem_region regions[GMEM_MAX_REGIONS];
	unsigned int nr_regions;
	uint64_t size; /* total RAM in bytes */
	/* A memfd holding all RAM when it is shared with another process (a
	 * vhost-user back end maps it); -1 for private anonymous memory. */
	int fd;
};

/* Maps `size` bytes of anonymous memory and lays it out around the gap. */
int gmem_init(struct guest_mem *m, uint64_t size, kiln_error_t *err);
/* The same, backed by a memfd mapped MAP_SHARED, so that a vhost-user back
 * end can map it too (SET_MEM_TABLE passes m->fd and each region's
 * fd_offset). */
int gmem_init_shared(struct guest_mem *m, uint64_t size, kiln_error_t *err);
void gmem_release(struct guest_mem *m);

/* A host pointer to [gpa, gpa + len) when that range lies wholly inside one
 * RAM region, NULL otherwise (including on overflow). len may be 0. */
void *gmem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Copies between guest and host; -EFAULT when the range is not all RAM. */
int gmem_read(const struct guest_mem *m, uint64_t gpa, void *buf, size_t len);
int gmem_write(const struct guest_mem *m, uint64_t gpa, const void *buf, size_t len);

#endif
