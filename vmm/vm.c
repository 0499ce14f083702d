#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/util.h"
#include "vmm/vm.h"

static const struct {
	int cap;
	const char *name;
} required_caps[] = {
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},	  {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"}, {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},	  {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},	  {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
};

int vm_create(struct machine *m, uint64_t mem_bytes, bool shared_mem, kiln_error_t *err)
{
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	uint64_t identity = VM_IDENTITY_MAP_ADDR;
	int r;

	m->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (m->kvm_fd < 0)
		return kiln_error_make(err, errno, "cannot open /dev/kvm");
	if (ioctl(m->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return kiln_error_make(err, 0, "/dev/kvm speaks an unknown KVM API version");
	for (size_t i = 0; i < ARRAY_SIZE(required_caps); i++)
		if (ioctl(m->kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0)
			return kiln_error_make(err, 0, "KVM lacks %s", required_caps[i].name);

	m->vm_fd = ioctl(m->kvm_fd, KVM_CREATE_VM, 0);
	if (m->vm_fd < 0)
		return kiln_error_make(err, errno, "KVM_CREATE_VM");
	if (ioctl(m->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)VM_TSS_ADDR) < 0)
		return kiln_error_make(err, errno, "KVM_SET_TSS_ADDR");
	if (ioctl(m->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
		return kiln_error_make(err, errno, "KVM_SET_IDENTITY_MAP_ADDR");
	/* The irqchip (PIC + IOAPIC + per-vCPU LAPICs) must exist before any
	 * vCPU, and the PIT after it (KVM api.rst). */
	if (ioctl(m->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return kiln_error_make(err, errno, "KVM_CREATE_IRQCHIP");
	if (ioctl(m->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return kiln_error_make(err, errno, "KVM_CREATE_PIT2");

	r = shared_mem ? gmem_init_shared(&m->mem, mem_bytes, err)
		       : gmem_init(&m->mem, mem_bytes, err);
	if (r < 0)
		return r;
	for (unsigned int i = 0; i < m->mem.nr_regions; i++) {
		const struct gmem_region *g = &m->mem.regions[i];
		struct kvm_userspace_memory_region region = {
		    .slot = i,
		    .guest_phys_addr = g->gpa,
		    .memory_size = g->size,
		    .userspace_addr = (uintptr_t)g->host,
		};

		if (ioctl(m->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
			return kiln_error_make(err, errno, "KVM_SET_USER_MEMORY_REGION %u", i);
	}
	return 0;
}

void vm_release(struct machine *m)
{
	gmem_release(&m->mem);
	if (m->vm_fd >= 0)
		close(m->vm_fd);
	if (m->kvm_fd >= 0)
		close(m->kvm_fd);
	m->vm_fd = m->kvm_fd = -1;
}
