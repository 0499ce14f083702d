/* The part of linux.resources (config-linux.md#control-groups) that the
 * agent applies to the container's cgroup in the guest, as runc applies
 * it to a cgroup v2: pids.limit → pids.max, cpu.shares → cpu.weight. The
 * memory limit and the CPU quota size the VM itself (runtime/create.c);
 * what else the guest leaves out, and why, is in docs/runtime.md. */
#ifndef KILN_AGENT_RESOURCES_H
#define KILN_AGENT_RESOURCES_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "oci/config.h"

struct agent_resources {
	bool has_pids_limit;
	int64_t pids_limit; /* < 0: no limit ("max") */
	bool has_cpu_weight;
	uint64_t cpu_weight; /* 1-10000, from cpu.shares */
};

/* What the guest applies of linux.resources as oci/ read it (NULL, absent:
 * nothing). */
void agent_resources_convert(const struct oci_resources *res, struct agent_resources *r);

/* runc's conversion of cpu.shares (2-262144) to cgroup v2's cpu.weight
 * (1-10000); 0 means unset. */
uint64_t agent_cpu_shares_to_weight(uint64_t shares);

/* Writes r into the cgroup directory cgroup. */
int agent_resources_apply(const char *cgroup, const struct agent_resources *r, kiln_error_t *err);

#endif
