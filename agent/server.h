/* The agent protocol server: control connections (requests and replies),
 * stdio connections (one attach frame, then raw bytes to or from a
 * process), and SIGCHLD, all in one event loop. A connection's failure is
 * that connection's business only: containers and their pending output
 * carry on, and a new connection can wait for them and re-attach. */
#ifndef KILN_AGENT_SERVER_H
#define KILN_AGENT_SERVER_H

#include <stdbool.h>

#include "agent/container.h"
#include "agent/loop.h"
#include "agent/proctab.h"

#define AGENT_VERSION "0.1.0"

/* Stop reading requests from a connection whose replies pile up beyond
 * this, until the host reads them. */
#define AGENT_CONN_OUT_MAX (4u << 20)

struct agent_conn;

struct agent_server {
	struct agent_loop loop;
	struct agent_runtime rt;
	struct agent_proctab tab;
	struct agent_watch ctl_listen, stdio_listen, sigchld;
	struct agent_conn *conns;
	/* Set once `shutdown` was answered; the loop then ends. */
	bool shutdown_requested;
};

/* Takes the listening sockets (non-blocking; -1 for none) and blocks
 * SIGCHLD into a signalfd. rt is copied. */
int agent_server_init(struct agent_server *s, int ctl_fd, int stdio_fd,
		      const struct agent_runtime *rt, kiln_error_t *err);
void agent_server_release(struct agent_server *s);

/* Serves a connection accepted elsewhere (tests use socketpairs). */
void agent_server_add_conn(struct agent_server *s, int fd, bool stdio);

/* Starts the stdio pumps of a process that create or exec just made. */
void agent_server_proc_started(struct agent_server *s, struct agent_proc *p);

/* Runs until shutdown is requested. */
int agent_server_run(struct agent_server *s, kiln_error_t *err);

/* Reaps every exited child and updates the table (the SIGCHLD handler). */
void agent_server_reap(struct agent_server *s);

#endif
