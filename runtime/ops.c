/* The verbs that act on an existing container, or on none: state, kill,
 * delete, pause, resume, ps, list, update, spec, features. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/io.h"
#include "common/json.h"
#include "common/util.h"
#include "oci/oci.h"
#include "proto/client.h"
#include "runtime/runtime.h"

/* Parses options from opts (long names only; single dash accepted, as
 * runc's CLI does) and leaves positional arguments at argv[optind..]. */
static int parse_flags(int argc, char **argv, const struct option *opts, const char *shortopts,
		       void (*set)(int ch, const char *arg, void *ctx), void *ctx,
		       kiln_error_t *err)
{
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long_only(argc, argv, shortopts, opts, NULL)) != -1) {
		if (ch == '?' || ch == ':')
			return kiln_error_make(err, 0, "%s: unknown or incomplete option %s",
					       argv[0], argv[optind - 1]);
		set(ch, optarg, ctx);
	}
	return 0;
}

static int one_id(int argc, char **argv, int extra_max, kiln_error_t *err)
{
	int n = argc - optind;

	if (n < 1 || n > 1 + extra_max)
		return kiln_error_make(err, 0, "%s: expected a container id%s", argv[0],
				       extra_max ? " (and at most one more argument)" : "");
	return 0;
}

/* ---- state */

int kiln_cmd_state(int argc, char **argv, kiln_error_t *err)
{
	struct kiln_container c;
	cleanup_free char *out = NULL;

	if (argc != 2)
		return kiln_error_make(err, 0, "state: expected exactly one container id"), 1;
	if (kiln_container_load(argv[1], &c, err) < 0)
		return 1;
	if (kiln_container_state_json(&c, &out, err) < 0) {
		kiln_container_release(&c);
		return 1;
	}
	fputs(out, stdout);
	kiln_container_release(&c);
	return 0;
}

/* ---- kill */

struct kill_opts {
	bool all;
};

static void set_kill(int ch, const char *arg, void *ctx)
{
	(void)arg;
	if (ch == 'a')
		((struct kill_opts *)ctx)->all = true;
}

int kiln_cmd_kill(int argc, char **argv, kiln_error_t *err)
{
	static const struct option opts[] = {{"all", no_argument, NULL, 'a'}, {0}};
	struct kill_opts o = {0};
	struct kiln_container c;
	struct proto_client pc;
	int sig = SIGTERM, r;
	bool paused;

	if (parse_flags(argc, argv, opts, "a", set_kill, &o, err) < 0 ||
	    one_id(argc, argv, 1, err) < 0)
		return 1;
	if (argc - optind == 2 && kiln_parse_signal(argv[optind + 1], &sig, err) < 0)
		return 1;
	if (kiln_container_load(argv[optind], &c, err) < 0)
		return 1;
	if (kiln_container_status(&c) == KILN_STOPPED) {
		kiln_container_release(&c);
		return kiln_error_make(err, 0, "container \"%s\" is not running", argv[optind]), 1;
	}
	/* SIGKILL does not depend on the guest (a paused one cannot answer, a
	 * stuck one does not): the VM is the container, and kiln-vmm killed by
	 * it exits the way the workload would have (137). */
	paused = kiln_container_status(&c) == KILN_PAUSED;
	r = -1;
	if (!paused || sig != SIGKILL) {
		r = kiln_agent_open(&c, &pc, err);
		if (r == 0) {
			r = proto_client_signal(&pc, c.id, NULL, sig, o.all, err);
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
	return r < 0 ? 1 : 0;
}

/* ---- delete */

static void set_force(int ch, const char *arg, void *ctx)
{
	(void)arg;
	if (ch == 'f')
		*(bool *)ctx = true;
}

int kiln_cmd_delete(int argc, char **argv, kiln_error_t *err)
{
	static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {0}};
	struct kiln_container c;
	bool force = false;
	enum kiln_status s;

	if (parse_flags(argc, argv, opts, "f", set_force, &force, err) < 0 ||
	    one_id(argc, argv, 0, err) < 0)
		return 1;
	if (kiln_container_load(argv[optind], &c, err) < 0) {
		/* runc: deleting a missing container with --force is fine */
		if (force && (*err)->status == ENOENT) {
			kiln_error_free(err);
			return 0;
		}
		return 1;
	}
	s = kiln_container_status(&c);
	if (!force && (s == KILN_RUNNING || s == KILN_PAUSED)) {
		kiln_error_make(err, 0,
				"cannot delete container \"%s\" that is %s: stop it first "
				"or use delete --force",
				c.id, kiln_status_name(s));
		kiln_container_release(&c);
		return 1;
	}
	kiln_container_destroy(&c);
	kiln_container_release(&c);
	return 0;
}

/* ---- pause, resume */

static int set_paused(int argc, char **argv, bool pause, kiln_error_t *err)
{
	struct kiln_container c;
	enum kiln_status s;
	int r;

	if (argc != 2)
		return kiln_error_make(err, 0, "%s: expected exactly one container id", argv[0]), 1;
	if (kiln_container_load(argv[1], &c, err) < 0)
		return 1;
	s = kiln_container_status(&c);
	if ((pause && s != KILN_RUNNING && s != KILN_CREATED) || (!pause && s != KILN_PAUSED)) {
		kiln_error_make(err, 0, "container \"%s\" is %s, not %s", c.id, kiln_status_name(s),
				pause ? "running" : "paused");
		kiln_container_release(&c);
		return 1;
	}
	r = kiln_vmm_set_state(&c, pause ? "Paused" : "Resumed", err);
	if (r == 0) {
		c.paused = pause;
		r = kiln_container_save(&c, err);
	}
	kiln_container_release(&c);
	return r < 0 ? 1 : 0;
}

int kiln_cmd_pause(int argc, char **argv, kiln_error_t *err)
{
	return set_paused(argc, argv, true, err);
}

int kiln_cmd_resume(int argc, char **argv, kiln_error_t *err)
{
	return set_paused(argc, argv, false, err);
}

/* ---- ps: the container's host processes (kiln-vmm; the guest's own
 * processes are not host processes). */

static void set_format(int ch, const char *arg, void *ctx)
{
	if (ch == 'f')
		*(const char **)ctx = arg;
}

static int check_format(const char *f, kiln_error_t *err)
{
	if (!streq(f, "table") && !streq(f, "json"))
		return kiln_error_make(err, 0, "--format: expected table or json, got \"%s\"", f);
	return 0;
}

int kiln_cmd_ps(int argc, char **argv, kiln_error_t *err)
{
	static const struct option opts[] = {{"format", required_argument, NULL, 'f'}, {0}};
	const char *format = "table";
	struct kiln_container c;
	bool alive;
	pid_t vmm;

	if (parse_flags(argc, argv, opts, "f:", set_format, &format, err) < 0 ||
	    check_format(format, err) < 0)
		return 1;
	if (argc - optind < 1)
		return kiln_error_make(err, 0, "ps: expected a container id"), 1;
	if (kiln_container_load(argv[optind], &c, err) < 0)
		return 1;
	/* the container's host processes: the supervisor and its kiln-vmm */
	alive = kiln_container_status(&c) != KILN_STOPPED;
	vmm = alive && kiln_pid_start(c.vmm_pid) == c.vmm_pid_start ? c.vmm_pid : -1;
	if (streq(format, "json")) {
		if (alive && vmm > 0)
			printf("[%d,%d]\n", c.pid, vmm);
		else if (alive)
			printf("[%d]\n", c.pid);
		else
			printf("[]\n");
		kiln_container_release(&c);
		return 0;
	}
	fflush(stdout);
	{
		/* ps [ps-args] (default -ef), keeping the header and the
		 * container's lines, as runc ps does */
		cleanup_free char *cmd = NULL;
		cleanup_free char *args = xstrdup("-ef");
		int status;

		if (argc - optind > 1) {
			free(args);
			args = xstrdup("");
			for (int i = optind + 1; i < argc; i++) {
				char *next = xasprintf("%s '%s'", args, argv[i]);

				free(args);
				args = next;
			}
		}
		cmd = xasprintf("ps %s | awk 'NR==1 { for (i = 1; i <= NF; i++) if ($i == \"PID\") "
				"col = i; print; next } col && ($col == %d || $col == %d)'",
				args, alive ? c.pid : -1, vmm);
		status = system(cmd);
		kiln_container_release(&c);
		if (status != 0)
			return kiln_error_make(err, 0, "ps: running ps failed"), 1;
	}
	return 0;
}

/* ---- list */

int kiln_cmd_list(int argc, char **argv, kiln_error_t *err)
{
	static const struct option opts[] = {
	    {"format", required_argument, NULL, 'f'}, {"quiet", no_argument, NULL, 'q'}, {0}};
	const char *format = "table";
	cleanup_closedir DIR *d = NULL;
	struct dirent *e;
	bool quiet = false, first = true;
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long_only(argc, argv, "f:q", opts, NULL)) != -1) {
		if (ch == 'f')
			format = optarg;
		else if (ch == 'q')
			quiet = true;
		else
			return kiln_error_make(err, 0, "list: unknown option %s", argv[optind - 1]),
			       1;
	}
	if (check_format(format, err) < 0)
		return 1;
	d = opendir(kiln_g.root);
	if (streq(format, "json"))
		printf("[");
	else if (!quiet)
		printf("%-20s %-8s %-10s %-40s %-32s %s\n", "ID", "PID", "STATUS", "BUNDLE",
		       "CREATED", "OWNER");
	while (d && (e = readdir(d)) != NULL) {
		struct kiln_container c;
		kiln_error_t e2 = NULL;
		enum kiln_status s;

		if (e->d_name[0] == '.' || kiln_container_load(e->d_name, &c, &e2) < 0) {
			kiln_error_free(&e2);
			continue;
		}
		s = kiln_container_status(&c);
		if (streq(format, "json")) {
			cleanup_free char *j = NULL;

			if (kiln_container_state_json(&c, &j, &e2) == 0)
				printf("%s%s", first ? "" : ",", j);
			kiln_error_free(&e2);
			first = false;
		} else if (quiet) {
			printf("%s\n", c.id);
		} else {
			printf("%-20s %-8d %-10s %-40s %-32s %s\n", c.id,
			       s == KILN_STOPPED ? 0 : c.pid, kiln_status_name(s), c.bundle,
			       c.created, "root");
		}
		kiln_container_release(&c);
	}
	if (streq(format, "json"))
		printf("]\n");
	return 0;
}

/* ---- update: the host cgroup of the VMM. The VM's size is fixed at boot
 * (no memory balloon or CPU hotplug yet). */

static int write_cgroup(const char *dir, const char *file, const char *value, kiln_error_t *err)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, file);
	/* a cgroup file takes one write in place (no temporary file) */
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return kiln_error_make(err, errno, "%s", path);
	n = kiln_write_all(fd, value, strlen(value));
	if (n < 0)
		return kiln_error_make(err, (int)n, "%s: %s", path, value);
	return 0;
}

static void set_resources(int ch, const char *arg, void *ctx)
{
	if (ch == 'r')
		*(const char **)ctx = arg;
}

int kiln_cmd_update(int argc, char **argv, kiln_error_t *err)
{
	static const struct option opts[] = {{"resources", required_argument, NULL, 'r'}, {0}};
	const char *file = NULL;
	cleanup_free char *text = NULL;
	cleanup_json kiln_json_t *doc = NULL;
	struct kiln_container c;
	int64_t v;
	uint64_t period = 100000;
	size_t len;
	int r = 0;

	if (parse_flags(argc, argv, opts, "r:", set_resources, &file, err) < 0)
		return 1;
	if (one_id(argc, argv, 0, err) < 0)
		return 1;
	if (file == NULL)
		return kiln_error_make(err, 0, "update: --resources FILE (or -) is required"), 1;
	if (streq(file, "-") ? kiln_read_fd_all(STDIN_FILENO, 1 << 20, &text, &len, err)
			     : kiln_read_file(file, 1 << 20, &text, &len, err))
		return 1;
	if (kiln_json_parse(text, len, &doc, err) < 0)
		return kiln_error_wrap(err, "--resources %s", file), 1;
	if (kiln_container_load(argv[optind], &c, err) < 0)
		return 1;
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
			r = write_cgroup(c.cgroup, "memory.max", buf, err);
		} else if (*err) {
			r = -1;
		}
		if (r == 0 && kiln_json_get_int64(doc, "cpu.quota", &v, err) == 0) {
			if (v > 0)
				snprintf(buf, sizeof(buf), "%lld %llu", (long long)v,
					 (unsigned long long)period);
			else
				snprintf(buf, sizeof(buf), "max %llu", (unsigned long long)period);
			r = write_cgroup(c.cgroup, "cpu.max", buf, err);
		} else if (*err) {
			r = -1;
		}
		if (r == 0 && kiln_json_get_int64(doc, "pids.limit", &v, err) == 0) {
			snprintf(buf, sizeof(buf), v > 0 ? "%lld" : "max", (long long)v);
			r = write_cgroup(c.cgroup, "pids.max", buf, err);
		} else if (*err) {
			r = -1;
		}
	}
	kiln_container_release(&c);
	return r < 0 ? 1 : 0;
}

/* ---- spec, features */

static void set_bundle(int ch, const char *arg, void *ctx)
{
	if (ch == 'b')
		*(const char **)ctx = arg;
}

int kiln_cmd_spec(int argc, char **argv, kiln_error_t *err)
{
	static const struct option opts[] = {
	    {"bundle", required_argument, NULL, 'b'}, {"rootless", no_argument, NULL, 'R'}, {0}};
	const char *bundle = ".";
	cleanup_free char *path = NULL;
	cleanup_free char *out = NULL;
	size_t len;

	if (parse_flags(argc, argv, opts, "b:", set_bundle, &bundle, err) < 0)
		return 1;
	if (argc != optind)
		return kiln_error_make(err, 0, "spec: unexpected argument %s", argv[optind]), 1;
	path = xasprintf("%s/config.json", bundle);
	if (access(path, F_OK) == 0)
		return kiln_error_make(err, 0, "%s exists; remove it first", path), 1;
	if (oci_spec_default_json(&out, &len, err) < 0 ||
	    kiln_write_file_atomic(path, out, len, 0644, err) < 0)
		return 1;
	return 0;
}

int kiln_cmd_features(int argc, char **argv, kiln_error_t *err)
{
	cleanup_free char *out = NULL;
	size_t len;

	(void)argv;
	if (argc != 1)
		return kiln_error_make(err, 0, "features takes no arguments"), 1;
	if (oci_features_json(&out, &len, err) < 0)
		return 1;
	printf("%s\n", out);
	return 0;
}
