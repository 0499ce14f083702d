/* kiln run [create's flags] [--detach] [--keep] ID: create, start and wait
 * for the container; exits with its process's status. */
#include "runtime/cli/cli.h"

int kiln_cmd_run(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	struct kiln_create_opts o;
	int code;

	if (kiln_cli_parse_create(argc, argv, &o, true, err) < 0)
		return 1;
	kiln_container_run(ctx, &o, &code, err);
	return code;
}
