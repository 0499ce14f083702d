/* linux.sysctl inside the container, as runc applies it: after
 * pivot_root, in the container's own namespaces (its ipc and uts ones; the
 * network one is the guest's, which is the VM's own), through the
 * container's /proc, before /proc/sys is made read-only (readonlyPaths)
 * and before the masked paths. Which keys are allowed is oci/sysctl.h's
 * decision (agent_spec_parse() asks it). */
#ifndef KILN_AGENT_SYSCTL_H
#define KILN_AGENT_SYSCTL_H

#include "agent/spec.h"
#include "common/error.h"

/* Writes each of s's sysctls into its file under procsys ("/proc/sys" in
 * the container). */
int agent_sysctl_apply(const char *procsys, const struct agent_spec *s, kiln_error_t *err);

#endif
