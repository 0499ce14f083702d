/* libFuzzer target for the API's HTTP parser (vmm/api/http.c): whatever the
 * bytes, parsing ends in a definite answer within the buffer, a request
 * split anywhere parses as the whole one does (split reads), pipelined
 * requests step forward, and every error can be written as a response.
 *
 *   clang -std=gnu11 -D_GNU_SOURCE -I. -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -o /tmp/fuzz_http tests/fuzz/fuzz_http.c vmm/api/http.c common/{error,io,json,log,util}.c \
 *     $(pkg-config --cflags --libs yajl) -lpthread
 *   /tmp/fuzz_http -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/api/http.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static void error_respond(const struct http_request *req)
{
	struct http_response resp;
	char *wire;
	size_t len;

	check(req->error_status >= 400 && req->error_status < 600);
	check(req->error_msg[0] != '\0');
	http_response_init(&resp);
	http_response_set_fault(&resp, req->error_status, "%s", req->error_msg);
	wire = http_response_serialize(&resp, false, &len);
	check(len == strlen(wire));
	free(wire);
	http_response_release(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct http_request req, part;
	size_t off = 0, consumed = 0, pconsumed = 0;
	enum http_parse_result r;

	if (size > HTTP_MAX_REQUEST)
		return 0;

	/* Split reads: any prefix of a request must not be refused when the
	 * whole is accepted, nor accepted while incomplete. */
	r = http_request_parse(buf, size, &req, &consumed);
	if (size > 0) {
		size_t cut = ((size_t)data[0] * 131 + (size_t)data[size - 1]) % size;
		enum http_parse_result pr = http_request_parse(buf, cut, &part, &pconsumed);

		if (r == HTTP_PARSE_DONE)
			check(cut < consumed ? pr == HTTP_PARSE_PARTIAL
					     : pr == HTTP_PARSE_DONE && pconsumed == consumed);
		else if (r == HTTP_PARSE_PARTIAL)
			check(pr == HTTP_PARSE_PARTIAL);
	}

	/* Pipelining: step over each complete request. */
	while (off < size) {
		r = http_request_parse(buf + off, size - off, &req, &consumed);
		if (r == HTTP_PARSE_ERROR) {
			error_respond(&req);
			break;
		}
		if (r == HTTP_PARSE_PARTIAL)
			break;
		check(consumed > 0 && consumed <= size - off);
		check(strlen(req.path) <= HTTP_MAX_PATH && req.path[0] == '/');
		check(req.body_len == req.content_length && req.body_len <= HTTP_MAX_BODY);
		if (req.body_len > 0)
			check(req.body >= buf + off &&
			      req.body + req.body_len <= buf + off + consumed);
		off += consumed;
	}
	return 0;
}
