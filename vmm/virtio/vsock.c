#include <endian.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/virtio/vsock.h"

/* "CONNECT 4294967295\r\n" and some slack; longer without '\n' is refused. */
#define VSOCK_LINE_MAX	 32
#define VSOCK_SEND_FLAGS (MSG_NOSIGNAL | MSG_DONTWAIT)

static void conn_apply(struct vsock_host_conn *c, unsigned int act);
static void vsock_tx_run(struct virtio_vsock *v);

static bool queue_live(struct virtio_vsock *v, unsigned int q)
{
	uint32_t s = v->mmio.status;
	uint32_t live = VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;

	return (s & live) == live && !(s & VIRTIO_CONFIG_S_NEEDS_RESET) &&
	       v->mmio.queues[q].vq.ready;
}

/* Connection table, keyed by (local port, peer port). */

static unsigned int conn_hash(uint32_t local, uint32_t peer)
{
	return ((local * 2654435761U) ^ (peer * 40503U)) % VSOCK_HASH_SIZE;
}

static struct vsock_host_conn *conn_find(struct virtio_vsock *v, uint32_t local, uint32_t peer)
{
	for (struct vsock_host_conn *c = v->buckets[conn_hash(local, peer)]; c; c = c->hash_next)
		if (c->sm.local_port == local && c->sm.peer_port == peer)
			return c;
	return NULL;
}

static void conn_hash_add(struct vsock_host_conn *c)
{
	struct vsock_host_conn **b = &c->v->buckets[conn_hash(c->sm.local_port, c->sm.peer_port)];

	c->hash_next = *b;
	*b = c;
	c->hashed = true;
}

static void conn_hash_del(struct vsock_host_conn *c)
{
	struct vsock_host_conn **pp = &c->v->buckets[conn_hash(c->sm.local_port, c->sm.peer_port)];

	for (; *pp; pp = &(*pp)->hash_next) {
		if (*pp == c) {
			*pp = c->hash_next;
			break;
		}
	}
	c->hashed = false;
}

/* The rx list: connections that owe the guest a packet, served round robin
 * whenever rx buffers are there. */

static void rx_list_del(struct vsock_host_conn *c)
{
	struct virtio_vsock *v = c->v;

	if (!c->on_rx)
		return;
	if (c->rx_prev)
		c->rx_prev->rx_next = c->rx_next;
	else
		v->rx_head = c->rx_next;
	if (c->rx_next)
		c->rx_next->rx_prev = c->rx_prev;
	else
		v->rx_tail = c->rx_prev;
	c->rx_prev = c->rx_next = NULL;
	c->on_rx = false;
}

static void rx_list_add(struct vsock_host_conn *c)
{
	struct virtio_vsock *v = c->v;

	if (c->on_rx)
		return;
	c->rx_next = NULL;
	c->rx_prev = v->rx_tail;
	if (v->rx_tail)
		v->rx_tail->rx_next = c;
	else
		v->rx_head = c;
	v->rx_tail = c;
	c->on_rx = true;
}

static bool conn_has_rx_work(const struct vsock_host_conn *c)
{
	return c->sm.pending != 0 || (c->host_readable && vsock_conn_may_read(&c->sm));
}

/* Host socket and polling. */

static void conn_epoll_del(struct vsock_host_conn *c)
{
	if (c->in_epoll)
		epoll_ctl(c->v->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	c->in_epoll = false;
	c->events = 0;
}

static void conn_close_fd(struct vsock_host_conn *c)
{
	if (c->fd < 0)
		return;
	conn_epoll_del(c);
	close(c->fd);
	c->fd = -1;
	c->host_readable = false;
}

/* Polls for what the connection can use now: never for input the guest
 * has no credit or no interest for, so a slow guest stops the reads. */
static void conn_update_interest(struct vsock_host_conn *c)
{
	uint32_t want = 0;
	struct epoll_event ev;

	if (c->fd < 0 || c->dead)
		return;
	if (c->sm.host_hup) {
		/* HUP is level-triggered and cannot be masked: what is left
		 * is read without waiting. */
		conn_epoll_del(c);
		return;
	}
	switch (c->sm.state) {
	case VSOCK_CONN_HOST_LINE:
		want = EPOLLIN | EPOLLRDHUP;
		break;
	case VSOCK_CONN_CONNECTING:
		want = EPOLLOUT;
		break;
	case VSOCK_CONN_ESTABLISHED:
	case VSOCK_CONN_CLOSED:
		if (!c->host_readable && vsock_conn_may_read(&c->sm))
			want |= EPOLLIN;
		if (c->buf_len > 0)
			want |= EPOLLOUT;
		break;
	default:
		break;
	}
	ev = (struct epoll_event){.events = want, .data.ptr = c};
	if (!c->in_epoll) {
		if (epoll_ctl(c->v->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			log_warning("vsock: watching a connection: %s", strerror(errno));
			conn_apply(c, vsock_conn_abort(&c->sm));
			return;
		}
		c->in_epoll = true;
	} else if (want != c->events) {
		epoll_ctl(c->v->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	}
	c->events = want;
}

static void listen_resume(struct virtio_vsock *v)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

	if (v->listen_paused && epoll_ctl(v->epfd, EPOLL_CTL_ADD, v->listen_fd, &ev) == 0)
		v->listen_paused = false;
}

static struct vsock_host_conn *conn_new(struct virtio_vsock *v, int fd)
{
	struct vsock_host_conn *c = xzalloc(sizeof(*c));

	c->v = v;
	c->fd = fd;
	c->all_next = v->all;
	if (v->all)
		v->all->all_prev = c;
	v->all = c;
	v->nr_conns++;
	return c;
}

/* Forgets c at once; its memory goes when the current batch is over (an
 * epoll batch may still name it). */
static void conn_destroy(struct vsock_host_conn *c)
{
	struct virtio_vsock *v = c->v;

	if (c->dead)
		return;
	conn_close_fd(c);
	rx_list_del(c);
	if (c->hashed)
		conn_hash_del(c);
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else
		v->all = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	c->dead = true;
	c->dead_next = v->dead;
	v->dead = c;
	v->nr_conns--;
	listen_resume(v);
}

static void dead_free(struct virtio_vsock *v)
{
	while (v->dead) {
		struct vsock_host_conn *c = v->dead;

		v->dead = c->dead_next;
		free(c->buf);
		free(c);
	}
}

static void conn_send_ok(struct vsock_host_conn *c)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "OK %u\n", c->sm.local_port);

	/* The first bytes on a fresh socket: they fit unless the host is
	 * broken, and then the connection is. */
	if (c->fd < 0 || send(c->fd, line, (size_t)n, VSOCK_SEND_FLAGS) != n)
		conn_apply(c, vsock_conn_abort(&c->sm));
}

/* Carries out what the state machine decided. */
static void conn_apply(struct vsock_host_conn *c, unsigned int act)
{
	if (c->dead)
		return;
	if ((act & VSOCK_DO_SHUT_WR) && c->fd >= 0)
		shutdown(c->fd, SHUT_WR);
	if ((act & VSOCK_DO_SHUT_RD) && c->fd >= 0)
		shutdown(c->fd, SHUT_RD);
	if (act & VSOCK_DO_CLOSE)
		conn_close_fd(c);
	if (act & VSOCK_DO_FREE) {
		log_debug("vsock: connection %u <-> guest port %u closed", c->sm.local_port,
			  c->sm.peer_port);
		conn_destroy(c);
		return;
	}
	if (act & VSOCK_DO_SEND_OK) {
		conn_send_ok(c);
		if (c->dead)
			return;
	}
	conn_update_interest(c);
	if (!c->dead && conn_has_rx_work(c))
		rx_list_add(c);
}

/* Guest -> host. */

static void conn_buf_append(struct vsock_host_conn *c, const struct virtq_chain *chain, size_t off,
			    uint32_t len)
{
	uint32_t need = c->buf_len + len;

	if (c->buf_start + need > c->buf_cap) {
		if (c->buf_len > 0 && c->buf_start > 0)
			memmove(c->buf, c->buf + c->buf_start, c->buf_len);
		c->buf_start = 0;
		if (need > c->buf_cap) {
			uint32_t cap = c->buf_cap ? c->buf_cap : 4096;

			while (cap < need)
				cap *= 2;
			c->buf = xrealloc(c->buf, cap);
			c->buf_cap = cap;
		}
	}
	virtq_chain_read(chain, off, c->buf + c->buf_start + c->buf_len, len);
	c->buf_len += len;
}

/* Writes the payload of an RW packet, or holds what the socket does not
 * take (the credit check already bounded it). Returns VSOCK_DO_*. */
static unsigned int conn_host_write(struct vsock_host_conn *c, const struct virtq_chain *chain,
				    uint32_t len)
{
	struct virtio_vsock *v = c->v;
	ssize_t n = 0;

	if (c->fd < 0)
		return 0;
	if (c->buf_len == 0) {
		struct msghdr msg = {.msg_iov = v->iov};

		msg.msg_iovlen = virtq_chain_iov(chain, false, VSOCK_HDR_SIZE, len, v->iov);
		n = sendmsg(c->fd, &msg, VSOCK_SEND_FLAGS);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return vsock_conn_abort(&c->sm);
			n = 0;
		}
	}
	if ((uint32_t)n < len)
		conn_buf_append(c, chain, VSOCK_HDR_SIZE + (size_t)n, len - (uint32_t)n);
	return n > 0 ? vsock_conn_host_wrote(&c->sm, (uint32_t)n) : VSOCK_DO_INTEREST;
}

/* EPOLLOUT: hands held bytes to the socket. */
static void conn_flush(struct vsock_host_conn *c)
{
	unsigned int act = VSOCK_DO_INTEREST;

	while (c->buf_len > 0 && c->fd >= 0) {
		ssize_t n = send(c->fd, c->buf + c->buf_start, c->buf_len, VSOCK_SEND_FLAGS);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				act |= vsock_conn_abort(&c->sm);
			break;
		}
		c->buf_start += (uint32_t)n;
		c->buf_len -= (uint32_t)n;
		if (c->buf_len == 0)
			c->buf_start = 0;
		act |= vsock_conn_host_wrote(&c->sm, (uint32_t)n);
	}
	conn_apply(c, act);
}

/* Host-initiated connections. */

static void rst_queue(struct virtio_vsock *v, uint32_t src_port, uint32_t dst_port)
{
	if (v->rst_len == VSOCK_RST_QUEUE)
		return; /* tx processing stops before this happens */
	v->rst[(v->rst_head + v->rst_len) % VSOCK_RST_QUEUE] =
	    (struct vsock_rst){.src_port = src_port, .dst_port = dst_port};
	v->rst_len++;
}

static uint32_t local_port_alloc(struct virtio_vsock *v, uint32_t peer)
{
	for (;;) {
		uint32_t p = v->next_local_port++;

		if (v->next_local_port == 0)
			v->next_local_port = VSOCK_LOCAL_PORT_BASE;
		if (conn_find(v, p, peer) == NULL)
			return p;
	}
}

/* "CONNECT <port>\n" (a '\r' before the '\n' is accepted). */
static bool connect_line_parse(const char *s, size_t len, uint32_t *port)
{
	static const char prefix[] = "CONNECT ";
	uint64_t p = 0;
	size_t i = sizeof(prefix) - 1;

	if (len < i + 2 || memcmp(s, prefix, i) != 0 || s[len - 1] != '\n')
		return false;
	len--;
	if (s[len - 1] == '\r')
		len--;
	if (i == len || len - i > 10)
		return false;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		p = p * 10 + (uint64_t)(s[i] - '0');
	}
	if (p > UINT32_MAX)
		return false;
	*port = (uint32_t)p;
	return true;
}

/* Reads the CONNECT line without consuming what follows it: bytes the host
 * sends before "OK" stay in the socket for the guest. */
static void conn_line_read(struct vsock_host_conn *c, uint32_t events)
{
	struct virtio_vsock *v = c->v;
	char line[VSOCK_LINE_MAX];
	const char *nl;
	uint32_t port;
	ssize_t n;

	n = recv(c->fd, line, sizeof(line), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	nl = n > 0 ? memchr(line, '\n', (size_t)n) : NULL;
	if (nl == NULL) {
		/* More may come, unless the line is too long or the host
		 * stopped sending. */
		if (n > 0 && (size_t)n < sizeof(line) &&
		    !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
			return;
		log_debug("vsock: host connection without a CONNECT line; closing it");
		conn_apply(c, vsock_conn_abort(&c->sm));
		return;
	}
	n = recv(c->fd, line, (size_t)(nl - line + 1), MSG_DONTWAIT);
	if (n != nl - line + 1 || !connect_line_parse(line, (size_t)n, &port)) {
		log_debug("vsock: malformed CONNECT line from the host; closing it");
		conn_apply(c, vsock_conn_abort(&c->sm));
		return;
	}
	vsock_conn_init(&c->sm, VSOCK_CONN_REQUESTING, local_port_alloc(v, port), port);
	conn_hash_add(c);
	log_debug("vsock: host connects to guest port %u as %u", port, c->sm.local_port);
	conn_apply(c, 0);
}

static void listen_accept(struct virtio_vsock *v)
{
	for (;;) {
		int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct vsock_host_conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Level-triggered: wait for a connection to end
				 * rather than spin. */
				log_warning("vsock: accepting on '%s': %s", v->uds_path,
					    strerror(errno));
				if (v->nr_conns > 0 &&
				    epoll_ctl(v->epfd, EPOLL_CTL_DEL, v->listen_fd, NULL) == 0)
					v->listen_paused = true;
			} else if (errno != EAGAIN) {
				log_warning("vsock: accepting on '%s': %s", v->uds_path,
					    strerror(errno));
			}
			return;
		}
		if (v->nr_conns >= VSOCK_MAX_CONNS) {
			log_warning("vsock: %d connections open; refusing another",
				    VSOCK_MAX_CONNS);
			close(fd);
			continue;
		}
		c = conn_new(v, fd);
		vsock_conn_init(&c->sm, VSOCK_CONN_HOST_LINE, 0, 0);
		conn_update_interest(c);
	}
}

/* Guest-initiated connections: REQUEST to port P -> "<uds_path>_P". */
static void guest_connect(struct virtio_vsock *v, const struct virtio_vsock_hdr *h)
{
	uint32_t local = le32toh(h->dst_port), peer = le32toh(h->src_port);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct vsock_host_conn *c;
	int n, fd, rc;

	n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s_%u", v->uds_path, local);
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path) || v->nr_conns >= VSOCK_MAX_CONNS) {
		rst_queue(v, local, peer);
		return;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warning("vsock: socket: %s", strerror(errno));
		rst_queue(v, local, peer);
		return;
	}
	rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	if (rc < 0 && errno != EINPROGRESS) {
		log_debug("vsock: guest port %u -> '%s': %s", peer, addr.sun_path, strerror(errno));
		close(fd);
		rst_queue(v, local, peer);
		return;
	}
	c = conn_new(v, fd);
	vsock_conn_init(&c->sm, VSOCK_CONN_CONNECTING, local, peer);
	c->sm.credit.peer_buf_alloc = le32toh(h->buf_alloc);
	c->sm.credit.peer_fwd_cnt = le32toh(h->fwd_cnt);
	conn_hash_add(c);
	if (rc == 0)
		vsock_conn_connected(&c->sm);
	log_debug("vsock: guest port %u connects to '%s'", peer, addr.sun_path);
	conn_apply(c, 0);
}

static void conn_connect_done(struct vsock_host_conn *c)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	if (e != 0) {
		conn_apply(c, vsock_conn_abort(&c->sm));
		return;
	}
	vsock_conn_connected(&c->sm);
	conn_apply(c, 0);
}

static void conn_event(struct vsock_host_conn *c, uint32_t events)
{
	switch (c->sm.state) {
	case VSOCK_CONN_HOST_LINE:
		conn_line_read(c, events);
		return;
	case VSOCK_CONN_CONNECTING:
		conn_connect_done(c);
		return;
	case VSOCK_CONN_REQUESTING:
		/* Only HUP or ERR: the host gave up before the guest answered. */
		conn_apply(c, vsock_conn_host_hup(&c->sm));
		return;
	default:
		break;
	}
	if (events & EPOLLOUT)
		conn_flush(c);
	if (c->dead)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		c->host_readable = true;
	if (events & (EPOLLHUP | EPOLLERR))
		conn_apply(c, vsock_conn_host_hup(&c->sm));
	else
		conn_apply(c, 0);
}

/* Host -> guest: one packet for c into the rx chain. Returns the bytes
 * written into it, 0 when c had nothing to send after all. */
static uint32_t conn_fill(struct vsock_host_conn *c, const struct virtq_chain *chain)
{
	struct virtio_vsock *v = c->v;
	struct virtio_vsock_hdr h;
	uint16_t op = vsock_conn_next_ctl(&c->sm);

	if ((op == 0 || !vsock_op_urgent(op)) && c->host_readable && vsock_conn_may_read(&c->sm) &&
	    c->fd >= 0) {
		size_t room = chain->writable_len - VSOCK_HDR_SIZE;
		uint32_t cap = vsock_credit_peer_free(&c->sm.credit);
		struct msghdr msg = {.msg_iov = v->iov};
		ssize_t n;

		if (cap > VSOCK_MAX_PKT)
			cap = VSOCK_MAX_PKT;
		if (cap > room)
			cap = (uint32_t)room;
		if (cap == 0)
			goto ctl;
		msg.msg_iovlen = virtq_chain_iov(chain, true, VSOCK_HDR_SIZE, cap, v->iov);
		n = recvmsg(c->fd, &msg, MSG_DONTWAIT);
		if (n > 0) {
			vsock_conn_hdr(&c->sm, v->guest_cid, VIRTIO_VSOCK_OP_RW, &h);
			h.len = htole32((uint32_t)n);
			virtq_chain_write(chain, 0, &h, sizeof(h));
			conn_apply(c, vsock_conn_sent(&c->sm, VIRTIO_VSOCK_OP_RW, (uint32_t)n));
			return VSOCK_HDR_SIZE + (uint32_t)n;
		}
		if (n == 0) {
			conn_apply(c, vsock_conn_host_eof(&c->sm));
		} else if (errno == EAGAIN || errno == EINTR) {
			c->host_readable = false;
			conn_apply(c, 0);
		} else {
			conn_apply(c, vsock_conn_abort(&c->sm));
		}
		if (c->dead)
			return 0;
		op = vsock_conn_next_ctl(&c->sm);
	}
ctl:
	if (op == 0)
		return 0;
	vsock_conn_hdr(&c->sm, v->guest_cid, op, &h);
	virtq_chain_write(chain, 0, &h, sizeof(h));
	conn_apply(c, vsock_conn_sent(&c->sm, op, 0));
	return VSOCK_HDR_SIZE;
}

static uint32_t rst_fill(struct virtio_vsock *v, const struct virtq_chain *chain)
{
	struct vsock_rst r = v->rst[v->rst_head];
	struct virtio_vsock_hdr h = {
	    .src_cid = htole64(VSOCK_HOST_CID),
	    .dst_cid = htole64(v->guest_cid),
	    .src_port = htole32(r.src_port),
	    .dst_port = htole32(r.dst_port),
	    .type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
	    .op = htole16(VIRTIO_VSOCK_OP_RST),
	};

	v->rst_head = (v->rst_head + 1) % VSOCK_RST_QUEUE;
	v->rst_len--;
	virtq_chain_write(chain, 0, &h, sizeof(h));
	return VSOCK_HDR_SIZE;
}

/* Fills rx buffers while anything is owed. Returns 0 or -errno when the
 * driver broke the rx queue (the device is then in the error state). */
static int vsock_rx_run(struct virtio_vsock *v)
{
	struct virtq *q = &v->mmio.queues[VIRTIO_VSOCK_RX].vq;
	bool used = false;
	int rc = 0;

	if (!queue_live(v, VIRTIO_VSOCK_RX))
		return 0;
	while (v->rst_len > 0 || v->rx_head) {
		struct vsock_host_conn *c;
		uint32_t n;

		if (!v->rx_held) {
			rc = virtq_pop(q, &v->rx_chain);
			if (rc <= 0)
				break;
			if (v->rx_chain.writable_len < VSOCK_HDR_SIZE) {
				virtio_mmio_device_error(
				    &v->mmio, "rx buffer %u: %zu writable bytes, a header needs %u",
				    v->rx_chain.head, v->rx_chain.writable_len, VSOCK_HDR_SIZE);
				rc = -EINVAL;
				break;
			}
			v->rx_held = true;
		}
		if (v->rst_len > 0) {
			n = rst_fill(v, &v->rx_chain);
		} else {
			c = v->rx_head;
			rx_list_del(c);
			n = conn_fill(c, &v->rx_chain);
			/* Round robin: back of the line if it owes more. */
			if (n > 0 && !c->dead && conn_has_rx_work(c))
				rx_list_add(c);
		}
		if (n > 0) {
			virtq_push(q, v->rx_chain.head, n);
			v->rx_held = false;
			used = true;
		}
	}
	if (rc < 0 && !(v->mmio.status & VIRTIO_CONFIG_S_NEEDS_RESET))
		virtio_mmio_device_error(&v->mmio, "rx queue: %s",
					 q->error ? q->error : strerror(-rc));
	if (used)
		virtio_mmio_signal_used(&v->mmio, VIRTIO_VSOCK_RX);
	return rc < 0 ? rc : 0;
}

/* One packet from the guest. Returns 0, or -EINVAL for a chain that
 * contradicts its own header. */
static int tx_packet(struct virtio_vsock *v, const struct virtq_chain *chain)
{
	struct virtio_vsock_hdr h;
	struct vsock_host_conn *c;
	unsigned int act;

	if (chain->readable_len < VSOCK_HDR_SIZE) {
		virtio_mmio_device_error(&v->mmio, "tx packet %u: %zu bytes, a header needs %u",
					 chain->head, chain->readable_len, VSOCK_HDR_SIZE);
		return -EINVAL;
	}
	virtq_chain_read(chain, 0, &h, sizeof(h));
	switch (vsock_pkt_check(&h, v->guest_cid, chain->readable_len - VSOCK_HDR_SIZE)) {
	case VSOCK_PKT_MALFORMED:
		virtio_mmio_device_error(&v->mmio, "tx packet %u: len %u, its buffers hold %zu",
					 chain->head, le32toh(h.len),
					 chain->readable_len - VSOCK_HDR_SIZE);
		return -EINVAL;
	case VSOCK_PKT_DROP:
		return 0;
	case VSOCK_PKT_RST:
		rst_queue(v, le32toh(h.dst_port), le32toh(h.src_port));
		return 0;
	case VSOCK_PKT_OK:
		break;
	}
	c = conn_find(v, le32toh(h.dst_port), le32toh(h.src_port));
	if (c == NULL) {
		if (le16toh(h.op) == VIRTIO_VSOCK_OP_REQUEST)
			guest_connect(v, &h);
		else if (le16toh(h.op) != VIRTIO_VSOCK_OP_RST)
			rst_queue(v, le32toh(h.dst_port), le32toh(h.src_port));
		return 0;
	}
	act = vsock_conn_guest_pkt(&c->sm, &h);
	if (act & VSOCK_DO_WRITE)
		act |= conn_host_write(c, chain, le32toh(h.len));
	conn_apply(c, act);
	return 0;
}

/* Takes the guest's packets until the ring is empty or the RST queue is
 * full (then it waits for rx buffers instead of growing). */
static void vsock_tx_run(struct virtio_vsock *v)
{
	struct virtq *q = &v->mmio.queues[VIRTIO_VSOCK_TX].vq;
	bool used = false;
	int rc = 0;

	if (!queue_live(v, VIRTIO_VSOCK_TX))
		return;
	for (;;) {
		if (v->rst_len == VSOCK_RST_QUEUE) {
			v->tx_stalled = true;
			break;
		}
		rc = virtq_pop(q, &v->tx_chain);
		if (rc <= 0)
			break;
		rc = tx_packet(v, &v->tx_chain);
		if (rc < 0)
			break;
		virtq_push(q, v->tx_chain.head, 0);
		used = true;
	}
	if (rc < 0 && !(v->mmio.status & VIRTIO_CONFIG_S_NEEDS_RESET))
		virtio_mmio_device_error(&v->mmio, "tx queue: %s",
					 q->error ? q->error : strerror(-rc));
	if (used)
		virtio_mmio_signal_used(&v->mmio, VIRTIO_VSOCK_TX);
}

/* Moves everything that can move: rx first, then tx work that waited for
 * room in the RST queue, until neither makes progress. */
static void vsock_pump(struct virtio_vsock *v)
{
	for (;;) {
		vsock_rx_run(v);
		if (!v->tx_stalled || v->rst_len == VSOCK_RST_QUEUE)
			break;
		v->tx_stalled = false;
		vsock_tx_run(v);
	}
}

/* The device's epoll set became ready (event loop thread). */
static void vsock_on_events(void *opaque, uint32_t events)
{
	struct virtio_vsock *v = opaque;
	struct epoll_event evs[64];
	int n;

	(void)events;
	pthread_mutex_lock(&v->mmio.lock);
	n = epoll_wait(v->epfd, evs, ARRAY_SIZE(evs), 0);
	for (int i = 0; i < n; i++) {
		struct vsock_host_conn *c = evs[i].data.ptr;

		if (c == NULL)
			listen_accept(v);
		else if (!c->dead)
			conn_event(c, evs[i].events);
	}
	vsock_pump(v);
	dead_free(v);
	pthread_mutex_unlock(&v->mmio.lock);
}

static uint64_t vsock_features(void *dev)
{
	(void)dev;
	return 1ULL << VIRTIO_VSOCK_F_STREAM;
}

static void vsock_config_read(void *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_vsock *v = dev;

	memcpy(data, (const uint8_t *)&v->config + offset, len);
}

static int vsock_queue_notify(void *dev, unsigned int queue)
{
	struct virtio_vsock *v = dev;

	if (queue == VIRTIO_VSOCK_TX) {
		vsock_tx_run(v);
		vsock_pump(v);
	} else if (queue == VIRTIO_VSOCK_RX) {
		vsock_pump(v);
	}
	/* The event queue's buffers wait for an event that never comes. */
	dead_free(v);
	/* Errors were reported with their own message. */
	return 0;
}

/* Whether the guest may know about c (a reset must end it then). */
static bool conn_guest_knows(const struct vsock_host_conn *c)
{
	return c->sm.state != VSOCK_CONN_HOST_LINE &&
	       !(c->sm.state == VSOCK_CONN_REQUESTING && (c->sm.pending & VSOCK_OWE_REQUEST));
}

/* §2.4: the guest's view of every connection is gone; so are they. Host
 * connections it never heard of wait for the driver to come back (Linux
 * resets the device before it drives it, so the host may connect early). */
static void vsock_reset(void *dev)
{
	struct virtio_vsock *v = dev;
	struct vsock_host_conn *next;

	for (struct vsock_host_conn *c = v->all; c; c = next) {
		next = c->all_next;
		if (conn_guest_knows(c))
			conn_destroy(c);
	}
	dead_free(v);
	v->rst_head = v->rst_len = 0;
	v->tx_stalled = false;
	v->rx_held = false;
}

static const struct virtio_dev_ops vsock_ops = {
    .name = "virtio-vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .nr_queues = 3,
    .queue_size_max = VIRTIO_VSOCK_QUEUE_SIZE,
    .config_size = sizeof(struct virtio_vsock_config),
    .features = vsock_features,
    .config_read = vsock_config_read,
    .queue_notify = vsock_queue_notify,
    .reset = vsock_reset,
};

int virtio_vsock_create(struct machine *m, const struct vsock_config *cfg,
			struct virtio_vsock **out, kiln_error_t *err)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	struct virtio_vsock *v;

	if (cfg->uds_path == NULL || cfg->uds_path[0] == '\0')
		return kiln_error_make(err, 0, "vsock: no uds_path");
	if (cfg->guest_cid < 3 || cfg->guest_cid == UINT32_MAX)
		return kiln_error_make(err, 0, "vsock: guest_cid %u is reserved (use 3 or more)",
				       cfg->guest_cid);
	v = xzalloc(sizeof(*v));
	v->m = m;
	v->listen_fd = -1;
	v->epfd = -1;
	v->guest_cid = cfg->guest_cid;
	v->uds_path = xstrdup(cfg->uds_path);
	v->config.guest_cid = htole64(v->guest_cid);
	v->next_local_port = VSOCK_LOCAL_PORT_BASE;
	v->listen_fd = kiln_unix_listen(v->uds_path, err);
	if (v->listen_fd < 0) {
		kiln_error_wrap(err, "vsock");
		goto fail;
	}
	if (kiln_set_nonblock(v->listen_fd, true) < 0) {
		kiln_error_make(err, errno, "vsock: '%s'", v->uds_path);
		goto fail;
	}
	v->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (v->epfd < 0 || epoll_ctl(v->epfd, EPOLL_CTL_ADD, v->listen_fd, &ev) < 0) {
		kiln_error_make(err, errno, "vsock: epoll");
		goto fail;
	}
	if (evloop_add(&m->loop, v->epfd, EPOLLIN, vsock_on_events, v, err) < 0) {
		kiln_error_wrap(err, "vsock");
		goto fail;
	}
	v->epfd_watched = true;
	if (virtio_mmio_init(&v->mmio, m, &vsock_ops, v, err) < 0) {
		kiln_error_wrap(err, "vsock on '%s'", v->uds_path);
		goto fail;
	}
	*out = v;
	return 0;
fail:
	virtio_vsock_free(v);
	return -1;
}

void virtio_vsock_free(struct virtio_vsock *v)
{
	if (v == NULL)
		return;
	if (v->epfd_watched)
		evloop_del(&v->m->loop, v->epfd);
	while (v->all)
		conn_destroy(v->all);
	dead_free(v);
	virtio_mmio_release(&v->mmio);
	if (v->listen_fd >= 0) {
		close(v->listen_fd);
		unlink(v->uds_path);
	}
	if (v->epfd >= 0)
		close(v->epfd);
	free(v->uds_path);
	free(v);
}

/* ---- the device kind: one, when the configuration has a vsock ---- */

static unsigned int vsock_count(const struct vmm_config *cfg)
{
	return cfg->vsock.present ? 1 : 0;
}

static int vsock_kind_create(const struct vmm_device_env *env, unsigned int i, int fd, void **dev,
			     kiln_error_t *err)
{
	struct virtio_vsock *v = NULL;
	int r;

	(void)i, (void)fd;
	r = virtio_vsock_create(env->m, &env->cfg->vsock, &v, err);
	*dev = v;
	return r;
}

static void vsock_kind_free(void *dev)
{
	virtio_vsock_free(dev);
}

const struct vmm_device_kind virtio_vsock_kind = {
    .name = "virtio-vsock",
    .count = vsock_count,
    .create = vsock_kind_create,
    .free = vsock_kind_free,
};
