/* seccomp filters for kiln-vmm, one per thread kind as in Firecracker: the
 * main thread (event loop, devices), the API thread and the vCPU threads.
 * Each is a deny-all allow-list (docs/vmm.md "Seccomp"), compiled once at
 * startup and loaded by each thread on itself, without TSYNC. */
#ifndef KILN_VMM_SECCOMP_H
#define KILN_VMM_SECCOMP_H

#include <linux/filter.h>

#include "common/error.h"

enum vmm_seccomp_kind {
	VMM_SECCOMP_VMM,  /* the main thread, from the end of the boot on */
	VMM_SECCOMP_API,  /* the API server thread, from its start */
	VMM_SECCOMP_VCPU, /* each vCPU thread, before its first KVM_RUN */
	VMM_SECCOMP_NR,
};

struct vmm_seccomp {
	struct sock_fprog prog[VMM_SECCOMP_NR];
	/* Test only (KILN_VMM_SECCOMP_SELFTEST): the kind whose threads make
	 * a call outside their list right after loading it; -1 for none. */
	int selftest;
};

/* "vmm", "api" or "vcpu". */
const char *vmm_seccomp_kind_name(enum vmm_seccomp_kind kind);

/* Compiles kind's filter to BPF; the caller frees out->filter. */
int vmm_seccomp_build(enum vmm_seccomp_kind kind, struct sock_fprog *out, kiln_error_t *err);

/* Compiles the three filters. selftest is NULL or a kind's name. */
int vmm_seccomp_init(struct vmm_seccomp *s, const char *selftest, kiln_error_t *err);
void vmm_seccomp_release(struct vmm_seccomp *s);

/* Loads prog on the calling thread (and sets its no_new_privs). */
int vmm_seccomp_load(const struct sock_fprog *prog, kiln_error_t *err);

/* A thread's install point: loads kind's filter from s on the calling
 * thread; nothing when s is NULL (--no-seccomp, tests). */
int vmm_seccomp_install(const struct vmm_seccomp *s, enum vmm_seccomp_kind kind, kiln_error_t *err);

#endif
