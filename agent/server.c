#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent/cgroup.h"
#include "agent/server.h"
#include "common/io.h"
#include "common/log.h"
#include "common/util.h"

struct agent_conn {
	struct agent_conn *next;
	struct agent_server *srv;
	struct agent_watch w;
	bool stdio; /* stdio port, before its attach frame */
	struct proto_decoder dec;
	char *out;
	size_t out_off, out_len, out_cap;
	bool close_when_flushed; /* framing error: the stream is lost */
};

static void conn_ready(struct agent_loop *loop, struct agent_watch *w, uint32_t events);

/* ---- connections */

static void conn_update(struct agent_conn *c)
{
	uint32_t ev = 0;
	size_t pending = c->out_len - c->out_off;

	if (!c->close_when_flushed && pending < AGENT_CONN_OUT_MAX)
		ev |= EPOLLIN;
	if (pending > 0)
		ev |= EPOLLOUT;
	agent_watch_set(&c->srv->loop, &c->w, ev);
}

static void conn_free(void *p)
{
	struct agent_conn *c = p;

	proto_decoder_release(&c->dec);
	free(c->out);
	free(c);
}

/* Unlinks c; fd is closed unless keep_fd (handed to a pump). */
static void conn_close(struct agent_conn *c, bool keep_fd)
{
	struct agent_server *s = c->srv;

	for (struct agent_conn **pp = &s->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	agent_proctab_drop_waiters(&s->tab, c);
	if (keep_fd) {
		agent_watch_set(&s->loop, &c->w, 0);
		c->w.fd = -1;
	} else {
		agent_watch_close(&s->loop, &c->w);
	}
	agent_loop_defer(&s->loop, conn_free, c);
}

static bool conn_flush(struct agent_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->w.fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			log_debug("connection %d: send: %s", c->w.fd, strerror(errno));
			conn_close(c, false);
			return false;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->close_when_flushed) {
			conn_close(c, false);
			return false;
		}
	}
	conn_update(c);
	return true;
}

/* Queues one frame holding payload (taken) and tries to send it. */
static void conn_send(struct agent_conn *c, char *payload, size_t len)
{
	size_t flen;
	cleanup_free char *frame = proto_frame_encode(payload, len, &flen);

	free(payload);
	if (c->out_len + flen > c->out_cap) {
		c->out_cap = (c->out_len + flen) * 2;
		c->out = xrealloc(c->out, c->out_cap);
	}
	memcpy(c->out + c->out_len, frame, flen);
	c->out_len += flen;
	conn_flush(c);
}

static void conn_send_error(struct agent_conn *c, const uint64_t *id, enum proto_errcode code,
			    const char *msg)
{
	size_t len;
	char *reply = proto_reply_error(id, code, msg, &len);

	conn_send(c, reply, len);
}

void agent_server_add_conn(struct agent_server *s, int fd, bool stdio)
{
	struct agent_conn *c = xzalloc(sizeof(*c));

	kiln_set_nonblock(fd, true);
	c->srv = s;
	c->stdio = stdio;
	c->w = (struct agent_watch){.fd = fd, .fn = conn_ready, .owner = c};
	proto_decoder_init(&c->dec);
	c->next = s->conns;
	s->conns = c;
	conn_update(c);
}

/* ---- wait completion */

static void proc_check_done(struct agent_server *s, struct agent_proc *p)
{
	struct proto_wait_result w;
	struct agent_waiter *list;

	if (!agent_proc_done(p) || p->waiters == NULL)
		return;
	agent_wait_result(p->status, &w);
	list = p->waiters;
	p->waiters = NULL;
	while (list != NULL) {
		struct agent_waiter *next = list->next;
		size_t len;
		char *reply = proto_reply_wait(list->id, &w, &len);

		conn_send(list->conn, reply, len);
		free(list);
		list = next;
	}
	/* An exec'd process is forgotten once its status was handed out;
	 * the container's init stays, as the container's state. */
	if (p->exec_id[0] != '\0')
		agent_proc_remove(p, &s->loop);
}

static void pump_done(void *opaque)
{
	struct agent_proc *p = opaque;

	proc_check_done(p->ctr->owner, p);
}

void agent_server_proc_started(struct agent_server *s, struct agent_proc *p)
{
	struct agent_pump *outs[] = {&p->out, &p->err};

	p->ctr->owner = s;
	for (size_t i = 0; i < ARRAY_SIZE(outs); i++) {
		outs[i]->on_done = pump_done;
		outs[i]->opaque = p;
	}
	if (p->has_in)
		agent_pump_start(&s->loop, &p->in);
	if (p->has_out)
		agent_pump_start(&s->loop, &p->out);
	if (p->has_err)
		agent_pump_start(&s->loop, &p->err);
}

void agent_server_reap(struct agent_server *s)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		struct agent_proc *p;

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		p = agent_proctab_find_pid(&s->tab, pid);
		if (p == NULL)
			continue;
		log_debug("process %d (%s/%s) exited with status %#x", pid, p->ctr->id,
			  p->exec_id[0] ? p->exec_id : "init", status);
		agent_proc_set_exited(p, status);
		proc_check_done(s, p);
	}
}

/* ---- requests */

/* The process a request names, or an error reply sent. */
static struct agent_proc *lookup(struct agent_conn *c, uint64_t id, const char *ctr_id,
				 const char *exec_id)
{
	struct agent_ctr *ctr = agent_ctr_find(&c->srv->tab, ctr_id);
	struct agent_proc *p;
	cleanup_free char *msg = NULL;

	if (ctr == NULL) {
		msg = xasprintf("no container \"%s\"", ctr_id);
		conn_send_error(c, &id, PROTO_ERR_NOT_FOUND, msg);
		return NULL;
	}
	p = agent_proc_find(ctr, exec_id);
	if (p == NULL) {
		msg = xasprintf("container \"%s\" has no process \"%s\"", ctr_id, exec_id);
		conn_send_error(c, &id, PROTO_ERR_NOT_FOUND, msg);
		return NULL;
	}
	return p;
}

static void reply_empty(struct agent_conn *c, uint64_t id)
{
	size_t len;
	char *r = proto_reply_empty(id, &len);

	conn_send(c, r, len);
}

static void reply_err(struct agent_conn *c, uint64_t id, enum proto_errcode code, kiln_error_t *err)
{
	conn_send_error(c, &id, code, *err != NULL ? (*err)->msg : "failed");
	kiln_error_free(err);
}

static void do_create(struct agent_conn *c, struct proto_request *req)
{
	struct agent_server *s = c->srv;
	const struct proto_create_params *prm = &req->p.create;
	struct agent_spec spec;
	struct agent_ctr *ctr;
	struct agent_proc *p;
	kiln_error_t err = NULL;
	char *reply;
	size_t len;

	if (agent_ctr_find(&s->tab, prm->container_id) != NULL) {
		cleanup_free char *msg = xasprintf("container \"%s\" exists", prm->container_id);

		conn_send_error(c, &req->id, PROTO_ERR_ALREADY_EXISTS, msg);
		return;
	}
	if (agent_spec_parse(prm->spec, &spec, &err) < 0) {
		agent_spec_release(&spec);
		reply_err(c, req->id, PROTO_ERR_INVALID_PARAMS, &err);
		return;
	}
	ctr = agent_ctr_add(&s->tab, prm->container_id);
	p = agent_proc_add(ctr, "");
	if (agent_container_create(&s->rt, ctr, p, &spec, prm, &err) < 0) {
		char *cg = ctr->cgroup != NULL ? xstrdup(ctr->cgroup) : NULL;

		agent_ctr_remove(&s->tab, ctr, &s->loop);
		agent_cgroup_remove(cg);
		free(cg);
		agent_spec_release(&spec);
		kiln_error_wrap(&err, "create %s", prm->container_id);
		reply_err(c, req->id, PROTO_ERR_FAILED, &err);
		return;
	}
	agent_spec_release(&spec);
	agent_server_proc_started(s, p);
	log_info("container %s created, init pid %d", ctr->id, p->pid);
	reply = proto_reply_pid(req->id, p->pid, &len);
	conn_send(c, reply, len);
}

static void do_start(struct agent_conn *c, struct proto_request *req)
{
	struct agent_proc *p = lookup(c, req->id, req->p.target.container_id, "");
	kiln_error_t err = NULL;

	if (p == NULL)
		return;
	if (p->start_fd < 0) {
		conn_send_error(c, &req->id, PROTO_ERR_INVALID_STATE,
				"the container was started already");
		return;
	}
	if (agent_container_start(p, &err) < 0) {
		kiln_error_wrap(&err, "start %s", p->ctr->id);
		reply_err(c, req->id, PROTO_ERR_FAILED, &err);
		return;
	}
	reply_empty(c, req->id);
}

static void do_exec(struct agent_conn *c, struct proto_request *req)
{
	struct agent_server *s = c->srv;
	const struct proto_exec_params *prm = &req->p.exec;
	struct agent_ctr *ctr = agent_ctr_find(&s->tab, prm->container_id);
	cleanup_oci_process struct oci_process *proc = NULL;
	struct agent_proc *p, *init;
	kiln_error_t err = NULL;
	char *reply;
	size_t len;

	if (ctr == NULL) {
		cleanup_free char *msg = xasprintf("no container \"%s\"", prm->container_id);

		conn_send_error(c, &req->id, PROTO_ERR_NOT_FOUND, msg);
		return;
	}
	init = agent_ctr_init(ctr);
	if (init == NULL || init->state != AGENT_PROC_RUNNING) {
		conn_send_error(c, &req->id, PROTO_ERR_INVALID_STATE,
				"the container is not running");
		return;
	}
	if (agent_proc_find(ctr, prm->exec_id) != NULL) {
		cleanup_free char *msg = xasprintf("process \"%s\" exists", prm->exec_id);

		conn_send_error(c, &req->id, PROTO_ERR_ALREADY_EXISTS, msg);
		return;
	}
	if (agent_process_parse(prm->process, &proc, &err) < 0) {
		reply_err(c, req->id, PROTO_ERR_INVALID_PARAMS, &err);
		return;
	}
	p = agent_proc_add(ctr, prm->exec_id);
	if (agent_container_exec(&s->rt, ctr, p, proc, &prm->stdio, &err) < 0) {
		agent_proc_remove(p, &s->loop);
		kiln_error_wrap(&err, "exec %s in %s", prm->exec_id, ctr->id);
		reply_err(c, req->id, PROTO_ERR_FAILED, &err);
		return;
	}
	agent_server_proc_started(s, p);
	reply = proto_reply_pid(req->id, p->pid, &len);
	conn_send(c, reply, len);
}

static void do_signal(struct agent_conn *c, struct proto_request *req)
{
	const struct proto_signal_params *prm = &req->p.signal;
	struct agent_proc *p = lookup(c, req->id, prm->container_id, prm->exec_id);
	kiln_error_t err = NULL;

	if (p == NULL)
		return;
	if (prm->all && p->ctr->cgroup != NULL) {
		if (agent_cgroup_kill(p->ctr->cgroup, prm->signal, &err) < 0) {
			reply_err(c, req->id, PROTO_ERR_FAILED, &err);
			return;
		}
		reply_empty(c, req->id);
		return;
	}
	if (p->state == AGENT_PROC_EXITED || kill(p->pid, prm->signal) < 0) {
		conn_send_error(c, &req->id, PROTO_ERR_INVALID_STATE, "the process has exited");
		return;
	}
	reply_empty(c, req->id);
}

static void do_wait(struct agent_conn *c, struct proto_request *req)
{
	struct agent_proc *p =
	    lookup(c, req->id, req->p.target.container_id, req->p.target.exec_id);

	if (p == NULL)
		return;
	agent_proc_add_waiter(p, c, req->id);
	proc_check_done(c->srv, p);
}

static void do_stats(struct agent_conn *c, struct proto_request *req)
{
	struct agent_proc *p = lookup(c, req->id, req->p.target.container_id, "");
	struct proto_stats_result st;
	kiln_error_t err = NULL;
	char *reply;
	size_t len;

	if (p == NULL)
		return;
	if (p->ctr->cgroup == NULL) {
		conn_send_error(c, &req->id, PROTO_ERR_FAILED,
				"the guest has no cgroup for this container");
		return;
	}
	if (agent_cgroup_stats(p->ctr->cgroup, &st, &err) < 0) {
		reply_err(c, req->id, PROTO_ERR_FAILED, &err);
		return;
	}
	reply = proto_reply_stats(req->id, &st, &len);
	conn_send(c, reply, len);
}

static void do_resize(struct agent_conn *c, struct proto_request *req)
{
	const struct proto_resize_params *prm = &req->p.resize;
	struct agent_proc *p = lookup(c, req->id, prm->container_id, prm->exec_id);
	struct winsize ws = {.ws_row = prm->height, .ws_col = prm->width};

	if (p == NULL)
		return;
	if (!p->terminal || p->out.src.fd < 0) {
		conn_send_error(c, &req->id, PROTO_ERR_INVALID_STATE,
				p->terminal ? "the terminal is closed"
					    : "the process has no terminal");
		return;
	}
	if (ioctl(p->out.src.fd, TIOCSWINSZ, &ws) < 0) {
		kiln_error_t err = NULL;

		kiln_error_make(&err, errno, "resize");
		reply_err(c, req->id, PROTO_ERR_FAILED, &err);
		return;
	}
	reply_empty(c, req->id);
}

static void do_close_stdin(struct agent_conn *c, struct proto_request *req)
{
	struct agent_proc *p =
	    lookup(c, req->id, req->p.target.container_id, req->p.target.exec_id);

	if (p == NULL)
		return;
	if (p->has_in)
		agent_pump_close_input(&c->srv->loop, &p->in);
	reply_empty(c, req->id);
}

static void handle_request(struct agent_conn *c, const char *frame, size_t len)
{
	struct proto_request req;
	enum proto_errcode code;
	kiln_error_t err = NULL;

	if (proto_request_parse(frame, len, &req, &code, &err) < 0) {
		conn_send_error(c, req.has_id ? &req.id : NULL, code, err->msg);
		kiln_error_free(&err);
		proto_request_release(&req);
		return;
	}
	log_debug("request %llu: %s", (unsigned long long)req.id, proto_method_name(req.method));
	switch (req.method) {
	case PROTO_M_PING:
		reply_empty(c, req.id);
		break;
	case PROTO_M_VERSION: {
		struct proto_version_result v = {"kiln-agent", AGENT_VERSION, PROTO_VERSION};
		char *reply;
		size_t n;

		reply = proto_reply_version(req.id, &v, &n);
		conn_send(c, reply, n);
		break;
	}
	case PROTO_M_CREATE:
		do_create(c, &req);
		break;
	case PROTO_M_START:
		do_start(c, &req);
		break;
	case PROTO_M_EXEC:
		do_exec(c, &req);
		break;
	case PROTO_M_SIGNAL:
		do_signal(c, &req);
		break;
	case PROTO_M_WAIT:
		do_wait(c, &req);
		break;
	case PROTO_M_STATS:
		do_stats(c, &req);
		break;
	case PROTO_M_RESIZE:
		do_resize(c, &req);
		break;
	case PROTO_M_CLOSE_STDIN:
		do_close_stdin(c, &req);
		break;
	case PROTO_M_SHUTDOWN:
		reply_empty(c, req.id);
		c->srv->shutdown_requested = true;
		break;
	case PROTO_M_COUNT:
		break;
	}
	proto_request_release(&req);
}

/* ---- stdio attach */

static void attach_reply(struct agent_conn *c, enum proto_errcode code, const char *msg, bool ok)
{
	uint64_t zero = 0;
	size_t len, flen;
	cleanup_free char *payload =
	    ok ? proto_reply_empty(0, &len) : proto_reply_error(&zero, code, msg, &len);
	cleanup_free char *frame = proto_frame_encode(payload, len, &flen);

	/* A new connection's send buffer holds this small frame whole. */
	if (send(c->w.fd, frame, flen, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)flen)
		log_debug("stdio connection %d: attach reply: %s", c->w.fd, strerror(errno));
}

/* Why stream st of p cannot be attached now, or NULL. */
static const char *attach_refusal(const struct agent_proc *p, enum proto_stream st)
{
	switch (st) {
	case PROTO_STREAM_TERMINAL:
		if (!p->terminal)
			return "the process has no terminal";
		return p->out.dst.fd >= 0 ? "the terminal is attached already" : NULL;
	case PROTO_STREAM_STDIN:
		if (p->terminal || !p->has_in)
			return "stdin was not asked for at create or exec";
		if (p->in.src.fd >= 0)
			return "stdin is attached already";
		return p->in.src_eof || p->in.dst.fd < 0 ? "stdin has ended" : NULL;
	case PROTO_STREAM_STDOUT:
		if (p->terminal || !p->has_out)
			return "stdout was not asked for at create or exec";
		return p->out.dst.fd >= 0 ? "stdout is attached already" : NULL;
	case PROTO_STREAM_STDERR:
		if (p->terminal || !p->has_err)
			return "stderr was not asked for at create or exec";
		return p->err.dst.fd >= 0 ? "stderr is attached already" : NULL;
	case PROTO_STREAM_COUNT:
		break;
	}
	return "unknown stream";
}

static void attach_stream(struct agent_server *s, struct agent_proc *p, enum proto_stream st,
			  int fd)
{
	switch (st) {
	case PROTO_STREAM_TERMINAL: {
		int in = fcntl(fd, F_DUPFD_CLOEXEC, 3);

		agent_pump_attach_dst(&s->loop, &p->out, fd);
		/* Input from the host is optional: without a second fd the
		 * terminal is output only. */
		if (in >= 0 && agent_pump_attach_src(&s->loop, &p->in, in) < 0)
			close(in);
		break;
	}
	case PROTO_STREAM_STDIN:
		if (agent_pump_attach_src(&s->loop, &p->in, fd) < 0)
			close(fd);
		break;
	case PROTO_STREAM_STDOUT:
		if (agent_pump_attach_dst(&s->loop, &p->out, fd) < 0)
			close(fd);
		break;
	case PROTO_STREAM_STDERR:
		if (agent_pump_attach_dst(&s->loop, &p->err, fd) < 0)
			close(fd);
		break;
	case PROTO_STREAM_COUNT:
		close(fd);
		break;
	}
}

static void handle_attach(struct agent_conn *c, const char *frame, size_t len)
{
	struct agent_server *s = c->srv;
	struct proto_attach a;
	enum proto_errcode code;
	kiln_error_t err = NULL;
	struct agent_ctr *ctr;
	struct agent_proc *p = NULL;
	const char *why;
	int fd;

	if (proto_attach_parse(frame, len, &a, &code, &err) < 0) {
		attach_reply(c, code, err->msg, false);
		kiln_error_free(&err);
		proto_attach_release(&a);
		conn_close(c, false);
		return;
	}
	ctr = agent_ctr_find(&s->tab, a.container_id);
	if (ctr != NULL)
		p = agent_proc_find(ctr, a.exec_id);
	if (p == NULL) {
		cleanup_free char *msg =
		    xasprintf("no process \"%s\" in container \"%s\"",
			      a.exec_id[0] ? a.exec_id : "init", a.container_id);

		attach_reply(c, PROTO_ERR_NOT_FOUND, msg, false);
		proto_attach_release(&a);
		conn_close(c, false);
		return;
	}
	why = attach_refusal(p, a.stream);
	if (why != NULL) {
		attach_reply(c, PROTO_ERR_INVALID_STATE, why, false);
		proto_attach_release(&a);
		conn_close(c, false);
		return;
	}
	/* The reply goes first, so it precedes any output on the stream. */
	attach_reply(c, 0, NULL, true);
	fd = c->w.fd;
	conn_close(c, true);
	attach_stream(s, p, a.stream, fd);
	proto_attach_release(&a);
}

/* ---- connection I/O */

static void conn_read(struct agent_conn *c)
{
	char buf[65536];
	size_t want = sizeof(buf), off = 0;
	ssize_t n;

	/* A stdio connection's attach frame is read exactly, so no stream
	 * byte behind it is consumed here. */
	if (c->stdio) {
		want = c->dec.hdr_have < 4  ? 4 - c->dec.hdr_have
		       : c->dec.buf != NULL ? c->dec.need - c->dec.have
					    : 0;
		if (want == 0)
			want = 1;
	}
	n = recv(c->w.fd, buf, want, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == 0 && !proto_decoder_idle(&c->dec))
			log_debug("connection %d: closed inside a frame", c->w.fd);
		conn_close(c, false);
		return;
	}
	while (off < (size_t)n) {
		kiln_error_t err = NULL;
		char *frame;
		size_t used, flen;
		int r = proto_decoder_feed(&c->dec, buf + off, (size_t)n - off, &used, &frame,
					   &flen, &err);

		if (r < 0) {
			/* The stream cannot be resynchronised: say why and
			 * hang up. */
			conn_send_error(c, NULL, PROTO_ERR_INVALID_FRAME, err->msg);
			kiln_error_free(&err);
			c->close_when_flushed = true;
			conn_flush(c);
			return;
		}
		off += used;
		if (r == 0)
			continue;
		if (c->stdio) {
			handle_attach(c, frame, flen);
			free(frame);
			return;
		}
		handle_request(c, frame, flen);
		free(frame);
		/* The request may have closed c (a failed send). */
		if (c->w.fd < 0)
			return;
	}
}

static void conn_ready(struct agent_loop *loop, struct agent_watch *w, uint32_t events)
{
	struct agent_conn *c = w->owner;

	(void)loop;
	if (events & EPOLLOUT) {
		if (!conn_flush(c))
			return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(c);
}

static void listener_ready(struct agent_loop *loop, struct agent_watch *w, uint32_t events)
{
	struct agent_server *s = loop->data;
	int fd;

	(void)events;
	fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warning("accept: %s", strerror(errno));
		return;
	}
	agent_server_add_conn(s, fd, w == &s->stdio_listen);
}

static void sigchld_ready(struct agent_loop *loop, struct agent_watch *w, uint32_t events)
{
	struct agent_server *s = loop->data;
	struct signalfd_siginfo si[16];

	(void)events;
	/* Drain; the reaper collects every child whatever the count. */
	while (read(w->fd, si, sizeof(si)) > 0)
		;
	agent_server_reap(s);
}

int agent_server_init(struct agent_server *s, int ctl_fd, int stdio_fd,
		      const struct agent_runtime *rt, kiln_error_t *err)
{
	sigset_t set;
	int sfd;

	memset(s, 0, sizeof(*s));
	s->rt = *rt;
	/* A closed pipe or stream is an EPIPE for the pump that wrote to
	 * it, not the end of PID 1. Children reset it before exec. */
	signal(SIGPIPE, SIG_IGN);
	if (agent_loop_init(&s->loop, err) < 0)
		return -1;
	s->loop.data = s;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return kiln_error_make(err, errno, "block SIGCHLD");
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		return kiln_error_make(err, errno, "signalfd");
	s->sigchld = (struct agent_watch){.fd = sfd, .fn = sigchld_ready, .owner = s};
	s->ctl_listen = (struct agent_watch){.fd = ctl_fd, .fn = listener_ready, .owner = s};
	s->stdio_listen = (struct agent_watch){.fd = stdio_fd, .fn = listener_ready, .owner = s};
	if (agent_watch_set(&s->loop, &s->sigchld, EPOLLIN) < 0 ||
	    agent_watch_set(&s->loop, &s->ctl_listen, EPOLLIN) < 0 ||
	    agent_watch_set(&s->loop, &s->stdio_listen, EPOLLIN) < 0)
		return kiln_error_make(err, errno, "epoll");
	/* Children that exited before the signalfd existed. */
	agent_server_reap(s);
	return 0;
}

void agent_server_release(struct agent_server *s)
{
	while (s->conns != NULL)
		conn_close(s->conns, false);
	agent_proctab_release(&s->tab, &s->loop);
	agent_watch_close(&s->loop, &s->ctl_listen);
	agent_watch_close(&s->loop, &s->stdio_listen);
	agent_watch_close(&s->loop, &s->sigchld);
	agent_loop_release(&s->loop);
}

/* Waits up to ms in all until every connection's peer has closed. */
static void wait_hangups(struct agent_conn *conns, int ms)
{
	long long deadline = kiln_now_ms() + ms;

	for (struct agent_conn *c = conns; c != NULL; c = c->next) {
		char buf[256];

		kiln_set_nonblock(c->w.fd, true);
		for (;;) {
			struct pollfd p = {.fd = c->w.fd, .events = POLLIN};
			long long left = deadline - kiln_now_ms();
			ssize_t n;

			if (left <= 0 || poll(&p, 1, (int)left) <= 0)
				return;
			n = read(c->w.fd, buf, sizeof(buf));
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				break;
		}
	}
}

int agent_server_run(struct agent_server *s, kiln_error_t *err)
{
	while (!s->shutdown_requested) {
		int r = agent_loop_run_once(&s->loop, -1);

		if (r < 0)
			return kiln_error_make(err, -r, "epoll_wait");
	}
	/* Let the shutdown reply leave before the caller powers off. */
	for (struct agent_conn *c = s->conns; c != NULL; c = c->next) {
		if (c->out_len > c->out_off) {
			struct timeval tv = {.tv_sec = 1};

			/* Bounded: a host that does not read must not keep
			 * the VM up. */
			setsockopt(c->w.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			kiln_set_nonblock(c->w.fd, false);
			kiln_write_all(c->w.fd, c->out + c->out_off, c->out_len - c->out_off);
		}
		shutdown(c->w.fd, SHUT_WR);
	}
	/* Written is not received: the reply sits in the guest's vsock queue
	 * until the VMM takes it, and a reset drops what it has not taken.
	 * So wait for the host to hang up after reading it (bounded again). */
	wait_hangups(s->conns, 1000);
	return 0;
}
