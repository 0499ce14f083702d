/* kiln-vmm's configuration file for a container's microVM (or kiln check's
 * probe VM): Firecracker's JSON, as `GET /vm/config` gives it. */
#include "common/json.h"
#include "common/netlink.h"
#include "common/util.h"
#include "runtime/network.h"
#include "runtime/runtime.h"

#define BOOT_ARGS                                                                                  \
	"console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.dumbkbd quiet"

static void gen_kv(kiln_json_gen_t *g, const char *key, const char *value)
{
	kiln_json_gen_key(g, key);
	kiln_json_gen_string(g, value);
}

int kiln_vm_json(unsigned vcpus, unsigned mib, const struct kiln_vm_files *files, bool readonly,
		 const struct kiln_net *net, char **out, size_t *len, kiln_error_t *err)
{
	cleanup_json_gen kiln_json_gen_t *g = kiln_json_gen_new(true);

	kiln_json_gen_map_open(g);
	kiln_json_gen_key(g, "boot-source");
	kiln_json_gen_map_open(g);
	gen_kv(g, "kernel_image_path", files->kernel);
	gen_kv(g, "initrd_path", files->initrd);
	gen_kv(g, "boot_args", BOOT_ARGS);
	kiln_json_gen_map_close(g);
	kiln_json_gen_key(g, "machine-config");
	kiln_json_gen_map_open(g);
	kiln_json_gen_key(g, "vcpu_count");
	kiln_json_gen_uint64(g, vcpus);
	kiln_json_gen_key(g, "mem_size_mib");
	kiln_json_gen_uint64(g, mib);
	kiln_json_gen_map_close(g);
	kiln_json_gen_key(g, "drives");
	kiln_json_gen_array_open(g);
	if (files->drive) {
		kiln_json_gen_map_open(g);
		gen_kv(g, "drive_id", "rootfs");
		gen_kv(g, "path_on_host", files->drive);
		kiln_json_gen_key(g, "is_root_device");
		kiln_json_gen_bool(g, false);
		kiln_json_gen_key(g, "is_read_only");
		kiln_json_gen_bool(g, readonly);
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
		gen_kv(g, "iface_id", id);
		gen_kv(g, "host_dev_name", net->links[i].tap);
		gen_kv(g, "guest_mac", mac);
		kiln_json_gen_map_close(g);
	}
	kiln_json_gen_array_close(g);
	kiln_json_gen_key(g, "vsock");
	kiln_json_gen_map_open(g);
	kiln_json_gen_key(g, "guest_cid");
	kiln_json_gen_uint64(g, 3);
	gen_kv(g, "uds_path", files->vsock_uds);
	kiln_json_gen_map_close(g);
	kiln_json_gen_map_close(g);
	return kiln_json_gen_finish(g, out, len, err);
}
