/* kiln-vmm's Firecracker-compatible REST API: the routes and the pre/post
 * boot state machine (routes.c) over the VM configuration, and the thread
 * that serves them on a unix socket (server.c). The API never touches KVM:
 * what it cannot do by editing the configuration it asks of the backend,
 * which the VMM core implements. */
#ifndef KILN_VMM_API_API_H
#define KILN_VMM_API_API_H

#include <pthread.h>

#include "common/error.h"
#include "vmm/api/http.h"
#include "vmm/config.h"

/* What GET / and GET /version report. */
#include "common/version.h"

/* Firecracker's default --id. */
#define VMM_API_DEFAULT_ID "anonymous-instance"

/* InstanceInfo.state. */
enum vmm_state {
	VMM_STATE_NOT_STARTED,
	VMM_STATE_RUNNING,
	VMM_STATE_PAUSED,
};

/* Each call returns 0, or a negative value with *err saying why; the
 * message goes to the client as the fault_message of a 400. Calls are made
 * with the API lock held, so a backend must not call back into vmm_api_*.
 * A NULL function answers 400 "not supported". */
struct vmm_api_backend {
	void *opaque;
	/* Builds and boots the VM from cfg; on failure the state stays "Not
	 * started" and the client may fix the configuration and retry. */
	int (*instance_start)(void *opaque, const struct vmm_config *cfg, kiln_error_t *err);
	int (*send_ctrl_alt_del)(void *opaque, kiln_error_t *err);
	int (*flush_metrics)(void *opaque, kiln_error_t *err);
	int (*pause)(void *opaque, kiln_error_t *err);
	int (*resume)(void *opaque, kiln_error_t *err);
	/* After boot: point the running drive at a new backing file. */
	int (*drive_update)(void *opaque, const char *drive_id, const char *path_on_host,
			    kiln_error_t *err);
};

struct vmm_api_server;

struct vmm_seccomp;

struct vmm_api {
	/* Held for each request, so requests are applied one at a time. */
	pthread_mutex_t lock;
	struct vmm_config config;
	enum vmm_state state;
	char *instance_id;
	struct vmm_api_backend backend;
	struct vmm_api_server *server; /* NULL unless serving */
	/* The filters the API thread loads at its start; NULL for none. */
	const struct vmm_seccomp *seccomp;
};

/* instance_id NULL means VMM_API_DEFAULT_ID. The configuration starts at
 * the defaults; the caller may load a --config-file into api->config
 * before serving. */
void vmm_api_init(struct vmm_api *api, const char *instance_id,
		  const struct vmm_api_backend *backend);
/* Stops the server if it runs, then frees everything. */
void vmm_api_release(struct vmm_api *api);

/* "Not started", "Running", "Paused". */
const char *vmm_state_name(enum vmm_state state);

/* What PUT /actions InstanceStart does, for a --config-file boot too:
 * needs a boot source, calls backend.instance_start, and moves to Running.
 * Takes the lock. */
int vmm_api_instance_start(struct vmm_api *api, kiln_error_t *err);

/* Routes one parsed request and fills resp (status and JSON body). Pure:
 * no sockets, so tests and fuzzers call it directly. Returns the status. */
int vmm_api_handle(struct vmm_api *api, const struct http_request *req, struct http_response *resp);

/* Listens on sock_path (a stale socket file is replaced, a live one is an
 * error; the socket is made 0600) and serves requests from a thread until
 * vmm_api_server_stop(). */
int vmm_api_server_start(struct vmm_api *api, const char *sock_path, kiln_error_t *err);
/* Stops and joins the thread, closes every connection and removes the
 * socket file. Does nothing when no server runs. */
void vmm_api_server_stop(struct vmm_api *api);

#endif
