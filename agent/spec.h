/* The part of an OCI runtime-spec config (config.json) the agent acts on,
 * translated once into plain C: what to mount, which namespaces to create,
 * and the process to run. Parsing everything up front means a bad spec is
 * refused by `create` with the JSON path of the bad field, before anything
 * is forked or mounted. */
#ifndef KILN_AGENT_SPEC_H
#define KILN_AGENT_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "agent/resources.h"
#include "agent/seccomp.h"
#include "common/error.h"
#include "common/json.h"

struct agent_rlimit {
	int resource;
	struct rlimit limit;
};

/* The process to run: OCI "process" (config-spec.md#process). */
struct agent_process {
	char **args; /* NULL-terminated */
	char **env;  /* NULL-terminated */
	char *cwd;
	bool terminal;
	uid_t uid;
	gid_t gid;
	gid_t *gids; /* additionalGids */
	size_t ngids;
	bool has_umask;
	mode_t umask;
	struct agent_rlimit *rlimits;
	size_t nrlimits;
	bool has_oom_score;
	int oom_score;
	bool no_new_privs;
	/* Capability sets as bit masks (bit N = capability N). */
	bool has_caps;
	uint64_t cap_bounding, cap_effective, cap_inheritable, cap_permitted, cap_ambient;
};

/* One OCI mount, with its options split into mount(2) flags, propagation
 * flags and the data string the filesystem gets. */
struct agent_mount {
	char *destination;
	char *type; /* "bind" for bind mounts */
	char *source;
	unsigned long flags;	   /* MS_* for the mount itself */
	unsigned long propagation; /* MS_PRIVATE etc., applied after */
	char *data;		   /* comma-joined filesystem options, or NULL */
	bool bind;
};

/* linux.devices[]: a node the agent makes in the container's /dev. */
struct agent_device {
	char *path;  /* absolute, in the container */
	mode_t type; /* S_IFCHR, S_IFBLK or S_IFIFO */
	dev_t rdev;
	mode_t mode; /* permission bits; 0666 when fileMode is absent */
	uid_t uid;   /* as the container sees them */
	gid_t gid;
};

/* linux.uidMappings / gidMappings[]: container IDs [container_id,
 * container_id + size) are the guest's [host_id, host_id + size). */
struct agent_idmap {
	uint32_t container_id, host_id, size;
};

struct agent_sysctl {
	char *key, *value;
};

struct agent_spec {
	struct agent_process process;
	char *hostname;
	bool readonly_root;
	int clone_flags; /* CLONE_NEW* the container gets, but CLONE_NEWUSER */
	/* A "user" namespace: entered once the mounts are made (container.c),
	 * with these mappings, which it requires. */
	bool userns;
	struct agent_idmap *uid_maps, *gid_maps;
	size_t nuid_maps, ngid_maps;
	struct agent_device *devices;
	size_t ndevices;
	struct agent_mount *mounts;
	size_t nmounts;
	char **masked_paths;
	size_t nmasked;
	char **readonly_paths;
	size_t nreadonly;
	struct agent_sysctl *sysctls;
	size_t nsysctls;
	struct agent_seccomp *seccomp;	  /* linux.seccomp, or NULL */
	struct agent_resources resources; /* for the container's guest cgroup */
};

/* Reads config (the OCI config object). Errors name the JSON path. */
int agent_spec_parse(const kiln_json_t *config, struct agent_spec *out, kiln_error_t *err);
void agent_spec_release(struct agent_spec *s);

/* Reads an OCI "process" object (as in config.process, or exec's). */
int agent_process_parse(const kiln_json_t *proc, struct agent_process *out, kiln_error_t *err);
void agent_process_release(struct agent_process *p);

/* Splits a mount's options ("ro,nosuid,mode=755,rprivate") into m->flags,
 * m->propagation, m->bind and m->data. */
void agent_mount_options(struct agent_mount *m, const char *const *opts, size_t n);

/* The guest's ID for a container ID through maps (n of them); id itself
 * when there are none, (uint32_t)-1 when maps do not map it. */
uint32_t agent_idmap_to_host(const struct agent_idmap *maps, size_t n, uint32_t id);

/* The value of name in a NULL-terminated "NAME=value" list, or NULL. */
const char *agent_env_get(char *const *env, const char *name);

#endif
