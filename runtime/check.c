/* kiln check: can this host run kiln containers? One line per requirement, ok / warn / FAIL, with
 * the reason and the fix, as `kata-runtime check` does for Kata. The exit status is 0 only when
 * nothing failed: a warning names something a container can do without (cgroup limits), a failure
 * something no container can. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/io.h"
#include "common/json.h"
#include "common/kvm.h"
#include "common/util.h"
#include "proto/client.h"
#include "proto/proto.h"
#include "runtime/network.h"
#include "runtime/runtime.h"

enum check_status { CHECK_OK, CHECK_WARN, CHECK_FAIL };

struct check_line {
	const char *name;
	enum check_status status;
	char *msg;
	char *fix; /* NULL when there is nothing to do */
};

struct check_report {
	struct check_line lines[10];
	size_t n;
};

__attribute__((format(printf, 4, 5))) static void
add(struct check_report *r, const char *name, enum check_status status, const char *fmt, ...)
{
	struct check_line *l = &r->lines[r->n++];
	va_list ap;

	va_start(ap, fmt);
	*l = (struct check_line){.name = name, .status = status, .msg = xvasprintf(fmt, ap)};
	va_end(ap);
}

static void set_fix(struct check_report *r, const char *fix)
{
	r->lines[r->n - 1].fix = xstrdup(fix);
}

static void add_error(struct check_report *r, const char *name, kiln_error_t *err)
{
	add(r, name, CHECK_FAIL, "%s", (*err)->msg);
	kiln_error_free(err);
}

static void check_kvm(struct check_report *r, bool pvm_guest_kernel)
{
	enum kiln_kvm_kind kind = kiln_kvm_kind("");
	cleanup_close int fd = -1;

	switch (kind) {
	case KILN_KVM_NONE:
		add(r, "kvm", CHECK_FAIL, "no /dev/kvm");
		set_fix(r, "use a machine with hardware virtualisation (VT-x or AMD-V) enabled "
			   "in its firmware, and load kvm_intel or kvm_amd");
		return;
	case KILN_KVM_PVM:
		if (!pvm_guest_kernel) {
			add(r, "kvm", CHECK_FAIL,
			    "/dev/kvm is PVM (kvm_pvm): it boots only kernels built as PVM "
			    "guests and hangs any other");
			set_fix(r, "use a machine with hardware virtualisation (VT-x or AMD-V), "
				   "or a PVM guest kernel with pvm_guest_kernel = true "
				   "in " KILN_CONF_PATH);
			return;
		}
		break;
	case KILN_KVM_UNKNOWN:
		add(r, "kvm", CHECK_FAIL,
		    "/dev/kvm is served by none of kvm_intel, kvm_amd, kvm_pvm: cannot tell "
		    "whether it boots a stock kernel");
		set_fix(r, "load kvm_intel or kvm_amd");
		return;
	case KILN_KVM_INTEL:
	case KILN_KVM_AMD:
		break;
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		add(r, "kvm", CHECK_FAIL, "/dev/kvm (kvm_%s): cannot open read-write: %s",
		    kiln_kvm_kind_name(kind), strerror(errno));
		set_fix(r, "run kiln as root, or as a member of /dev/kvm's group (kvm)");
		return;
	}
	add(r, "kvm", CHECK_OK, "/dev/kvm is kvm_%s, read-write%s", kiln_kvm_kind_name(kind),
	    kind == KILN_KVM_PVM ? " (pvm_guest_kernel = true)" : "");
}

/* The controllers create delegates to a container's cgroup, for `update`. */
static void check_cgroup(struct check_report *r)
{
	static const char *const wanted[] = {"cpu", "memory", "pids"};
	cleanup_free char *text = NULL;
	char missing[64] = "";
	kiln_error_t err = NULL;

	if (kiln_read_file("/sys/fs/cgroup/cgroup.controllers", 4096, &text, NULL, &err) < 0) {
		kiln_error_free(&err);
		add(r, "cgroup", CHECK_WARN,
		    "no cgroup v2 at /sys/fs/cgroup: a VM stays in kiln's cgroup, "
		    "linux.cgroupsPath and `kiln update` have no effect");
		set_fix(r, "boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2)");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(wanted); i++) {
		const char *p = text;
		size_t len = strlen(wanted[i]);
		bool found = false;

		while ((p = strstr(p, wanted[i])) != NULL) {
			if ((p == text || p[-1] == ' ') &&
			    (p[len] == ' ' || p[len] == '\n' || !p[len]))
				found = true;
			p += len;
		}
		if (!found)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
				 " %s", wanted[i]);
	}
	if (*missing) {
		add(r, "cgroup", CHECK_WARN,
		    "cgroup v2, but the root lacks controller(s)%s: `kiln update` cannot set "
		    "those limits",
		    missing);
		set_fix(r, "enable the controllers in the kernel (cgroup_enable=...)");
		return;
	}
	add(r, "cgroup", CHECK_OK, "cgroup v2 with the cpu, memory and pids controllers");
}

/* What a container with a network needs (runtime/network.h). Without it
 * only containers without one (podman --network none) run: a warning. */
static void check_network(struct check_report *r)
{
	kiln_error_t err = NULL;

	if (kiln_net_probe(&err) < 0) {
		add(r, "network", CHECK_WARN,
		    "containers with a network cannot be wired to their VM: %s", err->msg);
		set_fix(r, "load tun, sch_ingress, cls_u32 and act_mirred (modprobe), or build "
			   "the kernel with them");
		kiln_error_free(&err);
		return;
	}
	add(r, "network", CHECK_OK, "taps and tc redirects (ingress, u32, mirred) can be made");
}

/* Whether the file holds the bytes s: the name a built-in filesystem
 * registers is in the kernel's image as it is. */
static bool file_has_string(const char *path, const char *s)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t want = strlen(s), have = 0;
	char buf[65536];
	ssize_t n;

	if (fd < 0)
		return false;
	while ((n = read(fd, buf + have, sizeof(buf) - have)) > 0) {
		have += (size_t)n;
		if (memmem(buf, have, s, want) != NULL)
			return true;
		/* keep a tail that may start the string */
		memmove(buf, buf + have - (want - 1), want - 1);
		have = want - 1;
	}
	return false;
}

/* Whether /lib/modules/<version>/<file> lists the module name.ko. */
static bool modules_list(const char *version, const char *file, const char *ko)
{
	cleanup_free char *path = xasprintf("/lib/modules/%s/%s", version, file);
	cleanup_free char *text = NULL;
	cleanup_free char *needle = xasprintf("/%s", ko);
	kiln_error_t err = NULL;

	if (kiln_read_file(path, 16u << 20, &text, NULL, &err) < 0) {
		kiln_error_free(&err);
		return false;
	}
	return strstr(text, needle) != NULL;
}

/* Volumes (runtime/volumes.h): virtiofsd on the host, virtio-fs in the
 * guest's kernel. Without them only containers without host bind mounts
 * run; podman and containerd bind-mount /etc/hosts into every one. */
static void check_volumes(struct check_report *r, const struct kiln_conf *conf, const char *path,
			  bool guest_ok)
{
	const char *kernel_has = NULL;

	if (access(conf->virtiofsd, X_OK) < 0) {
		add(r, "volumes", CHECK_WARN,
		    "virtiofsd %s: %s: containers with host bind mounts (every podman and "
		    "containerd container) cannot run",
		    conf->virtiofsd, strerror(errno));
		r->lines[r->n - 1].fix = xasprintf("apt install qemu-system-common, or set "
						   "virtiofsd in %s",
						   path);
		return;
	}
	if (!guest_ok) {
		add(r, "volumes", CHECK_OK, "virtiofsd %s (cache=%s); guest kernel not checked",
		    conf->virtiofsd, conf->volume_cache);
		return;
	}
	if (modules_list(conf->kernel_version, "modules.builtin", "virtiofs.ko") ||
	    file_has_string(conf->kernel, "virtiofs"))
		kernel_has = "built in";
	else if (modules_list(conf->kernel_version, "modules.dep", "virtiofs.ko"))
		kernel_has = "module virtiofs, in the image `make guest` builds";
	if (kernel_has == NULL) {
		add(r, "volumes", CHECK_WARN,
		    "virtiofsd %s, but kernel %s has no virtio-fs: containers with host bind "
		    "mounts cannot run",
		    conf->virtiofsd, conf->kernel);
		set_fix(r, "use kiln's kernel (make guest) or one with CONFIG_VIRTIO_FS");
		return;
	}
	add(r, "volumes", CHECK_OK, "virtiofsd %s (cache=%s), virtio-fs in kernel %s (%s)",
	    conf->virtiofsd, conf->volume_cache, conf->kernel_version, kernel_has);
}

/* Boots a VM with the guest image and no container, until its agent answers
 * a ping: what every container's start waits for. */
static int boot_probe(const struct kiln_conf *conf, long long *ms, kiln_error_t *err)
{
	char dir[] = "/tmp/kiln-check.XXXXXX";
	cleanup_free char *vm = NULL, *uds = NULL, *console = NULL, *log = NULL;
	cleanup_free char *json = NULL;
	struct proto_client pc = {.fd = -1};
	long long start, deadline;
	size_t len;
	pid_t pid;
	int status, r = -1;

	if (mkdtemp(dir) == NULL)
		return kiln_error_make(err, errno, "cannot make a directory in /tmp");
	vm = xasprintf("%s/vm.json", dir);
	uds = xasprintf("%s/vsock.sock", dir);
	console = xasprintf("%s/console.log", dir);
	log = xasprintf("%s/vmm.log", dir);
	struct kiln_vm_files files = {
	    .kernel = conf->kernel, .initrd = conf->initramfs, .vsock_uds = uds};

	if (kiln_vm_json(1, conf->memory_mib, &files, false, NULL, &json, &len, err) < 0 ||
	    kiln_write_file_atomic(vm, json, len, 0600, err) < 0)
		goto out;
	start = kiln_now_ms();
	pid = fork();
	if (pid < 0) {
		kiln_error_make(err, errno, "fork");
		goto out;
	}
	if (pid == 0) {
		char *const argv[] = {
		    conf->vmm,	  "--no-api",  "--config-file",
		    vm,		  "--console", console,
		    "--log-path", log,	       conf->pvm_guest_kernel ? "--pvm-guest-kernel" : NULL,
		    NULL};
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	deadline = start + conf->boot_timeout_ms;
	for (;;) {
		struct proto_reply reply = {0};

		if (proto_client_open(&pc, uds, err) == 0) {
			char *ping = proto_request_simple(pc.next_id++, PROTO_M_PING, &len);

			if (proto_client_call(&pc, ping, len, &reply, "ping", err) == 0) {
				proto_reply_release(&reply);
				*ms = kiln_now_ms() - start;
				r = 0;
				break;
			}
			proto_client_close(&pc);
		}
		kiln_error_free(err);
		if (waitpid(pid, &status, WNOHANG) == pid) {
			cleanup_free char *tail = NULL;

			pid = -1;
			kiln_read_file(log, 4096, &tail, NULL, err);
			kiln_error_free(err);
			kiln_error_make(err, 0, "kiln-vmm ended before the agent answered: %s",
					tail ? strtok(tail, "\n") : "no log");
			break;
		}
		if (kiln_now_ms() > deadline) {
			kiln_error_make(err, ETIMEDOUT,
					"the guest agent did not answer within %u ms (console: "
					"kiln-vmm --config-file with %s's kernel and image)",
					conf->boot_timeout_ms, KILN_CONF_PATH);
			break;
		}
		usleep(10000); /* the guest is booting: retry the connection */
	}
	proto_client_close(&pc);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
out:
	kiln_remove_tree(dir);
	return r;
}

static void print_text(const struct check_report *r)
{
	static const char *const tag[] = {"ok", "warn", "FAIL"};

	for (size_t i = 0; i < r->n; i++) {
		const struct check_line *l = &r->lines[i];

		printf("%-4s  %-7s %s", tag[l->status], l->name, l->msg);
		if (l->fix)
			printf(" (fix: %s)", l->fix);
		printf("\n");
	}
}

static int print_json(const struct check_report *r, bool ok, kiln_error_t *err)
{
	static const char *const tag[] = {"ok", "warn", "fail"};
	cleanup_json_gen kiln_json_gen_t *g = kiln_json_gen_new(true);
	cleanup_free char *out = NULL;
	size_t len;

	kiln_json_gen_map_open(g);
	kiln_json_gen_key(g, "ok");
	kiln_json_gen_bool(g, ok);
	kiln_json_gen_key(g, "checks");
	kiln_json_gen_array_open(g);
	for (size_t i = 0; i < r->n; i++) {
		const struct check_line *l = &r->lines[i];

		kiln_json_gen_map_open(g);
		kiln_json_gen_key(g, "name");
		kiln_json_gen_string(g, l->name);
		kiln_json_gen_key(g, "status");
		kiln_json_gen_string(g, tag[l->status]);
		kiln_json_gen_key(g, "message");
		kiln_json_gen_string(g, l->msg);
		if (l->fix) {
			kiln_json_gen_key(g, "fix");
			kiln_json_gen_string(g, l->fix);
		}
		kiln_json_gen_map_close(g);
	}
	kiln_json_gen_array_close(g);
	kiln_json_gen_map_close(g);
	if (kiln_json_gen_finish(g, &out, &len, err) < 0)
		return -1;
	fwrite(out, 1, len, stdout);
	printf("\n");
	return 0;
}

int kiln_check_host(bool boot, bool json, kiln_error_t *err)
{
	struct check_report r = {0};
	struct kiln_conf conf = {0};
	const char *path;
	bool ok = true, guest_ok = false;
	kiln_error_t guest_err = NULL;

	if (kiln_conf_read(&conf, &path, err) < 0) {
		add_error(&r, "config", err);
	} else {
		check_kvm(&r, conf.pvm_guest_kernel);
		check_cgroup(&r);
		check_network(&r);
		if (kiln_conf_check_vmm(&conf, path, err) < 0) {
			add_error(&r, "vmm", err);
		} else {
			add(&r, "vmm", CHECK_OK, "%s", conf.vmm);
		}
		/* the guest line last: it names what --boot boots */
		guest_ok = kiln_conf_check_guest(&conf, path, &guest_err) == 0;
		check_volumes(&r, &conf, path, guest_ok);
		if (!guest_ok)
			add_error(&r, "guest", &guest_err);
		else
			add(&r, "guest", CHECK_OK, "kernel %s (%s), image %s built for it",
			    conf.kernel, conf.kernel_version, conf.initramfs);
	}
	for (size_t i = 0; i < r.n; i++)
		ok = ok && r.lines[i].status != CHECK_FAIL;
	if (boot && ok && guest_ok) {
		long long ms = 0;

		if (boot_probe(&conf, &ms, err) < 0)
			add_error(&r, "boot", err);
		else
			add(&r, "boot", CHECK_OK,
			    "a probe VM's agent answered %lld ms after kiln-vmm "
			    "started",
			    ms);
		ok = r.lines[r.n - 1].status == CHECK_OK;
	} else if (boot) {
		add(&r, "boot", CHECK_FAIL, "not tried: a requirement above failed");
	}
	if (json) {
		if (print_json(&r, ok, err) < 0)
			ok = false;
	} else {
		print_text(&r);
	}
	for (size_t i = 0; i < r.n; i++) {
		free(r.lines[i].msg);
		free(r.lines[i].fix);
	}
	kiln_conf_release(&conf);
	if (*err)
		return 1;
	return ok ? 0 : 1;
}
