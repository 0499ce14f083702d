/* The host side of the agent protocol: reaching the agent through
 * kiln-vmm's hybrid vsock, calling methods, and relaying a process's stdio
 * between host fds and the guest's stream connections until its exit status
 * is in. Shared by kiln (runtime/: its verbs and the container's
 * supervisor) and the test client, so there is one implementation of
 * "output first, then the exit status". */
#ifndef KILN_PROTO_CLIENT_H
#define KILN_PROTO_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#include "common/error.h"
#include "proto/proto.h"

/* Connects to guest vsock `port` through the VM's hybrid vsock socket at
 * uds ("CONNECT <port>\n", "OK <n>\n"). Returns the fd (close-on-exec) or
 * <0; -ECONNREFUSED means nothing listens on that port in the guest yet,
 * -ETIMEDOUT that the guest gave no answer in PROTO_CONNECT_TIMEOUT_MS. */
#define PROTO_CONNECT_TIMEOUT_MS 60000
int proto_vsock_connect(const char *uds, unsigned port, kiln_error_t *err);

/* A control connection and its request ids. */
struct proto_client {
	const char *uds;
	int fd;
	uint64_t next_id;
};

int proto_client_open(struct proto_client *c, const char *uds, kiln_error_t *err);
void proto_client_close(struct proto_client *c);

/* Sends payload (consumed) and reads the reply into *r. An error reply
 * becomes -1 with "<what>: <message>" in *err (r released). */
int proto_client_call(struct proto_client *c, char *payload, size_t len, struct proto_reply *r,
		      const char *what, kiln_error_t *err);

/* Calls a method whose reply has no result worth keeping. */
int proto_client_target(struct proto_client *c, enum proto_method m, const char *cid,
			const char *eid, kiln_error_t *err);
int proto_client_signal(struct proto_client *c, const char *cid, const char *eid, int sig, bool all,
			kiln_error_t *err);
int proto_client_resize(struct proto_client *c, const char *cid, const char *eid, unsigned rows,
			unsigned cols, kiln_error_t *err);
/* create and exec; *pid is the guest pid. */
int proto_client_create(struct proto_client *c, const struct proto_create_params *p, int *pid,
			kiln_error_t *err);
int proto_client_exec(struct proto_client *c, const struct proto_exec_params *p, int *pid,
		      kiln_error_t *err);

/* Moves bytes one way between a host fd and a stream socket. */
struct proto_pump {
	int src, dst;
	bool src_is_sock, dst_is_sock;
	bool input; /* host -> guest: abandoned once the exit status is in */
	bool eof;   /* src ended (or failed) */
	bool done;  /* eof and everything written; a socket dst shut down */
	char buf[65536];
	size_t len, off;
};

/* The stdio of one guest process. Host fds are borrowed; stream sockets are
 * owned. An in_fd of -1 means no input. */
struct proto_relay {
	struct proto_pump pumps[3];
	size_t n;
	int socks[2];
	/* With proto_relay_follow_winsize: SIGWINCH's signalfd, the tty whose
	 * size is copied, and the connection the resizes go over. */
	int winch_fd, tty_fd;
	struct proto_client winch;
	const char *cid, *eid;
	/* A terminal in_fd is put in raw mode (the guest's pty does the line
	 * discipline) and restored on release. */
	int raw_fd;
	struct termios saved;
};

/* A relay that release accepts before attach has run. */
#define PROTO_RELAY_INIT                                                                           \
	{                                                                                          \
		.winch_fd = -1, .tty_fd = -1, .raw_fd = -1, .winch = {.fd = -1 }                   \
	}

/* Attaches the process's streams (the terminal when tty) and pairs them with
 * in_fd, out_fd and err_fd (err_fd unused with a terminal). */
int proto_relay_attach(struct proto_relay *r, const char *uds, const char *cid, const char *eid,
		       bool tty, int in_fd, int out_fd, int err_fd, kiln_error_t *err);
/* Copies tty_fd's window size to the guest terminal now and whenever
 * SIGWINCH arrives while the relay runs. The caller blocks SIGWINCH in every
 * thread first. */
int proto_relay_follow_winsize(struct proto_relay *r, const char *uds, const char *cid,
			       const char *eid, int tty_fd, kiln_error_t *err);
/* Sends `wait` on c and relays until every output stream has ended and the
 * wait is answered; *res is the result. */
int proto_relay_run(struct proto_relay *r, struct proto_client *c, const char *cid, const char *eid,
		    struct proto_wait_result *res, kiln_error_t *err);
void proto_relay_release(struct proto_relay *r);

#endif
