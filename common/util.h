/* Small helpers every kiln file uses: scope-bound cleanup (as in crun's
 * libcrun/utils.h and systemd), explicit ownership transfer, and allocators
 * that abort on out-of-memory so callers never handle it (STYLE.md). */
#ifndef KILN_COMMON_UTIL_H
#define KILN_COMMON_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"

/* Number of elements of a true array; a pointer argument fails to compile. */
#define ARRAY_SIZE(a)                                                                              \
	(sizeof(a) / sizeof((a)[0]) +                                                              \
	 0 * sizeof(struct {                                                                       \
		 int must_be_array_                                                                \
		     : !__builtin_types_compatible_p(__typeof__(a), __typeof__(&(a)[0]));          \
	 }))

static inline int streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* The value of hexadecimal digit c (either case), or -1. */
static inline int kiln_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Returns the pointer and leaves NULL behind, so a cleanup_* variable can
 * hand its object to the caller (systemd's TAKE_PTR). */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) *take_pp_ = &(p);                                                    \
		__typeof__(p) take_p_ = *take_pp_;                                                 \
		*take_pp_ = NULL;                                                                  \
		take_p_;                                                                           \
	})

/* The same for a file descriptor: returns it and leaves -1 behind. */
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int *take_pfd_ = &(fd);                                                            \
		int take_fd_ = *take_pfd_;                                                         \
		*take_pfd_ = -1;                                                                   \
		take_fd_;                                                                          \
	})

/* Cleanup functions keep errno, so a failure path can still report it after
 * its locals are released. */
static inline void cleanup_free_fn(void *p)
{
	int saved = errno;

	free(*(void **)p);
	errno = saved;
}

static inline void cleanup_close_fn(int *fd)
{
	int saved = errno;

	if (*fd >= 0)
		close(*fd);
	errno = saved;
}

static inline void cleanup_fclose_fn(FILE **f)
{
	int saved = errno;

	if (*f != NULL)
		fclose(*f);
	errno = saved;
}

static inline void cleanup_closedir_fn(DIR **d)
{
	int saved = errno;

	if (*d != NULL)
		closedir(*d);
	errno = saved;
}

static inline void cleanup_error_fn(kiln_error_t *err)
{
	kiln_error_free(err);
}

#define cleanup_free	 __attribute__((cleanup(cleanup_free_fn)))
#define cleanup_close	 __attribute__((cleanup(cleanup_close_fn)))
#define cleanup_fclose	 __attribute__((cleanup(cleanup_fclose_fn)))
#define cleanup_closedir __attribute__((cleanup(cleanup_closedir_fn)))
#define cleanup_error	 __attribute__((cleanup(cleanup_error_fn)))

/* Out of memory prints "kiln: out of memory" and aborts. A zero size still
 * returns a unique pointer. xstrdup/xstrndup map NULL to NULL. */
__attribute__((malloc, returns_nonnull)) void *xmalloc(size_t size);
__attribute__((malloc, returns_nonnull)) void *xzalloc(size_t size);
__attribute__((malloc, returns_nonnull)) void *xcalloc(size_t nmemb, size_t size);
__attribute__((returns_nonnull)) void *xrealloc(void *p, size_t size);
__attribute__((malloc)) char *xstrdup(const char *s);
__attribute__((malloc)) char *xstrndup(const char *s, size_t n);
__attribute__((malloc, returns_nonnull, format(printf, 1, 2))) char *xasprintf(const char *fmt,
									       ...);
__attribute__((malloc, returns_nonnull, format(printf, 1, 0))) char *xvasprintf(const char *fmt,
										va_list ap);

/* CLOCK_MONOTONIC in milliseconds: for deadlines. */
long long kiln_now_ms(void);

#endif
