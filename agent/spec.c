/* OCI runtime-spec config → struct agent_spec (config-spec.md,
 * config-linux.md). Only what the agent acts on is read; a field it cannot
 * honour is an error rather than silently ignored. */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "agent/spec.h"
#include "agent/sysctl.h"
#include "common/util.h"
#include "oci/names.h"

/* Node path for messages made here ("params.spec.process.rlimits[0]"). */
static void strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* An optional array of strings at path → NULL-terminated vector (empty when
 * absent). */
static int get_strv(const kiln_json_t *node, const char *path, char ***out, size_t *n,
		    kiln_error_t *err)
{
	const kiln_json_t *arr = NULL;
	size_t len;
	char **v;

	*out = NULL;
	if (n != NULL)
		*n = 0;
	if (kiln_json_get_array(node, path, &arr, err) < 0)
		return -1;
	len = kiln_json_array_len(arr);
	v = xcalloc(len + 1, sizeof(char *));
	for (size_t i = 0; i < len; i++) {
		const char *s = NULL;
		char idx[32];

		snprintf(idx, sizeof(idx), "[%zu]", i);
		if (kiln_json_get_string(arr, idx, &s, err) < 0) {
			strv_free(v);
			return -1;
		}
		v[i] = xstrdup(s);
	}
	*out = v;
	if (n != NULL)
		*n = len;
	return 0;
}

static int parse_rlimits(const kiln_json_t *proc, struct agent_process *p, kiln_error_t *err)
{
	const kiln_json_t *arr = NULL;

	if (kiln_json_get_array(proc, "rlimits", &arr, err) < 0)
		return -1;
	p->nrlimits = kiln_json_array_len(arr);
	p->rlimits = xcalloc(p->nrlimits + 1, sizeof(*p->rlimits));
	for (size_t i = 0; i < p->nrlimits; i++) {
		const kiln_json_t *r = kiln_json_array_get(arr, i);
		const char *type = NULL;
		uint64_t hard = 0, soft = 0;
		int resource;

		if (!kiln_json_is_object(r))
			return kiln_json_error(err, r, "expected object");
		if (kiln_json_get_string(r, "type", &type, err) != 0 ||
		    kiln_json_get_uint64(r, "hard", &hard, err) != 0 ||
		    kiln_json_get_uint64(r, "soft", &soft, err) != 0) {
			if (err != NULL && *err != NULL)
				return -1;
			return kiln_json_error(err, r, "type, hard and soft are required");
		}
		resource = oci_rlimit_from_name(type);
		if (resource < 0)
			return kiln_json_error(err, kiln_json_get(r, "type"),
					       "unknown rlimit \"%s\"", type);
		p->rlimits[i].resource = resource;
		p->rlimits[i].limit.rlim_cur = soft;
		p->rlimits[i].limit.rlim_max = hard;
	}
	return 0;
}

static int parse_capset(const kiln_json_t *caps, const char *name, uint64_t *mask,
			kiln_error_t *err)
{
	const kiln_json_t *arr = NULL;

	*mask = 0;
	if (kiln_json_get_array(caps, name, &arr, err) < 0)
		return -1;
	for (size_t i = 0; i < kiln_json_array_len(arr); i++) {
		const kiln_json_t *c = kiln_json_array_get(arr, i);
		const char *s = NULL;
		int v;

		if (kiln_json_get_string(c, "", &s, err) < 0)
			return -1;
		v = oci_capability_from_name(s);
		if (v < 0)
			return kiln_json_error(err, c, "unknown capability \"%s\"", s);
		*mask |= 1ull << v;
	}
	return 0;
}

static int parse_caps(const kiln_json_t *proc, struct agent_process *p, kiln_error_t *err)
{
	const kiln_json_t *caps = NULL;
	int r = kiln_json_get_object(proc, "capabilities", &caps, err);

	if (r != 0)
		return r < 0 ? -1 : 0;
	p->has_caps = true;
	if (parse_capset(caps, "bounding", &p->cap_bounding, err) < 0 ||
	    parse_capset(caps, "effective", &p->cap_effective, err) < 0 ||
	    parse_capset(caps, "inheritable", &p->cap_inheritable, err) < 0 ||
	    parse_capset(caps, "permitted", &p->cap_permitted, err) < 0 ||
	    parse_capset(caps, "ambient", &p->cap_ambient, err) < 0)
		return -1;
	return 0;
}

int agent_process_parse(const kiln_json_t *proc, struct agent_process *p, kiln_error_t *err)
{
	const kiln_json_t *gids = NULL;
	const char *cwd = "/";
	int64_t oom;
	uint32_t v;
	int r;

	memset(p, 0, sizeof(*p));
	if (!kiln_json_is_object(proc))
		return kiln_json_error(err, proc, "expected object");
	if (get_strv(proc, "args", &p->args, NULL, err) < 0)
		return -1;
	if (p->args[0] == NULL || p->args[0][0] == '\0')
		return kiln_json_error(err, proc, "args: must name a program");
	if (get_strv(proc, "env", &p->env, NULL, err) < 0)
		return -1;
	if (kiln_json_get_string(proc, "cwd", &cwd, err) < 0)
		return -1;
	if (cwd[0] != '/')
		return kiln_json_error(err, kiln_json_get(proc, "cwd"), "must be an absolute path");
	p->cwd = xstrdup(cwd);
	if (kiln_json_get_bool(proc, "terminal", &p->terminal, err) < 0)
		return -1;
	v = 0;
	if (kiln_json_get_uint32(proc, "user.uid", &v, err) < 0)
		return -1;
	p->uid = v;
	v = 0;
	if (kiln_json_get_uint32(proc, "user.gid", &v, err) < 0)
		return -1;
	p->gid = v;
	if (kiln_json_get_string(proc, "user.username", &(const char *){NULL}, NULL) == 0)
		return kiln_json_error(err, kiln_json_get(kiln_json_get(proc, "user"), "username"),
				       "user names are not supported; give uid and gid");
	if (kiln_json_get_array(proc, "user.additionalGids", &gids, err) < 0)
		return -1;
	p->ngids = kiln_json_array_len(gids);
	p->gids = xcalloc(p->ngids + 1, sizeof(gid_t));
	for (size_t i = 0; i < p->ngids; i++) {
		char idx[32];

		snprintf(idx, sizeof(idx), "[%zu]", i);
		if (kiln_json_get_uint32(gids, idx, &v, err) < 0)
			return -1;
		p->gids[i] = v;
	}
	r = kiln_json_get_uint32(proc, "user.umask", &v, err);
	if (r < 0)
		return -1;
	if (r == 0) {
		if (v > 07777)
			return kiln_json_error(err,
					       kiln_json_get(kiln_json_get(proc, "user"), "umask"),
					       "%u is not a mode", v);
		p->has_umask = true;
		p->umask = v;
	}
	r = kiln_json_get_int64(proc, "oomScoreAdj", &oom, err);
	if (r < 0)
		return -1;
	if (r == 0) {
		if (oom < -1000 || oom > 1000)
			return kiln_json_error(err, kiln_json_get(proc, "oomScoreAdj"),
					       "%lld is out of range (-1000 to 1000)",
					       (long long)oom);
		p->has_oom_score = true;
		p->oom_score = (int)oom;
	}
	if (kiln_json_get_bool(proc, "noNewPrivileges", &p->no_new_privs, err) < 0)
		return -1;
	if (parse_rlimits(proc, p, err) < 0 || parse_caps(proc, p, err) < 0)
		return -1;
	return 0;
}

void agent_process_release(struct agent_process *p)
{
	strv_free(p->args);
	strv_free(p->env);
	free(p->cwd);
	free(p->gids);
	free(p->rlimits);
	memset(p, 0, sizeof(*p));
}

void agent_mount_options(struct agent_mount *m, const char *const *opts, size_t n)
{
	char *data = NULL;

	for (size_t i = 0; i < n; i++) {
		const char *o = opts[i];
		const struct oci_mount_option *mo = oci_mount_option_lookup(o);

		if (mo != NULL) {
			switch (mo->kind) {
			case OCI_MOUNT_OPT_BIND:
				m->bind = true;
				m->flags |= mo->flag;
				break;
			case OCI_MOUNT_OPT_SET:
				m->flags |= mo->flag;
				break;
			case OCI_MOUNT_OPT_CLEAR:
				m->flags &= ~mo->flag;
				break;
			case OCI_MOUNT_OPT_PROPAGATION:
				m->propagation = mo->flag;
				break;
			case OCI_MOUNT_OPT_RUNTIME:
				/* For the runtime, not the kernel (podman's). */
				break;
			}
			continue;
		}
		if (data == NULL) {
			data = xstrdup(o);
		} else {
			char *d = xasprintf("%s,%s", data, o);

			free(data);
			data = d;
		}
	}
	free(m->data);
	m->data = data;
}

static void mount_release(struct agent_mount *m)
{
	free(m->destination);
	free(m->type);
	free(m->source);
	free(m->data);
}

static int parse_mounts(const kiln_json_t *config, struct agent_spec *s, kiln_error_t *err)
{
	const kiln_json_t *arr = NULL;

	if (kiln_json_get_array(config, "mounts", &arr, err) < 0)
		return -1;
	s->mounts = xcalloc(kiln_json_array_len(arr) + 1, sizeof(*s->mounts));
	for (size_t i = 0; i < kiln_json_array_len(arr); i++) {
		const kiln_json_t *mj = kiln_json_array_get(arr, i);
		struct agent_mount *m = &s->mounts[s->nmounts];
		const char *dest = NULL, *type = NULL, *source = NULL;
		char **opts = NULL;
		size_t nopts;

		if (!kiln_json_is_object(mj))
			return kiln_json_error(err, mj, "expected object");
		if (kiln_json_get_string(mj, "destination", &dest, err) != 0) {
			if (err != NULL && *err != NULL)
				return -1;
			return kiln_json_error(err, mj, "destination: missing");
		}
		if (dest[0] != '/')
			return kiln_json_error(err, kiln_json_get(mj, "destination"),
					       "must be an absolute path");
		if (kiln_json_get_string(mj, "type", &type, err) < 0 ||
		    kiln_json_get_string(mj, "source", &source, err) < 0 ||
		    get_strv(mj, "options", &opts, &nopts, err) < 0)
			return -1;
		s->nmounts++;
		m->destination = xstrdup(dest);
		m->source = xstrdup(source);
		agent_mount_options(m, (const char *const *)opts, nopts);
		strv_free(opts);
		if ((type == NULL || streq(type, "none")) && m->bind)
			type = "bind";
		if (type == NULL || streq(type, "none"))
			return kiln_json_error(err, mj, "type: missing (and not a bind mount)");
		if (streq(type, "bind")) {
			m->bind = true;
			m->flags |= MS_BIND;
		}
		m->type = xstrdup(type);
		if (m->source == NULL) {
			if (m->bind)
				return kiln_json_error(err, mj, "source: missing for a bind mount");
			m->source = xstrdup(type);
		}
		if (m->bind && m->source[0] != '/')
			return kiln_json_error(err, kiln_json_get(mj, "source"),
					       "bind mount source must be an absolute guest path");
	}
	return 0;
}

static int parse_namespaces(const kiln_json_t *config, struct agent_spec *s, kiln_error_t *err)
{
	const kiln_json_t *arr = NULL;

	if (kiln_json_get_array(config, "linux.namespaces", &arr, err) < 0)
		return -1;
	for (size_t i = 0; i < kiln_json_array_len(arr); i++) {
		const kiln_json_t *ns = kiln_json_array_get(arr, i);
		const char *type = NULL, *path = NULL;
		int t, flag;

		if (!kiln_json_is_object(ns))
			return kiln_json_error(err, ns, "expected object");
		if (kiln_json_get_string(ns, "type", &type, err) != 0) {
			if (err != NULL && *err != NULL)
				return -1;
			return kiln_json_error(err, ns, "type: missing");
		}
		if (kiln_json_get_string(ns, "path", &path, err) < 0)
			return -1;
		t = oci_namespace_from_name(type);
		if (t < 0 || !oci_namespace_supported(t))
			return kiln_json_error(err, kiln_json_get(ns, "type"),
					       "namespace type \"%s\" is not supported", type);
		/* A network namespace given by path is the host's, whose
		 * interfaces the VM was given (agent/net.h): in the guest the
		 * container gets a new one holding them. */
		flag = oci_namespace_clone_flag(t);
		if (path != NULL && path[0] != '\0' && t != OCI_NS_NETWORK)
			return kiln_json_error(err, kiln_json_get(ns, "path"),
					       "joining an existing namespace is not supported");
		/* The user namespace is entered after the mounts, which need
		 * the guest's root (container.c). */
		if (t == OCI_NS_USER)
			s->userns = true;
		else
			s->clone_flags |= flag;
	}
	return 0;
}

static int parse_idmaps(const kiln_json_t *config, const char *key, struct agent_idmap **out,
			size_t *n, kiln_error_t *err)
{
	const kiln_json_t *arr = NULL;

	if (kiln_json_get_array(kiln_json_get(config, "linux"), key, &arr, err) < 0)
		return -1;
	*n = kiln_json_array_len(arr);
	*out = xcalloc(*n + 1, sizeof(**out));
	for (size_t i = 0; i < *n; i++) {
		const kiln_json_t *m = kiln_json_array_get(arr, i);
		struct agent_idmap *im = &(*out)[i];

		if (!kiln_json_is_object(m))
			return kiln_json_error(err, m, "expected object");
		if (kiln_json_get_uint32(m, "containerID", &im->container_id, err) != 0 ||
		    kiln_json_get_uint32(m, "hostID", &im->host_id, err) != 0 ||
		    kiln_json_get_uint32(m, "size", &im->size, err) != 0) {
			if (err != NULL && *err != NULL)
				return -1;
			return kiln_json_error(err, m, "containerID, hostID and size are required");
		}
		if (im->size == 0)
			return kiln_json_error(err, kiln_json_get(m, "size"), "must not be 0");
	}
	return 0;
}

/* runc's rule: mappings and a user namespace go together. */
static int check_userns(const kiln_json_t *config, struct agent_spec *s, kiln_error_t *err)
{
	const kiln_json_t *l = kiln_json_get(config, "linux");

	if (parse_idmaps(config, "uidMappings", &s->uid_maps, &s->nuid_maps, err) < 0 ||
	    parse_idmaps(config, "gidMappings", &s->gid_maps, &s->ngid_maps, err) < 0)
		return -1;
	if (s->userns && s->nuid_maps == 0)
		return kiln_error_make(err, 0,
				       "linux.uidMappings: missing (a user namespace needs "
				       "at least one mapping)");
	if (s->userns && s->ngid_maps == 0)
		return kiln_error_make(err, 0,
				       "linux.gidMappings: missing (a user namespace needs "
				       "at least one mapping)");
	if (!s->userns && s->nuid_maps + s->ngid_maps > 0)
		return kiln_json_error(
		    err, kiln_json_get(l, s->nuid_maps ? "uidMappings" : "gidMappings"),
		    "needs a user namespace (linux.namespaces)");
	return 0;
}

uint32_t agent_idmap_to_host(const struct agent_idmap *maps, size_t n, uint32_t id)
{
	if (n == 0)
		return id;
	for (size_t i = 0; i < n; i++)
		if (id >= maps[i].container_id && id - maps[i].container_id < maps[i].size)
			return maps[i].host_id + (id - maps[i].container_id);
	return (uint32_t)-1;
}

static int parse_devices(const kiln_json_t *config, struct agent_spec *s, kiln_error_t *err)
{
	const kiln_json_t *arr = NULL;

	if (kiln_json_get_array(kiln_json_get(config, "linux"), "devices", &arr, err) < 0)
		return -1;
	s->devices = xcalloc(kiln_json_array_len(arr) + 1, sizeof(*s->devices));
	for (size_t i = 0; i < kiln_json_array_len(arr); i++) {
		const kiln_json_t *dj = kiln_json_array_get(arr, i);
		struct agent_device *d = &s->devices[s->ndevices];
		const char *path = NULL, *type = NULL;
		int64_t major = 0, minor = 0;
		uint32_t mode = 0666, uid = 0, gid = 0;
		int rmaj, rmin;

		if (!kiln_json_is_object(dj))
			return kiln_json_error(err, dj, "expected object");
		if (kiln_json_get_string(dj, "path", &path, err) != 0 ||
		    kiln_json_get_string(dj, "type", &type, err) != 0) {
			if (err != NULL && *err != NULL)
				return -1;
			return kiln_json_error(err, dj, "path and type are required");
		}
		if (path[0] != '/')
			return kiln_json_error(err, kiln_json_get(dj, "path"),
					       "must be an absolute path");
		if (streq(type, "c") || streq(type, "u"))
			d->type = S_IFCHR;
		else if (streq(type, "b"))
			d->type = S_IFBLK;
		else if (streq(type, "p"))
			d->type = S_IFIFO;
		else
			return kiln_json_error(err, kiln_json_get(dj, "type"),
					       "unknown device type \"%s\" (want c, b, u or p)",
					       type);
		rmaj = kiln_json_get_int64(dj, "major", &major, err);
		rmin = kiln_json_get_int64(dj, "minor", &minor, err);
		if (rmaj < 0 || rmin < 0 || kiln_json_get_uint32(dj, "fileMode", &mode, err) < 0 ||
		    kiln_json_get_uint32(dj, "uid", &uid, err) < 0 ||
		    kiln_json_get_uint32(dj, "gid", &gid, err) < 0)
			return -1;
		if (d->type != S_IFIFO && (rmaj != 0 || rmin != 0))
			return kiln_json_error(err, dj, "major and minor are required");
		if (major < 0 || major > 0xfff || minor < 0 || minor > 0xfffff)
			return kiln_json_error(err, dj, "device number %lld:%lld is out of range",
					       (long long)major, (long long)minor);
		d->path = xstrdup(path);
		d->rdev = makedev((unsigned)major, (unsigned)minor);
		/* runc: the type comes from "type", not from fileMode */
		d->mode = mode & 07777;
		d->uid = uid;
		d->gid = gid;
		s->ndevices++;
	}
	return 0;
}

int agent_spec_parse(const kiln_json_t *config, struct agent_spec *s, kiln_error_t *err)
{
	const kiln_json_t *proc = NULL;
	const char *hostname = NULL;

	memset(s, 0, sizeof(*s));
	if (!kiln_json_is_object(config))
		return kiln_error_make(err, 0, "spec: expected object");
	if (kiln_json_get_object(config, "process", &proc, err) < 0)
		return -1;
	if (proc == NULL)
		return kiln_json_error(err, config, "process: missing");
	if (agent_process_parse(proc, &s->process, err) < 0)
		return -1;
	if (kiln_json_get_string(config, "hostname", &hostname, err) < 0)
		return -1;
	s->hostname = xstrdup(hostname);
	if (kiln_json_get_bool(config, "root.readonly", &s->readonly_root, err) < 0)
		return -1;
	if (parse_mounts(config, s, err) < 0 || parse_namespaces(config, s, err) < 0 ||
	    check_userns(config, s, err) < 0 || parse_devices(config, s, err) < 0 ||
	    agent_sysctl_parse(config, s, err) < 0 ||
	    agent_resources_parse(config, &s->resources, err) < 0)
		return -1;
	if (get_strv(config, "linux.maskedPaths", &s->masked_paths, &s->nmasked, err) < 0 ||
	    get_strv(config, "linux.readonlyPaths", &s->readonly_paths, &s->nreadonly, err) < 0)
		return -1;
	if (s->hostname != NULL && !(s->clone_flags & CLONE_NEWUTS))
		return kiln_json_error(err, kiln_json_get(config, "hostname"),
				       "needs a uts namespace (linux.namespaces)");
	if (agent_seccomp_parse(kiln_json_get(kiln_json_get(config, "linux"), "seccomp"),
				&s->seccomp, err) < 0)
		return -1;
	return 0;
}

void agent_spec_release(struct agent_spec *s)
{
	agent_process_release(&s->process);
	free(s->hostname);
	for (size_t i = 0; i < s->nmounts; i++)
		mount_release(&s->mounts[i]);
	free(s->mounts);
	strv_free(s->masked_paths);
	strv_free(s->readonly_paths);
	for (size_t i = 0; i < s->nsysctls; i++) {
		free(s->sysctls[i].key);
		free(s->sysctls[i].value);
	}
	free(s->sysctls);
	free(s->uid_maps);
	free(s->gid_maps);
	for (size_t i = 0; i < s->ndevices; i++)
		free(s->devices[i].path);
	free(s->devices);
	agent_seccomp_free(s->seccomp);
	memset(s, 0, sizeof(*s));
}

const char *agent_env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (; env != NULL && *env != NULL; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}
