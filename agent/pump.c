#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "agent/pump.h"
#include "common/util.h"

static void pump_src_ready(struct agent_loop *loop, struct agent_watch *w, uint32_t events);
static void pump_dst_ready(struct agent_loop *loop, struct agent_watch *w, uint32_t events);

void agent_pump_init(struct agent_pump *p, int src, int dst)
{
	memset(p, 0, sizeof(*p));
	p->src = (struct agent_watch){.fd = src, .fn = pump_src_ready, .owner = p};
	p->dst = (struct agent_watch){.fd = dst, .fn = pump_dst_ready, .owner = p};
	p->buf = xmalloc(AGENT_PUMP_BUF);
}

bool agent_pump_done(const struct agent_pump *p)
{
	return p->src_eof && p->len == 0;
}

/* Asks for exactly the events the pump can act on now: read only into an
 * empty buffer, write only what is buffered. */
static void pump_update(struct agent_loop *loop, struct agent_pump *p)
{
	agent_watch_set(loop, &p->src, p->len == 0 && !p->src_eof ? EPOLLIN : 0);
	agent_watch_set(loop, &p->dst, p->len > 0 ? EPOLLOUT : 0);
}

/* The source ended and the buffer is empty: end the destination too. */
static void pump_finish(struct agent_loop *loop, struct agent_pump *p)
{
	if (p->dst.fd >= 0) {
		/* A stream gets a clean EOF; for a pipe this is a no-op
		 * that fails with ENOTSOCK. */
		shutdown(p->dst.fd, SHUT_WR);
		agent_watch_close(loop, &p->dst);
		p->dst_was_closed = true;
	}
	if (p->on_done != NULL) {
		void (*fn)(void *) = p->on_done;

		p->on_done = NULL;
		fn(p->opaque);
	}
}

static void pump_src_ready(struct agent_loop *loop, struct agent_watch *w, uint32_t events)
{
	struct agent_pump *p = w->owner;
	ssize_t n;

	(void)events;
	n = read(p->src.fd, p->buf, AGENT_PUMP_BUF);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		p->off = 0;
		p->len = (size_t)n;
		pump_update(loop, p);
		return;
	}
	/* 0 is EOF; a pty master reads EIO once every slave fd is closed.
	 * A host stream that failed (reset) also ends its input: the
	 * process sees EOF on stdin. Not so for a terminal: its viewer
	 * going away is no end of input, and a new one may attach. */
	agent_watch_close(loop, &p->src);
	if (p->tty_input) {
		pump_update(loop, p);
		return;
	}
	p->src_eof = true;
	pump_update(loop, p);
	if (agent_pump_done(p))
		pump_finish(loop, p);
}

static void pump_dst_ready(struct agent_loop *loop, struct agent_watch *w, uint32_t events)
{
	struct agent_pump *p = w->owner;
	ssize_t n;

	(void)events;
	n = send(p->dst.fd, p->buf + p->off, p->len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && errno == ENOTSOCK)
		n = write(p->dst.fd, p->buf + p->off, p->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		if (p->input) {
			/* The process closed its stdin (or exited): nothing
			 * more can be delivered; drop what the host sends. */
			p->len = 0;
			agent_watch_close(loop, &p->dst);
			agent_watch_close(loop, &p->src);
			p->src_eof = true;
			return;
		}
		/* The host stream is gone. Keep the unsent bytes for the
		 * next attach; the process blocks meanwhile. */
		agent_watch_close(loop, &p->dst);
		pump_update(loop, p);
		return;
	}
	p->off += (size_t)n;
	p->len -= (size_t)n;
	if (p->len == 0 && p->close_requested) {
		agent_watch_close(loop, &p->src);
		p->src_eof = true;
	}
	pump_update(loop, p);
	if (agent_pump_done(p))
		pump_finish(loop, p);
}

void agent_pump_start(struct agent_loop *loop, struct agent_pump *p)
{
	if (p->src.fd < 0 && p->src_eof && p->len == 0)
		pump_finish(loop, p);
	else
		pump_update(loop, p);
}

int agent_pump_attach_dst(struct agent_loop *loop, struct agent_pump *p, int fd)
{
	if (p->dst.fd >= 0)
		return -EBUSY;
	if (p->dst_was_closed || agent_pump_done(p)) {
		/* Everything was delivered already: the new stream gets EOF. */
		shutdown(fd, SHUT_WR);
		close(fd);
		p->dst_was_closed = true;
		return 0;
	}
	p->dst.fd = fd;
	pump_update(loop, p);
	return 0;
}

int agent_pump_attach_src(struct agent_loop *loop, struct agent_pump *p, int fd)
{
	if (p->src.fd >= 0)
		return -EBUSY;
	if (p->src_eof || p->dst.fd < 0)
		return -EPIPE;
	p->src.fd = fd;
	pump_update(loop, p);
	return 0;
}

void agent_pump_close_input(struct agent_loop *loop, struct agent_pump *p)
{
	if (p->tty_input) {
		struct termios t;
		char veof = 4; /* ^D */

		/* A terminal has no separate stdin to close: its line
		 * discipline turns VEOF into end-of-file for the reader. */
		if (p->dst.fd >= 0 && tcgetattr(p->dst.fd, &t) == 0 && t.c_cc[VEOF] != 0)
			veof = (char)t.c_cc[VEOF];
		if (p->dst.fd >= 0 && p->off + p->len < AGENT_PUMP_BUF) {
			p->buf[p->off + p->len] = veof;
			p->len++;
			pump_update(loop, p);
		}
		return;
	}
	p->close_requested = true;
	if (p->len == 0) {
		agent_watch_close(loop, &p->src);
		p->src_eof = true;
		pump_update(loop, p);
		pump_finish(loop, p);
	}
}

void agent_pump_release(struct agent_loop *loop, struct agent_pump *p)
{
	agent_watch_close(loop, &p->src);
	agent_watch_close(loop, &p->dst);
	free(p->buf);
	p->buf = NULL;
}
