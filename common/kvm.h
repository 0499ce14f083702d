/* What serves this machine's /dev/kvm, and whether it can boot the guest
 * kernel kiln gives it. A /dev/kvm that opens is not proof: PVM (kvm_pvm,
 * KVM for VMs without nested virtualisation) opens and runs real-mode code
 * but boots only kernels built as PVM guests; a stock kernel hangs there
 * without a byte of output. packaging/kvm-kind reads the same entries. */
#ifndef KILN_COMMON_KVM_H
#define KILN_COMMON_KVM_H

#include <stdbool.h>

#include "common/error.h"

enum kiln_kvm_kind {
	KILN_KVM_NONE,	  /* no /dev/kvm */
	KILN_KVM_INTEL,	  /* kvm_intel: VT-x */
	KILN_KVM_AMD,	  /* kvm_amd: AMD-V */
	KILN_KVM_PVM,	  /* kvm_pvm: PVM guest kernels only */
	KILN_KVM_UNKNOWN, /* /dev/kvm without any of these modules */
};

/* root prefixes /dev/kvm and /sys/module ("" for this machine; a fixture
 * directory in tests). */
enum kiln_kvm_kind kiln_kvm_kind(const char *root);
/* "intel", "amd", "pvm", "unknown", "none". */
const char *kiln_kvm_kind_name(enum kiln_kvm_kind k);

/* Refuses, in one line, to boot a stock kernel on a PVM host unless the
 * caller says its kernel is a PVM guest kernel; how to say so (a kiln.conf
 * key, a kiln-vmm flag) is `how`, named in the message. */
int kiln_kvm_check_bootable(bool pvm_guest_kernel, const char *how, kiln_error_t *err);

#endif
