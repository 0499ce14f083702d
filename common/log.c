#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

static struct {
	char *prog;
	enum kiln_log_level level;
	enum kiln_log_format format;
	/* The log file, or -1 for stderr. */
	int fd;
} log_state = {.prog = NULL, .level = KILN_LOG_WARNING, .format = KILN_LOG_TEXT, .fd = -1};

static const char *const level_names[] = {
    [KILN_LOG_ERROR] = "error",
    [KILN_LOG_WARNING] = "warning",
    [KILN_LOG_INFO] = "info",
    [KILN_LOG_DEBUG] = "debug",
};

const char *kiln_log_level_name(enum kiln_log_level level)
{
	if ((size_t)level >= ARRAY_SIZE(level_names))
		return "unknown";
	return level_names[level];
}

int kiln_log_parse_level(const char *name, enum kiln_log_level *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (enum kiln_log_level)i;
			return 0;
		}
	}
	/* logrus, and so runc, accept the short form too. */
	if (strcasecmp(name, "warn") == 0) {
		*out = KILN_LOG_WARNING;
		return 0;
	}
	return -1;
}

int kiln_log_parse_format(const char *name, enum kiln_log_format *out)
{
	if (strcasecmp(name, "text") == 0)
		*out = KILN_LOG_TEXT;
	else if (strcasecmp(name, "json") == 0)
		*out = KILN_LOG_JSON;
	else
		return -1;
	return 0;
}

const char *kiln_log_prog(void)
{
	return log_state.prog ? log_state.prog : "kiln";
}

bool kiln_log_is_stderr_text(void)
{
	return log_state.fd < 0 && log_state.format == KILN_LOG_TEXT;
}

bool kiln_log_enabled(enum kiln_log_level level)
{
	return level <= log_state.level;
}

void kiln_log_close(void)
{
	if (log_state.fd >= 0)
		close(log_state.fd);
	free(log_state.prog);
	log_state.prog = NULL;
	log_state.fd = -1;
	log_state.level = KILN_LOG_WARNING;
	log_state.format = KILN_LOG_TEXT;
}

int kiln_log_init(const char *prog, enum kiln_log_level level, enum kiln_log_format fmt,
		  const char *path, kiln_error_t *err)
{
	int fd = -1;

	if (path != NULL && *path != '\0') {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
		if (fd < 0)
			return kiln_error_make(err, errno, "open log file '%s'", path);
	}

	kiln_log_close();
	if (prog != NULL) {
		const char *slash = strrchr(prog, '/');

		log_state.prog = xstrdup(slash ? slash + 1 : prog);
	}
	log_state.level = level;
	log_state.format = fmt;
	log_state.fd = fd;
	return 0;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 if there is none. */
static size_t utf8_seq_len(const unsigned char *s)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	/* The second byte's range is narrower after these leads. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* Messages carry paths and command output, which need not be UTF-8; JSON
 * must be. Replace each bad byte with U+FFFD, as Go's encoder does. */
static char *utf8_sanitize(const char *s)
{
	size_t len = strlen(s);
	char *out = xmalloc(len * 3 + 1);
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len((const unsigned char *)s + i);

		if (n == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		}
	}
	out[o] = '\0';
	return out;
}

static char *log_line_json(const char *level, const char *msg, const char *ts)
{
	cleanup_json_gen kiln_json_gen_t *gen = kiln_json_gen_new(false);
	cleanup_free char *clean = utf8_sanitize(msg);
	cleanup_error kiln_error_t err = NULL;
	char *json = NULL, *line;
	size_t len;

	kiln_json_gen_map_open(gen);
	kiln_json_gen_key(gen, "level");
	kiln_json_gen_string(gen, level);
	kiln_json_gen_key(gen, "msg");
	kiln_json_gen_string(gen, clean);
	kiln_json_gen_key(gen, "time");
	kiln_json_gen_string(gen, ts);
	kiln_json_gen_map_close(gen);
	if (kiln_json_gen_finish(gen, &json, &len, &err) < 0)
		return NULL;

	line = xrealloc(json, len + 2);
	line[len] = '\n';
	line[len + 1] = '\0';
	return line;
}

/* A logfmt value as logrus's text formatter writes it: quoted, with quotes,
 * backslashes and control characters escaped so a line stays one line. */
static char *logfmt_quote(const char *s)
{
	char *out = xmalloc(strlen(s) * 4 + 3);
	size_t o = 0;

	out[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			o += (size_t)sprintf(out + o, "\\\"");
			break;
		case '\\':
			o += (size_t)sprintf(out + o, "\\\\");
			break;
		case '\n':
			o += (size_t)sprintf(out + o, "\\n");
			break;
		case '\r':
			o += (size_t)sprintf(out + o, "\\r");
			break;
		case '\t':
			o += (size_t)sprintf(out + o, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				o += (size_t)sprintf(out + o, "\\x%02x", *p);
			else
				out[o++] = (char)*p;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

void kiln_logv(enum kiln_log_level level, const char *fmt, va_list ap)
{
	cleanup_free char *msg = NULL;
	cleanup_free char *line = NULL;
	const char *name = kiln_log_level_name(level);
	int saved = errno;
	char ts[32];
	struct tm tm;
	time_t now;

	if (!kiln_log_enabled(level))
		return;

	msg = xvasprintf(fmt, ap);
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);

	if (log_state.format == KILN_LOG_JSON)
		line = log_line_json(name, msg, ts);
	if (line == NULL && log_state.fd >= 0) {
		cleanup_free char *quoted = logfmt_quote(msg);

		line = xasprintf("time=\"%s\" level=%s msg=%s\n", ts, name, quoted);
	} else if (line == NULL) {
		line = xasprintf("%s: %s: %s\n", kiln_log_prog(), name, msg);
	}

	/* Nowhere left to report a failed log write. */
	kiln_write_all(log_state.fd >= 0 ? log_state.fd : STDERR_FILENO, line, strlen(line));
	errno = saved;
}

void kiln_log(enum kiln_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kiln_logv(level, fmt, ap);
	va_end(ap);
}
