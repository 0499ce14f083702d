/* The device list and the table of device kinds (vmm/device.h). */
#include "vmm/device.h"

#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "vmm/devices/boot_timer.h"
#include "vmm/devices/i8042.h"
#include "vmm/devices/serial.h"
#include "vmm/virtio/blk.h"
#include "vmm/virtio/fs.h"
#include "vmm/virtio/net.h"
#include "vmm/virtio/vsock.h"

/* One line per kind. The virtio devices take their slots (and so their
 * GSIs and the order the guest finds them in) in this order: drives
 * first, the root drive being the first of them (/dev/vda). */
const struct vmm_device_kind *const vmm_device_kinds[] = {
    &serial_kind,	&i8042_kind,	  &boot_timer_kind, &virtio_blk_kind,
    &virtio_vsock_kind, &virtio_net_kind, &virtio_fs_kind,
};
const size_t vmm_device_kinds_len = ARRAY_SIZE(vmm_device_kinds);

unsigned int vmm_device_count_one(const struct vmm_config *cfg)
{
	(void)cfg;
	return 1;
}

int vmm_devices_prepare(const struct vmm_device_kind *const *kinds, size_t nr_kinds,
			const struct vmm_config *cfg, int fds[VMM_DEVICES_MAX], kiln_error_t *err)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < VMM_DEVICES_MAX; i++)
		fds[i] = -1;
	for (size_t j = 0; j < nr_kinds; j++) {
		unsigned int n = kinds[j]->count(cfg);

		for (unsigned int i = 0; i < n; i++, k++) {
			if (k >= VMM_DEVICES_MAX) {
				vmm_devices_unprepare(fds);
				return kiln_error_make(err, 0, "too many devices (at most %d)",
						       VMM_DEVICES_MAX);
			}
			if (kinds[j]->prepare != NULL &&
			    kinds[j]->prepare(cfg, i, &fds[k], err) < 0) {
				vmm_devices_unprepare(fds);
				return -1;
			}
		}
	}
	return 0;
}

void vmm_devices_unprepare(int fds[VMM_DEVICES_MAX])
{
	for (unsigned int i = 0; i < VMM_DEVICES_MAX; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int vmm_devices_add(struct vmm_devices *l, const struct vmm_device_kind *kind, const char *id,
		    void *dev, kiln_error_t *err)
{
	if (l->nr >= VMM_DEVICES_MAX)
		return kiln_error_make(err, 0, "too many devices (at most %d)", VMM_DEVICES_MAX);
	l->items[l->nr++] = (struct vmm_device){.kind = kind, .id = xstrdup(id), .dev = dev};
	return 0;
}

int vmm_devices_build(struct vmm_devices *l, const struct vmm_device_kind *const *kinds,
		      size_t nr_kinds, const struct vmm_device_env *env, int fds[VMM_DEVICES_MAX],
		      kiln_error_t *err)
{
	unsigned int k = 0;

	for (size_t j = 0; j < nr_kinds; j++) {
		const struct vmm_device_kind *kind = kinds[j];
		unsigned int n = kind->count(env->cfg);

		for (unsigned int i = 0; i < n; i++, k++) {
			const char *id = kind->id ? kind->id(env->cfg, i) : NULL;
			void *dev = NULL;
			int fd;

			if (k >= VMM_DEVICES_MAX)
				return kiln_error_make(err, 0, "too many devices (at most %d)",
						       VMM_DEVICES_MAX);
			fd = fds[k];
			fds[k] = -1; /* create() owns it from here, also on failure */
			if (kind->create(env, i, fd, &dev, err) < 0)
				return -1;
			if (vmm_devices_add(l, kind, id, dev, err) < 0) {
				kind->free(dev);
				return -1;
			}
		}
	}
	return 0;
}

struct vmm_device *vmm_devices_find(struct vmm_devices *l, const struct vmm_device_kind *kind,
				    const char *id)
{
	for (unsigned int i = 0; i < l->nr; i++) {
		struct vmm_device *d = &l->items[i];

		if (d->kind != kind)
			continue;
		if (id == NULL || (d->id != NULL && streq(d->id, id)))
			return d;
	}
	return NULL;
}

void *vmm_devices_get(struct vmm_devices *l, const struct vmm_device_kind *kind, const char *id)
{
	struct vmm_device *d = vmm_devices_find(l, kind, id);

	return d ? d->dev : NULL;
}

unsigned int vmm_devices_count(const struct vmm_devices *l, const struct vmm_device_kind *kind)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < l->nr; i++)
		n += l->items[i].kind == kind;
	return n;
}

int vmm_devices_update(struct vmm_devices *l, const struct vmm_device_kind *kind, const char *id,
		       const char *path, kiln_error_t *err)
{
	const char *what = kind->what ? kind->what : kind->name;
	struct vmm_device *d = vmm_devices_find(l, kind, id);

	if (d == NULL)
		return kiln_error_make(err, 0, "%s '%s' is not attached to the microVM", what,
				       id ? id : "");
	if (kind->update == NULL)
		return kiln_error_make(err, 0, "%s '%s' cannot be updated while the microVM runs",
				       what, id);
	return kind->update(d->dev, path, err);
}

void vmm_devices_free(struct vmm_devices *l)
{
	while (l->nr > 0) {
		struct vmm_device *d = &l->items[--l->nr];

		d->kind->free(d->dev);
		free(d->id);
		*d = (struct vmm_device){0};
	}
}
