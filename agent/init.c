#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/init.h"
#include "common/io.h"
#include "common/log.h"
#include "common/util.h"

#define NOSUID_NODEV_NOEXEC (MS_NOSUID | MS_NODEV | MS_NOEXEC)

const struct agent_init_mount agent_init_mounts[] = {
    {"proc", "/proc", "proc", NOSUID_NODEV_NOEXEC, NULL},
    {"sysfs", "/sys", "sysfs", NOSUID_NODEV_NOEXEC, NULL},
    {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
    {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,mode=0620,gid=5"},
    {"tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
    {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
    {"tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
    {"cgroup2", "/sys/fs/cgroup", "cgroup2", NOSUID_NODEV_NOEXEC, "nsdelegate"},
};
const size_t agent_init_nmounts = ARRAY_SIZE(agent_init_mounts);

bool agent_is_mountpoint(const char *path)
{
	struct statx stx;

	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
		return false;
	return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

void agent_init_console(void)
{
	int fd;

	mkdir("/dev", 0755);
	if (!agent_is_mountpoint("/dev"))
		mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;
	/* Whatever the kernel left us, 0-2 are the console from here on,
	 * so no socket can land on them. */
	for (int i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
}

char **agent_modules_parse(const char *text)
{
	cleanup_free char *copy = xstrdup(text);
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;

	for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *end;

		while (*line == ' ' || *line == '\t')
			line++;
		end = line + strlen(line);
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		v = xrealloc(v, (n + 2) * sizeof(char *));
		v[n++] = xstrdup(line);
		v[n] = NULL;
	}
	return v;
}

int agent_init_modules(const char *dir)
{
	cleanup_free char *order_path = xasprintf("%s/order", dir);
	cleanup_free char *text = NULL;
	kiln_error_t err = NULL;
	char **names;
	int failed = 0;

	if (kiln_read_file(order_path, 1 << 20, &text, NULL, &err) < 0) {
		if (err->status != ENOENT)
			log_warning("modules: %s", err->msg);
		kiln_error_free(&err);
		return 0;
	}
	names = agent_modules_parse(text);
	for (char **n = names; *n != NULL; n++) {
		cleanup_free char *path =
		    (*n)[0] == '/' ? xstrdup(*n) : xasprintf("%s/%s", dir, *n);
		cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);

		/* EEXIST: loaded already (built in, or a dependency twice). */
		if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)) {
			log_error("module %s: %s", path, strerror(errno));
			failed++;
		}
		free(*n);
	}
	free(names);
	return failed;
}

int agent_init_switch_root(kiln_error_t *err)
{
	struct statfs sf;
	const char *newroot = "/.kiln-root";

	if (statfs("/", &sf) < 0)
		return kiln_error_make(err, errno, "statfs /");
	if (sf.f_type != RAMFS_MAGIC && sf.f_type != TMPFS_MAGIC)
		return 0;
	if (mkdir(newroot, 0755) < 0 && errno != EEXIST)
		return kiln_error_make(err, errno, "mkdir %s", newroot);
	if (mount("tmpfs", newroot, "tmpfs", 0, "mode=0755") < 0)
		return kiln_error_make(err, errno, "mount tmpfs on %s", newroot);
	if (agent_is_mountpoint("/dev")) {
		if (mkdir("/.kiln-root/dev", 0755) < 0 ||
		    mount("/dev", "/.kiln-root/dev", NULL, MS_MOVE, NULL) < 0)
			return kiln_error_make(err, errno, "move /dev");
	}
	/* switch_root's sequence: the new root moves over /, and chroot
	 * makes it ours; the initramfs stays beneath, unreachable. */
	if (chdir(newroot) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
	    chdir("/") < 0)
		return kiln_error_make(err, errno, "switch to %s", newroot);
	return 0;
}

int agent_init_mount_all(const char *prefix, kiln_error_t *err)
{
	for (size_t i = 0; i < agent_init_nmounts; i++) {
		const struct agent_init_mount *m = &agent_init_mounts[i];
		cleanup_free char *target = xasprintf("%s%s", prefix, m->target);

		if (mkdir(target, 0755) < 0 && errno != EEXIST)
			return kiln_error_make(err, errno, "mkdir %s", target);
		if (agent_is_mountpoint(target))
			continue;
		if (mount(m->source, target, m->type, m->flags, m->data) < 0) {
			/* nsdelegate is newer than some kernels. */
			if (m->data != NULL && streq(m->type, "cgroup2") &&
			    mount(m->source, target, m->type, m->flags, NULL) == 0)
				continue;
			return kiln_error_make(err, errno, "mount %s on %s", m->type, target);
		}
	}
	return 0;
}

static void kmsg_write(const char *msg)
{
	int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	cleanup_free char *line = xasprintf("<2>kiln-agent: %s\n", msg);

	if (fd >= 0) {
		kiln_write_all(fd, line, strlen(line));
		close(fd);
	}
}

void agent_init_poweroff(void)
{
	sync();
	kill(-1, SIGKILL);
	sync();
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

void agent_init_fatal(const char *msg)
{
	log_error("%s", msg);
	kmsg_write(msg);
	agent_init_poweroff();
}
