/* The agent's one event loop: epoll over watches that each carry their
 * callback, and frees deferred to the end of a batch so a callback may
 * drop an object that a later event of the same batch still names. */
#ifndef KILN_AGENT_LOOP_H
#define KILN_AGENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

struct agent_loop;
struct agent_watch;

typedef void (*agent_watch_fn)(struct agent_loop *loop, struct agent_watch *w, uint32_t events);

struct agent_watch {
	int fd;
	uint32_t events; /* EPOLLIN/EPOLLOUT currently asked for; 0: not registered */
	agent_watch_fn fn;
	void *owner;
};

struct agent_deferred {
	void (*fn)(void *);
	void *p;
};

struct agent_loop {
	int epfd;
	struct agent_deferred *deferred;
	size_t ndeferred, cap;
	/* Callbacks set it to end agent_loop_run(). */
	bool stop;
	void *data; /* the server */
};

int agent_loop_init(struct agent_loop *loop, kiln_error_t *err);
void agent_loop_release(struct agent_loop *loop);

/* Starts, changes or (events 0) stops watching w->fd. Returns 0 or -errno. */
int agent_watch_set(struct agent_loop *loop, struct agent_watch *w, uint32_t events);

/* Stops watching w and closes its fd (if >= 0); w->fd becomes -1. */
void agent_watch_close(struct agent_loop *loop, struct agent_watch *w);

/* fn(p) after the current batch of events. */
void agent_loop_defer(struct agent_loop *loop, void (*fn)(void *), void *p);

/* Waits up to timeout_ms (-1: forever) for one batch and dispatches it.
 * Returns the number of events handled, or -errno. */
int agent_loop_run_once(struct agent_loop *loop, int timeout_ms);

#endif
