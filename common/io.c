#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/io.h"
#include "common/util.h"

/* Gives an error made with status 0 (so no strerror text is appended) the
 * errno a caller may test for. */
static int error_set_status(kiln_error_t *err, int status)
{
	if (err != NULL && *err != NULL)
		(*err)->status = status;
	return -1;
}

ssize_t kiln_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t r = write(fd, p + done, len - done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* Only a zero-length write may return 0; anything else would
		 * loop forever. */
		if (r == 0)
			return -EIO;
		done += (size_t)r;
	}
	return (ssize_t)len;
}

ssize_t kiln_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t r = read(fd, p + done, len - done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

/* Reads fd to EOF. On failure returns -errno, or -EFBIG when more than max
 * bytes are available; the caller words the message. */
static int read_fd_to_buf(int fd, size_t max, char **out, size_t *out_len)
{
	cleanup_free char *buf = NULL;
	size_t len = 0, cap = 0;
	/* One byte more than max tells "exactly max" from "too big". */
	size_t limit = max < SIZE_MAX - 1 ? max + 1 : SIZE_MAX - 1;
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (unsigned long long)st.st_size < limit)
		cap = (size_t)st.st_size + 1;
	else
		cap = limit < 4096 ? limit : 4096;
	buf = xmalloc(cap + 1);

	for (;;) {
		ssize_t r;

		if (len == cap) {
			if (cap >= limit)
				return -EFBIG;
			cap = cap > limit / 2 ? limit : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > max)
			return -EFBIG;
	}

	buf[len] = '\0';
	if (out_len != NULL)
		*out_len = len;
	*out = TAKE_PTR(buf);
	return 0;
}

int kiln_read_fd_all(int fd, size_t max, char **out, size_t *out_len, kiln_error_t *err)
{
	int r = read_fd_to_buf(fd, max, out, out_len);

	if (r == -EFBIG) {
		kiln_error_make(err, 0, "input is larger than %zu bytes", max);
		return error_set_status(err, EFBIG);
	}
	if (r < 0)
		return kiln_error_make(err, r, "read");
	return 0;
}

int kiln_read_file(const char *path, size_t max, char **out, size_t *out_len, kiln_error_t *err)
{
	cleanup_close int fd = -1;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return kiln_error_make(err, errno, "open '%s'", path);

	r = read_fd_to_buf(fd, max, out, out_len);
	if (r == -EFBIG) {
		kiln_error_make(err, 0, "'%s' is larger than %zu bytes", path, max);
		return error_set_status(err, EFBIG);
	}
	if (r < 0)
		return kiln_error_make(err, r, "read '%s'", path);
	return 0;
}

static int fsync_dir(const char *dir, kiln_error_t *err)
{
	cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return kiln_error_make(err, errno, "open directory '%s'", dir);
	/* Some filesystems cannot sync a directory; the rename already
	 * happened, so that is no reason to fail. */
	if (fsync(fd) < 0 && errno != EINVAL)
		return kiln_error_make(err, errno, "fsync directory '%s'", dir);
	return 0;
}

int kiln_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			   kiln_error_t *err)
{
	cleanup_free char *dir = NULL;
	cleanup_free char *tmp = NULL;
	cleanup_close int fd = -1;
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	ssize_t w;
	int r;

	if (*base == '\0')
		return kiln_error_make(err, EISDIR, "write '%s'", path);
	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, (size_t)(slash - path));

	/* Same directory, so rename() stays on one filesystem and is atomic;
	 * hidden, so a directory listing does not pick up a half-written file. */
	tmp = xasprintf("%s/.%s.XXXXXX", dir, base);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return kiln_error_make(err, errno, "create temporary file for '%s'", path);

	if (fchmod(fd, mode) < 0) {
		r = kiln_error_make(err, errno, "chmod '%s'", tmp);
		goto fail;
	}
	w = kiln_write_all(fd, data, len);
	if (w < 0) {
		r = kiln_error_make(err, (int)w, "write '%s'", tmp);
		goto fail;
	}
	/* Without this a crash after the rename can leave an empty file. */
	if (fsync(fd) < 0) {
		r = kiln_error_make(err, errno, "fsync '%s'", tmp);
		goto fail;
	}
	if (close(TAKE_FD(fd)) < 0) {
		r = kiln_error_make(err, errno, "close '%s'", tmp);
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		r = kiln_error_make(err, errno, "rename '%s' to '%s'", tmp, path);
		goto fail;
	}
	return fsync_dir(dir, err);

fail:
	unlink(tmp);
	return r;
}

int kiln_send_fd(int sock, int fd)
{
	char byte = 0;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg = {0};
	struct cmsghdr *cmsg;

	memset(&control, 0, sizeof(control));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(control.buf);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));

	for (;;) {
		/* MSG_NOSIGNAL: a peer that went away is an error, not SIGPIPE. */
		ssize_t r = sendmsg(sock, &msg, MSG_NOSIGNAL);

		if (r >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* More room than the one fd we want, so that a sender passing several does
 * not leave us guessing: every fd that arrives is seen and closed. */
#define RECV_FD_MAX 16

int kiln_recv_fd(int sock, int *fd)
{
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * RECV_FD_MAX)];
	} control;
	struct msghdr msg = {0};
	struct cmsghdr *cmsg;
	int fds[RECV_FD_MAX];
	size_t nfds = 0;
	ssize_t r;

	memset(&control, 0, sizeof(control));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(control.buf);

	do
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;

	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		size_t n;

		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n && nfds < RECV_FD_MAX; i++)
			memcpy(&fds[nfds++], CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
	}

	if (r == 0 && nfds == 0)
		return -ECONNRESET;
	if (nfds != 1 || (msg.msg_flags & MSG_CTRUNC)) {
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		return -EBADMSG;
	}
	*fd = fds[0];
	return 0;
}

int kiln_set_nonblock(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFL);
	int want;

	if (flags < 0)
		return -errno;
	want = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
	if (want != flags && fcntl(fd, F_SETFL, want) < 0)
		return -errno;
	return 0;
}

int kiln_set_cloexec(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFD);
	int want;

	if (flags < 0)
		return -errno;
	want = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
	if (want != flags && fcntl(fd, F_SETFD, want) < 0)
		return -errno;
	return 0;
}

static int unix_addr_fill(struct sockaddr_un *addr, const char *path, kiln_error_t *err)
{
	size_t len = strlen(path);

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (len == 0) {
		kiln_error_make(err, 0, "empty unix socket path");
		return error_set_status(err, EINVAL);
	}
	/* sun_path is a fixed 108-byte array with room for the NUL; the kernel
	 * would fail with a bare EINVAL, which names nothing. */
	if (len >= sizeof(addr->sun_path)) {
		kiln_error_make(
		    err, 0, "unix socket path '%s' is too long (%zu bytes, at most %zu allowed)",
		    path, len, sizeof(addr->sun_path) - 1);
		return error_set_status(err, ENAMETOOLONG);
	}
	memcpy(addr->sun_path, path, len + 1);
	return 0;
}

/* True when something accepts connections on addr. Non-blocking, so a
 * listener with a full backlog counts as alive instead of blocking us. */
static bool unix_socket_is_live(const struct sockaddr_un *addr)
{
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return false;
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
		return true;
	return errno == EAGAIN || errno == EINPROGRESS;
}

int kiln_unix_listen(const char *path, kiln_error_t *err)
{
	struct sockaddr_un addr;
	cleanup_close int fd = -1;
	struct stat st;

	if (unix_addr_fill(&addr, path, err) < 0)
		return -1;

	/* A socket file outlives the process that bound it; a leftover one
	 * would make bind() fail with EADDRINUSE. Only ever remove a socket,
	 * and only one that nobody listens on. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			kiln_error_make(err, 0, "'%s' exists and is not a socket", path);
			return error_set_status(err, EEXIST);
		}
		if (unix_socket_is_live(&addr)) {
			kiln_error_make(err, 0, "unix socket '%s' is in use by another process",
					path);
			return error_set_status(err, EADDRINUSE);
		}
		if (unlink(path) < 0 && errno != ENOENT)
			return kiln_error_make(err, errno, "remove stale socket '%s'", path);
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kiln_error_make(err, errno, "socket");
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return kiln_error_make(err, errno, "bind '%s'", path);
	if (listen(fd, SOMAXCONN) < 0)
		return kiln_error_make(err, errno, "listen on '%s'", path);
	return TAKE_FD(fd);
}

int kiln_unix_connect(const char *path, kiln_error_t *err)
{
	struct sockaddr_un addr;
	cleanup_close int fd = -1;

	if (unix_addr_fill(&addr, path, err) < 0)
		return -1;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kiln_error_make(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return kiln_error_make(err, errno, "connect to '%s'", path);
	return TAKE_FD(fd);
}

int kiln_call_in_child(int (*fn)(void *arg, kiln_error_t *err), void *arg, const char *what,
		       kiln_error_t *err)
{
	char msg[512];
	int pfd[2], status;
	ssize_t len;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return kiln_error_make(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return kiln_error_make(err, errno, "fork");
	}
	if (pid == 0) {
		kiln_error_t e = NULL;

		close(pfd[0]);
		if (fn(arg, &e) < 0) {
			if (e)
				(void)!write(pfd[1], e->msg, strlen(e->msg));
			_exit(1);
		}
		_exit(0);
	}
	close(pfd[1]);
	len = kiln_read_full(pfd[0], msg, sizeof(msg) - 1);
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	msg[len > 0 ? len : 0] = '\0';
	return kiln_error_make(err, 0, "%s", msg[0] ? msg : what);
}
