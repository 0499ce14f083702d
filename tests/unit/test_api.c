/* vmm/api/routes.c and server.c: every endpoint against a fake backend that
 * records its calls (status codes, messages that name the field, the
 * pre/post-boot rules), then the real server on a temporary socket. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/json.h"
#include "common/util.h"
#include "tests/unit/tap.h"
#include "vmm/api/api.h"

/* ---- fake backend ---- */

struct fake {
	int starts, ctrl_alt_dels, flushes, pauses, resumes, drive_updates;
	bool fail_start, fail_update, fail_pause;
	uint32_t started_vcpus;
	char drive_id[80], drive_path[256];
};

static int fake_start(void *opaque, const struct vmm_config *cfg, kiln_error_t *err)
{
	struct fake *f = opaque;

	f->starts++;
	if (f->fail_start)
		return kiln_error_make(err, 0, "kvm exploded");
	f->started_vcpus = cfg->machine.vcpu_count;
	return 0;
}

static int fake_ctrl_alt_del(void *opaque, kiln_error_t *err)
{
	(void)err;
	((struct fake *)opaque)->ctrl_alt_dels++;
	return 0;
}

static int fake_flush(void *opaque, kiln_error_t *err)
{
	(void)err;
	((struct fake *)opaque)->flushes++;
	return 0;
}

static int fake_pause(void *opaque, kiln_error_t *err)
{
	struct fake *f = opaque;

	f->pauses++;
	if (f->fail_pause)
		return kiln_error_make(err, 0, "vCPU 1 did not stop");
	return 0;
}

static int fake_resume(void *opaque, kiln_error_t *err)
{
	(void)err;
	((struct fake *)opaque)->resumes++;
	return 0;
}

static int fake_drive_update(void *opaque, const char *id, const char *path, kiln_error_t *err)
{
	struct fake *f = opaque;

	f->drive_updates++;
	snprintf(f->drive_id, sizeof(f->drive_id), "%s", id);
	snprintf(f->drive_path, sizeof(f->drive_path), "%s", path);
	if (f->fail_update)
		return kiln_error_make(err, 0, "device busy");
	return 0;
}

static struct fake fake;
static struct vmm_api api;

static void api_setup(void)
{
	struct vmm_api_backend b = {
	    .opaque = &fake,
	    .instance_start = fake_start,
	    .send_ctrl_alt_del = fake_ctrl_alt_del,
	    .flush_metrics = fake_flush,
	    .pause = fake_pause,
	    .resume = fake_resume,
	    .drive_update = fake_drive_update,
	};

	memset(&fake, 0, sizeof(fake));
	vmm_api_init(&api, "test-vm", &b);
}

/* ---- fixture files ---- */

static char tmpdir[] = "/tmp/kiln-test-api-XXXXXX";
static char kernel[128], initrd[128], disk0[128], disk1[128], sock_path[128];

static void fixture_remove(void)
{
	unlink(kernel);
	unlink(initrd);
	unlink(disk0);
	unlink(disk1);
	unlink(sock_path);
	rmdir(tmpdir);
}

static void touch(char *dst, const char *name)
{
	int fd;

	snprintf(dst, 128, "%s/%s", tmpdir, name);
	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0)
		close(fd);
}

static void fixture(void)
{
	if (kernel[0] != '\0')
		return;
	if (mkdtemp(tmpdir) == NULL)
		abort();
	touch(kernel, "vmlinux");
	touch(initrd, "initrd");
	touch(disk0, "rootfs.img");
	touch(disk1, "data.img");
	snprintf(sock_path, sizeof(sock_path), "%s/api.sock", tmpdir);
	atexit(fixture_remove);
}

/* ---- request helpers ---- */

static int call(enum http_method m, const char *path, const char *body, struct http_response *resp)
{
	static const char *const names[] = {"GET", "PUT", "PATCH", "DELETE"};
	struct http_request req;

	memset(&req, 0, sizeof(req));
	req.method = m;
	snprintf(req.method_name, sizeof(req.method_name), "%s", names[m]);
	snprintf(req.path, sizeof(req.path), "%s", path);
	req.keep_alive = true;
	if (body != NULL) {
		req.body = body;
		req.body_len = strlen(body);
	}
	http_response_init(resp);
	return vmm_api_handle(&api, &req, resp);
}

/* The request must answer status, and its body must contain want (NULL:
 * no check; "" for 204 means no body at all). */
static int expect(enum http_method m, const char *path, const char *body, int status,
		  const char *want)
{
	struct http_response resp;
	int r = call(m, path, body, &resp), ok;

	ok = r == status && resp.status == status;
	if (ok && want != NULL) {
		if (*want == '\0')
			ok = resp.body == NULL;
		else
			ok = resp.body != NULL && strstr(resp.body, want) != NULL;
	}
	/* Every error carries Firecracker's fault_message. */
	if (ok && status >= 400)
		ok = resp.body != NULL && strncmp(resp.body, "{\"fault_message\":\"", 18) == 0;
	if (!ok)
		tap_diag("%s %s %.60s: got %d %s; want %d containing '%s'",
			 m == HTTP_METHOD_GET	  ? "GET"
			 : m == HTTP_METHOD_PUT	  ? "PUT"
			 : m == HTTP_METHOD_PATCH ? "PATCH"
						  : "OTHER",
			 path, body ? body : "", resp.status, resp.body ? resp.body : "(none)",
			 status, want ? want : "");
	http_response_release(&resp);
	return ok ? TAP_PASS : TAP_FAIL;
}

#define EXPECT(m, path, body, status, want)                                                        \
	TAP_CHECK(expect(HTTP_METHOD_##m, (path), (body), (status), (want)) == TAP_PASS)

/* A body built with one path argument. */
#define EXPECTF(m, path, fmt, arg, status, want)                                                   \
	do {                                                                                       \
		cleanup_free char *b_ = xasprintf(fmt, arg);                                       \
		EXPECT(m, path, b_, status, want);                                                 \
	} while (0)

static int boot_source_put(void)
{
	EXPECTF(PUT, "/boot-source", "{\"kernel_image_path\": \"%s\", \"boot_args\": \"quiet\"}",
		kernel, 204, "");
	return TAP_PASS;
}

static int start_vm(void)
{
	TAP_CHECK(boot_source_put() == TAP_PASS);
	EXPECT(PUT, "/actions", "{\"action_type\": \"InstanceStart\"}", 204, "");
	return TAP_PASS;
}

/* ---- tests ---- */

static int test_instance_info_and_version(void)
{
	api_setup();
	EXPECT(GET, "/", NULL, 200,
	       "{\"id\":\"test-vm\",\"state\":\"Not started\",\"vmm_version\":\"" KILN_VERSION
	       "\",\"app_name\":\"kiln-vmm\"}");
	EXPECT(GET, "/version", NULL, 200, "{\"firecracker_version\":\"" KILN_VERSION "\"}");
	vmm_api_release(&api);

	vmm_api_init(&api, NULL, NULL);
	EXPECT(GET, "/", NULL, 200, "\"id\":\"anonymous-instance\"");
	vmm_api_release(&api);
	return TAP_PASS;
}

static int test_machine_config(void)
{
	api_setup();
	EXPECT(GET, "/machine-config", NULL, 200,
	       "{\"vcpu_count\":1,\"mem_size_mib\":128,\"smt\":false,\"track_dirty_pages\":false,"
	       "\"huge_pages\":\"None\"}");
	EXPECT(PUT, "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 256}", 204, "");
	EXPECT(GET, "/machine-config", NULL, 200, "{\"vcpu_count\":2,\"mem_size_mib\":256,");
	EXPECT(PATCH, "/machine-config", "{\"vcpu_count\": 4}", 204, "");
	EXPECT(GET, "/machine-config", NULL, 200, "{\"vcpu_count\":4,\"mem_size_mib\":256,");
	EXPECT(PATCH, "/machine-config", "{}", 400, "empty PATCH request");
	EXPECT(PUT, "/machine-config", "{\"vcpu_count\": 0, \"mem_size_mib\": 256}", 400,
	       "vcpu_count: 0 is out of range (1..32)");
	EXPECT(PUT, "/machine-config", "{\"vcpu_count\": 64, \"mem_size_mib\": 256}", 400,
	       "vcpu_count: 64 is out of range");
	EXPECT(PUT, "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 16}", 400,
	       "mem_size_mib: 16 is below the minimum of 64 MiB");
	EXPECT(PUT, "/machine-config", "{\"mem_size_mib\": 256}", 400,
	       "vcpu_count: missing required field");
	EXPECT(PUT, "/machine-config", "{\"vcpu_count\": true, \"mem_size_mib\": 256}", 400,
	       "vcpu_count: expected unsigned integer");
	EXPECT(PUT, "/machine-config",
	       "{\"vcpu_count\": 1, \"mem_size_mib\": 256, \"cpu_template\": \"C3\"}", 400,
	       "cpu_template: \\\"C3\\\" is not supported by kiln-vmm");
	EXPECT(PUT, "/machine-config",
	       "{\"vcpu_count\": 1, \"mem_size_mib\": 256, \"huge_pages\": \"Transparent\"}", 400,
	       "huge_pages: \\\"Transparent\\\" is not supported");
	EXPECT(PATCH, "/machine-config", "{\"memory\": 256}", 400,
	       "memory: unknown field (expected one of: vcpu_count, mem_size_mib");
	/* Nothing above changed the configuration. */
	EXPECT(GET, "/machine-config", NULL, 200, "{\"vcpu_count\":4,\"mem_size_mib\":256,");
	vmm_api_release(&api);
	return TAP_PASS;
}

static int test_boot_source(void)
{
	fixture();
	api_setup();
	EXPECTF(PUT, "/boot-source", "{\"kernel_image_path\": \"%s\"}", "/missing/vmlinux", 400,
		"kernel_image_path: cannot open '/missing/vmlinux': No such file or directory");
	EXPECTF(PUT, "/boot-source",
		"{\"kernel_image_path\": \"%s\", \"initrd_path\": \"/missing/initrd\"}", kernel,
		400, "initrd_path: cannot open '/missing/initrd'");
	EXPECT(PUT, "/boot-source", "{\"boot_args\": \"x\"}", 400,
	       "kernel_image_path: missing required field");
	EXPECTF(PUT, "/boot-source", "{\"kernel_image_path\": \"%s\", \"kernel_args\": \"x\"}",
		kernel, 400, "kernel_args: unknown field");
	EXPECTF(PUT, "/boot-source", "{\"kernel_image_path\": \"%s\", \"boot_args\": 1}", kernel,
		400, "boot_args: expected string");
	TAP_CHECK(api.config.boot.kernel_image_path == NULL);
	{
		cleanup_free char *b = xasprintf(
		    "{\"kernel_image_path\": \"%s\", \"initrd_path\": \"%s\"}", kernel, initrd);

		EXPECT(PUT, "/boot-source", b, 204, "");
	}
	TAP_CHECK_STR(api.config.boot.kernel_image_path, kernel);
	TAP_CHECK_STR(api.config.boot.initrd_path, initrd);
	EXPECT(GET, "/boot-source", NULL, 405, "method not allowed (allowed: PUT)");
	vmm_api_release(&api);
	return TAP_PASS;
}

static int test_drives(void)
{
	fixture();
	api_setup();
	EXPECTF(PUT, "/drives/rootfs",
		"{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", \"is_root_device\": true, "
		"\"is_read_only\": false}",
		disk0, 204, "");
	EXPECTF(PUT, "/drives/data",
		"{\"drive_id\": \"data\", \"path_on_host\": \"%s\", \"is_root_device\": false}",
		disk1, 204, "");
	TAP_CHECK(api.config.nr_drives == 2);
	EXPECTF(PUT, "/drives/other",
		"{\"drive_id\": \"data\", \"path_on_host\": \"%s\", \"is_root_device\": false}",
		disk1, 400,
		"drive_id: \\\"data\\\" does not match the drive id \\\"other\\\" in the URL");
	EXPECTF(PUT, "/drives/data2",
		"{\"drive_id\": \"data2\", \"path_on_host\": \"%s\", \"is_root_device\": true}",
		disk1, 400, "is_root_device: drive \\\"rootfs\\\" is already the root device");
	EXPECT(PUT, "/drives/data2",
	       "{\"drive_id\": \"data2\", \"path_on_host\": \"/nope.img\", \"is_root_device\": "
	       "false}",
	       400, "path_on_host: cannot open '/nope.img'");
	EXPECT(PUT, "/drives/data2", "{\"drive_id\": \"data2\", \"is_root_device\": false}", 400,
	       "path_on_host: missing required field");
	EXPECTF(PUT, "/drives/data2",
		"{\"drive_id\": \"data2\", \"path_on_host\": \"%s\", \"is_root_device\": false, "
		"\"rate_limiter\": {\"bandwidth\": {\"size\": 1, \"refill_time\": 1}}}",
		disk1, 400, "rate_limiter: not supported by kiln-vmm");
	EXPECTF(PUT, "/drives/data2",
		"{\"drive_id\": \"data2\", \"path_on_host\": \"%s\", \"is_root_device\": false, "
		"\"io_engine\": \"Async\"}",
		disk1, 400, "io_engine: \\\"Async\\\" is not supported by kiln-vmm");
	EXPECTF(PUT, "/drives/data2",
		"{\"drive_id\": \"data2\", \"path_on_host\": \"%s\", \"is_root_device\": \"no\"}",
		disk1, 400, "is_root_device: expected boolean");
	EXPECT(PUT, "/drives/a-b", "{}", 400, "drive id \\\"a-b\\\" in the URL is invalid");
	EXPECT(PUT, "/drives/", "{}", 400, "drive id \\\"\\\" in the URL is invalid");
	EXPECT(PUT, "/drives/a/b", "{}", 404, "unknown path '/drives/a/b'");
	EXPECT(PUT, "/drives", "{}", 404, "unknown path");
	EXPECT(GET, "/drives/data", NULL, 405, "allowed: PUT, PATCH");
	TAP_CHECK(api.config.nr_drives == 2);

	/* Before boot a PATCH edits the configuration only. */
	EXPECTF(PATCH, "/drives/data", "{\"drive_id\": \"data\", \"path_on_host\": \"%s\"}", disk0,
		204, "");
	TAP_CHECK_STR(vmm_config_drive(&api.config, "data")->path_on_host, disk0);
	TAP_CHECK(fake.drive_updates == 0);
	EXPECT(PATCH, "/drives/nodrive", "{\"drive_id\": \"nodrive\"}", 400,
	       "drive_id: no drive \\\"nodrive\\\" is configured");
	EXPECT(PATCH, "/drives/data", "{\"drive_id\": \"data\", \"rate_limiter\": {}}", 400,
	       "rate_limiter: not supported");
	vmm_api_release(&api);
	return TAP_PASS;
}

static int test_network_interfaces(void)
{
	fixture();
	api_setup();
	EXPECT(PUT, "/network-interfaces/eth0",
	       "{\"iface_id\": \"eth0\", \"host_dev_name\": \"ktap0\", \"guest_mac\": "
	       "\"06:00:0a:00:02:02\"}",
	       204, "");
	EXPECT(PUT, "/network-interfaces/eth1",
	       "{\"iface_id\": \"eth1\", \"host_dev_name\": \"ktap1\"}", 204, "");
	TAP_CHECK(api.config.nr_nets == 2);
	EXPECT(GET, "/vm/config", NULL, 200,
	       "\"network-interfaces\":[{\"iface_id\":\"eth0\",\"host_dev_name\":\"ktap0\","
	       "\"guest_mac\":\"06:00:0a:00:02:02\"");
	EXPECT(PUT, "/network-interfaces/eth2",
	       "{\"iface_id\": \"eth3\", \"host_dev_name\": \"ktap2\"}", 400,
	       "iface_id: \\\"eth3\\\" does not match the interface id \\\"eth2\\\" in the URL");
	EXPECT(PUT, "/network-interfaces/eth2",
	       "{\"iface_id\": \"eth2\", \"host_dev_name\": \"ktap1\"}", 400,
	       "host_dev_name: \\\"ktap1\\\" is already used by interface \\\"eth1\\\"");
	EXPECT(PUT, "/network-interfaces/eth2",
	       "{\"iface_id\": \"eth2\", \"host_dev_name\": \"ktap2\", \"guest_mac\": \"xx\"}", 400,
	       "guest_mac: \\\"xx\\\" is not a MAC address");
	EXPECT(PUT, "/network-interfaces/eth2",
	       "{\"iface_id\": \"eth2\", \"host_dev_name\": \"ktap2\", \"rx_rate_limiter\": "
	       "{\"bandwidth\": {\"size\": 1, \"refill_time\": 1}}}",
	       400, "rx_rate_limiter: rate limiters are not supported by kiln-vmm");
	EXPECT(PUT, "/network-interfaces/eth2",
	       "{\"iface_id\": \"eth2\", \"host_dev_name\": \"ktap2\", \"queues\": 2}", 400,
	       "queues: unknown field");
	EXPECT(PUT, "/network-interfaces/eth-2", "{}", 400,
	       "interface id \\\"eth-2\\\" in the URL is invalid");
	EXPECT(PUT, "/network-interfaces/eth2", NULL, 400, "request body is missing");
	EXPECT(PATCH, "/network-interfaces/eth0", "{\"iface_id\": \"eth0\"}", 400,
	       "network interface \\\"eth0\\\": PATCH only updates rate limiters, which "
	       "kiln-vmm does not support");
	EXPECT(GET, "/network-interfaces/eth0", NULL, 405, "allowed: PUT, PATCH");
	TAP_CHECK(api.config.nr_nets == 2);

	/* Pre-boot only. */
	TAP_CHECK(start_vm() == TAP_PASS);
	EXPECT(PUT, "/network-interfaces/eth2",
	       "{\"iface_id\": \"eth2\", \"host_dev_name\": \"ktap2\"}", 400,
	       "not supported after starting the microVM");
	EXPECT(PATCH, "/network-interfaces/eth0", "{\"iface_id\": \"eth0\"}", 400,
	       "PATCH only updates rate limiters");
	TAP_CHECK(api.config.nr_nets == 2);
	vmm_api_release(&api);
	return TAP_PASS;
}

static int test_vsock_logger_metrics(void)
{
	api_setup();
	EXPECT(PUT, "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"/run/kiln/v.sock\"}", 204, "");
	TAP_CHECK(api.config.vsock.present && api.config.vsock.guest_cid == 3);
	EXPECT(PUT, "/vsock", "{\"guest_cid\": 2, \"uds_path\": \"/v.sock\"}", 400,
	       "guest_cid: 2 is out of range");
	EXPECT(PUT, "/vsock", "{\"guest_cid\": 5}", 400, "uds_path: missing required field");
	EXPECT(PUT, "/vsock", "{\"guest_cid\": \"5\", \"uds_path\": \"/v\"}", 400,
	       "guest_cid: expected unsigned integer");
	EXPECT(PUT, "/logger",
	       "{\"log_path\": \"/tmp/log.fifo\", \"level\": \"Info\", \"show_level\": true}", 204,
	       "");
	TAP_CHECK_STR(api.config.logger.level, "Info");
	EXPECT(PUT, "/logger", "{\"level\": \"Verbose\"}", 400,
	       "level: \\\"Verbose\\\" is invalid");
	EXPECT(PUT, "/metrics", "{\"metrics_path\": \"/tmp/metrics.fifo\"}", 204, "");
	TAP_CHECK_STR(api.config.metrics.metrics_path, "/tmp/metrics.fifo");
	EXPECT(PUT, "/metrics", "{\"path\": \"/x\"}", 400, "path: unknown field");
	EXPECT(GET, "/metrics", NULL, 405, "allowed: PUT");
	vmm_api_release(&api);
	return TAP_PASS;
}

static int test_bodies(void)
{
	api_setup();
	EXPECT(PUT, "/vsock", NULL, 400, "request body is missing: PUT /vsock needs a JSON object");
	EXPECT(PUT, "/vsock", "", 400, "request body is missing");
	EXPECT(PUT, "/vsock", "{\"guest_cid\": 3,", 400, "request body: invalid JSON at byte");
	EXPECT(PUT, "/vsock", "[1, 2]", 400, "request body must be a JSON object, not array");
	EXPECT(PUT, "/actions", "\"InstanceStart\"", 400, "must be a JSON object, not string");
	vmm_api_release(&api);
	return TAP_PASS;
}

static int test_routing(void)
{
	api_setup();
	EXPECT(GET, "/nope", NULL, 404, "unknown path '/nope'");
	EXPECT(GET, "/machine-config/", NULL, 404, "unknown path");
	EXPECT(GET, "", NULL, 404, "unknown path");
	EXPECT(GET, "/actions", NULL, 405, "GET /actions: method not allowed (allowed: PUT)");
	EXPECT(PUT, "/", "{}", 405, "allowed: GET");
	EXPECT(PUT, "/vm", "{}", 405, "allowed: PATCH");
	EXPECT(PATCH, "/vm/config", "{}", 405, "allowed: GET");
	EXPECT(OTHER, "/machine-config", NULL, 405, "DELETE /machine-config: method not allowed");
	{
		struct http_response resp;

		call(HTTP_METHOD_OTHER, "/vm/config", NULL, &resp);
		TAP_CHECK(resp.status == 405);
		TAP_CHECK_STR(resp.allow, "GET");
		http_response_release(&resp);
	}
	/* Firecracker resources kiln-vmm does not have say so. */
	EXPECT(PUT, "/balloon", "{}", 400, "/balloon: not supported");
	EXPECT(GET, "/mmds", NULL, 400, "not supported");
	EXPECT(PUT, "/snapshot/create", "{}", 400, "not supported");
	EXPECT(PUT, "/entropy", "{}", 400, "not supported");
	vmm_api_release(&api);
	return TAP_PASS;
}

static int test_actions(void)
{
	fixture();
	api_setup();
	EXPECT(PUT, "/actions", "{\"action_type\": \"Reboot\"}", 400,
	       "action_type: \\\"Reboot\\\" is invalid (expected one of: \\\"InstanceStart\\\"");
	EXPECT(PUT, "/actions", "{}", 400, "action_type: missing required field");
	EXPECT(PUT, "/actions", "{\"action_type\": 1}", 400, "action_type: expected string");
	EXPECT(PUT, "/actions", "{\"action_type\": \"FlushMetrics\", \"payload\": 1}", 400,
	       "payload: unknown field (expected one of: action_type)");
	EXPECT(PUT, "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", 400,
	       "not supported before starting the microVM");
	TAP_CHECK(fake.ctrl_alt_dels == 0);
	EXPECT(PUT, "/actions", "{\"action_type\": \"FlushMetrics\"}", 204, "");
	TAP_CHECK(fake.flushes == 1);
	EXPECT(PUT, "/actions", "{\"action_type\": \"InstanceStart\"}", 400,
	       "no boot source (PUT /boot-source with kernel_image_path first)");
	TAP_CHECK(fake.starts == 0);

	EXPECT(PUT, "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 128}", 204, "");
	TAP_CHECK(start_vm() == TAP_PASS);
	TAP_CHECK(fake.starts == 1 && fake.started_vcpus == 2);
	TAP_CHECK(api.state == VMM_STATE_RUNNING);
	EXPECT(GET, "/", NULL, 200, "\"state\":\"Running\"");
	EXPECT(PUT, "/actions", "{\"action_type\": \"InstanceStart\"}", 400,
	       "The requested operation is not supported after starting the microVM.");
	TAP_CHECK(fake.starts == 1);
	EXPECT(PUT, "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", 204, "");
	TAP_CHECK(fake.ctrl_alt_dels == 1);
	EXPECT(PUT, "/actions", "{\"action_type\": \"FlushMetrics\"}", 204, "");
	TAP_CHECK(fake.flushes == 2);
	vmm_api_release(&api);
	return TAP_PASS;
}

static int test_post_boot_rules(void)
{
	fixture();
	api_setup();
	EXPECTF(PUT, "/drives/rootfs",
		"{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", \"is_root_device\": true}",
		disk0, 204, "");
	TAP_CHECK(start_vm() == TAP_PASS);

#define POST_BOOT "The requested operation is not supported after starting the microVM."
	EXPECT(PUT, "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 128}", 400,
	       POST_BOOT);
	EXPECT(PATCH, "/machine-config", "{\"vcpu_count\": 2}", 400, POST_BOOT);
	EXPECTF(PUT, "/boot-source", "{\"kernel_image_path\": \"%s\"}", kernel, 400, POST_BOOT);
	EXPECTF(PUT, "/drives/data",
		"{\"drive_id\": \"data\", \"path_on_host\": \"%s\", \"is_root_device\": false}",
		disk1, 400, POST_BOOT);
	EXPECT(PUT, "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"/v\"}", 400, POST_BOOT);
	EXPECT(PUT, "/logger", "{\"level\": \"Info\"}", 400, POST_BOOT);
	EXPECT(PUT, "/metrics", "{\"metrics_path\": \"/m\"}", 400, POST_BOOT);
	TAP_CHECK(api.config.nr_drives == 1 && !api.config.vsock.present);
	/* Reads still work. */
	EXPECT(GET, "/machine-config", NULL, 200, "\"vcpu_count\":1");
	EXPECT(GET, "/vm/config", NULL, 200, "\"drive_id\":\"rootfs\"");

	/* After boot a drive PATCH goes through the backend first. */
	EXPECTF(PATCH, "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\"}",
		disk1, 204, "");
	TAP_CHECK(fake.drive_updates == 1);
	TAP_CHECK_STR(fake.drive_id, "rootfs");
	TAP_CHECK_STR(fake.drive_path, disk1);
	TAP_CHECK_STR(api.config.drives[0].path_on_host, disk1);
	fake.fail_update = true;
	EXPECTF(PATCH, "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\"}",
		disk0, 400, "drive \\\"rootfs\\\": update failed: device busy");
	TAP_CHECK_STR(api.config.drives[0].path_on_host, disk1);
	/* Nothing to change: no backend call. */
	EXPECT(PATCH, "/drives/rootfs", "{\"drive_id\": \"rootfs\"}", 204, "");
	TAP_CHECK(fake.drive_updates == 2);
	vmm_api_release(&api);
	return TAP_PASS;
}

static int test_vm_state(void)
{
	fixture();
	api_setup();
	EXPECT(PATCH, "/vm", "{\"state\": \"Paused\"}", 400,
	       "The requested operation is not supported before starting the microVM.");
	TAP_CHECK(start_vm() == TAP_PASS);
	fake.fail_pause = true;
	EXPECT(PATCH, "/vm", "{\"state\": \"Paused\"}", 400,
	       "cannot pause the microVM: vCPU 1 did not stop");
	TAP_CHECK(api.state == VMM_STATE_RUNNING);
	fake.fail_pause = false;
	fake.pauses = 0;
	EXPECT(PATCH, "/vm", "{\"state\": \"Paused\"}", 204, "");
	TAP_CHECK(fake.pauses == 1 && api.state == VMM_STATE_PAUSED);
	EXPECT(GET, "/", NULL, 200, "\"state\":\"Paused\"");
	EXPECT(PATCH, "/vm", "{\"state\": \"Paused\"}", 204, "");
	TAP_CHECK(fake.pauses == 1);
	/* Still "started" while paused: configuration stays frozen. */
	EXPECT(PUT, "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"/v\"}", 400, "after starting");
	EXPECT(PATCH, "/vm", "{\"state\": \"Resumed\"}", 204, "");
	TAP_CHECK(fake.resumes == 1 && api.state == VMM_STATE_RUNNING);
	EXPECT(PATCH, "/vm", "{\"state\": \"Resumed\"}", 204, "");
	TAP_CHECK(fake.resumes == 1);
	EXPECT(PATCH, "/vm", "{\"state\": \"Stopped\"}", 400,
	       "state: \\\"Stopped\\\" is invalid (expected one of: \\\"Paused\\\", "
	       "\\\"Resumed\\\")");
	EXPECT(PATCH, "/vm", "{}", 400, "state: missing required field");
	EXPECT(PATCH, "/vm", "{\"state\": false}", 400, "state: expected string");
	EXPECT(PATCH, "/vm", "{\"state\": \"Paused\", \"now\": true}", 400,
	       "now: unknown field (expected one of: state)");
	vmm_api_release(&api);
	return TAP_PASS;
}

static int test_instance_start_failure(void)
{
	cleanup_error kiln_error_t err = NULL;

	fixture();
	api_setup();
	TAP_CHECK(boot_source_put() == TAP_PASS);
	fake.fail_start = true;
	EXPECT(PUT, "/actions", "{\"action_type\": \"InstanceStart\"}", 400,
	       "cannot start the microVM: kvm exploded");
	TAP_CHECK(api.state == VMM_STATE_NOT_STARTED);
	EXPECT(GET, "/", NULL, 200, "\"state\":\"Not started\"");
	/* Still configurable, and a retry can succeed. */
	EXPECT(PUT, "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}", 204, "");
	fake.fail_start = false;
	TAP_CHECK(vmm_api_instance_start(&api, &err) == 0);
	TAP_CHECK(fake.starts == 2 && api.state == VMM_STATE_RUNNING);
	TAP_CHECK(vmm_api_instance_start(&api, &err) < 0);
	TAP_CHECK(strstr(err->msg, "after starting the microVM") != NULL);
	vmm_api_release(&api);
	return TAP_PASS;
}

static int test_missing_backend(void)
{
	fixture();
	vmm_api_init(&api, "x", NULL);
	TAP_CHECK(boot_source_put() == TAP_PASS);
	EXPECT(PUT, "/actions", "{\"action_type\": \"FlushMetrics\"}", 400,
	       "flush_metrics is not supported by this VMM");
	EXPECT(PUT, "/actions", "{\"action_type\": \"InstanceStart\"}", 400,
	       "instance_start is not supported");
	TAP_CHECK(api.state == VMM_STATE_NOT_STARTED);
	vmm_api_release(&api);
	return TAP_PASS;
}

static int test_vm_config_round_trip(void)
{
	cleanup_error kiln_error_t err = NULL;
	struct http_response resp, resp2;
	struct vmm_config c;

	fixture();
	api_setup();
	EXPECT(PUT, "/machine-config",
	       "{\"vcpu_count\": 2, \"mem_size_mib\": 512, \"track_dirty_pages\": true}", 204, "");
	EXPECTF(PUT, "/boot-source",
		"{\"kernel_image_path\": \"%s\", \"boot_args\": \"console=ttyS0 \\\"q\\\"\"}",
		kernel, 204, "");
	EXPECTF(PUT, "/drives/rootfs",
		"{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", \"is_root_device\": true, "
		"\"is_read_only\": true, \"cache_type\": \"Writeback\"}",
		disk0, 204, "");
	EXPECT(PUT, "/vsock", "{\"guest_cid\": 7, \"uds_path\": \"/run/v.sock\"}", 204, "");
	EXPECT(PUT, "/logger", "{\"level\": \"trace\"}", 204, "");
	EXPECT(PUT, "/metrics", "{\"metrics_path\": \"/run/m\"}", 204, "");

	TAP_CHECK(call(HTTP_METHOD_GET, "/vm/config", NULL, &resp) == 200);
	vmm_config_init(&c);
	if (vmm_config_parse(&c, resp.body, resp.body_len, &err) < 0) {
		tap_diag("%s: %s", resp.body, err->msg);
		return TAP_FAIL;
	}
	TAP_CHECK(c.machine.vcpu_count == 2 && c.machine.mem_size_mib == 512);
	TAP_CHECK(c.machine.track_dirty_pages);
	TAP_CHECK_STR(c.boot.boot_args, "console=ttyS0 \"q\"");
	TAP_CHECK(c.nr_drives == 1 && c.drives[0].is_read_only);
	TAP_CHECK_STR(c.drives[0].cache_type, "Writeback");
	TAP_CHECK(c.vsock.guest_cid == 7);
	TAP_CHECK_STR(c.logger.level, "Trace");
	TAP_CHECK_STR(c.metrics.metrics_path, "/run/m");

	/* Loading it into a fresh API gives the same document back. */
	vmm_api_release(&api);
	api_setup();
	vmm_config_release(&api.config);
	api.config = c;
	TAP_CHECK(call(HTTP_METHOD_GET, "/vm/config", NULL, &resp2) == 200);
	TAP_CHECK_STR(resp2.body, resp.body);
	http_response_release(&resp);
	http_response_release(&resp2);
	vmm_api_release(&api);
	return TAP_PASS;
}

/* ---- the real server ---- */

/* Reads one response (headers, then Content-Length bytes) into buf.
 * Returns its length, 0 at EOF before any byte, -1 on error. Bytes past the
 * response are left in buf after it; *extra says how many. */
static ssize_t response_read(int fd, char *buf, size_t size, size_t have, size_t *extra)
{
	size_t len = have;

	for (;;) {
		char *end;
		ssize_t n;

		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL) {
			size_t head = (size_t)(end + 4 - buf), body = 0;
			char *cl = strstr(buf, "Content-Length: ");

			if (cl != NULL && cl < end)
				body = strtoul(cl + 16, NULL, 10);
			if (len >= head + body) {
				*extra = len - head - body;
				return (ssize_t)(head + body);
			}
		}
		if (len + 1 >= size)
			return -1;
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0)
			return -1;
		if (n == 0)
			return len == 0 ? 0 : -1;
		len += (size_t)n;
	}
}

static int client_connect(void)
{
	struct timeval tv = {.tv_sec = 5};
	int fd = kiln_unix_connect(sock_path, NULL);

	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Waits until the server has read every byte sent on fd, so that what is
 * sent next reaches it in another read. On a unix stream socket SIOCOUTQ
 * is the memory of what was sent and the peer has not read yet (zero once
 * it has read it all), and each read the peer makes wakes the sender's
 * write-space waiters, which an edge-triggered EPOLLOUT sees: no polling
 * with sleeps. The 5 s limit only keeps a broken server from hanging the
 * test. */
static int wait_read_by_peer(int fd)
{
	cleanup_close int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLOUT | EPOLLET};
	int unread, r;

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		tap_diag("epoll: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		if (ioctl(fd, SIOCOUTQ, &unread) < 0) {
			tap_diag("SIOCOUTQ: %s", strerror(errno));
			return -1;
		}
		if (unread == 0)
			return 0;
		r = epoll_wait(ep, &ev, 1, 5000);
		if (r < 0 && errno != EINTR) {
			tap_diag("epoll_wait: %s", strerror(errno));
			return -1;
		}
		if (r == 0) {
			tap_diag("the server left what was sent unread for 5 s (SIOCOUTQ %d)",
				 unread);
			return -1;
		}
	}
}

/* Sends req and checks that the reply starts with status_line and
 * contains want. */
static int roundtrip(int fd, const char *req, const char *status_line, const char *want)
{
	char buf[4096];
	size_t extra = 0;
	ssize_t n;

	if (req != NULL && kiln_write_all(fd, req, strlen(req)) < 0)
		return TAP_FAIL;
	n = response_read(fd, buf, sizeof(buf), 0, &extra);
	if (n <= 0 || strncmp(buf, status_line, strlen(status_line)) != 0 ||
	    strstr(buf, want) == NULL || extra != 0) {
		tap_diag("sent %.40s: got (%zd) %s; want %s ... %s", req ? req : "", n,
			 n > 0 ? buf : "", status_line, want);
		return TAP_FAIL;
	}
	return TAP_PASS;
}

static int test_server(void)
{
	cleanup_error kiln_error_t err = NULL;
	cleanup_close int fd = -1;
	cleanup_close int fd2 = -1;
	cleanup_close int fd3 = -1;
	struct stat st;
	char buf[4096];
	size_t extra = 0;
	ssize_t n;

	fixture();
	api_setup();
	if (vmm_api_server_start(&api, sock_path, &err) < 0) {
		tap_diag("%s", err->msg);
		return TAP_FAIL;
	}
	TAP_CHECK(stat(sock_path, &st) == 0 && S_ISSOCK(st.st_mode));
	TAP_CHECK((st.st_mode & 0777) == 0600);
	TAP_CHECK(vmm_api_server_start(&api, sock_path, &err) < 0);
	TAP_CHECK(strstr(err->msg, "already running") != NULL);

	/* Two requests on one keep-alive connection. */
	fd = client_connect();
	TAP_CHECK(fd >= 0);
	TAP_CHECK(roundtrip(fd, "GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n",
			    "HTTP/1.1 200 OK\r\n", "{\"firecracker_version\":") == TAP_PASS);
	{
		const char *body = "{\"vcpu_count\": 2, \"mem_size_mib\": 256}";
		cleanup_free char *req =
		    xasprintf("PUT /machine-config HTTP/1.1\r\nContent-Type: "
			      "application/json\r\nContent-Length: %zu\r\n\r\n%s",
			      strlen(body), body);

		TAP_CHECK(roundtrip(fd, req, "HTTP/1.1 204 No Content\r\n",
				    "Connection: keep-alive") == TAP_PASS);
	}
	TAP_CHECK(api.config.machine.vcpu_count == 2);

	/* A request split over several writes, each read by the server before
	 * the next is sent: it must keep what came and wait for the rest. */
	TAP_CHECK(kiln_write_all(fd, "GET /machine", 12) == 12);
	TAP_CHECK(wait_read_by_peer(fd) == 0);
	TAP_CHECK(kiln_write_all(fd, "-config HTTP/1.1\r\n", 18) == 18);
	TAP_CHECK(wait_read_by_peer(fd) == 0);
	TAP_CHECK(roundtrip(fd, "\r\n", "HTTP/1.1 200 OK\r\n", "\"vcpu_count\":2") == TAP_PASS);

	/* Two pipelined in one write: both answered, in order. */
	{
		const char *two = "GET / HTTP/1.1\r\n\r\nPATCH /vm HTTP/1.1\r\nContent-Length: "
				  "19\r\n\r\n{\"state\": \"Paused\"}";

		TAP_CHECK(kiln_write_all(fd, two, strlen(two)) == (ssize_t)strlen(two));
		n = response_read(fd, buf, sizeof(buf), 0, &extra);
		TAP_CHECK(n > 0 && strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
		TAP_CHECK(strstr(buf, "\"state\":\"Not started\"") != NULL);
		memmove(buf, buf + n, extra);
		n = response_read(fd, buf, sizeof(buf), extra, &extra);
		TAP_CHECK(n > 0 && strncmp(buf, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
		TAP_CHECK(strstr(buf, "before starting the microVM") != NULL);
	}

	/* Expect: 100-continue gets the interim response first. */
	{
		const char *body = "{\"guest_cid\": 3, \"uds_path\": \"/tmp/v.sock\"}";
		cleanup_free char *req = xasprintf("PUT /vsock HTTP/1.1\r\nExpect: 100-continue\r\n"
						   "Content-Length: %zu\r\n\r\n",
						   strlen(body));

		TAP_CHECK(roundtrip(fd, req, "HTTP/1.1 100 Continue\r\n\r\n", "") == TAP_PASS);
		TAP_CHECK(roundtrip(fd, body, "HTTP/1.1 204", "") == TAP_PASS);
	}

	/* A second client is served while the first stays connected. */
	fd2 = client_connect();
	TAP_CHECK(fd2 >= 0);
	TAP_CHECK(roundtrip(fd2, "GET /nothing HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found\r\n",
			    "{\"fault_message\":\"unknown path '/nothing'\"}") == TAP_PASS);

	/* Garbage: a 400 that closes the connection... */
	TAP_CHECK(roundtrip(fd, "\x01\x02garbage\xff\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n",
			    "invalid byte 0x01 in the request line") == TAP_PASS);
	TAP_CHECK(read(fd, buf, sizeof(buf)) == 0);

	/* ...while the other connection and new ones still work. */
	TAP_CHECK(roundtrip(fd2, "GET /vm/config HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n",
			    "\"uds_path\":\"/tmp/v.sock\"") == TAP_PASS);
	fd3 = client_connect();
	TAP_CHECK(fd3 >= 0);
	TAP_CHECK(roundtrip(fd3, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
			    "HTTP/1.1 200 OK\r\n", "Connection: close") == TAP_PASS);
	TAP_CHECK(read(fd3, buf, sizeof(buf)) == 0);

	/* An oversized body is refused from its header. */
	close(fd3);
	fd3 = client_connect();
	TAP_CHECK(roundtrip(fd3, "PUT /vsock HTTP/1.1\r\nContent-Length: 999999\r\n\r\n",
			    "HTTP/1.1 413 Content Too Large\r\n", "exceeds the limit") == TAP_PASS);

	/* A client that vanishes mid-request bothers nobody. */
	close(fd3);
	fd3 = client_connect();
	TAP_CHECK(kiln_write_all(fd3, "PUT /vsock HTTP/1.1\r\nContent-Length: 10\r\n\r\n{", 45) ==
		  45);
	close(TAKE_FD(fd3));
	TAP_CHECK(roundtrip(fd2, "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n",
			    "\"id\":\"test-vm\"") == TAP_PASS);

	vmm_api_server_stop(&api);
	TAP_CHECK(api.server == NULL);
	TAP_CHECK(stat(sock_path, &st) < 0 && errno == ENOENT);
	/* The server closed the connections it held. */
	TAP_CHECK(read(fd2, buf, sizeof(buf)) == 0);
	vmm_api_server_stop(&api);

	/* It can start again on the same path. */
	TAP_CHECK(vmm_api_server_start(&api, sock_path, &err) == 0);
	close(fd2);
	fd2 = client_connect();
	TAP_CHECK(roundtrip(fd2, "GET /version HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK", "") ==
		  TAP_PASS);
	/* vmm_api_release() stops it. */
	vmm_api_release(&api);
	TAP_CHECK(stat(sock_path, &st) < 0);
	return TAP_PASS;
}

static int test_server_start_error(void)
{
	cleanup_error kiln_error_t err = NULL;

	fixture();
	api_setup();
	TAP_CHECK(vmm_api_server_start(&api, kernel, &err) < 0);
	TAP_CHECK(strstr(err->msg, "is not a socket") != NULL);
	TAP_CHECK(api.server == NULL);
	/* The file that was there is left alone. */
	TAP_CHECK(access(kernel, F_OK) == 0);
	vmm_api_release(&api);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_instance_info_and_version), TAP_TEST(test_machine_config),
	 TAP_TEST(test_boot_source), TAP_TEST(test_drives), TAP_TEST(test_network_interfaces),
	 TAP_TEST(test_vsock_logger_metrics), TAP_TEST(test_bodies), TAP_TEST(test_routing),
	 TAP_TEST(test_actions), TAP_TEST(test_post_boot_rules), TAP_TEST(test_vm_state),
	 TAP_TEST(test_instance_start_failure), TAP_TEST(test_missing_backend),
	 TAP_TEST(test_vm_config_round_trip), TAP_TEST(test_server),
	 TAP_TEST(test_server_start_error))
