/* The agent's protocol server (agent/server.c) over socketpairs, without a
 * VM: replies and errors for every method, malformed input, stdio attach,
 * and the ordering guarantee (a wait is answered only after all output
 * reached the host's streams). Processes are plain forked children put in
 * the table by hand, as create/exec would. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/server.h"
#include "common/io.h"
#include "common/util.h"
#include "proto/proto.h"
#include "tests/unit/tap.h"

static char tmpdir[] = "/tmp/kiln-agent-test-XXXXXX";
static char *sysblock, *rundir;

static int server_new(struct agent_server *s)
{
	struct agent_runtime rt = {.run_dir = rundir, .sysblock = sysblock, .self_pidns = -1};
	kiln_error_t err = NULL;

	if (agent_server_init(s, -1, -1, &rt, &err) < 0) {
		tap_diag("%s", err->msg);
		kiln_error_free(&err);
		return -1;
	}
	return 0;
}

/* A host-side connection: our end, blocking. */
static int connect_host(struct agent_server *s, bool stdio)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	agent_server_add_conn(s, sv[0], stdio);
	return sv[1];
}

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) > 0;
}

/* Runs the agent until fd has something to read (or ~5 s pass). */
static bool run_until_readable(struct agent_server *s, int fd)
{
	for (int i = 0; i < 500; i++) {
		if (readable(fd))
			return true;
		agent_loop_run_once(&s->loop, 10);
	}
	return readable(fd);
}

static int read_reply(struct agent_server *s, int fd, struct proto_reply *r)
{
	cleanup_free char *buf = NULL;
	kiln_error_t err = NULL;
	size_t len;

	memset(r, 0, sizeof(*r));
	if (!run_until_readable(s, fd)) {
		tap_diag("no reply");
		return -1;
	}
	if (proto_frame_read(fd, &buf, &len, &err) != 0) {
		tap_diag("read: %s", err ? err->msg : "EOF");
		kiln_error_free(&err);
		return -1;
	}
	if (proto_reply_parse(buf, len, r, &err) < 0) {
		tap_diag("reply %s: %s", buf, err->msg);
		kiln_error_free(&err);
		return -1;
	}
	return 0;
}

static int send_json(int fd, const char *json)
{
	return proto_frame_write(fd, json, strlen(json), NULL);
}

static int rpc(struct agent_server *s, int fd, const char *json, struct proto_reply *r)
{
	if (send_json(fd, json) < 0)
		return -1;
	return read_reply(s, fd, r);
}

/* Sends json and checks the error reply's code and message. */
#define CHECK_RPC_ERROR(s, fd, json, want_code, want_msg)                                          \
	do {                                                                                       \
		struct proto_reply r_;                                                             \
		TAP_CHECK(rpc((s), (fd), (json), &r_) == 0);                                       \
		if (!r_.is_error)                                                                  \
			proto_reply_release(&r_);                                                  \
		TAP_CHECK(r_.doc != NULL && r_.is_error);                                          \
		TAP_CHECK_STR(r_.code_name, (want_code));                                          \
		TAP_CHECK_STR(r_.message, (want_msg));                                             \
		proto_reply_release(&r_);                                                          \
	} while (0)

static int test_ping_version(void)
{
	struct agent_server s;
	struct proto_reply r;
	struct proto_version_result v;
	int fd;

	TAP_CHECK(server_new(&s) == 0);
	fd = connect_host(&s, false);
	TAP_CHECK(rpc(&s, fd, "{\"id\":1,\"method\":\"ping\"}", &r) == 0);
	TAP_CHECK(!r.is_error && r.id == 1);
	proto_reply_release(&r);
	TAP_CHECK(rpc(&s, fd, "{\"id\":2,\"method\":\"version\",\"params\":{}}", &r) == 0);
	TAP_CHECK(proto_result_version(r.result, &v, NULL) == 0);
	TAP_CHECK_STR(v.agent, "kiln-agent");
	TAP_CHECK(v.protocol == PROTO_VERSION);
	proto_reply_release(&r);
	close(fd);
	agent_server_release(&s);
	return TAP_PASS;
}

static int test_malformed_keeps_serving(void)
{
	struct agent_server s;
	struct proto_reply r;
	int fd;

	TAP_CHECK(server_new(&s) == 0);
	fd = connect_host(&s, false);
	CHECK_RPC_ERROR(&s, fd, "{nope", "invalid_json",
			"invalid JSON at byte 2: invalid string in json text");
	CHECK_RPC_ERROR(&s, fd, "[]", "invalid_request", "request: expected object, got array");
	CHECK_RPC_ERROR(&s, fd, "{\"id\":5,\"method\":\"fly\"}", "unknown_method",
			"method: unknown method \"fly\"");
	CHECK_RPC_ERROR(&s, fd, "{\"id\":6,\"method\":\"wait\",\"params\":{\"container_id\":1}}",
			"invalid_params", "params.container_id: expected string");
	TAP_CHECK(rpc(&s, fd, "{\"id\":7,\"method\":\"ping\"}", &r) == 0);
	TAP_CHECK(!r.is_error && r.id == 7);
	proto_reply_release(&r);
	/* Two requests in one write, answered in order. */
	{
		size_t n1, n2;
		cleanup_free char *f1 =
		    proto_frame_encode("{\"id\":8,\"method\":\"ping\"}", 24, &n1);
		cleanup_free char *f2 =
		    proto_frame_encode("{\"id\":9,\"method\":\"ping\"}", 24, &n2);
		cleanup_free char *both = xmalloc(n1 + n2);

		memcpy(both, f1, n1);
		memcpy(both + n1, f2, n2);
		TAP_CHECK(kiln_write_all(fd, both, n1 + n2) == (ssize_t)(n1 + n2));
		TAP_CHECK(read_reply(&s, fd, &r) == 0 && r.id == 8);
		proto_reply_release(&r);
		TAP_CHECK(read_reply(&s, fd, &r) == 0 && r.id == 9);
		proto_reply_release(&r);
	}
	close(fd);
	agent_server_release(&s);
	return TAP_PASS;
}

static int test_bad_frame_closes(void)
{
	struct agent_server s;
	struct proto_reply r;
	char c;
	int fd;

	TAP_CHECK(server_new(&s) == 0);
	fd = connect_host(&s, false);
	TAP_CHECK(write(fd, "\x7f\0\0\0", 4) == 4);
	TAP_CHECK(read_reply(&s, fd, &r) == 0);
	TAP_CHECK(r.is_error && !r.has_id);
	TAP_CHECK_STR(r.code_name, "invalid_frame");
	TAP_CHECK_STR(r.message, "frame: length 2130706432 is above the limit of 1048576");
	proto_reply_release(&r);
	TAP_CHECK(run_until_readable(&s, fd));
	TAP_CHECK(read(fd, &c, 1) == 0);
	close(fd);
	agent_server_release(&s);
	return TAP_PASS;
}

static int test_not_found(void)
{
	static const char *const reqs[] = {
	    "{\"id\":1,\"method\":\"start\",\"params\":{\"container_id\":\"x\"}}",
	    "{\"id\":1,\"method\":\"wait\",\"params\":{\"container_id\":\"x\"}}",
	    "{\"id\":1,\"method\":\"signal\",\"params\":{\"container_id\":\"x\",\"signal\":9}}",
	    "{\"id\":1,\"method\":\"stats\",\"params\":{\"container_id\":\"x\"}}",
	    "{\"id\":1,\"method\":\"resize\",\"params\":{\"container_id\":\"x\",\"width\":1,"
	    "\"height\":1}}",
	    "{\"id\":1,\"method\":\"close_stdin\",\"params\":{\"container_id\":\"x\"}}",
	    "{\"id\":1,\"method\":\"exec\",\"params\":{\"container_id\":\"x\",\"exec_id\":\"e\","
	    "\"process\":{\"args\":[\"true\"]}}}",
	};
	struct agent_server s;
	int fd;

	TAP_CHECK(server_new(&s) == 0);
	fd = connect_host(&s, false);
	for (size_t i = 0; i < ARRAY_SIZE(reqs); i++)
		CHECK_RPC_ERROR(&s, fd, reqs[i], "not_found", "no container \"x\"");
	agent_ctr_add(&s.tab, "x");
	agent_proc_add(agent_ctr_find(&s.tab, "x"), "");
	CHECK_RPC_ERROR(&s, fd,
			"{\"id\":1,\"method\":\"wait\",\"params\":{\"container_id\":\"x\","
			"\"exec_id\":\"e9\"}}",
			"not_found", "container \"x\" has no process \"e9\"");
	close(fd);
	agent_server_release(&s);
	return TAP_PASS;
}

/* What a config needs besides its process. */
#define SPEC_HEAD "\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"}"

static int test_create_errors(void)
{
	struct agent_server s;
	int fd;

	TAP_CHECK(server_new(&s) == 0);
	fd = connect_host(&s, false);
	CHECK_RPC_ERROR(&s, fd,
			"{\"id\":1,\"method\":\"create\",\"params\":{\"container_id\":\"c1\","
			"\"spec\":{" SPEC_HEAD ",\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\","
			"\"user\":{\"uid\":\"0\"}}},"
			"\"rootfs\":{\"drive_id\":\"root\"}}}",
			"invalid_params",
			"params.spec.process.user.uid: expected unsigned integer");
	/* The fake /sys/block has vda=data only. */
	CHECK_RPC_ERROR(&s, fd,
			"{\"id\":2,\"method\":\"create\",\"params\":{\"container_id\":\"c1\","
			"\"spec\":{" SPEC_HEAD ",\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"}},"
			"\"rootfs\":{\"drive_id\":\"root\"}}}",
			"failed",
			"create c1: rootfs: no disk with drive id \"root\" (disks: vda=data): No "
			"such device");
	/* A failed create leaves nothing behind: the id is free again. */
	TAP_CHECK(agent_ctr_find(&s.tab, "c1") == NULL);
	agent_ctr_add(&s.tab, "c1");
	CHECK_RPC_ERROR(&s, fd,
			"{\"id\":3,\"method\":\"create\",\"params\":{\"container_id\":\"c1\","
			"\"spec\":{},\"rootfs\":{\"drive_id\":\"root\"}}}",
			"already_exists", "container \"c1\" exists");
	close(fd);
	agent_server_release(&s);
	return TAP_PASS;
}

/* A child standing in for a container process: /bin/sh running script,
 * with stdio the ends of fresh pipes whose other ends go to p's pumps. (It
 * execs so that valgrind does not follow it.) */
static pid_t spawn_fake(struct agent_server *s, struct agent_proc *p, bool in, bool out, bool err,
			const char *script)
{
	int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
	pid_t pid;

	if ((in && pipe2(pin, O_CLOEXEC) < 0) || (out && pipe2(pout, O_CLOEXEC) < 0) ||
	    (err && pipe2(perr, O_CLOEXEC) < 0))
		return -1;
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		/* Not exec'd: drop the agent's ends by hand, or stdin
		 * would never see EOF. */
		if (in) {
			close(pin[1]);
			dup2(pin[0], 0);
		}
		if (out)
			close(pout[0]);
		if (err)
			close(perr[0]);
		if (out)
			dup2(pout[1], 1);
		if (err)
			dup2(perr[1], 2);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	if (in) {
		close(pin[0]);
		kiln_set_nonblock(pin[1], true);
		p->in.dst.fd = pin[1];
		p->has_in = true;
		p->stdio.in = true;
	}
	if (out) {
		close(pout[1]);
		kiln_set_nonblock(pout[0], true);
		p->out.src.fd = pout[0];
		p->has_out = true;
		p->stdio.out = true;
	}
	if (err) {
		close(perr[1]);
		kiln_set_nonblock(perr[0], true);
		p->err.src.fd = perr[0];
		p->has_err = true;
		p->stdio.err = true;
	}
	p->pid = pid;
	p->state = AGENT_PROC_RUNNING;
	agent_server_proc_started(s, p);
	return pid;
}

#define BIG_OUTPUT (1 << 20)

static char *big_file;
static int attach(struct agent_server *s, const char *ctr, const char *exec, enum proto_stream st,
		  struct proto_reply *r)
{
	struct proto_attach a = {.container_id = ctr, .exec_id = exec, .stream = st};
	size_t len;
	cleanup_free char *frame = proto_attach_encode(&a, &len);
	int fd = connect_host(s, true);

	if (fd < 0 || proto_frame_write(fd, frame, len, NULL) < 0 || read_reply(s, fd, r) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The guarantee: when the wait reply is read, every output byte is in the
 * host's streams, followed by EOF. Also: the first host connection dies
 * with a wait pending and the process carries on. */
static int test_output_before_exit(void)
{
	struct agent_server s;
	struct agent_proc *p;
	struct proto_reply r;
	struct proto_wait_result w;
	cleanup_free char *out = xmalloc(BIG_OUTPUT + 1);
	char errbuf[16];
	size_t got = 0, egot = 0;
	bool out_eof = false, err_eof = false, replied = false;
	int fd, sout, serr;

	TAP_CHECK(server_new(&s) == 0);
	p = agent_proc_add(agent_ctr_add(&s.tab, "c"), "");
	{
		cleanup_free char *script = xasprintf("cat '%s'; echo bye >&2; exit 3", big_file);

		TAP_CHECK(spawn_fake(&s, p, false, true, true, script) > 0);
	}

	/* A wait on a connection that then dies. */
	fd = connect_host(&s, false);
	TAP_CHECK(
	    send_json(fd, "{\"id\":1,\"method\":\"wait\",\"params\":{\"container_id\":\"c\"}}") ==
	    0);
	for (int i = 0; i < 20; i++)
		agent_loop_run_once(&s.loop, 5);
	TAP_CHECK(!readable(fd));
	close(fd);
	for (int i = 0; i < 5; i++)
		agent_loop_run_once(&s.loop, 5);

	fd = connect_host(&s, false);
	sout = attach(&s, "c", "", PROTO_STREAM_STDOUT, &r);
	TAP_CHECK(sout >= 0 && !r.is_error);
	proto_reply_release(&r);
	serr = attach(&s, "c", "", PROTO_STREAM_STDERR, &r);
	TAP_CHECK(serr >= 0 && !r.is_error);
	proto_reply_release(&r);
	/* Attaching twice is refused. */
	{
		int again = attach(&s, "c", "", PROTO_STREAM_STDOUT, &r);

		TAP_CHECK(again >= 0 && r.is_error);
		TAP_CHECK_STR(r.code_name, "invalid_state");
		TAP_CHECK_STR(r.message, "stdout is attached already");
		proto_reply_release(&r);
		close(again);
	}
	TAP_CHECK(
	    send_json(fd, "{\"id\":2,\"method\":\"wait\",\"params\":{\"container_id\":\"c\"}}") ==
	    0);
	kiln_set_nonblock(sout, true);
	kiln_set_nonblock(serr, true);
	/* Read slowly: the stream back-pressures the writer meanwhile. */
	while (!replied) {
		ssize_t n;

		agent_loop_run_once(&s.loop, 5);
		n = read(sout, out + got,
			 4096 < BIG_OUTPUT + 1 - got ? 4096 : BIG_OUTPUT + 1 - got);
		if (n > 0)
			got += (size_t)n;
		if (readable(fd))
			replied = true;
	}
	/* No more agent work from here: all of it must be in the streams. */
	for (;;) {
		ssize_t n = read(sout, out + got, BIG_OUTPUT + 1 - got);

		if (n <= 0) {
			out_eof = n == 0;
			break;
		}
		got += (size_t)n;
	}
	for (;;) {
		ssize_t n = read(serr, errbuf + egot, sizeof(errbuf) - egot);

		if (n <= 0) {
			err_eof = n == 0;
			break;
		}
		egot += (size_t)n;
	}
	TAP_CHECK(out_eof && err_eof);
	TAP_CHECK(got == BIG_OUTPUT);
	for (size_t i = 0; i < BIG_OUTPUT; i++)
		TAP_CHECK(out[i] == (char)(i % 251));
	TAP_CHECK(egot == 4 && memcmp(errbuf, "bye\n", 4) == 0);
	kiln_set_nonblock(fd, false);
	TAP_CHECK(read_reply(&s, fd, &r) == 0);
	TAP_CHECK(!r.is_error && r.id == 2);
	TAP_CHECK(proto_result_wait(r.result, &w, NULL) == 0);
	if (w.exit_code != 3 || w.signal != 0)
		tap_diag("exit_code %d signal %d", w.exit_code, w.signal);
	TAP_CHECK(w.exit_code == 3 && w.signal == 0);
	proto_reply_release(&r);
	/* The init's status stays for later waits. */
	TAP_CHECK(rpc(&s, fd, "{\"id\":3,\"method\":\"wait\",\"params\":{\"container_id\":\"c\"}}",
		      &r) == 0);
	TAP_CHECK(!r.is_error && r.id == 3);
	proto_reply_release(&r);
	close(sout);
	close(serr);
	close(fd);
	agent_server_release(&s);
	return TAP_PASS;
}

static int test_signal_and_exec_lifetime(void)
{
	struct agent_server s;
	struct agent_ctr *c;
	struct agent_proc *p;
	struct proto_reply r;
	struct proto_wait_result w;
	int fd;

	TAP_CHECK(server_new(&s) == 0);
	c = agent_ctr_add(&s.tab, "c");
	agent_proc_add(c, "")->state = AGENT_PROC_RUNNING;
	p = agent_proc_add(c, "e1");
	TAP_CHECK(spawn_fake(&s, p, false, false, false, "exec sleep 1000") > 0);
	fd = connect_host(&s, false);
	CHECK_RPC_ERROR(&s, fd,
			"{\"id\":1,\"method\":\"resize\",\"params\":{\"container_id\":\"c\","
			"\"exec_id\":\"e1\",\"width\":80,\"height\":24}}",
			"invalid_state", "the process has no terminal");
	TAP_CHECK(rpc(&s, fd,
		      "{\"id\":2,\"method\":\"signal\",\"params\":{\"container_id\":\"c\","
		      "\"exec_id\":\"e1\",\"signal\":9}}",
		      &r) == 0);
	TAP_CHECK(!r.is_error);
	proto_reply_release(&r);
	TAP_CHECK(rpc(&s, fd,
		      "{\"id\":3,\"method\":\"wait\",\"params\":{\"container_id\":\"c\","
		      "\"exec_id\":\"e1\"}}",
		      &r) == 0);
	TAP_CHECK(proto_result_wait(r.result, &w, NULL) == 0);
	TAP_CHECK(w.exit_code == 137 && w.signal == 9);
	proto_reply_release(&r);
	/* An exec'd process is forgotten once waited for. */
	CHECK_RPC_ERROR(&s, fd,
			"{\"id\":4,\"method\":\"wait\",\"params\":{\"container_id\":\"c\","
			"\"exec_id\":\"e1\"}}",
			"not_found", "container \"c\" has no process \"e1\"");
	close(fd);
	agent_server_release(&s);
	return TAP_PASS;
}

static int test_stdin(void)
{
	struct agent_server s;
	struct agent_ctr *c;
	struct agent_proc *p;
	struct proto_reply r;
	struct proto_wait_result w;
	int fd, sin;

	TAP_CHECK(server_new(&s) == 0);
	c = agent_ctr_add(&s.tab, "c");
	p = agent_proc_add(c, "");
	TAP_CHECK(spawn_fake(&s, p, true, false, false, "exit $(wc -c)") > 0);
	fd = connect_host(&s, false);
	sin = attach(&s, "c", NULL, PROTO_STREAM_STDIN, &r);
	TAP_CHECK(sin >= 0 && !r.is_error);
	proto_reply_release(&r);
	/* Bytes the host sends right behind the attach are not lost. */
	TAP_CHECK(write(sin, "hello", 5) == 5);
	shutdown(sin, SHUT_WR);
	TAP_CHECK(rpc(&s, fd, "{\"id\":1,\"method\":\"wait\",\"params\":{\"container_id\":\"c\"}}",
		      &r) == 0);
	TAP_CHECK(proto_result_wait(r.result, &w, NULL) == 0);
	TAP_CHECK(w.exit_code == 5);
	proto_reply_release(&r);
	close(sin);

	/* close_stdin without a stream: the process sees EOF at once. */
	p = agent_proc_add(c, "e2");
	TAP_CHECK(spawn_fake(&s, p, true, false, false, "exit $(wc -c)") > 0);
	TAP_CHECK(rpc(&s, fd,
		      "{\"id\":2,\"method\":\"close_stdin\",\"params\":{\"container_id\":\"c\","
		      "\"exec_id\":\"e2\"}}",
		      &r) == 0);
	TAP_CHECK(!r.is_error);
	proto_reply_release(&r);
	TAP_CHECK(rpc(&s, fd,
		      "{\"id\":3,\"method\":\"wait\",\"params\":{\"container_id\":\"c\","
		      "\"exec_id\":\"e2\"}}",
		      &r) == 0);
	TAP_CHECK(proto_result_wait(r.result, &w, NULL) == 0);
	TAP_CHECK(w.exit_code == 0);
	proto_reply_release(&r);
	/* Attaching stdin of a process that did not ask for it. */
	sin = attach(&s, "c", NULL, PROTO_STREAM_STDOUT, &r);
	TAP_CHECK(sin >= 0 && r.is_error);
	TAP_CHECK_STR(r.message, "stdout was not asked for at create or exec");
	proto_reply_release(&r);
	close(sin);
	sin = attach(&s, "nope", NULL, PROTO_STREAM_STDOUT, &r);
	TAP_CHECK(sin >= 0 && r.is_error);
	TAP_CHECK_STR(r.code_name, "not_found");
	proto_reply_release(&r);
	close(sin);
	close(fd);
	agent_server_release(&s);
	return TAP_PASS;
}

static int test_shutdown(void)
{
	struct agent_server s;
	struct proto_reply r;
	int fd;

	TAP_CHECK(server_new(&s) == 0);
	fd = connect_host(&s, false);
	TAP_CHECK(rpc(&s, fd, "{\"id\":9,\"method\":\"shutdown\"}", &r) == 0);
	TAP_CHECK(!r.is_error && r.id == 9);
	proto_reply_release(&r);
	TAP_CHECK(s.shutdown_requested);
	TAP_CHECK(agent_server_run(&s, NULL) == 0);
	close(fd);
	agent_server_release(&s);
	return TAP_PASS;
}

static int setup(void)
{
	cleanup_free char *vda = NULL, *serial = NULL;
	FILE *f;

	if (mkdtemp(tmpdir) == NULL)
		return -1;
	sysblock = xasprintf("%s/block", tmpdir);
	rundir = xasprintf("%s/run", tmpdir);
	vda = xasprintf("%s/vda", sysblock);
	serial = xasprintf("%s/serial", vda);
	if (mkdir(sysblock, 0755) < 0 || mkdir(vda, 0755) < 0)
		return -1;
	f = fopen(serial, "w");
	if (f == NULL)
		return -1;
	fputs("data\n", f);
	fclose(f);
	big_file = xasprintf("%s/big", tmpdir);
	f = fopen(big_file, "w");
	if (f == NULL)
		return -1;
	for (size_t i = 0; i < BIG_OUTPUT; i++)
		fputc((int)(i % 251), f);
	fclose(f);
	return 0;
}

static void teardown(void)
{
	cleanup_free char *cmd = xasprintf("rm -rf '%s'", tmpdir);

	if (system(cmd) != 0)
		tap_diag("cannot remove %s", tmpdir);
	free(sysblock);
	free(rundir);
	free(big_file);
}

static const struct tap_test tests[] = {
    TAP_TEST(test_ping_version),
    TAP_TEST(test_malformed_keeps_serving),
    TAP_TEST(test_bad_frame_closes),
    TAP_TEST(test_not_found),
    TAP_TEST(test_create_errors),
    TAP_TEST(test_output_before_exit),
    TAP_TEST(test_signal_and_exec_lifetime),
    TAP_TEST(test_stdin),
    TAP_TEST(test_shutdown),
};

int main(void)
{
	int r;

	if (setup() < 0) {
		printf("1..0 # SKIP cannot make a temporary directory\n");
		return 0;
	}
	r = tap_run(tests, ARRAY_SIZE(tests));
	teardown();
	return r;
}
