#include <endian.h>
#include <errno.h>
#include <linux/virtio_ring.h>
#include <string.h>

#include "vmm/virtio/queue.h"

/* §2.7.5: struct virtq_desc, little-endian. */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define VIRTQ_DESC_SIZE 16

/* Ring fields are shared with a guest vCPU that may write them at any
 * time: access them as single atomic loads and stores, so each value is
 * read once and the compiler cannot split or repeat the access. */
static uint16_t ring_load16(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED));
}

static void ring_store16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELAXED);
}

static void ring_store32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

/* Reads a descriptor once into host memory; the compiler barrier keeps the
 * compiler from re-reading guest memory for a field already checked (an
 * indirect table need not be aligned, hence memcpy). */
static void desc_load(const uint8_t *p, struct virtq_desc *d)
{
	memcpy(d, p, VIRTQ_DESC_SIZE);
	__asm__ volatile("" ::: "memory");
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

void virtq_reset(struct virtq *q)
{
	memset(q, 0, sizeof(*q));
}

/* A ring area as a host pointer. The guest address was checked for
 * alignment already; RAM regions are page-aligned on both sides, so the
 * host check only guards the atomic accesses above against a surprising
 * memory map. */
static uint8_t *area_map(const struct guest_mem *mem, uint64_t gpa, uint64_t len, uintptr_t align)
{
	uint8_t *p = gmem_ptr(mem, gpa, len);

	return p != NULL && (uintptr_t)p % align == 0 ? p : NULL;
}

int virtq_enable(struct virtq *q, const struct guest_mem *mem, uint16_t size_max, bool event_idx,
		 bool indirect)
{
	uint64_t n = q->num;

	q->ready = false;
	if (n == 0 || n > size_max || (n & (n - 1)) != 0) {
		q->error = "queue size is not a power of 2 within QueueNumMax";
		return -EINVAL;
	}
	if (q->desc_gpa % 16 != 0 || q->avail_gpa % 2 != 0 || q->used_gpa % 4 != 0) {
		q->error = "queue area misaligned";
		return -EINVAL;
	}
	/* §2.7 table: sizes include used_event / avail_event, which a driver
	 * lays out whether or not EVENT_IDX is negotiated. */
	q->desc = area_map(mem, q->desc_gpa, n * VIRTQ_DESC_SIZE, 16);
	q->avail = area_map(mem, q->avail_gpa, 6 + 2 * n, 2);
	q->used = area_map(mem, q->used_gpa, 6 + 8 * n, 4);
	if (q->desc == NULL || q->avail == NULL || q->used == NULL) {
		q->desc = q->avail = q->used = NULL;
		q->error = "queue area outside guest RAM";
		return -EFAULT;
	}
	q->mem = mem;
	q->size = (uint16_t)n;
	q->event_idx = event_idx;
	q->indirect = indirect;
	/* §2.7.8: the used ring starts at index 0; the driver zeroed it. */
	q->last_avail_idx = 0;
	q->used_idx = 0;
	q->signalled_used = 0;
	q->signalled_valid = false;
	q->error = NULL;
	q->ready = true;
	return 0;
}

static int chain_fail(struct virtq *q, int rc, const char *why)
{
	q->error = why;
	return rc;
}

/* Follows the chain at head (§2.7.5.2, §2.7.5.3). The hop count in each
 * table is bounded by the table's size (a longer walk must revisit an
 * entry: Firecracker's DescriptorChain::ttl) and the buffers by the queue
 * size, so a hostile ring costs at most size + 1 descriptor reads. */
static int chain_walk(struct virtq *q, uint16_t head, struct virtq_chain *c)
{
	const uint8_t *table = q->desc;
	uint64_t table_n = q->size;
	uint64_t hops = 0;
	uint64_t i = head;
	bool in_indirect = false;
	unsigned int n = 0;

	c->head = head;
	c->nr_readable = c->nr_writable = 0;
	c->readable_len = c->writable_len = 0;
	for (;;) {
		struct virtq_desc d;
		void *p;

		if (++hops > table_n)
			return chain_fail(q, -ELOOP, "descriptor chain loops");
		desc_load(table + i * VIRTQ_DESC_SIZE, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!q->indirect)
				return chain_fail(q, -EINVAL, "indirect descriptor not negotiated");
			/* §2.7.5.3.1: one table per descriptor, never chained. */
			if (in_indirect)
				return chain_fail(q, -EINVAL, "nested indirect descriptor");
			if (d.flags & VRING_DESC_F_NEXT)
				return chain_fail(q, -EINVAL, "indirect descriptor with NEXT");
			if (d.len == 0 || d.len % VIRTQ_DESC_SIZE != 0)
				return chain_fail(q, -EINVAL, "indirect table length");
			table = gmem_ptr(q->mem, d.addr, d.len);
			if (table == NULL)
				return chain_fail(q, -EFAULT, "indirect table outside guest RAM");
			table_n = d.len / VIRTQ_DESC_SIZE;
			hops = 0;
			i = 0;
			in_indirect = true;
			continue;
		}
		if (n == q->size)
			return chain_fail(q, -ELOOP, "descriptor chain longer than the queue");
		p = gmem_ptr(q->mem, d.addr, d.len);
		if (p == NULL)
			return chain_fail(q, -EFAULT, "buffer outside guest RAM");
		if (d.flags & VRING_DESC_F_WRITE) {
			c->nr_writable++;
			c->writable_len += d.len;
		} else {
			/* §2.7.4.2: readable buffers come first. */
			if (c->nr_writable > 0)
				return chain_fail(q, -EINVAL,
						  "readable buffer after a writable one");
			c->nr_readable++;
			c->readable_len += d.len;
		}
		c->iov[n++] = (struct iovec){.iov_base = p, .iov_len = d.len};
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= table_n)
			return chain_fail(q, -EINVAL, "descriptor next out of range");
		i = d.next;
	}
}

static uint8_t *avail_event_ptr(const struct virtq *q)
{
	return q->used + 4 + 8 * (size_t)q->size;
}

static uint8_t *used_event_ptr(const struct virtq *q)
{
	return q->avail + 4 + 2 * (size_t)q->size;
}

/* The driver's avail idx, checked against ours: it can be at most a full
 * ring ahead (§2.7.6; Firecracker rejects the same). */
static int avail_pending(struct virtq *q, uint16_t *pending)
{
	uint16_t idx = ring_load16(q->avail + 2);

	/* §2.7.13.3 (device side of the barrier pairing): read idx before
	 * the ring entries and descriptors it publishes. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	*pending = (uint16_t)(idx - q->last_avail_idx);
	if (*pending > q->size)
		return chain_fail(q, -EINVAL, "available index more than the queue size ahead");
	return 0;
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	uint16_t pending, head;
	int rc;

	if (!q->ready)
		return 0;
	rc = avail_pending(q, &pending);
	if (rc < 0)
		return rc;
	if (pending == 0) {
		if (!q->event_idx)
			return 0;
		/* §2.7.10: ask for a notification for the next buffer, then
		 * look again in case it was added before the driver could
		 * see our request (the full barrier orders the two). */
		ring_store16(avail_event_ptr(q), q->last_avail_idx);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		rc = avail_pending(q, &pending);
		if (rc < 0 || pending == 0)
			return rc;
	}
	head = ring_load16(q->avail + 4 + 2 * (size_t)(q->last_avail_idx & (q->size - 1)));
	if (head >= q->size)
		return chain_fail(q, -EINVAL, "available ring entry out of range");
	rc = chain_walk(q, head, c);
	if (rc < 0)
		return rc;
	q->last_avail_idx++;
	return 1;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	uint8_t *elem;

	if (!q->ready)
		return;
	elem = q->used + 4 + 8 * (size_t)(q->used_idx & (q->size - 1));
	ring_store32(elem, head);
	ring_store32(elem + 4, len);
	q->used_idx++;
	/* §2.7.8.2: the element must be visible before the index that
	 * publishes it. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ring_store16(q->used + 2, q->used_idx);
}

bool virtq_should_notify(struct virtq *q)
{
	uint16_t old = q->signalled_used;
	bool valid = q->signalled_valid;

	if (!q->ready)
		return false;
	/* The used idx store must be visible before the suppression flags
	 * are read, or both sides can decide the other will act (§2.7.7.2,
	 * Linux virtqueue_kick_prepare pairs with this). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(ring_load16(q->avail) & VRING_AVAIL_F_NO_INTERRUPT);
	q->signalled_used = q->used_idx;
	q->signalled_valid = true;
	/* §2.7.7.2: notify when used_event lies in (old, new]; the uapi
	 * header's vring_need_event() is that test. */
	return !valid || vring_need_event(ring_load16(used_event_ptr(q)), q->used_idx, old);
}

/* Walks the readable or writable part of c from byte off, calling fn on
 * each piece; returns the bytes covered (at most len). */
static size_t chain_span(const struct virtq_chain *c, bool writable, size_t off, size_t len,
			 void (*fn)(void *opaque, void *base, size_t n), void *opaque)
{
	unsigned int first = writable ? c->nr_readable : 0;
	unsigned int count = writable ? c->nr_writable : c->nr_readable;
	size_t done = 0;

	for (unsigned int k = first; k < first + count && done < len; k++) {
		const struct iovec *v = &c->iov[k];
		size_t n;

		if (off >= v->iov_len) {
			off -= v->iov_len;
			continue;
		}
		n = v->iov_len - off;
		if (n > len - done)
			n = len - done;
		fn(opaque, (uint8_t *)v->iov_base + off, n);
		done += n;
		off = 0;
	}
	return done;
}

struct copy_cursor {
	uint8_t *buf;
	bool to_guest;
};

static void copy_piece(void *opaque, void *base, size_t n)
{
	struct copy_cursor *cur = opaque;

	if (cur->to_guest)
		memcpy(base, cur->buf, n);
	else
		memcpy(cur->buf, base, n);
	cur->buf += n;
}

size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf, size_t len)
{
	struct copy_cursor cur = {.buf = buf, .to_guest = false};

	return chain_span(c, false, off, len, copy_piece, &cur);
}

size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *buf, size_t len)
{
	struct copy_cursor cur = {.buf = (uint8_t *)(uintptr_t)buf, .to_guest = true};

	return chain_span(c, true, off, len, copy_piece, &cur);
}

struct iov_cursor {
	struct iovec *dst;
	unsigned int n;
};

static void iov_piece(void *opaque, void *base, size_t n)
{
	struct iov_cursor *cur = opaque;

	cur->dst[cur->n++] = (struct iovec){.iov_base = base, .iov_len = n};
}

unsigned int virtq_chain_iov(const struct virtq_chain *c, bool writable, size_t off, size_t len,
			     struct iovec *dst)
{
	struct iov_cursor cur = {.dst = dst, .n = 0};

	chain_span(c, writable, off, len, iov_piece, &cur);
	return cur.n;
}
