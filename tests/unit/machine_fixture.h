/* A struct machine as device unit tests use it: no KVM (vm_fd -1, so irq
 * lines stay plain eventfds the test reads), no event loop unless the test
 * starts one, and optional guest RAM. Shared by the device tests. */
#ifndef KILN_TESTS_UNIT_MACHINE_FIXTURE_H
#define KILN_TESTS_UNIT_MACHINE_FIXTURE_H

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "vmm/bus.h"
#include "vmm/machine.h"
#include "vmm/mem.h"

/* ram_bytes 0: no guest memory. Returns 0 or a negative errno. */
static inline int test_machine_init(struct machine *m, uint64_t ram_bytes)
{
	memset(m, 0, sizeof(*m));
	m->kvm_fd = -1;
	m->vm_fd = -1;
	m->loop.epfd = -1;
	m->pio.name = "pio";
	m->mmio.name = "mmio";
	return ram_bytes ? gmem_init(&m->mem, ram_bytes, NULL) : 0;
}

static inline void test_machine_release(struct machine *m)
{
	gmem_release(&m->mem);
}

static inline void test_outb(struct machine *m, uint16_t port, uint8_t val)
{
	bus_dispatch(&m->pio, port, true, &val, 1);
}

static inline uint8_t test_inb(struct machine *m, uint16_t port)
{
	uint8_t val;

	bus_dispatch(&m->pio, port, false, &val, 1);
	return val;
}

/* Interrupt edges raised on an irq line's eventfd since the last call. */
static inline uint64_t test_irq_edges(int eventfd)
{
	uint64_t n = 0;

	if (read(eventfd, &n, sizeof(n)) < 0)
		return 0;
	return n;
}

#endif
