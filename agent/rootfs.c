#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/rootfs.h"
#include "agent/sysctl.h"
#include "common/io.h"
#include "common/util.h"

int agent_disk_find(const char *sysblock, const char *serial, char **dev, kiln_error_t *err)
{
	cleanup_closedir DIR *d = opendir(sysblock);
	cleanup_free char *seen = xstrdup("");
	struct dirent *de;

	if (d == NULL)
		return kiln_error_make(err, errno, "rootfs: cannot list %s", sysblock);
	while ((de = readdir(d)) != NULL) {
		cleanup_free char *path = NULL, *value = NULL;
		kiln_error_t ignored = NULL;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s/serial", sysblock, de->d_name);
		if (kiln_read_file(path, 256, &value, &len, &ignored) < 0) {
			kiln_error_free(&ignored);
			continue;
		}
		while (len > 0 && (value[len - 1] == '\n' || value[len - 1] == ' '))
			value[--len] = '\0';
		if (streq(value, serial)) {
			*dev = xasprintf("/dev/%s", de->d_name);
			return 0;
		}
		{
			char *s =
			    xasprintf("%s%s%s=%s", seen, seen[0] ? ", " : "", de->d_name, value);

			free(seen);
			seen = s;
		}
	}
	return kiln_error_make(err, ENODEV, "rootfs: no disk with drive id \"%s\" (disks: %s)",
			       serial, seen[0] ? seen : "none");
}

static int openat2_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
	    .flags = (uint64_t)flags | O_CLOEXEC,
	    .mode = mode,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	do
		fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	return fd;
}

int agent_path_in_root(int rootfd, const char *dest, bool as_file, kiln_error_t *err)
{
	cleanup_free char *path = xstrdup(dest);
	char *p = path;
	int fd;

	/* Walk the components, creating the missing ones: each parent is
	 * resolved inside the root, and the new entry is a single name
	 * made under that parent, so a symlink cannot lead outside. */
	while (*p == '/')
		p++;
	for (;;) {
		char *slash = strchr(p, '/');
		bool last;

		if (slash != NULL)
			*slash = '\0';
		last = slash == NULL || slash[1] == '\0';
		if (*p != '\0') {
			fd = openat2_in_root(rootfd, path, O_PATH, 0);
			if (fd < 0 && errno == ENOENT) {
				cleanup_close int parent = -1;
				char *name = strrchr(path, '/');

				if (name != NULL) {
					*name = '\0';
					parent = openat2_in_root(rootfd, path[0] ? path : "/",
								 O_PATH | O_DIRECTORY, 0);
					*name = '/';
					name++;
				} else {
					parent =
					    openat2_in_root(rootfd, "/", O_PATH | O_DIRECTORY, 0);
					name = path;
				}
				if (parent < 0)
					return kiln_error_make(err, errno, "%s: cannot resolve",
							       dest);
				if (last && as_file) {
					cleanup_close int parentdir =
					    openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
					int f =
					    parentdir < 0
						? -1
						: openat(parentdir, name,
							 O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
							 0644);

					if (f < 0 && errno != EEXIST)
						return kiln_error_make(err, errno,
								       "%s: cannot create", dest);
					if (f >= 0)
						close(f);
				} else {
					cleanup_close int parentdir =
					    openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

					if (parentdir < 0 ||
					    (mkdirat(parentdir, name, 0755) < 0 && errno != EEXIST))
						return kiln_error_make(err, errno,
								       "%s: cannot create", dest);
				}
				fd = openat2_in_root(rootfd, path, O_PATH, 0);
			}
			if (fd < 0)
				return kiln_error_make(err, errno, "%s: cannot resolve", dest);
			if (last)
				return fd;
			close(fd);
		}
		if (slash == NULL || slash[1] == '\0')
			break;
		*slash = '/';
		p = slash + 1;
	}
	/* dest was "/" */
	fd = openat2_in_root(rootfd, "/", O_PATH, 0);
	if (fd < 0)
		return kiln_error_make(err, errno, "%s: cannot resolve", dest);
	return fd;
}

/* mount(2) onto an O_PATH fd, through its /proc/self/fd link, so the
 * target is exactly what was resolved. */
static int mount_on_fd(const char *source, int fd, const char *type, unsigned long flags,
		       const char *data)
{
	char target[64];

	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	return mount(source, target, type, flags, data);
}

#define FUSE_SUPER_MAGIC 0x65735546 /* virtio-fs is FUSE's */

int agent_volumes_mount(const struct proto_volumes *v, kiln_error_t *err)
{
	cleanup_free char *path = xstrdup(v->path);
	struct statfs sf;

	/* mkdir -p; the path has no "." or ".." (proto/proto.c) */
	for (char *s = strchr(path + 1, '/');; s = strchr(s + 1, '/')) {
		if (s)
			*s = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return kiln_error_make(err, errno, "volumes: mkdir %s", path);
		if (s == NULL)
			break;
		*s = '/';
	}
	if (statfs(v->path, &sf) == 0 && sf.f_type == FUSE_SUPER_MAGIC)
		return 0;
	if (mount(v->tag, v->path, "virtiofs", MS_NOSUID | MS_NODEV, NULL) < 0)
		return kiln_error_make(err, errno, "volumes: mount virtio-fs tag \"%s\" on %s%s",
				       v->tag, v->path,
				       errno == ENODEV ? " (no virtiofs in the guest kernel)" : "");
	return 0;
}

int agent_rootfs_mount(const char *dir, const char *dev, const struct proto_rootfs *r,
		       char **rootfs, kiln_error_t *err)
{
	cleanup_free char *root = xasprintf("%s/rootfs", dir);
	unsigned long ro = r->readonly || r->overlay ? MS_RDONLY : 0;

	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		return kiln_error_make(err, errno, "rootfs: mkdir %s", root);
	if (!r->overlay) {
		if (mount(dev, root, r->fstype, ro, NULL) < 0)
			return kiln_error_make(err, errno, "rootfs: mount %s (%s) on %s", dev,
					       r->fstype, root);
	} else {
		cleanup_free char *lower = xasprintf("%s/lower", dir);
		cleanup_free char *rw = xasprintf("%s/rw", dir);
		cleanup_free char *upper = xasprintf("%s/rw/upper", dir);
		cleanup_free char *work = xasprintf("%s/rw/work", dir);
		cleanup_free char *opts = NULL;

		if ((mkdir(lower, 0755) < 0 && errno != EEXIST) ||
		    (mkdir(rw, 0755) < 0 && errno != EEXIST))
			return kiln_error_make(err, errno, "rootfs: mkdir under %s", dir);
		if (mount(dev, lower, r->fstype, MS_RDONLY, NULL) < 0)
			return kiln_error_make(err, errno, "rootfs: mount %s (%s) on %s", dev,
					       r->fstype, lower);
		if (mount("tmpfs", rw, "tmpfs", 0, "mode=0755") < 0)
			return kiln_error_make(err, errno, "rootfs: mount tmpfs on %s", rw);
		if ((mkdir(upper, 0755) < 0 && errno != EEXIST) ||
		    (mkdir(work, 0755) < 0 && errno != EEXIST))
			return kiln_error_make(err, errno, "rootfs: mkdir under %s", rw);
		opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
		if (mount("overlay", root, "overlay", 0, opts) < 0)
			return kiln_error_make(err, errno, "rootfs: mount overlay on %s", root);
	}
	*rootfs = TAKE_PTR(root);
	return 0;
}

/* Flags a remount may change on a bind mount. */
#define BIND_REMOUNT_FLAGS                                                                         \
	(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | \
	 MS_STRICTATIME)

static int mount_one(int rootfd, const struct agent_mount *m, kiln_error_t *err)
{
	cleanup_close int target = -1;
	bool as_file = false;
	const char *type = m->type;

	if (m->bind) {
		struct stat st;

		if (stat(m->source, &st) < 0)
			return kiln_error_make(err, errno, "mount %s: source %s", m->destination,
					       m->source);
		as_file = !S_ISDIR(st.st_mode);
	}
	target = agent_path_in_root(rootfd, m->destination, as_file, err);
	if (target < 0)
		return kiln_error_wrap(err, "mount %s", m->destination);
	/* The guest has the unified hierarchy only. */
	if (streq(type, "cgroup"))
		type = "cgroup2";
	if (m->bind) {
		if (mount_on_fd(m->source, target, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
			return kiln_error_make(err, errno, "mount %s: bind %s", m->destination,
					       m->source);
		if (m->flags & BIND_REMOUNT_FLAGS) {
			close(target);
			target = agent_path_in_root(rootfd, m->destination, as_file, err);
			if (target < 0)
				return -1;
			if (mount_on_fd(NULL, target, NULL,
					MS_BIND | MS_REMOUNT | (m->flags & BIND_REMOUNT_FLAGS),
					NULL) < 0)
				return kiln_error_make(err, errno, "mount %s: remount",
						       m->destination);
		}
	} else {
		if (mount_on_fd(m->source, target, type, m->flags & ~(MS_BIND | MS_REC), m->data) <
		    0)
			return kiln_error_make(err, errno, "mount %s (%s%s%s)", m->destination,
					       type, m->data ? ", " : "", m->data ? m->data : "");
	}
	if (m->propagation != 0) {
		close(target);
		target = agent_path_in_root(rootfd, m->destination, as_file, err);
		if (target < 0)
			return -1;
		if (mount_on_fd(NULL, target, NULL, m->propagation, NULL) < 0)
			return kiln_error_make(err, errno, "mount %s: propagation", m->destination);
	}
	return 0;
}

static const struct {
	const char *name;
	unsigned maj, min;
} default_devices[] = {
    {"null", 1, 3},   {"zero", 1, 5},	 {"full", 1, 7},
    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

static const struct {
	const char *name, *target;
} dev_links[] = {
    {"fd", "/proc/self/fd"},	   {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
    {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"},	 {"core", "/proc/kcore"},
};

/* runc's default devices and links, for a /dev the spec mounts fresh. */
static int populate_dev(int rootfd, kiln_error_t *err)
{
	cleanup_close int devp = agent_path_in_root(rootfd, "/dev", false, err);
	cleanup_close int dev = -1;

	if (devp < 0)
		return -1;
	dev = openat(devp, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dev < 0)
		return kiln_error_make(err, errno, "/dev");
	for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++) {
		if (mknodat(dev, default_devices[i].name, S_IFCHR | 0666,
			    makedev(default_devices[i].maj, default_devices[i].min)) < 0 &&
		    errno != EEXIST)
			return kiln_error_make(err, errno, "/dev/%s", default_devices[i].name);
		/* mknod applies the umask. */
		fchmodat(dev, default_devices[i].name, 0666, 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(dev_links); i++)
		if (symlinkat(dev_links[i].target, dev, dev_links[i].name) < 0 && errno != EEXIST)
			return kiln_error_make(err, errno, "/dev/%s", dev_links[i].name);
	return 0;
}

/* linux.devices: each node made under the container's root (after the
 * mounts, so a fresh /dev holds them), as runc makes them: a node that
 * exists already is left as it is; the mode is set again past the umask;
 * the owner is the container's uid/gid, which with a user namespace is the
 * guest's ID it maps to. The numbers name the guest kernel's devices. */
static int make_devices(int rootfd, const struct agent_spec *s, kiln_error_t *err)
{
	for (size_t i = 0; i < s->ndevices; i++) {
		const struct agent_device *d = &s->devices[i];
		cleanup_free char *dir = xstrdup(d->path);
		cleanup_close int parent = -1, pfd = -1;
		char *name = strrchr(dir, '/');
		uint32_t uid = agent_idmap_to_host(s->uid_maps, s->nuid_maps, d->uid);
		uint32_t gid = agent_idmap_to_host(s->gid_maps, s->ngid_maps, d->gid);

		*name++ = '\0';
		if (*name == '\0' || streq(name, ".") || streq(name, ".."))
			return kiln_error_make(
			    err, 0, "linux.devices[%zu].path %s: not a file name", i, d->path);
		if (uid == (uint32_t)-1 || gid == (uint32_t)-1)
			return kiln_error_make(err, 0,
					       "linux.devices[%zu] %s: uid %u or gid %u has no "
					       "mapping in the user namespace",
					       i, d->path, (unsigned)d->uid, (unsigned)d->gid);
		pfd = agent_path_in_root(rootfd, dir[0] ? dir : "/", false, err);
		if (pfd < 0)
			return kiln_error_wrap(err, "linux.devices[%zu]", i);
		parent = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (parent < 0)
			return kiln_error_make(err, errno, "linux.devices[%zu]: %s", i, dir);
		if (mknodat(parent, name, d->type | d->mode, d->rdev) < 0) {
			if (errno == EEXIST)
				continue;
			return kiln_error_make(err, errno, "linux.devices[%zu]: mknod %s", i,
					       d->path);
		}
		if (fchmodat(parent, name, d->mode, 0) < 0 ||
		    fchownat(parent, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			return kiln_error_make(err, errno, "linux.devices[%zu]: %s", i, d->path);
	}
	return 0;
}

static int pivot_into(const char *rootfs, kiln_error_t *err)
{
	if (chdir(rootfs) < 0)
		return kiln_error_make(err, errno, "chdir %s", rootfs);
	/* pivot_root(".", ".") stacks the old root on top of the new one;
	 * detaching it leaves only the new root (runc's trick). */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return kiln_error_make(err, errno, "pivot_root %s", rootfs);
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return kiln_error_make(err, errno, "old root: make slave");
	if (umount2(".", MNT_DETACH) < 0)
		return kiln_error_make(err, errno, "old root: detach");
	if (chdir("/") < 0)
		return kiln_error_make(err, errno, "chdir /");
	return 0;
}

static int mask_paths(const struct agent_spec *s, kiln_error_t *err)
{
	for (size_t i = 0; i < s->nmasked; i++) {
		const char *p = s->masked_paths[i];
		struct stat st;
		int r;

		if (stat(p, &st) < 0) {
			if (errno == ENOENT)
				continue;
			return kiln_error_make(err, errno, "masked path %s", p);
		}
		if (S_ISDIR(st.st_mode))
			r = mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0");
		else
			r = mount("/dev/null", p, NULL, MS_BIND, NULL);
		if (r < 0)
			return kiln_error_make(err, errno, "masked path %s", p);
	}
	for (size_t i = 0; i < s->nreadonly; i++) {
		const char *p = s->readonly_paths[i];

		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
			if (errno == ENOENT)
				continue;
			return kiln_error_make(err, errno, "readonly path %s", p);
		}
		if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL) < 0)
			return kiln_error_make(err, errno, "readonly path %s: remount", p);
	}
	return 0;
}

int agent_rootfs_setup(const char *rootfs, const struct agent_spec *spec, kiln_error_t *err)
{
	cleanup_close int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	bool fresh_dev = false;

	if (rootfd < 0)
		return kiln_error_make(err, errno, "rootfs %s", rootfs);
	for (size_t i = 0; i < spec->nmounts; i++) {
		const struct agent_mount *m = &spec->mounts[i];

		if (mount_one(rootfd, m, err) < 0)
			return -1;
		if (streq(m->destination, "/dev") && !m->bind)
			fresh_dev = true;
	}
	if (fresh_dev && populate_dev(rootfd, err) < 0)
		return kiln_error_wrap(err, "default devices");
	if (make_devices(rootfd, spec, err) < 0)
		return -1;
	if (pivot_into(rootfs, err) < 0)
		return -1;
	/* runc's order: the sysctls while /proc/sys is still writable
	 * (readonlyPaths has it), then the masked and read-only paths */
	if (agent_sysctl_apply("/proc/sys", spec, err) < 0 || mask_paths(spec, err) < 0)
		return -1;
	if (spec->readonly_root &&
	    mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		return kiln_error_make(err, errno, "readonly root");
	return 0;
}
