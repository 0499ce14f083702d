/* The one place that talks to yajl (ARCHITECTURE.md). Parsing uses yajl's
 * event parser, not yajl_tree: the tree is ours, so every node can record
 * where it sits in the document, numbers keep their original text (yajl_tree
 * would have converted them, losing range information), and the depth limit
 * is enforced while parsing instead of after yajl has built, and would have
 * to recursively free, an arbitrarily deep tree. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl_gen.h>
#include <yajl_parse.h>

#include "common/json.h"
#include "common/util.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)

struct kiln_json {
	enum kiln_json_type type;
	struct kiln_json *parent;
	/* Position in the parent: the array index, or the member's position. */
	size_t index;
	/* Member name when the parent is an object; may hold NUL bytes. */
	char *key;
	size_t key_len;
	union {
		bool b;
		/* A string's bytes, or a number's text as written. */
		struct {
			char *s;
			size_t len;
		} str;
		struct {
			struct kiln_json **v;
			size_t len, cap;
		} kids;
	} u;
};

/* yajl allocates through these, so it shares our out-of-memory policy. */
static void *yajl_xmalloc(void *ctx, size_t size)
{
	(void)ctx;
	return xmalloc(size);
}

static void *yajl_xrealloc(void *ctx, void *p, size_t size)
{
	(void)ctx;
	return xrealloc(p, size);
}

static void yajl_xfree(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

static yajl_alloc_funcs json_alloc_funcs(void)
{
	yajl_alloc_funcs funcs = {
	    .malloc = yajl_xmalloc, .realloc = yajl_xrealloc, .free = yajl_xfree, .ctx = NULL};

	return funcs;
}

/* A growable string for messages and paths. */
struct strbuf {
	char *s;
	size_t len, cap;
};

static void strbuf_add(struct strbuf *sb, const char *s, size_t len)
{
	if (sb->len + len + 1 > sb->cap) {
		sb->cap = (sb->len + len + 1) * 2;
		sb->s = xrealloc(sb->s, sb->cap);
	}
	memcpy(sb->s + sb->len, s, len);
	sb->len += len;
	sb->s[sb->len] = '\0';
}

static void json_node_free(struct kiln_json *node)
{
	if (node == NULL)
		return;
	/* Recursion is bounded: no document is deeper than
	 * KILN_JSON_MAX_DEPTH. */
	if (node->type == KILN_JSON_ARRAY || node->type == KILN_JSON_OBJECT) {
		for (size_t i = 0; i < node->u.kids.len; i++)
			json_node_free(node->u.kids.v[i]);
		free(node->u.kids.v);
	} else if (node->type == KILN_JSON_STRING || node->type == KILN_JSON_NUMBER) {
		free(node->u.str.s);
	}
	free(node->key);
	free(node);
}

void kiln_json_free(kiln_json_t *root)
{
	json_node_free(root);
}

/* ---- parsing ---- */

struct parse_ctx {
	struct kiln_json *root;
	/* Innermost open array or object, NULL at top level. */
	struct kiln_json *cur;
	size_t depth;
	/* Name of the member whose value comes next. */
	char *key;
	size_t key_len;
	/* Why a callback stopped the parse. */
	const char *fail;
};

static char *copy_bytes(const void *s, size_t len)
{
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static struct kiln_json *parse_add(struct parse_ctx *c, enum kiln_json_type type)
{
	struct kiln_json *node, *parent = c->cur;

	if (parent == NULL && c->root != NULL) {
		/* yajl allows one top-level value; do not trust that blindly. */
		c->fail = "more than one top-level value";
		return NULL;
	}
	node = xzalloc(sizeof(*node));
	node->type = type;
	if (parent == NULL) {
		c->root = node;
		return node;
	}

	node->parent = parent;
	node->index = parent->u.kids.len;
	if (parent->type == KILN_JSON_OBJECT) {
		node->key = TAKE_PTR(c->key);
		node->key_len = c->key_len;
	}
	if (parent->u.kids.len == parent->u.kids.cap) {
		parent->u.kids.cap = parent->u.kids.cap ? parent->u.kids.cap * 2 : 4;
		parent->u.kids.v =
		    xrealloc(parent->u.kids.v, parent->u.kids.cap * sizeof(parent->u.kids.v[0]));
	}
	parent->u.kids.v[parent->u.kids.len++] = node;
	return node;
}

static int parse_null(void *ctx)
{
	return parse_add(ctx, KILN_JSON_NULL) != NULL;
}

static int parse_boolean(void *ctx, int v)
{
	struct kiln_json *node = parse_add(ctx, KILN_JSON_BOOL);

	if (node == NULL)
		return 0;
	node->u.b = v != 0;
	return 1;
}

static int parse_number(void *ctx, const char *s, size_t len)
{
	struct kiln_json *node = parse_add(ctx, KILN_JSON_NUMBER);

	if (node == NULL)
		return 0;
	node->u.str.s = copy_bytes(s, len);
	node->u.str.len = len;
	return 1;
}

static int parse_string(void *ctx, const unsigned char *s, size_t len)
{
	struct kiln_json *node = parse_add(ctx, KILN_JSON_STRING);

	if (node == NULL)
		return 0;
	node->u.str.s = copy_bytes(s, len);
	node->u.str.len = len;
	return 1;
}

static int parse_map_key(void *ctx, const unsigned char *s, size_t len)
{
	struct parse_ctx *c = ctx;

	free(c->key);
	c->key = copy_bytes(s, len);
	c->key_len = len;
	return 1;
}

static int parse_open(struct parse_ctx *c, enum kiln_json_type type)
{
	struct kiln_json *node;

	if (c->depth >= KILN_JSON_MAX_DEPTH) {
		c->fail = "nesting deeper than " STRINGIFY(KILN_JSON_MAX_DEPTH) " levels";
		return 0;
	}
	node = parse_add(c, type);
	if (node == NULL)
		return 0;
	c->cur = node;
	c->depth++;
	return 1;
}

static int parse_close(struct parse_ctx *c)
{
	c->cur = c->cur->parent;
	c->depth--;
	return 1;
}

static int parse_start_map(void *ctx)
{
	return parse_open(ctx, KILN_JSON_OBJECT);
}

static int parse_start_array(void *ctx)
{
	return parse_open(ctx, KILN_JSON_ARRAY);
}

static int parse_end(void *ctx)
{
	return parse_close(ctx);
}

static const yajl_callbacks parse_callbacks = {
    .yajl_null = parse_null,
    .yajl_boolean = parse_boolean,
    /* With yajl_number set, yajl hands over the text and converts nothing. */
    .yajl_number = parse_number,
    .yajl_string = parse_string,
    .yajl_start_map = parse_start_map,
    .yajl_map_key = parse_map_key,
    .yajl_end_map = parse_end,
    .yajl_start_array = parse_start_array,
    .yajl_end_array = parse_end,
};

static bool is_all_space(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return false;
	return true;
}

/* yajl's message is "lexical error: invalid char in json text.\n" or, in
 * verbose mode, several lines with the text around the error. Keep the
 * short form's substance: the part after the category, as one line. */
static int parse_error(yajl_handle h, const char *text, size_t len, size_t offset,
		       kiln_error_t *err)
{
	unsigned char *raw = yajl_get_error(h, 0, (const unsigned char *)text, len);
	const char *msg = (const char *)raw;
	const char *colon = strstr(msg, "error: ");
	size_t n;
	int r;

	if (colon != NULL)
		msg = colon + strlen("error: ");
	n = strcspn(msg, "\n");
	while (n > 0 && (msg[n - 1] == '.' || msg[n - 1] == ' '))
		n--;
	if (n == strlen("premature EOF") && strncmp(msg, "premature EOF", n) == 0)
		r = kiln_error_make(err, 0, "invalid JSON at byte %zu: unexpected end of input",
				    offset);
	else
		r = kiln_error_make(err, 0, "invalid JSON at byte %zu: %.*s", offset, (int)n, msg);
	yajl_free_error(h, raw);
	return r;
}

int kiln_json_parse(const char *text, size_t len, kiln_json_t **out, kiln_error_t *err)
{
	yajl_alloc_funcs funcs = json_alloc_funcs();
	struct parse_ctx c = {0};
	yajl_handle h;
	yajl_status st;
	int r = 0;

	if (is_all_space(text, len))
		return kiln_error_make(err, 0, "invalid JSON: empty document");

	/* The defaults are what we want: strings are UTF-8-validated, and
	 * comments, trailing garbage and multiple values are refused. */
	h = yajl_alloc(&parse_callbacks, &funcs, &c);
	st = yajl_parse(h, (const unsigned char *)text, len);
	if (st == yajl_status_client_canceled)
		r = kiln_error_make(err, 0, "invalid JSON at byte %zu: %s",
				    yajl_get_bytes_consumed(h), c.fail);
	else if (st != yajl_status_ok)
		r = parse_error(h, text, len, yajl_get_bytes_consumed(h), err);
	else if (yajl_complete_parse(h) != yajl_status_ok)
		/* Only an unfinished document fails here: it ended early. */
		r = parse_error(h, text, len, len, err);
	yajl_free(h);

	free(c.key);
	if (r < 0) {
		json_node_free(c.root);
		return r;
	}
	*out = c.root;
	return 0;
}

/* ---- inspection ---- */

enum kiln_json_type kiln_json_type(const kiln_json_t *node)
{
	return node ? node->type : KILN_JSON_NULL;
}

const char *kiln_json_type_name(enum kiln_json_type type)
{
	switch (type) {
	case KILN_JSON_NULL:
		return "null";
	case KILN_JSON_BOOL:
		return "boolean";
	case KILN_JSON_NUMBER:
		return "number";
	case KILN_JSON_STRING:
		return "string";
	case KILN_JSON_ARRAY:
		return "array";
	case KILN_JSON_OBJECT:
		return "object";
	}
	return "unknown";
}

bool kiln_json_is_null(const kiln_json_t *node)
{
	return node != NULL && node->type == KILN_JSON_NULL;
}

bool kiln_json_is_bool(const kiln_json_t *node)
{
	return node != NULL && node->type == KILN_JSON_BOOL;
}

bool kiln_json_is_number(const kiln_json_t *node)
{
	return node != NULL && node->type == KILN_JSON_NUMBER;
}

bool kiln_json_is_integer(const kiln_json_t *node)
{
	return kiln_json_is_number(node) && strpbrk(node->u.str.s, ".eE") == NULL;
}

bool kiln_json_is_string(const kiln_json_t *node)
{
	return node != NULL && node->type == KILN_JSON_STRING;
}

bool kiln_json_is_array(const kiln_json_t *node)
{
	return node != NULL && node->type == KILN_JSON_ARRAY;
}

bool kiln_json_is_object(const kiln_json_t *node)
{
	return node != NULL && node->type == KILN_JSON_OBJECT;
}

static const kiln_json_t *json_member(const kiln_json_t *node, const char *key, size_t key_len)
{
	if (!kiln_json_is_object(node))
		return NULL;
	/* Backwards: the last of duplicate keys wins. */
	for (size_t i = node->u.kids.len; i-- > 0;) {
		const kiln_json_t *kid = node->u.kids.v[i];

		if (kid->key_len == key_len && memcmp(kid->key, key, key_len) == 0)
			return kid;
	}
	return NULL;
}

const kiln_json_t *kiln_json_get(const kiln_json_t *node, const char *key)
{
	if (key == NULL)
		return NULL;
	return json_member(node, key, strlen(key));
}

size_t kiln_json_array_len(const kiln_json_t *node)
{
	return kiln_json_is_array(node) ? node->u.kids.len : 0;
}

const kiln_json_t *kiln_json_array_get(const kiln_json_t *node, size_t i)
{
	if (!kiln_json_is_array(node) || i >= node->u.kids.len)
		return NULL;
	return node->u.kids.v[i];
}

size_t kiln_json_object_len(const kiln_json_t *node)
{
	return kiln_json_is_object(node) ? node->u.kids.len : 0;
}

const char *kiln_json_object_key(const kiln_json_t *node, size_t i)
{
	if (!kiln_json_is_object(node) || i >= node->u.kids.len)
		return NULL;
	return node->u.kids.v[i]->key;
}

const kiln_json_t *kiln_json_object_value(const kiln_json_t *node, size_t i)
{
	if (!kiln_json_is_object(node) || i >= node->u.kids.len)
		return NULL;
	return node->u.kids.v[i];
}

char *kiln_json_path(const kiln_json_t *node)
{
	/* A node has at most KILN_JSON_MAX_DEPTH containers above it. */
	const kiln_json_t *chain[KILN_JSON_MAX_DEPTH + 1];
	struct strbuf sb = {0};
	size_t n = 0;

	for (; node != NULL && node->parent != NULL && n < ARRAY_SIZE(chain); node = node->parent)
		chain[n++] = node;

	strbuf_add(&sb, "", 0);
	while (n-- > 0) {
		const kiln_json_t *p = chain[n];

		if (p->parent->type == KILN_JSON_ARRAY) {
			char idx[32];
			int l = snprintf(idx, sizeof(idx), "[%zu]", p->index);

			strbuf_add(&sb, idx, (size_t)l);
		} else {
			if (sb.len > 0)
				strbuf_add(&sb, ".", 1);
			strbuf_add(&sb, p->key, strlen(p->key));
		}
	}
	return sb.s;
}

/* ---- typed getters ---- */

int kiln_json_error(kiln_error_t *err, const kiln_json_t *node, const char *fmt, ...)
{
	cleanup_free char *path = node ? kiln_json_path(node) : NULL;
	cleanup_free char *what = NULL;
	va_list ap;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	if (path == NULL || *path == '\0')
		return kiln_error_make(err, 0, "%s", what);
	return kiln_error_make(err, 0, "%s: %s", path, what);
}

/* Parses "[N]" at *p; advances *p past it. */
static bool path_index(const char **p, size_t *idx)
{
	const char *s = *p + 1;
	size_t v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (SIZE_MAX - (size_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (size_t)(*s - '0');
	}
	if (*s != ']')
		return false;
	*p = s + 1;
	*idx = v;
	return true;
}

/* Length of the key at p: up to '.', '[' or the end; ']' is never valid. */
static size_t path_key_len(const char *p)
{
	size_t n = strcspn(p, ".[]");

	return p[n] == ']' ? 0 : n;
}

static bool path_is_valid(const char *path)
{
	const char *p = path;
	bool first = true;

	while (*p != '\0') {
		size_t idx, n;

		if (*p == '[') {
			if (!path_index(&p, &idx))
				return false;
		} else {
			if (!first) {
				if (*p != '.')
					return false;
				p++;
			}
			n = path_key_len(p);
			if (n == 0)
				return false;
			p += n;
		}
		first = false;
	}
	return true;
}

/* Finds the node at path below node. Returns 0 with *found set, NULL when
 * absent (JSON null counts as absent, as it does for Go's decoder), or -1
 * when a node on the way has the wrong type or the path is malformed. */
static int json_lookup(const kiln_json_t *node, const char *path, const kiln_json_t **found,
		       kiln_error_t *err)
{
	const char *p = path ? path : "";

	if (!path_is_valid(p)) {
		kiln_error_make(err, 0, "invalid JSON path \"%s\"", p);
		if (err != NULL)
			(*err)->status = EINVAL;
		return -1;
	}

	while (*p != '\0' && node != NULL && node->type != KILN_JSON_NULL) {
		if (*p == '[') {
			size_t idx = 0;

			path_index(&p, &idx);
			if (node->type != KILN_JSON_ARRAY)
				return kiln_json_error(err, node, "expected array");
			node = kiln_json_array_get(node, idx);
		} else {
			size_t n;

			if (*p == '.')
				p++;
			n = path_key_len(p);
			if (node->type != KILN_JSON_OBJECT)
				return kiln_json_error(err, node, "expected object");
			node = json_member(node, p, n);
			p += n;
		}
	}
	*found = kiln_json_is_null(node) ? NULL : node;
	return 0;
}

/* The number's text for a message, cut short if a hostile document made it
 * huge. */
static int number_range_error(kiln_error_t *err, const kiln_json_t *node)
{
	const size_t max = 40;

	if (node->u.str.len > max)
		return kiln_json_error(err, node, "%.*s... is out of range", (int)max,
				       node->u.str.s);
	return kiln_json_error(err, node, "%s is out of range", node->u.str.s);
}

/* Magnitude and sign of an integer literal (already validated by the
 * parser). False when the magnitude does not fit in 64 bits. */
static bool integer_parse(const char *s, bool *neg, uint64_t *mag)
{
	uint64_t v = 0;

	*neg = *s == '-';
	if (*neg)
		s++;
	for (; *s != '\0'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*mag = v;
	return true;
}

int kiln_json_get_string(const kiln_json_t *node, const char *path, const char **out,
			 kiln_error_t *err)
{
	const kiln_json_t *n = NULL;

	if (json_lookup(node, path, &n, err) < 0)
		return -1;
	if (n == NULL)
		return 1;
	if (n->type != KILN_JSON_STRING)
		return kiln_json_error(err, n, "expected string");
	if (memchr(n->u.str.s, '\0', n->u.str.len) != NULL)
		return kiln_json_error(err, n, "string contains a NUL character");
	*out = n->u.str.s;
	return 0;
}

int kiln_json_get_bool(const kiln_json_t *node, const char *path, bool *out, kiln_error_t *err)
{
	const kiln_json_t *n = NULL;

	if (json_lookup(node, path, &n, err) < 0)
		return -1;
	if (n == NULL)
		return 1;
	if (n->type != KILN_JSON_BOOL)
		return kiln_json_error(err, n, "expected boolean");
	*out = n->u.b;
	return 0;
}

int kiln_json_get_int64(const kiln_json_t *node, const char *path, int64_t *out, kiln_error_t *err)
{
	const kiln_json_t *n = NULL;
	uint64_t mag;
	bool neg;

	if (json_lookup(node, path, &n, err) < 0)
		return -1;
	if (n == NULL)
		return 1;
	if (!kiln_json_is_integer(n))
		return kiln_json_error(err, n, "expected integer");
	if (!integer_parse(n->u.str.s, &neg, &mag))
		return number_range_error(err, n);
	if (neg) {
		if (mag > (uint64_t)INT64_MAX + 1)
			return number_range_error(err, n);
		*out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	} else {
		if (mag > INT64_MAX)
			return number_range_error(err, n);
		*out = (int64_t)mag;
	}
	return 0;
}

/* Unsigned integer up to max. */
static int json_get_unsigned(const kiln_json_t *node, const char *path, uint64_t max, uint64_t *out,
			     kiln_error_t *err)
{
	const kiln_json_t *n = NULL;
	uint64_t mag;
	bool neg;

	if (json_lookup(node, path, &n, err) < 0)
		return -1;
	if (n == NULL)
		return 1;
	if (!kiln_json_is_integer(n))
		return kiln_json_error(err, n, "expected unsigned integer");
	/* "-0" is zero, any other negative number is below the range. */
	if (!integer_parse(n->u.str.s, &neg, &mag) || (neg && mag != 0) || mag > max)
		return number_range_error(err, n);
	*out = mag;
	return 0;
}

int kiln_json_get_uint64(const kiln_json_t *node, const char *path, uint64_t *out,
			 kiln_error_t *err)
{
	return json_get_unsigned(node, path, UINT64_MAX, out, err);
}

int kiln_json_get_uint32(const kiln_json_t *node, const char *path, uint32_t *out,
			 kiln_error_t *err)
{
	uint64_t v = 0;
	int r = json_get_unsigned(node, path, UINT32_MAX, &v, err);

	if (r == 0)
		*out = (uint32_t)v;
	return r;
}

int kiln_json_get_double(const kiln_json_t *node, const char *path, double *out, kiln_error_t *err)
{
	const kiln_json_t *n = NULL;
	double v;

	if (json_lookup(node, path, &n, err) < 0)
		return -1;
	if (n == NULL)
		return 1;
	if (n->type != KILN_JSON_NUMBER)
		return kiln_json_error(err, n, "expected number");
	/* kiln never calls setlocale(), so strtod's decimal point is '.'.
	 * Underflow to zero or a subnormal is fine; overflow is not. */
	v = strtod(n->u.str.s, NULL);
	if (isinf(v))
		return number_range_error(err, n);
	*out = v;
	return 0;
}

static int json_get_container(const kiln_json_t *node, const char *path, enum kiln_json_type type,
			      const kiln_json_t **out, kiln_error_t *err)
{
	const kiln_json_t *n = NULL;

	if (json_lookup(node, path, &n, err) < 0)
		return -1;
	if (n == NULL)
		return 1;
	if (n->type != type)
		return kiln_json_error(err, n, "expected %s", kiln_json_type_name(type));
	*out = n;
	return 0;
}

int kiln_json_get_object(const kiln_json_t *node, const char *path, const kiln_json_t **out,
			 kiln_error_t *err)
{
	return json_get_container(node, path, KILN_JSON_OBJECT, out, err);
}

int kiln_json_get_array(const kiln_json_t *node, const char *path, const kiln_json_t **out,
			kiln_error_t *err)
{
	return json_get_container(node, path, KILN_JSON_ARRAY, out, err);
}

/* ---- generator ---- */

struct gen_level {
	bool is_map;
	/* In a map: the next call must be a key (or the close). */
	bool want_key;
};

struct kiln_json_gen {
	yajl_gen g;
	struct gen_level stack[KILN_JSON_GEN_MAX_DEPTH];
	size_t depth;
	/* A whole top-level value has been written. */
	bool done;
	/* The first misuse; everything after it fails. */
	kiln_error_t error;
};

kiln_json_gen_t *kiln_json_gen_new(bool pretty)
{
	yajl_alloc_funcs funcs = json_alloc_funcs();
	kiln_json_gen_t *gen = xzalloc(sizeof(*gen));

	gen->g = yajl_gen_alloc(&funcs);
	/* Invalid UTF-8 would make a document other parsers reject. */
	yajl_gen_config(gen->g, yajl_gen_validate_utf8, 1);
	if (pretty) {
		yajl_gen_config(gen->g, yajl_gen_beautify, 1);
		yajl_gen_config(gen->g, yajl_gen_indent_string, "\t");
	}
	return gen;
}

void kiln_json_gen_free(kiln_json_gen_t *gen)
{
	if (gen == NULL)
		return;
	yajl_gen_free(gen->g);
	kiln_error_free(&gen->error);
	free(gen);
}

__attribute__((format(printf, 2, 3))) static int gen_fail(kiln_json_gen_t *gen, const char *fmt,
							  ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;

	if (gen->error != NULL)
		return -1;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	return kiln_error_make(&gen->error, 0, "JSON generator: %s", msg);
}

static int gen_status(kiln_json_gen_t *gen, yajl_gen_status st)
{
	switch (st) {
	case yajl_gen_status_ok:
		return 0;
	case yajl_gen_invalid_string:
		return gen_fail(gen, "invalid UTF-8 in string");
	case yajl_gen_invalid_number:
		return gen_fail(gen, "invalid number");
	case yajl_max_depth_exceeded:
		return gen_fail(gen, "nesting deeper than %d levels", KILN_JSON_GEN_MAX_DEPTH);
	default:
		/* Our own state checks run first, so yajl should never get here. */
		return gen_fail(gen, "yajl generator status %d", (int)st);
	}
}

static struct gen_level *gen_top(kiln_json_gen_t *gen)
{
	return gen->depth > 0 ? &gen->stack[gen->depth - 1] : NULL;
}

static int gen_before_value(kiln_json_gen_t *gen)
{
	struct gen_level *top = gen_top(gen);

	if (gen->error != NULL)
		return -1;
	if (gen->done)
		return gen_fail(gen, "more than one top-level value");
	if (top != NULL && top->is_map && top->want_key)
		return gen_fail(gen, "value where an object key is expected");
	return 0;
}

static int gen_after_value(kiln_json_gen_t *gen, yajl_gen_status st)
{
	struct gen_level *top;

	if (gen_status(gen, st) < 0)
		return -1;
	top = gen_top(gen);
	if (top == NULL)
		gen->done = true;
	else if (top->is_map)
		top->want_key = true;
	return 0;
}

static int gen_open(kiln_json_gen_t *gen, bool is_map)
{
	yajl_gen_status st;

	if (gen_before_value(gen) < 0)
		return -1;
	if (gen->depth >= KILN_JSON_GEN_MAX_DEPTH)
		return gen_fail(gen, "nesting deeper than %d levels", KILN_JSON_GEN_MAX_DEPTH);
	st = is_map ? yajl_gen_map_open(gen->g) : yajl_gen_array_open(gen->g);
	if (gen_status(gen, st) < 0)
		return -1;
	gen->stack[gen->depth++] = (struct gen_level){.is_map = is_map, .want_key = is_map};
	return 0;
}

static int gen_close(kiln_json_gen_t *gen, bool is_map)
{
	struct gen_level *top = gen_top(gen);
	yajl_gen_status st;

	if (gen->error != NULL)
		return -1;
	if (top == NULL || top->is_map != is_map)
		return gen_fail(gen, "closing an %s that is not open", is_map ? "object" : "array");
	if (is_map && !top->want_key)
		return gen_fail(gen, "object closed after a key without a value");
	st = is_map ? yajl_gen_map_close(gen->g) : yajl_gen_array_close(gen->g);
	gen->depth--;
	return gen_after_value(gen, st);
}

int kiln_json_gen_map_open(kiln_json_gen_t *gen)
{
	return gen_open(gen, true);
}

int kiln_json_gen_map_close(kiln_json_gen_t *gen)
{
	return gen_close(gen, true);
}

int kiln_json_gen_array_open(kiln_json_gen_t *gen)
{
	return gen_open(gen, false);
}

int kiln_json_gen_array_close(kiln_json_gen_t *gen)
{
	return gen_close(gen, false);
}

int kiln_json_gen_key(kiln_json_gen_t *gen, const char *key)
{
	struct gen_level *top = gen_top(gen);

	if (gen->error != NULL)
		return -1;
	if (key == NULL)
		return gen_fail(gen, "NULL key");
	if (top == NULL || !top->is_map)
		return gen_fail(gen, "key \"%s\" outside an object", key);
	if (!top->want_key)
		return gen_fail(gen, "key \"%s\" where a value is expected", key);
	if (gen_status(gen, yajl_gen_string(gen->g, (const unsigned char *)key, strlen(key))) < 0)
		return -1;
	top->want_key = false;
	return 0;
}

int kiln_json_gen_string_len(kiln_json_gen_t *gen, const char *s, size_t len)
{
	if (gen_before_value(gen) < 0)
		return -1;
	if (s == NULL)
		return gen_fail(gen, "NULL string");
	return gen_after_value(gen, yajl_gen_string(gen->g, (const unsigned char *)s, len));
}

int kiln_json_gen_string(kiln_json_gen_t *gen, const char *s)
{
	return kiln_json_gen_string_len(gen, s, s ? strlen(s) : 0);
}

int kiln_json_gen_int64(kiln_json_gen_t *gen, int64_t v)
{
	if (gen_before_value(gen) < 0)
		return -1;
	return gen_after_value(gen, yajl_gen_integer(gen->g, (long long)v));
}

int kiln_json_gen_uint64(kiln_json_gen_t *gen, uint64_t v)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);

	/* yajl_gen_integer takes a long long, too small for the top half. */
	if (gen_before_value(gen) < 0)
		return -1;
	return gen_after_value(gen, yajl_gen_number(gen->g, buf, (size_t)n));
}

int kiln_json_gen_double(kiln_json_gen_t *gen, double v)
{
	char buf[64];
	int n = 0;

	if (gen_before_value(gen) < 0)
		return -1;
	if (!isfinite(v))
		return gen_fail(gen, "%f cannot be represented in JSON", v);
	/* yajl_gen_double prints %.20g, which turns 0.1 into
	 * 0.10000000000000000555; the shortest exact form is friendlier. */
	for (int prec = 1; prec <= 17; prec++) {
		n = snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return gen_after_value(gen, yajl_gen_number(gen->g, buf, (size_t)n));
}

int kiln_json_gen_bool(kiln_json_gen_t *gen, bool v)
{
	if (gen_before_value(gen) < 0)
		return -1;
	return gen_after_value(gen, yajl_gen_bool(gen->g, v));
}

int kiln_json_gen_null(kiln_json_gen_t *gen)
{
	if (gen_before_value(gen) < 0)
		return -1;
	return gen_after_value(gen, yajl_gen_null(gen->g));
}

int kiln_json_gen_kv_string(kiln_json_gen_t *gen, const char *key, const char *s)
{
	if (kiln_json_gen_key(gen, key) < 0)
		return -1;
	return s ? kiln_json_gen_string(gen, s) : kiln_json_gen_null(gen);
}

int kiln_json_gen_kv_int64(kiln_json_gen_t *gen, const char *key, int64_t v)
{
	if (kiln_json_gen_key(gen, key) < 0)
		return -1;
	return kiln_json_gen_int64(gen, v);
}

int kiln_json_gen_kv_uint64(kiln_json_gen_t *gen, const char *key, uint64_t v)
{
	if (kiln_json_gen_key(gen, key) < 0)
		return -1;
	return kiln_json_gen_uint64(gen, v);
}

int kiln_json_gen_kv_bool(kiln_json_gen_t *gen, const char *key, bool v)
{
	if (kiln_json_gen_key(gen, key) < 0)
		return -1;
	return kiln_json_gen_bool(gen, v);
}

int kiln_json_gen_finish(kiln_json_gen_t *gen, char **out, size_t *len, kiln_error_t *err)
{
	const unsigned char *buf;
	size_t n;

	if (gen->error != NULL)
		return kiln_error_make(err, 0, "%s", gen->error->msg);
	if (gen->depth > 0)
		return kiln_error_make(err, 0, "JSON generator: %zu unclosed object(s) or array(s)",
				       gen->depth);
	if (!gen->done)
		return kiln_error_make(err, 0, "JSON generator: empty document");
	if (yajl_gen_get_buf(gen->g, &buf, &n) != yajl_gen_status_ok)
		return kiln_error_make(err, 0, "JSON generator: no output buffer");
	*out = copy_bytes(buf, n);
	if (len != NULL)
		*len = n;
	return 0;
}
