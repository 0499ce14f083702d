/* The API server: one thread that accepts on the unix socket and serves its
 * connections with HTTP/1.1 keep-alive, handling one request at a time
 * across all of them (Firecracker's API thread does the same), so requests
 * reach the routes strictly in order. A client that sends garbage gets its
 * 400 and loses its connection; nobody else notices. */
#include "vmm/api/api.h"

#include <errno.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "common/io.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/seccomp.h"

/* Connections served at once; more wait in the listen backlog. */
#define MAX_CONNS 16
/* A client that stops reading its responses may not hold the thread. */
#define SEND_TIMEOUT_SEC 5

struct conn {
	int fd;
	char *buf; /* HTTP_MAX_REQUEST bytes: always room for one whole request */
	size_t len;
	bool continue_sent; /* "100 Continue" already sent for this request */
	/* Length of the request whose body is arriving: no need to parse its
	 * headers again before that many bytes are in. */
	size_t need;
};

struct vmm_api_server {
	struct vmm_api *api;
	pthread_t thread;
	int listen_fd;
	int stop_fd; /* eventfd: written by vmm_api_server_stop() */
	char *sock_path;
	struct conn conns[MAX_CONNS];
	size_t nr_conns;
	/* The thread's seccomp filter is loaded (or failed): posted once. */
	sem_t started;
	int seccomp_r;
	kiln_error_t seccomp_err;
};

/* send() without SIGPIPE: a client that hung up must not kill the VMM. */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int response_send(int fd, const struct http_response *resp, bool keep_alive)
{
	size_t len;
	cleanup_free char *wire = http_response_serialize(resp, keep_alive, &len);

	return send_all(fd, wire, len);
}

static void conn_close(struct vmm_api_server *s, size_t i)
{
	close(s->conns[i].fd);
	free(s->conns[i].buf);
	s->conns[i] = s->conns[--s->nr_conns];
}

/* Answers every complete request in the buffer (pipelining). Returns false
 * when the connection must be closed. */
static bool conn_process(struct vmm_api_server *s, struct conn *c)
{
	for (;;) {
		struct http_request req;
		struct http_response resp;
		size_t consumed = 0;
		enum http_parse_result r = http_request_parse(c->buf, c->len, &req, &consumed);
		bool keep_alive;
		int ret;

		if (r == HTTP_PARSE_PARTIAL) {
			/* Leading blank lines can fill the buffer without
			 * tripping the header limit. */
			if (c->len == HTTP_MAX_REQUEST) {
				http_response_init(&resp);
				http_response_set_fault(&resp, 400,
							"request does not fit in %d bytes",
							HTTP_MAX_REQUEST);
				response_send(c->fd, &resp, false);
				http_response_release(&resp);
				return false;
			}
			/* RFC 9110 §10.1.1: tell the client to send the body. */
			if (req.headers_done && req.expect_continue && !c->continue_sent) {
				static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

				c->continue_sent = true;
				if (send_all(c->fd, cont, sizeof(cont) - 1) < 0)
					return false;
			}
			if (req.headers_done)
				c->need = req.request_len;
			return true;
		}

		http_response_init(&resp);
		if (r == HTTP_PARSE_ERROR) {
			log_debug("api: bad request: %s", req.error_msg);
			http_response_set_fault(&resp, req.error_status, "%s", req.error_msg);
			response_send(c->fd, &resp, false);
			http_response_release(&resp);
			return false;
		}

		vmm_api_handle(s->api, &req, &resp);
		keep_alive = req.keep_alive;
		ret = response_send(c->fd, &resp, keep_alive);
		http_response_release(&resp);
		if (ret < 0 || !keep_alive)
			return false;
		memmove(c->buf, c->buf + consumed, c->len - consumed);
		c->len -= consumed;
		c->continue_sent = false;
		c->need = 0;
	}
}

/* Reads what is there and serves it. Returns false to close. */
static bool conn_readable(struct vmm_api_server *s, struct conn *c)
{
	ssize_t n;

	do
		n = recv(c->fd, c->buf + c->len, HTTP_MAX_REQUEST - c->len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK;
	/* EOF: a half-sent request has nobody left to answer. */
	if (n == 0)
		return false;
	c->len += (size_t)n;
	if (c->len < c->need)
		return true;
	return conn_process(s, c);
}

static void conn_accept(struct vmm_api_server *s)
{
	struct timeval tv = {.tv_sec = SEND_TIMEOUT_SEC};
	struct conn *c;
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warning("api: accept: %s", strerror(errno));
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	c = &s->conns[s->nr_conns++];
	c->fd = fd;
	c->buf = xmalloc(HTTP_MAX_REQUEST);
	c->len = 0;
	c->continue_sent = false;
	c->need = 0;
}

static void *server_thread(void *arg)
{
	struct vmm_api_server *s = arg;
	struct pollfd pfds[MAX_CONNS + 2];

	s->seccomp_r = vmm_seccomp_install(s->api->seccomp, VMM_SECCOMP_API, &s->seccomp_err);
	sem_post(&s->started);
	if (s->seccomp_r < 0)
		return NULL;
	for (;;) {
		size_t nfds = 0, nr = s->nr_conns;
		int r;

		pfds[nfds++] = (struct pollfd){.fd = s->stop_fd, .events = POLLIN};
		/* A full table leaves new clients in the backlog. */
		pfds[nfds++] =
		    (struct pollfd){.fd = nr < MAX_CONNS ? s->listen_fd : -1, .events = POLLIN};
		for (size_t i = 0; i < nr; i++)
			pfds[nfds++] = (struct pollfd){.fd = s->conns[i].fd, .events = POLLIN};

		r = poll(pfds, nfds, -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_error("api: poll: %s", strerror(errno));
			break;
		}
		if (pfds[0].revents)
			break;
		/* Backwards, so closing (which moves the last entry into the
		 * hole) never skips a connection polled in this round. */
		for (size_t i = nr; i-- > 0;) {
			if (pfds[i + 2].revents == 0)
				continue;
			if (!conn_readable(s, &s->conns[i]))
				conn_close(s, i);
		}
		if (pfds[1].revents & POLLIN)
			conn_accept(s);
	}
	while (s->nr_conns > 0)
		conn_close(s, s->nr_conns - 1);
	return NULL;
}

int vmm_api_server_start(struct vmm_api *api, const char *sock_path, kiln_error_t *err)
{
	struct vmm_api_server *s;
	sigset_t all, old;
	int r;

	if (api->server != NULL)
		return kiln_error_make(err, 0, "API server already running on '%s'",
				       api->server->sock_path);
	s = xzalloc(sizeof(*s));
	s->api = api;
	s->stop_fd = -1;
	sem_init(&s->started, 0, 0);
	s->listen_fd = kiln_unix_listen(sock_path, err);
	if (s->listen_fd < 0)
		goto fail;
	s->sock_path = xstrdup(sock_path);
	/* Whoever can connect drives the VM. */
	if (chmod(sock_path, 0600) < 0) {
		kiln_error_make(err, errno, "chmod '%s'", sock_path);
		goto fail;
	}
	r = kiln_set_nonblock(s->listen_fd, true);
	if (r < 0) {
		kiln_error_make(err, r, "set '%s' non-blocking", sock_path);
		goto fail;
	}
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (s->stop_fd < 0) {
		kiln_error_make(err, errno, "eventfd");
		goto fail;
	}

	/* Signals are the VMM's business (vCPU kicks, SIGTERM); the thread
	 * must never be the one that receives them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&s->thread, NULL, server_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		kiln_error_make(err, r, "start the API server thread");
		goto fail;
	}
	/* Named like Firecracker's API thread ("fc_api"), for ps and gdb. */
	pthread_setname_np(s->thread, "kiln_api");
	while (sem_wait(&s->started) < 0)
		;
	if (s->seccomp_r < 0) {
		pthread_join(s->thread, NULL);
		kiln_error_free(err);
		if (err)
			*err = TAKE_PTR(s->seccomp_err);
		goto fail;
	}
	api->server = s;
	return 0;

fail:
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(sock_path);
	}
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	free(s->sock_path);
	kiln_error_free(&s->seccomp_err);
	sem_destroy(&s->started);
	free(s);
	return -1;
}

void vmm_api_server_stop(struct vmm_api *api)
{
	struct vmm_api_server *s = api->server;
	uint64_t one = 1;
	ssize_t w;

	if (s == NULL)
		return;
	/* An eventfd write of 1 fails only on counter overflow, which one
	 * stop cannot cause. */
	w = kiln_write_all(s->stop_fd, &one, sizeof(one));
	if (w < 0)
		log_error("api: cannot stop the server thread: %s", strerror((int)-w));
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	close(s->stop_fd);
	if (unlink(s->sock_path) < 0 && errno != ENOENT)
		log_warning("api: remove '%s': %s", s->sock_path, strerror(errno));
	free(s->sock_path);
	sem_destroy(&s->started);
	free(s);
	api->server = NULL;
}
