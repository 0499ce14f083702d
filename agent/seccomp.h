/* OCI linux.seccomp (config-linux.md#seccomp) → a libseccomp filter.
 * agent_seccomp_parse() reads the JSON once, at `create`, with oci/'s
 * parser, so a bad profile is refused with the JSON path of the bad field;
 * agent_seccomp_build() turns it into a scmp_filter_ctx in the agent, before the fork, and the
 * child only calls agent_seccomp_load() as its last step before execve. */
#ifndef KILN_AGENT_SECCOMP_H
#define KILN_AGENT_SECCOMP_H

#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/json.h"
#include "oci/names.h"

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

/* Reads node (the linux.seccomp object) with oci_seccomp_parse(), then
 * refuses what the agent cannot apply: SCMP_ACT_NOTIFY and flags that oci's
 * tables mark unsupported, an errno above 65535 or on an action that takes
 * none. *out is NULL when the object asks for nothing (no defaultAction and
 * no syscalls, as runc reads it). Errors name the JSON path:
 * `linux.seccomp.syscalls[2].action: unknown action "SCMP_ACT_FOO"`. */
int agent_seccomp_parse(const kiln_json_t *node, struct agent_seccomp **out, kiln_error_t *err);
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
