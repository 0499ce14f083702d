#include <errno.h>
#include <string.h>

#include "vmm/bus.h"

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque, kiln_error_t *err)
{
	if (len == 0 || base + len < base)
		return kiln_error_make(err, 0, "%s range at 0x%llx: bad length", bus->name,
				       (unsigned long long)base);
	for (unsigned int i = 0; i < bus->nr_ranges; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (base < r->base + r->len && r->base < base + len)
			return kiln_error_make(
			    err, 0, "%s range 0x%llx+0x%llx overlaps 0x%llx+0x%llx", bus->name,
			    (unsigned long long)base, (unsigned long long)len,
			    (unsigned long long)r->base, (unsigned long long)r->len);
	}
	if (bus->nr_ranges == BUS_MAX_RANGES)
		return kiln_error_make(err, 0, "%s bus is full", bus->name);
	bus->ranges[bus->nr_ranges++] =
	    (struct bus_range){.base = base, .len = len, .ops = ops, .opaque = opaque};
	return 0;
}

int bus_dispatch(const struct bus *bus, uint64_t addr, bool is_write, uint8_t *data, uint32_t len)
{
	for (unsigned int i = 0; i < bus->nr_ranges; i++) {
		const struct bus_range *r = &bus->ranges[i];
		uint64_t off;

		if (addr < r->base || addr - r->base >= r->len)
			continue;
		off = addr - r->base;
		if (len > r->len - off)
			break;
		if (is_write) {
			if (r->ops->write)
				r->ops->write(r->opaque, off, data, len);
		} else {
			memset(data, 0, len);
			if (r->ops->read)
				r->ops->read(r->opaque, off, data, len);
		}
		return 0;
	}
	if (!is_write)
		memset(data, 0xff, len);
	return -ENOENT;
}
