#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "agent/sysctl.h"
#include "common/io.h"
#include "common/util.h"
#include "oci/oci.h"

int agent_sysctl_apply(const char *procsys, const struct agent_spec *s, kiln_error_t *err)
{
	for (size_t i = 0; i < s->nsysctls; i++) {
		const struct oci_kv *sc = &s->sysctls[i];
		cleanup_free char *rel = oci_sysctl_path(sc->key);
		cleanup_free char *path = xasprintf("%s/%s", procsys, rel);
		cleanup_close int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		ssize_t r;

		if (fd < 0)
			return kiln_error_make(err, errno, "linux.sysctl.%s: open %s", sc->key,
					       path);
		/* one write: the kernel parses the value as written */
		r = kiln_write_all(fd, sc->value, strlen(sc->value));
		if (r < 0)
			return kiln_error_make(err, (int)r, "linux.sysctl.%s: write \"%s\" to %s",
					       sc->key, sc->value, path);
	}
	return 0;
}
