/* OCI linux.seccomp → libseccomp (config-linux.md#seccomp), after runc's
 * libcontainer/seccomp: the same action, operator and flag names, the same
 * handling of syscall names this libseccomp does not know (skipped) and of
 * several conditions on one argument (a rule each). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "agent/seccomp.h"
#include "common/log.h"
#include "common/util.h"

enum act_kind { ACT_PLAIN, ACT_ERRNO, ACT_TRACE, ACT_REFUSED };

static const struct {
	const char *name;
	enum act_kind kind;
	uint32_t action;
} actions[] = {
    {"SCMP_ACT_KILL", ACT_PLAIN, SCMP_ACT_KILL},
    {"SCMP_ACT_KILL_PROCESS", ACT_PLAIN, SCMP_ACT_KILL_PROCESS},
    {"SCMP_ACT_KILL_THREAD", ACT_PLAIN, SCMP_ACT_KILL_THREAD},
    {"SCMP_ACT_TRAP", ACT_PLAIN, SCMP_ACT_TRAP},
    {"SCMP_ACT_ERRNO", ACT_ERRNO, 0},
    {"SCMP_ACT_TRACE", ACT_TRACE, 0},
    {"SCMP_ACT_ALLOW", ACT_PLAIN, SCMP_ACT_ALLOW},
    {"SCMP_ACT_LOG", ACT_PLAIN, SCMP_ACT_LOG},
    /* Needs a listener (listenerPath) the agent does not provide. */
    {"SCMP_ACT_NOTIFY", ACT_REFUSED, 0},
};

static const struct {
	const char *name;
	enum scmp_compare op;
} ops[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

static const struct {
	const char *name;
	unsigned flag; /* 0: refused */
} flags[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", AGENT_SECCOMP_FLAG_TSYNC},
    {"SECCOMP_FILTER_FLAG_LOG", AGENT_SECCOMP_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", AGENT_SECCOMP_FLAG_SPEC_ALLOW},
    /* Only means something with SCMP_ACT_NOTIFY. */
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 0},
};

/* obj's action_key ("action" or "defaultAction") with its errno_key
 * ("errnoRet" or "defaultErrnoRet") → *out. Absent: 1. */
static int parse_action(const kiln_json_t *obj, const char *action_key, const char *errno_key,
			uint32_t *out, kiln_error_t *err)
{
	const char *name = NULL;
	uint32_t ret = EPERM;
	size_t k;
	int r, has_ret;

	r = kiln_json_get_string(obj, action_key, &name, err);
	if (r != 0)
		return r;
	for (k = 0; k < ARRAY_SIZE(actions); k++)
		if (streq(actions[k].name, name))
			break;
	if (k == ARRAY_SIZE(actions))
		return kiln_json_error(err, kiln_json_get(obj, action_key), "unknown action \"%s\"",
				       name);
	if (actions[k].kind == ACT_REFUSED)
		return kiln_json_error(err, kiln_json_get(obj, action_key), "%s is not supported",
				       name);
	has_ret = kiln_json_get_uint32(obj, errno_key, &ret, err);
	if (has_ret < 0)
		return -1;
	if (has_ret == 0 && ret > 0xffff)
		return kiln_json_error(err, kiln_json_get(obj, errno_key),
				       "%u is out of range (0 to 65535)", ret);
	switch (actions[k].kind) {
	case ACT_ERRNO:
		*out = SCMP_ACT_ERRNO(ret);
		break;
	case ACT_TRACE:
		*out = SCMP_ACT_TRACE(ret);
		break;
	default:
		if (has_ret == 0)
			return kiln_json_error(
			    err, kiln_json_get(obj, errno_key),
			    "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno");
		*out = actions[k].action;
		break;
	}
	return 0;
}

static int parse_arches(const kiln_json_t *sc, struct agent_seccomp *s, kiln_error_t *err)
{
	const kiln_json_t *arr = NULL;

	if (kiln_json_get_array(sc, "architectures", &arr, err) < 0)
		return -1;
	s->arches = xcalloc(kiln_json_array_len(arr) + 1, sizeof(*s->arches));
	for (size_t i = 0; i < kiln_json_array_len(arr); i++) {
		const kiln_json_t *a = kiln_json_array_get(arr, i);
		const char *name = NULL;
		char lower[32];
		uint32_t arch = 0;
		size_t n;

		if (kiln_json_get_string(a, "", &name, err) < 0)
			return -1;
		if (strncmp(name, "SCMP_ARCH_", 10) == 0 && (n = strlen(name + 10)) > 0 &&
		    n < sizeof(lower)) {
			for (size_t j = 0; j <= n; j++)
				lower[j] = (char)tolower((unsigned char)name[10 + j]);
			arch = seccomp_arch_resolve_name(lower);
		}
		if (arch == 0)
			return kiln_json_error(err, a, "unknown architecture \"%s\"", name);
		s->arches[s->narches++] = arch;
	}
	return 0;
}

static int parse_flags(const kiln_json_t *sc, struct agent_seccomp *s, kiln_error_t *err)
{
	const kiln_json_t *arr = NULL;

	if (kiln_json_get_array(sc, "flags", &arr, err) < 0)
		return -1;
	for (size_t i = 0; i < kiln_json_array_len(arr); i++) {
		const kiln_json_t *f = kiln_json_array_get(arr, i);
		const char *name = NULL;
		size_t k;

		if (kiln_json_get_string(f, "", &name, err) < 0)
			return -1;
		for (k = 0; k < ARRAY_SIZE(flags); k++)
			if (streq(flags[k].name, name))
				break;
		if (k == ARRAY_SIZE(flags))
			return kiln_json_error(err, f, "unknown flag \"%s\"", name);
		if (flags[k].flag == 0)
			return kiln_json_error(err, f, "%s is not supported", name);
		s->flags |= flags[k].flag;
	}
	return 0;
}

static int parse_args(const kiln_json_t *call, struct agent_seccomp_rule *rule, kiln_error_t *err)
{
	const kiln_json_t *arr = NULL;

	if (kiln_json_get_array(call, "args", &arr, err) < 0)
		return -1;
	rule->args = xcalloc(kiln_json_array_len(arr) + 1, sizeof(*rule->args));
	for (size_t i = 0; i < kiln_json_array_len(arr); i++) {
		const kiln_json_t *a = kiln_json_array_get(arr, i);
		struct scmp_arg_cmp *c = &rule->args[i];
		const char *op = NULL;
		uint32_t index = 0;
		uint64_t value = 0, value2 = 0;
		size_t k;
		int r;

		if (!kiln_json_is_object(a))
			return kiln_json_error(err, a, "expected object");
		r = kiln_json_get_uint32(a, "index", &index, err);
		if (r < 0)
			return -1;
		if (r > 0)
			return kiln_json_error(err, a, "index: missing");
		if (index > 5)
			return kiln_json_error(err, kiln_json_get(a, "index"),
					       "%u is out of range (0 to 5)", index);
		if (kiln_json_get_uint64(a, "value", &value, err) < 0 ||
		    kiln_json_get_uint64(a, "valueTwo", &value2, err) < 0)
			return -1;
		r = kiln_json_get_string(a, "op", &op, err);
		if (r < 0)
			return -1;
		if (r > 0)
			return kiln_json_error(err, a, "op: missing");
		for (k = 0; k < ARRAY_SIZE(ops); k++)
			if (streq(ops[k].name, op))
				break;
		if (k == ARRAY_SIZE(ops))
			return kiln_json_error(err, kiln_json_get(a, "op"),
					       "unknown operator \"%s\"", op);
		c->arg = index;
		c->op = ops[k].op;
		/* SCMP_CMP_MASKED_EQ: value is the mask, valueTwo the datum. */
		c->datum_a = value;
		c->datum_b = value2;
		rule->nargs++;
	}
	return 0;
}

static int parse_syscalls(const kiln_json_t *sc, struct agent_seccomp *s, kiln_error_t *err)
{
	const kiln_json_t *arr = NULL;

	if (kiln_json_get_array(sc, "syscalls", &arr, err) < 0)
		return -1;
	s->rules = xcalloc(kiln_json_array_len(arr) + 1, sizeof(*s->rules));
	for (size_t i = 0; i < kiln_json_array_len(arr); i++) {
		const kiln_json_t *call = kiln_json_array_get(arr, i), *names = NULL;
		struct agent_seccomp_rule *rule = &s->rules[s->nrules];
		int r;

		if (!kiln_json_is_object(call))
			return kiln_json_error(err, call, "expected object");
		s->nrules++;
		if (kiln_json_get_array(call, "names", &names, err) < 0)
			return -1;
		if (kiln_json_array_len(names) == 0)
			return kiln_json_error(err, call, "names: must name at least one syscall");
		rule->names = xcalloc(kiln_json_array_len(names) + 1, sizeof(char *));
		for (size_t j = 0; j < kiln_json_array_len(names); j++) {
			const kiln_json_t *n = kiln_json_array_get(names, j);
			const char *name = NULL;

			if (kiln_json_get_string(n, "", &name, err) < 0)
				return -1;
			if (name[0] == '\0')
				return kiln_json_error(err, n, "empty syscall name");
			rule->names[rule->nnames++] = xstrdup(name);
		}
		r = parse_action(call, "action", "errnoRet", &rule->action, err);
		if (r < 0)
			return -1;
		if (r > 0)
			return kiln_json_error(err, call, "action: missing");
		if (parse_args(call, rule, err) < 0)
			return -1;
	}
	return 0;
}

int agent_seccomp_parse(const kiln_json_t *node, struct agent_seccomp **out, kiln_error_t *err)
{
	struct agent_seccomp *s;
	int r;

	*out = NULL;
	if (node == NULL || kiln_json_is_null(node))
		return 0;
	if (!kiln_json_is_object(node))
		return kiln_json_error(err, node, "expected object");
	/* runc: no default action and no rules is no filter. */
	if (kiln_json_get(node, "defaultAction") == NULL &&
	    (kiln_json_get(node, "syscalls") == NULL ||
	     (kiln_json_is_array(kiln_json_get(node, "syscalls")) &&
	      kiln_json_array_len(kiln_json_get(node, "syscalls")) == 0)))
		return 0;
	s = xcalloc(1, sizeof(*s));
	r = parse_action(node, "defaultAction", "defaultErrnoRet", &s->default_action, err);
	if (r > 0)
		r = kiln_json_error(err, node, "defaultAction: missing");
	if (r < 0 || parse_arches(node, s, err) < 0 || parse_flags(node, s, err) < 0 ||
	    parse_syscalls(node, s, err) < 0) {
		agent_seccomp_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

void agent_seccomp_free(struct agent_seccomp *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nrules; i++) {
		for (size_t j = 0; j < s->rules[i].nnames; j++)
			free(s->rules[i].names[j]);
		free(s->rules[i].names);
		free(s->rules[i].args);
	}
	free(s->rules);
	free(s->arches);
	free(s);
}

static bool args_repeat_an_index(const struct agent_seccomp_rule *rule)
{
	unsigned seen = 0;

	for (size_t i = 0; i < rule->nargs; i++) {
		if (seen & (1u << rule->args[i].arg))
			return true;
		seen |= 1u << rule->args[i].arg;
	}
	return false;
}

static int add_rule(scmp_filter_ctx ctx, const struct agent_seccomp_rule *rule, const char *name,
		    kiln_error_t *err)
{
	int nr = seccomp_syscall_resolve_name(name), r = 0;

	if (nr == __NR_SCMP_ERROR) {
		log_debug("seccomp: syscall %s is unknown to libseccomp; skipped", name);
		return 0;
	}
	/* libseccomp takes one condition per argument in a rule: several on
	 * the same one become a rule each (either matches), as in runc. */
	if (args_repeat_an_index(rule)) {
		for (size_t i = 0; i < rule->nargs && r == 0; i++)
			r = seccomp_rule_add_array(ctx, rule->action, nr, 1, &rule->args[i]);
	} else {
		r = seccomp_rule_add_array(ctx, rule->action, nr, (unsigned)rule->nargs,
					   rule->args);
	}
	if (r < 0)
		return kiln_error_make(err, -r, "seccomp: rule for %s", name);
	return 0;
}

int agent_seccomp_build(const struct agent_seccomp *cfg, scmp_filter_ctx *out, kiln_error_t *err)
{
	scmp_filter_ctx ctx;
	int r;

	*out = NULL;
	ctx = seccomp_init(cfg->default_action);
	if (ctx == NULL)
		return kiln_error_make(err, 0, "seccomp: cannot make a filter");
	/* no_new_privs is the process's (noNewPrivileges), not the filter's. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (r == 0 && (cfg->flags & AGENT_SECCOMP_FLAG_TSYNC))
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (r == 0 && (cfg->flags & AGENT_SECCOMP_FLAG_LOG))
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	if (r == 0 && (cfg->flags & AGENT_SECCOMP_FLAG_SPEC_ALLOW))
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1);
	if (r < 0) {
		seccomp_release(ctx);
		return kiln_error_make(err, -r, "seccomp: filter flags");
	}
	for (size_t i = 0; i < cfg->narches; i++) {
		r = seccomp_arch_add(ctx, cfg->arches[i]);
		if (r < 0 && r != -EEXIST) {
			seccomp_release(ctx);
			return kiln_error_make(err, -r, "seccomp: architecture %#x",
					       (unsigned)cfg->arches[i]);
		}
	}
	for (size_t i = 0; i < cfg->nrules; i++) {
		const struct agent_seccomp_rule *rule = &cfg->rules[i];

		/* libseccomp refuses a rule that does what the default does. */
		if (rule->action == cfg->default_action)
			continue;
		for (size_t j = 0; j < rule->nnames; j++) {
			if (add_rule(ctx, rule, rule->names[j], err) < 0) {
				seccomp_release(ctx);
				return -1;
			}
		}
	}
	*out = ctx;
	return 0;
}

int agent_seccomp_load(scmp_filter_ctx ctx, kiln_error_t *err)
{
	int r = seccomp_load(ctx);

	if (r < 0)
		return kiln_error_make(err, -r, "seccomp: loading the filter");
	return 0;
}
