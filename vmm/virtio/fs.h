/* virtio-fs (virtio 1.2 §5.11) as a vhost-user front end: the rings are
 * run by a back end (Debian's virtiofsd) over a unix socket
 * (vmm/vhost_user.h). Queue 0 is the hiprio queue, 1..n the request
 * queues; the configuration holds the tag the guest mounts and n.
 *
 * Life of a device:
 * - prepare (InstanceStart, before the VM exists): connect to socket_path
 *   and ask the back end for its features, so a missing or dead back end
 *   fails the start with one line and leaves nothing behind.
 * - create: SET_OWNER, features, protocol features (REPLY_ACK), and
 *   SET_MEM_TABLE with the memfd that holds guest RAM.
 * - DRIVER_OK (a vCPU's register write): the vCPU only signals ctl_fd; the
 *   event-loop thread then sends SET_FEATURES and, per ready queue,
 *   SET_VRING_NUM/ADDR/BASE/KICK/CALL/ENABLE. The kick fd is the queue's
 *   KVM ioeventfd (taken off the event loop, which is not thread-safe,
 *   hence the hop), the call fd the device's irqfd. The vCPU filter thus
 *   needs nothing for vhost-user.
 * - device reset: the same hop; GET_VRING_BASE per started queue, after
 *   which the back end no longer touches the rings.
 * - back end death (the socket hangs up, or a message fails): one line in
 *   the log, and the VMM takes the queues over: every request it finds
 *   from then on is completed with a FUSE error (fuse_out_header
 *   {len 16, error -EIO, the request's unique}), so guest processes get
 *   EIO instead of hanging. Requests already in the available ring when
 *   the death is noticed are left alone: the back end may have taken them
 *   (virtiofsd drains the ring on each kick), and completing one twice
 *   would break the guest's driver; their callers stay blocked. */
#ifndef KILN_VMM_VIRTIO_FS_H
#define KILN_VMM_VIRTIO_FS_H

#include <linux/virtio_fs.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/config.h"
#include "vmm/device.h"
#include "vmm/machine.h"
#include "vmm/vhost_user.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/queue.h"

/* struct fuse_in_header and fuse_out_header (linux/fuse.h). */
#define VIRTIO_FS_IN_HDR_LEN  40
#define VIRTIO_FS_OUT_HDR_LEN 16

struct virtio_fs {
	/* Transport first: its lock guards everything below. */
	struct virtio_mmio mmio;
	/* Per instance: the queue count and size come from the config. */
	struct virtio_dev_ops ops;
	struct machine *m;
	char *fs_id;
	char *socket_path;
	struct virtio_fs_config config;

	struct vhost_user vu;
	bool sock_watched; /* vu.fd is on the event loop (hang-up) */
	int ctl_fd;	   /* eventfd: a vCPU asks the event loop to act */
	bool ctl_watched;

	/* What the driver wants (set by vCPUs) and what the back end has
	 * (set by the event loop). driver_gen counts DRIVER_OKs, so a reset
	 * and a new DRIVER_OK between two event-loop runs still restart the
	 * rings. */
	bool want_running;
	uint64_t driver_gen;
	bool running;
	uint64_t running_gen;
	uint32_t started; /* queues the back end was given, a bit each */

	bool dead;	 /* the back end is gone: the VMM answers requests */
	bool taken_over; /* queues are ours for this driver session */
	uint64_t failed; /* requests answered with EIO */

	struct virtq_chain chain;
};

int virtio_fs_create(struct machine *m, const struct fs_config *cfg, int sock_fd,
		     struct virtio_fs **out, kiln_error_t *err);
void virtio_fs_free(struct virtio_fs *f);

/* The back end hung up (or a message to it failed): logs one line naming
 * the fs_id and takes the queues over. Event-loop thread, lock held. */
void virtio_fs_backend_dead(struct virtio_fs *f, const char *why);

/* Completes one request with EIO into c: 16 bytes when the chain has room
 * for a fuse_out_header (unique copied from its fuse_in_header), else 0
 * (FORGET has no reply). Returns the used length. */
uint32_t virtio_fs_fail_request(const struct virtq_chain *c);

extern const struct vmm_device_kind virtio_fs_kind;

#endif
