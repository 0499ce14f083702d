/* Host side of the agent protocol (proto/client.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/io.h"
#include "common/util.h"
#include "proto/client.h"

int proto_vsock_connect(const char *uds, unsigned port, kiln_error_t *err)
{
	cleanup_close int fd = kiln_unix_connect(uds, err);
	char line[64];
	long long deadline;
	size_t n = 0;

	if (fd < 0)
		return fd;
	snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (kiln_write_all(fd, line, strlen(line)) < 0)
		return kiln_error_make(err, errno, "vsock port %u: CONNECT", port);
	deadline = kiln_now_ms() + PROTO_CONNECT_TIMEOUT_MS;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long long left = deadline - kiln_now_ms();
		int p = left > 0 ? poll(&pfd, 1, (int)left) : 0;
		ssize_t r;
		char c;

		if (p < 0 && errno == EINTR)
			continue;
		/* the guest's kernel answers by itself: only a stuck guest is
		 * this late */
		if (p == 0)
			return kiln_error_make(
			    err, ETIMEDOUT, "vsock port %u: the guest did not answer within %d s",
			    port, PROTO_CONNECT_TIMEOUT_MS / 1000);
		r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kiln_error_make(err, errno, "vsock port %u", port);
		if (r == 0)
			return kiln_error_make(err, ECONNREFUSED,
					       "vsock port %u: nothing listens in the guest", port);
		if (c == '\n')
			break;
		if (n + 1 >= sizeof(line))
			return kiln_error_make(err, EPROTO, "vsock port %u: reply too long", port);
		line[n++] = c;
	}
	line[n] = '\0';
	if (strncmp(line, "OK ", 3) != 0)
		return kiln_error_make(err, EPROTO, "vsock port %u: unexpected reply \"%s\"", port,
				       line);
	return TAKE_FD(fd);
}

int proto_client_open(struct proto_client *c, const char *uds, kiln_error_t *err)
{
	c->uds = uds;
	c->next_id = 1;
	c->fd = proto_vsock_connect(uds, PROTO_CONTROL_PORT, err);
	return c->fd < 0 ? c->fd : 0;
}

void proto_client_close(struct proto_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int read_reply(int fd, struct proto_reply *r, const char *what, kiln_error_t *err)
{
	cleanup_free char *buf = NULL;
	size_t len;
	int ret = proto_frame_read(fd, &buf, &len, err);

	if (ret == 1)
		return kiln_error_make(err, ECONNRESET, "%s: the agent closed the connection",
				       what);
	if (ret < 0)
		return kiln_error_wrap(err, "%s", what);
	if (proto_reply_parse(buf, len, r, err) < 0)
		return kiln_error_wrap(err, "%s", what);
	if (r->is_error) {
		/* the code too: callers and tests tell errors apart by it */
		ret = kiln_error_make(err, 0, "%s: %s: %s", what, r->code_name,
				      r->message ? r->message : "");
		proto_reply_release(r);
		return ret;
	}
	return 0;
}

int proto_client_call(struct proto_client *c, char *payload, size_t len, struct proto_reply *r,
		      const char *what, kiln_error_t *err)
{
	int ret = proto_frame_write(c->fd, payload, len, err);

	free(payload);
	if (ret < 0)
		return kiln_error_wrap(err, "%s", what);
	return read_reply(c->fd, r, what, err);
}

static int call_empty(struct proto_client *c, char *payload, size_t len, const char *what,
		      kiln_error_t *err)
{
	struct proto_reply r = {0};
	int ret = proto_client_call(c, payload, len, &r, what, err);

	if (ret == 0)
		proto_reply_release(&r);
	return ret;
}

int proto_client_target(struct proto_client *c, enum proto_method m, const char *cid,
			const char *eid, kiln_error_t *err)
{
	struct proto_target_params t = {.container_id = cid, .exec_id = eid};
	size_t len;
	char *payload = proto_request_target(c->next_id++, m, &t, &len);

	return call_empty(c, payload, len, proto_method_name(m), err);
}

int proto_client_signal(struct proto_client *c, const char *cid, const char *eid, int sig, bool all,
			kiln_error_t *err)
{
	struct proto_signal_params p = {
	    .container_id = cid, .exec_id = eid, .signal = sig, .all = all};
	size_t len;
	char *payload = proto_request_signal(c->next_id++, &p, &len);

	return call_empty(c, payload, len, "signal", err);
}

int proto_client_resize(struct proto_client *c, const char *cid, const char *eid, unsigned rows,
			unsigned cols, kiln_error_t *err)
{
	struct proto_resize_params p = {
	    .container_id = cid, .exec_id = eid, .width = (uint16_t)cols, .height = (uint16_t)rows};
	size_t len;
	char *payload = proto_request_resize(c->next_id++, &p, &len);

	return call_empty(c, payload, len, "resize", err);
}

static int call_pid(struct proto_client *c, char *payload, size_t len, int *pid, const char *what,
		    kiln_error_t *err)
{
	struct proto_reply r = {0};
	int ret;

	if (payload == NULL)
		return kiln_error_wrap(err, "%s", what);
	ret = proto_client_call(c, payload, len, &r, what, err);
	if (ret < 0)
		return ret;
	ret = proto_result_pid(r.result, pid, err);
	proto_reply_release(&r);
	return ret < 0 ? kiln_error_wrap(err, "%s", what) : 0;
}

int proto_client_create(struct proto_client *c, const struct proto_create_params *p, int *pid,
			kiln_error_t *err)
{
	size_t len = 0;
	char *payload = proto_request_create(c->next_id++, p, &len, err);

	return call_pid(c, payload, len, pid, "create", err);
}

int proto_client_exec(struct proto_client *c, const struct proto_exec_params *p, int *pid,
		      kiln_error_t *err)
{
	size_t len = 0;
	char *payload = proto_request_exec(c->next_id++, p, &len, err);

	return call_pid(c, payload, len, pid, "exec", err);
}

/* ---- Stdio relay. */

static void pump_init(struct proto_pump *p, int src, bool src_sock, int dst, bool dst_sock,
		      bool input)
{
	memset(p, 0, sizeof(*p));
	p->src = src;
	p->dst = dst;
	p->src_is_sock = src_sock;
	p->dst_is_sock = dst_sock;
	p->input = input;
	if (src_sock)
		kiln_set_nonblock(src, true);
	if (dst_sock)
		kiln_set_nonblock(dst, true);
}

static void pump_finish(struct proto_pump *p)
{
	p->done = true;
	if (p->dst_is_sock)
		shutdown(p->dst, SHUT_WR);
}

static void pump_read(struct proto_pump *p)
{
	ssize_t r = read(p->src, p->buf, sizeof(p->buf));

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0) { /* EOF, or EIO from a pty whose other side closed */
		p->eof = true;
		pump_finish(p);
		return;
	}
	p->len = (size_t)r;
	p->off = 0;
}

/* A host fd may be non-blocking (inherited that way): EAGAIN waits for it,
 * since an output stream must not lose bytes. */
static ssize_t write_host(int fd, const char *buf, size_t len)
{
	ssize_t w;

	for (;;) {
		w = write(fd, buf, len);
		if (w >= 0 || errno == EINTR)
			break;
		if (errno != EAGAIN)
			return -1;
		poll(&(struct pollfd){.fd = fd, .events = POLLOUT}, 1, -1);
	}
	return w < 0 ? 0 : w;
}

static void pump_write(struct proto_pump *p)
{
	ssize_t w;

	if (p->dst_is_sock)
		w = send(p->dst, p->buf + p->off, p->len - p->off, MSG_NOSIGNAL);
	else
		w = write_host(p->dst, p->buf + p->off, p->len - p->off);
	if (w < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (w < 0) {
		/* The reader is gone: what is left cannot be delivered. */
		p->eof = true;
		p->off = p->len;
	} else {
		p->off += (size_t)w;
	}
	if (p->off == p->len) {
		p->off = p->len = 0;
		if (p->eof)
			pump_finish(p);
	}
}

static int attach(const char *uds, const char *cid, const char *eid, enum proto_stream stream,
		  kiln_error_t *err)
{
	struct proto_attach a = {.container_id = cid, .exec_id = eid, .stream = stream};
	struct proto_client c = {.fd = -1};
	struct proto_reply r = {0};
	size_t len;
	char *payload;
	char what[64];

	c.fd = proto_vsock_connect(uds, PROTO_STDIO_PORT, err);
	if (c.fd < 0)
		return c.fd;
	snprintf(what, sizeof(what), "attach %s", proto_stream_name(stream));
	payload = proto_attach_encode(&a, &len);
	if (proto_client_call(&c, payload, len, &r, what, err) < 0) {
		close(c.fd);
		return -1;
	}
	proto_reply_release(&r);
	return c.fd;
}

int proto_relay_attach(struct proto_relay *r, const char *uds, const char *cid, const char *eid,
		       bool tty, int in_fd, int out_fd, int err_fd, kiln_error_t *err)
{
	memset(r, 0, sizeof(*r));
	r->socks[0] = r->socks[1] = -1;
	r->winch_fd = r->tty_fd = r->raw_fd = -1;
	r->winch.fd = -1;
	if (tty && in_fd >= 0 && isatty(in_fd) && tcgetattr(in_fd, &r->saved) == 0) {
		struct termios raw = r->saved;

		cfmakeraw(&raw);
		if (tcsetattr(in_fd, TCSANOW, &raw) == 0)
			r->raw_fd = in_fd;
	}
	if (tty) {
		int fd = attach(uds, cid, eid, PROTO_STREAM_TERMINAL, err);

		if (fd < 0)
			return fd;
		r->socks[0] = fd;
		pump_init(&r->pumps[r->n++], fd, true, out_fd, false, false);
		if (in_fd >= 0) {
			/* A second fd for the same stream, so that the end of
			 * input shuts down only the writing side. */
			r->socks[1] = dup(fd);
			if (r->socks[1] < 0)
				return kiln_error_make(err, errno, "dup");
			pump_init(&r->pumps[r->n++], in_fd, false, r->socks[1], true, true);
		}
		return 0;
	}
	if (in_fd >= 0) {
		int fd = attach(uds, cid, eid, PROTO_STREAM_STDIN, err);

		if (fd < 0)
			return fd;
		pump_init(&r->pumps[r->n++], in_fd, false, fd, true, true);
	}
	for (int i = 0; i < 2; i++) {
		enum proto_stream s = i == 0 ? PROTO_STREAM_STDOUT : PROTO_STREAM_STDERR;
		int fd = attach(uds, cid, eid, s, err);

		if (fd < 0)
			return fd;
		r->socks[i] = fd;
		pump_init(&r->pumps[r->n++], fd, true, i == 0 ? out_fd : err_fd, false, false);
	}
	return 0;
}

void proto_relay_release(struct proto_relay *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct proto_pump *p = &r->pumps[i];

		/* Sockets are ours; host fds are the caller's. */
		if (p->src_is_sock && p->src >= 0)
			close(p->src);
		if (p->dst_is_sock && p->dst >= 0)
			close(p->dst);
		p->src = p->dst = -1;
	}
	r->n = 0;
	if (r->raw_fd >= 0)
		tcsetattr(r->raw_fd, TCSANOW, &r->saved);
	r->raw_fd = -1;
	if (r->winch_fd >= 0)
		close(r->winch_fd);
	r->winch_fd = -1;
	proto_client_close(&r->winch);
}

static void copy_winsize(struct proto_relay *r)
{
	struct winsize ws;
	kiln_error_t err = NULL;

	if (ioctl(r->tty_fd, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0 || ws.ws_col == 0)
		return;
	/* A lost resize is not worth ending the relay for. */
	if (proto_client_resize(&r->winch, r->cid, r->eid, ws.ws_row, ws.ws_col, &err) < 0)
		kiln_error_free(&err);
}

int proto_relay_follow_winsize(struct proto_relay *r, const char *uds, const char *cid,
			       const char *eid, int tty_fd, kiln_error_t *err)
{
	sigset_t winch;

	sigemptyset(&winch);
	sigaddset(&winch, SIGWINCH);
	r->winch_fd = signalfd(-1, &winch, SFD_CLOEXEC | SFD_NONBLOCK);
	if (r->winch_fd < 0)
		return kiln_error_make(err, errno, "signalfd");
	if (proto_client_open(&r->winch, uds, err) < 0)
		return -1;
	r->tty_fd = tty_fd;
	r->cid = cid;
	r->eid = eid;
	copy_winsize(r);
	return 0;
}

static void on_winch(struct proto_relay *r)
{
	struct signalfd_siginfo si;

	while (read(r->winch_fd, &si, sizeof(si)) == sizeof(si))
		;
	copy_winsize(r);
}

/* Reads what the control connection has; sets *have when the reply to
 * wait_id is in. */
static int read_wait_reply(int ctl, struct proto_decoder *dec, uint64_t wait_id, bool *have,
			   struct proto_wait_result *res, kiln_error_t *err)
{
	char buf[4096];
	ssize_t n = read(ctl, buf, sizeof(buf));
	size_t off = 0;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return kiln_error_make(err, ECONNRESET,
				       "wait: the agent closed the connection before the reply");
	while (off < (size_t)n) {
		cleanup_free char *frame = NULL;
		struct proto_reply rep = {0};
		size_t used, flen;
		int ret =
		    proto_decoder_feed(dec, buf + off, (size_t)n - off, &used, &frame, &flen, err);

		if (ret < 0)
			return kiln_error_wrap(err, "wait");
		off += used;
		if (ret == 0)
			continue;
		if (proto_reply_parse(frame, flen, &rep, err) < 0)
			return kiln_error_wrap(err, "wait");
		if (!rep.has_id || rep.id != wait_id) {
			proto_reply_release(&rep);
			continue;
		}
		if (rep.is_error) {
			ret = kiln_error_make(err, 0, "wait: %s: %s", rep.code_name,
					      rep.message ? rep.message : "");
			proto_reply_release(&rep);
			return ret;
		}
		ret = proto_result_wait(rep.result, res, err);
		proto_reply_release(&rep);
		if (ret < 0)
			return kiln_error_wrap(err, "wait");
		*have = true;
	}
	return 0;
}

int proto_relay_run(struct proto_relay *r, struct proto_client *c, const char *cid, const char *eid,
		    struct proto_wait_result *res, kiln_error_t *err)
{
	struct proto_target_params t = {.container_id = cid, .exec_id = eid};
	struct proto_decoder dec;
	uint64_t wait_id = c->next_id++;
	bool have_wait = false;
	size_t len;
	char *payload = proto_request_target(wait_id, PROTO_M_WAIT, &t, &len);
	int ret = proto_frame_write(c->fd, payload, len, err);

	free(payload);
	if (ret < 0)
		return kiln_error_wrap(err, "wait");
	proto_decoder_init(&dec);
	kiln_set_nonblock(c->fd, true);
	for (;;) {
		/* what each polled fd is: a pump's index, or one of these */
		enum { OWNER_CTL = -1, OWNER_WINCH = -2 };
		struct pollfd pfd[8];
		int owner[8];
		size_t np = 0;
		bool outputs_done = true;

		for (size_t i = 0; i < r->n; i++)
			if (!r->pumps[i].input && !r->pumps[i].done)
				outputs_done = false;
		if (outputs_done && have_wait)
			break;
		for (size_t i = 0; i < r->n; i++) {
			struct proto_pump *p = &r->pumps[i];

			if (p->done || (p->input && have_wait))
				continue;
			if (p->len > p->off)
				pfd[np] = (struct pollfd){.fd = p->dst, .events = POLLOUT};
			else
				pfd[np] = (struct pollfd){.fd = p->src, .events = POLLIN};
			owner[np++] = (int)i;
		}
		if (!have_wait) {
			pfd[np] = (struct pollfd){.fd = c->fd, .events = POLLIN};
			owner[np++] = OWNER_CTL;
		}
		if (r->winch_fd >= 0) {
			pfd[np] = (struct pollfd){.fd = r->winch_fd, .events = POLLIN};
			owner[np++] = OWNER_WINCH;
		}
		if (poll(pfd, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			ret = kiln_error_make(err, errno, "poll");
			break;
		}
		ret = 0;
		for (size_t i = 0; i < np && ret == 0; i++) {
			struct proto_pump *p = owner[i] >= 0 ? &r->pumps[owner[i]] : NULL;

			if (!pfd[i].revents)
				continue;
			if (owner[i] == OWNER_CTL)
				ret = read_wait_reply(c->fd, &dec, wait_id, &have_wait, res, err);
			else if (owner[i] == OWNER_WINCH)
				on_winch(r);
			else if (p->len > p->off)
				pump_write(p);
			else
				pump_read(p);
		}
		if (ret < 0)
			break;
	}
	kiln_set_nonblock(c->fd, false);
	proto_decoder_release(&dec);
	return ret;
}
