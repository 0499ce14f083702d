/* The per-container supervisor (runtime/supervisor.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/io.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/client.h"
#include "runtime/jail.h"
#include "runtime/network.h"
#include "runtime/runtime.h"
#include "runtime/supervisor.h"

#define SUPERVISE_FILE_MAX (64u << 10)
#define SPEC_FILE_MAX	   (PROTO_MAX_FRAME / 2)
#define VMM_ERR_MAX	   (64u << 10)
/* kiln-vmm's smallest RLIMIT_FSIZE, for its logs */
#define KILN_JAIL_MIN_FSIZE (64ull << 20)

/* ---- container.json */

static int get_string(const kiln_json_t *doc, const char *key, bool required, char **out,
		      kiln_error_t *err)
{
	const char *s = NULL;
	int r = kiln_json_get_string(doc, key, &s, err);

	if (r < 0)
		return r;
	if (r == 1 && required)
		return kiln_error_make(err, 0, "%s: required", key);
	*out = s ? xstrdup(s) : NULL;
	return 0;
}

int kiln_supervise_config_load(const char *path, struct kiln_supervise_config *c, kiln_error_t *err)
{
	cleanup_json kiln_json_t *doc = NULL;
	cleanup_free char *text = NULL;
	const kiln_json_t *net = NULL, *vols = NULL, *sources = NULL;
	uint32_t n;
	size_t len;
	int r;

	*c = (struct kiln_supervise_config){.ready_fd = -1, .boot_timeout_ms = 120000};
	if (kiln_read_file(path, SUPERVISE_FILE_MAX, &text, &len, err) < 0 ||
	    kiln_json_parse(text, len, &doc, err) < 0)
		return -1;
	if (get_string(doc, "id", true, &c->id, err) < 0 ||
	    get_string(doc, "spec", true, &c->spec_path, err) < 0 ||
	    get_string(doc, "drive_id", true, &c->drive_id, err) < 0 ||
	    get_string(doc, "fstype", false, &c->fstype, err) < 0 ||
	    get_string(doc, "vmm", true, &c->vmm, err) < 0 ||
	    get_string(doc, "kernel", true, &c->kernel, err) < 0 ||
	    get_string(doc, "initrd", true, &c->initrd, err) < 0 ||
	    kiln_json_get_bool(doc, "jail", &c->jail, err) < 0 ||
	    kiln_json_get_bool(doc, "pvm_guest_kernel", &c->pvm_guest_kernel, err) < 0 ||
	    kiln_json_get_bool(doc, "readonly", &c->readonly, err) < 0 ||
	    kiln_json_get_bool(doc, "terminal", &c->terminal, err) < 0)
		return -1;
	r = kiln_json_get_uint32(doc, "ready_fd", &n, err);
	if (r < 0)
		return r;
	if (r == 0)
		c->ready_fd = (int)n;
	r = kiln_json_get_uint32(doc, "boot_timeout_ms", &n, err);
	if (r < 0)
		return r;
	if (r == 0)
		c->boot_timeout_ms = n;
	c->jail_uid_base = KILN_JAIL_UID_BASE;
	r = kiln_json_get_uint32(doc, "jail_uid_base", &n, err);
	if (r < 0)
		return r;
	if (r == 0)
		c->jail_uid_base = n;
	if (c->ready_fd >= 0 && fcntl(c->ready_fd, F_GETFD) < 0)
		return kiln_error_make(err, errno, "ready_fd %d", c->ready_fd);
	if (kiln_json_get_object(doc, "network", &net, err) < 0)
		return -1;
	if (net && proto_network_parse(net, "network", &c->network, err) < 0)
		return -1;
	if (kiln_json_get_object(doc, "volumes", &vols, err) < 0)
		return -1;
	if (vols == NULL)
		return 0;
	if (get_string(vols, "virtiofsd", true, &c->virtiofsd, err) < 0 ||
	    get_string(vols, "cache", true, &c->volume_cache, err) < 0 ||
	    get_string(vols, "share", true, &c->share, err) < 0 ||
	    kiln_json_get_array(vols, "sources", &sources, err) < 0)
		return kiln_error_wrap(err, "volumes");
	if (!kiln_volume_cache_valid(c->volume_cache))
		return kiln_error_make(err, 0, "volumes.cache: invalid \"%s\"", c->volume_cache);
	if (sources && kiln_volumes_parse(sources, "volumes.sources", &c->volumes, err) < 0)
		return -1;
	return 0;
}

void kiln_supervise_config_release(struct kiln_supervise_config *c)
{
	free(c->id);
	free(c->spec_path);
	free(c->drive_id);
	free(c->fstype);
	free(c->vmm);
	free(c->kernel);
	free(c->initrd);
	proto_network_release(&c->network);
	kiln_volumes_release(&c->volumes);
	free(c->virtiofsd);
	free(c->volume_cache);
	free(c->share);
	if (c->ready_fd >= 0)
		close(c->ready_fd);
	*c = (struct kiln_supervise_config){.ready_fd = -1};
}

/* ---- The supervisor. The main thread owns kiln-vmm and the signals; the
 * session thread talks to the agent and relays stdio. */

struct supervisor {
	struct kiln_supervise_config cfg;
	const char *dir;
	char *uds; /* the VM's hybrid vsock socket */
	pid_t vmm;
	atomic_bool vmm_gone;
	pid_t fsd; /* virtiofsd, 0: none */
	bool fsd_gone;
	bool fsd_stopped; /* killed by stop_virtiofsd */
	bool fsd_done;	  /* stop_virtiofsd has run */
	int fsd_status;
	int done[2]; /* the session thread says it has ended */
	/* Written by the session thread, read after it is joined. */
	bool ready;
	bool finished;
	int exit_code;
	kiln_error_t err;
};

/* The one line for kiln create: "ok <guest pid> <kiln-vmm pid>" or
 * "error <message>". False when kiln create is gone (killed before it
 * heard): nobody will record the container, so it must not run. */
static bool report(struct supervisor *s, const char *word, const char *rest)
{
	char line[1024];
	ssize_t w;
	int n;

	if (s->cfg.ready_fd < 0)
		return true;
	n = snprintf(line, sizeof(line) - 1, "%s %s", word, rest);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	w = kiln_write_all(s->cfg.ready_fd, line, (size_t)n);
	close(s->cfg.ready_fd);
	s->cfg.ready_fd = -1;
	return w == n;
}

/* Connects to the agent's control port, retrying while the guest boots. */
static int wait_for_agent(struct supervisor *s, struct proto_client *c, kiln_error_t *err)
{
	long long deadline = kiln_now_ms() + s->cfg.boot_timeout_ms;

	for (;;) {
		struct proto_reply r = {0};
		size_t len;

		if (proto_client_open(c, s->uds, err) == 0) {
			char *ping = proto_request_simple(c->next_id++, PROTO_M_PING, &len);

			if (proto_client_call(c, ping, len, &r, "ping", err) == 0) {
				proto_reply_release(&r);
				return 0;
			}
			proto_client_close(c);
		}
		kiln_error_free(err);
		if (atomic_load(&s->vmm_gone))
			return kiln_error_make(err, 0, "the VM stopped before its agent answered");
		if (kiln_now_ms() > deadline)
			return kiln_error_make(err, ETIMEDOUT,
					       "the guest agent did not answer within %u ms",
					       s->cfg.boot_timeout_ms);
		usleep(10000);
	}
}

static int create_container(struct supervisor *s, struct proto_client *c, int *pid,
			    kiln_error_t *err)
{
	cleanup_json kiln_json_t *spec = NULL;
	cleanup_free char *text = NULL;
	struct proto_create_params p = {0};
	size_t len;

	if (kiln_read_file(s->cfg.spec_path, SPEC_FILE_MAX, &text, &len, err) < 0 ||
	    kiln_json_parse(text, len, &spec, err) < 0)
		return -1;
	p.container_id = s->cfg.id;
	p.spec = spec;
	p.rootfs.drive_id = s->cfg.drive_id;
	p.rootfs.fstype = s->cfg.fstype ? s->cfg.fstype : "ext4";
	/* A read-only disk still needs mount points made for the spec's
	 * mounts (podman --read-only mounts tmpfs on /run, which an image may
	 * lack): those go into a tmpfs overlay, and the agent remounts the
	 * root read-only once the mounts are in, as runc does. */
	p.rootfs.readonly = s->cfg.readonly;
	p.rootfs.overlay = s->cfg.readonly;
	p.stdio = (struct proto_stdio){.in = true, .out = true, .err = true};
	/* borrowed: the request is built before this returns */
	p.network = s->cfg.network;
	if (s->cfg.volumes.n > 0)
		p.volumes =
		    (struct proto_volumes){.tag = KILN_VOLUMES_TAG, .path = KILN_GUEST_VOLUMES};
	return proto_client_create(c, &p, pid, err);
}

/* stdin is relayed when there is one: a closed fd 0 means none. */
static int input_fd(void)
{
	struct stat st;

	return fstat(STDIN_FILENO, &st) == 0 ? STDIN_FILENO : -1;
}

static void *session_main(void *arg)
{
	struct supervisor *s = arg;
	struct proto_client c = {.fd = -1};
	struct proto_relay relay = PROTO_RELAY_INIT;
	struct proto_wait_result w = {0};
	char pids[32];
	int pid = 0;

	if (wait_for_agent(s, &c, &s->err) < 0 || create_container(s, &c, &pid, &s->err) < 0 ||
	    proto_relay_attach(&relay, s->uds, s->cfg.id, NULL, s->cfg.terminal, input_fd(),
			       STDOUT_FILENO, STDERR_FILENO, &s->err) < 0 ||
	    (s->cfg.terminal && isatty(STDIN_FILENO) &&
	     proto_relay_follow_winsize(&relay, s->uds, s->cfg.id, NULL, STDIN_FILENO, &s->err) <
		 0))
		goto out;
	snprintf(pids, sizeof(pids), "%d %d", pid, (int)s->vmm);
	if (!report(s, "ok", pids)) {
		kiln_error_make(&s->err, 0,
				"kiln create went away before the container was created");
		goto out;
	}
	s->ready = true;
	log_info("container %s created (guest pid %d)", s->cfg.id, pid);
	if (proto_relay_run(&relay, &c, s->cfg.id, NULL, &w, &s->err) < 0)
		goto out;
	log_info("container %s exited with status %d", s->cfg.id, w.exit_code);
	s->exit_code = w.exit_code;
	s->finished = true;
out:
	proto_relay_release(&relay);
	proto_client_close(&c);
	(void)!write(s->done[1], "", 1);
	return NULL;
}

/* ---- kiln-vmm, the supervisor's child. */

/* In the child, root, in the VM's directory: its jail (runtime/jail.h),
 * with kiln-vmm's uid and gid the base plus its pid. */
static void enter_jail(const struct supervisor *s, const char *vm_dir)
{
	cleanup_free char *net_path = xasprintf("%s/network.json", s->dir);
	struct kiln_jail j = {
	    .dir = vm_dir,
	    .uid = s->cfg.jail_uid_base + (unsigned)getpid(),
	    .gid = s->cfg.jail_uid_base + (unsigned)getpid(),
	    .binds = {{s->cfg.kernel, KILN_VM_KERNEL}, {s->cfg.initrd, KILN_VM_INITRD}},
	    .n_binds = 2,
	    .nofile = KILN_JAIL_DEFAULT_NOFILE};
	kiln_error_t e = NULL;
	struct kiln_net net;
	const char *what;
	struct stat st;

	/* writes stop at the disk's size: a guest cannot fill the host's
	 * disk through the console log */
	if (stat("rootfs.img", &st) == 0)
		j.fsize = (rlim_t)st.st_size > KILN_JAIL_MIN_FSIZE ? (rlim_t)st.st_size
								   : KILN_JAIL_MIN_FSIZE;
	if (kiln_net_load(net_path, &net, &e) < 0 ||
	    kiln_net_give_taps(&net, j.uid, j.gid, &e) < 0) {
		dprintf(STDERR_FILENO, "kiln-vmm: %s\n", e->msg);
		_exit(127);
	}
	j.tun = net.n_links > 0;
	kiln_net_release(&net);
	if (kiln_jail_prepare(&j, &what) < 0 || kiln_jail_enter(&j, &what) < 0)
		kiln_child_fail(STDERR_FILENO, "kiln-vmm: %s", what);
}

/* Without the jail: the kernel and initrd by symlink. */
static void link_files(const struct supervisor *s)
{
	if ((symlink(s->cfg.kernel, KILN_VM_KERNEL) < 0 && errno != EEXIST) ||
	    (symlink(s->cfg.initrd, KILN_VM_INITRD) < 0 && errno != EEXIST))
		kiln_child_fail(STDERR_FILENO, "kiln-vmm: linking the kernel and initrd");
}

/* In the child: fds 0-1 /dev/null, 2 the error file the supervisor reads
 * when kiln-vmm fails; it runs in the VM's directory, jailed unless
 * kiln.conf says otherwise, and dies with the supervisor. */
__attribute__((noreturn)) static void exec_vmm(const struct supervisor *s, int null_fd, int err_fd,
					       const sigset_t *mask)
{
	cleanup_free char *vm_dir = xasprintf("%s/" KILN_VM_DIR, s->dir);
	char *const argv[] = {
	    "kiln-vmm",	  "--id",      s->cfg.id,
	    "--api-sock", "api.sock",  "--config-file",
	    "vm.json",	  "--console", "console.log",
	    "--log-path", "vmm.log",   s->cfg.pvm_guest_kernel ? "--pvm-guest-kernel" : NULL,
	    NULL};
	pid_t parent = getppid();
	int exe;

	sigprocmask(SIG_UNBLOCK, mask, NULL);
	if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(null_fd, STDOUT_FILENO) < 0 ||
	    dup2(err_fd, STDERR_FILENO) < 0)
		_exit(127);
	/* opened before the jail hides the host's files */
	exe = open(s->cfg.vmm, O_PATH | O_CLOEXEC);
	if (exe < 0)
		kiln_child_fail(STDERR_FILENO, "kiln-vmm: %s", s->cfg.vmm);
	if (chdir(vm_dir) < 0)
		kiln_child_fail(STDERR_FILENO, "kiln-vmm: %s", vm_dir);
	if (s->cfg.jail)
		enter_jail(s, vm_dir);
	else
		link_files(s);
	/* after the jail's uid change, which clears it */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
	if (s->cfg.jail)
		fexecve(exe, argv, environ);
	else
		execv(s->cfg.vmm, argv);
	kiln_child_fail(STDERR_FILENO, "kiln-vmm: %s", s->cfg.vmm);
}

static int spawn_vmm(struct supervisor *s, const sigset_t *mask, kiln_error_t *err)
{
	cleanup_free char *err_path = xasprintf("%s/vmm.err", s->dir);
	cleanup_close int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	cleanup_close int err_fd =
	    open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);

	if (null_fd < 0)
		return kiln_error_make(err, errno, "/dev/null");
	if (err_fd < 0)
		return kiln_error_make(err, errno, "%s", err_path);
	s->vmm = fork();
	if (s->vmm < 0)
		return kiln_error_make(err, errno, "fork");
	if (s->vmm == 0)
		exec_vmm(s, null_fd, err_fd, mask);
	return 0;
}

/* ---- virtiofsd, the supervisor's other child (runtime/volumes.h). */

/* The last line of a file the supervisor's children write, allocated;
 * NULL when there is none. */
static char *last_line(const char *path)
{
	cleanup_free char *text = NULL;
	kiln_error_t e = NULL;
	char *last;
	size_t len = 0;

	if (kiln_read_file(path, VMM_ERR_MAX, &text, &len, &e) < 0) {
		kiln_error_free(&e);
		return NULL;
	}
	while (len > 0 && text[len - 1] == '\n')
		text[--len] = '\0';
	if (len == 0)
		return NULL;
	last = strrchr(text, '\n');
	return xstrdup(last ? last + 1 : text);
}

/* Listens on the VM's directory's fs.sock (kiln-vmm connects to it when
 * the VM starts; the jail gives it to kiln-vmm's uid) and starts virtiofsd
 * on it. The supervisor keeps no copy of the socket: once virtiofsd is
 * gone, kiln-vmm's connection fails instead of waiting. */
static int start_virtiofsd(struct supervisor *s, kiln_error_t *err)
{
	cleanup_free char *sock = xasprintf("%s/" KILN_VM_DIR "/" KILN_VM_FS_SOCK, s->dir);
	cleanup_free char *log_path = xasprintf("%s/virtiofsd.log", s->dir);
	cleanup_close int log_fd =
	    open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	cleanup_close int lfd = -1;
	struct kiln_virtiofsd_opts o = {.virtiofsd = s->cfg.virtiofsd,
					.cache = s->cfg.volume_cache,
					.share = s->cfg.share,
					.volumes = &s->cfg.volumes,
					.log_fd = log_fd};

	if (log_fd < 0)
		return kiln_error_make(err, errno, "%s", log_path);
	lfd = kiln_unix_listen(sock, err);
	if (lfd < 0)
		return kiln_error_wrap(err, "volumes");
	if (chmod(sock, 0600) < 0)
		return kiln_error_make(err, errno, "volumes: %s", sock);
	o.listen_fd = lfd;
	s->fsd = kiln_virtiofsd_spawn(&o, err);
	if (s->fsd < 0) {
		s->fsd = 0;
		return kiln_error_wrap(err, "volumes: starting virtiofsd");
	}
	/* for a delete --force that finds the supervisor gone */
	{
		cleanup_free char *pid_path = xasprintf("%s/virtiofsd.pid", s->dir);
		cleanup_free char *pid_text =
		    xasprintf("%d %llu\n", (int)s->fsd, kiln_pid_start(s->fsd));

		/* the caller stops it */
		if (kiln_write_file_atomic(pid_path, pid_text, strlen(pid_text), 0600, err) < 0)
			return -1;
	}
	log_debug("container %s: virtiofsd %d serves %zu volume(s) from %s", s->cfg.id, (int)s->fsd,
		  s->cfg.volumes.n, s->cfg.share);
	return 0;
}

/* Why virtiofsd ended, one line. */
static char *virtiofsd_end_reason(const struct supervisor *s)
{
	cleanup_free char *path = xasprintf("%s/virtiofsd.log", s->dir);
	cleanup_free char *last = last_line(path);
	cleanup_free char *how = NULL;

	if (WIFSIGNALED(s->fsd_status))
		how = xasprintf("was killed by SIG%s", sigabbrev_np(WTERMSIG(s->fsd_status)));
	else
		how = xasprintf("exited with status %d", WEXITSTATUS(s->fsd_status));
	return xasprintf("volume daemon virtiofsd %s%s%s", how, last ? ": " : "", last ? last : "");
}

/* Reaps virtiofsd if it has ended; true when it is gone. */
static bool reap_virtiofsd(struct supervisor *s, int flags)
{
	if (s->fsd <= 0 || s->fsd_gone)
		return true;
	if (waitpid(s->fsd, &s->fsd_status, flags) == s->fsd)
		s->fsd_gone = true;
	return s->fsd_gone;
}

/* It ended by itself, and not as it does when kiln-vmm hangs up. */
static bool virtiofsd_failed(const struct supervisor *s)
{
	return s->fsd > 0 && s->fsd_gone && !s->fsd_stopped &&
	       !(WIFEXITED(s->fsd_status) && WEXITSTATUS(s->fsd_status) == 0);
}

/* Stops it once the VM is gone; it has nothing left to serve. virtiofsd
 * forks its sandboxed worker into new namespaces; both are in the process
 * group of their own virtiofsd starts (runtime/volumes.c), and the worker,
 * orphaned, comes to the supervisor (a child subreaper): so both are gone
 * when this returns. */
static void stop_virtiofsd(struct supervisor *s)
{
	if (s->fsd <= 0 || s->fsd_done)
		return;
	s->fsd_done = true;
	if (!s->fsd_gone)
		s->fsd_stopped = true;
	kill(-s->fsd, SIGKILL);
	while (!reap_virtiofsd(s, 0) && errno == EINTR)
		;
	s->fsd_gone = true;
	while (waitpid(-s->fsd, NULL, 0) > 0 || errno == EINTR)
		;
}

/* Why kiln-vmm ended, for the one line the user gets. */
static char *vmm_end_reason(const struct supervisor *s, int status)
{
	cleanup_free char *path = xasprintf("%s/vmm.err", s->dir);
	cleanup_free char *last = NULL;

	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		return xstrdup("kiln-vmm was killed by its seccomp filter (SIGSYS): "
			       "it made a system call outside its allow-list");
	if (WIFSIGNALED(status))
		return xasprintf("kiln-vmm was killed by SIG%s", sigabbrev_np(WTERMSIG(status)));
	/* a volume daemon that failed first explains kiln-vmm's failure */
	if (virtiofsd_failed(s))
		return virtiofsd_end_reason(s);
	/* the last line kiln-vmm wrote: its one-line error */
	last = last_line(path);
	if (last)
		return xasprintf("the VM ended before the container's process did: %s", last);
	return xasprintf("the VM ended before the container's process did "
			 "(kiln-vmm exited with status %d)",
			 WEXITSTATUS(status));
}

static int supervise(struct supervisor *s, kiln_error_t *err)
{
	static const int stop_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
	cleanup_close int sfd = -1;
	pthread_t thread;
	sigset_t mask;
	int vmm_status = 0, stop_sig = 0, code, r;
	bool session_done = false, vmm_stopped = false;

	/* SIGWINCH is the relay's (its own signalfd), in every thread */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGWINCH);
	for (size_t i = 0; i < ARRAY_SIZE(stop_signals); i++)
		sigaddset(&mask, stop_signals[i]);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigdelset(&mask, SIGWINCH);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		return kiln_error_make(err, errno, "signalfd");
	if (pipe2(s->done, O_CLOEXEC) < 0)
		return kiln_error_make(err, errno, "pipe");
	sigaddset(&mask, SIGWINCH);
	if ((s->cfg.volumes.n > 0 && start_virtiofsd(s, err) < 0) || spawn_vmm(s, &mask, err) < 0) {
		stop_virtiofsd(s);
		/* kiln create says it, as for any failure before "ok" */
		report(s, "error", (*err)->msg);
		kiln_error_free(err);
		return 255;
	}
	r = pthread_create(&thread, NULL, session_main, s);
	if (r != 0) {
		kill(s->vmm, SIGKILL);
		waitpid(s->vmm, NULL, 0);
		stop_virtiofsd(s);
		return kiln_error_make(err, r, "cannot start the supervisor's session thread");
	}
	while (!session_done || !atomic_load(&s->vmm_gone)) {
		struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN},
					{.fd = s->done[0], .events = POLLIN}};
		struct signalfd_siginfo si;

		if (poll(pfd, 2, -1) < 0)
			continue;
		if (pfd[1].revents && !session_done) {
			session_done = true;
			pthread_join(thread, NULL);
			/* the workload has ended (or cannot run): so does the VM */
			if (!atomic_load(&s->vmm_gone))
				vmm_stopped = kill(s->vmm, SIGTERM) == 0;
		}
		if (!pfd[0].revents || read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGCHLD) {
			/* one signal may stand for both children */
			if (!atomic_load(&s->vmm_gone) &&
			    waitpid(s->vmm, &vmm_status, WNOHANG) == s->vmm)
				atomic_store(&s->vmm_gone, true);
			if (!s->fsd_gone && reap_virtiofsd(s, WNOHANG) &&
			    !atomic_load(&s->vmm_gone) && virtiofsd_failed(s)) {
				cleanup_free char *why = virtiofsd_end_reason(s);

				log_warning("container %s: %s; its volumes fail with I/O "
					    "errors",
					    s->cfg.id, why);
			}
			continue;
		}
		/* stopped from outside: the VM goes, the session follows */
		log_info("container %s: stopping on SIG%s", s->cfg.id,
			 sigabbrev_np((int)si.ssi_signo));
		if (!stop_sig)
			stop_sig = (int)si.ssi_signo;
		if (!atomic_load(&s->vmm_gone))
			vmm_stopped = kill(s->vmm, SIGTERM) == 0;
	}
	stop_virtiofsd(s);
	if (s->finished && !stop_sig)
		return s->exit_code;
	if (stop_sig) {
		code = 128 + stop_sig;
		kiln_error_free(&s->err);
		if (!s->ready)
			kiln_error_make(&s->err, 0, "interrupted by SIG%s", sigabbrev_np(stop_sig));
	} else {
		code = 255;
		/* A VMM that failed or was killed explains a broken session
		 * better than the session does; one that ended cleanly after
		 * the session broke was stopped here. */
		bool vmm_failed = WIFSIGNALED(vmm_status)
				      ? !(vmm_stopped && WTERMSIG(vmm_status) == SIGTERM)
				      : WEXITSTATUS(vmm_status) != 0;

		if (vmm_failed || !s->err) {
			cleanup_free char *why = vmm_end_reason(s, vmm_status);

			kiln_error_free(&s->err);
			kiln_error_make(&s->err, 0, "%s", why);
		} else if (s->ready) {
			kiln_error_wrap(&s->err,
					"lost the container's agent before its process ended");
		}
	}
	if (!s->ready && s->err) {
		report(s, "error", s->err->msg);
		kiln_error_free(&s->err);
	}
	*err = TAKE_PTR(s->err);
	return code;
}

int kiln_supervise(const char *dir, kiln_error_t *err)
{
	struct supervisor s = {.done = {-1, -1}};
	cleanup_free char *path = NULL;
	int code;

	s.dir = dir;
	/* for a delete --force after a create killed before it recorded us */
	{
		cleanup_free char *pid_path = xasprintf("%s/supervisor.pid", dir);
		cleanup_free char *pid_text =
		    xasprintf("%d %llu\n", (int)getpid(), kiln_pid_start(getpid()));

		if (kiln_write_file_atomic(pid_path, pid_text, strlen(pid_text), 0600, err) < 0)
			return 1;
	}
	path = xasprintf("%s/container.json", s.dir);
	if (kiln_supervise_config_load(path, &s.cfg, err) < 0) {
		kiln_error_wrap(err, "%s", path);
		kiln_supervise_config_release(&s.cfg);
		return 1;
	}
	/* the name ps and top show; comm is at most 15 characters */
	prctl(PR_SET_NAME, "kiln-supervisor");
	/* virtiofsd's worker comes back to be reaped (stop_virtiofsd) */
	if (s.cfg.volumes.n > 0)
		prctl(PR_SET_CHILD_SUBREAPER, 1);
	s.uds = xasprintf("%s/" KILN_VM_DIR "/vsock.sock", s.dir);
	code = supervise(&s, err);
	kiln_error_free(&s.err);
	free(s.uds);
	if (s.done[0] >= 0)
		close(s.done[0]);
	if (s.done[1] >= 0)
		close(s.done[1]);
	kiln_supervise_config_release(&s.cfg);
	return code;
}
