/* virtio-net: the offload mapping, opening taps, and the whole device
 * without KVM: a toy driver (virtio_guest.h) on the rings, and a
 * SOCK_SEQPACKET socketpair standing in for the tap (it keeps packet
 * boundaries, as a tap does, and its writes block once the peer's queue
 * is full), the event loop run from the test thread. Hostile rings put
 * the device in DEVICE_NEEDS_RESET and nothing else. */
#include <dirent.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "common/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/virtio_guest.h"
#include "vmm/virtio/net.h"
#include "vmm/vmm.h"

#define QSIZE	  16
#define RX_RINGS  0x10000ULL
#define TX_RINGS  0x13000ULL
#define RX_BUF(k) (0x20000ULL + (uint64_t)(k)*0x1000)  /* 0..63 */
#define TX_BUF(k) (0x60000ULL + (uint64_t)(k)*0x10000) /* 0..8, 64 KiB each */
#define BIT(n)	  (1ULL << (n))

#define F_MRG                                                                                      \
	(BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_GUEST_CSUM) |    \
	 BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4))

struct fx {
	struct machine m;
	struct virtio_net *n;
	int peer;   /* the test's end of the "tap" */
	int dev_fd; /* the device's end (borrowed) */
	uint64_t base;
	struct vg_queue rx, tx;
	uint16_t rx_desc, tx_desc; /* next descriptor index to write */
	uint16_t rx_used_seen;
};

static unsigned int offload_calls, offload_flags;

static int fake_offload(int fd, unsigned int flags)
{
	(void)fd;
	offload_calls++;
	offload_flags = flags;
	return 0;
}

static void fx_free(struct fx **pf)
{
	struct fx *f = *pf;

	if (f == NULL)
		return;
	virtio_net_free(f->n);
	if (f->peer >= 0)
		close(f->peer);
	evloop_release(&f->m.loop);
	vg_machine_release(&f->m);
	free(f);
}
#define cleanup_fx __attribute__((cleanup(fx_free)))

static void queue_place(struct vg_queue *q, struct guest_mem *mem, uint64_t at)
{
	vg_queue_init(q, mem, QSIZE);
	q->desc = at;
	q->avail = at + 0x1000;
	q->used = at + 0x2000;
	memset(gmem_ptr(mem, at, 0x3000), 0, 0x3000);
}

static uint32_t status(struct fx *f)
{
	return vg_rd(&f->m, f->base, VIRTIO_MMIO_STATUS);
}

static void guest_up(struct fx *f, uint64_t features)
{
	queue_place(&f->rx, &f->m.mem, RX_RINGS);
	queue_place(&f->tx, &f->m.mem, TX_RINGS);
	f->rx_desc = f->tx_desc = f->rx_used_seen = 0;
	vg_negotiate(&f->m, f->base, features);
	vg_queue_setup(&f->m, f->base, VIRTIO_NET_RX, &f->rx);
	vg_queue_setup(&f->m, f->base, VIRTIO_NET_TX, &f->tx);
	vg_driver_ok(&f->m, f->base);
}

static struct fx *fx_new(bool has_mac, uint64_t features)
{
	struct fx *f = xzalloc(sizeof(*f));
	struct net_iface_config cfg = {.iface_id = "eth0",
				       .host_dev_name = "ktap0",
				       .has_mac = has_mac,
				       .guest_mac = {0x06, 0x00, 0xac, 0x10, 0x00, 0x02}};
	kiln_error_t err = NULL;
	int sv[2];

	if (vg_machine_init(&f->m) < 0 || evloop_init(&f->m.loop, &err) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	f->peer = sv[1];
	f->dev_fd = sv[0];
	if (virtio_net_create(&f->m, &cfg, sv[0], &f->n, &err) < 0) {
		tap_diag("%s", err->msg);
		abort();
	}
	f->n->set_offload = fake_offload;
	offload_calls = 0;
	offload_flags = 0xdead;
	f->base = f->n->mmio.slot.base;
	if (features)
		guest_up(f, features);
	return f;
}

static void notify(struct fx *f, unsigned int q)
{
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

/* Runs the event loop until nothing is due; returns the handlers run. */
static int pump(struct fx *f)
{
	int total = 0, r;

	for (int i = 0; i < 1000 && (r = evloop_run_once(&f->m.loop, 0)) > 0; i++)
		total += r;
	return total;
}

static bool needs_reset(struct fx *f)
{
	return (status(f) & VIRTIO_CONFIG_S_NEEDS_RESET) != 0;
}

/* One rx buffer of len bytes at RX_BUF(k), flags as given. */
static void rx_add_flags(struct fx *f, unsigned int k, uint32_t len, uint16_t flags)
{
	uint16_t d = f->rx_desc++ % QSIZE;

	vg_desc(&f->rx, d, RX_BUF(k), len, flags, 0);
	vg_avail_push(&f->rx, d);
}

static void rx_add(struct fx *f, unsigned int k, uint32_t len)
{
	rx_add_flags(f, k, len, VRING_DESC_F_WRITE);
}

static uint8_t pattern(size_t i, uint8_t seed)
{
	return (uint8_t)(i * 7 + seed);
}

/* Sends a packet of a vnet header (flags, gso_type) and len payload bytes
 * into the device's "tap". */
static void peer_send_hdr(struct fx *f, size_t len, uint8_t seed, uint8_t flags, uint8_t gso)
{
	cleanup_free uint8_t *p = xzalloc(VIRTIO_NET_HDR_LEN + len);

	p[0] = flags;
	p[1] = gso;
	for (size_t i = 0; i < len; i++)
		p[VIRTIO_NET_HDR_LEN + i] = pattern(i, seed);
	if (send(f->peer, p, VIRTIO_NET_HDR_LEN + len, 0) != (ssize_t)(VIRTIO_NET_HDR_LEN + len))
		abort();
}

static void peer_send(struct fx *f, size_t len, uint8_t seed)
{
	peer_send_hdr(f, len, seed, 0, VIRTIO_NET_HDR_GSO_NONE);
}

/* Whether a packet still waits on the device's side of the "tap". */
static bool tap_has_packet(struct fx *f)
{
	char b;

	return recv(f->dev_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;
}

/* Checks used elements [from, from + n) against rx buffers ks[] and
 * lengths lens[], and that they hold one packet of payload len (seed)
 * with num_buffers n. */
static int rx_check_packet(struct fx *f, uint16_t from, unsigned int n, const unsigned int *ks,
			   const uint32_t *lens, size_t len, uint8_t seed)
{
	size_t off = 0; /* payload bytes checked */
	uint16_t nbuf;

	for (unsigned int i = 0; i < n; i++) {
		uint32_t id, ulen;
		const uint8_t *b = gmem_ptr(&f->m.mem, RX_BUF(ks[i]), 0x1000);
		size_t start = i == 0 ? VIRTIO_NET_HDR_LEN : 0;

		vg_used_elem(&f->rx, (uint16_t)(from + i), &id, &ulen);
		if (ulen != lens[i]) {
			tap_diag("used %u: len %u, want %u", from + i, ulen, lens[i]);
			return TAP_FAIL;
		}
		for (size_t j = start; j < ulen; j++, off++)
			if (b[j] != pattern(off, seed)) {
				tap_diag("buffer %u byte %zu differs", ks[i], j);
				return TAP_FAIL;
			}
	}
	memcpy(&nbuf, gmem_ptr(&f->m.mem, RX_BUF(ks[0]) + 10, 2), 2);
	TAP_CHECK(le16toh(nbuf) == n);
	TAP_CHECK(off == len);
	return TAP_PASS;
}

/* A tx packet: header desc then payload desc(s), readable. */
static uint16_t tx_add(struct fx *f, unsigned int k, size_t len, uint8_t seed)
{
	uint8_t *b = gmem_ptr(&f->m.mem, TX_BUF(k), 0x10000);
	uint16_t h = f->tx_desc++ % QSIZE, d = f->tx_desc++ % QSIZE;

	memset(b, 0, VIRTIO_NET_HDR_LEN);
	for (size_t i = 0; i < len; i++)
		b[VIRTIO_NET_HDR_LEN + i] = pattern(i, seed);
	vg_desc(&f->tx, h, TX_BUF(k), VIRTIO_NET_HDR_LEN, VRING_DESC_F_NEXT, d);
	vg_desc(&f->tx, d, TX_BUF(k) + VIRTIO_NET_HDR_LEN, (uint32_t)len, 0, 0);
	vg_avail_push(&f->tx, h);
	return h;
}

/* Receives one packet from the device on the peer; checks it. */
static int peer_recv_check(struct fx *f, size_t len, uint8_t seed)
{
	cleanup_free uint8_t *p = xmalloc(VIRTIO_NET_PKT_MAX);
	ssize_t r = recv(f->peer, p, VIRTIO_NET_PKT_MAX, MSG_DONTWAIT);

	if (r != (ssize_t)(VIRTIO_NET_HDR_LEN + len)) {
		tap_diag("peer got %zd bytes, want %zu", r, VIRTIO_NET_HDR_LEN + len);
		return TAP_FAIL;
	}
	for (size_t i = 0; i < len; i++)
		TAP_CHECK(p[VIRTIO_NET_HDR_LEN + i] == pattern(i, seed));
	return TAP_PASS;
}

/* ---- no device ---- */

static int test_offload_map(void)
{
	TAP_CHECK(virtio_net_tap_offloads(0) == 0);
	TAP_CHECK(virtio_net_tap_offloads(BIT(VIRTIO_NET_F_GUEST_CSUM)) == TUN_F_CSUM);
	/* TSO without GUEST_CSUM is not a valid set: nothing. */
	TAP_CHECK(virtio_net_tap_offloads(BIT(VIRTIO_NET_F_GUEST_TSO4)) == 0);
	TAP_CHECK(
	    virtio_net_tap_offloads(BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4)) ==
	    (TUN_F_CSUM | TUN_F_TSO4));
	TAP_CHECK(virtio_net_tap_offloads(
		      BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO6) |
		      BIT(VIRTIO_NET_F_GUEST_ECN)) == (TUN_F_CSUM | TUN_F_TSO6 | TUN_F_TSO_ECN));
	/* ECN needs a TSO feature. */
	TAP_CHECK(virtio_net_tap_offloads(BIT(VIRTIO_NET_F_GUEST_CSUM) |
					  BIT(VIRTIO_NET_F_GUEST_ECN)) == TUN_F_CSUM);
	/* What we may send (HOST_*, CSUM) is not what the tap may hand us. */
	TAP_CHECK(virtio_net_tap_offloads(BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4) |
					  BIT(VIRTIO_NET_F_HOST_TSO6) |
					  BIT(VIRTIO_NET_F_MRG_RXBUF)) == 0);
	return TAP_PASS;
}

static int test_tap_open_errors(void)
{
	cleanup_error kiln_error_t err = NULL;
	int fd = -1;

	TAP_CHECK(virtio_net_tap_open("eth0", "kilnnotap0", &fd, &err) < 0 && fd == -1);
	TAP_CHECK_STR(err->msg, "network interface 'eth0': tap 'kilnnotap0' does not exist "
				"(create it first: ip tuntap add dev kilnnotap0 mode tap)");
	kiln_error_free(&err);
	TAP_CHECK(virtio_net_tap_open("eth0", "a234567890123456", &fd, &err) < 0);
	TAP_CHECK_STR(err->msg, "network interface 'eth0': tap name 'a234567890123456' is too "
				"long");
	kiln_error_free(&err);
	/* lo exists and is no tap: one line either way, whichever step
	 * this host refuses. */
	TAP_CHECK(virtio_net_tap_open("eth0", "lo", &fd, &err) < 0 && fd == -1);
	TAP_CHECK(strstr(err->msg, "network interface 'eth0': ") == err->msg);
	TAP_CHECK(strstr(err->msg, "cannot open /dev/net/tun") != NULL ||
		  strstr(err->msg, "cannot attach to tap 'lo'") != NULL);
	TAP_CHECK(strchr(err->msg, '\n') == NULL);
	tap_diag("lo: %s", err->msg);
	return TAP_PASS;
}

/* ---- the device ---- */

static int test_features_and_config(void)
{
	cleanup_fx struct fx *f = fx_new(true, 0);
	cleanup_fx struct fx *g = fx_new(false, 0);
	uint64_t want = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) |
			BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_CSUM) |
			BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4) |
			BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_GUEST_TSO4) |
			BIT(VIRTIO_NET_F_GUEST_TSO6);
	uint8_t cfg[8];

	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_DEVICE_ID) == VIRTIO_ID_NET);
	TAP_CHECK((vg_device_features(&f->m, f->base) & want) == want);
	TAP_CHECK(!(vg_device_features(&g->m, g->base) & BIT(VIRTIO_NET_F_MAC)));
	for (int i = 0; i < 8; i++)
		bus_dispatch(&f->m.mmio, f->base + 0x100 + i, false, &cfg[i], 1);
	TAP_CHECK(memcmp(cfg, "\x06\x00\xac\x10\x00\x02", 6) == 0);
	TAP_CHECK(cfg[6] == VIRTIO_NET_S_LINK_UP && cfg[7] == 0);
	/* Two queues, no control queue. */
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_SEL, 1);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_QUEUE_NUM_MAX) == VIRTIO_NET_QUEUE_SIZE);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_SEL, 2);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_QUEUE_NUM_MAX) == 0);
	/* Nothing is read from the tap before the driver is up. */
	peer_send(f, 100, 1);
	TAP_CHECK(pump(f) == 0);
	TAP_CHECK(f->n->tap_events == 0 && tap_has_packet(f));
	return TAP_PASS;
}

static int test_rx_mergeable(void)
{
	cleanup_fx struct fx *f = fx_new(true, F_MRG);
	const unsigned int k1[] = {0, 1, 2}, k2[] = {3, 4, 5, 6}, k3[] = {7};
	const uint32_t l1[] = {1000, 1000, 512}, l2[] = {1000, 1000, 1000, 12}, l3[] = {112};

	/* A packet before any rx buffer: the tap is not even watched. */
	peer_send(f, 2500, 1);
	TAP_CHECK(pump(f) == 0);
	TAP_CHECK(f->n->tap_events == 0 && tap_has_packet(f));
	TAP_CHECK(offload_calls == 0);

	/* Buffers arrive: the packet spreads over three of them. */
	for (unsigned int k = 0; k < 3; k++)
		rx_add(f, k, 1000);
	notify(f, VIRTIO_NET_RX);
	TAP_CHECK(offload_calls == 1 && offload_flags == (TUN_F_CSUM | TUN_F_TSO4));
	TAP_CHECK(vg_used_idx(&f->rx) == 3);
	TAP_CHECK(rx_check_packet(f, 0, 3, k1, l1, 2500, 1) == TAP_PASS);
	TAP_CHECK(vg_irq_count(f->n->mmio.irq.fd) >= 1);
	TAP_CHECK(f->n->tap_events == EPOLLIN);

	/* The ring is empty: the next packet is read and held, the one after
	 * stays in the tap, and nothing polls. */
	peer_send(f, 3000, 2);
	TAP_CHECK(pump(f) >= 1);
	TAP_CHECK(f->n->rx_have && f->n->tap_events == 0);
	peer_send(f, 100, 3);
	TAP_CHECK(pump(f) == 0);
	TAP_CHECK(tap_has_packet(f) && vg_used_idx(&f->rx) == 3);

	/* Two buffers are not enough for 3012 bytes: still nothing used. */
	rx_add(f, 3, 1000);
	rx_add(f, 4, 1000);
	notify(f, VIRTIO_NET_RX);
	TAP_CHECK(vg_used_idx(&f->rx) == 3 && f->n->tap_events == 0);
	/* Three more: the held packet completes in order, then the next. */
	rx_add(f, 5, 1000);
	rx_add(f, 6, 1000);
	rx_add(f, 7, 1000);
	notify(f, VIRTIO_NET_RX);
	TAP_CHECK(vg_used_idx(&f->rx) == 8);
	TAP_CHECK(rx_check_packet(f, 3, 4, k2, l2, 3000, 2) == TAP_PASS);
	TAP_CHECK(rx_check_packet(f, 7, 1, k3, l3, 100, 3) == TAP_PASS);
	TAP_CHECK(!tap_has_packet(f) && f->n->tap_events == EPOLLIN);
	/* Offloads are set once per driver session. */
	TAP_CHECK(offload_calls == 1);
	return TAP_PASS;
}

static int test_rx_single_buffer(void)
{
	cleanup_fx struct fx *f = fx_new(true, BIT(VIRTIO_F_VERSION_1));
	const unsigned int k[] = {1}, k2[] = {2};
	const uint32_t l[] = {1512}, l2[] = {212};
	uint8_t flags;
	uint32_t id, len;

	rx_add(f, 0, 1000);
	rx_add(f, 1, 2000);
	rx_add(f, 2, 2000);
	notify(f, VIRTIO_NET_RX);
	TAP_CHECK(offload_calls == 1 && offload_flags == 0);
	/* Without MRG_RXBUF a packet takes one buffer or none: too small, it
	 * is dropped and the buffer comes back empty. */
	peer_send(f, 1500, 3);
	TAP_CHECK(pump(f) >= 1);
	TAP_CHECK(vg_used_idx(&f->rx) == 1);
	vg_used_elem(&f->rx, 0, &id, &len);
	TAP_CHECK(id == 0 && len == 0);
	peer_send(f, 1500, 4);
	TAP_CHECK(pump(f) >= 1);
	TAP_CHECK(vg_used_idx(&f->rx) == 2);
	TAP_CHECK(rx_check_packet(f, 1, 1, k, l, 1500, 4) == TAP_PASS);
	/* Without GUEST_CSUM the guest cannot take a partial checksum (the
	 * packet is dropped) and sees no flags at all. */
	peer_send_hdr(f, 200, 5, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE);
	peer_send_hdr(f, 200, 6, 0, VIRTIO_NET_HDR_GSO_TCPV4);
	peer_send_hdr(f, 200, 7, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_GSO_NONE);
	TAP_CHECK(pump(f) >= 1);
	TAP_CHECK(vg_used_idx(&f->rx) == 3);
	TAP_CHECK(rx_check_packet(f, 2, 1, k2, l2, 200, 7) == TAP_PASS);
	memcpy(&flags, gmem_ptr(&f->m.mem, RX_BUF(2), 1), 1);
	TAP_CHECK(flags == 0);
	TAP_CHECK(f->n->rx_dropped == 3);
	return TAP_PASS;
}

static int test_tx(void)
{
	cleanup_fx struct fx *f = fx_new(true, F_MRG);
	uint32_t id, len;
	uint16_t h;

	h = tx_add(f, 0, 300, 8);
	notify(f, VIRTIO_NET_TX);
	TAP_CHECK(peer_recv_check(f, 300, 8) == TAP_PASS);
	TAP_CHECK(vg_used_idx(&f->tx) == 1);
	vg_used_elem(&f->tx, 0, &id, &len);
	TAP_CHECK(id == h && len == 0);
	/* A 64 KiB TSO packet goes out whole. */
	tx_add(f, 1, 65000, 9);
	tx_add(f, 2, 60, 10);
	notify(f, VIRTIO_NET_TX);
	TAP_CHECK(peer_recv_check(f, 65000, 9) == TAP_PASS);
	TAP_CHECK(peer_recv_check(f, 60, 10) == TAP_PASS);
	TAP_CHECK(vg_used_idx(&f->tx) == 3);
	TAP_CHECK(f->n->tap_events == 0);
	return TAP_PASS;
}

static int test_tx_backpressure(void)
{
	cleanup_fx struct fx *f = fx_new(true, F_MRG);
	char filler[VIRTIO_NET_HDR_LEN + 100] = {0};
	unsigned int filled = 0;

	/* Fill the "tap" until a write would block. */
	while (send(f->dev_fd, filler, sizeof(filler), MSG_DONTWAIT) > 0)
		filled++;
	TAP_CHECK(errno == EAGAIN && filled > 0);
	tx_add(f, 0, 500, 11);
	notify(f, VIRTIO_NET_TX);
	TAP_CHECK(vg_used_idx(&f->tx) == 0);
	TAP_CHECK(f->n->tx_held && f->n->tap_events == EPOLLOUT);
	/* More packets wait behind it, untouched. */
	tx_add(f, 1, 700, 12);
	notify(f, VIRTIO_NET_TX);
	TAP_CHECK(vg_used_idx(&f->tx) == 0);
	TAP_CHECK(pump(f) == 0);
	/* The reader catches up: EPOLLOUT sends both, in order. */
	while (filled-- > 0)
		TAP_CHECK(recv(f->peer, filler, sizeof(filler), MSG_DONTWAIT) ==
			  (ssize_t)sizeof(filler));
	TAP_CHECK(pump(f) >= 1);
	TAP_CHECK(vg_used_idx(&f->tx) == 2);
	TAP_CHECK(!f->n->tx_held && f->n->tap_events == 0);
	TAP_CHECK(peer_recv_check(f, 500, 11) == TAP_PASS);
	TAP_CHECK(peer_recv_check(f, 700, 12) == TAP_PASS);
	return TAP_PASS;
}

/* ---- a hostile driver ---- */

static int test_tx_malformed(void)
{
	char b;

	/* A device-writable buffer in a tx chain. */
	{
		cleanup_fx struct fx *f = fx_new(true, F_MRG);

		vg_desc(&f->tx, 0, TX_BUF(0), 12, VRING_DESC_F_NEXT, 1);
		vg_desc(&f->tx, 1, TX_BUF(0) + 12, 100, VRING_DESC_F_WRITE, 0);
		vg_avail_push(&f->tx, 0);
		notify(f, VIRTIO_NET_TX);
		TAP_CHECK(needs_reset(f));
		TAP_CHECK(recv(f->peer, &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
		TAP_CHECK(vg_used_idx(&f->tx) == 0);
		/* The device stays stopped until a reset. */
		tx_add(f, 1, 10, 1);
		notify(f, VIRTIO_NET_TX);
		TAP_CHECK(recv(f->peer, &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
	}
	/* Shorter than the header. */
	{
		cleanup_fx struct fx *f = fx_new(true, F_MRG);

		vg_desc(&f->tx, 0, TX_BUF(0), 5, 0, 0);
		vg_avail_push(&f->tx, 0);
		notify(f, VIRTIO_NET_TX);
		TAP_CHECK(needs_reset(f));
		TAP_CHECK(recv(f->peer, &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
	}
	/* A buffer outside guest memory, and one that wraps. */
	{
		cleanup_fx struct fx *f = fx_new(true, F_MRG);

		vg_desc(&f->tx, 0, VG_RAM_SIZE - 8, 64, 0, 0);
		vg_avail_push(&f->tx, 0);
		notify(f, VIRTIO_NET_TX);
		TAP_CHECK(needs_reset(f));
	}
	{
		cleanup_fx struct fx *f = fx_new(true, F_MRG);

		vg_desc(&f->tx, 0, UINT64_MAX - 4, 64, 0, 0);
		vg_avail_push(&f->tx, 0);
		notify(f, VIRTIO_NET_TX);
		TAP_CHECK(needs_reset(f));
	}
	/* A loop in the chain. */
	{
		cleanup_fx struct fx *f = fx_new(true, F_MRG);

		vg_desc(&f->tx, 0, TX_BUF(0), 12, VRING_DESC_F_NEXT, 1);
		vg_desc(&f->tx, 1, TX_BUF(0), 12, VRING_DESC_F_NEXT, 0);
		vg_avail_push(&f->tx, 0);
		notify(f, VIRTIO_NET_TX);
		TAP_CHECK(needs_reset(f));
	}
	/* More than 64 KiB: dropped, the buffer returned, the device fine. */
	{
		cleanup_fx struct fx *f = fx_new(true, F_MRG);

		vg_desc(&f->tx, 0, TX_BUF(0), 0x10000, VRING_DESC_F_NEXT, 1);
		vg_desc(&f->tx, 1, TX_BUF(1), 0x10000, 0, 0);
		vg_avail_push(&f->tx, 0);
		notify(f, VIRTIO_NET_TX);
		TAP_CHECK(!needs_reset(f) && vg_used_idx(&f->tx) == 1);
		TAP_CHECK(recv(f->peer, &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
		TAP_CHECK(f->n->tx_dropped == 1);
	}
	return TAP_PASS;
}

static int test_rx_malformed(void)
{
	/* A device-readable rx buffer. */
	{
		cleanup_fx struct fx *f = fx_new(true, F_MRG);

		rx_add_flags(f, 0, 1000, 0);
		notify(f, VIRTIO_NET_RX);
		peer_send(f, 100, 1);
		pump(f);
		TAP_CHECK(needs_reset(f));
		TAP_CHECK(vg_used_idx(&f->rx) == 0);
		/* Broken: the tap is no longer watched, nothing more is read. */
		TAP_CHECK(f->n->tap_events == 0);
		peer_send(f, 100, 2);
		TAP_CHECK(pump(f) == 0 && tap_has_packet(f));
	}
	/* A first buffer too short for the header. */
	{
		cleanup_fx struct fx *f = fx_new(true, F_MRG);

		rx_add(f, 0, 8);
		notify(f, VIRTIO_NET_RX);
		peer_send(f, 100, 1);
		pump(f);
		TAP_CHECK(needs_reset(f) && vg_used_idx(&f->rx) == 0);
	}
	/* A packet bigger than every buffer of the queue together: the
	 * driver can never add more, so this is an error, not a wait. */
	{
		cleanup_fx struct fx *f = fx_new(true, F_MRG);

		for (unsigned int k = 0; k < QSIZE; k++)
			rx_add(f, k, 16);
		notify(f, VIRTIO_NET_RX);
		peer_send(f, 1000, 1);
		pump(f);
		TAP_CHECK(needs_reset(f) && vg_used_idx(&f->rx) == 0);
		TAP_CHECK(pump(f) == 0);
	}
	/* A buffer outside guest memory. */
	{
		cleanup_fx struct fx *f = fx_new(true, F_MRG);

		vg_desc(&f->rx, 0, VG_RAM_SIZE, 1000, VRING_DESC_F_WRITE, 0);
		vg_avail_push(&f->rx, 0);
		notify(f, VIRTIO_NET_RX);
		peer_send(f, 100, 1);
		pump(f);
		TAP_CHECK(needs_reset(f));
	}
	return TAP_PASS;
}

/* After NEEDS_RESET, a driver reset and a new session bring the device
 * back: offloads cleared and set again for what the new driver acked. */
static int test_reset_recovers(void)
{
	cleanup_fx struct fx *f = fx_new(true, F_MRG);
	const unsigned int k[] = {1};
	const uint32_t l[] = {412};

	rx_add(f, 0, 8);
	notify(f, VIRTIO_NET_RX);
	peer_send(f, 100, 1);
	pump(f);
	TAP_CHECK(needs_reset(f) && offload_calls == 1);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_STATUS, 0);
	TAP_CHECK(offload_calls == 2 && offload_flags == 0);
	TAP_CHECK(!f->n->rx_have && f->n->tap_events == 0);
	guest_up(f, BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MRG_RXBUF));
	TAP_CHECK(!needs_reset(f));
	rx_add(f, 1, 1000);
	notify(f, VIRTIO_NET_RX);
	TAP_CHECK(offload_calls == 3 && offload_flags == 0);
	/* The packet held across the reset was dropped with it. */
	peer_send(f, 400, 2);
	pump(f);
	TAP_CHECK(vg_used_idx(&f->rx) == 1);
	TAP_CHECK(rx_check_packet(f, 0, 1, k, l, 400, 2) == TAP_PASS);
	return TAP_PASS;
}

/* The other end goes away (the tap's interface deleted): the device stops
 * watching it instead of spinning on the hang-up. */
static int test_tap_gone(void)
{
	cleanup_fx struct fx *f = fx_new(true, F_MRG);

	rx_add(f, 0, 1000);
	notify(f, VIRTIO_NET_RX);
	close(f->peer);
	f->peer = -1;
	TAP_CHECK(pump(f) >= 1);
	TAP_CHECK(f->n->tap_dead);
	TAP_CHECK(pump(f) == 0);
	/* tx still completes (the packets are dropped). */
	tx_add(f, 0, 10, 1);
	notify(f, VIRTIO_NET_TX);
	TAP_CHECK(vg_used_idx(&f->tx) == 1 && !needs_reset(f));
	return TAP_PASS;
}

/* InstanceStart refuses a configuration that needs too many virtio-mmio
 * slots, or a tap it cannot open, before any of the VM exists (no KVM is
 * needed to get there), so the start can be retried. */
static struct vmm boot_vmm;

static int fds_open(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static int test_boot_refuses_before_building(void)
{
	cleanup_error kiln_error_t err = NULL;
	struct vmm_config c;

	TAP_CHECK(vmm_init(&boot_vmm, -1, STDOUT_FILENO, &err) == 0);
	vmm_config_init(&c);
	c.boot.kernel_image_path = xstrdup("/nonexistent/vmlinux");
	c.nr_drives = VMM_MAX_DRIVES; /* counted, never opened */
	c.vsock.present = true;
	TAP_CHECK(vmm_boot(&boot_vmm, &c, &err) < 0);
	TAP_CHECK_STR(err->msg, "16 drives, 0 network interfaces, 0 fs devices and a vsock need 17 "
				"virtio-mmio devices; the machine has 16");
	TAP_CHECK(!boot_vmm.boot_failed && boot_vmm.m.kvm_fd < 0);
	kiln_error_free(&err);
	c.nr_drives = 0;
	c.vsock.present = false;
	c.nr_nets = 1;
	c.nets[0].iface_id = xstrdup("eth0");
	c.nets[0].host_dev_name = xstrdup("kilnnotap7");
	TAP_CHECK(vmm_boot(&boot_vmm, &c, &err) < 0);
	TAP_CHECK_STR(err->msg, "network interface 'eth0': tap 'kilnnotap7' does not exist (create "
				"it first: ip tuntap add dev kilnnotap7 mode tap)");
	TAP_CHECK(!boot_vmm.boot_failed && boot_vmm.m.kvm_fd < 0 && boot_vmm.devices.nr == 0);
	kiln_error_free(&err);
	/* Interfaces on a device that exists but is no tap (lo): the start
	 * fails on the first (at /dev/net/tun or TUNSETIFF, whichever this
	 * host refuses) and no fd stays open. */
	c.nr_nets = 2;
	free(c.nets[0].host_dev_name);
	c.nets[0].host_dev_name = xstrdup("lo");
	c.nets[1].iface_id = xstrdup("eth1");
	c.nets[1].host_dev_name = xstrdup("lo");
	{
		int before = fds_open();

		TAP_CHECK(vmm_boot(&boot_vmm, &c, &err) < 0);
		TAP_CHECK(strstr(err->msg, "network interface 'eth0': ") == err->msg);
		TAP_CHECK(fds_open() == before);
	}
	TAP_CHECK(!boot_vmm.boot_failed && boot_vmm.m.kvm_fd < 0);
	vmm_config_release(&c);
	vmm_release(&boot_vmm);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_offload_map), TAP_TEST(test_tap_open_errors),
	 TAP_TEST(test_features_and_config), TAP_TEST(test_rx_mergeable),
	 TAP_TEST(test_rx_single_buffer), TAP_TEST(test_tx), TAP_TEST(test_tx_backpressure),
	 TAP_TEST(test_tx_malformed), TAP_TEST(test_rx_malformed), TAP_TEST(test_reset_recovers),
	 TAP_TEST(test_tap_gone), TAP_TEST(test_boot_refuses_before_building))
