/* One microVM: the machine, its vCPUs and devices, built from a
 * vmm_config at InstanceStart, and the main thread's event loop that runs
 * it until the guest resets, the host asks it to stop, or it fails. */
#ifndef KILN_VMM_VMM_H
#define KILN_VMM_VMM_H

#include <pthread.h>
#include <stdbool.h>

#include "common/error.h"
#include "vmm/config.h"
#include "vmm/device.h"
#include "vmm/machine.h"
#include "vmm/vcpu.h"

struct vmm;

/* A function the API thread runs on the main thread (vmm_call). */
typedef int (*vmm_call_fn)(struct vmm *v, void *arg, kiln_error_t *err);

struct vmm {
	struct machine m;
	struct vcpu vcpus[VMM_MAX_VCPUS];
	struct vcpu_ctl ctl;
	bool booted;
	bool boot_failed; /* after building part of the VM: no retry */
	bool paused;
	bool pvm_guest_kernel; /* --pvm-guest-kernel: boot on a PVM host */

	/* Every device, built at InstanceStart from vmm_device_kinds[]. */
	struct vmm_devices devices;

	int console_in;	 /* guest console input, -1 for none */
	int console_out; /* guest console output */

	/* vCPU events and stop requests reach the main loop through this. */
	int event_fd;
	pthread_mutex_t lock;
	bool done;
	int exit_status;
	char *exit_msg; /* why the VMM failed, NULL on a normal end */

	/* vmm_call: one request at a time from the API thread. */
	int call_fd;
	pthread_mutex_t call_lock;
	pthread_cond_t call_cond;
	vmm_call_fn call_fn;
	void *call_arg;
	kiln_error_t call_err;
	int call_result;
	bool call_done;
	bool call_closed; /* the main loop has ended: calls fail */
};

int vmm_init(struct vmm *v, int console_in, int console_out, kiln_error_t *err);
void vmm_release(struct vmm *v);

/* Builds and starts the VM described by cfg (main thread only). */
int vmm_boot(struct vmm *v, const struct vmm_config *cfg, kiln_error_t *err);
/* Runs fn(v, arg) on the main thread and returns its result (API thread). */
int vmm_call(struct vmm *v, vmm_call_fn fn, void *arg, kiln_error_t *err);
/* Ends the VM: the main loop returns `status`. Any thread. */
void vmm_request_stop(struct vmm *v, int status, const char *msg);
/* Runs the event loop until the VM ends; returns the exit status. */
int vmm_run(struct vmm *v);

int vmm_pause(struct vmm *v, kiln_error_t *err);
int vmm_resume(struct vmm *v, kiln_error_t *err);

/* The device of this kind with this id (NULL: the first), or NULL when
 * the VM has none (not started, or not configured). */
void *vmm_device(struct vmm *v, const struct vmm_device_kind *kind, const char *id);

#endif
