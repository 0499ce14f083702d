/* exec: another process in a running container. The caller gets a host
 * process whose exit status is the guest process's: kiln exec itself, or
 * with --detach a child left behind to relay (its pid in --pid-file). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/json.h"
#include "common/util.h"
#include "oci/oci.h"
#include "proto/client.h"
#include "runtime/runtime.h"

static bool env_overridden(const struct kiln_exec_opts *o, const char *entry)
{
	size_t klen = strcspn(entry, "=");

	for (size_t i = 0; i < o->n_env; i++)
		if (strncmp(o->env[i], entry, klen) == 0 && o->env[i][klen] == '=')
			return true;
	return false;
}

static int gen_user(kiln_json_gen_t *g, const char *user, kiln_error_t *err)
{
	unsigned long uid, gid;
	char *end;

	errno = 0;
	uid = strtoul(user, &end, 10);
	gid = 0;
	if (!errno && *end == ':')
		gid = strtoul(end + 1, &end, 10);
	if (errno || *end || end == user || uid > UINT32_MAX || gid > UINT32_MAX)
		return kiln_error_make(err, 0, "--user: expected UID[:GID], got \"%s\"", user);
	kiln_json_gen_key(g, "user");
	kiln_json_gen_map_open(g);
	kiln_json_gen_key(g, "uid");
	kiln_json_gen_uint64(g, uid);
	kiln_json_gen_key(g, "gid");
	kiln_json_gen_uint64(g, gid);
	kiln_json_gen_map_close(g);
	return 0;
}

/* The process for `exec CMD...`: the container's own process with the
 * command, terminal, env, cwd and user of this exec. */
static int build_process(const struct kiln_container *c, const struct kiln_exec_opts *o,
			 kiln_json_t **out, kiln_error_t *err)
{
	cleanup_free char *spec_path = kiln_container_path(c, "config.json");
	cleanup_free char *text = NULL;
	cleanup_json kiln_json_t *spec = NULL;
	cleanup_json_gen kiln_json_gen_t *g = kiln_json_gen_new(false);
	cleanup_free char *json = NULL;
	const kiln_json_t *proc = NULL, *env = NULL;
	size_t len;

	if (kiln_read_file(spec_path, PROTO_MAX_FRAME, &text, &len, err) < 0 ||
	    kiln_json_parse(text, len, &spec, err) < 0 ||
	    kiln_json_get_object(spec, "process", &proc, err) < 0)
		return -1;
	kiln_json_gen_map_open(g);
	for (size_t i = 0; proc && i < kiln_json_object_len(proc); i++) {
		const char *k = kiln_json_object_key(proc, i);

		if (streq(k, "args") || streq(k, "terminal") || streq(k, "env") ||
		    streq(k, "consoleSize") || (o->cwd && streq(k, "cwd")) ||
		    (o->user && streq(k, "user")))
			continue;
		kiln_json_gen_key(g, k);
		if (proto_json_emit(g, kiln_json_object_value(proc, i), err) < 0)
			return -1;
	}
	kiln_json_gen_key(g, "terminal");
	kiln_json_gen_bool(g, o->tty);
	kiln_json_gen_key(g, "args");
	kiln_json_gen_array_open(g);
	for (size_t i = 0; i < o->n_args; i++)
		kiln_json_gen_string(g, o->args[i]);
	kiln_json_gen_array_close(g);
	kiln_json_gen_key(g, "env");
	kiln_json_gen_array_open(g);
	if (proc && kiln_json_get_array(proc, "env", &env, NULL) == 0)
		for (size_t i = 0; i < kiln_json_array_len(env); i++) {
			const kiln_json_t *e = kiln_json_array_get(env, i);
			const char *s = NULL;

			if (kiln_json_get_string(e, "", &s, NULL) == 0 && s &&
			    !env_overridden(o, s))
				kiln_json_gen_string(g, s);
		}
	for (size_t i = 0; i < o->n_env; i++)
		kiln_json_gen_string(g, o->env[i]);
	kiln_json_gen_array_close(g);
	if (o->cwd) {
		kiln_json_gen_key(g, "cwd");
		kiln_json_gen_string(g, o->cwd);
	}
	if (o->user && gen_user(g, o->user, err) < 0)
		return -1;
	kiln_json_gen_map_close(g);
	if (kiln_json_gen_finish(g, &json, &len, err) < 0)
		return -1;
	return kiln_json_parse(json, len, out, err);
}

static int load_process(const struct kiln_exec_opts *o, bool *tty, kiln_json_t **out,
			kiln_error_t *err)
{
	cleanup_oci_process struct oci_process *p = NULL;
	cleanup_free char *text = NULL;
	size_t len;

	if (oci_process_load(o->process, &p, err) < 0 || oci_process_check_runnable(p, err) < 0)
		return kiln_error_wrap(err, "--process %s", o->process);
	*tty = p->terminal;
	if (kiln_read_file(o->process, PROTO_MAX_FRAME, &text, &len, err) < 0)
		return -1;
	return kiln_json_parse(text, len, out, err);
}

/* In the process that stays: exec in the guest, report, relay, and return
 * the guest process's exit status. report_fd (or -1) gets "ok" or
 * "error <message>". */
static int exec_and_relay(const struct kiln_container *c, const kiln_json_t *process, bool tty,
			  int in_fd, int out_fd, int err_fd, int report_fd, kiln_error_t *err)
{
	cleanup_free char *uds = kiln_container_path(c, KILN_VM_DIR "/vsock.sock");
	struct proto_exec_params p = {0};
	struct proto_client pc = {.fd = -1};
	struct proto_relay relay = PROTO_RELAY_INIT;
	struct proto_wait_result w = {0};
	char eid[64];
	struct timespec ts;
	int pid, r;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(eid, sizeof(eid), "exec-%d-%ld", getpid(), ts.tv_nsec);
	p.container_id = c->id;
	p.exec_id = eid;
	p.process = process;
	p.stdio = (struct proto_stdio){.in = in_fd >= 0, .out = true, .err = true};
	r = proto_client_open(&pc, uds, err);
	if (r == 0)
		r = proto_client_exec(&pc, &p, &pid, err);
	if (r == 0)
		r = proto_relay_attach(&relay, uds, c->id, eid, tty, in_fd, out_fd, err_fd, err);
	if (r == 0 && tty && isatty(in_fd))
		r = proto_relay_follow_winsize(&relay, uds, c->id, eid, in_fd, err);
	if (report_fd >= 0) {
		if (r == 0)
			dprintf(report_fd, "ok\n");
		else
			dprintf(report_fd, "error %s\n", (*err)->msg);
		close(report_fd);
	}
	if (r == 0)
		r = proto_relay_run(&relay, &pc, c->id, eid, &w, err);
	proto_relay_release(&relay);
	proto_client_close(&pc);
	return r < 0 ? -1 : w.exit_code;
}

int kiln_container_exec(struct kiln_context *ctx, const char *id, const struct kiln_exec_opts *o,
			kiln_error_t *err)
{
	cleanup_json kiln_json_t *process = NULL;
	struct kiln_container c;
	enum kiln_status s;
	int slave = -1, report[2] = {-1, -1};
	int in_fd = STDIN_FILENO, out_fd = STDOUT_FILENO, err_fd = STDERR_FILENO;
	bool tty;
	int code = 1;
	sigset_t winch;
	pid_t pid;

	if (kiln_container_load(ctx, id, &c, err) < 0)
		return -1;
	s = kiln_container_status(&c);
	if (s != KILN_RUNNING && s != KILN_CREATED) {
		kiln_error_make(err, 0, "cannot exec in a %s container", kiln_status_name(s));
		goto out;
	}
	tty = o->tty;
	if (o->process ? load_process(o, &tty, &process, err) < 0
		       : build_process(&c, o, &process, err) < 0)
		goto out;
	if (tty && o->console_socket) {
		cleanup_close int sock = kiln_unix_connect(o->console_socket, err);
		cleanup_close int master = -1;

		if (sock < 0) {
			kiln_error_wrap(err, "--console-socket");
			goto out;
		}
		if (openpty(&master, &slave, NULL, NULL, NULL) < 0 ||
		    kiln_send_fd(sock, master) < 0) {
			kiln_error_make(err, errno, "--console-socket %s", o->console_socket);
			goto out;
		}
		in_fd = out_fd = err_fd = slave;
	} else if (tty && o->detach) {
		kiln_error_make(err, 0, "exec --tty --detach needs --console-socket");
		goto out;
	}
	sigemptyset(&winch);
	sigaddset(&winch, SIGWINCH);
	sigprocmask(SIG_BLOCK, &winch, NULL);
	if (!o->detach) {
		/* this process is the one whose exit status is the guest's */
		if (o->pid_file && kiln_write_pid(o->pid_file, getpid(), err) < 0)
			goto out;
		code = exec_and_relay(&c, process, tty, in_fd, out_fd, err_fd, -1, err);
		if (code < 0)
			code = 1;
		goto out;
	}
	if (pipe2(report, O_CLOEXEC) < 0) {
		kiln_error_make(err, errno, "pipe");
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		kiln_error_make(err, errno, "fork");
		goto out;
	}
	if (pid == 0) {
		kiln_error_t e = NULL;
		int rc;

		close(report[0]);
		setsid();
		if (slave >= 0)
			ioctl(slave, TIOCSCTTY, 0);
		rc = exec_and_relay(&c, process, tty, in_fd, out_fd, err_fd, report[1], &e);
		kiln_error_free(&e);
		_exit(rc < 0 ? 255 : rc);
	}
	close(report[1]);
	report[1] = -1;
	{
		char line[1100] = "";
		ssize_t n = kiln_read_full(report[0], line, sizeof(line) - 1);

		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		if (strncmp(line, "ok", 2) != 0) {
			kiln_error_make(err, 0, "%s",
					strncmp(line, "error ", 6) == 0 ? line + 6 : "exec failed");
			waitpid(pid, NULL, 0);
			goto out;
		}
	}
	if (o->pid_file && kiln_write_pid(o->pid_file, pid, err) < 0) {
		kill(pid, SIGKILL);
		goto out;
	}
	code = 0;
out:
	if (slave >= 0)
		close(slave);
	if (report[0] >= 0)
		close(report[0]);
	if (report[1] >= 0)
		close(report[1]);
	kiln_container_release(&c);
	return *err ? -1 : code;
}
