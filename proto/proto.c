/* Messages of the agent protocol: names, request and reply builders, and
 * typed parsers that validate every field and name the JSON path of the
 * first one that is wrong (docs/agent-protocol.md "Messages"). */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "common/util.h"
#include "proto/proto.h"

static const char *const errcode_names[PROTO_ERR_COUNT] = {
    [PROTO_ERR_INVALID_FRAME] = "invalid_frame",
    [PROTO_ERR_INVALID_JSON] = "invalid_json",
    [PROTO_ERR_INVALID_REQUEST] = "invalid_request",
    [PROTO_ERR_UNKNOWN_METHOD] = "unknown_method",
    [PROTO_ERR_INVALID_PARAMS] = "invalid_params",
    [PROTO_ERR_NOT_IMPLEMENTED] = "not_implemented",
    [PROTO_ERR_NOT_FOUND] = "not_found",
    [PROTO_ERR_ALREADY_EXISTS] = "already_exists",
    [PROTO_ERR_INVALID_STATE] = "invalid_state",
    [PROTO_ERR_FAILED] = "failed",
};

static const char *const method_names[PROTO_M_COUNT] = {
    [PROTO_M_PING] = "ping",	     [PROTO_M_VERSION] = "version",
    [PROTO_M_CREATE] = "create",     [PROTO_M_START] = "start",
    [PROTO_M_EXEC] = "exec",	     [PROTO_M_SIGNAL] = "signal",
    [PROTO_M_WAIT] = "wait",	     [PROTO_M_STATS] = "stats",
    [PROTO_M_RESIZE] = "resize",     [PROTO_M_CLOSE_STDIN] = "close_stdin",
    [PROTO_M_SHUTDOWN] = "shutdown",
};

static const char *const stream_names[PROTO_STREAM_COUNT] = {
    [PROTO_STREAM_STDIN] = "stdin",
    [PROTO_STREAM_STDOUT] = "stdout",
    [PROTO_STREAM_STDERR] = "stderr",
    [PROTO_STREAM_TERMINAL] = "terminal",
};

static int name_lookup(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (name != NULL && streq(names[i], name))
			return i;
	return -1;
}

const char *proto_errcode_name(enum proto_errcode code)
{
	return (unsigned)code < PROTO_ERR_COUNT ? errcode_names[code] : "failed";
}

int proto_errcode_from_name(const char *name, enum proto_errcode *out)
{
	int i = name_lookup(errcode_names, PROTO_ERR_COUNT, name);

	if (i < 0)
		return -1;
	*out = (enum proto_errcode)i;
	return 0;
}

const char *proto_method_name(enum proto_method m)
{
	return (unsigned)m < PROTO_M_COUNT ? method_names[m] : "?";
}

int proto_method_from_name(const char *name, enum proto_method *out)
{
	int i = name_lookup(method_names, PROTO_M_COUNT, name);

	if (i < 0)
		return -1;
	*out = (enum proto_method)i;
	return 0;
}

const char *proto_stream_name(enum proto_stream s)
{
	return (unsigned)s < PROTO_STREAM_COUNT ? stream_names[s] : "?";
}

bool proto_id_valid(const char *id, bool allow_empty)
{
	size_t n = strlen(id);

	if (n == 0)
		return allow_empty;
	if (n > PROTO_MAX_ID_LEN || id[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* ---- JSON emission helpers. */

int proto_json_emit(kiln_json_gen_t *gen, const kiln_json_t *node, kiln_error_t *err)
{
	switch (kiln_json_type(node)) {
	case KILN_JSON_NULL:
		return kiln_json_gen_null(gen);
	case KILN_JSON_BOOL: {
		bool b = false;

		kiln_json_get_bool(node, "", &b, NULL);
		return kiln_json_gen_bool(gen, b);
	}
	case KILN_JSON_NUMBER: {
		int64_t i;
		uint64_t u;
		double d;

		if (kiln_json_is_integer(node) && kiln_json_get_int64(node, "", &i, NULL) == 0)
			return kiln_json_gen_int64(gen, i);
		if (kiln_json_is_integer(node) && kiln_json_get_uint64(node, "", &u, NULL) == 0)
			return kiln_json_gen_uint64(gen, u);
		if (kiln_json_get_double(node, "", &d, err) < 0)
			return -1;
		return kiln_json_gen_double(gen, d);
	}
	case KILN_JSON_STRING: {
		const char *s = NULL;

		if (kiln_json_get_string(node, "", &s, err) < 0)
			return -1;
		return kiln_json_gen_string(gen, s);
	}
	case KILN_JSON_ARRAY:
		kiln_json_gen_array_open(gen);
		for (size_t i = 0; i < kiln_json_array_len(node); i++)
			if (proto_json_emit(gen, kiln_json_array_get(node, i), err) < 0)
				return -1;
		return kiln_json_gen_array_close(gen);
	case KILN_JSON_OBJECT:
		kiln_json_gen_map_open(gen);
		for (size_t i = 0; i < kiln_json_object_len(node); i++) {
			kiln_json_gen_key(gen, kiln_json_object_key(node, i));
			if (proto_json_emit(gen, kiln_json_object_value(node, i), err) < 0)
				return -1;
		}
		return kiln_json_gen_map_close(gen);
	}
	return -1;
}

/* Closes gen's document and returns it, or NULL with *err set. */
static char *gen_done(kiln_json_gen_t *gen, size_t *len, kiln_error_t *err)
{
	char *out = NULL;

	if (kiln_json_gen_finish(gen, &out, len, err) < 0)
		return NULL;
	return out;
}

/* For builders whose input cannot make the generator fail. */
static char *gen_done_nofail(kiln_json_gen_t *gen, size_t *len)
{
	kiln_error_t err = NULL;
	char *out = gen_done(gen, len, &err);

	if (out == NULL) {
		/* Only a string with invalid UTF-8 gets here; say so in
		 * place of the message rather than send nothing. */
		kiln_error_free(&err);
		out = xstrdup("{}");
		*len = 2;
	}
	return out;
}

/* {"id": id, "method": m, "params": {   -- the caller fills params. */
static kiln_json_gen_t *request_begin(uint64_t id, enum proto_method m)
{
	kiln_json_gen_t *gen = kiln_json_gen_new(false);

	kiln_json_gen_map_open(gen);
	kiln_json_gen_kv_uint64(gen, "id", id);
	kiln_json_gen_kv_string(gen, "method", proto_method_name(m));
	kiln_json_gen_key(gen, "params");
	kiln_json_gen_map_open(gen);
	return gen;
}

static void request_end(kiln_json_gen_t *gen)
{
	kiln_json_gen_map_close(gen);
	kiln_json_gen_map_close(gen);
}

static void gen_stdio(kiln_json_gen_t *gen, const struct proto_stdio *s)
{
	kiln_json_gen_key(gen, "stdio");
	kiln_json_gen_map_open(gen);
	kiln_json_gen_kv_bool(gen, "stdin", s->in);
	kiln_json_gen_kv_bool(gen, "stdout", s->out);
	kiln_json_gen_kv_bool(gen, "stderr", s->err);
	kiln_json_gen_map_close(gen);
}

char *proto_request_simple(uint64_t id, enum proto_method m, size_t *len)
{
	cleanup_json_gen kiln_json_gen_t *gen = request_begin(id, m);

	request_end(gen);
	return gen_done_nofail(gen, len);
}

char *proto_request_create(uint64_t id, const struct proto_create_params *p, size_t *len,
			   kiln_error_t *err)
{
	cleanup_json_gen kiln_json_gen_t *gen = request_begin(id, PROTO_M_CREATE);

	kiln_json_gen_kv_string(gen, "container_id", p->container_id);
	kiln_json_gen_key(gen, "spec");
	if (proto_json_emit(gen, p->spec, err) < 0) {
		kiln_error_wrap(err, "spec");
		return NULL;
	}
	kiln_json_gen_key(gen, "rootfs");
	kiln_json_gen_map_open(gen);
	kiln_json_gen_kv_string(gen, "drive_id", p->rootfs.drive_id);
	if (p->rootfs.fstype != NULL)
		kiln_json_gen_kv_string(gen, "fstype", p->rootfs.fstype);
	kiln_json_gen_kv_bool(gen, "readonly", p->rootfs.readonly);
	kiln_json_gen_kv_bool(gen, "overlay", p->rootfs.overlay);
	kiln_json_gen_map_close(gen);
	if (p->network.n_interfaces > 0) {
		kiln_json_gen_key(gen, "network");
		proto_network_emit(gen, &p->network);
	}
	if (p->volumes.tag != NULL) {
		kiln_json_gen_key(gen, "volumes");
		kiln_json_gen_map_open(gen);
		kiln_json_gen_kv_string(gen, "tag", p->volumes.tag);
		kiln_json_gen_kv_string(gen, "path", p->volumes.path);
		kiln_json_gen_map_close(gen);
	}
	gen_stdio(gen, &p->stdio);
	request_end(gen);
	return gen_done(gen, len, err);
}

char *proto_request_exec(uint64_t id, const struct proto_exec_params *p, size_t *len,
			 kiln_error_t *err)
{
	cleanup_json_gen kiln_json_gen_t *gen = request_begin(id, PROTO_M_EXEC);

	kiln_json_gen_kv_string(gen, "container_id", p->container_id);
	kiln_json_gen_kv_string(gen, "exec_id", p->exec_id);
	kiln_json_gen_key(gen, "process");
	if (proto_json_emit(gen, p->process, err) < 0) {
		kiln_error_wrap(err, "process");
		return NULL;
	}
	gen_stdio(gen, &p->stdio);
	request_end(gen);
	return gen_done(gen, len, err);
}

char *proto_request_target(uint64_t id, enum proto_method m, const struct proto_target_params *p,
			   size_t *len)
{
	cleanup_json_gen kiln_json_gen_t *gen = request_begin(id, m);

	kiln_json_gen_kv_string(gen, "container_id", p->container_id);
	if (p->exec_id != NULL && p->exec_id[0] != '\0')
		kiln_json_gen_kv_string(gen, "exec_id", p->exec_id);
	request_end(gen);
	return gen_done_nofail(gen, len);
}

char *proto_request_signal(uint64_t id, const struct proto_signal_params *p, size_t *len)
{
	cleanup_json_gen kiln_json_gen_t *gen = request_begin(id, PROTO_M_SIGNAL);

	kiln_json_gen_kv_string(gen, "container_id", p->container_id);
	if (p->exec_id != NULL && p->exec_id[0] != '\0')
		kiln_json_gen_kv_string(gen, "exec_id", p->exec_id);
	kiln_json_gen_kv_int64(gen, "signal", p->signal);
	kiln_json_gen_kv_bool(gen, "all", p->all);
	request_end(gen);
	return gen_done_nofail(gen, len);
}

char *proto_request_resize(uint64_t id, const struct proto_resize_params *p, size_t *len)
{
	cleanup_json_gen kiln_json_gen_t *gen = request_begin(id, PROTO_M_RESIZE);

	kiln_json_gen_kv_string(gen, "container_id", p->container_id);
	if (p->exec_id != NULL && p->exec_id[0] != '\0')
		kiln_json_gen_kv_string(gen, "exec_id", p->exec_id);
	kiln_json_gen_kv_uint64(gen, "width", p->width);
	kiln_json_gen_kv_uint64(gen, "height", p->height);
	request_end(gen);
	return gen_done_nofail(gen, len);
}

/* ---- Request parsing. */

/* "where." before a key in messages; where NULL: a member of the root. */
#define W(where) (where) != NULL ? (where) : "", (where) != NULL ? "." : ""

/* A required or optional string member of obj (which may be NULL: params
 * absent). where is the object's path for messages ("params"). */
static int get_string(const kiln_json_t *obj, const char *where, const char *key, bool required,
		      const char **out, kiln_error_t *err)
{
	int r = kiln_json_get_string(obj, key, out, err);

	if (r < 0)
		return -1;
	if (r > 0 && required)
		return kiln_error_make(err, 0, "%s%s%s: missing", W(where), key);
	return 0;
}

static int get_id(const kiln_json_t *obj, const char *where, const char *key, bool required,
		  const char **out, kiln_error_t *err)
{
	*out = "";
	if (get_string(obj, where, key, required, out, err) < 0)
		return -1;
	if (!proto_id_valid(*out, !required))
		return kiln_error_make(err, 0,
				       "%s%s%s: invalid id \"%s\" (want 1 to %d of [A-Za-z0-9_.-], "
				       "not starting with '.')",
				       W(where), key, *out, PROTO_MAX_ID_LEN);
	return 0;
}

static int get_bool(const kiln_json_t *obj, const char *key, bool *out, kiln_error_t *err)
{
	*out = false;
	return kiln_json_get_bool(obj, key, out, err) < 0 ? -1 : 0;
}

static int get_object(const kiln_json_t *obj, const char *where, const char *key, bool required,
		      const kiln_json_t **out, kiln_error_t *err)
{
	int r;

	*out = NULL;
	r = kiln_json_get_object(obj, key, out, err);
	if (r < 0)
		return -1;
	if (r > 0 && required)
		return kiln_error_make(err, 0, "%s%s%s: missing", W(where), key);
	return 0;
}

static int get_uint_max(const kiln_json_t *obj, const char *where, const char *key, uint64_t max,
			uint64_t *out, kiln_error_t *err)
{
	int r = kiln_json_get_uint64(obj, key, out, err);

	if (r < 0)
		return -1;
	if (r > 0)
		return kiln_error_make(err, 0, "%s%s%s: missing", W(where), key);
	if (*out > max)
		return kiln_error_make(err, 0, "%s%s%s: %llu is out of range (max %llu)", W(where),
				       key, (unsigned long long)*out, (unsigned long long)max);
	return 0;
}

static int parse_stdio(const kiln_json_t *params, struct proto_stdio *s, kiln_error_t *err)
{
	const kiln_json_t *o;

	memset(s, 0, sizeof(*s));
	if (get_object(params, "params", "stdio", false, &o, err) < 0)
		return -1;
	if (get_bool(o, "stdin", &s->in, err) < 0 || get_bool(o, "stdout", &s->out, err) < 0 ||
	    get_bool(o, "stderr", &s->err, err) < 0)
		return -1;
	return 0;
}

static bool fstype_valid(const char *s)
{
	if (s[0] == '\0' || strlen(s) > 32)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* An absolute path without "." or ".." components. */
static bool guest_path_valid(const char *s)
{
	if (s[0] != '/' || strlen(s) > 255)
		return false;
	for (const char *c = s; *c; c++) {
		if (c[0] == '/' && c[1] == '.' &&
		    (c[2] == '/' || c[2] == '\0' || (c[2] == '.' && (c[3] == '/' || c[3] == '\0'))))
			return false;
	}
	return !streq(s, "/");
}

static int parse_volumes(const kiln_json_t *params, struct proto_volumes *v, kiln_error_t *err)
{
	const kiln_json_t *node;

	if (get_object(params, "params", "volumes", false, &node, err) < 0)
		return -1;
	if (node == NULL)
		return 0;
	if (get_string(node, "params.volumes", "tag", true, &v->tag, err) < 0 ||
	    get_string(node, "params.volumes", "path", true, &v->path, err) < 0)
		return -1;
	if (v->tag[0] == '\0' || strlen(v->tag) > PROTO_MAX_FS_TAG)
		return kiln_error_make(
		    err, 0, "params.volumes.tag: invalid tag \"%s\" (want 1 to %d bytes)", v->tag,
		    PROTO_MAX_FS_TAG);
	if (!guest_path_valid(v->path))
		return kiln_error_make(err, 0,
				       "params.volumes.path: invalid \"%s\" (want an absolute "
				       "path other than /, without . or ..)",
				       v->path);
	return 0;
}

static int parse_create(const kiln_json_t *params, struct proto_create_params *p, kiln_error_t *err)
{
	const kiln_json_t *rootfs, *network;

	if (get_id(params, "params", "container_id", true, &p->container_id, err) < 0 ||
	    get_object(params, "params", "spec", true, &p->spec, err) < 0 ||
	    get_object(params, "params", "rootfs", true, &rootfs, err) < 0)
		return -1;
	if (get_string(rootfs, "params.rootfs", "drive_id", true, &p->rootfs.drive_id, err) < 0)
		return -1;
	if (p->rootfs.drive_id[0] == '\0' || strchr(p->rootfs.drive_id, '/') != NULL ||
	    strlen(p->rootfs.drive_id) > 20)
		return kiln_error_make(err, 0,
				       "params.rootfs.drive_id: invalid drive id \"%s\" (want 1 "
				       "to 20 bytes, no '/': the virtio-blk serial)",
				       p->rootfs.drive_id);
	p->rootfs.fstype = "ext4";
	if (get_string(rootfs, "params.rootfs", "fstype", false, &p->rootfs.fstype, err) < 0)
		return -1;
	if (!fstype_valid(p->rootfs.fstype))
		return kiln_error_make(err, 0, "params.rootfs.fstype: invalid \"%s\"",
				       p->rootfs.fstype);
	if (get_bool(rootfs, "readonly", &p->rootfs.readonly, err) < 0 ||
	    get_bool(rootfs, "overlay", &p->rootfs.overlay, err) < 0 ||
	    get_object(params, "params", "network", false, &network, err) < 0)
		return -1;
	if (network != NULL && proto_network_parse(network, "params.network", &p->network, err) < 0)
		return -1;
	if (parse_volumes(params, &p->volumes, err) < 0)
		return -1;
	return parse_stdio(params, &p->stdio, err);
}

static int parse_exec(const kiln_json_t *params, struct proto_exec_params *p, kiln_error_t *err)
{
	if (get_id(params, "params", "container_id", true, &p->container_id, err) < 0 ||
	    get_id(params, "params", "exec_id", true, &p->exec_id, err) < 0 ||
	    get_object(params, "params", "process", true, &p->process, err) < 0)
		return -1;
	return parse_stdio(params, &p->stdio, err);
}

static int parse_target(const kiln_json_t *params, bool with_exec, struct proto_target_params *p,
			kiln_error_t *err)
{
	if (get_id(params, "params", "container_id", true, &p->container_id, err) < 0)
		return -1;
	p->exec_id = "";
	if (with_exec && get_id(params, "params", "exec_id", false, &p->exec_id, err) < 0)
		return -1;
	return 0;
}

static int parse_signal(const kiln_json_t *params, struct proto_signal_params *p, kiln_error_t *err)
{
	uint64_t sig;

	if (get_id(params, "params", "container_id", true, &p->container_id, err) < 0 ||
	    get_id(params, "params", "exec_id", false, &p->exec_id, err) < 0 ||
	    get_uint_max(params, "params", "signal", 64, &sig, err) < 0 ||
	    get_bool(params, "all", &p->all, err) < 0)
		return -1;
	if (sig == 0)
		return kiln_error_make(err, 0, "params.signal: 0 is not a signal");
	p->signal = (int)sig;
	if (p->all && p->exec_id[0] != '\0')
		return kiln_error_make(err, 0,
				       "params.all: cannot be combined with params.exec_id");
	return 0;
}

static int parse_resize(const kiln_json_t *params, struct proto_resize_params *p, kiln_error_t *err)
{
	uint64_t w, h;

	if (get_id(params, "params", "container_id", true, &p->container_id, err) < 0 ||
	    get_id(params, "params", "exec_id", false, &p->exec_id, err) < 0 ||
	    get_uint_max(params, "params", "width", UINT16_MAX, &w, err) < 0 ||
	    get_uint_max(params, "params", "height", UINT16_MAX, &h, err) < 0)
		return -1;
	p->width = (uint16_t)w;
	p->height = (uint16_t)h;
	return 0;
}

static int parse_params(struct proto_request *req, const kiln_json_t *params, kiln_error_t *err)
{
	switch (req->method) {
	case PROTO_M_CREATE:
		return parse_create(params, &req->p.create, err);
	case PROTO_M_EXEC:
		return parse_exec(params, &req->p.exec, err);
	case PROTO_M_START:
	case PROTO_M_STATS:
		return parse_target(params, false, &req->p.target, err);
	case PROTO_M_WAIT:
	case PROTO_M_CLOSE_STDIN:
		return parse_target(params, true, &req->p.target, err);
	case PROTO_M_SIGNAL:
		return parse_signal(params, &req->p.signal, err);
	case PROTO_M_RESIZE:
		return parse_resize(params, &req->p.resize, err);
	case PROTO_M_PING:
	case PROTO_M_VERSION:
	case PROTO_M_SHUTDOWN:
	case PROTO_M_COUNT:
		break;
	}
	return 0;
}

int proto_request_parse(const void *buf, size_t len, struct proto_request *req,
			enum proto_errcode *code, kiln_error_t *err)
{
	const kiln_json_t *params = NULL;
	const char *method = NULL;
	int r;

	memset(req, 0, sizeof(*req));
	*code = PROTO_ERR_INVALID_JSON;
	if (kiln_json_parse(buf, len, &req->doc, err) < 0)
		return -1;
	*code = PROTO_ERR_INVALID_REQUEST;
	if (!kiln_json_is_object(req->doc))
		return kiln_error_make(err, 0, "request: expected object, got %s",
				       kiln_json_type_name(kiln_json_type(req->doc)));
	r = kiln_json_get_uint64(req->doc, "id", &req->id, err);
	if (r < 0)
		return -1;
	if (r > 0)
		return kiln_error_make(err, 0, "id: missing");
	req->has_id = true;
	r = kiln_json_get_string(req->doc, "method", &method, err);
	if (r < 0)
		return -1;
	if (r > 0)
		return kiln_error_make(err, 0, "method: missing");
	if (proto_method_from_name(method, &req->method) < 0) {
		*code = PROTO_ERR_UNKNOWN_METHOD;
		return kiln_error_make(err, 0, "method: unknown method \"%s\"", method);
	}
	*code = PROTO_ERR_INVALID_PARAMS;
	if (kiln_json_get_object(req->doc, "params", &params, err) < 0)
		return -1;
	return parse_params(req, params, err);
}

void proto_request_release(struct proto_request *req)
{
	if (req->method == PROTO_M_CREATE)
		proto_network_release(&req->p.create.network);
	kiln_json_free(req->doc);
	memset(req, 0, sizeof(*req));
}

/* ---- Replies. */

static kiln_json_gen_t *reply_begin(uint64_t id)
{
	kiln_json_gen_t *gen = kiln_json_gen_new(false);

	kiln_json_gen_map_open(gen);
	kiln_json_gen_kv_uint64(gen, "id", id);
	kiln_json_gen_key(gen, "result");
	kiln_json_gen_map_open(gen);
	return gen;
}

static char *reply_end(kiln_json_gen_t *gen, size_t *len)
{
	kiln_json_gen_map_close(gen);
	kiln_json_gen_map_close(gen);
	return gen_done_nofail(gen, len);
}

char *proto_reply_error(const uint64_t *id, enum proto_errcode code, const char *message,
			size_t *len)
{
	cleanup_json_gen kiln_json_gen_t *gen = kiln_json_gen_new(false);
	char *out;
	kiln_error_t err = NULL;

	kiln_json_gen_map_open(gen);
	kiln_json_gen_key(gen, "id");
	if (id != NULL)
		kiln_json_gen_uint64(gen, *id);
	else
		kiln_json_gen_null(gen);
	kiln_json_gen_key(gen, "error");
	kiln_json_gen_map_open(gen);
	kiln_json_gen_kv_string(gen, "code", proto_errcode_name(code));
	kiln_json_gen_kv_string(gen, "message", message != NULL ? message : "");
	kiln_json_gen_map_close(gen);
	kiln_json_gen_map_close(gen);
	if (kiln_json_gen_finish(gen, &out, len, &err) == 0)
		return out;
	/* The message was not valid UTF-8 (it may quote guest bytes). */
	kiln_error_free(&err);
	return proto_reply_error(id, code, "(message was not valid UTF-8)", len);
}

char *proto_reply_empty(uint64_t id, size_t *len)
{
	cleanup_json_gen kiln_json_gen_t *gen = reply_begin(id);

	return reply_end(gen, len);
}

char *proto_reply_version(uint64_t id, const struct proto_version_result *r, size_t *len)
{
	cleanup_json_gen kiln_json_gen_t *gen = reply_begin(id);

	kiln_json_gen_kv_string(gen, "agent", r->agent);
	kiln_json_gen_kv_string(gen, "version", r->version);
	kiln_json_gen_kv_uint64(gen, "protocol", r->protocol);
	return reply_end(gen, len);
}

char *proto_reply_pid(uint64_t id, int pid, size_t *len)
{
	cleanup_json_gen kiln_json_gen_t *gen = reply_begin(id);

	kiln_json_gen_kv_uint64(gen, "pid", (uint64_t)pid);
	return reply_end(gen, len);
}

char *proto_reply_wait(uint64_t id, const struct proto_wait_result *r, size_t *len)
{
	cleanup_json_gen kiln_json_gen_t *gen = reply_begin(id);

	kiln_json_gen_kv_uint64(gen, "exit_code", (uint64_t)r->exit_code);
	if (r->signal != 0) {
		kiln_json_gen_kv_uint64(gen, "signal", (uint64_t)r->signal);
		kiln_json_gen_kv_bool(gen, "core_dumped", r->core_dumped);
	}
	return reply_end(gen, len);
}

char *proto_reply_stats(uint64_t id, const struct proto_stats_result *r, size_t *len)
{
	cleanup_json_gen kiln_json_gen_t *gen = reply_begin(id);

	kiln_json_gen_key(gen, "cpu");
	kiln_json_gen_map_open(gen);
	kiln_json_gen_kv_uint64(gen, "usage_usec", r->cpu_usage_usec);
	kiln_json_gen_kv_uint64(gen, "user_usec", r->cpu_user_usec);
	kiln_json_gen_kv_uint64(gen, "system_usec", r->cpu_system_usec);
	kiln_json_gen_map_close(gen);
	kiln_json_gen_key(gen, "memory");
	kiln_json_gen_map_open(gen);
	kiln_json_gen_kv_uint64(gen, "usage", r->memory_usage);
	kiln_json_gen_kv_uint64(gen, "limit", r->memory_limit);
	kiln_json_gen_map_close(gen);
	kiln_json_gen_key(gen, "pids");
	kiln_json_gen_map_open(gen);
	kiln_json_gen_kv_uint64(gen, "current", r->pids_current);
	kiln_json_gen_kv_uint64(gen, "limit", r->pids_limit);
	kiln_json_gen_map_close(gen);
	return reply_end(gen, len);
}

int proto_reply_parse(const void *buf, size_t len, struct proto_reply *r, kiln_error_t *err)
{
	const kiln_json_t *id, *error = NULL;
	int ret;

	memset(r, 0, sizeof(*r));
	if (kiln_json_parse(buf, len, &r->doc, err) < 0)
		return -1;
	if (!kiln_json_is_object(r->doc))
		return kiln_error_make(err, 0, "reply: expected object, got %s",
				       kiln_json_type_name(kiln_json_type(r->doc)));
	id = kiln_json_get(r->doc, "id");
	if (id == NULL)
		return kiln_error_make(err, 0, "id: missing");
	if (!kiln_json_is_null(id)) {
		if (kiln_json_get_uint64(r->doc, "id", &r->id, err) < 0)
			return -1;
		r->has_id = true;
	}
	if (kiln_json_get_object(r->doc, "error", &error, err) < 0)
		return -1;
	ret = kiln_json_get_object(r->doc, "result", &r->result, err);
	if (ret < 0)
		return -1;
	if ((error == NULL) == (ret > 0))
		return kiln_error_make(err, 0, "reply: want exactly one of result and error");
	if (error == NULL)
		return 0;
	r->is_error = true;
	if (get_string(error, "error", "code", true, &r->code_name, err) < 0 ||
	    get_string(error, "error", "message", true, &r->message, err) < 0)
		return -1;
	if (proto_errcode_from_name(r->code_name, &r->code) < 0)
		r->code = PROTO_ERR_COUNT;
	return 0;
}

void proto_reply_release(struct proto_reply *r)
{
	kiln_json_free(r->doc);
	memset(r, 0, sizeof(*r));
}

static int get_u64_opt(const kiln_json_t *obj, const char *path, uint64_t *out, kiln_error_t *err)
{
	*out = 0;
	return kiln_json_get_uint64(obj, path, out, err) < 0 ? -1 : 0;
}

int proto_result_version(const kiln_json_t *result, struct proto_version_result *out,
			 kiln_error_t *err)
{
	memset(out, 0, sizeof(*out));
	if (get_string(result, "result", "agent", true, &out->agent, err) < 0 ||
	    get_string(result, "result", "version", true, &out->version, err) < 0)
		return -1;
	if (kiln_json_get_uint32(result, "protocol", &out->protocol, err) != 0)
		return kiln_error_make(err, 0, "result.protocol: missing or invalid");
	return 0;
}

int proto_result_pid(const kiln_json_t *result, int *pid, kiln_error_t *err)
{
	uint64_t v;

	if (get_uint_max(result, "result", "pid", INT32_MAX, &v, err) < 0)
		return -1;
	*pid = (int)v;
	return 0;
}

int proto_result_wait(const kiln_json_t *result, struct proto_wait_result *out, kiln_error_t *err)
{
	uint64_t code, sig = 0;

	memset(out, 0, sizeof(*out));
	if (get_uint_max(result, "result", "exit_code", 255, &code, err) < 0)
		return -1;
	if (kiln_json_get(result, "signal") != NULL &&
	    get_uint_max(result, "result", "signal", 64, &sig, err) < 0)
		return -1;
	if (get_bool(result, "core_dumped", &out->core_dumped, err) < 0)
		return -1;
	out->exit_code = (int)code;
	out->signal = (int)sig;
	return 0;
}

int proto_result_stats(const kiln_json_t *result, struct proto_stats_result *out, kiln_error_t *err)
{
	memset(out, 0, sizeof(*out));
	if (get_u64_opt(result, "cpu.usage_usec", &out->cpu_usage_usec, err) < 0 ||
	    get_u64_opt(result, "cpu.user_usec", &out->cpu_user_usec, err) < 0 ||
	    get_u64_opt(result, "cpu.system_usec", &out->cpu_system_usec, err) < 0 ||
	    get_u64_opt(result, "memory.usage", &out->memory_usage, err) < 0 ||
	    get_u64_opt(result, "memory.limit", &out->memory_limit, err) < 0 ||
	    get_u64_opt(result, "pids.current", &out->pids_current, err) < 0 ||
	    get_u64_opt(result, "pids.limit", &out->pids_limit, err) < 0)
		return -1;
	return 0;
}

/* ---- Stdio attach. */

char *proto_attach_encode(const struct proto_attach *a, size_t *len)
{
	cleanup_json_gen kiln_json_gen_t *gen = kiln_json_gen_new(false);

	kiln_json_gen_map_open(gen);
	kiln_json_gen_kv_string(gen, "container_id", a->container_id);
	if (a->exec_id != NULL && a->exec_id[0] != '\0')
		kiln_json_gen_kv_string(gen, "exec_id", a->exec_id);
	kiln_json_gen_kv_string(gen, "stream", proto_stream_name(a->stream));
	kiln_json_gen_map_close(gen);
	return gen_done_nofail(gen, len);
}

int proto_attach_parse(const void *buf, size_t len, struct proto_attach *a,
		       enum proto_errcode *code, kiln_error_t *err)
{
	const char *stream = NULL;
	int s;

	memset(a, 0, sizeof(*a));
	*code = PROTO_ERR_INVALID_JSON;
	if (kiln_json_parse(buf, len, &a->doc, err) < 0)
		return -1;
	*code = PROTO_ERR_INVALID_REQUEST;
	if (!kiln_json_is_object(a->doc))
		return kiln_error_make(err, 0, "attach: expected object, got %s",
				       kiln_json_type_name(kiln_json_type(a->doc)));
	if (get_id(a->doc, NULL, "container_id", true, &a->container_id, err) < 0 ||
	    get_id(a->doc, NULL, "exec_id", false, &a->exec_id, err) < 0 ||
	    get_string(a->doc, NULL, "stream", true, &stream, err) < 0)
		return -1;
	s = name_lookup(stream_names, PROTO_STREAM_COUNT, stream);
	if (s < 0)
		return kiln_error_make(err, 0,
				       "stream: unknown stream \"%s\" (want stdin, stdout, stderr "
				       "or terminal)",
				       stream);
	a->stream = (enum proto_stream)s;
	return 0;
}

void proto_attach_release(struct proto_attach *a)
{
	kiln_json_free(a->doc);
	memset(a, 0, sizeof(*a));
}
