#include <seccomp.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/proctab.h"
#include "common/util.h"

struct agent_ctr *agent_ctr_find(const struct agent_proctab *t, const char *id)
{
	for (struct agent_ctr *c = t->ctrs; c != NULL; c = c->next)
		if (streq(c->id, id))
			return c;
	return NULL;
}

struct agent_ctr *agent_ctr_add(struct agent_proctab *t, const char *id)
{
	struct agent_ctr *c, **tail = &t->ctrs;

	if (agent_ctr_find(t, id) != NULL)
		return NULL;
	c = xzalloc(sizeof(*c));
	c->id = xstrdup(id);
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = c;
	return c;
}

void agent_ctr_remove(struct agent_proctab *t, struct agent_ctr *c, struct agent_loop *loop)
{
	for (struct agent_ctr **pp = &t->ctrs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	while (c->procs != NULL)
		agent_proc_remove(c->procs, loop);
	free(c->id);
	free(c->cgroup);
	if (c->seccomp != NULL)
		seccomp_release(c->seccomp);
	free(c);
}

struct agent_proc *agent_proc_find(const struct agent_ctr *c, const char *exec_id)
{
	for (struct agent_proc *p = c->procs; p != NULL; p = p->next)
		if (streq(p->exec_id, exec_id))
			return p;
	return NULL;
}

struct agent_proc *agent_proc_add(struct agent_ctr *c, const char *exec_id)
{
	struct agent_proc *p, **tail = &c->procs;

	if (agent_proc_find(c, exec_id) != NULL)
		return NULL;
	p = xzalloc(sizeof(*p));
	p->ctr = c;
	p->exec_id = xstrdup(exec_id);
	p->start_fd = p->report_fd = -1;
	agent_pump_init(&p->in, -1, -1);
	agent_pump_init(&p->out, -1, -1);
	agent_pump_init(&p->err, -1, -1);
	p->in.input = true;
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = p;
	return p;
}

static void waiters_free(struct agent_waiter *w)
{
	while (w != NULL) {
		struct agent_waiter *next = w->next;

		free(w);
		w = next;
	}
}

static void proc_free(void *p)
{
	free(((struct agent_proc *)p)->exec_id);
	free(p);
}

void agent_proc_remove(struct agent_proc *p, struct agent_loop *loop)
{
	for (struct agent_proc **pp = &p->ctr->procs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	agent_pump_release(loop, &p->in);
	agent_pump_release(loop, &p->out);
	agent_pump_release(loop, &p->err);
	if (p->start_fd >= 0)
		close(p->start_fd);
	if (p->report_fd >= 0)
		close(p->report_fd);
	waiters_free(p->waiters);
	p->waiters = NULL;
	/* An event later in the current batch may still name p's watches. */
	agent_loop_defer(loop, proc_free, p);
}

struct agent_proc *agent_proctab_find_pid(const struct agent_proctab *t, pid_t pid)
{
	for (struct agent_ctr *c = t->ctrs; c != NULL; c = c->next)
		for (struct agent_proc *p = c->procs; p != NULL; p = p->next)
			if (p->pid == pid && p->state != AGENT_PROC_EXITED)
				return p;
	return NULL;
}

void agent_proc_set_exited(struct agent_proc *p, int status)
{
	p->state = AGENT_PROC_EXITED;
	p->status = status;
}

bool agent_proc_done(const struct agent_proc *p)
{
	if (p->state != AGENT_PROC_EXITED)
		return false;
	if (p->has_out && !agent_pump_done(&p->out))
		return false;
	if (p->has_err && !agent_pump_done(&p->err))
		return false;
	return true;
}

void agent_proc_add_waiter(struct agent_proc *p, void *conn, uint64_t id)
{
	struct agent_waiter *w = xzalloc(sizeof(*w)), **tail = &p->waiters;

	w->conn = conn;
	w->id = id;
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = w;
}

void agent_proctab_drop_waiters(struct agent_proctab *t, const void *conn)
{
	for (struct agent_ctr *c = t->ctrs; c != NULL; c = c->next) {
		for (struct agent_proc *p = c->procs; p != NULL; p = p->next) {
			struct agent_waiter **pp = &p->waiters;

			while (*pp != NULL) {
				if ((*pp)->conn == conn) {
					struct agent_waiter *w = *pp;

					*pp = w->next;
					free(w);
				} else {
					pp = &(*pp)->next;
				}
			}
		}
	}
}

void agent_wait_result(int status, struct proto_wait_result *out)
{
	memset(out, 0, sizeof(*out));
	if (WIFSIGNALED(status)) {
		out->signal = WTERMSIG(status);
		out->exit_code = 128 + out->signal;
		out->core_dumped = WCOREDUMP(status);
	} else {
		out->exit_code = WEXITSTATUS(status);
	}
}

void agent_proctab_release(struct agent_proctab *t, struct agent_loop *loop)
{
	while (t->ctrs != NULL)
		agent_ctr_remove(t, t->ctrs, loop);
}
