#include <string.h>

#include "common/util.h"
#include "oci/sysctl.h"

/* The System V IPC sysctls of an ipc namespace (ipc/ipc_sysctl.c), as
 * runc lists them; fs.mqueue.* (ipc/mq_sysctl.c) goes with them. */
static const char *const ipc_sysctls[] = {
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
    "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
};

static bool valid_name(const char *key)
{
	size_t n = strlen(key);

	/* names the path of one file under /proc/sys, and nothing else */
	return n > 0 && key[0] != '.' && key[n - 1] != '.' && strstr(key, "..") == NULL &&
	       strchr(key, '/') == NULL && strchr(key, '=') == NULL;
}

int oci_sysctl_check(const char *key, unsigned ns_mask, kiln_error_t *err)
{
	bool ipc = false;

	if (!valid_name(key))
		return kiln_error_make(err, 0, "invalid sysctl name");
	for (size_t i = 0; i < ARRAY_SIZE(ipc_sysctls); i++)
		if (streq(key, ipc_sysctls[i]))
			ipc = true;
	if (ipc || strncmp(key, "fs.mqueue.", strlen("fs.mqueue.")) == 0) {
		if (!(ns_mask & OCI_NS_BIT(OCI_NS_IPC)))
			return kiln_error_make(err, 0, "needs an ipc namespace (linux.namespaces)");
		return 0;
	}
	if (strncmp(key, "net.", strlen("net.")) == 0) {
		if (!(ns_mask & OCI_NS_BIT(OCI_NS_NETWORK)))
			return kiln_error_make(err, 0,
					       "needs a network namespace (linux.namespaces)");
		return 0;
	}
	if (streq(key, "kernel.hostname"))
		return kiln_error_make(err, 0, "not allowed, the \"hostname\" field sets it");
	if (streq(key, "kernel.domainname")) {
		if (!(ns_mask & OCI_NS_BIT(OCI_NS_UTS)))
			return kiln_error_make(err, 0, "needs a uts namespace (linux.namespaces)");
		return 0;
	}
	return kiln_error_make(
	    err, 0,
	    "not in a namespace of the container's own (allowed: "
	    "kernel.{msgmax,msgmnb,msgmni,sem,shmall,shmmax,shmmni,shm_rmid_forced}, "
	    "fs.mqueue.*, net.*, kernel.domainname)");
}

int oci_config_check_sysctls(const struct oci_config *c, kiln_error_t *err)
{
	const struct oci_linux *l = c->linux_spec;
	unsigned mask = 0;

	if (l == NULL)
		return 0;
	for (size_t i = 0; i < l->n_namespaces; i++)
		mask |= OCI_NS_BIT(l->namespaces[i].type);
	for (size_t i = 0; i < l->sysctl.n; i++)
		if (oci_sysctl_check(l->sysctl.items[i].key, mask, err) < 0)
			return kiln_error_wrap(err, "linux.sysctl.%s", l->sysctl.items[i].key);
	return 0;
}

char *oci_sysctl_path(const char *key)
{
	char *path = xstrdup(key);

	for (char *c = path; *c; c++)
		if (*c == '.')
			*c = '/';
	return path;
}
