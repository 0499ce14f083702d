#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/io.h"
#include "common/log.h"
#include "common/util.h"

int kiln_error_make(kiln_error_t *err, int status, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	struct kiln_error_s *e;
	va_list ap;

	if (err == NULL)
		return -1;
	if (status < 0)
		status = -status;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);

	e = xmalloc(sizeof(*e));
	e->status = status;
	if (status != 0) {
		char buf[256];

		/* The GNU strerror_r is thread-safe and may return a static string
		 * instead of filling buf. */
		e->msg = xasprintf("%s: %s", msg, strerror_r(status, buf, sizeof(buf)));
	} else {
		e->msg = TAKE_PTR(msg);
	}

	kiln_error_free(err);
	*err = e;
	return -1;
}

int kiln_error_wrap(kiln_error_t *err, const char *fmt, ...)
{
	cleanup_free char *context = NULL;
	char *msg;
	va_list ap;

	if (err == NULL)
		return -1;

	va_start(ap, fmt);
	context = xvasprintf(fmt, ap);
	va_end(ap);

	if (*err == NULL)
		return kiln_error_make(err, 0, "%s", context);

	msg = xasprintf("%s: %s", context, (*err)->msg ? (*err)->msg : "unknown error");
	free((*err)->msg);
	(*err)->msg = msg;
	return -1;
}

void kiln_error_free(kiln_error_t *err)
{
	if (err == NULL || *err == NULL)
		return;
	free((*err)->msg);
	free(*err);
	*err = NULL;
}

int kiln_error_print_and_free(kiln_error_t *err, const char *prog)
{
	const char *msg = "unknown error";
	cleanup_free char *line = NULL;

	if (err != NULL && *err != NULL && (*err)->msg != NULL)
		msg = (*err)->msg;
	if (prog == NULL)
		prog = kiln_log_prog();

	/* runc writes a fatal error both to its log and to stderr: podman and
	 * containerd read the log file, a person reads the terminal. When the
	 * log is plain text on stderr the two would be the same line. */
	if (!kiln_log_is_stderr_text())
		kiln_log(KILN_LOG_ERROR, "%s", msg);

	line = xasprintf("%s: %s\n", prog, msg);
	kiln_write_all(STDERR_FILENO, line, strlen(line));

	kiln_error_free(err);
	return 1;
}
