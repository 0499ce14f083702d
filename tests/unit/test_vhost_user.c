/* The virtio-fs device and its vhost-user front end: the "fs" config
 * section, the messages (and fds) a back end receives, checked by a fake
 * back end on a socketpair, and the takeover after the back end's death
 * that fails requests with EIO on a fake ring. */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "tests/unit/machine_fixture.h"
#include "tests/unit/tap.h"
#include "tests/unit/virtio_guest.h"
#include "vmm/config.h"
#include "vmm/vhost_user.h"
#include "vmm/virtio/fs.h"

/* ---- the config section ---- */

static int set_fs(struct vmm_config *c, const char *body, const char *path_id, char **msg)
{
	cleanup_json kiln_json_t *doc = NULL;
	cleanup_error kiln_error_t err = NULL;
	int r;

	if (kiln_json_parse(body, strlen(body), &doc, NULL) < 0)
		abort();
	r = vmm_config_set_fs(c, doc, path_id, &err);
	if (msg)
		*msg = r < 0 ? xstrdup(err->msg) : NULL;
	return r;
}

/* body is refused with a message that contains want. */
static int refused(struct vmm_config *c, const char *body, const char *path_id, const char *want)
{
	cleanup_free char *msg = NULL;

	if (set_fs(c, body, path_id, &msg) == 0) {
		tap_diag("accepted: %s", body);
		return 0;
	}
	if (msg == NULL || strstr(msg, want) == NULL) {
		tap_diag("%s: message \"%s\" lacks \"%s\"", body, msg, want);
		return 0;
	}
	return 1;
}

static int test_config_good(void)
{
	struct vmm_config c;
	cleanup_free char *json = NULL;
	cleanup_free char *json2 = NULL;
	cleanup_error kiln_error_t err = NULL;
	struct vmm_config c2;

	vmm_config_init(&c);
	TAP_CHECK(set_fs(&c,
			 "{\"fs_id\": \"kiln\", \"tag\": \"kiln\", \"socket_path\": \"fs.sock\"}",
			 "kiln", NULL) == 0);
	TAP_CHECK(c.nr_fs == 1);
	TAP_CHECK(c.fs[0].num_request_queues == 1);
	TAP_CHECK(c.fs[0].queue_size == 1024);
	TAP_CHECK(vmm_config_virtio_count(&c) == 1);
	/* A 36-byte tag (no room for a NUL in the device config) is fine. */
	TAP_CHECK(
	    set_fs(&c,
		   "{\"fs_id\": \"vol_2\", \"tag\": \"abcdefghijabcdefghijabcdefghijabcdef\", "
		   "\"socket_path\": \"/run/x/fs2.sock\", \"num_request_queues\": 7, "
		   "\"queue_size\": 256}",
		   NULL, NULL) == 0);
	TAP_CHECK(c.nr_fs == 2 && c.fs[1].num_request_queues == 7 && c.fs[1].queue_size == 256);
	/* PUT again replaces. */
	TAP_CHECK(set_fs(&c,
			 "{\"fs_id\": \"kiln\", \"tag\": \"other\", \"socket_path\": \"b.sock\"}",
			 "kiln", NULL) == 0);
	TAP_CHECK(c.nr_fs == 2);
	TAP_CHECK_STR(vmm_config_fs(&c, "kiln")->socket_path, "b.sock");

	json = vmm_config_to_json(&c);
	TAP_CHECK(json != NULL);
	TAP_CHECK(strstr(json,
			 "\"fs\":[{\"fs_id\":\"kiln\",\"tag\":\"other\",\"socket_path\":"
			 "\"b.sock\",\"num_request_queues\":1,\"queue_size\":1024},") != NULL);
	/* GET /vm/config loads back as a --config-file. */
	vmm_config_init(&c2);
	TAP_CHECK(vmm_config_parse(&c2, json, strlen(json), &err) == 0);
	json2 = vmm_config_to_json(&c2);
	TAP_CHECK_STR(json2, json);
	vmm_config_release(&c2);
	vmm_config_release(&c);

	/* Always present, [] when there is none. */
	vmm_config_init(&c);
	free(json);
	json = vmm_config_to_json(&c);
	TAP_CHECK(strstr(json, "\"fs\":[]") != NULL);
	vmm_config_release(&c);
	return TAP_PASS;
}

static int test_config_bad(void)
{
	struct vmm_config c;
	char long_sock[200];
	char body[400];

	memset(long_sock, 'a', sizeof(long_sock) - 1);
	long_sock[sizeof(long_sock) - 1] = '\0';
	vmm_config_init(&c);
	TAP_CHECK(refused(&c, "{\"tag\": \"t\", \"socket_path\": \"s\"}", NULL,
			  "fs_id: missing required field"));
	TAP_CHECK(refused(&c, "{\"fs_id\": \"a-b\", \"tag\": \"t\", \"socket_path\": \"s\"}", NULL,
			  "fs_id: \"a-b\" is invalid"));
	TAP_CHECK(refused(&c, "{\"fs_id\": \"a\", \"tag\": \"t\", \"socket_path\": \"s\"}", "b",
			  "does not match the fs id \"b\" in the URL"));
	TAP_CHECK(refused(&c, "{\"fs_id\": \"a\", \"socket_path\": \"s\"}", NULL,
			  "tag: missing required field"));
	TAP_CHECK(refused(&c, "{\"fs_id\": \"a\", \"tag\": \"\", \"socket_path\": \"s\"}", NULL,
			  "tag: must not be empty"));
	TAP_CHECK(refused(&c,
			  "{\"fs_id\": \"a\", \"tag\": \"abcdefghijabcdefghijabcdefghijabcdefg\", "
			  "\"socket_path\": \"s\"}",
			  NULL, "longer than 36 bytes"));
	TAP_CHECK(
	    refused(&c, "{\"fs_id\": \"a\", \"tag\": 3, \"socket_path\": \"s\"}", NULL, "tag"));
	TAP_CHECK(refused(&c, "{\"fs_id\": \"a\", \"tag\": \"t\"}", NULL,
			  "socket_path: missing required field"));
	snprintf(body, sizeof(body), "{\"fs_id\": \"a\", \"tag\": \"t\", \"socket_path\": \"%s\"}",
		 long_sock);
	TAP_CHECK(refused(&c, body, NULL, "too long for a unix socket"));
	TAP_CHECK(refused(&c,
			  "{\"fs_id\": \"a\", \"tag\": \"t\", \"socket_path\": \"s\", "
			  "\"num_request_queues\": 0}",
			  NULL, "num_request_queues: 0 is out of range (1..7)"));
	TAP_CHECK(refused(&c,
			  "{\"fs_id\": \"a\", \"tag\": \"t\", \"socket_path\": \"s\", "
			  "\"num_request_queues\": 8}",
			  NULL, "num_request_queues: 8 is out of range"));
	TAP_CHECK(refused(&c,
			  "{\"fs_id\": \"a\", \"tag\": \"t\", \"socket_path\": \"s\", "
			  "\"queue_size\": 100}",
			  NULL, "queue_size: 100 is not a power of 2"));
	TAP_CHECK(refused(&c,
			  "{\"fs_id\": \"a\", \"tag\": \"t\", \"socket_path\": \"s\", "
			  "\"queue_size\": 2048}",
			  NULL, "queue_size: 2048"));
	TAP_CHECK(refused(&c,
			  "{\"fs_id\": \"a\", \"tag\": \"t\", \"socket_path\": \"s\", \"cache\": "
			  "\"none\"}",
			  NULL, "cache: unknown field"));
	TAP_CHECK(c.nr_fs == 0);
	/* Tags are unique: the guest mounts by tag. */
	TAP_CHECK(set_fs(&c, "{\"fs_id\": \"a\", \"tag\": \"t\", \"socket_path\": \"s\"}", NULL,
			 NULL) == 0);
	TAP_CHECK(refused(&c, "{\"fs_id\": \"b\", \"tag\": \"t\", \"socket_path\": \"s2\"}", NULL,
			  "tag: \"t\" is already used by fs \"a\""));
	TAP_CHECK(c.nr_fs == 1);
	vmm_config_release(&c);
	return TAP_PASS;
}

/* ---- a fake back end ---- */

#define FAKE_MAX_MSGS 64

struct fake_msg {
	uint32_t request, flags, size;
	uint8_t payload[VHOST_USER_MAX_PAYLOAD];
	int fds[VHOST_USER_MAX_FDS];
	unsigned int nr_fds;
};

struct fake {
	int fd;
	pthread_t thread;
	uint64_t features;
	uint64_t protocol_features;
	/* Hang up after this many messages (0: serve until EOF). */
	unsigned int die_after;
	struct fake_msg msgs[FAKE_MAX_MSGS];
	unsigned int nr;
};

static int fake_read(int fd, struct fake_msg *m)
{
	char ctl[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
	struct iovec iov = {.iov_base = m, .iov_len = VHOST_USER_HDR_SIZE};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
	ssize_t n = recvmsg(fd, &mh, MSG_WAITALL);

	if (n != VHOST_USER_HDR_SIZE)
		return -1;
	m->nr_fds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		m->nr_fds = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(m->fds, CMSG_DATA(c), m->nr_fds * sizeof(int));
	}
	if (m->size > sizeof(m->payload))
		return -1;
	if (m->size > 0 && recv(fd, m->payload, m->size, MSG_WAITALL) != (ssize_t)m->size)
		return -1;
	return 0;
}

static void fake_reply(int fd, const struct fake_msg *req, const void *payload, uint32_t len)
{
	uint8_t buf[VHOST_USER_HDR_SIZE + 8];
	uint32_t hdr[3] = {req->request, VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY, len};

	memcpy(buf, hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), payload, len);
	if (write(fd, buf, sizeof(hdr) + len) < 0)
		abort();
}

static void *fake_serve(void *arg)
{
	struct fake *f = arg;

	while (f->nr < FAKE_MAX_MSGS) {
		struct fake_msg *m = &f->msgs[f->nr];
		uint64_t v = 0;

		if (fake_read(f->fd, m) < 0)
			break;
		f->nr++;
		switch (m->request) {
		case VHOST_USER_GET_FEATURES:
			fake_reply(f->fd, m, &f->features, 8);
			break;
		case VHOST_USER_GET_PROTOCOL_FEATURES:
			fake_reply(f->fd, m, &f->protocol_features, 8);
			break;
		case VHOST_USER_GET_VRING_BASE: {
			uint32_t st[2];

			memcpy(st, m->payload, sizeof(st));
			st[1] = 7;
			fake_reply(f->fd, m, st, sizeof(st));
			break;
		}
		default:
			if (m->flags & VHOST_USER_FLAG_NEED_REPLY)
				fake_reply(f->fd, m, &v, 8);
			break;
		}
		if (f->die_after && f->nr == f->die_after)
			break;
	}
	shutdown(f->fd, SHUT_RDWR);
	return NULL;
}

/* Starts the fake; *front gets the VMM's end. */
static struct fake *fake_start(uint64_t features, uint64_t protocol_features,
			       unsigned int die_after, int *front)
{
	struct fake *f = xzalloc(sizeof(*f));
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	f->fd = sv[1];
	f->features = features;
	f->protocol_features = protocol_features;
	f->die_after = die_after;
	*front = sv[0];
	pthread_create(&f->thread, NULL, fake_serve, f);
	return f;
}

static void fake_join(struct fake *f)
{
	pthread_join(f->thread, NULL);
}

static void fake_free(struct fake *f)
{
	for (unsigned int i = 0; i < f->nr; i++)
		for (unsigned int j = 0; j < f->msgs[i].nr_fds; j++)
			close(f->msgs[i].fds[j]);
	close(f->fd);
	free(f);
}

static uint64_t payload_u64(const struct fake_msg *m)
{
	uint64_t v;

	memcpy(&v, m->payload, sizeof(v));
	return v;
}

static uint32_t payload_u32(const struct fake_msg *m, unsigned int i)
{
	uint32_t v;

	memcpy(&v, m->payload + (size_t)4 * i, sizeof(v));
	return v;
}

/* Whether two fds are the same open file (inode and device). */
static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
	       sa.st_dev == sb.st_dev;
}

#define FEAT_ALL                                                                                   \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |                        \
	 (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES) |        \
	 (1ULL << VIRTIO_F_NOTIFY_ON_EMPTY))

static int test_messages_and_fds(void)
{
	struct guest_mem mem;
	struct vhost_user vu;
	struct fake *fk;
	int front, kick, call;
	uint16_t base = 0;
	uint8_t desc[16], avail[16], used[16];
	cleanup_error kiln_error_t err = NULL;
	const struct fake_msg *m;

	TAP_CHECK(gmem_init_shared(&mem, 8 << 20, &err) == 0);
	TAP_CHECK(mem.fd >= 0);
	kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fk = fake_start(FEAT_ALL, 0xffffULL, 0, &front);

	TAP_CHECK(vhost_user_init(&vu, front, &err) == 0);
	TAP_CHECK(vu.features == FEAT_ALL);
	/* Of the protocol features, only REPLY_ACK is taken. */
	TAP_CHECK(vu.protocol_features == (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK));
	TAP_CHECK(vhost_user_set_mem_table(&vu, &mem, &err) == 0);
	TAP_CHECK(vhost_user_set_features(&vu, 1ULL << VIRTIO_F_VERSION_1, &err) == 0);
	{
		struct vhost_user_vring r = {.index = 1,
					     .num = 256,
					     .base = 0,
					     .desc = desc,
					     .avail = avail,
					     .used = used,
					     .kick_fd = kick,
					     .call_fd = call};

		TAP_CHECK(vhost_user_vring_start(&vu, &r, &err) == 0);
	}
	TAP_CHECK(vhost_user_vring_stop(&vu, 1, &base, &err) == 0);
	TAP_CHECK(base == 7);
	vhost_user_close(&vu);
	fake_join(fk);

	/* The sequence, as vhost-user.rst has the front end start a device. */
	{
		static const uint32_t want[] = {
		    VHOST_USER_SET_OWNER,
		    VHOST_USER_GET_FEATURES,
		    VHOST_USER_GET_PROTOCOL_FEATURES,
		    VHOST_USER_SET_PROTOCOL_FEATURES,
		    VHOST_USER_SET_MEM_TABLE,
		    VHOST_USER_SET_FEATURES,
		    VHOST_USER_SET_VRING_NUM,
		    VHOST_USER_SET_VRING_ADDR,
		    VHOST_USER_SET_VRING_BASE,
		    VHOST_USER_SET_VRING_KICK,
		    VHOST_USER_SET_VRING_CALL,
		    VHOST_USER_SET_VRING_ENABLE,
		    VHOST_USER_GET_VRING_BASE,
		};

		TAP_CHECK(fk->nr == ARRAY_SIZE(want));
		for (unsigned int i = 0; i < ARRAY_SIZE(want); i++) {
			if (fk->msgs[i].request != want[i]) {
				tap_diag("message %u is %u, want %u", i, fk->msgs[i].request,
					 want[i]);
				return TAP_FAIL;
			}
			TAP_CHECK((fk->msgs[i].flags & 3) == VHOST_USER_VERSION);
		}
	}
	/* Before REPLY_ACK was agreed no reply is asked for; after, always. */
	TAP_CHECK(!(fk->msgs[0].flags & VHOST_USER_FLAG_NEED_REPLY));
	TAP_CHECK(!(fk->msgs[3].flags & VHOST_USER_FLAG_NEED_REPLY));
	TAP_CHECK(payload_u64(&fk->msgs[3]) == (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK));
	for (unsigned int i = 4; i < 12; i++)
		TAP_CHECK(fk->msgs[i].flags & VHOST_USER_FLAG_NEED_REPLY);

	/* SET_MEM_TABLE: one region, our memfd, userspace_addr = our map. */
	m = &fk->msgs[4];
	TAP_CHECK(m->size == 8 + 32);
	TAP_CHECK(payload_u32(m, 0) == 1);
	TAP_CHECK(m->nr_fds == 1 && same_file(m->fds[0], mem.fd));
	{
		uint64_t r[4];

		memcpy(r, m->payload + 8, sizeof(r));
		TAP_CHECK(r[0] == 0 && r[1] == 8 << 20);
		TAP_CHECK(r[2] == (uintptr_t)mem.regions[0].host && r[3] == 0);
	}
	/* SET_FEATURES adds the protocol-features bit the back end offered. */
	TAP_CHECK(payload_u64(&fk->msgs[5]) ==
		  ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)));
	TAP_CHECK(payload_u32(&fk->msgs[6], 0) == 1 && payload_u32(&fk->msgs[6], 1) == 256);
	{
		uint64_t a[4];

		m = &fk->msgs[7];
		TAP_CHECK(m->size == 40 && payload_u32(m, 0) == 1);
		memcpy(a, m->payload + 8, sizeof(a));
		/* desc, used, avail, log: host addresses. */
		TAP_CHECK(a[0] == (uintptr_t)desc && a[1] == (uintptr_t)used &&
			  a[2] == (uintptr_t)avail && a[3] == 0);
	}
	TAP_CHECK(payload_u32(&fk->msgs[8], 1) == 0);
	/* KICK and CALL carry the index and the eventfds themselves: what the
	 * back end writes to its copy, we read from ours. */
	m = &fk->msgs[9];
	TAP_CHECK(payload_u64(m) == 1 && m->nr_fds == 1 && same_file(m->fds[0], kick));
	m = &fk->msgs[10];
	TAP_CHECK(payload_u64(m) == 1 && m->nr_fds == 1 && same_file(m->fds[0], call));
	TAP_CHECK(eventfd_write(m->fds[0], 1) == 0);
	TAP_CHECK(vg_irq_count(call) == 1);
	TAP_CHECK(payload_u32(&fk->msgs[11], 0) == 1 && payload_u32(&fk->msgs[11], 1) == 1);

	fake_free(fk);
	close(kick);
	close(call);
	gmem_release(&mem);
	return TAP_PASS;
}

static int test_refusals(void)
{
	struct vhost_user vu;
	struct fake *fk;
	int front;
	struct guest_mem mem;
	cleanup_error kiln_error_t err = NULL;

	/* Without protocol features: no GET_PROTOCOL_FEATURES, no acks, and
	 * a back end that hangs up fails the next call with a reason. */
	fk = fake_start(1ULL << VIRTIO_F_VERSION_1, 0, 2, &front);
	TAP_CHECK(vhost_user_init(&vu, front, &err) == 0);
	TAP_CHECK(vu.protocol_features == 0);
	fake_join(fk);
	TAP_CHECK(vhost_user_get_features(&vu, &vu.features, &err) < 0);
	TAP_CHECK(strstr(err->msg, "GET_FEATURES") != NULL);
	kiln_error_free(&err);
	vhost_user_close(&vu);
	TAP_CHECK(fk->nr == 2);
	fake_free(fk);

	/* Private memory cannot be shared. */
	TAP_CHECK(gmem_init(&mem, 1 << 20, &err) == 0);
	vu = (struct vhost_user){.fd = -1};
	TAP_CHECK(vhost_user_set_mem_table(&vu, &mem, &err) < 0);
	TAP_CHECK(strstr(err->msg, "not shareable") != NULL);
	gmem_release(&mem);

	/* A socket nobody listens on. */
	kiln_error_free(&err);
	TAP_CHECK(vhost_user_connect("/nonexistent/fs.sock", "fs 'x'", &front, &err) < 0);
	TAP_CHECK_STR(err->msg,
		      "fs 'x': cannot connect to vhost-user socket '/nonexistent/fs.sock': "
		      "No such file or directory");
	return TAP_PASS;
}

/* ---- the device: hand-over, death, takeover ---- */

#define FS_BASE MACHINE_VIRTIO_BASE

static uint32_t fs_config_u32(struct machine *m, uint32_t off)
{
	return vg_rd(m, FS_BASE, VIRTIO_MMIO_CONFIG + off);
}

/* One FUSE request: a 40-byte fuse_in_header (unique at 8) in buffer 0,
 * a 16-byte reply buffer (buffer 1) when with_reply. */
static void put_request(struct vg_queue *q, uint16_t head, uint64_t unique, bool with_reply)
{
	uint8_t in[40] = {0};
	uint64_t u = htole64(unique);

	memcpy(in + 8, &u, 8);
	memcpy(vg_buf(q, head), in, sizeof(in));
	memset(vg_buf(q, head + 1), 0xaa, 64);
	vg_desc(q, head, vg_buf_gpa(head), sizeof(in), with_reply ? VRING_DESC_F_NEXT : 0,
		head + 1);
	if (with_reply)
		vg_desc(q, head + 1, vg_buf_gpa(head + 1), 64, VRING_DESC_F_WRITE, 0);
	vg_avail_push(q, head);
}

static int test_device_takeover(void)
{
	struct machine m;
	struct fs_config cfg = {.fs_id = "kiln",
				.tag = "kiln",
				.socket_path = "fs.sock",
				.num_request_queues = 1,
				.queue_size = 16};
	struct virtio_fs *fs = NULL;
	struct vg_queue q;
	struct fake *fk;
	int front;
	uint32_t id, len;
	int32_t error;
	uint64_t unique;
	cleanup_error kiln_error_t err = NULL;

	TAP_CHECK(test_machine_init(&m, 0) == 0);
	TAP_CHECK(gmem_init_shared(&m.mem, VG_RAM_SIZE, &err) == 0);
	TAP_CHECK(evloop_init(&m.loop, &err) == 0);
	/* The fake hangs up after the hand-over: the 5 set-up messages, then
	 * SET_FEATURES and 6 per queue for the two queues. */
	fk = fake_start(FEAT_ALL, 1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK, 5 + 1 + 2 * 6, &front);
	if (virtio_fs_create(&m, &cfg, front, &fs, &err) < 0) {
		tap_diag("%s", err->msg);
		return TAP_FAIL;
	}

	/* What the guest sees: id 26, the tag, one request queue, and only
	 * the transport features the back end has. */
	TAP_CHECK(vg_rd(&m, FS_BASE, VIRTIO_MMIO_DEVICE_ID) == 26);
	memcpy(&id, "kiln", 4);
	TAP_CHECK(fs_config_u32(&m, 0) == le32toh(id));
	TAP_CHECK(fs_config_u32(&m, 36) == 1);
	TAP_CHECK(vg_device_features(&m, FS_BASE) ==
		  ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
		   (1ULL << VIRTIO_RING_F_INDIRECT_DESC)));
	TAP_CHECK(vg_rd(&m, FS_BASE, VIRTIO_MMIO_QUEUE_NUM_MAX) == 16);
	/* The back end raises the interrupt itself: the driver must look. */
	TAP_CHECK(vg_rd(&m, FS_BASE, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING);

	vg_queue_init(&q, &m.mem, 16);
	vg_negotiate(&m, FS_BASE, 1ULL << VIRTIO_F_VERSION_1);
	vg_queue_setup(&m, FS_BASE, 0, &q);
	{
		/* The request queue, in its own pages. */
		struct vg_queue q1 = q;

		q1.desc += 0x40000;
		q1.avail += 0x40000;
		q1.used += 0x40000;
		vg_queue_setup(&m, FS_BASE, 1, &q1);
	}
	vg_driver_ok(&m, FS_BASE);
	/* The vCPU only asked; the event loop talks to the back end. */
	TAP_CHECK(!fs->running);
	TAP_CHECK(evloop_run_once(&m.loop, -1) >= 1);
	TAP_CHECK(fs->running && fs->started == 3);
	fake_join(fk);
	TAP_CHECK(fk->nr == 5 + 1 + 12);
	TAP_CHECK(fk->msgs[4].request == VHOST_USER_SET_MEM_TABLE && fk->msgs[4].nr_fds == 1 &&
		  same_file(fk->msgs[4].fds[0], m.mem.fd));
	TAP_CHECK(fk->msgs[5].request == VHOST_USER_SET_FEATURES);
	TAP_CHECK(payload_u64(&fk->msgs[5]) ==
		  ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)));
	TAP_CHECK(fk->msgs[6].request == VHOST_USER_SET_VRING_NUM &&
		  payload_u32(&fk->msgs[6], 1) == 16);
	/* Without KVM there is no ioeventfd: "no fd" is said, not implied. */
	TAP_CHECK(fk->msgs[9].request == VHOST_USER_SET_VRING_KICK &&
		  payload_u64(&fk->msgs[9]) == VHOST_USER_VRING_NOFD && fk->msgs[9].nr_fds == 0);
	TAP_CHECK(fk->msgs[10].request == VHOST_USER_SET_VRING_CALL && fk->msgs[10].nr_fds == 1 &&
		  same_file(fk->msgs[10].fds[0], fs->mmio.irq.fd));

	/* A request the back end answered before it died (used idx 1), and
	 * one it took but never answered: both stay as they are. */
	put_request(&q, 0, 100, true);
	put_request(&q, 2, 101, true);
	vg_put16(&m.mem, q.used + 2, 1);

	/* The hang-up: one line, and the VMM has the queues. */
	TAP_CHECK(evloop_run_once(&m.loop, -1) >= 1);
	TAP_CHECK(fs->dead && fs->taken_over && !fs->running);
	TAP_CHECK(vg_used_idx(&q) == 1);

	/* New requests fail with EIO, unique copied; FORGET (no reply
	 * buffer) is completed with nothing written. */
	vg_irq_count(fs->mmio.irq.fd);
	put_request(&q, 4, 0x1122334455667788ULL, true);
	put_request(&q, 6, 7, false);
	vg_wr(&m, FS_BASE, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(vg_used_idx(&q) == 3);
	vg_used_elem(&q, 1, &id, &len);
	TAP_CHECK(id == 4 && len == 16);
	memcpy(&len, vg_buf(&q, 5), 4);
	memcpy(&error, (uint8_t *)vg_buf(&q, 5) + 4, 4);
	memcpy(&unique, (uint8_t *)vg_buf(&q, 5) + 8, 8);
	TAP_CHECK(le32toh(len) == 16 && (int32_t)le32toh((uint32_t)error) == -EIO);
	TAP_CHECK(le64toh(unique) == 0x1122334455667788ULL);
	vg_used_elem(&q, 2, &id, &len);
	TAP_CHECK(id == 6 && len == 0);
	TAP_CHECK(vg_irq_count(fs->mmio.irq.fd) >= 1);
	TAP_CHECK(fs->failed == 2);
	/* The request the back end had taken stays unanswered. */
	TAP_CHECK(*(uint8_t *)vg_buf(&q, 3) == 0xaa);

	/* A reset and a new driver session run on the VMM alone. */
	vg_wr(&m, FS_BASE, VIRTIO_MMIO_STATUS, 0);
	TAP_CHECK(evloop_run_once(&m.loop, -1) >= 1);
	vg_queue_init(&q, &m.mem, 16);
	vg_negotiate(&m, FS_BASE, 1ULL << VIRTIO_F_VERSION_1);
	vg_queue_setup(&m, FS_BASE, 0, &q);
	vg_driver_ok(&m, FS_BASE);
	TAP_CHECK(evloop_run_once(&m.loop, -1) >= 1);
	TAP_CHECK(fs->taken_over);
	put_request(&q, 0, 5, true);
	vg_wr(&m, FS_BASE, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(vg_used_idx(&q) == 1);

	virtio_fs_free(fs);
	fake_free(fk);
	evloop_release(&m.loop);
	test_machine_release(&m);
	return TAP_PASS;
}

/* A back end that is gone before the first DRIVER_OK: the device still
 * comes up, on the VMM's EIO answers. */
static int test_device_dead_before_driver(void)
{
	struct machine m;
	struct fs_config cfg = {.fs_id = "kiln",
				.tag = "kiln",
				.socket_path = "fs.sock",
				.num_request_queues = 1,
				.queue_size = 16};
	struct virtio_fs *fs = NULL;
	struct vg_queue q;
	struct fake *fk;
	int front;
	uint32_t id, len;
	cleanup_error kiln_error_t err = NULL;

	TAP_CHECK(test_machine_init(&m, 0) == 0);
	TAP_CHECK(gmem_init_shared(&m.mem, VG_RAM_SIZE, &err) == 0);
	TAP_CHECK(evloop_init(&m.loop, &err) == 0);
	fk = fake_start(FEAT_ALL, 0, 5, &front);
	TAP_CHECK(virtio_fs_create(&m, &cfg, front, &fs, &err) == 0);
	fake_join(fk);
	TAP_CHECK(evloop_run_once(&m.loop, -1) >= 1);
	TAP_CHECK(fs->dead);
	vg_queue_init(&q, &m.mem, 16);
	vg_negotiate(&m, FS_BASE, 1ULL << VIRTIO_F_VERSION_1);
	vg_queue_setup(&m, FS_BASE, 0, &q);
	vg_driver_ok(&m, FS_BASE);
	TAP_CHECK(evloop_run_once(&m.loop, -1) >= 1);
	TAP_CHECK(fs->taken_over);
	put_request(&q, 0, 9, true);
	vg_wr(&m, FS_BASE, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	vg_used_elem(&q, 0, &id, &len);
	TAP_CHECK(vg_used_idx(&q) == 1 && id == 0 && len == 16);
	virtio_fs_free(fs);
	fake_free(fk);
	evloop_release(&m.loop);
	test_machine_release(&m);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_config_good), TAP_TEST(test_config_bad), TAP_TEST(test_messages_and_fds),
	 TAP_TEST(test_refusals), TAP_TEST(test_device_takeover),
	 TAP_TEST(test_device_dead_before_driver))
