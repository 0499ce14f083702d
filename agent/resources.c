#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "agent/resources.h"
#include "common/io.h"
#include "common/util.h"

uint64_t agent_cpu_shares_to_weight(uint64_t shares)
{
	if (shares == 0)
		return 0;
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((shares - 2) * 9999) / 262142;
}

void agent_resources_convert(const struct oci_resources *res, struct agent_resources *r)
{
	*r = (struct agent_resources){0};
	if (res == NULL)
		return;
	/* 0 leaves the limit as it is, as in runc */
	r->has_pids_limit = res->pids_limit.present && res->pids_limit.value != 0;
	r->pids_limit = res->pids_limit.value;
	r->cpu_weight = agent_cpu_shares_to_weight(res->cpu.shares.value);
	r->has_cpu_weight = res->cpu.shares.present && r->cpu_weight != 0;
}

static int write_file(const char *cgroup, const char *name, const char *value, const char *what,
		      kiln_error_t *err)
{
	cleanup_free char *path = xasprintf("%s/%s", cgroup, name);
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t w;

	if (fd < 0)
		return kiln_error_make(err, errno, "%s: open %s", what, path);
	w = kiln_write_all(fd, value, strlen(value));
	if (w < 0)
		return kiln_error_make(err, (int)w, "%s: write \"%s\" to %s", what, value, path);
	return 0;
}

int agent_resources_apply(const char *cgroup, const struct agent_resources *r, kiln_error_t *err)
{
	char buf[32];

	if (r->has_pids_limit) {
		if (r->pids_limit < 0)
			snprintf(buf, sizeof(buf), "max");
		else
			snprintf(buf, sizeof(buf), "%" PRId64, r->pids_limit);
		if (write_file(cgroup, "pids.max", buf, "linux.resources.pids.limit", err) < 0)
			return -1;
	}
	if (r->has_cpu_weight) {
		snprintf(buf, sizeof(buf), "%" PRIu64, r->cpu_weight);
		if (write_file(cgroup, "cpu.weight", buf, "linux.resources.cpu.shares", err) < 0)
			return -1;
	}
	return 0;
}
