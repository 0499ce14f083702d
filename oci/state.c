/* Container state documents (runtime.md#state, runc's `state` output). */
#include <string.h>

#include "common/json.h"
#include "common/util.h"
#include "oci/state.h"

static const char *const statuses[] = {"creating", "created", "running", "paused", "stopped", NULL};

/* The generator indents with tabs (as `runc spec`); `runc state` indents
 * with two spaces. JSON strings hold no raw tabs, so every tab at the start
 * of a line is indentation. */
static char *tabs_to_spaces(const char *s, size_t *len)
{
	size_t tabs = 0, n = 0;
	char *out, *o;

	for (const char *p = s; *p; p++)
		tabs += *p == '\t';
	o = out = xmalloc(strlen(s) + tabs + 1);
	for (const char *p = s; *p; p++) {
		if (*p == '\t') {
			*o++ = ' ';
			*o++ = ' ';
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	n = (size_t)(o - out);
	if (len != NULL)
		*len = n;
	return out;
}

static void gen_opt_string(kiln_json_gen_t *g, const char *key, const char *value)
{
	if (value == NULL)
		return;
	kiln_json_gen_key(g, key);
	kiln_json_gen_string(g, value);
}

int oci_state_to_json(const struct oci_state *s, char **out, size_t *len, kiln_error_t *err)
{
	static const char *const required[] = {"ociVersion", "id", "status", "bundle"};
	const char *values[] = {s->oci_version, s->id, s->status, s->bundle};
	cleanup_json_gen kiln_json_gen_t *g = kiln_json_gen_new(true);
	cleanup_free char *doc = NULL;
	size_t doc_len;

	*out = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(required); i++)
		if (values[i] == NULL)
			return kiln_error_make(err, 0, "state: %s is required", required[i]);
	kiln_json_gen_map_open(g);
	gen_opt_string(g, "ociVersion", s->oci_version);
	gen_opt_string(g, "id", s->id);
	kiln_json_gen_key(g, "pid");
	kiln_json_gen_int64(g, s->pid);
	gen_opt_string(g, "status", s->status);
	gen_opt_string(g, "bundle", s->bundle);
	gen_opt_string(g, "rootfs", s->rootfs);
	gen_opt_string(g, "created", s->created);
	if (s->annotations.n > 0) {
		kiln_json_gen_key(g, "annotations");
		kiln_json_gen_map_open(g);
		for (size_t i = 0; i < s->annotations.n; i++)
			gen_opt_string(g, s->annotations.items[i].key,
				       s->annotations.items[i].value);
		kiln_json_gen_map_close(g);
	}
	gen_opt_string(g, "owner", s->owner);
	kiln_json_gen_map_close(g);
	if (kiln_json_gen_finish(g, &doc, &doc_len, err) < 0)
		return kiln_error_wrap(err, "state");
	*out = tabs_to_spaces(doc, len);
	return 0;
}

static int state_str(const kiln_json_t *doc, const char *key, bool required, char **out,
		     kiln_error_t *err)
{
	const char *s = NULL;
	int r = kiln_json_get_string(doc, key, &s, err);

	if (r < 0)
		return -1;
	if (r > 0)
		return required ? kiln_error_make(err, 0, "%s: missing", key) : 0;
	*out = xstrdup(s);
	return 0;
}

static int parse_state(const kiln_json_t *doc, struct oci_state *s, kiln_error_t *err)
{
	const kiln_json_t *ann = NULL;
	int64_t pid = 0;
	bool known = false;

	if (!kiln_json_is_object(doc))
		return kiln_error_make(err, 0, "expected a JSON object, not %s",
				       kiln_json_type_name(kiln_json_type(doc)));
	if (state_str(doc, "ociVersion", true, &s->oci_version, err) < 0 ||
	    state_str(doc, "id", true, &s->id, err) < 0 ||
	    state_str(doc, "status", true, &s->status, err) < 0 ||
	    kiln_json_get_int64(doc, "pid", &pid, err) < 0 ||
	    state_str(doc, "bundle", true, &s->bundle, err) < 0 ||
	    state_str(doc, "rootfs", false, &s->rootfs, err) < 0 ||
	    state_str(doc, "created", false, &s->created, err) < 0 ||
	    state_str(doc, "owner", false, &s->owner, err) < 0 ||
	    kiln_json_get_object(doc, "annotations", &ann, err) < 0)
		return -1;
	for (size_t i = 0; statuses[i] != NULL; i++)
		known |= streq(statuses[i], s->status);
	if (!known)
		return kiln_json_error(err, kiln_json_get(doc, "status"), "unknown status \"%s\"",
				       s->status);
	if (pid < 0 || pid > INT32_MAX)
		return kiln_json_error(err, kiln_json_get(doc, "pid"), "%lld is not a process id",
				       (long long)pid);
	s->pid = (int)pid;
	s->annotations.items = xcalloc(kiln_json_object_len(ann) + 1, sizeof(struct oci_kv));
	for (size_t i = 0; i < kiln_json_object_len(ann); i++) {
		const kiln_json_t *v = kiln_json_object_value(ann, i);
		const char *value = NULL;

		if (kiln_json_get_string(v, "", &value, err) != 0)
			return err != NULL && *err != NULL
				   ? -1
				   : kiln_json_error(err, v, "expected string");
		s->annotations.items[s->annotations.n].key = xstrdup(kiln_json_object_key(ann, i));
		s->annotations.items[s->annotations.n].value = xstrdup(value);
		s->annotations.n++;
	}
	return 0;
}

int oci_state_parse(const char *text, size_t len, struct oci_state **out, kiln_error_t *err)
{
	cleanup_json kiln_json_t *doc = NULL;
	struct oci_state *s;

	*out = NULL;
	if (kiln_json_parse(text, len, &doc, err) < 0)
		return -1;
	s = xzalloc(sizeof(*s));
	if (parse_state(doc, s, err) < 0) {
		oci_state_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

void oci_state_release(struct oci_state *s)
{
	if (s == NULL)
		return;
	free(s->oci_version);
	free(s->id);
	free(s->status);
	free(s->bundle);
	free(s->rootfs);
	free(s->created);
	free(s->owner);
	for (size_t i = 0; i < s->annotations.n; i++) {
		free(s->annotations.items[i].key);
		free(s->annotations.items[i].value);
	}
	free(s->annotations.items);
	memset(s, 0, sizeof(*s));
}

void oci_state_free(struct oci_state *s)
{
	oci_state_release(s);
	free(s);
}

char *oci_time_rfc3339nano(const struct timespec *ts)
{
	char date[64], frac[16] = "";
	struct tm tm;
	time_t t = ts->tv_sec;
	long ns = ts->tv_nsec;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	if (ns > 0 && ns < 1000000000L) {
		int digits = 9;

		while (ns % 10 == 0) {
			ns /= 10;
			digits--;
		}
		snprintf(frac, sizeof(frac), ".%0*ld", digits, ns);
	}
	return xasprintf("%s%sZ", date, frac);
}
