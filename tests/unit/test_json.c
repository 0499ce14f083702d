#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"
#include "tests/unit/tap.h"

/* An OCI-config-shaped document most tests read from. */
static const char config_doc[] = "{\n"
				 "  \"ociVersion\": \"1.2.0\",\n"
				 "  \"process\": {\n"
				 "    \"terminal\": true,\n"
				 "    \"user\": {\"uid\": 1000, \"gid\": \"wheel\"},\n"
				 "    \"args\": [\"sh\", 42, \"-c\"],\n"
				 "    \"oomScoreAdj\": -17,\n"
				 "    \"rlimitFactor\": 0.5,\n"
				 "    \"env\": null\n"
				 "  },\n"
				 "  \"root\": {\"path\": \"rootfs\", \"readonly\": \"yes\"},\n"
				 "  \"mounts\": [\n"
				 "    {\"destination\": \"/proc\", \"type\": \"proc\"},\n"
				 "    {\"destination\": \"/dev\"},\n"
				 "    {\"destination\": 7}\n"
				 "  ],\n"
				 "  \"matrix\": [[1, 2], [3, [4, 5]]],\n"
				 "  \"memory\": 18446744073709551615,\n"
				 "  \"dup\": 1, \"dup\": 2\n"
				 "}\n";

static kiln_json_t *parse_str(const char *s)
{
	kiln_json_t *root = NULL;
	kiln_error_t err = NULL;

	if (kiln_json_parse(s, strlen(s), &root, &err) < 0) {
		tap_diag("parse failed: %s", err->msg);
		kiln_error_free(&err);
		return NULL;
	}
	return root;
}

/* The message a parse of text[0..len) fails with, or NULL if it succeeds. */
static char *parse_fail(const char *text, size_t len)
{
	kiln_json_t *root = NULL;
	kiln_error_t err = NULL;
	char *msg;

	if (kiln_json_parse(text, len, &root, &err) == 0) {
		kiln_json_free(root);
		return NULL;
	}
	msg = xstrdup(err->msg);
	kiln_error_free(&err);
	return msg;
}

#define CHECK_PARSE_FAILS(text, len, want)                                                         \
	do {                                                                                       \
		cleanup_free char *msg_ = parse_fail((text), (len));                               \
		TAP_CHECK_STR(msg_, (want));                                                       \
	} while (0)

#define CHECK_ERR(call, want)                                                                      \
	do {                                                                                       \
		kiln_error_t e_ = NULL;                                                            \
		int r_ = (call);                                                                   \
		if (r_ >= 0)                                                                       \
			kiln_error_make(&e_, 0, "call returned %d", r_);                           \
		TAP_CHECK(r_ < 0);                                                                 \
		if (!e_ || !e_->msg || strcmp(e_->msg, (want)) != 0) {                             \
			tap_diag("%s:%d: error is \"%s\", want \"%s\"", __FILE__, __LINE__,        \
				 e_ && e_->msg ? e_->msg : "(null)", (want));                      \
			kiln_error_free(&e_);                                                      \
			return TAP_FAIL;                                                           \
		}                                                                                  \
		kiln_error_free(&e_);                                                              \
	} while (0)

/* The err argument CHECK_ERR's call should use. */
#define ERR (&e_)

static int test_parse_tree(void)
{
	cleanup_json kiln_json_t *root = parse_str(config_doc);
	const kiln_json_t *process, *args, *user;

	TAP_CHECK(root != NULL);
	TAP_CHECK(kiln_json_is_object(root));
	TAP_CHECK(kiln_json_type(root) == KILN_JSON_OBJECT);
	TAP_CHECK(kiln_json_object_len(root) == 8);
	TAP_CHECK_STR(kiln_json_object_key(root, 0), "ociVersion");
	TAP_CHECK_STR(kiln_json_object_key(root, 7), "dup");
	TAP_CHECK(kiln_json_object_key(root, 8) == NULL);
	TAP_CHECK(kiln_json_object_value(root, 8) == NULL);
	TAP_CHECK(kiln_json_is_string(kiln_json_object_value(root, 0)));

	process = kiln_json_get(root, "process");
	TAP_CHECK(kiln_json_is_object(process));
	TAP_CHECK(kiln_json_is_bool(kiln_json_get(process, "terminal")));
	TAP_CHECK(kiln_json_is_null(kiln_json_get(process, "env")));
	TAP_CHECK(kiln_json_is_number(kiln_json_get(process, "rlimitFactor")));
	TAP_CHECK(!kiln_json_is_integer(kiln_json_get(process, "rlimitFactor")));
	TAP_CHECK(kiln_json_is_integer(kiln_json_get(process, "oomScoreAdj")));
	TAP_CHECK(kiln_json_get(process, "missing") == NULL);
	TAP_CHECK(kiln_json_get(process, NULL) == NULL);

	args = kiln_json_get(process, "args");
	TAP_CHECK(kiln_json_is_array(args));
	TAP_CHECK(kiln_json_array_len(args) == 3);
	TAP_CHECK(kiln_json_is_string(kiln_json_array_get(args, 0)));
	TAP_CHECK(kiln_json_is_number(kiln_json_array_get(args, 1)));
	TAP_CHECK(kiln_json_array_get(args, 3) == NULL);

	/* Everything is NULL-safe and type-safe. */
	user = kiln_json_get(process, "user");
	TAP_CHECK(kiln_json_array_len(user) == 0);
	TAP_CHECK(kiln_json_array_get(user, 0) == NULL);
	TAP_CHECK(kiln_json_object_len(args) == 0);
	TAP_CHECK(kiln_json_get(args, "x") == NULL);
	TAP_CHECK(kiln_json_get(NULL, "x") == NULL);
	TAP_CHECK(!kiln_json_is_null(NULL) && !kiln_json_is_object(NULL));
	TAP_CHECK(kiln_json_object_len(NULL) == 0 && kiln_json_array_len(NULL) == 0);
	kiln_json_free(NULL);
	return TAP_PASS;
}

static int test_parse_scalars(void)
{
	static const char *const docs[] = {"true",  " false ", "null", "0",	 "-1.5e3",
					   "\"s\"", "[]",      "{}",   "\n[ ]\n"};
	static const enum kiln_json_type types[] = {
	    KILN_JSON_BOOL,   KILN_JSON_BOOL,  KILN_JSON_NULL,	 KILN_JSON_NUMBER, KILN_JSON_NUMBER,
	    KILN_JSON_STRING, KILN_JSON_ARRAY, KILN_JSON_OBJECT, KILN_JSON_ARRAY};

	for (size_t i = 0; i < ARRAY_SIZE(docs); i++) {
		cleanup_json kiln_json_t *root = parse_str(docs[i]);

		TAP_CHECK(root != NULL);
		TAP_CHECK(kiln_json_type(root) == types[i]);
	}
	TAP_CHECK_STR(kiln_json_type_name(KILN_JSON_BOOL), "boolean");
	TAP_CHECK_STR(kiln_json_type_name(KILN_JSON_OBJECT), "object");
	return TAP_PASS;
}

static int test_duplicate_keys_last_wins(void)
{
	cleanup_json kiln_json_t *root = parse_str(config_doc);
	int64_t v = 0;

	TAP_CHECK(kiln_json_get_int64(root, "dup", &v, NULL) == 0);
	TAP_CHECK(v == 2);
	return TAP_PASS;
}

static int test_get_string(void)
{
	cleanup_json kiln_json_t *root = parse_str(config_doc);
	const char *s = "default";

	TAP_CHECK(kiln_json_get_string(root, "ociVersion", &s, NULL) == 0);
	TAP_CHECK_STR(s, "1.2.0");
	TAP_CHECK(kiln_json_get_string(root, "process.user.gid", &s, NULL) == 0);
	TAP_CHECK_STR(s, "wheel");

	s = "default";
	TAP_CHECK(kiln_json_get_string(root, "hostname", &s, NULL) == 1);
	TAP_CHECK(kiln_json_get_string(root, "process.missing.deeper", &s, NULL) == 1);
	TAP_CHECK_STR(s, "default");

	CHECK_ERR(kiln_json_get_string(root, "process.user.uid", &s, ERR),
		  "process.user.uid: expected string");
	CHECK_ERR(kiln_json_get_string(root, "process", &s, ERR), "process: expected string");
	TAP_CHECK_STR(s, "default");
	return TAP_PASS;
}

static int test_get_bool(void)
{
	cleanup_json kiln_json_t *root = parse_str(config_doc);
	bool b = false;

	TAP_CHECK(kiln_json_get_bool(root, "process.terminal", &b, NULL) == 0);
	TAP_CHECK(b);
	b = false;
	TAP_CHECK(kiln_json_get_bool(root, "root.missing", &b, NULL) == 1);
	TAP_CHECK(!b);
	CHECK_ERR(kiln_json_get_bool(root, "root.readonly", &b, ERR),
		  "root.readonly: expected boolean");
	return TAP_PASS;
}

static int test_get_int64(void)
{
	cleanup_json kiln_json_t *root = parse_str(config_doc);
	int64_t v = 5;

	TAP_CHECK(kiln_json_get_int64(root, "process.oomScoreAdj", &v, NULL) == 0);
	TAP_CHECK(v == -17);
	v = 5;
	TAP_CHECK(kiln_json_get_int64(root, "process.nope", &v, NULL) == 1);
	TAP_CHECK(v == 5);
	CHECK_ERR(kiln_json_get_int64(root, "process.rlimitFactor", &v, ERR),
		  "process.rlimitFactor: expected integer");
	CHECK_ERR(kiln_json_get_int64(root, "process.user.gid", &v, ERR),
		  "process.user.gid: expected integer");
	CHECK_ERR(kiln_json_get_int64(root, "memory", &v, ERR),
		  "memory: 18446744073709551615 is out of range");
	return TAP_PASS;
}

static int test_get_uint64_uint32(void)
{
	cleanup_json kiln_json_t *root = parse_str(config_doc);
	uint64_t u64 = 0;
	uint32_t u32 = 9;

	TAP_CHECK(kiln_json_get_uint64(root, "memory", &u64, NULL) == 0);
	TAP_CHECK(u64 == UINT64_MAX);
	TAP_CHECK(kiln_json_get_uint32(root, "process.user.uid", &u32, NULL) == 0);
	TAP_CHECK(u32 == 1000);

	u32 = 9;
	TAP_CHECK(kiln_json_get_uint32(root, "process.user.umask", &u32, NULL) == 1);
	TAP_CHECK(u32 == 9);
	TAP_CHECK(kiln_json_get_uint64(root, "process.user.umask", &u64, NULL) == 1);

	CHECK_ERR(kiln_json_get_uint32(root, "process.user.gid", &u32, ERR),
		  "process.user.gid: expected unsigned integer");
	CHECK_ERR(kiln_json_get_uint64(root, "process.rlimitFactor", &u64, ERR),
		  "process.rlimitFactor: expected unsigned integer");
	CHECK_ERR(kiln_json_get_uint64(root, "process.oomScoreAdj", &u64, ERR),
		  "process.oomScoreAdj: -17 is out of range");
	CHECK_ERR(kiln_json_get_uint32(root, "memory", &u32, ERR),
		  "memory: 18446744073709551615 is out of range");
	TAP_CHECK(u32 == 9);
	return TAP_PASS;
}

static int test_get_double(void)
{
	cleanup_json kiln_json_t *root = parse_str(config_doc);
	double d = 0;

	TAP_CHECK(kiln_json_get_double(root, "process.rlimitFactor", &d, NULL) == 0);
	TAP_CHECK(d == 0.5);
	/* Integers are numbers too. */
	TAP_CHECK(kiln_json_get_double(root, "process.oomScoreAdj", &d, NULL) == 0);
	TAP_CHECK(d == -17.0);
	TAP_CHECK(kiln_json_get_double(root, "process.x", &d, NULL) == 1);
	CHECK_ERR(kiln_json_get_double(root, "process.terminal", &d, ERR),
		  "process.terminal: expected number");
	return TAP_PASS;
}

static int test_get_object_array(void)
{
	cleanup_json kiln_json_t *root = parse_str(config_doc);
	const kiln_json_t *o = NULL, *a = NULL;

	TAP_CHECK(kiln_json_get_object(root, "process.user", &o, NULL) == 0);
	TAP_CHECK(o == kiln_json_get(kiln_json_get(root, "process"), "user"));
	TAP_CHECK(kiln_json_get_array(root, "mounts", &a, NULL) == 0);
	TAP_CHECK(kiln_json_array_len(a) == 3);
	/* "" is the node itself. */
	TAP_CHECK(kiln_json_get_object(root, "", &o, NULL) == 0);
	TAP_CHECK(o == root);

	o = a = NULL;
	TAP_CHECK(kiln_json_get_object(root, "linux", &o, NULL) == 1);
	TAP_CHECK(kiln_json_get_array(root, "process.env", &a, NULL) == 1);
	TAP_CHECK(o == NULL && a == NULL);

	CHECK_ERR(kiln_json_get_object(root, "mounts", &o, ERR), "mounts: expected object");
	CHECK_ERR(kiln_json_get_array(root, "process", &a, ERR), "process: expected array");
	CHECK_ERR(kiln_json_get_array(root, "", &a, ERR), "expected array");
	return TAP_PASS;
}

static int test_paths_with_indexes(void)
{
	cleanup_json kiln_json_t *root = parse_str(config_doc);
	cleanup_json kiln_json_t *arr = parse_str("[{\"a\": [\"x\", \"y\"]}, 3]");
	const char *s = NULL;
	int64_t v = 0;

	TAP_CHECK(kiln_json_get_string(root, "mounts[1].destination", &s, NULL) == 0);
	TAP_CHECK_STR(s, "/dev");
	TAP_CHECK(kiln_json_get_string(root, "mounts[0].type", &s, NULL) == 0);
	TAP_CHECK_STR(s, "proc");
	TAP_CHECK(kiln_json_get_string(root, "mounts[1].type", &s, NULL) == 1);
	TAP_CHECK(kiln_json_get_string(root, "mounts[3].destination", &s, NULL) == 1);
	TAP_CHECK(kiln_json_get_int64(root, "matrix[1][1][0]", &v, NULL) == 0);
	TAP_CHECK(v == 4);
	TAP_CHECK(kiln_json_get_int64(root, "matrix[1][1][2]", &v, NULL) == 1);

	CHECK_ERR(kiln_json_get_string(root, "mounts[2].destination", &s, ERR),
		  "mounts[2].destination: expected string");
	CHECK_ERR(kiln_json_get_string(root, "process.args[1]", &s, ERR),
		  "process.args[1]: expected string");
	CHECK_ERR(kiln_json_get_string(root, "matrix[1][1]", &s, ERR),
		  "matrix[1][1]: expected string");
	/* A node on the way with the wrong type is reported where it is. */
	CHECK_ERR(kiln_json_get_string(root, "process[0]", &s, ERR), "process: expected array");
	CHECK_ERR(kiln_json_get_string(root, "ociVersion.major", &s, ERR),
		  "ociVersion: expected object");
	CHECK_ERR(kiln_json_get_string(root, "matrix[0][0][0]", &s, ERR),
		  "matrix[0][0]: expected array");

	/* A root array: paths start with an index. */
	TAP_CHECK(kiln_json_get_string(arr, "[0].a[1]", &s, NULL) == 0);
	TAP_CHECK_STR(s, "y");
	TAP_CHECK(kiln_json_get_int64(arr, "[1]", &v, NULL) == 0);
	TAP_CHECK(v == 3);
	CHECK_ERR(kiln_json_get_int64(arr, "[0].a[0]", &v, ERR), "[0].a[0]: expected integer");
	CHECK_ERR(kiln_json_get_string(arr, "x", &s, ERR), "expected object");
	return TAP_PASS;
}

static int test_subnode_paths(void)
{
	cleanup_json kiln_json_t *root = parse_str(config_doc);
	const kiln_json_t *process = NULL, *mounts = NULL, *m2, *args;
	cleanup_free char *path = NULL;
	const char *s;
	uint32_t u;

	TAP_CHECK(kiln_json_get_object(root, "process", &process, NULL) == 0);
	TAP_CHECK(kiln_json_get_uint32(process, "user.uid", &u, NULL) == 0);
	TAP_CHECK(u == 1000);
	/* Errors name the path from the document root, not from process. */
	CHECK_ERR(kiln_json_get_uint32(process, "user.gid", &u, ERR),
		  "process.user.gid: expected unsigned integer");

	TAP_CHECK(kiln_json_get_array(root, "mounts", &mounts, NULL) == 0);
	m2 = kiln_json_array_get(mounts, 2);
	CHECK_ERR(kiln_json_get_string(m2, "destination", &s, ERR),
		  "mounts[2].destination: expected string");

	/* Iterating an array and checking each element with "". */
	args = kiln_json_get(process, "args");
	TAP_CHECK(kiln_json_get_string(kiln_json_array_get(args, 0), "", &s, NULL) == 0);
	TAP_CHECK_STR(s, "sh");
	CHECK_ERR(kiln_json_get_string(kiln_json_array_get(args, 1), "", &s, ERR),
		  "process.args[1]: expected string");

	path = kiln_json_path(kiln_json_get(m2, "destination"));
	TAP_CHECK_STR(path, "mounts[2].destination");
	free(path);
	path = kiln_json_path(root);
	TAP_CHECK_STR(path, "");

	/* A NULL node is just absent. */
	TAP_CHECK(kiln_json_get_string(kiln_json_get(root, "nope"), "x", &s, NULL) == 1);
	return TAP_PASS;
}

static int test_invalid_paths(void)
{
	static const char *const bad[] = {
	    "a..b", ".a",  "a.",    "a[x]", "a[1",
	    "a]",   "a[]", "a[1]b", "[-1]", "a[99999999999999999999999]"};
	cleanup_json kiln_json_t *root = parse_str(config_doc);
	const char *s;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cleanup_error kiln_error_t err = NULL;
		cleanup_free char *want = xasprintf("invalid JSON path \"%s\"", bad[i]);

		TAP_CHECK(kiln_json_get_string(root, bad[i], &s, &err) < 0);
		TAP_CHECK_STR(err->msg, want);
		TAP_CHECK(err->status == EINVAL);
	}
	return TAP_PASS;
}

static int test_null_is_absent(void)
{
	cleanup_json kiln_json_t *root = parse_str("{\"a\": null, \"b\": {\"c\": null}}");
	const kiln_json_t *o = NULL;
	const char *s = "kept";

	TAP_CHECK(kiln_json_get_string(root, "a", &s, NULL) == 1);
	TAP_CHECK(kiln_json_get_string(root, "a.deeper", &s, NULL) == 1);
	TAP_CHECK(kiln_json_get_object(root, "b.c", &o, NULL) == 1);
	TAP_CHECK(kiln_json_get_string(root, "a[3]", &s, NULL) == 1);
	TAP_CHECK_STR(s, "kept");
	return TAP_PASS;
}

static int test_malformed(void)
{
	CHECK_PARSE_FAILS("{\"a\": ", 6, "invalid JSON at byte 6: unexpected end of input");
	CHECK_PARSE_FAILS("[1, 2", 5, "invalid JSON at byte 5: unexpected end of input");
	CHECK_PARSE_FAILS("\"abc", 4, "invalid JSON at byte 4: unexpected end of input");
	CHECK_PARSE_FAILS("{\"a\": 1} x", 10, "invalid JSON at byte 10: trailing garbage");
	CHECK_PARSE_FAILS("{} {}", 5, "invalid JSON at byte 4: trailing garbage");
	CHECK_PARSE_FAILS("1 2", 3, "invalid JSON at byte 3: trailing garbage");
	CHECK_PARSE_FAILS("[1]\0", 4, "invalid JSON at byte 4: trailing garbage");
	CHECK_PARSE_FAILS("{\"a\":\"\x01\"}", 9,
			  "invalid JSON at byte 6: invalid character inside string");
	CHECK_PARSE_FAILS("\"tab\there\"", 10,
			  "invalid JSON at byte 4: invalid character inside string");
	CHECK_PARSE_FAILS("[1,2,]", 6,
			  "invalid JSON at byte 6: unallowed token at this point in JSON text");
	CHECK_PARSE_FAILS("{'a': 1}", 8, "invalid JSON at byte 2: invalid char in json text");
	CHECK_PARSE_FAILS("/* c */ {}", 10,
			  "invalid JSON at byte 0: probable comment found in input text, comments "
			  "are not enabled");
	CHECK_PARSE_FAILS("{\"abc\" 1}", 9,
			  "invalid JSON at byte 8: object key and value must be separated by a "
			  "colon (':')");
	CHECK_PARSE_FAILS("[tru]", 5, "invalid JSON at byte 4: invalid string in json text");
	CHECK_PARSE_FAILS("[01]", 4,
			  "invalid JSON at byte 3: after array element, I expect ',' or ']'");
	CHECK_PARSE_FAILS("{1: 2}", 6,
			  "invalid JSON at byte 2: invalid object key (must be a string)");
	CHECK_PARSE_FAILS("", 0, "invalid JSON: empty document");
	CHECK_PARSE_FAILS(" \n\t ", 4, "invalid JSON: empty document");
	/* len, not the NUL, ends the text. */
	CHECK_PARSE_FAILS("[1, 2]", 3, "invalid JSON at byte 3: unexpected end of input");
	return TAP_PASS;
}

/* depth times open, then mid, then depth times close. */
static char *nested_mid(size_t depth, const char *open, const char *mid, const char *close)
{
	size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
	char *s = xmalloc(depth * (lo + lc) + lm + 1);
	char *p = s;

	for (size_t i = 0; i < depth; i++, p += lo)
		memcpy(p, open, lo);
	memcpy(p, mid, lm);
	p += lm;
	for (size_t i = 0; i < depth; i++, p += lc)
		memcpy(p, close, lc);
	*p = '\0';
	return s;
}

static char *nested(size_t depth, const char *open, const char *close)
{
	return nested_mid(depth, open, "", close);
}

static int test_depth_limit(void)
{
	cleanup_free char *ok = nested(KILN_JSON_MAX_DEPTH, "[", "]");
	cleanup_free char *deep = nested(KILN_JSON_MAX_DEPTH + 1, "[", "]");
	/* {"a":{"a":...{}...}} with the innermost {} as the last level. */
	cleanup_free char *okobj = nested_mid(KILN_JSON_MAX_DEPTH - 1, "{\"a\":", "{}", "}");
	cleanup_free char *deepobj = nested_mid(KILN_JSON_MAX_DEPTH, "{\"a\":", "{}", "}");
	cleanup_free char *deepest_path = NULL;
	cleanup_json kiln_json_t *root = NULL;
	cleanup_json kiln_json_t *rootobj = NULL;
	const kiln_json_t *n;
	size_t levels = 0;

	root = parse_str(ok);
	TAP_CHECK(root != NULL);
	for (n = root; kiln_json_is_array(n); n = kiln_json_array_get(n, 0))
		levels++;
	TAP_CHECK(levels == KILN_JSON_MAX_DEPTH);
	CHECK_PARSE_FAILS(deep, strlen(deep),
			  "invalid JSON at byte 129: nesting deeper than 128 levels");

	rootobj = parse_str(okobj);
	TAP_CHECK(rootobj != NULL);
	for (n = rootobj; kiln_json_get(n, "a") != NULL; n = kiln_json_get(n, "a"))
		;
	deepest_path = kiln_json_path(n);
	TAP_CHECK(strlen(deepest_path) == 2 * (KILN_JSON_MAX_DEPTH - 1) - 1);
	CHECK_PARSE_FAILS(deepobj, strlen(deepobj),
			  "invalid JSON at byte 641: nesting deeper than 128 levels");
	return TAP_PASS;
}

static int test_depth_million(void)
{
	const size_t n = 1000000;
	cleanup_free char *open_only = xmalloc(n);
	cleanup_free char *both = nested(n, "[", "]");

	/* Must fail fast at level 129, not recurse a million times. */
	memset(open_only, '[', n);
	CHECK_PARSE_FAILS(open_only, n, "invalid JSON at byte 129: nesting deeper than 128 levels");
	CHECK_PARSE_FAILS(both, strlen(both),
			  "invalid JSON at byte 129: nesting deeper than 128 levels");
	return TAP_PASS;
}

static int test_huge_numbers(void)
{
	cleanup_json kiln_json_t *root =
	    parse_str("{\"u64max\": 18446744073709551615,"
		      " \"u64over\": 18446744073709551616,"
		      " \"i64min\": -9223372036854775808,"
		      " \"i64under\": -9223372036854775809,"
		      " \"i64max\": 9223372036854775807,"
		      " \"i64over\": 9223372036854775808,"
		      " \"u32max\": 4294967295,"
		      " \"u32over\": 4294967296,"
		      " \"negzero\": -0,"
		      " \"big\": 1e400,"
		      " \"tiny\": 1e-400,"
		      " \"long\": 1234567890123456789012345678901234567890"
		      "1234567890}");
	uint64_t u64 = 0;
	uint32_t u32 = 0;
	int64_t i64 = 0;
	double d = 1;

	TAP_CHECK(root != NULL);
	TAP_CHECK(kiln_json_get_uint64(root, "u64max", &u64, NULL) == 0);
	TAP_CHECK(u64 == UINT64_MAX);
	CHECK_ERR(kiln_json_get_uint64(root, "u64over", &u64, ERR),
		  "u64over: 18446744073709551616 is out of range");
	TAP_CHECK(kiln_json_get_int64(root, "i64min", &i64, NULL) == 0);
	TAP_CHECK(i64 == INT64_MIN);
	CHECK_ERR(kiln_json_get_int64(root, "i64under", &i64, ERR),
		  "i64under: -9223372036854775809 is out of range");
	TAP_CHECK(kiln_json_get_int64(root, "i64max", &i64, NULL) == 0);
	TAP_CHECK(i64 == INT64_MAX);
	CHECK_ERR(kiln_json_get_int64(root, "i64over", &i64, ERR),
		  "i64over: 9223372036854775808 is out of range");
	TAP_CHECK(kiln_json_get_uint64(root, "i64over", &u64, NULL) == 0);
	TAP_CHECK(u64 == 9223372036854775808u);
	TAP_CHECK(kiln_json_get_uint32(root, "u32max", &u32, NULL) == 0);
	TAP_CHECK(u32 == UINT32_MAX);
	CHECK_ERR(kiln_json_get_uint32(root, "u32over", &u32, ERR),
		  "u32over: 4294967296 is out of range");
	TAP_CHECK(kiln_json_get_uint32(root, "negzero", &u32, NULL) == 0);
	TAP_CHECK(u32 == 0);
	TAP_CHECK(kiln_json_get_int64(root, "negzero", &i64, NULL) == 0);
	TAP_CHECK(i64 == 0);

	CHECK_ERR(kiln_json_get_double(root, "big", &d, ERR), "big: 1e400 is out of range");
	CHECK_ERR(kiln_json_get_int64(root, "big", &i64, ERR), "big: expected integer");
	CHECK_ERR(kiln_json_get_uint64(root, "big", &u64, ERR), "big: expected unsigned integer");
	/* Underflow rounds to zero, as it does in Go. */
	TAP_CHECK(kiln_json_get_double(root, "tiny", &d, NULL) == 0);
	TAP_CHECK(d == 0.0);
	TAP_CHECK(kiln_json_get_double(root, "u64over", &d, NULL) == 0);
	TAP_CHECK(d == 18446744073709551616.0);
	/* A long number is cut short in the message. */
	CHECK_ERR(kiln_json_get_uint64(root, "long", &u64, ERR),
		  "long: 1234567890123456789012345678901234567890... is out of range");
	return TAP_PASS;
}

static int test_non_utf8(void)
{
	cleanup_json kiln_json_t *ok = parse_str("[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5\"]");
	const char *s = NULL;

	CHECK_PARSE_FAILS("[\"\xff\"]", 5, "invalid JSON at byte 3: invalid bytes in UTF8 string");
	CHECK_PARSE_FAILS("{\"k\xc3\": 1}", 10,
			  "invalid JSON at byte 5: invalid bytes in UTF8 string");
	/* A stray byte outside a string is just an invalid character. */
	CHECK_PARSE_FAILS("[\xff]", 3, "invalid JSON at byte 2: invalid char in json text");

	TAP_CHECK(ok != NULL);
	TAP_CHECK(kiln_json_get_string(ok, "[0]", &s, NULL) == 0);
	TAP_CHECK_STR(s, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5");
	return TAP_PASS;
}

static int test_escapes_and_nul(void)
{
	cleanup_json kiln_json_t *root = parse_str(
	    "{\"esc\": \"q\\\"b\\\\s\\/n\\nt\\tu\\u00e9\\ud83d\\udd25\", \"nul\": \"a\\u0000b\","
	    " \"k\\u0000x\": 1}");
	const char *s = NULL;
	int64_t v = 0;

	TAP_CHECK(root != NULL);
	TAP_CHECK(kiln_json_get_string(root, "esc", &s, NULL) == 0);
	TAP_CHECK_STR(s, "q\"b\\s/n\nt\tu\xc3\xa9\xf0\x9f\x94\xa5");
	/* C cannot hold the whole string; refuse rather than truncate. */
	CHECK_ERR(kiln_json_get_string(root, "nul", &s, ERR),
		  "nul: string contains a NUL character");
	/* Nor may "k\0x" be found as "k". */
	TAP_CHECK(kiln_json_get_int64(root, "k", &v, NULL) == 1);
	TAP_CHECK(kiln_json_get(root, "k") == NULL);
	return TAP_PASS;
}

static int test_gen_compact(void)
{
	cleanup_json_gen kiln_json_gen_t *gen = kiln_json_gen_new(false);
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *out = NULL;
	size_t len = 0;

	TAP_CHECK(kiln_json_gen_map_open(gen) == 0);
	TAP_CHECK(kiln_json_gen_key(gen, "s") == 0);
	TAP_CHECK(kiln_json_gen_string(gen, "q\"b\\c/\n\t\x01\x1f\xc3\xa9") == 0);
	TAP_CHECK(kiln_json_gen_key(gen, "n") == 0);
	TAP_CHECK(kiln_json_gen_string_len(gen, "a\0b", 3) == 0);
	TAP_CHECK(kiln_json_gen_key(gen, "list") == 0);
	TAP_CHECK(kiln_json_gen_array_open(gen) == 0);
	TAP_CHECK(kiln_json_gen_int64(gen, INT64_MIN) == 0);
	TAP_CHECK(kiln_json_gen_uint64(gen, UINT64_MAX) == 0);
	TAP_CHECK(kiln_json_gen_double(gen, 0.1) == 0);
	TAP_CHECK(kiln_json_gen_bool(gen, true) == 0);
	TAP_CHECK(kiln_json_gen_bool(gen, false) == 0);
	TAP_CHECK(kiln_json_gen_null(gen) == 0);
	TAP_CHECK(kiln_json_gen_array_open(gen) == 0);
	TAP_CHECK(kiln_json_gen_array_close(gen) == 0);
	TAP_CHECK(kiln_json_gen_map_open(gen) == 0);
	TAP_CHECK(kiln_json_gen_map_close(gen) == 0);
	TAP_CHECK(kiln_json_gen_array_close(gen) == 0);
	TAP_CHECK(kiln_json_gen_map_close(gen) == 0);
	TAP_CHECK(kiln_json_gen_finish(gen, &out, &len, &err) == 0);

	TAP_CHECK_STR(out,
		      "{\"s\":\"q\\\"b\\\\c/\\n\\t\\u0001\\u001F\xc3\xa9\",\"n\":\"a\\u0000b\","
		      "\"list\":[-9223372036854775808,18446744073709551615,0.1,true,false,"
		      "null,[],{}]}");
	TAP_CHECK(len == strlen(out));
	return TAP_PASS;
}

static int test_gen_roundtrip(void)
{
	static const char *const strings[] = {
	    "",
	    "plain",
	    "quote \" backslash \\ slash /",
	    "ctl \x01\x02\x1f\x7f end",
	    "nl\ncr\rtab\tbs\bff\f",
	    "utf8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5 \xef\xbf\xbf"};
	static const double doubles[] = {0.1, -2.5, 1e300, 5e-324, DBL_MAX, 1.0 / 3, 123456789.0};
	cleanup_json_gen kiln_json_gen_t *gen = kiln_json_gen_new(false);
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *out = NULL;
	cleanup_json kiln_json_t *back = NULL;
	size_t len;

	kiln_json_gen_map_open(gen);
	kiln_json_gen_key(gen, "strings");
	kiln_json_gen_array_open(gen);
	for (size_t i = 0; i < ARRAY_SIZE(strings); i++)
		kiln_json_gen_string(gen, strings[i]);
	kiln_json_gen_array_close(gen);
	kiln_json_gen_key(gen, "doubles");
	kiln_json_gen_array_open(gen);
	for (size_t i = 0; i < ARRAY_SIZE(doubles); i++)
		kiln_json_gen_double(gen, doubles[i]);
	kiln_json_gen_array_close(gen);
	kiln_json_gen_key(gen, "quote\"key\n");
	kiln_json_gen_int64(gen, -1);
	kiln_json_gen_map_close(gen);
	TAP_CHECK(kiln_json_gen_finish(gen, &out, &len, &err) == 0);

	TAP_CHECK(kiln_json_parse(out, len, &back, &err) == 0);
	for (size_t i = 0; i < ARRAY_SIZE(strings); i++) {
		cleanup_free char *path = xasprintf("strings[%zu]", i);
		const char *s = NULL;

		TAP_CHECK(kiln_json_get_string(back, path, &s, &err) == 0);
		TAP_CHECK_STR(s, strings[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(doubles); i++) {
		cleanup_free char *path = xasprintf("doubles[%zu]", i);
		double d = 0;

		TAP_CHECK(kiln_json_get_double(back, path, &d, &err) == 0);
		TAP_CHECK(d == doubles[i]);
	}
	TAP_CHECK(kiln_json_get(back, "quote\"key\n") != NULL);
	/* No raw control characters in the output. */
	for (size_t i = 0; i < len; i++)
		TAP_CHECK((unsigned char)out[i] >= 0x20);
	return TAP_PASS;
}

static int test_gen_pretty(void)
{
	cleanup_json_gen kiln_json_gen_t *gen = kiln_json_gen_new(true);
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *out = NULL;

	kiln_json_gen_map_open(gen);
	kiln_json_gen_key(gen, "a");
	kiln_json_gen_array_open(gen);
	kiln_json_gen_int64(gen, 1);
	kiln_json_gen_string(gen, "x");
	kiln_json_gen_array_close(gen);
	kiln_json_gen_key(gen, "b");
	kiln_json_gen_map_open(gen);
	kiln_json_gen_map_close(gen);
	kiln_json_gen_map_close(gen);
	TAP_CHECK(kiln_json_gen_finish(gen, &out, NULL, &err) == 0);
	/* yajl's way with an empty object. */
	TAP_CHECK_STR(out, "{\n\t\"a\": [\n\t\t1,\n\t\t\"x\"\n\t],\n\t\"b\": {\n\n\t}\n}\n");
	return TAP_PASS;
}

/* Runs steps on a fresh generator and checks the error finish reports. */
#define CHECK_GEN_FAILS(steps, want)                                                               \
	do {                                                                                       \
		cleanup_json_gen kiln_json_gen_t *g = kiln_json_gen_new(false);                    \
		cleanup_error kiln_error_t gerr = NULL;                                            \
		char *gout = NULL;                                                                 \
		steps;                                                                             \
		TAP_CHECK(kiln_json_gen_finish(g, &gout, NULL, &gerr) < 0);                        \
		TAP_CHECK(gout == NULL);                                                           \
		TAP_CHECK_STR(gerr->msg, (want));                                                  \
	} while (0)

static int test_gen_errors(void)
{
	CHECK_GEN_FAILS(
	    {
		    kiln_json_gen_array_open(g);
		    TAP_CHECK(kiln_json_gen_key(g, "k") < 0);
	    },
	    "JSON generator: key \"k\" outside an object");
	CHECK_GEN_FAILS(TAP_CHECK(kiln_json_gen_key(g, "top") < 0),
			"JSON generator: key \"top\" outside an object");
	CHECK_GEN_FAILS(
	    {
		    kiln_json_gen_map_open(g);
		    kiln_json_gen_key(g, "a");
		    TAP_CHECK(kiln_json_gen_key(g, "b") < 0);
	    },
	    "JSON generator: key \"b\" where a value is expected");
	CHECK_GEN_FAILS(
	    {
		    kiln_json_gen_map_open(g);
		    TAP_CHECK(kiln_json_gen_string(g, "v") < 0);
	    },
	    "JSON generator: value where an object key is expected");
	CHECK_GEN_FAILS(
	    {
		    kiln_json_gen_map_open(g);
		    kiln_json_gen_key(g, "a");
		    kiln_json_gen_int64(g, 1);
		    TAP_CHECK(kiln_json_gen_int64(g, 2) < 0);
	    },
	    "JSON generator: value where an object key is expected");
	CHECK_GEN_FAILS(
	    {
		    kiln_json_gen_map_open(g);
		    kiln_json_gen_key(g, "a");
		    TAP_CHECK(kiln_json_gen_map_close(g) < 0);
	    },
	    "JSON generator: object closed after a key without a value");
	CHECK_GEN_FAILS(
	    {
		    kiln_json_gen_array_open(g);
		    TAP_CHECK(kiln_json_gen_map_close(g) < 0);
	    },
	    "JSON generator: closing an object that is not open");
	CHECK_GEN_FAILS(TAP_CHECK(kiln_json_gen_array_close(g) < 0),
			"JSON generator: closing an array that is not open");
	CHECK_GEN_FAILS(
	    {
		    kiln_json_gen_int64(g, 1);
		    TAP_CHECK(kiln_json_gen_int64(g, 2) < 0);
	    },
	    "JSON generator: more than one top-level value");
	CHECK_GEN_FAILS(
	    {
		    kiln_json_gen_array_open(g);
		    TAP_CHECK(kiln_json_gen_string(g, "bad \xff byte") < 0);
	    },
	    "JSON generator: invalid UTF-8 in string");
	CHECK_GEN_FAILS(
	    {
		    kiln_json_gen_array_open(g);
		    TAP_CHECK(kiln_json_gen_double(g, NAN) < 0);
	    },
	    "JSON generator: nan cannot be represented in JSON");
	CHECK_GEN_FAILS(
	    {
		    kiln_json_gen_array_open(g);
		    TAP_CHECK(kiln_json_gen_double(g, -INFINITY) < 0);
	    },
	    "JSON generator: -inf cannot be represented in JSON");
	CHECK_GEN_FAILS(
	    {
		    kiln_json_gen_array_open(g);
		    TAP_CHECK(kiln_json_gen_string(g, NULL) < 0);
	    },
	    "JSON generator: NULL string");
	CHECK_GEN_FAILS(
	    {
		    kiln_json_gen_map_open(g);
		    TAP_CHECK(kiln_json_gen_key(g, NULL) < 0);
	    },
	    "JSON generator: NULL key");
	CHECK_GEN_FAILS(
	    {
		    kiln_json_gen_map_open(g);
		    kiln_json_gen_key(g, "a");
		    kiln_json_gen_array_open(g);
	    },
	    "JSON generator: 2 unclosed object(s) or array(s)");
	CHECK_GEN_FAILS({}, "JSON generator: empty document");
	/* The first error sticks: later valid calls fail and do not mask it. */
	CHECK_GEN_FAILS(
	    {
		    kiln_json_gen_array_open(g);
		    kiln_json_gen_key(g, "k");
		    TAP_CHECK(kiln_json_gen_array_close(g) < 0);
		    TAP_CHECK(kiln_json_gen_null(g) < 0);
	    },
	    "JSON generator: key \"k\" outside an object");
	return TAP_PASS;
}

static int test_gen_depth(void)
{
	cleanup_json_gen kiln_json_gen_t *gen = kiln_json_gen_new(false);
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *out = NULL;

	for (int i = 0; i < KILN_JSON_GEN_MAX_DEPTH; i++)
		TAP_CHECK(kiln_json_gen_array_open(gen) == 0);
	TAP_CHECK(kiln_json_gen_array_open(gen) < 0);
	TAP_CHECK(kiln_json_gen_finish(gen, &out, NULL, &err) < 0);
	TAP_CHECK_STR(err->msg, "JSON generator: nesting deeper than 127 levels");
	kiln_json_gen_free(NULL);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_parse_tree), TAP_TEST(test_parse_scalars),
	 TAP_TEST(test_duplicate_keys_last_wins), TAP_TEST(test_get_string),
	 TAP_TEST(test_get_bool), TAP_TEST(test_get_int64), TAP_TEST(test_get_uint64_uint32),
	 TAP_TEST(test_get_double), TAP_TEST(test_get_object_array),
	 TAP_TEST(test_paths_with_indexes), TAP_TEST(test_subnode_paths),
	 TAP_TEST(test_invalid_paths), TAP_TEST(test_null_is_absent), TAP_TEST(test_malformed),
	 TAP_TEST(test_depth_limit), TAP_TEST(test_depth_million), TAP_TEST(test_huge_numbers),
	 TAP_TEST(test_non_utf8), TAP_TEST(test_escapes_and_nul), TAP_TEST(test_gen_compact),
	 TAP_TEST(test_gen_roundtrip), TAP_TEST(test_gen_pretty), TAP_TEST(test_gen_errors),
	 TAP_TEST(test_gen_depth))
