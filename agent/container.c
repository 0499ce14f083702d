#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/cgroup.h"
#include "agent/container.h"
#include "agent/net.h"
#include "agent/rootfs.h"
#include "agent/seccomp.h"
#include "agent/userns.h"
#include "common/io.h"
#include "common/log.h"
#include "common/util.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* struct clone_args of <linux/sched.h>, which clashes with <sched.h>. */
struct agent_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	uint64_t set_tid, set_tid_size, cgroup;
};

/* fork() with namespaces and a cgroup: the child starts in cgroup_fd's
 * cgroup, so a new cgroup namespace is rooted there. */
static pid_t clone_fork(uint64_t flags, int cgroup_fd)
{
	struct agent_clone_args a = {.flags = flags, .exit_signal = SIGCHLD};

	if (cgroup_fd >= 0) {
		a.flags |= CLONE_INTO_CGROUP;
		a.cgroup = (uint64_t)cgroup_fd;
	}
	return (pid_t)syscall(SYS_clone3, &a, sizeof(a));
}

int agent_find_executable(const char *name, char *const *env, char **out, kiln_error_t *err)
{
	const char *path = agent_env_get(env, "PATH");
	cleanup_free char *dirs = NULL;
	int last = ENOENT;

	if (strchr(name, '/') != NULL) {
		if (access(name, X_OK) < 0)
			return kiln_error_make(err, errno, "executable %s", name);
		*out = xstrdup(name);
		return 0;
	}
	dirs = xstrdup(path != NULL ? path : DEFAULT_PATH);
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d != NULL;
	     d = strtok_r(NULL, ":", &save)) {
		cleanup_free char *cand = xasprintf("%s/%s", d[0] ? d : ".", name);
		struct stat st;

		if (stat(cand, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (access(cand, X_OK) < 0) {
			last = errno;
			continue;
		}
		*out = TAKE_PTR(cand);
		return 0;
	}
	return kiln_error_make(err, last, "executable \"%s\" not found in PATH %s", name,
			       path != NULL ? path : DEFAULT_PATH);
}

/* ---- stdio */

struct child_stdio {
	int fd[3];
	int ctty; /* pty slave, or -1 */
};

static void child_stdio_close(struct child_stdio *cs)
{
	for (int i = 0; i < 3; i++) {
		if (cs->fd[i] >= 0 && (i == 0 || cs->fd[i] != cs->fd[i - 1]))
			close(cs->fd[i]);
		cs->fd[i] = -1;
	}
	if (cs->ctty >= 0 && cs->ctty != cs->fd[0])
		close(cs->ctty);
	cs->ctty = -1;
}

/* A pty from the devpts instance at <root>/dev/pts (root "" is the
 * agent's own). */
static int open_pty(const char *root, int *master, int *slave, kiln_error_t *err)
{
	cleanup_free char *ptmx = xasprintf("%s/dev/pts/ptmx", root);
	cleanup_free char *spath = NULL;
	cleanup_close int m = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
	char name[64];

	if (m < 0)
		return kiln_error_make(err, errno, "terminal: open %s", ptmx);
	if (unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0)
		return kiln_error_make(err, errno, "terminal: unlock");
	spath = xasprintf("%s%s", root, name);
	*slave = open(spath, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0)
		return kiln_error_make(err, errno, "terminal: open %s", spath);
	*master = TAKE_FD(m);
	return 0;
}

/* Gives the agent's end of a terminal to p's pumps (takes master). */
static int pty_to_pumps(struct agent_proc *p, int master, kiln_error_t *err)
{
	int in = fcntl(master, F_DUPFD_CLOEXEC, 3);

	if (in < 0) {
		close(master);
		return kiln_error_make(err, errno, "terminal: dup");
	}
	kiln_set_nonblock(master, true);
	p->out.src.fd = master;
	p->in.dst.fd = in;
	p->in.tty_input = true;
	p->has_in = p->has_out = true;
	return 0;
}

/* Makes the process's stdio and hands the agent's ends to p's pumps. A
 * terminal comes from the devpts at pty_root; with pty_root NULL the child
 * makes it itself, inside the container, and sends the master back. */
static int stdio_setup(struct agent_proc *p, bool terminal, const char *pty_root,
		       const struct proto_stdio *s, struct child_stdio *cs, kiln_error_t *err)
{
	cs->fd[0] = cs->fd[1] = cs->fd[2] = cs->ctty = -1;
	p->terminal = terminal;
	p->stdio = *s;
	if (terminal) {
		int master = -1, slave = -1;

		if (pty_root == NULL)
			return 0;
		if (open_pty(pty_root, &master, &slave, err) < 0)
			return -1;
		if (pty_to_pumps(p, master, err) < 0) {
			close(slave);
			return -1;
		}
		cs->fd[0] = cs->fd[1] = cs->fd[2] = cs->ctty = slave;
		return 0;
	}
	for (int i = 0; i < 3; i++) {
		bool want = i == 0 ? s->in : i == 1 ? s->out : s->err;
		int pfd[2];

		if (!want) {
			cs->fd[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (cs->fd[i] < 0)
				return kiln_error_make(err, errno, "/dev/null");
			continue;
		}
		if (pipe2(pfd, O_CLOEXEC) < 0)
			return kiln_error_make(err, errno, "stdio pipe");
		if (i == 0) {
			cs->fd[0] = pfd[0];
			kiln_set_nonblock(pfd[1], true);
			p->in.dst.fd = pfd[1];
			p->has_in = true;
		} else {
			cs->fd[i] = pfd[1];
			kiln_set_nonblock(pfd[0], true);
			if (i == 1) {
				p->out.src.fd = pfd[0];
				p->has_out = true;
			} else {
				p->err.src.fd = pfd[0];
				p->has_err = true;
			}
		}
	}
	return 0;
}

/* ---- the child, between fork and exec */

/* Reports err to the agent and ends the child. */
__attribute__((noreturn)) static void child_fail(int report_fd, kiln_error_t *err)
{
	cleanup_free char *msg = xasprintf("E%s", *err && (*err)->msg ? (*err)->msg : "failed");

	/* One write below PIPE_BUF arrives whole. */
	if (strlen(msg) > 4000)
		msg[4000] = '\0';
	kiln_write_all(report_fd, msg, strlen(msg));
	_exit(127);
}

/* The agent blocks signals for its signalfd and is PID 1; the workload
 * starts with the defaults, in a session of its own. */
static int child_reset(kiln_error_t *err)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	if (setsid() < 0)
		return kiln_error_make(err, errno, "setsid");
	return 0;
}

static int child_stdio_install(struct child_stdio *cs, kiln_error_t *err)
{
	if (cs->ctty >= 0 && ioctl(cs->ctty, TIOCSCTTY, 0) < 0)
		return kiln_error_make(err, errno, "terminal: TIOCSCTTY");
	for (int i = 0; i < 3; i++) {
		/* dup2 clears close-on-exec on the copy. */
		if (dup2(cs->fd[i], i) < 0)
			return kiln_error_make(err, errno, "stdio: dup2");
	}
	return 0;
}

/* create with a terminal: the pty comes from the container's own devpts
 * (so ttyname() works inside), made after pivot_root; the master goes to
 * the agent over the report socket. */
static int child_make_terminal(const struct agent_spec *spec, struct child_stdio *cs, int report_fd,
			       kiln_error_t *err)
{
	const struct oci_process *p = spec->process;
	int master = -1, slave = -1;

	if (open_pty("", &master, &slave, err) < 0)
		return -1;
	/* Owned by the process's user, as runc does for its console; made
	 * before a user namespace is entered, so by the guest's IDs. */
	if (fchown(slave, agent_idmap_to_host(spec->uid_maps, spec->nuid_maps, p->user.uid),
		   agent_idmap_to_host(spec->gid_maps, spec->ngid_maps, p->user.gid)) < 0) {
		close(master);
		close(slave);
		return kiln_error_make(err, errno, "terminal: chown");
	}
	cs->fd[0] = cs->fd[1] = cs->fd[2] = cs->ctty = slave;
	if (kiln_send_fd(report_fd, master) < 0) {
		close(master);
		return kiln_error_make(err, errno, "terminal: send to the agent");
	}
	close(master);
	return 0;
}

static int set_oom_score(const struct oci_process *p, kiln_error_t *err)
{
	char buf[24];
	cleanup_close int fd = -1;

	if (!p->oom_score_adj.present)
		return 0;
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	snprintf(buf, sizeof(buf), "%lld", (long long)p->oom_score_adj.value);
	if (fd < 0 || kiln_write_all(fd, buf, strlen(buf)) < 0)
		return kiln_error_make(err, errno, "oom_score_adj %s", buf);
	return 0;
}

static int set_caps(const struct oci_capabilities *p, kiln_error_t *err)
{
	cap_t caps;
	int last = (int)cap_max_bits() - 1;

	caps = cap_init();
	if (caps == NULL)
		return kiln_error_make(err, errno, "capabilities");
	for (int c = 0; c <= last && c < 64; c++) {
		cap_value_t v = c;
		uint64_t bit = 1ull << c;

		if (p->effective & bit)
			cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET);
		if (p->permitted & bit)
			cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET);
		if (p->inheritable & bit)
			cap_set_flag(caps, CAP_INHERITABLE, 1, &v, CAP_SET);
	}
	if (cap_set_proc(caps) < 0) {
		int e = errno;

		cap_free(caps);
		return kiln_error_make(err, e, "capabilities: set");
	}
	cap_free(caps);
	/* The kernel raises an ambient capability only when it is permitted
	 * and inheritable too; like runc, one that is not is skipped rather
	 * than failing the container (runc's default spec lists ambient
	 * capabilities without inheritable ones). */
	for (int c = 0; c <= last && c < 64; c++)
		if ((p->ambient & (1ull << c)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0 && errno != EPERM)
			return kiln_error_make(err, errno, "capabilities: ambient %d", c);
	return 0;
}

/* rlimits come first, while the process is still the guest's root: in a
 * user namespace raising a hard limit needs CAP_SYS_RESOURCE in the
 * initial one. */
static int child_rlimits(const struct oci_process *p, kiln_error_t *err)
{
	for (size_t i = 0; i < p->n_rlimits; i++) {
		const struct oci_rlimit *rl = &p->rlimits[i];
		struct rlimit lim = {.rlim_cur = rl->soft, .rlim_max = rl->hard};

		if (setrlimit(rl->resource, &lim) < 0)
			return kiln_error_make(err, errno, "rlimit %s", rl->type);
	}
	return 0;
}

/* umask, user, groups, capabilities, cwd, no_new_privs, and the
 * program to run (resolved in the container's root). Without no_new_privs a
 * seccomp filter needs CAP_SYS_ADMIN, so it is loaded here, first, while
 * the process still has it (runc's order); with no_new_privs child_exec()
 * loads it, last. */
static int child_process_setup(const struct oci_process *p, scmp_filter_ctx sc, char **exe,
			       kiln_error_t *err)
{
	bool cwd_done;
	int last = (int)cap_max_bits() - 1;

	if (sc != NULL && !p->no_new_privileges && agent_seccomp_load(sc, err) < 0)
		return -1;
	umask(p->user.umask.present ? p->user.umask.value : 022);
	/* As root first: the new user may not be able to reach cwd's
	 * parents, but may own cwd itself (retried below). */
	cwd_done = chdir(p->cwd) == 0;
	if (p->capabilities.present) {
		for (int c = 0; c <= last && c < 64; c++)
			if (!(p->capabilities.bounding & (1ull << c)) &&
			    prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
				return kiln_error_make(err, errno, "capabilities: bounding %d", c);
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			return kiln_error_make(err, errno, "PR_SET_KEEPCAPS");
	}
	if (setgroups(p->user.n_additional_gids, p->user.additional_gids) < 0)
		return kiln_error_make(err, errno, "setgroups");
	if (setresgid(p->user.gid, p->user.gid, p->user.gid) < 0)
		return kiln_error_make(err, errno, "setgid %u", p->user.gid);
	if (setresuid(p->user.uid, p->user.uid, p->user.uid) < 0)
		return kiln_error_make(err, errno, "setuid %u", p->user.uid);
	if (p->capabilities.present) {
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
		if (set_caps(&p->capabilities, err) < 0)
			return -1;
	}
	if (!cwd_done && chdir(p->cwd) < 0)
		return kiln_error_make(err, errno, "cwd %s", p->cwd);
	if (agent_find_executable(p->args.v[0], p->env.v, exe, err) < 0)
		return -1;
	if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return kiln_error_make(err, errno, "no_new_privs");
	return 0;
}

__attribute__((noreturn)) static void child_exec(const struct oci_process *p, const char *exe,
						 scmp_filter_ctx sc, int report_fd)
{
	kiln_error_t err = NULL;

	if (sc != NULL && p->no_new_privileges && agent_seccomp_load(sc, &err) < 0)
		child_fail(report_fd, &err);
	if (exe != NULL)
		execve(exe, p->args.v, p->env.v);
	kiln_error_make(&err, errno, "exec %s", exe);
	child_fail(report_fd, &err);
}

struct create_child {
	const struct agent_spec *spec;
	const struct proto_rootfs *rootfs;
	const char *dev, *dir;
	scmp_filter_ctx seccomp;
	struct child_stdio stdio;
	bool pty_in_container;
	int report_fd, start_fd;
};

/* Enters the container's user namespace: the agent writes the mappings
 * when told "U" and answers "M" (read_report). Then the mount, UTS and
 * cgroup namespaces are made again, as copies owned by the new user
 * namespace, so that root in the container can mount and set the
 * hostname there as under runc; the pid and IPC namespaces stay owned by
 * the guest's initial one (a pid namespace cannot be changed for a
 * running process, and /dev/mqueue shows the IPC namespace it was mounted
 * in). */
static int child_enter_userns(const struct agent_spec *spec, int report_fd, kiln_error_t *err)
{
	int again = CLONE_NEWNS | (spec->clone_flags & (CLONE_NEWUTS | CLONE_NEWCGROUP));
	char ack = 0;
	ssize_t r;

	if (unshare(CLONE_NEWUSER) < 0)
		return kiln_error_make(err, errno, "user namespace");
	if (kiln_write_all(report_fd, "U", 1) < 0)
		return kiln_error_make(err, errno, "user namespace: asking for the mappings");
	do
		r = read(report_fd, &ack, 1);
	while (r < 0 && errno == EINTR);
	/* EOF: the agent could not write them and has said why */
	if (r != 1 || ack != 'M')
		_exit(127);
	if (unshare(again) < 0)
		return kiln_error_make(err, errno, "namespaces of the user namespace");
	return 0;
}

__attribute__((noreturn)) static void child_create(struct create_child *a)
{
	const struct agent_spec *spec = a->spec;
	kiln_error_t err = NULL;
	cleanup_free char *rootfs = NULL, *exe = NULL;
	char go;
	ssize_t r;

	if (child_reset(&err) < 0 || set_oom_score(spec->process, &err) < 0)
		child_fail(a->report_fd, &err);
	if (!a->pty_in_container && child_stdio_install(&a->stdio, &err) < 0)
		child_fail(a->report_fd, &err);
	/* Nothing mounted here may reach the agent's namespace: the child
	 * has a mount namespace of its own even when the spec asks for none
	 * (agent_container_create). */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		kiln_error_make(&err, errno, "make / private");
		child_fail(a->report_fd, &err);
	}
	if (agent_rootfs_mount(a->dir, a->dev, a->rootfs, &rootfs, &err) < 0 ||
	    agent_rootfs_setup(rootfs, spec, &err) < 0)
		child_fail(a->report_fd, &err);
	if (a->pty_in_container && (child_make_terminal(spec, &a->stdio, a->report_fd, &err) < 0 ||
				    child_stdio_install(&a->stdio, &err) < 0))
		child_fail(a->report_fd, &err);
	if (spec->hostname != NULL && sethostname(spec->hostname, strlen(spec->hostname)) < 0) {
		kiln_error_make(&err, errno, "hostname %s", spec->hostname);
		child_fail(a->report_fd, &err);
	}
	if (child_rlimits(spec->process, &err) < 0 ||
	    (spec->userns && child_enter_userns(spec, a->report_fd, &err) < 0) ||
	    child_process_setup(spec->process, a->seccomp, &exe, &err) < 0)
		child_fail(a->report_fd, &err);
	if (kiln_write_all(a->report_fd, "R", 1) < 0)
		_exit(127);
	/* Held until start; EOF means the agent gave up on us. */
	do
		r = read(a->start_fd, &go, 1);
	while (r < 0 && errno == EINTR);
	if (r != 1)
		_exit(127);
	child_exec(spec->process, exe, a->seccomp, a->report_fd);
}

/* Reads the child's report: 1 for "R", 2 for "U" (write its user
 * namespace's mappings, then answer "M"), 0 for EOF (exec'd), -1 with *err
 * for "E..." or a child that died before saying anything. A "T" message
 * carries the master of a terminal made in the container (*tty_fd). */
static int read_report(int fd, bool eof_is_death, int *tty_fd, kiln_error_t *err)
{
	for (;;) {
		char buf[4097];
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(int))];
		} ctl;
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
		struct msghdr msg = {.msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = &ctl,
				     .msg_controllen = sizeof(ctl)};
		struct cmsghdr *cm;
		int passed = -1;
		ssize_t n;

		do
			n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return kiln_error_make(err, errno, "reading the process's report");
		for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
			    cm->cmsg_len == CMSG_LEN(sizeof(int)))
				memcpy(&passed, CMSG_DATA(cm), sizeof(int));
		if (n == 0) {
			if (eof_is_death)
				return kiln_error_make(err, 0, "the process died during setup");
			return 0;
		}
		buf[n] = '\0';
		if (passed >= 0) {
			if (tty_fd != NULL && *tty_fd < 0)
				*tty_fd = passed;
			else
				close(passed);
			continue;
		}
		if (buf[0] == 'R')
			return 1;
		if (buf[0] == 'U' && n == 1)
			return 2;
		return kiln_error_make(err, 0, "%s", buf[0] == 'E' ? buf + 1 : buf);
	}
}

/* The report channel: a socket, so a terminal's master can travel on it;
 * seqpacket, so each report is one message. */
static int report_pair(int *r, int *w, kiln_error_t *err)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return kiln_error_make(err, errno, "socketpair");
	*r = sv[0];
	*w = sv[1];
	return 0;
}

/* Whether the spec gives the container its own devpts at /dev/pts. */
static bool spec_has_devpts(const struct agent_spec *spec)
{
	for (size_t i = 0; i < spec->nmounts; i++)
		if (streq(spec->mounts[i].type, "devpts") &&
		    streq(spec->mounts[i].destination, "/dev/pts"))
			return true;
	return false;
}

static void reap_now(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* The mount points a failed create made; the mounts themselves were in
 * the child's namespace and went with it. */
static void rundir_remove(const char *dir)
{
	static const char *const sub[] = {"rootfs", "lower", "rw"};

	for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
		cleanup_free char *p = xasprintf("%s/%s", dir, sub[i]);

		rmdir(p);
	}
	rmdir(dir);
}

static int cgroup_open(struct agent_ctr *c)
{
	return c->cgroup != NULL ? open(c->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
}

int agent_container_create(const struct agent_runtime *rt, struct agent_ctr *c,
			   struct agent_proc *p, const struct agent_spec *spec,
			   const struct proto_create_params *params, kiln_error_t *err)
{
	cleanup_free char *dev = NULL, *dir = NULL;
	cleanup_close int report_r = -1, report_w = -1, start_r = -1, start_w = -1, cgfd = -1;
	cleanup_close int tty = -1;
	struct create_child a = {.spec = spec, .rootfs = &params->rootfs};
	int pfd[2], r;
	pid_t pid;

	if (agent_disk_find(rt->sysblock, params->rootfs.drive_id, &dev, err) < 0)
		return -1;
	/* in the agent's namespace, which the container's copies: its bind
	 * mounts find their sources there, and pivot_root leaves it the
	 * binds alone, not the rest of the share */
	if (params->volumes.tag != NULL && agent_volumes_mount(&params->volumes, err) < 0)
		return -1;
	/* The container's processes (exec's too) get the filter; c owns it. */
	if (spec->seccomp != NULL && agent_seccomp_build(spec->seccomp, &c->seccomp, err) < 0)
		return -1;
	if (mkdir(rt->run_dir, 0700) < 0 && errno != EEXIST)
		return kiln_error_make(err, errno, "mkdir %s", rt->run_dir);
	dir = xasprintf("%s/%s", rt->run_dir, c->id);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return kiln_error_make(err, errno, "mkdir %s", dir);
	if (rt->cgroup_root != NULL) {
		if (agent_cgroup_create(rt->cgroup_root, c->id, &c->cgroup, err) < 0)
			return -1;
		cgfd = cgroup_open(c);
		if (cgfd < 0)
			return kiln_error_make(err, errno, "cgroup %s", c->cgroup);
		if (agent_resources_apply(c->cgroup, &spec->resources, err) < 0)
			return -1;
	}
	if (report_pair(&report_r, &report_w, err) < 0)
		return -1;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return kiln_error_make(err, errno, "pipe");
	start_r = pfd[0], start_w = pfd[1];
	a.pty_in_container = spec->process->terminal && spec_has_devpts(spec);
	if (stdio_setup(p, spec->process->terminal, a.pty_in_container ? NULL : "", &params->stdio,
			&a.stdio, err) < 0) {
		child_stdio_close(&a.stdio);
		return -1;
	}
	a.dev = dev;
	a.dir = dir;
	a.report_fd = report_w;
	a.start_fd = start_r;
	/* A spec without a mount namespace would have the container share
	 * the runtime's; in the guest that is the agent's, whose mounts are
	 * not the container's business and must not change under it. So the
	 * container gets one anyway: it sees what it would see under runc,
	 * its root and its mounts (docs/runtime.md). */
	c->clone_flags = spec->clone_flags | CLONE_NEWNS | (spec->userns ? CLONE_NEWUSER : 0);
	a.seccomp = c->seccomp;
	pid = clone_fork((uint64_t)(spec->clone_flags | CLONE_NEWNS), cgfd);
	if (pid == 0)
		child_create(&a);
	child_stdio_close(&a.stdio);
	if (pid < 0)
		return kiln_error_make(err, errno, "clone");
	close(TAKE_FD(report_w));
	close(TAKE_FD(start_r));
	p->pid = pid;
	p->state = AGENT_PROC_CREATED;
	/* The process waits for start before exec, so its network is ready
	 * before its program runs. */
	if (spec->clone_flags & CLONE_NEWNET)
		r = agent_net_setup(pid, &params->network, err) < 0 ? -1 : 1;
	else if (params->network.n_interfaces > 0)
		r = kiln_error_make(
		    err, 0,
		    "network interfaces given, but the spec has no network namespace "
		    "to hold them");
	else
		r = 1;
	if (r > 0)
		r = read_report(report_r, true, &tty, err);
	if (r == 2) {
		if (agent_userns_write_maps(pid, spec, err) < 0)
			r = -1;
		else if (kiln_write_all(report_r, "M", 1) < 0)
			r = kiln_error_make(err, errno, "user namespace: answering the process");
		else
			r = read_report(report_r, true, &tty, err);
	}
	if (r == 2)
		r = kiln_error_make(err, 0, "the process asked for its mappings twice");
	if (r > 0 && a.pty_in_container) {
		if (tty < 0)
			r = kiln_error_make(err, 0, "terminal: the process sent none");
		else if (pty_to_pumps(p, TAKE_FD(tty), err) < 0)
			r = -1;
	}
	if (r <= 0) {
		reap_now(pid);
		rundir_remove(dir);
		p->state = AGENT_PROC_EXITED;
		return -1;
	}
	p->report_fd = TAKE_FD(report_r);
	p->start_fd = TAKE_FD(start_w);
	return 0;
}

int agent_container_start(struct agent_proc *p, kiln_error_t *err)
{
	int r;

	if (kiln_write_all(p->start_fd, "S", 1) < 0)
		return kiln_error_make(err, errno, "releasing the process");
	close(p->start_fd);
	p->start_fd = -1;
	r = read_report(p->report_fd, false, NULL, err);
	close(p->report_fd);
	p->report_fd = -1;
	if (p->state == AGENT_PROC_CREATED)
		p->state = AGENT_PROC_RUNNING;
	return r < 0 ? -1 : 0;
}

struct exec_child {
	const struct oci_process *proc;
	struct child_stdio stdio;
	scmp_filter_ctx seccomp;
	int ns_fd[6]; /* exec_ns */
	int report_fd;
};

/* The IPC and network namespaces first, while the process is still the
 * guest's root (they are owned by the initial user namespace); then the container's user
 * namespace, which owns the rest when there is one (child_enter_userns). */
static const int exec_ns[6] = {CLONE_NEWIPC, CLONE_NEWNET,    CLONE_NEWUSER,
			       CLONE_NEWUTS, CLONE_NEWCGROUP, CLONE_NEWNS};
static const char *const exec_ns_name[6] = {"ipc", "net", "user", "uts", "cgroup", "mnt"};

__attribute__((noreturn)) static void child_exec_into(struct exec_child *a)
{
	kiln_error_t err = NULL;
	cleanup_free char *exe = NULL;

	if (child_reset(&err) < 0 || child_stdio_install(&a->stdio, &err) < 0 ||
	    set_oom_score(a->proc, &err) < 0 || child_rlimits(a->proc, &err) < 0)
		child_fail(a->report_fd, &err);
	/* The mount namespace last: the others are entered through fds
	 * opened in the agent's, and entering it sets root and cwd. */
	for (size_t i = 0; i < ARRAY_SIZE(exec_ns); i++) {
		if (a->ns_fd[i] >= 0 && setns(a->ns_fd[i], exec_ns[i]) < 0) {
			kiln_error_make(&err, errno, "join %s namespace", exec_ns_name[i]);
			child_fail(a->report_fd, &err);
		}
	}
	if (child_process_setup(a->proc, a->seccomp, &exe, &err) < 0)
		child_fail(a->report_fd, &err);
	child_exec(a->proc, exe, a->seccomp, a->report_fd);
}

int agent_container_exec(const struct agent_runtime *rt, struct agent_ctr *c, struct agent_proc *p,
			 const struct oci_process *proc, const struct proto_stdio *stdio,
			 kiln_error_t *err)
{
	const struct agent_proc *init = agent_ctr_init(c);
	struct exec_child a = {.proc = proc};
	cleanup_close int report_r = -1, report_w = -1, cgfd = -1, pidns = -1;
	cleanup_free char *pty_root = NULL;
	int r = -1;
	pid_t pid;

	for (size_t i = 0; i < ARRAY_SIZE(exec_ns); i++)
		a.ns_fd[i] = -1;
	for (size_t i = 0; i < ARRAY_SIZE(exec_ns); i++) {
		cleanup_free char *path = NULL;

		if (!(c->clone_flags & exec_ns[i]))
			continue;
		path = xasprintf("/proc/%d/ns/%s", init->pid, exec_ns_name[i]);
		a.ns_fd[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (a.ns_fd[i] < 0) {
			kiln_error_make(err, errno, "open %s", path);
			goto out;
		}
	}
	if (c->clone_flags & CLONE_NEWPID) {
		cleanup_free char *path = xasprintf("/proc/%d/ns/pid", init->pid);

		pidns = open(path, O_RDONLY | O_CLOEXEC);
		if (pidns < 0) {
			kiln_error_make(err, errno, "open %s", path);
			goto out;
		}
	}
	cgfd = cgroup_open(c);
	if (report_pair(&report_r, &report_w, err) < 0)
		goto out;
	/* The container's own devpts when it has one, so ttyname() works
	 * inside; else the agent's. */
	if (proc->terminal) {
		cleanup_free char *root = xasprintf("/proc/%d/root", init->pid);
		cleanup_free char *ptmx = xasprintf("%s/dev/pts/ptmx", root);

		pty_root = access(ptmx, F_OK) == 0 ? TAKE_PTR(root) : xstrdup("");
	}
	if (stdio_setup(p, proc->terminal, pty_root, stdio, &a.stdio, err) < 0) {
		child_stdio_close(&a.stdio);
		goto out;
	}
	a.report_fd = report_w;
	a.seccomp = c->seccomp;
	/* A pid namespace is entered by the children made after setns();
	 * the agent switches back right after the fork. */
	if (pidns >= 0 && setns(pidns, CLONE_NEWPID) < 0) {
		kiln_error_make(err, errno, "join pid namespace");
		child_stdio_close(&a.stdio);
		goto out;
	}
	pid = clone_fork(0, cgfd);
	if (pid == 0)
		child_exec_into(&a);
	if (pidns >= 0 && setns(rt->self_pidns, CLONE_NEWPID) < 0)
		log_error("cannot return to the agent's pid namespace: %s", strerror(errno));
	child_stdio_close(&a.stdio);
	if (pid < 0) {
		kiln_error_make(err, errno, "clone");
		goto out;
	}
	close(TAKE_FD(report_w));
	p->pid = pid;
	p->state = AGENT_PROC_RUNNING;
	r = read_report(report_r, false, NULL, err);
	if (r < 0) {
		reap_now(pid);
		p->state = AGENT_PROC_EXITED;
	}
out:
	for (size_t i = 0; i < ARRAY_SIZE(exec_ns); i++)
		if (a.ns_fd[i] >= 0)
			close(a.ns_fd[i]);
	return r < 0 ? -1 : 0;
}
