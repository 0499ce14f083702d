/* kiln delete [--force] ID: removes the container: VM, disk image, cgroup
 * and state. */
#include "runtime/cli/cli.h"

int kiln_cmd_delete(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {0}};
	bool force = false;

	if (kiln_cli_parse_flags(argc, argv, opts, "f", kiln_cli_set_flag, &force, err) < 0 ||
	    kiln_cli_one_id(argc, argv, 0, err) < 0)
		return 1;
	return kiln_container_delete(ctx, argv[optind], force, err) < 0 ? 1 : 0;
}
