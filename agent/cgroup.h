/* Each container's processes live in a guest cgroup (cgroup v2) of their
 * own, <root>/kiln/<id>: stats read it, and `signal all` walks it. */
#ifndef KILN_AGENT_CGROUP_H
#define KILN_AGENT_CGROUP_H

#include "common/error.h"
#include "proto/proto.h"

#define AGENT_CGROUP_ROOT "/sys/fs/cgroup"

/* Makes <root>/kiln/<id> with the cpu, memory and pids controllers
 * enabled where the kernel has them; *path is allocated. */
int agent_cgroup_create(const char *root, const char *id, char **path, kiln_error_t *err);
/* Removes an empty cgroup directory; errors are ignored. */
void agent_cgroup_remove(const char *path);

/* cpu.stat, memory.current/max, pids.current/max; a missing file reads
 * as 0 (controller not enabled). */
int agent_cgroup_stats(const char *path, struct proto_stats_result *out, kiln_error_t *err);

/* Sends sig to every process in the cgroup. Returns how many. */
int agent_cgroup_kill(const char *path, int sig, kiln_error_t *err);

#endif
