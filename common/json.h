/* JSON for all of kiln: a parsed document is a read-only tree of nodes that
 * each know their path from the document root, so that a type error can say
 * exactly where it is ("mounts[2].destination: expected string"); and a
 * generator that reports misuse instead of writing broken JSON. yajl does
 * the lexing and the escaping, but only json.c knows that. */
#ifndef KILN_COMMON_JSON_H
#define KILN_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Deepest nesting of objects and arrays a document may have. A limit keeps a
 * hostile document from exhausting memory or stack. */
#define KILN_JSON_MAX_DEPTH 128

/* yajl's generator stops one level short of that. */
#define KILN_JSON_GEN_MAX_DEPTH 127

typedef struct kiln_json kiln_json_t;

enum kiln_json_type {
	KILN_JSON_NULL,
	KILN_JSON_BOOL,
	KILN_JSON_NUMBER,
	KILN_JSON_STRING,
	KILN_JSON_ARRAY,
	KILN_JSON_OBJECT,
};

/* Parses exactly one JSON value filling text[0..len) (surrounding whitespace
 * allowed). Strict: no comments, no trailing garbage, strings must be valid
 * UTF-8, nesting at most KILN_JSON_MAX_DEPTH. Numbers are kept as written,
 * so range is checked by the getter that reads them. Errors are one line:
 * "invalid JSON at byte N: <what>". */
int kiln_json_parse(const char *text, size_t len, kiln_json_t **out, kiln_error_t *err);

/* Frees a whole document; accepts NULL. Only roots may be freed. */
void kiln_json_free(kiln_json_t *root);

static inline void kiln_json_free_fn(kiln_json_t **p)
{
	kiln_json_free(*p);
}
#define cleanup_json __attribute__((cleanup(kiln_json_free_fn)))

/* Node inspection. Every function accepts a NULL node: predicates return
 * false, lengths 0, lookups NULL. */
enum kiln_json_type kiln_json_type(const kiln_json_t *node);
const char *kiln_json_type_name(enum kiln_json_type type);
bool kiln_json_is_null(const kiln_json_t *node);
bool kiln_json_is_bool(const kiln_json_t *node);
bool kiln_json_is_number(const kiln_json_t *node);
/* A number written without fraction or exponent, whatever its size. */
bool kiln_json_is_integer(const kiln_json_t *node);
bool kiln_json_is_string(const kiln_json_t *node);
bool kiln_json_is_array(const kiln_json_t *node);
bool kiln_json_is_object(const kiln_json_t *node);

/* Member of an object, or NULL. With duplicate keys the last one wins, as in
 * Go's encoding/json (what runc and containerd use). */
const kiln_json_t *kiln_json_get(const kiln_json_t *node, const char *key);

size_t kiln_json_array_len(const kiln_json_t *node);
const kiln_json_t *kiln_json_array_get(const kiln_json_t *node, size_t i);

/* Members in document order (duplicates included). A key holding \u0000
 * reads as cut short at the NUL. */
size_t kiln_json_object_len(const kiln_json_t *node);
const char *kiln_json_object_key(const kiln_json_t *node, size_t i);
const kiln_json_t *kiln_json_object_value(const kiln_json_t *node, size_t i);

/* The node's path from the document root, e.g. "mounts[2].destination";
 * "" for the root. For callers composing their own messages. */
char *kiln_json_path(const kiln_json_t *node);

/* For validators: sets *err to "<path of node>: <what>" (just "<what>" at
 * the root or for a NULL node) and returns -1, like kiln_error_make. */
__attribute__((format(printf, 3, 4))) int
kiln_json_error(kiln_error_t *err, const kiln_json_t *node, const char *fmt, ...);

/* Typed getters. path is relative to node: keys separated by '.', array
 * indexes as "[N]" ("process.user.uid", "mounts[2].destination", "[0]"); ""
 * means node itself. They return
 *   0  found, of the right type; *out set
 *   1  absent (missing member, index past the end, JSON null, node NULL);
 *      *out untouched, so a default can be stored there beforehand
 *  <0  *err says where and what, with the path from the document root:
 *      "process.user.uid: expected unsigned integer",
 *      "process.user.uid: 99999999999999999999 is out of range".
 * A node on the way that has the wrong type is an error for that node.
 * Strings with an embedded NUL (\u0000) are refused, as C cannot hold them.
 * Borrowed results live as long as the document. */
int kiln_json_get_string(const kiln_json_t *node, const char *path, const char **out,
			 kiln_error_t *err);
int kiln_json_get_bool(const kiln_json_t *node, const char *path, bool *out, kiln_error_t *err);
int kiln_json_get_int64(const kiln_json_t *node, const char *path, int64_t *out, kiln_error_t *err);
int kiln_json_get_uint64(const kiln_json_t *node, const char *path, uint64_t *out,
			 kiln_error_t *err);
int kiln_json_get_uint32(const kiln_json_t *node, const char *path, uint32_t *out,
			 kiln_error_t *err);
/* Any number; one too large for a double is out of range. */
int kiln_json_get_double(const kiln_json_t *node, const char *path, double *out, kiln_error_t *err);
int kiln_json_get_object(const kiln_json_t *node, const char *path, const kiln_json_t **out,
			 kiln_error_t *err);
int kiln_json_get_array(const kiln_json_t *node, const char *path, const kiln_json_t **out,
			kiln_error_t *err);

/* Generator. Calls return 0, or -1 once the generator is in error: the first
 * misuse (a key where a value belongs, a value where a key belongs, closing
 * what is not open, a second top-level value, invalid UTF-8, NaN) is
 * remembered and every later call fails, so a caller may emit a whole
 * document and check only kiln_json_gen_finish(). */
typedef struct kiln_json_gen kiln_json_gen_t;

/* pretty: one member per line, tab-indented, like `runc spec`. */
kiln_json_gen_t *kiln_json_gen_new(bool pretty);
void kiln_json_gen_free(kiln_json_gen_t *gen);

static inline void kiln_json_gen_free_fn(kiln_json_gen_t **p)
{
	kiln_json_gen_free(*p);
}
#define cleanup_json_gen __attribute__((cleanup(kiln_json_gen_free_fn)))

int kiln_json_gen_map_open(kiln_json_gen_t *gen);
int kiln_json_gen_map_close(kiln_json_gen_t *gen);
int kiln_json_gen_array_open(kiln_json_gen_t *gen);
int kiln_json_gen_array_close(kiln_json_gen_t *gen);
int kiln_json_gen_key(kiln_json_gen_t *gen, const char *key);
int kiln_json_gen_string(kiln_json_gen_t *gen, const char *s);
int kiln_json_gen_string_len(kiln_json_gen_t *gen, const char *s, size_t len);
int kiln_json_gen_int64(kiln_json_gen_t *gen, int64_t v);
int kiln_json_gen_uint64(kiln_json_gen_t *gen, uint64_t v);
/* Shortest form that reads back as the same double. */
int kiln_json_gen_double(kiln_json_gen_t *gen, double v);
int kiln_json_gen_bool(kiln_json_gen_t *gen, bool v);
int kiln_json_gen_null(kiln_json_gen_t *gen);
/* A key and its value in one call; a NULL string is written as null. */
int kiln_json_gen_kv_string(kiln_json_gen_t *gen, const char *key, const char *s);
int kiln_json_gen_kv_int64(kiln_json_gen_t *gen, const char *key, int64_t v);
int kiln_json_gen_kv_uint64(kiln_json_gen_t *gen, const char *key, uint64_t v);
int kiln_json_gen_kv_bool(kiln_json_gen_t *gen, const char *key, bool v);

/* Copies the complete document into *out (allocated, NUL-terminated; *len
 * excludes the NUL and may be NULL). Fails with the first recorded error, or
 * when the document is empty or has unclosed containers. */
int kiln_json_gen_finish(kiln_json_gen_t *gen, char **out, size_t *len, kiln_error_t *err);

#endif
