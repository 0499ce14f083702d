/* kiln exec [options] ID [COMMAND [ARGS...]]: another process in a running
 * container, its exit status kiln exec's (with --detach a child relays
 * it; its pid in --pid-file). */
#include "runtime/cli/cli.h"

enum {
	OPT_PROCESS = 'p',
	OPT_DETACH = 'd',
	OPT_TTY = 't',
	OPT_ENV = 'e',
	OPT_USER = 'u',
	OPT_PID_FILE = 256,
	OPT_CONSOLE,
	OPT_CWD,
	OPT_PRESERVE,
	OPT_IGNORED,
	OPT_IGNORED_ARG
};

static int parse_exec(int argc, char **argv, struct kiln_exec_opts *o, const char **env,
		      kiln_error_t *err)
{
	static const struct option opts[] = {
	    {"process", required_argument, NULL, OPT_PROCESS},
	    {"detach", no_argument, NULL, OPT_DETACH},
	    {"tty", no_argument, NULL, OPT_TTY},
	    {"env", required_argument, NULL, OPT_ENV},
	    {"user", required_argument, NULL, OPT_USER},
	    {"pid-file", required_argument, NULL, OPT_PID_FILE},
	    {"console-socket", required_argument, NULL, OPT_CONSOLE},
	    {"cwd", required_argument, NULL, OPT_CWD},
	    {"preserve-fds", required_argument, NULL, OPT_PRESERVE},
	    {"no-new-privs", no_argument, NULL, OPT_IGNORED},
	    {"ignore-paused", no_argument, NULL, OPT_IGNORED},
	    {"process-label", required_argument, NULL, OPT_IGNORED_ARG},
	    {"apparmor", required_argument, NULL, OPT_IGNORED_ARG},
	    {"cap", required_argument, NULL, OPT_IGNORED_ARG},
	    {0},
	};
	int ch;

	*o = (struct kiln_exec_opts){.env = env};
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long_only(argc, argv, "+p:dte:u:", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_PROCESS:
			o->process = optarg;
			break;
		case OPT_DETACH:
			o->detach = true;
			break;
		case OPT_TTY:
			o->tty = true;
			break;
		case OPT_ENV:
			if (o->n_env == KILN_EXEC_MAX_ENV)
				return kiln_error_make(err, 0, "exec: too many --env");
			env[o->n_env++] = optarg;
			break;
		case OPT_USER:
			o->user = optarg;
			break;
		case OPT_PID_FILE:
			o->pid_file = optarg;
			break;
		case OPT_CONSOLE:
			o->console_socket = optarg;
			break;
		case OPT_CWD:
			o->cwd = optarg;
			break;
		case OPT_PRESERVE:
			if (kiln_check_preserve_fds(optarg, err) < 0)
				return -1;
			break;
		case OPT_IGNORED:
		case OPT_IGNORED_ARG:
			break;
		default:
			return kiln_error_make(err, 0, "exec: unknown or incomplete option %s",
					       argv[optind - 1]);
		}
	}
	if (argc - optind < 1)
		return kiln_error_make(err, 0, "exec: expected a container id");
	if (!o->process && argc - optind < 2)
		return kiln_error_make(err, 0, "exec: expected a command (or --process FILE)");
	o->args = argv + optind + 1;
	o->n_args = (size_t)(argc - optind - 1);
	return 0;
}

int kiln_cmd_exec(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	const char *env[KILN_EXEC_MAX_ENV];
	struct kiln_exec_opts o;
	int code;

	if (parse_exec(argc, argv, &o, env, err) < 0)
		return 1;
	code = kiln_container_exec(ctx, argv[optind], &o, err);
	return code < 0 ? 1 : code;
}
