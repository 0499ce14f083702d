/* virtio-vsock (virtio 1.2 §5.10) emulated in the VMM with Firecracker's
 * hybrid design (Firecracker docs/vsock.md): the host side of every guest
 * stream is a unix socket, no /dev/vhost-vsock.
 *
 *   host-initiated: a host program connects to uds_path and writes
 *     "CONNECT <port>\n"; the device picks a local port, sends the guest a
 *     REQUEST for <port> and, when the guest answers RESPONSE, writes
 *     "OK <local port>\n"; from then on bytes flow both ways. A guest RST
 *     (nobody listening) or a malformed line closes the unix connection.
 *   guest-initiated: a guest connect to CID 2 port P becomes a connect to
 *     the unix socket "<uds_path>_<P>"; RESPONSE on success, RST otherwise.
 *
 * Flow control is the protocol's credit scheme (§5.10.6.3): host bytes are
 * read only while the guest has credit and an rx buffer is there, and guest
 * bytes the unix socket does not take at once are held (at most the
 * VSOCK_BUF_ALLOC we advertise) until EPOLLOUT; fwd_cnt counts only bytes
 * the socket took. Queues: rx 0, tx 1, event 2 (its buffers are accepted
 * and never used: there is no transport reset to report). Features:
 * VIRTIO_VSOCK_F_STREAM only (no SEQPACKET).
 *
 * Threads: the unix sockets live in the device's own epoll set, which sits
 * on the machine's event loop as one fd; queue work and socket work run
 * under the transport's lock (the event loop thread with KVM's ioeventfds,
 * or whoever writes QueueNotify without them). The device's fds can thus
 * change from any thread that holds the lock, e.g. a vCPU resetting it. */
#ifndef KILN_VMM_VIRTIO_VSOCK_H
#define KILN_VMM_VIRTIO_VSOCK_H

#include <linux/virtio_vsock.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/error.h"
#include "vmm/device.h"
#include "vmm/config.h"
#include "vmm/machine.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/queue.h"
#include "vmm/virtio/vsock_conn.h"

#define VIRTIO_VSOCK_QUEUE_SIZE 256
#define VIRTIO_VSOCK_RX		0
#define VIRTIO_VSOCK_TX		1
#define VIRTIO_VSOCK_EVENT	2
/* virtio 1.2 §5.10.3; <linux/virtio_vsock.h> of older kernels lacks it. */
#define VIRTIO_VSOCK_F_STREAM 0

/* Connections at once; more are refused (RST / closed). */
#define VSOCK_MAX_CONNS 512
/* RSTs for packets no connection takes, waiting for rx buffers; when it is
 * full, tx processing pauses instead of growing it. */
#define VSOCK_RST_QUEUE 64
/* Host-initiated connections get local ports from here on (Firecracker's
 * choice: above what guests use for their own ports). */
#define VSOCK_LOCAL_PORT_BASE (1U << 30)
#define VSOCK_HASH_SIZE	      256

/* One stream: the state machine plus its unix socket. */
struct vsock_host_conn {
	struct vsock_conn sm;
	struct virtio_vsock *v;
	int fd;		 /* the unix socket; -1 once closed */
	uint32_t events; /* epoll interest while in_epoll */
	bool in_epoll;
	bool host_readable; /* EPOLLIN seen and not yet drained (EAGAIN) */
	bool hashed;	    /* in v->buckets (ports known) */
	bool dead;	    /* freed; memory kept until the current batch ends */
	bool on_rx;
	/* Guest bytes the socket has not taken yet, [start, start + len). */
	uint8_t *buf;
	uint32_t buf_start, buf_len, buf_cap;
	struct vsock_host_conn *hash_next;
	struct vsock_host_conn *all_prev, *all_next;
	struct vsock_host_conn *rx_prev, *rx_next; /* owes the guest a packet */
	struct vsock_host_conn *dead_next;
};

struct vsock_rst {
	uint32_t src_port; /* ours */
	uint32_t dst_port; /* the guest's */
};

struct virtio_vsock {
	/* Transport first: it owns the lock that guards everything below. */
	struct virtio_mmio mmio;
	struct machine *m;
	uint64_t guest_cid;
	char *uds_path;
	int listen_fd;
	bool listen_paused; /* out of fds: not accepting for now */
	int epfd;	    /* the device's epoll set: listen_fd and every conn fd */
	bool epfd_watched;  /* epfd is on m->loop */
	struct virtio_vsock_config config;

	struct vsock_host_conn *buckets[VSOCK_HASH_SIZE];
	struct vsock_host_conn *all;
	unsigned int nr_conns;
	uint32_t next_local_port;
	struct vsock_host_conn *rx_head, *rx_tail;
	struct vsock_host_conn *dead;
	struct vsock_rst rst[VSOCK_RST_QUEUE];
	unsigned int rst_head, rst_len;
	bool tx_stalled; /* tx work stopped at a full RST queue */

	/* Scratch chains (too big for the stack): an rx buffer popped and not
	 * yet used is kept for the next packet. */
	bool rx_held;
	struct virtq_chain rx_chain;
	struct virtq_chain tx_chain;
	struct iovec iov[VIRTQ_SIZE_MAX];
};

/* Listens on cfg->uds_path (a stale socket there is replaced) and attaches
 * the device to m on the next virtio-mmio slot; its sockets join m->loop,
 * so call it before the loop runs (or from its thread). Messages name the
 * path. */
int virtio_vsock_create(struct machine *m, const struct vsock_config *cfg,
			struct virtio_vsock **out, kiln_error_t *err);

/* Closes every connection and the listening socket and removes uds_path.
 * Accepts NULL. Only at machine teardown, from the loop's thread or after
 * it stopped: the MMIO page stays registered. */
void virtio_vsock_free(struct virtio_vsock *v);

/* Its entry in vmm_device_kinds[] (vmm/device.h). */
extern const struct vmm_device_kind virtio_vsock_kind;

#endif
