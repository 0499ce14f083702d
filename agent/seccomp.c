/* OCI linux.seccomp → libseccomp (config-linux.md#seccomp), after runc's
 * libcontainer/seccomp: the same handling of syscall names this libseccomp
 * does not know (skipped) and of several conditions on one argument (a rule
 * each). oci_seccomp_parse() reads the JSON (as part of the config) and
 * checks the names against oci/names.c's tables, which also hold their
 * libseccomp values; this file refuses what the spec allows but the agent
 * cannot apply and builds the filter. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "agent/seccomp.h"
#include "common/log.h"
#include "common/util.h"
#include "oci/config.h"

/* name, read from obj[action_key], with its errnoRet (obj[errno_key]) →
 * *out. The name is one oci_seccomp_parse() accepted. */
static int convert_action(const kiln_json_t *obj, const char *action_key, const char *errno_key,
			  const char *name, const struct oci_opt_uint32 *ret, uint32_t *out,
			  kiln_error_t *err)
{
	const struct oci_seccomp_action *a = oci_seccomp_action_lookup(name);

	/* oci_seccomp_parse() refused names the spec lacks. */
	if (a == NULL || !a->supported)
		return kiln_json_error(err, kiln_json_get(obj, action_key), "%s is not supported",
				       name);
	if (ret->present && ret->value > 0xffff)
		return kiln_json_error(err, kiln_json_get(obj, errno_key),
				       "%u is out of range (0 to 65535)", ret->value);
	if (a->takes_errno) {
		/* No errnoRet: EPERM, as runc. */
		*out = a->value | (ret->present ? ret->value : EPERM);
		return 0;
	}
	if (ret->present)
		return kiln_json_error(err, kiln_json_get(obj, errno_key),
				       "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno");
	*out = a->value;
	return 0;
}

static int convert_flags(const kiln_json_t *node, const struct oci_seccomp *o,
			 struct agent_seccomp *s, kiln_error_t *err)
{
	const struct oci_seccomp_flag *table, *f;
	size_t n;

	table = oci_seccomp_flags(&n);
	for (size_t i = 0; i < o->flags.n; i++) {
		f = oci_seccomp_flag_lookup(o->flags.v[i]);
		/* oci_seccomp_parse() refused names the spec lacks. */
		if (f == NULL || !f->supported)
			return kiln_json_error(err,
					       kiln_json_array_get(kiln_json_get(node, "flags"), i),
					       "%s is not supported", o->flags.v[i]);
		s->flags |= 1u << (f - table);
	}
	return 0;
}

static void convert_args(const struct oci_seccomp_syscall *call, struct agent_seccomp_rule *rule)
{
	rule->args = xcalloc(call->n_args + 1, sizeof(*rule->args));
	for (size_t i = 0; i < call->n_args; i++) {
		const struct oci_seccomp_arg *a = &call->args[i];
		struct scmp_arg_cmp *c = &rule->args[i];

		/* oci_seccomp_parse() checked the operator's name and the
		 * index (0 to 5). */
		c->arg = a->index;
		c->op = oci_seccomp_operator_lookup(a->op)->value;
		/* SCMP_CMP_MASKED_EQ: value is the mask, valueTwo the datum. */
		c->datum_a = a->value;
		c->datum_b = a->value_two.present ? a->value_two.value : 0;
		rule->nargs++;
	}
}

static int convert_syscalls(const kiln_json_t *node, const struct oci_seccomp *o,
			    struct agent_seccomp *s, kiln_error_t *err)
{
	const kiln_json_t *arr = kiln_json_get(node, "syscalls");

	s->rules = xcalloc(o->n_syscalls + 1, sizeof(*s->rules));
	for (size_t i = 0; i < o->n_syscalls; i++) {
		const struct oci_seccomp_syscall *call = &o->syscalls[i];
		struct agent_seccomp_rule *rule = &s->rules[s->nrules++];

		rule->names = xcalloc(call->names.n + 1, sizeof(char *));
		for (size_t j = 0; j < call->names.n; j++)
			rule->names[rule->nnames++] = xstrdup(call->names.v[j]);
		convert_args(call, rule);
		if (convert_action(kiln_json_array_get(arr, i), "action", "errnoRet", call->action,
				   &call->errno_ret, &rule->action, err) < 0)
			return -1;
	}
	return 0;
}

static int convert(const kiln_json_t *node, const struct oci_seccomp *o, struct agent_seccomp *s,
		   kiln_error_t *err)
{
	if (convert_action(node, "defaultAction", "defaultErrnoRet", o->default_action,
			   &o->default_errno_ret, &s->default_action, err) < 0)
		return -1;
	s->arches = xcalloc(o->architectures.n + 1, sizeof(*s->arches));
	for (size_t i = 0; i < o->architectures.n; i++) {
		/* oci_seccomp_parse() refused names this libseccomp lacks. */
		s->arches[s->narches++] = oci_seccomp_arch_resolve(o->architectures.v[i]);
	}
	if (convert_flags(node, o, s, err) < 0 || convert_syscalls(node, o, s, err) < 0)
		return -1;
	return 0;
}

int agent_seccomp_convert(const struct oci_seccomp *o, const kiln_json_t *node,
			  struct agent_seccomp **out, kiln_error_t *err)
{
	struct agent_seccomp *s;

	*out = NULL;
	/* runc: no default action (and then no rules) is no filter. */
	if (o == NULL || o->default_action == NULL)
		return 0;
	s = xcalloc(1, sizeof(*s));
	if (convert(node, o, s, err) < 0) {
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
	const struct oci_seccomp_flag *flags;
	scmp_filter_ctx ctx;
	size_t nflags;
	int r;

	*out = NULL;
	ctx = seccomp_init(cfg->default_action);
	if (ctx == NULL)
		return kiln_error_make(err, 0, "seccomp: cannot make a filter");
	/* no_new_privs is the process's (noNewPrivileges), not the filter's. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	flags = oci_seccomp_flags(&nflags);
	for (size_t i = 0; i < nflags && r == 0; i++)
		if (cfg->flags & (1u << i))
			r = seccomp_attr_set(ctx, flags[i].attr, 1);
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
