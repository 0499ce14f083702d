/* Just enough of the PS/2 controller (Intel 8042) for Linux booted with
 * `i8042.noaux i8042.nomux i8042.dumbkbd reboot=k`, after Firecracker's
 * devices/legacy/i8042.rs: the guest reboots by pulsing the reset line
 * (command 0xfe), and the VMM asks the guest to shut down by typing
 * Ctrl+Alt+Del (Firecracker's SendCtrlAltDel action). */
#ifndef KILN_VMM_DEVICES_I8042_H
#define KILN_VMM_DEVICES_I8042_H

#include "common/error.h"
#include "vmm/device.h"
#include "vmm/machine.h"

#define I8042_DATA_PORT	   0x60
#define I8042_COMMAND_PORT 0x64

struct i8042;

/* Registers ports 0x60-0x64 on m->pio; IRQ 1 goes to MACHINE_I8042_GSI
 * when m->vm_fd >= 0. on_reset(opaque) runs on the vCPU thread that pulsed
 * the reset line, without the device's lock held; NULL only logs. */
int i8042_create(struct machine *m, void (*on_reset)(void *opaque), void *opaque,
		 struct i8042 **out, kiln_error_t *err);

/* Queues the scan codes of Ctrl+Alt+Del pressed and released and raises
 * IRQ 1 (unless the guest disabled the keyboard interrupt). Fails with
 * ENOSPC when the guest has not read earlier keys yet. Any thread. */
int i8042_send_ctrl_alt_del(struct i8042 *d, kiln_error_t *err);

/* The IRQ 1 eventfd, for unit tests that count interrupts. */
int i8042_irq_fd(const struct i8042 *d);

/* Call only once the vCPUs have stopped. Accepts NULL. */
void i8042_free(struct i8042 *d);

/* Its entry in vmm_device_kinds[] (vmm/device.h). */
extern const struct vmm_device_kind i8042_kind;

#endif
