/* config.json → struct oci_config (runtime-spec config.md, config-linux.md).
 * Every member is read through common/json's getters, so a type error
 * names its path from the document root; checks that the getters cannot
 * make (names, absolute paths, ranges) say where they failed the same way. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "common/io.h"
#include "common/json.h"
#include "common/util.h"
#include "oci/config.h"

/* ---- helpers ---- */

/* "<path of parent>.<key>: missing" (just "<key>: missing" at the root). */
static int missing(kiln_error_t *err, const kiln_json_t *parent, const char *key)
{
	cleanup_free char *path = kiln_json_path(parent);

	if (path == NULL || path[0] == '\0')
		return kiln_error_make(err, 0, "%s: missing", key);
	return kiln_error_make(err, 0, "%s.%s: missing", path, key);
}

/* An optional string member, copied into *out: 0 found, 1 absent, <0. */
static int get_str(const kiln_json_t *obj, const char *key, char **out, kiln_error_t *err)
{
	const char *s = NULL;
	int r = kiln_json_get_string(obj, key, &s, err);

	if (r == 0)
		*out = xstrdup(s);
	return r;
}

static int req_str(const kiln_json_t *obj, const char *key, char **out, kiln_error_t *err)
{
	int r = get_str(obj, key, out, err);

	return r > 0 ? missing(err, obj, key) : r;
}

static int req_uint32(const kiln_json_t *obj, const char *key, uint32_t *out, kiln_error_t *err)
{
	int r = kiln_json_get_uint32(obj, key, out, err);

	return r > 0 ? missing(err, obj, key) : r;
}

static int req_uint64(const kiln_json_t *obj, const char *key, uint64_t *out, kiln_error_t *err)
{
	int r = kiln_json_get_uint64(obj, key, out, err);

	return r > 0 ? missing(err, obj, key) : r;
}

static int req_bool(const kiln_json_t *obj, const char *key, bool *out, kiln_error_t *err)
{
	int r = kiln_json_get_bool(obj, key, out, err);

	return r > 0 ? missing(err, obj, key) : r;
}

static int get_opt_int64(const kiln_json_t *obj, const char *key, struct oci_opt_int64 *o,
			 kiln_error_t *err)
{
	int r = kiln_json_get_int64(obj, key, &o->value, err);

	o->present = r == 0;
	return r < 0 ? -1 : 0;
}

static int get_opt_uint64(const kiln_json_t *obj, const char *key, struct oci_opt_uint64 *o,
			  kiln_error_t *err)
{
	int r = kiln_json_get_uint64(obj, key, &o->value, err);

	o->present = r == 0;
	return r < 0 ? -1 : 0;
}

static int get_opt_uint32(const kiln_json_t *obj, const char *key, struct oci_opt_uint32 *o,
			  kiln_error_t *err)
{
	int r = kiln_json_get_uint32(obj, key, &o->value, err);

	o->present = r == 0;
	return r < 0 ? -1 : 0;
}

static int get_opt_bool(const kiln_json_t *obj, const char *key, struct oci_opt_bool *o,
			kiln_error_t *err)
{
	int r = kiln_json_get_bool(obj, key, &o->value, err);

	o->present = r == 0;
	return r < 0 ? -1 : 0;
}

/* Array elements are never absent: a null one is the wrong type. */
static int elem_string(const kiln_json_t *e, const char **out, kiln_error_t *err)
{
	int r = kiln_json_get_string(e, "", out, err);

	return r > 0 ? kiln_json_error(err, e, "expected string") : r;
}

static int elem_uint32(const kiln_json_t *e, uint32_t *out, kiln_error_t *err)
{
	int r = kiln_json_get_uint32(e, "", out, err);

	return r > 0 ? kiln_json_error(err, e, "expected unsigned integer") : r;
}

static void strv_release(struct oci_strv *s)
{
	for (size_t i = 0; s->v != NULL && i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* An optional array of strings; empty when absent. */
static int get_strv(const kiln_json_t *obj, const char *key, struct oci_strv *out,
		    kiln_error_t *err)
{
	const kiln_json_t *arr = NULL;
	size_t n;

	if (kiln_json_get_array(obj, key, &arr, err) < 0)
		return -1;
	n = kiln_json_array_len(arr);
	out->v = xcalloc(n + 1, sizeof(char *));
	out->n = 0;
	for (size_t i = 0; i < n; i++) {
		const char *s = NULL;

		if (elem_string(kiln_json_array_get(arr, i), &s, err) < 0)
			return -1;
		out->v[out->n++] = xstrdup(s);
	}
	return 0;
}

/* An optional array whose elements must all be objects; *n is 0 when it is
 * absent. */
static int get_obj_array(const kiln_json_t *obj, const char *key, const kiln_json_t **arr,
			 size_t *n, kiln_error_t *err)
{
	*arr = NULL;
	*n = 0;
	if (kiln_json_get_array(obj, key, arr, err) < 0)
		return -1;
	for (size_t i = 0; i < kiln_json_array_len(*arr); i++) {
		const kiln_json_t *e = kiln_json_array_get(*arr, i);

		if (!kiln_json_is_object(e))
			return kiln_json_error(err, e, "expected object");
	}
	*n = kiln_json_array_len(*arr);
	return 0;
}

const char *oci_map_get(const struct oci_map *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (streq(m->items[i].key, key))
			return m->items[i].value;
	return NULL;
}

static void map_release(struct oci_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->items[i].key);
		free(m->items[i].value);
	}
	free(m->items);
	m->items = NULL;
	m->n = 0;
}

/* An optional object of strings. *node receives the object (or NULL). */
static int get_map(const kiln_json_t *obj, const char *key, struct oci_map *m,
		   const kiln_json_t **node, kiln_error_t *err)
{
	const kiln_json_t *o = NULL;
	size_t n;

	if (kiln_json_get_object(obj, key, &o, err) < 0)
		return -1;
	if (node != NULL)
		*node = o;
	n = kiln_json_object_len(o);
	m->items = xcalloc(n + 1, sizeof(*m->items));
	m->n = 0;
	for (size_t i = 0; i < n; i++) {
		const char *k = kiln_json_object_key(o, i), *v = NULL;
		struct oci_kv *kv = NULL;

		if (elem_string(kiln_json_object_value(o, i), &v, err) < 0)
			return -1;
		for (size_t j = 0; j < m->n; j++)
			if (streq(m->items[j].key, k))
				kv = &m->items[j];
		if (kv == NULL) {
			kv = &m->items[m->n++];
			kv->key = xstrdup(k);
		}
		free(kv->value);
		kv->value = xstrdup(v);
	}
	return 0;
}

static int check_absolute(const kiln_json_t *obj, const char *key, const char *value,
			  kiln_error_t *err)
{
	if (value[0] != '/')
		return kiln_json_error(err, kiln_json_get(obj, key), "must be an absolute path");
	return 0;
}

bool oci_version_supported(const char *v)
{
	const char *p;

	/* 1.0 to 1.3: what a newer minor adds is ignored when kiln does not
	 * know it, as runc does; a 2.x may change what 1.x fields mean. */
	if (strncmp(v, "1.", 2) != 0 || v[2] < '0' || v[2] > '3' || v[3] != '.')
		return false;
	p = v + 4;
	if (!isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p))
		p++;
	return *p == '\0' || *p == '-' || *p == '+';
}

/* ---- process ---- */

static int parse_capset(const kiln_json_t *caps, const char *key, uint64_t *mask, kiln_error_t *err)
{
	const kiln_json_t *arr = NULL;

	*mask = 0;
	if (kiln_json_get_array(caps, key, &arr, err) < 0)
		return -1;
	for (size_t i = 0; i < kiln_json_array_len(arr); i++) {
		const kiln_json_t *e = kiln_json_array_get(arr, i);
		const char *name = NULL;
		int v;

		if (elem_string(e, &name, err) < 0)
			return -1;
		v = oci_capability_from_name(name);
		if (v < 0)
			return kiln_json_error(err, e, "unknown capability \"%s\"", name);
		*mask |= UINT64_C(1) << v;
	}
	return 0;
}

static int parse_capabilities(const kiln_json_t *proc, struct oci_capabilities *c,
			      kiln_error_t *err)
{
	const kiln_json_t *caps = NULL;
	int r = kiln_json_get_object(proc, "capabilities", &caps, err);

	if (r != 0)
		return r < 0 ? -1 : 0;
	c->present = true;
	if (parse_capset(caps, "bounding", &c->bounding, err) < 0 ||
	    parse_capset(caps, "effective", &c->effective, err) < 0 ||
	    parse_capset(caps, "inheritable", &c->inheritable, err) < 0 ||
	    parse_capset(caps, "permitted", &c->permitted, err) < 0 ||
	    parse_capset(caps, "ambient", &c->ambient, err) < 0)
		return -1;
	return 0;
}

static int parse_rlimits(const kiln_json_t *proc, struct oci_process *p, kiln_error_t *err)
{
	const kiln_json_t *arr;
	size_t n;

	if (get_obj_array(proc, "rlimits", &arr, &n, err) < 0)
		return -1;
	p->rlimits = xcalloc(n + 1, sizeof(*p->rlimits));
	p->n_rlimits = n;
	for (size_t i = 0; i < n; i++) {
		const kiln_json_t *rj = kiln_json_array_get(arr, i);
		struct oci_rlimit *rl = &p->rlimits[i];

		if (req_str(rj, "type", &rl->type, err) < 0)
			return -1;
		rl->resource = oci_rlimit_from_name(rl->type);
		if (rl->resource < 0)
			return kiln_json_error(err, kiln_json_get(rj, "type"),
					       "unknown rlimit \"%s\"", rl->type);
		for (size_t j = 0; j < i; j++)
			if (p->rlimits[j].resource == rl->resource)
				return kiln_json_error(err, kiln_json_get(rj, "type"),
						       "duplicate rlimit \"%s\"", rl->type);
		if (req_uint64(rj, "hard", &rl->hard, err) < 0)
			return -1;
		if (req_uint64(rj, "soft", &rl->soft, err) < 0)
			return -1;
	}
	return 0;
}

static int parse_user(const kiln_json_t *proc, struct oci_user *u, kiln_error_t *err)
{
	const kiln_json_t *user = NULL, *gids = NULL;

	if (kiln_json_get_object(proc, "user", &user, err) < 0 ||
	    kiln_json_get_uint32(user, "uid", &u->uid, err) < 0 ||
	    kiln_json_get_uint32(user, "gid", &u->gid, err) < 0 ||
	    get_opt_uint32(user, "umask", &u->umask, err) < 0 ||
	    get_str(user, "username", &u->username, err) < 0 ||
	    kiln_json_get_array(user, "additionalGids", &gids, err) < 0)
		return -1;
	if (u->umask.present && u->umask.value > 07777)
		return kiln_json_error(err, kiln_json_get(user, "umask"), "%u is not a mode",
				       u->umask.value);
	u->n_additional_gids = kiln_json_array_len(gids);
	u->additional_gids = xcalloc(u->n_additional_gids + 1, sizeof(uint32_t));
	for (size_t i = 0; i < u->n_additional_gids; i++)
		if (elem_uint32(kiln_json_array_get(gids, i), &u->additional_gids[i], err) < 0)
			return -1;
	return 0;
}

static int parse_console_size(const kiln_json_t *proc, struct oci_console_size *cs,
			      kiln_error_t *err)
{
	const kiln_json_t *o = NULL;
	int r = kiln_json_get_object(proc, "consoleSize", &o, err);

	if (r != 0)
		return r < 0 ? -1 : 0;
	cs->present = true;
	if (req_uint32(o, "height", &cs->height, err) < 0)
		return -1;
	if (req_uint32(o, "width", &cs->width, err) < 0)
		return -1;
	return 0;
}

/* proc is an object; out is zeroed. */
static int parse_process_node(const kiln_json_t *proc, struct oci_process *p, kiln_error_t *err)
{
	if (kiln_json_get_bool(proc, "terminal", &p->terminal, err) < 0 ||
	    parse_console_size(proc, &p->console_size, err) < 0 ||
	    parse_user(proc, &p->user, err) < 0 || get_strv(proc, "args", &p->args, err) < 0 ||
	    get_str(proc, "commandLine", &p->command_line, err) < 0 ||
	    get_strv(proc, "env", &p->env, err) < 0 || get_str(proc, "cwd", &p->cwd, err) < 0 ||
	    parse_capabilities(proc, &p->capabilities, err) < 0 ||
	    parse_rlimits(proc, p, err) < 0 ||
	    kiln_json_get_bool(proc, "noNewPrivileges", &p->no_new_privileges, err) < 0 ||
	    get_str(proc, "apparmorProfile", &p->apparmor_profile, err) < 0 ||
	    get_opt_int64(proc, "oomScoreAdj", &p->oom_score_adj, err) < 0 ||
	    get_str(proc, "selinuxLabel", &p->selinux_label, err) < 0)
		return -1;
	if (p->oom_score_adj.present &&
	    (p->oom_score_adj.value < -1000 || p->oom_score_adj.value > 1000))
		return kiln_json_error(err, kiln_json_get(proc, "oomScoreAdj"),
				       "%lld is out of range (-1000 to 1000)",
				       (long long)p->oom_score_adj.value);
	return 0;
}

static void process_release(struct oci_process *p)
{
	free(p->user.additional_gids);
	free(p->user.username);
	strv_release(&p->args);
	free(p->command_line);
	strv_release(&p->env);
	free(p->cwd);
	for (size_t i = 0; i < p->n_rlimits; i++)
		free(p->rlimits[i].type);
	free(p->rlimits);
	free(p->apparmor_profile);
	free(p->selinux_label);
}

void oci_process_free(struct oci_process *p)
{
	if (p == NULL)
		return;
	process_release(p);
	free(p);
}

/* prefix is "process." for a config, "" for a process document. */
static int check_runnable(const struct oci_process *p, const char *prefix, kiln_error_t *err)
{
	if (p->args.n == 0)
		return kiln_error_make(err, 0, "%sargs: must not be empty", prefix);
	if (p->args.v[0][0] == '\0')
		return kiln_error_make(err, 0, "%sargs[0]: must not be empty", prefix);
	if (p->cwd == NULL || p->cwd[0] != '/')
		return kiln_error_make(err, 0, "%scwd: must be an absolute path", prefix);
	return 0;
}

int oci_process_check_runnable(const struct oci_process *p, kiln_error_t *err)
{
	return check_runnable(p, "", err);
}

int oci_config_check_runnable(const struct oci_config *c, kiln_error_t *err)
{
	if (c->process == NULL)
		return kiln_error_make(err, 0, "process: missing");
	return check_runnable(c->process, "process.", err);
}

int oci_process_parse_node(const kiln_json_t *node, struct oci_process **out, kiln_error_t *err)
{
	struct oci_process *p;

	*out = NULL;
	if (!kiln_json_is_object(node))
		return kiln_json_error(err, node, "expected a JSON object, not %s",
				       kiln_json_type_name(kiln_json_type(node)));
	p = xzalloc(sizeof(*p));
	if (parse_process_node(node, p, err) < 0) {
		oci_process_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

int oci_process_parse(const char *text, size_t len, struct oci_process **out, kiln_error_t *err)
{
	cleanup_json kiln_json_t *doc = NULL;

	*out = NULL;
	if (kiln_json_parse(text, len, &doc, err) < 0)
		return -1;
	return oci_process_parse_node(doc, out, err);
}

/* ---- hooks, mounts, root ---- */

static int parse_hooks(const kiln_json_t *doc, struct oci_config *c, kiln_error_t *err)
{
	const kiln_json_t *hooks = NULL;

	if (kiln_json_get_object(doc, "hooks", &hooks, err) < 0)
		return -1;
	for (int k = 0; k < OCI_HOOK_COUNT; k++) {
		struct oci_hook_list *l = &c->hooks[k];
		const kiln_json_t *arr;
		size_t n;

		if (get_obj_array(hooks, oci_hook_name(k), &arr, &n, err) < 0)
			return -1;
		l->items = xcalloc(n + 1, sizeof(*l->items));
		l->n = n;
		for (size_t i = 0; i < n; i++) {
			const kiln_json_t *hj = kiln_json_array_get(arr, i);
			struct oci_hook *h = &l->items[i];

			if (req_str(hj, "path", &h->path, err) < 0 ||
			    check_absolute(hj, "path", h->path, err) < 0 ||
			    get_strv(hj, "args", &h->args, err) < 0 ||
			    get_strv(hj, "env", &h->env, err) < 0 ||
			    get_opt_int64(hj, "timeout", &h->timeout, err) < 0)
				return -1;
			if (h->timeout.present && h->timeout.value <= 0)
				return kiln_json_error(err, kiln_json_get(hj, "timeout"),
						       "must be greater than zero");
		}
	}
	return 0;
}

static int parse_mounts(const kiln_json_t *doc, struct oci_config *c, kiln_error_t *err)
{
	const kiln_json_t *arr;
	size_t n;

	if (get_obj_array(doc, "mounts", &arr, &n, err) < 0)
		return -1;
	c->mounts = xcalloc(n + 1, sizeof(*c->mounts));
	c->n_mounts = n;
	for (size_t i = 0; i < n; i++) {
		const kiln_json_t *mj = kiln_json_array_get(arr, i);
		struct oci_mount *m = &c->mounts[i];

		if (req_str(mj, "destination", &m->destination, err) < 0 ||
		    check_absolute(mj, "destination", m->destination, err) < 0 ||
		    get_str(mj, "type", &m->type, err) < 0 ||
		    get_str(mj, "source", &m->source, err) < 0 ||
		    get_strv(mj, "options", &m->options, err) < 0)
			return -1;
	}
	return 0;
}

static int parse_root(const kiln_json_t *doc, struct oci_config *c, kiln_error_t *err)
{
	const kiln_json_t *root = NULL;

	if (kiln_json_get_object(doc, "root", &root, err) < 0)
		return -1;
	if (root == NULL)
		return missing(err, doc, "root.path");
	if (req_str(root, "path", &c->root.path, err) < 0 ||
	    kiln_json_get_bool(root, "readonly", &c->root.readonly, err) < 0)
		return -1;
	if (c->root.path[0] == '\0')
		return kiln_json_error(err, kiln_json_get(root, "path"), "must not be empty");
	return 0;
}

/* ---- linux ---- */

static int parse_namespaces(const kiln_json_t *lj, struct oci_linux *l, kiln_error_t *err)
{
	const kiln_json_t *arr;
	size_t n;

	if (get_obj_array(lj, "namespaces", &arr, &n, err) < 0)
		return -1;
	l->namespaces = xcalloc(n + 1, sizeof(*l->namespaces));
	for (size_t i = 0; i < n; i++) {
		const kiln_json_t *nj = kiln_json_array_get(arr, i);
		struct oci_namespace *ns = &l->namespaces[i];
		cleanup_free char *type = NULL;
		int t;

		l->n_namespaces++;
		if (req_str(nj, "type", &type, err) < 0 || get_str(nj, "path", &ns->path, err) < 0)
			return -1;
		t = oci_namespace_from_name(type);
		if (t < 0)
			return kiln_json_error(err, kiln_json_get(nj, "type"),
					       "unknown namespace type \"%s\"", type);
		for (size_t j = 0; j < i; j++)
			if (l->namespaces[j].type == (enum oci_namespace_type)t)
				return kiln_json_error(err, kiln_json_get(nj, "type"),
						       "duplicate namespace type \"%s\"", type);
		ns->type = t;
		/* "" is how some callers say "create one" (runc reads it so). */
		if (ns->path != NULL && ns->path[0] == '\0') {
			free(ns->path);
			ns->path = NULL;
		}
		if (ns->path != NULL && check_absolute(nj, "path", ns->path, err) < 0)
			return -1;
	}
	return 0;
}

static int parse_id_mappings(const kiln_json_t *lj, const char *key, struct oci_id_mapping **out,
			     size_t *nout, kiln_error_t *err)
{
	static const char *const fields[] = {"containerID", "hostID", "size"};
	const kiln_json_t *arr;
	size_t n;

	if (get_obj_array(lj, key, &arr, &n, err) < 0)
		return -1;
	*out = xcalloc(n + 1, sizeof(**out));
	*nout = n;
	for (size_t i = 0; i < n; i++) {
		const kiln_json_t *mj = kiln_json_array_get(arr, i);
		uint32_t *dst[] = {&(*out)[i].container_id, &(*out)[i].host_id, &(*out)[i].size};

		for (size_t f = 0; f < ARRAY_SIZE(fields); f++)
			if (req_uint32(mj, fields[f], dst[f], err) < 0)
				return -1;
		/* The kernel refuses an empty range in uid_map/gid_map. */
		if ((*out)[i].size == 0)
			return kiln_json_error(err, kiln_json_get(mj, "size"), "must not be 0");
	}
	return 0;
}

static int parse_memory(const kiln_json_t *rj, struct oci_memory *m, kiln_error_t *err)
{
	const kiln_json_t *o = NULL;

	if (kiln_json_get_object(rj, "memory", &o, err) < 0 ||
	    get_opt_int64(o, "limit", &m->limit, err) < 0 ||
	    get_opt_int64(o, "reservation", &m->reservation, err) < 0 ||
	    get_opt_int64(o, "swap", &m->swap, err) < 0 ||
	    get_opt_int64(o, "kernel", &m->kernel, err) < 0 ||
	    get_opt_int64(o, "kernelTCP", &m->kernel_tcp, err) < 0 ||
	    get_opt_uint64(o, "swappiness", &m->swappiness, err) < 0 ||
	    get_opt_bool(o, "disableOOMKiller", &m->disable_oom_killer, err) < 0 ||
	    get_opt_bool(o, "useHierarchy", &m->use_hierarchy, err) < 0 ||
	    get_opt_bool(o, "checkBeforeUpdate", &m->check_before_update, err) < 0)
		return -1;
	return 0;
}

static int parse_cpu(const kiln_json_t *rj, struct oci_cpu *c, kiln_error_t *err)
{
	const kiln_json_t *o = NULL;

	if (kiln_json_get_object(rj, "cpu", &o, err) < 0 ||
	    get_opt_uint64(o, "shares", &c->shares, err) < 0 ||
	    get_opt_int64(o, "quota", &c->quota, err) < 0 ||
	    get_opt_uint64(o, "burst", &c->burst, err) < 0 ||
	    get_opt_uint64(o, "period", &c->period, err) < 0 ||
	    get_opt_int64(o, "realtimeRuntime", &c->realtime_runtime, err) < 0 ||
	    get_opt_uint64(o, "realtimePeriod", &c->realtime_period, err) < 0 ||
	    get_str(o, "cpus", &c->cpus, err) < 0 || get_str(o, "mems", &c->mems, err) < 0 ||
	    get_opt_int64(o, "idle", &c->idle, err) < 0)
		return -1;
	return 0;
}

static int parse_device_rules(const kiln_json_t *rj, struct oci_resources *r, kiln_error_t *err)
{
	const kiln_json_t *arr;
	size_t n;

	if (get_obj_array(rj, "devices", &arr, &n, err) < 0)
		return -1;
	r->devices = xcalloc(n + 1, sizeof(*r->devices));
	r->n_devices = n;
	for (size_t i = 0; i < n; i++) {
		const kiln_json_t *dj = kiln_json_array_get(arr, i);
		struct oci_device_rule *d = &r->devices[i];

		if (req_bool(dj, "allow", &d->allow, err) < 0)
			return -1;
		if (get_str(dj, "type", &d->type, err) < 0 ||
		    get_opt_int64(dj, "major", &d->major, err) < 0 ||
		    get_opt_int64(dj, "minor", &d->minor, err) < 0 ||
		    get_str(dj, "access", &d->access, err) < 0)
			return -1;
		if (d->type != NULL && !streq(d->type, "a") && !streq(d->type, "b") &&
		    !streq(d->type, "c"))
			return kiln_json_error(err, kiln_json_get(dj, "type"),
					       "unknown device type \"%s\" (want a, b or c)",
					       d->type);
		if (d->access != NULL && d->access[strspn(d->access, "rwm")] != '\0')
			return kiln_json_error(err, kiln_json_get(dj, "access"),
					       "\"%s\" is not a combination of r, w and m",
					       d->access);
	}
	return 0;
}

static int parse_hugepages(const kiln_json_t *rj, struct oci_resources *r, kiln_error_t *err)
{
	const kiln_json_t *arr;
	size_t n;

	if (get_obj_array(rj, "hugepageLimits", &arr, &n, err) < 0)
		return -1;
	r->hugepage_limits = xcalloc(n + 1, sizeof(*r->hugepage_limits));
	r->n_hugepage_limits = n;
	for (size_t i = 0; i < n; i++) {
		const kiln_json_t *hj = kiln_json_array_get(arr, i);
		struct oci_hugepage_limit *h = &r->hugepage_limits[i];

		if (req_str(hj, "pageSize", &h->page_size, err) < 0)
			return -1;
		if (req_uint64(hj, "limit", &h->limit, err) < 0)
			return -1;
	}
	return 0;
}

static int parse_blkio_weight(const kiln_json_t *bj, const char *key, struct oci_opt_uint32 *w,
			      kiln_error_t *err)
{
	if (get_opt_uint32(bj, key, w, err) < 0)
		return -1;
	/* uint16 in the spec. */
	if (w->present && w->value > UINT16_MAX)
		return kiln_json_error(err, kiln_json_get(bj, key), "%u is out of range (0 to %u)",
				       w->value, UINT16_MAX);
	return 0;
}

static int parse_resources(const kiln_json_t *lj, struct oci_linux *l, kiln_error_t *err)
{
	const kiln_json_t *rj = NULL, *pids = NULL, *blkio = NULL;
	struct oci_resources *r;

	if (kiln_json_get_object(lj, "resources", &rj, err) < 0)
		return -1;
	if (rj == NULL)
		return 0;
	r = l->resources = xzalloc(sizeof(*r));
	if (parse_memory(rj, &r->memory, err) < 0 || parse_cpu(rj, &r->cpu, err) < 0 ||
	    kiln_json_get_object(rj, "pids", &pids, err) < 0)
		return -1;
	if (pids != NULL) {
		if (get_opt_int64(pids, "limit", &r->pids_limit, err) < 0)
			return -1;
		if (!r->pids_limit.present)
			return missing(err, pids, "limit");
	}
	if (parse_device_rules(rj, r, err) < 0 ||
	    kiln_json_get_object(rj, "blockIO", &blkio, err) < 0 ||
	    parse_blkio_weight(blkio, "weight", &r->blkio_weight, err) < 0 ||
	    parse_blkio_weight(blkio, "leafWeight", &r->blkio_leaf_weight, err) < 0 ||
	    parse_hugepages(rj, r, err) < 0 || get_map(rj, "unified", &r->unified, NULL, err) < 0)
		return -1;
	return 0;
}

static void resources_free(struct oci_resources *r)
{
	if (r == NULL)
		return;
	free(r->cpu.cpus);
	free(r->cpu.mems);
	for (size_t i = 0; i < r->n_devices; i++) {
		free(r->devices[i].type);
		free(r->devices[i].access);
	}
	free(r->devices);
	for (size_t i = 0; i < r->n_hugepage_limits; i++)
		free(r->hugepage_limits[i].page_size);
	free(r->hugepage_limits);
	map_release(&r->unified);
	free(r);
}

/* What obj[key] (value) names is unknown: "<path>: unknown <what> \"<value>\"". */
static int unknown_name(const kiln_json_t *obj, const char *key, const char *value,
			const char *what, kiln_error_t *err)
{
	return kiln_json_error(err, kiln_json_get(obj, key), "unknown %s \"%s\"", what, value);
}

static int parse_seccomp_args(const kiln_json_t *call, struct oci_seccomp_syscall *sc,
			      kiln_error_t *err)
{
	const kiln_json_t *arr;
	size_t n;

	if (get_obj_array(call, "args", &arr, &n, err) < 0)
		return -1;
	sc->args = xcalloc(n + 1, sizeof(*sc->args));
	sc->n_args = n;
	for (size_t i = 0; i < n; i++) {
		const kiln_json_t *aj = kiln_json_array_get(arr, i);
		struct oci_seccomp_arg *a = &sc->args[i];

		if (req_uint32(aj, "index", &a->index, err) < 0)
			return -1;
		if (a->index > 5)
			return kiln_json_error(err, kiln_json_get(aj, "index"),
					       "%u is out of range (0 to 5)", a->index);
		if (req_uint64(aj, "value", &a->value, err) < 0)
			return -1;
		if (get_opt_uint64(aj, "valueTwo", &a->value_two, err) < 0 ||
		    req_str(aj, "op", &a->op, err) < 0)
			return -1;
		if (oci_seccomp_operator_lookup(a->op) == NULL)
			return unknown_name(aj, "op", a->op, "operator", err);
	}
	return 0;
}

static int parse_seccomp_syscalls(const kiln_json_t *sj, struct oci_seccomp *s, kiln_error_t *err)
{
	const kiln_json_t *arr;
	size_t n;

	if (get_obj_array(sj, "syscalls", &arr, &n, err) < 0)
		return -1;
	s->syscalls = xcalloc(n + 1, sizeof(*s->syscalls));
	s->n_syscalls = n;
	for (size_t i = 0; i < n; i++) {
		const kiln_json_t *cj = kiln_json_array_get(arr, i);
		struct oci_seccomp_syscall *sc = &s->syscalls[i];

		if (get_strv(cj, "names", &sc->names, err) < 0)
			return -1;
		if (kiln_json_get(cj, "names") == NULL ||
		    kiln_json_is_null(kiln_json_get(cj, "names")))
			return missing(err, cj, "names");
		if (sc->names.n == 0)
			return kiln_json_error(err, kiln_json_get(cj, "names"),
					       "must name at least one syscall");
		for (size_t j = 0; j < sc->names.n; j++)
			if (sc->names.v[j][0] == '\0')
				return kiln_json_error(
				    err, kiln_json_array_get(kiln_json_get(cj, "names"), j),
				    "empty syscall name");
		if (req_str(cj, "action", &sc->action, err) < 0)
			return -1;
		if (oci_seccomp_action_lookup(sc->action) == NULL)
			return unknown_name(cj, "action", sc->action, "action", err);
		if (get_opt_uint32(cj, "errnoRet", &sc->errno_ret, err) < 0 ||
		    parse_seccomp_args(cj, sc, err) < 0)
			return -1;
	}
	return 0;
}

static int parse_seccomp(const kiln_json_t *sj, struct oci_seccomp *s, kiln_error_t *err)
{
	if (get_str(sj, "defaultAction", &s->default_action, err) < 0)
		return -1;
	if (s->default_action != NULL && oci_seccomp_action_lookup(s->default_action) == NULL)
		return unknown_name(sj, "defaultAction", s->default_action, "action", err);
	if (get_opt_uint32(sj, "defaultErrnoRet", &s->default_errno_ret, err) < 0 ||
	    get_strv(sj, "architectures", &s->architectures, err) < 0 ||
	    get_strv(sj, "flags", &s->flags, err) < 0 ||
	    get_str(sj, "listenerPath", &s->listener_path, err) < 0 ||
	    get_str(sj, "listenerMetadata", &s->listener_metadata, err) < 0)
		return -1;
	for (size_t i = 0; i < s->architectures.n; i++)
		if (oci_seccomp_arch_resolve(s->architectures.v[i]) == 0)
			return kiln_json_error(
			    err, kiln_json_array_get(kiln_json_get(sj, "architectures"), i),
			    "unknown architecture \"%s\"", s->architectures.v[i]);
	for (size_t i = 0; i < s->flags.n; i++)
		if (oci_seccomp_flag_lookup(s->flags.v[i]) == NULL)
			return kiln_json_error(err,
					       kiln_json_array_get(kiln_json_get(sj, "flags"), i),
					       "unknown flag \"%s\"", s->flags.v[i]);
	if (parse_seccomp_syscalls(sj, s, err) < 0)
		return -1;
	/* runc: no default action and no rules is no filter. */
	if (s->default_action == NULL && s->n_syscalls > 0)
		return missing(err, sj, "defaultAction");
	return 0;
}

int oci_seccomp_parse(const kiln_json_t *node, struct oci_seccomp **out, kiln_error_t *err)
{
	struct oci_seccomp *s;

	*out = NULL;
	if (node == NULL || kiln_json_is_null(node))
		return 0;
	if (!kiln_json_is_object(node))
		return kiln_json_error(err, node, "expected object");
	s = xzalloc(sizeof(*s));
	if (parse_seccomp(node, s, err) < 0) {
		oci_seccomp_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

void oci_seccomp_free(struct oci_seccomp *s)
{
	if (s == NULL)
		return;
	free(s->default_action);
	strv_release(&s->architectures);
	strv_release(&s->flags);
	free(s->listener_path);
	free(s->listener_metadata);
	for (size_t i = 0; i < s->n_syscalls; i++) {
		struct oci_seccomp_syscall *sc = &s->syscalls[i];

		strv_release(&sc->names);
		free(sc->action);
		for (size_t j = 0; j < sc->n_args; j++)
			free(sc->args[j].op);
		free(sc->args);
	}
	free(s->syscalls);
	free(s);
}

static int parse_devices(const kiln_json_t *lj, struct oci_linux *l, kiln_error_t *err)
{
	const kiln_json_t *arr;
	size_t n;

	if (get_obj_array(lj, "devices", &arr, &n, err) < 0)
		return -1;
	l->devices = xcalloc(n + 1, sizeof(*l->devices));
	l->n_devices = n;
	for (size_t i = 0; i < n; i++) {
		const kiln_json_t *dj = kiln_json_array_get(arr, i);
		struct oci_device *d = &l->devices[i];

		if (req_str(dj, "path", &d->path, err) < 0 ||
		    check_absolute(dj, "path", d->path, err) < 0 ||
		    req_str(dj, "type", &d->type, err) < 0 ||
		    get_opt_int64(dj, "major", &d->major, err) < 0 ||
		    get_opt_int64(dj, "minor", &d->minor, err) < 0 ||
		    get_opt_uint32(dj, "fileMode", &d->file_mode, err) < 0 ||
		    get_opt_uint32(dj, "uid", &d->uid, err) < 0 ||
		    get_opt_uint32(dj, "gid", &d->gid, err) < 0)
			return -1;
		if (!streq(d->type, "c") && !streq(d->type, "b") && !streq(d->type, "u") &&
		    !streq(d->type, "p"))
			return kiln_json_error(err, kiln_json_get(dj, "type"),
					       "unknown device type \"%s\" (want c, b, u or p)",
					       d->type);
		if (!streq(d->type, "p") && !d->major.present)
			return missing(err, dj, "major");
		if (!streq(d->type, "p") && !d->minor.present)
			return missing(err, dj, "minor");
		/* What a Linux dev_t holds: 12 bits of major, 20 of minor. */
		if ((d->major.present && (d->major.value < 0 || d->major.value > 0xfff)) ||
		    (d->minor.present && (d->minor.value < 0 || d->minor.value > 0xfffff)))
			return kiln_json_error(err, dj, "device number %lld:%lld is out of range",
					       (long long)d->major.value,
					       (long long)d->minor.value);
	}
	return 0;
}

static int parse_linux(const kiln_json_t *doc, struct oci_config *c, kiln_error_t *err)
{
	const kiln_json_t *lj = NULL;
	struct oci_linux *l;

	if (kiln_json_get_object(doc, "linux", &lj, err) < 0)
		return -1;
	if (lj == NULL)
		return 0;
	l = c->linux_spec = xzalloc(sizeof(*l));
	if (parse_namespaces(lj, l, err) < 0 ||
	    parse_id_mappings(lj, "uidMappings", &l->uid_mappings, &l->n_uid_mappings, err) < 0 ||
	    parse_id_mappings(lj, "gidMappings", &l->gid_mappings, &l->n_gid_mappings, err) < 0 ||
	    get_map(lj, "sysctl", &l->sysctl, NULL, err) < 0 || parse_resources(lj, l, err) < 0 ||
	    get_str(lj, "cgroupsPath", &l->cgroups_path, err) < 0 ||
	    oci_seccomp_parse(kiln_json_get(lj, "seccomp"), &l->seccomp, err) < 0 ||
	    get_str(lj, "rootfsPropagation", &l->rootfs_propagation, err) < 0 ||
	    get_strv(lj, "maskedPaths", &l->masked_paths, err) < 0 ||
	    get_strv(lj, "readonlyPaths", &l->readonly_paths, err) < 0 ||
	    get_str(lj, "mountLabel", &l->mount_label, err) < 0 || parse_devices(lj, l, err) < 0)
		return -1;
	if (l->rootfs_propagation != NULL) {
		const struct oci_mount_option *o = oci_mount_option_lookup(l->rootfs_propagation);

		if (o == NULL || o->kind != OCI_MOUNT_OPT_PROPAGATION)
			return kiln_json_error(err, kiln_json_get(lj, "rootfsPropagation"),
					       "unknown propagation \"%s\"", l->rootfs_propagation);
	}
	return 0;
}

static void linux_free(struct oci_linux *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n_namespaces; i++)
		free(l->namespaces[i].path);
	free(l->namespaces);
	free(l->uid_mappings);
	free(l->gid_mappings);
	map_release(&l->sysctl);
	resources_free(l->resources);
	free(l->cgroups_path);
	oci_seccomp_free(l->seccomp);
	free(l->rootfs_propagation);
	strv_release(&l->masked_paths);
	strv_release(&l->readonly_paths);
	free(l->mount_label);
	for (size_t i = 0; i < l->n_devices; i++) {
		free(l->devices[i].path);
		free(l->devices[i].type);
	}
	free(l->devices);
	free(l);
}

/* ---- the document ---- */

static int parse_config(const kiln_json_t *doc, struct oci_config *c, kiln_error_t *err)
{
	const kiln_json_t *proc = NULL, *annotations = NULL;

	if (!kiln_json_is_object(doc))
		return kiln_json_error(err, doc, "expected a JSON object, not %s",
				       kiln_json_type_name(kiln_json_type(doc)));
	if (req_str(doc, "ociVersion", &c->oci_version, err) < 0)
		return -1;
	if (!oci_version_supported(c->oci_version))
		return kiln_json_error(err, kiln_json_get(doc, "ociVersion"),
				       "unsupported version \"%s\" (kiln supports 1.0.0 to 1.3.x)",
				       c->oci_version);
	if (parse_root(doc, c, err) < 0 || parse_mounts(doc, c, err) < 0 ||
	    kiln_json_get_object(doc, "process", &proc, err) < 0)
		return -1;
	if (proc != NULL) {
		c->process = xzalloc(sizeof(*c->process));
		if (parse_process_node(proc, c->process, err) < 0)
			return -1;
	}
	if (get_str(doc, "hostname", &c->hostname, err) < 0 ||
	    get_str(doc, "domainname", &c->domainname, err) < 0 || parse_hooks(doc, c, err) < 0 ||
	    get_map(doc, "annotations", &c->annotations, &annotations, err) < 0)
		return -1;
	/* config.md#annotations: keys MUST NOT be empty. */
	if (oci_map_get(&c->annotations, "") != NULL)
		return kiln_json_error(err, annotations, "keys must not be empty");
	return parse_linux(doc, c, err);
}

int oci_config_parse_node(const kiln_json_t *doc, struct oci_config **out, kiln_error_t *err)
{
	struct oci_config *c = xzalloc(sizeof(*c));

	*out = NULL;
	if (parse_config(doc, c, err) < 0) {
		oci_config_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

int oci_config_parse(const char *text, size_t len, struct oci_config **out, kiln_error_t *err)
{
	cleanup_json kiln_json_t *doc = NULL;
	struct oci_config *c;

	*out = NULL;
	if (kiln_json_parse(text, len, &doc, err) < 0 || oci_config_parse_node(doc, &c, err) < 0)
		return -1;
	c->raw = xmalloc(len + 1);
	memcpy(c->raw, text, len);
	c->raw[len] = '\0';
	c->raw_len = len;
	*out = c;
	return 0;
}

void oci_config_free(struct oci_config *c)
{
	if (c == NULL)
		return;
	free(c->oci_version);
	free(c->root.path);
	for (size_t i = 0; i < c->n_mounts; i++) {
		free(c->mounts[i].destination);
		free(c->mounts[i].type);
		free(c->mounts[i].source);
		strv_release(&c->mounts[i].options);
	}
	free(c->mounts);
	oci_process_free(c->process);
	free(c->hostname);
	free(c->domainname);
	for (int k = 0; k < OCI_HOOK_COUNT; k++) {
		for (size_t i = 0; i < c->hooks[k].n; i++) {
			free(c->hooks[k].items[i].path);
			strv_release(&c->hooks[k].items[i].args);
			strv_release(&c->hooks[k].items[i].env);
		}
		free(c->hooks[k].items);
	}
	map_release(&c->annotations);
	linux_free(c->linux_spec);
	free(c->raw);
	free(c);
}

/* ---- files ---- */

static int read_doc(const char *path, char **text, size_t *len, kiln_error_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		kiln_error_make(err, errno, "%s", path);
		return -1;
	}
	if (kiln_read_fd_all(fd, OCI_CONFIG_MAX_SIZE, text, len, err) < 0) {
		kiln_error_wrap(err, "%s", path);
		return -1;
	}
	return 0;
}

int oci_config_load(const char *bundle_dir, struct oci_config **out, kiln_error_t *err)
{
	cleanup_free char *path = xasprintf("%s/config.json", bundle_dir);
	cleanup_free char *text = NULL;
	size_t len = 0;

	*out = NULL;
	if (read_doc(path, &text, &len, err) < 0)
		return -1;
	if (oci_config_parse(text, len, out, err) < 0)
		return kiln_error_wrap(err, "%s", path);
	return 0;
}

int oci_process_load(const char *path, struct oci_process **out, kiln_error_t *err)
{
	cleanup_free char *text = NULL;
	size_t len = 0;

	*out = NULL;
	if (read_doc(path, &text, &len, err) < 0)
		return -1;
	if (oci_process_parse(text, len, out, err) < 0)
		return kiln_error_wrap(err, "%s", path);
	return 0;
}
