/* The KVM side of a machine: /dev/kvm, the VM with its in-kernel irqchip
 * and PIT, and guest RAM registered as memory slots. */
#ifndef KILN_VMM_VM_H
#define KILN_VMM_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/machine.h"

/* Just below the IOAPIC, where QEMU and Firecracker put them: three pages
 * KVM needs on Intel for the real-mode TSS, one for the EPT identity map. */
#define VM_TSS_ADDR	     0xfffbd000ULL
#define VM_IDENTITY_MAP_ADDR 0xfffbc000ULL

/* Opens /dev/kvm, checks the capabilities kiln-vmm relies on, creates the
 * VM, irqchip and PIT, and maps mem_bytes of RAM into m->mem and KVM. */
/* shared_mem: guest RAM in a memfd (gmem_init_shared), for vhost-user. */
int vm_create(struct machine *m, uint64_t mem_bytes, bool shared_mem, kiln_error_t *err);
void vm_release(struct machine *m);

#endif
