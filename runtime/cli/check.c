/* kiln check [--boot] [--format text|json]: can this host run kiln
 * containers? (runtime/check.c) */
#include <stdio.h>

#include "common/util.h"
#include "runtime/cli/cli.h"

int kiln_cmd_check(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	static const struct option opts[] = {
	    {"boot", no_argument, NULL, 'b'},
	    {"format", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool boot = false, json = false;
	int ch;

	(void)ctx;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			boot = true;
			break;
		case 'f':
			if (!streq(optarg, "text") && !streq(optarg, "json"))
				return kiln_error_make(err, 0,
						       "check: --format: expected text or json, "
						       "got \"%s\"",
						       optarg),
				       1;
			json = streq(optarg, "json");
			break;
		case 'h':
			printf("usage: kiln check [--boot] [--format text|json]\n"
			       "Says whether this host can run kiln containers, one line per "
			       "requirement.\n  --boot  also boot a probe VM and time its agent\n");
			return 0;
		default:
			return kiln_error_make(err, 0, "check: unknown or incomplete option %s",
					       argv[optind - 1]),
			       1;
		}
	}
	if (optind < argc)
		return kiln_error_make(err, 0, "check: unexpected argument \"%s\"", argv[optind]),
		       1;
	return kiln_check_host(boot, json, err);
}
