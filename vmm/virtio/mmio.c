#include <endian.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "vmm/virtio/mmio.h"

/* Feature bits every device gets from the transport and the queue code. */
#define VIRTIO_MMIO_TRANSPORT_FEATURES                                                             \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |                    \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX))

#define QUEUES_LIVE (VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK)

static const struct bus_ops virtio_mmio_bus_ops = {
    .read = virtio_mmio_read,
    .write = virtio_mmio_write,
};

static uint64_t device_features(const struct virtio_mmio *t)
{
	if (t->ops->features_exact)
		return t->ops->features(t->dev);
	return t->ops->features(t->dev) | VIRTIO_MMIO_TRANSPORT_FEATURES;
}

bool virtio_mmio_has_feature(const struct virtio_mmio *t, unsigned int bit)
{
	return bit < 64 && (t->driver_features & (1ULL << bit)) != 0;
}

static void irq_send(struct virtio_mmio *t, uint32_t bit)
{
	t->isr |= bit;
	irq_line_raise(&t->irq);
}

void virtio_mmio_signal_used(struct virtio_mmio *t, unsigned int queue)
{
	if (queue < t->ops->nr_queues && virtq_should_notify(&t->queues[queue].vq))
		irq_send(t, VIRTIO_MMIO_INT_VRING);
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
	t->config_gen++;
	/* §2.5.1: notifications go to a driver that is up; one that is not
	 * reads the configuration (and the new generation) when it gets there. */
	if (t->status & VIRTIO_CONFIG_S_DRIVER_OK)
		irq_send(t, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_mmio_device_error(struct virtio_mmio *t, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;

	if (t->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	/* Allocating is fine here: this happens once per device reset. */
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	log_warning("%s%s%s%s at 0x%llx: %s; the device needs a reset", t->ops->name,
		    t->label ? " '" : "", t->label ? t->label : "", t->label ? "'" : "",
		    (unsigned long long)t->slot.base, msg);
	t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	if (t->status & VIRTIO_CONFIG_S_DRIVER_OK)
		irq_send(t, VIRTIO_MMIO_INT_CONFIG);
}

/* §2.4: back to the state after power-on, queues forgotten. */
static void device_reset(struct virtio_mmio *t)
{
	if (t->ops->reset)
		t->ops->reset(t->dev);
	for (unsigned int i = 0; i < t->ops->nr_queues; i++)
		virtq_reset(&t->queues[i].vq);
	t->status = 0;
	t->isr = 0;
	t->device_features_sel = 0;
	t->driver_features_sel = 0;
	t->driver_features = 0;
	t->queue_sel = 0;
}

static void queue_kick(struct virtio_mmio *t, uint32_t index)
{
	struct virtio_mmio_queue *q;
	int rc;

	if (index >= t->ops->nr_queues)
		return;
	q = &t->queues[index];
	/* §2.1.2 / §3.1.1: no buffers are consumed before DRIVER_OK (after a
	 * successful FEATURES_OK), and none once the device is in the error
	 * state. */
	if ((t->status & QUEUES_LIVE) != QUEUES_LIVE || (t->status & VIRTIO_CONFIG_S_NEEDS_RESET) ||
	    !q->vq.ready)
		return;
	rc = t->ops->queue_notify(t->dev, index);
	if (rc < 0)
		virtio_mmio_device_error(t, "queue %u: %s", index,
					 q->vq.error ? q->vq.error : strerror(-rc));
}

static void queue_notify_event(void *opaque, uint32_t events)
{
	struct virtio_mmio_queue *q = opaque;
	uint64_t count;

	(void)events;
	/* Non-blocking: an empty counter just means a spurious wakeup. */
	if (read(q->notify_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warning("%s: reading queue %u doorbell: %s", q->t->ops->name, q->index,
			    strerror(errno));
	pthread_mutex_lock(&q->t->lock);
	queue_kick(q->t, q->index);
	pthread_mutex_unlock(&q->t->lock);
}

/* §3.1.1 step 5: FEATURES_OK sticks only for a subset of what we offer
 * that includes VERSION_1 (this transport has no legacy interface). */
static bool features_acceptable(const struct virtio_mmio *t)
{
	uint64_t f = t->driver_features;

	return (f & ~device_features(t)) == 0 && (f & (1ULL << VIRTIO_F_VERSION_1)) != 0;
}

static void status_write(struct virtio_mmio *t, uint32_t v)
{
	uint32_t old = t->status;

	if (v == 0) {
		device_reset(t);
		return;
	}
	/* DEVICE_NEEDS_RESET belongs to the device: only a reset clears it. */
	v = (v & ~VIRTIO_CONFIG_S_NEEDS_RESET) | (old & VIRTIO_CONFIG_S_NEEDS_RESET);
	if ((v & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !features_acceptable(t))
		v &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	t->status = v;
	/* An error found during setup is announced once the driver can take
	 * the interrupt (§2.1.2). */
	if ((v & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK) &&
	    (v & VIRTIO_CONFIG_S_NEEDS_RESET))
		irq_send(t, VIRTIO_MMIO_INT_CONFIG);
	else if ((v & QUEUES_LIVE) == QUEUES_LIVE && !(old & VIRTIO_CONFIG_S_DRIVER_OK) &&
		 t->ops->driver_ok)
		t->ops->driver_ok(t->dev);
}

static void queue_ready_write(struct virtio_mmio *t, struct virtio_mmio_queue *q, uint32_t v)
{
	int rc;

	if (v == 0) {
		q->vq.ready = false;
		return;
	}
	if (q->vq.ready)
		return;
	rc = virtq_enable(&q->vq, &t->m->mem, t->ops->queue_size_max,
			  virtio_mmio_has_feature(t, VIRTIO_RING_F_EVENT_IDX),
			  virtio_mmio_has_feature(t, VIRTIO_RING_F_INDIRECT_DESC));
	if (rc < 0)
		virtio_mmio_device_error(t,
					 "queue %u (size %u, desc 0x%llx, driver 0x%llx, "
					 "device 0x%llx): %s",
					 q->index, q->vq.num, (unsigned long long)q->vq.desc_gpa,
					 (unsigned long long)q->vq.avail_gpa,
					 (unsigned long long)q->vq.used_gpa, q->vq.error);
}

static void set_low(uint64_t *r, uint32_t v)
{
	*r = (*r & 0xffffffff00000000ULL) | v;
}

static void set_high(uint64_t *r, uint32_t v)
{
	*r = (*r & 0xffffffffULL) | ((uint64_t)v << 32);
}

/* The selected queue, or NULL when QueueSel names none. */
static struct virtio_mmio_queue *queue_selected(struct virtio_mmio *t)
{
	return t->queue_sel < t->ops->nr_queues ? &t->queues[t->queue_sel] : NULL;
}

static uint32_t reg_read(struct virtio_mmio *t, uint64_t off)
{
	struct virtio_mmio_queue *q = queue_selected(t);
	uint64_t f;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return VIRTIO_MMIO_VERSION_1X;
	case VIRTIO_MMIO_DEVICE_ID:
		return t->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		f = device_features(t);
		if (t->device_features_sel == 0)
			return (uint32_t)f;
		if (t->device_features_sel == 1)
			return (uint32_t)(f >> 32);
		return 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		/* §4.2.2: 0 says the queue does not exist. */
		return q ? t->ops->queue_size_max : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? q->vq.ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return t->isr | (t->ops->irq_external ? VIRTIO_MMIO_INT_VRING : 0);
	case VIRTIO_MMIO_STATUS:
		return t->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		/* §4.2.2: a length of -1 says "no such shared memory region". */
		return 0xffffffff;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return t->config_gen;
	default:
		/* Write-only and reserved registers read as 0. */
		return 0;
	}
}

static void reg_write(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct virtio_mmio_queue *q = queue_selected(t);
	/* §4.2.2.3: the queue layout may change only while it is not ready. */
	struct virtq *idle = q && !q->vq.ready ? &q->vq : NULL;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->device_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		/* §3.1.1: features are fixed once FEATURES_OK is set. */
		if (t->status & VIRTIO_CONFIG_S_FEATURES_OK)
			break;
		if (t->driver_features_sel == 0)
			set_low(&t->driver_features, v);
		else if (t->driver_features_sel == 1)
			set_high(&t->driver_features, v);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->driver_features_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (idle)
			idle->num = v;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (q)
			queue_ready_write(t, q, v);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* With KVM, matching writes end in the ioeventfd and never get
		 * here; without it (unit tests) the write runs the queue. */
		queue_kick(t, v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		t->isr &= ~v;
		break;
	case VIRTIO_MMIO_STATUS:
		status_write(t, v);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		if (idle)
			set_low(&idle->desc_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (idle)
			set_high(&idle->desc_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		if (idle)
			set_low(&idle->avail_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		if (idle)
			set_high(&idle->avail_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		if (idle)
			set_low(&idle->used_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		if (idle)
			set_high(&idle->used_gpa, v);
		break;
	default:
		/* Read-only, legacy-only (GuestPageSize, QueuePFN, ...) and
		 * reserved registers ignore writes. */
		break;
	}
}

/* The device configuration window at 0x100, or false when [off, off+len)
 * is not inside it. */
static bool config_window(const struct virtio_mmio *t, uint64_t off, uint32_t len, uint32_t *cfg)
{
	if (off < VIRTIO_MMIO_CONFIG)
		return false;
	off -= VIRTIO_MMIO_CONFIG;
	if (off > t->ops->config_size || len > t->ops->config_size - off)
		return false;
	*cfg = (uint32_t)off;
	return true;
}

void virtio_mmio_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	uint32_t cfg;

	pthread_mutex_lock(&t->lock);
	if (config_window(t, offset, len, &cfg)) {
		t->ops->config_read(t->dev, cfg, data, len);
	} else if (offset < VIRTIO_MMIO_CONFIG && len == 4 && offset % 4 == 0) {
		/* §4.2.2.2: registers are accessed 32 bits wide and aligned;
		 * anything else reads as 0 (the bus zeroed data). */
		uint32_t v = htole32(reg_read(t, offset));

		memcpy(data, &v, sizeof(v));
	}
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	uint32_t cfg;

	pthread_mutex_lock(&t->lock);
	if (config_window(t, offset, len, &cfg)) {
		if (t->ops->config_write)
			t->ops->config_write(t->dev, cfg, data, len);
	} else if (offset < VIRTIO_MMIO_CONFIG && len == 4 && offset % 4 == 0) {
		uint32_t v;

		memcpy(&v, data, sizeof(v));
		reg_write(t, offset, le32toh(v));
	}
	pthread_mutex_unlock(&t->lock);
}

static int ops_check(const struct virtio_dev_ops *ops, kiln_error_t *err)
{
	uint32_t n = ops->queue_size_max;

	if (ops->nr_queues == 0 || ops->nr_queues > VIRTIO_MMIO_MAX_QUEUES)
		return kiln_error_make(err, 0, "%s: %u queues (1 to %d supported)", ops->name,
				       ops->nr_queues, VIRTIO_MMIO_MAX_QUEUES);
	if (n == 0 || n > VIRTQ_SIZE_MAX || (n & (n - 1)) != 0)
		return kiln_error_make(err, 0, "%s: queue size %u is not a power of 2 up to %d",
				       ops->name, n, VIRTQ_SIZE_MAX);
	return 0;
}

/* With KVM: one ioeventfd per queue, its data the queue index (§4.2.3.3),
 * handled on the event loop so a notification costs the vCPU no exit. */
static int doorbells_wire(struct virtio_mmio *t, kiln_error_t *err)
{
	struct machine *m = t->m;

	for (unsigned int i = 0; i < t->ops->nr_queues; i++) {
		struct virtio_mmio_queue *q = &t->queues[i];

		q->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (q->notify_fd < 0)
			return kiln_error_make(err, errno, "eventfd");
		if (ioeventfd_add(m->vm_fd, t->slot.base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, true, i,
				  q->notify_fd, err) < 0)
			return -1;
		if (evloop_add(&m->loop, q->notify_fd, EPOLLIN, queue_notify_event, q, err) < 0)
			return -1;
		q->watched = true;
	}
	return 0;
}

void virtio_mmio_queue_unwatch(struct virtio_mmio *t, unsigned int queue)
{
	struct virtio_mmio_queue *q = &t->queues[queue];

	if (queue >= t->ops->nr_queues || !q->watched)
		return;
	evloop_del(&t->m->loop, q->notify_fd);
	q->watched = false;
}

int virtio_mmio_queue_watch(struct virtio_mmio *t, unsigned int queue, kiln_error_t *err)
{
	struct virtio_mmio_queue *q = &t->queues[queue];

	if (queue >= t->ops->nr_queues || q->watched || q->notify_fd < 0)
		return 0;
	if (evloop_add(&t->m->loop, q->notify_fd, EPOLLIN, queue_notify_event, q, err) < 0)
		return -1;
	q->watched = true;
	return 0;
}

int virtio_mmio_init(struct virtio_mmio *t, struct machine *m, const struct virtio_dev_ops *ops,
		     void *dev, kiln_error_t *err)
{
	memset(t, 0, sizeof(*t));
	t->ops = ops;
	t->dev = dev;
	t->m = m;
	t->irq.fd = -1;
	for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		t->queues[i] = (struct virtio_mmio_queue){.t = t, .index = i, .notify_fd = -1};
	if (ops_check(ops, err) < 0)
		return -1;
	pthread_mutex_init(&t->lock, NULL);
	t->initialised = true;
	if (irq_line_open(&t->irq, err) < 0)
		return kiln_error_wrap(err, "%s", ops->name);
	if (machine_virtio_slot_alloc(m, &t->slot, err) < 0)
		return kiln_error_wrap(err, "%s", ops->name);
	if (m->vm_fd >= 0) {
		if (irq_line_attach(&t->irq, m->vm_fd, t->slot.gsi, err) < 0 ||
		    doorbells_wire(t, err) < 0)
			return kiln_error_wrap(err, "%s at 0x%llx", ops->name,
					       (unsigned long long)t->slot.base);
	}
	if (bus_register(&m->mmio, t->slot.base, t->slot.len, &virtio_mmio_bus_ops, t, err) < 0)
		return kiln_error_wrap(err, "%s", ops->name);
	return 0;
}

void virtio_mmio_release(struct virtio_mmio *t)
{
	if (!t->initialised)
		return;
	for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		struct virtio_mmio_queue *q = &t->queues[i];

		if (q->watched)
			evloop_del(&t->m->loop, q->notify_fd);
		if (q->notify_fd >= 0)
			close(q->notify_fd);
		q->notify_fd = -1;
		q->watched = false;
	}
	irq_line_close(&t->irq);
	pthread_mutex_destroy(&t->lock);
	t->initialised = false;
}
