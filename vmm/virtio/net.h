/* virtio-net (virtio 1.2 §5.1) over a tap device: one receive queue (0)
 * and one transmit queue (1), no control queue, no multiqueue.
 *
 * The tap is opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR and a 12-byte
 * vnet header (struct virtio_net_hdr_v1, num_buffers included), so a tx
 * chain goes to the tap as it is, header and all, with one writev(), and
 * a packet read from the tap starts with the header the guest expects.
 *
 * Offered: MAC (when the configuration has a guest_mac), STATUS (link up),
 * MRG_RXBUF, CSUM, GUEST_CSUM, HOST_TSO4/6, HOST_ECN, GUEST_TSO4/6,
 * GUEST_ECN. What the tap may hand us (TUNSETOFFLOAD) follows what the
 * driver acked of the GUEST_* features, set when the queues first run.
 *
 * Flow control, no busy polling: the tap is watched for EPOLLIN only while
 * the guest may have receive buffers; when a packet finds none it is kept
 * (one packet, at most 64 KiB) and the tap is not read again until the
 * guest adds buffers (its rx notification). A tap write that would block
 * keeps that one tx chain, stops tx processing and watches EPOLLOUT.
 *
 * Threads: the tap lives in the device's own epoll set (as vsock's
 * sockets do), which sits on the machine's event loop as one fd, so the
 * interest can change from any thread that holds the transport's lock
 * (a vCPU resetting the device). */
#ifndef KILN_VMM_VIRTIO_NET_H
#define KILN_VMM_VIRTIO_NET_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/error.h"
#include "vmm/device.h"
#include "vmm/config.h"
#include "vmm/machine.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/queue.h"

#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_RX	      0
#define VIRTIO_NET_TX	      1
/* struct virtio_net_hdr_v1: every virtio 1.x packet starts with it. */
#define VIRTIO_NET_HDR_LEN 12
/* The largest packet a tap hands over with TSO: 64 KiB of IP plus the
 * Ethernet and VLAN headers, after the vnet header (Firecracker's size). */
#define VIRTIO_NET_PKT_MAX (VIRTIO_NET_HDR_LEN + 65550)

struct virtio_net_used {
	uint16_t head;
	uint32_t len;
};

struct virtio_net {
	/* Transport first: it owns the lock that guards everything below. */
	struct virtio_mmio mmio;
	struct machine *m;
	char *iface_id;
	char *tap_name;
	int tap_fd;
	int epfd;	     /* the device's epoll set: just the tap */
	bool epfd_watched;   /* epfd is on m->loop */
	uint32_t tap_events; /* what epfd watches the tap for now */
	bool tap_dead;	     /* read/write failed for good: not watched again */
	bool has_mac;
	struct virtio_net_config config;
	/* TUNSETOFFLOAD; a field so the unit tests, whose "tap" is a socket,
	 * can see what would have been set. */
	int (*set_offload)(int fd, unsigned int flags);
	bool offload_set; /* done for the features of this driver session */

	/* rx: the guest may have buffers (set by its notification, cleared
	 * when a packet found the ring empty). */
	bool rx_wanted;
	/* The packet being delivered: rx_pkt[0, rx_len), of which the first
	 * rx_off bytes are in the chains rx_used[0, rx_nused) (popped, not
	 * yet pushed: the guest sees all or nothing of a packet). */
	bool rx_have;
	uint8_t *rx_pkt;
	size_t rx_len, rx_off;
	struct virtio_net_used rx_used[VIRTQ_SIZE_MAX];
	unsigned int rx_nused;
	/* Where num_buffers (header bytes 10-11) lies in the first chain. */
	struct iovec rx_nbuf[VIRTQ_SIZE_MAX];
	unsigned int rx_nbuf_n;

	/* tx: tx_chain was popped and the tap would not take it yet. */
	bool tx_held;

	uint64_t rx_dropped, tx_dropped;

	/* Scratch (too big for the stack). */
	struct virtq_chain rx_chain;
	struct virtq_chain tx_chain;
	struct iovec iov[VIRTQ_SIZE_MAX];
};

/* Opens /dev/net/tun and attaches it to the existing tap `name` with
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, a 12-byte vnet header and no
 * offloads, non-blocking. Messages name the interface and the tap. */
int virtio_net_tap_open(const char *iface_id, const char *name, int *fd_out, kiln_error_t *err);

/* The TUNSETOFFLOAD flags for the features a driver acked: the tap may
 * hand us only what the guest said it can take (§5.1.3.1: the TSO
 * features need GUEST_CSUM, ECN needs TSO). */
unsigned int virtio_net_tap_offloads(uint64_t acked);

/* Attaches a device for cfg to m on the next virtio-mmio slot, with tap_fd
 * (from virtio_net_tap_open, or any fd that reads and writes whole packets
 * with the vnet header in front) as its back end. Takes tap_fd, also on
 * failure. Call it from the loop's thread or before the loop runs. */
int virtio_net_create(struct machine *m, const struct net_iface_config *cfg, int tap_fd,
		      struct virtio_net **out, kiln_error_t *err);

/* Accepts NULL. Only at machine teardown: the MMIO page stays registered. */
void virtio_net_free(struct virtio_net *n);

/* Its entry in vmm_device_kinds[] (vmm/device.h). */
extern const struct vmm_device_kind virtio_net_kind;

#endif
