/* recvtty: the receiving end of --console-socket for the runtime's tests
 * (like runc's contrib/cmd/recvtty). Listens on SOCKET, takes one pty
 * master (SCM_RIGHTS), optionally sets its window size, then copies stdin
 * to the terminal and the terminal to stdout until the terminal ends.
 *
 *   recvtty [--size ROWSxCOLS] [--resize-after-ms N --resize ROWSxCOLS] SOCKET
 *
 * The resize happens once the terminal has been quiet for N ms after its
 * first output (so the program has seen the first size).
 * Prints "recvtty: ready" on stderr once it listens. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "common/io.h"
#include "common/util.h"

static void die(const char *what)
{
	fprintf(stderr, "recvtty: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void set_size(int fd, const char *spec)
{
	struct winsize ws = {0};
	unsigned r, c;

	if (sscanf(spec, "%ux%u", &r, &c) != 2) {
		fprintf(stderr, "recvtty: bad size \"%s\" (ROWSxCOLS)\n", spec);
		exit(2);
	}
	ws.ws_row = (unsigned short)r;
	ws.ws_col = (unsigned short)c;
	if (ioctl(fd, TIOCSWINSZ, &ws) < 0)
		die("TIOCSWINSZ");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"size", required_argument, NULL, 's'},
	    {"resize", required_argument, NULL, 'r'},
	    {"resize-after-ms", required_argument, NULL, 'a'},
	    {0},
	};
	const char *size = NULL, *resize = NULL;
	long resize_after = -1;
	kiln_error_t err = NULL;
	int ch, lfd, conn, master, r;
	bool in_open = true, seen_output = false;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 's')
			size = optarg;
		else if (ch == 'r')
			resize = optarg;
		else if (ch == 'a')
			resize_after = atol(optarg);
		else
			return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: recvtty [--size RxC] [--resize-after-ms N --resize RxC] "
				"SOCKET\n");
		return 2;
	}
	lfd = kiln_unix_listen(argv[optind], &err);
	if (lfd < 0) {
		fprintf(stderr, "recvtty: %s\n", err->msg);
		return 1;
	}
	fprintf(stderr, "recvtty: ready\n");
	conn = accept(lfd, NULL, NULL);
	if (conn < 0)
		die("accept");
	r = kiln_recv_fd(conn, &master);
	if (r < 0) {
		errno = -r;
		die("receive");
	}
	close(conn);
	close(lfd);
	unlink(argv[optind]);
	if (size)
		set_size(master, size);
	for (;;) {
		struct pollfd p[2] = {{.fd = master, .events = POLLIN},
				      {.fd = STDIN_FILENO, .events = in_open ? POLLIN : 0}};
		char buf[4096];
		ssize_t n;
		int timeout = resize && resize_after >= 0 && seen_output ? (int)resize_after : -1;

		r = poll(p, 2, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			set_size(master, resize);
			resize = NULL;
			continue;
		}
		if (p[0].revents) {
			n = read(master, buf, sizeof(buf));
			if (n <= 0)
				break; /* EIO: the other side is gone */
			seen_output = true;
			if (kiln_write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
				die("write");
		}
		if (p[1].revents) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0)
				in_open = false;
			else if (kiln_write_all(master, buf, (size_t)n) < 0)
				die("write terminal");
		}
	}
	return 0;
}
