#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/virtio_ids.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/virtio/blk.h"

/* §5.2.6: the request header the driver puts in front of every request. */
struct blk_req_header {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* Opens and sizes a backing file. A FIFO would block open(), so the open
 * is non-blocking and blocking mode returns once the type is known. */
static int backing_open(const char *drive_id, const char *path, bool read_only, int *fd_out,
			uint64_t *sectors, kiln_error_t *err)
{
	cleanup_close int fd = -1;
	struct stat st;
	uint64_t bytes;

	fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return kiln_error_make(err, errno, "drive '%s': cannot open '%s'", drive_id, path);
	if (fstat(fd, &st) < 0)
		return kiln_error_make(err, errno, "drive '%s': stat '%s'", drive_id, path);
	if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
			return kiln_error_make(err, errno, "drive '%s': size of '%s'", drive_id,
					       path);
	} else {
		return kiln_error_make(err, 0,
				       "drive '%s': '%s' is not a regular file or block device",
				       drive_id, path);
	}
	if (kiln_set_nonblock(fd, false) < 0)
		return kiln_error_make(err, errno, "drive '%s': '%s'", drive_id, path);
	if (bytes % VIRTIO_BLK_SECTOR != 0)
		log_warning(
		    "drive '%s': '%s' is not a multiple of %d bytes; the guest does not see "
		    "its last %llu bytes",
		    drive_id, path, VIRTIO_BLK_SECTOR,
		    (unsigned long long)(bytes % VIRTIO_BLK_SECTOR));
	*sectors = bytes / VIRTIO_BLK_SECTOR;
	*fd_out = TAKE_FD(fd);
	return 0;
}

static void config_fill(struct virtio_blk *b)
{
	memset(&b->config, 0, sizeof(b->config));
	b->config.capacity = htole64(b->capacity);
	/* Two descriptors of every request are header and status (Linux's
	 * virtio_blk and QEMU size it the same way). */
	b->config.seg_max = htole32(VIRTIO_BLK_QUEUE_SIZE - 2);
}

static uint64_t blk_features(void *dev)
{
	struct virtio_blk *b = dev;
	uint64_t f = 1ULL << VIRTIO_BLK_F_SEG_MAX;

	if (b->read_only)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	if (b->writeback)
		f |= 1ULL << VIRTIO_BLK_F_FLUSH;
	return f;
}

static void blk_config_read(void *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_blk *b = dev;

	memcpy(data, (const uint8_t *)&b->config + offset, len);
}

/* Runs the whole transfer, resuming after short reads and writes. Reading
 * past the end of the file (it shrank behind our back) is an I/O error. */
static int blk_io(int fd, struct iovec *iov, unsigned int n, off_t off, bool write)
{
	while (n > 0) {
		ssize_t r = write ? pwritev(fd, iov, (int)n, off) : preadv(fd, iov, (int)n, off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		off += r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* §5.2.6.1: data length a multiple of the sector size, inside the disk. */
static bool blk_range_ok(const struct virtio_blk *b, uint64_t sector, size_t len)
{
	uint64_t nsect = len / VIRTIO_BLK_SECTOR;

	return len % VIRTIO_BLK_SECTOR == 0 && sector <= b->capacity &&
	       nsect <= b->capacity - sector;
}

/* VIRTIO_BLK_T_IN / _OUT. Returns a status byte; *written counts bytes put
 * into the guest's buffers. */
static uint8_t blk_rw(struct virtio_blk *b, const struct virtq_chain *c, uint64_t sector,
		      bool write, size_t *written)
{
	size_t len = write ? c->readable_len - sizeof(struct blk_req_header) : c->writable_len - 1;
	unsigned int n;

	if (write && b->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (!blk_range_ok(b, sector, len))
		return VIRTIO_BLK_S_IOERR;
	n = write ? virtq_chain_iov(c, false, sizeof(struct blk_req_header), len, b->iov)
		  : virtq_chain_iov(c, true, 0, len, b->iov);
	if (blk_io(b->fd, b->iov, n, (off_t)(sector * VIRTIO_BLK_SECTOR), write) < 0)
		return VIRTIO_BLK_S_IOERR;
	if (!write)
		*written = len;
	return VIRTIO_BLK_S_OK;
}

/* VIRTIO_BLK_T_GET_ID: §5.2.6 "20 bytes, NUL-padded; not NUL-terminated
 * when it is 20 bytes long". */
static uint8_t blk_get_id(struct virtio_blk *b, const struct virtq_chain *c, size_t *written)
{
	char id[VIRTIO_BLK_ID_BYTES] = {0};
	size_t n = strlen(b->drive_id);

	memcpy(id, b->drive_id, n < sizeof(id) ? n : sizeof(id));
	n = c->writable_len - 1;
	*written = virtq_chain_write(c, 0, id, n < sizeof(id) ? n : sizeof(id));
	return VIRTIO_BLK_S_OK;
}

/* Serves one request. Returns 0 with *used_len set, or -EINVAL for a
 * request that has no room for its header or status (§5.2.6: the device
 * cannot even report the error, so the device itself fails). */
static int blk_request_serve(struct virtio_blk *b, const struct virtq_chain *c, uint32_t *used_len)
{
	struct blk_req_header h;
	size_t written = 0;
	uint8_t status;

	if (c->readable_len < sizeof(h)) {
		virtio_mmio_device_error(&b->mmio, "request %u: header shorter than %zu bytes",
					 c->head, sizeof(h));
		return -EINVAL;
	}
	if (c->writable_len < 1) {
		virtio_mmio_device_error(&b->mmio, "request %u: no status byte", c->head);
		return -EINVAL;
	}
	virtq_chain_read(c, 0, &h, sizeof(h));
	switch (le32toh(h.type)) {
	case VIRTIO_BLK_T_IN:
		status = blk_rw(b, c, le64toh(h.sector), false, &written);
		break;
	case VIRTIO_BLK_T_OUT:
		status = blk_rw(b, c, le64toh(h.sector), true, &written);
		break;
	case VIRTIO_BLK_T_FLUSH:
		/* Also honoured when FLUSH was not offered (cache "Unsafe"): a
		 * driver that asks for durability gets it. */
		status = fdatasync(b->fd) < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_GET_ID:
		status = blk_get_id(b, c, &written);
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	/* §5.2.6: the status is the last byte the driver made writable. */
	virtq_chain_write(c, c->writable_len - 1, &status, 1);
	written += 1;
	*used_len = written > UINT32_MAX ? UINT32_MAX : (uint32_t)written;
	return 0;
}

static int blk_queue_notify(void *dev, unsigned int queue)
{
	struct virtio_blk *b = dev;
	struct virtq *q = &b->mmio.queues[queue].vq;
	bool used = false;
	int rc;

	while ((rc = virtq_pop(q, &b->chain)) > 0) {
		uint32_t len;

		rc = blk_request_serve(b, &b->chain, &len);
		if (rc < 0)
			break;
		virtq_push(q, b->chain.head, len);
		used = true;
	}
	if (used)
		virtio_mmio_signal_used(&b->mmio, queue);
	return rc;
}

static const struct virtio_dev_ops blk_ops = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .nr_queues = 1,
    .queue_size_max = VIRTIO_BLK_QUEUE_SIZE,
    .config_size = sizeof(struct virtio_blk_config),
    .features = blk_features,
    .config_read = blk_config_read,
    .queue_notify = blk_queue_notify,
    /* Requests complete synchronously: nothing is in flight at reset. */
    .reset = NULL,
};

/* Firecracker's cache_type and io_engine values. */
static int blk_options_parse(const struct drive_config *cfg, const char *id, bool *writeback,
			     kiln_error_t *err)
{
	if (cfg->cache_type == NULL || streq(cfg->cache_type, "Unsafe"))
		*writeback = false;
	else if (streq(cfg->cache_type, "Writeback"))
		*writeback = true;
	else
		return kiln_error_make(
		    err, 0, "drive '%s': cache_type '%s' is not \"Unsafe\" or \"Writeback\"", id,
		    cfg->cache_type);
	if (cfg->io_engine == NULL || streq(cfg->io_engine, "Sync"))
		return 0;
	if (streq(cfg->io_engine, "Async")) {
		log_warning("drive '%s': io_engine \"Async\" is served synchronously", id);
		return 0;
	}
	return kiln_error_make(err, 0, "drive '%s': io_engine '%s' is not \"Sync\" or \"Async\"",
			       id, cfg->io_engine);
}

int virtio_blk_create(struct machine *m, const struct drive_config *cfg, struct virtio_blk **out,
		      kiln_error_t *err)
{
	const char *id = cfg->drive_id ? cfg->drive_id : "";
	struct virtio_blk *b;
	bool writeback = false;

	if (cfg->path_on_host == NULL)
		return kiln_error_make(err, 0, "drive '%s': no path_on_host", id);
	if (blk_options_parse(cfg, id, &writeback, err) < 0)
		return -1;
	b = xzalloc(sizeof(*b));
	b->fd = -1;
	b->drive_id = xstrdup(id);
	b->path = xstrdup(cfg->path_on_host);
	b->read_only = cfg->is_read_only;
	b->writeback = writeback;
	if (backing_open(b->drive_id, b->path, b->read_only, &b->fd, &b->capacity, err) < 0)
		goto fail;
	config_fill(b);
	if (virtio_mmio_init(&b->mmio, m, &blk_ops, b, err) < 0) {
		kiln_error_wrap(err, "drive '%s'", id);
		goto fail;
	}
	b->mmio.label = b->drive_id;
	*out = b;
	return 0;
fail:
	virtio_blk_free(b);
	return -1;
}

int virtio_blk_update(struct virtio_blk *b, const char *path, kiln_error_t *err)
{
	uint64_t capacity = 0;
	int fd = -1;

	if (backing_open(b->drive_id, path, b->read_only, &fd, &capacity, err) < 0)
		return -1;
	pthread_mutex_lock(&b->mmio.lock);
	close(b->fd);
	b->fd = fd;
	free(b->path);
	b->path = xstrdup(path);
	b->capacity = capacity;
	config_fill(b);
	virtio_mmio_config_changed(&b->mmio);
	pthread_mutex_unlock(&b->mmio.lock);
	return 0;
}

void virtio_blk_free(struct virtio_blk *b)
{
	if (b == NULL)
		return;
	virtio_mmio_release(&b->mmio);
	if (b->fd >= 0)
		close(b->fd);
	free(b->drive_id);
	free(b->path);
	free(b);
}

/* ---- the device kind: one per drive ---- */

static unsigned int blk_count(const struct vmm_config *cfg)
{
	return cfg->nr_drives;
}

static const char *blk_id(const struct vmm_config *cfg, unsigned int i)
{
	return cfg->drives[i].drive_id;
}

static int blk_kind_create(const struct vmm_device_env *env, unsigned int i, int fd, void **dev,
			   kiln_error_t *err)
{
	struct virtio_blk *b = NULL;
	int r;

	(void)fd;
	r = virtio_blk_create(env->m, &env->cfg->drives[i], &b, err);
	*dev = b;
	return r;
}

static void blk_kind_free(void *dev)
{
	virtio_blk_free(dev);
}

static int blk_kind_update(void *dev, const char *path, kiln_error_t *err)
{
	return virtio_blk_update(dev, path, err);
}

const struct vmm_device_kind virtio_blk_kind = {
    .name = "virtio-blk",
    .what = "drive",
    .count = blk_count,
    .id = blk_id,
    .create = blk_kind_create,
    .free = blk_kind_free,
    .update = blk_kind_update,
};
