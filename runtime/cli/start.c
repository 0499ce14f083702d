/* kiln start ID: runs a created container's process. */
#include "runtime/cli/cli.h"

int kiln_cmd_start(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	if (argc != 2)
		return kiln_error_make(err, 0, "start: expected exactly one container id"), 1;
	return kiln_container_start(ctx, argv[1], err) < 0 ? 1 : 0;
}
