/* tcpperf: TCP throughput and request/response latency between a host and a
 * guest or container, for bench/net/run. One static program, both halves:
 *
 *   tcpperf serve PORT
 *       guest/container side: listen on TCP PORT (every IPv4 address),
 *       serve every connection in a child process. A connection starts
 *       with one command line:
 *         "recv N\n"     read N bytes, then answer "ok\n"     (host -> guest)
 *         "send N\n"     write N bytes, then close             (guest -> host)
 *         "echo SIZE\n"  read SIZE bytes and write them back, until EOF
 *   tcpperf client --host ADDR --port PORT --dir h2g|g2h|rr
 *                  [--mib M] [--count N] [--size B] [--wait SECS]
 *       host side: one connection to ADDR:PORT.
 *       h2g, g2h: moves M MiB (default 32) and prints
 *         "mib_s=X bytes=N secs=T"; the clock runs from the command being
 *         sent to the last byte received (h2g: the guest's "ok", so the
 *         data has been read by the guest, not merely buffered).
 *       rr: N (default 1000) round trips of a B-byte (default 64) message,
 *         TCP_NODELAY on both ends, after 10 untimed ones; prints
 *         "rtt_median_us=X rtt_p99_us=Y rtt_mean_us=Z count=N size=B"
 *         (p99: nearest rank).
 *       --wait retries the connection for up to SECS (the guest may still
 *       be booting, the container still starting).
 *
 * Errors: one line "tcpperf: ..." on stderr, exit status 1. Built with
 * `cc -static` (the benchmark guest's initramfs and the container image
 * have no libc). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK	  ((size_t)128 * 1024)
#define MAX_SIZE  ((size_t)64 * 1024)
#define RR_WARMUP 10
#define MAX_COUNT 1000000

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("tcpperf: ", stderr);
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

/* Reads exactly n bytes into buf; 0, or -1 on error or early EOF. */
static int read_all(int fd, void *buf, size_t n)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
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
	static char buf[CHUNK];
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
	static char buf[CHUNK];

	while (n > 0) {
		size_t len = n < CHUNK ? (size_t)n : CHUNK;

		if (write_all(fd, buf, len) < 0)
			return -1;
		n -= len;
	}
	return 0;
}

static void nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		die("setsockopt TCP_NODELAY: %s", strerror(errno));
}

/* --- guest side ------------------------------------------------------------ */

static void serve_one(int fd)
{
	static char msg[MAX_SIZE];
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
	if (sscanf(line, "echo %llu", &n) == 1 && n >= 1 && n <= MAX_SIZE) {
		nodelay(fd);
		while (read_all(fd, msg, n) == 0)
			if (write_all(fd, msg, n) < 0)
				_exit(1);
		_exit(0);
	}
	_exit(1);
}

static int do_serve(unsigned port)
{
	struct sockaddr_in addr = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (lfd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("bind port %u: %s", port, strerror(errno));
	if (listen(lfd, 16) < 0)
		die("listen: %s", strerror(errno));
	/* Children are never waited for one by one. */
	signal(SIGCHLD, SIG_IGN);
	printf("tcpperf: serving on TCP port %u\n", port);
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

/* One connection to ADDR:PORT, retried until deadline while nothing answers
 * yet (refused, unreachable, timed out). */
static int guest_connect(const char *host, unsigned port, double deadline)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		die("--host: '%s' is not an IPv4 address", host);
	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			die("socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		int e = errno;

		close(fd);
		if ((e != ECONNREFUSED && e != EHOSTUNREACH && e != ENETUNREACH && e != ETIMEDOUT &&
		     e != EINTR) ||
		    now_s() >= deadline)
			die("connect to %s:%u: %s", host, port, strerror(e));
		usleep(50 * 1000);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int do_rr(int fd, unsigned count, unsigned size)
{
	static char msg[MAX_SIZE];
	char cmd[32];
	double *rtt = calloc(count, sizeof(*rtt)), sum = 0;
	unsigned r99;

	if (!rtt)
		die("out of memory");
	nodelay(fd);
	snprintf(cmd, sizeof(cmd), "echo %u\n", size);
	if (write_all(fd, cmd, strlen(cmd)) < 0)
		die("sending the command failed: %s", strerror(errno));
	memset(msg, 'x', size);
	for (unsigned i = 0; i < RR_WARMUP + count; i++) {
		double t0 = now_s();

		if (write_all(fd, msg, size) < 0)
			die("round trip %u: write failed: %s", i + 1, strerror(errno));
		if (read_all(fd, msg, size) < 0)
			die("round trip %u: the answer ended early", i + 1);
		if (i >= RR_WARMUP)
			rtt[i - RR_WARMUP] = (now_s() - t0) * 1e6;
	}
	for (unsigned i = 0; i < count; i++)
		sum += rtt[i];
	qsort(rtt, count, sizeof(*rtt), cmp_double);
	r99 = (unsigned)((count * 99 + 99) / 100); /* nearest rank: ceil(0.99 N) */
	printf("rtt_median_us=%.1f rtt_p99_us=%.1f rtt_mean_us=%.1f count=%u size=%u\n",
	       count % 2 ? rtt[count / 2] : (rtt[count / 2 - 1] + rtt[count / 2]) / 2, rtt[r99 - 1],
	       sum / count, count, size);
	free(rtt);
	return 0;
}

static int do_xfer(int fd, bool h2g, unsigned mib)
{
	uint64_t total = (uint64_t)mib << 20;
	char cmd[64], line[16];
	double t0, t1;

	snprintf(cmd, sizeof(cmd), "%s %llu\n", h2g ? "recv" : "send", (unsigned long long)total);
	t0 = now_s();
	if (write_all(fd, cmd, strlen(cmd)) < 0)
		die("sending the command failed: %s", strerror(errno));
	if (h2g) {
		if (fill(fd, total) < 0)
			die("write failed: %s", strerror(errno));
		if (read_line(fd, line, sizeof(line)) < 0 || strcmp(line, "ok") != 0)
			die("no \"ok\" from the guest after the data");
	} else if (drain(fd, total) != total) {
		die("the guest's data ended early");
	}
	t1 = now_s();
	printf("mib_s=%.1f bytes=%llu secs=%.3f\n", (double)total / (1 << 20) / (t1 - t0),
	       (unsigned long long)total, t1 - t0);
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
	const char *dir = NULL, *host = NULL;
	unsigned port = 0, mib = 32, count = 1000, size = 64, wait_s = 0;
	int fd;

	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return do_serve(number("port", argv[2]));
	if (argc < 2 || strcmp(argv[1], "client") != 0)
		die("usage: tcpperf serve PORT | tcpperf client --host ADDR --port PORT "
		    "--dir h2g|g2h|rr [--mib M] [--count N] [--size B] [--wait SECS]");
	for (int i = 2; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!val)
			die("option %s needs a value", opt);
		i++;
		if (strcmp(opt, "--host") == 0)
			host = val;
		else if (strcmp(opt, "--port") == 0)
			port = number(opt, val);
		else if (strcmp(opt, "--dir") == 0)
			dir = val;
		else if (strcmp(opt, "--mib") == 0)
			mib = number(opt, val);
		else if (strcmp(opt, "--count") == 0)
			count = number(opt, val);
		else if (strcmp(opt, "--size") == 0)
			size = number(opt, val);
		else if (strcmp(opt, "--wait") == 0)
			wait_s = number(opt, val);
		else
			die("unknown option %s", opt);
	}
	if (!host || !port || !dir)
		die("--host, --port and --dir are required");
	if (port > 65535)
		die("--port: %u is not a TCP port", port);
	if (strcmp(dir, "h2g") != 0 && strcmp(dir, "g2h") != 0 && strcmp(dir, "rr") != 0)
		die("--dir must be h2g, g2h or rr, not '%s'", dir);
	if (mib < 1)
		die("--mib must be at least 1");
	if (count < 1 || count > MAX_COUNT)
		die("--count must be 1-%d", MAX_COUNT);
	if (size < 1 || size > MAX_SIZE)
		die("--size must be 1-%zu", MAX_SIZE);
	signal(SIGPIPE, SIG_IGN);
	fd = guest_connect(host, port, now_s() + wait_s);
	if (strcmp(dir, "rr") == 0)
		do_rr(fd, count, size);
	else
		do_xfer(fd, strcmp(dir, "h2g") == 0, mib);
	close(fd);
	return 0;
}
