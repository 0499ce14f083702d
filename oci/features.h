/* The documents `kiln features` and `kiln spec` print. */
#ifndef KILN_OCI_FEATURES_H
#define KILN_OCI_FEATURES_H

#include <stddef.h>

#include "common/error.h"

/* The runtime-spec version kiln implements: what `kiln spec` and `kiln
 * state` write and `kiln --version` names (documents of 1.0.0 up to it are
 * read). */
#define OCI_SPEC_VERSION "1.3.0"

/* runtime-spec features.md: what this build of kiln can honour, not all
 * the spec defines (no time namespace, no SCMP_ACT_NOTIFY, no
 * AppArmor or SELinux in the guest). Tab-indented, with a final newline.
 * *out is allocated; *len may be NULL. */
int oci_features_json(char **out, size_t *len, kiln_error_t *err);

/* The config.json `kiln spec` writes: `runc spec`'s, with ociVersion OCI_SPEC_VERSION,
 * hostname "kiln" and a cgroup namespace. Tab-indented like runc's. */
int oci_spec_default_json(char **out, size_t *len, kiln_error_t *err);

#endif
