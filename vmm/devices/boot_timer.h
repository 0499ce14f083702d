/* Firecracker's boot timer (devices/pseudo/boot_timer.rs): the guest's init
 * writes the magic byte 123 to the first byte of an MMIO page as soon as it
 * runs, and the VMM logs how long the boot took since InstanceStart. The
 * same device answers on I/O port 0x3f0, where Firecracker's x86 test init
 * writes it with outb. */
#ifndef KILN_VMM_DEVICES_BOOT_TIMER_H
#define KILN_VMM_DEVICES_BOOT_TIMER_H

#include <stdint.h>
#include <time.h>

#include "common/error.h"
#include "vmm/device.h"
#include "vmm/machine.h"

#define BOOT_TIMER_MAGIC    123
#define BOOT_TIMER_PIO_PORT 0x3f0
#define BOOT_TIMER_MMIO_LEN 0x1000

struct boot_timer;

/* Registers one page at MACHINE_BOOT_TIMER_ADDR on m->mmio and one byte at
 * BOOT_TIMER_PIO_PORT on m->pio. The clock starts now; boot_timer_start()
 * restarts it. */
int boot_timer_create(struct machine *m, struct boot_timer **out, kiln_error_t *err);

/* Records now, or t (CLOCK_MONOTONIC), as InstanceStart: the time boot is
 * measured from. */
void boot_timer_start(struct boot_timer *bt);
void boot_timer_start_at(struct boot_timer *bt, const struct timespec *t);

/* Microseconds from the start to the guest's last signal; -1 until the
 * guest has signalled, or for no timer (NULL). */
int64_t boot_timer_elapsed_us(const struct boot_timer *bt);

/* Call only once the vCPUs have stopped. Accepts NULL. */
void boot_timer_free(struct boot_timer *bt);

/* Its entry in vmm_device_kinds[] (vmm/device.h). */
extern const struct vmm_device_kind boot_timer_kind;

#endif
