#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "agent/userns.h"
#include "common/util.h"

char *agent_userns_map_text(const struct oci_id_mapping *maps, size_t n)
{
	char *text = xstrdup("");

	for (size_t i = 0; i < n; i++) {
		char *t = xasprintf("%s%u %u %u\n", text, maps[i].container_id, maps[i].host_id,
				    maps[i].size);

		free(text);
		text = t;
	}
	return text;
}

static int write_map(pid_t pid, const char *file, const char *key,
		     const struct oci_id_mapping *maps, size_t n, kiln_error_t *err)
{
	cleanup_free char *path = xasprintf("/proc/%d/%s", (int)pid, file);
	cleanup_free char *text = agent_userns_map_text(maps, n);
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t w;

	if (fd < 0)
		return kiln_error_make(err, errno, "linux.%s: open %s", key, path);
	/* The kernel takes a map in one write(2), whole or not at all. */
	w = write(fd, text, strlen(text));
	if (w < 0)
		return kiln_error_make(err, errno, "linux.%s: writing %s", key, file);
	if ((size_t)w != strlen(text))
		return kiln_error_make(err, EIO, "linux.%s: short write to %s", key, file);
	return 0;
}

int agent_userns_write_maps(pid_t pid, const struct agent_spec *s, kiln_error_t *err)
{
	if (write_map(pid, "uid_map", "uidMappings", s->uid_maps, s->nuid_maps, err) < 0 ||
	    write_map(pid, "gid_map", "gidMappings", s->gid_maps, s->ngid_maps, err) < 0)
		return -1;
	return 0;
}
