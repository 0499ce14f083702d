/* virtio-blk (virtio 1.2 §5.2) over a raw image file or block device, one
 * request queue, synchronous I/O on the event loop thread. The drive's
 * Firecracker settings decide what the guest is offered:
 *   is_read_only          -> VIRTIO_BLK_F_RO; the file is opened O_RDONLY
 *                            and writes fail with VIRTIO_BLK_S_IOERR
 *   cache_type Writeback  -> VIRTIO_BLK_F_FLUSH; a flush is fdatasync()
 *   cache_type Unsafe     -> no FLUSH feature (the default, as in Firecracker)
 * plus VIRTIO_BLK_F_SEG_MAX (queue size - 2) in every case. */
#ifndef KILN_VMM_VIRTIO_BLK_H
#define KILN_VMM_VIRTIO_BLK_H

#include <linux/virtio_blk.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/error.h"
#include "vmm/device.h"
#include "vmm/config.h"
#include "vmm/machine.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/queue.h"

#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SECTOR     512

struct virtio_blk {
	/* Transport first: it owns the lock that guards everything below. */
	struct virtio_mmio mmio;
	char *drive_id;
	char *path;
	int fd;
	bool read_only;
	bool writeback;
	uint64_t capacity; /* 512-byte sectors */
	struct virtio_blk_config config;
	/* Scratch space for the request being served (too big for a stack
	 * that a vCPU or event loop thread should keep small). */
	struct virtq_chain chain;
	struct iovec iov[VIRTQ_SIZE_MAX];
};

/* Opens cfg->path_on_host (O_RDONLY when read-only), sizes it and attaches
 * the device to m on the next virtio-mmio slot. Messages name the drive id
 * and the path. */
int virtio_blk_create(struct machine *m, const struct drive_config *cfg, struct virtio_blk **out,
		      kiln_error_t *err);

/* PATCH /drives/{id} after boot: switches the backing file to path (same
 * read-only setting), recomputes the capacity and tells the guest with a
 * configuration change interrupt. On failure the old file stays. */
int virtio_blk_update(struct virtio_blk *b, const char *path, kiln_error_t *err);

/* Accepts NULL. Only at machine teardown: the MMIO page stays registered. */
void virtio_blk_free(struct virtio_blk *b);

/* Its entry in vmm_device_kinds[] (vmm/device.h). */
extern const struct vmm_device_kind virtio_blk_kind;

#endif
