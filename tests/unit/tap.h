/* A small TAP producer for kiln's unit tests, after crun's tests/: each test
 * is a function returning TAP_PASS, TAP_FAIL or TAP_SKIP; TAP_MAIN lists them
 * and prints the plan, one result line per test and diagnostics as "# ...". */
#ifndef KILN_TESTS_UNIT_TAP_H
#define KILN_TESTS_UNIT_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { TAP_PASS = 0, TAP_FAIL = 1, TAP_SKIP = 77 };

struct tap_test {
	const char *name;
	int (*fn)(void);
};

__attribute__((format(printf, 1, 2))) static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
}

/* Fails the current test, saying where and what, when cond is false. */
#define TAP_CHECK(cond)                                                                            \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			tap_diag("%s:%d: check failed: %s", __FILE__, __LINE__, #cond);            \
			return TAP_FAIL;                                                           \
		}                                                                                  \
	} while (0)

/* Fails the current test unless two C strings are equal (NULL never is). */
#define TAP_CHECK_STR(got, want)                                                                   \
	do {                                                                                       \
		const char *got_ = (got), *want_ = (want);                                         \
		if (got_ == NULL || want_ == NULL || strcmp(got_, want_) != 0) {                   \
			tap_diag("%s:%d: %s is \"%s\", want \"%s\"", __FILE__, __LINE__, #got,     \
				 got_ ? got_ : "(null)", want_ ? want_ : "(null)");                \
			return TAP_FAIL;                                                           \
		}                                                                                  \
	} while (0)

static inline int tap_run(const struct tap_test *tests, size_t n)
{
	int failed = 0;

	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		int r;

		fflush(stdout);
		r = tests[i].fn();
		if (r == TAP_PASS)
			printf("ok %zu - %s\n", i + 1, tests[i].name);
		else if (r == TAP_SKIP)
			printf("ok %zu - %s # SKIP\n", i + 1, tests[i].name);
		else {
			printf("not ok %zu - %s\n", i + 1, tests[i].name);
			failed = 1;
		}
	}
	return failed;
}

#define TAP_TEST(fn)                                                                               \
	{                                                                                          \
#fn, fn                                                                            \
	}
#define TAP_MAIN(...)                                                                              \
	int main(void)                                                                             \
	{                                                                                          \
		static const struct tap_test tests_[] = {__VA_ARGS__};                             \
		return tap_run(tests_, sizeof(tests_) / sizeof(tests_[0]));                        \
	}

#endif
