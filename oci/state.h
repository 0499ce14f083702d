/* The state of a container (runtime-spec runtime.md#state), in the shape
 * `runc state` prints it: the spec's members plus runc's rootfs, created
 * and owner, which podman and containerd read too. */
#ifndef KILN_OCI_STATE_H
#define KILN_OCI_STATE_H

#include <stddef.h>
#include <time.h>

#include "common/error.h"
#include "oci/config.h"

struct oci_state {
	char *oci_version;
	char *id;
	char *status; /* "creating", "created", "running", "paused" or "stopped" */
	int pid;      /* 0 when there is no process */
	char *bundle; /* absolute path */
	/* runc's additions; NULL ones are left out of the JSON. */
	char *rootfs;
	char *created; /* RFC 3339 with nanoseconds, UTC (oci_time_rfc3339nano) */
	char *owner;
	struct oci_map annotations; /* left out when empty, as runc does */
};

/* Writes s as `runc state` does: two-space indented, members in the order
 * ociVersion, id, pid, status, bundle, rootfs, created, annotations, owner,
 * and a final newline. oci_version, id, status and bundle are required. */
int oci_state_to_json(const struct oci_state *s, char **out, size_t *len, kiln_error_t *err);

/* Reads a state document (ours, runc's or the spec's). ociVersion, id,
 * status and bundle are required; status must be one of the five above.
 * *out is a new state; errors name the JSON path. */
int oci_state_parse(const char *text, size_t len, struct oci_state **out, kiln_error_t *err);

/* Frees the members (not s itself); accepts NULL. */
void oci_state_release(struct oci_state *s);
/* Frees a state from oci_state_parse(); accepts NULL. */
void oci_state_free(struct oci_state *s);

static inline void oci_state_free_fn(struct oci_state **p)
{
	oci_state_free(*p);
}
#define cleanup_oci_state __attribute__((cleanup(oci_state_free_fn)))

/* ts as Go's time.RFC3339Nano writes a UTC time, which is what `runc state`
 * shows: "2024-05-01T12:00:00.123456789Z", trailing zeros of the fraction
 * dropped (and the fraction with them when it is 0). Allocated. */
char *oci_time_rfc3339nano(const struct timespec *ts);

#endif
