/* vCPUs: one thread each, running KVM_RUN and handing port-I/O and MMIO
 * exits to the machine's buses. The VMM pauses, resumes and stops them all
 * through one struct vcpu_ctl. */
#ifndef KILN_VMM_VCPU_H
#define KILN_VMM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

#include "common/error.h"
#include "vmm/boot/linux.h"
#include "vmm/machine.h"

/* Why a vCPU stopped the VM. */
enum vcpu_event {
	VCPU_EVENT_RESET,   /* the guest reset or powered off: a normal end */
	VCPU_EVENT_FAILURE, /* KVM could not run the guest: a VMM error */
};

struct vmm_seccomp;

struct vcpu_ctl {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool pause;		/* requested */
	bool stop;		/* requested; vCPU threads exit */
	unsigned int nr_parked; /* vCPUs waiting while paused */
	/* Called once per event from a vCPU thread; msg describes a failure. */
	void (*on_event)(void *opaque, enum vcpu_event ev, const char *msg);
	void *opaque;
	/* The filters each vCPU thread loads before its first KVM_RUN; NULL
	 * for none. */
	const struct vmm_seccomp *seccomp;
};

struct vcpu {
	unsigned int id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
	struct machine *m;
	struct vcpu_ctl *ctl;
};

/* Signal used to kick a vCPU thread out of KVM_RUN. */
#define VCPU_KICK_SIGNAL SIGUSR1

/* Creates vCPU `id` of m->nr_vcpus with CPUID, MSRs, FPU and LAPIC set up;
 * `supported` is KVM_GET_SUPPORTED_CPUID's answer. */
int vcpu_create(struct machine *m, unsigned int id, const struct kvm_cpuid2 *supported,
		struct vcpu_ctl *ctl, struct vcpu *out, kiln_error_t *err);
/* Puts the boot vCPU in the state the kernel entry expects. */
int vcpu_set_boot_state(struct vcpu *v, const struct boot_entry *entry, kiln_error_t *err);
int vcpu_start(struct vcpu *v, kiln_error_t *err);
/* Interrupts KVM_RUN so the thread sees ctl->pause or ctl->stop. */
void vcpu_kick(struct vcpu *v);
void vcpu_release(struct vcpu *v); /* after the thread has been joined */

/* KVM_GET_SUPPORTED_CPUID, allocated. */
int vcpu_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out, kiln_error_t *err);

#endif
