/* libkilnruntime: kiln's containers as a library. A container is a state
 * directory under the context's root (default /run/kiln/<id>), its
 * supervisor process (runtime/supervisor.h) and the supervisor's child
 * kiln-vmm running the microVM. Every operation takes a struct
 * kiln_context and plain C arguments; the CLI (runtime/main.c's verb table,
 * one file per verb in runtime/cli/) is the only code that parses argv.
 * One file per concern: container.c (state), conf.c (kiln.conf),
 * image.c (the rootfs image), cgroup.c (host cgroups), vmconfig.c (VM
 * size, vm.json), network.c, guestspec.c, hooks.c, create.c (create,
 * start, run: spawning the supervisor), ops.c (state, kill, delete,
 * pause, resume, update), exec.c, supervisor.c, jail.c, check.c. */
#ifndef KILN_RUNTIME_RUNTIME_H
#define KILN_RUNTIME_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/log.h"

#define KILN_DEFAULT_ROOT "/run/kiln"
#define KILN_CONF_PATH	  "/etc/kiln/kiln.conf"

/* ---- Configuration: /etc/kiln/kiln.conf (KILN_CONF overrides the path),
 * "key = value" lines, '#' comments. Where the guest and the VMM are. */
struct kiln_conf {
	char *vmm;	 /* kiln-vmm */
	char *kernel;	 /* guest kernel (ELF vmlinux or bzImage) */
	char *initramfs; /* guest image (make guest) */
	char *kernel_version;
	unsigned vcpus;
	unsigned memory_mib;
	unsigned min_memory_mib; /* the kernel's floor (below) */
	unsigned boot_timeout_ms;
	unsigned rootfs_free_mib; /* free space in a container's disk */
	bool pvm_guest_kernel;	  /* kernel is a PVM guest: boot it on kvm_pvm */
	bool jail;		  /* kiln-vmm runs jailed (runtime/jail.h) */
	unsigned jail_uid_base;	  /* its uid and gid: this + its pid */
	char *virtiofsd;	  /* the volumes' daemon (KILN_VIRTIOFSD) */
	char *volume_cache;	  /* its cache= mode: none (default), auto, always */
};

#define KILN_VIRTIOFSD "/usr/lib/qemu/virtiofsd"

/* Above systemd's container uid range (524288-1879048191); kiln-vmm's uid
 * is the base plus its pid (at most 2^22), unique while it runs. */
#define KILN_JAIL_UID_BASE     1879048192u
#define KILN_JAIL_UID_BASE_MAX (4294967294ul - (1ul << 22))

/* KILN_CONF, else KILN_CONF_PATH. */
const char *kiln_conf_path(void);
/* Reads kiln.conf (its path in *path) and fills in the defaults; checks
 * nothing on disk. */
int kiln_conf_read(struct kiln_conf *c, const char **path, kiln_error_t *err);
/* kiln-vmm is there and executable. */
int kiln_conf_check_vmm(const struct kiln_conf *c, const char *path, kiln_error_t *err);
/* virtiofsd is there and executable (only needed with host bind mounts). */
int kiln_conf_check_virtiofsd(const struct kiln_conf *c, const char *path, kiln_error_t *err);
/* A cache mode virtiofsd takes. */
bool kiln_volume_cache_valid(const char *mode);
/* The guest image is there, the kernel is known and readable, and the image
 * was built for it; fills kernel (from the image's record) and
 * kernel_version. */
int kiln_conf_check_guest(struct kiln_conf *c, const char *path, kiln_error_t *err);
/* All three: what creating a container needs. */
int kiln_conf_load(struct kiln_conf *c, kiln_error_t *err);
void kiln_conf_release(struct kiln_conf *c);

/* ---- What every operation takes: the CLI's global options, and kiln.conf
 * once an operation has needed it. */
struct kiln_context {
	const char *root; /* state directories (KILN_DEFAULT_ROOT) */
	const char *log;  /* --log: NULL for none */
	enum kiln_log_format log_format;
	bool debug;
	bool systemd_cgroup; /* cgroupsPath is systemd's slice:prefix:name */
	struct kiln_conf conf;
	bool conf_loaded;
};

#define KILN_CONTEXT_INIT                                                                          \
	{                                                                                          \
		.root = KILN_DEFAULT_ROOT                                                          \
	}

/* kiln.conf loaded and checked (kiln_conf_load) on the first call, kept in
 * the context. */
int kiln_context_conf(struct kiln_context *ctx, const struct kiln_conf **conf, kiln_error_t *err);
void kiln_context_release(struct kiln_context *ctx);

/* kiln-vmm's configuration JSON: kernel and initrd, a vsock on vsock_uds,
 * unless NULL drive as the "rootfs" drive and net's taps as network
 * interfaces; allocated. */
struct kiln_net;
struct kiln_vm_files {
	const char *kernel;
	const char *initrd;
	const char *drive; /* NULL: none */
	const char *vsock_uds;
	const char *fs_socket; /* NULL: no volumes */
};
int kiln_vm_json(unsigned vcpus, unsigned mib, const struct kiln_vm_files *files, bool readonly,
		 const struct kiln_net *net, char **out, size_t *len, kiln_error_t *err);

/* The version a kernel announces, allocated: a bzImage's in its setup
 * header ("6.1.0-56-amd64"), an ELF vmlinux's in its linux_banner
 * ("6.1.192-kiln"); *elf (unless NULL) says which it is. */
int kiln_kernel_version(const char *path, char **out, bool *elf, kiln_error_t *err);

/* ---- Container state (<root>/<id>/state.json). */
enum kiln_status {
	KILN_CREATED,
	KILN_RUNNING,
	KILN_PAUSED,
	KILN_STOPPED,
};

struct kiln_container {
	char *id;
	char *dir; /* <root>/<id> */
	char *bundle;
	char *rootfs;
	char *created;		      /* RFC 3339 */
	char *cgroup;		      /* host cgroup directory, NULL when none */
	pid_t pid;		      /* the supervisor */
	unsigned long long pid_start; /* /proc/<pid>/stat starttime */
	pid_t vmm_pid;		      /* its child kiln-vmm */
	unsigned long long vmm_pid_start;
	bool started;
	bool paused;
};

const char *kiln_status_name(enum kiln_status s);
/* Fails with a runc-style message when there is no such container. */
int kiln_container_load(const struct kiln_context *ctx, const char *id, struct kiln_container *c,
			kiln_error_t *err);
int kiln_container_save(const struct kiln_container *c, kiln_error_t *err);
void kiln_container_release(struct kiln_container *c);
enum kiln_status kiln_container_status(const struct kiln_container *c);
/* Paths inside the state directory, allocated. */
char *kiln_container_path(const struct kiln_container *c, const char *name);
/* The VM's own files (config, disk, sockets, logs) are in the state
 * directory's KILN_VM_DIR, kiln-vmm's jail (runtime/jail.h); kiln-vmm
 * runs there and names them relative to it. */
#define KILN_VM_DIR    "vm"
#define KILN_VM_KERNEL "kernel"
#define KILN_VM_INITRD "initrd"
/* The state document (`kiln state`), allocated. */
int kiln_container_state_json(const struct kiln_container *c, char **out, kiln_error_t *err);
/* Removes the state directory and everything in it. */
int kiln_remove_tree(const char *path);
/* /proc/<pid>/stat starttime; 0 when the process is gone. */
unsigned long long kiln_pid_start(pid_t pid);
int kiln_check_id(const char *id, kiln_error_t *err);
/* --preserve-fds N: only 0, as no host fd can cross into the VM. */
int kiln_check_preserve_fds(const char *arg, kiln_error_t *err);
/* --pid-file: the pid as text, replaced atomically. */
int kiln_write_pid(const char *path, pid_t pid, kiln_error_t *err);

/* ---- Talking to a container. */
struct proto_client;
int kiln_agent_open(const struct kiln_container *c, struct proto_client *pc, kiln_error_t *err);
/* PATCH /vm {"state": state} on kiln-vmm's API socket. */
int kiln_vmm_set_state(const struct kiln_container *c, const char *state, kiln_error_t *err);
/* Kills the supervisor and kiln-vmm (SIGKILL) and waits until both are
 * gone. */
void kiln_container_kill_vmm(const struct kiln_container *c);
/* Everything `delete` removes: the VM, the cgroup, the state directory. */
void kiln_container_destroy(struct kiln_container *c);

int kiln_parse_signal(const char *s, int *sig, kiln_error_t *err);

/* ---- Creating. */
struct oci_config;
/* The smallest guest each kind of kernel boots in: a bzImage needs room to
 * decompress itself (Debian's: ~80 MiB), kiln's ELF vmlinux does not
 * (docs/guest-kernel.md). */
#define KILN_GUEST_MIB_FLOOR_BZIMAGE 128
#define KILN_GUEST_MIB_FLOOR_ELF     64

/* The VM's vCPUs and MiB: annotations io.kiln.vm.vcpus and
 * io.kiln.vm.memory_mib, else linux.resources (CPU quota/period rounded
 * up; the memory limit, at least conf->min_memory_mib), else kiln.conf. */
int kiln_vm_size(const struct oci_config *cfg, const struct kiln_conf *conf, unsigned *vcpus,
		 unsigned *mib, kiln_error_t *err);
/* linux.cgroupsPath as a directory under /sys/fs/cgroup (systemd's
 * "slice:prefix:name" with --systemd-cgroup); NULL for none. */
char *kiln_cgroup_dir(const char *cgroups_path, bool systemd);
/* mkdir -p, mode 0755: 0 or -errno. */
int kiln_mkdir_p(const char *path);
/* Lets `update` set limits on a cgroup: each ancestor delegates the cpu,
 * memory and pids controllers where it can. */
void kiln_cgroup_enable_controllers(const char *cgroup);
/* Removes the cgroup, waiting a little for a killed process to leave it. */
void kiln_cgroup_remove(const char *dir);
/* Writes value to the cgroup's file, in place. */
int kiln_cgroup_write(const char *dir, const char *file, const char *value, kiln_error_t *err);

/* ---- The container's disk (runtime/image.c). */
/* An ext4 image of rootfs with free_mib to spare. */
int kiln_image_build(const char *rootfs, const char *img, unsigned free_mib, kiln_error_t *err);

/* ---- The guest's copy of the spec: host bind mounts become volumes
 * (runtime/volumes.h), *vols each one's host side, in the order of their
 * guest paths KILN_GUEST_VOLUMES/<N>. */
struct kiln_volumes;
int kiln_guest_spec(const struct oci_config *cfg, const char *bundle, char **out, size_t *len,
		    struct kiln_volumes *vols, kiln_error_t *err);
/* For a forked child that cannot go on: writes "WHAT: strerror(errno)"
 * (WHAT from fmt) as one line to fd and exits with 127. */
__attribute__((noreturn, format(printf, 2, 3))) void kiln_child_fail(int fd, const char *fmt, ...);
/* Runs argv (PATH searched), its output kept for the error message. */
int kiln_run_tool(char *const argv[], kiln_error_t *err);

/* root.path as runc resolves it: relative to bundle (an absolute path),
 * or absolute; ".", ".." and symlinks resolved, a trailing slash dropped
 * ("." is the bundle itself). A path that does not resolve comes back
 * joined but unresolved, for the caller's "No such file" message.
 * Allocated. */
char *kiln_rootfs_path(const char *bundle, const char *root);

/* ---- Hooks on the host: prestart, createRuntime, poststart, poststop. */
enum oci_hook_kind;
/* Refuses the hooks that would have to run inside the guest. */
int kiln_hooks_check(const struct oci_config *cfg, kiln_error_t *err);
/* Runs the container's hooks of one kind, with its state on their stdin.
 * A failing poststart or poststop hook is logged as a warning and the
 * next one runs; the others stop at the first failure. */
int kiln_hooks_run(const struct kiln_container *c, enum oci_hook_kind kind, kiln_error_t *err);

/* ---- Operations: 0 or -1 with err set, unless said otherwise. */
struct kiln_create_opts {
	const char *id;
	const char *bundle; /* NULL: the current directory */
	const char *pid_file;
	const char *console_socket;
	bool detach; /* create: always; run: --detach */
	bool keep;   /* run: the container stays after its process ends */
};

/* Creates the container, held before its process runs; *pid is its
 * supervisor, a child of this process. SIGINT, SIGTERM, SIGHUP and SIGQUIT
 * meanwhile undo it like any other failure. */
int kiln_container_create(struct kiln_context *ctx, const struct kiln_create_opts *o, pid_t *pid,
			  kiln_error_t *err);
int kiln_container_start(struct kiln_context *ctx, const char *id, kiln_error_t *err);
/* create, start and (unless o->detach) wait, forwarding signals, then
 * delete (unless o->keep); *code is the workload's exit status (0 when
 * detached). */
int kiln_container_run(struct kiln_context *ctx, const struct kiln_create_opts *o, int *code,
		       kiln_error_t *err);
/* The state document, allocated. */
int kiln_container_state(struct kiln_context *ctx, const char *id, char **out, kiln_error_t *err);
int kiln_container_kill(struct kiln_context *ctx, const char *id, int sig, bool all,
			kiln_error_t *err);
/* force: a running or paused one too, and a missing one is no error. */
int kiln_container_delete(struct kiln_context *ctx, const char *id, bool force, kiln_error_t *err);
int kiln_container_pause(struct kiln_context *ctx, const char *id, kiln_error_t *err);
int kiln_container_resume(struct kiln_context *ctx, const char *id, kiln_error_t *err);
/* The host cgroup's limits from a runtime-spec linux.resources document
 * (memory.limit, cpu.quota, cpu.period, pids.limit). The VM's size is fixed
 * at boot (no memory balloon or CPU hotplug yet). */
struct kiln_json;
int kiln_container_update(struct kiln_context *ctx, const char *id,
			  const struct kiln_json *resources, kiln_error_t *err);

#define KILN_EXEC_MAX_ENV 256
struct kiln_exec_opts {
	const char *process; /* a process.json, else args */
	char *const *args;
	size_t n_args;
	const char *pid_file, *console_socket, *cwd, *user;
	const char *const *env; /* KEY=VALUE, over the container's */
	size_t n_env;
	bool detach, tty;
};

/* Runs another process in a running or created container: returns its exit
 * status (0 with o->detach: a child relays it), or -1 with err set. */
int kiln_container_exec(struct kiln_context *ctx, const char *id, const struct kiln_exec_opts *o,
			kiln_error_t *err);

/* kiln check: one line per requirement of this host (and with boot a probe
 * VM), as text or JSON on stdout; returns 0 when all are met, else 1 (with
 * err set when the report itself failed). */
int kiln_check_host(bool boot, bool json, kiln_error_t *err);

#endif
