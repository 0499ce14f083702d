/* libFuzzer target for the API's JSON handling: request bodies through the
 * routes (vmm/api/routes.c) and whole --config-file documents through
 * vmm_config_parse() (vmm/config.c). Whatever the input, every answer is a
 * known status with a JSON body for errors, and a configuration that
 * parses writes back (GET /vm/config) to a document that parses to the
 * same configuration.
 *
 * Input: byte 0 picks the route and method, byte 1 bit 0 starts the VM
 * first (post-boot rules), bit 1 feeds the rest to vmm_config_parse()
 * instead; the rest is the body.
 *
 *   clang -std=gnu11 -D_GNU_SOURCE -I. -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -o /tmp/fuzz_api_json tests/fuzz/fuzz_api_json.c vmm/api/routes.c vmm/api/http.c \
 *     vmm/api/server.c vmm/config.c common/{error,io,json,log,util}.c $(pkg-config --cflags --libs
 * yajl) -lpthread /tmp/fuzz_api_json -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "vmm/api/api.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static int ok_start(void *opaque, const struct vmm_config *cfg, kiln_error_t *err)
{
	(void)opaque, (void)cfg, (void)err;
	return 0;
}

static int ok_call(void *opaque, kiln_error_t *err)
{
	(void)opaque, (void)err;
	return 0;
}

/* Fails, to cover the error path after boot. */
static int fail_update(void *opaque, const char *id, const char *path, kiln_error_t *err)
{
	(void)opaque, (void)id, (void)path;
	return kiln_error_make(err, 0, "busy");
}

static const struct {
	enum http_method method;
	const char *path;
} targets[] = {
    {HTTP_METHOD_PUT, "/machine-config"},
    {HTTP_METHOD_PATCH, "/machine-config"},
    {HTTP_METHOD_PUT, "/boot-source"},
    {HTTP_METHOD_PUT, "/drives/rootfs"},
    {HTTP_METHOD_PATCH, "/drives/rootfs"},
    {HTTP_METHOD_PUT, "/vsock"},
    {HTTP_METHOD_PUT, "/logger"},
    {HTTP_METHOD_PUT, "/metrics"},
    {HTTP_METHOD_PUT, "/actions"},
    {HTTP_METHOD_PATCH, "/vm"},
    {HTTP_METHOD_GET, "/vm/config"},
    {HTTP_METHOD_GET, "/"},
    {HTTP_METHOD_OTHER, "/vm"},
    {HTTP_METHOD_PUT, "/balloon"},
    {HTTP_METHOD_PUT, "/drives/a-b"},
    {HTTP_METHOD_GET, "/machine-config"},
};

static void config_round_trip(const char *json, size_t len)
{
	struct vmm_config c, c2;
	kiln_error_t err = NULL;
	char *out1, *out2;

	vmm_config_init(&c);
	if (vmm_config_parse(&c, json, len, &err) < 0) {
		check(err != NULL && err->msg != NULL && err->msg[0] != '\0');
		kiln_error_free(&err);
		vmm_config_release(&c);
		return;
	}
	out1 = vmm_config_to_json(&c);
	check(out1 != NULL);
	vmm_config_init(&c2);
	check(vmm_config_parse(&c2, out1, strlen(out1), &err) == 0);
	out2 = vmm_config_to_json(&c2);
	check(out2 != NULL && strcmp(out1, out2) == 0);
	free(out1);
	free(out2);
	vmm_config_release(&c);
	vmm_config_release(&c2);
}

static void route(uint8_t pick, bool boot, const char *body, size_t len)
{
	struct vmm_api_backend b = {
	    .instance_start = ok_start,
	    .send_ctrl_alt_del = ok_call,
	    .flush_metrics = ok_call,
	    .pause = ok_call,
	    .resume = ok_call,
	    .drive_update = fail_update,
	};
	struct http_request req;
	struct http_response resp;
	struct vmm_api api;
	int status;

	vmm_api_init(&api, "fuzz", &b);
	if (boot) {
		/* Skip the file check: the backend is fake. */
		api.config.boot.kernel_image_path = strdup("/fuzz/vmlinux");
		check(vmm_api_instance_start(&api, NULL) == 0);
	}
	memset(&req, 0, sizeof(req));
	req.method = targets[pick % (sizeof(targets) / sizeof(targets[0]))].method;
	strcpy(req.path, targets[pick % (sizeof(targets) / sizeof(targets[0]))].path);
	req.body = len ? body : NULL;
	req.body_len = len;
	http_response_init(&resp);
	status = vmm_api_handle(&api, &req, &resp);
	check(status == resp.status);
	check(status == 200 || status == 204 || status == 400 || status == 404 || status == 405);
	check((status == 204) == (resp.body == NULL));
	if (resp.body != NULL) {
		kiln_json_t *doc = NULL;

		check(kiln_json_parse(resp.body, resp.body_len, &doc, NULL) == 0);
		if (status >= 400)
			check(kiln_json_is_string(kiln_json_get(doc, "fault_message")));
		kiln_json_free(doc);
	}
	http_response_release(&resp);
	/* Whatever the request did, the configuration can be written out. */
	{
		char *json = vmm_config_to_json(&api.config);

		check(json != NULL);
		free(json);
	}
	vmm_api_release(&api);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	if (data[1] & 2)
		config_round_trip((const char *)data + 2, size - 2);
	else
		route(data[0], data[1] & 1, (const char *)data + 2, size - 2);
	return 0;
}
