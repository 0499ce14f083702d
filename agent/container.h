/* Starting processes: a container's init (created in new namespaces, set
 * up, and held before exec until `start`), and processes exec'd into a
 * running container. The work between fork and exec runs in the child;
 * the child reports each outcome to the agent over a close-on-exec pipe:
 * "R" when set up and held, "E<message>" when a step failed, and end of
 * file when exec succeeded. */
#ifndef KILN_AGENT_CONTAINER_H
#define KILN_AGENT_CONTAINER_H

#include "agent/proctab.h"
#include "agent/spec.h"
#include "common/error.h"
#include "proto/proto.h"

/* Agent-wide places the container code works in (tests point them
 * elsewhere). */
struct agent_runtime {
	const char *run_dir;	 /* AGENT_RUN_DIR */
	const char *sysblock;	 /* "/sys/block" */
	const char *cgroup_root; /* AGENT_CGROUP_ROOT, or NULL: no cgroups */
	int self_pidns;		 /* the agent's /proc/self/ns/pid */
};

/* Sets up stdio for p (pipes or a pty, as asked) and forks its init in
 * new namespaces; returns once the child is set up and held, or failed. */
int agent_container_create(const struct agent_runtime *rt, struct agent_ctr *c,
			   struct agent_proc *p, const struct agent_spec *spec,
			   const struct proto_create_params *params, kiln_error_t *err);

/* Releases a held init and reports whether its exec succeeded. */
int agent_container_start(struct agent_proc *p, kiln_error_t *err);

/* Starts proc in the namespaces and cgroup of c's running init. */
int agent_container_exec(const struct agent_runtime *rt, struct agent_ctr *c, struct agent_proc *p,
			 const struct oci_process *proc, const struct proto_stdio *stdio,
			 kiln_error_t *err);

/* The program args[0] names: itself when it holds a '/', else the first
 * executable file of that name on PATH (from env, or the default).
 * Allocated; ENOENT/EACCES as execvp would. */
int agent_find_executable(const char *name, char *const *env, char **out, kiln_error_t *err);

#endif
