/* vmm/api/http.c: request parsing (every limit and error path, split reads,
 * pipelining) and response writing. */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "tests/unit/tap.h"
#include "vmm/api/http.h"

static enum http_parse_result parse_str(const char *s, struct http_request *req, size_t *consumed)
{
	*consumed = 0;
	return http_request_parse(s, strlen(s), req, consumed);
}

/* The request must be refused with this status and a message containing
 * `what`. */
static int expect_error(const char *s, size_t len, int status, const char *what)
{
	struct http_request req;
	size_t consumed = 0;
	enum http_parse_result r = http_request_parse(s, len, &req, &consumed);

	if (r != HTTP_PARSE_ERROR || req.error_status != status ||
	    strstr(req.error_msg, what) == NULL) {
		tap_diag("request %.40s: result %d status %d msg \"%s\"; want %d with \"%s\"", s, r,
			 req.error_status, req.error_msg, status, what);
		return TAP_FAIL;
	}
	return TAP_PASS;
}

#define CHECK_ERROR(s, status, what)                                                               \
	TAP_CHECK(expect_error((s), strlen(s), (status), (what)) == TAP_PASS)

static int test_get_simple(void)
{
	struct http_request req;
	size_t consumed;
	const char *s = "GET /machine-config HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";

	TAP_CHECK(parse_str(s, &req, &consumed) == HTTP_PARSE_DONE);
	TAP_CHECK(req.method == HTTP_METHOD_GET);
	TAP_CHECK_STR(req.method_name, "GET");
	TAP_CHECK_STR(req.path, "/machine-config");
	TAP_CHECK(req.version_minor == 1);
	TAP_CHECK(req.keep_alive);
	TAP_CHECK(!req.expect_continue);
	TAP_CHECK(req.body == NULL && req.body_len == 0);
	TAP_CHECK(consumed == strlen(s));
	TAP_CHECK(req.header_len == strlen(s));
	return TAP_PASS;
}

static int test_put_body(void)
{
	struct http_request req;
	size_t consumed;
	const char *s = "PUT /vsock HTTP/1.1\r\nContent-Type: application/json\r\n"
			"content-length:   13  \r\n\r\n{\"a\": \"xyz\"}!";

	TAP_CHECK(parse_str(s, &req, &consumed) == HTTP_PARSE_DONE);
	TAP_CHECK(req.method == HTTP_METHOD_PUT);
	TAP_CHECK(req.content_length == 13);
	TAP_CHECK(req.body_len == 13);
	TAP_CHECK(memcmp(req.body, "{\"a\": \"xyz\"}!", 13) == 0);
	TAP_CHECK(consumed == strlen(s));
	return TAP_PASS;
}

static int test_patch_and_other_methods(void)
{
	struct http_request req;
	size_t consumed;

	TAP_CHECK(parse_str("PATCH /vm HTTP/1.1\r\n\r\n", &req, &consumed) == HTTP_PARSE_DONE);
	TAP_CHECK(req.method == HTTP_METHOD_PATCH);
	TAP_CHECK(parse_str("DELETE /vm HTTP/1.1\r\n\r\n", &req, &consumed) == HTTP_PARSE_DONE);
	TAP_CHECK(req.method == HTTP_METHOD_OTHER);
	TAP_CHECK_STR(req.method_name, "DELETE");
	/* Methods are case-sensitive: "get" is a different, unknown method. */
	TAP_CHECK(parse_str("get / HTTP/1.1\r\n\r\n", &req, &consumed) == HTTP_PARSE_DONE);
	TAP_CHECK(req.method == HTTP_METHOD_OTHER);
	return TAP_PASS;
}

/* Every split point of a request must give PARTIAL before the end and the
 * same request at the end, as if bytes trickled in one read at a time. */
static int test_split_reads(void)
{
	const char *s = "PUT /drives/rootfs HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n"
			"{\"drive_id\":\"root\"}\n";
	size_t len = strlen(s);

	for (size_t i = 0; i < len; i++) {
		struct http_request req;
		size_t consumed = 0;
		enum http_parse_result r = http_request_parse(s, i, &req, &consumed);

		if (r != HTTP_PARSE_PARTIAL) {
			tap_diag("prefix of %zu bytes: result %d (%s)", i, r, req.error_msg);
			return TAP_FAIL;
		}
		/* Once the blank line is in, the headers are known. */
		TAP_CHECK(req.headers_done == (i >= len - 20));
		if (req.headers_done)
			TAP_CHECK(req.request_len == len);
	}
	{
		struct http_request req;
		size_t consumed = 0;

		TAP_CHECK(http_request_parse(s, len, &req, &consumed) == HTTP_PARSE_DONE);
		TAP_CHECK(consumed == len);
		TAP_CHECK_STR(req.path, "/drives/rootfs");
		TAP_CHECK(req.body_len == 20);
	}
	return TAP_PASS;
}

static int test_pipelined(void)
{
	const char *s = "PUT /actions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
			"GET /version HTTP/1.1\r\n\r\n"
			"PATCH /vm HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
			"GET /";
	size_t off = 0, consumed;
	struct http_request req;

	TAP_CHECK(http_request_parse(s + off, strlen(s + off), &req, &consumed) == HTTP_PARSE_DONE);
	TAP_CHECK_STR(req.path, "/actions");
	TAP_CHECK(req.body_len == 2 && memcmp(req.body, "{}", 2) == 0);
	off += consumed;
	TAP_CHECK(http_request_parse(s + off, strlen(s + off), &req, &consumed) == HTTP_PARSE_DONE);
	TAP_CHECK_STR(req.path, "/version");
	TAP_CHECK(req.body == NULL);
	off += consumed;
	TAP_CHECK(http_request_parse(s + off, strlen(s + off), &req, &consumed) == HTTP_PARSE_DONE);
	TAP_CHECK_STR(req.path, "/vm");
	TAP_CHECK(req.body_len == 3 && memcmp(req.body, "abc", 3) == 0);
	off += consumed;
	/* The fourth request has only begun. */
	TAP_CHECK(http_request_parse(s + off, strlen(s + off), &req, &consumed) ==
		  HTTP_PARSE_PARTIAL);
	TAP_CHECK(!req.headers_done);
	return TAP_PASS;
}

static int test_leading_blank_lines_and_lf(void)
{
	struct http_request req;
	size_t consumed;
	const char *s = "\r\n\r\nGET /vm/config HTTP/1.1\nHost: a\n\n";

	TAP_CHECK(parse_str(s, &req, &consumed) == HTTP_PARSE_DONE);
	TAP_CHECK_STR(req.path, "/vm/config");
	TAP_CHECK(consumed == strlen(s));
	TAP_CHECK(parse_str("\r\n", &req, &consumed) == HTTP_PARSE_PARTIAL);
	return TAP_PASS;
}

static int test_target_forms(void)
{
	struct http_request req;
	size_t consumed;

	TAP_CHECK(parse_str("GET /machine-config?x=1&y HTTP/1.1\r\n\r\n", &req, &consumed) ==
		  HTTP_PARSE_DONE);
	TAP_CHECK_STR(req.path, "/machine-config");
	TAP_CHECK(parse_str("GET http://localhost/vm/config HTTP/1.1\r\n\r\n", &req, &consumed) ==
		  HTTP_PARSE_DONE);
	TAP_CHECK_STR(req.path, "/vm/config");
	TAP_CHECK(parse_str("GET http://localhost HTTP/1.1\r\n\r\n", &req, &consumed) ==
		  HTTP_PARSE_DONE);
	TAP_CHECK_STR(req.path, "/");
	CHECK_ERROR("GET machine-config HTTP/1.1\r\n\r\n", 400, "must start with '/'");
	CHECK_ERROR("OPTIONS * HTTP/1.1\r\n\r\n", 400, "must start with '/'");
	return TAP_PASS;
}

static int test_bad_request_line(void)
{
	CHECK_ERROR("GET\r\n\r\n", 400, "malformed request line");
	CHECK_ERROR("GET /\r\n\r\n", 400, "malformed request line");
	CHECK_ERROR("GET  / HTTP/1.1\r\n\r\n", 400, "malformed request line");
	CHECK_ERROR("GET / HTTP/1.1 x\r\n\r\n", 400, "HTTP version");
	CHECK_ERROR("GET /  HTTP/1.1\r\n\r\n", 400, "malformed request line");
	CHECK_ERROR(" GET / HTTP/1.1\r\n\r\n", 400, "does not start with a method");
	CHECK_ERROR("GET / HTTX/1.1\r\n\r\n", 400, "malformed HTTP version");
	CHECK_ERROR("GET / HTTP/11\r\n\r\n", 400, "malformed HTTP version");
	CHECK_ERROR("GET / HTTP/2.0\r\n\r\n", 505, "not supported");
	CHECK_ERROR("GE(T / HTTP/1.1\r\n\r\n", 400, "request method");
	CHECK_ERROR("VERYLONGMETHODNAMEX / HTTP/1.1\r\n\r\n", 400, "method is longer");
	CHECK_ERROR("GET /a\tb HTTP/1.1\r\n\r\n", 400, "invalid byte 0x09");
	CHECK_ERROR("GET /a\rb HTTP/1.1\r\n\r\n", 400, "bare CR");
	return TAP_PASS;
}

static int test_http10_and_connection(void)
{
	struct http_request req;
	size_t consumed;

	TAP_CHECK(parse_str("GET / HTTP/1.0\r\n\r\n", &req, &consumed) == HTTP_PARSE_DONE);
	TAP_CHECK(req.version_minor == 0 && !req.keep_alive);
	TAP_CHECK(parse_str("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req, &consumed) ==
		  HTTP_PARSE_DONE);
	TAP_CHECK(req.keep_alive);
	TAP_CHECK(parse_str("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", &req, &consumed) ==
		  HTTP_PARSE_DONE);
	TAP_CHECK(!req.keep_alive);
	/* A later minor version is read as the 1.1 we speak. */
	TAP_CHECK(parse_str("GET / HTTP/1.9\r\n\r\n", &req, &consumed) == HTTP_PARSE_DONE);
	TAP_CHECK(req.version_minor == 1 && req.keep_alive);
	return TAP_PASS;
}

static int test_bad_headers(void)
{
	CHECK_ERROR("GET / HTTP/1.1\r\n folded\r\n\r\n", 400, "folding");
	CHECK_ERROR("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "without ':'");
	CHECK_ERROR("GET / HTTP/1.1\r\n: empty\r\n\r\n", 400, "empty name");
	CHECK_ERROR("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "header name");
	CHECK_ERROR("GET / HTTP/1.1\r\nX-A: a\x01"
		    "b\r\n\r\n",
		    400, "invalid byte 0x01 in header X-A");
	CHECK_ERROR("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400, "bare CR");
	CHECK_ERROR("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
		    "Transfer-Encoding");
	CHECK_ERROR("PUT / HTTP/1.1\r\nExpect: something\r\n\r\n", 417, "expectation");
	{
		/* obs-text (bytes >= 0x80) is allowed in values. */
		struct http_request req;
		size_t consumed;

		TAP_CHECK(parse_str("GET / HTTP/1.1\r\nUser-Agent: caf\xc3\xa9\r\n\r\n", &req,
				    &consumed) == HTTP_PARSE_DONE);
	}
	return TAP_PASS;
}

static int test_bad_content_length(void)
{
	struct http_request req;
	size_t consumed;

	CHECK_ERROR("PUT / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400, "not a number");
	CHECK_ERROR("PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "not a number");
	CHECK_ERROR("PUT / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400, "not a number");
	CHECK_ERROR("PUT / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400, "not a number");
	CHECK_ERROR("PUT / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "empty");
	CHECK_ERROR("PUT / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", 400,
		    "conflicting");
	/* The same length twice is harmless. */
	TAP_CHECK(parse_str("PUT / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
			    &req, &consumed) == HTTP_PARSE_DONE);
	TAP_CHECK(req.body_len == 2);
	CHECK_ERROR("PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413,
		    "exceeds the limit");
	return TAP_PASS;
}

static int test_missing_body(void)
{
	struct http_request req;
	size_t consumed;

	/* Fewer bytes than announced: wait for the rest. */
	TAP_CHECK(parse_str("PUT /vm HTTP/1.1\r\nContent-Length: 10\r\n\r\n{\"st", &req,
			    &consumed) == HTTP_PARSE_PARTIAL);
	TAP_CHECK(req.headers_done);
	TAP_CHECK(req.content_length == 10);
	TAP_CHECK(req.request_len == 40 + 10);
	/* No Content-Length means no body: the routes report it missing. */
	TAP_CHECK(parse_str("PUT /vm HTTP/1.1\r\n\r\n", &req, &consumed) == HTTP_PARSE_DONE);
	TAP_CHECK(req.body == NULL && req.body_len == 0);
	return TAP_PASS;
}

static int test_expect_continue(void)
{
	struct http_request req;
	size_t consumed;

	TAP_CHECK(parse_str("PUT /vm HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n",
			    &req, &consumed) == HTTP_PARSE_PARTIAL);
	TAP_CHECK(req.headers_done && req.expect_continue);
	return TAP_PASS;
}

static int test_oversized_headers(void)
{
	size_t n = HTTP_MAX_HEADER_BYTES + 100;
	cleanup_free char *s = xmalloc(n + 1);
	cleanup_free char *many = NULL;
	struct http_request req;
	size_t consumed;

	/* One huge header, never finished. */
	memset(s, 'a', n);
	memcpy(s, "GET / HTTP/1.1\r\nX-Big: ", 23);
	s[n] = '\0';
	TAP_CHECK(expect_error(s, n, 431, "exceed") == TAP_PASS);
	/* Just under the limit is still only incomplete. */
	TAP_CHECK(http_request_parse(s, HTTP_MAX_HEADER_BYTES - 1, &req, &consumed) ==
		  HTTP_PARSE_PARTIAL);

	/* Too many small headers. */
	many = xstrdup("GET / HTTP/1.1\r\n");
	for (int i = 0; i <= HTTP_MAX_HEADERS; i++) {
		char *t = xasprintf("%sX-%d: v\r\n", many, i);

		free(many);
		many = t;
	}
	{
		char *t = xasprintf("%s\r\n", many);

		free(many);
		many = t;
	}
	CHECK_ERROR(many, 431, "header fields");

	/* A request line longer than any path. */
	memset(s, 'a', n);
	memcpy(s, "GET /", 5);
	TAP_CHECK(expect_error(s, HTTP_MAX_PATH + 200, 414, "longer than") == TAP_PASS);
	return TAP_PASS;
}

static int test_long_target(void)
{
	cleanup_free char *path = xmalloc(HTTP_MAX_PATH + 2);
	cleanup_free char *s = NULL;
	struct http_request req;
	size_t consumed;

	memset(path, 'p', HTTP_MAX_PATH + 1);
	path[0] = '/';
	path[HTTP_MAX_PATH + 1] = '\0';
	s = xasprintf("GET %s HTTP/1.1\r\n\r\n", path);
	CHECK_ERROR(s, 414, "longer than");
	path[HTTP_MAX_PATH] = '\0';
	free(s);
	s = xasprintf("GET %s HTTP/1.1\r\n\r\n", path);
	TAP_CHECK(parse_str(s, &req, &consumed) == HTTP_PARSE_DONE);
	TAP_CHECK(strlen(req.path) == HTTP_MAX_PATH);
	return TAP_PASS;
}

static int test_oversized_body(void)
{
	size_t hdr_len;
	cleanup_free char *hdr =
	    xasprintf("PUT / HTTP/1.1\r\nContent-Length: %d\r\n\r\n", HTTP_MAX_BODY);
	cleanup_free char *s = NULL;
	cleanup_free char *over = NULL;
	struct http_request req;
	size_t consumed;

	/* Exactly at the limit is accepted. */
	hdr_len = strlen(hdr);
	s = xmalloc(hdr_len + HTTP_MAX_BODY);
	memcpy(s, hdr, hdr_len);
	memset(s + hdr_len, 'b', HTTP_MAX_BODY);
	TAP_CHECK(http_request_parse(s, hdr_len + HTTP_MAX_BODY - 1, &req, &consumed) ==
		  HTTP_PARSE_PARTIAL);
	TAP_CHECK(http_request_parse(s, hdr_len + HTTP_MAX_BODY, &req, &consumed) ==
		  HTTP_PARSE_DONE);
	TAP_CHECK(req.body_len == HTTP_MAX_BODY);
	TAP_CHECK(hdr_len + HTTP_MAX_BODY <= HTTP_MAX_REQUEST);

	/* One byte more is refused from the header alone. */
	over = xasprintf("PUT / HTTP/1.1\r\nContent-Length: %d\r\n\r\n", HTTP_MAX_BODY + 1);
	CHECK_ERROR(over, 413, "exceeds the limit of 51200 bytes");
	return TAP_PASS;
}

static int test_garbage(void)
{
	static const char bin[] = "\xff\xfe\x00\x01garbage";
	unsigned int seed = 12345;

	/* Refused at once, without waiting for a newline. */
	TAP_CHECK(expect_error(bin, sizeof(bin) - 1, 400, "invalid byte 0xff") == TAP_PASS);
	TAP_CHECK(expect_error("\x16\x03\x01\x02\x00", 5, 400, "invalid byte") == TAP_PASS);
	CHECK_ERROR("hello world, this is not HTTP\r\n\r\n", 400, "must start with");
	CHECK_ERROR("G\xc3\xa9T / HTTP/1.1\r\n", 400, "invalid byte 0xc3");

	/* Random bytes: never a crash, always a definite answer. */
	for (int round = 0; round < 2000; round++) {
		char buf[64];
		size_t n = (size_t)(rand_r(&seed) % (int)sizeof(buf));
		struct http_request req;
		size_t consumed = 0;
		enum http_parse_result r;

		for (size_t i = 0; i < n; i++)
			buf[i] = (char)rand_r(&seed);
		r = http_request_parse(buf, n, &req, &consumed);
		TAP_CHECK(r == HTTP_PARSE_PARTIAL || r == HTTP_PARSE_ERROR ||
			  (r == HTTP_PARSE_DONE && consumed <= n));
		if (r == HTTP_PARSE_ERROR)
			TAP_CHECK(req.error_status >= 400 && req.error_msg[0] != '\0');
	}
	return TAP_PASS;
}

static int test_response_json(void)
{
	struct http_response resp;
	cleanup_free char *wire = NULL;
	size_t len;

	http_response_init(&resp);
	http_response_set_json(&resp, 200, xstrdup("{\"a\":1}"));
	wire = http_response_serialize(&resp, true, &len);
	TAP_CHECK(len == strlen(wire));
	TAP_CHECK_STR(wire, "HTTP/1.1 200 OK\r\nServer: kiln-vmm\r\nConnection: keep-alive\r\n"
			    "Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
	http_response_release(&resp);
	return TAP_PASS;
}

static int test_response_no_content(void)
{
	struct http_response resp;
	cleanup_free char *wire = NULL;
	size_t len;

	http_response_init(&resp);
	http_response_set_json(&resp, 204, NULL);
	wire = http_response_serialize(&resp, false, &len);
	TAP_CHECK_STR(wire, "HTTP/1.1 204 No Content\r\nServer: kiln-vmm\r\nConnection: "
			    "close\r\n\r\n");
	TAP_CHECK(len == strlen(wire));
	http_response_release(&resp);
	return TAP_PASS;
}

static int test_response_fault(void)
{
	struct http_response resp;
	cleanup_free char *wire = NULL;
	size_t len;

	http_response_init(&resp);
	http_response_set_fault(&resp, 400, "field \"%s\": bad\n", "x");
	TAP_CHECK(resp.status == 400);
	TAP_CHECK_STR(resp.body, "{\"fault_message\":\"field \\\"x\\\": bad\\n\"}");
	TAP_CHECK(resp.body_len == strlen(resp.body));

	/* Invalid UTF-8 in a message still yields valid JSON. */
	http_response_set_fault(&resp, 404, "unknown path '%s'", "/\xff");
	TAP_CHECK(resp.status == 404);
	TAP_CHECK(strstr(resp.body, "not valid UTF-8") != NULL);

	http_response_set_fault(&resp, 405, "nope");
	resp.allow = "GET, PUT";
	wire = http_response_serialize(&resp, true, &len);
	TAP_CHECK(strncmp(wire, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0);
	TAP_CHECK(strstr(wire, "\r\nAllow: GET, PUT\r\n") != NULL);
	TAP_CHECK(strstr(wire, "\r\nContent-Length: 24\r\n") != NULL);
	http_response_release(&resp);
	TAP_CHECK(resp.body == NULL);
	return TAP_PASS;
}

static int test_status_reason(void)
{
	TAP_CHECK_STR(http_status_reason(400), "Bad Request");
	TAP_CHECK_STR(http_status_reason(404), "Not Found");
	TAP_CHECK_STR(http_status_reason(413), "Content Too Large");
	TAP_CHECK_STR(http_status_reason(431), "Request Header Fields Too Large");
	TAP_CHECK_STR(http_status_reason(505), "HTTP Version Not Supported");
	TAP_CHECK_STR(http_status_reason(299), "Unknown");
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_get_simple), TAP_TEST(test_put_body), TAP_TEST(test_patch_and_other_methods),
	 TAP_TEST(test_split_reads), TAP_TEST(test_pipelined),
	 TAP_TEST(test_leading_blank_lines_and_lf), TAP_TEST(test_target_forms),
	 TAP_TEST(test_bad_request_line), TAP_TEST(test_http10_and_connection),
	 TAP_TEST(test_bad_headers), TAP_TEST(test_bad_content_length), TAP_TEST(test_missing_body),
	 TAP_TEST(test_expect_continue), TAP_TEST(test_oversized_headers),
	 TAP_TEST(test_long_target), TAP_TEST(test_oversized_body), TAP_TEST(test_garbage),
	 TAP_TEST(test_response_json), TAP_TEST(test_response_no_content),
	 TAP_TEST(test_response_fault), TAP_TEST(test_status_reason))
