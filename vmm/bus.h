/* Port-I/O and MMIO dispatch (after kvmtool's mmio.c): a device registers a
 * range once with an ops table; the vCPU loop hands every exit to
 * bus_dispatch(). Registration happens before the vCPUs start, so dispatch
 * reads the table without a lock; a device serialises its own state. */
#ifndef KILN_VMM_BUS_H
#define KILN_VMM_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

#define BUS_MAX_RANGES 64

struct bus_ops {
	/* offset is relative to the range's base; len is 1, 2, 4 or 8. A read
	 * fills data (pre-zeroed by the bus). */
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
};

struct bus {
	const char *name; /* "pio" or "mmio", for messages */
	struct bus_range ranges[BUS_MAX_RANGES];
	unsigned int nr_ranges;
};

/* Fails on overlap with an existing range or when the table is full. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque, kiln_error_t *err);

/* Runs the access against the device owning addr. Returns 0, or -ENOENT
 * when no device owns it (reads then see all ones, as on real hardware) or
 * the access crosses the end of the range. */
int bus_dispatch(const struct bus *bus, uint64_t addr, bool is_write, uint8_t *data, uint32_t len);

#endif
