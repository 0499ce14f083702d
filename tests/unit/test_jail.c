/* kiln-vmm's jail (runtime/jail.h): its layout, the process it leaves, and
 * what it refuses. Needs root (mount namespaces, mknod), as kiln does. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

#include "common/io.h"
#include "common/util.h"
#include "runtime/jail.h"
#include "tests/unit/tap.h"
#include "tests/unit/tmpdir.h"

#define TEST_UID_BASE 1879048192u

/* In the jailed child: the first check that fails, as the exit status. */
#define CHILD_CHECK(n, cond)                                                                       \
	do {                                                                                       \
		if (!(cond))                                                                       \
			_exit(n);                                                                  \
	} while (0)

static bool can_jail(void)
{
	struct stat st;

	if (geteuid() != 0 || stat("/dev/kvm", &st) < 0) {
		tap_diag("needs root and /dev/kvm");
		return false;
	}
	return true;
}

/* The names in dir, sorted, comma-separated. */
static void list_dir(const char *dir, char *out, size_t size)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	size_t len = 0;

	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (!streq(names[i]->d_name, ".") && !streq(names[i]->d_name, ".."))
			len += (size_t)snprintf(out + len, size - len, "%s%s", len ? "," : "",
						names[i]->d_name);
		free(names[i]);
	}
	free(names);
}

static void jailed_child(const struct kiln_jail *j)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct caps[2] = {0};
	const char *what;
	struct rlimit rl;
	struct stat st;
	char names[256], buf[16] = {0};
	int fd;

	if (kiln_jail_prepare(j, &what) < 0 || kiln_jail_enter(j, &what) < 0)
		_exit(100);
	/* the jail's uid and gid, no groups, no capabilities, no way back */
	CHILD_CHECK(1, getuid() == j->uid && geteuid() == j->uid && getgid() == j->gid);
	CHILD_CHECK(2, getgroups(0, NULL) == 0);
	CHILD_CHECK(3, syscall(SYS_capget, &hdr, caps) == 0 && caps[0].effective == 0 &&
			   caps[0].permitted == 0 && caps[1].effective == 0);
	CHILD_CHECK(4, prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) == 0);
	CHILD_CHECK(5, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
	CHILD_CHECK(6,
		    getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == 64 && rl.rlim_max == 64);
	CHILD_CHECK(7, getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur == 4096);
	/* the root is the jail: its own files, the bound kernel, dev */
	list_dir("/", names, sizeof(names));
	CHILD_CHECK(8, streq(names, "dev,kernel,vm.json"));
	CHILD_CHECK(9, access("/etc", F_OK) < 0 && access("/proc/1", F_OK) < 0);
	fd = open("/kernel", O_RDONLY);
	CHILD_CHECK(10, fd >= 0 && read(fd, buf, sizeof(buf) - 1) == 6 && streq(buf, "vmlinz"));
	close(fd);
	/* read-only, even for a root that got back in */
	CHILD_CHECK(11, open("/kernel", O_WRONLY) < 0);
	CHILD_CHECK(12, stat("/dev/kvm", &st) == 0 && S_ISCHR(st.st_mode) && st.st_uid == j->uid &&
			    (st.st_mode & 0777) == 0600);
	fd = open("/dev/kvm", O_RDWR);
	CHILD_CHECK(13, fd >= 0);
	close(fd);
	CHILD_CHECK(14, j->tun == (stat("/dev/net/tun", &st) == 0));
	/* its own files are its own: it may write them */
	fd = open("/vm.json", O_WRONLY | O_APPEND);
	CHILD_CHECK(15, fd >= 0 && write(fd, "x", 1) == 1);
	close(fd);
	_exit(0);
}

static int run_jailed(const char *dir, const char *kernel, pid_t *pid_out)
{
	struct stat st;
	struct kiln_jail j = {.dir = dir,
			      .binds = {{kernel, "kernel"}},
			      .n_binds = 1,
			      .tun = stat("/dev/net/tun", &st) == 0,
			      .nofile = 64,
			      .fsize = 4096};
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		j.uid = j.gid = TEST_UID_BASE + (unsigned)getpid();
		jailed_child(&j);
	}
	*pid_out = pid;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int test_layout_and_privileges(void)
{
	cleanup_tmpdir char *dir = NULL;
	cleanup_tmpdir char *host = NULL;
	cleanup_free char *kernel = NULL, *vm = NULL, *dev = NULL, *mounts = NULL, *target = NULL;
	cleanup_error kiln_error_t err = NULL;
	struct stat st;
	size_t len;
	pid_t pid;
	int r;

	if (!can_jail())
		return TAP_SKIP;
	dir = test_tmpdir_make("jail");
	host = test_tmpdir_make("jail-host");
	TAP_CHECK(dir && host);
	kernel = xasprintf("%s/vmlinux", host);
	vm = xasprintf("%s/vm.json", dir);
	dev = xasprintf("%s/dev", dir);
	TAP_CHECK(kiln_write_file_atomic(kernel, "vmlinz", 6, 0644, &err) == 0);
	TAP_CHECK(kiln_write_file_atomic(vm, "{}", 2, 0600, &err) == 0);
	r = run_jailed(dir, kernel, &pid);
	if (r != 0)
		tap_diag("the jailed child failed check %d", r);
	TAP_CHECK(r == 0);
	/* prepared for it: the directory and its files are the jail's uid's */
	TAP_CHECK(stat(dir, &st) == 0 && st.st_uid == TEST_UID_BASE + (unsigned)pid &&
		  (st.st_mode & 0777) == 0700);
	TAP_CHECK(stat(vm, &st) == 0 && st.st_uid == TEST_UID_BASE + (unsigned)pid);
	/* the host file it was given stays as it was */
	TAP_CHECK(stat(kernel, &st) == 0 && st.st_uid == 0 && st.st_size == 6);
	/* nothing of the jail is mounted on the host */
	TAP_CHECK(kiln_read_file("/proc/self/mountinfo", 1 << 20, &mounts, &len, &err) == 0);
	TAP_CHECK(strstr(mounts, dir) == NULL);
	/* what the test's tmpdir cleanup does not remove */
	target = xasprintf("%s/kernel", dir);
	unlink(target);
	rmdir(dev);
	return TAP_PASS;
}

static int test_missing_bind_source(void)
{
	cleanup_tmpdir char *dir = NULL;
	struct kiln_jail j = {.binds = {{"/nonexistent/vmlinux", "kernel"}}, .n_binds = 1};
	const char *what = NULL;
	int status, p[2];
	pid_t pid;

	if (!can_jail())
		return TAP_SKIP;
	dir = test_tmpdir_make("jail-missing");
	TAP_CHECK(dir && pipe(p) == 0);
	j.dir = dir;
	fflush(stdout);
	pid = fork();
	TAP_CHECK(pid >= 0);
	if (pid == 0) {
		int r = kiln_jail_enter(&j, &what);
		int e = errno;

		(void)!write(p[1], what, strlen(what));
		_exit(r < 0 && e == ENOENT ? 0 : 1);
	}
	close(p[1]);
	{
		char buf[128] = {0};

		TAP_CHECK(read(p[0], buf, sizeof(buf) - 1) > 0);
		TAP_CHECK_STR(buf, "/nonexistent/vmlinux");
	}
	close(p[0]);
	TAP_CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_layout_and_privileges), TAP_TEST(test_missing_bind_source))
