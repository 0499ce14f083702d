/* kiln create [--bundle DIR] [--pid-file FILE] [--console-socket SOCK] ID:
 * the container held before its process runs (and run's flags too). */
#include "runtime/cli/cli.h"

enum {
	OPT_BUNDLE = 'b',
	OPT_PID_FILE = 256,
	OPT_CONSOLE,
	OPT_NO_PIVOT,
	OPT_NO_KEYRING,
	OPT_PRESERVE,
	OPT_DETACH,
	OPT_KEEP,
	OPT_NO_SUBREAPER
};

int kiln_cli_parse_create(int argc, char **argv, struct kiln_create_opts *o, bool is_run,
			  kiln_error_t *err)
{
	static const struct option opts[] = {
	    {"bundle", required_argument, NULL, OPT_BUNDLE},
	    {"pid-file", required_argument, NULL, OPT_PID_FILE},
	    {"console-socket", required_argument, NULL, OPT_CONSOLE},
	    {"no-pivot", no_argument, NULL, OPT_NO_PIVOT},
	    {"no-new-keyring", no_argument, NULL, OPT_NO_KEYRING},
	    {"preserve-fds", required_argument, NULL, OPT_PRESERVE},
	    {"detach", no_argument, NULL, OPT_DETACH},
	    {"keep", no_argument, NULL, OPT_KEEP},
	    {"no-subreaper", no_argument, NULL, OPT_NO_SUBREAPER},
	    {0},
	};
	int ch;

	*o = (struct kiln_create_opts){.detach = !is_run};
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long_only(argc, argv, "b:d", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_BUNDLE:
			o->bundle = optarg;
			break;
		case OPT_PID_FILE:
			o->pid_file = optarg;
			break;
		case OPT_CONSOLE:
			o->console_socket = optarg;
			break;
		case OPT_PRESERVE:
			if (kiln_check_preserve_fds(optarg, err) < 0)
				return -1;
			break;
		case 'd':
		case OPT_DETACH:
			if (!is_run)
				goto bad;
			o->detach = true;
			break;
		case OPT_KEEP:
			if (!is_run)
				goto bad;
			o->keep = true;
			break;
		case OPT_NO_PIVOT:
		case OPT_NO_KEYRING:
		case OPT_NO_SUBREAPER:
			/* The guest always pivots; no keyrings cross the VM. */
			break;
		default:
		bad:
			return kiln_error_make(err, 0, "%s: unknown option %s", argv[0],
					       argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return kiln_error_make(err, 0, "%s: expected exactly one container id", argv[0]);
	o->id = argv[optind];
	return 0;
}

int kiln_cmd_create(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	struct kiln_create_opts o;
	pid_t pid;

	if (kiln_cli_parse_create(argc, argv, &o, false, err) < 0)
		return 1;
	return kiln_container_create(ctx, &o, &pid, err) < 0 ? 1 : 0;
}
