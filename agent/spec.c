/* OCI runtime-spec config → struct agent_spec (config-spec.md,
 * config-linux.md). oci/ reads and validates the spec as the host does;
 * this file turns what it read into what the guest acts on (mount(2)
 * flags, clone flags, device numbers) and refuses what the guest cannot
 * honour, rather than silently ignoring it. */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "agent/spec.h"
#include "common/util.h"
#include "oci/oci.h"

/* A message that names a field from node ("process.args: must not be
 * empty", as oci_config_check_runnable() and oci_config_check_sysctls()
 * give them for the config) gets node's path in front, from the request's
 * root ("params.spec.process.args: ..."). Returns -1. */
static int from_node(const kiln_json_t *node, kiln_error_t *err)
{
	cleanup_free char *path = kiln_json_path(node);

	if (err != NULL && *err != NULL && path != NULL && path[0] != '\0') {
		char *msg = xasprintf("%s.%s", path, (*err)->msg);

		free((*err)->msg);
		(*err)->msg = msg;
	}
	return -1;
}

/* What the guest cannot do with a process oci/ accepted. */
static int check_process(const struct oci_process *p, const kiln_json_t *node, kiln_error_t *err)
{
	if (p->user.username != NULL)
		return kiln_json_error(err, kiln_json_get(kiln_json_get(node, "user"), "username"),
				       "user names are not supported; give uid and gid");
	return 0;
}

int agent_process_parse(const kiln_json_t *node, struct oci_process **out, kiln_error_t *err)
{
	struct oci_process *p = NULL;
	int r;

	*out = NULL;
	if (oci_process_parse_node(node, &p, err) < 0)
		return -1;
	if (oci_process_check_runnable(p, err) < 0)
		r = from_node(node, err);
	else
		r = check_process(p, node, err);
	if (r < 0) {
		oci_process_free(p);
		return -1;
	}
	*out = p;
	return 0;
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

static int convert_mounts(const struct oci_config *c, const kiln_json_t *config,
			  struct agent_spec *s, kiln_error_t *err)
{
	const kiln_json_t *arr = kiln_json_get(config, "mounts");

	s->mounts = xcalloc(c->n_mounts + 1, sizeof(*s->mounts));
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct oci_mount *om = &c->mounts[i];
		const kiln_json_t *mj = kiln_json_array_get(arr, i);
		struct agent_mount *m = &s->mounts[s->nmounts++];
		const char *type = om->type;

		m->destination = om->destination;
		m->source = om->source;
		agent_mount_options(m, (const char *const *)om->options.v, om->options.n);
		if ((type == NULL || streq(type, "none")) && m->bind)
			type = "bind";
		if (type == NULL || streq(type, "none"))
			return kiln_json_error(err, mj, "type: missing (and not a bind mount)");
		if (streq(type, "bind")) {
			m->bind = true;
			m->flags |= MS_BIND;
		}
		m->type = type;
		if (m->source == NULL) {
			if (m->bind)
				return kiln_json_error(err, mj, "source: missing for a bind mount");
			/* No source: the type stands in, as mount(8) does. */
			m->source = type;
		}
		if (m->bind && m->source[0] != '/')
			return kiln_json_error(err, kiln_json_get(mj, "source"),
					       "bind mount source must be an absolute guest path");
	}
	return 0;
}

static int convert_namespaces(const struct oci_linux *l, const kiln_json_t *lj,
			      struct agent_spec *s, kiln_error_t *err)
{
	const kiln_json_t *arr = kiln_json_get(lj, "namespaces");

	for (size_t i = 0; i < l->n_namespaces; i++) {
		const struct oci_namespace *ns = &l->namespaces[i];
		const kiln_json_t *nj = kiln_json_array_get(arr, i);

		if (!oci_namespace_supported(ns->type))
			return kiln_json_error(err, kiln_json_get(nj, "type"),
					       "namespace type \"%s\" is not supported",
					       oci_namespace_name(ns->type));
		/* A network namespace given by path is the host's, whose
		 * interfaces the VM was given (agent/net.h): in the guest the
		 * container gets a new one holding them. */
		if (ns->path != NULL && ns->type != OCI_NS_NETWORK)
			return kiln_json_error(err, kiln_json_get(nj, "path"),
					       "joining an existing namespace is not supported");
		/* The user namespace is entered after the mounts, which need
		 * the guest's root (container.c). */
		if (ns->type == OCI_NS_USER)
			s->userns = true;
		else
			s->clone_flags |= oci_namespace_clone_flag(ns->type);
	}
	return 0;
}

/* runc's rule: mappings and a user namespace go together. */
static int check_userns(const struct agent_spec *s, const kiln_json_t *lj, kiln_error_t *err)
{
	if (s->userns && (s->nuid_maps == 0 || s->ngid_maps == 0)) {
		kiln_error_make(err, 0, "%s: missing (a user namespace needs at least one mapping)",
				s->nuid_maps == 0 ? "uidMappings" : "gidMappings");
		return from_node(lj, err);
	}
	if (!s->userns && s->nuid_maps + s->ngid_maps > 0)
		return kiln_json_error(
		    err, kiln_json_get(lj, s->nuid_maps ? "uidMappings" : "gidMappings"),
		    "needs a user namespace (linux.namespaces)");
	return 0;
}

uint32_t agent_idmap_to_host(const struct oci_id_mapping *maps, size_t n, uint32_t id)
{
	if (n == 0)
		return id;
	for (size_t i = 0; i < n; i++)
		if (id >= maps[i].container_id && id - maps[i].container_id < maps[i].size)
			return maps[i].host_id + (id - maps[i].container_id);
	return (uint32_t)-1;
}

/* oci/ checked the type, the path and the numbers' ranges. */
static void convert_devices(const struct oci_linux *l, struct agent_spec *s)
{
	s->devices = xcalloc(l->n_devices + 1, sizeof(*s->devices));
	for (size_t i = 0; i < l->n_devices; i++) {
		const struct oci_device *od = &l->devices[i];
		struct agent_device *d = &s->devices[s->ndevices++];

		if (streq(od->type, "b"))
			d->type = S_IFBLK;
		else if (streq(od->type, "p"))
			d->type = S_IFIFO;
		else /* "c", "u" */
			d->type = S_IFCHR;
		d->path = od->path;
		d->rdev = makedev((unsigned)od->major.value, (unsigned)od->minor.value);
		/* runc: the type comes from "type", not from fileMode */
		d->mode = od->file_mode.present ? od->file_mode.value & 07777 : 0666;
		d->uid = od->uid.value;
		d->gid = od->gid.value;
	}
}

static int convert_linux(const struct oci_config *c, const kiln_json_t *config,
			 struct agent_spec *s, kiln_error_t *err)
{
	const struct oci_linux *l = c->linux_spec;
	const kiln_json_t *lj = kiln_json_get(config, "linux");

	if (l == NULL)
		return 0;
	s->uid_maps = l->uid_mappings;
	s->nuid_maps = l->n_uid_mappings;
	s->gid_maps = l->gid_mappings;
	s->ngid_maps = l->n_gid_mappings;
	s->masked_paths = l->masked_paths.v;
	s->nmasked = l->masked_paths.n;
	s->readonly_paths = l->readonly_paths.v;
	s->nreadonly = l->readonly_paths.n;
	s->sysctls = l->sysctl.items;
	s->nsysctls = l->sysctl.n;
	agent_resources_convert(l->resources, &s->resources);
	convert_devices(l, s);
	if (convert_namespaces(l, lj, s, err) < 0 || check_userns(s, lj, err) < 0)
		return -1;
	if (oci_config_check_sysctls(c, err) < 0)
		return from_node(config, err);
	return agent_seccomp_convert(l->seccomp, kiln_json_get(lj, "seccomp"), &s->seccomp, err);
}

int agent_spec_parse(const kiln_json_t *config, struct agent_spec *s, kiln_error_t *err)
{
	struct oci_config *c;

	memset(s, 0, sizeof(*s));
	if (oci_config_parse_node(config, &s->oci, err) < 0)
		return -1;
	c = s->oci;
	if (oci_config_check_runnable(c, err) < 0)
		return from_node(config, err);
	s->process = c->process;
	if (check_process(c->process, kiln_json_get(config, "process"), err) < 0)
		return -1;
	s->hostname = c->hostname;
	s->readonly_root = c->root.readonly;
	if (convert_mounts(c, config, s, err) < 0 || convert_linux(c, config, s, err) < 0)
		return -1;
	if (s->hostname != NULL && !(s->clone_flags & CLONE_NEWUTS))
		return kiln_json_error(err, kiln_json_get(config, "hostname"),
				       "needs a uts namespace (linux.namespaces)");
	return 0;
}

void agent_spec_release(struct agent_spec *s)
{
	for (size_t i = 0; i < s->nmounts; i++)
		free(s->mounts[i].data);
	free(s->mounts);
	free(s->devices);
	agent_seccomp_free(s->seccomp);
	oci_config_free(s->oci);
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
