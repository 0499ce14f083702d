/* kiln kill [--all] ID [SIGNAL]: a signal (default SIGTERM) to the
 * container's process, or with --all to all of its processes. */
#include <signal.h>

#include "runtime/cli/cli.h"

int kiln_cmd_kill(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	static const struct option opts[] = {{"all", no_argument, NULL, 'a'}, {0}};
	bool all = false;
	int sig = SIGTERM;

	if (kiln_cli_parse_flags(argc, argv, opts, "a", kiln_cli_set_flag, &all, err) < 0 ||
	    kiln_cli_one_id(argc, argv, 1, err) < 0)
		return 1;
	if (argc - optind == 2 && kiln_parse_signal(argv[optind + 1], &sig, err) < 0)
		return 1;
	return kiln_container_kill(ctx, argv[optind], sig, all, err) < 0 ? 1 : 0;
}
