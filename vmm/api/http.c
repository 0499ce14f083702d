/* HTTP/1.1 request parsing and response writing for the API socket. */
#include "vmm/api/http.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "common/util.h"

#define SERVER_NAME "kiln-vmm"

__attribute__((format(printf, 3, 4))) static enum http_parse_result
parse_fail(struct http_request *req, int status, const char *fmt, ...)
{
	va_list ap;

	req->error_status = status;
	va_start(ap, fmt);
	vsnprintf(req->error_msg, sizeof(req->error_msg), fmt, ap);
	va_end(ap);
	return HTTP_PARSE_ERROR;
}

/* RFC 9110 §5.6.2 token characters. */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* The request line is printable ASCII with single spaces (RFC 9112 §3). */
static bool is_request_line_byte(unsigned char c)
{
	return c >= 0x20 && c < 0x7f;
}

/* Field values may hold HTAB, SP, VCHAR and obs-text (RFC 9110 §5.5). */
static bool is_field_value_byte(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Case-insensitive comparison of a counted string with a C string. */
static bool token_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* Checks an incomplete request line as far as it goes, so garbage is
 * refused as soon as it arrives instead of after HTTP_MAX_HEADER_BYTES. */
static enum http_parse_result request_line_prefix_check(const char *s, size_t n,
							struct http_request *req)
{
	size_t method_len = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r' && i + 1 == n)
			break;
		if (!is_request_line_byte(c))
			return parse_fail(req, 400, "invalid byte 0x%02x in the request line", c);
	}
	while (method_len < n && s[method_len] != ' ') {
		if (!is_tchar((unsigned char)s[method_len]))
			return parse_fail(req, 400, "invalid character '%c' in the request method",
					  s[method_len]);
		method_len++;
	}
	if (method_len >= sizeof(req->method_name))
		return parse_fail(req, 400, "request method is longer than %zu bytes",
				  sizeof(req->method_name) - 1);
	if (n > HTTP_MAX_PATH + sizeof(req->method_name) + sizeof(" HTTP/1.1") + 1)
		return parse_fail(req, 414, "request target is longer than %d bytes",
				  HTTP_MAX_PATH);
	return HTTP_PARSE_PARTIAL;
}

static enum http_parse_result request_line_parse(const char *s, size_t n, struct http_request *req)
{
	const char *end = s + n, *p = s, *target, *target_end, *path_end;
	size_t len;

	for (size_t i = 0; i < n; i++)
		if (!is_request_line_byte((unsigned char)s[i]))
			return parse_fail(req, 400, "invalid byte 0x%02x in the request line",
					  (unsigned char)s[i]);

	while (p < end && *p != ' ')
		p++;
	len = (size_t)(p - s);
	if (len == 0)
		return parse_fail(req, 400, "request line does not start with a method");
	if (len >= sizeof(req->method_name))
		return parse_fail(req, 400, "request method is longer than %zu bytes",
				  sizeof(req->method_name) - 1);
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return parse_fail(req, 400, "invalid character '%c' in the request method",
					  s[i]);
	memcpy(req->method_name, s, len);
	req->method_name[len] = '\0';
	/* Methods are case-sensitive (RFC 9110 §9.1). */
	if (streq(req->method_name, "GET"))
		req->method = HTTP_METHOD_GET;
	else if (streq(req->method_name, "PUT"))
		req->method = HTTP_METHOD_PUT;
	else if (streq(req->method_name, "PATCH"))
		req->method = HTTP_METHOD_PATCH;
	else
		req->method = HTTP_METHOD_OTHER;

	if (p == end || *p != ' ' || p + 1 == end || p[1] == ' ')
		return parse_fail(req, 400,
				  "malformed request line: expected "
				  "'METHOD /path HTTP/1.1'");
	target = ++p;
	while (p < end && *p != ' ')
		p++;
	target_end = p;
	if (p == end || p + 1 == end || p[1] == ' ')
		return parse_fail(req, 400,
				  "malformed request line: expected "
				  "'METHOD /path HTTP/1.1'");
	p++;

	/* The whole target counts, query included, so that the limit holds
	 * the same way while the line is still arriving. */
	if ((size_t)(target_end - target) > HTTP_MAX_PATH)
		return parse_fail(req, 414, "request target is longer than %d bytes",
				  HTTP_MAX_PATH);
	/* Absolute form (RFC 9112 §3.2.2) names the same resource; the
	 * authority means nothing on a unix socket. */
	if ((size_t)(target_end - target) > 7 && strncasecmp(target, "http://", 7) == 0) {
		target += 7;
		while (target < target_end && *target != '/' && *target != '?')
			target++;
		/* "http://host" alone means "/" (RFC 9112 §3.3). */
		if (target == target_end || *target == '?')
			target = "/", target_end = target + 1;
	}
	if (target == target_end || *target != '/')
		return parse_fail(req, 400, "request target must start with '/'");
	path_end = memchr(target, '?', (size_t)(target_end - target));
	if (path_end == NULL)
		path_end = target_end;
	len = (size_t)(path_end - target);
	memcpy(req->path, target, len);
	req->path[len] = '\0';

	len = (size_t)(end - p);
	if (len != 8 || strncmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.' ||
	    p[7] < '0' || p[7] > '9')
		return parse_fail(req, 400, "malformed HTTP version '%.*s'",
				  (int)(len > 16 ? 16 : len), p);
	if (p[5] != '1')
		return parse_fail(req, 505, "HTTP version %.*s is not supported; use HTTP/1.1",
				  (int)len, p);
	/* A later 1.x is read as 1.1, the highest we speak (RFC 9110 §6.2). */
	req->version_minor = p[7] == '0' ? 0 : 1;
	req->keep_alive = req->version_minor == 1;
	return HTTP_PARSE_DONE;
}

static enum http_parse_result content_length_parse(const char *v, size_t n,
						   struct http_request *req, bool *seen)
{
	uint64_t cl = 0;

	if (n == 0)
		return parse_fail(req, 400, "Content-Length is empty");
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return parse_fail(req, 400, "Content-Length '%.*s' is not a number",
					  (int)(n > 32 ? 32 : n), v);
		if (cl > HTTP_MAX_BODY)
			continue; /* already too big; keep validating digits */
		cl = cl * 10 + (uint64_t)(v[i] - '0');
	}
	/* Two different lengths would let a proxy and us frame differently
	 * (request smuggling), RFC 9112 §6.3. */
	if (*seen && cl != req->content_length)
		return parse_fail(req, 400, "conflicting Content-Length headers");
	if (cl > HTTP_MAX_BODY)
		return parse_fail(req, 413,
				  "request body of %.*s bytes exceeds the limit of %d bytes",
				  (int)(n > 32 ? 32 : n), v, HTTP_MAX_BODY);
	*seen = true;
	req->content_length = (size_t)cl;
	return HTTP_PARSE_DONE;
}

/* Connection is a comma-separated list of options (RFC 9110 §7.6.1). */
static void connection_parse(const char *v, size_t n, struct http_request *req)
{
	const char *end = v + n;

	while (v < end) {
		const char *tok, *tok_end;

		while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		tok = v;
		while (v < end && *v != ',')
			v++;
		tok_end = v;
		while (tok_end > tok && (tok_end[-1] == ' ' || tok_end[-1] == '\t'))
			tok_end--;
		if (token_eq(tok, (size_t)(tok_end - tok), "close"))
			req->keep_alive = false;
		else if (token_eq(tok, (size_t)(tok_end - tok), "keep-alive"))
			req->keep_alive = true;
	}
}

static enum http_parse_result header_parse(const char *s, size_t n, struct http_request *req,
					   bool *cl_seen)
{
	const char *colon = memchr(s, ':', n), *v, *v_end;
	size_t name_len;

	if (s[0] == ' ' || s[0] == '\t')
		return parse_fail(req, 400, "obsolete header line folding is not supported");
	if (colon == NULL)
		return parse_fail(req, 400, "header line without ':'");
	name_len = (size_t)(colon - s);
	if (name_len == 0)
		return parse_fail(req, 400, "header with an empty name");
	for (size_t i = 0; i < name_len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return parse_fail(req, 400, "invalid character 0x%02x in header name",
					  (unsigned char)s[i]);
	v = colon + 1;
	v_end = s + n;
	for (const char *p = v; p < v_end; p++)
		if (!is_field_value_byte((unsigned char)*p))
			return parse_fail(req, 400, "invalid byte 0x%02x in header %.*s",
					  (unsigned char)*p, (int)(name_len > 64 ? 64 : name_len),
					  s);
	while (v < v_end && (*v == ' ' || *v == '\t'))
		v++;
	while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
		v_end--;

	if (token_eq(s, name_len, "Content-Length"))
		return content_length_parse(v, (size_t)(v_end - v), req, cl_seen);
	if (token_eq(s, name_len, "Transfer-Encoding"))
		return parse_fail(req, 400,
				  "Transfer-Encoding is not supported; send Content-Length");
	if (token_eq(s, name_len, "Connection"))
		connection_parse(v, (size_t)(v_end - v), req);
	else if (token_eq(s, name_len, "Expect")) {
		if (!token_eq(v, (size_t)(v_end - v), "100-continue"))
			return parse_fail(req, 417, "unsupported expectation '%.*s'",
					  (int)(v_end - v > 32 ? 32 : v_end - v), v);
		req->expect_continue = true;
	}
	return HTTP_PARSE_DONE;
}

static void request_reset(struct http_request *req)
{
	req->method = HTTP_METHOD_OTHER;
	req->method_name[0] = '\0';
	req->path[0] = '\0';
	req->version_minor = 1;
	req->keep_alive = false;
	req->expect_continue = false;
	req->headers_done = false;
	req->header_len = 0;
	req->content_length = 0;
	req->request_len = 0;
	req->body = NULL;
	req->body_len = 0;
	req->error_status = 0;
	req->error_msg[0] = '\0';
}

enum http_parse_result http_request_parse(const char *buf, size_t len, struct http_request *req,
					  size_t *consumed)
{
	size_t start = 0, pos, limit, nr_headers = 0;
	bool cl_seen = false, first = true;
	enum http_parse_result r;

	request_reset(req);
	/* RFC 9112 §2.2: ignore empty lines before a request line (some
	 * clients send a CRLF after a body). */
	while (start < len && (buf[start] == '\r' || buf[start] == '\n'))
		start++;
	if (start == len)
		return HTTP_PARSE_PARTIAL;

	limit = len - start > HTTP_MAX_HEADER_BYTES ? start + HTTP_MAX_HEADER_BYTES : len;
	pos = start;
	for (;;) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', limit - pos);
		size_t n;

		if (nl == NULL) {
			if (first) {
				r = request_line_prefix_check(line, limit - pos, req);
				if (r == HTTP_PARSE_ERROR)
					return r;
			}
			if (len - start >= HTTP_MAX_HEADER_BYTES)
				return parse_fail(req, 431,
						  "request line and headers exceed %d bytes",
						  HTTP_MAX_HEADER_BYTES);
			return HTTP_PARSE_PARTIAL;
		}
		n = (size_t)(nl - line);
		pos += n + 1;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (memchr(line, '\r', n) != NULL)
			return parse_fail(req, 400, "bare CR in the request header section");

		if (first) {
			r = request_line_parse(line, n, req);
			if (r == HTTP_PARSE_ERROR)
				return r;
			first = false;
			continue;
		}
		if (n == 0)
			break;
		if (++nr_headers > HTTP_MAX_HEADERS)
			return parse_fail(req, 431, "more than %d header fields", HTTP_MAX_HEADERS);
		r = header_parse(line, n, req, &cl_seen);
		if (r == HTTP_PARSE_ERROR)
			return r;
	}

	req->headers_done = true;
	req->header_len = pos - start;
	req->request_len = pos + req->content_length;
	if (len - pos < req->content_length)
		return HTTP_PARSE_PARTIAL;
	if (req->content_length > 0) {
		req->body = buf + pos;
		req->body_len = req->content_length;
	}
	*consumed = pos + req->content_length;
	return HTTP_PARSE_DONE;
}

void http_response_init(struct http_response *resp)
{
	resp->status = 500;
	resp->body = NULL;
	resp->body_len = 0;
	resp->allow = NULL;
}

void http_response_release(struct http_response *resp)
{
	free(resp->body);
	http_response_init(resp);
}

void http_response_set_json(struct http_response *resp, int status, char *json)
{
	free(resp->body);
	resp->status = status;
	resp->body = json;
	resp->body_len = json ? strlen(json) : 0;
}

void http_response_set_fault(struct http_response *resp, int status, const char *fmt, ...)
{
	cleanup_json_gen kiln_json_gen_t *gen = kiln_json_gen_new(false);
	cleanup_free char *msg = NULL;
	char *json = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);

	kiln_json_gen_map_open(gen);
	kiln_json_gen_key(gen, "fault_message");
	/* A message quoting client input could hold invalid UTF-8, which the
	 * generator refuses; the status still says what happened. */
	if (kiln_json_gen_string(gen, msg) < 0) {
		kiln_json_gen_free(gen);
		gen = kiln_json_gen_new(false);
		kiln_json_gen_map_open(gen);
		kiln_json_gen_key(gen, "fault_message");
		kiln_json_gen_string(gen, "invalid request (message not valid UTF-8)");
	}
	kiln_json_gen_map_close(gen);
	if (kiln_json_gen_finish(gen, &json, NULL, NULL) < 0)
		json = xstrdup("{\"fault_message\":\"internal error\"}");
	http_response_set_json(resp, status, json);
}

const char *http_status_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 417:
		return "Expectation Failed";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

char *http_response_serialize(const struct http_response *resp, bool keep_alive, size_t *len)
{
	cleanup_free char *head = NULL;
	char *out;
	size_t head_len;

	if (resp->status == 204)
		head = xasprintf("HTTP/1.1 204 No Content\r\nServer: " SERVER_NAME
				 "\r\nConnection: %s\r\n\r\n",
				 keep_alive ? "keep-alive" : "close");
	else
		head = xasprintf("HTTP/1.1 %d %s\r\nServer: " SERVER_NAME "\r\nConnection: %s\r\n"
				 "%s%s%s"
				 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
				 resp->status, http_status_reason(resp->status),
				 keep_alive ? "keep-alive" : "close", resp->allow ? "Allow: " : "",
				 resp->allow ? resp->allow : "", resp->allow ? "\r\n" : "",
				 resp->body_len);
	head_len = strlen(head);
	if (resp->status == 204 || resp->body_len == 0) {
		*len = head_len;
		return TAKE_PTR(head);
	}
	out = xmalloc(head_len + resp->body_len + 1);
	memcpy(out, head, head_len);
	memcpy(out + head_len, resp->body, resp->body_len);
	out[head_len + resp->body_len] = '\0';
	*len = head_len + resp->body_len;
	return out;
}
