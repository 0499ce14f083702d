#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"

#include "vmm/mem.h"

static void layout(struct guest_mem *m, uint8_t *host, uint64_t size)
{
	uint64_t low = size < GMEM_GAP_START ? size : GMEM_GAP_START;

	m->regions[0] = (struct gmem_region){.gpa = 0, .size = low, .host = host};
	m->nr_regions = 1;
	if (size > low) {
		m->regions[1] = (struct gmem_region){
		    .gpa = GMEM_GAP_END, .size = size - low, .host = host + low, .fd_offset = low};
		m->nr_regions = 2;
	}
	m->size = size;
}

int gmem_init(struct guest_mem *m, uint64_t size, kiln_error_t *err)
{
	uint8_t *host;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	/* One mapping for all RAM; MAP_NORESERVE so an idle guest costs only
	 * the pages it touches. */
	host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (host == MAP_FAILED)
		return kiln_error_make(err, errno, "cannot map %llu MiB of guest memory",
				       (unsigned long long)(size >> 20));
	layout(m, host, size);
	return 0;
}

int gmem_init_shared(struct guest_mem *m, uint64_t size, kiln_error_t *err)
{
	cleanup_close int fd = -1;
	uint8_t *host;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	/* A memfd costs only the pages the guest touches, as MAP_NORESERVE
	 * anonymous memory does; sealing the size keeps a back end from
	 * shrinking it under us (a SIGBUS here). */
	fd = memfd_create("kiln-vmm-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return kiln_error_make(err, errno, "memfd_create for guest memory");
	if (ftruncate(fd, (off_t)size) < 0)
		return kiln_error_make(err, errno, "cannot size %llu MiB of guest memory",
				       (unsigned long long)(size >> 20));
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return kiln_error_make(err, errno, "sealing guest memory");
	host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (host == MAP_FAILED)
		return kiln_error_make(err, errno, "cannot map %llu MiB of guest memory",
				       (unsigned long long)(size >> 20));
	layout(m, host, size);
	m->fd = TAKE_FD(fd);
	return 0;
}

void gmem_release(struct guest_mem *m)
{
	if (m->nr_regions > 0) {
		munmap(m->regions[0].host, m->size);
		if (m->fd >= 0)
			close(m->fd);
	}
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

void *gmem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < m->nr_regions; i++) {
		const struct gmem_region *r = &m->regions[i];

		/* Written so that no sum can overflow: gpa - r->gpa is only
		 * computed once gpa >= r->gpa. */
		if (gpa < r->gpa || gpa - r->gpa > r->size)
			continue;
		if (len > r->size - (gpa - r->gpa))
			return NULL;
		return r->host + (gpa - r->gpa);
	}
	return NULL;
}

int gmem_read(const struct guest_mem *m, uint64_t gpa, void *buf, size_t len)
{
	const void *p = gmem_ptr(m, gpa, len);

	if (p == NULL)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

int gmem_write(const struct guest_mem *m, uint64_t gpa, const void *buf, size_t len)
{
	void *p = gmem_ptr(m, gpa, len);

	if (p == NULL)
		return -EFAULT;
	memcpy(p, buf, len);
	return 0;
}
