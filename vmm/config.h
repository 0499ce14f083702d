/* The VM's configuration, as Firecracker's API and --config-file describe it
 * (`GET /vm/config` prints it back in the same JSON). Every string is owned
 * by the struct and NULL when unset. */
#ifndef KILN_VMM_CONFIG_H
#define KILN_VMM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/json.h"

#define VMM_MAX_VCPUS	32
#define VMM_MIN_MEM_MIB 64
#define VMM_MAX_DRIVES	16
/* virtio-mmio slots (MACHINE_VIRTIO_MAX): drives, network interfaces and
 * vsock together must fit. */
#define VMM_MAX_VIRTIO	   16
#define VMM_MAX_NET_IFACES 8
#define VMM_MAC_LEN	   6
/* virtio-fs devices (a shared directory each, vmm/virtio/fs.h). */
#define VMM_MAX_FS 8
/* virtio 1.2 §5.11.4: the tag is 36 bytes, NUL-padded, not terminated. */
#define VMM_FS_TAG_MAX 36
/* Queue 0 is the hiprio queue; the request queues follow, all on one
 * virtio-mmio device (VIRTIO_MMIO_MAX_QUEUES). */
#define VMM_FS_MAX_REQUEST_QUEUES 7
#define VMM_FS_QUEUE_SIZE	  1024

struct machine_config {
	uint32_t vcpu_count;   /* 1..VMM_MAX_VCPUS, default 1 */
	uint32_t mem_size_mib; /* >= VMM_MIN_MEM_MIB, default 128 */
	bool smt;
	bool track_dirty_pages;
};

struct boot_source_config {
	char *kernel_image_path; /* required before InstanceStart */
	char *initrd_path;
	char *boot_args; /* NULL: the default command line */
};

struct drive_config {
	char *drive_id;
	char *path_on_host;
	bool is_root_device;
	bool is_read_only;
	char *partuuid;
	char *cache_type; /* "Unsafe" (default) or "Writeback" */
	char *io_engine;  /* "Sync" (default) */
};

struct vsock_config {
	bool present;
	uint32_t guest_cid; /* >= 3 */
	char *uds_path;
};

/* Firecracker's NetworkInterface: a tap the VMM opens at InstanceStart. */
struct net_iface_config {
	char *iface_id;
	char *host_dev_name; /* the tap's name, < IFNAMSIZ bytes */
	bool has_mac;	     /* no guest_mac: the guest picks its own MAC */
	uint8_t guest_mac[VMM_MAC_LEN];
};

/* A virtio-fs device whose back end is a vhost-user server (virtiofsd)
 * listening on socket_path, which someone else made before kiln-vmm
 * starts. */
struct fs_config {
	char *fs_id;
	char *tag; /* 1..VMM_FS_TAG_MAX bytes: what the guest mounts */
	char *socket_path;
	uint32_t num_request_queues; /* 1..VMM_FS_MAX_REQUEST_QUEUES, default 1 */
	uint32_t queue_size;	     /* a power of 2, default VMM_FS_QUEUE_SIZE */
};

struct logger_config {
	bool present;
	char *log_path;
	char *level; /* Error, Warning, Info, Debug, Trace, Off */
	bool show_level;
	bool show_log_origin;
	char *module; /* only log messages from this module path */
};

struct metrics_config {
	bool present;
	char *metrics_path;
};

struct vmm_config {
	struct machine_config machine;
	struct boot_source_config boot;
	struct drive_config drives[VMM_MAX_DRIVES];
	unsigned int nr_drives;
	struct net_iface_config nets[VMM_MAX_NET_IFACES];
	unsigned int nr_nets;
	struct fs_config fs[VMM_MAX_FS];
	unsigned int nr_fs;
	struct vsock_config vsock;
	struct logger_config logger;
	struct metrics_config metrics;
};

/* Fills the defaults (1 vCPU, 128 MiB, no devices). */
void vmm_config_init(struct vmm_config *c);
void vmm_config_release(struct vmm_config *c);

/* The drive with this id, or NULL. */
struct drive_config *vmm_config_drive(struct vmm_config *c, const char *drive_id);

/* --config-file: the same JSON `GET /vm/config` returns ("boot-source",
 * "drives", "machine-config", "network-interfaces", "fs", "vsock",
 * "logger", "metrics"; other
 * Firecracker sections are accepted only when null or empty). Errors name
 * the JSON path. c must be initialised; it is replaced as a whole on success
 * and left untouched on failure. */
int vmm_config_parse(struct vmm_config *c, const char *json, size_t len, kiln_error_t *err);
/* GET /vm/config. Returns an allocated NUL-terminated JSON document, or
 * NULL (logged) when a string in c is not valid UTF-8, which only a string
 * set outside the validators below can be. */
char *vmm_config_to_json(const struct vmm_config *c);
/* GET /machine-config: the "machine-config" object of the above. */
char *vmm_config_machine_to_json(const struct machine_config *m);

/* One validator per section, shared by vmm_config_parse() and the API
 * routes so that a file and a request are held to exactly the same rules.
 * Each takes the section's JSON object, refuses unknown fields (as
 * Firecracker's serde deny_unknown_fields does), wrong types and bad
 * values with a message that starts with the field's JSON path, and
 * changes *c only when the whole section is valid. */

/* PUT /machine-config (partial false: vcpu_count and mem_size_mib
 * required, the rest back to defaults) or PATCH (partial true: only the
 * given fields change). cpu_template and huge_pages accept only "None". */
int vmm_config_set_machine(struct vmm_config *c, const kiln_json_t *obj, bool partial,
			   kiln_error_t *err);
/* PUT /boot-source: replaces the whole section; the kernel and initrd must
 * be readable files now. */
int vmm_config_set_boot_source(struct vmm_config *c, const kiln_json_t *obj, kiln_error_t *err);
/* PUT /drives/{id}: adds or replaces a drive. path_id is the id in the URL,
 * which the body's drive_id must repeat (NULL for --config-file). At most
 * one root device, which is kept first so the guest sees it as vda, as
 * Firecracker does. */
int vmm_config_set_drive(struct vmm_config *c, const kiln_json_t *obj, const char *path_id,
			 kiln_error_t *err);
/* PATCH /drives/{id}: validates a PartialDrive for an existing drive and
 * sets *path_on_host to the new path (borrowed from obj), or NULL when the
 * body changes nothing. Does not change c: after boot the backend must
 * accept the new file first. */
int vmm_config_check_drive_patch(const struct vmm_config *c, const kiln_json_t *obj,
				 const char *path_id, const char **path_on_host, kiln_error_t *err);
/* PUT /network-interfaces/{id}: adds or replaces an interface. path_id as
 * for drives. host_dev_name and guest_mac must be unique among the
 * interfaces; rx_rate_limiter / tx_rate_limiter are refused (not
 * implemented). */
int vmm_config_set_net(struct vmm_config *c, const kiln_json_t *obj, const char *path_id,
		       kiln_error_t *err);
/* The interface with this id, or NULL. */
struct net_iface_config *vmm_config_net(struct vmm_config *c, const char *iface_id);
/* PUT /fs/{id} (kiln's own, in Firecracker's style): adds or replaces a
 * virtio-fs device. path_id as for drives. tag must be unique among the
 * devices; socket_path must fit a unix socket address (it is connected at
 * InstanceStart, not now: the back end may start later). */
int vmm_config_set_fs(struct vmm_config *c, const kiln_json_t *obj, const char *path_id,
		      kiln_error_t *err);
/* The fs device with this id, or NULL. */
struct fs_config *vmm_config_fs(struct vmm_config *c, const char *fs_id);
/* virtio-mmio devices the configuration needs (drives, interfaces, fs,
 * vsock). */
unsigned int vmm_config_virtio_count(const struct vmm_config *c);
/* Fails, naming what needs them, when c needs more than `slots`. */
int vmm_config_virtio_check(const struct vmm_config *c, unsigned int slots, kiln_error_t *err);
int vmm_config_set_vsock(struct vmm_config *c, const kiln_json_t *obj, kiln_error_t *err);
int vmm_config_set_logger(struct vmm_config *c, const kiln_json_t *obj, kiln_error_t *err);
int vmm_config_set_metrics(struct vmm_config *c, const kiln_json_t *obj, kiln_error_t *err);

/* Firecracker's rule for resource ids: 1..64 characters, ASCII letters,
 * digits and '_'. */
#define VMM_MAX_ID_LEN 64
bool vmm_config_id_valid(const char *id);

#endif
