#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/irq.h"

int irq_line_open(struct irq_line *l, kiln_error_t *err)
{
	l->gsi = 0;
	l->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->fd < 0)
		return kiln_error_make(err, errno, "eventfd");
	return 0;
}

int irq_line_attach(struct irq_line *l, int vm_fd, uint32_t gsi, kiln_error_t *err)
{
	struct kvm_irqfd irqfd = {.fd = (uint32_t)l->fd, .gsi = gsi};

	if (ioctl(vm_fd, KVM_IRQFD, &irqfd) < 0)
		return kiln_error_make(err, errno, "KVM_IRQFD for GSI %u", gsi);
	l->gsi = gsi;
	return 0;
}

void irq_line_raise(struct irq_line *l)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is saturated: an edge is pending anyway. */
	while (write(l->fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void irq_line_close(struct irq_line *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

int ioeventfd_add(int vm_fd, uint64_t addr, uint32_t len, bool match, uint64_t data, int efd,
		  kiln_error_t *err)
{
	struct kvm_ioeventfd io = {
	    .datamatch = data,
	    .addr = addr,
	    .len = len,
	    .fd = efd,
	    .flags = match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0,
	};

	if (ioctl(vm_fd, KVM_IOEVENTFD, &io) < 0)
		return kiln_error_make(err, errno, "KVM_IOEVENTFD at 0x%llx",
				       (unsigned long long)addr);
	return 0;
}
