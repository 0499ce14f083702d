/* COM1: a 16550A UART at I/O port 0x3f8 (IRQ 4), enough for Linux's 8250
 * driver to use it as an interrupt-driven console (console=ttyS0), after
 * kvmtool's hw/serial.c and Firecracker's devices/legacy/serial.rs.
 *
 * Guest output goes to out_fd as it is written; host input is read from
 * in_fd on the event loop into a bounded receive FIFO, and reading stops
 * while the FIFO is full, so a guest that does not read its console never
 * makes the VMM buffer more than the FIFO. Both fds stay owned by the
 * caller, who must keep them open until serial_free(). */
#ifndef KILN_VMM_DEVICES_SERIAL_H
#define KILN_VMM_DEVICES_SERIAL_H

#include "common/error.h"
#include "vmm/device.h"
#include "vmm/machine.h"

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_NR_PORTS	 8

struct serial;

/* Registers the UART on m->pio at SERIAL_COM1_BASE and, when in_fd >= 0,
 * watches in_fd on m->loop (in_fd must be pollable: a tty, pipe or socket).
 * out_fd may be -1 to discard output. The interrupt line is routed to
 * MACHINE_SERIAL_GSI when m->vm_fd >= 0. */
int serial_create(struct machine *m, int in_fd, int out_fd, struct serial **out, kiln_error_t *err);

/* The line's eventfd, for unit tests that count interrupts. */
int serial_irq_fd(const struct serial *s);

/* Stops watching in_fd. Call it only once the vCPUs and the event loop have
 * stopped: the bus keeps pointing at the device. Accepts NULL. */
void serial_free(struct serial *s);

/* Its entry in vmm_device_kinds[] (vmm/device.h). */
extern const struct vmm_device_kind serial_kind;

#endif
