/* The virtio-mmio transport, virtio 1.x only (virtio 1.2 §4.2.2, Version
 * register 2). One instance per device, embedded in the device's struct;
 * the device describes itself with a small ops table (after kvmtool's
 * struct virtio_ops) and the transport does everything else: registers,
 * feature negotiation, queue setup, notifications, interrupts, reset and
 * the error state.
 *
 * Threads: register accesses come from vCPU threads, queue notifications
 * through ioeventfds arrive on the event loop thread, and devices may be
 * changed from the API thread, so all state is under `lock`. Every ops
 * callback runs with the lock held; code outside a callback that touches
 * the device (virtio_blk_update) takes it itself. */
#ifndef KILN_VMM_VIRTIO_MMIO_H
#define KILN_VMM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/irq.h"
#include "vmm/machine.h"
#include "vmm/virtio/queue.h"

#define VIRTIO_MMIO_MAGIC      0x74726976 /* "virt" */
#define VIRTIO_MMIO_VERSION_1X 2
#define VIRTIO_MMIO_VENDOR     0x4e4c494b /* "KILN" */
#define VIRTIO_MMIO_MAX_QUEUES 8

struct virtio_dev_ops {
	const char *name;   /* "virtio-blk", for messages */
	uint32_t device_id; /* virtio 1.2 §5 */
	unsigned int nr_queues;
	uint16_t queue_size_max; /* QueueNumMax, a power of 2 <= VIRTQ_SIZE_MAX */
	uint32_t config_size;	 /* bytes of device configuration at 0x100 */
	/* Device-specific feature bits; the transport adds VERSION_1,
	 * INDIRECT_DESC and EVENT_IDX, unless features_exact is set. */
	uint64_t (*features)(void *dev);
	/* features() is the whole offer, transport bits included: a device
	 * whose rings another process runs (vhost-user) offers only what
	 * that process implements. */
	bool features_exact;
	/* Another process raises the used-buffer interrupt on the device's
	 * irqfd without going through the transport, so InterruptStatus
	 * always reads VIRTIO_MMIO_INT_VRING (as Firecracker's vhost-user
	 * devices do): the driver then looks at every queue, which costs a
	 * few reads, instead of dropping the interrupt as spurious. */
	bool irq_external;
	/* DRIVER_OK was just set (after a successful FEATURES_OK, with no
	 * error pending): the device may start. May be NULL. */
	void (*driver_ok)(void *dev);
	/* [offset, offset + len) lies within config_size. */
	void (*config_read)(void *dev, uint32_t offset, uint8_t *data, uint32_t len);
	/* NULL when the configuration is read-only. */
	void (*config_write)(void *dev, uint32_t offset, const uint8_t *data, uint32_t len);
	/* Queue `queue` has new buffers: pop them with virtq_pop(), push them
	 * with virtq_push(), then call virtio_mmio_signal_used(). Runs only
	 * when DRIVER_OK is set and the queue is ready. Returns 0, or a
	 * negative errno when the driver broke the queue (the transport then
	 * enters the error state). */
	int (*queue_notify)(void *dev, unsigned int queue);
	/* Device reset (§2.4): drop in-flight state. May be NULL. */
	void (*reset)(void *dev);
};

struct virtio_mmio_queue {
	struct virtq vq;
	struct virtio_mmio *t;
	unsigned int index;
	int notify_fd; /* ioeventfd on QueueNotify; -1 without KVM */
	bool watched;  /* notify_fd is on the event loop */
};

struct virtio_mmio {
	pthread_mutex_t lock;
	bool initialised; /* lock and fds are live: release has work to do */
	const struct virtio_dev_ops *ops;
	void *dev;
	struct machine *m;
	struct machine_virtio_slot slot;
	struct irq_line irq;
	/* Which instance, for messages (a drive id); set by the device after
	 * virtio_mmio_init(), borrowed, may stay NULL. */
	const char *label;

	uint32_t status;
	uint32_t isr;	     /* InterruptStatus: VIRTIO_MMIO_INT_VRING | _CONFIG */
	uint32_t config_gen; /* ConfigGeneration */
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint64_t driver_features;
	uint32_t queue_sel;
	struct virtio_mmio_queue queues[VIRTIO_MMIO_MAX_QUEUES];
};

/* Takes a virtio-mmio slot from m, wires the interrupt line (and, with
 * KVM, an ioeventfd per queue on the event loop) and registers the page on
 * m->mmio. Call it last when building a device: the bus cannot unregister,
 * so t must live as long as m once this succeeds. */
int virtio_mmio_init(struct virtio_mmio *t, struct machine *m, const struct virtio_dev_ops *ops,
		     void *dev, kiln_error_t *err);

/* Closes the eventfds. The page stays on the bus: call it only when the
 * machine is being torn down. Accepts a t that was never initialised if it
 * was zeroed. */
void virtio_mmio_release(struct virtio_mmio *t);

/* The bus handlers (also what bus_dispatch() reaches). */
void virtio_mmio_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
void virtio_mmio_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);

/* Takes queue's ioeventfd off the event loop (a vhost-user back end reads
 * it instead) or puts it back. On the event-loop thread only (the loop is
 * not thread-safe). */
void virtio_mmio_queue_unwatch(struct virtio_mmio *t, unsigned int queue);
int virtio_mmio_queue_watch(struct virtio_mmio *t, unsigned int queue, kiln_error_t *err);

/* The features both sides agreed on (valid once FEATURES_OK is set). */
bool virtio_mmio_has_feature(const struct virtio_mmio *t, unsigned int bit);

/* The following require t->lock. */

/* Raises a used-buffer interrupt for queue if the driver wants one. */
void virtio_mmio_signal_used(struct virtio_mmio *t, unsigned int queue);

/* The device configuration changed: bumps ConfigGeneration and, once the
 * driver is up, raises a configuration change interrupt (§4.2.3.4). */
void virtio_mmio_config_changed(struct virtio_mmio *t);

/* The driver did something the device cannot recover from: sets
 * DEVICE_NEEDS_RESET, tells the driver with a configuration change
 * interrupt (at once when DRIVER_OK is set, else when it gets set; §2.1.2)
 * and stops processing queues until the driver resets the device. Logs
 * the first reason only. */
__attribute__((format(printf, 2, 3))) void virtio_mmio_device_error(struct virtio_mmio *t,
								    const char *fmt, ...);

#endif
