/* kiln: an OCI runtime that runs each container in its own KVM microVM,
 * called like runc or crun:
 *
 *   kiln [global options] VERB [options] [ID] [args]
 *
 * Errors: one line on stderr (and in --log), exit status 1; bad usage is
 * also 1, as with runc. `run` and `exec` exit with the workload's status.
 *
 * The global options become the struct kiln_context every verb gets; each
 * verb is one file in runtime/cli/ calling libkilnruntime. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/version.h"
#include "oci/features.h"
#include "runtime/cli/cli.h"
#include "runtime/runtime.h"

static const struct verb {
	const char *name;
	int (*fn)(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err);
	const char *help;
} verbs[] = {
    {"create", kiln_cmd_create, "create a container (held before its process runs)"},
    {"start", kiln_cmd_start, "run a created container's process"},
    {"run", kiln_cmd_run, "create, start and wait for a container"},
    {"state", kiln_cmd_state, "print a container's state as JSON"},
    {"kill", kiln_cmd_kill, "send a signal to the container's process (--all: to all)"},
    {"delete", kiln_cmd_delete, "remove a container: VM, disk image and state"},
    {"exec", kiln_cmd_exec, "run another process in a container"},
    {"ps", kiln_cmd_ps, "list a container's host processes"},
    {"list", kiln_cmd_list, "list containers"},
    {"pause", kiln_cmd_pause, "pause a container's VM"},
    {"resume", kiln_cmd_resume, "resume a paused container's VM"},
    {"update", kiln_cmd_update, "update a container's host cgroup limits"},
    {"spec", kiln_cmd_spec, "write a default config.json"},
    {"features", kiln_cmd_features, "print the features JSON (runtime-spec features.md)"},
    {"check", kiln_cmd_check, "say whether this host can run kiln containers (--boot)"},
    {"jail", kiln_cmd_jail, "run kiln-vmm (or PROGRAM) jailed, like Firecracker's jailer"},
    /* kiln create's child, the container's pid: not for people */
    {"supervise", kiln_cmd_supervise, NULL},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: kiln [global options] COMMAND [options] [ID] [args]\n\n"
		   "Runs OCI containers, each in its own KVM microVM.\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (verbs[i].help)
			fprintf(f, "  %-9s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\nGlobal options:\n"
		   "  --root DIR          state directory (default " KILN_DEFAULT_ROOT ")\n"
		   "  --log FILE          also write log lines to FILE\n"
		   "  --log-format FMT    text (default) or json\n"
		   "  --debug             log debug messages\n"
		   "  --systemd-cgroup    cgroupsPath is systemd's slice:prefix:name\n"
		   "  --version, --help\n"
		   "\nConfiguration: " KILN_CONF_PATH " (see docs/runtime.md)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"root", required_argument, NULL, 'r'},
	    {"log", required_argument, NULL, 'l'},
	    {"log-format", required_argument, NULL, 'f'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"debug", no_argument, NULL, 'd'},
	    {"systemd-cgroup", no_argument, NULL, 's'},
	    {"rootless", required_argument, NULL, 'R'},
	    {"criu", required_argument, NULL, 'C'},
	    {"version", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	cleanup_error kiln_error_t err = NULL;
	struct kiln_context ctx = KILN_CONTEXT_INIT;
	enum kiln_log_level level = KILN_LOG_WARNING;
	int ch, code;

	signal(SIGPIPE, SIG_IGN);
	opterr = 0;
	while ((ch = getopt_long_only(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			ctx.root = optarg;
			break;
		case 'l':
			ctx.log = optarg;
			break;
		case 'f':
			if (kiln_log_parse_format(optarg, &ctx.log_format) < 0) {
				fprintf(stderr,
					"kiln: --log-format: expected text or json, got \"%s\"\n",
					optarg);
				return 1;
			}
			break;
		case 'L':
			if (kiln_log_parse_level(optarg, &level) < 0) {
				fprintf(stderr, "kiln: --log-level: unknown level \"%s\"\n",
					optarg);
				return 1;
			}
			break;
		case 'd':
			ctx.debug = true;
			level = KILN_LOG_DEBUG;
			break;
		case 's':
			ctx.systemd_cgroup = true;
			break;
		case 'R':
		case 'C':
			break;
		case 'v':
			printf("kiln version %s\nspec: %s\n", KILN_VERSION, OCI_SPEC_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr,
				"kiln: unknown or incomplete global option %s (see --help)\n",
				argv[optind - 1]);
			return 1;
		}
	}
	if (kiln_log_init("kiln", level, ctx.log_format, ctx.log, &err) < 0)
		return kiln_error_print_and_free(&err, "kiln");
	if (optind >= argc) {
		usage(stderr);
		return 1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		if (!streq(argv[optind], verbs[i].name))
			continue;
		code = verbs[i].fn(&ctx, argc - optind, argv + optind, &err);
		kiln_context_release(&ctx);
		if (err) {
			/* the log file gets it too, where podman and containerd look */
			if (ctx.log)
				log_error("%s", err->msg);
			fprintf(stderr, "kiln: %s\n", err->msg);
			return code ? code : 1;
		}
		return code;
	}
	fprintf(stderr, "kiln: unknown command \"%s\" (see --help)\n", argv[optind]);
	return 1;
}
