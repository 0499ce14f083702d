/* linux.sysctl (config-linux.md#sysctl), validated as runc validates it
 * (libcontainer/configs/validate, sysctl()): a container may set only the
 * sysctls that live in one of its own namespaces, so that none reaches
 * beyond it. In kiln the namespaces are the guest kernel's; the reasons
 * for keeping runc's rules in a VM are in docs/runtime.md. Shared by
 * `kiln create` (refuses before any VM boots) and kiln-agent. */
#ifndef KILN_OCI_SYSCTL_H
#define KILN_OCI_SYSCTL_H

#include "common/error.h"
#include "oci/config.h"
#include "oci/names.h"

/* The bit of namespace type t in the masks below. */
#define OCI_NS_BIT(t) (1u << (t))

/* Whether key may be set in a container with the namespaces in mask (one
 * OCI_NS_BIT per linux.namespaces entry, new or joined):
 *   kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem,
 *   kernel.shmall, kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced
 *   and fs.mqueue.*       with an ipc namespace
 *   net.*                 with a network namespace
 *   kernel.domainname     with a uts namespace
 * kernel.hostname is refused (the spec's "hostname" sets it), and so is
 * every other sysctl. The error says why, in one line; the caller names
 * the key. */
int oci_sysctl_check(const char *key, unsigned ns_mask, kiln_error_t *err);

/* oci_sysctl_check for every linux.sysctl entry of c; the error starts
 * with linux.sysctl.<key>. */
int oci_config_check_sysctls(const struct oci_config *c, kiln_error_t *err);

/* The file of key under /proc/sys: "net.ipv4.ping_group_range" →
 * "net/ipv4/ping_group_range" (allocated). */
char *oci_sysctl_path(const char *key);

#endif
