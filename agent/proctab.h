/* The agent's table of containers and their processes: what the protocol's
 * ids name, the guest pid each has, its state, its stdio pumps and who is
 * waiting for it. Exit statuses come from the SIGCHLD reaper; a status is
 * reported only once the process's output is delivered (agent_proc_done). */
#ifndef KILN_AGENT_PROCTAB_H
#define KILN_AGENT_PROCTAB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/pump.h"
#include "proto/proto.h"

enum agent_proc_state {
	AGENT_PROC_CREATED, /* set up, held before exec until start */
	AGENT_PROC_RUNNING,
	AGENT_PROC_EXITED,
};

/* A host request waiting for a process to finish. */
struct agent_waiter {
	struct agent_waiter *next;
	void *conn;
	uint64_t id;
};

struct agent_ctr;

struct agent_proc {
	struct agent_proc *next;
	struct agent_ctr *ctr;
	char *exec_id; /* "" for the container's init */
	pid_t pid;
	enum agent_proc_state state;
	int status; /* waitpid() status once exited */
	bool terminal;
	struct proto_stdio stdio;
	/* With a terminal: out is pty -> host, in is host -> pty. */
	struct agent_pump in, out, err;
	bool has_in, has_out, has_err;
	int start_fd;  /* create: writing a byte releases the held process */
	int report_fd; /* create: child's setup/exec errors; EOF when exec'd */
	struct agent_waiter *waiters;
};

struct agent_ctr {
	struct agent_ctr *next;
	char *id;
	struct agent_proc *procs; /* init first */
	char *cgroup;		  /* guest cgroup directory, or NULL */
	int clone_flags;	  /* the namespaces the container has */
	void *seccomp;		  /* its scmp_filter_ctx, or NULL */
	void *owner;		  /* the server */
};

struct agent_proctab {
	struct agent_ctr *ctrs;
};

struct agent_ctr *agent_ctr_find(const struct agent_proctab *t, const char *id);
/* NULL when id is taken. */
struct agent_ctr *agent_ctr_add(struct agent_proctab *t, const char *id);
void agent_ctr_remove(struct agent_proctab *t, struct agent_ctr *c, struct agent_loop *loop);

struct agent_proc *agent_proc_find(const struct agent_ctr *c, const char *exec_id);
/* NULL when exec_id is taken. */
struct agent_proc *agent_proc_add(struct agent_ctr *c, const char *exec_id);
/* Unlinks p and closes its fds; the memory is freed after the loop's
 * current batch. */
void agent_proc_remove(struct agent_proc *p, struct agent_loop *loop);
struct agent_proc *agent_proctab_find_pid(const struct agent_proctab *t, pid_t pid);

/* The container's init process, or NULL. */
static inline struct agent_proc *agent_ctr_init(const struct agent_ctr *c)
{
	return c->procs;
}

/* Records an exit status from waitpid(). */
void agent_proc_set_exited(struct agent_proc *p, int status);

/* Exited, and every output byte delivered: a wait may be answered. */
bool agent_proc_done(const struct agent_proc *p);

void agent_proc_add_waiter(struct agent_proc *p, void *conn, uint64_t id);
/* Drops every waiter of conn in the whole table (the connection closed). */
void agent_proctab_drop_waiters(struct agent_proctab *t, const void *conn);

/* waitpid() status -> wait result. */
void agent_wait_result(int status, struct proto_wait_result *out);

void agent_proctab_release(struct agent_proctab *t, struct agent_loop *loop);

#endif
