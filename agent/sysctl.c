#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "agent/sysctl.h"
#include "common/io.h"
#include "common/util.h"
#include "oci/oci.h"

/* One OCI_NS_BIT per linux.namespaces entry (a network namespace given by
 * path included: the agent leaves that one to the VM). */
static unsigned spec_ns_mask(const kiln_json_t *config)
{
	const kiln_json_t *arr = kiln_json_get(kiln_json_get(config, "linux"), "namespaces");
	unsigned mask = 0;

	for (size_t i = 0; i < kiln_json_array_len(arr); i++) {
		const char *type = NULL;
		int t;

		if (kiln_json_get_string(kiln_json_array_get(arr, i), "type", &type, NULL) != 0)
			continue;
		t = oci_namespace_from_name(type);
		if (t >= 0)
			mask |= OCI_NS_BIT(t);
	}
	return mask;
}

int agent_sysctl_parse(const kiln_json_t *config, struct agent_spec *s, kiln_error_t *err)
{
	const kiln_json_t *obj = NULL;
	unsigned mask = spec_ns_mask(config);

	if (kiln_json_get_object(config, "linux.sysctl", &obj, err) < 0)
		return -1;
	s->sysctls = xcalloc(kiln_json_object_len(obj) + 1, sizeof(*s->sysctls));
	for (size_t i = 0; i < kiln_json_object_len(obj); i++) {
		const kiln_json_t *v = kiln_json_object_value(obj, i);
		const char *key = kiln_json_object_key(obj, i), *value = NULL;

		if (kiln_json_get_string(v, "", &value, err) < 0)
			return -1;
		if (oci_sysctl_check(key, mask, err) < 0) {
			cleanup_free char *path = kiln_json_path(v);

			return kiln_error_wrap(err, "%s", path);
		}
		s->sysctls[s->nsysctls].key = xstrdup(key);
		s->sysctls[s->nsysctls].value = xstrdup(value);
		s->nsysctls++;
	}
	return 0;
}

int agent_sysctl_apply(const char *procsys, const struct agent_spec *s, kiln_error_t *err)
{
	for (size_t i = 0; i < s->nsysctls; i++) {
		const struct agent_sysctl *sc = &s->sysctls[i];
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
