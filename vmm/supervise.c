/* kiln-vmm's container mode (vmm/supervise.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/client.h"
#include "vmm/supervise.h"
#include "vmm/vmm.h"

#define SUPERVISE_FILE_MAX (64u << 10)
#define SPEC_FILE_MAX	   (PROTO_MAX_FRAME / 2)

static int get_string(const kiln_json_t *doc, const char *key, bool required, char **out,
		      kiln_error_t *err)
{
	const char *s = NULL;
	int r = kiln_json_get_string(doc, key, &s, err);

	if (r < 0)
		return r;
	if (r == 1 && required)
		return kiln_error_make(err, 0, "%s: required", key);
	*out = s ? xstrdup(s) : NULL;
	return 0;
}

int supervise_config_load(const char *path, struct supervise_config *c, kiln_error_t *err)
{
	cleanup_json kiln_json_t *doc = NULL;
	cleanup_free char *text = NULL;
	uint32_t n;
	size_t len;
	int r;

	*c = (struct supervise_config){.ready_fd = -1, .boot_timeout_ms = 120000};
	if (kiln_read_file(path, SUPERVISE_FILE_MAX, &text, &len, err) < 0 ||
	    kiln_json_parse(text, len, &doc, err) < 0)
		return -1;
	if (get_string(doc, "id", true, &c->id, err) < 0 ||
	    get_string(doc, "spec", true, &c->spec_path, err) < 0 ||
	    get_string(doc, "drive_id", true, &c->drive_id, err) < 0 ||
	    get_string(doc, "fstype", false, &c->fstype, err) < 0 ||
	    kiln_json_get_bool(doc, "readonly", &c->readonly, err) < 0 ||
	    kiln_json_get_bool(doc, "terminal", &c->terminal, err) < 0)
		return -1;
	r = kiln_json_get_uint32(doc, "ready_fd", &n, err);
	if (r < 0)
		return r;
	if (r == 0)
		c->ready_fd = (int)n;
	r = kiln_json_get_uint32(doc, "boot_timeout_ms", &n, err);
	if (r < 0)
		return r;
	if (r == 0)
		c->boot_timeout_ms = n;
	if (c->ready_fd >= 0 && fcntl(c->ready_fd, F_GETFD) < 0)
		return kiln_error_make(err, errno, "ready_fd %d", c->ready_fd);
	{
		const kiln_json_t *net = NULL;

		if (kiln_json_get_object(doc, "network", &net, err) < 0)
			return -1;
		if (net && proto_network_parse(net, "network", &c->network, err) < 0)
			return -1;
	}
	return 0;
}

void supervise_config_release(struct supervise_config *c)
{
	free(c->id);
	free(c->spec_path);
	free(c->drive_id);
	free(c->fstype);
	proto_network_release(&c->network);
	if (c->ready_fd >= 0)
		close(c->ready_fd);
	*c = (struct supervise_config){.ready_fd = -1};
}

/* The one line for the runtime waiting in `kiln create`: "ok <pid>" or
 * "error <message>". */
static void report(struct supervisor *s, const char *word, const char *rest)
{
	char line[1024];
	int n;

	if (s->cfg.ready_fd < 0)
		return;
	n = snprintf(line, sizeof(line) - 1, "%s %s", word, rest);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	kiln_write_all(s->cfg.ready_fd, line, (size_t)n);
	close(s->cfg.ready_fd);
	s->cfg.ready_fd = -1;
}

static bool vm_ended(struct vmm *v)
{
	bool done;

	pthread_mutex_lock(&v->lock);
	done = v->done;
	pthread_mutex_unlock(&v->lock);
	return done;
}

/* Connects to the agent's control port, retrying while the guest boots. */
static int wait_for_agent(struct supervisor *s, struct proto_client *c, kiln_error_t *err)
{
	long long deadline = kiln_now_ms() + s->cfg.boot_timeout_ms;

	for (;;) {
		struct proto_reply r = {0};
		size_t len;

		if (proto_client_open(c, s->uds, err) == 0) {
			char *ping = proto_request_simple(c->next_id++, PROTO_M_PING, &len);

			if (proto_client_call(c, ping, len, &r, "ping", err) == 0) {
				proto_reply_release(&r);
				return 0;
			}
			proto_client_close(c);
		}
		kiln_error_free(err);
		if (vm_ended(s->vmm))
			return kiln_error_make(err, 0, "the VM stopped before its agent answered");
		if (kiln_now_ms() > deadline)
			return kiln_error_make(err, ETIMEDOUT,
					       "the guest agent did not answer within %u ms",
					       s->cfg.boot_timeout_ms);
		usleep(10000);
	}
}

static int create_container(struct supervisor *s, struct proto_client *c, int *pid,
			    kiln_error_t *err)
{
	cleanup_json kiln_json_t *spec = NULL;
	cleanup_free char *text = NULL;
	struct proto_create_params p = {0};
	size_t len;

	if (kiln_read_file(s->cfg.spec_path, SPEC_FILE_MAX, &text, &len, err) < 0 ||
	    kiln_json_parse(text, len, &spec, err) < 0)
		return -1;
	p.container_id = s->cfg.id;
	p.spec = spec;
	p.rootfs.drive_id = s->cfg.drive_id;
	p.rootfs.fstype = s->cfg.fstype ? s->cfg.fstype : "ext4";
	/* A read-only disk still needs mount points made for the spec's
	 * mounts (podman --read-only mounts tmpfs on /run, which an image may
	 * lack): those go into a tmpfs overlay, and the agent remounts the
	 * root read-only once the mounts are in, as runc does. */
	p.rootfs.readonly = s->cfg.readonly;
	p.rootfs.overlay = s->cfg.readonly;
	p.stdio = (struct proto_stdio){.in = true, .out = true, .err = true};
	/* borrowed: the request is built before this returns */
	p.network = s->cfg.network;
	return proto_client_create(c, &p, pid, err);
}

/* stdin is relayed when there is one: a closed fd 0 means none. */
static int input_fd(void)
{
	struct stat st;

	return fstat(STDIN_FILENO, &st) == 0 ? STDIN_FILENO : -1;
}

static void *supervise_main(void *arg)
{
	struct supervisor *s = arg;
	struct proto_client c = {.fd = -1};
	struct proto_relay relay = PROTO_RELAY_INIT;
	struct proto_wait_result w = {0};
	kiln_error_t err = NULL;
	bool ready = false;
	char pid_text[16];
	int pid = 0;

	if (wait_for_agent(s, &c, &err) < 0 || create_container(s, &c, &pid, &err) < 0 ||
	    proto_relay_attach(&relay, s->uds, s->cfg.id, NULL, s->cfg.terminal, input_fd(),
			       STDOUT_FILENO, STDERR_FILENO, &err) < 0 ||
	    (s->cfg.terminal && isatty(STDIN_FILENO) &&
	     proto_relay_follow_winsize(&relay, s->uds, s->cfg.id, NULL, STDIN_FILENO, &err) < 0))
		goto fail;
	snprintf(pid_text, sizeof(pid_text), "%d", pid);
	report(s, "ok", pid_text);
	ready = true;
	log_info("container %s created (guest pid %d)", s->cfg.id, pid);
	if (proto_relay_run(&relay, &c, s->cfg.id, NULL, &w, &err) < 0)
		goto fail;
	proto_relay_release(&relay);
	proto_client_close(&c);
	log_info("container %s exited with status %d", s->cfg.id, w.exit_code);
	s->exit_code = w.exit_code;
	s->finished = true;
	vmm_request_stop(s->vmm, w.exit_code, NULL);
	return NULL;

fail:
	proto_relay_release(&relay);
	proto_client_close(&c);
	if (!ready)
		report(s, "error", err && err->msg ? err->msg : "unknown error");
	log_error("container %s: %s", s->cfg.id, err && err->msg ? err->msg : "unknown error");
	vmm_request_stop(s->vmm, 1, err && err->msg ? err->msg : "container supervisor failed");
	kiln_error_free(&err);
	return NULL;
}

int supervise_start(struct supervisor *s, struct vmm *v, const char *uds, kiln_error_t *err)
{
	int r;

	s->vmm = v;
	s->uds = uds;
	r = pthread_create(&s->thread, NULL, supervise_main, s);
	if (r != 0)
		return kiln_error_make(err, r, "cannot start the container supervisor");
	s->started = true;
	return 0;
}

void supervise_join(struct supervisor *s)
{
	if (!s->started)
		return;
	/* A thread blocked on a dead VM's sockets never returns, so it is not
	 * joined; the process is ending, and `started` stays set so that the
	 * VM's memory is not freed under it. */
	pthread_detach(s->thread);
}
