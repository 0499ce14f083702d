#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/util.h"
#include "vmm/evloop.h"

struct evloop_handler {
	int fd;
	bool dead;
	evloop_fn fn;
	void *opaque;
	struct evloop_handler *next;
};

int evloop_init(struct evloop *l, kiln_error_t *err)
{
	l->handlers = NULL;
	l->dead = NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return kiln_error_make(err, errno, "epoll_create1");
	return 0;
}

static void handlers_free(struct evloop_handler *h)
{
	while (h) {
		struct evloop_handler *next = h->next;

		free(h);
		h = next;
	}
}

void evloop_release(struct evloop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
	handlers_free(l->handlers);
	handlers_free(l->dead);
	l->handlers = l->dead = NULL;
}

int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn fn, void *opaque,
	       kiln_error_t *err)
{
	struct evloop_handler *h = xzalloc(sizeof(*h));
	struct epoll_event ev = {.events = events, .data.ptr = h};

	*h = (struct evloop_handler){.fd = fd, .fn = fn, .opaque = opaque, .next = l->handlers};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(h);
		return kiln_error_make(err, errno, "epoll_ctl add fd %d", fd);
	}
	l->handlers = h;
	return 0;
}

void evloop_del(struct evloop *l, int fd)
{
	for (struct evloop_handler **pp = &l->handlers; *pp; pp = &(*pp)->next) {
		struct evloop_handler *h = *pp;

		if (h->fd != fd)
			continue;
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		*pp = h->next;
		/* Events for h may still be in the current batch: keep it until
		 * the batch is done. */
		h->dead = true;
		h->next = l->dead;
		l->dead = h;
		return;
	}
}

int evloop_run_once(struct evloop *l, int timeout_ms)
{
	struct epoll_event evs[32];
	int n;

	n = epoll_wait(l->epfd, evs, ARRAY_SIZE(evs), timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct evloop_handler *h = evs[i].data.ptr;

		if (!h->dead)
			h->fn(h->opaque, evs[i].events);
	}
	handlers_free(l->dead);
	l->dead = NULL;
	return n;
}
