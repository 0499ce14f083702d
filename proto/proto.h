/* The agent protocol between the host (kiln, the shim) and kiln-agent in the
 * guest: framing, and a builder and a typed parser for every message. Both
 * sides link this, so they cannot disagree on the encoding. The protocol
 * itself is written down in docs/agent-protocol.md; keep the two in step. */
#ifndef KILN_PROTO_PROTO_H
#define KILN_PROTO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/json.h"

/* Raised when a message changes incompatibly; `version` reports it. */
#define PROTO_VERSION 1

/* vsock ports the agent listens on (docs/agent-protocol.md "Connections"). */
#define PROTO_CONTROL_PORT 1024
#define PROTO_STDIO_PORT   1025

/* Largest frame payload either side accepts. A length above it (or 0) is a
 * framing error: the stream cannot be resynchronised, so it is closed. */
#define PROTO_MAX_FRAME (1u << 20)

/* Container and exec ids: 1..PROTO_MAX_ID_LEN bytes of [A-Za-z0-9_.-],
 * not starting with '.', so they are safe in guest paths. */
#define PROTO_MAX_ID_LEN 128

/* ---- Framing: a 4-byte big-endian length, then that many bytes of JSON. */

/* Writes one frame (blocking; EINTR and short writes handled). */
int proto_frame_write(int fd, const void *payload, size_t len, kiln_error_t *err);

/* Reads one frame (blocking) into *out (allocated, NUL-terminated, *len
 * excludes the NUL). Returns 0, 1 at a clean end of stream (EOF before the
 * first length byte), or <0: EOF inside a frame, a bad length, a read error. */
int proto_frame_read(int fd, char **out, size_t *len, kiln_error_t *err);

/* The frame for payload as one buffer (header + payload), for event loops
 * that queue output. */
char *proto_frame_encode(const void *payload, size_t len, size_t *out_len);

/* Incremental decoder for non-blocking readers. */
struct proto_decoder {
	uint8_t hdr[4];
	size_t hdr_have;
	char *buf; /* payload being filled once the header is complete */
	size_t need, have;
	bool failed;
};

void proto_decoder_init(struct proto_decoder *d);
void proto_decoder_release(struct proto_decoder *d);

/* Consumes bytes from data[0..len) up to the end of at most one frame and
 * sets *used to how many. Returns 1 with *frame (allocated, NUL-terminated)
 * and *frame_len when a frame completed, 0 when all bytes were taken and
 * more are needed, or <0 on a bad length; the decoder then stays failed. */
int proto_decoder_feed(struct proto_decoder *d, const void *data, size_t len, size_t *used,
		       char **frame, size_t *frame_len, kiln_error_t *err);

/* True between frames (nothing buffered), so EOF here is clean. */
bool proto_decoder_idle(const struct proto_decoder *d);

/* ---- Error codes (the "code" string of an error reply). */
enum proto_errcode {
	PROTO_ERR_INVALID_FRAME,   /* length 0 or above PROTO_MAX_FRAME */
	PROTO_ERR_INVALID_JSON,	   /* payload is not one JSON value */
	PROTO_ERR_INVALID_REQUEST, /* not {"id", "method", "params"} as specified */
	PROTO_ERR_UNKNOWN_METHOD,
	PROTO_ERR_INVALID_PARAMS,
	PROTO_ERR_NOT_IMPLEMENTED,
	PROTO_ERR_NOT_FOUND,	  /* no such container or process */
	PROTO_ERR_ALREADY_EXISTS, /* container or exec id in use */
	PROTO_ERR_INVALID_STATE,  /* e.g. start of a started container */
	PROTO_ERR_FAILED,	  /* the operation failed in the guest */
	PROTO_ERR_COUNT,
};

const char *proto_errcode_name(enum proto_errcode code);
/* Returns 0, or -1 for a name this version does not know. */
int proto_errcode_from_name(const char *name, enum proto_errcode *out);

/* ---- Methods. */
enum proto_method {
	PROTO_M_PING,
	PROTO_M_VERSION,
	PROTO_M_CREATE,
	PROTO_M_START,
	PROTO_M_EXEC,
	PROTO_M_SIGNAL,
	PROTO_M_WAIT,
	PROTO_M_STATS,
	PROTO_M_RESIZE,
	PROTO_M_CLOSE_STDIN,
	PROTO_M_SHUTDOWN,
	PROTO_M_COUNT,
};

const char *proto_method_name(enum proto_method m);
int proto_method_from_name(const char *name, enum proto_method *out);

/* Which standard streams of a process the host attaches over the stdio
 * port; the others are /dev/null. Ignored with a terminal. */
struct proto_stdio {
	bool in, out, err;
};

struct proto_rootfs {
	const char *drive_id; /* virtio-blk serial, /sys/block/X/serial */
	const char *fstype;   /* "ext4" (default), "erofs", ... */
	bool readonly;	      /* mount the disk read-only */
	bool overlay;	      /* writable tmpfs overlay on the disk */
};

/* The network a container's VM is given (create's "network"): the
 * interfaces of the container's network namespace on the host, each a
 * virtio-net device of the VM found by its MAC, and the namespace's routes
 * (docs/agent-protocol.md "Network"). Owned arrays. */
#define PROTO_MAX_INTERFACES 16
#define PROTO_MAX_ADDRESSES  64 /* per interface */
#define PROTO_MAX_ROUTES     256

struct proto_net_prefix {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned len; /* prefix length */
};

struct proto_net_interface {
	char name[16]; /* IFNAMSIZ */
	uint8_t mac[6];
	uint32_t mtu;
	struct proto_net_prefix *addresses;
	size_t n_addresses;
};

struct proto_net_route {
	struct proto_net_prefix dst; /* len 0: the default route */
	bool has_gateway;
	uint8_t gateway[16]; /* of dst.family */
	char interface[16];  /* one of the interfaces' names */
	uint32_t metric;
};

struct proto_network {
	struct proto_net_interface *interfaces;
	size_t n_interfaces;
	struct proto_net_route *routes;
	size_t n_routes;
};

void proto_network_release(struct proto_network *n);
/* {"interfaces": [...], "routes": [...]} */
void proto_network_emit(kiln_json_gen_t *gen, const struct proto_network *n);
/* Parses and checks that object; where names it in messages. */
int proto_network_parse(const kiln_json_t *node, const char *where, struct proto_network *n,
			kiln_error_t *err);
/* "192.0.2.1/24", "2001:db8::1/64" (a bare address is a full-length
 * prefix). proto_net_prefix_format's buffer: PROTO_NET_PREFIX_STRLEN. */
#define PROTO_NET_PREFIX_STRLEN 50
int proto_net_prefix_parse(const char *s, struct proto_net_prefix *p);
void proto_net_prefix_format(const struct proto_net_prefix *p, char *out);

/* create's "volumes": a virtio-fs device of the VM, by its tag, for the
 * agent to mount at path before the container's mounts, whose bind
 * mounts name paths under it (docs/agent-protocol.md). */
#define PROTO_MAX_FS_TAG 36 /* virtio 1.2 §5.11.4: the tag's 36 bytes */
struct proto_volumes {
	const char *tag;  /* NULL: none */
	const char *path; /* absolute guest path */
};

/* Typed params. Strings and JSON nodes are borrowed from the request's
 * document. An exec_id of "" names the container's init process. */
struct proto_create_params {
	const char *container_id;
	const kiln_json_t *spec; /* OCI runtime-spec config object */
	struct proto_rootfs rootfs;
	struct proto_stdio stdio;
	struct proto_network network; /* owned by the request; none: 0 interfaces */
	struct proto_volumes volumes;
};

struct proto_exec_params {
	const char *container_id;
	const char *exec_id;
	const kiln_json_t *process; /* OCI "process" object */
	struct proto_stdio stdio;
};

/* start, wait, stats, close_stdin: container (and process). */
struct proto_target_params {
	const char *container_id;
	const char *exec_id;
};

struct proto_signal_params {
	const char *container_id;
	const char *exec_id;
	int signal; /* 1..64 */
	bool all;   /* every process of the container */
};

struct proto_resize_params {
	const char *container_id;
	const char *exec_id;
	uint16_t width, height; /* columns, rows */
};

struct proto_request {
	kiln_json_t *doc; /* owned */
	bool has_id;	  /* id readable (for error replies) */
	uint64_t id;
	enum proto_method method;
	union {
		struct proto_create_params create;
		struct proto_exec_params exec;
		struct proto_target_params target; /* start/wait/stats/close_stdin */
		struct proto_signal_params signal;
		struct proto_resize_params resize;
	} p;
};

/* Parses and validates one request frame. On failure *code says which
 * error reply to send, *err names the JSON path that is wrong, and
 * req->has_id/req->id say whether the reply can carry the request's id.
 * The request must be released either way. */
int proto_request_parse(const void *buf, size_t len, struct proto_request *req,
			enum proto_errcode *code, kiln_error_t *err);
void proto_request_release(struct proto_request *req);

/* Request builders (host side): the JSON payload of a frame, allocated. */
char *proto_request_simple(uint64_t id, enum proto_method m, size_t *len);
char *proto_request_create(uint64_t id, const struct proto_create_params *p, size_t *len,
			   kiln_error_t *err);
char *proto_request_exec(uint64_t id, const struct proto_exec_params *p, size_t *len,
			 kiln_error_t *err);
/* start, wait, stats, close_stdin. */
char *proto_request_target(uint64_t id, enum proto_method m, const struct proto_target_params *p,
			   size_t *len);
char *proto_request_signal(uint64_t id, const struct proto_signal_params *p, size_t *len);
char *proto_request_resize(uint64_t id, const struct proto_resize_params *p, size_t *len);

/* ---- Replies. */

/* Results. Absent numbers read as 0. */
struct proto_version_result {
	const char *agent;   /* "kiln-agent" */
	const char *version; /* agent version string */
	uint32_t protocol;   /* PROTO_VERSION */
};

struct proto_wait_result {
	int exit_code; /* exit status, or 128 + signal */
	int signal;    /* 0 unless killed by a signal */
	bool core_dumped;
};

struct proto_stats_result {
	uint64_t cpu_usage_usec, cpu_user_usec, cpu_system_usec;
	uint64_t memory_usage, memory_limit; /* limit 0: none */
	uint64_t pids_current, pids_limit;   /* limit 0: none */
};

/* Reply builders (agent side). id NULL writes "id": null (the request's id
 * was unreadable). */
char *proto_reply_error(const uint64_t *id, enum proto_errcode code, const char *message,
			size_t *len);
char *proto_reply_empty(uint64_t id, size_t *len);
char *proto_reply_version(uint64_t id, const struct proto_version_result *r, size_t *len);
char *proto_reply_pid(uint64_t id, int pid, size_t *len); /* create, exec */
char *proto_reply_wait(uint64_t id, const struct proto_wait_result *r, size_t *len);
char *proto_reply_stats(uint64_t id, const struct proto_stats_result *r, size_t *len);

/* A parsed reply (host side). */
struct proto_reply {
	kiln_json_t *doc; /* owned */
	bool has_id;	  /* false for "id": null */
	uint64_t id;
	bool is_error;
	enum proto_errcode code;   /* is_error: PROTO_ERR_COUNT for an unknown code */
	const char *code_name;	   /* is_error: the code as sent */
	const char *message;	   /* is_error */
	const kiln_json_t *result; /* !is_error: an object */
};

int proto_reply_parse(const void *buf, size_t len, struct proto_reply *r, kiln_error_t *err);
void proto_reply_release(struct proto_reply *r);

/* Typed readers for a reply's result object. */
int proto_result_version(const kiln_json_t *result, struct proto_version_result *out,
			 kiln_error_t *err);
int proto_result_pid(const kiln_json_t *result, int *pid, kiln_error_t *err);
int proto_result_wait(const kiln_json_t *result, struct proto_wait_result *out, kiln_error_t *err);
int proto_result_stats(const kiln_json_t *result, struct proto_stats_result *out,
		       kiln_error_t *err);

/* ---- Stdio streams: the host's first frame on a stdio-port connection
 * says which stream it is; the agent answers with one reply frame (id 0),
 * after which the connection carries raw bytes. */
enum proto_stream {
	PROTO_STREAM_STDIN,
	PROTO_STREAM_STDOUT,
	PROTO_STREAM_STDERR,
	PROTO_STREAM_TERMINAL,
	PROTO_STREAM_COUNT,
};

const char *proto_stream_name(enum proto_stream s);

struct proto_attach {
	kiln_json_t *doc; /* owned by a parsed attach */
	const char *container_id;
	const char *exec_id;
	enum proto_stream stream;
};

char *proto_attach_encode(const struct proto_attach *a, size_t *len);
int proto_attach_parse(const void *buf, size_t len, struct proto_attach *a,
		       enum proto_errcode *code, kiln_error_t *err);
void proto_attach_release(struct proto_attach *a);

/* ---- Helpers. */

/* Whether id is a valid container or exec id (see PROTO_MAX_ID_LEN). */
bool proto_id_valid(const char *id, bool allow_empty);

/* Writes node (and everything under it) into gen; numbers must fit an
 * int64, a uint64 or a double. Used to embed a parsed OCI spec. */
int proto_json_emit(kiln_json_gen_t *gen, const kiln_json_t *node, kiln_error_t *err);

#endif
