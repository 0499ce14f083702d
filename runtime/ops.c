/* The operations on an existing container: state, kill, delete, pause,
 * resume, update. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "common/json.h"
#include "common/util.h"
#include "oci/oci.h"
#include "proto/client.h"
#include "runtime/network.h"
#include "runtime/runtime.h"

/* ---- state */

int kiln_container_state(struct kiln_context *ctx, const char *id, char **out, kiln_error_t *err)
{
	struct kiln_container c;
	int r;

	if (kiln_container_load(ctx, id, &c, err) < 0)
		return -1;
	r = kiln_container_state_json(&c, out, err);
	kiln_container_release(&c);
	return r < 0 ? -1 : 0;
}

/* ---- kill */

int kiln_container_kill(struct kiln_context *ctx, const char *id, int sig, bool all,
			kiln_error_t *err)
{
	struct kiln_container c;
	struct proto_client pc;
	int r;
	bool paused;

	if (kiln_container_load(ctx, id, &c, err) < 0)
		return -1;
	if (kiln_container_status(&c) == KILN_STOPPED) {
		kiln_container_release(&c);
		return kiln_error_make(err, 0, "container \"%s\" is not running", id);
	}
	/* SIGKILL does not depend on the guest (a paused one cannot answer, a
	 * stuck one does not): the VM is the container, and kiln-vmm killed by
	 * it exits the way the workload would have (137). */
	paused = kiln_container_status(&c) == KILN_PAUSED;
	r = -1;
	if (!paused || sig != SIGKILL) {
		r = kiln_agent_open(&c, &pc, err);
		if (r == 0) {
			r = proto_client_signal(&pc, c.id, NULL, sig, all, err);
			proto_client_close(&pc);
		}
	}
	if (r < 0 && sig == SIGKILL && kiln_container_status(&c) != KILN_STOPPED) {
		if (*err) {
			log_warning("%s; killing its VM", (*err)->msg);
			kiln_error_free(err);
		}
		kiln_container_kill_vmm(&c);
		r = 0;
	}
	kiln_container_release(&c);
	return r < 0 ? -1 : 0;
}

/* ---- delete */

/* What a create killed before it recorded the container leaves: its
 * supervisor (which recorded itself in supervisor.pid; kiln-vmm dies with
 * it), the VM's taps, the cgroup and the state directory. No hooks: the
 * container never existed for anyone. */
static void clear_unrecorded(struct kiln_context *ctx, const char *id)
{
	struct kiln_container c = {.dir = xasprintf("%s/%s", ctx->root, id)};
	cleanup_free char *pid_path = kiln_container_path(&c, "supervisor.pid");
	cleanup_free char *net_path = kiln_container_path(&c, "network.json");
	cleanup_free char *text = NULL;
	cleanup_oci_config struct oci_config *cfg = NULL;
	kiln_error_t e = NULL;
	struct kiln_net net;
	struct stat st;
	size_t len;

	if (stat(c.dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(c.dir);
		return;
	}
	if (kiln_read_file(pid_path, 64, &text, &len, &e) == 0) {
		int pid = 0;

		if (sscanf(text, "%d %llu", &pid, &c.pid_start) == 2)
			c.pid = pid;
	}
	kiln_error_free(&e);
	/* its kiln-vmm, to wait for it too */
	if (c.pid > 0 && kiln_pid_start(c.pid) == c.pid_start) {
		cleanup_free char *children = xasprintf("/proc/%d/task/%d/children", c.pid, c.pid);
		cleanup_free char *list = NULL;

		if (kiln_read_file(children, 256, &list, &len, &e) == 0)
			c.vmm_pid = atoi(list);
		kiln_error_free(&e);
		c.vmm_pid_start = kiln_pid_start(c.vmm_pid);
	}
	kiln_container_kill_vmm(&c);
	if (kiln_net_load(net_path, &net, &e) == 0)
		kiln_net_unwire(&net);
	kiln_net_release(&net);
	kiln_error_free(&e);
	if (oci_config_load(c.dir, &cfg, &e) == 0 && cfg->linux_spec &&
	    access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
		cleanup_free char *cgroup =
		    kiln_cgroup_dir(cfg->linux_spec->cgroups_path, ctx->systemd_cgroup);

		if (cgroup)
			kiln_cgroup_remove(cgroup);
	}
	kiln_error_free(&e);
	kiln_remove_tree(c.dir);
	free(c.dir);
}

int kiln_container_delete(struct kiln_context *ctx, const char *id, bool force, kiln_error_t *err)
{
	struct kiln_container c;
	enum kiln_status s;

	if (kiln_container_load(ctx, id, &c, err) < 0) {
		/* runc: deleting a missing container with --force is fine */
		if (force && (*err)->status == ENOENT) {
			kiln_error_free(err);
			clear_unrecorded(ctx, id);
			return 0;
		}
		return -1;
	}
	s = kiln_container_status(&c);
	if (!force && (s == KILN_RUNNING || s == KILN_PAUSED)) {
		kiln_error_make(err, 0,
				"cannot delete container \"%s\" that is %s: stop it first "
				"or use delete --force",
				c.id, kiln_status_name(s));
		kiln_container_release(&c);
		return -1;
	}
	kiln_container_destroy(&c);
	kiln_container_release(&c);
	return 0;
}

/* ---- pause, resume */

static int set_paused(struct kiln_context *ctx, const char *id, bool pause, kiln_error_t *err)
{
	struct kiln_container c;
	enum kiln_status s;
	int r;

	if (kiln_container_load(ctx, id, &c, err) < 0)
		return -1;
	s = kiln_container_status(&c);
	if ((pause && s != KILN_RUNNING && s != KILN_CREATED) || (!pause && s != KILN_PAUSED)) {
		kiln_error_make(err, 0, "container \"%s\" is %s, not %s", c.id, kiln_status_name(s),
				pause ? "running" : "paused");
		kiln_container_release(&c);
		return -1;
	}
	r = kiln_vmm_set_state(&c, pause ? "Paused" : "Resumed", err);
	if (r == 0) {
		c.paused = pause;
		r = kiln_container_save(&c, err);
	}
	kiln_container_release(&c);
	return r < 0 ? -1 : 0;
}

int kiln_container_pause(struct kiln_context *ctx, const char *id, kiln_error_t *err)
{
	return set_paused(ctx, id, true, err);
}

int kiln_container_resume(struct kiln_context *ctx, const char *id, kiln_error_t *err)
{
	return set_paused(ctx, id, false, err);
}

/* ---- update: the host cgroup of the supervisor and kiln-vmm. */

int kiln_container_update(struct kiln_context *ctx, const char *id, const kiln_json_t *doc,
			  kiln_error_t *err)
{
	struct kiln_container c;
	int64_t v;
	uint64_t period = 100000;
	int r = 0;

	if (kiln_container_load(ctx, id, &c, err) < 0)
		return -1;
	if (kiln_container_status(&c) == KILN_STOPPED) {
		r = kiln_error_make(err, 0, "container \"%s\" is not running", c.id);
	} else if (c.cgroup == NULL) {
		r = kiln_error_make(err, 0, "container \"%s\" has no cgroup (no linux.cgroupsPath)",
				    c.id);
	} else {
		char buf[64];
		uint64_t p;

		if (kiln_json_get_uint64(doc, "cpu.period", &p, err) == 0)
			period = p;
		else if (*err)
			r = -1;
		if (r == 0 && kiln_json_get_int64(doc, "memory.limit", &v, err) == 0) {
			snprintf(buf, sizeof(buf), v > 0 ? "%lld" : "max", (long long)v);
			r = kiln_cgroup_write(c.cgroup, "memory.max", buf, err);
		} else if (*err) {
			r = -1;
		}
		if (r == 0 && kiln_json_get_int64(doc, "cpu.quota", &v, err) == 0) {
			if (v > 0)
				snprintf(buf, sizeof(buf), "%lld %llu", (long long)v,
					 (unsigned long long)period);
			else
				snprintf(buf, sizeof(buf), "max %llu", (unsigned long long)period);
			r = kiln_cgroup_write(c.cgroup, "cpu.max", buf, err);
		} else if (*err) {
			r = -1;
		}
		if (r == 0 && kiln_json_get_int64(doc, "pids.limit", &v, err) == 0) {
			snprintf(buf, sizeof(buf), v > 0 ? "%lld" : "max", (long long)v);
			r = kiln_cgroup_write(c.cgroup, "pids.max", buf, err);
		} else if (*err) {
			r = -1;
		}
	}
	kiln_container_release(&c);
	return r < 0 ? -1 : 0;
}
