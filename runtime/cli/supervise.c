/* kiln supervise DIR: kiln create's child, the container's supervisor
 * (runtime/supervisor.h); not for people. */
#include "runtime/cli/cli.h"
#include "runtime/supervisor.h"

int kiln_cmd_supervise(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	(void)ctx;
	if (argc != 2)
		return kiln_error_make(err, 0, "supervise: expected a state directory"), 1;
	return kiln_supervise(argv[1], err);
}
