/* liboci (build/lib/libkilnoci.a): the OCI runtime-spec documents kiln
 * reads and writes, runtime-spec 1.0 to 1.2.
 *
 *   oci/config.h    config.json and exec's process.json → typed structs,
 *                   validated, errors naming the JSON path
 *                   (oci_config_load/parse/parse_node,
 *                   oci_config_check_runnable,
 *                   oci_process_load/parse/parse_node); kiln-agent reads
 *                   the spec it is sent with these too
 *   oci/state.h     the state document, in `runc state`'s shape
 *                   (oci_state_to_json, oci_state_parse)
 *   oci/features.h  `kiln features` and `kiln spec` documents
 *   oci/names.h     the spec's name tables (namespaces, rlimits,
 *                   capabilities, mount options, hooks, seccomp), shared
 *                   with kiln-agent
 *   oci/sysctl.h    which linux.sysctl keys a container may set (runc's
 *                   rules), shared with kiln-agent
 *
 * Uses common/ (errors, JSON), libcap and libseccomp; not libmount, so
 * kiln-agent links it statically. Include this header only. */
#ifndef KILN_OCI_OCI_H
#define KILN_OCI_OCI_H

#include "oci/config.h"
#include "oci/features.h"
#include "oci/names.h"
#include "oci/state.h"
#include "oci/sysctl.h"

#endif
