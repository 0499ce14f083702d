/* The agent's process table (agent/proctab.c) and its stdio pumps
 * (agent/pump.c): ids, exit statuses, when a wait may be answered, and
 * that output is delivered whole, in order, with back-pressure. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/loop.h"
#include "agent/proctab.h"
#include "agent/pump.h"
#include "common/io.h"
#include "common/util.h"
#include "tests/unit/tap.h"

static int test_table(void)
{
	struct agent_proctab t = {0};
	struct agent_loop loop;
	struct agent_ctr *a, *b;
	struct agent_proc *init, *e1;

	TAP_CHECK(agent_loop_init(&loop, NULL) == 0);
	a = agent_ctr_add(&t, "a");
	b = agent_ctr_add(&t, "b");
	TAP_CHECK(a != NULL && b != NULL);
	TAP_CHECK(agent_ctr_add(&t, "a") == NULL);
	TAP_CHECK(agent_ctr_find(&t, "b") == b);
	TAP_CHECK(agent_ctr_find(&t, "c") == NULL);
	init = agent_proc_add(a, "");
	e1 = agent_proc_add(a, "e1");
	TAP_CHECK(init != NULL && e1 != NULL);
	TAP_CHECK(agent_proc_add(a, "e1") == NULL);
	TAP_CHECK(agent_ctr_init(a) == init);
	TAP_CHECK(agent_proc_find(a, "") == init);
	TAP_CHECK(agent_proc_find(a, "e1") == e1);
	TAP_CHECK(agent_proc_find(b, "e1") == NULL);
	init->pid = 100;
	e1->pid = 101;
	TAP_CHECK(agent_proctab_find_pid(&t, 101) == e1);
	TAP_CHECK(agent_proctab_find_pid(&t, 102) == NULL);
	/* An exited process's pid may be reused by another. */
	agent_proc_set_exited(e1, 0);
	TAP_CHECK(agent_proctab_find_pid(&t, 101) == NULL);
	agent_proc_remove(e1, &loop);
	TAP_CHECK(agent_proc_find(a, "e1") == NULL);
	agent_ctr_remove(&t, a, &loop);
	TAP_CHECK(agent_ctr_find(&t, "a") == NULL);
	TAP_CHECK(agent_ctr_find(&t, "b") == b);
	agent_proctab_release(&t, &loop);
	TAP_CHECK(t.ctrs == NULL);
	agent_loop_release(&loop);
	return TAP_PASS;
}

static int test_waiters(void)
{
	struct agent_proctab t = {0};
	struct agent_loop loop;
	struct agent_ctr *c;
	struct agent_proc *p;
	int conn1, conn2;

	TAP_CHECK(agent_loop_init(&loop, NULL) == 0);
	c = agent_ctr_add(&t, "c");
	p = agent_proc_add(c, "");
	agent_proc_add_waiter(p, &conn1, 1);
	agent_proc_add_waiter(p, &conn2, 2);
	agent_proc_add_waiter(p, &conn1, 3);
	agent_proctab_drop_waiters(&t, &conn1);
	TAP_CHECK(p->waiters != NULL && p->waiters->conn == &conn2 && p->waiters->id == 2);
	TAP_CHECK(p->waiters->next == NULL);
	agent_proctab_release(&t, &loop);
	agent_loop_release(&loop);
	return TAP_PASS;
}

static int test_wait_result(void)
{
	struct proto_wait_result w;

	agent_wait_result(W_EXITCODE(3, 0), &w);
	TAP_CHECK(w.exit_code == 3 && w.signal == 0 && !w.core_dumped);
	agent_wait_result(W_EXITCODE(0, SIGKILL), &w);
	TAP_CHECK(w.exit_code == 137 && w.signal == SIGKILL && !w.core_dumped);
	agent_wait_result(W_EXITCODE(0, SIGSEGV) | 0x80, &w);
	TAP_CHECK(w.exit_code == 139 && w.signal == SIGSEGV && w.core_dumped);
	return TAP_PASS;
}

/* done: exited, and every output pump finished. */
static int test_done(void)
{
	struct agent_proctab t = {0};
	struct agent_loop loop;
	struct agent_proc *p;
	int pfd[2];

	TAP_CHECK(agent_loop_init(&loop, NULL) == 0);
	p = agent_proc_add(agent_ctr_add(&t, "c"), "");
	TAP_CHECK(!agent_proc_done(p));
	TAP_CHECK(pipe2(pfd, O_CLOEXEC | O_NONBLOCK) == 0);
	p->out.src.fd = pfd[0];
	p->has_out = true;
	agent_pump_start(&loop, &p->out);
	agent_proc_set_exited(p, 0);
	TAP_CHECK(!agent_proc_done(p));
	close(pfd[1]);
	while (!agent_pump_done(&p->out))
		TAP_CHECK(agent_loop_run_once(&loop, 1000) > 0);
	TAP_CHECK(agent_proc_done(p));
	agent_proctab_release(&t, &loop);
	agent_loop_release(&loop);
	return TAP_PASS;
}

static void count_done(void *opaque)
{
	(*(int *)opaque)++;
}

/* Reads fd (non-blocking) into buf while running the loop, until EOF. */
static size_t drain(struct agent_loop *loop, int fd, char *buf, size_t cap)
{
	size_t got = 0;

	for (int idle = 0; idle < 1000;) {
		ssize_t n = read(fd, buf + got, cap - got);

		if (n == 0)
			break;
		if (n > 0) {
			got += (size_t)n;
			idle = 0;
			continue;
		}
		if (agent_loop_run_once(loop, 10) == 0)
			idle++;
	}
	return got;
}

static int test_pump_output(void)
{
	struct agent_loop loop;
	struct agent_pump p;
	const size_t total = 1 << 20;
	cleanup_free char *data = xmalloc(total), *got = xmalloc(total + 1);
	size_t written = 0, received = 0;
	int pfd[2], sv[2], done = 0;

	for (size_t i = 0; i < total; i++)
		data[i] = (char)(i * 7 + i / 251);
	TAP_CHECK(agent_loop_init(&loop, NULL) == 0);
	TAP_CHECK(pipe2(pfd, O_CLOEXEC | O_NONBLOCK) == 0);
	TAP_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	agent_pump_init(&p, pfd[0], -1);
	p.on_done = count_done;
	p.opaque = &done;
	agent_pump_start(&loop, &p);

	/* Not attached: the pump takes one buffer, then the pipe fills and
	 * the writer is held back (nothing dropped). */
	for (;;) {
		ssize_t n = write(pfd[1], data + written, total - written);

		if (n > 0) {
			written += (size_t)n;
			continue;
		}
		if (agent_loop_run_once(&loop, 10) == 0)
			break;
	}
	TAP_CHECK(written < total);
	TAP_CHECK(p.len > 0 && p.len <= AGENT_PUMP_BUF);

	/* Attach; the rest flows as the reader reads. */
	TAP_CHECK(agent_pump_attach_dst(&loop, &p, sv[0]) == 0);
	TAP_CHECK(agent_pump_attach_dst(&loop, &p, sv[0]) == -EBUSY);
	while (received < total) {
		ssize_t n;

		if (written < total) {
			n = write(pfd[1], data + written, total - written);
			if (n > 0)
				written += (size_t)n;
			if (written == total)
				close(pfd[1]);
		}
		n = read(sv[1], got + received, total + 1 - received);
		if (n > 0)
			received += (size_t)n;
		else
			agent_loop_run_once(&loop, 10);
	}
	TAP_CHECK(memcmp(data, got, total) == 0);
	/* EOF follows the last byte, and only then is the pump done. */
	for (int i = 0; i < 100 && !done; i++)
		agent_loop_run_once(&loop, 10);
	TAP_CHECK(done == 1);
	TAP_CHECK(agent_pump_done(&p));
	TAP_CHECK(read(sv[1], got, 1) == 0);
	/* A late attach gets EOF at once. */
	{
		int sv2[2];

		TAP_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv2) == 0);
		TAP_CHECK(agent_pump_attach_dst(&loop, &p, sv2[0]) == 0);
		TAP_CHECK(read(sv2[1], got, 1) == 0);
		close(sv2[1]);
	}
	agent_pump_release(&loop, &p);
	close(sv[1]);
	agent_loop_release(&loop);
	return TAP_PASS;
}

/* A host stream that dies mid-way loses nothing the agent still holds: a
 * new attach resumes. */
static int test_pump_reattach(void)
{
	struct agent_loop loop;
	struct agent_pump p;
	char buf[256];
	int pfd[2], sv[2], sv2[2];
	size_t n;

	TAP_CHECK(agent_loop_init(&loop, NULL) == 0);
	TAP_CHECK(pipe2(pfd, O_CLOEXEC | O_NONBLOCK) == 0);
	TAP_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	TAP_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv2) == 0);
	agent_pump_init(&p, pfd[0], sv[0]);
	agent_pump_start(&loop, &p);
	/* The host is gone before anything was written. */
	close(sv[1]);
	TAP_CHECK(write(pfd[1], "first", 5) == 5);
	for (int i = 0; i < 20 && p.dst.fd >= 0; i++)
		agent_loop_run_once(&loop, 10);
	TAP_CHECK(p.dst.fd < 0);
	TAP_CHECK(p.len == 5);
	TAP_CHECK(agent_pump_attach_dst(&loop, &p, sv2[0]) == 0);
	TAP_CHECK(write(pfd[1], "second", 6) == 6);
	close(pfd[1]);
	n = drain(&loop, sv2[1], buf, sizeof(buf) - 1);
	buf[n] = '\0';
	TAP_CHECK_STR(buf, "firstsecond");
	agent_pump_release(&loop, &p);
	close(sv2[1]);
	agent_loop_release(&loop);
	return TAP_PASS;
}

static int test_pump_input(void)
{
	struct agent_loop loop;
	struct agent_pump p;
	char buf[64];
	int pfd[2], sv[2];
	ssize_t n;

	TAP_CHECK(agent_loop_init(&loop, NULL) == 0);
	TAP_CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	kiln_set_nonblock(pfd[1], true);
	TAP_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	agent_pump_init(&p, -1, pfd[1]);
	p.input = true;
	agent_pump_start(&loop, &p);
	TAP_CHECK(agent_pump_attach_src(&loop, &p, sv[0]) == 0);
	TAP_CHECK(agent_pump_attach_src(&loop, &p, sv[0]) == -EBUSY);
	TAP_CHECK(write(sv[1], "input", 5) == 5);
	/* The host's end of input: the process reads everything, then EOF. */
	shutdown(sv[1], SHUT_WR);
	for (int i = 0; i < 50 && !agent_pump_done(&p); i++)
		agent_loop_run_once(&loop, 10);
	TAP_CHECK(agent_pump_done(&p));
	n = kiln_read_full(pfd[0], buf, sizeof(buf));
	TAP_CHECK(n == 5 && memcmp(buf, "input", 5) == 0);
	agent_pump_release(&loop, &p);
	close(pfd[0]);
	close(sv[1]);

	/* close_input without an attached stream closes at once. */
	TAP_CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	agent_pump_init(&p, -1, pfd[1]);
	p.input = true;
	agent_pump_start(&loop, &p);
	agent_pump_close_input(&loop, &p);
	TAP_CHECK(agent_pump_done(&p));
	TAP_CHECK(read(pfd[0], buf, 1) == 0);
	TAP_CHECK(agent_pump_attach_src(&loop, &p, 0) == -EPIPE);
	agent_pump_release(&loop, &p);
	close(pfd[0]);

	/* A process that closed its stdin: what the host sends is dropped
	 * and the pump ends instead of failing. */
	TAP_CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	kiln_set_nonblock(pfd[1], true);
	TAP_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	close(pfd[0]);
	/* As in the agent (agent_server_init): EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	agent_pump_init(&p, sv[0], pfd[1]);
	p.input = true;
	agent_pump_start(&loop, &p);
	TAP_CHECK(write(sv[1], "x", 1) == 1);
	for (int i = 0; i < 50 && !agent_pump_done(&p); i++)
		agent_loop_run_once(&loop, 10);
	TAP_CHECK(agent_pump_done(&p));
	agent_pump_release(&loop, &p);
	close(sv[1]);
	agent_loop_release(&loop);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_table), TAP_TEST(test_waiters), TAP_TEST(test_wait_result),
	 TAP_TEST(test_done), TAP_TEST(test_pump_output), TAP_TEST(test_pump_reattach),
	 TAP_TEST(test_pump_input))
