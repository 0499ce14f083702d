/* Interrupt lines and doorbells between devices and KVM, both eventfds:
 * an irq_line is an irqfd (a write raises an edge on a GSI of the in-kernel
 * IOAPIC, from any thread, without a VM exit), a doorbell is an ioeventfd
 * (a guest write to an address completes in the kernel and wakes the event
 * loop instead of a vCPU thread). */
#ifndef KILN_VMM_IRQ_H
#define KILN_VMM_IRQ_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

struct irq_line {
	int fd; /* eventfd; -1 when closed */
	uint32_t gsi;
};

/* Creates the eventfd. Unit tests use a line that is never attached and
 * read the eventfd to see interrupts. */
int irq_line_open(struct irq_line *l, kiln_error_t *err);
/* Routes it to gsi of the VM's in-kernel irqchip (KVM_IRQFD). */
int irq_line_attach(struct irq_line *l, int vm_fd, uint32_t gsi, kiln_error_t *err);
/* Raises an edge; safe from any thread. */
void irq_line_raise(struct irq_line *l);
void irq_line_close(struct irq_line *l);

/* KVM_IOEVENTFD: a guest write of `len` bytes to MMIO `addr` (with value
 * `data` when match is true) signals efd instead of exiting to userspace. */
int ioeventfd_add(int vm_fd, uint64_t addr, uint32_t len, bool match, uint64_t data, int efd,
		  kiln_error_t *err);

#endif
