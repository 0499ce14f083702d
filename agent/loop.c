#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "agent/loop.h"
#include "common/util.h"

int agent_loop_init(struct agent_loop *loop, kiln_error_t *err)
{
	memset(loop, 0, sizeof(*loop));
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		return kiln_error_make(err, errno, "epoll_create1");
	return 0;
}

static void loop_run_deferred(struct agent_loop *loop)
{
	/* A deferred function may defer more; run until none is left. */
	for (size_t i = 0; i < loop->ndeferred; i++)
		loop->deferred[i].fn(loop->deferred[i].p);
	loop->ndeferred = 0;
}

void agent_loop_release(struct agent_loop *loop)
{
	loop_run_deferred(loop);
	free(loop->deferred);
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
	loop->deferred = NULL;
	loop->cap = 0;
}

int agent_watch_set(struct agent_loop *loop, struct agent_watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	int op;

	if (w->fd < 0 || events == w->events)
		return 0;
	if (events == 0)
		op = EPOLL_CTL_DEL;
	else
		op = w->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
	if (epoll_ctl(loop->epfd, op, w->fd, &ev) < 0)
		return -errno;
	w->events = events;
	return 0;
}

void agent_watch_close(struct agent_loop *loop, struct agent_watch *w)
{
	if (w->fd < 0)
		return;
	agent_watch_set(loop, w, 0);
	close(w->fd);
	w->fd = -1;
	w->events = 0;
}

void agent_loop_defer(struct agent_loop *loop, void (*fn)(void *), void *p)
{
	if (loop->ndeferred == loop->cap) {
		loop->cap = loop->cap ? loop->cap * 2 : 16;
		loop->deferred = xrealloc(loop->deferred, loop->cap * sizeof(*loop->deferred));
	}
	loop->deferred[loop->ndeferred++] = (struct agent_deferred){fn, p};
}

int agent_loop_run_once(struct agent_loop *loop, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(loop->epfd, evs, ARRAY_SIZE(evs), timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct agent_watch *w = evs[i].data.ptr;

		/* A watch stopped earlier in this batch keeps its memory until
		 * the deferred frees below, so it can be checked here. */
		if (w->fd < 0 || w->events == 0)
			continue;
		w->fn(loop, w, evs[i].events);
	}
	loop_run_deferred(loop);
	return n;
}
