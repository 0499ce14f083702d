/* A scratch directory for a unit test, removed with its plain files when
 * the cleanup_tmpdir variable holding it goes out of scope. */
#ifndef KILN_TESTS_UNIT_TMPDIR_H
#define KILN_TESTS_UNIT_TMPDIR_H

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/util.h"

/* A new directory /tmp/kiln-test-<name>.XXXXXX, allocated; NULL on failure. */
static inline char *test_tmpdir_make(const char *name)
{
	cleanup_free char *tmpl = xasprintf("/tmp/kiln-test-%s.XXXXXX", name);

	if (mkdtemp(tmpl) == NULL)
		return NULL;
	return TAKE_PTR(tmpl);
}

static inline void test_tmpdir_remove(char **dir)
{
	cleanup_closedir DIR *d = NULL;
	struct dirent *de;

	if (*dir == NULL)
		return;
	d = opendir(*dir);
	while (d != NULL && (de = readdir(d)) != NULL) {
		cleanup_free char *p = NULL;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		p = xasprintf("%s/%s", *dir, de->d_name);
		unlink(p);
	}
	rmdir(*dir);
	free(*dir);
	*dir = NULL;
}
#define cleanup_tmpdir __attribute__((cleanup(test_tmpdir_remove)))

#endif
