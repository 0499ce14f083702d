/* virtio-fs over vhost-user (vmm/virtio/fs.h). */
#include "vmm/virtio/fs.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define BIT(n) (1ULL << (n))

/* What the transport can offer on behalf of a back end: virtio 1.x, and
 * the ring features that the takeover after a back end's death (the
 * virtq code) also implements. Device bits (VIRTIO_FS_F_NOTIFICATION)
 * would need a notification queue, which kiln does not set up. */
#define FS_TRANSPORT_FEATURES                                                                      \
	(BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_INDIRECT_DESC) | BIT(VIRTIO_RING_F_EVENT_IDX))

static void eventfd_signal(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static uint64_t fs_features(void *dev)
{
	struct virtio_fs *f = dev;

	return f->vu.features & FS_TRANSPORT_FEATURES;
}

static void fs_config_read(void *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_fs *f = dev;

	memcpy(data, (const uint8_t *)&f->config + offset, len);
}

uint32_t virtio_fs_fail_request(const struct virtq_chain *c)
{
	uint8_t in[VIRTIO_FS_IN_HDR_LEN];
	struct {
		uint32_t len;
		int32_t error;
		uint64_t unique;
	} out = {.len = htole32(VIRTIO_FS_OUT_HDR_LEN), .error = (int32_t)htole32(-EIO)};
	uint64_t unique = 0;

	_Static_assert(sizeof(out) == VIRTIO_FS_OUT_HDR_LEN, "fuse_out_header");
	/* FORGET and BATCH_FORGET (hiprio) have no reply buffer. */
	if (c->writable_len < VIRTIO_FS_OUT_HDR_LEN)
		return 0;
	/* fuse_in_header: len, opcode, then unique at offset 8. */
	if (virtq_chain_read(c, 0, in, sizeof(in)) == sizeof(in))
		memcpy(&unique, in + 8, sizeof(unique));
	out.unique = unique; /* both little-endian: copied as it is */
	virtq_chain_write(c, 0, &out, sizeof(out));
	return VIRTIO_FS_OUT_HDR_LEN;
}

/* The back end is gone: answer everything with EIO. */
static int fs_fail_queue(struct virtio_fs *f, unsigned int queue)
{
	struct virtq *q = &f->mmio.queues[queue].vq;
	bool any = false;
	int rc;

	while ((rc = virtq_pop(q, &f->chain)) == 1) {
		virtq_push(q, f->chain.head, virtio_fs_fail_request(&f->chain));
		f->failed++;
		any = true;
	}
	if (any)
		virtio_mmio_signal_used(&f->mmio, queue);
	return rc < 0 ? rc : 0;
}

static int fs_queue_notify(void *dev, unsigned int queue)
{
	struct virtio_fs *f = dev;

	/* Before the back end has the queue, a kick is only noted by the
	 * nudge that follows SET_VRING_KICK (fs_start). */
	if (!f->taken_over)
		return 0;
	return fs_fail_queue(f, queue);
}

static uint16_t ring_idx(const uint8_t *ring)
{
	return le16toh(
	    __atomic_load_n((const uint16_t *)(const void *)(ring + 2), __ATOMIC_ACQUIRE));
}

/* The VMM runs the queues from here on: each ready queue continues from
 * where the rings are now. The used index is the back end's last; the
 * available index skips what is in the ring already (see fs.h). */
static void fs_take_over(struct virtio_fs *f)
{
	cleanup_error kiln_error_t err = NULL;

	f->taken_over = true;
	f->running = false;
	f->started = 0;
	for (unsigned int i = 0; i < f->ops.nr_queues; i++) {
		struct virtq *q = &f->mmio.queues[i].vq;
		int rc;

		if (virtio_mmio_queue_watch(&f->mmio, i, &err) < 0) {
			log_warning("fs '%s': queue %u: %s", f->fs_id, i, err->msg);
			kiln_error_free(&err);
		}
		if (!q->ready)
			continue;
		q->used_idx = ring_idx(q->used);
		q->last_avail_idx = ring_idx(q->avail);
		q->signalled_valid = false;
		rc = fs_fail_queue(f, i);
		if (rc < 0)
			virtio_mmio_device_error(&f->mmio, "queue %u: %s", i,
						 q->error ? q->error : strerror(-rc));
	}
}

void virtio_fs_backend_dead(struct virtio_fs *f, const char *why)
{
	if (f->dead)
		return;
	f->dead = true;
	log_warning("fs '%s': vhost-user back end on '%s': %s; its requests now fail with EIO",
		    f->fs_id, f->socket_path, why);
	if (f->sock_watched)
		evloop_del(&f->m->loop, f->vu.fd);
	f->sock_watched = false;
	vhost_user_close(&f->vu);
	if (f->running)
		fs_take_over(f);
}

/* DRIVER_OK: hand the ready queues to the back end. */
static void fs_start(struct virtio_fs *f)
{
	cleanup_error kiln_error_t err = NULL;

	f->running_gen = f->driver_gen;
	if (f->dead) {
		fs_take_over(f);
		return;
	}
	f->running = true;
	if (vhost_user_set_features(&f->vu, f->mmio.driver_features, &err) < 0)
		goto fail;
	for (unsigned int i = 0; i < f->ops.nr_queues; i++) {
		struct virtio_mmio_queue *mq = &f->mmio.queues[i];
		struct vhost_user_vring r = {
		    .index = i,
		    .num = mq->vq.size,
		    .base = 0, /* §2.7: a ring the driver just set up starts at 0 */
		    .desc = mq->vq.desc,
		    .avail = mq->vq.avail,
		    .used = mq->vq.used,
		    .kick_fd = mq->notify_fd,
		    .call_fd = f->mmio.irq.fd,
		};

		if (!mq->vq.ready)
			continue;
		/* The back end reads the ioeventfd now; the loop must not. */
		virtio_mmio_queue_unwatch(&f->mmio, i);
		f->started |= 1u << i;
		if (vhost_user_vring_start(&f->vu, &r, &err) < 0)
			goto fail;
		/* A kick the event loop consumed before the hand-over would
		 * be lost: a spurious one costs the back end a look. */
		if (mq->notify_fd >= 0)
			eventfd_signal(mq->notify_fd);
	}
	return;
fail:
	virtio_fs_backend_dead(f, err->msg);
}

/* Device reset: the back end must let go of the rings. */
static void fs_stop(struct virtio_fs *f)
{
	cleanup_error kiln_error_t err = NULL;

	for (unsigned int i = 0; i < f->ops.nr_queues; i++) {
		uint16_t base;

		if (!(f->started & (1u << i)))
			continue;
		if (vhost_user_vring_stop(&f->vu, i, &base, &err) < 0) {
			f->running = false;
			virtio_fs_backend_dead(f, err->msg);
			kiln_error_free(&err);
		}
		if (virtio_mmio_queue_watch(&f->mmio, i, &err) < 0) {
			log_warning("fs '%s': queue %u: %s", f->fs_id, i, err->msg);
			kiln_error_free(&err);
		}
	}
	f->started = 0;
	f->running = false;
}

/* Event loop: bring the back end to what the driver last asked for. */
static void fs_on_ctl(void *opaque, uint32_t events)
{
	struct virtio_fs *f = opaque;
	uint64_t n;

	(void)events;
	while (read(f->ctl_fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&f->mmio.lock);
	if (f->running && (!f->want_running || f->running_gen != f->driver_gen))
		fs_stop(f);
	if (f->want_running && !f->running && !f->taken_over)
		fs_start(f);
	pthread_mutex_unlock(&f->mmio.lock);
}

static void fs_on_socket(void *opaque, uint32_t events)
{
	struct virtio_fs *f = opaque;

	pthread_mutex_lock(&f->mmio.lock);
	virtio_fs_backend_dead(f, (events & EPOLLERR) ? "socket error" : "hung up");
	pthread_mutex_unlock(&f->mmio.lock);
}

/* vCPU thread, lock held: the event loop does the talking. */
static void fs_driver_ok(void *dev)
{
	struct virtio_fs *f = dev;

	f->want_running = true;
	f->driver_gen++;
	eventfd_signal(f->ctl_fd);
}

static void fs_reset(void *dev)
{
	struct virtio_fs *f = dev;

	f->want_running = false;
	f->taken_over = false;
	eventfd_signal(f->ctl_fd);
}

static const struct virtio_dev_ops fs_ops = {
    .name = "virtio-fs",
    .device_id = VIRTIO_ID_FS,
    .config_size = sizeof(struct virtio_fs_config),
    .features = fs_features,
    .features_exact = true,
    .irq_external = true,
    .driver_ok = fs_driver_ok,
    .config_read = fs_config_read,
    .queue_notify = fs_queue_notify,
    .reset = fs_reset,
};

int virtio_fs_create(struct machine *m, const struct fs_config *cfg, int sock_fd,
		     struct virtio_fs **out, kiln_error_t *err)
{
	struct virtio_fs *f = xzalloc(sizeof(*f));
	int r;

	f->m = m;
	f->vu.fd = -1;
	f->ctl_fd = -1;
	f->fs_id = xstrdup(cfg->fs_id);
	f->socket_path = xstrdup(cfg->socket_path);
	f->ops = fs_ops;
	f->ops.nr_queues = 1 + cfg->num_request_queues;
	f->ops.queue_size_max = (uint16_t)cfg->queue_size;
	memcpy(f->config.tag, cfg->tag, strnlen(cfg->tag, sizeof(f->config.tag)));
	f->config.num_request_queues = htole32(cfg->num_request_queues);

	r = vhost_user_init(&f->vu, sock_fd, err);
	if (r == 0 && !(f->vu.features & BIT(VIRTIO_F_VERSION_1)))
		r = kiln_error_make(err, 0, "the back end does not offer VIRTIO_F_VERSION_1");
	if (r == 0)
		r = vhost_user_set_mem_table(&f->vu, &m->mem, err);
	if (r < 0) {
		kiln_error_wrap(err, "fs '%s': vhost-user back end on '%s'", f->fs_id,
				f->socket_path);
		goto fail;
	}
	f->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->ctl_fd < 0) {
		kiln_error_make(err, errno, "fs '%s': eventfd", f->fs_id);
		goto fail;
	}
	if (evloop_add(&m->loop, f->ctl_fd, EPOLLIN, fs_on_ctl, f, err) < 0)
		goto wrap;
	f->ctl_watched = true;
	/* Only hang-ups: replies are read where they are awaited. */
	if (evloop_add(&m->loop, f->vu.fd, EPOLLRDHUP, fs_on_socket, f, err) < 0)
		goto wrap;
	f->sock_watched = true;
	if (virtio_mmio_init(&f->mmio, m, &f->ops, f, err) < 0)
		goto wrap;
	f->mmio.label = f->fs_id;
	*out = f;
	return 0;
wrap:
	kiln_error_wrap(err, "fs '%s'", f->fs_id);
fail:
	virtio_fs_free(f);
	return -1;
}

void virtio_fs_free(struct virtio_fs *f)
{
	if (f == NULL)
		return;
	if (f->sock_watched)
		evloop_del(&f->m->loop, f->vu.fd);
	if (f->ctl_watched)
		evloop_del(&f->m->loop, f->ctl_fd);
	virtio_mmio_release(&f->mmio);
	vhost_user_close(&f->vu);
	if (f->ctl_fd >= 0)
		close(f->ctl_fd);
	if (f->failed)
		log_info("fs '%s': %llu requests failed with EIO after the back end died", f->fs_id,
			 (unsigned long long)f->failed);
	free(f->fs_id);
	free(f->socket_path);
	free(f);
}

/* ---- the device kind: one per fs entry ---- */

static unsigned int fs_count(const struct vmm_config *cfg)
{
	return cfg->nr_fs;
}

static const char *fs_id(const struct vmm_config *cfg, unsigned int i)
{
	return cfg->fs[i].fs_id;
}

/* The back end must be listening before the VM exists, so a missing or
 * dead one fails InstanceStart with nothing built. */
static int fs_prepare(const struct vmm_config *cfg, unsigned int i, int *fd, kiln_error_t *err)
{
	const struct fs_config *c = &cfg->fs[i];
	cleanup_free char *what = xasprintf("fs '%s'", c->fs_id);
	struct vhost_user probe = {.fd = -1};
	uint64_t features = 0;

	if (vhost_user_connect(c->socket_path, what, &probe.fd, err) < 0)
		return -1;
	if (vhost_user_get_features(&probe, &features, err) < 0) {
		vhost_user_close(&probe);
		return kiln_error_wrap(err, "%s: vhost-user back end on '%s'", what,
				       c->socket_path);
	}
	*fd = probe.fd;
	return 0;
}

static int fs_kind_create(const struct vmm_device_env *env, unsigned int i, int fd, void **dev,
			  kiln_error_t *err)
{
	struct virtio_fs *f = NULL;
	int r = virtio_fs_create(env->m, &env->cfg->fs[i], fd, &f, err);

	*dev = f;
	return r;
}

static void fs_kind_free(void *dev)
{
	virtio_fs_free(dev);
}

const struct vmm_device_kind virtio_fs_kind = {
    .name = "virtio-fs",
    .what = "fs",
    .count = fs_count,
    .id = fs_id,
    .prepare = fs_prepare,
    .create = fs_kind_create,
    .free = fs_kind_free,
};
