/* vmm/config.c: --config-file parsing, the per-section validators and
 * GET /vm/config, with errors that name the JSON path. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "common/netlink.h"
#include "tests/unit/tap.h"
#include "vmm/config.h"

static char tmpdir[] = "/tmp/kiln-test-config-XXXXXX";
static char kernel[128], initrd[128], disk0[128], disk1[128], ro_disk[128];

static void fixture_remove(void)
{
	unlink(kernel);
	unlink(initrd);
	unlink(disk0);
	unlink(disk1);
	unlink(ro_disk);
	rmdir(tmpdir);
}

static void touch(char *dst, const char *name, mode_t mode)
{
	int fd;

	snprintf(dst, 128, "%s/%s", tmpdir, name);
	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd >= 0)
		close(fd);
	chmod(dst, mode);
}

/* Files the validators can find: they check paths at parse time. */
static void fixture(void)
{
	if (kernel[0] != '\0')
		return;
	if (mkdtemp(tmpdir) == NULL)
		abort();
	touch(kernel, "vmlinux", 0644);
	touch(initrd, "initrd.img", 0644);
	touch(disk0, "rootfs.ext4", 0644);
	touch(disk1, "data.ext4", 0644);
	touch(ro_disk, "ro.ext4", 0444);
	atexit(fixture_remove);
}

static kiln_json_t *json(const char *s)
{
	kiln_json_t *doc = NULL;

	if (kiln_json_parse(s, strlen(s), &doc, NULL) < 0) {
		tap_diag("test JSON does not parse: %s", s);
		abort();
	}
	return doc;
}

/* Parsing must fail with a message containing want. */
static int parse_fails(const char *doc, const char *want)
{
	struct vmm_config c;
	cleanup_error kiln_error_t err = NULL;
	int r;

	vmm_config_init(&c);
	r = vmm_config_parse(&c, doc, strlen(doc), &err);
	vmm_config_release(&c);
	if (r == 0 || err == NULL || strstr(err->msg, want) == NULL) {
		tap_diag("config %.60s: r=%d msg \"%s\", want \"%s\"", doc, r,
			 err ? err->msg : "(none)", want);
		return TAP_FAIL;
	}
	return TAP_PASS;
}

#define CHECK_PARSE_FAILS(doc, want) TAP_CHECK(parse_fails((doc), (want)) == TAP_PASS)

static char *full_config(void)
{
	return xasprintf(
	    "{\"boot-source\": {\"kernel_image_path\": \"%s\", \"initrd_path\": \"%s\", "
	    "\"boot_args\": \"console=ttyS0 reboot=k\"},"
	    " \"drives\": [{\"drive_id\": \"data\", \"path_on_host\": \"%s\", "
	    "\"is_root_device\": false, \"is_read_only\": false, \"cache_type\": "
	    "\"Writeback\"},"
	    " {\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", \"is_root_device\": true, "
	    "\"is_read_only\": true, \"partuuid\": \"abcd-01\", \"io_engine\": \"Sync\", "
	    "\"rate_limiter\": null}],"
	    " \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 512, \"smt\": true, "
	    "\"track_dirty_pages\": true, \"cpu_template\": \"None\"},"
	    " \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"/run/v.sock\"},"
	    " \"logger\": {\"log_path\": \"/tmp/fc.log\", \"level\": \"debug\", "
	    "\"show_level\": true},"
	    " \"metrics\": {\"metrics_path\": \"/tmp/m.fifo\"},"
	    " \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"ktap0\", "
	    "\"guest_mac\": \"06:00:AC:10:00:02\", \"rx_rate_limiter\": null},"
	    " {\"iface_id\": \"eth1\", \"host_dev_name\": \"ktap1\"}], \"balloon\": null, "
	    "\"mmds-config\": null, "
	    "\"entropy\": {}}",
	    kernel, initrd, disk1, disk0);
}

static int test_defaults(void)
{
	struct vmm_config c;

	vmm_config_init(&c);
	TAP_CHECK(c.machine.vcpu_count == 1);
	TAP_CHECK(c.machine.mem_size_mib == 128);
	TAP_CHECK(!c.machine.smt && !c.machine.track_dirty_pages);
	TAP_CHECK(c.boot.kernel_image_path == NULL);
	TAP_CHECK(c.nr_drives == 0);
	TAP_CHECK(!c.vsock.present && !c.logger.present && !c.metrics.present);
	vmm_config_release(&c);
	/* Releasing twice is harmless. */
	vmm_config_release(&c);
	return TAP_PASS;
}

static int test_parse_full(void)
{
	cleanup_free char *doc = NULL;
	cleanup_error kiln_error_t err = NULL;
	struct vmm_config c;
	struct drive_config *d;

	fixture();
	doc = full_config();
	vmm_config_init(&c);
	if (vmm_config_parse(&c, doc, strlen(doc), &err) < 0) {
		tap_diag("%s", err->msg);
		return TAP_FAIL;
	}
	TAP_CHECK_STR(c.boot.kernel_image_path, kernel);
	TAP_CHECK_STR(c.boot.initrd_path, initrd);
	TAP_CHECK_STR(c.boot.boot_args, "console=ttyS0 reboot=k");
	TAP_CHECK(c.machine.vcpu_count == 2 && c.machine.mem_size_mib == 512);
	TAP_CHECK(c.machine.smt && c.machine.track_dirty_pages);
	TAP_CHECK(c.nr_drives == 2);
	/* The root device moves first, whatever the file's order. */
	TAP_CHECK_STR(c.drives[0].drive_id, "rootfs");
	TAP_CHECK(c.drives[0].is_root_device && c.drives[0].is_read_only);
	TAP_CHECK_STR(c.drives[0].partuuid, "abcd-01");
	TAP_CHECK_STR(c.drives[0].cache_type, "Unsafe");
	TAP_CHECK_STR(c.drives[0].io_engine, "Sync");
	d = vmm_config_drive(&c, "data");
	TAP_CHECK(d == &c.drives[1]);
	TAP_CHECK_STR(d->path_on_host, disk1);
	TAP_CHECK_STR(d->cache_type, "Writeback");
	TAP_CHECK(vmm_config_drive(&c, "nope") == NULL);
	TAP_CHECK(c.vsock.present && c.vsock.guest_cid == 3);
	TAP_CHECK_STR(c.vsock.uds_path, "/run/v.sock");
	TAP_CHECK(c.logger.present);
	/* Levels are case-insensitive and kept in the swagger's spelling. */
	TAP_CHECK_STR(c.logger.level, "Debug");
	TAP_CHECK(c.logger.show_level && !c.logger.show_log_origin);
	TAP_CHECK(c.metrics.present);
	TAP_CHECK_STR(c.metrics.metrics_path, "/tmp/m.fifo");
	TAP_CHECK(c.nr_nets == 2);
	TAP_CHECK_STR(c.nets[0].iface_id, "eth0");
	TAP_CHECK_STR(c.nets[0].host_dev_name, "ktap0");
	TAP_CHECK(c.nets[0].has_mac);
	TAP_CHECK(memcmp(c.nets[0].guest_mac, "\x06\x00\xac\x10\x00\x02", 6) == 0);
	TAP_CHECK(vmm_config_net(&c, "eth1") == &c.nets[1] && !c.nets[1].has_mac);
	TAP_CHECK(vmm_config_net(&c, "eth2") == NULL);
	TAP_CHECK(vmm_config_virtio_count(&c) == 5);
	vmm_config_release(&c);
	return TAP_PASS;
}

static int test_round_trip(void)
{
	cleanup_free char *doc = NULL;
	cleanup_free char *out1 = NULL;
	cleanup_free char *out2 = NULL;
	cleanup_error kiln_error_t err = NULL;
	struct vmm_config c, c2;

	fixture();
	doc = full_config();
	vmm_config_init(&c);
	vmm_config_init(&c2);
	TAP_CHECK(vmm_config_parse(&c, doc, strlen(doc), &err) == 0);
	out1 = vmm_config_to_json(&c);
	TAP_CHECK(out1 != NULL);
	if (vmm_config_parse(&c2, out1, strlen(out1), &err) < 0) {
		tap_diag("%s: %s", out1, err->msg);
		return TAP_FAIL;
	}
	out2 = vmm_config_to_json(&c2);
	TAP_CHECK_STR(out2, out1);
	/* Firecracker's member names and the sections kiln-vmm leaves out. */
	TAP_CHECK(strstr(out1,
			 "\"machine-config\":{\"vcpu_count\":2,\"mem_size_mib\":512,"
			 "\"smt\":true,\"track_dirty_pages\":true,\"huge_pages\":\"None\"}") !=
		  NULL);
	TAP_CHECK(strstr(out1, "\"network-interfaces\":[{\"iface_id\":\"eth0\",\"host_dev_name\":"
			       "\"ktap0\",\"guest_mac\":\"06:00:ac:10:00:02\",\"rx_rate_limiter\":"
			       "null,\"tx_rate_limiter\":null},{\"iface_id\":\"eth1\",\"host_dev_"
			       "name\":\"ktap1\",\"guest_mac\":null,") != NULL);
	TAP_CHECK(strstr(out1, "\"balloon\":null") != NULL);
	TAP_CHECK(strstr(out1, "\"rate_limiter\":null") != NULL);
	vmm_config_release(&c);
	vmm_config_release(&c2);

	/* An empty configuration round-trips too. */
	vmm_config_init(&c);
	free(out1);
	out1 = vmm_config_to_json(&c);
	TAP_CHECK(strstr(out1, "\"boot-source\":null") != NULL);
	TAP_CHECK(strstr(out1, "\"drives\":[]") != NULL);
	TAP_CHECK(strstr(out1, "\"network-interfaces\":[]") != NULL);
	TAP_CHECK(vmm_config_parse(&c, out1, strlen(out1), &err) == 0);
	free(out2);
	out2 = vmm_config_to_json(&c);
	TAP_CHECK_STR(out2, out1);
	vmm_config_release(&c);
	return TAP_PASS;
}

static int test_parse_errors_name_paths(void)
{
	cleanup_free char *d = NULL;
	cleanup_free char *two_roots = NULL;

	fixture();
	CHECK_PARSE_FAILS("{\"machine-config\": {\"vcpu_count\": 0, \"mem_size_mib\": 128}}",
			  "machine-config.vcpu_count: 0 is out of range (1..32)");
	CHECK_PARSE_FAILS("{\"machine-config\": {\"vcpu_count\": 33, \"mem_size_mib\": 128}}",
			  "machine-config.vcpu_count: 33 is out of range");
	CHECK_PARSE_FAILS("{\"machine-config\": {\"vcpu_count\": \"2\", \"mem_size_mib\": 128}}",
			  "machine-config.vcpu_count: expected unsigned integer");
	CHECK_PARSE_FAILS("{\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 32}}",
			  "machine-config.mem_size_mib: 32 is below the minimum of 64 MiB");
	CHECK_PARSE_FAILS("{\"machine-config\": {\"vcpu_count\": 1}}",
			  "machine-config.mem_size_mib: missing required field");
	CHECK_PARSE_FAILS("{\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 128, "
			  "\"vcpus\": 2}}",
			  "machine-config.vcpus: unknown field (expected one of: vcpu_count");
	CHECK_PARSE_FAILS("{\"machine-config\": [1]}", "machine-config: expected object");
	CHECK_PARSE_FAILS("{\"boot-source\": {\"initrd_path\": \"/x\"}}",
			  "boot-source.kernel_image_path: missing required field");
	CHECK_PARSE_FAILS("{\"boot-source\": {\"kernel_image_path\": \"/nonexistent/vmlinux\"}}",
			  "boot-source.kernel_image_path: cannot open '/nonexistent/vmlinux': No "
			  "such file or directory");
	CHECK_PARSE_FAILS("{\"boot-source\": {\"kernel_image_path\": \"/tmp\"}}",
			  "boot-source.kernel_image_path: '/tmp' is a directory");
	CHECK_PARSE_FAILS("{\"drives\": {}}", "drives: expected array");
	CHECK_PARSE_FAILS("{\"drives\": [3]}", "drives[0]: expected object");
	d = xasprintf("{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"%s\", "
		      "\"is_root_device\": false}, {\"drive_id\": \"b\", \"path_on_host\": "
		      "\"/nonexistent\", \"is_root_device\": false}]}",
		      disk0);
	CHECK_PARSE_FAILS(d, "drives[1].path_on_host: cannot open '/nonexistent'");
	two_roots = xasprintf("{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"%s\", "
			      "\"is_root_device\": true}, {\"drive_id\": \"b\", \"path_on_host\": "
			      "\"%s\", \"is_root_device\": true}]}",
			      disk0, disk1);
	CHECK_PARSE_FAILS(two_roots, "drives[1].is_root_device: drive \"a\" is already the root "
				     "device");
	CHECK_PARSE_FAILS("{\"vsock\": {\"guest_cid\": 2, \"uds_path\": \"/v\"}}",
			  "vsock.guest_cid: 2 is out of range");
	CHECK_PARSE_FAILS("{\"vsock\": {\"guest_cid\": -3, \"uds_path\": \"/v\"}}",
			  "vsock.guest_cid: -3 is out of range");
	CHECK_PARSE_FAILS("{\"vsock\": {\"guest_cid\": 3}}", "vsock.uds_path: missing required");
	CHECK_PARSE_FAILS("{\"logger\": {\"level\": \"Loud\"}}",
			  "logger.level: \"Loud\" is invalid (expected one of: \"Error\"");
	CHECK_PARSE_FAILS("{\"metrics\": {}}", "metrics.metrics_path: missing required field");
	CHECK_PARSE_FAILS("{\"metrics\": {\"metrics_path\": \"\"}}",
			  "metrics.metrics_path: must not be empty");
	CHECK_PARSE_FAILS("{\"network-interfaces\": [{\"iface_id\": \"eth0\"}]}",
			  "network-interfaces[0].host_dev_name: missing required field");
	CHECK_PARSE_FAILS("{\"network-interfaces\": {}}", "network-interfaces: ");
	CHECK_PARSE_FAILS("{\"balloon\": {\"amount_mib\": 1}}", "balloon: not supported");
	CHECK_PARSE_FAILS("{\"boot_source\": {}}", "boot_source: unknown section");
	CHECK_PARSE_FAILS("[]", "must be a JSON object, not array");
	CHECK_PARSE_FAILS("{\"machine-config\": ", "invalid JSON at byte");
	return TAP_PASS;
}

static int test_parse_failure_keeps_config(void)
{
	cleanup_error kiln_error_t err = NULL;
	const char *good = "{\"machine-config\": {\"vcpu_count\": 4, \"mem_size_mib\": 256}}";
	const char *bad = "{\"machine-config\": {\"vcpu_count\": 8, \"mem_size_mib\": 256}, "
			  "\"vsock\": {\"guest_cid\": 1, \"uds_path\": \"/v\"}}";
	struct vmm_config c;

	vmm_config_init(&c);
	TAP_CHECK(vmm_config_parse(&c, good, strlen(good), &err) == 0);
	TAP_CHECK(vmm_config_parse(&c, bad, strlen(bad), &err) < 0);
	TAP_CHECK(c.machine.vcpu_count == 4);
	TAP_CHECK(!c.vsock.present);
	vmm_config_release(&c);
	return TAP_PASS;
}

static int test_machine_put_patch(void)
{
	cleanup_error kiln_error_t err = NULL;
	struct vmm_config c;
	kiln_json_t *doc;

	vmm_config_init(&c);
	doc = json("{\"vcpu_count\": 4, \"mem_size_mib\": 1024, \"track_dirty_pages\": true}");
	TAP_CHECK(vmm_config_set_machine(&c, doc, false, &err) == 0);
	kiln_json_free(doc);
	TAP_CHECK(c.machine.vcpu_count == 4 && c.machine.mem_size_mib == 1024);
	TAP_CHECK(c.machine.track_dirty_pages);

	/* PATCH changes only what it names. */
	doc = json("{\"mem_size_mib\": 2048}");
	TAP_CHECK(vmm_config_set_machine(&c, doc, true, &err) == 0);
	kiln_json_free(doc);
	TAP_CHECK(c.machine.vcpu_count == 4 && c.machine.mem_size_mib == 2048);
	TAP_CHECK(c.machine.track_dirty_pages);

	/* PUT resets the optional fields it leaves out. */
	doc = json("{\"vcpu_count\": 1, \"mem_size_mib\": 128}");
	TAP_CHECK(vmm_config_set_machine(&c, doc, false, &err) == 0);
	kiln_json_free(doc);
	TAP_CHECK(!c.machine.track_dirty_pages);

	/* A bad PATCH changes nothing, even fields that were valid. */
	doc = json("{\"mem_size_mib\": 4096, \"vcpu_count\": 99}");
	TAP_CHECK(vmm_config_set_machine(&c, doc, true, &err) < 0);
	kiln_json_free(doc);
	TAP_CHECK(strstr(err->msg, "vcpu_count: 99 is out of range") == err->msg);
	TAP_CHECK(c.machine.mem_size_mib == 128);

	doc = json("{\"vcpu_count\": 3, \"mem_size_mib\": 128, \"smt\": true}");
	TAP_CHECK(vmm_config_set_machine(&c, doc, false, &err) < 0);
	kiln_json_free(doc);
	TAP_CHECK(strstr(err->msg, "vcpu_count: 3 is odd; with smt enabled") != NULL);

	doc = json("{\"vcpu_count\": 2, \"mem_size_mib\": 128, \"cpu_template\": \"T2\"}");
	TAP_CHECK(vmm_config_set_machine(&c, doc, false, &err) < 0);
	kiln_json_free(doc);
	TAP_CHECK_STR(err->msg,
		      "cpu_template: \"T2\" is not supported by kiln-vmm (only \"None\")");

	doc = json("{\"vcpu_count\": 2, \"mem_size_mib\": 128, \"huge_pages\": \"2M\"}");
	TAP_CHECK(vmm_config_set_machine(&c, doc, false, &err) < 0);
	kiln_json_free(doc);
	TAP_CHECK_STR(err->msg, "huge_pages: \"2M\" is not supported by kiln-vmm (only \"None\")");

	doc = json("{\"vcpu_count\": 2, \"mem_size_mib\": 128, \"smt\": 1}");
	TAP_CHECK(vmm_config_set_machine(&c, doc, false, &err) < 0);
	kiln_json_free(doc);
	TAP_CHECK_STR(err->msg, "smt: expected boolean");

	doc = json("{\"vcpu_count\": 2, \"mem_size_mib\": 1.5}");
	TAP_CHECK(vmm_config_set_machine(&c, doc, false, &err) < 0);
	kiln_json_free(doc);
	TAP_CHECK_STR(err->msg, "mem_size_mib: expected unsigned integer");
	vmm_config_release(&c);
	return TAP_PASS;
}

static int test_machine_to_json(void)
{
	struct machine_config m = {.vcpu_count = 2, .mem_size_mib = 256, .smt = false};
	cleanup_free char *s = vmm_config_machine_to_json(&m);

	TAP_CHECK_STR(s, "{\"vcpu_count\":2,\"mem_size_mib\":256,\"smt\":false,"
			 "\"track_dirty_pages\":false,\"huge_pages\":\"None\"}");
	return TAP_PASS;
}

static int test_boot_source(void)
{
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *s = NULL;
	struct vmm_config c;
	kiln_json_t *doc;

	fixture();
	vmm_config_init(&c);
	s = xasprintf("{\"kernel_image_path\": \"%s\", \"initrd_path\": \"%s\"}", kernel, initrd);
	doc = json(s);
	TAP_CHECK(vmm_config_set_boot_source(&c, doc, &err) == 0);
	kiln_json_free(doc);
	TAP_CHECK_STR(c.boot.initrd_path, initrd);
	TAP_CHECK(c.boot.boot_args == NULL);

	/* A missing initrd is named, and the old boot source stays. */
	free(s);
	s = xasprintf("{\"kernel_image_path\": \"%s\", \"initrd_path\": \"/no/initrd\"}", kernel);
	doc = json(s);
	TAP_CHECK(vmm_config_set_boot_source(&c, doc, &err) < 0);
	kiln_json_free(doc);
	TAP_CHECK(strncmp(err->msg, "initrd_path: cannot open '/no/initrd'", 37) == 0);
	TAP_CHECK_STR(c.boot.initrd_path, initrd);

	doc = json("{\"kernel_image_path\": \"\"}");
	TAP_CHECK(vmm_config_set_boot_source(&c, doc, &err) < 0);
	kiln_json_free(doc);
	TAP_CHECK_STR(err->msg, "kernel_image_path: must not be empty");

	doc = json("{\"kernel_image_path\": 7}");
	TAP_CHECK(vmm_config_set_boot_source(&c, doc, &err) < 0);
	kiln_json_free(doc);
	TAP_CHECK_STR(err->msg, "kernel_image_path: expected string");
	vmm_config_release(&c);
	return TAP_PASS;
}

static int set_drive(struct vmm_config *c, const char *path_id, kiln_error_t *err, const char *fmt,
		     const char *path)
{
	cleanup_free char *s = xasprintf(fmt, path);
	kiln_json_t *doc = json(s);
	int r = vmm_config_set_drive(c, doc, path_id, err);

	kiln_json_free(doc);
	return r;
}

static int test_drives(void)
{
	cleanup_error kiln_error_t err = NULL;
	struct vmm_config c;

	fixture();
	vmm_config_init(&c);
	TAP_CHECK(set_drive(&c, "a", &err,
			    "{\"drive_id\": \"a\", \"path_on_host\": \"%s\", "
			    "\"is_root_device\": false}",
			    disk0) == 0);
	TAP_CHECK(set_drive(&c, "b", &err,
			    "{\"drive_id\": \"b\", \"path_on_host\": \"%s\", "
			    "\"is_root_device\": true}",
			    disk1) == 0);
	TAP_CHECK(c.nr_drives == 2);
	TAP_CHECK_STR(c.drives[0].drive_id, "b");
	TAP_CHECK(!c.drives[0].is_read_only);

	/* Replacing b keeps the count; b may stay root. */
	TAP_CHECK(set_drive(&c, "b", &err,
			    "{\"drive_id\": \"b\", \"path_on_host\": \"%s\", "
			    "\"is_root_device\": true, \"is_read_only\": true}",
			    ro_disk) == 0);
	TAP_CHECK(c.nr_drives == 2);
	TAP_CHECK_STR(c.drives[0].path_on_host, ro_disk);

	TAP_CHECK(set_drive(&c, "a", &err,
			    "{\"drive_id\": \"a\", \"path_on_host\": \"%s\", "
			    "\"is_root_device\": true}",
			    disk0) < 0);
	TAP_CHECK_STR(err->msg, "is_root_device: drive \"b\" is already the root device; only "
				"one is allowed");

	TAP_CHECK(set_drive(&c, "a", &err,
			    "{\"drive_id\": \"x\", \"path_on_host\": \"%s\", "
			    "\"is_root_device\": false}",
			    disk0) < 0);
	TAP_CHECK_STR(err->msg, "drive_id: \"x\" does not match the drive id \"a\" in the URL");

	TAP_CHECK(set_drive(&c, NULL, &err,
			    "{\"drive_id\": \"a-b\", \"path_on_host\": \"%s\", "
			    "\"is_root_device\": false}",
			    disk0) < 0);
	TAP_CHECK(strstr(err->msg, "drive_id: \"a-b\" is invalid") == err->msg);

	TAP_CHECK(
	    set_drive(&c, "a", &err, "{\"drive_id\": \"a\", \"path_on_host\": \"%s\"}", disk0) < 0);
	TAP_CHECK_STR(err->msg, "is_root_device: missing required field");

	TAP_CHECK(set_drive(&c, "a", &err,
			    "{\"drive_id\": \"a\", \"path_on_host\": \"%s\", "
			    "\"is_root_device\": false, \"io_engine\": \"Async\"}",
			    disk0) < 0);
	TAP_CHECK_STR(err->msg,
		      "io_engine: \"Async\" is not supported by kiln-vmm (only \"Sync\")");

	TAP_CHECK(set_drive(&c, "a", &err,
			    "{\"drive_id\": \"a\", \"path_on_host\": \"%s\", "
			    "\"is_root_device\": false, \"io_engine\": \"Turbo\"}",
			    disk0) < 0);
	TAP_CHECK(strstr(err->msg, "io_engine: \"Turbo\" is invalid") == err->msg);

	TAP_CHECK(set_drive(&c, "a", &err,
			    "{\"drive_id\": \"a\", \"path_on_host\": \"%s\", "
			    "\"is_root_device\": false, \"cache_type\": \"Fast\"}",
			    disk0) < 0);
	TAP_CHECK_STR(err->msg, "cache_type: \"Fast\" is invalid (expected one of: \"Unsafe\", "
				"\"Writeback\")");

	TAP_CHECK(set_drive(&c, "a", &err,
			    "{\"drive_id\": \"a\", \"path_on_host\": \"%s\", "
			    "\"is_root_device\": false, \"rate_limiter\": {\"ops\": {}}}",
			    disk0) < 0);
	TAP_CHECK_STR(err->msg, "rate_limiter: not supported by kiln-vmm (must be null or absent)");

	TAP_CHECK(set_drive(&c, "a", &err,
			    "{\"drive_id\": \"a\", \"socket\": \"%s\", \"is_root_device\": false}",
			    "/run/vhost.sock") < 0);
	TAP_CHECK_STR(err->msg, "socket: not supported by kiln-vmm (must be null or absent)");

	/* A read-only file cannot back a writable drive. */
	if (geteuid() != 0) {
		TAP_CHECK(set_drive(&c, "a", &err,
				    "{\"drive_id\": \"a\", \"path_on_host\": \"%s\", "
				    "\"is_root_device\": false}",
				    ro_disk) < 0);
		TAP_CHECK(strstr(err->msg, "is not readable and writable") != NULL);
	}
	vmm_config_release(&c);
	return TAP_PASS;
}

static int test_too_many_drives(void)
{
	cleanup_error kiln_error_t err = NULL;
	struct vmm_config c;

	fixture();
	vmm_config_init(&c);
	for (int i = 0; i <= VMM_MAX_DRIVES; i++) {
		cleanup_free char *s =
		    xasprintf("{\"drive_id\": \"d%d\", \"path_on_host\": \"%s\", "
			      "\"is_root_device\": false}",
			      i, disk0);
		kiln_json_t *doc = json(s);
		int r = vmm_config_set_drive(&c, doc, NULL, &err);

		kiln_json_free(doc);
		TAP_CHECK((r == 0) == (i < VMM_MAX_DRIVES));
	}
	TAP_CHECK_STR(err->msg, "drive_id: cannot add \"d16\": at most 16 drives are supported");
	TAP_CHECK(c.nr_drives == VMM_MAX_DRIVES);
	vmm_config_release(&c);
	return TAP_PASS;
}

static int test_drive_patch_check(void)
{
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *s = NULL;
	struct vmm_config c;
	const char *path = (const char *)1;
	kiln_json_t *doc;

	fixture();
	vmm_config_init(&c);
	TAP_CHECK(set_drive(&c, "a", &err,
			    "{\"drive_id\": \"a\", \"path_on_host\": \"%s\", "
			    "\"is_root_device\": false}",
			    disk0) == 0);
	s = xasprintf("{\"drive_id\": \"a\", \"path_on_host\": \"%s\"}", disk1);
	doc = json(s);
	TAP_CHECK(vmm_config_check_drive_patch(&c, doc, "a", &path, &err) == 0);
	TAP_CHECK_STR(path, disk1);
	kiln_json_free(doc);
	/* Checking changes nothing. */
	TAP_CHECK_STR(c.drives[0].path_on_host, disk0);

	doc = json("{\"drive_id\": \"a\"}");
	TAP_CHECK(vmm_config_check_drive_patch(&c, doc, "a", &path, &err) == 0);
	TAP_CHECK(path == NULL);
	kiln_json_free(doc);

	doc = json("{\"drive_id\": \"zz\"}");
	TAP_CHECK(vmm_config_check_drive_patch(&c, doc, "zz", &path, &err) < 0);
	TAP_CHECK_STR(err->msg, "drive_id: no drive \"zz\" is configured");
	kiln_json_free(doc);

	doc = json("{\"drive_id\": \"a\", \"path_on_host\": \"/gone\"}");
	TAP_CHECK(vmm_config_check_drive_patch(&c, doc, "a", &path, &err) < 0);
	TAP_CHECK(strstr(err->msg, "path_on_host: cannot open '/gone'") == err->msg);
	kiln_json_free(doc);

	doc = json("{\"drive_id\": \"a\", \"is_read_only\": true}");
	TAP_CHECK(vmm_config_check_drive_patch(&c, doc, "a", &path, &err) < 0);
	TAP_CHECK(strstr(err->msg, "is_read_only: unknown field") == err->msg);
	kiln_json_free(doc);
	vmm_config_release(&c);
	return TAP_PASS;
}

static int test_vsock_logger_metrics(void)
{
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *long_path = NULL;
	struct vmm_config c;
	kiln_json_t *doc;

	vmm_config_init(&c);
	doc = json("{\"guest_cid\": 42, \"uds_path\": \"/run/v.sock\", \"vsock_id\": \"vsock0\"}");
	TAP_CHECK(vmm_config_set_vsock(&c, doc, &err) == 0);
	kiln_json_free(doc);
	TAP_CHECK(c.vsock.present && c.vsock.guest_cid == 42);

	long_path = xmalloc(200);
	memset(long_path, 'a', 199);
	long_path[199] = '\0';
	{
		cleanup_free char *s =
		    xasprintf("{\"guest_cid\": 3, \"uds_path\": \"/%s\"}", long_path);

		doc = json(s);
	}
	TAP_CHECK(vmm_config_set_vsock(&c, doc, &err) < 0);
	kiln_json_free(doc);
	TAP_CHECK(strstr(err->msg, "uds_path: ") == err->msg);
	TAP_CHECK(strstr(err->msg, "too long for a unix socket (max 107 bytes)") != NULL);
	TAP_CHECK(c.vsock.guest_cid == 42);

	doc = json("{\"guest_cid\": 4294967295, \"uds_path\": \"/v\"}");
	TAP_CHECK(vmm_config_set_vsock(&c, doc, &err) < 0);
	kiln_json_free(doc);
	TAP_CHECK(strstr(err->msg, "guest_cid: 4294967295 is out of range") == err->msg);

	doc = json("{\"level\": \"WARNING\", \"show_log_origin\": true, \"module\": \"api\"}");
	TAP_CHECK(vmm_config_set_logger(&c, doc, &err) == 0);
	kiln_json_free(doc);
	TAP_CHECK_STR(c.logger.level, "Warning");
	TAP_CHECK(c.logger.log_path == NULL && c.logger.show_log_origin);
	TAP_CHECK_STR(c.logger.module, "api");

	doc = json("{\"show_level\": \"yes\"}");
	TAP_CHECK(vmm_config_set_logger(&c, doc, &err) < 0);
	kiln_json_free(doc);
	TAP_CHECK_STR(err->msg, "show_level: expected boolean");

	doc = json("{\"metrics_path\": \"/m\", \"extra\": 1}");
	TAP_CHECK(vmm_config_set_metrics(&c, doc, &err) < 0);
	kiln_json_free(doc);
	TAP_CHECK_STR(err->msg, "extra: unknown field (expected one of: metrics_path)");
	TAP_CHECK(!c.metrics.present);
	vmm_config_release(&c);
	return TAP_PASS;
}

static int set_net(struct vmm_config *c, const char *path_id, kiln_error_t *err, const char *body)
{
	kiln_json_t *doc = json(body);
	int r = vmm_config_set_net(c, doc, path_id, err);

	kiln_json_free(doc);
	return r;
}

#define NET_FAILS(c, id, body, want)                                                               \
	do {                                                                                       \
		cleanup_error kiln_error_t e_ = NULL;                                              \
		TAP_CHECK(set_net((c), (id), &e_, (body)) < 0);                                    \
		TAP_CHECK_STR(e_->msg, (want));                                                    \
	} while (0)

static int test_mac_parse(void)
{
	uint8_t mac[6] = {1, 2, 3, 4, 5, 6};

	TAP_CHECK(kiln_mac_parse("aa:BB:0c:d0:e1:ff", mac));
	TAP_CHECK(memcmp(mac, "\xaa\xbb\x0c\xd0\xe1\xff", 6) == 0);
	TAP_CHECK(kiln_mac_parse("00:00:00:00:00:00", mac));
	TAP_CHECK(memcmp(mac, "\0\0\0\0\0\0", 6) == 0);
	/* Failures leave mac alone. */
	mac[0] = 7;
	TAP_CHECK(!kiln_mac_parse("aa:bb:cc:dd:ee", mac));
	TAP_CHECK(!kiln_mac_parse("aa:bb:cc:dd:ee:ff:", mac));
	TAP_CHECK(!kiln_mac_parse("aa:bb:cc:dd:ee:f", mac));
	TAP_CHECK(!kiln_mac_parse("aa-bb-cc-dd-ee-ff", mac));
	TAP_CHECK(!kiln_mac_parse("aa:bb:cc:dd:ee:fg", mac));
	TAP_CHECK(!kiln_mac_parse("a:bb:cc:dd:ee:fff", mac));
	TAP_CHECK(!kiln_mac_parse("", mac));
	TAP_CHECK(mac[0] == 7);
	return TAP_PASS;
}

static int test_net_ifaces(void)
{
	cleanup_error kiln_error_t err = NULL;
	struct vmm_config c;

	vmm_config_init(&c);
	TAP_CHECK(set_net(&c, "eth0", &err,
			  "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", "
			  "\"guest_mac\": \"02:00:00:00:00:01\"}") == 0);
	TAP_CHECK(c.nr_nets == 1 && c.nets[0].has_mac && c.nets[0].guest_mac[5] == 1);
	/* Replacing keeps the count; a null MAC is no MAC. */
	TAP_CHECK(set_net(&c, "eth0", &err,
			  "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", "
			  "\"guest_mac\": null, \"rx_rate_limiter\": null, \"tx_rate_limiter\": "
			  "null}") == 0);
	TAP_CHECK(c.nr_nets == 1 && !c.nets[0].has_mac);
	TAP_CHECK(set_net(&c, NULL, &err,
			  "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap1\", "
			  "\"guest_mac\": \"02:00:00:00:00:02\"}") == 0);
	TAP_CHECK(c.nr_nets == 2);

	NET_FAILS(&c, "eth2", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"tap2\"}",
		  "iface_id: \"eth3\" does not match the interface id \"eth2\" in the URL");
	NET_FAILS(&c, NULL, "{\"iface_id\": \"eth-2\", \"host_dev_name\": \"tap2\"}",
		  "iface_id: \"eth-2\" is invalid (1..64 letters, digits or '_')");
	NET_FAILS(&c, NULL, "{\"host_dev_name\": \"tap2\"}", "iface_id: missing required field");
	NET_FAILS(&c, NULL, "{\"iface_id\": \"eth2\"}", "host_dev_name: missing required field");
	NET_FAILS(&c, NULL, "{\"iface_id\": \"eth2\", \"host_dev_name\": \"\"}",
		  "host_dev_name: must not be empty");
	NET_FAILS(&c, NULL, "{\"iface_id\": \"eth2\", \"host_dev_name\": \"a234567890123456\"}",
		  "host_dev_name: \"a234567890123456\" is longer than 15 bytes (an interface "
		  "name)");
	NET_FAILS(&c, NULL, "{\"iface_id\": \"eth2\", \"host_dev_name\": \"a/b\"}",
		  "host_dev_name: \"a/b\" is not a valid interface name");
	NET_FAILS(&c, NULL, "{\"iface_id\": \"eth2\", \"host_dev_name\": \"tap1\"}",
		  "host_dev_name: \"tap1\" is already used by interface \"eth1\"");
	NET_FAILS(&c, NULL,
		  "{\"iface_id\": \"eth2\", \"host_dev_name\": \"tap2\", \"guest_mac\": "
		  "\"02:00:00:00:00:02\"}",
		  "guest_mac: the address is already used by interface \"eth1\"");
	NET_FAILS(&c, NULL,
		  "{\"iface_id\": \"eth2\", \"host_dev_name\": \"tap2\", \"guest_mac\": "
		  "\"02:00:00:00:00\"}",
		  "guest_mac: \"02:00:00:00:00\" is not a MAC address like \"06:00:ac:10:00:02\"");
	NET_FAILS(&c, NULL,
		  "{\"iface_id\": \"eth2\", \"host_dev_name\": \"tap2\", \"guest_mac\": "
		  "\"01:00:5e:00:00:01\"}",
		  "guest_mac: \"01:00:5e:00:00:01\" is a multicast address (the first octet is "
		  "odd)");
	NET_FAILS(&c, NULL,
		  "{\"iface_id\": \"eth2\", \"host_dev_name\": \"tap2\", \"guest_mac\": "
		  "\"00:00:00:00:00:00\"}",
		  "guest_mac: \"00:00:00:00:00:00\" is the all-zero address");
	NET_FAILS(&c, NULL,
		  "{\"iface_id\": \"eth2\", \"host_dev_name\": \"tap2\", \"guest_mac\": 7}",
		  "guest_mac: expected string");
	NET_FAILS(&c, NULL,
		  "{\"iface_id\": \"eth2\", \"host_dev_name\": \"tap2\", \"rx_rate_limiter\": "
		  "{\"bandwidth\": {\"size\": 1, \"refill_time\": 1}}}",
		  "rx_rate_limiter: rate limiters are not supported by kiln-vmm (must be null or "
		  "absent)");
	NET_FAILS(&c, NULL,
		  "{\"iface_id\": \"eth2\", \"host_dev_name\": \"tap2\", \"tx_rate_limiter\": "
		  "{}}",
		  "tx_rate_limiter: rate limiters are not supported by kiln-vmm (must be null or "
		  "absent)");
	NET_FAILS(&c, NULL, "{\"iface_id\": \"eth2\", \"host_dev_name\": \"tap2\", \"mtu\": 1500}",
		  "mtu: unknown field (expected one of: iface_id, host_dev_name, guest_mac, "
		  "rx_rate_limiter, tx_rate_limiter)");
	/* Nothing above changed the configuration. */
	TAP_CHECK(c.nr_nets == 2);
	TAP_CHECK_STR(c.nets[1].host_dev_name, "tap1");
	vmm_config_release(&c);

	/* The interface limit, and the virtio-mmio slots drives share. */
	vmm_config_init(&c);
	for (int i = 0; i <= VMM_MAX_NET_IFACES; i++) {
		cleanup_free char *s =
		    xasprintf("{\"iface_id\": \"n%d\", \"host_dev_name\": \"tap%d\"}", i, i);
		int r = set_net(&c, NULL, &err, s);

		TAP_CHECK((r == 0) == (i < VMM_MAX_NET_IFACES));
	}
	TAP_CHECK_STR(err->msg, "iface_id: cannot add \"n8\": at most 8 network interfaces are "
				"supported");
	kiln_error_free(&err);
	vmm_config_release(&c);
	vmm_config_init(&c);
	c.nr_drives = VMM_MAX_VIRTIO - 1; /* counted, not used */
	TAP_CHECK(set_net(&c, NULL, &err, "{\"iface_id\": \"a\", \"host_dev_name\": \"t\"}") == 0);
	NET_FAILS(&c, NULL, "{\"iface_id\": \"b\", \"host_dev_name\": \"u\"}",
		  "iface_id: cannot add \"b\": drives, network interfaces and vsock would need "
		  "more than 16 virtio-mmio devices");
	c.nr_drives = 0;
	vmm_config_release(&c);
	return TAP_PASS;
}

static int test_id_valid(void)
{
	char long_id[VMM_MAX_ID_LEN + 2];

	TAP_CHECK(vmm_config_id_valid("rootfs"));
	TAP_CHECK(vmm_config_id_valid("Drive_01"));
	TAP_CHECK(!vmm_config_id_valid(""));
	TAP_CHECK(!vmm_config_id_valid("a-b"));
	TAP_CHECK(!vmm_config_id_valid("a/b"));
	TAP_CHECK(!vmm_config_id_valid("caf\xc3\xa9"));
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[VMM_MAX_ID_LEN] = '\0';
	TAP_CHECK(vmm_config_id_valid(long_id));
	long_id[VMM_MAX_ID_LEN] = 'x';
	long_id[VMM_MAX_ID_LEN + 1] = '\0';
	TAP_CHECK(!vmm_config_id_valid(long_id));
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_defaults), TAP_TEST(test_parse_full), TAP_TEST(test_round_trip),
	 TAP_TEST(test_parse_errors_name_paths), TAP_TEST(test_parse_failure_keeps_config),
	 TAP_TEST(test_machine_put_patch), TAP_TEST(test_machine_to_json),
	 TAP_TEST(test_boot_source), TAP_TEST(test_drives), TAP_TEST(test_too_many_drives),
	 TAP_TEST(test_drive_patch_check), TAP_TEST(test_vsock_logger_metrics),
	 TAP_TEST(test_id_valid), TAP_TEST(test_mac_parse), TAP_TEST(test_net_ifaces))
