/* The VMM's event loop: one epoll set, one thread (ARCHITECTURE.md: API,
 * event loop, one thread per vCPU). Device queue notifications (ioeventfds),
 * sockets and signals all arrive here; nothing busy-waits. */
#ifndef KILN_VMM_EVLOOP_H
#define KILN_VMM_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

/* Called on the event-loop thread with the epoll events that fired. */
typedef void (*evloop_fn)(void *opaque, uint32_t events);

struct evloop_handler;

struct evloop {
	int epfd;
	struct evloop_handler *handlers; /* live ones */
	struct evloop_handler *dead;	 /* removed during dispatch, freed after it */
};

int evloop_init(struct evloop *l, kiln_error_t *err);
void evloop_release(struct evloop *l);

/* Watches fd for events (EPOLLIN, ...); fn(opaque, events) runs on each. */
int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn fn, void *opaque,
	       kiln_error_t *err);
/* Stops watching fd; safe from inside a handler, including fd's own. */
void evloop_del(struct evloop *l, int fd);

/* Waits up to timeout_ms (-1: forever) and runs the handlers that are due.
 * Returns the number run, or -errno. */
int evloop_run_once(struct evloop *l, int timeout_ms);

#endif
