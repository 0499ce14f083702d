/* kiln-vmm's jail (runtime/jail.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/jail.h"

int kiln_jail_prepare(const struct kiln_jail *j, const char **what)
{
	DIR *d = opendir(j->dir);
	struct dirent *e;
	int r = 0;

	*what = j->dir;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (streq(e->d_name, ".") || streq(e->d_name, ".."))
			continue;
		if (fchownat(dirfd(d), e->d_name, j->uid, j->gid, AT_SYMLINK_NOFOLLOW) < 0) {
			*what = "chown in the jail";
			r = -1;
			break;
		}
	}
	closedir(d);
	if (r == 0 && (chown(j->dir, j->uid, j->gid) < 0 || chmod(j->dir, 0700) < 0))
		r = -1;
	return r;
}

/* A node of the host's device `host` at `path`, the jail's alone. */
static int make_node(const struct kiln_jail *j, const char *host, const char *path)
{
	struct stat st;

	if (stat(host, &st) < 0 || !S_ISCHR(st.st_mode)) {
		if (errno == 0)
			errno = ENODEV;
		return -1;
	}
	if (mknod(path, S_IFCHR | 0600, st.st_rdev) < 0 || chown(path, j->uid, j->gid) < 0)
		return -1;
	return 0;
}

static int bind_file(const char *src, const char *dst)
{
	int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0400);

	if (fd < 0)
		return -1;
	close(fd);
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		return -1;
	return mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
		     NULL);
}

static int drop_bounding_set(void)
{
	for (int cap = 0;; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return errno == EINVAL ? 0 : -1;
	}
}

int kiln_jail_enter(const struct kiln_jail *j, const char **what)
{
	struct rlimit nofile = {j->nofile, j->nofile};
	struct rlimit fsize = {j->fsize, j->fsize};

#define STEP(desc, expr)                                                                           \
	do {                                                                                       \
		*what = (desc);                                                                    \
		if ((expr) < 0)                                                                    \
			return -1;                                                                 \
	} while (0)

	STEP("new mount and IPC namespaces", unshare(CLONE_NEWNS | CLONE_NEWIPC));
	/* nothing done here reaches the host's mount table */
	STEP("making / a slave mount", mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL));
	STEP("binding the jail onto itself", mount(j->dir, j->dir, NULL, MS_BIND, NULL));
	STEP("entering the jail", chdir(j->dir));
	for (size_t i = 0; i < j->n_binds; i++)
		STEP(j->binds[i].src, bind_file(j->binds[i].src, j->binds[i].name));
	STEP("the jail's /dev", mkdir("dev", 0755) < 0 && errno != EEXIST ? -1 : 0);
	STEP("the jail's /dev", mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
				      "size=64k,nr_inodes=16,mode=0755"));
	STEP("/dev/kvm", make_node(j, "/dev/kvm", "dev/kvm"));
	if (j->tun) {
		STEP("the jail's /dev/net", mkdir("dev/net", 0755));
		STEP("/dev/net/tun", make_node(j, "/dev/net/tun", "dev/net/tun"));
	}
	/* the host's root goes: only the jail is left */
	STEP("pivot_root into the jail", (int)syscall(SYS_pivot_root, ".", "."));
	STEP("detaching the host's root", umount2(".", MNT_DETACH));
	STEP("entering the jail", chdir("/"));
	STEP("dropping the capability bounding set", drop_bounding_set());
	STEP("clearing ambient capabilities",
	     prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
	STEP("setgroups", setgroups(0, NULL));
	STEP("setresgid", setresgid(j->gid, j->gid, j->gid));
	/* from uid 0 to another: every capability goes */
	STEP("setresuid", setresuid(j->uid, j->uid, j->uid));
	STEP("no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	STEP("RLIMIT_NOFILE", setrlimit(RLIMIT_NOFILE, &nofile));
	if (j->fsize) {
		STEP("RLIMIT_FSIZE", setrlimit(RLIMIT_FSIZE, &fsize));
		/* a write past the limit fails (EFBIG) instead of killing */
		signal(SIGXFSZ, SIG_IGN);
	}
#undef STEP
	return 0;
}
