#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "tests/unit/tap.h"

/* A log file in a fresh scratch directory; removed by log_file_remove. */
struct log_file {
	char dir[64];
	char path[96];
};

static int log_file_make(struct log_file *lf)
{
	snprintf(lf->dir, sizeof(lf->dir), "/tmp/kiln-test-log.XXXXXX");
	if (mkdtemp(lf->dir) == NULL)
		return -1;
	snprintf(lf->path, sizeof(lf->path), "%s/kiln.log", lf->dir);
	return 0;
}

static void log_file_remove(struct log_file *lf)
{
	kiln_log_close();
	unlink(lf->path);
	rmdir(lf->dir);
}
#define cleanup_log_file __attribute__((cleanup(log_file_remove)))

static char *log_file_read(const struct log_file *lf)
{
	kiln_error_t err = NULL;
	char *buf = NULL;

	if (kiln_read_file(lf->path, 64 << 20, &buf, NULL, &err) < 0) {
		tap_diag("%s", err->msg);
		kiln_error_free(&err);
		return NULL;
	}
	return buf;
}

/* True for "YYYY-MM-DDTHH:MM:SSZ" within a minute of now. */
static bool timestamp_is_now(const char *ts, size_t len)
{
	struct tm tm = {0};
	char buf[32];
	const char *end;
	time_t t;

	if (len != 20 || len >= sizeof(buf))
		return false;
	memcpy(buf, ts, len);
	buf[len] = '\0';
	end = strptime(buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return false;
	t = timegm(&tm);
	return labs((long)(time(NULL) - t)) < 60;
}

/* Runs fn with stderr redirected into a pipe; returns what was written. */
static char *capture_stderr(void (*fn)(void))
{
	char *buf = xzalloc(4096);
	int saved = dup(STDERR_FILENO);
	int pfd[2];
	ssize_t n;

	if (saved < 0 || pipe(pfd) < 0)
		return buf;
	dup2(pfd[1], STDERR_FILENO);
	close(pfd[1]);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = kiln_read_full(pfd[0], buf, 4095);
	close(pfd[0]);
	if (n < 0)
		buf[0] = '\0';
	return buf;
}

static void log_some_stderr(void)
{
	kiln_log_init("/usr/libexec/kiln-shim", KILN_LOG_INFO, KILN_LOG_TEXT, NULL, NULL);
	log_error("boom %d", 1);
	log_warning("careful");
	log_info("fyi");
	log_debug("hidden");
	kiln_log_close();
}

static int test_text_stderr(void)
{
	cleanup_free char *out = capture_stderr(log_some_stderr);

	TAP_CHECK_STR(out, "kiln-shim: error: boom 1\nkiln-shim: warning: careful\n"
			   "kiln-shim: info: fyi\n");
	return TAP_PASS;
}

static void log_default_stderr(void)
{
	/* Before kiln_log_init(): warning and up, as "kiln". */
	log_warning("w");
	log_info("i");
}

static int test_defaults(void)
{
	cleanup_free char *out = capture_stderr(log_default_stderr);

	TAP_CHECK_STR(out, "kiln: warning: w\n");
	TAP_CHECK_STR(kiln_log_prog(), "kiln");
	TAP_CHECK(kiln_log_is_stderr_text());
	return TAP_PASS;
}

/* Splits buf into lines in place; returns how many (at most max). */
static size_t split_lines(char *buf, char **lines, size_t max)
{
	size_t n = 0;
	char *nl;

	while (n < max && *buf != '\0' && (nl = strchr(buf, '\n')) != NULL) {
		*nl = '\0';
		lines[n++] = buf;
		buf = nl + 1;
	}
	return n;
}

/* Checks a text-file line: time="<now>" followed by rest. */
static bool text_line_is(const char *line, const char *rest)
{
	if (strncmp(line, "time=\"", 6) != 0 || strlen(line) < 26 ||
	    !timestamp_is_now(line + 6, 20)) {
		tap_diag("bad time in: %s", line);
		return false;
	}
	if (strcmp(line + 26, rest) != 0) {
		tap_diag("line is '%s', want '%s'", line + 26, rest);
		return false;
	}
	return true;
}

static int test_text_file(void)
{
	cleanup_log_file struct log_file lf = {0};
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *buf = NULL;
	char *lines[4];

	TAP_CHECK(log_file_make(&lf) == 0);
	TAP_CHECK(kiln_log_init("kiln", KILN_LOG_DEBUG, KILN_LOG_TEXT, lf.path, &err) == 0);
	TAP_CHECK(!kiln_log_is_stderr_text());
	log_debug("quote \" backslash \\ newline \n tab \t bell \a utf8 \xc3\xa9 end");
	log_warning("plain");
	buf = log_file_read(&lf);
	TAP_CHECK(buf != NULL);

	/* time="..." level=... msg="..." as logrus (runc) writes it, one line
	 * per message whatever the message holds. */
	TAP_CHECK(split_lines(buf, lines, 4) == 2);
	TAP_CHECK(text_line_is(lines[0], "\" level=debug msg=\"quote \\\" backslash \\\\ newline "
					 "\\n tab \\t bell \\x07 utf8 \xc3\xa9 end\""));
	TAP_CHECK(text_line_is(lines[1], "\" level=warning msg=\"plain\""));
	return TAP_PASS;
}

/* Parses one JSON log line and checks its fields and their order. */
static int json_line_check(const char *line, const char *level, const char *msg)
{
	cleanup_json kiln_json_t *root = NULL;
	cleanup_error kiln_error_t err = NULL;
	const char *s = NULL;

	if (kiln_json_parse(line, strlen(line), &root, &err) < 0) {
		tap_diag("%s: %s", err->msg, line);
		return TAP_FAIL;
	}
	TAP_CHECK(kiln_json_object_len(root) == 3);
	TAP_CHECK_STR(kiln_json_object_key(root, 0), "level");
	TAP_CHECK_STR(kiln_json_object_key(root, 1), "msg");
	TAP_CHECK_STR(kiln_json_object_key(root, 2), "time");
	TAP_CHECK(kiln_json_get_string(root, "level", &s, &err) == 0);
	TAP_CHECK_STR(s, level);
	TAP_CHECK(kiln_json_get_string(root, "msg", &s, &err) == 0);
	TAP_CHECK_STR(s, msg);
	TAP_CHECK(kiln_json_get_string(root, "time", &s, &err) == 0);
	TAP_CHECK(timestamp_is_now(s, strlen(s)));
	return TAP_PASS;
}

static int test_json_file(void)
{
	static const char tricky[] = "say \"hi\"\nto C:\\dir\t\x01 caf\xc3\xa9 {}";
	static const char json_start[] = "{\"level\":\"error\",\"msg\":\"say \\\"hi\\\"\\nto "
					 "C:\\\\dir\\t\\u0001 caf\xc3\xa9 {}\","
					 "\"time\":\"";
	cleanup_log_file struct log_file lf = {0};
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *buf = NULL;
	char *lines[8];

	TAP_CHECK(log_file_make(&lf) == 0);
	TAP_CHECK(kiln_log_init("kiln", KILN_LOG_INFO, KILN_LOG_JSON, lf.path, &err) == 0);
	log_error("%s", tricky);
	log_warning("w");
	log_info("i %d", 3);
	log_debug("filtered");
	/* Not UTF-8: each bad byte becomes U+FFFD, as Go's encoder does. */
	log_error("bad \xff\xc3 bytes \xed\xa0\x80");
	buf = log_file_read(&lf);
	TAP_CHECK(buf != NULL);

	TAP_CHECK(split_lines(buf, lines, 8) == 4);
	/* The exact bytes podman and containerd read. */
	TAP_CHECK(strncmp(lines[0], json_start, strlen(json_start)) == 0);
	TAP_CHECK(json_line_check(lines[0], "error", tricky) == TAP_PASS);
	TAP_CHECK(json_line_check(lines[1], "warning", "w") == TAP_PASS);
	TAP_CHECK(json_line_check(lines[2], "info", "i 3") == TAP_PASS);
	TAP_CHECK(json_line_check(lines[3], "error",
				  "bad \xef\xbf\xbd\xef\xbf\xbd bytes "
				  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd") == TAP_PASS);
	return TAP_PASS;
}

static void log_json_stderr(void)
{
	kiln_log_init("kiln", KILN_LOG_WARNING, KILN_LOG_JSON, NULL, NULL);
	log_warning("on stderr");
	kiln_log_close();
}

static int test_json_stderr(void)
{
	cleanup_free char *out = capture_stderr(log_json_stderr);
	char *lines[2];

	TAP_CHECK(split_lines(out, lines, 2) == 1);
	TAP_CHECK(json_line_check(lines[0], "warning", "on stderr") == TAP_PASS);
	return TAP_PASS;
}

static int test_file_appends(void)
{
	cleanup_log_file struct log_file lf = {0};
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *buf = NULL;
	char *lines[4];

	TAP_CHECK(log_file_make(&lf) == 0);
	TAP_CHECK(kiln_write_file_atomic(lf.path, "existing line\n", 14, 0644, &err) == 0);
	TAP_CHECK(kiln_log_init("kiln", KILN_LOG_INFO, KILN_LOG_TEXT, lf.path, &err) == 0);
	log_info("one");
	/* A second init (another kiln invocation) appends too. */
	TAP_CHECK(kiln_log_init("kiln", KILN_LOG_INFO, KILN_LOG_JSON, lf.path, &err) == 0);
	log_info("two");
	buf = log_file_read(&lf);
	TAP_CHECK(buf != NULL);
	TAP_CHECK(split_lines(buf, lines, 4) == 3);
	TAP_CHECK_STR(lines[0], "existing line");
	TAP_CHECK(text_line_is(lines[1], "\" level=info msg=\"one\""));
	TAP_CHECK(json_line_check(lines[2], "info", "two") == TAP_PASS);
	return TAP_PASS;
}

static int test_levels(void)
{
	cleanup_log_file struct log_file lf = {0};
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *buf = NULL;
	char *lines[8];

	TAP_CHECK(log_file_make(&lf) == 0);
	TAP_CHECK(kiln_log_init("kiln", KILN_LOG_ERROR, KILN_LOG_JSON, lf.path, &err) == 0);
	TAP_CHECK(kiln_log_enabled(KILN_LOG_ERROR));
	TAP_CHECK(!kiln_log_enabled(KILN_LOG_WARNING));
	log_error("e");
	log_warning("w");
	log_info("i");
	log_debug("d");
	buf = log_file_read(&lf);
	TAP_CHECK(buf != NULL);
	TAP_CHECK(split_lines(buf, lines, 8) == 1);
	TAP_CHECK(json_line_check(lines[0], "error", "e") == TAP_PASS);

	TAP_CHECK_STR(kiln_log_level_name(KILN_LOG_ERROR), "error");
	TAP_CHECK_STR(kiln_log_level_name(KILN_LOG_WARNING), "warning");
	TAP_CHECK_STR(kiln_log_level_name(KILN_LOG_INFO), "info");
	TAP_CHECK_STR(kiln_log_level_name(KILN_LOG_DEBUG), "debug");
	TAP_CHECK_STR(kiln_log_level_name((enum kiln_log_level)42), "unknown");
	return TAP_PASS;
}

static int test_parse_names(void)
{
	enum kiln_log_level lvl = KILN_LOG_ERROR;
	enum kiln_log_format fmt = KILN_LOG_TEXT;

	TAP_CHECK(kiln_log_parse_level("debug", &lvl) == 0 && lvl == KILN_LOG_DEBUG);
	TAP_CHECK(kiln_log_parse_level("info", &lvl) == 0 && lvl == KILN_LOG_INFO);
	TAP_CHECK(kiln_log_parse_level("warning", &lvl) == 0 && lvl == KILN_LOG_WARNING);
	TAP_CHECK(kiln_log_parse_level("error", &lvl) == 0 && lvl == KILN_LOG_ERROR);
	TAP_CHECK(kiln_log_parse_level("WARN", &lvl) == 0 && lvl == KILN_LOG_WARNING);
	TAP_CHECK(kiln_log_parse_level("Debug", &lvl) == 0 && lvl == KILN_LOG_DEBUG);
	TAP_CHECK(kiln_log_parse_level("verbose", &lvl) == -1 && lvl == KILN_LOG_DEBUG);
	TAP_CHECK(kiln_log_parse_level("", &lvl) == -1);

	TAP_CHECK(kiln_log_parse_format("json", &fmt) == 0 && fmt == KILN_LOG_JSON);
	TAP_CHECK(kiln_log_parse_format("text", &fmt) == 0 && fmt == KILN_LOG_TEXT);
	TAP_CHECK(kiln_log_parse_format("xml", &fmt) == -1 && fmt == KILN_LOG_TEXT);
	return TAP_PASS;
}

static int test_init_fails(void)
{
	cleanup_error kiln_error_t err = NULL;

	kiln_log_close();
	TAP_CHECK(kiln_log_init("other", KILN_LOG_DEBUG, KILN_LOG_JSON, "/nonexistent/dir/x.log",
				&err) < 0);
	TAP_CHECK_STR(err->msg,
		      "open log file '/nonexistent/dir/x.log': No such file or directory");
	/* The previous configuration stays. */
	TAP_CHECK_STR(kiln_log_prog(), "kiln");
	TAP_CHECK(!kiln_log_enabled(KILN_LOG_DEBUG));
	return TAP_PASS;
}

static int test_errno_preserved(void)
{
	cleanup_log_file struct log_file lf = {0};
	cleanup_error kiln_error_t err = NULL;

	TAP_CHECK(log_file_make(&lf) == 0);
	TAP_CHECK(kiln_log_init("kiln", KILN_LOG_DEBUG, KILN_LOG_JSON, lf.path, &err) == 0);
	errno = ENOSPC;
	log_info("x");
	log_debug("y");
	TAP_CHECK(errno == ENOSPC);
	return TAP_PASS;
}

#define THREADS		 8
#define LINES_PER_THREAD 500

static void *log_thread(void *arg)
{
	long id = (long)arg;

	/* Long enough lines that a non-atomic writer would interleave. */
	for (int i = 0; i < LINES_PER_THREAD; i++)
		log_info("thread %ld line %d %0400d", id, i, 0);
	return NULL;
}

static int test_threads_whole_lines(void)
{
	cleanup_log_file struct log_file lf = {0};
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *buf = NULL;
	cleanup_free char **lines = xcalloc(THREADS * LINES_PER_THREAD + 1, sizeof(char *));
	pthread_t th[THREADS];
	size_t n;

	TAP_CHECK(log_file_make(&lf) == 0);
	TAP_CHECK(kiln_log_init("kiln", KILN_LOG_INFO, KILN_LOG_JSON, lf.path, &err) == 0);
	for (long i = 0; i < THREADS; i++)
		TAP_CHECK(pthread_create(&th[i], NULL, log_thread, (void *)i) == 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);

	buf = log_file_read(&lf);
	TAP_CHECK(buf != NULL);
	n = split_lines(buf, lines, THREADS * LINES_PER_THREAD + 1);
	TAP_CHECK(n == THREADS * LINES_PER_THREAD);
	for (size_t i = 0; i < n; i++) {
		cleanup_json kiln_json_t *root = NULL;

		TAP_CHECK(kiln_json_parse(lines[i], strlen(lines[i]), &root, &err) == 0);
	}
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_defaults), TAP_TEST(test_text_stderr), TAP_TEST(test_text_file),
	 TAP_TEST(test_json_file), TAP_TEST(test_json_stderr), TAP_TEST(test_file_appends),
	 TAP_TEST(test_levels), TAP_TEST(test_parse_names), TAP_TEST(test_init_fails),
	 TAP_TEST(test_errno_preserved), TAP_TEST(test_threads_whole_lines))
