/* `kiln features` (runtime-spec features.md) and `kiln spec` (runc's
 * libcontainer/specconv/example.go) documents. */
#include <ctype.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>

#include "common/json.h"
#include "common/util.h"
#include "oci/features.h"
#include "oci/names.h"

/* "key": {"enabled": value} */
static void gen_enabled(kiln_json_gen_t *g, const char *key, bool value)
{
	kiln_json_gen_key(g, key);
	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_bool(g, "enabled", value);
	kiln_json_gen_map_close(g);
}

static void gen_strv(kiln_json_gen_t *g, const char *key, const char *const *v, size_t n)
{
	kiln_json_gen_key(g, key);
	kiln_json_gen_array_open(g);
	for (size_t i = 0; i < n; i++)
		kiln_json_gen_string(g, v[i]);
	kiln_json_gen_array_close(g);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void gen_mount_options(kiln_json_gen_t *g)
{
	size_t n, k = 0;
	const struct oci_mount_option *opts = oci_mount_options(&n);
	cleanup_free const char **names = xcalloc(n, sizeof(char *));

	/* What the agent hands to mount(2); runtime-only ones it ignores. */
	for (size_t i = 0; i < n; i++)
		if (opts[i].kind != OCI_MOUNT_OPT_RUNTIME)
			names[k++] = opts[i].name;
	qsort(names, k, sizeof(char *), cmp_str);
	gen_strv(g, "mountOptions", names, k);
}

static void gen_capabilities(kiln_json_gen_t *g)
{
	kiln_json_gen_key(g, "capabilities");
	kiln_json_gen_array_open(g);
	for (cap_value_t v = 0; v < 64; v++) {
		char *name = cap_to_name(v);

		/* libcap names the ones it does not know by number. */
		if (name != NULL && strncmp(name, "cap_", 4) == 0) {
			cleanup_free char *upper = xstrdup(name);

			for (char *p = upper; *p; p++)
				*p = (char)toupper((unsigned char)*p);
			if (oci_capability_from_name(upper) == v)
				kiln_json_gen_string(g, upper);
		}
		cap_free(name);
	}
	kiln_json_gen_array_close(g);
}

static void gen_seccomp(kiln_json_gen_t *g)
{
	const struct oci_seccomp_action *actions;
	const struct oci_seccomp_operator *ops;
	const struct oci_seccomp_flag *flags;
	size_t nactions, nops, nflags;

	actions = oci_seccomp_actions(&nactions);
	ops = oci_seccomp_operators(&nops);
	flags = oci_seccomp_flags(&nflags);
	kiln_json_gen_key(g, "seccomp");
	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_bool(g, "enabled", true);
	kiln_json_gen_key(g, "actions");
	kiln_json_gen_array_open(g);
	for (size_t i = 0; i < nactions; i++)
		if (actions[i].supported)
			kiln_json_gen_string(g, actions[i].name);
	kiln_json_gen_array_close(g);
	kiln_json_gen_key(g, "operators");
	kiln_json_gen_array_open(g);
	for (size_t i = 0; i < nops; i++)
		kiln_json_gen_string(g, ops[i].name);
	kiln_json_gen_array_close(g);
	kiln_json_gen_key(g, "archs");
	kiln_json_gen_array_open(g);
	for (size_t i = 0; oci_seccomp_archs[i] != NULL; i++)
		if (oci_seccomp_arch_resolve(oci_seccomp_archs[i]) != 0)
			kiln_json_gen_string(g, oci_seccomp_archs[i]);
	kiln_json_gen_array_close(g);
	kiln_json_gen_key(g, "knownFlags");
	kiln_json_gen_array_open(g);
	for (size_t i = 0; i < nflags; i++)
		kiln_json_gen_string(g, flags[i].name);
	kiln_json_gen_array_close(g);
	kiln_json_gen_key(g, "supportedFlags");
	kiln_json_gen_array_open(g);
	for (size_t i = 0; i < nflags; i++)
		if (flags[i].supported)
			kiln_json_gen_string(g, flags[i].name);
	kiln_json_gen_array_close(g);
	kiln_json_gen_map_close(g);
}

int oci_features_json(char **out, size_t *len, kiln_error_t *err)
{
	cleanup_json_gen kiln_json_gen_t *g = kiln_json_gen_new(true);
	const struct scmp_version *sv = seccomp_version();
	cleanup_free char *seccomp_ver = NULL;

	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_string(g, "ociVersionMin", "1.0.0");
	kiln_json_gen_kv_string(g, "ociVersionMax", "1.3.0");
	kiln_json_gen_key(g, "hooks");
	kiln_json_gen_array_open(g);
	/* createContainer and startContainer would run inside the VM, where
	 * the host's programs are not (runtime/hooks.c) */
	for (int k = 0; k < OCI_HOOK_COUNT; k++)
		if (k != OCI_HOOK_CREATE_CONTAINER && k != OCI_HOOK_START_CONTAINER)
			kiln_json_gen_string(g, oci_hook_name(k));
	kiln_json_gen_array_close(g);
	gen_mount_options(g);

	kiln_json_gen_key(g, "linux");
	kiln_json_gen_map_open(g);
	kiln_json_gen_key(g, "namespaces");
	kiln_json_gen_array_open(g);
	for (int t = 0; t < OCI_NS_COUNT; t++)
		if (oci_namespace_supported(t))
			kiln_json_gen_string(g, oci_namespace_name(t));
	kiln_json_gen_array_close(g);
	gen_capabilities(g);
	/* The VMM process is what sits in the container's cgroup (v2 only);
	 * kiln does not drive systemd. */
	kiln_json_gen_key(g, "cgroup");
	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_bool(g, "v1", false);
	kiln_json_gen_kv_bool(g, "v2", true);
	kiln_json_gen_kv_bool(g, "systemd", false);
	kiln_json_gen_kv_bool(g, "systemdUser", false);
	kiln_json_gen_kv_bool(g, "rdma", false);
	kiln_json_gen_map_close(g);
	gen_seccomp(g);
	gen_enabled(g, "apparmor", false);
	gen_enabled(g, "selinux", false);
	gen_enabled(g, "intelRdt", false);
	/* idmapped mounts: the guest's disk is not idmapped; a user
	 * namespace sees its files as runc's does without them */
	kiln_json_gen_key(g, "mountExtensions");
	kiln_json_gen_map_open(g);
	gen_enabled(g, "idmap", false);
	kiln_json_gen_map_close(g);
	kiln_json_gen_map_close(g);

	kiln_json_gen_key(g, "annotations");
	kiln_json_gen_map_open(g);
	if (sv != NULL) {
		seccomp_ver = xasprintf("%u.%u.%u", sv->major, sv->minor, sv->micro);
		kiln_json_gen_kv_string(g, "io.github.seccomp.libseccomp.version", seccomp_ver);
	}
	/* Each container gets its own guest kernel. */
	kiln_json_gen_kv_string(g, "io.github.kiln.isolation", "microvm");
	kiln_json_gen_map_close(g);
	kiln_json_gen_map_close(g);
	if (kiln_json_gen_finish(g, out, len, err) < 0)
		return kiln_error_wrap(err, "features");
	return 0;
}

/* ---- `kiln spec` ---- */

static void gen_mount(kiln_json_gen_t *g, const char *dest, const char *type, const char *source,
		      const char *const *opts, size_t n)
{
	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_string(g, "destination", dest);
	kiln_json_gen_kv_string(g, "type", type);
	kiln_json_gen_kv_string(g, "source", source);
	if (n > 0)
		gen_strv(g, "options", opts, n);
	kiln_json_gen_map_close(g);
}

int oci_spec_default_json(char **out, size_t *len, kiln_error_t *err)
{
	static const char *const env[] = {
	    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	    "TERM=xterm",
	};
	static const char *const caps[] = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
	static const char *const capsets[] = {"bounding", "effective", "permitted", "ambient"};
	static const char *const dev_opts[] = {"nosuid", "strictatime", "mode=755", "size=65536k"};
	static const char *const pts_opts[] = {"nosuid",	"noexec",    "newinstance",
					       "ptmxmode=0666", "mode=0620", "gid=5"};
	static const char *const shm_opts[] = {"nosuid", "noexec", "nodev", "mode=1777",
					       "size=65536k"};
	static const char *const mqueue_opts[] = {"nosuid", "noexec", "nodev"};
	static const char *const sys_opts[] = {"nosuid", "noexec", "nodev", "ro"};
	static const char *const cgroup_opts[] = {"nosuid", "noexec", "nodev", "relatime", "ro"};
	static const char *const namespaces[] = {"pid", "network", "ipc", "uts", "mount", "cgroup"};
	static const char *const masked[] = {
	    "/proc/acpi",	   "/proc/asound",     "/proc/kcore",	    "/proc/keys",
	    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	    "/sys/firmware",	   "/proc/scsi",
	};
	static const char *const readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
					       "/proc/sysrq-trigger"};
	cleanup_json_gen kiln_json_gen_t *g = kiln_json_gen_new(true);

	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_string(g, "ociVersion", OCI_SPEC_VERSION);

	kiln_json_gen_key(g, "process");
	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_bool(g, "terminal", true);
	kiln_json_gen_key(g, "user");
	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_uint64(g, "uid", 0);
	kiln_json_gen_kv_uint64(g, "gid", 0);
	kiln_json_gen_map_close(g);
	gen_strv(g, "args", (const char *const[]){"sh"}, 1);
	gen_strv(g, "env", env, ARRAY_SIZE(env));
	kiln_json_gen_kv_string(g, "cwd", "/");
	kiln_json_gen_key(g, "capabilities");
	kiln_json_gen_map_open(g);
	for (size_t i = 0; i < ARRAY_SIZE(capsets); i++)
		gen_strv(g, capsets[i], caps, ARRAY_SIZE(caps));
	kiln_json_gen_map_close(g);
	kiln_json_gen_key(g, "rlimits");
	kiln_json_gen_array_open(g);
	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_string(g, "type", "RLIMIT_NOFILE");
	kiln_json_gen_kv_uint64(g, "hard", 1024);
	kiln_json_gen_kv_uint64(g, "soft", 1024);
	kiln_json_gen_map_close(g);
	kiln_json_gen_array_close(g);
	kiln_json_gen_kv_bool(g, "noNewPrivileges", true);
	kiln_json_gen_map_close(g);

	kiln_json_gen_key(g, "root");
	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_string(g, "path", "rootfs");
	kiln_json_gen_kv_bool(g, "readonly", true);
	kiln_json_gen_map_close(g);
	kiln_json_gen_kv_string(g, "hostname", "kiln");

	kiln_json_gen_key(g, "mounts");
	kiln_json_gen_array_open(g);
	gen_mount(g, "/proc", "proc", "proc", NULL, 0);
	gen_mount(g, "/dev", "tmpfs", "tmpfs", dev_opts, ARRAY_SIZE(dev_opts));
	gen_mount(g, "/dev/pts", "devpts", "devpts", pts_opts, ARRAY_SIZE(pts_opts));
	gen_mount(g, "/dev/shm", "tmpfs", "shm", shm_opts, ARRAY_SIZE(shm_opts));
	gen_mount(g, "/dev/mqueue", "mqueue", "mqueue", mqueue_opts, ARRAY_SIZE(mqueue_opts));
	gen_mount(g, "/sys", "sysfs", "sysfs", sys_opts, ARRAY_SIZE(sys_opts));
	gen_mount(g, "/sys/fs/cgroup", "cgroup", "cgroup", cgroup_opts, ARRAY_SIZE(cgroup_opts));
	kiln_json_gen_array_close(g);

	kiln_json_gen_key(g, "linux");
	kiln_json_gen_map_open(g);
	kiln_json_gen_key(g, "resources");
	kiln_json_gen_map_open(g);
	kiln_json_gen_key(g, "devices");
	kiln_json_gen_array_open(g);
	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_bool(g, "allow", false);
	kiln_json_gen_kv_string(g, "access", "rwm");
	kiln_json_gen_map_close(g);
	kiln_json_gen_array_close(g);
	kiln_json_gen_map_close(g);
	kiln_json_gen_key(g, "namespaces");
	kiln_json_gen_array_open(g);
	for (size_t i = 0; i < ARRAY_SIZE(namespaces); i++) {
		kiln_json_gen_map_open(g);
		kiln_json_gen_kv_string(g, "type", namespaces[i]);
		kiln_json_gen_map_close(g);
	}
	kiln_json_gen_array_close(g);
	gen_strv(g, "maskedPaths", masked, ARRAY_SIZE(masked));
	gen_strv(g, "readonlyPaths", readonly, ARRAY_SIZE(readonly));
	kiln_json_gen_map_close(g);
	kiln_json_gen_map_close(g);
	if (kiln_json_gen_finish(g, out, len, err) < 0)
		return kiln_error_wrap(err, "spec");
	return 0;
}
