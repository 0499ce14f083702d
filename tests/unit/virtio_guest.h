/* A toy virtio guest driver for the unit tests: a machine without KVM, a
 * split virtqueue laid out in its guest memory the way Linux lays one out,
 * and register accesses through bus_dispatch() as a vCPU would make them.
 * Tests use it to craft both well-formed and hostile rings. */
#ifndef KILN_TESTS_UNIT_VIRTIO_GUEST_H
#define KILN_TESTS_UNIT_VIRTIO_GUEST_H

#include <endian.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "vmm/machine.h"
#include "tests/unit/machine_fixture.h"
#include "vmm/mem.h"

#define VG_RAM_SIZE   (1ULL << 20)
#define VG_DESC_GPA   0x10000ULL
#define VG_AVAIL_GPA  0x11000ULL
#define VG_USED_GPA   0x12000ULL
#define VG_BUF_GPA    0x20000ULL /* scratch buffers from here on */
#define VG_INDIR_GPA  0x18000ULL /* an indirect table */
#define VG_BUF_STRIDE 0x1000ULL

/* A machine as unit tests have it: no KVM, no event loop, 1 MiB of RAM. */
static inline int vg_machine_init(struct machine *m)
{
	return test_machine_init(m, VG_RAM_SIZE);
}

static inline void vg_machine_release(struct machine *m)
{
	test_machine_release(m);
}

/* The driver's side of one split virtqueue. */
struct vg_queue {
	struct guest_mem *mem;
	uint64_t desc, avail, used;
	uint16_t size;
	uint16_t avail_idx; /* next index the driver publishes */
};

static inline void vg_queue_init(struct vg_queue *q, struct guest_mem *mem, uint16_t size)
{
	*q = (struct vg_queue){.mem = mem,
			       .desc = VG_DESC_GPA,
			       .avail = VG_AVAIL_GPA,
			       .used = VG_USED_GPA,
			       .size = size};
	/* A driver zeroes the rings before it hands them over. */
	memset(gmem_ptr(mem, VG_DESC_GPA, 0x3000), 0, 0x3000);
}

static inline void vg_put16(struct guest_mem *mem, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	gmem_write(mem, gpa, &v, sizeof(v));
}

static inline uint16_t vg_get16(struct guest_mem *mem, uint64_t gpa)
{
	uint16_t v = 0;

	gmem_read(mem, gpa, &v, sizeof(v));
	return le16toh(v);
}

static inline uint32_t vg_get32(struct guest_mem *mem, uint64_t gpa)
{
	uint32_t v = 0;

	gmem_read(mem, gpa, &v, sizeof(v));
	return le32toh(v);
}

/* Writes descriptor i of a table at table_gpa. */
static inline void vg_desc_at(struct guest_mem *mem, uint64_t table_gpa, uint16_t i, uint64_t addr,
			      uint32_t len, uint16_t flags, uint16_t next)
{
	struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;
	} d = {htole64(addr), htole32(len), htole16(flags), htole16(next)};

	gmem_write(mem, table_gpa + 16ULL * i, &d, sizeof(d));
}

static inline void vg_desc(struct vg_queue *q, uint16_t i, uint64_t addr, uint32_t len,
			   uint16_t flags, uint16_t next)
{
	vg_desc_at(q->mem, q->desc, i, addr, len, flags, next);
}

/* Publishes chain `head` (ring entry, then idx, as §2.7.13 orders it). */
static inline void vg_avail_push(struct vg_queue *q, uint16_t head)
{
	vg_put16(q->mem, q->avail + 4 + 2ULL * (q->avail_idx % q->size), head);
	q->avail_idx++;
	vg_put16(q->mem, q->avail + 2, q->avail_idx);
}

static inline void vg_avail_flags(struct vg_queue *q, uint16_t flags)
{
	vg_put16(q->mem, q->avail, flags);
}

/* used_event lives after the available ring (§2.7.6). */
static inline void vg_used_event(struct vg_queue *q, uint16_t v)
{
	vg_put16(q->mem, q->avail + 4 + 2ULL * q->size, v);
}

static inline uint16_t vg_used_idx(struct vg_queue *q)
{
	return vg_get16(q->mem, q->used + 2);
}

static inline void vg_used_elem(struct vg_queue *q, uint16_t i, uint32_t *id, uint32_t *len)
{
	uint64_t e = q->used + 4 + 8ULL * (i % q->size);

	*id = vg_get32(q->mem, e);
	*len = vg_get32(q->mem, e + 4);
}

/* avail_event lives after the used ring (§2.7.8). */
static inline uint16_t vg_avail_event(struct vg_queue *q)
{
	return vg_get16(q->mem, q->used + 4 + 8ULL * q->size);
}

/* Host pointer to scratch buffer k. */
static inline void *vg_buf(struct vg_queue *q, unsigned int k)
{
	return gmem_ptr(q->mem, VG_BUF_GPA + k * VG_BUF_STRIDE, VG_BUF_STRIDE);
}

static inline uint64_t vg_buf_gpa(unsigned int k)
{
	return VG_BUF_GPA + k * VG_BUF_STRIDE;
}

/* Register accesses as a vCPU makes them. */
static inline uint32_t vg_rd(struct machine *m, uint64_t base, uint64_t off)
{
	uint8_t data[4];
	uint32_t v;

	bus_dispatch(&m->mmio, base + off, false, data, 4);
	memcpy(&v, data, 4);
	return le32toh(v);
}

static inline void vg_wr(struct machine *m, uint64_t base, uint64_t off, uint32_t v)
{
	uint8_t data[4];

	v = htole32(v);
	memcpy(data, &v, 4);
	bus_dispatch(&m->mmio, base + off, true, data, 4);
}

static inline uint64_t vg_device_features(struct machine *m, uint64_t base)
{
	uint64_t f;

	vg_wr(m, base, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)vg_rd(m, base, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	vg_wr(m, base, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return f | vg_rd(m, base, VIRTIO_MMIO_DEVICE_FEATURES);
}

/* §3.1.1 steps 1-6. Returns the status read back after FEATURES_OK. */
static inline uint32_t vg_negotiate(struct machine *m, uint64_t base, uint64_t features)
{
	vg_wr(m, base, VIRTIO_MMIO_STATUS, 0);
	vg_wr(m, base, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vg_wr(m, base, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vg_wr(m, base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vg_wr(m, base, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	vg_wr(m, base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vg_wr(m, base, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	vg_wr(m, base, VIRTIO_MMIO_STATUS,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	return vg_rd(m, base, VIRTIO_MMIO_STATUS);
}

/* §4.2.3.2: programs queue `index` from q and sets QueueReady. */
static inline void vg_queue_setup(struct machine *m, uint64_t base, uint32_t index,
				  const struct vg_queue *q)
{
	vg_wr(m, base, VIRTIO_MMIO_QUEUE_SEL, index);
	vg_wr(m, base, VIRTIO_MMIO_QUEUE_NUM, q->size);
	vg_wr(m, base, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
	vg_wr(m, base, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc >> 32));
	vg_wr(m, base, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)q->avail);
	vg_wr(m, base, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(q->avail >> 32));
	vg_wr(m, base, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)q->used);
	vg_wr(m, base, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(q->used >> 32));
	vg_wr(m, base, VIRTIO_MMIO_QUEUE_READY, 1);
}

static inline void vg_driver_ok(struct machine *m, uint64_t base)
{
	vg_wr(m, base, VIRTIO_MMIO_STATUS,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
		  VIRTIO_CONFIG_S_DRIVER_OK);
}

/* The whole bring-up with queue 0 from q; returns the final status. */
static inline uint32_t vg_bringup(struct machine *m, uint64_t base, uint64_t features,
				  const struct vg_queue *q)
{
	vg_negotiate(m, base, features);
	vg_queue_setup(m, base, 0, q);
	vg_driver_ok(m, base);
	return vg_rd(m, base, VIRTIO_MMIO_STATUS);
}

/* How many edges were raised on an irq eventfd since the last call. */
static inline uint64_t vg_irq_count(int fd)
{
	uint64_t n = 0;

	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

#endif
