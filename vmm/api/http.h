/* The HTTP/1.1 subset kiln-vmm's API speaks (RFC 9112), as Firecracker's
 * micro_http does: one request at a time per connection, bodies framed only
 * by Content-Length, keep-alive by default. The parser never allocates: the
 * request points into the caller's buffer, so a connection can parse again
 * as more bytes arrive (split reads) and step over complete requests one by
 * one (pipelining). Every limit is explicit, since the socket is reachable
 * by anything that can open it. */
#ifndef KILN_VMM_API_HTTP_H
#define KILN_VMM_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* Request line plus header fields, including the blank line that ends
 * them. Firecracker's requests are a few hundred bytes. */
#define HTTP_MAX_HEADER_BYTES 8192
#define HTTP_MAX_HEADERS      64
/* Firecracker's limit on a request body (MAX_PAYLOAD_SIZE, 51200 bytes). */
#define HTTP_MAX_BODY 51200
/* Longest request target we accept; API paths are short. */
#define HTTP_MAX_PATH 1024
/* A whole request fits in this many bytes, so a fixed buffer of this size
 * per connection can always hold the request being parsed. */
#define HTTP_MAX_REQUEST (HTTP_MAX_HEADER_BYTES + HTTP_MAX_BODY)

enum http_method {
	HTTP_METHOD_GET,
	HTTP_METHOD_PUT,
	HTTP_METHOD_PATCH,
	/* A well-formed method the API has no use for (POST, DELETE...):
	 * routing answers 405 rather than the parser 400. */
	HTTP_METHOD_OTHER,
};

enum http_parse_result {
	/* A complete request; *consumed says how many bytes it took. */
	HTTP_PARSE_DONE,
	/* More bytes are needed. When headers_done is set the request line
	 * and headers are valid and only the body is missing. */
	HTTP_PARSE_PARTIAL,
	/* Malformed or over a limit: error_status and error_msg say why. The
	 * connection's framing is lost, so it must be closed after the
	 * error response. */
	HTTP_PARSE_ERROR,
};

struct http_request {
	enum http_method method;
	char method_name[16];
	/* The request target up to '?', NUL-terminated; the query, if any,
	 * is dropped (no API path uses one). */
	char path[HTTP_MAX_PATH + 1];
	int version_minor; /* HTTP/1.<version_minor>: 0 or 1 */
	bool keep_alive;
	/* "Expect: 100-continue": the client waits for an interim 100
	 * before sending the body. */
	bool expect_continue;
	bool headers_done;
	size_t header_len;     /* bytes of request line + headers + blank line */
	size_t content_length; /* 0 without a Content-Length header */
	/* Once headers_done: bytes of buf the whole request takes, so a
	 * caller can wait for that much instead of parsing again. */
	size_t request_len;
	/* Borrowed from the parse buffer; not NUL-terminated. NULL when
	 * body_len is 0. */
	const char *body;
	size_t body_len;
	/* On HTTP_PARSE_ERROR: the status to answer with (400, 413, 414,
	 * 417, 431, 505) and a one-line message naming the problem. */
	int error_status;
	char error_msg[160];
};

/* Parses one request from buf[0..len). On HTTP_PARSE_DONE, *consumed is the
 * request's length in buf; bytes after it belong to the next request. */
enum http_parse_result http_request_parse(const char *buf, size_t len, struct http_request *req,
					  size_t *consumed);

/* A response under construction; body is owned. */
struct http_response {
	int status;
	char *body; /* JSON, or NULL for none */
	size_t body_len;
	/* For 405: the methods the path accepts ("GET, PUT"), a static
	 * string; RFC 9110 §15.5.6 requires an Allow header there. */
	const char *allow;
};

void http_response_init(struct http_response *resp);
void http_response_release(struct http_response *resp);

/* Sets the status and takes ownership of json (may be NULL for no body). */
void http_response_set_json(struct http_response *resp, int status, char *json);

/* Sets status and the body {"fault_message": "<msg>"} Firecracker uses for
 * every error. */
__attribute__((format(printf, 3, 4))) void
http_response_set_fault(struct http_response *resp, int status, const char *fmt, ...);

/* "OK", "No Content", "Bad Request"...; "Unknown" for a status we never
 * send. */
const char *http_status_reason(int status);

/* The response's bytes on the wire: status line, Server, Connection,
 * Content-Type and Content-Length (neither on a 204, RFC 9110 §8.6),
 * Allow on a 405, then the body. Returns an allocated buffer, its length
 * in *len. */
char *http_response_serialize(const struct http_response *resp, bool keep_alive, size_t *len);

#endif
