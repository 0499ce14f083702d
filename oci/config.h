/* An OCI runtime-spec config.json (runtime-spec 1.0 to 1.3, config.md and
 * config-linux.md) read into typed C structs and validated.
 *
 * Rules:
 *  - Members the spec does not define, and the few it defines that kiln
 *    does not type (Windows, Solaris, VM, intelRdt, personality, network
 *    and rdma resources, blockIO device lists, idmapped mounts...), are
 *    ignored; they stay in raw, which the runtime forwards to the agent.
 *  - A JSON null reads as the member being absent.
 *  - Every error is one line naming the JSON path from the document root:
 *      "process.user.uid: expected unsigned integer"
 *      "linux.namespaces[2].type: unknown namespace type \"foo\""
 *      "mounts[0].destination: missing"
 *  - Strings are owned copies; string vectors (struct oci_strv) are
 *    NULL-terminated and, after a parse, never NULL themselves.
 *  - Optional numbers and booleans come with a `present` flag.
 *
 * Beyond types, a config is refused for: ociVersion missing or not 1.0.x,
 * 1.1.x, 1.2.x or 1.3.x; root.path missing or empty; a relative mount
 * destination, hook path, device path or namespace path; a namespace
 * type, rlimit, capability, seccomp action, operator, architecture or
 * flag the spec (or this libseccomp, for architectures) does not know; a
 * namespace type or rlimit given twice; oomScoreAdj outside -1000..1000, a
 * umask above 07777, a hook timeout <= 0, a seccomp argument index above 5;
 * an ID mapping of size 0; a device number beyond what a Linux dev_t holds
 * (major 0-4095, minor 0-1048575); an empty annotation key. Whether kiln can honour a valid setting
 * (joining a user namespace, SCMP_ACT_NOTIFY) is for the runtime and agent to decide; see
 * oci_namespace_supported() and features.h.
 */
#ifndef KILN_OCI_CONFIG_H
#define KILN_OCI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/json.h"
#include "oci/names.h"

/* Largest config.json / process.json oci_*_load() reads. */
#define OCI_CONFIG_MAX_SIZE (64u << 20)

struct oci_strv {
	char **v; /* NULL-terminated */
	size_t n;
};

struct oci_opt_int64 {
	bool present;
	int64_t value;
};

struct oci_opt_uint64 {
	bool present;
	uint64_t value;
};

struct oci_opt_uint32 {
	bool present;
	uint32_t value;
};

struct oci_opt_bool {
	bool present;
	bool value;
};

/* A JSON object of strings, in document order; a key given twice keeps its
 * first place and its last value (as Go's encoding/json reads it). */
struct oci_kv {
	char *key, *value;
};

struct oci_map {
	struct oci_kv *items;
	size_t n;
};

/* The value of key, or NULL. */
const char *oci_map_get(const struct oci_map *m, const char *key);

struct oci_root {
	char *path; /* required, non-empty; relative to the bundle or absolute */
	bool readonly;
};

struct oci_mount {
	char *destination; /* required, absolute */
	char *type;	   /* may be NULL */
	char *source;	   /* may be NULL */
	struct oci_strv options;
};

struct oci_console_size {
	bool present;
	uint32_t height, width;
};

struct oci_user {
	uint32_t uid, gid; /* 0 when absent */
	struct oci_opt_uint32 umask;
	uint32_t *additional_gids;
	size_t n_additional_gids;
	char *username; /* Windows only; NULL when absent */
};

/* Capability sets as masks: bit N is capability N (CAP_CHOWN is bit 0). */
struct oci_capabilities {
	bool present;
	uint64_t bounding, effective, inheritable, permitted, ambient;
};

struct oci_rlimit {
	char *type;   /* "RLIMIT_NOFILE" */
	int resource; /* RLIMIT_NOFILE */
	uint64_t hard, soft;
};

/* config.md#process; also the whole of an exec --process file. */
struct oci_process {
	bool terminal;
	struct oci_console_size console_size;
	struct oci_user user;
	struct oci_strv args;
	char *command_line; /* Windows only */
	struct oci_strv env;
	char *cwd; /* NULL when absent; see oci_process_check_runnable() */
	struct oci_capabilities capabilities;
	struct oci_rlimit *rlimits; /* no type twice */
	size_t n_rlimits;
	bool no_new_privileges;
	char *apparmor_profile;
	struct oci_opt_int64 oom_score_adj; /* -1000 to 1000 */
	char *selinux_label;
};

struct oci_hook {
	char *path; /* required, absolute */
	struct oci_strv args, env;
	struct oci_opt_int64 timeout; /* seconds, > 0 */
};

struct oci_hook_list {
	struct oci_hook *items;
	size_t n;
};

struct oci_namespace {
	enum oci_namespace_type type; /* each type at most once */
	char *path;		      /* join this one; NULL to create */
};

struct oci_id_mapping {
	uint32_t container_id, host_id, size;
};

struct oci_memory {
	struct oci_opt_int64 limit, reservation, swap, kernel, kernel_tcp;
	struct oci_opt_uint64 swappiness;
	struct oci_opt_bool disable_oom_killer, use_hierarchy, check_before_update;
};

struct oci_cpu {
	struct oci_opt_uint64 shares, period, realtime_period, burst;
	struct oci_opt_int64 quota, realtime_runtime, idle;
	char *cpus, *mems; /* NULL when absent */
};

/* linux.resources.devices[]: the device cgroup allow/deny list. */
struct oci_device_rule {
	bool allow;
	char *type;			   /* "a", "b" or "c"; NULL (all) when absent */
	struct oci_opt_int64 major, minor; /* absent: any */
	char *access;			   /* of "rwm"; NULL when absent */
};

struct oci_hugepage_limit {
	char *page_size; /* "2MB" */
	uint64_t limit;
};

struct oci_resources {
	struct oci_memory memory;
	struct oci_cpu cpu;
	struct oci_opt_int64 pids_limit;
	struct oci_device_rule *devices;
	size_t n_devices;
	struct oci_opt_uint32 blkio_weight, blkio_leaf_weight; /* 10 to 1000 */
	struct oci_hugepage_limit *hugepage_limits;
	size_t n_hugepage_limits;
	struct oci_map unified; /* cgroup v2 file → value */
};

struct oci_seccomp_arg {
	uint32_t index; /* 0 to 5 */
	uint64_t value;
	struct oci_opt_uint64 value_two;
	char *op; /* "SCMP_CMP_EQ" */
};

struct oci_seccomp_syscall {
	struct oci_strv names; /* at least one */
	char *action;	       /* "SCMP_ACT_ERRNO" */
	struct oci_opt_uint32 errno_ret;
	struct oci_seccomp_arg *args;
	size_t n_args;
};

struct oci_seccomp {
	char *default_action; /* NULL only when there are no syscalls either */
	struct oci_opt_uint32 default_errno_ret;
	struct oci_strv architectures; /* "SCMP_ARCH_X86_64" */
	struct oci_strv flags;	       /* "SECCOMP_FILTER_FLAG_LOG" */
	char *listener_path, *listener_metadata;
	struct oci_seccomp_syscall *syscalls;
	size_t n_syscalls;
};

/* linux.devices[]: device nodes to create in the container. */
struct oci_device {
	char *path;			   /* absolute */
	char *type;			   /* "c", "b", "u" or "p" */
	struct oci_opt_int64 major, minor; /* required but for "p" */
	struct oci_opt_uint32 file_mode, uid, gid;
};

struct oci_linux {
	struct oci_namespace *namespaces;
	size_t n_namespaces;
	struct oci_id_mapping *uid_mappings, *gid_mappings;
	size_t n_uid_mappings, n_gid_mappings;
	struct oci_map sysctl;
	struct oci_resources *resources; /* NULL when absent */
	char *cgroups_path;
	struct oci_seccomp *seccomp; /* NULL when absent */
	char *rootfs_propagation;    /* "rprivate" etc., or NULL */
	struct oci_strv masked_paths, readonly_paths;
	char *mount_label;
	struct oci_device *devices;
	size_t n_devices;
};

struct oci_config {
	char *oci_version; /* 1.0.x to 1.3.x */
	struct oci_root root;
	struct oci_mount *mounts;
	size_t n_mounts;
	struct oci_process *process; /* NULL when absent */
	char *hostname, *domainname;
	struct oci_hook_list hooks[OCI_HOOK_COUNT]; /* by enum oci_hook_kind */
	struct oci_map annotations;
	/* "linux"; NULL when absent. (`linux` itself is a macro in GNU C.) */
	struct oci_linux *linux_spec;
	/* The document as given, NUL-terminated, for the agent. */
	char *raw;
	size_t raw_len;
};

/* Parses text[0..len). *out is a new config; on failure it is NULL and
 * *err holds "invalid JSON at byte N: ..." or "<json path>: <what>". */
int oci_config_parse(const char *text, size_t len, struct oci_config **out, kiln_error_t *err);

/* The same from a config already read as JSON. doc may sit inside a larger
 * document (kiln-agent gets the config as a request's params.spec): paths
 * in messages start at that document's root,
 * "params.spec.process.user.uid: expected unsigned integer". raw is NULL. */
int oci_config_parse_node(const kiln_json_t *doc, struct oci_config **out, kiln_error_t *err);

/* Reads and parses <bundle_dir>/config.json. Every error starts with that
 * path: "b/config.json: No such file or directory",
 * "b/config.json: process.user.uid: expected unsigned integer". */
int oci_config_load(const char *bundle_dir, struct oci_config **out, kiln_error_t *err);

/* Accepts NULL. */
void oci_config_free(struct oci_config *c);

static inline void oci_config_free_fn(struct oci_config **p)
{
	oci_config_free(*p);
}
#define cleanup_oci_config __attribute__((cleanup(oci_config_free_fn)))

/* One linux.seccomp object, as oci_config_parse() reads it (kiln-agent
 * reads the spec it is sent with this too). node NULL or a JSON null: *out
 * is NULL. An object with neither defaultAction nor syscalls reads as one
 * with a NULL default_action and no syscalls (runc: no filter). Errors name
 * node's JSON path: "linux.seccomp.syscalls[2].action: unknown action
 * \"SCMP_ACT_FOO\"". */
int oci_seccomp_parse(const kiln_json_t *node, struct oci_seccomp **out, kiln_error_t *err);
/* Accepts NULL. */
void oci_seccomp_free(struct oci_seccomp *s);

/* What `create` needs beyond a valid config: a process with a program to
 * run ("process: missing", "process.args: must not be empty",
 * "process.args[0]: must not be empty", "process.cwd: must be an absolute
 * path"). */
int oci_config_check_runnable(const struct oci_config *c, kiln_error_t *err);

/* A standalone process document (`kiln exec --process FILE`). Paths in its
 * messages start at that document's root, as it is the whole file:
 * "user.uid: expected unsigned integer", "args: must not be empty". */
int oci_process_parse(const char *text, size_t len, struct oci_process **out, kiln_error_t *err);
/* The same from a process object already read as JSON, as
 * oci_config_parse_node() reads a config (kiln-agent's exec requests:
 * "params.process.user.uid: expected unsigned integer"). */
int oci_process_parse_node(const kiln_json_t *node, struct oci_process **out, kiln_error_t *err);
/* The same from a file; errors start with the file's path. */
int oci_process_load(const char *path, struct oci_process **out, kiln_error_t *err);
/* The runnable checks of oci_config_check_runnable(), unprefixed. */
int oci_process_check_runnable(const struct oci_process *p, kiln_error_t *err);
/* Accepts NULL. */
void oci_process_free(struct oci_process *p);

static inline void oci_process_free_fn(struct oci_process **p)
{
	oci_process_free(*p);
}
#define cleanup_oci_process __attribute__((cleanup(oci_process_free_fn)))

/* Whether version is one kiln reads: "1.0.x" to "1.3.x", with any
 * "-suffix" or "+suffix" ("1.0.2-dev"). */
bool oci_version_supported(const char *version);

#endif
