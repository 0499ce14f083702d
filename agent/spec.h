/* The part of an OCI runtime-spec config (config.json) the agent acts on,
 * translated once into plain C: what to mount, which namespaces to create,
 * and the process to run. The spec is read with oci/'s parser, as the host
 * reads it; what stays here is what the guest does with it. Reading
 * everything up front means a bad spec is refused by `create` with the
 * JSON path of the bad field, before anything is forked or mounted. */
#ifndef KILN_AGENT_SPEC_H
#define KILN_AGENT_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/resources.h"
#include "agent/seccomp.h"
#include "common/error.h"
#include "common/json.h"
#include "oci/config.h"

/* One OCI mount, with its options split into mount(2) flags, propagation
 * flags and the data string the filesystem gets. */
struct agent_mount {
	const char *destination; /* the strings are the spec's */
	const char *type;	 /* "bind" for bind mounts */
	const char *source;
	unsigned long flags;	   /* MS_* for the mount itself */
	unsigned long propagation; /* MS_PRIVATE etc., applied after */
	char *data;		   /* owned: comma-joined filesystem options, or NULL */
	bool bind;
};

/* linux.devices[]: a node the agent makes in the container's /dev. */
struct agent_device {
	const char *path; /* absolute, in the container; the spec's */
	mode_t type;	  /* S_IFCHR, S_IFBLK or S_IFIFO */
	dev_t rdev;
	mode_t mode; /* permission bits; 0666 when fileMode is absent */
	uid_t uid;   /* as the container sees them */
	gid_t gid;
};

/* The spec as oci/ reads it (oci_config_parse_node(), the host's parser),
 * and what the guest makes of it. Pointers and arrays not marked owned
 * borrow from oci. */
struct agent_spec {
	struct oci_config *oci; /* owned */
	const struct oci_process *process;
	const char *hostname;
	bool readonly_root;
	int clone_flags; /* CLONE_NEW* the container gets, but CLONE_NEWUSER */
	/* A "user" namespace: entered once the mounts are made (container.c),
	 * with these mappings, which it requires. */
	bool userns;
	const struct oci_id_mapping *uid_maps, *gid_maps;
	size_t nuid_maps, ngid_maps;
	struct agent_device *devices; /* owned */
	size_t ndevices;
	struct agent_mount *mounts; /* owned */
	size_t nmounts;
	char *const *masked_paths;
	size_t nmasked;
	char *const *readonly_paths;
	size_t nreadonly;
	const struct oci_kv *sysctls; /* linux.sysctl */
	size_t nsysctls;
	struct agent_seccomp *seccomp;	  /* owned; linux.seccomp, or NULL */
	struct agent_resources resources; /* for the container's guest cgroup */
};

/* Reads config (the OCI config object) with oci_config_parse_node(), then
 * refuses what the guest cannot do: no process to run, a user name, a
 * namespace type kiln does not make or one to join (but "network"),
 * mappings without a user namespace or the reverse, a hostname without a
 * uts namespace, a mount with no type that is not a bind mount or a bind
 * mount without an absolute source, sysctls outside the container's
 * namespaces, and what agent_seccomp_convert() refuses. Errors name the
 * JSON path from the root of the document config is in. *out is always
 * set; release it either way. */
int agent_spec_parse(const kiln_json_t *config, struct agent_spec *out, kiln_error_t *err);
void agent_spec_release(struct agent_spec *s);

/* Reads an OCI "process" object (exec's) with oci_process_parse_node() and
 * the checks that config.process gets above. *out is a new process, NULL
 * on failure. */
int agent_process_parse(const kiln_json_t *proc, struct oci_process **out, kiln_error_t *err);

/* Splits a mount's options ("ro,nosuid,mode=755,rprivate") into m->flags,
 * m->propagation, m->bind and m->data. */
void agent_mount_options(struct agent_mount *m, const char *const *opts, size_t n);

/* The guest's ID for a container ID through maps (n of them); id itself
 * when there are none, (uint32_t)-1 when maps do not map it. */
uint32_t agent_idmap_to_host(const struct oci_id_mapping *maps, size_t n, uint32_t id);

/* The value of name in a NULL-terminated "NAME=value" list, or NULL. */
const char *agent_env_get(char *const *env, const char *name);

#endif
