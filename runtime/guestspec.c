/* The spec the guest agent gets. A bind mount names a host path, which does
 * not exist in the VM: each host directory or file a bind mount names
 * becomes a volume (runtime/volumes.h), shared by virtio-fs, and the mount
 * a bind mount of its entry in the guest's share, KILN_GUEST_VOLUMES/<N>,
 * with the spec's options (ro, nosuid, nodev, noexec, rbind, propagation).
 * Podman and containerd bind-mount small host files (/etc/hosts,
 * /etc/resolv.conf, /etc/hostname, /run/.containerenv) that they rewrite
 * while the container runs: a shared file follows them. The one exception
 * is /dev/shm, which a VM cannot share with the host's (its memory is the
 * guest's): it becomes a tmpfs.
 *
 * A namespace given by path is another container's (a pod's sandbox, a
 * podman pod's infra container), and that container is in another VM.
 * kiln-vmm joins the network, UTS and IPC ones on the host (create.c). In
 * the guest, a UTS, IPC or cgroup namespace cannot be shared across VMs:
 * the container gets a new one, and a UTS namespace lends it its hostname
 * when the spec names none, as a pod's containers take the sandbox's.
 * Joining a pid or mount namespace would promise the other container's
 * processes or files, and a user namespace its ID mappings and the
 * ownership of its files, so these are refused. A new user namespace
 * (no path) is made in the guest with the spec's mappings (agent/userns.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/io.h"
#include "common/json.h"
#include "common/util.h"
#include "oci/oci.h"
#include "proto/proto.h"
#include "runtime/runtime.h"
#include "runtime/volumes.h"

static bool is_bind(const struct oci_mount *m)
{
	if (m->type && streq(m->type, "bind"))
		return true;
	for (size_t i = 0; i < m->options.n; i++)
		if (streq(m->options.v[i], "bind") || streq(m->options.v[i], "rbind"))
			return true;
	return false;
}

static void gen_shm(kiln_json_gen_t *g)
{
	static const char *const opts[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"};

	kiln_json_gen_map_open(g);
	kiln_json_gen_key(g, "destination");
	kiln_json_gen_string(g, "/dev/shm");
	kiln_json_gen_key(g, "type");
	kiln_json_gen_string(g, "tmpfs");
	kiln_json_gen_key(g, "source");
	kiln_json_gen_string(g, "shm");
	kiln_json_gen_key(g, "options");
	kiln_json_gen_array_open(g);
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
		kiln_json_gen_string(g, opts[i]);
	kiln_json_gen_array_close(g);
	kiln_json_gen_map_close(g);
}

static bool has_option(const struct oci_mount *m, const char *opt)
{
	for (size_t i = 0; i < m->options.n; i++)
		if (streq(m->options.v[i], opt))
			return true;
	return false;
}

/* The mount node with its source replaced. */
static int gen_with_source(kiln_json_gen_t *g, const kiln_json_t *node, const char *source,
			   kiln_error_t *err)
{
	kiln_json_gen_map_open(g);
	for (size_t k = 0; k < kiln_json_object_len(node); k++) {
		const char *key = kiln_json_object_key(node, k);

		if (streq(key, "source"))
			continue;
		kiln_json_gen_key(g, key);
		if (proto_json_emit(g, kiln_json_object_value(node, k), err) < 0)
			return -1;
	}
	kiln_json_gen_key(g, "source");
	kiln_json_gen_string(g, source);
	kiln_json_gen_map_close(g);
	return 0;
}

/* One mount: kept as given, or a bind of a host path made a volume. */
static int gen_mount(kiln_json_gen_t *g, const kiln_json_t *node, const struct oci_mount *m,
		     size_t i, const char *bundle, struct kiln_volumes *vols, kiln_error_t *err)
{
	cleanup_free char *src = NULL;
	cleanup_free char *guest = NULL;
	struct stat st;
	size_t n;

	if (!is_bind(m) || m->source == NULL)
		return proto_json_emit(g, node, err);
	src = m->source[0] == '/' ? xstrdup(m->source) : xasprintf("%s/%s", bundle, m->source);
	if (stat(src, &st) < 0)
		return kiln_error_make(err, errno, "mounts[%zu].source %s", i, src);
	if (S_ISDIR(st.st_mode) && streq(m->destination, "/dev/shm")) {
		gen_shm(g);
		return 0;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return kiln_error_make(err, 0,
				       "mounts[%zu]: bind mount of host %s into %s: only "
				       "directories and regular files can be shared with the VM",
				       i, src, m->destination);
	n = kiln_volumes_add(vols, TAKE_PTR(src), S_ISDIR(st.st_mode), has_option(m, "ro"),
			     has_option(m, "rbind"));
	guest = xasprintf(KILN_GUEST_VOLUMES "/%zu", n);
	return gen_with_source(g, node, guest, err);
}

/* The hostname of the UTS namespace open at fd, read by a child that joins
 * it (kiln itself stays where it is). NULL if it cannot be read. */
static char *uts_hostname(int fd)
{
	struct utsname u;
	char name[sizeof(u.nodename)] = "";
	int pipefd[2];
	ssize_t n;
	pid_t pid;
	int st;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return NULL;
	pid = fork();
	if (pid == 0) {
		size_t len;

		close(pipefd[0]);
		if (setns(fd, CLONE_NEWUTS) < 0 || uname(&u) < 0)
			_exit(1);
		len = strnlen(u.nodename, sizeof(name) - 1);
		_exit(kiln_write_all(pipefd[1], u.nodename, len) < 0 ? 1 : 0);
	}
	close(pipefd[1]);
	n = pid < 0 ? -1 : kiln_read_full(pipefd[0], name, sizeof(name) - 1);
	close(pipefd[0]);
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || n <= 0)
		return NULL;
	name[n] = '\0';
	return xstrdup(name);
}

/* Checks linux.namespaces[i], given by path (see the top of this file).
 * When hostname is not NULL, *hostname gets the name a UTS namespace
 * lends. */
static int check_ns_path(const struct oci_namespace *ns, size_t i, char **hostname,
			 kiln_error_t *err)
{
	const char *name = oci_namespace_name(ns->type);
	cleanup_close int fd = -1;
	int type;

	if (ns->type == OCI_NS_PID || ns->type == OCI_NS_MOUNT || ns->type == OCI_NS_USER)
		return kiln_error_make(err, 0,
				       "linux.namespaces[%zu]: joining the %s namespace %s is not "
				       "supported (a VM cannot share it)",
				       i, name, ns->path);
	fd = open(ns->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_error_make(err, errno, "linux.namespaces[%zu].path %s", i, ns->path);
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type != oci_namespace_clone_flag(ns->type))
		return kiln_error_make(
		    err, 0, "linux.namespaces[%zu].path %s: not a namespace of type \"%s\"", i,
		    ns->path, name);
	if (ns->type == OCI_NS_UTS && hostname) {
		*hostname = uts_hostname(fd);
		if (*hostname == NULL)
			return kiln_error_make(err, 0,
					       "linux.namespaces[%zu].path %s: cannot read its "
					       "hostname",
					       i, ns->path);
	}
	return 0;
}

/* "linux" with its namespaces as the guest makes them: a path is kept only
 * for the network namespace (the agent leaves that one to the VM). */
static int gen_linux(kiln_json_gen_t *g, const kiln_json_t *node, const struct oci_linux *l,
		     kiln_error_t *err)
{
	kiln_json_gen_map_open(g);
	for (size_t k = 0; k < kiln_json_object_len(node); k++) {
		const char *key = kiln_json_object_key(node, k);

		kiln_json_gen_key(g, key);
		if (!streq(key, "namespaces")) {
			if (proto_json_emit(g, kiln_json_object_value(node, k), err) < 0)
				return -1;
			continue;
		}
		kiln_json_gen_array_open(g);
		for (size_t i = 0; i < l->n_namespaces; i++) {
			const struct oci_namespace *ns = &l->namespaces[i];

			kiln_json_gen_map_open(g);
			kiln_json_gen_key(g, "type");
			kiln_json_gen_string(g, oci_namespace_name(ns->type));
			if (ns->path && ns->type == OCI_NS_NETWORK) {
				kiln_json_gen_key(g, "path");
				kiln_json_gen_string(g, ns->path);
			}
			kiln_json_gen_map_close(g);
		}
		kiln_json_gen_array_close(g);
	}
	kiln_json_gen_map_close(g);
	return 0;
}

int kiln_guest_spec(const struct oci_config *cfg, const char *bundle, char **out, size_t *len,
		    struct kiln_volumes *vols, kiln_error_t *err)
{
	cleanup_json kiln_json_t *doc = NULL;
	cleanup_json_gen kiln_json_gen_t *g = kiln_json_gen_new(true);
	cleanup_free char *lent_hostname = NULL;
	const kiln_json_t *mounts = NULL;
	int r = -1;

	*vols = (struct kiln_volumes){0};
	for (size_t i = 0; cfg->linux_spec && i < cfg->linux_spec->n_namespaces; i++) {
		const struct oci_namespace *ns = &cfg->linux_spec->namespaces[i];

		if (ns->path && ns->path[0] && ns->type != OCI_NS_NETWORK &&
		    check_ns_path(ns, i, cfg->hostname ? NULL : &lent_hostname, err) < 0)
			return -1;
	}
	if (kiln_json_parse(cfg->raw, cfg->raw_len, &doc, err) < 0)
		return -1;
	kiln_json_get_array(doc, "mounts", &mounts, NULL);
	kiln_json_gen_map_open(g);
	for (size_t k = 0; k < kiln_json_object_len(doc); k++) {
		const char *key = kiln_json_object_key(doc, k);
		const kiln_json_t *value = kiln_json_object_value(doc, k);

		kiln_json_gen_key(g, key);
		if (streq(key, "linux") && cfg->linux_spec) {
			if (gen_linux(g, value, cfg->linux_spec, err) < 0)
				goto out;
			continue;
		}
		if (!streq(key, "mounts") || mounts == NULL) {
			if (proto_json_emit(g, value, err) < 0)
				goto out;
			continue;
		}
		kiln_json_gen_array_open(g);
		for (size_t i = 0; i < kiln_json_array_len(mounts) && i < cfg->n_mounts; i++)
			if (gen_mount(g, kiln_json_array_get(mounts, i), &cfg->mounts[i], i, bundle,
				      vols, err) < 0)
				goto out;
		kiln_json_gen_array_close(g);
	}
	if (lent_hostname) {
		kiln_json_gen_key(g, "hostname");
		kiln_json_gen_string(g, lent_hostname);
	}
	kiln_json_gen_map_close(g);
	r = kiln_json_gen_finish(g, out, len, err);
out:
	if (r < 0)
		kiln_volumes_release(vols);
	return r;
}
