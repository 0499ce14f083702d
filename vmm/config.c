/* The VM configuration: defaults, the per-section validators the API routes
 * and --config-file share, and the JSON of GET /vm/config. Field names,
 * enums and rules follow Firecracker's swagger (MachineConfiguration,
 * BootSource, Drive, PartialDrive, Vsock, Logger, Metrics). */
#include "vmm/config.h"

#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/netlink.h"
#include "common/util.h"

#define DEFAULT_VCPUS	1
#define DEFAULT_MEM_MIB 128

void vmm_config_init(struct vmm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->machine.vcpu_count = DEFAULT_VCPUS;
	c->machine.mem_size_mib = DEFAULT_MEM_MIB;
}

static void boot_release(struct boot_source_config *b)
{
	free(b->kernel_image_path);
	free(b->initrd_path);
	free(b->boot_args);
	memset(b, 0, sizeof(*b));
}

static void drive_release(struct drive_config *d)
{
	free(d->drive_id);
	free(d->path_on_host);
	free(d->partuuid);
	free(d->cache_type);
	free(d->io_engine);
	memset(d, 0, sizeof(*d));
}

static void net_release(struct net_iface_config *n)
{
	free(n->iface_id);
	free(n->host_dev_name);
	memset(n, 0, sizeof(*n));
}

static void fs_release(struct fs_config *f)
{
	free(f->fs_id);
	free(f->tag);
	free(f->socket_path);
	memset(f, 0, sizeof(*f));
}

static void vsock_release(struct vsock_config *v)
{
	free(v->uds_path);
	memset(v, 0, sizeof(*v));
}

static void logger_release(struct logger_config *l)
{
	free(l->log_path);
	free(l->level);
	free(l->module);
	memset(l, 0, sizeof(*l));
}

static void metrics_release(struct metrics_config *m)
{
	free(m->metrics_path);
	memset(m, 0, sizeof(*m));
}

void vmm_config_release(struct vmm_config *c)
{
	boot_release(&c->boot);
	for (unsigned int i = 0; i < c->nr_drives; i++)
		drive_release(&c->drives[i]);
	for (unsigned int i = 0; i < c->nr_nets; i++)
		net_release(&c->nets[i]);
	for (unsigned int i = 0; i < c->nr_fs; i++)
		fs_release(&c->fs[i]);
	vsock_release(&c->vsock);
	logger_release(&c->logger);
	metrics_release(&c->metrics);
	vmm_config_init(c);
}

struct drive_config *vmm_config_drive(struct vmm_config *c, const char *drive_id)
{
	for (unsigned int i = 0; i < c->nr_drives; i++)
		if (streq(c->drives[i].drive_id, drive_id))
			return &c->drives[i];
	return NULL;
}

bool vmm_config_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > VMM_MAX_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = id[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_'))
			return false;
	}
	return true;
}

/* ---- validation helpers ---- */

/* "<path of obj>.<key>", or just key when obj is a document root (an API
 * request body), so every message starts with the field it is about. */
static char *field_path(const kiln_json_t *obj, const char *key)
{
	cleanup_free char *base = kiln_json_path(obj);

	return *base == '\0' ? xstrdup(key) : xasprintf("%s.%s", base, key);
}

__attribute__((format(printf, 5, 6))) static int field_error(kiln_error_t *err, int status,
							     const kiln_json_t *obj,
							     const char *key, const char *fmt, ...)
{
	cleanup_free char *path = field_path(obj, key);
	cleanup_free char *what = NULL;
	va_list ap;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	return kiln_error_make(err, status, "%s: %s", path, what);
}

static bool key_allowed(const char *key, const char *const *allowed)
{
	for (; *allowed != NULL; allowed++)
		if (streq(key, *allowed))
			return true;
	return false;
}

/* serde's deny_unknown_fields: a misspelt field is an error, not a silently
 * ignored setting. allowed is NULL-terminated. */
static int fields_check(const kiln_json_t *obj, const char *const *allowed, kiln_error_t *err)
{
	size_t n = kiln_json_object_len(obj);

	for (size_t i = 0; i < n; i++) {
		const char *key = kiln_json_object_key(obj, i);
		cleanup_free char *list = NULL;

		if (key_allowed(key, allowed))
			continue;
		for (const char *const *a = allowed; *a != NULL; a++) {
			char *l = xasprintf("%s%s%s", list ? list : "", list ? ", " : "", *a);

			free(list);
			list = l;
		}
		return field_error(err, 0, obj, key, "unknown field (expected one of: %s)", list);
	}
	return 0;
}

/* The section must be a JSON object. */
static int object_check(const kiln_json_t *obj, kiln_error_t *err)
{
	const kiln_json_t *o = NULL;

	return kiln_json_get_object(obj, "", &o, err) < 0 ? -1 : 0;
}

static int required_string(const kiln_json_t *obj, const char *key, const char **out,
			   kiln_error_t *err)
{
	int r = kiln_json_get_string(obj, key, out, err);

	if (r == 1)
		return field_error(err, 0, obj, key, "missing required field");
	return r;
}

/* A path field: absent is fine when optional, empty never is. */
static int path_field(const kiln_json_t *obj, const char *key, bool required, const char **out,
		      kiln_error_t *err)
{
	int r = required ? required_string(obj, key, out, err)
			 : kiln_json_get_string(obj, key, out, err);

	if (r == 0 && **out == '\0')
		return field_error(err, 0, obj, key, "must not be empty");
	return r;
}

/* A file the VMM will open later must exist and be usable now, so the
 * mistake is reported by the request that made it (Firecracker opens
 * kernel and initrd at PUT time too). */
static int file_check(const kiln_json_t *obj, const char *key, const char *path, bool writable,
		      kiln_error_t *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return field_error(err, errno, obj, key, "cannot open '%s'", path);
	if (S_ISDIR(st.st_mode))
		return field_error(err, 0, obj, key, "'%s' is a directory, not a file", path);
	if (access(path, writable ? R_OK | W_OK : R_OK) < 0)
		return field_error(err, errno, obj, key, "'%s' is not %s", path,
				   writable ? "readable and writable (is_read_only is false)"
					    : "readable");
	return 0;
}

/* A string that must be one of a fixed set; matched exactly unless
 * nocase. Returns the canonical spelling in *out. */
static int enum_field(const kiln_json_t *obj, const char *key, const char *const *values,
		      bool nocase, const char **out, kiln_error_t *err)
{
	const char *s = NULL;
	cleanup_free char *list = NULL;
	int r = kiln_json_get_string(obj, key, &s, err);

	if (r != 0)
		return r;
	for (const char *const *v = values; *v != NULL; v++) {
		if (nocase ? strcasecmp(s, *v) == 0 : streq(s, *v)) {
			*out = *v;
			return 0;
		}
	}
	for (const char *const *v = values; *v != NULL; v++) {
		char *l = xasprintf("%s%s\"%s\"", list ? list : "", list ? ", " : "", *v);

		free(list);
		list = l;
	}
	return field_error(err, 0, obj, key, "\"%.64s\" is invalid (expected one of: %s)", s, list);
}

/* A Firecracker feature kiln-vmm leaves out: only its default (given by
 * `accepted`, or null/absent) passes. */
static int unsupported_string(const kiln_json_t *obj, const char *key, const char *accepted,
			      kiln_error_t *err)
{
	const char *s = NULL;
	int r = kiln_json_get_string(obj, key, &s, err);

	if (r != 0)
		return r;
	if (accepted != NULL && streq(s, accepted))
		return 0;
	if (accepted != NULL)
		return field_error(err, 0, obj, key,
				   "\"%.64s\" is not supported by kiln-vmm (only \"%s\")", s,
				   accepted);
	return field_error(err, 0, obj, key, "not supported by kiln-vmm (must be null or absent)");
}

/* An object field kiln-vmm does not implement (rate limiters). */
static int unsupported_member(const kiln_json_t *obj, const char *key, kiln_error_t *err)
{
	if (kiln_json_get(obj, key) == NULL || kiln_json_is_null(kiln_json_get(obj, key)))
		return 0;
	return field_error(err, 0, obj, key, "not supported by kiln-vmm (must be null or absent)");
}

/* ---- machine-config ---- */

int vmm_config_set_machine(struct vmm_config *c, const kiln_json_t *obj, bool partial,
			   kiln_error_t *err)
{
	static const char *const fields[] = {
	    "vcpu_count",   "mem_size_mib", "smt", "track_dirty_pages",
	    "cpu_template", "huge_pages",   NULL};
	struct machine_config m;
	int r;

	if (object_check(obj, err) < 0 || fields_check(obj, fields, err) < 0)
		return -1;
	if (partial) {
		m = c->machine;
	} else {
		/* PUT resets what it leaves out (swagger: "set to their
		 * default values"). */
		memset(&m, 0, sizeof(m));
		m.vcpu_count = DEFAULT_VCPUS;
		m.mem_size_mib = DEFAULT_MEM_MIB;
	}

	r = kiln_json_get_uint32(obj, "vcpu_count", &m.vcpu_count, err);
	if (r < 0)
		return -1;
	if (r == 1 && !partial)
		return field_error(err, 0, obj, "vcpu_count", "missing required field");
	if (r == 0 && (m.vcpu_count < 1 || m.vcpu_count > VMM_MAX_VCPUS))
		return field_error(err, 0, obj, "vcpu_count", "%u is out of range (1..%d)",
				   m.vcpu_count, VMM_MAX_VCPUS);

	r = kiln_json_get_uint32(obj, "mem_size_mib", &m.mem_size_mib, err);
	if (r < 0)
		return -1;
	if (r == 1 && !partial)
		return field_error(err, 0, obj, "mem_size_mib", "missing required field");
	if (r == 0 && m.mem_size_mib < VMM_MIN_MEM_MIB)
		return field_error(err, 0, obj, "mem_size_mib", "%u is below the minimum of %d MiB",
				   m.mem_size_mib, VMM_MIN_MEM_MIB);

	if (kiln_json_get_bool(obj, "smt", &m.smt, err) < 0 ||
	    kiln_json_get_bool(obj, "track_dirty_pages", &m.track_dirty_pages, err) < 0)
		return -1;
	/* Firecracker: with SMT, vCPUs come in sibling pairs. */
	if (m.smt && m.vcpu_count > 1 && m.vcpu_count % 2 != 0)
		return field_error(err, 0, obj, "vcpu_count",
				   "%u is odd; with smt enabled it must be 1 or even",
				   m.vcpu_count);
	if (unsupported_string(obj, "cpu_template", "None", err) < 0 ||
	    unsupported_string(obj, "huge_pages", "None", err) < 0)
		return -1;

	c->machine = m;
	return 0;
}

/* ---- boot-source ---- */

int vmm_config_set_boot_source(struct vmm_config *c, const kiln_json_t *obj, kiln_error_t *err)
{
	static const char *const fields[] = {"kernel_image_path", "initrd_path", "boot_args", NULL};
	const char *kernel = NULL, *initrd = NULL, *args = NULL;

	if (object_check(obj, err) < 0 || fields_check(obj, fields, err) < 0)
		return -1;
	if (path_field(obj, "kernel_image_path", true, &kernel, err) < 0 ||
	    path_field(obj, "initrd_path", false, &initrd, err) < 0 ||
	    kiln_json_get_string(obj, "boot_args", &args, err) < 0)
		return -1;
	if (file_check(obj, "kernel_image_path", kernel, false, err) < 0)
		return -1;
	if (initrd != NULL && file_check(obj, "initrd_path", initrd, false, err) < 0)
		return -1;

	boot_release(&c->boot);
	c->boot.kernel_image_path = xstrdup(kernel);
	c->boot.initrd_path = xstrdup(initrd);
	c->boot.boot_args = xstrdup(args);
	return 0;
}

/* ---- drives ---- */

/* A resource's id (the body's field key): valid, and the one in the URL
 * (path_id, NULL for --config-file). what names the resource. */
static int item_id_check(const kiln_json_t *obj, const char *key, const char *what, const char *id,
			 const char *path_id, kiln_error_t *err)
{
	if (!vmm_config_id_valid(id))
		return field_error(err, 0, obj, key,
				   "\"%.80s\" is invalid (1..%d letters, digits or '_')", id,
				   VMM_MAX_ID_LEN);
	if (path_id != NULL && !streq(id, path_id))
		return field_error(err, 0, obj, key,
				   "\"%s\" does not match the %s id \"%s\" in the URL", id, what,
				   path_id);
	return 0;
}

/* Moves the root device to index 0 keeping the others' order, so the guest
 * finds it as the first virtio-blk device (/dev/vda). */
static void drives_root_first(struct vmm_config *c)
{
	for (unsigned int i = 1; i < c->nr_drives; i++) {
		if (c->drives[i].is_root_device) {
			struct drive_config root = c->drives[i];

			memmove(&c->drives[1], &c->drives[0], i * sizeof(c->drives[0]));
			c->drives[0] = root;
			return;
		}
	}
}

int vmm_config_set_drive(struct vmm_config *c, const kiln_json_t *obj, const char *path_id,
			 kiln_error_t *err)
{
	static const char *const fields[] = {
	    "drive_id",	  "path_on_host", "is_root_device", "is_read_only", "partuuid",
	    "cache_type", "io_engine",	  "rate_limiter",   "socket",	    NULL};
	static const char *const cache_types[] = {"Unsafe", "Writeback", NULL};
	static const char *const io_engines[] = {"Sync", "Async", NULL};
	const char *id = NULL, *path = NULL, *partuuid = NULL;
	const char *cache = "Unsafe", *engine = "Sync";
	struct drive_config *d;
	bool root = false, ro = false;
	int r;

	if (object_check(obj, err) < 0 || fields_check(obj, fields, err) < 0)
		return -1;
	if (required_string(obj, "drive_id", &id, err) < 0 ||
	    item_id_check(obj, "drive_id", "drive", id, path_id, err) < 0)
		return -1;
	/* socket selects vhost-user-block, which kiln-vmm does not have; say
	 * so before complaining that path_on_host is missing. */
	if (unsupported_string(obj, "socket", NULL, err) < 0 ||
	    unsupported_member(obj, "rate_limiter", err) < 0)
		return -1;
	if (path_field(obj, "path_on_host", true, &path, err) < 0)
		return -1;
	r = kiln_json_get_bool(obj, "is_root_device", &root, err);
	if (r < 0)
		return -1;
	if (r == 1)
		return field_error(err, 0, obj, "is_root_device", "missing required field");
	if (kiln_json_get_bool(obj, "is_read_only", &ro, err) < 0 ||
	    kiln_json_get_string(obj, "partuuid", &partuuid, err) < 0 ||
	    enum_field(obj, "cache_type", cache_types, false, &cache, err) < 0 ||
	    enum_field(obj, "io_engine", io_engines, false, &engine, err) < 0)
		return -1;
	if (!streq(engine, "Sync"))
		return field_error(err, 0, obj, "io_engine",
				   "\"%s\" is not supported by kiln-vmm (only \"Sync\")", engine);
	if (file_check(obj, "path_on_host", path, !ro, err) < 0)
		return -1;

	for (unsigned int i = 0; i < c->nr_drives; i++)
		if (root && c->drives[i].is_root_device && !streq(c->drives[i].drive_id, id))
			return field_error(err, 0, obj, "is_root_device",
					   "drive \"%s\" is already the root device; only one "
					   "is allowed",
					   c->drives[i].drive_id);
	d = vmm_config_drive(c, id);
	if (d == NULL) {
		if (c->nr_drives >= VMM_MAX_DRIVES)
			return field_error(err, 0, obj, "drive_id",
					   "cannot add \"%s\": at most %d drives are supported", id,
					   VMM_MAX_DRIVES);
		d = &c->drives[c->nr_drives++];
	} else {
		drive_release(d);
	}
	d->drive_id = xstrdup(id);
	d->path_on_host = xstrdup(path);
	d->is_root_device = root;
	d->is_read_only = ro;
	d->partuuid = xstrdup(partuuid);
	d->cache_type = xstrdup(cache);
	d->io_engine = xstrdup(engine);
	drives_root_first(c);
	return 0;
}

int vmm_config_check_drive_patch(const struct vmm_config *c, const kiln_json_t *obj,
				 const char *path_id, const char **path_on_host, kiln_error_t *err)
{
	static const char *const fields[] = {"drive_id", "path_on_host", "rate_limiter", NULL};
	const struct drive_config *d = NULL;
	const char *id = NULL, *path = NULL;

	if (object_check(obj, err) < 0 || fields_check(obj, fields, err) < 0)
		return -1;
	if (required_string(obj, "drive_id", &id, err) < 0 ||
	    item_id_check(obj, "drive_id", "drive", id, path_id, err) < 0 ||
	    unsupported_member(obj, "rate_limiter", err) < 0)
		return -1;
	for (unsigned int i = 0; i < c->nr_drives; i++)
		if (streq(c->drives[i].drive_id, id))
			d = &c->drives[i];
	if (d == NULL)
		return field_error(err, 0, obj, "drive_id", "no drive \"%s\" is configured", id);
	if (path_field(obj, "path_on_host", false, &path, err) < 0)
		return -1;
	if (path != NULL && file_check(obj, "path_on_host", path, !d->is_read_only, err) < 0)
		return -1;
	*path_on_host = path;
	return 0;
}

/* ---- network interfaces ---- */

struct net_iface_config *vmm_config_net(struct vmm_config *c, const char *iface_id)
{
	for (unsigned int i = 0; i < c->nr_nets; i++)
		if (streq(c->nets[i].iface_id, iface_id))
			return &c->nets[i];
	return NULL;
}

unsigned int vmm_config_virtio_count(const struct vmm_config *c)
{
	return c->nr_drives + c->nr_nets + c->nr_fs + (c->vsock.present ? 1 : 0);
}

int vmm_config_virtio_check(const struct vmm_config *c, unsigned int slots, kiln_error_t *err)
{
	unsigned int need = vmm_config_virtio_count(c);

	if (need <= slots)
		return 0;
	return kiln_error_make(err, 0,
			       "%u drives, %u network interfaces, %u fs devices and %s vsock need "
			       "%u virtio-mmio devices; the machine has %u",
			       c->nr_drives, c->nr_nets, c->nr_fs, c->vsock.present ? "a" : "no",
			       need, slots);
}

/* The tap's name as TUNSETIFF takes it (a network interface name). */
static int tap_name_check(const kiln_json_t *obj, const char *name, kiln_error_t *err)
{
	if (strlen(name) >= IFNAMSIZ)
		return field_error(err, 0, obj, "host_dev_name",
				   "\"%.64s\" is longer than %d bytes (an interface name)", name,
				   IFNAMSIZ - 1);
	if (!kiln_ifname_valid(name))
		return field_error(err, 0, obj, "host_dev_name",
				   "\"%.64s\" is not a valid interface name", name);
	return 0;
}

static int mac_field(const kiln_json_t *obj, bool *has_mac, uint8_t mac[VMM_MAC_LEN],
		     kiln_error_t *err)
{
	const char *s = NULL;
	int r = kiln_json_get_string(obj, "guest_mac", &s, err);

	*has_mac = false;
	if (r < 0)
		return -1;
	if (r == 1)
		return 0;
	if (!kiln_mac_parse(s, mac))
		return field_error(err, 0, obj, "guest_mac",
				   "\"%.64s\" is not a MAC address like \"06:00:ac:10:00:02\"", s);
	/* Linux's virtio_net would replace either with a random address. */
	if (mac[0] & 1)
		return field_error(err, 0, obj, "guest_mac",
				   "\"%s\" is a multicast address (the first octet is odd)", s);
	if (memcmp(mac, "\0\0\0\0\0\0", VMM_MAC_LEN) == 0)
		return field_error(err, 0, obj, "guest_mac", "\"%s\" is the all-zero address", s);
	*has_mac = true;
	return 0;
}

int vmm_config_set_net(struct vmm_config *c, const kiln_json_t *obj, const char *path_id,
		       kiln_error_t *err)
{
	static const char *const fields[] = {"iface_id",	"host_dev_name",   "guest_mac",
					     "rx_rate_limiter", "tx_rate_limiter", NULL};
	const char *id = NULL, *tap = NULL;
	uint8_t mac[VMM_MAC_LEN] = {0};
	struct net_iface_config *n;
	bool has_mac = false;

	if (object_check(obj, err) < 0 || fields_check(obj, fields, err) < 0)
		return -1;
	if (required_string(obj, "iface_id", &id, err) < 0 ||
	    item_id_check(obj, "iface_id", "interface", id, path_id, err) < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		const char *key = i == 0 ? "rx_rate_limiter" : "tx_rate_limiter";
		const kiln_json_t *rl = kiln_json_get(obj, key);

		if (rl != NULL && !kiln_json_is_null(rl))
			return field_error(err, 0, obj, key,
					   "rate limiters are not supported by kiln-vmm (must be "
					   "null or absent)");
	}
	if (path_field(obj, "host_dev_name", true, &tap, err) < 0 ||
	    tap_name_check(obj, tap, err) < 0 || mac_field(obj, &has_mac, mac, err) < 0)
		return -1;
	for (unsigned int i = 0; i < c->nr_nets; i++) {
		const struct net_iface_config *o = &c->nets[i];

		if (streq(o->iface_id, id))
			continue;
		if (streq(o->host_dev_name, tap))
			return field_error(err, 0, obj, "host_dev_name",
					   "\"%s\" is already used by interface \"%s\"", tap,
					   o->iface_id);
		if (has_mac && o->has_mac && memcmp(o->guest_mac, mac, VMM_MAC_LEN) == 0)
			return field_error(err, 0, obj, "guest_mac",
					   "the address is already used by interface \"%s\"",
					   o->iface_id);
	}
	n = vmm_config_net(c, id);
	if (n == NULL) {
		if (c->nr_nets >= VMM_MAX_NET_IFACES)
			return field_error(err, 0, obj, "iface_id",
					   "cannot add \"%s\": at most %d network interfaces are "
					   "supported",
					   id, VMM_MAX_NET_IFACES);
		if (vmm_config_virtio_count(c) >= VMM_MAX_VIRTIO)
			return field_error(
			    err, 0, obj, "iface_id",
			    "cannot add \"%s\": drives, network interfaces and vsock "
			    "would need more than %d virtio-mmio devices",
			    id, VMM_MAX_VIRTIO);
		n = &c->nets[c->nr_nets++];
	} else {
		net_release(n);
	}
	n->iface_id = xstrdup(id);
	n->host_dev_name = xstrdup(tap);
	n->has_mac = has_mac;
	memcpy(n->guest_mac, mac, VMM_MAC_LEN);
	return 0;
}

/* ---- virtio-fs ---- */

struct fs_config *vmm_config_fs(struct vmm_config *c, const char *fs_id)
{
	for (unsigned int i = 0; i < c->nr_fs; i++)
		if (streq(c->fs[i].fs_id, fs_id))
			return &c->fs[i];
	return NULL;
}

int vmm_config_set_fs(struct vmm_config *c, const kiln_json_t *obj, const char *path_id,
		      kiln_error_t *err)
{
	static const char *const fields[] = {
	    "fs_id", "tag", "socket_path", "num_request_queues", "queue_size", NULL};
	const char *id = NULL, *tag = NULL, *sock = NULL;
	uint32_t nq = 1, qsize = VMM_FS_QUEUE_SIZE;
	struct fs_config *f;

	if (object_check(obj, err) < 0 || fields_check(obj, fields, err) < 0)
		return -1;
	if (required_string(obj, "fs_id", &id, err) < 0 ||
	    item_id_check(obj, "fs_id", "fs", id, path_id, err) < 0)
		return -1;
	if (path_field(obj, "tag", true, &tag, err) < 0)
		return -1;
	if (strlen(tag) > VMM_FS_TAG_MAX)
		return field_error(err, 0, obj, "tag", "\"%.64s\" is longer than %d bytes", tag,
				   VMM_FS_TAG_MAX);
	if (path_field(obj, "socket_path", true, &sock, err) < 0)
		return -1;
	if (strlen(sock) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
		return field_error(err, 0, obj, "socket_path",
				   "'%.64s...' is too long for a unix socket (max %zu bytes)", sock,
				   sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
	if (kiln_json_get_uint32(obj, "num_request_queues", &nq, err) < 0 ||
	    kiln_json_get_uint32(obj, "queue_size", &qsize, err) < 0)
		return -1;
	if (nq < 1 || nq > VMM_FS_MAX_REQUEST_QUEUES)
		return field_error(err, 0, obj, "num_request_queues", "%u is out of range (1..%d)",
				   nq, VMM_FS_MAX_REQUEST_QUEUES);
	if (qsize < 2 || qsize > VMM_FS_QUEUE_SIZE || (qsize & (qsize - 1)) != 0)
		return field_error(err, 0, obj, "queue_size", "%u is not a power of 2 from 2 to %d",
				   qsize, VMM_FS_QUEUE_SIZE);
	for (unsigned int i = 0; i < c->nr_fs; i++)
		if (!streq(c->fs[i].fs_id, id) && streq(c->fs[i].tag, tag))
			return field_error(err, 0, obj, "tag",
					   "\"%s\" is already used by fs \"%s\"", tag,
					   c->fs[i].fs_id);
	f = vmm_config_fs(c, id);
	if (f == NULL) {
		if (c->nr_fs >= VMM_MAX_FS)
			return field_error(err, 0, obj, "fs_id",
					   "cannot add \"%s\": at most %d fs devices are supported",
					   id, VMM_MAX_FS);
		if (vmm_config_virtio_count(c) >= VMM_MAX_VIRTIO)
			return field_error(err, 0, obj, "fs_id",
					   "cannot add \"%s\": the devices would need more than %d "
					   "virtio-mmio devices",
					   id, VMM_MAX_VIRTIO);
		f = &c->fs[c->nr_fs++];
	} else {
		fs_release(f);
	}
	f->fs_id = xstrdup(id);
	f->tag = xstrdup(tag);
	f->socket_path = xstrdup(sock);
	f->num_request_queues = nq;
	f->queue_size = qsize;
	return 0;
}

/* ---- vsock, logger, metrics ---- */

int vmm_config_set_vsock(struct vmm_config *c, const kiln_json_t *obj, kiln_error_t *err)
{
	/* vsock_id is deprecated in Firecracker and identifies nothing with a
	 * single vsock device; it is accepted and dropped, as Firecracker
	 * does. */
	static const char *const fields[] = {"guest_cid", "uds_path", "vsock_id", NULL};
	const char *uds = NULL, *vsock_id = NULL;
	uint32_t cid = 0;
	int r;

	if (object_check(obj, err) < 0 || fields_check(obj, fields, err) < 0)
		return -1;
	r = kiln_json_get_uint32(obj, "guest_cid", &cid, err);
	if (r < 0)
		return -1;
	if (r == 1)
		return field_error(err, 0, obj, "guest_cid", "missing required field");
	/* 0-2 are the hypervisor, local and host CIDs; U32_MAX is
	 * VMADDR_CID_ANY. */
	if (cid < 3 || cid == UINT32_MAX)
		return field_error(err, 0, obj, "guest_cid",
				   "%u is out of range (3..4294967294; 0-2 are reserved)", cid);
	if (path_field(obj, "uds_path", true, &uds, err) < 0 ||
	    kiln_json_get_string(obj, "vsock_id", &vsock_id, err) < 0)
		return -1;
	if (strlen(uds) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
		return field_error(err, 0, obj, "uds_path",
				   "'%.64s...' is too long for a unix socket (max %zu bytes)", uds,
				   sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);

	vsock_release(&c->vsock);
	c->vsock.present = true;
	c->vsock.guest_cid = cid;
	c->vsock.uds_path = xstrdup(uds);
	return 0;
}

int vmm_config_set_logger(struct vmm_config *c, const kiln_json_t *obj, kiln_error_t *err)
{
	static const char *const fields[] = {"log_path",	"level",  "show_level",
					     "show_log_origin", "module", NULL};
	/* The swagger says levels are case-insensitive. */
	static const char *const levels[] = {"Error", "Warning", "Info", "Debug",
					     "Trace", "Off",	 NULL};
	const char *path = NULL, *level = NULL, *module = NULL;
	bool show_level = false, show_origin = false;

	if (object_check(obj, err) < 0 || fields_check(obj, fields, err) < 0)
		return -1;
	if (path_field(obj, "log_path", false, &path, err) < 0 ||
	    enum_field(obj, "level", levels, true, &level, err) < 0 ||
	    kiln_json_get_bool(obj, "show_level", &show_level, err) < 0 ||
	    kiln_json_get_bool(obj, "show_log_origin", &show_origin, err) < 0 ||
	    kiln_json_get_string(obj, "module", &module, err) < 0)
		return -1;

	logger_release(&c->logger);
	c->logger.present = true;
	c->logger.log_path = xstrdup(path);
	c->logger.level = xstrdup(level);
	c->logger.show_level = show_level;
	c->logger.show_log_origin = show_origin;
	c->logger.module = xstrdup(module);
	return 0;
}

int vmm_config_set_metrics(struct vmm_config *c, const kiln_json_t *obj, kiln_error_t *err)
{
	static const char *const fields[] = {"metrics_path", NULL};
	const char *path = NULL;

	if (object_check(obj, err) < 0 || fields_check(obj, fields, err) < 0)
		return -1;
	if (path_field(obj, "metrics_path", true, &path, err) < 0)
		return -1;

	metrics_release(&c->metrics);
	c->metrics.present = true;
	c->metrics.metrics_path = xstrdup(path);
	return 0;
}

/* ---- --config-file ---- */

/* Firecracker sections kiln-vmm does not implement. GET /vm/config writes
 * them as null or [] (as Firecracker does when they are unset), so a file
 * produced by either must still load. */
static const char *const unsupported_sections[] = {
    "balloon", "cpu-config", "entropy", "memory-hotplug", "mmds-config", "pmem", "serial", NULL};

static int unsupported_section(const kiln_json_t *node, kiln_error_t *err)
{
	cleanup_free char *path = NULL;

	if (kiln_json_is_null(node))
		return 0;
	if ((kiln_json_is_array(node) && kiln_json_array_len(node) == 0) ||
	    (kiln_json_is_object(node) && kiln_json_object_len(node) == 0))
		return 0;
	path = kiln_json_path(node);
	return kiln_error_make(err, 0, "%s: not supported by kiln-vmm (must be null or empty)",
			       path);
}

/* A --config-file array of items (drives, interfaces): each as if PUT
 * with no id in a URL. */
static int array_apply(struct vmm_config *c, const kiln_json_t *node,
		       int (*set)(struct vmm_config *, const kiln_json_t *, const char *,
				  kiln_error_t *),
		       kiln_error_t *err)
{
	const kiln_json_t *arr = NULL;

	if (kiln_json_get_array(node, "", &arr, err) < 0)
		return -1;
	for (size_t i = 0; i < kiln_json_array_len(arr); i++)
		if (set(c, kiln_json_array_get(arr, i), NULL, err) < 0)
			return -1;
	return 0;
}

static int section_apply(struct vmm_config *c, const char *key, const kiln_json_t *node,
			 kiln_error_t *err)
{
	if (kiln_json_is_null(node))
		return 0;
	if (streq(key, "boot-source"))
		return vmm_config_set_boot_source(c, node, err);
	if (streq(key, "machine-config"))
		return vmm_config_set_machine(c, node, false, err);
	if (streq(key, "vsock"))
		return vmm_config_set_vsock(c, node, err);
	if (streq(key, "logger"))
		return vmm_config_set_logger(c, node, err);
	if (streq(key, "metrics"))
		return vmm_config_set_metrics(c, node, err);
	if (streq(key, "network-interfaces"))
		return array_apply(c, node, vmm_config_set_net, err);
	if (streq(key, "drives"))
		return array_apply(c, node, vmm_config_set_drive, err);
	if (streq(key, "fs"))
		return array_apply(c, node, vmm_config_set_fs, err);
	if (key_allowed(key, unsupported_sections))
		return unsupported_section(node, err);
	return kiln_error_make(err, 0,
			       "%.64s: unknown section (expected one of: boot-source, drives, "
			       "machine-config, network-interfaces, fs, vsock, logger, metrics)",
			       key);
}

int vmm_config_parse(struct vmm_config *c, const char *json, size_t len, kiln_error_t *err)
{
	cleanup_json kiln_json_t *root = NULL;
	struct vmm_config tmp;

	if (kiln_json_parse(json, len, &root, err) < 0)
		return -1;
	if (!kiln_json_is_object(root))
		return kiln_error_make(err, 0, "configuration must be a JSON object, not %s",
				       kiln_json_type_name(kiln_json_type(root)));

	vmm_config_init(&tmp);
	for (size_t i = 0; i < kiln_json_object_len(root); i++) {
		if (section_apply(&tmp, kiln_json_object_key(root, i),
				  kiln_json_object_value(root, i), err) < 0) {
			vmm_config_release(&tmp);
			return -1;
		}
	}
	vmm_config_release(c);
	*c = tmp;
	return 0;
}

/* ---- GET /vm/config ---- */

static void machine_gen(kiln_json_gen_t *gen, const struct machine_config *m)
{
	kiln_json_gen_map_open(gen);
	kiln_json_gen_kv_uint64(gen, "vcpu_count", m->vcpu_count);
	kiln_json_gen_kv_uint64(gen, "mem_size_mib", m->mem_size_mib);
	kiln_json_gen_kv_bool(gen, "smt", m->smt);
	kiln_json_gen_kv_bool(gen, "track_dirty_pages", m->track_dirty_pages);
	kiln_json_gen_kv_string(gen, "huge_pages", "None");
	kiln_json_gen_map_close(gen);
}

static void drive_gen(kiln_json_gen_t *gen, const struct drive_config *d)
{
	kiln_json_gen_map_open(gen);
	kiln_json_gen_kv_string(gen, "drive_id", d->drive_id);
	kiln_json_gen_kv_string(gen, "partuuid", d->partuuid);
	kiln_json_gen_kv_bool(gen, "is_root_device", d->is_root_device);
	kiln_json_gen_kv_string(gen, "cache_type", d->cache_type ? d->cache_type : "Unsafe");
	kiln_json_gen_kv_bool(gen, "is_read_only", d->is_read_only);
	kiln_json_gen_kv_string(gen, "path_on_host", d->path_on_host);
	kiln_json_gen_kv_string(gen, "rate_limiter", NULL);
	kiln_json_gen_kv_string(gen, "io_engine", d->io_engine ? d->io_engine : "Sync");
	kiln_json_gen_kv_string(gen, "socket", NULL);
	kiln_json_gen_map_close(gen);
}

static void net_gen(kiln_json_gen_t *gen, const struct net_iface_config *n)
{
	char mac[KILN_MAC_STRLEN];

	if (n->has_mac)
		kiln_mac_format(n->guest_mac, mac);
	kiln_json_gen_map_open(gen);
	kiln_json_gen_kv_string(gen, "iface_id", n->iface_id);
	kiln_json_gen_kv_string(gen, "host_dev_name", n->host_dev_name);
	kiln_json_gen_kv_string(gen, "guest_mac", n->has_mac ? mac : NULL);
	kiln_json_gen_kv_string(gen, "rx_rate_limiter", NULL);
	kiln_json_gen_kv_string(gen, "tx_rate_limiter", NULL);
	kiln_json_gen_map_close(gen);
}

static void fs_gen(kiln_json_gen_t *gen, const struct fs_config *f)
{
	kiln_json_gen_map_open(gen);
	kiln_json_gen_kv_string(gen, "fs_id", f->fs_id);
	kiln_json_gen_kv_string(gen, "tag", f->tag);
	kiln_json_gen_kv_string(gen, "socket_path", f->socket_path);
	kiln_json_gen_kv_uint64(gen, "num_request_queues", f->num_request_queues);
	kiln_json_gen_kv_uint64(gen, "queue_size", f->queue_size);
	kiln_json_gen_map_close(gen);
}

/* Only a string set outside the validators (which accept valid UTF-8 only)
 * can make the generator fail; the caller then answers with an error. */
static char *gen_finish(kiln_json_gen_t *gen)
{
	cleanup_error kiln_error_t err = NULL;
	char *out = NULL;

	if (kiln_json_gen_finish(gen, &out, NULL, &err) < 0) {
		log_error("configuration to JSON: %s", err->msg);
		return NULL;
	}
	return out;
}

char *vmm_config_machine_to_json(const struct machine_config *m)
{
	cleanup_json_gen kiln_json_gen_t *gen = kiln_json_gen_new(false);

	machine_gen(gen, m);
	return gen_finish(gen);
}

char *vmm_config_to_json(const struct vmm_config *c)
{
	cleanup_json_gen kiln_json_gen_t *gen = kiln_json_gen_new(false);

	/* Firecracker's FullVmConfiguration member order. */
	kiln_json_gen_map_open(gen);
	kiln_json_gen_kv_string(gen, "balloon", NULL);

	kiln_json_gen_key(gen, "drives");
	kiln_json_gen_array_open(gen);
	for (unsigned int i = 0; i < c->nr_drives; i++)
		drive_gen(gen, &c->drives[i]);
	kiln_json_gen_array_close(gen);

	kiln_json_gen_key(gen, "boot-source");
	if (c->boot.kernel_image_path != NULL) {
		kiln_json_gen_map_open(gen);
		kiln_json_gen_kv_string(gen, "kernel_image_path", c->boot.kernel_image_path);
		kiln_json_gen_kv_string(gen, "initrd_path", c->boot.initrd_path);
		kiln_json_gen_kv_string(gen, "boot_args", c->boot.boot_args);
		kiln_json_gen_map_close(gen);
	} else {
		kiln_json_gen_null(gen);
	}

	kiln_json_gen_kv_string(gen, "cpu-config", NULL);

	kiln_json_gen_key(gen, "logger");
	if (c->logger.present) {
		kiln_json_gen_map_open(gen);
		kiln_json_gen_kv_string(gen, "log_path", c->logger.log_path);
		kiln_json_gen_kv_string(gen, "level", c->logger.level);
		kiln_json_gen_kv_bool(gen, "show_level", c->logger.show_level);
		kiln_json_gen_kv_bool(gen, "show_log_origin", c->logger.show_log_origin);
		kiln_json_gen_kv_string(gen, "module", c->logger.module);
		kiln_json_gen_map_close(gen);
	} else {
		kiln_json_gen_null(gen);
	}

	kiln_json_gen_key(gen, "machine-config");
	machine_gen(gen, &c->machine);

	kiln_json_gen_key(gen, "metrics");
	if (c->metrics.present) {
		kiln_json_gen_map_open(gen);
		kiln_json_gen_kv_string(gen, "metrics_path", c->metrics.metrics_path);
		kiln_json_gen_map_close(gen);
	} else {
		kiln_json_gen_null(gen);
	}

	kiln_json_gen_kv_string(gen, "mmds-config", NULL);
	kiln_json_gen_key(gen, "network-interfaces");
	kiln_json_gen_array_open(gen);
	for (unsigned int i = 0; i < c->nr_nets; i++)
		net_gen(gen, &c->nets[i]);
	kiln_json_gen_array_close(gen);

	kiln_json_gen_key(gen, "vsock");
	if (c->vsock.present) {
		kiln_json_gen_map_open(gen);
		kiln_json_gen_kv_uint64(gen, "guest_cid", c->vsock.guest_cid);
		kiln_json_gen_kv_string(gen, "uds_path", c->vsock.uds_path);
		kiln_json_gen_map_close(gen);
	} else {
		kiln_json_gen_null(gen);
	}

	kiln_json_gen_kv_string(gen, "entropy", NULL);

	/* kiln's own section, after Firecracker's: always present. */
	kiln_json_gen_key(gen, "fs");
	kiln_json_gen_array_open(gen);
	for (unsigned int i = 0; i < c->nr_fs; i++)
		fs_gen(gen, &c->fs[i]);
	kiln_json_gen_array_close(gen);
	kiln_json_gen_map_close(gen);
	return gen_finish(gen);
}
