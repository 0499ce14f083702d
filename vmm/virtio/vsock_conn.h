/* One virtio-vsock stream connection as a state machine, without I/O:
 * credit accounting (virtio 1.2 §5.10.6.3), the packets a connection owes
 * the guest, and what a guest packet or a host socket event asks the
 * device to do. vsock.c owns the sockets and the queues and performs the
 * actions; this file only decides, so it is unit-testable and fuzzable.
 *
 * Words used here: "guest" is the driver side of the connection, "host" the
 * unix socket side; rx/tx are from the guest's point of view (rx: packets
 * the device puts into the guest's rx queue). */
#ifndef KILN_VMM_VIRTIO_VSOCK_CONN_H
#define KILN_VMM_VIRTIO_VSOCK_CONN_H

#include <linux/virtio_vsock.h>
#include <stdbool.h>
#include <stdint.h>

#define VSOCK_HOST_CID 2
#define VSOCK_HDR_SIZE ((uint32_t)sizeof(struct virtio_vsock_hdr))
/* The largest payload of one packet, either way (Linux's
 * VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
#define VSOCK_MAX_PKT 65536U
/* What we advertise as buf_alloc: the most guest bytes a connection holds
 * while its unix socket does not take them (Firecracker's
 * CONN_TX_BUF_SIZE). */
#define VSOCK_BUF_ALLOC (256U * 1024)
/* A CREDIT_UPDATE goes out once the guest's picture of our free space is
 * this much too small. Must be <= VSOCK_BUF_ALLOC so a guest that ran out of
 * credit always hears about space again. */
#define VSOCK_CREDIT_THRESHOLD (64U * 1024)

/* §5.10.6.3. All counters are free-running u32, compared by difference. */
struct vsock_credit {
	/* Ours: what the guest may send us. */
	uint32_t buf_alloc;
	uint32_t fwd_cnt;      /* guest bytes written to the unix socket */
	uint32_t rx_cnt;       /* guest bytes received */
	uint32_t fwd_cnt_sent; /* fwd_cnt as last told to the guest */
	/* The guest's: what we may send it. */
	uint32_t peer_buf_alloc;
	uint32_t peer_fwd_cnt;
	uint32_t tx_cnt; /* bytes sent to the guest */
};

void vsock_credit_init(struct vsock_credit *c);
/* Bytes we may send the guest now (0 when it over-reports fwd_cnt or
 * shrank buf_alloc below what is in flight). */
uint32_t vsock_credit_peer_free(const struct vsock_credit *c);
/* Guest bytes held (received, not yet written to the host). */
uint32_t vsock_credit_held(const struct vsock_credit *c);
/* Whether the guest may send len more bytes without overrunning us. */
bool vsock_credit_rx_fits(const struct vsock_credit *c, uint32_t len);
/* Whether the guest should be told about freed space. */
bool vsock_credit_update_due(const struct vsock_credit *c);

enum vsock_conn_state {
	VSOCK_CONN_HOST_LINE,	/* host connected, reading "CONNECT <port>\n" */
	VSOCK_CONN_REQUESTING,	/* REQUEST owed or sent to the guest, awaiting RESPONSE */
	VSOCK_CONN_CONNECTING,	/* guest REQUEST, connect to the host socket in progress */
	VSOCK_CONN_ESTABLISHED, /* bytes flow */
	VSOCK_CONN_CLOSED,	/* done: an owed RST goes out, then it is freed */
};

/* Packets a connection owes the guest (vsock_conn.pending). */
enum {
	VSOCK_OWE_REQUEST = 1u << 0,
	VSOCK_OWE_RESPONSE = 1u << 1,
	VSOCK_OWE_SHUTDOWN = 1u << 2, /* with shutdown_flags */
	VSOCK_OWE_CREDIT = 1u << 3,
	VSOCK_OWE_RST = 1u << 4,
};

/* What the device must do after an event (a bit set). */
enum {
	VSOCK_DO_WRITE = 1u << 0,    /* write the packet's payload to the host */
	VSOCK_DO_SEND_OK = 1u << 1,  /* write "OK <local_port>\n" to the host */
	VSOCK_DO_SHUT_WR = 1u << 2,  /* shutdown(fd, SHUT_WR) */
	VSOCK_DO_SHUT_RD = 1u << 3,  /* shutdown(fd, SHUT_RD) */
	VSOCK_DO_CLOSE = 1u << 4,    /* close the host socket */
	VSOCK_DO_FREE = 1u << 5,     /* forget the connection (nothing owed) */
	VSOCK_DO_INTEREST = 1u << 6, /* credit changed: re-evaluate polling */
};

struct vsock_conn {
	uint32_t local_port; /* ours: dst_port of the guest's packets */
	uint32_t peer_port;  /* the guest's */
	enum vsock_conn_state state;
	unsigned int pending;	 /* VSOCK_OWE_* */
	uint32_t shutdown_flags; /* VIRTIO_VSOCK_SHUTDOWN_* to send */
	bool host_eof;		 /* the unix socket read returned 0 */
	bool host_hup;		 /* the unix peer is gone (HUP or error) */
	bool host_shut_wr;	 /* we shut the socket's write side */
	bool guest_shut_send;	 /* the guest will send no more */
	bool guest_shut_rcv;	 /* the guest will receive no more */
	/* CLOSED after the guest's RST or SHUTDOWN while guest bytes were
	 * still held: they go out, then the socket closes (nothing is lost
	 * when a guest closes before a slow host reader caught up). */
	bool lingering;
	struct vsock_credit credit;
};

/* A connection the guest asked for (REQUEST) or the host asked for
 * (after its CONNECT line: state REQUESTING, REQUEST owed). */
void vsock_conn_init(struct vsock_conn *c, enum vsock_conn_state state, uint32_t local_port,
		     uint32_t peer_port);

/* Header checks before any connection is looked up (§5.10.6). */
enum vsock_pkt_verdict {
	VSOCK_PKT_OK,
	VSOCK_PKT_RST,	     /* answer with RST (bad type, cid, op or length) */
	VSOCK_PKT_DROP,	     /* ignore (a bad RST: never answer RST with RST) */
	VSOCK_PKT_MALFORMED, /* len beyond the chain: the device fails */
};
enum vsock_pkt_verdict vsock_pkt_check(const struct virtio_vsock_hdr *h, uint64_t guest_cid,
				       uint64_t payload_avail);

/* A packet from the guest for this connection (already checked). Returns
 * VSOCK_DO_*; with VSOCK_DO_WRITE the device writes the payload and reports
 * each byte the host took with vsock_conn_host_wrote(). */
unsigned int vsock_conn_guest_pkt(struct vsock_conn *c, const struct virtio_vsock_hdr *h);

/* n guest bytes reached the host socket. */
unsigned int vsock_conn_host_wrote(struct vsock_conn *c, uint32_t n);

/* A read from the host socket returned 0. */
unsigned int vsock_conn_host_eof(struct vsock_conn *c);

/* The host socket hung up (EPOLLHUP/EPOLLERR): what is readable is still
 * read, the next EOF ends the connection. */
unsigned int vsock_conn_host_hup(struct vsock_conn *c);

/* The host socket failed (read/write error) or the host sent a bad CONNECT
 * line: abort, RST owed if the guest knows the connection. */
unsigned int vsock_conn_abort(struct vsock_conn *c);

/* The host connection completed (guest-initiated): RESPONSE owed. */
void vsock_conn_connected(struct vsock_conn *c);

/* Whether host bytes may be read for the guest now (state, shutdowns and
 * the guest's credit). */
bool vsock_conn_may_read(const struct vsock_conn *c);

/* The most urgent packet owed, as an op, or 0 for none. RST, REQUEST and
 * RESPONSE go before data; SHUTDOWN and CREDIT_UPDATE after it (data
 * carries the credit too). */
uint16_t vsock_conn_next_ctl(const struct vsock_conn *c);
/* Whether op must go before any data. */
bool vsock_op_urgent(uint16_t op);
/* Fills everything in h but len from the connection (ports, cids, credit). */
void vsock_conn_hdr(struct vsock_conn *c, uint64_t guest_cid, uint16_t op,
		    struct virtio_vsock_hdr *h);
/* Packet op (with payload len for RW) reached the guest. Returns VSOCK_DO_*
 * (VSOCK_DO_FREE after the final RST). */
unsigned int vsock_conn_sent(struct vsock_conn *c, uint16_t op, uint32_t len);

#endif
