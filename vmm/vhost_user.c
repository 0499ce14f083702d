/* The vhost-user front end (vmm/vhost_user.h). */
#include "vmm/vhost_user.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"

struct vhost_user_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	uint8_t payload[VHOST_USER_MAX_PAYLOAD];
};

/* vhost-user.rst: VhostUserMemoryRegion and the memory table around it. */
struct vhost_user_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

/* struct vhost_vring_addr. */
struct vhost_user_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

_Static_assert(sizeof(struct vhost_user_region) == 32, "VhostUserMemoryRegion");
_Static_assert(sizeof(struct vhost_user_vring_addr) == 40, "vhost_vring_addr");

static const char *request_name(uint32_t r)
{
	switch (r) {
	case VHOST_USER_GET_FEATURES:
		return "GET_FEATURES";
	case VHOST_USER_SET_FEATURES:
		return "SET_FEATURES";
	case VHOST_USER_SET_OWNER:
		return "SET_OWNER";
	case VHOST_USER_SET_MEM_TABLE:
		return "SET_MEM_TABLE";
	case VHOST_USER_SET_VRING_NUM:
		return "SET_VRING_NUM";
	case VHOST_USER_SET_VRING_ADDR:
		return "SET_VRING_ADDR";
	case VHOST_USER_SET_VRING_BASE:
		return "SET_VRING_BASE";
	case VHOST_USER_GET_VRING_BASE:
		return "GET_VRING_BASE";
	case VHOST_USER_SET_VRING_KICK:
		return "SET_VRING_KICK";
	case VHOST_USER_SET_VRING_CALL:
		return "SET_VRING_CALL";
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		return "GET_PROTOCOL_FEATURES";
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		return "SET_PROTOCOL_FEATURES";
	case VHOST_USER_SET_VRING_ENABLE:
		return "SET_VRING_ENABLE";
	default:
		return "?";
	}
}

int vhost_user_connect(const char *path, const char *what, int *fd_out, kiln_error_t *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	cleanup_close int fd = -1;

	if (strlen(path) >= sizeof(sa.sun_path))
		return kiln_error_make(err, 0, "%s: vhost-user socket '%s' is too long", what,
				       path);
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kiln_error_make(err, errno, "%s: socket", what);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return kiln_error_make(err, errno, "%s: cannot connect to vhost-user socket '%s'",
				       what, path);
	*fd_out = TAKE_FD(fd);
	return 0;
}

static int msg_send(struct vhost_user *vu, struct vhost_user_msg *m, const int *fds,
		    unsigned int nr_fds, kiln_error_t *err)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
	} ctl;
	struct iovec iov = {.iov_base = m, .iov_len = VHOST_USER_HDR_SIZE + m->size};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (vu->fd < 0)
		return kiln_error_make(err, EPIPE, "%s: the back end is gone",
				       request_name(m->request));
	m->flags |= VHOST_USER_VERSION;
	if (nr_fds > 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
		ctl.h.cmsg_level = SOL_SOCKET;
		ctl.h.cmsg_type = SCM_RIGHTS;
		ctl.h.cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
		memcpy(CMSG_DATA(&ctl.h), fds, sizeof(int) * nr_fds);
	}
	do
		n = sendmsg(vu->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return kiln_error_make(err, errno, "%s: sending to the back end",
				       request_name(m->request));
	/* A stream socket takes a message this small whole, or fails. */
	if ((size_t)n != iov.iov_len)
		return kiln_error_make(err, EIO, "%s: short write to the back end",
				       request_name(m->request));
	return 0;
}

/* Reads exactly len bytes; fds the back end sends along are closed (none
 * of our requests expects any). */
static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		char ctl[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct iovec iov = {.iov_base = (char *)buf + got, .iov_len = len - got};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl,
				    .msg_controllen = sizeof(ctl)};
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int rfd;

				memcpy(&rfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(rfd);
			}
		}
		got += (size_t)n;
	}
	return 0;
}

/* The reply to request: its payload must be exactly len bytes. */
static int msg_recv(struct vhost_user *vu, uint32_t request, void *payload, uint32_t len,
		    kiln_error_t *err)
{
	struct vhost_user_msg m;
	int r = read_full(vu->fd, &m, VHOST_USER_HDR_SIZE);

	if (r == 0 && (m.request != request || !(m.flags & VHOST_USER_FLAG_REPLY) || m.size != len))
		return kiln_error_make(err, EPROTO,
				       "%s: the back end answered request %u, flags 0x%x, %u bytes",
				       request_name(request), m.request, m.flags, m.size);
	if (r == 0)
		r = read_full(vu->fd, payload, len);
	if (r < 0)
		return kiln_error_make(err, -r, "%s: reading the back end's reply",
				       request_name(request));
	return 0;
}

/* A request without a reply of its own; with REPLY_ACK the back end
 * confirms it (a u64, 0 for success). */
static int msg_call(struct vhost_user *vu, uint32_t request, const void *payload, uint32_t len,
		    const int *fds, unsigned int nr_fds, kiln_error_t *err)
{
	struct vhost_user_msg m = {.request = request, .size = len};
	bool ack = vu->protocol_features & (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK);
	uint64_t status = 0;

	if (len > 0)
		memcpy(m.payload, payload, len);
	if (ack)
		m.flags = VHOST_USER_FLAG_NEED_REPLY;
	if (msg_send(vu, &m, fds, nr_fds, err) < 0)
		return -1;
	if (!ack)
		return 0;
	if (msg_recv(vu, request, &status, sizeof(status), err) < 0)
		return -1;
	if (status != 0)
		return kiln_error_make(err, EIO, "%s: the back end refused it (%llu)",
				       request_name(request), (unsigned long long)status);
	return 0;
}

static int msg_call_u64(struct vhost_user *vu, uint32_t request, uint64_t v, int fd,
			kiln_error_t *err)
{
	return msg_call(vu, request, &v, sizeof(v), &fd, fd >= 0 ? 1 : 0, err);
}

/* A GET_* request: the payload sent and the one read back. */
static int msg_get(struct vhost_user *vu, uint32_t request, const void *in, uint32_t in_len,
		   void *out, uint32_t out_len, kiln_error_t *err)
{
	struct vhost_user_msg m = {.request = request, .size = in_len};

	if (in_len > 0)
		memcpy(m.payload, in, in_len);
	if (msg_send(vu, &m, NULL, 0, err) < 0)
		return -1;
	return msg_recv(vu, request, out, out_len, err);
}

int vhost_user_get_features(struct vhost_user *vu, uint64_t *features, kiln_error_t *err)
{
	return msg_get(vu, VHOST_USER_GET_FEATURES, NULL, 0, features, sizeof(*features), err);
}

int vhost_user_init(struct vhost_user *vu, int fd, kiln_error_t *err)
{
	uint64_t pf = 0;

	*vu = (struct vhost_user){.fd = fd};
	if (msg_call(vu, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, err) < 0 ||
	    vhost_user_get_features(vu, &vu->features, err) < 0)
		return -1;
	if (!(vu->features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)))
		return 0;
	if (msg_get(vu, VHOST_USER_GET_PROTOCOL_FEATURES, NULL, 0, &pf, sizeof(pf), err) < 0)
		return -1;
	/* Only REPLY_ACK: it turns every request into a checked one. */
	pf &= 1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK;
	/* Not acked yet: this request itself gets no reply. */
	if (msg_call_u64(vu, VHOST_USER_SET_PROTOCOL_FEATURES, pf, -1, err) < 0)
		return -1;
	vu->protocol_features = pf;
	return 0;
}

void vhost_user_close(struct vhost_user *vu)
{
	if (vu->fd >= 0)
		close(vu->fd);
	vu->fd = -1;
}

int vhost_user_set_mem_table(struct vhost_user *vu, const struct guest_mem *mem, kiln_error_t *err)
{
	uint8_t payload[VHOST_USER_MAX_PAYLOAD] = {0};
	int fds[GMEM_MAX_REGIONS];
	uint32_t n = mem->nr_regions;

	if (mem->fd < 0)
		return kiln_error_make(err, EINVAL, "SET_MEM_TABLE: guest memory is not shareable");
	memcpy(payload, &n, sizeof(n)); /* nregions, then 4 bytes of padding */
	for (unsigned int i = 0; i < n; i++) {
		const struct gmem_region *g = &mem->regions[i];
		struct vhost_user_region r = {
		    .guest_phys_addr = g->gpa,
		    .memory_size = g->size,
		    .userspace_addr = (uintptr_t)g->host,
		    .mmap_offset = g->fd_offset,
		};

		memcpy(payload + 8 + i * sizeof(r), &r, sizeof(r));
		fds[i] = mem->fd;
	}
	return msg_call(vu, VHOST_USER_SET_MEM_TABLE, payload,
			8 + n * (uint32_t)sizeof(struct vhost_user_region), fds, n, err);
}

int vhost_user_set_features(struct vhost_user *vu, uint64_t acked, kiln_error_t *err)
{
	if (vu->features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES))
		acked |= 1ULL << VHOST_USER_F_PROTOCOL_FEATURES;
	return msg_call_u64(vu, VHOST_USER_SET_FEATURES, acked, -1, err);
}

static int vring_state(struct vhost_user *vu, uint32_t request, unsigned int index, uint32_t num,
		       kiln_error_t *err)
{
	uint32_t st[2] = {index, num};

	return msg_call(vu, request, st, sizeof(st), NULL, 0, err);
}

/* The queue index, and the "no fd" bit when there is none (the back end
 * then polls, or never signals). */
static uint64_t vring_fd_arg(unsigned int index, int fd)
{
	return (index & VHOST_USER_VRING_IDX_MASK) | (fd < 0 ? VHOST_USER_VRING_NOFD : 0);
}

int vhost_user_vring_start(struct vhost_user *vu, const struct vhost_user_vring *r,
			   kiln_error_t *err)
{
	struct vhost_user_vring_addr a = {
	    .index = r->index,
	    .desc = (uintptr_t)r->desc,
	    .used = (uintptr_t)r->used,
	    .avail = (uintptr_t)r->avail,
	};

	if (vring_state(vu, VHOST_USER_SET_VRING_NUM, r->index, r->num, err) < 0 ||
	    msg_call(vu, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, err) < 0 ||
	    vring_state(vu, VHOST_USER_SET_VRING_BASE, r->index, r->base, err) < 0 ||
	    msg_call_u64(vu, VHOST_USER_SET_VRING_KICK, vring_fd_arg(r->index, r->kick_fd),
			 r->kick_fd, err) < 0 ||
	    msg_call_u64(vu, VHOST_USER_SET_VRING_CALL, vring_fd_arg(r->index, r->call_fd),
			 r->call_fd, err) < 0)
		return kiln_error_wrap(err, "queue %u", r->index);
	if ((vu->features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)) &&
	    vring_state(vu, VHOST_USER_SET_VRING_ENABLE, r->index, 1, err) < 0)
		return kiln_error_wrap(err, "queue %u", r->index);
	return 0;
}

int vhost_user_vring_stop(struct vhost_user *vu, unsigned int index, uint16_t *base,
			  kiln_error_t *err)
{
	uint32_t in[2] = {index, 0}, out[2] = {0, 0};

	if (msg_get(vu, VHOST_USER_GET_VRING_BASE, in, sizeof(in), out, sizeof(out), err) < 0)
		return kiln_error_wrap(err, "queue %u", index);
	*base = (uint16_t)out[1];
	return 0;
}
