/* The name tables of the OCI runtime-spec, in one place: what the config
 * parser accepts, what `kiln features` reports and what kiln-agent turns
 * into system calls all come from here, so the three cannot disagree. */
#ifndef KILN_OCI_NAMES_H
#define KILN_OCI_NAMES_H

#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* config-linux.md#namespaces */
enum oci_namespace_type {
	OCI_NS_PID,
	OCI_NS_NETWORK,
	OCI_NS_MOUNT,
	OCI_NS_IPC,
	OCI_NS_UTS,
	OCI_NS_USER,
	OCI_NS_CGROUP,
	OCI_NS_TIME,
	OCI_NS_COUNT,
};

/* "pid" → OCI_NS_PID; -1 for a name the spec does not define. */
int oci_namespace_from_name(const char *name);
const char *oci_namespace_name(enum oci_namespace_type type);
/* CLONE_NEWPID etc. */
int oci_namespace_clone_flag(enum oci_namespace_type type);
/* Whether kiln honours the type: the agent creates it in the guest (a
 * "user" one with the spec's mappings), or (for "network") the VMM joins it
 * on the host, as the VM is the network boundary. "time" is not
 * supported. */
bool oci_namespace_supported(enum oci_namespace_type type);

/* "RLIMIT_NOFILE" → RLIMIT_NOFILE; -1 when unknown. */
int oci_rlimit_from_name(const char *name);
/* RLIMIT_NOFILE → "RLIMIT_NOFILE"; NULL when unknown. */
const char *oci_rlimit_name(int resource);

/* "CAP_CHOWN" → CAP_CHOWN (0..63), as libcap knows it; -1 when unknown.
 * Only the upper-case "CAP_" form of the spec is accepted. */
int oci_capability_from_name(const char *name);

/* Mount options (config.md#mounts, mount(8)) the agent turns into mount(2)
 * flags; anything else in "options" goes to the filesystem as data. */
enum oci_mount_option_kind {
	OCI_MOUNT_OPT_SET,	   /* sets flag ("ro", "nosuid") */
	OCI_MOUNT_OPT_CLEAR,	   /* clears flag ("rw", "suid") */
	OCI_MOUNT_OPT_PROPAGATION, /* flag is the propagation ("rprivate") */
	OCI_MOUNT_OPT_BIND,	   /* a bind mount; flag is MS_BIND[|MS_REC] */
	OCI_MOUNT_OPT_RUNTIME,	   /* for the runtime, never the kernel ("tmpcopyup") */
};

struct oci_mount_option {
	const char *name;
	enum oci_mount_option_kind kind;
	unsigned long flag; /* MS_* */
};

/* The entry for name, or NULL. Options starting "x-" (podman's, for the
 * runtime) read as OCI_MOUNT_OPT_RUNTIME entries. */
const struct oci_mount_option *oci_mount_option_lookup(const char *name);
/* The whole table, for `features`. */
const struct oci_mount_option *oci_mount_options(size_t *n);

/* config.md#posix-platform-hooks, in the order a container meets them. */
enum oci_hook_kind {
	OCI_HOOK_PRESTART,
	OCI_HOOK_CREATE_RUNTIME,
	OCI_HOOK_CREATE_CONTAINER,
	OCI_HOOK_START_CONTAINER,
	OCI_HOOK_POSTSTART,
	OCI_HOOK_POSTSTOP,
	OCI_HOOK_COUNT,
};

const char *oci_hook_name(enum oci_hook_kind kind);

/* Seccomp names (config-linux.md#seccomp) with their libseccomp values,
 * one table per kind, each holding every name the spec defines; `supported`
 * says which of them kiln-agent can apply (what `features` reports). */
struct oci_seccomp_action {
	const char *name; /* "SCMP_ACT_ERRNO" */
	/* SCMP_ACT_*; for the two that take an errno, with errno 0: the
	 * action is value | errnoRet (SCMP_ACT_ERRNO(n) == SCMP_ACT_ERRNO(0) | n). */
	uint32_t value;
	bool takes_errno; /* SCMP_ACT_ERRNO, SCMP_ACT_TRACE */
	bool supported;	  /* SCMP_ACT_NOTIFY needs a listener the agent lacks */
};

struct oci_seccomp_operator {
	const char *name; /* "SCMP_CMP_EQ" */
	enum scmp_compare value;
};

/* The filter flags, by index in the flag table. */
enum oci_seccomp_flag_index {
	OCI_SECCOMP_FLAG_TSYNC,
	OCI_SECCOMP_FLAG_LOG,
	OCI_SECCOMP_FLAG_SPEC_ALLOW,
	OCI_SECCOMP_FLAG_WAIT_KILLABLE_RECV,
	OCI_SECCOMP_FLAG_COUNT,
};

struct oci_seccomp_flag {
	const char *name; /* "SECCOMP_FILTER_FLAG_TSYNC" */
	/* The filter attribute that sets it (to 1); _SCMP_FLTATR_MIN for one
	 * this libseccomp has none for, which is then not supported. */
	enum scmp_filter_attr attr;
	/* SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV only matters with
	 * SCMP_ACT_NOTIFY. */
	bool supported;
};

/* The whole tables, in a fixed order (the flags' by their index); *n
 * entries. */
const struct oci_seccomp_action *oci_seccomp_actions(size_t *n);
const struct oci_seccomp_operator *oci_seccomp_operators(size_t *n);
const struct oci_seccomp_flag *oci_seccomp_flags(size_t *n);

/* The entry for name, or NULL for a name the spec does not define. */
const struct oci_seccomp_action *oci_seccomp_action_lookup(const char *name);
const struct oci_seccomp_operator *oci_seccomp_operator_lookup(const char *name);
const struct oci_seccomp_flag *oci_seccomp_flag_lookup(const char *name);

/* Whether name is a spec name that kiln-agent applies. */
bool oci_seccomp_action_supported(const char *name);
bool oci_seccomp_flag_supported(const char *name);

/* Every SCMP_ARCH_* name the spec defines, NULL-terminated. Their values
 * are libseccomp's own, through oci_seccomp_arch_resolve(). */
extern const char *const oci_seccomp_archs[];

/* Index of name in a NULL-terminated list, or -1. */
int oci_name_index(const char *const *list, const char *name);

/* "SCMP_ARCH_X86_64" → SCMP_ARCH_X86_64 as this libseccomp resolves it; 0
 * for a name it does not know. */
uint32_t oci_seccomp_arch_resolve(const char *name);

#endif
