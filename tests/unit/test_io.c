#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/io.h"
#include "common/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/tmpdir.h"

#define BIG_LEN ((size_t)3 << 20)

static size_t dir_entries(const char *dir)
{
	cleanup_closedir DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	while (d != NULL && (de = readdir(d)) != NULL)
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			n++;
	return n;
}

static size_t open_fd_count(void)
{
	return dir_entries("/proc/self/fd");
}

static void pattern_fill(unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 31 + (i >> 12));
}

struct writer {
	int fd;
	const unsigned char *buf;
	size_t len;
	ssize_t result;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	w->result = kiln_write_all(w->fd, w->buf, w->len);
	close(w->fd);
	return NULL;
}

/* Pushes BIG_LEN bytes through a pipe (whose buffer is 64 KiB, so both sides
 * see many short writes and reads) and checks they arrive intact. */
static int pipe_roundtrip(void)
{
	cleanup_free unsigned char *out = xmalloc(BIG_LEN);
	cleanup_free unsigned char *in = xmalloc(BIG_LEN + 16);
	struct writer w = {0};
	pthread_t th;
	int pfd[2];
	ssize_t n;

	pattern_fill(out, BIG_LEN);
	TAP_CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	w = (struct writer){.fd = pfd[1], .buf = out, .len = BIG_LEN};
	TAP_CHECK(pthread_create(&th, NULL, writer_main, &w) == 0);

	/* Asking for more than is sent: read_full stops at EOF. */
	n = kiln_read_full(pfd[0], in, BIG_LEN + 16);
	pthread_join(th, NULL);
	close(pfd[0]);

	TAP_CHECK(w.result == (ssize_t)BIG_LEN);
	TAP_CHECK(n == (ssize_t)BIG_LEN);
	TAP_CHECK(memcmp(in, out, BIG_LEN) == 0);
	return TAP_PASS;
}

static int test_write_all_read_full(void)
{
	return pipe_roundtrip();
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static int test_write_all_read_full_eintr(void)
{
	struct sigaction sa = {0};
	struct itimerval tick = {{0, 200}, {0, 200}}, off = {{0, 0}, {0, 0}};
	int r;

	/* No SA_RESTART: every tick makes a blocked read() or write() fail
	 * with EINTR, which both functions must absorb. */
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	TAP_CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	TAP_CHECK(setitimer(ITIMER_REAL, &tick, NULL) == 0);
	alarms = 0;
	r = pipe_roundtrip();
	setitimer(ITIMER_REAL, &off, NULL);
	/* A tick may still be pending (valgrind delivers signals late); the
	 * default action would kill the test. */
	signal(SIGALRM, SIG_IGN);
	tap_diag("%d signals during the transfer", (int)alarms);
	return r;
}

static int test_write_all_bad_fd(void)
{
	int pfd[2];

	TAP_CHECK(kiln_write_all(-1, "x", 1) == -EBADF);
	TAP_CHECK(kiln_read_full(-1, (char[1]){0}, 1) == -EBADF);
	TAP_CHECK(kiln_write_all(-1, "", 0) == 0);

	/* A pipe with no reader: EPIPE (SIGPIPE ignored for the test). */
	signal(SIGPIPE, SIG_IGN);
	TAP_CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	close(pfd[0]);
	TAP_CHECK(kiln_write_all(pfd[1], "x", 1) == -EPIPE);
	close(pfd[1]);
	signal(SIGPIPE, SIG_DFL);
	return TAP_PASS;
}

static int test_read_fd_all_limit(void)
{
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *buf = NULL;
	size_t len = 99;
	int pfd[2];

	TAP_CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	TAP_CHECK(kiln_write_all(pfd[1], "0123456789", 10) == 10);
	close(pfd[1]);
	/* Exactly max bytes is fine. */
	TAP_CHECK(kiln_read_fd_all(pfd[0], 10, &buf, &len, &err) == 0);
	close(pfd[0]);
	TAP_CHECK(len == 10);
	TAP_CHECK_STR(buf, "0123456789");

	TAP_CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	TAP_CHECK(kiln_write_all(pfd[1], "0123456789X", 11) == 11);
	close(pfd[1]);
	TAP_CHECK(kiln_read_fd_all(pfd[0], 10, &buf, &len, &err) < 0);
	close(pfd[0]);
	TAP_CHECK(err->status == EFBIG);
	TAP_CHECK_STR(err->msg, "input is larger than 10 bytes");
	return TAP_PASS;
}

static int test_read_fd_all_big(void)
{
	cleanup_free unsigned char *out = xmalloc(BIG_LEN);
	cleanup_free char *in = NULL;
	cleanup_error kiln_error_t err = NULL;
	struct writer w;
	pthread_t th;
	size_t len = 0;
	int pfd[2];

	pattern_fill(out, BIG_LEN);
	TAP_CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	w = (struct writer){.fd = pfd[1], .buf = out, .len = BIG_LEN};
	TAP_CHECK(pthread_create(&th, NULL, writer_main, &w) == 0);
	TAP_CHECK(kiln_read_fd_all(pfd[0], BIG_LEN, &in, &len, &err) == 0);
	pthread_join(th, NULL);
	close(pfd[0]);
	TAP_CHECK(len == BIG_LEN);
	TAP_CHECK(in[BIG_LEN] == '\0');
	TAP_CHECK(memcmp(in, out, BIG_LEN) == 0);
	return TAP_PASS;
}

static int test_read_file(void)
{
	cleanup_tmpdir char *dir = test_tmpdir_make("io");
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *path = NULL;
	cleanup_free char *missing = NULL;
	cleanup_free char *want = NULL;
	cleanup_free char *buf = NULL;
	cleanup_free char *empty = NULL;
	cleanup_free char *proc = NULL;
	size_t len = 0;

	TAP_CHECK(dir != NULL);
	path = xasprintf("%s/data", dir);
	TAP_CHECK(kiln_write_file_atomic(path, "hello\n", 6, 0644, &err) == 0);

	TAP_CHECK(kiln_read_file(path, 6, &buf, &len, &err) == 0);
	TAP_CHECK(len == 6);
	TAP_CHECK_STR(buf, "hello\n");

	TAP_CHECK(kiln_read_file(path, 5, &buf, NULL, &err) < 0);
	want = xasprintf("'%s' is larger than 5 bytes", path);
	TAP_CHECK_STR(err->msg, want);
	TAP_CHECK(err->status == EFBIG);

	missing = xasprintf("%s/missing", dir);
	free(want);
	want = xasprintf("open '%s': No such file or directory", missing);
	TAP_CHECK(kiln_read_file(missing, 100, &buf, NULL, &err) < 0);
	TAP_CHECK_STR(err->msg, want);
	TAP_CHECK(err->status == ENOENT);

	free(path);
	path = xasprintf("%s/empty", dir);
	TAP_CHECK(kiln_write_file_atomic(path, "", 0, 0644, &err) == 0);
	TAP_CHECK(kiln_read_file(path, 0, &empty, &len, &err) == 0);
	TAP_CHECK(len == 0);
	TAP_CHECK_STR(empty, "");

	/* procfs reports size 0; the size must come from reading. */
	TAP_CHECK(kiln_read_file("/proc/self/status", 1 << 20, &proc, &len, &err) == 0);
	TAP_CHECK(len > 0 && strncmp(proc, "Name:", 5) == 0);

	/* A directory cannot be read. */
	TAP_CHECK(kiln_read_file(dir, 100, &buf, NULL, &err) < 0);
	TAP_CHECK(err->status == EISDIR);
	return TAP_PASS;
}

static int test_write_file_atomic(void)
{
	cleanup_tmpdir char *dir = test_tmpdir_make("io");
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *path = NULL;
	cleanup_free char *buf = NULL;
	cleanup_free char *bad = NULL;
	cleanup_free char *want = NULL;
	struct stat st;
	mode_t old_umask;

	TAP_CHECK(dir != NULL);
	path = xasprintf("%s/state.json", dir);

	/* The mode is exact, whatever the umask. */
	old_umask = umask(077);
	TAP_CHECK(kiln_write_file_atomic(path, "{\"a\":1}", 7, 0644, &err) == 0);
	umask(old_umask);
	TAP_CHECK(stat(path, &st) == 0);
	TAP_CHECK((st.st_mode & 07777) == 0644);

	TAP_CHECK(kiln_write_file_atomic(path, "{\"b\":2}", 7, 0600, &err) == 0);
	TAP_CHECK(stat(path, &st) == 0);
	TAP_CHECK((st.st_mode & 07777) == 0600);
	TAP_CHECK(kiln_read_file(path, 100, &buf, NULL, &err) == 0);
	TAP_CHECK_STR(buf, "{\"b\":2}");
	/* No temporary file left behind. */
	TAP_CHECK(dir_entries(dir) == 1);

	bad = xasprintf("%s/no/such/dir/file", dir);
	want = xasprintf("create temporary file for '%s': No such file or directory", bad);
	TAP_CHECK(kiln_write_file_atomic(bad, "x", 1, 0644, &err) < 0);
	TAP_CHECK_STR(err->msg, want);

	/* Replacing a directory fails, and the temporary file is removed. */
	free(bad);
	bad = xasprintf("%s/sub", dir);
	TAP_CHECK(mkdir(bad, 0700) == 0);
	TAP_CHECK(kiln_write_file_atomic(bad, "x", 1, 0644, &err) < 0);
	TAP_CHECK(err->status == EISDIR);
	TAP_CHECK(dir_entries(dir) == 2);
	rmdir(bad);

	/* A relative path writes in the current directory. */
	{
		int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		TAP_CHECK(cwd >= 0 && chdir(dir) == 0);
		TAP_CHECK(kiln_write_file_atomic("rel", "r", 1, 0644, &err) == 0);
		TAP_CHECK(fchdir(cwd) == 0);
		close(cwd);
		free(buf);
		buf = NULL;
		free(path);
		path = xasprintf("%s/rel", dir);
		TAP_CHECK(kiln_read_file(path, 10, &buf, NULL, &err) == 0);
		TAP_CHECK_STR(buf, "r");
	}
	return TAP_PASS;
}

static int test_send_recv_fd(void)
{
	int sv[2], pfd[2], got = -1;
	char c = 0;

	TAP_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	TAP_CHECK(pipe2(pfd, O_CLOEXEC) == 0);

	TAP_CHECK(kiln_send_fd(sv[0], pfd[1]) == 0);
	TAP_CHECK(kiln_recv_fd(sv[1], &got) == 0);
	TAP_CHECK(got >= 0 && got != pfd[1]);
	TAP_CHECK((fcntl(got, F_GETFD) & FD_CLOEXEC) != 0);

	/* The received fd is the same pipe. */
	close(pfd[1]);
	TAP_CHECK(write(got, "z", 1) == 1);
	close(got);
	TAP_CHECK(read(pfd[0], &c, 1) == 1 && c == 'z');
	close(pfd[0]);

	/* The peer hung up. */
	close(sv[0]);
	TAP_CHECK(kiln_recv_fd(sv[1], &got) == -ECONNRESET);
	close(sv[1]);
	return TAP_PASS;
}

static int test_recv_fd_rejects(void)
{
	int sv[2], pfd[2], got = -1;
	size_t before;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} control;
	struct iovec iov = {.iov_base = "x", .iov_len = 1};
	struct msghdr msg = {0};
	struct cmsghdr *cmsg;

	TAP_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);

	/* A byte but no fd. */
	TAP_CHECK(write(sv[0], "x", 1) == 1);
	TAP_CHECK(kiln_recv_fd(sv[1], &got) == -EBADMSG);
	TAP_CHECK(got == -1);

	/* Two fds: rejected, and neither is left open in this process. */
	TAP_CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	memset(&control, 0, sizeof(control));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(control.buf);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(cmsg), pfd, 2 * sizeof(int));
	TAP_CHECK(sendmsg(sv[0], &msg, 0) == 1);
	before = open_fd_count();
	TAP_CHECK(kiln_recv_fd(sv[1], &got) == -EBADMSG);
	TAP_CHECK(open_fd_count() == before);
	TAP_CHECK(got == -1);

	close(pfd[0]);
	close(pfd[1]);
	close(sv[0]);
	close(sv[1]);
	TAP_CHECK(kiln_send_fd(-1, 0) == -EBADF);
	TAP_CHECK(kiln_recv_fd(-1, &got) == -EBADF);
	return TAP_PASS;
}

static int test_nonblock_cloexec(void)
{
	int pfd[2];

	TAP_CHECK(pipe(pfd) == 0);
	TAP_CHECK((fcntl(pfd[0], F_GETFL) & O_NONBLOCK) == 0);
	TAP_CHECK(kiln_set_nonblock(pfd[0], true) == 0);
	TAP_CHECK((fcntl(pfd[0], F_GETFL) & O_NONBLOCK) != 0);
	TAP_CHECK(kiln_set_nonblock(pfd[0], true) == 0);
	TAP_CHECK(read(pfd[0], (char[1]){0}, 1) == -1 && errno == EAGAIN);
	TAP_CHECK(kiln_set_nonblock(pfd[0], false) == 0);
	TAP_CHECK((fcntl(pfd[0], F_GETFL) & O_NONBLOCK) == 0);

	TAP_CHECK((fcntl(pfd[1], F_GETFD) & FD_CLOEXEC) == 0);
	TAP_CHECK(kiln_set_cloexec(pfd[1], true) == 0);
	TAP_CHECK((fcntl(pfd[1], F_GETFD) & FD_CLOEXEC) != 0);
	TAP_CHECK(kiln_set_cloexec(pfd[1], false) == 0);
	TAP_CHECK((fcntl(pfd[1], F_GETFD) & FD_CLOEXEC) == 0);

	close(pfd[0]);
	close(pfd[1]);
	TAP_CHECK(kiln_set_nonblock(-1, true) == -EBADF);
	TAP_CHECK(kiln_set_cloexec(-1, true) == -EBADF);
	return TAP_PASS;
}

static int test_unix_listen_connect(void)
{
	cleanup_tmpdir char *dir = test_tmpdir_make("io");
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *path = NULL;
	cleanup_close int lfd = -1;
	cleanup_close int cfd = -1;
	cleanup_close int afd = -1;
	char buf[8] = {0};

	TAP_CHECK(dir != NULL);
	path = xasprintf("%s/api.sock", dir);
	lfd = kiln_unix_listen(path, &err);
	TAP_CHECK(lfd >= 0);
	TAP_CHECK((fcntl(lfd, F_GETFD) & FD_CLOEXEC) != 0);

	cfd = kiln_unix_connect(path, &err);
	TAP_CHECK(cfd >= 0);
	TAP_CHECK((fcntl(cfd, F_GETFD) & FD_CLOEXEC) != 0);
	afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	TAP_CHECK(afd >= 0);

	TAP_CHECK(kiln_write_all(cfd, "ping", 4) == 4);
	TAP_CHECK(kiln_read_full(afd, buf, 4) == 4);
	TAP_CHECK_STR(buf, "ping");

	/* fd passing works on these sockets too. */
	TAP_CHECK(kiln_send_fd(afd, STDIN_FILENO) == 0);
	{
		int got = -1;

		TAP_CHECK(kiln_recv_fd(cfd, &got) == 0);
		close(got);
	}
	return TAP_PASS;
}

static int test_unix_listen_existing(void)
{
	cleanup_tmpdir char *dir = test_tmpdir_make("io");
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *path = NULL;
	cleanup_free char *file = NULL;
	cleanup_free char *want = NULL;
	int lfd, lfd2, cfd;

	TAP_CHECK(dir != NULL);
	path = xasprintf("%s/api.sock", dir);
	lfd = kiln_unix_listen(path, &err);
	TAP_CHECK(lfd >= 0);

	/* Someone listens: leave the socket alone. */
	TAP_CHECK(kiln_unix_listen(path, &err) < 0);
	want = xasprintf("unix socket '%s' is in use by another process", path);
	TAP_CHECK_STR(err->msg, want);
	TAP_CHECK(err->status == EADDRINUSE);

	/* The listener died and left its socket file: replace it. */
	close(lfd);
	lfd2 = kiln_unix_listen(path, &err);
	TAP_CHECK(lfd2 >= 0);
	cfd = kiln_unix_connect(path, &err);
	TAP_CHECK(cfd >= 0);
	close(cfd);
	close(lfd2);

	/* Never remove something that is not a socket. */
	file = xasprintf("%s/regular", dir);
	TAP_CHECK(kiln_write_file_atomic(file, "keep", 4, 0644, &err) == 0);
	TAP_CHECK(kiln_unix_listen(file, &err) < 0);
	free(want);
	want = xasprintf("'%s' exists and is not a socket", file);
	TAP_CHECK_STR(err->msg, want);
	TAP_CHECK(access(file, F_OK) == 0);
	return TAP_PASS;
}

static int test_unix_path_too_long(void)
{
	cleanup_error kiln_error_t err = NULL;
	char path[200];
	cleanup_free char *want = NULL;

	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[120] = '\0';
	want =
	    xasprintf("unix socket path '%s' is too long (120 bytes, at most 107 allowed)", path);

	TAP_CHECK(kiln_unix_listen(path, &err) < 0);
	TAP_CHECK_STR(err->msg, want);
	TAP_CHECK(err->status == ENAMETOOLONG);
	TAP_CHECK(kiln_unix_connect(path, &err) < 0);
	TAP_CHECK_STR(err->msg, want);

	/* 107 bytes is the longest that fits: it gets as far as connect(). */
	path[107] = '\0';
	TAP_CHECK(kiln_unix_connect(path, &err) < 0);
	TAP_CHECK(err->status == ENOENT);

	TAP_CHECK(kiln_unix_connect("", &err) < 0);
	TAP_CHECK_STR(err->msg, "empty unix socket path");
	return TAP_PASS;
}

static int test_unix_connect_missing(void)
{
	cleanup_error kiln_error_t err = NULL;

	TAP_CHECK(kiln_unix_connect("/nonexistent/kiln.sock", &err) < 0);
	TAP_CHECK_STR(err->msg, "connect to '/nonexistent/kiln.sock': No such file or directory");
	TAP_CHECK(err->status == ENOENT);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_write_all_read_full), TAP_TEST(test_write_all_read_full_eintr),
	 TAP_TEST(test_write_all_bad_fd), TAP_TEST(test_read_fd_all_limit),
	 TAP_TEST(test_read_fd_all_big), TAP_TEST(test_read_file), TAP_TEST(test_write_file_atomic),
	 TAP_TEST(test_send_recv_fd), TAP_TEST(test_recv_fd_rejects),
	 TAP_TEST(test_nonblock_cloexec), TAP_TEST(test_unix_listen_connect),
	 TAP_TEST(test_unix_listen_existing), TAP_TEST(test_unix_path_too_long),
	 TAP_TEST(test_unix_connect_missing))
