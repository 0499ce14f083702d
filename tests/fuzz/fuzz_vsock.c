/* libFuzzer target for virtio-vsock. The input's first byte picks one of
 * two targets:
 *
 *   even: the connection state machine alone (vsock_conn.c): a sequence of
 *     guest packets, host events and sends, with its invariants checked at
 *     every step (the device never holds more than it advertised, never
 *     sends the guest more than its credit, never writes or reads on a
 *     connection that is not established).
 *   odd: the whole device as a hostile guest sees it: tx packets with
 *     fuzzed headers, lengths and descriptor layouts, rx buffers of any
 *     size, host connections writing fuzzed CONNECT lines, and a real
 *     listener at <uds_path>_1 for guest-initiated connections.
 *
 * Guest RAM is one malloc'd region, so AddressSanitizer sees its bounds.
 * The Makefile builds it (`make fuzz`); run it with
 *   build/fuzz/fuzz_vsock -max_total_time=60
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/util.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/unit/virtio_guest.h"
#include "vmm/virtio/vsock.h"

#define GUEST_CID 3
#define RAM_SIZE  (1 << 20)
#define RX_QSIZE  64
#define TX_QSIZE  128
#define RX_BUF(k) (0x20000ULL + (k)*0x1000ULL)
#define TX_BUF(k) (0x60000ULL + (k)*0x2000ULL)
#define MAX_HOST  8

/* ---- the state machine ---- */

static void check_invariants(const struct vsock_conn *c)
{
	FUZZ_ASSERT(vsock_credit_held(&c->credit) <= c->credit.buf_alloc);
	if (vsock_conn_may_read(c))
		FUZZ_ASSERT(c->state == VSOCK_CONN_ESTABLISHED &&
			    vsock_credit_peer_free(&c->credit) > 0);
	if (c->lingering)
		FUZZ_ASSERT(c->state == VSOCK_CONN_CLOSED);
}

static void fuzz_conn(struct input *in)
{
	struct vsock_conn c;
	uint8_t start = take8(in);
	static const enum vsock_conn_state states[] = {VSOCK_CONN_HOST_LINE, VSOCK_CONN_REQUESTING,
						       VSOCK_CONN_CONNECTING};

	vsock_conn_init(&c, states[start % 3], take32(in), take32(in));
	while (in->n > 0) {
		unsigned int act = 0;
		uint8_t k = take8(in);

		switch (k % 8) {
		case 0: {
			struct virtio_vsock_hdr h;

			memset(&h, 0, sizeof(h));
			take(in, &h, sizeof(h));
			if (k & 0x80) {
				h.src_cid = htole64(GUEST_CID);
				h.dst_cid = htole64(VSOCK_HOST_CID);
				h.type = htole16(VIRTIO_VSOCK_TYPE_STREAM);
				h.op = htole16(1 + le16toh(h.op) % 7);
			}
			if (vsock_pkt_check(&h, GUEST_CID, VSOCK_MAX_PKT) != VSOCK_PKT_OK)
				break;
			{
				bool was_est = c.state == VSOCK_CONN_ESTABLISHED;

				act = vsock_conn_guest_pkt(&c, &h);
				if (act & VSOCK_DO_WRITE)
					FUZZ_ASSERT(was_est && le32toh(h.len) > 0);
			}
			break;
		}
		case 1: {
			uint32_t held = vsock_credit_held(&c.credit);
			uint32_t n = held ? take32(in) % (held + 1) : 0;

			act = vsock_conn_host_wrote(&c, n);
			break;
		}
		case 2:
			if (c.state == VSOCK_CONN_ESTABLISHED && vsock_conn_may_read(&c))
				act = vsock_conn_host_eof(&c);
			break;
		case 3:
			act = vsock_conn_host_hup(&c);
			break;
		case 4:
			act = vsock_conn_abort(&c);
			break;
		case 5:
			if (c.state == VSOCK_CONN_CONNECTING)
				vsock_conn_connected(&c);
			break;
		case 6: {
			uint16_t op = vsock_conn_next_ctl(&c);

			if ((op == 0 || !vsock_op_urgent(op)) && vsock_conn_may_read(&c)) {
				uint32_t room = vsock_credit_peer_free(&c.credit);
				uint32_t n = 1 + take32(in) % room;

				FUZZ_ASSERT(n <= vsock_credit_peer_free(&c.credit));
				act = vsock_conn_sent(&c, VIRTIO_VSOCK_OP_RW, n);
			} else if (op) {
				struct virtio_vsock_hdr h;

				vsock_conn_hdr(&c, GUEST_CID, op, &h);
				FUZZ_ASSERT(le32toh(h.fwd_cnt) == c.credit.fwd_cnt);
				act = vsock_conn_sent(&c, op, 0);
			}
			break;
		}
		default:
			if (c.state == VSOCK_CONN_REQUESTING && !(c.pending & VSOCK_OWE_REQUEST) &&
			    take8(in) & 1)
				vsock_conn_init(&c, VSOCK_CONN_REQUESTING, 1, 2);
			break;
		}
		check_invariants(&c);
		/* Freed: nothing may still be owed to the guest. */
		if (act & VSOCK_DO_FREE) {
			FUZZ_ASSERT(c.pending == 0 && !c.lingering);
			return;
		}
	}
}

/* ---- the device ---- */

static struct machine m;
static uint8_t *ram;
static struct virtio_vsock *dev;
static char dir[] = "/tmp/kiln-fuzz-vsock.XXXXXX";
static char *uds;
static int listener = -1;
static struct vg_queue rxq, txq, evq;

static void device_setup(void)
{
	struct vsock_config cfg = {.present = true, .guest_cid = GUEST_CID};
	kiln_error_t err = NULL;
	char *lpath;

	if (dev != NULL)
		return;
	kiln_log_init("fuzz_vsock", KILN_LOG_ERROR, KILN_LOG_TEXT, NULL, NULL);
	ram = calloc(1, RAM_SIZE);
	if (ram == NULL || mkdtemp(dir) == NULL)
		abort();
	m.kvm_fd = m.vm_fd = -1;
	m.pio.name = "pio";
	m.mmio.name = "mmio";
	m.mem.regions[0] = (struct gmem_region){.gpa = 0, .size = RAM_SIZE, .host = ram};
	m.mem.nr_regions = 1;
	m.mem.size = RAM_SIZE;
	if (evloop_init(&m.loop, &err) < 0)
		abort();
	uds = xasprintf("%s/v.sock", dir);
	lpath = xasprintf("%s_1", uds);
	listener = kiln_unix_listen(lpath, &err);
	free(lpath);
	cfg.uds_path = uds;
	if (listener < 0 || virtio_vsock_create(&m, &cfg, &dev, &err) < 0)
		abort();
	kiln_set_nonblock(listener, true);
}

static void queue_place(struct vg_queue *q, uint16_t size, uint64_t at)
{
	*q = (struct vg_queue){
	    .mem = &m.mem, .desc = at, .avail = at + 0x1000, .used = at + 0x2000, .size = size};
	memset(ram + at, 0, 0x3000);
}

static void guest_up(void)
{
	uint64_t base = dev->mmio.slot.base;

	queue_place(&rxq, RX_QSIZE, 0x10000);
	queue_place(&txq, TX_QSIZE, 0x14000);
	queue_place(&evq, 8, 0x18000);
	vg_negotiate(&m, base, 1ULL << VIRTIO_F_VERSION_1);
	vg_queue_setup(&m, base, VIRTIO_VSOCK_RX, &rxq);
	vg_queue_setup(&m, base, VIRTIO_VSOCK_TX, &txq);
	vg_queue_setup(&m, base, VIRTIO_VSOCK_EVENT, &evq);
	vg_driver_ok(&m, base);
}

static void fuzz_device(struct input *in)
{
	uint64_t base;
	int host[MAX_HOST];
	unsigned int nr_host = 0, nr_tx = 0, nr_rx = 0;

	device_setup();
	base = dev->mmio.slot.base;
	guest_up();
	while (in->n > 0 && nr_tx < TX_QSIZE / 4) {
		uint8_t k = take8(in);

		switch (k % 4) {
		case 0: { /* a tx packet */
			struct virtio_vsock_hdr h;
			uint8_t fix = take8(in);
			uint16_t plen = 0, slot = (uint16_t)nr_tx, d = (uint16_t)(4 * slot);
			uint8_t segs = 1 + take8(in) % 4;
			uint64_t gpa = TX_BUF(slot);
			uint32_t total, off = 0;

			memset(&h, 0, sizeof(h));
			take(in, &h, sizeof(h));
			take(in, &plen, sizeof(plen));
			plen %= 0x2000 - sizeof(h);
			if (fix & 1)
				h.src_cid = htole64(GUEST_CID);
			if (fix & 2)
				h.dst_cid = htole64(VSOCK_HOST_CID);
			if (fix & 4)
				h.type = htole16(VIRTIO_VSOCK_TYPE_STREAM);
			if (fix & 8)
				h.dst_port = htole32(1);
			if (fix & 16)
				h.op = htole16(1 + le16toh(h.op) % 7);
			if (fix & 32)
				h.len = htole32(plen);
			if (fix & 64)
				h.src_port = htole32(fix >> 7);
			memcpy(ram + gpa, &h, sizeof(h));
			memset(ram + gpa + sizeof(h), 0x5a, plen);
			take(in, ram + gpa + sizeof(h), plen < in->n ? plen : in->n);
			total = (uint32_t)sizeof(h) + plen;
			/* Split header + payload into segs descriptors at
			 * fuzzed boundaries. */
			for (uint8_t s = 0; s < segs; s++) {
				uint32_t len =
				    s + 1 == segs ? total - off : take8(in) % (total - off + 1);

				vg_desc(&txq, d + s, gpa + off, len,
					s + 1 < segs ? VRING_DESC_F_NEXT : 0, d + s + 1);
				off += len;
			}
			vg_avail_push(&txq, d);
			nr_tx++;
			vg_wr(&m, base, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_VSOCK_TX);
			break;
		}
		case 1: { /* rx buffers of fuzzed sizes */
			uint8_t count = 1 + take8(in) % 8;

			for (uint8_t i = 0; i < count && nr_rx < RX_QSIZE; i++, nr_rx++) {
				uint16_t len = 0;

				take(in, &len, sizeof(len));
				vg_desc(&rxq, (uint16_t)nr_rx, RX_BUF(nr_rx), len % 0x1001,
					VRING_DESC_F_WRITE, 0);
				vg_avail_push(&rxq, (uint16_t)nr_rx);
			}
			vg_wr(&m, base, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_VSOCK_RX);
			break;
		}
		case 2:
			evloop_run_once(&m.loop, 0);
			break;
		default: { /* a host connection with a fuzzed first line */
			char line[48];
			uint8_t len = take8(in) % sizeof(line);
			kiln_error_t err = NULL;
			int fd;

			if (nr_host == MAX_HOST)
				break;
			memset(line, 0, sizeof(line));
			take(in, line, len);
			if (k & 4)
				len = (uint8_t)snprintf(line, sizeof(line), "CONNECT %u\n",
							(unsigned int)(k >> 3));
			fd = kiln_unix_connect(uds, &err);
			kiln_error_free(&err);
			if (fd < 0)
				break;
			if (send(fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
				close(fd);
				break;
			}
			host[nr_host++] = fd;
			evloop_run_once(&m.loop, 0);
			break;
		}
		}
	}
	/* Tidy up for the next input: host sockets go, the guest resets, and
	 * whatever the listener accepted is dropped. */
	for (unsigned int i = 0; i < nr_host; i++)
		close(host[i]);
	for (int i = 0; i < 4; i++)
		evloop_run_once(&m.loop, 0);
	vg_wr(&m, base, VIRTIO_MMIO_STATUS, 0);
	for (int fd; (fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) >= 0;)
		close(fd);
	for (int i = 0; i < 4; i++)
		evloop_run_once(&m.loop, 0);
	FUZZ_ASSERT(dev->nr_conns <= VSOCK_MAX_CONNS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	uint8_t mode;

	if (size == 0)
		return 0;
	mode = take8(&in);
	if (mode & 1)
		fuzz_device(&in);
	else
		fuzz_conn(&in);
	return 0;
}
