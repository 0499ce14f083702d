/* Firecracker logs "Guest-boot-time = N us M ms" and its tests parse that
 * line; keep the wording. Both fields are atomics so that a vCPU, the API
 * thread and the VMM can touch them without a lock. */
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "vmm/devices/boot_timer.h"

struct boot_timer {
	_Atomic int64_t start_ns;
	_Atomic int64_t elapsed_us; /* -1 until the guest signals */
};

static int64_t boot_timer_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Only a one-byte write of the magic value at the first byte counts, as in
 * Firecracker; anything else is the guest poking at an unknown page. */
static void boot_timer_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct boot_timer *bt = opaque;
	int64_t us;

	if (offset != 0 || len != 1 || data[0] != BOOT_TIMER_MAGIC)
		return;
	us = (boot_timer_now_ns() - atomic_load(&bt->start_ns)) / 1000;
	atomic_store(&bt->elapsed_us, us);
	log_info("Guest-boot-time = %6lld us %lld ms", (long long)us, (long long)(us / 1000));
}

static const struct bus_ops boot_timer_ops = {
    .write = boot_timer_write,
};

int boot_timer_create(struct machine *m, struct boot_timer **out, kiln_error_t *err)
{
	cleanup_free struct boot_timer *bt = xzalloc(sizeof(*bt));

	atomic_init(&bt->start_ns, boot_timer_now_ns());
	atomic_init(&bt->elapsed_us, -1);
	if (bus_register(&m->mmio, MACHINE_BOOT_TIMER_ADDR, BOOT_TIMER_MMIO_LEN, &boot_timer_ops,
			 bt, err) < 0)
		return kiln_error_wrap(err, "boot timer");
	if (bus_register(&m->pio, BOOT_TIMER_PIO_PORT, 1, &boot_timer_ops, bt, err) < 0) {
		/* The MMIO bus cannot forget the device, so it must outlive this
		 * failure; it is small, and the caller abandons the machine. */
		TAKE_PTR(bt);
		return kiln_error_wrap(err, "boot timer");
	}
	*out = TAKE_PTR(bt);
	return 0;
}

void boot_timer_start(struct boot_timer *bt)
{
	atomic_store(&bt->start_ns, boot_timer_now_ns());
}

void boot_timer_start_at(struct boot_timer *bt, const struct timespec *t)
{
	atomic_store(&bt->start_ns, (int64_t)t->tv_sec * 1000000000 + t->tv_nsec);
}

int64_t boot_timer_elapsed_us(const struct boot_timer *bt)
{
	if (bt == NULL)
		return -1;
	return atomic_load(&bt->elapsed_us);
}

void boot_timer_free(struct boot_timer *bt)
{
	free(bt);
}

/* ---- the device kind: always there, counting from InstanceStart ---- */

/* Guest-boot-time counts from InstanceStart, as Firecracker's does:
 * building the VM is part of booting it. */
static int boot_timer_kind_create(const struct vmm_device_env *env, unsigned int i, int fd,
				  void **dev, kiln_error_t *err)
{
	struct boot_timer *bt = NULL;

	(void)i, (void)fd;
	if (boot_timer_create(env->m, &bt, err) < 0)
		return -1;
	if (env->instance_start != NULL)
		boot_timer_start_at(bt, env->instance_start);
	*dev = bt;
	return 0;
}

static void boot_timer_kind_free(void *dev)
{
	boot_timer_free(dev);
}

const struct vmm_device_kind boot_timer_kind = {
    .name = "boot-timer",
    .count = vmm_device_count_one,
    .create = boot_timer_kind_create,
    .free = boot_timer_kind_free,
};
