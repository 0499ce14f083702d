/* The machine's devices in one list (after kvmtool's virtio_dev_init and
 * Firecracker's device manager). A device kind is described once, in its
 * own file, by a struct vmm_device_kind; vmm_device_kinds[] (device.c)
 * registers each kind with one line, in the order the devices are built,
 * which is also the order they take their virtio-mmio slots. At
 * InstanceStart the VMM asks every kind how many instances the
 * configuration wants and builds them into a struct vmm_devices; later
 * requests (drive PATCH) find their device there by kind and id. */
#ifndef KILN_VMM_DEVICE_H
#define KILN_VMM_DEVICE_H

#include <stddef.h>
#include <time.h>

#include "common/error.h"
#include "vmm/config.h"
#include "vmm/machine.h"

/* The platform devices plus one per virtio-mmio slot, with room to spare. */
#define VMM_DEVICES_MAX 32

/* What a kind's create() may use besides its own configuration. */
struct vmm_device_env {
	struct machine *m;
	const struct vmm_config *cfg;
	int console_in;	 /* the serial console's input, -1 for none */
	int console_out; /* and its output */
	/* The guest asked for a reset (the i8042's reset line). */
	void (*on_reset)(void *opaque);
	void *opaque;
	/* InstanceStart, where the guest's boot time counts from. */
	const struct timespec *instance_start;
};

struct vmm_device_kind {
	const char *name; /* "virtio-blk": unique among the kinds */
	/* What an instance is called in messages ("drive"); NULL for a kind
	 * that has no ids. */
	const char *what;
	/* How many instances cfg asks for. */
	unsigned int (*count)(const struct vmm_config *cfg);
	/* Instance i's id (a drive_id), borrowed from cfg; NULL: no ids. */
	const char *(*id)(const struct vmm_config *cfg, unsigned int i);
	/* Optional: takes what instance i needs from the host and may fail
	 * for reasons outside the VMM (a tap), before any of the VM exists,
	 * so that such a failure leaves nothing behind. Sets *fd, which
	 * create() then owns. */
	int (*prepare)(const struct vmm_config *cfg, unsigned int i, int *fd, kiln_error_t *err);
	/* Builds instance i on env->m: its bus ranges, irq, virtio-mmio slot.
	 * fd is prepare()'s, -1 without one; create() owns it, also when it
	 * fails. On failure it frees what no bus points at yet. */
	int (*create)(const struct vmm_device_env *env, unsigned int i, int fd, void **dev,
		      kiln_error_t *err);
	void (*free)(void *dev);
	/* Optional live update after boot: a new backing file (drive PATCH). */
	int (*update)(void *dev, const char *path, kiln_error_t *err);
};

/* count() for a kind every machine has exactly one of. */
unsigned int vmm_device_count_one(const struct vmm_config *cfg);

/* The registered kinds, in build order (device.c). */
extern const struct vmm_device_kind *const vmm_device_kinds[];
extern const size_t vmm_device_kinds_len;

struct vmm_device {
	const struct vmm_device_kind *kind;
	char *id; /* owned; NULL for a kind without ids */
	void *dev;
};

/* Owned by the VMM; zeroed means empty. */
struct vmm_devices {
	struct vmm_device items[VMM_DEVICES_MAX];
	unsigned int nr;
};

/* Runs every kind's prepare() for every instance cfg asks for; fds
 * receives one fd per instance in build order (-1 where the kind has no
 * prepare). On failure the fds already taken are closed. */
int vmm_devices_prepare(const struct vmm_device_kind *const *kinds, size_t nr_kinds,
			const struct vmm_config *cfg, int fds[VMM_DEVICES_MAX], kiln_error_t *err);
/* Closes what vmm_devices_prepare() left in fds that no device took. */
void vmm_devices_unprepare(int fds[VMM_DEVICES_MAX]);
/* Builds every instance of every kind into l, in order, handing each the
 * fd prepared for it (fds[k] becomes -1 once given). Stops at the first
 * failure; the devices already built stay in l (the bus cannot drop
 * them) until vmm_devices_free(). */
int vmm_devices_build(struct vmm_devices *l, const struct vmm_device_kind *const *kinds,
		      size_t nr_kinds, const struct vmm_device_env *env, int fds[VMM_DEVICES_MAX],
		      kiln_error_t *err);
/* Adds a built device; fails (without freeing dev) when l is full. */
int vmm_devices_add(struct vmm_devices *l, const struct vmm_device_kind *kind, const char *id,
		    void *dev, kiln_error_t *err);
/* The device of this kind with this id (id NULL: the first of the kind),
 * or NULL. */
struct vmm_device *vmm_devices_find(struct vmm_devices *l, const struct vmm_device_kind *kind,
				    const char *id);
/* The same, just the device's own struct. */
void *vmm_devices_get(struct vmm_devices *l, const struct vmm_device_kind *kind, const char *id);
unsigned int vmm_devices_count(const struct vmm_devices *l, const struct vmm_device_kind *kind);
/* A live update of the device kind/id; fails with a message naming it
 * when there is none, or when the kind has no update. */
int vmm_devices_update(struct vmm_devices *l, const struct vmm_device_kind *kind, const char *id,
		       const char *path, kiln_error_t *err);
/* Frees every device, the last built first, and empties l. */
void vmm_devices_free(struct vmm_devices *l);

#endif
