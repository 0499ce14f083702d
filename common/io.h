/* File descriptor and socket helpers that get the easy-to-miss parts right
 * once: EINTR, short reads and writes, size limits on input, crash-safe file
 * replacement, and passing fds over unix sockets (the --console-socket
 * protocol of runc). */
#ifndef KILN_COMMON_IO_H
#define KILN_COMMON_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

/* Writes all len bytes, retrying on EINTR and short writes. Returns len, or
 * -errno (bytes already written are then unknown to the caller). */
ssize_t kiln_write_all(int fd, const void *buf, size_t len);

/* Reads until len bytes or end of file. Returns the bytes read (< len only at
 * EOF), or -errno. */
ssize_t kiln_read_full(int fd, void *buf, size_t len);

/* Reads fd to EOF into *out (allocated, NUL-terminated; *out_len excludes the
 * NUL and may be NULL). Fails with EFBIG when there are more than max bytes. */
int kiln_read_fd_all(int fd, size_t max, char **out, size_t *out_len, kiln_error_t *err);

/* kiln_read_fd_all() on a file; error messages name path. */
int kiln_read_file(const char *path, size_t max, char **out, size_t *out_len, kiln_error_t *err);

/* Replaces path so that a reader, or a crash, sees either the old or the new
 * contents, never a mix: writes a temporary file in the same directory,
 * fsyncs it, renames it over path and fsyncs the directory. mode is applied
 * exactly (not filtered through the umask). */
int kiln_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			   kiln_error_t *err);

/* Sends fd over a unix socket as SCM_RIGHTS with a one-byte payload. Returns
 * 0 or -errno. */
int kiln_send_fd(int sock, int fd);

/* Receives one fd sent by kiln_send_fd() (or runc-style senders); the fd has
 * FD_CLOEXEC set. Returns 0 or -errno: -EBADMSG when the message carries no
 * fd or more than one (any that came are closed), -ECONNRESET when the peer
 * closed the connection. */
int kiln_recv_fd(int sock, int *fd);

/* Turn O_NONBLOCK / FD_CLOEXEC on or off. Return 0 or -errno. */
int kiln_set_nonblock(int fd, bool on);
int kiln_set_cloexec(int fd, bool on);

/* Creates a listening SOCK_STREAM unix socket (close-on-exec) at path and
 * returns its fd. A leftover socket file nobody listens on is replaced; a
 * live socket or a file that is not a socket is left alone and reported. */
int kiln_unix_listen(const char *path, kiln_error_t *err);

/* Connects to the unix socket at path; returns the fd (close-on-exec). */
int kiln_unix_connect(const char *path, kiln_error_t *err);

/* Runs fn(arg, err) in a forked child and waits for it: for work that
 * must not touch the caller's state (entering a namespace, unsharing one).
 * The child's error message comes back through a pipe; what = the message
 * when the child dies without one. Returns 0 or -1 with *err. */
int kiln_call_in_child(int (*fn)(void *arg, kiln_error_t *err), void *arg, const char *what,
		       kiln_error_t *err);

#endif
