/* The split virtqueue, device side (virtio 1.2 §2.7). The driver owns the
 * descriptor table and the available ring, the device owns the used ring,
 * and all three live in guest memory the guest may rewrite at any moment:
 * every index and address read from them is checked before use, each
 * descriptor is read exactly once, and a malformed chain makes virtq_pop()
 * fail (the transport then puts the device into DEVICE_NEEDS_RESET) instead
 * of being followed. Not thread-safe: the transport's lock serialises it. */
#ifndef KILN_VMM_VIRTIO_QUEUE_H
#define KILN_VMM_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/mem.h"

/* The largest queue any kiln device offers (QueueNumMax; virtio-fs offers
 * 1024 as QEMU's vhost-user-fs does); also the longest descriptor chain
 * (virtio 1.2 §2.7.5.3.1: no chain longer than the queue). */
#define VIRTQ_SIZE_MAX 1024

/* One descriptor chain as the device sees it. iov[0, nr_readable) are the
 * device-readable buffers, iov[nr_readable, nr_readable + nr_writable) the
 * device-writable ones (§2.7.4.2 puts all readable ones first); every
 * iov_base is a host pointer whose whole iov_len was checked to be RAM. */
struct virtq_chain {
	uint16_t head; /* descriptor index to hand back to virtq_push() */
	unsigned int nr_readable;
	unsigned int nr_writable;
	size_t readable_len;
	size_t writable_len;
	struct iovec iov[VIRTQ_SIZE_MAX];
};

struct virtq {
	/* Written by the driver through the transport while the queue is not
	 * ready (QueueNum, QueueDesc, QueueDriver, QueueDevice). */
	uint32_t num;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;

	/* Everything below is set by virtq_enable() and valid while ready. */
	bool ready;
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated (§2.7.7, §2.7.10) */
	bool indirect;	/* VIRTIO_F_INDIRECT_DESC negotiated (§2.7.5.3) */
	uint16_t size;
	const struct guest_mem *mem;
	uint8_t *desc;	/* host view of the descriptor table, size * 16 bytes */
	uint8_t *avail; /* flags, idx, ring[size], used_event */
	uint8_t *used;	/* flags, idx, ring[size] of {id, len}, avail_event */
	uint16_t last_avail_idx;
	uint16_t used_idx;
	uint16_t signalled_used; /* used_idx at the last notification decision */
	bool signalled_valid;

	/* Why the last virtq_enable() or virtq_pop() failed, for the log: a
	 * static string, so the hot path never allocates. */
	const char *error;
};

/* Forgets everything the driver configured and all ring state (device
 * reset, §2.4). */
void virtq_reset(struct virtq *q);

/* QueueReady = 1: checks what the driver configured and makes the queue
 * live. num must be a power of 2 no larger than size_max (§2.7: split
 * queues), the areas aligned as §2.7 requires (16, 2, 4) and wholly inside
 * guest RAM. Returns 0, or -EINVAL / -EFAULT with q->error set and the
 * queue left not ready. */
int virtq_enable(struct virtq *q, const struct guest_mem *mem, uint16_t size_max, bool event_idx,
		 bool indirect);

/* Takes the next available chain into *c. Returns 1 when there was one, 0
 * when the ring is empty (or the queue is not ready), or a negative errno
 * with q->error set when the driver broke the ring: an available index more
 * than the queue size ahead, a head or `next` out of range, a chain longer
 * than the queue (a loop), a nested or chained indirect table, a readable
 * buffer after a writable one, or a buffer that is not all RAM. */
int virtq_pop(struct virtq *q, struct virtq_chain *c);

/* Returns chain `head` to the driver with `len` bytes written into its
 * writable buffers (§2.7.8). Call virtq_should_notify() after a batch. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);

/* Whether the driver wants a used-buffer notification for what was pushed
 * since the last call: VRING_AVAIL_F_NO_INTERRUPT, or used_event with
 * EVENT_IDX (§2.7.7.2). */
bool virtq_should_notify(struct virtq *q);

/* Copies up to len bytes starting at offset off of the chain's readable
 * part into buf; returns how many were copied (fewer when it is shorter). */
size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf, size_t len);

/* Copies up to len bytes from buf into the chain's writable part at offset
 * off; returns how many were copied. */
size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *buf, size_t len);

/* Describes bytes [off, off + len) of the readable (writable == false) or
 * writable part in dst, which has room for VIRTQ_SIZE_MAX entries; returns
 * the number of entries. Stops early when the part is shorter. */
unsigned int virtq_chain_iov(const struct virtq_chain *c, bool writable, size_t off, size_t len,
			     struct iovec *dst);

#endif
