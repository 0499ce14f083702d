/* A container's state directory and what can be done to a container from
 * the host (runtime/runtime.h). The status is derived, as runc derives it:
 * no kiln-vmm process (or another process under its pid) means stopped. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/json.h"
#include "common/util.h"
#include "oci/oci.h"
#include "proto/client.h"
#include "runtime/network.h"
#include "runtime/runtime.h"

#define STATE_MAX (1u << 20)

const char *kiln_status_name(enum kiln_status s)
{
	static const char *const names[] = {"created", "running", "paused", "stopped"};

	return names[s];
}

int kiln_check_id(const char *id, kiln_error_t *err)
{
	if (!proto_id_valid(id, false))
		return kiln_error_make(err, 0,
				       "invalid container id \"%s\": use 1-%d of [A-Za-z0-9_.-], "
				       "not starting with '.'",
				       id, PROTO_MAX_ID_LEN);
	return 0;
}

char *kiln_container_path(const struct kiln_container *c, const char *name)
{
	return xasprintf("%s/%s", c->dir, name);
}

unsigned long long kiln_pid_start(pid_t pid)
{
	char path[64], buf[1024];
	cleanup_close int fd = -1;
	unsigned long long start = 0;
	ssize_t n;
	char *p;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* after "(comm)": state is field 3, starttime field 22 */
	p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	p += 2;
	if (*p == 'Z' || *p == 'X') /* exited, not yet reaped */
		return 0;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (p)
		start = strtoull(p, NULL, 10);
	return start;
}

static int get_str(const kiln_json_t *doc, const char *key, char **out, kiln_error_t *err)
{
	const char *s = NULL;
	int r = kiln_json_get_string(doc, key, &s, err);

	if (r < 0)
		return r;
	*out = s ? xstrdup(s) : NULL;
	return 0;
}

int kiln_container_load(const struct kiln_context *ctx, const char *id, struct kiln_container *c,
			kiln_error_t *err)
{
	cleanup_json kiln_json_t *doc = NULL;
	cleanup_free char *text = NULL;
	cleanup_free char *path = NULL;
	int64_t pid = 0, vmm_pid = 0;
	uint64_t start = 0, vmm_start = 0;
	size_t len;

	memset(c, 0, sizeof(*c));
	if (kiln_check_id(id, err) < 0)
		return -1;
	c->id = xstrdup(id);
	c->dir = xasprintf("%s/%s", ctx->root, id);
	path = kiln_container_path(c, "state.json");
	if (kiln_read_file(path, STATE_MAX, &text, &len, err) < 0) {
		bool missing = (*err)->status == ENOENT;

		kiln_container_release(c);
		if (missing) {
			kiln_error_make(err, 0, "container \"%s\" does not exist", id);
			(*err)->status = ENOENT; /* for delete --force */
			return -1;
		}
		return -1;
	}
	if (kiln_json_parse(text, len, &doc, err) < 0 || get_str(doc, "bundle", &c->bundle, err) ||
	    get_str(doc, "rootfs", &c->rootfs, err) || get_str(doc, "created", &c->created, err) ||
	    get_str(doc, "cgroup", &c->cgroup, err) ||
	    kiln_json_get_int64(doc, "pid", &pid, err) < 0 ||
	    kiln_json_get_uint64(doc, "pid_start", &start, err) < 0 ||
	    kiln_json_get_int64(doc, "vmm_pid", &vmm_pid, err) < 0 ||
	    kiln_json_get_uint64(doc, "vmm_pid_start", &vmm_start, err) < 0 ||
	    kiln_json_get_bool(doc, "started", &c->started, err) < 0 ||
	    kiln_json_get_bool(doc, "paused", &c->paused, err) < 0) {
		kiln_error_wrap(err, "state of container \"%s\"", id);
		kiln_container_release(c);
		return -1;
	}
	c->pid = (pid_t)pid;
	c->pid_start = start;
	c->vmm_pid = (pid_t)vmm_pid;
	c->vmm_pid_start = vmm_start;
	return 0;
}

int kiln_container_save(const struct kiln_container *c, kiln_error_t *err)
{
	cleanup_json_gen kiln_json_gen_t *g = kiln_json_gen_new(true);
	cleanup_free char *out = NULL;
	cleanup_free char *path = kiln_container_path(c, "state.json");
	size_t len;

	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_string(g, "id", c->id);
	kiln_json_gen_kv_string(g, "bundle", c->bundle);
	kiln_json_gen_kv_string(g, "rootfs", c->rootfs);
	kiln_json_gen_kv_string(g, "created", c->created);
	kiln_json_gen_kv_string(g, "cgroup", c->cgroup);
	kiln_json_gen_kv_int64(g, "pid", c->pid);
	kiln_json_gen_kv_uint64(g, "pid_start", c->pid_start);
	kiln_json_gen_kv_int64(g, "vmm_pid", c->vmm_pid);
	kiln_json_gen_kv_uint64(g, "vmm_pid_start", c->vmm_pid_start);
	kiln_json_gen_kv_bool(g, "started", c->started);
	kiln_json_gen_kv_bool(g, "paused", c->paused);
	kiln_json_gen_map_close(g);
	if (kiln_json_gen_finish(g, &out, &len, err) < 0)
		return -1;
	return kiln_write_file_atomic(path, out, len, 0600, err);
}

void kiln_container_release(struct kiln_container *c)
{
	free(c->id);
	free(c->dir);
	free(c->bundle);
	free(c->rootfs);
	free(c->created);
	free(c->cgroup);
	memset(c, 0, sizeof(*c));
}

enum kiln_status kiln_container_status(const struct kiln_container *c)
{
	if (c->pid <= 0 || kiln_pid_start(c->pid) != c->pid_start)
		return KILN_STOPPED;
	if (c->paused)
		return KILN_PAUSED;
	return c->started ? KILN_RUNNING : KILN_CREATED;
}

int kiln_remove_tree(const char *path)
{
	cleanup_closedir DIR *d = opendir(path);
	struct dirent *e;

	if (d == NULL)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d)) != NULL) {
		cleanup_free char *p = NULL;
		struct stat st;

		if (streq(e->d_name, ".") || streq(e->d_name, ".."))
			continue;
		p = xasprintf("%s/%s", path, e->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			kiln_remove_tree(p);
		else
			unlink(p);
	}
	return rmdir(path) < 0 ? -errno : 0;
}

int kiln_agent_open(const struct kiln_container *c, struct proto_client *pc, kiln_error_t *err)
{
	cleanup_free char *uds = kiln_container_path(c, KILN_VM_DIR "/vsock.sock");

	pc->fd = -1;
	if (proto_client_open(pc, uds, err) < 0)
		return kiln_error_wrap(err, "container \"%s\": cannot reach its agent", c->id);
	pc->uds = NULL; /* uds is freed here; the control connection is all we use */
	return 0;
}

static bool alive(pid_t pid, unsigned long long start)
{
	return pid > 0 && kiln_pid_start(pid) == start;
}

/* The container's virtiofsd (runtime/volumes.h), which the supervisor
 * recorded: it dies with the supervisor, and its worker with it, but not
 * at once; a delete returns when the process group they share is gone. */
static void kill_volume_daemon(const struct kiln_container *c)
{
	cleanup_free char *path = kiln_container_path(c, "virtiofsd.pid");
	cleanup_free char *text = NULL;
	unsigned long long start = 0;
	kiln_error_t e = NULL;
	int pid = 0;

	if (kiln_read_file(path, 64, &text, NULL, &e) < 0) {
		kiln_error_free(&e);
		return;
	}
	if (sscanf(text, "%d %llu", &pid, &start) != 2 || pid <= 0)
		return;
	/* the group's id is its leader's pid, which cannot be reused while
	 * a member (even a zombie) is left: past the leader, kill(-pid) only
	 * ever reaches the daemon's worker */
	if (alive(pid, start))
		kill(-pid, SIGKILL);
	for (int i = 0; i < 1000 && (alive(pid, start) || kill(-pid, 0) == 0); i++)
		usleep(10000);
}

void kiln_container_kill_vmm(const struct kiln_container *c)
{
	/* the supervisor first: its exit status is what conmon reports */
	if (alive(c->pid, c->pid_start))
		kill(c->pid, SIGKILL);
	/* kiln-vmm dies with it (its parent-death signal); this is for a
	 * supervisor that was already gone */
	if (alive(c->vmm_pid, c->vmm_pid_start))
		kill(c->vmm_pid, SIGKILL);
	/* Not our children (kiln create has exited): wait for them to go. */
	for (int i = 0;
	     i < 1000 && (alive(c->pid, c->pid_start) || alive(c->vmm_pid, c->vmm_pid_start)); i++)
		usleep(10000);
	kill_volume_daemon(c);
}

void kiln_container_destroy(struct kiln_container *c)
{
	cleanup_free char *net_path = kiln_container_path(c, "network.json");
	kiln_error_t err = NULL;
	struct kiln_net net;

	kiln_container_kill_vmm(c);
	/* the VM's taps, before the hooks (which may remove the namespace) */
	if (kiln_net_load(net_path, &net, &err) < 0) {
		log_warning("%s", err->msg);
		kiln_error_free(&err);
	}
	kiln_net_unwire(&net);
	kiln_net_release(&net);
	if (kiln_hooks_run(c, OCI_HOOK_POSTSTOP, &err) < 0) {
		log_warning("%s", err->msg);
		kiln_error_free(&err);
	}
	if (c->cgroup)
		rmdir(c->cgroup);
	kiln_remove_tree(c->dir);
}

int kiln_container_state_json(const struct kiln_container *c, char **out, kiln_error_t *err)
{
	cleanup_free char *spec_path = kiln_container_path(c, "config.json");
	cleanup_free char *text = NULL;
	cleanup_oci_config struct oci_config *cfg = NULL;
	enum kiln_status status = kiln_container_status(c);
	struct oci_state s = {
	    .oci_version = OCI_SPEC_VERSION,
	    .id = c->id,
	    .status = (char *)kiln_status_name(status),
	    .pid = status == KILN_STOPPED ? 0 : c->pid,
	    .bundle = c->bundle,
	    .rootfs = c->rootfs,
	    .created = c->created,
	    .owner = "",
	};
	size_t len;

	/* the annotations of the spec the container was created from */
	if (kiln_read_file(spec_path, PROTO_MAX_FRAME, &text, &len, NULL) == 0 &&
	    oci_config_parse(text, len, &cfg, NULL) == 0)
		s.annotations = cfg->annotations;
	return oci_state_to_json(&s, out, NULL, err);
}

static int http_request(const char *sock, const char *method, const char *path, const char *body,
			kiln_error_t *err)
{
	cleanup_close int fd = kiln_unix_connect(sock, err);
	cleanup_free char *req = NULL;
	char resp[512];
	ssize_t n;
	int code = 0;

	if (fd < 0)
		return -1;
	req = xasprintf("%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
			"Content-Length: %zu\r\n\r\n%s",
			method, path, strlen(body), body);
	if (kiln_write_all(fd, req, strlen(req)) < 0)
		return kiln_error_make(err, errno, "%s %s", method, path);
	n = read(fd, resp, sizeof(resp) - 1);
	if (n <= 0)
		return kiln_error_make(err, n < 0 ? errno : ECONNRESET, "%s %s", method, path);
	resp[n] = '\0';
	if (sscanf(resp, "HTTP/1.%*d %d", &code) != 1)
		return kiln_error_make(err, 0, "%s %s: bad response", method, path);
	if (code / 100 != 2) {
		char *msg = strstr(resp, "fault_message");

		return kiln_error_make(err, 0, "%s %s: HTTP %d%s%s", method, path, code,
				       msg ? " " : "", msg ? msg : "");
	}
	return 0;
}

int kiln_vmm_set_state(const struct kiln_container *c, const char *state, kiln_error_t *err)
{
	cleanup_free char *sock = kiln_container_path(c, KILN_VM_DIR "/api.sock");
	cleanup_free char *body = xasprintf("{\"state\": \"%s\"}", state);

	return http_request(sock, "PATCH", "/vm", body, err);
}

int kiln_parse_signal(const char *s, int *sig, kiln_error_t *err)
{
	const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
	char *end;
	long n;

	for (int i = 1; i < NSIG; i++) {
		const char *abbrev = sigabbrev_np(i);

		if (abbrev && strcasecmp(abbrev, name) == 0) {
			*sig = i;
			return 0;
		}
	}
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || *end || end == s || n <= 0 || n >= NSIG)
		return kiln_error_make(err, 0, "unknown signal \"%s\"", s);
	*sig = (int)n;
	return 0;
}

int kiln_write_pid(const char *path, pid_t pid, kiln_error_t *err)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", pid);

	return kiln_write_file_atomic(path, buf, (size_t)n, 0644, err);
}

int kiln_check_preserve_fds(const char *arg, kiln_error_t *err)
{
	char *end;
	unsigned long n = strtoul(arg, &end, 10);

	if (*end || end == arg)
		return kiln_error_make(err, 0, "--preserve-fds: not a number: %s", arg);
	if (n > 0)
		return kiln_error_make(err, 0,
				       "--preserve-fds: host file descriptors cannot be "
				       "passed into a microVM");
	return 0;
}
