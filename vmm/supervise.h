/* Container mode of kiln-vmm (`--container FILE`, used by the kiln
 * runtime): once the guest boots, a supervisor thread has the agent create
 * the container, relays its stdio between kiln-vmm's fds 0/1/2 and the
 * guest, reports "created" to the runtime, and ends the VM with the
 * workload's exit status as kiln-vmm's own. */
#ifndef KILN_VMM_SUPERVISE_H
#define KILN_VMM_SUPERVISE_H

#include <pthread.h>
#include <stdbool.h>

#include "common/error.h"
#include "common/json.h"
#include "proto/proto.h"

struct vmm;

/* The --container file (written by kiln create):
 *   {"id": ID, "spec": PATH-to-config.json, "drive_id": D, "fstype": "ext4",
 *    "readonly": B, "terminal": B, "ready_fd": N, "boot_timeout_ms": N}
 * ready_fd gets one line: "ok <guest pid>\n" once the container is created,
 * or "error <message>\n". */
struct supervise_config {
	char *id;
	char *spec_path;
	char *drive_id;
	char *fstype;
	bool readonly;
	bool terminal;
	int ready_fd;
	unsigned boot_timeout_ms;
	struct proto_network network; /* for the agent to configure */
};

int supervise_config_load(const char *path, struct supervise_config *c, kiln_error_t *err);
void supervise_config_release(struct supervise_config *c);

struct supervisor {
	struct supervise_config cfg;
	struct vmm *vmm;
	const char *uds; /* the VM's hybrid vsock socket */
	pthread_t thread;
	bool started;
	/* Set when the workload's exit status is known. */
	bool finished;
	int exit_code;
};

/* Starts the supervisor thread once the VM runs. */
int supervise_start(struct supervisor *s, struct vmm *v, const char *uds, kiln_error_t *err);
/* Joins the thread (the VM has ended). */
void supervise_join(struct supervisor *s);

#endif
