/* OCI linux.seccomp (config-linux.md#seccomp) → a libseccomp filter.
 * The spec is read once, at `create`, with oci/'s parser, and
 * agent_seccomp_convert() takes what it read, so a bad profile is refused
 * with the JSON path of the bad field; agent_seccomp_build() turns it
 * into a scmp_filter_ctx in the agent, before the fork, and the child only
 * calls agent_seccomp_load() as its last step before execve. */
#ifndef KILN_AGENT_SECCOMP_H
#define KILN_AGENT_SECCOMP_H

#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/json.h"
#include "oci/config.h"

/* One OCI syscalls[] entry: its names share one action and the argument
 * conditions (all must hold, except that several conditions on the same
 * argument each make a rule of their own, as in runc). */
struct agent_seccomp_rule {
	char **names; /* NULL-terminated */
	size_t nnames;
	uint32_t action; /* SCMP_ACT_*, errno included */
	struct scmp_arg_cmp *args;
	size_t nargs;
};

struct agent_seccomp {
	uint32_t default_action; /* SCMP_ACT_*, errno included */
	uint32_t *arches;	 /* SCMP_ARCH_* */
	size_t narches;
	unsigned flags; /* 1 << enum oci_seccomp_flag_index, for supported flags */
	struct agent_seccomp_rule *rules;
	size_t nrules;
};

/* o (linux.seccomp as oci_seccomp_parse() read it, or NULL) → *out,
 * refusing what the agent cannot apply: SCMP_ACT_NOTIFY and flags that
 * oci's tables mark unsupported, an errno above 65535 or on an action that
 * takes none. node is the JSON o was read from, for the paths in messages:
 * `params.spec.linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is not
 * supported`. *out is NULL when o asks for nothing (no defaultAction and no
 * syscalls, as runc reads it). */
int agent_seccomp_convert(const struct oci_seccomp *o, const kiln_json_t *node,
			  struct agent_seccomp **out, kiln_error_t *err);
/* Frees a parsed profile; accepts NULL. */
void agent_seccomp_free(struct agent_seccomp *s);

/* Builds the filter. Syscall names this libseccomp does not know are
 * skipped (logged at debug), as are rules whose action is the default one.
 * The filter does not set no_new_privs itself: loading it needs either
 * no_new_privs or CAP_SYS_ADMIN in the loading process. */
int agent_seccomp_build(const struct agent_seccomp *cfg, scmp_filter_ctx *out, kiln_error_t *err);

/* seccomp_load() with the error made a kiln error. */
int agent_seccomp_load(scmp_filter_ctx ctx, kiln_error_t *err);

#endif
