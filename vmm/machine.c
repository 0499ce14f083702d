#include "vmm/machine.h"

int machine_virtio_slot_alloc(struct machine *m, struct machine_virtio_slot *out, kiln_error_t *err)
{
	unsigned int i = m->nr_virtio;

	if (i >= MACHINE_VIRTIO_MAX)
		return kiln_error_make(err, 0, "too many virtio devices (at most %d)",
				       MACHINE_VIRTIO_MAX);
	m->virtio[i] = (struct machine_virtio_slot){
	    .base = MACHINE_VIRTIO_BASE + i * MACHINE_VIRTIO_SLOT,
	    .len = MACHINE_VIRTIO_SLOT,
	    .gsi = MACHINE_VIRTIO_GSI0 + i,
	};
	m->nr_virtio = i + 1;
	*out = m->virtio[i];
	return 0;
}
