#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "tests/unit/tap.h"

static int test_make_without_status(void)
{
	kiln_error_t err = NULL;

	TAP_CHECK(kiln_error_make(&err, 0, "bad value %d in '%s'", 42, "x") == -1);
	TAP_CHECK(err != NULL);
	TAP_CHECK(err->status == 0);
	TAP_CHECK_STR(err->msg, "bad value 42 in 'x'");
	kiln_error_free(&err);
	TAP_CHECK(err == NULL);
	return TAP_PASS;
}

static int test_make_with_status(void)
{
	kiln_error_t err = NULL;

	TAP_CHECK(kiln_error_make(&err, ENOENT, "open '%s'", "/nope") == -1);
	TAP_CHECK(err->status == ENOENT);
	TAP_CHECK_STR(err->msg, "open '/nope': No such file or directory");
	kiln_error_free(&err);
	return TAP_PASS;
}

static int test_make_negative_status(void)
{
	kiln_error_t err = NULL;

	/* A -errno return value can be passed straight through. */
	kiln_error_make(&err, -EACCES, "write");
	TAP_CHECK(err->status == EACCES);
	TAP_CHECK_STR(err->msg, "write: Permission denied");
	kiln_error_free(&err);
	return TAP_PASS;
}

static int test_make_replaces_previous(void)
{
	kiln_error_t err = NULL;

	kiln_error_make(&err, EIO, "first");
	kiln_error_make(&err, 0, "second");
	TAP_CHECK(err->status == 0);
	TAP_CHECK_STR(err->msg, "second");
	kiln_error_free(&err);
	return TAP_PASS;
}

static int test_make_null_err(void)
{
	TAP_CHECK(kiln_error_make(NULL, EIO, "ignored") == -1);
	TAP_CHECK(kiln_error_wrap(NULL, "ignored") == -1);
	return TAP_PASS;
}

static int test_wrap_keeps_status(void)
{
	kiln_error_t err = NULL;

	kiln_error_make(&err, ENOENT, "open '%s'", "config.json");
	TAP_CHECK(kiln_error_wrap(&err, "load bundle '%s'", "/b") == -1);
	TAP_CHECK(kiln_error_wrap(&err, "create") == -1);
	TAP_CHECK(err->status == ENOENT);
	TAP_CHECK_STR(err->msg,
		      "create: load bundle '/b': open 'config.json': No such file or directory");
	kiln_error_free(&err);
	return TAP_PASS;
}

static int test_wrap_without_error(void)
{
	kiln_error_t err = NULL;

	TAP_CHECK(kiln_error_wrap(&err, "context %d", 7) == -1);
	TAP_CHECK(err != NULL);
	TAP_CHECK(err->status == 0);
	TAP_CHECK_STR(err->msg, "context 7");
	kiln_error_free(&err);
	return TAP_PASS;
}

static int test_free_null_safe(void)
{
	kiln_error_t err = NULL;

	kiln_error_free(NULL);
	kiln_error_free(&err);
	kiln_error_free(&err);
	TAP_CHECK(err == NULL);
	return TAP_PASS;
}

static int test_cleanup_error(void)
{
	/* valgrind tells if this leaks. */
	cleanup_error kiln_error_t err = NULL;

	kiln_error_make(&err, EINVAL, "freed at scope exit");
	TAP_CHECK(err != NULL);
	return TAP_PASS;
}

/* Runs kiln_error_print_and_free() in a child whose stderr is a pipe, after
 * fn has set up the log; returns what the child wrote and its exit code. */
static int print_in_child(void (*fn)(void), char *buf, size_t size, int *code)
{
	int pfd[2], status;
	size_t len = 0;
	ssize_t r;
	pid_t pid;

	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		kiln_error_t err = NULL;

		dup2(pfd[1], STDERR_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		fn();
		kiln_error_make(&err, ENOENT, "open 'config.json'");
		kiln_error_wrap(&err, "create");
		_exit(kiln_error_print_and_free(&err, NULL));
	}
	close(pfd[1]);
	while (len + 1 < size && (r = read(pfd[0], buf + len, size - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	*code = WEXITSTATUS(status);
	return 0;
}

static void log_defaults(void)
{
	kiln_log_init("/usr/bin/kiln", KILN_LOG_WARNING, KILN_LOG_TEXT, NULL, NULL);
}

static void log_json_stderr(void)
{
	kiln_log_init("kiln", KILN_LOG_WARNING, KILN_LOG_JSON, NULL, NULL);
}

static int test_print_and_free(void)
{
	char buf[1024];
	int code = -1;

	TAP_CHECK(print_in_child(log_defaults, buf, sizeof(buf), &code) == 0);
	TAP_CHECK(code == 1);
	TAP_CHECK_STR(buf, "kiln: create: open 'config.json': No such file or directory\n");
	return TAP_PASS;
}

static int test_print_and_free_json_log(void)
{
	const char *want = "kiln: create: open 'config.json': No such file or directory\n";
	char buf[1024];
	char *nl;
	int code = -1;

	/* JSON log on stderr: the JSON line for tools, then the plain line. */
	TAP_CHECK(print_in_child(log_json_stderr, buf, sizeof(buf), &code) == 0);
	TAP_CHECK(code == 1);
	const char *json = "{\"level\":\"error\",\"msg\":\"create: open 'config.json': ";

	TAP_CHECK(strncmp(buf, json, strlen(json)) == 0);
	nl = strchr(buf, '\n');
	TAP_CHECK(nl != NULL);
	TAP_CHECK_STR(nl + 1, want);
	return TAP_PASS;
}

static int test_print_and_free_prog(void)
{
	kiln_error_t err = NULL;
	int saved = dup(STDERR_FILENO);
	int pfd[2];
	char buf[256];
	ssize_t n;

	TAP_CHECK(saved >= 0 && pipe(pfd) == 0);
	dup2(pfd[1], STDERR_FILENO);
	kiln_error_make(&err, 0, "boom");
	TAP_CHECK(kiln_error_print_and_free(&err, "kiln-vmm") == 1);
	TAP_CHECK(err == NULL);
	/* Also fine with nothing to print. */
	TAP_CHECK(kiln_error_print_and_free(&err, "kiln-vmm") == 1);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(pfd[1]);
	n = read(pfd[0], buf, sizeof(buf) - 1);
	close(pfd[0]);
	TAP_CHECK(n > 0);
	buf[n] = '\0';
	TAP_CHECK_STR(buf, "kiln-vmm: boom\nkiln-vmm: unknown error\n");
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_make_without_status), TAP_TEST(test_make_with_status),
	 TAP_TEST(test_make_negative_status), TAP_TEST(test_make_replaces_previous),
	 TAP_TEST(test_make_null_err), TAP_TEST(test_wrap_keeps_status),
	 TAP_TEST(test_wrap_without_error), TAP_TEST(test_free_null_safe),
	 TAP_TEST(test_cleanup_error), TAP_TEST(test_print_and_free),
	 TAP_TEST(test_print_and_free_json_log), TAP_TEST(test_print_and_free_prog))
