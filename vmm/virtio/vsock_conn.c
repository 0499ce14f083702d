#include <endian.h>
#include <string.h>

#include "vmm/virtio/vsock_conn.h"

void vsock_credit_init(struct vsock_credit *c)
{
	memset(c, 0, sizeof(*c));
	c->buf_alloc = VSOCK_BUF_ALLOC;
}

uint32_t vsock_credit_peer_free(const struct vsock_credit *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

uint32_t vsock_credit_held(const struct vsock_credit *c)
{
	return c->rx_cnt - c->fwd_cnt;
}

bool vsock_credit_rx_fits(const struct vsock_credit *c, uint32_t len)
{
	return len <= c->buf_alloc - vsock_credit_held(c);
}

bool vsock_credit_update_due(const struct vsock_credit *c)
{
	return c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_CREDIT_THRESHOLD;
}

void vsock_conn_init(struct vsock_conn *c, enum vsock_conn_state state, uint32_t local_port,
		     uint32_t peer_port)
{
	memset(c, 0, sizeof(*c));
	c->state = state;
	c->local_port = local_port;
	c->peer_port = peer_port;
	vsock_credit_init(&c->credit);
	if (state == VSOCK_CONN_REQUESTING)
		c->pending = VSOCK_OWE_REQUEST;
}

enum vsock_pkt_verdict vsock_pkt_check(const struct virtio_vsock_hdr *h, uint64_t guest_cid,
				       uint64_t payload_avail)
{
	uint32_t len = le32toh(h->len);
	uint16_t op = le16toh(h->op);
	bool bad;

	if (len > payload_avail)
		return VSOCK_PKT_MALFORMED;
	bad = le16toh(h->type) != VIRTIO_VSOCK_TYPE_STREAM || le64toh(h->src_cid) != guest_cid ||
	      le64toh(h->dst_cid) != VSOCK_HOST_CID || op == VIRTIO_VSOCK_OP_INVALID ||
	      op > VIRTIO_VSOCK_OP_CREDIT_REQUEST || len > VSOCK_MAX_PKT;
	if (!bad)
		return VSOCK_PKT_OK;
	return op == VIRTIO_VSOCK_OP_RST ? VSOCK_PKT_DROP : VSOCK_PKT_RST;
}

/* §5.10.6.6: both directions are done (or the host is gone): RST, close. */
static unsigned int conn_check_closed(struct vsock_conn *c)
{
	bool guest_done = c->guest_shut_send && vsock_credit_held(&c->credit) == 0;
	bool host_done = c->host_eof || c->guest_shut_rcv;

	if (c->state != VSOCK_CONN_ESTABLISHED)
		return 0;
	if (!(guest_done && host_done) && !(c->host_eof && c->host_hup))
		return 0;
	c->state = VSOCK_CONN_CLOSED;
	c->pending = VSOCK_OWE_RST;
	return VSOCK_DO_CLOSE;
}

unsigned int vsock_conn_abort(struct vsock_conn *c)
{
	switch (c->state) {
	case VSOCK_CONN_HOST_LINE:
		c->state = VSOCK_CONN_CLOSED;
		c->pending = 0;
		return VSOCK_DO_CLOSE | VSOCK_DO_FREE;
	case VSOCK_CONN_REQUESTING:
		/* A REQUEST never sent needs no RST. */
		if (c->pending & VSOCK_OWE_REQUEST) {
			c->state = VSOCK_CONN_CLOSED;
			c->pending = 0;
			return VSOCK_DO_CLOSE | VSOCK_DO_FREE;
		}
		break;
	case VSOCK_CONN_CLOSED:
		if (c->lingering) {
			c->lingering = false;
			c->pending = 0;
			return VSOCK_DO_CLOSE | VSOCK_DO_FREE;
		}
		return 0;
	default:
		break;
	}
	c->state = VSOCK_CONN_CLOSED;
	c->pending = VSOCK_OWE_RST;
	return VSOCK_DO_CLOSE;
}

static unsigned int conn_shutdown(struct vsock_conn *c, uint32_t flags)
{
	unsigned int act = 0;

	if ((flags & VIRTIO_VSOCK_SHUTDOWN_RCV) && !c->guest_shut_rcv) {
		c->guest_shut_rcv = true;
		act |= VSOCK_DO_SHUT_RD | VSOCK_DO_INTEREST;
	}
	if ((flags & VIRTIO_VSOCK_SHUTDOWN_SEND) && !c->guest_shut_send) {
		c->guest_shut_send = true;
		if (vsock_credit_held(&c->credit) == 0) {
			c->host_shut_wr = true;
			act |= VSOCK_DO_SHUT_WR;
		}
	}
	return act | conn_check_closed(c);
}

unsigned int vsock_conn_guest_pkt(struct vsock_conn *c, const struct virtio_vsock_hdr *h)
{
	uint32_t len = le32toh(h->len);

	/* A connection still reading its CONNECT line has no ports yet: no
	 * guest packet can be for it. */
	if (c->state == VSOCK_CONN_CLOSED || c->state == VSOCK_CONN_HOST_LINE)
		return 0;
	c->credit.peer_buf_alloc = le32toh(h->buf_alloc);
	c->credit.peer_fwd_cnt = le32toh(h->fwd_cnt);
	switch (le16toh(h->op)) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state != VSOCK_CONN_REQUESTING || (c->pending & VSOCK_OWE_REQUEST))
			return vsock_conn_abort(c);
		c->state = VSOCK_CONN_ESTABLISHED;
		return VSOCK_DO_SEND_OK | VSOCK_DO_INTEREST;
	case VIRTIO_VSOCK_OP_RW:
		if (c->state != VSOCK_CONN_ESTABLISHED || c->guest_shut_send ||
		    !vsock_credit_rx_fits(&c->credit, len))
			return vsock_conn_abort(c);
		c->credit.rx_cnt += len;
		return (len ? VSOCK_DO_WRITE : 0) | VSOCK_DO_INTEREST;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		return VSOCK_DO_INTEREST;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->pending |= VSOCK_OWE_CREDIT;
		return VSOCK_DO_INTEREST;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (c->state != VSOCK_CONN_ESTABLISHED)
			return vsock_conn_abort(c);
		return conn_shutdown(c, le32toh(h->flags)) | VSOCK_DO_INTEREST;
	case VIRTIO_VSOCK_OP_RST:
		c->state = VSOCK_CONN_CLOSED;
		c->pending = 0;
		if (c->guest_shut_send && vsock_credit_held(&c->credit) > 0 && !c->host_hup) {
			c->lingering = true;
			return VSOCK_DO_INTEREST;
		}
		return VSOCK_DO_CLOSE | VSOCK_DO_FREE;
	default:
		/* REQUEST for a connection that exists, or an op the checks
		 * should have refused. */
		return vsock_conn_abort(c);
	}
}

unsigned int vsock_conn_host_wrote(struct vsock_conn *c, uint32_t n)
{
	unsigned int act = 0;

	c->credit.fwd_cnt += n;
	if (c->lingering) {
		if (vsock_credit_held(&c->credit) > 0)
			return 0;
		c->lingering = false;
		return VSOCK_DO_SHUT_WR | VSOCK_DO_CLOSE | VSOCK_DO_FREE;
	}
	if (c->state != VSOCK_CONN_ESTABLISHED)
		return 0;
	if (!c->guest_shut_send && vsock_credit_update_due(&c->credit))
		c->pending |= VSOCK_OWE_CREDIT;
	if (c->guest_shut_send && !c->host_shut_wr && vsock_credit_held(&c->credit) == 0) {
		c->host_shut_wr = true;
		act |= VSOCK_DO_SHUT_WR;
	}
	return act | conn_check_closed(c) | VSOCK_DO_INTEREST;
}

unsigned int vsock_conn_host_eof(struct vsock_conn *c)
{
	if (c->state != VSOCK_CONN_ESTABLISHED)
		return vsock_conn_abort(c);
	if (c->host_eof)
		return 0;
	c->host_eof = true;
	c->shutdown_flags |= VIRTIO_VSOCK_SHUTDOWN_SEND;
	c->pending |= VSOCK_OWE_SHUTDOWN;
	return conn_check_closed(c) | VSOCK_DO_INTEREST;
}

unsigned int vsock_conn_host_hup(struct vsock_conn *c)
{
	if (c->state == VSOCK_CONN_CLOSED && !c->lingering)
		return 0;
	c->host_hup = true;
	if (c->state != VSOCK_CONN_ESTABLISHED)
		return vsock_conn_abort(c);
	/* Nothing more will be read when the guest refuses it: that is EOF. */
	if (c->guest_shut_rcv)
		c->host_eof = true;
	return conn_check_closed(c) | VSOCK_DO_INTEREST;
}

void vsock_conn_connected(struct vsock_conn *c)
{
	c->state = VSOCK_CONN_ESTABLISHED;
	c->pending |= VSOCK_OWE_RESPONSE;
}

bool vsock_conn_may_read(const struct vsock_conn *c)
{
	return c->state == VSOCK_CONN_ESTABLISHED && !c->host_eof && !c->guest_shut_rcv &&
	       !(c->pending & VSOCK_OWE_RESPONSE) && vsock_credit_peer_free(&c->credit) > 0;
}

uint16_t vsock_conn_next_ctl(const struct vsock_conn *c)
{
	if (c->pending & VSOCK_OWE_RST)
		return VIRTIO_VSOCK_OP_RST;
	if (c->pending & VSOCK_OWE_REQUEST)
		return VIRTIO_VSOCK_OP_REQUEST;
	if (c->pending & VSOCK_OWE_RESPONSE)
		return VIRTIO_VSOCK_OP_RESPONSE;
	if (c->pending & VSOCK_OWE_SHUTDOWN)
		return VIRTIO_VSOCK_OP_SHUTDOWN;
	if (c->pending & VSOCK_OWE_CREDIT)
		return VIRTIO_VSOCK_OP_CREDIT_UPDATE;
	return 0;
}

bool vsock_op_urgent(uint16_t op)
{
	return op == VIRTIO_VSOCK_OP_RST || op == VIRTIO_VSOCK_OP_REQUEST ||
	       op == VIRTIO_VSOCK_OP_RESPONSE;
}

void vsock_conn_hdr(struct vsock_conn *c, uint64_t guest_cid, uint16_t op,
		    struct virtio_vsock_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = htole64(VSOCK_HOST_CID);
	h->dst_cid = htole64(guest_cid);
	h->src_port = htole32(c->local_port);
	h->dst_port = htole32(c->peer_port);
	h->type = htole16(VIRTIO_VSOCK_TYPE_STREAM);
	h->op = htole16(op);
	if (op == VIRTIO_VSOCK_OP_SHUTDOWN)
		h->flags = htole32(c->shutdown_flags);
	h->buf_alloc = htole32(c->credit.buf_alloc);
	h->fwd_cnt = htole32(c->credit.fwd_cnt);
}

unsigned int vsock_conn_sent(struct vsock_conn *c, uint16_t op, uint32_t len)
{
	/* Every header carries our credit (§5.10.6.3). */
	c->credit.fwd_cnt_sent = c->credit.fwd_cnt;
	c->pending &= ~(unsigned int)VSOCK_OWE_CREDIT;
	switch (op) {
	case VIRTIO_VSOCK_OP_REQUEST:
		c->pending &= ~(unsigned int)VSOCK_OWE_REQUEST;
		break;
	case VIRTIO_VSOCK_OP_RESPONSE:
		c->pending &= ~(unsigned int)VSOCK_OWE_RESPONSE;
		return VSOCK_DO_INTEREST;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		c->pending &= ~(unsigned int)VSOCK_OWE_SHUTDOWN;
		break;
	case VIRTIO_VSOCK_OP_RW:
		c->credit.tx_cnt += len;
		return VSOCK_DO_INTEREST;
	case VIRTIO_VSOCK_OP_RST:
		c->pending = 0;
		return c->lingering ? 0 : VSOCK_DO_FREE;
	default:
		break;
	}
	return 0;
}
