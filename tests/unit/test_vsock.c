/* virtio-vsock: the connection state machine and its credit accounting on
 * their own, then the whole device without KVM: a toy guest vsock stack
 * (rx/tx queues driven through virtio_guest.h) on one side, real unix
 * sockets on a temp uds_path on the other, and the event loop run from the
 * test thread with evloop_run_once(). */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/io.h"
#include "common/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/virtio_guest.h"
#include "vmm/virtio/vsock.h"

/* ---- the state machine, no I/O ---- */

static struct virtio_vsock_hdr hdr_make(uint16_t op, uint32_t src_port, uint32_t dst_port,
					uint32_t len, uint32_t buf_alloc, uint32_t fwd_cnt)
{
	return (struct virtio_vsock_hdr){
	    .src_cid = htole64(3),
	    .dst_cid = htole64(VSOCK_HOST_CID),
	    .src_port = htole32(src_port),
	    .dst_port = htole32(dst_port),
	    .len = htole32(len),
	    .type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
	    .op = htole16(op),
	    .buf_alloc = htole32(buf_alloc),
	    .fwd_cnt = htole32(fwd_cnt),
	};
}

static int test_credit_math(void)
{
	struct vsock_credit c;

	vsock_credit_init(&c);
	TAP_CHECK(c.buf_alloc == VSOCK_BUF_ALLOC);
	TAP_CHECK(vsock_credit_peer_free(&c) == 0); /* the guest has not said */
	c.peer_buf_alloc = 65536;
	TAP_CHECK(vsock_credit_peer_free(&c) == 65536);
	c.tx_cnt = 65000;
	TAP_CHECK(vsock_credit_peer_free(&c) == 536);
	c.peer_fwd_cnt = 1000;
	TAP_CHECK(vsock_credit_peer_free(&c) == 1536);
	/* Counters wrap: only differences count. */
	c.tx_cnt = 100;
	c.peer_fwd_cnt = UINT32_MAX - 99; /* 200 in flight */
	TAP_CHECK(vsock_credit_peer_free(&c) == 65336);
	/* A guest that shrinks its buffer below what is in flight, or
	 * reports more consumed than sent, gets nothing. */
	c.peer_buf_alloc = 100;
	TAP_CHECK(vsock_credit_peer_free(&c) == 0);
	c.peer_buf_alloc = 65536;
	c.peer_fwd_cnt = 101;
	TAP_CHECK(vsock_credit_peer_free(&c) == 0);

	/* Our side. */
	TAP_CHECK(vsock_credit_rx_fits(&c, VSOCK_BUF_ALLOC));
	TAP_CHECK(!vsock_credit_rx_fits(&c, VSOCK_BUF_ALLOC + 1));
	c.rx_cnt = UINT32_MAX - 10;
	c.fwd_cnt = UINT32_MAX - 10 - 4096;
	TAP_CHECK(vsock_credit_held(&c) == 4096);
	TAP_CHECK(vsock_credit_rx_fits(&c, VSOCK_BUF_ALLOC - 4096));
	TAP_CHECK(!vsock_credit_rx_fits(&c, VSOCK_BUF_ALLOC - 4095));
	c.fwd_cnt_sent = c.fwd_cnt;
	c.fwd_cnt += VSOCK_CREDIT_THRESHOLD - 1;
	TAP_CHECK(!vsock_credit_update_due(&c));
	c.fwd_cnt += 1;
	TAP_CHECK(vsock_credit_update_due(&c));
	return TAP_PASS;
}

static void conn_established(struct vsock_conn *c, uint32_t peer_buf_alloc)
{
	vsock_conn_init(c, VSOCK_CONN_CONNECTING, 5000, 40000);
	c->credit.peer_buf_alloc = peer_buf_alloc;
	vsock_conn_connected(c);
	vsock_conn_sent(c, VIRTIO_VSOCK_OP_RESPONSE, 0);
}

static int test_conn_never_exceeds_peer_credit(void)
{
	struct vsock_conn c;
	struct virtio_vsock_hdr h;
	uint32_t sent = 0;

	conn_established(&c, 10000);
	TAP_CHECK(c.pending == 0);
	/* The device reads at most the credit each time. */
	while (vsock_conn_may_read(&c)) {
		uint32_t n = vsock_credit_peer_free(&c.credit);

		n = n > 3000 ? 3000 : n;
		vsock_conn_sent(&c, VIRTIO_VSOCK_OP_RW, n);
		sent += n;
	}
	TAP_CHECK(sent == 10000);
	/* The guest consumed 4000 and says so. */
	h = hdr_make(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 40000, 5000, 0, 10000, 4000);
	TAP_CHECK(vsock_conn_guest_pkt(&c, &h) & VSOCK_DO_INTEREST);
	TAP_CHECK(vsock_conn_may_read(&c) && vsock_credit_peer_free(&c.credit) == 4000);
	/* Not before RESPONSE went out. */
	conn_established(&c, 10000);
	c.pending |= VSOCK_OWE_RESPONSE;
	TAP_CHECK(!vsock_conn_may_read(&c));
	return TAP_PASS;
}

static int test_conn_credit_update(void)
{
	struct vsock_conn c;
	struct virtio_vsock_hdr h;
	unsigned int act;

	conn_established(&c, 65536);
	/* The guest sends 200 KiB; we write it out in pieces. */
	for (int i = 0; i < 50; i++) {
		h = hdr_make(VIRTIO_VSOCK_OP_RW, 40000, 5000, 4096, 65536, 0);
		TAP_CHECK(vsock_conn_guest_pkt(&c, &h) & VSOCK_DO_WRITE);
	}
	TAP_CHECK(vsock_credit_held(&c.credit) == 50 * 4096);
	act = vsock_conn_host_wrote(&c, VSOCK_CREDIT_THRESHOLD - 1);
	TAP_CHECK(!(c.pending & VSOCK_OWE_CREDIT) && !(act & VSOCK_DO_CLOSE));
	vsock_conn_host_wrote(&c, 1);
	TAP_CHECK(c.pending & VSOCK_OWE_CREDIT);
	TAP_CHECK(vsock_conn_next_ctl(&c) == VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	/* Not urgent: data first, and data carries the credit too. */
	TAP_CHECK(!vsock_op_urgent(VIRTIO_VSOCK_OP_CREDIT_UPDATE));
	vsock_conn_hdr(&c, 3, VIRTIO_VSOCK_OP_RW, &h);
	TAP_CHECK(le32toh(h.fwd_cnt) == VSOCK_CREDIT_THRESHOLD);
	TAP_CHECK(le32toh(h.buf_alloc) == VSOCK_BUF_ALLOC);
	TAP_CHECK(le64toh(h.src_cid) == 2 && le64toh(h.dst_cid) == 3);
	TAP_CHECK(le32toh(h.src_port) == 5000 && le32toh(h.dst_port) == 40000);
	vsock_conn_sent(&c, VIRTIO_VSOCK_OP_RW, 10);
	TAP_CHECK(!(c.pending & VSOCK_OWE_CREDIT));
	/* CREDIT_REQUEST is answered whatever the threshold. */
	h = hdr_make(VIRTIO_VSOCK_OP_CREDIT_REQUEST, 40000, 5000, 0, 65536, 0);
	vsock_conn_guest_pkt(&c, &h);
	TAP_CHECK(vsock_conn_next_ctl(&c) == VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	vsock_conn_sent(&c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
	TAP_CHECK(c.pending == 0);
	/* Up to our credit (256 KiB held), then past it: abort with RST, the
	 * socket closes. */
	h = hdr_make(VIRTIO_VSOCK_OP_RW, 40000, 5000,
		     VSOCK_BUF_ALLOC - vsock_credit_held(&c.credit), 65536, 0);
	TAP_CHECK(vsock_conn_guest_pkt(&c, &h) & VSOCK_DO_WRITE);
	TAP_CHECK(vsock_credit_held(&c.credit) == VSOCK_BUF_ALLOC);
	h = hdr_make(VIRTIO_VSOCK_OP_RW, 40000, 5000, 1, 65536, 0);
	act = vsock_conn_guest_pkt(&c, &h);
	TAP_CHECK(!(act & VSOCK_DO_WRITE) && (act & VSOCK_DO_CLOSE));
	TAP_CHECK(c.state == VSOCK_CONN_CLOSED && vsock_conn_next_ctl(&c) == VIRTIO_VSOCK_OP_RST);
	TAP_CHECK(vsock_conn_sent(&c, VIRTIO_VSOCK_OP_RST, 0) == VSOCK_DO_FREE);
	return TAP_PASS;
}

static int test_conn_shutdown(void)
{
	struct vsock_conn c;
	struct virtio_vsock_hdr h;
	unsigned int act;

	/* Guest SHUTDOWN(SEND) with bytes still held: SHUT_WR waits for them. */
	conn_established(&c, 65536);
	h = hdr_make(VIRTIO_VSOCK_OP_RW, 40000, 5000, 100, 65536, 0);
	vsock_conn_guest_pkt(&c, &h);
	h = hdr_make(VIRTIO_VSOCK_OP_SHUTDOWN, 40000, 5000, 0, 65536, 0);
	h.flags = htole32(VIRTIO_VSOCK_SHUTDOWN_SEND);
	act = vsock_conn_guest_pkt(&c, &h);
	TAP_CHECK(!(act & VSOCK_DO_SHUT_WR) && c.guest_shut_send);
	act = vsock_conn_host_wrote(&c, 100);
	TAP_CHECK((act & VSOCK_DO_SHUT_WR) && !(act & VSOCK_DO_CLOSE));
	TAP_CHECK(vsock_conn_may_read(&c)); /* the other way still flows */
	/* More data after SHUTDOWN(SEND) is a protocol error. */
	/* Host EOF: SHUTDOWN(SEND) would be owed, but both ways are done. */
	act = vsock_conn_host_eof(&c);
	TAP_CHECK(act & VSOCK_DO_CLOSE);
	TAP_CHECK(c.state == VSOCK_CONN_CLOSED && vsock_conn_next_ctl(&c) == VIRTIO_VSOCK_OP_RST);
	TAP_CHECK(vsock_conn_sent(&c, VIRTIO_VSOCK_OP_RST, 0) & VSOCK_DO_FREE);

	/* Host EOF first: SHUTDOWN(SEND) goes to the guest. */
	conn_established(&c, 65536);
	act = vsock_conn_host_eof(&c);
	TAP_CHECK(!(act & VSOCK_DO_CLOSE) && !vsock_conn_may_read(&c));
	TAP_CHECK(vsock_conn_next_ctl(&c) == VIRTIO_VSOCK_OP_SHUTDOWN);
	vsock_conn_hdr(&c, 3, VIRTIO_VSOCK_OP_SHUTDOWN, &h);
	TAP_CHECK(le32toh(h.flags) == VIRTIO_VSOCK_SHUTDOWN_SEND);
	vsock_conn_sent(&c, VIRTIO_VSOCK_OP_SHUTDOWN, 0);
	TAP_CHECK(c.pending == 0);
	/* Then the guest closes (RCV|SEND): both done, RST. */
	h = hdr_make(VIRTIO_VSOCK_OP_SHUTDOWN, 40000, 5000, 0, 65536, 0);
	h.flags = htole32(VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV);
	act = vsock_conn_guest_pkt(&c, &h);
	TAP_CHECK((act & VSOCK_DO_SHUT_WR) && (act & VSOCK_DO_CLOSE));
	TAP_CHECK(vsock_conn_next_ctl(&c) == VIRTIO_VSOCK_OP_RST);
	h = hdr_make(VIRTIO_VSOCK_OP_RW, 40000, 5000, 10, 65536, 0);
	TAP_CHECK(vsock_conn_guest_pkt(&c, &h) == 0); /* closed: ignored */

	/* Guest RCV only: reads stop, the socket's read side shuts. */
	conn_established(&c, 65536);
	h = hdr_make(VIRTIO_VSOCK_OP_SHUTDOWN, 40000, 5000, 0, 65536, 0);
	h.flags = htole32(VIRTIO_VSOCK_SHUTDOWN_RCV);
	act = vsock_conn_guest_pkt(&c, &h);
	TAP_CHECK((act & VSOCK_DO_SHUT_RD) && !vsock_conn_may_read(&c));
	TAP_CHECK(c.state == VSOCK_CONN_ESTABLISHED);
	/* Host hangs up: nothing more to read, RST. */
	act = vsock_conn_host_hup(&c);
	TAP_CHECK((act & VSOCK_DO_CLOSE) && vsock_conn_next_ctl(&c) == VIRTIO_VSOCK_OP_RST);

	/* Hangup with unread data: it is read first, EOF then ends it. */
	conn_established(&c, 65536);
	act = vsock_conn_host_hup(&c);
	TAP_CHECK(!(act & VSOCK_DO_CLOSE) && vsock_conn_may_read(&c));
	vsock_conn_sent(&c, VIRTIO_VSOCK_OP_RW, 50);
	act = vsock_conn_host_eof(&c);
	TAP_CHECK((act & VSOCK_DO_CLOSE) && vsock_conn_next_ctl(&c) == VIRTIO_VSOCK_OP_RST);

	/* Guest RST: close at once, nothing owed. */
	conn_established(&c, 65536);
	h = hdr_make(VIRTIO_VSOCK_OP_RST, 40000, 5000, 0, 0, 0);
	TAP_CHECK(vsock_conn_guest_pkt(&c, &h) == (VSOCK_DO_CLOSE | VSOCK_DO_FREE));
	/* ... unless it closed its side with bytes still held: they go out. */
	conn_established(&c, 65536);
	h = hdr_make(VIRTIO_VSOCK_OP_RW, 40000, 5000, 300, 65536, 0);
	vsock_conn_guest_pkt(&c, &h);
	h = hdr_make(VIRTIO_VSOCK_OP_SHUTDOWN, 40000, 5000, 0, 65536, 0);
	h.flags = htole32(VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV);
	vsock_conn_guest_pkt(&c, &h);
	h = hdr_make(VIRTIO_VSOCK_OP_RST, 40000, 5000, 0, 0, 0);
	act = vsock_conn_guest_pkt(&c, &h);
	TAP_CHECK(!(act & (VSOCK_DO_CLOSE | VSOCK_DO_FREE)) && c.lingering && c.pending == 0);
	TAP_CHECK(vsock_conn_host_wrote(&c, 299) == 0);
	act = vsock_conn_host_wrote(&c, 1);
	TAP_CHECK(act == (VSOCK_DO_SHUT_WR | VSOCK_DO_CLOSE | VSOCK_DO_FREE));
	return TAP_PASS;
}

static int test_conn_handshakes(void)
{
	struct vsock_conn c;
	struct virtio_vsock_hdr h;

	/* Host-initiated: REQUEST owed, RESPONSE establishes. */
	vsock_conn_init(&c, VSOCK_CONN_REQUESTING, VSOCK_LOCAL_PORT_BASE, 1234);
	TAP_CHECK(vsock_conn_next_ctl(&c) == VIRTIO_VSOCK_OP_REQUEST);
	TAP_CHECK(vsock_op_urgent(VIRTIO_VSOCK_OP_REQUEST));
	/* A RESPONSE to a REQUEST never sent is bogus. */
	h = hdr_make(VIRTIO_VSOCK_OP_RESPONSE, 1234, VSOCK_LOCAL_PORT_BASE, 0, 4096, 0);
	TAP_CHECK(vsock_conn_guest_pkt(&c, &h) == (VSOCK_DO_CLOSE | VSOCK_DO_FREE));
	vsock_conn_init(&c, VSOCK_CONN_REQUESTING, VSOCK_LOCAL_PORT_BASE, 1234);
	vsock_conn_sent(&c, VIRTIO_VSOCK_OP_REQUEST, 0);
	TAP_CHECK(c.pending == 0 && !vsock_conn_may_read(&c));
	TAP_CHECK(vsock_conn_guest_pkt(&c, &h) == (VSOCK_DO_SEND_OK | VSOCK_DO_INTEREST));
	TAP_CHECK(c.state == VSOCK_CONN_ESTABLISHED && c.credit.peer_buf_alloc == 4096);
	TAP_CHECK(vsock_conn_may_read(&c));
	/* A second RESPONSE, or a REQUEST on a live connection: RST. */
	TAP_CHECK(vsock_conn_guest_pkt(&c, &h) & VSOCK_DO_CLOSE);
	TAP_CHECK(vsock_conn_next_ctl(&c) == VIRTIO_VSOCK_OP_RST);

	/* Aborts: a connection the guest never heard of needs no RST. */
	vsock_conn_init(&c, VSOCK_CONN_HOST_LINE, 0, 0);
	TAP_CHECK(vsock_conn_abort(&c) == (VSOCK_DO_CLOSE | VSOCK_DO_FREE));
	vsock_conn_init(&c, VSOCK_CONN_REQUESTING, 7, 8);
	TAP_CHECK(vsock_conn_abort(&c) == (VSOCK_DO_CLOSE | VSOCK_DO_FREE));
	vsock_conn_init(&c, VSOCK_CONN_CONNECTING, 7, 8);
	TAP_CHECK(vsock_conn_abort(&c) == VSOCK_DO_CLOSE && c.pending == VSOCK_OWE_RST);
	TAP_CHECK(vsock_conn_abort(&c) == 0);
	/* RW before the handshake is done. */
	vsock_conn_init(&c, VSOCK_CONN_CONNECTING, 7, 8);
	h = hdr_make(VIRTIO_VSOCK_OP_RW, 8, 7, 1, 4096, 0);
	TAP_CHECK(vsock_conn_guest_pkt(&c, &h) & VSOCK_DO_CLOSE);
	return TAP_PASS;
}

static int test_pkt_check(void)
{
	struct virtio_vsock_hdr h = hdr_make(VIRTIO_VSOCK_OP_RW, 1, 2, 100, 0, 0);

	TAP_CHECK(vsock_pkt_check(&h, 3, 100) == VSOCK_PKT_OK);
	TAP_CHECK(vsock_pkt_check(&h, 3, 99) == VSOCK_PKT_MALFORMED);
	TAP_CHECK(vsock_pkt_check(&h, 4, 100) == VSOCK_PKT_RST); /* src_cid not the guest's */
	h.type = htole16(VIRTIO_VSOCK_TYPE_SEQPACKET);
	TAP_CHECK(vsock_pkt_check(&h, 3, 100) == VSOCK_PKT_RST);
	h = hdr_make(VIRTIO_VSOCK_OP_REQUEST, 1, 2, 0, 0, 0);
	h.dst_cid = htole64(3);
	TAP_CHECK(vsock_pkt_check(&h, 3, 0) == VSOCK_PKT_RST);
	h.dst_cid = htole64(2 | (1ULL << 32));
	TAP_CHECK(vsock_pkt_check(&h, 3, 0) == VSOCK_PKT_RST);
	h = hdr_make(0, 1, 2, 0, 0, 0);
	TAP_CHECK(vsock_pkt_check(&h, 3, 0) == VSOCK_PKT_RST);
	h = hdr_make(8, 1, 2, 0, 0, 0);
	TAP_CHECK(vsock_pkt_check(&h, 3, 0) == VSOCK_PKT_RST);
	h = hdr_make(VIRTIO_VSOCK_OP_RW, 1, 2, VSOCK_MAX_PKT + 1, 0, 0);
	TAP_CHECK(vsock_pkt_check(&h, 3, 1 << 20) == VSOCK_PKT_RST);
	/* A bad RST is dropped, never answered. */
	h = hdr_make(VIRTIO_VSOCK_OP_RST, 1, 2, 0, 0, 0);
	h.type = 0;
	TAP_CHECK(vsock_pkt_check(&h, 3, 0) == VSOCK_PKT_DROP);
	return TAP_PASS;
}

/* ---- the device with a toy guest ---- */

#define GUEST_CID   3
#define QSIZE	    64
#define TX_QSIZE    128 /* two descriptors (header, payload) per packet */
#define RX_RINGS    0x10000ULL
#define TX_RINGS    0x14000ULL
#define EV_RINGS    0x18000ULL
#define RX_BUF(k)   (0x20000ULL + (k)*0x1000ULL)
#define TX_BUF(k)   (0x60000ULL + (k)*0x1000ULL)
#define RX_BUF_SIZE 0x1000
#define TX_PAYLOAD  (0x1000 - 64)
#define MAX_GCONNS  128

/* One guest socket. */
struct gconn {
	bool used;
	uint32_t gport, hport;
	bool established, got_rst;
	uint32_t shut_rcvd;
	uint8_t *data;
	size_t len, cap;
	uint32_t buf_alloc, fwd_cnt, fwd_told;
	uint32_t unconsumed;
	bool auto_consume;
	bool violation;	    /* the device sent beyond our credit */
	bool ignore_credit; /* a hostile guest */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
};

struct fx {
	char *dir;
	char *uds;
	struct machine m;
	struct virtio_vsock *v;
	uint64_t base;
	struct vg_queue rx, tx, ev;
	uint16_t rx_seen;
	uint16_t tx_next;
	struct gconn g[MAX_GCONNS];
	uint32_t listen_port;	  /* guest port that accepts REQUESTs; 0 none */
	uint32_t guest_buf_alloc; /* for sockets it accepts */
	unsigned int requests;	  /* REQUESTs seen */
	unsigned int rst_stray;	  /* RSTs for no guest socket */
	struct virtio_vsock_hdr last_req;
	bool bad_rx; /* a used rx length that does not match its header */
};

static void fx_free(struct fx **pf)
{
	struct fx *f = *pf;

	if (f == NULL)
		return;
	virtio_vsock_free(f->v);
	evloop_release(&f->m.loop);
	vg_machine_release(&f->m);
	for (unsigned int i = 0; i < MAX_GCONNS; i++)
		free(f->g[i].data);
	if (f->uds)
		unlink(f->uds);
	rmdir(f->dir);
	free(f->uds);
	free(f->dir);
	free(f);
}
#define cleanup_fx __attribute__((cleanup(fx_free)))

static struct fx *fx_bare(void)
{
	struct fx *f = xzalloc(sizeof(*f));
	char tmpl[] = "/tmp/kiln-test-vsock.XXXXXX";
	kiln_error_t err = NULL;

	if (mkdtemp(tmpl) == NULL || vg_machine_init(&f->m) < 0 ||
	    evloop_init(&f->m.loop, &err) < 0)
		abort();
	f->dir = xstrdup(tmpl);
	f->uds = xasprintf("%s/v.sock", f->dir);
	f->guest_buf_alloc = 65536;
	return f;
}

static void queue_place(struct vg_queue *q, struct guest_mem *mem, uint16_t size, uint64_t at)
{
	vg_queue_init(q, mem, size);
	q->desc = at;
	q->avail = at + 0x1000;
	q->used = at + 0x2000;
	memset(gmem_ptr(mem, at, 0x3000), 0, 0x3000);
}

static void notify(struct fx *f, unsigned int q)
{
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

/* The driver comes up and posts QSIZE rx buffers and a few event buffers. */
static void guest_up(struct fx *f, uint64_t features)
{
	queue_place(&f->rx, &f->m.mem, QSIZE, RX_RINGS);
	queue_place(&f->tx, &f->m.mem, TX_QSIZE, TX_RINGS);
	queue_place(&f->ev, &f->m.mem, 8, EV_RINGS);
	f->rx_seen = 0;
	f->tx_next = 0;
	vg_negotiate(&f->m, f->base, features);
	vg_queue_setup(&f->m, f->base, VIRTIO_VSOCK_RX, &f->rx);
	vg_queue_setup(&f->m, f->base, VIRTIO_VSOCK_TX, &f->tx);
	vg_queue_setup(&f->m, f->base, VIRTIO_VSOCK_EVENT, &f->ev);
	vg_driver_ok(&f->m, f->base);
	for (uint16_t i = 0; i < QSIZE; i++) {
		vg_desc(&f->rx, i, RX_BUF(i), RX_BUF_SIZE, VRING_DESC_F_WRITE, 0);
		vg_avail_push(&f->rx, i);
	}
	notify(f, VIRTIO_VSOCK_RX);
	for (uint16_t i = 0; i < 4; i++) {
		vg_desc(&f->ev, i, 0x1f000 + 8 * i, 4, VRING_DESC_F_WRITE, 0);
		vg_avail_push(&f->ev, i);
	}
	notify(f, VIRTIO_VSOCK_EVENT);
}

static struct fx *fx_new(void)
{
	struct fx *f = fx_bare();
	struct vsock_config cfg = {.present = true, .guest_cid = GUEST_CID, .uds_path = f->uds};
	kiln_error_t err = NULL;

	if (virtio_vsock_create(&f->m, &cfg, &f->v, &err) < 0) {
		tap_diag("%s", err->msg);
		abort();
	}
	f->base = f->v->mmio.slot.base;
	guest_up(f, 1ULL << VIRTIO_F_VERSION_1);
	return f;
}

static struct gconn *gconn_find(struct fx *f, uint32_t gport, uint32_t hport)
{
	for (unsigned int i = 0; i < MAX_GCONNS; i++)
		if (f->g[i].used && f->g[i].gport == gport && f->g[i].hport == hport)
			return &f->g[i];
	return NULL;
}

static struct gconn *gconn_new(struct fx *f, uint32_t gport, uint32_t hport)
{
	for (unsigned int i = 0; i < MAX_GCONNS; i++) {
		struct gconn *g = &f->g[i];

		if (!g->used) {
			free(g->data);
			*g = (struct gconn){.used = true,
					    .gport = gport,
					    .hport = hport,
					    .buf_alloc = f->guest_buf_alloc,
					    .auto_consume = true};
			return g;
		}
	}
	abort();
}

/* Sends one packet on the tx queue: header and payload in two
 * descriptors, as Linux does. */
static void g_send(struct fx *f, const struct virtio_vsock_hdr *h, const void *payload,
		   uint32_t len)
{
	uint16_t slot = f->tx_next % (TX_QSIZE / 2);
	uint16_t d = 2 * slot;

	if ((uint16_t)(f->tx_next - vg_used_idx(&f->tx)) >= TX_QSIZE / 2)
		abort(); /* tests keep the device up to date */
	gmem_write(&f->m.mem, TX_BUF(slot), h, sizeof(*h));
	if (len) {
		gmem_write(&f->m.mem, TX_BUF(slot) + 64, payload, len);
		vg_desc(&f->tx, d, TX_BUF(slot), sizeof(*h), VRING_DESC_F_NEXT, d + 1);
		vg_desc(&f->tx, d + 1, TX_BUF(slot) + 64, len, 0, 0);
	} else {
		vg_desc(&f->tx, d, TX_BUF(slot), sizeof(*h), 0, 0);
	}
	vg_avail_push(&f->tx, d);
	f->tx_next++;
	notify(f, VIRTIO_VSOCK_TX);
}

static void g_ctl(struct fx *f, struct gconn *g, uint16_t op, uint32_t flags)
{
	struct virtio_vsock_hdr h = {
	    .src_cid = htole64(GUEST_CID),
	    .dst_cid = htole64(2),
	    .src_port = htole32(g->gport),
	    .dst_port = htole32(g->hport),
	    .type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
	    .op = htole16(op),
	    .flags = htole32(flags),
	    .buf_alloc = htole32(g->buf_alloc),
	    .fwd_cnt = htole32(g->fwd_cnt),
	};

	g->fwd_told = g->fwd_cnt;
	g_send(f, &h, NULL, 0);
}

static uint32_t g_credit(const struct gconn *g)
{
	uint32_t in_flight = g->tx_cnt - g->peer_fwd_cnt;

	if (g->ignore_credit)
		return 1 << 20;
	return in_flight >= g->peer_buf_alloc ? 0 : g->peer_buf_alloc - in_flight;
}

/* Sends up to len bytes as the host's credit allows; returns how many. */
static size_t g_write(struct fx *f, struct gconn *g, const uint8_t *p, size_t len)
{
	size_t done = 0;

	while (done < len && g_credit(g) > 0 &&
	       (uint16_t)(f->tx_next - vg_used_idx(&f->tx)) < TX_QSIZE / 2) {
		uint32_t n = g_credit(g);
		struct virtio_vsock_hdr h = {
		    .src_cid = htole64(GUEST_CID),
		    .dst_cid = htole64(2),
		    .src_port = htole32(g->gport),
		    .dst_port = htole32(g->hport),
		    .type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
		    .op = htole16(VIRTIO_VSOCK_OP_RW),
		    .buf_alloc = htole32(g->buf_alloc),
		    .fwd_cnt = htole32(g->fwd_cnt),
		};

		if (n > TX_PAYLOAD)
			n = TX_PAYLOAD;
		if (n > len - done)
			n = (uint32_t)(len - done);
		h.len = htole32(n);
		g->fwd_told = g->fwd_cnt;
		g_send(f, &h, p + done, n);
		g->tx_cnt += n;
		done += n;
	}
	return done;
}

static void g_consume(struct fx *f, struct gconn *g)
{
	g->fwd_cnt += g->unconsumed;
	g->unconsumed = 0;
	/* Like Linux: tell the peer once a good part of the buffer is free. */
	if (g->fwd_cnt - g->fwd_told >= g->buf_alloc / 2 && g->established && !g->got_rst)
		g_ctl(f, g, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
}

static void g_handle(struct fx *f, const struct virtio_vsock_hdr *h, const uint8_t *payload)
{
	uint32_t gport = le32toh(h->dst_port), hport = le32toh(h->src_port);
	uint32_t len = le32toh(h->len);
	struct gconn *g = gconn_find(f, gport, hport);
	uint16_t op = le16toh(h->op);

	if (le64toh(h->src_cid) != 2 || le64toh(h->dst_cid) != GUEST_CID ||
	    le16toh(h->type) != VIRTIO_VSOCK_TYPE_STREAM)
		f->bad_rx = true;
	if (op == VIRTIO_VSOCK_OP_REQUEST) {
		f->requests++;
		f->last_req = *h;
		if (g == NULL && gport == f->listen_port) {
			g = gconn_new(f, gport, hport);
			g->established = true;
			g->peer_buf_alloc = le32toh(h->buf_alloc);
			g->peer_fwd_cnt = le32toh(h->fwd_cnt);
			g_ctl(f, g, VIRTIO_VSOCK_OP_RESPONSE, 0);
		} else {
			struct gconn tmp = {.gport = gport, .hport = hport};

			g_ctl(f, &tmp, VIRTIO_VSOCK_OP_RST, 0);
		}
		return;
	}
	if (g == NULL) {
		if (op == VIRTIO_VSOCK_OP_RST)
			f->rst_stray++;
		return;
	}
	g->peer_buf_alloc = le32toh(h->buf_alloc);
	g->peer_fwd_cnt = le32toh(h->fwd_cnt);
	switch (op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		g->established = true;
		break;
	case VIRTIO_VSOCK_OP_RST:
		g->got_rst = true;
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		g->shut_rcvd |= le32toh(h->flags);
		break;
	case VIRTIO_VSOCK_OP_RW:
		if (g->unconsumed + len > g->buf_alloc)
			g->violation = true;
		if (g->len + len > g->cap) {
			g->cap = (g->len + len) * 2;
			g->data = xrealloc(g->data, g->cap);
		}
		memcpy(g->data + g->len, payload, len);
		g->len += len;
		g->unconsumed += len;
		if (g->auto_consume)
			g_consume(f, g);
		break;
	default:
		break;
	}
}

/* Takes every packet the device put into the rx queue, reposting the
 * buffers, until it stops. */
static void g_poll(struct fx *f)
{
	while (f->rx_seen != vg_used_idx(&f->rx)) {
		while (f->rx_seen != vg_used_idx(&f->rx)) {
			struct virtio_vsock_hdr h;
			uint8_t *buf;
			uint32_t id, len;

			vg_used_elem(&f->rx, f->rx_seen, &id, &len);
			f->rx_seen++;
			buf = gmem_ptr(&f->m.mem, RX_BUF(id), RX_BUF_SIZE);
			memcpy(&h, buf, sizeof(h));
			if (len != sizeof(h) + le32toh(h.len) || len > RX_BUF_SIZE)
				f->bad_rx = true;
			else
				g_handle(f, &h, buf + sizeof(h));
			vg_avail_push(&f->rx, (uint16_t)id);
		}
		notify(f, VIRTIO_VSOCK_RX);
	}
}

/* Runs the device and the guest until cond holds (10 s at most). */
#define RUN_UNTIL(f, cond)                                                                         \
	({                                                                                         \
		bool ok_ = false;                                                                  \
		for (int i_ = 0; i_ < 2000; i_++) {                                                \
			g_poll(f);                                                                 \
			if (cond) {                                                                \
				ok_ = true;                                                        \
				break;                                                             \
			}                                                                          \
			evloop_run_once(&(f)->m.loop, 5);                                          \
		}                                                                                  \
		ok_;                                                                               \
	})

/* Lets the device settle: events until none come for a while. */
static void settle(struct fx *f)
{
	for (int i = 0; i < 1000; i++) {
		g_poll(f);
		if (evloop_run_once(&f->m.loop, 20) <= 0) {
			g_poll(f);
			return;
		}
	}
}

static int host_connect(struct fx *f, const char *line)
{
	kiln_error_t err = NULL;
	int fd = kiln_unix_connect(f->uds, &err);

	if (fd < 0) {
		tap_diag("%s", err->msg);
		kiln_error_free(&err);
		return -1;
	}
	if (line && kiln_write_all(fd, line, strlen(line)) < 0)
		abort();
	kiln_set_nonblock(fd, true);
	return fd;
}

/* Reads what is there (non-blocking) into buf at *len. Returns 0 at EOF,
 * 1 otherwise. */
static int host_read_some(int fd, uint8_t *buf, size_t cap, size_t *len)
{
	while (*len < cap) {
		ssize_t n = read(fd, buf + *len, cap - *len);

		if (n == 0)
			return 0;
		if (n < 0)
			return 1;
		*len += (size_t)n;
	}
	return 1;
}

static bool host_eof(int fd)
{
	char c;
	ssize_t n = read(fd, &c, 1);

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* Host-initiated CONNECT to a guest listening on port; returns the host
 * fd with "OK <port>\n" read, and the guest socket. */
static int host_connect_ok(struct fx *f, uint32_t port, struct gconn **gp)
{
	char line[64], want[64];
	size_t len = 0;
	uint32_t local;
	int fd;

	snprintf(line, sizeof(line), "CONNECT %u\n", port);
	f->listen_port = port;
	fd = host_connect(f, line);
	if (fd < 0)
		return -1;
	if (!RUN_UNTIL(f, (host_read_some(fd, (uint8_t *)line, 32, &len), memchr(line, '\n', len))))
		return -1;
	local = le32toh(f->last_req.src_port);
	snprintf(want, sizeof(want), "OK %u\n", local);
	if (len != strlen(want) || memcmp(line, want, len) != 0)
		return -1;
	*gp = gconn_find(f, port, local);
	return *gp ? fd : -1;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static uint8_t *pattern(size_t n, uint32_t seed)
{
	uint8_t *p = xmalloc(n);

	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (uint8_t)(seed >> 16);
	}
	return p;
}

static struct vsock_host_conn *dev_conn(struct fx *f, uint32_t local, uint32_t peer)
{
	for (struct vsock_host_conn *c = f->v->all; c; c = c->all_next)
		if (c->sm.local_port == local && c->sm.peer_port == peer)
			return c;
	return NULL;
}

static bool needs_reset(struct fx *f)
{
	return vg_rd(&f->m, f->base, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

static int test_create_errors(void)
{
	cleanup_fx struct fx *f = fx_bare();
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *nodir = xasprintf("%s/missing/v.sock", f->dir);
	cleanup_free char *file = xasprintf("%s/plain", f->dir);
	struct vsock_config cfg = {.present = true, .guest_cid = 3, .uds_path = nodir};
	struct virtio_vsock *v = NULL;
	cleanup_close int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	TAP_CHECK(virtio_vsock_create(&f->m, &cfg, &v, &err) < 0 && v == NULL);
	tap_diag("%s", err->msg);
	TAP_CHECK(strstr(err->msg, "vsock") && strstr(err->msg, nodir));
	cfg.uds_path = file;
	TAP_CHECK(virtio_vsock_create(&f->m, &cfg, &v, &err) < 0);
	tap_diag("%s", err->msg);
	TAP_CHECK(strstr(err->msg, file) != NULL);
	TAP_CHECK(access(file, F_OK) == 0); /* not a socket: left alone */
	cfg.uds_path = NULL;
	TAP_CHECK(virtio_vsock_create(&f->m, &cfg, &v, &err) < 0);
	TAP_CHECK(strstr(err->msg, "uds_path") != NULL);
	cfg.uds_path = f->uds;
	cfg.guest_cid = 2;
	TAP_CHECK(virtio_vsock_create(&f->m, &cfg, &v, &err) < 0);
	TAP_CHECK(strstr(err->msg, "guest_cid 2") != NULL);
	TAP_CHECK(f->m.nr_virtio == 0 && f->m.mmio.nr_ranges == 0);
	TAP_CHECK(f->m.loop.handlers == NULL);
	return TAP_PASS;
}

static int test_features_and_config(void)
{
	cleanup_fx struct fx *f = fx_bare();
	struct vsock_config cfg = {.present = true, .guest_cid = 0x1234567, .uds_path = f->uds};
	cleanup_error kiln_error_t err = NULL;
	uint64_t feat;
	int fd;

	/* A stale socket file nobody listens on is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", f->uds);
	TAP_CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	close(fd);
	TAP_CHECK(virtio_vsock_create(&f->m, &cfg, &f->v, &err) == 0);
	f->base = f->v->mmio.slot.base;
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_DEVICE_ID) == VIRTIO_ID_VSOCK);
	feat = vg_device_features(&f->m, f->base);
	TAP_CHECK(feat & (1ULL << VIRTIO_F_VERSION_1));
	TAP_CHECK(feat & (1ULL << VIRTIO_VSOCK_F_STREAM));
	TAP_CHECK(!(feat & (1ULL << VIRTIO_VSOCK_F_SEQPACKET)));
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_CONFIG) == 0x1234567);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_CONFIG + 4) == 0);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_SEL, 2);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_QUEUE_NUM_MAX) == VIRTIO_VSOCK_QUEUE_SIZE);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_SEL, 3);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_QUEUE_NUM_MAX) == 0);
	/* Both with and without F_STREAM (Linux 6.1 does not know it). */
	TAP_CHECK(vg_negotiate(&f->m, f->base,
			       (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_VSOCK_F_STREAM)) &
		  VIRTIO_CONFIG_S_FEATURES_OK);
	guest_up(f, 1ULL << VIRTIO_F_VERSION_1);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK);
	/* The event queue keeps its buffers. */
	TAP_CHECK(vg_used_idx(&f->ev) == 0 && !needs_reset(f));
	virtio_vsock_free(f->v);
	f->v = NULL;
	TAP_CHECK(access(f->uds, F_OK) < 0); /* the socket goes with the device */
	return TAP_PASS;
}

static int test_host_initiated(void)
{
	cleanup_fx struct fx *f = fx_new();
	cleanup_close int fd = -1;
	struct gconn *g = NULL;
	uint8_t buf[64];
	size_t len = 0;

	fd = host_connect_ok(f, 1234, &g);
	TAP_CHECK(fd >= 0);
	TAP_CHECK(f->requests == 1 && !f->bad_rx);
	TAP_CHECK(le32toh(f->last_req.dst_port) == 1234);
	TAP_CHECK(le32toh(f->last_req.src_port) >= VSOCK_LOCAL_PORT_BASE);
	TAP_CHECK(le64toh(f->last_req.dst_cid) == GUEST_CID && le64toh(f->last_req.src_cid) == 2);
	TAP_CHECK(le32toh(f->last_req.buf_alloc) == VSOCK_BUF_ALLOC);
	/* host -> guest */
	TAP_CHECK(write(fd, "ping", 4) == 4);
	TAP_CHECK(RUN_UNTIL(f, g->len == 4));
	TAP_CHECK(memcmp(g->data, "ping", 4) == 0);
	/* guest -> host */
	TAP_CHECK(g_write(f, g, (const uint8_t *)"pong!", 5) == 5);
	TAP_CHECK(RUN_UNTIL(f, (host_read_some(fd, buf, sizeof(buf), &len), len == 5)));
	TAP_CHECK(memcmp(buf, "pong!", 5) == 0);
	/* A second connection to the same port gets another local port. */
	{
		cleanup_close int fd2 = -1;
		struct gconn *g2 = NULL;

		fd2 = host_connect_ok(f, 1234, &g2);
		TAP_CHECK(fd2 >= 0 && g2 != g && g2->hport != g->hport);
		TAP_CHECK(f->v->nr_conns == 2);
	}
	/* Host closes: the guest gets RST (the second one) and the device
	 * forgets the connection. */
	TAP_CHECK(RUN_UNTIL(f, f->v->nr_conns == 1));
	TAP_CHECK(!f->bad_rx);
	return TAP_PASS;
}

/* Bytes the host sends right after its CONNECT line wait in the socket,
 * and nobody listening in the guest closes the host connection. */
static int test_host_initiated_edge_cases(void)
{
	cleanup_fx struct fx *f = fx_new();
	cleanup_close int fd = -1, fd2 = -1;
	struct gconn *g = NULL;
	char buf[64];
	size_t len = 0;

	f->listen_port = 77;
	fd = host_connect(f, "CONNECT 77\r\nearly bytes");
	TAP_CHECK(
	    RUN_UNTIL(f, (g = gconn_find(f, 77, le32toh(f->last_req.src_port))) && g->len == 11));
	TAP_CHECK(memcmp(g->data, "early bytes", 11) == 0);
	TAP_CHECK(RUN_UNTIL(
	    f, (host_read_some(fd, (uint8_t *)buf, sizeof(buf), &len), memchr(buf, '\n', len))));
	TAP_CHECK(strncmp(buf, "OK ", 3) == 0);

	fd2 = host_connect(f, "CONNECT 78\n");
	TAP_CHECK(RUN_UNTIL(f, host_eof(fd2)));
	TAP_CHECK(f->requests == 2);
	TAP_CHECK(RUN_UNTIL(f, f->v->nr_conns == 1));
	return TAP_PASS;
}

static int test_connect_malformed(void)
{
	cleanup_fx struct fx *f = fx_new();
	static const char *const bad[] = {
	    "CONNECT\n",
	    "CONNECT \n",
	    "CONNECT abc\n",
	    "CONNECT 12x\n",
	    "CONNECT 4294967296\n",
	    "CONNECT -1\n",
	    "connect 5\n",
	    "HELLO 5\n",
	    "CONNECT  5\n",
	    "CONNECT 00000000001234\n",
	    "\n",
	    "CONNECT 5 and a lot more text that never ends with a newline",
	};
	int fds[ARRAY_SIZE(bad) + 1];
	bool all = false;

	f->listen_port = 5;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		fds[i] = host_connect(f, bad[i]);
	/* No newline and the host stops sending. */
	fds[ARRAY_SIZE(bad)] = host_connect(f, "CONNECT 5");
	shutdown(fds[ARRAY_SIZE(bad)], SHUT_WR);
	for (int round = 0; round < 400 && !all; round++) {
		evloop_run_once(&f->m.loop, 5);
		all = true;
		for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
			if (fds[i] >= 0 && host_eof(fds[i])) {
				close(fds[i]);
				fds[i] = -1;
			}
			all = all && fds[i] < 0;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		if (fds[i] >= 0) {
			tap_diag("not closed: case %zu", i);
			close(fds[i]);
		}
	}
	TAP_CHECK(all);
	g_poll(f);
	TAP_CHECK(f->requests == 0 && f->v->nr_conns == 0);
	return TAP_PASS;
}

static int listen_at(struct fx *f, uint32_t port, char **path)
{
	kiln_error_t err = NULL;
	int fd;

	*path = xasprintf("%s_%u", f->uds, port);
	fd = kiln_unix_listen(*path, &err);
	if (fd < 0)
		abort();
	return fd;
}

static int test_guest_initiated(void)
{
	cleanup_fx struct fx *f = fx_new();
	cleanup_free char *path = NULL;
	cleanup_close int lfd = listen_at(f, 5000, &path);
	cleanup_close int hfd = -1;
	struct gconn *g, *g2;
	uint8_t buf[64];
	size_t len = 0;

	g = gconn_new(f, 49152, 5000);
	g_ctl(f, g, VIRTIO_VSOCK_OP_REQUEST, 0);
	TAP_CHECK(RUN_UNTIL(f, g->established));
	hfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	TAP_CHECK(hfd >= 0);
	/* The RESPONSE told the guest our credit. */
	TAP_CHECK(g->peer_buf_alloc == VSOCK_BUF_ALLOC);
	TAP_CHECK(g_write(f, g, (const uint8_t *)"hello-from-guest", 16) == 16);
	TAP_CHECK(RUN_UNTIL(f, (host_read_some(hfd, buf, sizeof(buf), &len), len == 16)));
	TAP_CHECK(memcmp(buf, "hello-from-guest", 16) == 0);
	TAP_CHECK(write(hfd, "reply", 5) == 5);
	TAP_CHECK(RUN_UNTIL(f, g->len == 5));
	TAP_CHECK(memcmp(g->data, "reply", 5) == 0);

	/* Nobody at <uds_path>_5001: RST. */
	g2 = gconn_new(f, 49153, 5001);
	g_ctl(f, g2, VIRTIO_VSOCK_OP_REQUEST, 0);
	TAP_CHECK(RUN_UNTIL(f, g2->got_rst));
	TAP_CHECK(!g2->established && f->v->nr_conns == 1);

	/* Guest closes: SHUTDOWN both ways -> host EOF, then our RST. */
	g_ctl(f, g, VIRTIO_VSOCK_OP_SHUTDOWN,
	      VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND);
	TAP_CHECK(RUN_UNTIL(f, g->got_rst));
	TAP_CHECK(host_eof(hfd));
	TAP_CHECK(f->v->nr_conns == 0 && !f->bad_rx);
	return TAP_PASS;
}

static int test_unknown_and_bad_packets(void)
{
	cleanup_fx struct fx *f = fx_new();
	struct gconn *g = gconn_new(f, 1000, 2000);
	struct virtio_vsock_hdr h;

	/* RW for no connection: RST. */
	g->peer_buf_alloc = 4096;
	TAP_CHECK(g_write(f, g, (const uint8_t *)"x", 1) == 1);
	TAP_CHECK(RUN_UNTIL(f, g->got_rst));
	/* RST for no connection: nothing. */
	g->got_rst = false;
	g_ctl(f, g, VIRTIO_VSOCK_OP_RST, 0);
	settle(f);
	TAP_CHECK(!g->got_rst && f->rst_stray == 0);
	/* Wrong type, wrong cids, unknown op: RST. */
	h = (struct virtio_vsock_hdr){.src_cid = htole64(GUEST_CID),
				      .dst_cid = htole64(2),
				      .src_port = htole32(1000),
				      .dst_port = htole32(2000),
				      .type = htole16(VIRTIO_VSOCK_TYPE_SEQPACKET),
				      .op = htole16(VIRTIO_VSOCK_OP_REQUEST)};
	g_send(f, &h, NULL, 0);
	TAP_CHECK(RUN_UNTIL(f, g->got_rst));
	g->got_rst = false;
	h.type = htole16(VIRTIO_VSOCK_TYPE_STREAM);
	h.dst_cid = htole64(7);
	g_send(f, &h, NULL, 0);
	TAP_CHECK(RUN_UNTIL(f, g->got_rst));
	g->got_rst = false;
	h.dst_cid = htole64(2);
	h.src_cid = htole64(GUEST_CID + 1);
	g_send(f, &h, NULL, 0);
	TAP_CHECK(RUN_UNTIL(f, g->got_rst));
	g->got_rst = false;
	h.src_cid = htole64(GUEST_CID);
	h.op = htole16(99);
	g_send(f, &h, NULL, 0);
	TAP_CHECK(RUN_UNTIL(f, g->got_rst));
	TAP_CHECK(f->v->nr_conns == 0 && !needs_reset(f) && !f->bad_rx);

	/* A flood of bad packets while the guest posts no rx buffers: tx
	 * stops at the RST queue's limit instead of growing it. */
	for (int i = 0; i < TX_QSIZE / 2 - 1; i++) {
		h.op = htole16(VIRTIO_VSOCK_OP_RW);
		g_send(f, &h, NULL, 0);
		g_poll(f); /* takes RSTs, reposts buffers */
	}
	TAP_CHECK(f->v->rst_len == 0 && !f->v->tx_stalled);

	/* len beyond the chain: the device fails. */
	h.op = htole16(VIRTIO_VSOCK_OP_RW);
	h.len = htole32(100);
	g_send(f, &h, "short", 5);
	TAP_CHECK(needs_reset(f));
	return TAP_PASS;
}

static int test_rst_queue_backpressure(void)
{
	cleanup_fx struct fx *f = fx_new();
	struct gconn *g = gconn_new(f, 1000, 2000);
	uint16_t rx_before;
	int sent = 0;

	/* The guest stops reading rx: its buffers run out after QSIZE RSTs,
	 * then VSOCK_RST_QUEUE more wait, then tx stops. */
	rx_before = f->rx_seen;
	for (int i = 0; i < QSIZE + VSOCK_RST_QUEUE + 10 && i < 255; i++) {
		if ((uint16_t)(f->tx_next - vg_used_idx(&f->tx)) >= TX_QSIZE / 2)
			break;
		g_ctl(f, g, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0);
		sent++;
	}
	TAP_CHECK(vg_used_idx(&f->rx) == (uint16_t)(rx_before + QSIZE));
	TAP_CHECK(f->v->rst_len == VSOCK_RST_QUEUE);
	TAP_CHECK(f->v->tx_stalled);
	TAP_CHECK((uint16_t)(f->tx_next - vg_used_idx(&f->tx)) > 0);
	/* Reading rx again lets everything through, every packet answered. */
	settle(f);
	TAP_CHECK(!f->v->tx_stalled && f->v->rst_len == 0);
	TAP_CHECK(f->tx_next == vg_used_idx(&f->tx));
	TAP_CHECK(vg_used_idx(&f->rx) == (uint16_t)(rx_before + sent));
	return TAP_PASS;
}

/* A guest that does not read: the device never sends past its credit and
 * stops reading the host socket. */
static int test_slow_guest(void)
{
	cleanup_fx struct fx *f = fx_new();
	cleanup_close int fd = -1;
	cleanup_free uint8_t *data = pattern(100000, 1);
	struct gconn *g = NULL;
	size_t off = 0;
	ssize_t n;

	f->guest_buf_alloc = 8192;
	fd = host_connect_ok(f, 1, &g);
	TAP_CHECK(fd >= 0);
	g->auto_consume = false;
	while ((n = write(fd, data + off, 100000 - off)) > 0)
		off += (size_t)n;
	TAP_CHECK(off == 100000);
	TAP_CHECK(RUN_UNTIL(f, g->len == 8192));
	settle(f);
	TAP_CHECK(g->len == 8192 && !g->violation);
	/* The rest waits in the socket, not in the VMM. */
	TAP_CHECK(!dev_conn(f, g->hport, 1)->in_epoll ||
		  !(dev_conn(f, g->hport, 1)->events & EPOLLIN));
	/* The guest reads: all of it arrives, in order. */
	g->auto_consume = true;
	g_consume(f, g);
	TAP_CHECK(RUN_UNTIL(f, g->len == 100000));
	TAP_CHECK(!g->violation && memcmp(g->data, data, 100000) == 0);
	return TAP_PASS;
}

/* A host that does not read: the VMM holds at most its buf_alloc, the
 * guest runs out of credit, and nothing is lost once the host reads. */
static int test_slow_host_reader(void)
{
	cleanup_fx struct fx *f = fx_new();
	cleanup_free char *path = NULL;
	cleanup_close int lfd = listen_at(f, 6000, &path);
	cleanup_close int hfd = -1;
	const size_t total = 1 << 20;
	cleanup_free uint8_t *data = pattern(total, 2);
	cleanup_free uint8_t *got = xmalloc(total);
	struct vsock_host_conn *c;
	struct gconn *g;
	size_t sent = 0, len = 0;
	uint32_t max_held = 0;

	g = gconn_new(f, 50000, 6000);
	g_ctl(f, g, VIRTIO_VSOCK_OP_REQUEST, 0);
	TAP_CHECK(RUN_UNTIL(f, g->established));
	hfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	TAP_CHECK(hfd >= 0);
	c = dev_conn(f, 6000, 50000);
	TAP_CHECK(c != NULL);
	/* Send until the credit runs out. */
	for (int i = 0; i < 1000; i++) {
		size_t n = g_write(f, g, data + sent, total - sent);

		sent += n;
		if (c->buf_len > max_held)
			max_held = c->buf_len;
		if (n == 0) {
			settle(f);
			if (g_write(f, g, data + sent, 1) == 0)
				break;
			sent++;
		}
	}
	tap_diag("guest sent %zu before running out of credit; VMM holds %u", sent, c->buf_len);
	TAP_CHECK(sent < total && g_credit(g) == 0);
	TAP_CHECK(c->buf_len > 0 && max_held <= VSOCK_BUF_ALLOC && c->buf_cap <= VSOCK_BUF_ALLOC);
	TAP_CHECK(vsock_credit_held(&c->sm.credit) == c->buf_len);
	/* Sending past the credit anyway is a reset. */
	/* The host reads; the rest follows. */
	for (int r = 0; len < total && r < 100000; r++) {
		host_read_some(hfd, got, total, &len);
		if (sent < total)
			sent += g_write(f, g, data + sent, total - sent);
		if (c->buf_len > max_held)
			max_held = c->buf_len;
		g_poll(f);
		evloop_run_once(&f->m.loop, 1);
	}
	TAP_CHECK(len == total && max_held <= VSOCK_BUF_ALLOC);
	TAP_CHECK(fnv1a(got, total) == fnv1a(data, total));
	return TAP_PASS;
}

static int test_credit_violation(void)
{
	cleanup_fx struct fx *f = fx_new();
	cleanup_free char *path = NULL;
	cleanup_close int lfd = listen_at(f, 6001, &path);
	cleanup_close int hfd = -1;
	cleanup_free uint8_t *data = pattern(TX_PAYLOAD, 3);
	struct gconn *g;

	g = gconn_new(f, 50001, 6001);
	g_ctl(f, g, VIRTIO_VSOCK_OP_REQUEST, 0);
	TAP_CHECK(RUN_UNTIL(f, g->established));
	hfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	/* Send regardless of the host's credit. */
	g->ignore_credit = true;
	for (int i = 0; i < 1000 && !g->got_rst; i++) {
		g_write(f, g, data, TX_PAYLOAD);
		g_poll(f);
	}
	TAP_CHECK(g->got_rst);
	TAP_CHECK(RUN_UNTIL(f, f->v->nr_conns == 0));
	return TAP_PASS;
}

/* 1 MiB each way at once on one connection, checksummed. */
static int test_bulk_both_ways(void)
{
	cleanup_fx struct fx *f = fx_new();
	cleanup_close int fd = -1;
	const size_t total = 1 << 20;
	cleanup_free uint8_t *up = pattern(total, 4);
	cleanup_free uint8_t *down = pattern(total, 5);
	cleanup_free uint8_t *got = xmalloc(total);
	struct gconn *g = NULL;
	size_t hsent = 0, gsent = 0, hgot = 0;
	int rounds = 0;

	fd = host_connect_ok(f, 2222, &g);
	TAP_CHECK(fd >= 0);
	while ((hgot < total || g->len < total) && rounds++ < 20000) {
		ssize_t n = hsent < total ? write(fd, down + hsent, total - hsent) : 0;

		if (n > 0)
			hsent += (size_t)n;
		gsent += g_write(f, g, up + gsent, total - gsent);
		host_read_some(fd, got, total, &hgot);
		g_poll(f);
		evloop_run_once(&f->m.loop, 1);
	}
	tap_diag("%d rounds", rounds);
	TAP_CHECK(hgot == total && g->len == total && !g->violation);
	TAP_CHECK(fnv1a(got, total) == fnv1a(up, total));
	TAP_CHECK(fnv1a(g->data, total) == fnv1a(down, total));
	/* Orderly close from the host: SHUTDOWN(SEND), then the guest's
	 * SHUTDOWN ends it with RST. */
	shutdown(fd, SHUT_WR);
	TAP_CHECK(RUN_UNTIL(f, g->shut_rcvd == VIRTIO_VSOCK_SHUTDOWN_SEND));
	/* The guest can still send. */
	TAP_CHECK(g_write(f, g, (const uint8_t *)"tail", 4) == 4);
	hgot = 0;
	TAP_CHECK(RUN_UNTIL(f, (host_read_some(fd, got, 4, &hgot), hgot == 4)));
	TAP_CHECK(memcmp(got, "tail", 4) == 0 && f->v->nr_conns == 1);
	g_ctl(f, g, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_SEND);
	TAP_CHECK(RUN_UNTIL(f, g->got_rst));
	TAP_CHECK(host_eof(fd));
	TAP_CHECK(f->v->nr_conns == 0 && !f->bad_rx);
	return TAP_PASS;
}

/* Host output followed by close reaches the guest before the RST. */
static int test_host_close_delivers_first(void)
{
	cleanup_fx struct fx *f = fx_new();
	int fd;
	struct gconn *g = NULL;
	cleanup_free uint8_t *data = pattern(50000, 6);
	size_t off = 0;

	fd = host_connect_ok(f, 3333, &g);
	TAP_CHECK(fd >= 0);
	while (off < 50000) {
		ssize_t n = write(fd, data + off, 50000 - off);

		if (n > 0)
			off += (size_t)n;
		else
			RUN_UNTIL(f, true);
	}
	close(fd);
	TAP_CHECK(RUN_UNTIL(f, g->got_rst));
	TAP_CHECK(g->len == 50000 && memcmp(g->data, data, 50000) == 0);
	TAP_CHECK(f->v->nr_conns == 0);

	/* The guest resets: the host sees EOF. */
	fd = host_connect_ok(f, 3333, &g);
	TAP_CHECK(fd >= 0);
	g_ctl(f, g, VIRTIO_VSOCK_OP_RST, 0);
	TAP_CHECK(RUN_UNTIL(f, host_eof(fd)));
	close(fd);
	TAP_CHECK(f->v->nr_conns == 0);
	return TAP_PASS;
}

static bool all_got(struct gconn *const *gs, int n, size_t len)
{
	for (int i = 0; i < n; i++)
		if (gs[i]->len < len)
			return false;
	return true;
}

static int test_many_connections(void)
{
	cleanup_fx struct fx *f = fx_new();
	enum { N = 64 };
	int fds[N];
	struct gconn *gs[N];
	char msg[32];

	f->listen_port = 4000;
	for (int i = 0; i < N; i++)
		fds[i] = host_connect(f, "CONNECT 4000\n");
	TAP_CHECK(RUN_UNTIL(f, f->requests == N));
	settle(f);
	TAP_CHECK(f->v->nr_conns == N);
	/* Each host socket got its OK; each says something different. */
	for (int i = 0; i < N; i++) {
		char line[32];
		size_t len = 0;
		uint32_t port = 0;

		host_read_some(fds[i], (uint8_t *)line, sizeof(line) - 1, &len);
		line[len] = '\0';
		TAP_CHECK(sscanf(line, "OK %u\n", &port) == 1);
		gs[i] = gconn_find(f, 4000, port);
		TAP_CHECK(gs[i] != NULL);
		snprintf(msg, sizeof(msg), "conn %d", i);
		TAP_CHECK(write(fds[i], msg, strlen(msg)) == (ssize_t)strlen(msg));
		g_write(f, gs[i], (const uint8_t *)msg, strlen(msg));
	}
	TAP_CHECK(RUN_UNTIL(f, all_got(gs, N, 6)));
	settle(f);
	for (int i = 0; i < N; i++) {
		char back[32];
		size_t len = 0;

		snprintf(msg, sizeof(msg), "conn %d", i);
		TAP_CHECK(gs[i]->len == strlen(msg) && memcmp(gs[i]->data, msg, gs[i]->len) == 0);
		host_read_some(fds[i], (uint8_t *)back, sizeof(back), &len);
		TAP_CHECK(len == strlen(msg) && memcmp(back, msg, len) == 0);
		close(fds[i]);
	}
	TAP_CHECK(RUN_UNTIL(f, f->v->nr_conns == 0));
	return TAP_PASS;
}

static int test_reset_closes_everything(void)
{
	cleanup_fx struct fx *f = fx_new();
	cleanup_close int fd = -1, fd2 = -1;
	struct gconn *g = NULL;

	fd = host_connect_ok(f, 9, &g);
	TAP_CHECK(fd >= 0);
	fd2 = host_connect(f, "CONNECT 10"); /* still reading its line */
	settle(f);
	TAP_CHECK(f->v->nr_conns == 2);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_STATUS, 0);
	/* The one the guest knew is gone; the one it never heard of waits. */
	TAP_CHECK(f->v->nr_conns == 1);
	TAP_CHECK(host_eof(fd) && !host_eof(fd2));
	/* And it works again after the driver comes back. */
	for (unsigned int i = 0; i < MAX_GCONNS; i++) {
		free(f->g[i].data);
		f->g[i] = (struct gconn){0};
	}
	guest_up(f, 1ULL << VIRTIO_F_VERSION_1);
	close(fd);
	fd = host_connect_ok(f, 9, &g);
	TAP_CHECK(fd >= 0);
	f->listen_port = 10;
	TAP_CHECK(write(fd2, "\n", 1) == 1);
	TAP_CHECK(RUN_UNTIL(f, gconn_find(f, 10, le32toh(f->last_req.src_port)) != NULL));
	TAP_CHECK(f->v->nr_conns == 2);
	return TAP_PASS;
}

/* Before the driver is up a host connection waits; it goes through once
 * the guest posts rx buffers. */
static int test_connect_before_driver(void)
{
	cleanup_fx struct fx *f = fx_bare();
	struct vsock_config cfg = {.present = true, .guest_cid = GUEST_CID, .uds_path = f->uds};
	cleanup_error kiln_error_t err = NULL;
	cleanup_close int fd = -1;
	char line[32];
	size_t len = 0;

	TAP_CHECK(virtio_vsock_create(&f->m, &cfg, &f->v, &err) == 0);
	f->base = f->v->mmio.slot.base;
	f->listen_port = 52;
	fd = host_connect(f, "CONNECT 52\n");
	for (int i = 0; i < 5; i++)
		evloop_run_once(&f->m.loop, 10);
	TAP_CHECK(f->v->nr_conns == 1);
	guest_up(f, 1ULL << VIRTIO_F_VERSION_1);
	TAP_CHECK(RUN_UNTIL(
	    f, (host_read_some(fd, (uint8_t *)line, sizeof(line), &len), memchr(line, '\n', len))));
	TAP_CHECK(f->requests == 1 && strncmp(line, "OK ", 3) == 0);
	return TAP_PASS;
}

static int test_free_null(void)
{
	virtio_vsock_free(NULL);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_credit_math), TAP_TEST(test_conn_never_exceeds_peer_credit),
	 TAP_TEST(test_conn_credit_update), TAP_TEST(test_conn_shutdown),
	 TAP_TEST(test_conn_handshakes), TAP_TEST(test_pkt_check), TAP_TEST(test_create_errors),
	 TAP_TEST(test_features_and_config), TAP_TEST(test_host_initiated),
	 TAP_TEST(test_host_initiated_edge_cases), TAP_TEST(test_connect_malformed),
	 TAP_TEST(test_guest_initiated), TAP_TEST(test_unknown_and_bad_packets),
	 TAP_TEST(test_rst_queue_backpressure), TAP_TEST(test_slow_guest),
	 TAP_TEST(test_slow_host_reader), TAP_TEST(test_credit_violation),
	 TAP_TEST(test_bulk_both_ways), TAP_TEST(test_host_close_delivers_first),
	 TAP_TEST(test_many_connections), TAP_TEST(test_reset_closes_everything),
	 TAP_TEST(test_connect_before_driver), TAP_TEST(test_free_null))
