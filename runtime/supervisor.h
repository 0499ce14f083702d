/* The per-container supervisor: `kiln supervise DIR`, started by kiln
 * create in the container's namespaces and cgroup. It is the container's
 * pid (--pid-file; conmon and the runc shim wait on it): it starts kiln-vmm
 * as its child, has the agent create the container, relays the workload's
 * stdio between its own fds 0/1/2 and the guest, reports "created" to kiln
 * create, and exits with the workload's exit status. kiln-vmm knows
 * nothing of containers; the supervisor parses what the guest sends.
 *
 * With volumes (runtime/volumes.h) it starts virtiofsd before kiln-vmm,
 * on a socket it listens on in the VM's directory, and stops it when the
 * container ends; one that exits while the VM runs is logged.
 *
 * Exit status: the workload's (128+N for signal N); 128+N when the
 * supervisor is stopped by signal N (the VM goes with it); 255 when the VM
 * ends, or the agent is lost, before the workload does (one line on
 * stderr saying why, a seccomp kill of kiln-vmm named as such). */
#ifndef KILN_RUNTIME_SUPERVISOR_H
#define KILN_RUNTIME_SUPERVISOR_H

#include <stdbool.h>

#include "common/error.h"
#include "proto/proto.h"
#include "runtime/volumes.h"

/* <state dir>/container.json, written by kiln create:
 *   {"id": ID, "spec": PATH (the guest's spec), "drive_id": D, "fstype":
 *    "ext4", "readonly": B, "terminal": B, "ready_fd": N,
 *    "boot_timeout_ms": N, "vmm": PATH, "pvm_guest_kernel": B,
 *    "kernel": PATH, "initrd": PATH, "jail": B, "jail_uid_base": N,
 *    "network": {...}, "volumes": {"virtiofsd": PATH, "cache": MODE,
 *    "share": DIR, "sources": [...] (runtime/volumes.h)}}
 * ready_fd gets one line: "ok <guest pid> <kiln-vmm pid>\n" once the
 * container is created, or "error <message>\n". */
struct kiln_supervise_config {
	char *id;
	char *spec_path;
	char *drive_id;
	char *fstype;
	char *vmm;
	char *kernel; /* host paths, put into kiln-vmm's directory */
	char *initrd;
	bool jail;
	unsigned jail_uid_base;
	bool pvm_guest_kernel;
	bool readonly;
	bool terminal;
	int ready_fd;
	unsigned boot_timeout_ms;
	struct proto_network network; /* for the agent to configure */
	/* host bind mounts, shared by a virtiofsd the supervisor starts */
	struct kiln_volumes volumes;
	char *virtiofsd;
	char *volume_cache;
	char *share;
};

int kiln_supervise_config_load(const char *path, struct kiln_supervise_config *c,
			       kiln_error_t *err);
void kiln_supervise_config_release(struct kiln_supervise_config *c);

/* Supervises the container whose state directory is dir (its
 * container.json): returns the exit status above, errors through err. */
int kiln_supervise(const char *dir, kiln_error_t *err);

#endif
