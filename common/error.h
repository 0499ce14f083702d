/* The error contract every kiln library function follows (after crun's
 * libcrun/error.c): a function that can fail takes `kiln_error_t *err`,
 * returns a negative value and sets `*err` to an allocated {status, msg};
 * callers add context on the way up with kiln_error_wrap(), and only main()
 * turns the error into output and an exit status. */
#ifndef KILN_COMMON_ERROR_H
#define KILN_COMMON_ERROR_H

typedef struct kiln_error_s {
	/* errno value that caused the error, or 0 when there is none. */
	int status;
	/* One line, no trailing newline; owned by the error. */
	char *msg;
} * kiln_error_t;

/* Sets *err to a new error and returns -1, so a failure path can be
 * `return kiln_error_make(err, errno, "open '%s'", path);`. A non-zero status
 * appends ": strerror(status)"; a negative status (a -errno return value) is
 * taken as its absolute value. An error already in *err is freed first.
 * err may be NULL when the caller does not want the error. */
__attribute__((format(printf, 3, 4))) int kiln_error_make(kiln_error_t *err, int status,
							  const char *fmt, ...);

/* Prepends "<context>: " to the message in *err, keeping its status, and
 * returns -1. With no error in *err it creates one (status 0) holding just
 * the context, so a caller's mistake still yields a message. */
__attribute__((format(printf, 2, 3))) int kiln_error_wrap(kiln_error_t *err, const char *fmt, ...);

/* Frees *err and sets it to NULL; accepts err == NULL and *err == NULL. */
void kiln_error_free(kiln_error_t *err);

/* For main(): prints "prog: msg" as one line on stderr (and records it in the
 * log when the log goes to a file or is JSON, so podman/containerd see it),
 * frees the error and returns the exit status to use (1). prog may be NULL
 * to use the name given to kiln_log_init(). */
int kiln_error_print_and_free(kiln_error_t *err, const char *prog);

#endif
