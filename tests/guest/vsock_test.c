/* A static AF_VSOCK test program for the test guest (tests/guest/init),
 * the guest half of tests/integration/kvm/vsock.bats:
 *
 *   vsock_test listen PORT    accept one connection on PORT, echo everything
 *                             back until EOF, exit 0
 *   vsock_test connect PORT   connect to CID 2 (the host) PORT, send stdin,
 *                             half-close, print what comes back until EOF
 *
 * Errors go to stderr as "vsock_test: ..." with exit status 1. Built with
 * `$(CC) -static` (the initramfs has no libc). */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what)
{
	fprintf(stderr, "vsock_test: %s: %s\n", what, strerror(errno));
	return 1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int do_listen(unsigned int port)
{
	struct sockaddr_vm addr = {
	    .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
	char buf[65536];
	int lfd, fd;

	lfd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return fail("socket");
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return fail("bind");
	if (listen(lfd, 1) < 0)
		return fail("listen");
	printf("vsock_test: listening on port %u\n", port);
	fflush(stdout);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return fail("accept");
	close(lfd);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("read");
		if (n == 0)
			break;
		if (write_all(fd, buf, (size_t)n) < 0)
			return fail("write");
	}
	close(fd);
	return 0;
}

static int do_connect(unsigned int port)
{
	struct sockaddr_vm addr = {
	    .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = port};
	struct pollfd p[2];
	char buf[65536];
	int fd;

	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket");
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return fail("connect");
	/* stdin -> socket and socket -> stdout at once, so neither side
	 * blocks the other. */
	p[0] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
	p[1] = (struct pollfd){.fd = fd, .events = POLLIN};
	for (;;) {
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return fail("poll");
		}
		if (p[0].revents) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n < 0)
				return fail("read stdin");
			if (n == 0) {
				shutdown(fd, SHUT_WR);
				p[0].fd = -1;
			} else if (write_all(fd, buf, (size_t)n) < 0) {
				return fail("write");
			}
		}
		if (p[1].revents) {
			n = read(fd, buf, sizeof(buf));
			if (n < 0)
				return fail("read");
			if (n == 0)
				break;
			if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
				return fail("write stdout");
		}
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	char *end;
	unsigned long port;

	if (argc != 3 || (strcmp(argv[1], "listen") != 0 && strcmp(argv[1], "connect") != 0)) {
		fprintf(stderr, "usage: vsock_test listen|connect PORT\n");
		return 2;
	}
	errno = 0;
	port = strtoul(argv[2], &end, 10);
	if (errno || *end || end == argv[2] || port > 0xffffffffUL) {
		fprintf(stderr, "vsock_test: bad port '%s'\n", argv[2]);
		return 2;
	}
	return strcmp(argv[1], "listen") == 0 ? do_listen((unsigned int)port)
					      : do_connect((unsigned int)port);
}
