/* The API's routes: path and method to handler, request body validation
 * (through the same section validators --config-file uses, vmm/config.c),
 * and Firecracker's pre/post-boot rules.
 *
 * Status rule: 204 for a successful PUT/PATCH, 200 with JSON for a GET,
 * 400 {"fault_message"} for anything the client got wrong in the body or
 * the VM's state. Where Firecracker answers 400 "Invalid request method
 * and/or path" for both, we answer 404 for a path we do not know and 405
 * (with Allow) for a known path used with the wrong method, since that
 * tells a client more; paths Firecracker has but kiln-vmm does not
 * implement (/balloon, /mmds, ...) get 400 "not supported"
 * rather than 404 so that the client learns why. */
#include "vmm/api/api.h"

#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define APP_NAME "kiln-vmm"

/* Firecracker's own wording (VmmActionError::OperationNotSupportedPre/
 * PostBoot), which clients may already look for. */
#define MSG_POST_BOOT "The requested operation is not supported after starting the microVM."
#define MSG_PRE_BOOT  "The requested operation is not supported before starting the microVM."

#define M_GET	(1u << HTTP_METHOD_GET)
#define M_PUT	(1u << HTTP_METHOD_PUT)
#define M_PATCH (1u << HTTP_METHOD_PATCH)

typedef void (*route_fn)(struct vmm_api *api, const struct http_request *req, const char *id,
			 struct http_response *resp);

struct route {
	const char *path;
	/* The path is a prefix followed by a resource id ("/drives/"). */
	bool has_id;
	unsigned int methods;
	const char *allow;
	route_fn fn;
};

static const char *method_str(const struct http_request *req)
{
	if (req->method_name[0] != '\0')
		return req->method_name;
	switch (req->method) {
	case HTTP_METHOD_GET:
		return "GET";
	case HTTP_METHOD_PUT:
		return "PUT";
	case HTTP_METHOD_PATCH:
		return "PATCH";
	default:
		return "(unknown method)";
	}
}

const char *vmm_state_name(enum vmm_state state)
{
	switch (state) {
	case VMM_STATE_NOT_STARTED:
		return "Not started";
	case VMM_STATE_RUNNING:
		return "Running";
	case VMM_STATE_PAUSED:
		return "Paused";
	}
	return "Unknown";
}

void vmm_api_init(struct vmm_api *api, const char *instance_id,
		  const struct vmm_api_backend *backend)
{
	memset(api, 0, sizeof(*api));
	pthread_mutex_init(&api->lock, NULL);
	vmm_config_init(&api->config);
	api->state = VMM_STATE_NOT_STARTED;
	api->instance_id = xstrdup(instance_id ? instance_id : VMM_API_DEFAULT_ID);
	if (backend != NULL)
		api->backend = *backend;
}

void vmm_api_release(struct vmm_api *api)
{
	vmm_api_server_stop(api);
	vmm_config_release(&api->config);
	free(api->instance_id);
	api->instance_id = NULL;
	pthread_mutex_destroy(&api->lock);
}

/* ---- helpers ---- */

static void fault_from_error(struct http_response *resp, kiln_error_t *err, const char *context)
{
	const char *msg = *err && (*err)->msg ? (*err)->msg : "unknown error";

	if (context != NULL)
		http_response_set_fault(resp, 400, "%s: %s", context, msg);
	else
		http_response_set_fault(resp, 400, "%s", msg);
	kiln_error_free(err);
}

/* The body as a JSON object, or NULL with a 400 already in resp. */
static kiln_json_t *body_parse(const struct http_request *req, struct http_response *resp)
{
	cleanup_error kiln_error_t err = NULL;
	kiln_json_t *doc = NULL;

	if (req->body == NULL || req->body_len == 0) {
		http_response_set_fault(resp, 400,
					"request body is missing: %s %s needs a JSON "
					"object",
					method_str(req), req->path);
		return NULL;
	}
	if (kiln_json_parse(req->body, req->body_len, &doc, &err) < 0) {
		fault_from_error(resp, &err, "request body");
		return NULL;
	}
	if (!kiln_json_is_object(doc)) {
		http_response_set_fault(resp, 400, "request body must be a JSON object, not %s",
					kiln_json_type_name(kiln_json_type(doc)));
		kiln_json_free(doc);
		return NULL;
	}
	return doc;
}

static bool started(const struct vmm_api *api)
{
	return api->state != VMM_STATE_NOT_STARTED;
}

static void no_content(struct http_response *resp)
{
	http_response_set_json(resp, 204, NULL);
}

/* A backend call that may be absent. */
#define BACKEND_CALL(api, fn, err, ...)                                                            \
	((api)->backend.fn != NULL                                                                 \
	     ? (api)->backend.fn((api)->backend.opaque, ##__VA_ARGS__, err)                        \
	     : kiln_error_make(err, 0, "%s is not supported by this VMM", #fn))

/* ---- GET ---- */

static void route_instance_info(struct vmm_api *api, const struct http_request *req, const char *id,
				struct http_response *resp)
{
	cleanup_json_gen kiln_json_gen_t *gen = kiln_json_gen_new(false);
	char *out = NULL;

	(void)req, (void)id;
	/* Member order as Firecracker writes InstanceInfo. */
	kiln_json_gen_map_open(gen);
	kiln_json_gen_key(gen, "id");
	kiln_json_gen_string(gen, api->instance_id);
	kiln_json_gen_key(gen, "state");
	kiln_json_gen_string(gen, vmm_state_name(api->state));
	kiln_json_gen_key(gen, "vmm_version");
	kiln_json_gen_string(gen, KILN_VERSION);
	kiln_json_gen_key(gen, "app_name");
	kiln_json_gen_string(gen, APP_NAME);
	kiln_json_gen_map_close(gen);
	if (kiln_json_gen_finish(gen, &out, NULL, NULL) < 0) {
		http_response_set_fault(resp, 500, "instance id is not valid UTF-8");
		return;
	}
	http_response_set_json(resp, 200, out);
}

static void route_version(struct vmm_api *api, const struct http_request *req, const char *id,
			  struct http_response *resp)
{
	(void)api, (void)req, (void)id;
	/* Clients written for Firecracker read this key; the value is ours. */
	http_response_set_json(resp, 200,
			       xstrdup("{\"firecracker_version\":\"" KILN_VERSION "\"}"));
}

static void route_vm_config(struct vmm_api *api, const struct http_request *req, const char *id,
			    struct http_response *resp)
{
	char *json = vmm_config_to_json(&api->config);

	(void)req, (void)id;
	if (json == NULL)
		http_response_set_fault(resp, 500, "the configuration cannot be written as JSON");
	else
		http_response_set_json(resp, 200, json);
}

/* ---- configuration sections ---- */

typedef int (*section_set_fn)(struct vmm_config *c, const kiln_json_t *obj, kiln_error_t *err);
/* The same for a resource with an id in the URL (a drive, an interface). */
typedef int (*item_set_fn)(struct vmm_config *c, const kiln_json_t *obj, const char *path_id,
			   kiln_error_t *err);

/* PUT of something only settable before boot: state check, body, then
 * set_item(id) or, without one, set. */
static void put_before_boot(struct vmm_api *api, const struct http_request *req,
			    struct http_response *resp, section_set_fn set, item_set_fn set_item,
			    const char *id)
{
	cleanup_error kiln_error_t err = NULL;
	cleanup_json kiln_json_t *doc = NULL;
	int r;

	if (started(api)) {
		http_response_set_fault(resp, 400, MSG_POST_BOOT);
		return;
	}
	doc = body_parse(req, resp);
	if (doc == NULL)
		return;
	r = set_item ? set_item(&api->config, doc, id, &err) : set(&api->config, doc, &err);
	if (r < 0) {
		fault_from_error(resp, &err, NULL);
		return;
	}
	no_content(resp);
}

/* PUT of a pre-boot-only section. */
static void section_put(struct vmm_api *api, const struct http_request *req,
			struct http_response *resp, section_set_fn set)
{
	put_before_boot(api, req, resp, set, NULL, NULL);
}

/* Whether the id in a resource's URL is valid; a 400 naming it if not. */
static bool url_id_ok(struct http_response *resp, const char *what, const char *id)
{
	if (vmm_config_id_valid(id))
		return true;
	http_response_set_fault(resp, 400,
				"%s id \"%.80s\" in the URL is invalid (1..%d letters, digits or "
				"'_')",
				what, id, VMM_MAX_ID_LEN);
	return false;
}

static int machine_put(struct vmm_config *c, const kiln_json_t *obj, kiln_error_t *err)
{
	return vmm_config_set_machine(c, obj, false, err);
}

static int machine_patch(struct vmm_config *c, const kiln_json_t *obj, kiln_error_t *err)
{
	/* Firecracker refuses an empty PATCH rather than doing nothing. */
	if (kiln_json_object_len(obj) == 0)
		return kiln_error_make(err, 0,
				       "empty PATCH request: give at least one of "
				       "vcpu_count, mem_size_mib, smt, track_dirty_pages");
	return vmm_config_set_machine(c, obj, true, err);
}

static void route_machine_config(struct vmm_api *api, const struct http_request *req,
				 const char *id, struct http_response *resp)
{
	char *json;

	(void)id;
	switch (req->method) {
	case HTTP_METHOD_GET:
		json = vmm_config_machine_to_json(&api->config.machine);
		if (json == NULL)
			http_response_set_fault(resp, 500, "machine-config cannot be written");
		else
			http_response_set_json(resp, 200, json);
		return;
	case HTTP_METHOD_PUT:
		section_put(api, req, resp, machine_put);
		return;
	default:
		section_put(api, req, resp, machine_patch);
		return;
	}
}

static void route_boot_source(struct vmm_api *api, const struct http_request *req, const char *id,
			      struct http_response *resp)
{
	(void)id;
	section_put(api, req, resp, vmm_config_set_boot_source);
}

static void route_vsock(struct vmm_api *api, const struct http_request *req, const char *id,
			struct http_response *resp)
{
	(void)id;
	section_put(api, req, resp, vmm_config_set_vsock);
}

static void route_logger(struct vmm_api *api, const struct http_request *req, const char *id,
			 struct http_response *resp)
{
	(void)id;
	section_put(api, req, resp, vmm_config_set_logger);
}

static void route_metrics(struct vmm_api *api, const struct http_request *req, const char *id,
			  struct http_response *resp)
{
	(void)id;
	section_put(api, req, resp, vmm_config_set_metrics);
}

/* ---- drives ---- */

/* Before boot a PATCH only edits the configuration; after boot the running
 * device must switch files first (Firecracker's post-boot drive update). */
static void drive_patch(struct vmm_api *api, const struct http_request *req, const char *id,
			struct http_response *resp)
{
	cleanup_error kiln_error_t err = NULL;
	cleanup_json kiln_json_t *doc = body_parse(req, resp);
	const char *path = NULL;
	struct drive_config *d;

	if (doc == NULL)
		return;
	if (vmm_config_check_drive_patch(&api->config, doc, id, &path, &err) < 0) {
		fault_from_error(resp, &err, NULL);
		return;
	}
	if (path != NULL) {
		if (started(api) && BACKEND_CALL(api, drive_update, &err, id, path) < 0) {
			cleanup_free char *ctx = xasprintf("drive \"%s\": update failed", id);

			fault_from_error(resp, &err, ctx);
			return;
		}
		d = vmm_config_drive(&api->config, id);
		free(d->path_on_host);
		d->path_on_host = xstrdup(path);
	}
	no_content(resp);
}

static void route_drive(struct vmm_api *api, const struct http_request *req, const char *id,
			struct http_response *resp)
{
	if (!url_id_ok(resp, "drive", id))
		return;
	if (req->method == HTTP_METHOD_PUT)
		put_before_boot(api, req, resp, NULL, vmm_config_set_drive, id);
	else
		drive_patch(api, req, id, resp);
}

/* ---- network interfaces ---- */

static void route_net(struct vmm_api *api, const struct http_request *req, const char *id,
		      struct http_response *resp)
{
	if (!url_id_ok(resp, "interface", id))
		return;
	/* Firecracker's PATCH of an interface changes only its rate
	 * limiters, which kiln-vmm does not have. */
	if (req->method == HTTP_METHOD_PATCH) {
		http_response_set_fault(
		    resp, 400,
		    "network interface \"%s\": PATCH only updates rate limiters, "
		    "which kiln-vmm does not support",
		    id);
		return;
	}
	put_before_boot(api, req, resp, NULL, vmm_config_set_net, id);
}

/* ---- virtio-fs (kiln's own resource, in Firecracker's style) ---- */

static void route_fs(struct vmm_api *api, const struct http_request *req, const char *id,
		     struct http_response *resp)
{
	if (!url_id_ok(resp, "fs", id))
		return;
	put_before_boot(api, req, resp, NULL, vmm_config_set_fs, id);
}

/* ---- actions and VM state ---- */

static int instance_start_locked(struct vmm_api *api, kiln_error_t *err)
{
	if (started(api))
		return kiln_error_make(err, 0, MSG_POST_BOOT);
	if (api->config.boot.kernel_image_path == NULL)
		return kiln_error_make(err, 0,
				       "cannot start the microVM: no boot source "
				       "(PUT /boot-source with kernel_image_path first)");
	if (BACKEND_CALL(api, instance_start, err, &api->config) < 0)
		return kiln_error_wrap(err, "cannot start the microVM");
	api->state = VMM_STATE_RUNNING;
	return 0;
}

int vmm_api_instance_start(struct vmm_api *api, kiln_error_t *err)
{
	int r;

	pthread_mutex_lock(&api->lock);
	r = instance_start_locked(api, err);
	pthread_mutex_unlock(&api->lock);
	return r;
}

/* /actions and /vm take a body with exactly one field, a string from a
 * fixed set (InstanceActionInfo, Vm). Returns its index in values
 * (NULL-terminated), or -1 with a 400 in resp. */
static int body_enum(const struct http_request *req, const char *key, const char *const *values,
		     struct http_response *resp)
{
	cleanup_error kiln_error_t err = NULL;
	cleanup_json kiln_json_t *doc = body_parse(req, resp);
	cleanup_free char *list = NULL;
	const char *s = NULL;
	int r;

	if (doc == NULL)
		return -1;
	for (size_t i = 0; i < kiln_json_object_len(doc); i++) {
		if (!streq(kiln_json_object_key(doc, i), key)) {
			http_response_set_fault(resp, 400,
						"%.64s: unknown field (expected one of: %s)",
						kiln_json_object_key(doc, i), key);
			return -1;
		}
	}
	r = kiln_json_get_string(doc, key, &s, &err);
	if (r < 0) {
		fault_from_error(resp, &err, NULL);
		return -1;
	}
	if (r == 1) {
		http_response_set_fault(resp, 400, "%s: missing required field", key);
		return -1;
	}
	for (int i = 0; values[i] != NULL; i++)
		if (streq(s, values[i]))
			return i;
	for (int i = 0; values[i] != NULL; i++) {
		char *l = xasprintf("%s%s\"%s\"", list ? list : "", list ? ", " : "", values[i]);

		free(list);
		list = l;
	}
	http_response_set_fault(resp, 400, "%s: \"%.64s\" is invalid (expected one of: %s)", key, s,
				list);
	return -1;
}

static void route_actions(struct vmm_api *api, const struct http_request *req, const char *id,
			  struct http_response *resp)
{
	enum { INSTANCE_START, SEND_CTRL_ALT_DEL, FLUSH_METRICS };
	static const char *const actions[] = {"InstanceStart", "SendCtrlAltDel", "FlushMetrics",
					      NULL};
	cleanup_error kiln_error_t err = NULL;
	int r;

	(void)id;
	switch (body_enum(req, "action_type", actions, resp)) {
	case INSTANCE_START:
		r = instance_start_locked(api, &err);
		break;
	case SEND_CTRL_ALT_DEL:
		if (!started(api)) {
			http_response_set_fault(resp, 400, MSG_PRE_BOOT);
			return;
		}
		r = BACKEND_CALL(api, send_ctrl_alt_del, &err);
		break;
	case FLUSH_METRICS:
		r = BACKEND_CALL(api, flush_metrics, &err);
		break;
	default:
		return;
	}
	if (r < 0) {
		fault_from_error(resp, &err, NULL);
		return;
	}
	no_content(resp);
}

static void route_vm(struct vmm_api *api, const struct http_request *req, const char *id,
		     struct http_response *resp)
{
	enum { PAUSED, RESUMED };
	static const char *const states[] = {"Paused", "Resumed", NULL};
	cleanup_error kiln_error_t err = NULL;
	int want = body_enum(req, "state", states, resp);

	(void)id;
	if (want < 0)
		return;
	if (!started(api)) {
		http_response_set_fault(resp, 400, MSG_PRE_BOOT);
		return;
	}
	/* Asking for the state the VM is already in succeeds without a call,
	 * as pausing a paused VM changes nothing. */
	if (want == PAUSED && api->state == VMM_STATE_RUNNING) {
		if (BACKEND_CALL(api, pause, &err) < 0) {
			fault_from_error(resp, &err, "cannot pause the microVM");
			return;
		}
		api->state = VMM_STATE_PAUSED;
	} else if (want == RESUMED && api->state == VMM_STATE_PAUSED) {
		if (BACKEND_CALL(api, resume, &err) < 0) {
			fault_from_error(resp, &err, "cannot resume the microVM");
			return;
		}
		api->state = VMM_STATE_RUNNING;
	}
	no_content(resp);
}

/* ---- the table ---- */

static const struct route routes[] = {
    {"/", false, M_GET, "GET", route_instance_info},
    {"/version", false, M_GET, "GET", route_version},
    {"/machine-config", false, M_GET | M_PUT | M_PATCH, "GET, PUT, PATCH", route_machine_config},
    {"/boot-source", false, M_PUT, "PUT", route_boot_source},
    {"/drives/", true, M_PUT | M_PATCH, "PUT, PATCH", route_drive},
    {"/network-interfaces/", true, M_PUT | M_PATCH, "PUT, PATCH", route_net},
    {"/fs/", true, M_PUT, "PUT", route_fs},
    {"/vsock", false, M_PUT, "PUT", route_vsock},
    {"/logger", false, M_PUT, "PUT", route_logger},
    {"/metrics", false, M_PUT, "PUT", route_metrics},
    {"/actions", false, M_PUT, "PUT", route_actions},
    {"/vm", false, M_PATCH, "PATCH", route_vm},
    {"/vm/config", false, M_GET, "GET", route_vm_config},
};

/* Firecracker resources kiln-vmm leaves out; a trailing '/' marks a
 * prefix followed by an id. */
static const char *const unsupported_paths[] = {
    "/balloon",
    "/balloon/statistics",
    "/balloon/hinting/start",
    "/balloon/hinting/status",
    "/balloon/hinting/stop",
    "/cpu-config",
    "/entropy",
    "/hotplug/memory",
    "/mmds",
    "/mmds/config",
    "/pmem/",
    "/serial",
    "/snapshot/create",
    "/snapshot/load",
};

static bool path_match(const char *pattern, bool has_id, const char *path, const char **id)
{
	size_t n = strlen(pattern);

	if (!has_id)
		return streq(pattern, path);
	/* One path segment after the prefix: "/drives/a/b" is no drive. */
	if (strncmp(path, pattern, n) != 0 || strchr(path + n, '/') != NULL)
		return false;
	*id = path + n;
	return true;
}

static void route_request(struct vmm_api *api, const struct http_request *req,
			  struct http_response *resp)
{
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		const struct route *r = &routes[i];
		const char *id = NULL;

		if (!path_match(r->path, r->has_id, req->path, &id))
			continue;
		if (req->method == HTTP_METHOD_OTHER || !(r->methods & (1u << req->method))) {
			http_response_set_fault(resp, 405,
						"%.16s %.80s: method not allowed (allowed: %s)",
						method_str(req), req->path, r->allow);
			resp->allow = r->allow;
			return;
		}
		r->fn(api, req, id, resp);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(unsupported_paths); i++) {
		const char *p = unsupported_paths[i], *id = NULL;
		size_t n = strlen(p);

		if (path_match(p, p[n - 1] == '/', req->path, &id)) {
			http_response_set_fault(resp, 400, "%.80s: not supported by kiln-vmm",
						req->path);
			return;
		}
	}
	http_response_set_fault(resp, 404, "unknown path '%.80s'", req->path);
}

int vmm_api_handle(struct vmm_api *api, const struct http_request *req, struct http_response *resp)
{
	pthread_mutex_lock(&api->lock);
	route_request(api, req, resp);
	pthread_mutex_unlock(&api->lock);
	log_debug("api: %s %s -> %d", method_str(req), req->path, resp->status);
	return resp->status;
}
