/* vsockrelay: lets a client of kiln-vmm's hybrid vsock (agentctl) reach a
 * guest behind another VMM, for bench/agent/run.
 *
 *   vsockrelay --listen PATH --cid CID
 *       accept on the unix socket PATH; each connection starts with
 *       "CONNECT <port>\n" as with kiln-vmm; connect AF_VSOCK to CID:port
 *       (QEMU's vhost-vsock), answer "OK <local port>\n", then copy bytes
 *       both ways. A failed connect closes the client, as kiln-vmm does
 *       when nothing listens in the guest.
 *   vsockrelay --listen PATH --uds TARGET
 *       copy every connection to the unix socket TARGET unchanged (the
 *       CONNECT line included): the same relay in front of kiln-vmm, to
 *       measure what the relay itself costs.
 *
 * One thread per connection; a half-close on one side is passed on to the
 * other. Runs until killed. Errors setting up print "vsockrelay: ..." and
 * exit 1. */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *target_uds;
static unsigned target_cid;

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("vsockrelay: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int write_all(int fd, const char *p, size_t n)
{
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

static bool unix_addr(struct sockaddr_un *sa, const char *path)
{
	*sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa->sun_path))
		return false;
	strcpy(sa->sun_path, path);
	return true;
}

/* The "CONNECT <port>" line, read byte by byte so no payload is consumed. */
static int read_connect(int fd, unsigned *port)
{
	char line[64];
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || n + 1 >= sizeof(line))
			return -1;
		if (c == '\n')
			break;
		line[n++] = c;
	}
	line[n] = '\0';
	return sscanf(line, "CONNECT %u", port) == 1 ? 0 : -1;
}

/* The other end for client fd, with the hybrid handshake done; or -1. */
static int open_target(int client)
{
	int fd;

	if (target_uds) {
		struct sockaddr_un sa;

		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && unix_addr(&sa, target_uds) &&
		    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
	} else {
		struct sockaddr_vm va = {.svm_family = AF_VSOCK, .svm_cid = target_cid};
		socklen_t len = sizeof(va);
		char ok[32];

		if (read_connect(client, &va.svm_port) < 0)
			return -1;
		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&va, sizeof(va)) == 0 &&
		    getsockname(fd, (struct sockaddr *)&va, &len) == 0) {
			snprintf(ok, sizeof(ok), "OK %u\n", va.svm_port);
			if (write_all(client, ok, strlen(ok)) == 0)
				return fd;
		}
	}
	if (fd >= 0)
		close(fd);
	return -1;
}

static void *relay(void *arg)
{
	int a = (int)(long)arg, b = open_target(a);
	struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
	static __thread char buf[65536];

	/* Copy until both directions have ended; EOF on one side is passed on
	 * as a shutdown of the other's writing side. */
	while (b >= 0 && (p[0].fd >= 0 || p[1].fd >= 0)) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			int from = i ? b : a, to = i ? a : b;
			ssize_t n;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			n = read(from, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				goto out;
			if (n == 0) {
				shutdown(to, SHUT_WR);
				p[i].fd = -1;
			} else if (write_all(to, buf, (size_t)n) < 0) {
				goto out;
			}
		}
	}
out:
	close(a);
	if (b >= 0)
		close(b);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *listen_path = NULL;
	struct sockaddr_un sa;
	pthread_attr_t attr;
	int lfd;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--listen") == 0)
			listen_path = argv[i + 1];
		else if (strcmp(argv[i], "--uds") == 0)
			target_uds = argv[i + 1];
		else if (strcmp(argv[i], "--cid") == 0)
			target_cid = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else
			die("unknown option %s", argv[i]);
	}
	if (argc % 2 != 1 || !listen_path || (!target_uds == !target_cid))
		die("usage: vsockrelay --listen PATH (--cid CID | --uds TARGET)");
	signal(SIGPIPE, SIG_IGN);
	if (!unix_addr(&sa, listen_path))
		die("socket path too long: %s", listen_path);
	unlink(listen_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 64) < 0)
		die("listen on %s: %s", listen_path, strerror(errno));
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t t;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept: %s", strerror(errno));
		}
		if (pthread_create(&t, &attr, relay, (void *)(long)fd) != 0)
			close(fd);
	}
}
