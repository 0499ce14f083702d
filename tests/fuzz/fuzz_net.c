/* libFuzzer target for virtio-net as a hostile guest sees it: the whole
 * device (vmm/virtio/net.c) behind its virtio-mmio page, driven by a
 * sequence of operations the input picks: feature negotiation (any subset
 * of what is offered, none included), queue set-up with fuzzed sizes and
 * ring addresses (inside guest RAM or not), rx and tx chains with fuzzed
 * lengths, flags, next pointers and indirect tables, notifications, raw
 * register writes and status changes (a reset in the middle), reads of
 * any offset and size, and packets of fuzzed sizes (0 and over 64 KiB
 * included) arriving on the "tap", whose other end the target also reads.
 *
 * As in test_net.c the tap is a SOCK_SEQPACKET socketpair (packet
 * boundaries kept, writes that block once the peer's queue is full) and
 * the event loop runs from this thread. Guest RAM is one malloc'd region,
 * so AddressSanitizer sees its bounds. Checked after every step that lets
 * the device run:
 *   - a used element never claims more bytes than the writable part of a
 *     plain chain (one the target laid out itself, unchanged since);
 *   - while the driver is not up (reset, before DRIVER_OK, NEEDS_RESET)
 *     the device does not touch the used rings.
 * Each input gets a fresh machine, device and socketpair, all freed at its
 * end. `make fuzz` builds it; run it with
 *   build/fuzz/fuzz_net -max_total_time=60
 */
#include <endian.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/unit/virtio_guest.h"
#include "vmm/virtio/net.h"

#define RAM_SIZE     (1ULL << 20)
#define RING_AREA(k) ((uint64_t)(k)*0x4000ULL) /* 4 ring areas: desc, avail, used */
#define INDIR_BASE   0x10000ULL		       /* indirect tables, 0x1000 per queue */
#define RX_BASE	     0x20000ULL
#define RX_AREA	     0x40000ULL
#define TX_BASE	     0x60000ULL
#define TX_AREA	     0xa0000ULL
#define MAX_OPS	     96
#define PKT_BUF	     (256 * 1024)
#define BIT(n)	     (1ULL << (n))

/* The driver's view of one queue, and what it knows of its chains. */
struct hq {
	struct vg_queue q;
	uint16_t next_desc;
	uint16_t used_seen; /* used idx up to which elements were checked */
	/* plain[h]: chain h was laid out here as a linear list of direct
	 * descriptors, unchanged since; bound[h] is its writable bytes. */
	bool plain[VIRTQ_SIZE_MAX];
	uint64_t bound[VIRTQ_SIZE_MAX];
	/* owner[d]: 1 + the head of the chain descriptor d belongs to. */
	uint16_t owner[VIRTQ_SIZE_MAX];
	/* Chains published and not seen in the used ring yet: the device may
	 * hold them (popped, not pushed), so one laid over their descriptors
	 * cannot be checked (the element may be the old chain's). Kept across
	 * resets: when unsure, a chain is not checked. */
	uint16_t outstanding[VIRTQ_SIZE_MAX];
};

static uint8_t *ram;
static uint8_t *pkt;
static struct machine m;
static struct virtio_net *dev;
static int peer = -1;
static uint64_t base, offered;
static struct hq hq[2];
static bool offload_fails;
/* The device may have written over rings or descriptors (a buffer or a
 * ring the driver put anywhere): what the target laid out is no longer
 * what the device reads, so used lengths are not checked. */
static bool clobber;

static int fake_offload(int fd, unsigned int flags)
{
	(void)fd;
	(void)flags;
	if (offload_fails) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static void hq_forget(struct hq *h)
{
	memset(h->plain, 0, sizeof(h->plain));
	h->used_seen = vg_used_idx(&h->q);
}

/* Rings for queue i at fuzzed places: one of the ring areas, the end of
 * RAM, or anywhere. */
static uint64_t ring_addr(struct input *in, unsigned int part)
{
	uint8_t b = take8(in);

	if (b % 8 >= 6)
		clobber = true;
	switch (b % 8) {
	case 6:
		return RAM_SIZE - (take8(in) % 64) * 8;
	case 7:
		return take64(in);
	default:
		return RING_AREA(b % 4) + part * 0x1000ULL + (b & 0x80 ? (b >> 4) % 8 * 2 : 0);
	}
}

static bool driver_live(void)
{
	uint32_t s = dev->mmio.status;

	return (s & VIRTIO_CONFIG_S_FEATURES_OK) && (s & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(s & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* The device's layout of queue i is the one the driver laid its chains
 * out in: its used elements can be checked against them. */
static bool layout_same(unsigned int i)
{
	const struct virtq *vq = &dev->mmio.queues[i].vq;

	return vq->ready && vq->desc_gpa == hq[i].q.desc && vq->used_gpa == hq[i].q.used &&
	       vq->size == hq[i].q.size;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* The two queues' rings do not share bytes (a shared used ring mixes
 * both queues' elements). */
static bool rings_apart(void)
{
	const struct vg_queue *a = &hq[0].q, *b = &hq[1].q;
	uint64_t ra[3][2] = {{a->desc, 16ULL * a->size},
			     {a->avail, 6 + 2ULL * a->size},
			     {a->used, 6 + 8ULL * a->size}};
	uint64_t rb[3][2] = {{b->desc, 16ULL * b->size},
			     {b->avail, 6 + 2ULL * b->size},
			     {b->used, 6 + 8ULL * b->size}};

	for (int x = 0; x < 3; x++)
		for (int y = 0; y < 3; y++)
			if (overlap(ra[x][0], ra[x][1], rb[y][0], rb[y][1]))
				return false;
	return true;
}

static void check_used(unsigned int i)
{
	struct hq *h = &hq[i];
	uint16_t idx = vg_used_idx(&h->q);
	uint16_t fresh = (uint16_t)(idx - h->used_seen);

	if (clobber || !layout_same(i) || !rings_apart() || fresh > h->q.size) {
		h->used_seen = idx;
		return;
	}
	for (uint16_t k = 0; k < fresh; k++) {
		uint32_t id, len;

		vg_used_elem(&h->q, (uint16_t)(h->used_seen + k), &id, &len);
		FUZZ_ASSERT(id < h->q.size);
		if (h->plain[id])
			FUZZ_ASSERT(len <= h->bound[id]);
		if (h->outstanding[id] > 0)
			h->outstanding[id]--;
	}
	h->used_seen = idx;
}

/* Lets the device act (a register write, the event loop) and checks what
 * it did to the used rings. */
enum step { STEP_LOOP, STEP_NOTIFY, STEP_WRITE };

static void device_step(enum step s, uint64_t off, uint32_t v)
{
	bool live_before = driver_live();
	uint16_t before[2] = {vg_used_idx(&hq[0].q), vg_used_idx(&hq[1].q)};

	switch (s) {
	case STEP_LOOP:
		for (int i = 0; i < 8 && evloop_run_once(&m.loop, 0) > 0; i++)
			;
		break;
	case STEP_NOTIFY:
		vg_wr(&m, base, VIRTIO_MMIO_QUEUE_NOTIFY, v);
		break;
	case STEP_WRITE:
		vg_wr(&m, base, off, v);
		break;
	}
	if (!live_before && !driver_live()) {
		FUZZ_ASSERT(vg_used_idx(&hq[0].q) == before[0]);
		FUZZ_ASSERT(vg_used_idx(&hq[1].q) == before[1]);
	}
	check_used(0);
	check_used(1);
}

static void desc_put(struct hq *h, uint16_t d, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	if (h->owner[d])
		h->plain[h->owner[d] - 1] = false;
	h->plain[d] = false;
	vg_desc(&h->q, d, addr, len, flags, next);
}

/* An indirect table for queue i with fuzzed entries; returns its address. */
static uint64_t indirect_table(struct input *in, unsigned int i, unsigned int *n)
{
	uint64_t at = INDIR_BASE + i * 0x1000ULL;

	*n = take8(in) % 6;
	for (unsigned int k = 0; k < *n; k++) {
		uint32_t len = take16(in);
		uint8_t f = take8(in);
		uint16_t flags = (f & 1 ? VRING_DESC_F_NEXT : 0) |
				 (f & 2 ? VRING_DESC_F_WRITE : 0) |
				 (f & 4 ? VRING_DESC_F_INDIRECT : 0);

		vg_desc_at(&m.mem, at, (uint16_t)k, (i ? TX_BASE : RX_BASE) + take16(in), len,
			   flags, f & 8 ? (uint16_t)(f >> 4) : (uint16_t)(k + 1));
	}
	return at;
}

/* One chain of 1 to 8 descriptors on queue i, `total` bytes at `area`
 * split at fuzzed places; `want` the flag a well-formed one has. Every
 * so often the layout is hostile: the wrong direction, indirect tables,
 * next pointers that loop or leave the table, lengths that overflow,
 * addresses outside RAM. Publishes it and returns its head. */
static uint16_t chain_put(struct input *in, unsigned int i, uint64_t area, uint32_t total,
			  uint16_t want)
{
	struct hq *h = &hq[i];
	uint8_t shape = take8(in);
	unsigned int segs = 1 + shape % 8;
	uint16_t size = h->q.size, head = h->next_desc % size;
	bool plain = segs <= size && h->outstanding[head] == 0;
	uint64_t writable = 0;
	uint32_t off = 0;

	for (unsigned int s = 0; s < segs; s++) {
		uint16_t d = (uint16_t)((head + s) % size);
		bool last = s + 1 == segs;
		uint32_t seg = last ? total - off : take16(in) % (total - off + 1);
		uint32_t len = seg;
		uint64_t addr = area + off;
		uint16_t flags = want | (last ? 0 : VRING_DESC_F_NEXT);
		uint16_t next = (uint16_t)(d + 1);

		if (shape & 0x80) {
			uint8_t bad = take8(in);

			switch (bad % 8) {
			case 0:
				flags ^= VRING_DESC_F_WRITE;
				break;
			case 1:
				next = take16(in);
				plain = false;
				break;
			case 2:
				next = head; /* a loop */
				flags |= VRING_DESC_F_NEXT;
				plain = false;
				break;
			case 3:
				len = 0xffffffffu - (bad >> 3);
				break;
			case 4:
				addr = take64(in);
				clobber = true;
				break;
			case 5: {
				unsigned int n;

				addr = indirect_table(in, i, &n);
				len = bad & 0x80 ? take32(in) : n * 16;
				flags |= VRING_DESC_F_INDIRECT;
				plain = false;
				break;
			}
			case 6:
				addr = RAM_SIZE - (bad >> 3);
				clobber = true;
				break;
			default:
				break;
			}
		}
		if (flags & VRING_DESC_F_WRITE)
			writable += len;
		if (h->owner[d] && h->outstanding[h->owner[d] - 1])
			plain = false;
		desc_put(h, d, addr, len, flags, next);
		off += seg;
	}
	for (unsigned int s = 0; s < segs && s < size; s++)
		h->owner[(head + s) % size] = (uint16_t)(head + 1);
	h->plain[head] = plain;
	h->bound[head] = writable;
	h->next_desc = (uint16_t)((head + segs) % size);
	h->outstanding[head]++;
	vg_avail_push(&h->q, head);
	return head;
}

static void op_negotiate(struct input *in)
{
	uint64_t f = take64(in);
	uint8_t how = take8(in);

	if (how % 4 != 0)
		f &= offered;
	if (how & 4)
		f |= BIT(VIRTIO_F_VERSION_1);
	if (how & 8)
		f &= ~BIT(VIRTIO_NET_F_MRG_RXBUF);
	offload_fails = (how & 0xf0) == 0xf0;
	vg_negotiate(&m, base, f);
	check_used(0);
	check_used(1);
}

static void op_queue(struct input *in)
{
	uint8_t b = take8(in);
	unsigned int i = b % 3;
	uint16_t size = b & 0x80 ? take16(in) : (uint16_t)(1u << (take8(in) % 9));
	uint64_t desc = ring_addr(in, 0), avail = ring_addr(in, 1), used = ring_addr(in, 2);
	uint32_t ready = b & 0x40 ? take32(in) : 1;

	if (i < 2) {
		struct hq *h = &hq[i];

		h->q = (struct vg_queue){
		    .mem = &m.mem,
		    .desc = desc,
		    .avail = avail,
		    .used = used,
		    .size = size ? (size > VIRTQ_SIZE_MAX ? VIRTQ_SIZE_MAX : size) : 1};
		h->next_desc = 0;
		/* A driver zeroes its rings before it hands them over. */
		if (!(b & 0x20)) {
			void *p;

			if ((p = gmem_ptr(&m.mem, avail, 6 + 2ULL * h->q.size)) != NULL)
				memset(p, 0, 6 + 2ULL * h->q.size);
			if ((p = gmem_ptr(&m.mem, used, 6 + 8ULL * h->q.size)) != NULL)
				memset(p, 0, 6 + 8ULL * h->q.size);
		}
		hq_forget(h);
		hq_forget(&hq[1 - i]);
	}
	vg_wr(&m, base, VIRTIO_MMIO_QUEUE_SEL, i);
	vg_wr(&m, base, VIRTIO_MMIO_QUEUE_NUM, size);
	vg_wr(&m, base, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	vg_wr(&m, base, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	vg_wr(&m, base, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	vg_wr(&m, base, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
	vg_wr(&m, base, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	vg_wr(&m, base, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
	device_step(STEP_WRITE, VIRTIO_MMIO_QUEUE_READY, ready);
}

static void op_rx(struct input *in)
{
	unsigned int count = 1 + take8(in) % 8;

	for (unsigned int k = 0; k < count; k++) {
		uint8_t how = take8(in);
		uint32_t len;

		switch (how % 4) {
		case 0:
			len = take16(in) % 4096;
			break;
		case 1:
			len = VIRTIO_NET_HDR_LEN - how / 64;
			break;
		case 2:
			len = VIRTIO_NET_PKT_MAX;
			break;
		default:
			len = 1514 + VIRTIO_NET_HDR_LEN;
			break;
		}
		chain_put(in, 0, RX_BASE + (take8(in) % 8) * 0x8000ULL % (RX_AREA - 0x10000), len,
			  VRING_DESC_F_WRITE);
	}
	if (take8(in) % 4)
		device_step(STEP_NOTIFY, 0, VIRTIO_NET_RX);
}

/* 1 to 16 packets (enough to fill the socket's queue), all from the same
 * bytes: what the device hands the tap is not looked into. */
static void op_tx(struct input *in)
{
	static const uint32_t big[] = {VIRTIO_NET_PKT_MAX, VIRTIO_NET_PKT_MAX + 1, 65536, 100000};
	unsigned int count = 1 + take8(in) % 16;
	uint8_t hdr[VIRTIO_NET_HDR_LEN] = {0};

	take(in, hdr, sizeof(hdr));
	memset(ram + TX_BASE, 0x5a, big[3]);
	memcpy(ram + TX_BASE, hdr, sizeof(hdr));
	for (unsigned int k = 0; k < count; k++) {
		uint8_t how = take8(in);
		uint32_t total = how & 1 ? big[(how >> 1) % 4] : take16(in) % 4096;

		chain_put(in, 1, TX_BASE, total, 0);
	}
	if (take8(in) % 4)
		device_step(STEP_NOTIFY, 0, VIRTIO_NET_TX);
}

/* A packet arrives on the tap: a vnet header and payload from the input,
 * of any size the socket takes (a zero-length one reads as end of file,
 * as a tap that went away). */
static void op_send(struct input *in)
{
	static const size_t big[] = {65535,  65536, VIRTIO_NET_PKT_MAX, VIRTIO_NET_PKT_MAX + 1,
				     100000, 200000};
	uint8_t how = take8(in);
	size_t len;

	if (how % 16 == 0)
		len = 0;
	else if (how % 4 == 1)
		len = big[(how >> 2) % 6];
	else
		len = take16(in) % 2048;
	memset(pkt, 0, len);
	take(in, pkt, len < 24 ? len : 24);
	if (how & 0x80)
		pkt[1] = VIRTIO_NET_HDR_GSO_NONE;
	(void)send(peer, pkt, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	device_step(STEP_LOOP, 0, 0);
}

/* The host reads what the guest sent (which lets held tx chains go). */
static void op_drain(struct input *in)
{
	unsigned int n = 1 + take8(in) % 16;

	for (unsigned int k = 0; k < n; k++)
		if (recv(peer, pkt, PKT_BUF, MSG_DONTWAIT) < 0)
			break;
	device_step(STEP_LOOP, 0, 0);
}

/* The tap goes away: end of file for the device's reads, or the other end
 * closed (hang-up, writes that fail). */
static void op_hangup(struct input *in)
{
	if (peer < 0)
		return;
	if (take8(in) & 1) {
		shutdown(peer, SHUT_WR);
	} else {
		close(peer);
		peer = -1;
	}
	device_step(STEP_LOOP, 0, 0);
}

/* A read of any offset and size: registers, the config space, beyond. */
static void op_read(struct input *in)
{
	static const uint32_t sizes[] = {1, 2, 4, 8};
	uint8_t data[64];
	uint16_t off = take16(in) % 0x200;
	uint8_t b = take8(in);
	uint32_t len = b & 0x80 ? 1 + b % sizeof(data) : sizes[b % 4];

	bus_dispatch(&m.mmio, base + off, false, data, len);
}

static void op_write(struct input *in)
{
	uint8_t b = take8(in);
	uint32_t v = take32(in);

	/* The driver may change what the device sees of its rings. */
	hq_forget(&hq[0]);
	hq_forget(&hq[1]);
	if (b & 0x80) {
		uint8_t data[8];
		uint16_t off = take16(in) % 0x200;

		memcpy(data, &v, sizeof(v));
		memset(data + 4, b, 4);
		bus_dispatch(&m.mmio, base + off, true, data, 1 + b % 8);
		device_step(STEP_LOOP, 0, 0);
		return;
	}
	device_step(STEP_WRITE, (b % 0x40) * 4ULL, v);
}

static void device_new(void)
{
	struct net_iface_config cfg = {.iface_id = "eth0",
				       .host_dev_name = "ktap0",
				       .has_mac = true,
				       .guest_mac = {0x06, 0x00, 0xac, 0x10, 0x00, 0x02}};
	kiln_error_t err = NULL;
	int sv[2];

	memset(&m, 0, sizeof(m));
	m.kvm_fd = m.vm_fd = -1;
	m.pio.name = "pio";
	m.mmio.name = "mmio";
	m.mem.regions[0] = (struct gmem_region){.gpa = 0, .size = RAM_SIZE, .host = ram};
	m.mem.nr_regions = 1;
	m.mem.size = RAM_SIZE;
	memset(ram, 0, RAM_SIZE);
	if (evloop_init(&m.loop, &err) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	peer = sv[1];
	if (virtio_net_create(&m, &cfg, sv[0], &dev, &err) < 0)
		abort();
	dev->set_offload = fake_offload;
	offload_fails = false;
	clobber = false;
	base = dev->mmio.slot.base;
	offered = vg_device_features(&m, base);
	for (unsigned int i = 0; i < 2; i++) {
		memset(&hq[i], 0, sizeof(hq[i]));
		hq[i].q = (struct vg_queue){.mem = &m.mem,
					    .desc = RING_AREA(i),
					    .avail = RING_AREA(i) + 0x1000,
					    .used = RING_AREA(i) + 0x2000,
					    .size = 16};
	}
}

static void device_done(void)
{
	virtio_net_free(dev);
	dev = NULL;
	if (peer >= 0)
		close(peer);
	peer = -1;
	evloop_release(&m.loop);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	static bool once;

	if (!once) {
		kiln_log_init("fuzz_net", KILN_LOG_ERROR, KILN_LOG_TEXT, NULL, NULL);
		/* As in the VMM: a write to a closed peer fails with EPIPE. */
		signal(SIGPIPE, SIG_IGN);
		ram = malloc(RAM_SIZE);
		pkt = malloc(PKT_BUF);
		if (ram == NULL || pkt == NULL)
			abort();
		once = true;
	}
	device_new();
	/* Most inputs start from a driver that is up, as Linux brings it up,
	 * with the features the first byte picks. */
	if (take8(&in) & 1) {
		uint64_t f = take64(&in) & offered;

		vg_negotiate(&m, base, f | BIT(VIRTIO_F_VERSION_1));
		vg_queue_setup(&m, base, VIRTIO_NET_RX, &hq[0].q);
		vg_queue_setup(&m, base, VIRTIO_NET_TX, &hq[1].q);
		vg_driver_ok(&m, base);
	}
	for (unsigned int ops = 0; in.n > 0 && ops < MAX_OPS; ops++) {
		switch (take8(&in) % 13) {
		case 0:
			op_negotiate(&in);
			break;
		case 1:
			op_queue(&in);
			break;
		case 2:
			device_step(STEP_WRITE, VIRTIO_MMIO_STATUS,
				    VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
			break;
		case 3:
			device_step(STEP_WRITE, VIRTIO_MMIO_STATUS, take8(&in));
			break;
		case 4:
		case 5:
			op_rx(&in);
			break;
		case 6:
			op_tx(&in);
			break;
		case 7:
		case 8:
			op_send(&in);
			break;
		case 9:
			op_drain(&in);
			break;
		case 10:
			op_read(&in);
			break;
		case 11:
			op_hangup(&in);
			break;
		default:
			if (take8(&in) & 1)
				device_step(STEP_NOTIFY, 0, take8(&in) % 3);
			else
				op_write(&in);
			break;
		}
	}
	device_step(STEP_LOOP, 0, 0);
	device_done();
	return 0;
}
