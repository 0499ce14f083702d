/* virtio-blk against temp image files, driven through the virtio-mmio
 * registers and a hand-built request queue like the Linux driver's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/virtio_guest.h"
#include "vmm/virtio/blk.h"

#define IMG_SECTORS 128ULL
#define HDR_BUF	    0  /* scratch buffer holding the request header */
#define DATA_BUF    1  /* data from here: buffers 1.. are contiguous */
#define STATUS_BUF  15 /* the status byte */
#define QSIZE	    8

#define FEATURES_MIN (1ULL << VIRTIO_F_VERSION_1)

struct fx {
	char *dir;
	char *img;
	struct machine m;
	struct virtio_blk *b;
	struct vg_queue g;
	uint64_t base;
};

/* Byte k of the test image: differs within and between sectors. */
static uint8_t img_byte(uint64_t k)
{
	return (uint8_t)(k * 7 + k / VIRTIO_BLK_SECTOR);
}

static char *img_make(const char *dir, const char *name, uint64_t sectors)
{
	char *path = xasprintf("%s/%s", dir, name);
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	uint8_t sector[VIRTIO_BLK_SECTOR];

	for (uint64_t s = 0; fd >= 0 && s < sectors; s++) {
		for (unsigned int k = 0; k < sizeof(sector); k++)
			sector[k] = img_byte(s * VIRTIO_BLK_SECTOR + k);
		if (write(fd, sector, sizeof(sector)) != (ssize_t)sizeof(sector))
			abort();
	}
	return path;
}

static void fx_free(struct fx **pf)
{
	struct fx *f = *pf;
	cleanup_closedir DIR *d = NULL;
	struct dirent *de;

	if (f == NULL)
		return;
	virtio_blk_free(f->b);
	vg_machine_release(&f->m);
	d = opendir(f->dir);
	while (d != NULL && (de = readdir(d)) != NULL) {
		cleanup_free char *p = xasprintf("%s/%s", f->dir, de->d_name);

		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			unlink(p);
	}
	rmdir(f->dir);
	free(f->dir);
	free(f->img);
	free(f);
}
#define cleanup_fx __attribute__((cleanup(fx_free)))

/* A machine and a temp dir holding disk.img (IMG_SECTORS sectors); no
 * device yet. */
static struct fx *fx_bare(void)
{
	struct fx *f = xzalloc(sizeof(*f));
	char tmpl[] = "/tmp/kiln-test-blk.XXXXXX";

	if (mkdtemp(tmpl) == NULL || vg_machine_init(&f->m) < 0)
		abort();
	f->dir = xstrdup(tmpl);
	f->img = img_make(f->dir, "disk.img", IMG_SECTORS);
	vg_queue_init(&f->g, &f->m.mem, QSIZE);
	return f;
}

/* fx_bare() plus a drive on disk.img, brought up by the driver. */
static struct fx *fx_new(const char *id, bool read_only, const char *cache_type)
{
	struct fx *f = fx_bare();
	struct drive_config cfg = {.drive_id = (char *)id,
				   .path_on_host = f->img,
				   .is_read_only = read_only,
				   .cache_type = (char *)cache_type};
	kiln_error_t err = NULL;

	if (virtio_blk_create(&f->m, &cfg, &f->b, &err) < 0) {
		tap_diag("%s", err->msg);
		abort();
	}
	f->base = f->b->mmio.slot.base;
	if (vg_bringup(&f->m, f->base, FEATURES_MIN, &f->g) !=
	    (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
	     VIRTIO_CONFIG_S_DRIVER_OK))
		abort();
	return f;
}

static void hdr_put(struct fx *f, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = {.type = htole32(type), .sector = htole64(sector)};

	memcpy(vg_buf(&f->g, HDR_BUF), &h, sizeof(h));
}

/* The usual three-descriptor request (header, data, status), published and
 * notified. data_len 0 leaves out the data descriptor. */
static void req_send(struct fx *f, uint32_t type, uint64_t sector, uint32_t data_len,
		     bool device_writes_data)
{
	uint16_t status_desc = data_len ? 2 : 1;

	hdr_put(f, type, sector);
	*(uint8_t *)vg_buf(&f->g, STATUS_BUF) = 0xff;
	vg_desc(&f->g, 0, vg_buf_gpa(HDR_BUF), sizeof(struct virtio_blk_outhdr), VRING_DESC_F_NEXT,
		1);
	if (data_len)
		vg_desc(&f->g, 1, vg_buf_gpa(DATA_BUF), data_len,
			VRING_DESC_F_NEXT | (device_writes_data ? VRING_DESC_F_WRITE : 0), 2);
	vg_desc(&f->g, status_desc, vg_buf_gpa(STATUS_BUF), 1, VRING_DESC_F_WRITE, 0);
	vg_avail_push(&f->g, 0);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static uint8_t req_status(struct fx *f)
{
	return *(uint8_t *)vg_buf(&f->g, STATUS_BUF);
}

/* The used length of the last completed request, or -1 if there is none
 * or more than one completed since `before`. */
static int64_t req_used_len(struct fx *f, uint16_t before)
{
	uint32_t id, len;

	if (vg_used_idx(&f->g) != (uint16_t)(before + 1))
		return -1;
	vg_used_elem(&f->g, before, &id, &len);
	return id == 0 ? (int64_t)len : -1;
}

static uint8_t *data(struct fx *f)
{
	return vg_buf(&f->g, DATA_BUF);
}

static bool data_matches_image(const uint8_t *p, uint64_t sector, size_t len)
{
	for (size_t k = 0; k < len; k++)
		if (p[k] != img_byte(sector * VIRTIO_BLK_SECTOR + k))
			return false;
	return true;
}

static uint64_t config_capacity(struct fx *f)
{
	uint32_t gen, lo, hi;

	/* §4.2.3.1 style: re-read until the generation is stable. */
	do {
		gen = vg_rd(&f->m, f->base, VIRTIO_MMIO_CONFIG_GENERATION);
		lo = vg_rd(&f->m, f->base, VIRTIO_MMIO_CONFIG + 0);
		hi = vg_rd(&f->m, f->base, VIRTIO_MMIO_CONFIG + 4);
	} while (gen != vg_rd(&f->m, f->base, VIRTIO_MMIO_CONFIG_GENERATION));
	return (uint64_t)hi << 32 | lo;
}

static int test_create_errors(void)
{
	cleanup_fx struct fx *f = fx_bare();
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *missing = xasprintf("%s/nope.img", f->dir);
	struct drive_config cfg = {.drive_id = "rootfs", .path_on_host = missing};
	struct virtio_blk *b = NULL;

	TAP_CHECK(virtio_blk_create(&f->m, &cfg, &b, &err) < 0 && b == NULL);
	tap_diag("%s", err->msg);
	TAP_CHECK(strstr(err->msg, "drive 'rootfs'") && strstr(err->msg, missing));
	TAP_CHECK(err->status == ENOENT);

	cfg.path_on_host = f->dir;
	cfg.is_read_only = true;
	TAP_CHECK(virtio_blk_create(&f->m, &cfg, &b, &err) < 0);
	tap_diag("%s", err->msg);
	TAP_CHECK(strstr(err->msg, "not a regular file or block device") &&
		  strstr(err->msg, f->dir));

	cfg.path_on_host = "/dev/null";
	TAP_CHECK(virtio_blk_create(&f->m, &cfg, &b, &err) < 0);
	TAP_CHECK(strstr(err->msg, "not a regular file or block device") != NULL);

	cfg.path_on_host = f->img;
	cfg.cache_type = "Sometimes";
	TAP_CHECK(virtio_blk_create(&f->m, &cfg, &b, &err) < 0);
	TAP_CHECK(strstr(err->msg, "cache_type 'Sometimes'") != NULL);
	cfg.cache_type = NULL;
	cfg.io_engine = "Magic";
	TAP_CHECK(virtio_blk_create(&f->m, &cfg, &b, &err) < 0);
	TAP_CHECK(strstr(err->msg, "io_engine 'Magic'") != NULL);

	/* Nothing was attached by the failures. */
	TAP_CHECK(f->m.nr_virtio == 0 && f->m.mmio.nr_ranges == 0);
	return TAP_PASS;
}

static int test_features_and_config(void)
{
	cleanup_fx struct fx *rw = fx_new("rw", false, NULL);
	cleanup_fx struct fx *ro = fx_new("ro", true, "Writeback");
	uint64_t f;

	TAP_CHECK(vg_rd(&rw->m, rw->base, VIRTIO_MMIO_DEVICE_ID) == VIRTIO_ID_BLOCK);
	f = vg_device_features(&rw->m, rw->base);
	TAP_CHECK(f & (1ULL << VIRTIO_BLK_F_SEG_MAX));
	TAP_CHECK(f & (1ULL << VIRTIO_F_VERSION_1));
	TAP_CHECK(!(f & (1ULL << VIRTIO_BLK_F_RO)) && !(f & (1ULL << VIRTIO_BLK_F_FLUSH)));
	f = vg_device_features(&ro->m, ro->base);
	TAP_CHECK((f & (1ULL << VIRTIO_BLK_F_RO)) && (f & (1ULL << VIRTIO_BLK_F_FLUSH)));

	TAP_CHECK(config_capacity(rw) == IMG_SECTORS);
	TAP_CHECK(vg_rd(&rw->m, rw->base, VIRTIO_MMIO_CONFIG + 12) == VIRTIO_BLK_QUEUE_SIZE - 2);
	TAP_CHECK(vg_rd(&rw->m, rw->base, VIRTIO_MMIO_QUEUE_NUM_MAX) == VIRTIO_BLK_QUEUE_SIZE);
	return TAP_PASS;
}

static int test_read(void)
{
	cleanup_fx struct fx *f = fx_new("rootfs", false, NULL);

	req_send(f, VIRTIO_BLK_T_IN, 3, 1024, true);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_OK);
	TAP_CHECK(data_matches_image(data(f), 3, 1024));
	TAP_CHECK(req_used_len(f, 0) == 1025);
	TAP_CHECK(vg_irq_count(f->b->mmio.irq.fd) == 1);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_INTERRUPT_STATUS) == VIRTIO_MMIO_INT_VRING);
	/* The last sector. */
	req_send(f, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, 512, true);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_OK);
	TAP_CHECK(data_matches_image(data(f), IMG_SECTORS - 1, 512));
	return TAP_PASS;
}

static int test_write(void)
{
	cleanup_fx struct fx *f = fx_new("rootfs", false, NULL);
	cleanup_close int fd = open(f->img, O_RDONLY | O_CLOEXEC);
	uint8_t back[1024];

	for (unsigned int k = 0; k < sizeof(back); k++)
		data(f)[k] = (uint8_t)(0xa5 ^ k);
	req_send(f, VIRTIO_BLK_T_OUT, 5, 1024, false);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_OK);
	TAP_CHECK(req_used_len(f, 0) == 1);
	TAP_CHECK(pread(fd, back, sizeof(back), 5L * 512) == (ssize_t)sizeof(back));
	TAP_CHECK(memcmp(back, data(f), sizeof(back)) == 0);
	/* Neighbours untouched. */
	TAP_CHECK(pread(fd, back, 512, 4L * 512) == 512 && data_matches_image(back, 4, 512));
	TAP_CHECK(pread(fd, back, 512, 7L * 512) == 512 && data_matches_image(back, 7, 512));
	/* And it reads back through the device. */
	memset(data(f), 0, 1024);
	req_send(f, VIRTIO_BLK_T_IN, 5, 1024, true);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_OK && data(f)[3] == (0xa5 ^ 3));
	return TAP_PASS;
}

static int test_flush(void)
{
	cleanup_fx struct fx *f = fx_new("rootfs", false, "Writeback");

	req_send(f, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_OK);
	TAP_CHECK(req_used_len(f, 0) == 1);
	return TAP_PASS;
}

static int test_get_id(void)
{
	cleanup_fx struct fx *f = fx_new("rootfs", false, NULL);
	cleanup_fx struct fx *l = fx_new("a-drive-id-longer-than-20", false, NULL);

	memset(data(f), 0xee, 32);
	req_send(f, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES, true);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_OK);
	TAP_CHECK(memcmp(data(f), "rootfs\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20) == 0);
	TAP_CHECK(data(f)[20] == 0xee);
	TAP_CHECK(req_used_len(f, 0) == VIRTIO_BLK_ID_BYTES + 1);

	memset(data(l), 0xee, 32);
	req_send(l, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES, true);
	TAP_CHECK(req_status(l) == VIRTIO_BLK_S_OK);
	/* 20 bytes exactly: not NUL-terminated (§5.2.6). */
	TAP_CHECK(memcmp(data(l), "a-drive-id-longer-th", 20) == 0 && data(l)[20] == 0xee);
	return TAP_PASS;
}

static int test_read_only_refuses_writes(void)
{
	cleanup_fx struct fx *f = fx_new("ro", true, NULL);
	cleanup_close int fd = open(f->img, O_RDONLY | O_CLOEXEC);
	uint8_t back[512];

	memset(data(f), 0x11, 512);
	req_send(f, VIRTIO_BLK_T_OUT, 0, 512, false);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_IOERR);
	TAP_CHECK(pread(fd, back, 512, 0) == 512 && data_matches_image(back, 0, 512));
	req_send(f, VIRTIO_BLK_T_IN, 0, 512, true);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_OK && data_matches_image(data(f), 0, 512));
	/* Read-only drives are opened read-only. */
	TAP_CHECK((fcntl(f->b->fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
	return TAP_PASS;
}

static int test_out_of_range(void)
{
	cleanup_fx struct fx *f = fx_new("rootfs", false, NULL);
	struct stat st;

	req_send(f, VIRTIO_BLK_T_IN, IMG_SECTORS, 512, true);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_IOERR);
	req_send(f, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, 1024, true);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_IOERR);
	req_send(f, VIRTIO_BLK_T_IN, UINT64_MAX, 512, true);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_IOERR);
	req_send(f, VIRTIO_BLK_T_IN, UINT64_MAX / 512 + 1, 512, true); /* byte offset wraps */
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_IOERR);
	req_send(f, VIRTIO_BLK_T_OUT, IMG_SECTORS, 512, false);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_IOERR);
	TAP_CHECK(stat(f->img, &st) == 0 && st.st_size == (off_t)IMG_SECTORS * 512);
	/* Not a whole number of sectors. */
	req_send(f, VIRTIO_BLK_T_IN, 0, 100, true);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_IOERR);
	/* The device is still healthy after all that. */
	TAP_CHECK(!(vg_rd(&f->m, f->base, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
	TAP_CHECK(vg_used_idx(&f->g) == 6);
	return TAP_PASS;
}

static int test_unsupported(void)
{
	cleanup_fx struct fx *f = fx_new("rootfs", false, NULL);

	req_send(f, VIRTIO_BLK_T_DISCARD, 0, 16, false);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_UNSUPP);
	req_send(f, 0xdead, 0, 0, false);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_UNSUPP);
	TAP_CHECK(req_used_len(f, 1) == 1);
	return TAP_PASS;
}

static int test_malformed_header(void)
{
	cleanup_fx struct fx *f = fx_new("rootfs", false, NULL);

	hdr_put(f, VIRTIO_BLK_T_IN, 0);
	vg_desc(&f->g, 0, vg_buf_gpa(HDR_BUF), 8, VRING_DESC_F_NEXT, 1);
	vg_desc(&f->g, 1, vg_buf_gpa(STATUS_BUF), 1, VRING_DESC_F_WRITE, 0);
	vg_avail_push(&f->g, 0);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_INTERRUPT_STATUS) == VIRTIO_MMIO_INT_CONFIG);
	TAP_CHECK(vg_irq_count(f->b->mmio.irq.fd) == 1);
	TAP_CHECK(vg_used_idx(&f->g) == 0);
	return TAP_PASS;
}

static int test_missing_status(void)
{
	cleanup_fx struct fx *f = fx_new("rootfs", false, NULL);

	hdr_put(f, VIRTIO_BLK_T_OUT, 0);
	vg_desc(&f->g, 0, vg_buf_gpa(HDR_BUF), 16, VRING_DESC_F_NEXT, 1);
	vg_desc(&f->g, 1, vg_buf_gpa(DATA_BUF), 512, 0, 0);
	vg_avail_push(&f->g, 0);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	TAP_CHECK(vg_used_idx(&f->g) == 0);
	return TAP_PASS;
}

static int test_bad_buffer_address(void)
{
	cleanup_fx struct fx *f = fx_new("rootfs", false, NULL);

	hdr_put(f, VIRTIO_BLK_T_IN, 0);
	vg_desc(&f->g, 0, vg_buf_gpa(HDR_BUF), 16, VRING_DESC_F_NEXT, 1);
	vg_desc(&f->g, 1, VG_RAM_SIZE - 256, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	vg_desc(&f->g, 2, vg_buf_gpa(STATUS_BUF), 1, VRING_DESC_F_WRITE, 0);
	vg_avail_push(&f->g, 0);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	TAP_CHECK(vg_used_idx(&f->g) == 0);
	return TAP_PASS;
}

/* §2.6.4: the device must not depend on how the driver splits a request
 * into descriptors: a header in two pieces, data and status sharing one. */
static int test_odd_framing(void)
{
	cleanup_fx struct fx *f = fx_new("rootfs", false, NULL);
	uint8_t *p = data(f);

	hdr_put(f, VIRTIO_BLK_T_IN, 9);
	vg_desc(&f->g, 0, vg_buf_gpa(HDR_BUF), 10, VRING_DESC_F_NEXT, 1);
	vg_desc(&f->g, 1, vg_buf_gpa(HDR_BUF) + 10, 6, VRING_DESC_F_NEXT, 2);
	vg_desc(&f->g, 2, vg_buf_gpa(DATA_BUF), 300, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
	vg_desc(&f->g, 3, vg_buf_gpa(DATA_BUF) + 300, 213, VRING_DESC_F_WRITE, 0);
	p[512] = 0xff;
	vg_avail_push(&f->g, 0);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(p[512] == VIRTIO_BLK_S_OK);
	TAP_CHECK(data_matches_image(p, 9, 512));
	TAP_CHECK(req_used_len(f, 0) == 513);
	return TAP_PASS;
}

static int test_scatter_gather_indirect(void)
{
	cleanup_fx struct fx *f = fx_new("rootfs", false, NULL);
	uint64_t table = VG_INDIR_GPA;

	/* Re-negotiate with indirect descriptors. */
	vg_queue_init(&f->g, &f->m.mem, QSIZE);
	vg_bringup(&f->m, f->base, FEATURES_MIN | (1ULL << VIRTIO_RING_F_INDIRECT_DESC), &f->g);
	hdr_put(f, VIRTIO_BLK_T_IN, 10);
	vg_desc_at(&f->m.mem, table, 0, vg_buf_gpa(HDR_BUF), 16, VRING_DESC_F_NEXT, 1);
	/* Six 512-byte segments, in reverse order in memory. */
	for (uint16_t s = 0; s < 6; s++)
		vg_desc_at(&f->m.mem, table, 1 + s, vg_buf_gpa(DATA_BUF + 5 - s), 512,
			   VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2 + s);
	vg_desc_at(&f->m.mem, table, 7, vg_buf_gpa(STATUS_BUF), 1, VRING_DESC_F_WRITE, 0);
	vg_desc(&f->g, 0, table, 8 * 16, VRING_DESC_F_INDIRECT, 0);
	vg_avail_push(&f->g, 0);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_OK);
	for (unsigned int s = 0; s < 6; s++)
		TAP_CHECK(data_matches_image(vg_buf(&f->g, DATA_BUF + 5 - s), 10 + s, 512));
	TAP_CHECK(req_used_len(f, 0) == 6 * 512 + 1);
	return TAP_PASS;
}

static int test_batch_one_interrupt(void)
{
	cleanup_fx struct fx *f = fx_new("rootfs", false, NULL);

	/* Three requests published before one notification. */
	hdr_put(f, VIRTIO_BLK_T_FLUSH, 0);
	for (uint16_t r = 0; r < 3; r++) {
		vg_desc(&f->g, 2 * r, vg_buf_gpa(HDR_BUF), 16, VRING_DESC_F_NEXT, 2 * r + 1);
		vg_desc(&f->g, 2 * r + 1, vg_buf_gpa(STATUS_BUF), 1, VRING_DESC_F_WRITE, 0);
		vg_avail_push(&f->g, 2 * r);
	}
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(vg_used_idx(&f->g) == 3);
	TAP_CHECK(vg_irq_count(f->b->mmio.irq.fd) == 1);
	return TAP_PASS;
}

static int test_update(void)
{
	cleanup_fx struct fx *f = fx_new("rootfs", false, NULL);
	cleanup_free char *bigger = img_make(f->dir, "bigger.img", 4 * IMG_SECTORS);
	cleanup_free char *missing = xasprintf("%s/gone.img", f->dir);
	cleanup_error kiln_error_t err = NULL;
	uint32_t gen = vg_rd(&f->m, f->base, VIRTIO_MMIO_CONFIG_GENERATION);
	int irq = f->b->mmio.irq.fd;

	TAP_CHECK(virtio_blk_update(f->b, bigger, &err) == 0);
	TAP_CHECK(config_capacity(f) == 4 * IMG_SECTORS);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_CONFIG_GENERATION) == gen + 1);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_INTERRUPT_STATUS) == VIRTIO_MMIO_INT_CONFIG);
	TAP_CHECK(vg_irq_count(irq) == 1);
	TAP_CHECK_STR(f->b->path, bigger);
	/* Requests now go to the new file, including past the old end. */
	req_send(f, VIRTIO_BLK_T_IN, 3 * IMG_SECTORS, 512, true);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_OK);
	TAP_CHECK(data_matches_image(data(f), 3 * IMG_SECTORS, 512));

	/* A failed update keeps the old file and says what is wrong. */
	TAP_CHECK(virtio_blk_update(f->b, missing, &err) < 0);
	tap_diag("%s", err->msg);
	TAP_CHECK(strstr(err->msg, "drive 'rootfs'") && strstr(err->msg, missing));
	TAP_CHECK(config_capacity(f) == 4 * IMG_SECTORS);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_CONFIG_GENERATION) == gen + 1);
	TAP_CHECK_STR(f->b->path, bigger);
	return TAP_PASS;
}

static int test_multiple_drives(void)
{
	cleanup_fx struct fx *f = fx_new("rootfs", false, NULL);
	cleanup_free char *other = img_make(f->dir, "other.img", 8);
	struct drive_config cfg = {.drive_id = "scratch", .path_on_host = other};
	cleanup_error kiln_error_t err = NULL;
	struct virtio_blk *b2 = NULL;
	struct vg_queue g2;
	uint64_t base2;
	int ok;

	TAP_CHECK(virtio_blk_create(&f->m, &cfg, &b2, &err) == 0);
	base2 = b2->mmio.slot.base;
	/* Its rings sit 0x40000 above the first drive's. */
	vg_queue_init(&g2, &f->m.mem, QSIZE);
	g2.desc += 0x40000;
	g2.avail += 0x40000;
	g2.used += 0x40000;
	vg_bringup(&f->m, base2, FEATURES_MIN, &g2);
	hdr_put(f, VIRTIO_BLK_T_GET_ID, 0);
	vg_desc(&g2, 0, vg_buf_gpa(HDR_BUF), 16, VRING_DESC_F_NEXT, 1);
	vg_desc(&g2, 1, vg_buf_gpa(DATA_BUF), 20, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	vg_desc(&g2, 2, vg_buf_gpa(STATUS_BUF), 1, VRING_DESC_F_WRITE, 0);
	vg_avail_push(&g2, 0);
	vg_wr(&f->m, base2, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ok = base2 != f->base && b2->mmio.slot.gsi != f->b->mmio.slot.gsi &&
	     vg_used_idx(&g2) == 1 && vg_used_idx(&f->g) == 0 &&
	     memcmp(data(f), "scratch", 8) == 0 && req_status(f) == VIRTIO_BLK_S_OK;
	virtio_blk_free(b2);
	TAP_CHECK(ok);
	return TAP_PASS;
}

static int test_reset_then_reuse(void)
{
	cleanup_fx struct fx *f = fx_new("rootfs", false, NULL);

	hdr_put(f, VIRTIO_BLK_T_IN, 0);
	vg_desc(&f->g, 0, vg_buf_gpa(HDR_BUF), 4, 0, 0);
	vg_avail_push(&f->g, 0);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	vg_queue_init(&f->g, &f->m.mem, QSIZE);
	vg_bringup(&f->m, f->base, FEATURES_MIN, &f->g);
	TAP_CHECK(!(vg_rd(&f->m, f->base, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
	req_send(f, VIRTIO_BLK_T_IN, 1, 512, true);
	TAP_CHECK(req_status(f) == VIRTIO_BLK_S_OK && data_matches_image(data(f), 1, 512));
	return TAP_PASS;
}

static int test_free_null(void)
{
	virtio_blk_free(NULL);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_create_errors), TAP_TEST(test_features_and_config), TAP_TEST(test_read),
	 TAP_TEST(test_write), TAP_TEST(test_flush), TAP_TEST(test_get_id),
	 TAP_TEST(test_read_only_refuses_writes), TAP_TEST(test_out_of_range),
	 TAP_TEST(test_unsupported), TAP_TEST(test_malformed_header), TAP_TEST(test_missing_status),
	 TAP_TEST(test_bad_buffer_address), TAP_TEST(test_odd_framing),
	 TAP_TEST(test_scatter_gather_indirect), TAP_TEST(test_batch_one_interrupt),
	 TAP_TEST(test_update), TAP_TEST(test_multiple_drives), TAP_TEST(test_reset_then_reuse),
	 TAP_TEST(test_free_null))
