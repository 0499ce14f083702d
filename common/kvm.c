#include <stdio.h>
#include <sys/stat.h>

#include "common/kvm.h"
#include "common/util.h"

static bool exists(const char *root, const char *path, bool want_chr)
{
	cleanup_free char *p = xasprintf("%s%s", root, path);
	struct stat st;

	if (stat(p, &st) < 0)
		return false;
	return want_chr ? S_ISCHR(st.st_mode) : S_ISDIR(st.st_mode);
}

enum kiln_kvm_kind kiln_kvm_kind(const char *root)
{
	if (!exists(root, "/dev/kvm", true))
		return KILN_KVM_NONE;
	/* first: a PVM host may have a vendor module loaded beside it */
	if (exists(root, "/sys/module/kvm_pvm", false))
		return KILN_KVM_PVM;
	if (exists(root, "/sys/module/kvm_intel", false))
		return KILN_KVM_INTEL;
	if (exists(root, "/sys/module/kvm_amd", false))
		return KILN_KVM_AMD;
	return KILN_KVM_UNKNOWN;
}

const char *kiln_kvm_kind_name(enum kiln_kvm_kind k)
{
	static const char *const names[] = {
	    [KILN_KVM_NONE] = "none", [KILN_KVM_INTEL] = "intel",     [KILN_KVM_AMD] = "amd",
	    [KILN_KVM_PVM] = "pvm",   [KILN_KVM_UNKNOWN] = "unknown",
	};

	return (unsigned)k < ARRAY_SIZE(names) ? names[k] : "unknown";
}

int kiln_kvm_check_bootable(bool pvm_guest_kernel, const char *how, kiln_error_t *err)
{
	if (kiln_kvm_kind("") != KILN_KVM_PVM || pvm_guest_kernel)
		return 0;
	return kiln_error_make(err, 0,
			       "this host's /dev/kvm is PVM (kvm_pvm), which boots only kernels "
			       "built as PVM guests and hangs any other: run kiln on a machine "
			       "with hardware virtualisation (VT-x or AMD-V), or give it a PVM "
			       "guest kernel and %s",
			       how);
}
