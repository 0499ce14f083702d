#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <net/if.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/virtio/net.h"

/* Packets one tap wakeup moves into the guest before the loop serves
 * others (the tap stays readable, so the loop comes back). */
#define RX_BATCH 64

#define BIT(n) (1ULL << (n))

/* §5.1.6: num_buffers is the last field of struct virtio_net_hdr_v1. */
#define HDR_NUM_BUFFERS 10

int virtio_net_tap_open(const char *iface_id, const char *name, int *fd_out, kiln_error_t *err)
{
	cleanup_close int fd = -1;
	struct ifreq ifr;
	int hdr_len = VIRTIO_NET_HDR_LEN;
	unsigned int none = 0;
	const char *hint = "";

	if (strlen(name) >= IFNAMSIZ)
		return kiln_error_make(err, 0, "network interface '%s': tap name '%s' is too long",
				       iface_id, name);
	/* TUNSETIFF with a name nobody uses creates a new tap that nothing
	 * is wired to; the VMM only attaches to one that was prepared. */
	if (if_nametoindex(name) == 0)
		return kiln_error_make(err, 0,
				       "network interface '%s': tap '%s' does not exist (create it "
				       "first: ip tuntap add dev %s mode tap)",
				       iface_id, name, name);
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return kiln_error_make(err, errno,
				       "network interface '%s': tap '%s': cannot open /dev/net/tun",
				       iface_id, name);
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		if (e == EINVAL)
			hint = " (is it a tap device?)";
		else if (e == EBUSY)
			hint = " (in use by another process?)";
		else if (e == EPERM)
			hint = " (it needs CAP_NET_ADMIN or the tap's owner)";
		return kiln_error_make(err, e,
				       "network interface '%s': cannot attach to tap '%s'%s",
				       iface_id, name, hint);
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0)
		return kiln_error_make(err, errno,
				       "network interface '%s': tap '%s': setting the vnet header "
				       "size",
				       iface_id, name);
	if (ioctl(fd, TUNSETOFFLOAD, none) < 0)
		return kiln_error_make(err, errno,
				       "network interface '%s': tap '%s': clearing its offloads",
				       iface_id, name);
	*fd_out = TAKE_FD(fd);
	return 0;
}

unsigned int virtio_net_tap_offloads(uint64_t acked)
{
	unsigned int f = 0;

	if (!(acked & BIT(VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	f |= TUN_F_CSUM;
	if (acked & BIT(VIRTIO_NET_F_GUEST_TSO4))
		f |= TUN_F_TSO4;
	if (acked & BIT(VIRTIO_NET_F_GUEST_TSO6))
		f |= TUN_F_TSO6;
	if ((acked & BIT(VIRTIO_NET_F_GUEST_ECN)) && (f & (TUN_F_TSO4 | TUN_F_TSO6)))
		f |= TUN_F_TSO_ECN;
	return f;
}

static int tap_set_offload(int fd, unsigned int flags)
{
	return ioctl(fd, TUNSETOFFLOAD, flags);
}

static uint64_t net_features(void *dev)
{
	struct virtio_net *n = dev;
	uint64_t f = BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
		     BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) |
		     BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
		     BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_GUEST_TSO4) |
		     BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_GUEST_ECN);

	if (n->has_mac)
		f |= BIT(VIRTIO_NET_F_MAC);
	return f;
}

static void net_config_read(void *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_net *n = dev;

	memcpy(data, (const uint8_t *)&n->config + offset, len);
}

/* The queue may be used: the driver is up, the device not broken. */
static bool queue_live(const struct virtio_net *n, unsigned int queue)
{
	uint32_t s = n->mmio.status;

	return (s & VIRTIO_CONFIG_S_FEATURES_OK) && (s & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(s & VIRTIO_CONFIG_S_NEEDS_RESET) && n->mmio.queues[queue].vq.ready;
}

/* Watches the tap for exactly what the device can act on now. */
static void tap_interest(struct virtio_net *n)
{
	struct epoll_event ev = {.events = 0};

	if (n->tap_dead)
		return;
	if (n->rx_wanted && queue_live(n, VIRTIO_NET_RX))
		ev.events |= EPOLLIN;
	if (n->tx_held && queue_live(n, VIRTIO_NET_TX))
		ev.events |= EPOLLOUT;
	if (ev.events == n->tap_events)
		return;
	if (epoll_ctl(n->epfd, EPOLL_CTL_MOD, n->tap_fd, &ev) < 0) {
		log_warning("network interface '%s': epoll on tap '%s': %s", n->iface_id,
			    n->tap_name, strerror(errno));
		return;
	}
	n->tap_events = ev.events;
}

/* The tap is gone (its interface deleted, an I/O error): the interface
 * stops passing traffic, and nothing polls a dead fd. */
static void tap_fail(struct virtio_net *n, const char *why)
{
	if (n->tap_dead)
		return;
	log_warning("network interface '%s': tap '%s': %s; the interface stops passing traffic",
		    n->iface_id, n->tap_name, why);
	epoll_ctl(n->epfd, EPOLL_CTL_DEL, n->tap_fd, NULL);
	n->tap_dead = true;
	n->tap_events = 0;
}

/* Sets what the tap may hand us from what the driver acked, once per
 * driver session (the features are fixed from FEATURES_OK on). */
static int offload_apply(struct virtio_net *n)
{
	unsigned int f;

	if (n->offload_set)
		return 0;
	f = virtio_net_tap_offloads(n->mmio.driver_features);
	if (n->set_offload(n->tap_fd, f) < 0) {
		virtio_mmio_device_error(&n->mmio, "TUNSETOFFLOAD 0x%x on tap '%s': %s", f,
					 n->tap_name, strerror(errno));
		return -1;
	}
	n->offload_set = true;
	return 0;
}

/* Whether a header from the tap promises nothing the driver did not ack
 * (a packet queued before the offloads shrank could). */
static bool rx_header_ok(struct virtio_net *n, struct virtio_net_hdr_v1 *h)
{
	uint64_t f = n->mmio.driver_features;

	if (!(f & BIT(VIRTIO_NET_F_GUEST_CSUM))) {
		if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			return false;
		/* §5.1.6.4.1: flags are zero without GUEST_CSUM. */
		h->flags = 0;
	}
	switch (h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return (h->gso_type & VIRTIO_NET_HDR_GSO_ECN) == 0;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return (f & BIT(VIRTIO_NET_F_GUEST_TSO4)) &&
		       (!(h->gso_type & VIRTIO_NET_HDR_GSO_ECN) ||
			(f & BIT(VIRTIO_NET_F_GUEST_ECN)));
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return (f & BIT(VIRTIO_NET_F_GUEST_TSO6)) &&
		       (!(h->gso_type & VIRTIO_NET_HDR_GSO_ECN) ||
			(f & BIT(VIRTIO_NET_F_GUEST_ECN)));
	default:
		return false;
	}
}

/* Reads the next packet into rx_pkt. Returns 1 with a packet, 2 when one
 * was read and dropped, 0 when the tap has none, -1 when the tap failed. */
static int rx_read(struct virtio_net *n)
{
	struct virtio_net_hdr_v1 h;
	ssize_t r;

	do
		r = read(n->tap_fd, n->rx_pkt, VIRTIO_NET_PKT_MAX);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (r < 0) {
		tap_fail(n, strerror(errno));
		return -1;
	}
	if (r == 0) {
		tap_fail(n, "end of file");
		return -1;
	}
	if ((size_t)r < VIRTIO_NET_HDR_LEN) {
		n->rx_dropped++;
		return 2;
	}
	memcpy(&h, n->rx_pkt, sizeof(h));
	if (!rx_header_ok(n, &h)) {
		n->rx_dropped++;
		return 2;
	}
	h.num_buffers = 0; /* set when the packet is placed */
	memcpy(n->rx_pkt, &h, sizeof(h));
	n->rx_have = true;
	n->rx_len = (size_t)r;
	n->rx_off = 0;
	n->rx_nused = 0;
	return 1;
}

/* Places the held packet into receive buffers (§5.1.6.4): with
 * MRG_RXBUF across as many chains as it needs, num_buffers saying how
 * many; without, in one chain or not at all. Chains are pushed only once
 * the whole packet is in. Returns 1 when the packet is done (placed or
 * dropped), 0 when the ring ran dry (the chains taken so far are kept),
 * or -1 when the driver broke the queue (the device then needs a reset). */
static int rx_deliver(struct virtio_net *n, struct virtq *q, bool *used)
{
	bool mrg = virtio_mmio_has_feature(&n->mmio, VIRTIO_NET_F_MRG_RXBUF);
	struct virtq_chain *c = &n->rx_chain;
	uint16_t nbuf;
	int r;

	while (n->rx_off < n->rx_len) {
		size_t chunk;

		if (n->rx_nused >= q->size) {
			virtio_mmio_device_error(&n->mmio,
						 "rx: a %zu-byte packet does not fit in all %u "
						 "receive buffers",
						 n->rx_len, q->size);
			return -1;
		}
		r = virtq_pop(q, c);
		if (r < 0) {
			virtio_mmio_device_error(&n->mmio, "queue %u: %s", VIRTIO_NET_RX, q->error);
			return -1;
		}
		if (r == 0)
			return 0;
		if (c->nr_readable > 0 || c->writable_len == 0) {
			virtio_mmio_device_error(
			    &n->mmio, "rx: buffer %u is not a device-writable buffer", c->head);
			return -1;
		}
		/* §5.1.6.3.1: every buffer holds at least the header. */
		if (c->writable_len < VIRTIO_NET_HDR_LEN) {
			virtio_mmio_device_error(
			    &n->mmio,
			    "rx: buffer %u has %zu bytes, less than the %d-byte "
			    "header",
			    c->head, c->writable_len, VIRTIO_NET_HDR_LEN);
			return -1;
		}
		if (!mrg && c->writable_len < n->rx_len) {
			/* One buffer per packet and this one is too small: the
			 * packet is dropped, the buffer goes back empty. */
			virtq_push(q, c->head, 0);
			*used = true;
			n->rx_dropped++;
			n->rx_have = false;
			return 1;
		}
		chunk = n->rx_len - n->rx_off;
		if (chunk > c->writable_len)
			chunk = c->writable_len;
		virtq_chain_write(c, 0, n->rx_pkt + n->rx_off, chunk);
		if (n->rx_nused == 0)
			n->rx_nbuf_n =
			    virtq_chain_iov(c, true, HDR_NUM_BUFFERS, sizeof(nbuf), n->rx_nbuf);
		n->rx_used[n->rx_nused++] = (struct virtio_net_used){c->head, (uint32_t)chunk};
		n->rx_off += chunk;
	}
	nbuf = htole16((uint16_t)n->rx_nused);
	for (unsigned int i = 0, done = 0; i < n->rx_nbuf_n && done < sizeof(nbuf); i++) {
		size_t k = n->rx_nbuf[i].iov_len;

		if (k > sizeof(nbuf) - done)
			k = sizeof(nbuf) - done;
		memcpy(n->rx_nbuf[i].iov_base, (const uint8_t *)&nbuf + done, k);
		done += k;
	}
	for (unsigned int i = 0; i < n->rx_nused; i++)
		virtq_push(q, n->rx_used[i].head, n->rx_used[i].len);
	*used = true;
	n->rx_have = false;
	n->rx_nused = 0;
	return 1;
}

static void rx_process(struct virtio_net *n)
{
	struct virtq *q = &n->mmio.queues[VIRTIO_NET_RX].vq;
	bool used = false;

	for (int i = 0; i < RX_BATCH && queue_live(n, VIRTIO_NET_RX) && !n->tap_dead; i++) {
		int r = 1;

		if (!n->rx_have)
			r = rx_read(n);
		if (r == 2)
			continue;
		if (r <= 0)
			break;
		r = rx_deliver(n, q, &used);
		if (r == 0)
			n->rx_wanted = false; /* until the driver adds buffers */
		if (r <= 0)
			break;
	}
	if (used)
		virtio_mmio_signal_used(&n->mmio, VIRTIO_NET_RX);
}

/* Hands one tx chain to the tap. Returns 1 when it is done with (sent or
 * dropped), 0 when the tap would block. */
static int tx_send(struct virtio_net *n, const struct virtq_chain *c)
{
	unsigned int cnt;
	ssize_t w;

	if (c->readable_len > VIRTIO_NET_PKT_MAX) {
		n->tx_dropped++;
		return 1;
	}
	cnt = virtq_chain_iov(c, false, 0, c->readable_len, n->iov);
	do
		w = writev(n->tap_fd, n->iov, (int)cnt);
	while (w < 0 && errno == EINTR);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (w < 0) {
		/* A header the tap refuses (EINVAL) or an interface that is
		 * down (EIO) drops the packet; a detached tap is gone. */
		if (errno == EBADFD || errno == EBADF)
			tap_fail(n, strerror(errno));
		n->tx_dropped++;
	}
	return 1;
}

static void tx_process(struct virtio_net *n)
{
	struct virtq *q = &n->mmio.queues[VIRTIO_NET_TX].vq;
	struct virtq_chain *c = &n->tx_chain;
	bool used = false;

	while (queue_live(n, VIRTIO_NET_TX)) {
		if (!n->tx_held) {
			int r = virtq_pop(q, c);

			if (r < 0) {
				virtio_mmio_device_error(&n->mmio, "queue %u: %s", VIRTIO_NET_TX,
							 q->error);
				break;
			}
			if (r == 0)
				break;
			/* §5.1.6.2: a packet is device-readable only, header
			 * first. */
			if (c->nr_writable > 0) {
				virtio_mmio_device_error(
				    &n->mmio, "tx: packet %u has a device-writable buffer",
				    c->head);
				break;
			}
			if (c->readable_len < VIRTIO_NET_HDR_LEN) {
				virtio_mmio_device_error(
				    &n->mmio,
				    "tx: packet %u has %zu bytes, less than the "
				    "%d-byte header",
				    c->head, c->readable_len, VIRTIO_NET_HDR_LEN);
				break;
			}
		}
		if (n->tap_dead) {
			n->tx_dropped++;
		} else if (tx_send(n, c) == 0) {
			n->tx_held = true;
			break;
		}
		n->tx_held = false;
		virtq_push(q, c->head, 0);
		used = true;
	}
	if (used)
		virtio_mmio_signal_used(&n->mmio, VIRTIO_NET_TX);
}

static int net_queue_notify(void *dev, unsigned int queue)
{
	struct virtio_net *n = dev;

	if (offload_apply(n) < 0)
		return 0;
	if (queue == VIRTIO_NET_RX) {
		n->rx_wanted = true;
		rx_process(n);
	} else {
		tx_process(n);
	}
	tap_interest(n);
	return 0;
}

static void net_reset(void *dev)
{
	struct virtio_net *n = dev;

	n->rx_wanted = false;
	n->rx_have = false;
	n->rx_nused = 0;
	n->tx_held = false;
	if (n->offload_set) {
		/* The next driver may take less. */
		if (!n->tap_dead && n->set_offload(n->tap_fd, 0) < 0)
			log_warning("network interface '%s': clearing the offloads of tap '%s': %s",
				    n->iface_id, n->tap_name, strerror(errno));
		n->offload_set = false;
	}
	tap_interest(n);
}

/* The device's epoll set has an event: the tap can be read or written. */
static void net_on_events(void *opaque, uint32_t events)
{
	struct virtio_net *n = opaque;
	struct epoll_event ev;
	int r;

	(void)events;
	r = epoll_wait(n->epfd, &ev, 1, 0);
	if (r <= 0)
		return;
	pthread_mutex_lock(&n->mmio.lock);
	if (ev.events & (EPOLLERR | EPOLLHUP)) {
		tap_fail(n, "closed or removed");
	} else {
		if (ev.events & EPOLLOUT)
			tx_process(n);
		if (ev.events & EPOLLIN)
			rx_process(n);
	}
	tap_interest(n);
	pthread_mutex_unlock(&n->mmio.lock);
}

static const struct virtio_dev_ops net_ops = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .nr_queues = 2,
    .queue_size_max = VIRTIO_NET_QUEUE_SIZE,
    .config_size = sizeof(struct virtio_net_config),
    .features = net_features,
    .config_read = net_config_read,
    .queue_notify = net_queue_notify,
    .reset = net_reset,
};

int virtio_net_create(struct machine *m, const struct net_iface_config *cfg, int tap_fd,
		      struct virtio_net **out, kiln_error_t *err)
{
	struct epoll_event ev = {.events = 0};
	struct virtio_net *n;

	n = xzalloc(sizeof(*n));
	n->m = m;
	n->tap_fd = tap_fd;
	n->epfd = -1;
	n->iface_id = xstrdup(cfg->iface_id ? cfg->iface_id : "");
	n->tap_name = xstrdup(cfg->host_dev_name ? cfg->host_dev_name : "");
	n->set_offload = tap_set_offload;
	n->rx_pkt = xmalloc(VIRTIO_NET_PKT_MAX);
	n->has_mac = cfg->has_mac;
	memcpy(n->config.mac, cfg->guest_mac, sizeof(n->config.mac));
	n->config.status = htole16(VIRTIO_NET_S_LINK_UP);
	n->config.max_virtqueue_pairs = htole16(1);

	if (kiln_set_nonblock(tap_fd, true) < 0) {
		kiln_error_make(err, errno, "network interface '%s': tap '%s'", n->iface_id,
				n->tap_name);
		goto fail;
	}
	/* Interest 0: only errors and hang-ups until the driver is up. */
	n->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (n->epfd < 0 || epoll_ctl(n->epfd, EPOLL_CTL_ADD, tap_fd, &ev) < 0) {
		kiln_error_make(err, errno, "network interface '%s': epoll", n->iface_id);
		goto fail;
	}
	if (evloop_add(&m->loop, n->epfd, EPOLLIN, net_on_events, n, err) < 0) {
		kiln_error_wrap(err, "network interface '%s'", n->iface_id);
		goto fail;
	}
	n->epfd_watched = true;
	if (virtio_mmio_init(&n->mmio, m, &net_ops, n, err) < 0) {
		kiln_error_wrap(err, "network interface '%s'", n->iface_id);
		goto fail;
	}
	n->mmio.label = n->iface_id;
	*out = n;
	return 0;
fail:
	virtio_net_free(n);
	return -1;
}

void virtio_net_free(struct virtio_net *n)
{
	if (n == NULL)
		return;
	if (n->epfd_watched)
		evloop_del(&n->m->loop, n->epfd);
	virtio_mmio_release(&n->mmio);
	if (n->tap_fd >= 0)
		close(n->tap_fd);
	if (n->epfd >= 0)
		close(n->epfd);
	if (n->rx_dropped || n->tx_dropped)
		log_info("network interface '%s': %llu received and %llu sent packets dropped",
			 n->iface_id, (unsigned long long)n->rx_dropped,
			 (unsigned long long)n->tx_dropped);
	free(n->rx_pkt);
	free(n->iface_id);
	free(n->tap_name);
	free(n);
}

/* ---- the device kind: one per network interface ---- */

static unsigned int net_count(const struct vmm_config *cfg)
{
	return cfg->nr_nets;
}

static const char *net_id(const struct vmm_config *cfg, unsigned int i)
{
	return cfg->nets[i].iface_id;
}

/* The tap is opened before any of the VM exists: a missing or busy tap
 * is the user's to fix, and the start can then be retried. */
static int net_prepare(const struct vmm_config *cfg, unsigned int i, int *fd, kiln_error_t *err)
{
	return virtio_net_tap_open(cfg->nets[i].iface_id, cfg->nets[i].host_dev_name, fd, err);
}

static int net_kind_create(const struct vmm_device_env *env, unsigned int i, int fd, void **dev,
			   kiln_error_t *err)
{
	struct virtio_net *n = NULL;
	int r = virtio_net_create(env->m, &env->cfg->nets[i], fd, &n, err);

	*dev = n;
	return r;
}

static void net_kind_free(void *dev)
{
	virtio_net_free(dev);
}

const struct vmm_device_kind virtio_net_kind = {
    .name = "virtio-net",
    .what = "network interface",
    .count = net_count,
    .id = net_id,
    .prepare = net_prepare,
    .create = net_kind_create,
    .free = net_kind_free,
};
