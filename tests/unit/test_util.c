#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/unit/tap.h"

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int open_in_scope(void)
{
	cleanup_close int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	return fd;
}

static int test_cleanup_close(void)
{
	int fd = open_in_scope();

	TAP_CHECK(fd >= 0);
	TAP_CHECK(!fd_is_open(fd));
	{
		/* -1 is skipped, not passed to close(). */
		cleanup_close int none = -1;
		(void)none;
	}
	return TAP_PASS;
}

static int take_fd_from_scope(void)
{
	cleanup_close int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	return TAKE_FD(fd);
}

static int test_take_fd(void)
{
	int fd = take_fd_from_scope();
	int x = 5, y;

	TAP_CHECK(fd >= 0);
	TAP_CHECK(fd_is_open(fd));
	close(fd);

	y = TAKE_FD(x);
	TAP_CHECK(y == 5);
	TAP_CHECK(x == -1);
	return TAP_PASS;
}

static char *take_ptr_from_scope(void)
{
	cleanup_free char *s = xstrdup("kept");

	return TAKE_PTR(s);
}

static int test_take_ptr(void)
{
	cleanup_free char *s = take_ptr_from_scope();
	cleanup_free int *p = xmalloc(sizeof(int));
	int *q;

	TAP_CHECK_STR(s, "kept");
	q = TAKE_PTR(p);
	TAP_CHECK(p == NULL);
	TAP_CHECK(q != NULL);
	free(q);
	return TAP_PASS;
}

static int test_cleanup_preserves_errno(void)
{
	{
		cleanup_free char *s = xstrdup("x");
		cleanup_close int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		(void)s;
		(void)fd;
		errno = ENOSPC;
	}
	TAP_CHECK(errno == ENOSPC);
	return TAP_PASS;
}

static int test_cleanup_fclose_closedir(void)
{
	int fd;

	{
		cleanup_fclose FILE *f = fopen("/dev/null", "re");
		cleanup_closedir DIR *d = opendir("/");
		cleanup_fclose FILE *none = NULL;
		cleanup_closedir DIR *dnone = NULL;

		TAP_CHECK(f != NULL && d != NULL);
		(void)none;
		(void)dnone;
		fd = fileno(f);
	}
	/* The stream's fd went with it (valgrind checks the DIR). */
	TAP_CHECK(!fd_is_open(fd));
	return TAP_PASS;
}

static int test_cleanup_error(void)
{
	cleanup_error kiln_error_t err = NULL;

	kiln_error_make(&err, 0, "released by cleanup_error");
	TAP_CHECK(err != NULL);
	return TAP_PASS;
}

static int test_alloc(void)
{
	cleanup_free unsigned char *z = xzalloc(64);
	cleanup_free uint32_t *c = xcalloc(16, sizeof(uint32_t));
	cleanup_free char *m = xmalloc(0);
	cleanup_free char *r = NULL;

	for (size_t i = 0; i < 64; i++)
		TAP_CHECK(z[i] == 0);
	for (size_t i = 0; i < 16; i++)
		TAP_CHECK(c[i] == 0);
	TAP_CHECK(m != NULL);

	r = xrealloc(NULL, 4);
	memcpy(r, "abc", 4);
	r = xrealloc(r, 1 << 20);
	TAP_CHECK_STR(r, "abc");
	r = xrealloc(r, 0);
	TAP_CHECK(r != NULL);
	return TAP_PASS;
}

static int test_strings(void)
{
	cleanup_free char *a = xstrdup("hello");
	cleanup_free char *b = xstrndup("hello", 3);
	cleanup_free char *c = xstrndup("hi", 10);
	cleanup_free char *d = xasprintf("%s-%d-%05.1f", "x", 42, 3.14159);

	TAP_CHECK_STR(a, "hello");
	TAP_CHECK_STR(b, "hel");
	TAP_CHECK_STR(c, "hi");
	TAP_CHECK_STR(d, "x-42-003.1");
	TAP_CHECK(xstrdup(NULL) == NULL);
	TAP_CHECK(xstrndup(NULL, 4) == NULL);
	TAP_CHECK(streq(a, "hello"));
	TAP_CHECK(!streq(a, "hell"));
	return TAP_PASS;
}

static int test_array_size(void)
{
	static const char *const names[] = {"a", "b", "c"};
	int nums[7];

	TAP_CHECK(ARRAY_SIZE(names) == 3);
	TAP_CHECK(ARRAY_SIZE(nums) == 7);
	return TAP_PASS;
}

static int test_oom_aborts(void)
{
	int pfd[2], status;
	char buf[128];
	ssize_t n;
	pid_t pid;

	/* An impossible size: xmalloc must report and abort, not return. */
	TAP_CHECK(pipe(pfd) == 0);
	pid = fork();
	TAP_CHECK(pid >= 0);
	if (pid == 0) {
		/* 4 EiB: beyond any address space, yet not "negative". */
		volatile size_t huge = (size_t)1 << 62;

		dup2(pfd[1], STDERR_FILENO);
		xmalloc(huge);
		_exit(0);
	}
	close(pfd[1]);
	n = read(pfd[0], buf, sizeof(buf) - 1);
	close(pfd[0]);
	TAP_CHECK(waitpid(pid, &status, 0) == pid);
	TAP_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
	TAP_CHECK(n > 0);
	buf[n] = '\0';
	TAP_CHECK_STR(buf, "kiln: out of memory\n");
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_cleanup_close), TAP_TEST(test_take_fd), TAP_TEST(test_take_ptr),
	 TAP_TEST(test_cleanup_preserves_errno), TAP_TEST(test_cleanup_fclose_closedir),
	 TAP_TEST(test_cleanup_error), TAP_TEST(test_alloc), TAP_TEST(test_strings),
	 TAP_TEST(test_array_size), TAP_TEST(test_oom_aborts))
