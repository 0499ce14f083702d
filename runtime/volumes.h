/* Volumes: the spec's bind mounts of host directories and files, shared
 * into the VM by virtio-fs (docs/runtime.md "Volumes").
 *
 * One virtiofsd per container, only when the spec has host bind mounts.
 * Its shared directory is <state>/volumes, with one entry per bind mount:
 * "0", "1", ..., an empty directory for a directory source, an empty file
 * for a file source. virtiofsd runs in a mount namespace of its own where
 * each source is bind-mounted onto its entry (read-only there for a `ro`
 * mount), so the binds vanish with it and nothing is left on the host. The
 * guest mounts the share (tag KILN_VOLUMES_TAG) at KILN_GUEST_VOLUMES and
 * the agent bind-mounts <KILN_GUEST_VOLUMES>/<N> at the mount's
 * destination; the container sees its bind mounts, not the share. */
#ifndef KILN_RUNTIME_VOLUMES_H
#define KILN_RUNTIME_VOLUMES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/json.h"

#define KILN_VOLUMES_TAG "kiln"
/* not under the agent's /run/kiln, whose entries are container ids */
#define KILN_GUEST_VOLUMES "/run/kiln-volumes"
/* In the state directory. */
#define KILN_VOLUMES_DIR "volumes"
/* In the VM's directory (kiln-vmm's jail): the vhost-user socket. */
#define KILN_VM_FS_SOCK "fs.sock"

struct kiln_volume {
	char *source; /* host path, absolute */
	bool dir;     /* a directory (else a file) */
	bool readonly;
	bool recursive; /* rbind */
};

struct kiln_volumes {
	struct kiln_volume *v;
	size_t n;
};

/* Appends one; takes source. Returns its index. */
size_t kiln_volumes_add(struct kiln_volumes *vs, char *source, bool dir, bool readonly,
			bool recursive);
void kiln_volumes_release(struct kiln_volumes *vs);

/* The share directory dir (made, mode 0700) with one entry per volume. */
int kiln_volumes_make_share(const char *dir, const struct kiln_volumes *vs, kiln_error_t *err);

/* [{"source": S, "dir": B, "readonly": B, "recursive": B}, ...] in
 * container.json, and back. */
void kiln_volumes_emit(kiln_json_gen_t *g, const struct kiln_volumes *vs);
int kiln_volumes_parse(const kiln_json_t *node, const char *where, struct kiln_volumes *vs,
		       kiln_error_t *err);

/* virtiofsd's command line for share and listening fd; argv is filled
 * with at most KILN_VIRTIOFSD_ARGC strings (NULL-terminated), the
 * allocated ones in *owned (free them with kiln_virtiofsd_argv_free). */
#define KILN_VIRTIOFSD_ARGC 16
struct kiln_virtiofsd_argv {
	char *argv[KILN_VIRTIOFSD_ARGC];
	char *owned[4];
};
void kiln_virtiofsd_argv(const char *virtiofsd, const char *share, const char *cache, int fd,
			 struct kiln_virtiofsd_argv *a);
void kiln_virtiofsd_argv_free(struct kiln_virtiofsd_argv *a);

/* Starts virtiofsd as a child of the caller (the supervisor): in a new
 * mount namespace it binds each source onto its entry of share, then
 * execs virtiofsd serving share on listen_fd, its stderr on log_fd, in a
 * process group of its own (whose id is its pid). It dies with the caller
 * (PR_SET_PDEATHSIG). Returns its pid, or -1 with
 * err set when it cannot be forked; a failure in the child is its exit
 * status 127 with one line on log_fd. */
struct kiln_virtiofsd_opts {
	const char *virtiofsd;
	const char *cache;
	const char *share;
	const struct kiln_volumes *volumes;
	int listen_fd;
	int log_fd;
};
pid_t kiln_virtiofsd_spawn(const struct kiln_virtiofsd_opts *o, kiln_error_t *err);

#endif
