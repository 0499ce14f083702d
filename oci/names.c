/* OCI runtime-spec names → Linux values (config.md, config-linux.md). */
#include <ctype.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "common/util.h"
#include "oci/names.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x80
#endif

static const struct {
	const char *name;
	int flag;
	bool supported;
} namespaces[OCI_NS_COUNT] = {
    [OCI_NS_PID] = {"pid", CLONE_NEWPID, true},
    [OCI_NS_NETWORK] = {"network", CLONE_NEWNET, true},
    [OCI_NS_MOUNT] = {"mount", CLONE_NEWNS, true},
    [OCI_NS_IPC] = {"ipc", CLONE_NEWIPC, true},
    [OCI_NS_UTS] = {"uts", CLONE_NEWUTS, true},
    [OCI_NS_USER] = {"user", CLONE_NEWUSER, true},
    [OCI_NS_CGROUP] = {"cgroup", CLONE_NEWCGROUP, true},
    [OCI_NS_TIME] = {"time", CLONE_NEWTIME, false},
};

int oci_namespace_from_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(namespaces); i++)
		if (streq(namespaces[i].name, name))
			return (int)i;
	return -1;
}

const char *oci_namespace_name(enum oci_namespace_type type)
{
	return (unsigned)type < OCI_NS_COUNT ? namespaces[type].name : NULL;
}

int oci_namespace_clone_flag(enum oci_namespace_type type)
{
	return (unsigned)type < OCI_NS_COUNT ? namespaces[type].flag : 0;
}

bool oci_namespace_supported(enum oci_namespace_type type)
{
	return (unsigned)type < OCI_NS_COUNT && namespaces[type].supported;
}

static const struct {
	const char *name;
	int resource;
} rlimits[] = {
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

int oci_rlimit_from_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(rlimits); i++)
		if (streq(rlimits[i].name, name))
			return rlimits[i].resource;
	return -1;
}

const char *oci_rlimit_name(int resource)
{
	for (size_t i = 0; i < ARRAY_SIZE(rlimits); i++)
		if (rlimits[i].resource == resource)
			return rlimits[i].name;
	return NULL;
}

int oci_capability_from_name(const char *name)
{
	cap_value_t v;

	if (strncmp(name, "CAP_", 4) != 0 || name[4] == '\0')
		return -1;
	/* libcap also takes numbers and lower case; the spec does not. */
	for (const char *p = name + 4; *p; p++)
		if (!(isupper((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_'))
			return -1;
	if (isdigit((unsigned char)name[4]))
		return -1;
	if (cap_from_name(name, &v) < 0 || v < 0 || v > 63)
		return -1;
	return v;
}

/* mount(8) option names, as runc and crun read them. */
static const struct oci_mount_option mount_options[] = {
    {"defaults", OCI_MOUNT_OPT_SET, 0},
    {"ro", OCI_MOUNT_OPT_SET, MS_RDONLY},
    {"rw", OCI_MOUNT_OPT_CLEAR, MS_RDONLY},
    {"suid", OCI_MOUNT_OPT_CLEAR, MS_NOSUID},
    {"nosuid", OCI_MOUNT_OPT_SET, MS_NOSUID},
    {"dev", OCI_MOUNT_OPT_CLEAR, MS_NODEV},
    {"nodev", OCI_MOUNT_OPT_SET, MS_NODEV},
    {"exec", OCI_MOUNT_OPT_CLEAR, MS_NOEXEC},
    {"noexec", OCI_MOUNT_OPT_SET, MS_NOEXEC},
    {"sync", OCI_MOUNT_OPT_SET, MS_SYNCHRONOUS},
    {"async", OCI_MOUNT_OPT_CLEAR, MS_SYNCHRONOUS},
    {"dirsync", OCI_MOUNT_OPT_SET, MS_DIRSYNC},
    {"remount", OCI_MOUNT_OPT_SET, MS_REMOUNT},
    {"mand", OCI_MOUNT_OPT_SET, MS_MANDLOCK},
    {"nomand", OCI_MOUNT_OPT_CLEAR, MS_MANDLOCK},
    {"atime", OCI_MOUNT_OPT_CLEAR, MS_NOATIME},
    {"noatime", OCI_MOUNT_OPT_SET, MS_NOATIME},
    {"diratime", OCI_MOUNT_OPT_CLEAR, MS_NODIRATIME},
    {"nodiratime", OCI_MOUNT_OPT_SET, MS_NODIRATIME},
    {"relatime", OCI_MOUNT_OPT_SET, MS_RELATIME},
    {"norelatime", OCI_MOUNT_OPT_CLEAR, MS_RELATIME},
    {"strictatime", OCI_MOUNT_OPT_SET, MS_STRICTATIME},
    {"nostrictatime", OCI_MOUNT_OPT_CLEAR, MS_STRICTATIME},
    {"silent", OCI_MOUNT_OPT_SET, MS_SILENT},
    {"loud", OCI_MOUNT_OPT_CLEAR, MS_SILENT},
    {"private", OCI_MOUNT_OPT_PROPAGATION, MS_PRIVATE},
    {"rprivate", OCI_MOUNT_OPT_PROPAGATION, MS_PRIVATE | MS_REC},
    {"shared", OCI_MOUNT_OPT_PROPAGATION, MS_SHARED},
    {"rshared", OCI_MOUNT_OPT_PROPAGATION, MS_SHARED | MS_REC},
    {"slave", OCI_MOUNT_OPT_PROPAGATION, MS_SLAVE},
    {"rslave", OCI_MOUNT_OPT_PROPAGATION, MS_SLAVE | MS_REC},
    {"unbindable", OCI_MOUNT_OPT_PROPAGATION, MS_UNBINDABLE},
    {"runbindable", OCI_MOUNT_OPT_PROPAGATION, MS_UNBINDABLE | MS_REC},
    {"bind", OCI_MOUNT_OPT_BIND, MS_BIND},
    {"rbind", OCI_MOUNT_OPT_BIND, MS_BIND | MS_REC},
    /* podman's: copy the image's files up into a tmpfs. */
    {"tmpcopyup", OCI_MOUNT_OPT_RUNTIME, 0},
    {"notmpcopyup", OCI_MOUNT_OPT_RUNTIME, 0},
};

static const struct oci_mount_option runtime_option = {"x-", OCI_MOUNT_OPT_RUNTIME, 0};

const struct oci_mount_option *oci_mount_option_lookup(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(mount_options); i++)
		if (streq(mount_options[i].name, name))
			return &mount_options[i];
	if (strncmp(name, "x-", 2) == 0)
		return &runtime_option;
	return NULL;
}

const struct oci_mount_option *oci_mount_options(size_t *n)
{
	*n = ARRAY_SIZE(mount_options);
	return mount_options;
}

static const char *const hook_names[OCI_HOOK_COUNT] = {
    [OCI_HOOK_PRESTART] = "prestart",
    [OCI_HOOK_CREATE_RUNTIME] = "createRuntime",
    [OCI_HOOK_CREATE_CONTAINER] = "createContainer",
    [OCI_HOOK_START_CONTAINER] = "startContainer",
    [OCI_HOOK_POSTSTART] = "poststart",
    [OCI_HOOK_POSTSTOP] = "poststop",
};

const char *oci_hook_name(enum oci_hook_kind kind)
{
	return (unsigned)kind < OCI_HOOK_COUNT ? hook_names[kind] : NULL;
}

static const struct oci_seccomp_action seccomp_actions[] = {
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false, true},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true, true},
    {"SCMP_ACT_KILL", SCMP_ACT_KILL, false, true},
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false, true},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false, true},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG, false, true},
    {"SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY, false, false},
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true, true},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP, false, true},
};

static const struct oci_seccomp_operator seccomp_operators[] = {
    {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
    {"SCMP_CMP_NE", SCMP_CMP_NE},
};

static const struct oci_seccomp_flag seccomp_flags[OCI_SECCOMP_FLAG_COUNT] = {
    [OCI_SECCOMP_FLAG_TSYNC] = {"SECCOMP_FILTER_FLAG_TSYNC", SCMP_FLTATR_CTL_TSYNC, true},
    [OCI_SECCOMP_FLAG_LOG] = {"SECCOMP_FILTER_FLAG_LOG", SCMP_FLTATR_CTL_LOG, true},
    [OCI_SECCOMP_FLAG_SPEC_ALLOW] = {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SCMP_FLTATR_CTL_SSB, true},
    [OCI_SECCOMP_FLAG_WAIT_KILLABLE_RECV] = {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
					     _SCMP_FLTATR_MIN, false},
};

const struct oci_seccomp_action *oci_seccomp_actions(size_t *n)
{
	*n = ARRAY_SIZE(seccomp_actions);
	return seccomp_actions;
}

const struct oci_seccomp_operator *oci_seccomp_operators(size_t *n)
{
	*n = ARRAY_SIZE(seccomp_operators);
	return seccomp_operators;
}

const struct oci_seccomp_flag *oci_seccomp_flags(size_t *n)
{
	*n = ARRAY_SIZE(seccomp_flags);
	return seccomp_flags;
}

/* The entry of table (an array of structs with a name member) named key,
 * or NULL. */
#define FIND_NAMED(table, key)                                                                     \
	({                                                                                         \
		__typeof__(&(table)[0]) found_ = NULL;                                             \
		for (size_t i_ = 0; i_ < ARRAY_SIZE(table) && found_ == NULL; i_++)                \
			if (streq((table)[i_].name, (key)))                                        \
				found_ = &(table)[i_];                                             \
		found_;                                                                            \
	})

const struct oci_seccomp_action *oci_seccomp_action_lookup(const char *name)
{
	return FIND_NAMED(seccomp_actions, name);
}

const struct oci_seccomp_operator *oci_seccomp_operator_lookup(const char *name)
{
	return FIND_NAMED(seccomp_operators, name);
}

const struct oci_seccomp_flag *oci_seccomp_flag_lookup(const char *name)
{
	return FIND_NAMED(seccomp_flags, name);
}

bool oci_seccomp_action_supported(const char *name)
{
	const struct oci_seccomp_action *a = oci_seccomp_action_lookup(name);

	return a != NULL && a->supported;
}

bool oci_seccomp_flag_supported(const char *name)
{
	const struct oci_seccomp_flag *f = oci_seccomp_flag_lookup(name);

	return f != NULL && f->supported;
}

const char *const oci_seccomp_archs[] = {
    "SCMP_ARCH_X86",	 "SCMP_ARCH_X86_64",   "SCMP_ARCH_X32",		"SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",     "SCMP_ARCH_MIPS64",	"SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",	 "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",	 "SCMP_ARCH_PPC64LE",  "SCMP_ARCH_S390",	"SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",	 "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",	"SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",	 "SCMP_ARCH_SH",       "SCMP_ARCH_SHEB",	NULL,
};

int oci_name_index(const char *const *list, const char *name)
{
	for (int i = 0; list[i] != NULL; i++)
		if (streq(list[i], name))
			return i;
	return -1;
}

uint32_t oci_seccomp_arch_resolve(const char *name)
{
	char lower[32];
	size_t n;

	if (strncmp(name, "SCMP_ARCH_", 10) != 0)
		return 0;
	n = strlen(name + 10);
	if (n == 0 || n >= sizeof(lower))
		return 0;
	/* libseccomp's names are the lower-case suffixes ("x86_64"). */
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)tolower((unsigned char)name[10 + i]);
	return seccomp_arch_resolve_name(lower);
}
