/* libFuzzer target for the split virtqueue: the input becomes a hostile
 * guest's memory (descriptor table, available ring, buffers, indirect
 * tables) and queue configuration; the device side then pops, reads,
 * writes and completes every chain it is offered. It must never crash,
 * loop or touch memory outside guest RAM.
 *
 * Guest RAM here is two malloc'd regions (one low, one above 4 GiB, like
 * the real map around the MMIO gap) rather than gmem_init()'s mmap, so
 * AddressSanitizer sees the exact bounds of every region.
 *
 * Build and run (not part of `make`):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     -std=gnu11 -D_GNU_SOURCE -I. -o fuzz_virtq tests/fuzz/fuzz_virtq.c \
 *     vmm/virtio/queue.c vmm/mem.c common/error.c common/io.c common/json.c \
 *     common/log.c common/util.c $(pkg-config --cflags --libs yajl)
 *   ./fuzz_virtq -max_total_time=60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/mem.h"
#include "vmm/virtio/queue.h"

#define LOW_SIZE  0x8000
#define HIGH_GPA  0x100000000ULL
#define HIGH_SIZE 0x2000

/* The input's first bytes configure the queue; the rest is RAM. The
 * encoding makes a valid setup likely, so most inputs reach the rings:
 * areas are 16-bit offsets into low RAM unless a placement bit moves them
 * above 4 GiB or far outside RAM. */
struct fuzz_header {
	uint8_t size_log2; /* QueueNum = 1 << size_log2 when < 10, else raw_num */
	uint8_t features;  /* bit 0: EVENT_IDX, bit 1: INDIRECT_DESC */
	uint8_t rounds;	   /* bits 0-1: extra notifies; bits 2-7: avail idx bump */
	uint8_t placement; /* 2 bits per area (desc, avail, used): low, high, far, top */
	uint16_t raw_num;
	uint16_t desc;
	uint16_t avail;
	uint16_t used;
	uint16_t copy_off; /* where in each chain the device reads and writes */
	uint16_t copy_len;
};

static struct guest_mem mem;
static uint8_t *low;
static uint8_t *high;
static struct virtq_chain chain;
static uint8_t scratch[LOW_SIZE];
static struct iovec iov[VIRTQ_SIZE_MAX];

static uint64_t area_gpa(uint16_t off, unsigned int place)
{
	switch (place & 3) {
	case 1:
		return HIGH_GPA + off;
	case 2:
		return (uint64_t)off << 48;
	case 3:
		return UINT64_MAX - off;
	default:
		return off;
	}
}

static void mem_setup(void)
{
	if (low != NULL)
		return;
	low = malloc(LOW_SIZE);
	high = malloc(HIGH_SIZE);
	if (low == NULL || high == NULL)
		abort();
	mem.regions[0] = (struct gmem_region){.gpa = 0, .size = LOW_SIZE, .host = low};
	mem.regions[1] = (struct gmem_region){.gpa = HIGH_GPA, .size = HIGH_SIZE, .host = high};
	mem.nr_regions = 2;
	mem.size = LOW_SIZE + HIGH_SIZE;
}

/* What a device does with a chain: reads its request, looks at its data
 * as iovecs, writes a reply. The sums keep the reads from being optimised
 * away. */
static uint32_t chain_consume(const struct fuzz_header *h)
{
	size_t off = h->copy_off;
	size_t len = h->copy_len < sizeof(scratch) ? h->copy_len : sizeof(scratch);
	unsigned int n;
	size_t got, put;
	uint8_t sum = 0;

	got = virtq_chain_read(&chain, off, scratch, len);
	for (size_t k = 0; k < got; k++)
		sum ^= scratch[k];
	n = virtq_chain_iov(&chain, false, 0, chain.readable_len, iov);
	for (unsigned int k = 0; k < n; k++)
		if (iov[k].iov_len > 0)
			sum ^= ((const uint8_t *)iov[k].iov_base)[iov[k].iov_len - 1];
	n = virtq_chain_iov(&chain, true, off, len, iov);
	for (unsigned int k = 0; k < n; k++)
		memset(iov[k].iov_base, sum, iov[k].iov_len);
	memset(scratch, sum, len);
	put = virtq_chain_write(&chain, off, scratch, len);
	if (chain.writable_len > 0)
		virtq_chain_write(&chain, chain.writable_len - 1, &sum, 1);
	return (uint32_t)put;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_header h;
	struct virtq q;
	size_t rest;

	if (size < sizeof(h))
		return 0;
	mem_setup();
	memcpy(&h, data, sizeof(h));
	data += sizeof(h);
	size -= sizeof(h);
	memset(low, 0, LOW_SIZE);
	memset(high, 0, HIGH_SIZE);
	rest = size < LOW_SIZE ? size : LOW_SIZE;
	memcpy(low, data, rest);
	if (size > rest)
		memcpy(high, data + rest, size - rest < HIGH_SIZE ? size - rest : HIGH_SIZE);

	virtq_reset(&q);
	q.num = h.size_log2 < 10 ? 1u << h.size_log2 : h.raw_num;
	q.desc_gpa = area_gpa(h.desc, h.placement);
	q.avail_gpa = area_gpa(h.avail, h.placement >> 2);
	q.used_gpa = area_gpa(h.used, h.placement >> 4);
	if (virtq_enable(&q, &mem, VIRTQ_SIZE_MAX, h.features & 1, h.features & 2) < 0)
		return 0;
	for (unsigned int round = 0; round <= (h.rounds & 3u); round++) {
		int rc = 0;

		/* The device's own writes may land on the available ring
		 * (the guest aimed a buffer there), so a round can legally
		 * go on; cap it to keep each input short. */
		for (unsigned int popped = 0;
		     popped <= 2u * q.size && (rc = virtq_pop(&q, &chain)) > 0; popped++) {
			if (chain.head >= q.size || chain.nr_readable + chain.nr_writable > q.size)
				abort();
			virtq_push(&q, chain.head, chain_consume(&h));
		}
		virtq_should_notify(&q);
		if (rc < 0)
			break;
		/* The "driver" republishes: bump avail idx by what the
		 * rounds byte says, to walk the index checks and the ring
		 * again with new heads. */
		if (q.avail != NULL) {
			uint16_t idx;

			memcpy(&idx, q.avail + 2, sizeof(idx));
			idx = (uint16_t)(idx + (h.rounds >> 2));
			memcpy(q.avail + 2, &idx, sizeof(idx));
		}
	}
	return 0;
}
