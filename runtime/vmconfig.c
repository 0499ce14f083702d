/* A container's microVM: its size (the spec's annotations and resources,
 * kiln.conf) and kiln-vmm's configuration file for it (or kiln check's
 * probe VM): Firecracker's JSON, as `GET /vm/config` gives it. */
#include <errno.h>
#include <stdlib.h>

#include "common/json.h"
#include "common/netlink.h"
#include "common/util.h"
#include "oci/oci.h"
#include "runtime/network.h"
#include "runtime/runtime.h"
#include "runtime/volumes.h"

#define BOOT_ARGS                                                                                  \
	"console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.dumbkbd quiet"
#define MAX_GUEST_VCPUS 32

int kiln_vm_json(unsigned vcpus, unsigned mib, const struct kiln_vm_files *files, bool readonly,
		 const struct kiln_net *net, char **out, size_t *len, kiln_error_t *err)
{
	cleanup_json_gen kiln_json_gen_t *g = kiln_json_gen_new(true);

	kiln_json_gen_map_open(g);
	kiln_json_gen_key(g, "boot-source");
	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_string(g, "kernel_image_path", files->kernel);
	kiln_json_gen_kv_string(g, "initrd_path", files->initrd);
	kiln_json_gen_kv_string(g, "boot_args", BOOT_ARGS);
	kiln_json_gen_map_close(g);
	kiln_json_gen_key(g, "machine-config");
	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_uint64(g, "vcpu_count", vcpus);
	kiln_json_gen_kv_uint64(g, "mem_size_mib", mib);
	kiln_json_gen_map_close(g);
	kiln_json_gen_key(g, "drives");
	kiln_json_gen_array_open(g);
	if (files->drive) {
		kiln_json_gen_map_open(g);
		kiln_json_gen_kv_string(g, "drive_id", "rootfs");
		kiln_json_gen_kv_string(g, "path_on_host", files->drive);
		kiln_json_gen_kv_bool(g, "is_root_device", false);
		kiln_json_gen_kv_bool(g, "is_read_only", readonly);
		kiln_json_gen_map_close(g);
	}
	kiln_json_gen_array_close(g);
	kiln_json_gen_key(g, "network-interfaces");
	kiln_json_gen_array_open(g);
	for (size_t i = 0; net && i < net->n_links; i++) {
		cleanup_free char *id = xasprintf("net%zu", i);
		char mac[KILN_MAC_STRLEN];

		kiln_mac_format(net->guest.interfaces[i].mac, mac);
		kiln_json_gen_map_open(g);
		kiln_json_gen_kv_string(g, "iface_id", id);
		kiln_json_gen_kv_string(g, "host_dev_name", net->links[i].tap);
		kiln_json_gen_kv_string(g, "guest_mac", mac);
		kiln_json_gen_map_close(g);
	}
	kiln_json_gen_array_close(g);
	kiln_json_gen_key(g, "vsock");
	kiln_json_gen_map_open(g);
	kiln_json_gen_kv_uint64(g, "guest_cid", 3);
	kiln_json_gen_kv_string(g, "uds_path", files->vsock_uds);
	kiln_json_gen_map_close(g);
	if (files->fs_socket) {
		/* kiln-vmm's virtio-fs device, a vhost-user front end that
		 * connects to the socket virtiofsd listens on */
		kiln_json_gen_key(g, "fs");
		kiln_json_gen_array_open(g);
		kiln_json_gen_map_open(g);
		kiln_json_gen_kv_string(g, "fs_id", KILN_VOLUMES_TAG);
		kiln_json_gen_kv_string(g, "tag", KILN_VOLUMES_TAG);
		kiln_json_gen_kv_string(g, "socket_path", files->fs_socket);
		kiln_json_gen_map_close(g);
		kiln_json_gen_array_close(g);
	}
	kiln_json_gen_map_close(g);
	return kiln_json_gen_finish(g, out, len, err);
}

/* ---- VM size: annotations, then linux.resources, then kiln.conf. */

static int annotation_uint(const struct oci_config *cfg, const char *key, unsigned min,
			   unsigned max, unsigned *out, kiln_error_t *err)
{
	const char *v = oci_map_get(&cfg->annotations, key);
	char *end;
	unsigned long n;

	if (v == NULL)
		return 0;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || end == v || n < min || n > max)
		return kiln_error_make(err, 0, "annotations.%s: expected %u to %u, got \"%s\"", key,
				       min, max, v);
	*out = (unsigned)n;
	return 1;
}

int kiln_vm_size(const struct oci_config *cfg, const struct kiln_conf *conf, unsigned *vcpus,
		 unsigned *mib, kiln_error_t *err)
{
	const struct oci_resources *res = cfg->linux_spec ? cfg->linux_spec->resources : NULL;
	unsigned floor = conf->min_memory_mib ? conf->min_memory_mib : KILN_GUEST_MIB_FLOOR_BZIMAGE;
	int r;

	*vcpus = conf->vcpus;
	*mib = conf->memory_mib;
	if (res && res->cpu.quota.present && res->cpu.quota.value > 0) {
		uint64_t period = res->cpu.period.present && res->cpu.period.value
				      ? res->cpu.period.value
				      : 100000;
		uint64_t n = ((uint64_t)res->cpu.quota.value + period - 1) / period;

		*vcpus = n > MAX_GUEST_VCPUS ? MAX_GUEST_VCPUS : (unsigned)n;
	}
	if (res && res->memory.limit.present && res->memory.limit.value > 0) {
		uint64_t m = ((uint64_t)res->memory.limit.value + 1048575) / 1048576;

		*mib = m < floor ? floor : m > (1u << 20) ? 1u << 20 : (unsigned)m;
	}
	r = annotation_uint(cfg, "io.kiln.vm.vcpus", 1, MAX_GUEST_VCPUS, vcpus, err);
	if (r >= 0)
		r = annotation_uint(cfg, "io.kiln.vm.memory_mib", floor, 1u << 20, mib, err);
	return r < 0 ? r : 0;
}
