/* The jail kiln-vmm runs in (Firecracker's jailer is the model): a
 * directory that becomes its root, holding only what the VM needs, in new
 * mount and IPC namespaces, as an unprivileged uid/gid with no
 * capabilities, no_new_privs and rlimits on fds and file size. The caller's
 * network namespace and cgroup are kept: enter those first.
 *
 * Layout (docs/vmm.md "The jail"): the directory's own files (the VM's
 * configuration, its disk images, the sockets kiln-vmm makes) plus
 *   <name>        read-only bind mounts of host files (kernel, initrd)
 *   dev/kvm       a node of the host's /dev/kvm, owned by the jail's uid
 *   dev/net/tun   likewise, when wanted
 * on a small tmpfs that lives only in the jail's mount namespace, so
 * nothing is left on the host when the jailed process ends. */
#ifndef KILN_RUNTIME_JAIL_H
#define KILN_RUNTIME_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#define KILN_JAIL_MAX_BINDS 8
/* Firecracker's jailer default for no-file. */
#define KILN_JAIL_DEFAULT_NOFILE 2048

struct kiln_jail_bind {
	const char *src;  /* host file */
	const char *name; /* its name in the jail, one component */
};

struct kiln_jail {
	const char *dir; /* becomes /; an absolute path */
	uid_t uid;
	gid_t gid;
	struct kiln_jail_bind binds[KILN_JAIL_MAX_BINDS];
	size_t n_binds;
	bool tun; /* dev/net/tun */
	rlim_t nofile;
	rlim_t fsize; /* 0: no limit */
};

/* Gives the jail's directory and the files already in it (not the bind
 * targets) to the jail's uid; run before kiln_jail_enter, in the caller. */
int kiln_jail_prepare(const struct kiln_jail *j, const char **what);

/* In the process that is to become the jailed program, as root: enters the
 * jail and drops every privilege. Returns 0, or -1 with errno set and
 * *what naming the step that failed. The caller then execs the program
 * through an fd opened before (fexecve): nothing of the host's filesystem
 * is reachable afterwards. */
int kiln_jail_enter(const struct kiln_jail *j, const char **what);

#endif
