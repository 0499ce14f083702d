/* What serves /dev/kvm (common/kvm.c), read from a fixture tree standing in
 * for /dev and /sys/module, and kiln.conf's pvm_guest_kernel switch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/io.h"
#include "common/kvm.h"
#include "runtime/runtime.h"
#include "tests/unit/tap.h"
#include "tests/unit/tmpdir.h"

static void remove_tree(char **dir)
{
	if (*dir)
		kiln_remove_tree(*dir);
	free(*dir);
}

#define cleanup_tree __attribute__((cleanup(remove_tree)))

/* A fixture root with dev/kvm (a char device when chr, else a plain file,
 * none when !kvm) and the given sys/module entries. */
static char *fixture(bool kvm, bool chr, const char *const *modules)
{
	static const char *const dirs[] = {"dev", "sys", "sys/module"};
	char *root = test_tmpdir_make("kvm");

	if (root == NULL)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		cleanup_free char *d = xasprintf("%s/%s", root, dirs[i]);

		mkdir(d, 0755);
	}
	if (kvm) {
		cleanup_free char *node = xasprintf("%s/dev/kvm", root);

		if (mknod(node, (chr ? S_IFCHR : S_IFREG) | 0600, chr ? makedev(10, 232) : 0) < 0)
			tap_diag("mknod %s: %m", node);
	}
	for (; modules && *modules; modules++) {
		cleanup_free char *m = xasprintf("%s/sys/module/%s", root, *modules);

		mkdir(m, 0755);
	}
	return root;
}

static int test_kinds(void)
{
	static const struct {
		bool kvm, chr;
		const char *modules[3];
		enum kiln_kvm_kind want;
	} cases[] = {
	    {false, false, {"kvm_intel"}, KILN_KVM_NONE},
	    {true, false, {"kvm_intel"}, KILN_KVM_NONE}, /* not a device node */
	    {true, true, {"kvm", "kvm_intel"}, KILN_KVM_INTEL},
	    {true, true, {"kvm", "kvm_amd"}, KILN_KVM_AMD},
	    {true, true, {"kvm", "kvm_pvm"}, KILN_KVM_PVM},
	    /* a PVM host may also have a vendor module loaded */
	    {true, true, {"kvm_pvm", "kvm_intel"}, KILN_KVM_PVM},
	    {true, true, {"kvm"}, KILN_KVM_UNKNOWN},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_tree char *root = fixture(cases[i].kvm, cases[i].chr, cases[i].modules);
		enum kiln_kvm_kind got;

		TAP_CHECK(root != NULL);
		got = kiln_kvm_kind(root);
		if (got != cases[i].want)
			tap_diag("case %zu: got %s, want %s", i, kiln_kvm_kind_name(got),
				 kiln_kvm_kind_name(cases[i].want));
		TAP_CHECK(got == cases[i].want);
	}
	TAP_CHECK_STR(kiln_kvm_kind_name(KILN_KVM_PVM), "pvm");
	TAP_CHECK_STR(kiln_kvm_kind_name(KILN_KVM_INTEL), "intel");
	TAP_CHECK_STR(kiln_kvm_kind_name((enum kiln_kvm_kind)99), "unknown");
	return TAP_PASS;
}

/* On this machine: the refusal happens exactly when /dev/kvm is PVM and
 * the switch is off, and its one line names PVM and the switch. */
static int test_bootable_here(void)
{
	bool pvm = kiln_kvm_kind("") == KILN_KVM_PVM;
	cleanup_error kiln_error_t err = NULL;

	TAP_CHECK(kiln_kvm_check_bootable(true, "the switch", &err) == 0);
	TAP_CHECK((kiln_kvm_check_bootable(false, "set the switch", &err) < 0) == pvm);
	if (pvm) {
		TAP_CHECK(strstr(err->msg, "PVM (kvm_pvm)") != NULL);
		TAP_CHECK(strstr(err->msg, "set the switch") != NULL);
		TAP_CHECK(strchr(err->msg, '\n') == NULL);
	}
	return TAP_PASS;
}

static int conf_with(const char *dir, const char *text, struct kiln_conf *c, kiln_error_t *err)
{
	cleanup_free char *path = xasprintf("%s/kiln.conf", dir);
	const char *used;

	if (kiln_write_file_atomic(path, text, strlen(text), 0600, err) < 0)
		return -1;
	setenv("KILN_CONF", path, 1);
	return kiln_conf_read(c, &used, err);
}

static int test_conf_switch(void)
{
	cleanup_tree char *dir = test_tmpdir_make("kvmconf");
	struct kiln_conf c = {0};
	cleanup_error kiln_error_t err = NULL;

	TAP_CHECK(dir != NULL);
	TAP_CHECK(conf_with(dir, "vcpus = 2\n", &c, &err) == 0);
	TAP_CHECK(!c.pvm_guest_kernel);
	kiln_conf_release(&c);
	TAP_CHECK(conf_with(dir, "pvm_guest_kernel = true\n", &c, &err) == 0);
	TAP_CHECK(c.pvm_guest_kernel);
	kiln_conf_release(&c);
	TAP_CHECK(conf_with(dir, "pvm_guest_kernel = false # stock kernel\n", &c, &err) == 0);
	TAP_CHECK(!c.pvm_guest_kernel);
	kiln_conf_release(&c);
	TAP_CHECK(conf_with(dir, "\npvm_guest_kernel = yes\n", &c, &err) < 0);
	TAP_CHECK(strstr(err->msg, "kiln.conf:2: pvm_guest_kernel: expected true or false, got "
				   "\"yes\"") != NULL);
	kiln_conf_release(&c);
	unsetenv("KILN_CONF");
	return TAP_PASS;
}

TAP_MAIN({"what serves /dev/kvm", test_kinds}, {"PVM refusal on this machine", test_bootable_here},
	 {"kiln.conf pvm_guest_kernel", test_conf_switch})
