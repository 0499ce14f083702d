/* vsockperf: raw vsock stream throughput between a host and a guest, for
 * bench/agent/run. One static program, both halves:
 *
 *   vsockperf serve PORT
 *       guest side: listen on AF_VSOCK PORT, serve every connection in a
 *       child process. A connection starts with one command line:
 *         "recv N\n"  read N bytes, then answer "ok\n"   (host -> guest)
 *         "send N\n"  write N bytes, then close          (guest -> host)
 *   vsockperf client (--uds PATH | --cid CID) --port PORT --dir h2g|g2h
 *                    [--streams S] [--mib M] [--wait SECS]
 *       host side: open S connections (through kiln-vmm's hybrid vsock:
 *       connect to PATH, "CONNECT PORT\n", "OK <n>\n"; or AF_VSOCK to CID),
 *       then move M MiB in total, split evenly over them, all at once.
 *       Prints "mib_s=X bytes=N secs=T streams=S"; the clock runs from when
 *       every connection is open to the last byte received (h2g: the
 *       guest's "ok", so the data has been read in the guest, not merely
 *       buffered). --wait retries the first connection for up to SECS
 *       (the guest may still be booting).
 *
 * Errors: one line "vsockperf: ..." on stderr, exit status 1. Built with
 * `cc -static` (the benchmark guest's initramfs has no libc). */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK	    (64 * 1024)
#define MAX_STREAMS 64

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("vsockperf: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one '\n'-terminated line byte by byte, so nothing after it is
 * consumed. Returns its length without the newline, or -1. */
static ssize_t read_line(int fd, char *line, size_t size)
{
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (c == '\n')
			break;
		if (n + 1 >= size)
			return -1;
		line[n++] = c;
	}
	line[n] = '\0';
	return (ssize_t)n;
}

/* Reads and discards exactly n bytes (or until EOF); returns the count. */
static uint64_t drain(int fd, uint64_t n)
{
	static __thread char buf[CHUNK];
	uint64_t got = 0;

	while (got < n) {
		size_t want = n - got < CHUNK ? (size_t)(n - got) : CHUNK;
		ssize_t r = read(fd, buf, want);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (uint64_t)r;
	}
	return got;
}

static int fill(int fd, uint64_t n)
{
	static __thread char buf[CHUNK];

	while (n > 0) {
		size_t len = n < CHUNK ? (size_t)n : CHUNK;

		if (write_all(fd, buf, len) < 0)
			return -1;
		n -= len;
	}
	return 0;
}

/* --- guest side ------------------------------------------------------------ */

static void serve_one(int fd)
{
	char line[64];
	unsigned long long n;

	if (read_line(fd, line, sizeof(line)) < 0)
		_exit(1);
	if (sscanf(line, "recv %llu", &n) == 1) {
		if (drain(fd, n) != n)
			_exit(1);
		_exit(write_all(fd, "ok\n", 3) < 0);
	}
	if (sscanf(line, "send %llu", &n) == 1)
		_exit(fill(fd, n) < 0);
	_exit(1);
}

static int do_serve(unsigned port)
{
	struct sockaddr_vm addr = {
	    .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
	int lfd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (lfd < 0)
		die("socket: %s", strerror(errno));
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("bind port %u: %s", port, strerror(errno));
	if (listen(lfd, MAX_STREAMS) < 0)
		die("listen: %s", strerror(errno));
	/* Children are never waited for one by one. */
	signal(SIGCHLD, SIG_IGN);
	printf("vsockperf: serving on vsock port %u\n", port);
	fflush(stdout);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pid_t pid;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept: %s", strerror(errno));
		}
		pid = fork();
		if (pid == 0) {
			close(lfd);
			serve_one(fd);
		}
		close(fd);
	}
}

/* --- host side --------------------------------------------------------------- */

static const char *uds_path;
static unsigned cid, port;

/* One connection to the guest's port, or -1 with errno-ish message in why. */
static int guest_connect(char *why, size_t why_size)
{
	int fd;

	if (uds_path) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		char line[64];

		if (strlen(uds_path) >= sizeof(sa.sun_path))
			die("socket path too long: %s", uds_path);
		strcpy(sa.sun_path, uds_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			snprintf(why, why_size, "connect %s: %s", uds_path, strerror(errno));
			close(fd);
			return -1;
		}
		snprintf(line, sizeof(line), "CONNECT %u\n", port);
		if (write_all(fd, line, strlen(line)) < 0 ||
		    read_line(fd, line, sizeof(line)) < 0 || strncmp(line, "OK ", 3) != 0) {
			snprintf(why, why_size,
				 "CONNECT %u refused (no listener in the guest yet?)", port);
			close(fd);
			return -1;
		}
		return fd;
	}
	struct sockaddr_vm va = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};

	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("AF_VSOCK socket: %s (is vhost_vsock loaded?)", strerror(errno));
	if (connect(fd, (struct sockaddr *)&va, sizeof(va)) < 0) {
		snprintf(why, why_size, "connect to vsock %u:%u: %s", cid, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct stream {
	pthread_t thread;
	int fd;
	bool h2g;
	uint64_t bytes;
	pthread_barrier_t *start;
	double end;
	const char *error;
};

static void *stream_run(void *arg)
{
	struct stream *s = arg;
	char cmd[64], line[16];

	snprintf(cmd, sizeof(cmd), "%s %llu\n", s->h2g ? "recv" : "send",
		 (unsigned long long)s->bytes);
	pthread_barrier_wait(s->start);
	if (write_all(s->fd, cmd, strlen(cmd)) < 0) {
		s->error = "sending the command failed";
	} else if (s->h2g) {
		if (fill(s->fd, s->bytes) < 0)
			s->error = "write failed";
		else if (read_line(s->fd, line, sizeof(line)) < 0 || strcmp(line, "ok") != 0)
			s->error = "no \"ok\" from the guest after the data";
	} else if (drain(s->fd, s->bytes) != s->bytes) {
		s->error = "the guest's data ended early";
	}
	s->end = now_s();
	return NULL;
}

static int do_client(const char *dir, unsigned streams, unsigned mib, unsigned wait_s)
{
	struct stream st[MAX_STREAMS];
	pthread_barrier_t start;
	uint64_t total = (uint64_t)mib << 20;
	double deadline = now_s() + wait_s, t0, t1 = 0;
	char why[256];
	bool h2g;

	signal(SIGPIPE, SIG_IGN);
	if (strcmp(dir, "h2g") == 0)
		h2g = true;
	else if (strcmp(dir, "g2h") == 0)
		h2g = false;
	else
		die("--dir must be h2g or g2h, not '%s'", dir);
	if (streams < 1 || streams > MAX_STREAMS)
		die("--streams must be 1-%d", MAX_STREAMS);
	pthread_barrier_init(&start, NULL, streams + 1);
	for (unsigned i = 0; i < streams; i++) {
		int fd;

		while ((fd = guest_connect(why, sizeof(why))) < 0) {
			if (i > 0 || now_s() >= deadline)
				die("%s", why);
			usleep(50 * 1000);
		}
		st[i] = (struct stream){
		    .fd = fd,
		    .h2g = h2g,
		    .bytes = total / streams + (i == 0 ? total % streams : 0),
		    .start = &start,
		};
		if (pthread_create(&st[i].thread, NULL, stream_run, &st[i]) != 0)
			die("pthread_create failed");
	}
	pthread_barrier_wait(&start);
	t0 = now_s();
	for (unsigned i = 0; i < streams; i++) {
		pthread_join(st[i].thread, NULL);
		if (st[i].error)
			die("stream %u: %s", i + 1, st[i].error);
		close(st[i].fd);
		if (st[i].end > t1)
			t1 = st[i].end;
	}
	printf("mib_s=%.1f bytes=%llu secs=%.3f streams=%u\n",
	       (double)total / (1 << 20) / (t1 - t0), (unsigned long long)total, t1 - t0, streams);
	return 0;
}

static unsigned number(const char *what, const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > 0xffffffffUL)
		die("%s: '%s' is not a number", what, s);
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	unsigned streams = 1, mib = 64, wait_s = 0;
	bool have_cid = false;

	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return do_serve(number("port", argv[2]));
	if (argc < 2 || strcmp(argv[1], "client") != 0)
		die("usage: vsockperf serve PORT | vsockperf client (--uds PATH | --cid CID) "
		    "--port PORT --dir h2g|g2h [--streams S] [--mib M] [--wait SECS]");
	for (int i = 2; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!val)
			die("option %s needs a value", opt);
		i++;
		if (strcmp(opt, "--uds") == 0)
			uds_path = val;
		else if (strcmp(opt, "--cid") == 0)
			cid = number(opt, val), have_cid = true;
		else if (strcmp(opt, "--port") == 0)
			port = number(opt, val);
		else if (strcmp(opt, "--dir") == 0)
			dir = val;
		else if (strcmp(opt, "--streams") == 0)
			streams = number(opt, val);
		else if (strcmp(opt, "--mib") == 0)
			mib = number(opt, val);
		else if (strcmp(opt, "--wait") == 0)
			wait_s = number(opt, val);
		else
			die("unknown option %s", opt);
	}
	if (!uds_path == !have_cid)
		die("give exactly one of --uds and --cid");
	if (!port || !dir)
		die("--port and --dir are required");
	return do_client(dir, streams, mib, wait_s);
}
