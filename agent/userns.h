/* The container's user namespace (config-linux.md#namespaces, "user", and
 * #user-namespace-mappings). Inside the guest the agent is root of the
 * initial user namespace; the container's process unshares a new one after
 * the agent has built its mounts and devices as that root (container.c),
 * and the agent writes the mappings from outside, as runc's parent does:
 * only a process with CAP_SETUID/CAP_SETGID in the parent namespace may map
 * more than its own ID. */
#ifndef KILN_AGENT_USERNS_H
#define KILN_AGENT_USERNS_H

#include <sys/types.h>

#include "agent/spec.h"
#include "common/error.h"

/* Writes /proc/<pid>/uid_map and gid_map from the spec's mappings.
 * setgroups stays "allow": the writer is privileged, and additionalGids
 * need setgroups(2) inside. */
int agent_userns_write_maps(pid_t pid, const struct agent_spec *s, kiln_error_t *err);

/* The text of one map file ("0 100000 65536\n" per mapping), allocated. */
char *agent_userns_map_text(const struct oci_id_mapping *maps, size_t n);

#endif
