/* The agent protocol's framing and messages (proto/): round trips of every
 * request and reply, and the error code and message for malformed input. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "proto/proto.h"
#include "tests/unit/tap.h"

/* Parses text as a request; on failure returns the code and keeps the
 * message in *msg (allocated). */
static int parse_req(const char *text, struct proto_request *req, enum proto_errcode *code,
		     char **msg)
{
	kiln_error_t err = NULL;
	int r = proto_request_parse(text, strlen(text), req, code, &err);

	*msg = NULL;
	if (r < 0) {
		*msg = xstrdup(err ? err->msg : "(no message)");
		kiln_error_free(&err);
	}
	return r;
}

/* Asserts text fails to parse as a request with code and message. */
#define CHECK_REQ_FAILS(text, want_code, want_msg)                                                 \
	do {                                                                                       \
		struct proto_request req_;                                                         \
		enum proto_errcode code_;                                                          \
		cleanup_free char *msg_ = NULL;                                                    \
		int r_ = parse_req((text), &req_, &code_, &msg_);                                  \
		proto_request_release(&req_);                                                      \
		TAP_CHECK(r_ < 0);                                                                 \
		TAP_CHECK_STR(proto_errcode_name(code_), proto_errcode_name(want_code));           \
		TAP_CHECK_STR(msg_, (want_msg));                                                   \
	} while (0)

static int test_names(void)
{
	enum proto_method m;
	enum proto_errcode c;

	for (int i = 0; i < PROTO_M_COUNT; i++) {
		TAP_CHECK(proto_method_from_name(proto_method_name(i), &m) == 0);
		TAP_CHECK((int)m == i);
	}
	for (int i = 0; i < PROTO_ERR_COUNT; i++) {
		TAP_CHECK(proto_errcode_from_name(proto_errcode_name(i), &c) == 0);
		TAP_CHECK((int)c == i);
	}
	TAP_CHECK(proto_method_from_name("Ping", &m) < 0);
	TAP_CHECK(proto_errcode_from_name("nope", &c) < 0);
	TAP_CHECK_STR(proto_method_name(PROTO_M_CLOSE_STDIN), "close_stdin");
	TAP_CHECK_STR(proto_errcode_name(PROTO_ERR_NOT_IMPLEMENTED), "not_implemented");
	TAP_CHECK_STR(proto_stream_name(PROTO_STREAM_TERMINAL), "terminal");
	return TAP_PASS;
}

static int test_id_valid(void)
{
	char longid[PROTO_MAX_ID_LEN + 2];

	TAP_CHECK(proto_id_valid("abc-1_2.x", false));
	TAP_CHECK(!proto_id_valid("", false));
	TAP_CHECK(proto_id_valid("", true));
	TAP_CHECK(!proto_id_valid(".hidden", false));
	TAP_CHECK(!proto_id_valid("a/b", false));
	TAP_CHECK(!proto_id_valid("a b", false));
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	TAP_CHECK(!proto_id_valid(longid, false));
	longid[PROTO_MAX_ID_LEN] = '\0';
	TAP_CHECK(proto_id_valid(longid, false));
	return TAP_PASS;
}

/* ---- Framing. */

static int test_frame_blocking(void)
{
	int sv[2];
	char *out = NULL;
	size_t len = 0;
	kiln_error_t err = NULL;

	TAP_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	TAP_CHECK(proto_frame_write(sv[0], "{\"a\":1}", 7, &err) == 0);
	TAP_CHECK(proto_frame_write(sv[0], "[]", 2, &err) == 0);
	TAP_CHECK(proto_frame_read(sv[1], &out, &len, &err) == 0);
	TAP_CHECK(len == 7);
	TAP_CHECK_STR(out, "{\"a\":1}");
	free(out);
	TAP_CHECK(proto_frame_read(sv[1], &out, &len, &err) == 0);
	TAP_CHECK_STR(out, "[]");
	free(out);
	/* Length 0 is refused on the way out. */
	TAP_CHECK(proto_frame_write(sv[0], "", 0, &err) < 0);
	TAP_CHECK_STR(err->msg, "frame: length 0");
	kiln_error_free(&err);
	/* Truncated frame, then a clean EOF case. */
	TAP_CHECK(write(sv[0], "\0\0\0\x05{}", 6) == 6);
	close(sv[0]);
	TAP_CHECK(proto_frame_read(sv[1], &out, &len, &err) < 0);
	TAP_CHECK_STR(err->msg, "frame: end of stream after 2 of 5 bytes");
	kiln_error_free(&err);
	close(sv[1]);

	TAP_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	close(sv[0]);
	TAP_CHECK(proto_frame_read(sv[1], &out, &len, &err) == 1);
	close(sv[1]);

	TAP_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	TAP_CHECK(write(sv[0], "\0\x10\0\x01", 4) == 4);
	TAP_CHECK(proto_frame_read(sv[1], &out, &len, &err) < 0);
	TAP_CHECK_STR(err->msg, "frame: length 1048577 is above the limit of 1048576");
	kiln_error_free(&err);
	TAP_CHECK(write(sv[0], "\0\0", 2) == 2);
	close(sv[0]);
	TAP_CHECK(proto_frame_read(sv[1], &out, &len, &err) < 0);
	TAP_CHECK_STR(err->msg, "frame: end of stream inside the length");
	kiln_error_free(&err);
	close(sv[1]);
	return TAP_PASS;
}

/* Feeds buf to a decoder in pieces of step bytes; returns frames joined by
 * '|' (allocated). */
static char *decode_in_steps(const char *buf, size_t len, size_t step)
{
	struct proto_decoder d;
	char *joined = xstrdup("");
	size_t off = 0;

	proto_decoder_init(&d);
	while (off < len) {
		size_t n = len - off < step ? len - off : step, used;
		char *frame;
		size_t flen;
		int r;

		r = proto_decoder_feed(&d, buf + off, n, &used, &frame, &flen, NULL);
		if (r < 0)
			break;
		off += used;
		if (r == 1) {
			char *j = xasprintf("%s%s|", joined, frame);

			free(joined);
			free(frame);
			joined = j;
		}
	}
	proto_decoder_release(&d);
	return joined;
}

static int test_decoder(void)
{
	size_t n1, n2;
	cleanup_free char *f1 = proto_frame_encode("{\"x\":1}", 7, &n1);
	cleanup_free char *f2 = proto_frame_encode("true", 4, &n2);
	cleanup_free char *both = xmalloc(n1 + n2);

	memcpy(both, f1, n1);
	memcpy(both + n1, f2, n2);
	for (size_t step = 1; step <= n1 + n2; step++) {
		cleanup_free char *got = decode_in_steps(both, n1 + n2, step);

		TAP_CHECK_STR(got, "{\"x\":1}|true|");
	}
	return TAP_PASS;
}

static int test_decoder_bad_length(void)
{
	struct proto_decoder d;
	kiln_error_t err = NULL;
	char *frame = NULL;
	size_t used, flen;

	proto_decoder_init(&d);
	TAP_CHECK(proto_decoder_idle(&d));
	TAP_CHECK(proto_decoder_feed(&d, "\xff\xff", 2, &used, &frame, &flen, &err) == 0);
	TAP_CHECK(used == 2);
	TAP_CHECK(!proto_decoder_idle(&d));
	TAP_CHECK(proto_decoder_feed(&d, "\xff\xff{", 3, &used, &frame, &flen, &err) < 0);
	TAP_CHECK_STR(err->msg, "frame: length 4294967295 is above the limit of 1048576");
	kiln_error_free(&err);
	/* Stays failed. */
	TAP_CHECK(proto_decoder_feed(&d, "{}", 2, &used, &frame, &flen, &err) < 0);
	kiln_error_free(&err);
	proto_decoder_release(&d);

	proto_decoder_init(&d);
	TAP_CHECK(proto_decoder_feed(&d, "\0\0\0\0", 4, &used, &frame, &flen, &err) < 0);
	TAP_CHECK_STR(err->msg, "frame: length 0");
	kiln_error_free(&err);
	proto_decoder_release(&d);

	/* The largest frame is fine. */
	{
		size_t n;
		cleanup_free char *payload = xmalloc(PROTO_MAX_FRAME);
		cleanup_free char *f = NULL;

		memset(payload, ' ', PROTO_MAX_FRAME);
		payload[0] = '1';
		f = proto_frame_encode(payload, PROTO_MAX_FRAME, &n);
		proto_decoder_init(&d);
		TAP_CHECK(proto_decoder_feed(&d, f, n, &used, &frame, &flen, &err) == 1);
		TAP_CHECK(used == n && flen == PROTO_MAX_FRAME);
		free(frame);
		proto_decoder_release(&d);
	}
	return TAP_PASS;
}

/* ---- Requests. */

static int test_request_simple(void)
{
	for (int m = 0; m < PROTO_M_COUNT; m++) {
		struct proto_request req;
		enum proto_errcode code;
		cleanup_free char *msg = NULL;
		size_t len;
		cleanup_free char *text = NULL;

		if (m != PROTO_M_PING && m != PROTO_M_VERSION && m != PROTO_M_SHUTDOWN)
			continue;
		text = proto_request_simple(77, m, &len);
		TAP_CHECK(parse_req(text, &req, &code, &msg) == 0);
		TAP_CHECK(req.has_id && req.id == 77);
		TAP_CHECK((int)req.method == m);
		proto_request_release(&req);
	}
	/* params may be absent or null. */
	{
		struct proto_request req;
		enum proto_errcode code;
		cleanup_free char *msg = NULL;

		TAP_CHECK(parse_req("{\"id\":1,\"method\":\"ping\"}", &req, &code, &msg) == 0);
		proto_request_release(&req);
		TAP_CHECK(parse_req("{\"id\":1,\"method\":\"ping\",\"params\":null,\"x\":[]}", &req,
				    &code, &msg) == 0);
		proto_request_release(&req);
	}
	return TAP_PASS;
}

static const char spec_text[] = "{\"ociVersion\":\"1.2.0\",\"process\":{\"args\":[\"sh\",\"-c\","
				"\"echo \\\"hi\\\"\"],\"user\":{\"uid\":0,\"gid\":0},"
				"\"oomScoreAdj\":-1000,\"x\":1.5,\"big\":18446744073709551615},"
				"\"hostname\":\"h\",\"mounts\":[],\"n\":null,\"t\":true}";

static int test_request_create(void)
{
	cleanup_json kiln_json_t *spec = NULL;
	struct proto_create_params p = {
	    .container_id = "c1",
	    .rootfs = {.drive_id = "rootfs", .fstype = "erofs", .readonly = true, .overlay = true},
	    .stdio = {.in = true, .out = true, .err = false},
	    .volumes = {.tag = "kiln", .path = "/run/kiln-volumes"},
	};
	struct proto_request req;
	enum proto_errcode code;
	cleanup_free char *msg = NULL, *text = NULL, *again = NULL;
	size_t len, len2;
	kiln_error_t err = NULL;

	TAP_CHECK(kiln_json_parse(spec_text, strlen(spec_text), &spec, NULL) == 0);
	p.spec = spec;
	text = proto_request_create(5, &p, &len, &err);
	TAP_CHECK(text != NULL);
	TAP_CHECK(parse_req(text, &req, &code, &msg) == 0);
	TAP_CHECK(req.method == PROTO_M_CREATE && req.id == 5);
	TAP_CHECK_STR(req.p.create.container_id, "c1");
	TAP_CHECK_STR(req.p.create.rootfs.drive_id, "rootfs");
	TAP_CHECK_STR(req.p.create.rootfs.fstype, "erofs");
	TAP_CHECK(req.p.create.rootfs.readonly && req.p.create.rootfs.overlay);
	TAP_CHECK(req.p.create.stdio.in && req.p.create.stdio.out && !req.p.create.stdio.err);
	TAP_CHECK_STR(req.p.create.volumes.tag, "kiln");
	TAP_CHECK_STR(req.p.create.volumes.path, "/run/kiln-volumes");
	{
		const char *s = NULL;
		int64_t oom = 0;
		uint64_t big = 0;

		TAP_CHECK(kiln_json_get_string(req.p.create.spec, "process.args[2]", &s, NULL) ==
			  0);
		TAP_CHECK_STR(s, "echo \"hi\"");
		TAP_CHECK(
		    kiln_json_get_int64(req.p.create.spec, "process.oomScoreAdj", &oom, NULL) == 0);
		TAP_CHECK(oom == -1000);
		TAP_CHECK(kiln_json_get_uint64(req.p.create.spec, "process.big", &big, NULL) == 0);
		TAP_CHECK(big == UINT64_MAX);
	}
	/* The embedded spec survives a second round unchanged. */
	p.spec = req.p.create.spec;
	again = proto_request_create(5, &p, &len2, &err);
	TAP_CHECK(again != NULL);
	TAP_CHECK_STR(again, text);
	proto_request_release(&req);

	/* Defaults: ext4, read-write, no stdio. */
	TAP_CHECK(parse_req("{\"id\":2,\"method\":\"create\",\"params\":{\"container_id\":\"a\","
			    "\"spec\":{},\"rootfs\":{\"drive_id\":\"d\"}}}",
			    &req, &code, &msg) == 0);
	TAP_CHECK_STR(req.p.create.rootfs.fstype, "ext4");
	TAP_CHECK(!req.p.create.rootfs.readonly && !req.p.create.stdio.out);
	TAP_CHECK(req.p.create.volumes.tag == NULL);
	proto_request_release(&req);
	return TAP_PASS;
}

static int test_request_exec(void)
{
	cleanup_json kiln_json_t *proc = NULL;
	struct proto_exec_params p = {
	    .container_id = "c1", .exec_id = "e1", .stdio = {.out = true}};
	struct proto_request req;
	enum proto_errcode code;
	cleanup_free char *msg = NULL, *text = NULL;
	size_t len;
	const char *s = NULL;

	TAP_CHECK(kiln_json_parse("{\"args\":[\"ls\"],\"terminal\":true}", 31, &proc, NULL) == 0);
	p.process = proc;
	text = proto_request_exec(9, &p, &len, NULL);
	TAP_CHECK(text != NULL);
	TAP_CHECK(parse_req(text, &req, &code, &msg) == 0);
	TAP_CHECK(req.method == PROTO_M_EXEC);
	TAP_CHECK_STR(req.p.exec.container_id, "c1");
	TAP_CHECK_STR(req.p.exec.exec_id, "e1");
	TAP_CHECK(kiln_json_get_string(req.p.exec.process, "args[0]", &s, NULL) == 0);
	TAP_CHECK_STR(s, "ls");
	TAP_CHECK(!req.p.exec.stdio.in && req.p.exec.stdio.out);
	proto_request_release(&req);
	return TAP_PASS;
}

static int test_request_target(void)
{
	static const enum proto_method ms[] = {PROTO_M_START, PROTO_M_WAIT, PROTO_M_STATS,
					       PROTO_M_CLOSE_STDIN};

	for (size_t i = 0; i < ARRAY_SIZE(ms); i++) {
		struct proto_target_params p = {.container_id = "ctr", .exec_id = "x"};
		struct proto_request req;
		enum proto_errcode code;
		cleanup_free char *msg = NULL, *text = NULL;
		size_t len;
		bool with_exec = ms[i] == PROTO_M_WAIT || ms[i] == PROTO_M_CLOSE_STDIN;

		text = proto_request_target(i, ms[i], &p, &len);
		TAP_CHECK(parse_req(text, &req, &code, &msg) == 0);
		TAP_CHECK(req.method == ms[i] && req.id == i);
		TAP_CHECK_STR(req.p.target.container_id, "ctr");
		TAP_CHECK_STR(req.p.target.exec_id, with_exec ? "x" : "");
		proto_request_release(&req);
	}
	return TAP_PASS;
}

static int test_request_signal_resize(void)
{
	struct proto_signal_params sp = {
	    .container_id = "c", .exec_id = "", .signal = 9, .all = true};
	struct proto_resize_params rp = {
	    .container_id = "c", .exec_id = "e", .width = 80, .height = 65535};
	struct proto_request req;
	enum proto_errcode code;
	cleanup_free char *msg = NULL, *t1 = NULL, *t2 = NULL;
	size_t len;

	t1 = proto_request_signal(3, &sp, &len);
	TAP_CHECK(parse_req(t1, &req, &code, &msg) == 0);
	TAP_CHECK(req.method == PROTO_M_SIGNAL && req.p.signal.signal == 9 && req.p.signal.all);
	TAP_CHECK_STR(req.p.signal.exec_id, "");
	proto_request_release(&req);

	t2 = proto_request_resize(4, &rp, &len);
	TAP_CHECK(parse_req(t2, &req, &code, &msg) == 0);
	TAP_CHECK(req.method == PROTO_M_RESIZE);
	TAP_CHECK(req.p.resize.width == 80 && req.p.resize.height == 65535);
	TAP_CHECK_STR(req.p.resize.exec_id, "e");
	proto_request_release(&req);
	return TAP_PASS;
}

static int test_request_malformed(void)
{
	CHECK_REQ_FAILS("{", PROTO_ERR_INVALID_JSON,
			"invalid JSON at byte 1: unexpected end of input");
	CHECK_REQ_FAILS("[1]", PROTO_ERR_INVALID_REQUEST, "request: expected object, got array");
	CHECK_REQ_FAILS("{\"method\":\"ping\"}", PROTO_ERR_INVALID_REQUEST, "id: missing");
	CHECK_REQ_FAILS("{\"id\":-1,\"method\":\"ping\"}", PROTO_ERR_INVALID_REQUEST,
			"id: -1 is out of range");
	CHECK_REQ_FAILS("{\"id\":\"1\",\"method\":\"ping\"}", PROTO_ERR_INVALID_REQUEST,
			"id: expected unsigned integer");
	CHECK_REQ_FAILS("{\"id\":1}", PROTO_ERR_INVALID_REQUEST, "method: missing");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":7}", PROTO_ERR_INVALID_REQUEST,
			"method: expected string");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"reboot\"}", PROTO_ERR_UNKNOWN_METHOD,
			"method: unknown method \"reboot\"");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"ping\",\"params\":[]}", PROTO_ERR_INVALID_PARAMS,
			"params: expected object");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"start\"}", PROTO_ERR_INVALID_PARAMS,
			"params.container_id: missing");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"start\",\"params\":{\"container_id\":3}}",
			PROTO_ERR_INVALID_PARAMS, "params.container_id: expected string");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"start\",\"params\":{\"container_id\":\"../x\"}}",
			PROTO_ERR_INVALID_PARAMS,
			"params.container_id: invalid id \"../x\" (want 1 to 128 of "
			"[A-Za-z0-9_.-], not starting with '.')");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"create\",\"params\":{\"container_id\":\"a\","
			"\"spec\":{},\"rootfs\":{\"drive_id\":\"d\",\"readonly\":1}}}",
			PROTO_ERR_INVALID_PARAMS, "params.rootfs.readonly: expected boolean");
	CHECK_REQ_FAILS(
	    "{\"id\":1,\"method\":\"create\",\"params\":{\"container_id\":\"a\","
	    "\"spec\":{},\"rootfs\":{\"drive_id\":\"d\"},\"volumes\":{\"tag\":\"kiln\"}}}",
	    PROTO_ERR_INVALID_PARAMS, "params.volumes.path: missing");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"create\",\"params\":{\"container_id\":\"a\","
			"\"spec\":{},\"rootfs\":{\"drive_id\":\"d\"},\"volumes\":{\"tag\":\"\","
			"\"path\":\"/v\"}}}",
			PROTO_ERR_INVALID_PARAMS,
			"params.volumes.tag: invalid tag \"\" (want 1 to 36 bytes)");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"create\",\"params\":{\"container_id\":\"a\","
			"\"spec\":{},\"rootfs\":{\"drive_id\":\"d\"},\"volumes\":{\"tag\":\"k\","
			"\"path\":\"/run/../etc\"}}}",
			PROTO_ERR_INVALID_PARAMS,
			"params.volumes.path: invalid \"/run/../etc\" (want an absolute path other "
			"than /, without . or ..)");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"create\",\"params\":{\"container_id\":\"a\","
			"\"spec\":[]}}",
			PROTO_ERR_INVALID_PARAMS, "params.spec: expected object");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"create\",\"params\":{\"container_id\":\"a\","
			"\"spec\":{}}}",
			PROTO_ERR_INVALID_PARAMS, "params.rootfs: missing");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"create\",\"params\":{\"container_id\":\"a\","
			"\"spec\":{},\"rootfs\":{\"drive_id\":\"a/b\"}}}",
			PROTO_ERR_INVALID_PARAMS,
			"params.rootfs.drive_id: invalid drive id \"a/b\" (want 1 to 20 bytes, "
			"no '/': the virtio-blk serial)");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"create\",\"params\":{\"container_id\":\"a\","
			"\"spec\":{},\"rootfs\":{\"drive_id\":\"d\",\"fstype\":\"ext4,x=y\"}}}",
			PROTO_ERR_INVALID_PARAMS, "params.rootfs.fstype: invalid \"ext4,x=y\"");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"exec\",\"params\":{\"container_id\":\"a\","
			"\"process\":{}}}",
			PROTO_ERR_INVALID_PARAMS, "params.exec_id: missing");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"exec\",\"params\":{\"container_id\":\"a\","
			"\"exec_id\":\"b\",\"process\":{},\"stdio\":{\"stdin\":\"yes\"}}}",
			PROTO_ERR_INVALID_PARAMS, "params.stdio.stdin: expected boolean");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"signal\",\"params\":{\"container_id\":\"a\","
			"\"signal\":65}}",
			PROTO_ERR_INVALID_PARAMS, "params.signal: 65 is out of range (max 64)");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"signal\",\"params\":{\"container_id\":\"a\","
			"\"signal\":0}}",
			PROTO_ERR_INVALID_PARAMS, "params.signal: 0 is not a signal");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"signal\",\"params\":{\"container_id\":\"a\"}}",
			PROTO_ERR_INVALID_PARAMS, "params.signal: missing");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"signal\",\"params\":{\"container_id\":\"a\","
			"\"exec_id\":\"e\",\"signal\":9,\"all\":true}}",
			PROTO_ERR_INVALID_PARAMS,
			"params.all: cannot be combined with params.exec_id");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"resize\",\"params\":{\"container_id\":\"a\","
			"\"width\":70000,\"height\":1}}",
			PROTO_ERR_INVALID_PARAMS,
			"params.width: 70000 is out of range (max 65535)");
	CHECK_REQ_FAILS("{\"id\":1,\"method\":\"resize\",\"params\":{\"container_id\":\"a\","
			"\"width\":1.5,\"height\":1}}",
			PROTO_ERR_INVALID_PARAMS, "params.width: expected unsigned integer");
	return TAP_PASS;
}

/* The id is kept for the error reply whenever it could be read. */
static int test_request_error_id(void)
{
	struct proto_request req;
	enum proto_errcode code;
	cleanup_free char *msg = NULL;

	TAP_CHECK(parse_req("{\"id\":42,\"method\":\"nope\"}", &req, &code, &msg) < 0);
	TAP_CHECK(req.has_id && req.id == 42);
	proto_request_release(&req);
	free(msg);
	TAP_CHECK(parse_req("{\"id\":\"42\",\"method\":\"ping\"}", &req, &code, &msg) < 0);
	TAP_CHECK(!req.has_id);
	proto_request_release(&req);
	return TAP_PASS;
}

/* ---- Replies. */

/* Parses text (taking ownership) as a reply. */
static int parse_reply(char *text, struct proto_reply *r)
{
	kiln_error_t err = NULL;
	int ret = proto_reply_parse(text, strlen(text), r, &err);

	if (ret < 0) {
		tap_diag("reply %s: %s", text, err->msg);
		kiln_error_free(&err);
	}
	free(text);
	return ret;
}

static int test_reply_error(void)
{
	struct proto_reply r;
	size_t len;
	uint64_t id = 12;
	char *text = proto_reply_error(&id, PROTO_ERR_NOT_FOUND, "no container \"x\"", &len);

	TAP_CHECK_STR(text, "{\"id\":12,\"error\":{\"code\":\"not_found\",\"message\":\"no "
			    "container \\\"x\\\"\"}}");
	TAP_CHECK(parse_reply(text, &r) == 0);
	TAP_CHECK(r.has_id && r.id == 12 && r.is_error && r.code == PROTO_ERR_NOT_FOUND);
	TAP_CHECK_STR(r.message, "no container \"x\"");
	proto_reply_release(&r);

	text = proto_reply_error(NULL, PROTO_ERR_INVALID_JSON, "bad", &len);
	TAP_CHECK_STR(text,
		      "{\"id\":null,\"error\":{\"code\":\"invalid_json\",\"message\":\"bad\"}}");
	TAP_CHECK(parse_reply(text, &r) == 0);
	TAP_CHECK(!r.has_id && r.is_error && r.code == PROTO_ERR_INVALID_JSON);
	proto_reply_release(&r);

	/* A message holding invalid UTF-8 still makes a valid reply. */
	text = proto_reply_error(&id, PROTO_ERR_FAILED, "bad \xff byte", &len);
	TAP_CHECK(parse_reply(text, &r) == 0);
	TAP_CHECK_STR(r.message, "(message was not valid UTF-8)");
	proto_reply_release(&r);

	/* A code from a newer agent. */
	text = xstrdup("{\"id\":1,\"error\":{\"code\":\"future\",\"message\":\"m\"}}");
	TAP_CHECK(parse_reply(text, &r) == 0);
	TAP_CHECK(r.code == PROTO_ERR_COUNT);
	TAP_CHECK_STR(r.code_name, "future");
	proto_reply_release(&r);
	return TAP_PASS;
}

static int test_reply_results(void)
{
	struct proto_reply r;
	size_t len;
	kiln_error_t err = NULL;

	{
		struct proto_version_result v = {.agent = "kiln-agent",
						 .version = "0.1",
						 .protocol = PROTO_VERSION},
					    got;

		TAP_CHECK(parse_reply(proto_reply_version(1, &v, &len), &r) == 0);
		TAP_CHECK(!r.is_error && r.id == 1);
		TAP_CHECK(proto_result_version(r.result, &got, &err) == 0);
		TAP_CHECK_STR(got.agent, "kiln-agent");
		TAP_CHECK_STR(got.version, "0.1");
		TAP_CHECK(got.protocol == PROTO_VERSION);
		proto_reply_release(&r);
	}
	{
		int pid = 0;

		TAP_CHECK(parse_reply(proto_reply_pid(2, 1234, &len), &r) == 0);
		TAP_CHECK(proto_result_pid(r.result, &pid, &err) == 0 && pid == 1234);
		proto_reply_release(&r);
	}
	{
		struct proto_wait_result w = {.exit_code = 137, .signal = 9, .core_dumped = true},
					 got;

		TAP_CHECK(parse_reply(proto_reply_wait(3, &w, &len), &r) == 0);
		TAP_CHECK(proto_result_wait(r.result, &got, &err) == 0);
		TAP_CHECK(got.exit_code == 137 && got.signal == 9 && got.core_dumped);
		proto_reply_release(&r);
		w = (struct proto_wait_result){.exit_code = 3};
		TAP_CHECK(parse_reply(proto_reply_wait(3, &w, &len), &r) == 0);
		TAP_CHECK(proto_result_wait(r.result, &got, &err) == 0);
		TAP_CHECK(got.exit_code == 3 && got.signal == 0 && !got.core_dumped);
		proto_reply_release(&r);
	}
	{
		struct proto_stats_result s = {1, 2, 3, 4, 5, 6, UINT64_MAX}, got;

		TAP_CHECK(parse_reply(proto_reply_stats(4, &s, &len), &r) == 0);
		TAP_CHECK(proto_result_stats(r.result, &got, &err) == 0);
		TAP_CHECK(memcmp(&s, &got, sizeof(s)) == 0);
		proto_reply_release(&r);
	}
	{
		char *text = proto_reply_empty(5, &len);

		TAP_CHECK_STR(text, "{\"id\":5,\"result\":{}}");
		TAP_CHECK(parse_reply(text, &r) == 0);
		TAP_CHECK(kiln_json_object_len(r.result) == 0);
		proto_reply_release(&r);
	}
	return TAP_PASS;
}

static int test_reply_malformed(void)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
	    {"3", "reply: expected object, got number"},
	    {"{}", "id: missing"},
	    {"{\"id\":1}", "reply: want exactly one of result and error"},
	    {"{\"id\":1,\"result\":{},\"error\":{}}",
	     "reply: want exactly one of result and error"},
	    {"{\"id\":1,\"result\":[]}", "result: expected object"},
	    {"{\"id\":1,\"error\":{\"code\":\"x\"}}", "error.message: missing"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct proto_reply r;
		kiln_error_t err = NULL;

		TAP_CHECK(proto_reply_parse(cases[i].text, strlen(cases[i].text), &r, &err) < 0);
		TAP_CHECK_STR(err->msg, cases[i].msg);
		kiln_error_free(&err);
		proto_reply_release(&r);
	}
	return TAP_PASS;
}

static int test_attach(void)
{
	struct proto_attach a = {.container_id = "c",
				 .exec_id = "e",
				 .stream = PROTO_STREAM_STDERR},
			    got;
	enum proto_errcode code;
	kiln_error_t err = NULL;
	size_t len;
	cleanup_free char *text = proto_attach_encode(&a, &len);

	TAP_CHECK(proto_attach_parse(text, len, &got, &code, &err) == 0);
	TAP_CHECK_STR(got.container_id, "c");
	TAP_CHECK_STR(got.exec_id, "e");
	TAP_CHECK(got.stream == PROTO_STREAM_STDERR);
	proto_attach_release(&got);

	TAP_CHECK(proto_attach_parse("{\"container_id\":\"c\",\"stream\":\"tty\"}", 35, &got, &code,
				     &err) < 0);
	TAP_CHECK(code == PROTO_ERR_INVALID_REQUEST);
	TAP_CHECK_STR(err->msg,
		      "stream: unknown stream \"tty\" (want stdin, stdout, stderr or terminal)");
	kiln_error_free(&err);
	proto_attach_release(&got);
	TAP_CHECK(proto_attach_parse("{\"stream\":\"stdin\"}", 18, &got, &code, &err) < 0);
	TAP_CHECK_STR(err->msg, "container_id: missing");
	kiln_error_free(&err);
	proto_attach_release(&got);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_names), TAP_TEST(test_id_valid), TAP_TEST(test_frame_blocking),
	 TAP_TEST(test_decoder), TAP_TEST(test_decoder_bad_length), TAP_TEST(test_request_simple),
	 TAP_TEST(test_request_create), TAP_TEST(test_request_exec), TAP_TEST(test_request_target),
	 TAP_TEST(test_request_signal_resize), TAP_TEST(test_request_malformed),
	 TAP_TEST(test_request_error_id), TAP_TEST(test_reply_error), TAP_TEST(test_reply_results),
	 TAP_TEST(test_reply_malformed), TAP_TEST(test_attach))
