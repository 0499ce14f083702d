/* agentctl: a host-side client of kiln-agent for the integration tests. It
 * reaches the agent through kiln-vmm's hybrid vsock (connect to the VM's
 * unix socket, "CONNECT <port>\n", "OK <n>\n") and speaks the protocol of
 * docs/agent-protocol.md with proto/.
 *
 *   agentctl --uds PATH CMD [ARGS]
 *
 *   ping | version | shutdown
 *   run --id ID --drive DRIVE --bundle-config FILE [--tty] [--stdin]
 *       [--readonly] [--overlay] [--fstype T] [--size ROWSxCOLS]
 *           create + attach + start + wait; exits with the workload's status
 *   create --id ID --drive DRIVE --bundle-config FILE [--readonly] [--overlay]
 *       [--fstype T]        no stdio (/dev/null); prints the init's pid
 *   start ID
 *   wait ID [--exec EID]    prints the result; exits with its exit_code
 *   exec ID --exec EID --process FILE [--tty] [--stdin] [--size RxC] [--detach]
 *           attach + wait (exit status = the process's), or with --detach
 *           no stdio and print the pid
 *   signal ID [--exec EID] [--all] SIG   (number, KILL or SIGKILL)
 *   resize ID [--exec EID] ROWS COLS
 *   close-stdin ID [--exec EID]
 *   stats ID                prints the result object
 *   raw [--replies N] [--eof] HEX | @FILE | --frame TEXT
 *           sends the bytes (hex digits, a file's bytes, or TEXT framed) on a
 *           control connection (then shuts down its writing side with
 *           --eof) and prints N (default 1) reply payloads, one a line; the
 *           connection ending first is an error
 *
 * Options may come before or after the positional arguments.
 *
 * The workload's exit status is 0-255 (128+N for signal N); agentctl's own
 * errors (connection, protocol, an error reply) print one line on stderr
 * and exit 125. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "common/json.h"
#include "common/util.h"
#include "proto/client.h"
#include "proto/proto.h"

#define EXIT_AGENTCTL 125

static const char *uds_path;
static uint64_t next_id = 1;

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("agentctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_AGENTCTL);
}

__attribute__((noreturn)) static void die_err(kiln_error_t *err, const char *what)
{
	die("%s: %s", what, *err && (*err)->msg ? (*err)->msg : "unknown error");
}

static int vsock_connect(unsigned port)
{
	kiln_error_t err = NULL;
	int fd = proto_vsock_connect(uds_path, port, &err);

	if (fd < 0)
		die_err(&err, "connect");
	return fd;
}

/* One request and its reply on connection fd; an error reply ends agentctl
 * with its message. */
static void call(int fd, char *payload, size_t len, struct proto_reply *r, const char *what)
{
	struct proto_client c = {.uds = uds_path, .fd = fd};
	kiln_error_t err = NULL;

	if (proto_client_call(&c, payload, len, r, what, &err) < 0)
		die_err(&err, what);
}

static kiln_json_t *load_json(const char *path)
{
	kiln_error_t err = NULL;
	cleanup_free char *text = NULL;
	kiln_json_t *doc = NULL;
	size_t len;

	if (kiln_read_file(path, PROTO_MAX_FRAME, &text, &len, &err) < 0 ||
	    kiln_json_parse(text, len, &doc, &err) < 0)
		die_err(&err, path);
	return doc;
}

static void print_json(const kiln_json_t *node)
{
	cleanup_json_gen kiln_json_gen_t *gen = kiln_json_gen_new(false);
	kiln_error_t err = NULL;
	cleanup_free char *out = NULL;

	if (proto_json_emit(gen, node, &err) < 0 || kiln_json_gen_finish(gen, &out, NULL, &err) < 0)
		die_err(&err, "print");
	printf("%s\n", out);
	fflush(stdout);
}

static int parse_signal(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = {
	    {"HUP", SIGHUP},   {"INT", SIGINT},	    {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
	    {"USR1", SIGUSR1}, {"USR2", SIGUSR2},   {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},
	    {"TERM", SIGTERM}, {"CHLD", SIGCHLD},   {"CONT", SIGCONT}, {"STOP", SIGSTOP},
	    {"TSTP", SIGTSTP}, {"WINCH", SIGWINCH},
	};
	char *end;
	long n;

	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (streq(s, names[i].name))
			return names[i].sig;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || *end || end == s || n < 0 || n > 1000)
		die("bad signal \"%s\"", s);
	return (int)n; /* the agent judges the range */
}

static unsigned long parse_num(const char *s, unsigned long max, const char *what)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || *end || end == s || n > max)
		die("bad %s \"%s\"", what, s);
	return n;
}

/* Attaches the streams of a process created with `stdio` (or a terminal),
 * asks for its wait on ctl and relays until it is answered. start_cid: send
 * `start` for that container after attaching (NULL for an exec). */
static int attach_and_wait(int ctl, const char *cid, const char *eid, bool tty, bool with_stdin,
			   const char *start_cid)
{
	struct proto_client c = {.uds = uds_path, .fd = ctl, .next_id = next_id};
	struct proto_wait_result w;
	struct proto_relay relay;
	kiln_error_t err = NULL;

	if (proto_relay_attach(&relay, uds_path, cid, eid, tty, with_stdin ? STDIN_FILENO : -1,
			       STDOUT_FILENO, STDERR_FILENO, &err) < 0)
		die_err(&err, "attach");
	if (start_cid && proto_client_target(&c, PROTO_M_START, start_cid, NULL, &err) < 0)
		die_err(&err, "start");
	if (proto_relay_run(&relay, &c, cid, eid, &w, &err) < 0)
		die_err(&err, "relay");
	proto_relay_release(&relay);
	next_id = c.next_id;
	return w.exit_code;
}

/* ---- Commands. */

struct create_opts {
	const char *id, *drive, *config, *fstype;
	bool tty, in, readonly, overlay, has_size;
	unsigned rows, cols;
};

enum {
	OPT_ID = 256,
	OPT_DRIVE,
	OPT_CONFIG,
	OPT_TTY,
	OPT_STDIN,
	OPT_READONLY,
	OPT_OVERLAY,
	OPT_FSTYPE,
	OPT_SIZE,
	OPT_EXEC,
	OPT_PROCESS,
	OPT_DETACH,
	OPT_ALL,
	OPT_REPLIES,
	OPT_FRAME,
	OPT_EOF,
};

static const struct option cmd_options[] = {
    {"id", required_argument, NULL, OPT_ID},
    {"drive", required_argument, NULL, OPT_DRIVE},
    {"bundle-config", required_argument, NULL, OPT_CONFIG},
    {"tty", no_argument, NULL, OPT_TTY},
    {"stdin", no_argument, NULL, OPT_STDIN},
    {"readonly", no_argument, NULL, OPT_READONLY},
    {"overlay", no_argument, NULL, OPT_OVERLAY},
    {"fstype", required_argument, NULL, OPT_FSTYPE},
    {"size", required_argument, NULL, OPT_SIZE},
    {"exec", required_argument, NULL, OPT_EXEC},
    {"process", required_argument, NULL, OPT_PROCESS},
    {"detach", no_argument, NULL, OPT_DETACH},
    {"all", no_argument, NULL, OPT_ALL},
    {"replies", required_argument, NULL, OPT_REPLIES},
    {"frame", required_argument, NULL, OPT_FRAME},
    {"eof", no_argument, NULL, OPT_EOF},
    {NULL, 0, NULL, 0},
};

struct opts {
	struct create_opts c;
	const char *exec_id, *process, *frame;
	bool detach, all, eof;
	unsigned long replies;
};

/* Parses the options after CMD; positional arguments stay in argv[optind..]. */
static void parse_opts(int argc, char **argv, struct opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->replies = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", cmd_options, NULL)) != -1) {
		switch (c) {
		case OPT_ID:
			o->c.id = optarg;
			break;
		case OPT_DRIVE:
			o->c.drive = optarg;
			break;
		case OPT_CONFIG:
			o->c.config = optarg;
			break;
		case OPT_TTY:
			o->c.tty = true;
			break;
		case OPT_STDIN:
			o->c.in = true;
			break;
		case OPT_READONLY:
			o->c.readonly = true;
			break;
		case OPT_OVERLAY:
			o->c.overlay = true;
			break;
		case OPT_FSTYPE:
			o->c.fstype = optarg;
			break;
		case OPT_SIZE:
			/* --size ROWSxCOLS */
			if (sscanf(optarg, "%ux%u", &o->c.rows, &o->c.cols) != 2)
				die("bad --size \"%s\" (ROWSxCOLS)", optarg);
			o->c.has_size = true;
			break;
		case OPT_EXEC:
			o->exec_id = optarg;
			break;
		case OPT_PROCESS:
			o->process = optarg;
			break;
		case OPT_DETACH:
			o->detach = true;
			break;
		case OPT_ALL:
			o->all = true;
			break;
		case OPT_REPLIES:
			o->replies = parse_num(optarg, 1000, "--replies");
			break;
		case OPT_FRAME:
			o->frame = optarg;
			break;
		case OPT_EOF:
			o->eof = true;
			break;
		default:
			die("%s: bad option (see the comment at the top of agentctl.c)", argv[0]);
		}
	}
}

/* create over ctl; with_stdio: ask for stdout+stderr (and stdin). */
static int do_create(int ctl, const struct create_opts *c, bool with_stdio)
{
	cleanup_json kiln_json_t *spec = NULL;
	struct proto_create_params p = {0};
	struct proto_reply r = {0};
	kiln_error_t err = NULL;
	size_t len;
	char *payload;
	int pid;

	if (!c->id || !c->drive || !c->config)
		die("create: --id, --drive and --bundle-config are required");
	spec = load_json(c->config);
	p.container_id = c->id;
	p.spec = spec;
	p.rootfs.drive_id = c->drive;
	p.rootfs.fstype = c->fstype ? c->fstype : "ext4";
	p.rootfs.readonly = c->readonly;
	p.rootfs.overlay = c->overlay;
	if (with_stdio)
		p.stdio = (struct proto_stdio){.in = c->in, .out = true, .err = true};
	payload = proto_request_create(next_id++, &p, &len, &err);
	if (!payload)
		die_err(&err, "create");
	call(ctl, payload, len, &r, "create");
	if (proto_result_pid(r.result, &pid, &err) < 0)
		die_err(&err, "create");
	proto_reply_release(&r);
	return pid;
}

static void do_resize(int ctl, const char *cid, const char *eid, unsigned rows, unsigned cols)
{
	struct proto_resize_params p = {
	    .container_id = cid, .exec_id = eid, .width = (uint16_t)cols, .height = (uint16_t)rows};
	struct proto_reply r = {0};
	size_t len;
	char *payload = proto_request_resize(next_id++, &p, &len);

	call(ctl, payload, len, &r, "resize");
	proto_reply_release(&r);
}

static int cmd_run(int argc, char **argv)
{
	struct opts o;
	int ctl;

	parse_opts(argc, argv, &o);
	ctl = vsock_connect(PROTO_CONTROL_PORT);
	do_create(ctl, &o.c, true);
	if (o.c.has_size)
		do_resize(ctl, o.c.id, NULL, o.c.rows, o.c.cols);
	return attach_and_wait(ctl, o.c.id, NULL, o.c.tty, o.c.in, o.c.id);
}

static int cmd_create(int argc, char **argv)
{
	struct opts o;
	int ctl;

	parse_opts(argc, argv, &o);
	ctl = vsock_connect(PROTO_CONTROL_PORT);
	printf("%d\n", do_create(ctl, &o.c, false));
	return 0;
}

/* The one positional ID of start/wait/stats/... */
static const char *one_id(int argc, char **argv, int want_more)
{
	if (argc - optind != 1 + want_more)
		die("%s: expected ID%s", argv[0], want_more ? " and more arguments" : "");
	return argv[optind];
}

static int cmd_target(int argc, char **argv, enum proto_method m)
{
	struct opts o;
	struct proto_reply r = {0};
	struct proto_target_params t;
	kiln_error_t err = NULL;
	size_t len;
	char *payload;
	int ctl, code = 0;

	parse_opts(argc, argv, &o);
	t.container_id = one_id(argc, argv, 0);
	t.exec_id = o.exec_id;
	ctl = vsock_connect(PROTO_CONTROL_PORT);
	payload = proto_request_target(next_id++, m, &t, &len);
	call(ctl, payload, len, &r, proto_method_name(m));
	if (m == PROTO_M_WAIT) {
		struct proto_wait_result w;

		if (proto_result_wait(r.result, &w, &err) < 0)
			die_err(&err, "wait");
		code = w.exit_code;
		print_json(r.result);
	} else if (m == PROTO_M_STATS) {
		print_json(r.result);
	}
	proto_reply_release(&r);
	return code;
}

static int cmd_exec(int argc, char **argv)
{
	cleanup_json kiln_json_t *process = NULL;
	struct proto_exec_params p = {0};
	struct proto_reply r = {0};
	kiln_error_t err = NULL;
	struct opts o;
	size_t len;
	char *payload;
	int ctl, pid;

	parse_opts(argc, argv, &o);
	p.container_id = one_id(argc, argv, 0);
	if (!o.exec_id || !o.process)
		die("exec: --exec and --process are required");
	process = load_json(o.process);
	p.exec_id = o.exec_id;
	p.process = process;
	if (!o.detach)
		p.stdio = (struct proto_stdio){.in = o.c.in, .out = true, .err = true};
	ctl = vsock_connect(PROTO_CONTROL_PORT);
	payload = proto_request_exec(next_id++, &p, &len, &err);
	if (!payload)
		die_err(&err, "exec");
	call(ctl, payload, len, &r, "exec");
	if (proto_result_pid(r.result, &pid, &err) < 0)
		die_err(&err, "exec");
	proto_reply_release(&r);
	if (o.detach) {
		printf("%d\n", pid);
		return 0;
	}
	if (o.c.has_size)
		do_resize(ctl, p.container_id, p.exec_id, o.c.rows, o.c.cols);
	return attach_and_wait(ctl, p.container_id, p.exec_id, o.c.tty, o.c.in, NULL);
}

static int cmd_signal(int argc, char **argv)
{
	struct proto_signal_params p = {0};
	struct proto_reply r = {0};
	struct opts o;
	size_t len;
	char *payload;
	int ctl;

	parse_opts(argc, argv, &o);
	p.container_id = one_id(argc, argv, 1);
	p.exec_id = o.exec_id;
	p.all = o.all;
	p.signal = parse_signal(argv[optind + 1]);
	ctl = vsock_connect(PROTO_CONTROL_PORT);
	payload = proto_request_signal(next_id++, &p, &len);
	call(ctl, payload, len, &r, "signal");
	proto_reply_release(&r);
	return 0;
}

static int cmd_resize(int argc, char **argv)
{
	struct opts o;
	const char *cid;
	int ctl;

	parse_opts(argc, argv, &o);
	cid = one_id(argc, argv, 2);
	ctl = vsock_connect(PROTO_CONTROL_PORT);
	do_resize(ctl, cid, o.exec_id, (unsigned)parse_num(argv[optind + 1], 65535, "rows"),
		  (unsigned)parse_num(argv[optind + 2], 65535, "cols"));
	return 0;
}

static int cmd_simple(int argc, char **argv, enum proto_method m)
{
	struct proto_reply r = {0};
	size_t len;
	char *payload;
	int ctl;

	if (argc != 1)
		die("%s takes no arguments", argv[0]);
	ctl = vsock_connect(PROTO_CONTROL_PORT);
	payload = proto_request_simple(next_id++, m, &len);
	call(ctl, payload, len, &r, proto_method_name(m));
	if (m == PROTO_M_VERSION)
		print_json(r.result);
	proto_reply_release(&r);
	return 0;
}

static int cmd_raw(int argc, char **argv)
{
	cleanup_free char *data = NULL;
	size_t len = 0;
	struct opts o;
	int ctl;

	parse_opts(argc, argv, &o);
	if (o.frame) {
		len = strlen(o.frame);
		data = proto_frame_encode(o.frame, len, &len);
	} else if (argc - optind == 1 && argv[optind][0] == '@') {
		kiln_error_t err = NULL;

		if (kiln_read_file(argv[optind] + 1, 16u << 20, &data, &len, &err) < 0)
			die_err(&err, "raw");
	} else if (argc - optind == 1) {
		const char *h = argv[optind];

		data = xmalloc(strlen(h) / 2 + 1);
		for (; *h; h++) {
			int hi, lo;

			if (isspace((unsigned char)*h))
				continue;
			hi = kiln_hex_digit(h[0]);
			lo = h[1] ? kiln_hex_digit(h[1]) : -1;
			if (hi < 0 || lo < 0)
				die("raw: bad hex at \"%.8s\"", h);
			data[len++] = (char)(hi << 4 | lo);
			h++;
		}
	} else {
		die("raw: expected HEX, @FILE or --frame TEXT");
	}
	ctl = vsock_connect(PROTO_CONTROL_PORT);
	if (kiln_write_all(ctl, data, len) < 0)
		die("raw: send: %s", strerror(errno));
	if (o.eof)
		shutdown(ctl, SHUT_WR);
	for (unsigned long i = 0; i < o.replies; i++) {
		kiln_error_t err = NULL;
		cleanup_free char *buf = NULL;
		size_t n;
		int ret = proto_frame_read(ctl, &buf, &n, &err);

		if (ret == 1)
			die("raw: connection closed after %lu replies", i);
		if (ret < 0)
			die_err(&err, "raw");
		printf("%s\n", buf);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd;

	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && streq(argv[1], "--uds")) {
		uds_path = argv[2];
		argc -= 2;
		argv += 2;
	} else if (argc >= 2 && strncmp(argv[1], "--uds=", 6) == 0) {
		uds_path = argv[1] + 6;
		argc -= 1;
		argv += 1;
	}
	if (!uds_path || argc < 2)
		die("usage: agentctl --uds PATH CMD [ARGS] (see tests/helpers/agentctl.c)");
	argc--;
	argv++;
	cmd = argv[0];
	if (streq(cmd, "ping"))
		return cmd_simple(argc, argv, PROTO_M_PING);
	if (streq(cmd, "version"))
		return cmd_simple(argc, argv, PROTO_M_VERSION);
	if (streq(cmd, "shutdown"))
		return cmd_simple(argc, argv, PROTO_M_SHUTDOWN);
	if (streq(cmd, "run"))
		return cmd_run(argc, argv);
	if (streq(cmd, "create"))
		return cmd_create(argc, argv);
	if (streq(cmd, "start"))
		return cmd_target(argc, argv, PROTO_M_START);
	if (streq(cmd, "wait"))
		return cmd_target(argc, argv, PROTO_M_WAIT);
	if (streq(cmd, "stats"))
		return cmd_target(argc, argv, PROTO_M_STATS);
	if (streq(cmd, "close-stdin"))
		return cmd_target(argc, argv, PROTO_M_CLOSE_STDIN);
	if (streq(cmd, "exec"))
		return cmd_exec(argc, argv);
	if (streq(cmd, "signal"))
		return cmd_signal(argc, argv);
	if (streq(cmd, "resize"))
		return cmd_resize(argc, argv);
	if (streq(cmd, "raw"))
		return cmd_raw(argc, argv);
	die("unknown command \"%s\"", cmd);
}
