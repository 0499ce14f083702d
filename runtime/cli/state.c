/* kiln state ID: the container's state as JSON. */
#include <stdio.h>

#include "common/util.h"
#include "runtime/cli/cli.h"

int kiln_cmd_state(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	cleanup_free char *out = NULL;

	if (argc != 2)
		return kiln_error_make(err, 0, "state: expected exactly one container id"), 1;
	if (kiln_container_state(ctx, argv[1], &out, err) < 0)
		return 1;
	fputs(out, stdout);
	return 0;
}
