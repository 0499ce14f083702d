/* The container's host cgroup (cgroup v2): the supervisor and its kiln-vmm
 * live in it, and `update` sets its limits. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/util.h"
#include "runtime/runtime.h"

char *kiln_cgroup_dir(const char *cgroups_path, bool systemd)
{
	char *slice, *prefix, *name, *copy;
	char *out, *dir;

	if (cgroups_path == NULL || *cgroups_path == '\0')
		return NULL;
	if (!systemd || strchr(cgroups_path, ':') == NULL)
		return xasprintf("/sys/fs/cgroup/%s",
				 cgroups_path + (cgroups_path[0] == '/' ? 1 : 0));
	/* systemd's "slice:prefix:name": a-b.slice nests as a.slice/a-b.slice */
	copy = xstrdup(cgroups_path);
	slice = copy;
	prefix = strchr(slice, ':');
	*prefix++ = '\0';
	name = strchr(prefix, ':');
	if (name == NULL) {
		free(copy);
		return NULL;
	}
	*name++ = '\0';
	dir = xstrdup("/sys/fs/cgroup");
	if (*slice && !streq(slice, "-.slice")) {
		char *end = strstr(slice, ".slice");

		if (end)
			*end = '\0';
		for (char *dash = slice;; dash++) {
			if (*dash == '-' || *dash == '\0') {
				char *next =
				    xasprintf("%s/%.*s.slice", dir, (int)(dash - slice), slice);

				free(dir);
				dir = next;
				if (*dash == '\0')
					break;
			}
		}
	}
	out = *prefix ? xasprintf("%s/%s-%s.scope", dir, prefix, name)
		      : xasprintf("%s/%s", dir, name);
	free(dir);
	free(copy);
	return out;
}

int kiln_mkdir_p(const char *path)
{
	cleanup_free char *p = xstrdup(path);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* A controller the host does not have is left out. */
void kiln_cgroup_enable_controllers(const char *cgroup)
{
	static const char *const ctl[] = {"+cpu", "+memory", "+pids"};
	cleanup_free char *p = xstrdup(cgroup);
	size_t root = strlen("/sys/fs/cgroup");

	for (char *s = p + root; s; s = strchr(s + 1, '/')) {
		char saved = *s;
		cleanup_free char *file = NULL;

		*s = '\0';
		file = xasprintf("%s/cgroup.subtree_control", p);
		*s = saved;
		for (size_t i = 0; i < ARRAY_SIZE(ctl); i++) {
			int fd = open(file, O_WRONLY | O_CLOEXEC);

			if (fd < 0)
				break;
			if (write(fd, ctl[i], strlen(ctl[i])) < 0)
				log_debug("%s: %s: %s", file, ctl[i], strerror(errno));
			close(fd);
		}
	}
}

/* A killed supervisor's kiln-vmm may still be leaving the cgroup. */
void kiln_cgroup_remove(const char *dir)
{
	for (int i = 0; i < 200 && rmdir(dir) < 0 && errno == EBUSY; i++)
		usleep(10000);
}

int kiln_cgroup_write(const char *dir, const char *file, const char *value, kiln_error_t *err)
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
