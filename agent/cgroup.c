#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/cgroup.h"
#include "common/io.h"
#include "common/util.h"

static int write_str(const char *path, const char *s)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return kiln_write_all(fd, s, strlen(s)) < 0 ? -errno : 0;
}

int agent_cgroup_create(const char *root, const char *id, char **path, kiln_error_t *err)
{
	cleanup_free char *kiln = xasprintf("%s/kiln", root);
	cleanup_free char *dir = xasprintf("%s/kiln/%s", root, id);
	static const char *const controllers[] = {"+cpu", "+memory", "+pids"};

	/* Controllers must be enabled on every level above the leaf; one
	 * the kernel lacks is skipped, so stats report 0 for it. */
	for (size_t i = 0; i < ARRAY_SIZE(controllers); i++) {
		cleanup_free char *top = xasprintf("%s/cgroup.subtree_control", root);

		write_str(top, controllers[i]);
	}
	if (mkdir(kiln, 0755) < 0 && errno != EEXIST)
		return kiln_error_make(err, errno, "cgroup %s", kiln);
	for (size_t i = 0; i < ARRAY_SIZE(controllers); i++) {
		cleanup_free char *sub = xasprintf("%s/cgroup.subtree_control", kiln);

		write_str(sub, controllers[i]);
	}
	if (mkdir(dir, 0755) < 0)
		return kiln_error_make(err, errno, "cgroup %s", dir);
	*path = TAKE_PTR(dir);
	return 0;
}

void agent_cgroup_remove(const char *path)
{
	if (path != NULL)
		rmdir(path);
}

/* The number in path, "max" as 0; a missing file is 0. */
static int read_u64(const char *dir, const char *name, uint64_t *out, kiln_error_t *err)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, name);
	cleanup_free char *s = NULL;
	kiln_error_t e = NULL;
	char *end;

	*out = 0;
	if (kiln_read_file(path, 4096, &s, NULL, &e) < 0) {
		int status = e->status;

		kiln_error_free(&e);
		if (status == ENOENT)
			return 0;
		return kiln_error_make(err, status, "%s", path);
	}
	if (strncmp(s, "max", 3) == 0)
		return 0;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		return kiln_error_make(err, 0, "%s: not a number", path);
	return 0;
}

int agent_cgroup_stats(const char *path, struct proto_stats_result *out, kiln_error_t *err)
{
	cleanup_free char *cpu_path = xasprintf("%s/cpu.stat", path);
	cleanup_free char *cpu = NULL;
	kiln_error_t e = NULL;

	memset(out, 0, sizeof(*out));
	if (kiln_read_file(cpu_path, 65536, &cpu, NULL, &e) == 0) {
		for (char *line = strtok(cpu, "\n"); line != NULL; line = strtok(NULL, "\n")) {
			unsigned long long v;

			if (sscanf(line, "usage_usec %llu", &v) == 1)
				out->cpu_usage_usec = v;
			else if (sscanf(line, "user_usec %llu", &v) == 1)
				out->cpu_user_usec = v;
			else if (sscanf(line, "system_usec %llu", &v) == 1)
				out->cpu_system_usec = v;
		}
	} else {
		kiln_error_free(&e);
	}
	if (read_u64(path, "memory.current", &out->memory_usage, err) < 0 ||
	    read_u64(path, "memory.max", &out->memory_limit, err) < 0 ||
	    read_u64(path, "pids.current", &out->pids_current, err) < 0 ||
	    read_u64(path, "pids.max", &out->pids_limit, err) < 0)
		return -1;
	return 0;
}

int agent_cgroup_kill(const char *path, int sig, kiln_error_t *err)
{
	cleanup_free char *procs = xasprintf("%s/cgroup.procs", path);
	cleanup_free char *s = NULL;
	int n = 0;

	if (kiln_read_file(procs, 1 << 20, &s, NULL, err) < 0)
		return -1;
	for (char *line = strtok(s, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		long pid = strtol(line, NULL, 10);

		if (pid > 0 && kill((pid_t)pid, sig) == 0)
			n++;
	}
	return n;
}
