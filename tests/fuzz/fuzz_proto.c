/* libFuzzer target for the agent protocol (proto/): the incremental frame
 * decoder fed in pieces, and every frame through the request, reply and
 * attach parsers. A request that parses is rebuilt with the host-side
 * builders and must parse back to the same request; every failure must
 * carry a message, and its error reply must be valid JSON.
 *
 * Input: byte 0 is the piece size for the decoder (0 means all at once),
 * byte 1 picks what frames are parsed as (request, reply or attach; bit 7
 * set: the rest is one payload, bypassing the decoder, so the parsers get
 * deep coverage from an empty corpus); the rest is the byte stream.
 *
 *   clang -std=gnu11 -D_GNU_SOURCE -I. -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -o /tmp/fuzz_proto tests/fuzz/fuzz_proto.c proto/frame.c proto/proto.c
 * common/{error,io,json,log,util}.c \
 *     $(pkg-config --cflags --libs yajl) -lpthread && /tmp/fuzz_proto -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "proto/proto.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static void check_err(kiln_error_t *err)
{
	check(*err != NULL && (*err)->msg != NULL && (*err)->msg[0] != '\0');
	kiln_error_free(err);
}

static void check_same_str(const char *a, const char *b)
{
	check(a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Rebuilds req with the builders; NULL when the builder itself refuses
 * (an embedded JSON number out of every range). */
static char *rebuild(const struct proto_request *req, size_t *len)
{
	kiln_error_t err = NULL;
	char *out = NULL;

	switch (req->method) {
	case PROTO_M_PING:
	case PROTO_M_VERSION:
	case PROTO_M_SHUTDOWN:
		return proto_request_simple(req->id, req->method, len);
	case PROTO_M_CREATE:
		out = proto_request_create(req->id, &req->p.create, len, &err);
		break;
	case PROTO_M_EXEC:
		out = proto_request_exec(req->id, &req->p.exec, len, &err);
		break;
	case PROTO_M_START:
	case PROTO_M_WAIT:
	case PROTO_M_STATS:
	case PROTO_M_CLOSE_STDIN:
		return proto_request_target(req->id, req->method, &req->p.target, len);
	case PROTO_M_SIGNAL:
		return proto_request_signal(req->id, &req->p.signal, len);
	case PROTO_M_RESIZE:
		return proto_request_resize(req->id, &req->p.resize, len);
	case PROTO_M_COUNT:
		abort();
	}
	if (out == NULL)
		check_err(&err);
	return out;
}

static void compare(const struct proto_request *a, const struct proto_request *b)
{
	check(a->id == b->id && a->method == b->method);
	switch (a->method) {
	case PROTO_M_CREATE:
		check_same_str(a->p.create.container_id, b->p.create.container_id);
		check_same_str(a->p.create.rootfs.drive_id, b->p.create.rootfs.drive_id);
		check_same_str(a->p.create.rootfs.fstype, b->p.create.rootfs.fstype);
		check(a->p.create.rootfs.readonly == b->p.create.rootfs.readonly);
		check(a->p.create.rootfs.overlay == b->p.create.rootfs.overlay);
		check(memcmp(&a->p.create.stdio, &b->p.create.stdio, sizeof(struct proto_stdio)) ==
		      0);
		check(kiln_json_object_len(a->p.create.spec) ==
		      kiln_json_object_len(b->p.create.spec));
		break;
	case PROTO_M_EXEC:
		check_same_str(a->p.exec.container_id, b->p.exec.container_id);
		check_same_str(a->p.exec.exec_id, b->p.exec.exec_id);
		check(kiln_json_object_len(a->p.exec.process) ==
		      kiln_json_object_len(b->p.exec.process));
		break;
	case PROTO_M_START:
	case PROTO_M_WAIT:
	case PROTO_M_STATS:
	case PROTO_M_CLOSE_STDIN:
		check_same_str(a->p.target.container_id, b->p.target.container_id);
		check_same_str(a->p.target.exec_id, b->p.target.exec_id);
		break;
	case PROTO_M_SIGNAL:
		check_same_str(a->p.signal.container_id, b->p.signal.container_id);
		check_same_str(a->p.signal.exec_id, b->p.signal.exec_id);
		check(a->p.signal.signal == b->p.signal.signal &&
		      a->p.signal.all == b->p.signal.all);
		break;
	case PROTO_M_RESIZE:
		check_same_str(a->p.resize.exec_id, b->p.resize.exec_id);
		check(a->p.resize.width == b->p.resize.width &&
		      a->p.resize.height == b->p.resize.height);
		break;
	default:
		break;
	}
}

static void as_request(const char *frame, size_t len)
{
	struct proto_request req, again;
	enum proto_errcode code;
	kiln_error_t err = NULL;
	char *text, *reply;
	size_t n;

	if (proto_request_parse(frame, len, &req, &code, &err) < 0) {
		kiln_json_t *doc = NULL;

		check(code < PROTO_ERR_COUNT);
		reply = proto_reply_error(req.has_id ? &req.id : NULL, code, err->msg, &n);
		check(kiln_json_parse(reply, n, &doc, NULL) == 0);
		kiln_json_free(doc);
		free(reply);
		check_err(&err);
		proto_request_release(&req);
		return;
	}
	text = rebuild(&req, &n);
	if (text != NULL) {
		check(proto_request_parse(text, n, &again, &code, &err) == 0);
		compare(&req, &again);
		proto_request_release(&again);
		free(text);
	}
	proto_request_release(&req);
}

static void as_reply(const char *frame, size_t len)
{
	struct proto_reply r;
	kiln_error_t err = NULL;

	if (proto_reply_parse(frame, len, &r, &err) < 0) {
		check_err(&err);
		proto_reply_release(&r);
		return;
	}
	if (!r.is_error) {
		struct proto_version_result v;
		struct proto_wait_result w;
		struct proto_stats_result s;
		int pid;

		if (proto_result_version(r.result, &v, &err) < 0)
			check_err(&err);
		if (proto_result_pid(r.result, &pid, &err) < 0)
			check_err(&err);
		if (proto_result_wait(r.result, &w, &err) < 0)
			check_err(&err);
		if (proto_result_stats(r.result, &s, &err) < 0)
			check_err(&err);
	}
	proto_reply_release(&r);
}

static void as_attach(const char *frame, size_t len)
{
	struct proto_attach a, b;
	enum proto_errcode code;
	kiln_error_t err = NULL;
	char *text;
	size_t n;

	if (proto_attach_parse(frame, len, &a, &code, &err) < 0) {
		check_err(&err);
		proto_attach_release(&a);
		return;
	}
	text = proto_attach_encode(&a, &n);
	check(proto_attach_parse(text, n, &b, &code, &err) == 0);
	check_same_str(a.container_id, b.container_id);
	check_same_str(a.exec_id, b.exec_id);
	check(a.stream == b.stream);
	free(text);
	proto_attach_release(&a);
	proto_attach_release(&b);
}

static void parse_frame(uint8_t mode, const char *frame, size_t len)
{
	if (mode == 0)
		as_request(frame, len);
	else if (mode == 1)
		as_reply(frame, len);
	else
		as_attach(frame, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_decoder d;
	size_t step, off = 2;
	uint8_t mode;

	if (size < 2)
		return 0;
	step = data[0] ? data[0] : size;
	mode = (data[1] & 0x7f) % 3;
	if (data[1] & 0x80) {
		parse_frame(mode, (const char *)data + 2, size - 2);
		return 0;
	}
	proto_decoder_init(&d);
	while (off < size) {
		size_t n = size - off < step ? size - off : step, used;
		kiln_error_t err = NULL;
		char *frame;
		size_t flen;
		int r = proto_decoder_feed(&d, data + off, n, &used, &frame, &flen, &err);

		if (r < 0) {
			check_err(&err);
			break;
		}
		check(used <= n && (used > 0 || n == 0));
		off += used;
		if (r == 0)
			continue;
		check(flen > 0 && flen <= PROTO_MAX_FRAME && frame[flen] == '\0');
		parse_frame(mode, frame, flen);
		free(frame);
	}
	proto_decoder_release(&d);
	return 0;
}
