/* A one-way byte pump between a process's stdio and a host stream, driven
 * by the event loop. It holds at most one buffer of data and reads its
 * source only when that buffer is empty, so a slow reader on the far side
 * stops the reads and the process blocks on its full pipe: back-pressure,
 * never loss (docs/agent-protocol.md "Stdio"). */
#ifndef KILN_AGENT_PUMP_H
#define KILN_AGENT_PUMP_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/loop.h"

#define AGENT_PUMP_BUF ((size_t)64 * 1024)

struct agent_pump {
	struct agent_watch src, dst; /* fd -1: closed, or not attached yet */
	char *buf;
	size_t off, len;
	bool src_eof;	      /* source ended; dst is closed once drained */
	bool dst_was_closed;  /* dst ended for good (output: delivered) */
	bool input;	      /* host -> process (stdin), else process -> host */
	bool tty_input;	      /* input into a pty master: close sends VEOF */
	bool close_requested; /* close_stdin: end after what is buffered */
	/* Called when the pump finishes (output: all delivered). */
	void (*on_done)(void *opaque);
	void *opaque;
};

/* src and dst fds are taken (either may be -1 and set later). */
void agent_pump_init(struct agent_pump *p, int src, int dst);
/* Starts the pump's watches. */
void agent_pump_start(struct agent_loop *loop, struct agent_pump *p);

/* Attaches a destination (a host stream for output, or the process's
 * stdin for input). Returns -EBUSY when one is attached. */
int agent_pump_attach_dst(struct agent_loop *loop, struct agent_pump *p, int fd);
/* Attaches a source (the host's stdin stream). -EBUSY when attached,
 * -EPIPE when the pump is finished. */
int agent_pump_attach_src(struct agent_loop *loop, struct agent_pump *p, int fd);

/* Input: ends the process's stdin once what is buffered is written; later
 * bytes from the host are dropped. */
void agent_pump_close_input(struct agent_loop *loop, struct agent_pump *p);

/* True when the source ended and every byte reached the destination. */
bool agent_pump_done(const struct agent_pump *p);

/* Closes both ends. */
void agent_pump_release(struct agent_loop *loop, struct agent_pump *p);

#endif
