/* libFuzzer target for oci/: config.json, process.json and state documents.
 * Whatever the input, a parse either succeeds or fails with one line of
 * message; a config keeps its text verbatim; a state that parses writes
 * back to a document that parses to the same output.
 *
 * Input: byte 0 picks what the rest is: 0 a whole config, 1 a process
 * document, 2 a state, 3 the value of "process" in an otherwise valid
 * config, 4 the value of "linux", 5 of "hooks", 6 of "mounts" (3 to 6 reach
 * the deep validators from an empty corpus).
 *
 *   clang -std=gnu11 -D_GNU_SOURCE -I. -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -o /tmp/fuzz_oci_config tests/fuzz/fuzz_oci_config.c oci/{config,features,names,state}.c \
 *     common/{error,io,json,log,util}.c $(pkg-config --cflags --libs yajl libseccomp libcap) \
 *     -lpthread && /tmp/fuzz_oci_config -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "oci/oci.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static void check_err(kiln_error_t *err)
{
	check(*err != NULL && (*err)->msg != NULL && (*err)->msg[0] != '\0');
	check(strchr((*err)->msg, '\n') == NULL);
	kiln_error_free(err);
}

static void config(const char *text, size_t len)
{
	struct oci_config *c = NULL;
	kiln_error_t err = NULL;

	if (oci_config_parse(text, len, &c, &err) < 0) {
		check(c == NULL);
		check_err(&err);
		return;
	}
	check(c->raw_len == len && memcmp(c->raw, text, len) == 0 && c->raw[len] == '\0');
	check(c->oci_version != NULL && oci_version_supported(c->oci_version));
	check(c->root.path != NULL && c->root.path[0] != '\0');
	for (size_t i = 0; i < c->n_mounts; i++)
		check(c->mounts[i].destination[0] == '/');
	if (oci_config_check_runnable(c, &err) < 0)
		check_err(&err);
	oci_config_free(c);
}

static void process(const char *text, size_t len)
{
	struct oci_process *p = NULL;
	kiln_error_t err = NULL;

	if (oci_process_parse(text, len, &p, &err) < 0) {
		check(p == NULL);
		check_err(&err);
		return;
	}
	check(p->args.v != NULL && p->args.v[p->args.n] == NULL);
	if (oci_process_check_runnable(p, &err) < 0)
		check_err(&err);
	oci_process_free(p);
}

static void state(const char *text, size_t len)
{
	struct oci_state *s = NULL, *s2 = NULL;
	kiln_error_t err = NULL;
	char *out1 = NULL, *out2 = NULL;
	size_t len1 = 0, len2 = 0;

	if (oci_state_parse(text, len, &s, &err) < 0) {
		check(s == NULL);
		check_err(&err);
		return;
	}
	check(oci_state_to_json(s, &out1, &len1, &err) == 0);
	check(oci_state_parse(out1, len1, &s2, &err) == 0);
	check(oci_state_to_json(s2, &out2, &len2, &err) == 0);
	check(len1 == len2 && strcmp(out1, out2) == 0);
	free(out1);
	free(out2);
	oci_state_free(s);
	oci_state_free(s2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const members[] = {"process", "linux", "hooks", "mounts"};
	const char *text = (const char *)data + 1;
	char *doc;
	int n;

	if (size < 1)
		return 0;
	switch (data[0] % 7) {
	case 0:
		config(text, size - 1);
		break;
	case 1:
		process(text, size - 1);
		break;
	case 2:
		state(text, size - 1);
		break;
	default:
		n = (int)(size - 1);
		doc = xasprintf("{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"rootfs\"}, "
				"\"%s\": %.*s}",
				members[data[0] % 7 - 3], n, text);
		config(doc, strlen(doc));
		free(doc);
		break;
	}
	return 0;
}
