#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "vmm/mem.h"

int gmem_init(struct guest_mem *m, uint64_t size, kiln_error_t *err)
{
	uint64_t low = size < GMEM_GAP_START ? size : GMEM_GAP_START;
	uint8_t *host;

	memset(m, 0, sizeof(*m));
	/* One mapping for all RAM; MAP_NORESERVE so an idle guest costs only
	 * the pages it touches. */
	host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (host == MAP_FAILED)
		return kiln_error_make(err, errno, "cannot map %llu MiB of guest memory",
				       (unsigned long long)(size >> 20));
	m->regions[0] = (struct gmem_region){.gpa = 0, .size = low, .host = host};
	m->nr_regions = 1;
	if (size > low) {
		m->regions[1] = (struct gmem_region){
		    .gpa = GMEM_GAP_END, .size = size - low, .host = host + low};
		m->nr_regions = 2;
	}
	m->size = size;
	return 0;
}

void gmem_release(struct guest_mem *m)
{
	if (m->nr_regions > 0)
		munmap(m->regions[0].host, m->size);
	memset(m, 0, sizeof(*m));
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
