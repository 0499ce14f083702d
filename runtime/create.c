/* create, start and run: a bundle becomes a disk image (runtime/image.c)
 * and a supervisor process whose kiln-vmm boots it, with the container
 * created and held in the guest until start. Whatever fails on the way is
 * undone: no VMM, no state directory, no image, no cgroup is left behind. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/json.h"
#include "common/kvm.h"
#include "common/util.h"
#include "oci/oci.h"
#include "proto/client.h"
#include "runtime/network.h"
#include "runtime/runtime.h"
#include "runtime/volumes.h"

#define READY_FD	   3
#define SUPERVISOR_STOP_MS 10000

/* ---- Files in the state directory. */

static int write_json(const char *path, kiln_json_gen_t *g, kiln_error_t *err)
{
	cleanup_free char *out = NULL;
	size_t len;

	if (kiln_json_gen_finish(g, &out, &len, err) < 0)
		return -1;
	return kiln_write_file_atomic(path, out, len, 0600, err);
}

static int write_vm_json(const struct kiln_container *c, unsigned vcpus, unsigned mib,
			 bool readonly, const struct kiln_net *net, bool volumes, kiln_error_t *err)
{
	cleanup_free char *path = kiln_container_path(c, KILN_VM_DIR "/vm.json");
	cleanup_free char *out = NULL;
	/* kiln-vmm runs in its directory (its jail): names relative to it,
	 * the kernel and initrd put there by the supervisor */
	const struct kiln_vm_files files = {.kernel = KILN_VM_KERNEL,
					    .initrd = KILN_VM_INITRD,
					    .drive = "rootfs.img",
					    .vsock_uds = "vsock.sock",
					    .fs_socket = volumes ? KILN_VM_FS_SOCK : NULL};
	size_t len;

	if (kiln_vm_json(vcpus, mib, &files, readonly, net, &out, &len, err) < 0)
		return -1;
	return kiln_write_file_atomic(path, out, len, 0600, err);
}

static int write_container_json(const struct kiln_container *c, const struct kiln_conf *conf,
				bool readonly, bool terminal, const struct kiln_net *net,
				const struct kiln_volumes *vols, kiln_error_t *err)
{
	cleanup_json_gen kiln_json_gen_t *g = kiln_json_gen_new(true);
	cleanup_free char *path = kiln_container_path(c, "container.json");
	cleanup_free char *spec = kiln_container_path(c, "guest-spec.json");

	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_string(g, "id", c->id);
	kiln_json_gen_kv_string(g, "spec", spec);
	kiln_json_gen_kv_string(g, "drive_id", "rootfs");
	kiln_json_gen_kv_string(g, "fstype", "ext4");
	kiln_json_gen_kv_bool(g, "readonly", readonly);
	kiln_json_gen_kv_bool(g, "terminal", terminal);
	kiln_json_gen_kv_uint64(g, "ready_fd", READY_FD);
	kiln_json_gen_kv_uint64(g, "boot_timeout_ms", conf->boot_timeout_ms);
	kiln_json_gen_kv_string(g, "vmm", conf->vmm);
	kiln_json_gen_kv_bool(g, "pvm_guest_kernel", conf->pvm_guest_kernel);
	kiln_json_gen_kv_string(g, "kernel", conf->kernel);
	kiln_json_gen_kv_string(g, "initrd", conf->initramfs);
	kiln_json_gen_kv_bool(g, "jail", conf->jail);
	kiln_json_gen_kv_uint64(g, "jail_uid_base", conf->jail_uid_base);
	if (net->n_links > 0) {
		kiln_json_gen_key(g, "network");
		proto_network_emit(g, &net->guest);
	}
	if (vols->n > 0) {
		cleanup_free char *share = kiln_container_path(c, KILN_VOLUMES_DIR);

		kiln_json_gen_key(g, "volumes");
		kiln_json_gen_map_open(g);
		kiln_json_gen_kv_string(g, "virtiofsd", conf->virtiofsd);
		kiln_json_gen_kv_string(g, "cache", conf->volume_cache);
		kiln_json_gen_kv_string(g, "share", share);
		kiln_json_gen_key(g, "sources");
		kiln_volumes_emit(g, vols);
		kiln_json_gen_map_close(g);
	}
	kiln_json_gen_map_close(g);
	return write_json(path, g, err);
}

/* ---- Starting the supervisor. */

struct spawn {
	const struct kiln_context *ctx;
	const struct kiln_container *c;
	const struct kiln_conf *conf;
	const struct oci_config *cfg;
	int tty_slave; /* -1: our own fds 0-2 */
	bool new_session;
};

/* The supervisor and its kiln-vmm stand for the container on the host, so
 * they hold the container's network, UTS and IPC namespaces: the ones the
 * spec names by path, or new ones, a new UTS one named with the spec's
 * hostname. Another
 * container that joins this one's by path (podman's --uts container:ID, a
 * pod's sandbox under the CRI) then finds its network and its name. */
static void enter_namespace(const struct oci_namespace *ns, const char *hostname)
{
	int flag = oci_namespace_clone_flag(ns->type);

	if (ns->path && ns->path[0]) {
		int fd = open(ns->path, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || setns(fd, flag) < 0)
			kiln_child_fail(READY_FD, "error %s", ns->path);
		close(fd);
		return;
	}
	if (unshare(flag) < 0) {
		char what[64];

		snprintf(what, sizeof(what), "new %s namespace", oci_namespace_name(ns->type));
		kiln_child_fail(READY_FD, "error %s", what);
	}
	if (ns->type == OCI_NS_UTS && hostname && sethostname(hostname, strlen(hostname)) < 0)
		kiln_child_fail(READY_FD, "error hostname");
}

/* In the child: enter the namespaces and the cgroup, then become the
 * container's supervisor (runtime/supervisor.h). Failures go to the ready
 * pipe like the supervisor's own. */
__attribute__((noreturn)) static void exec_supervisor(const struct spawn *s, int ready)
{
	const struct oci_linux *l = s->cfg->linux_spec;
	char *argv[9];
	int n = 0;

	argv[n++] = "kiln";
	if (s->ctx->log) {
		argv[n++] = "--log";
		argv[n++] = (char *)s->ctx->log;
	}
	if (s->ctx->log_format == KILN_LOG_JSON)
		argv[n++] = "--log-format=json";
	if (s->ctx->debug)
		argv[n++] = "--debug";
	argv[n++] = "supervise";
	argv[n++] = s->c->dir;
	argv[n] = NULL;
	if (dup2(ready, READY_FD) < 0)
		_exit(127);
	if (s->new_session)
		setsid();
	if (s->tty_slave >= 0) {
		for (int fd = 0; fd < 3; fd++)
			dup2(s->tty_slave, fd);
		ioctl(STDIN_FILENO, TIOCSCTTY, 0);
	}
	close_range(READY_FD + 1, ~0u, 0);
	for (size_t i = 0; l && i < l->n_namespaces; i++) {
		const struct oci_namespace *ns = &l->namespaces[i];

		if (ns->type == OCI_NS_NETWORK || ns->type == OCI_NS_UTS || ns->type == OCI_NS_IPC)
			enter_namespace(ns, s->cfg->hostname);
	}
	if (s->c->cgroup) {
		cleanup_free char *procs = xasprintf("%s/cgroup.procs", s->c->cgroup);
		int fd = open(procs, O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, "0", 1) != 1)
			kiln_child_fail(READY_FD, "error %s", procs);
		close(fd);
	}
	execv("/proc/self/exe", argv);
	kiln_child_fail(READY_FD, "error /proc/self/exe");
}

/* ---- Interruption: SIGINT, SIGTERM, SIGHUP or SIGQUIT while a container
 * is being made undoes it like any other failure (the handler only notes
 * the signal and wakes wait_ready through a pipe). */

static const int interrupt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
static volatile sig_atomic_t interrupted_by;
static int interrupt_pipe[2] = {-1, -1};

static void on_interrupt(int sig)
{
	int saved = errno;

	interrupted_by = sig;
	/* a full pipe already wakes wait_ready */
	if (interrupt_pipe[1] >= 0)
		(void)!write(interrupt_pipe[1], "", 1);
	errno = saved;
}

/* Catches the signals while on, back to what they were when off. One that
 * was ignored stays ignored (a shell's background job ignores SIGINT). */
static void catch_interrupts(bool on)
{
	static struct sigaction saved[ARRAY_SIZE(interrupt_signals)];
	struct sigaction sa = {.sa_handler = on_interrupt, .sa_flags = SA_RESTART};

	if (on && interrupt_pipe[0] < 0 && pipe2(interrupt_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		interrupt_pipe[0] = interrupt_pipe[1] = -1; /* EINTR still wakes poll */
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(interrupt_signals); i++) {
		if (!on)
			sigaction(interrupt_signals[i], &saved[i], NULL);
		else if (sigaction(interrupt_signals[i], NULL, &saved[i]) == 0 &&
			 saved[i].sa_handler != SIG_IGN)
			sigaction(interrupt_signals[i], &sa, NULL);
	}
}

static int check_interrupted(kiln_error_t *err)
{
	if (!interrupted_by)
		return 0;
	return kiln_error_make(err, 0, "interrupted by SIG%s", sigabbrev_np(interrupted_by));
}

/* Reads the supervisor's one line: "ok <guest pid> <kiln-vmm pid>" or
 * "error <message>"; *vmm_pid is kiln-vmm's. */
static int wait_ready(int fd, unsigned timeout_ms, pid_t *vmm_pid, kiln_error_t *err)
{
	long long deadline = kiln_now_ms() + timeout_ms;
	char line[1100];
	size_t n = 0;

	for (;;) {
		struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN},
					{.fd = interrupt_pipe[0], .events = POLLIN}};
		long long left = deadline - kiln_now_ms();
		ssize_t r;
		int p;

		if (check_interrupted(err) < 0)
			return -1;
		if (left <= 0)
			return kiln_error_make(err, ETIMEDOUT,
					       "the VM did not report the container created");
		p = poll(pfd, 2, (int)left);
		if (p > 0 && pfd[1].revents) {
			char drain[16];

			/* a child's handler (before its exec) writes here too */
			while (read(interrupt_pipe[0], drain, sizeof(drain)) > 0)
				;
		}
		if (p <= 0 || !pfd[0].revents)
			continue;
		r = read(fd, line + n, sizeof(line) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(line, '\n', n) || n == sizeof(line) - 1)
			break;
	}
	line[n] = '\0';
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	if (strncmp(line, "ok ", 3) == 0) {
		int guest, vmm;

		if (sscanf(line + 3, "%d %d", &guest, &vmm) != 2 || vmm <= 0)
			return kiln_error_make(err, 0,
					       "the supervisor's report \"%s\" is malformed", line);
		*vmm_pid = vmm;
		return 0;
	}
	if (strncmp(line, "error ", 6) == 0)
		return kiln_error_make(err, 0, "%s", line + 6);
	/* a terminal's ^C reaches the supervisor too, which then stops */
	if (check_interrupted(err) < 0)
		return -1;
	return kiln_error_make(
	    err, 0, "the container's supervisor exited before the container was created");
}

static char *abs_path(const char *base, const char *p)
{
	cleanup_free char *joined = NULL;
	char *r;

	if (p[0] == '/')
		joined = xstrdup(p);
	else
		joined = xasprintf("%s/%s", base, p);
	r = realpath(joined, NULL);
	return r ? r : TAKE_PTR(joined);
}

char *kiln_rootfs_path(const char *bundle, const char *root)
{
	return abs_path(bundle, root);
}

/* The pty for --console-socket: the master goes to the caller, the slave
 * becomes the supervisor's stdio (the workload's). */
static int console_pty(const char *socket_path, int *slave, kiln_error_t *err)
{
	cleanup_close int sock = kiln_unix_connect(socket_path, err);
	cleanup_close int master = -1;
	int r;

	if (sock < 0)
		return kiln_error_wrap(err, "--console-socket");
	if (openpty(&master, slave, NULL, NULL, NULL) < 0)
		return kiln_error_make(err, errno, "openpty");
	r = kiln_send_fd(sock, master);
	if (r < 0) {
		close(*slave);
		*slave = -1;
		return kiln_error_make(err, r, "--console-socket %s: sending the pty", socket_path);
	}
	return 0;
}

/* The spec's network namespace, or NULL. */
static const struct oci_namespace *spec_netns(const struct oci_config *cfg)
{
	for (size_t i = 0; cfg->linux_spec && i < cfg->linux_spec->n_namespaces; i++)
		if (cfg->linux_spec->namespaces[i].type == OCI_NS_NETWORK)
			return &cfg->linux_spec->namespaces[i];
	return NULL;
}

/* Undoing a create: SIGTERM has the supervisor stop kiln-vmm and reap it;
 * one that does not answer in time is killed, and its kiln-vmm dies with
 * it (its parent-death signal). */
static void stop_supervisor(pid_t pid)
{
	cleanup_close int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = {.fd = pfd, .events = POLLIN};

	kill(pid, SIGTERM);
	if (pfd < 0 || poll(&p, 1, SUPERVISOR_STOP_MS) <= 0)
		kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Creates the container; *sup_pid is its supervisor's pid, a child of this
 * process (run waits for it). */
static int do_create(struct kiln_context *ctx, const struct kiln_create_opts *o, pid_t *sup_pid,
		     kiln_error_t *err)
{
	cleanup_oci_config struct oci_config *cfg = NULL;
	const struct kiln_conf *conf;
	struct kiln_container c = {0};
	cleanup_free char *bundle = NULL;
	cleanup_free char *spec_path = NULL;
	cleanup_free char *img = NULL;
	cleanup_free char *guest_spec = NULL;
	cleanup_free char *guest_path = NULL;
	struct kiln_volumes vols = {0};
	struct kiln_net net = {0};
	const struct oci_namespace *netns;
	size_t guest_len = 0;
	int ready[2] = {-1, -1};
	int slave = -1;
	bool made_dir = false, made_cgroup = false, wrote_pid_file = false;
	unsigned vcpus, mib;
	struct stat st;
	pid_t pid = -1;
	int r = -1;

	if (kiln_check_id(o->id, err) < 0)
		return -1;
	bundle = abs_path(".", o->bundle ? o->bundle : ".");
	if (oci_config_load(bundle, &cfg, err) < 0 || oci_config_check_runnable(cfg, err) < 0)
		return -1;
	if (kiln_hooks_check(cfg, err) < 0 || oci_config_check_sysctls(cfg, err) < 0)
		return -1;
	netns = spec_netns(cfg);
	if (netns == NULL)
		return kiln_error_make(
		    err, 0,
		    "the spec has no network namespace (podman --network host?): "
		    "a VM cannot share the host's network stack");
	if (cfg->process->terminal && o->detach && !o->console_socket)
		return kiln_error_make(err, 0,
				       "process.terminal is set: --console-socket is "
				       "required when the container is detached");
	if (kiln_context_conf(ctx, &conf, err) < 0)
		return -1;
	if (kiln_kvm_check_bootable(conf->pvm_guest_kernel,
				    "set pvm_guest_kernel = true in " KILN_CONF_PATH, err) < 0)
		return -1;
	if (kiln_guest_spec(cfg, bundle, &guest_spec, &guest_len, &vols, err) < 0)
		return -1;
	/* checked before anything is made: nothing to undo */
	if (vols.n > 0 && kiln_conf_check_virtiofsd(conf, kiln_conf_path(), err) < 0) {
		kiln_volumes_release(&vols);
		return -1;
	}
	c.id = xstrdup(o->id);
	c.dir = xasprintf("%s/%s", ctx->root, o->id);
	c.bundle = xstrdup(bundle);
	c.rootfs = kiln_rootfs_path(bundle, cfg->root.path);
	{
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		c.created = oci_time_rfc3339nano(&now);
	}
	if (stat(c.rootfs, &st) < 0 || !S_ISDIR(st.st_mode)) {
		kiln_error_make(err, stat(c.rootfs, &st) < 0 ? errno : ENOTDIR, "root.path %s",
				c.rootfs);
		goto out;
	}
	if (kiln_vm_size(cfg, conf, &vcpus, &mib, err) < 0)
		goto out;
	if (kiln_mkdir_p(ctx->root) < 0) {
		kiln_error_make(err, errno, "--root %s", ctx->root);
		goto out;
	}
	if (mkdir(c.dir, 0700) < 0) {
		if (errno == EEXIST)
			kiln_error_make(err, 0, "container \"%s\" already exists", o->id);
		else
			kiln_error_make(err, errno, "state directory %s", c.dir);
		goto out;
	}
	made_dir = true;
	{
		cleanup_free char *vm_dir = kiln_container_path(&c, KILN_VM_DIR);

		if (mkdir(vm_dir, 0700) < 0) {
			kiln_error_make(err, errno, "%s", vm_dir);
			goto out;
		}
	}
	if (vols.n > 0) {
		cleanup_free char *share = kiln_container_path(&c, KILN_VOLUMES_DIR);

		if (kiln_volumes_make_share(share, &vols, err) < 0)
			goto out;
	}
	if (netns->path && netns->path[0]) {
		cleanup_free char *path = kiln_container_path(&c, "network.json");

		if (kiln_net_wire(netns->path, &net, err) < 0)
			goto out;
		if (net.n_links > 0 && kiln_net_save(&net, path, err) < 0)
			goto out;
	}
	spec_path = kiln_container_path(&c, "config.json");
	img = kiln_container_path(&c, KILN_VM_DIR "/rootfs.img");
	guest_path = kiln_container_path(&c, "guest-spec.json");
	if (kiln_write_file_atomic(spec_path, cfg->raw, cfg->raw_len, 0600, err) < 0 ||
	    kiln_write_file_atomic(guest_path, guest_spec, guest_len, 0600, err) < 0 ||
	    kiln_image_build(c.rootfs, img, conf->rootfs_free_mib, err) < 0 ||
	    write_vm_json(&c, vcpus, mib, cfg->root.readonly, &net, vols.n > 0, err) < 0 ||
	    write_container_json(&c, conf, cfg->root.readonly, cfg->process->terminal, &net, &vols,
				 err) < 0 ||
	    check_interrupted(err) < 0)
		goto out;
	/* cgroup v2 only; elsewhere the supervisor stays in kiln's cgroup */
	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
		c.cgroup = kiln_cgroup_dir(cfg->linux_spec ? cfg->linux_spec->cgroups_path : NULL,
					   ctx->systemd_cgroup);
	if (c.cgroup) {
		int e = kiln_mkdir_p(c.cgroup);

		if (e < 0) {
			kiln_error_make(err, e, "cgroup %s", c.cgroup);
			goto out;
		}
		made_cgroup = true;
		kiln_cgroup_enable_controllers(c.cgroup);
	}
	if (cfg->process->terminal && o->console_socket &&
	    console_pty(o->console_socket, &slave, err) < 0)
		goto out;
	if (pipe2(ready, O_CLOEXEC) < 0) {
		kiln_error_make(err, errno, "pipe");
		goto out;
	}
	{
		struct spawn s = {.ctx = ctx,
				  .c = &c,
				  .conf = conf,
				  .cfg = cfg,
				  .tty_slave = slave,
				  .new_session = o->detach};

		pid = fork();
		if (pid < 0) {
			kiln_error_make(err, errno, "fork");
			goto out;
		}
		if (pid == 0)
			exec_supervisor(&s, ready[1]);
	}
	close(ready[1]);
	ready[1] = -1;
	if (wait_ready(ready[0], conf->boot_timeout_ms + 10000, &c.vmm_pid, err) < 0)
		goto out;
	c.pid = pid;
	c.pid_start = kiln_pid_start(pid);
	c.vmm_pid_start = kiln_pid_start(c.vmm_pid);
	if (kiln_container_save(&c, err) < 0)
		goto out;
	if (o->pid_file && kiln_write_pid(o->pid_file, pid, err) < 0)
		goto out;
	wrote_pid_file = o->pid_file != NULL;
	/* runc's order: prestart (deprecated), then createRuntime */
	if (kiln_hooks_run(&c, OCI_HOOK_PRESTART, err) < 0 ||
	    kiln_hooks_run(&c, OCI_HOOK_CREATE_RUNTIME, err) < 0 || check_interrupted(err) < 0)
		goto out;
	*sup_pid = pid;
	r = 0;
out:
	if (ready[0] >= 0)
		close(ready[0]);
	if (ready[1] >= 0)
		close(ready[1]);
	if (slave >= 0)
		close(slave);
	if (r < 0) {
		if (pid > 0)
			stop_supervisor(pid);
		if (wrote_pid_file) /* a failing hook comes after it */
			unlink(o->pid_file);
		if (made_cgroup)
			kiln_cgroup_remove(c.cgroup);
		kiln_net_unwire(&net);
		if (made_dir)
			kiln_remove_tree(c.dir);
	}
	kiln_net_release(&net);
	kiln_volumes_release(&vols);
	kiln_container_release(&c);
	return r;
}

/* ---- Operations. */

int kiln_container_create(struct kiln_context *ctx, const struct kiln_create_opts *o, pid_t *pid,
			  kiln_error_t *err)
{
	int r;

	catch_interrupts(true);
	r = do_create(ctx, o, pid, err);
	catch_interrupts(false);
	return r;
}

static int start_container(struct kiln_container *c, kiln_error_t *err)
{
	struct proto_client pc;
	int r;

	switch (kiln_container_status(c)) {
	case KILN_CREATED:
		break;
	case KILN_STOPPED:
		return kiln_error_make(err, 0, "cannot start a container that has stopped");
	default:
		return kiln_error_make(err, 0, "cannot start an already running container");
	}
	if (kiln_agent_open(c, &pc, err) < 0)
		return -1;
	r = proto_client_target(&pc, PROTO_M_START, c->id, NULL, err);
	proto_client_close(&pc);
	if (r < 0)
		return r;
	c->started = true;
	if (kiln_container_save(c, err) < 0)
		return -1;
	/* a failing poststart hook is reported, the container runs on */
	if (kiln_hooks_run(c, OCI_HOOK_POSTSTART, err) < 0) {
		log_warning("%s", (*err)->msg);
		kiln_error_free(err);
	}
	return 0;
}

int kiln_container_start(struct kiln_context *ctx, const char *id, kiln_error_t *err)
{
	struct kiln_container c;
	int r;

	if (kiln_container_load(ctx, id, &c, err) < 0)
		return -1;
	r = start_container(&c, err);
	kiln_container_release(&c);
	return r < 0 ? -1 : 0;
}

static void forward_signal(struct kiln_container *c, int sig)
{
	struct proto_client pc;
	kiln_error_t e = NULL;

	if (kiln_agent_open(c, &pc, &e) == 0) {
		proto_client_signal(&pc, c->id, NULL, sig, false, &e);
		proto_client_close(&pc);
	}
	kiln_error_free(&e);
}

/* Forwards the signals `kill` would send while waiting for the supervisor. */
static int wait_forwarding(struct kiln_container *c, pid_t pid)
{
	static const int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
	sigset_t set;
	int sfd, status = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < ARRAY_SIZE(fwd); i++)
		sigaddset(&set, fwd[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* one that came after the container started, before the block */
	if (interrupted_by)
		forward_signal(c, interrupted_by);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	for (;;) {
		struct signalfd_siginfo si;
		/* without a signalfd nothing is forwarded: just wait */
		pid_t w = waitpid(pid, &status, sfd < 0 ? 0 : WNOHANG);

		if (w == pid || (w < 0 && errno != EINTR))
			break;
		if (sfd < 0 || read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGCHLD)
			forward_signal(c, (int)si.ssi_signo);
	}
	if (sfd >= 0)
		close(sfd);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int kiln_container_run(struct kiln_context *ctx, const struct kiln_create_opts *o, int *code,
		       kiln_error_t *err)
{
	struct kiln_container c = {0};
	pid_t pid;
	int r = -1;

	*code = 1;
	/* until wait_forwarding takes the signals over */
	catch_interrupts(true);
	if (do_create(ctx, o, &pid, err) < 0 || kiln_container_load(ctx, o->id, &c, err) < 0)
		goto out;
	if (start_container(&c, err) < 0 || check_interrupted(err) < 0) {
		kiln_container_destroy(&c);
		goto out;
	}
	r = 0;
	if (o->detach) {
		*code = 0;
		goto out;
	}
	*code = wait_forwarding(&c, pid);
	if (!o->keep)
		kiln_container_destroy(&c);
out:
	catch_interrupts(false);
	kiln_container_release(&c);
	return r;
}
