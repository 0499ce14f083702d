/* Logging for every kiln binary. Lines go to stderr or, with `--log FILE`,
 * are appended to a file, as text or as JSON lines in the format runc and
 * crun write ({"level":"error","msg":"...","time":"..."}), which podman and
 * containerd parse to report a runtime's errors. Each line is one write(),
 * so lines from several threads or processes do not interleave. */
#ifndef KILN_COMMON_LOG_H
#define KILN_COMMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "common/error.h"

/* Most severe first: a message is written when its level <= the set level. */
enum kiln_log_level {
	KILN_LOG_ERROR,
	KILN_LOG_WARNING,
	KILN_LOG_INFO,
	KILN_LOG_DEBUG,
};

enum kiln_log_format {
	/* stderr: "prog: level: msg"; file: time="..." level=... msg="..." */
	KILN_LOG_TEXT,
	/* {"level":"...","msg":"...","time":"2026-11-23T01:02:03Z"} */
	KILN_LOG_JSON,
};

/* Until kiln_log_init() is called, messages up to KILN_LOG_WARNING go to
 * stderr as text under the name "kiln". prog may be a path (argv[0]); its
 * last component is used. path NULL or "" means stderr; otherwise the file
 * is created if needed (0644) and appended to. Not thread-safe: call it
 * before starting threads. */
int kiln_log_init(const char *prog, enum kiln_log_level level, enum kiln_log_format fmt,
		  const char *path, kiln_error_t *err);

/* Closes the log file, if any, and returns to the defaults above. */
void kiln_log_close(void);

/* Never changes errno, so it can sit between a failing call and the code
 * that reports errno. */
__attribute__((format(printf, 2, 3))) void kiln_log(enum kiln_log_level level, const char *fmt,
						    ...);
__attribute__((format(printf, 2, 0))) void kiln_logv(enum kiln_log_level level, const char *fmt,
						     va_list ap);

/* Whether a message at level would be written; for callers whose message is
 * expensive to build. */
bool kiln_log_enabled(enum kiln_log_level level);

#define log_error(...)	 kiln_log(KILN_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) kiln_log(KILN_LOG_WARNING, __VA_ARGS__)
#define log_info(...)	 kiln_log(KILN_LOG_INFO, __VA_ARGS__)
#define log_debug(...)	 kiln_log(KILN_LOG_DEBUG, __VA_ARGS__)

/* Names as runc's --log-level takes them ("error", "warning" or "warn",
 * "info", "debug"; any case) and "text"/"json" for --log-format. Return 0,
 * or -1 for an unknown name. */
int kiln_log_parse_level(const char *name, enum kiln_log_level *out);
int kiln_log_parse_format(const char *name, enum kiln_log_format *out);

/* "error", "warning", "info", "debug": the names in the JSON "level" field. */
const char *kiln_log_level_name(enum kiln_log_level level);

/* The program name messages carry. */
const char *kiln_log_prog(void);

/* True when the log is text on stderr, i.e. the person at the terminal
 * already sees every log line. */
bool kiln_log_is_stderr_text(void);

#endif
