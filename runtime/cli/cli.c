/* What the verbs' flag parsing shares. */
#include "runtime/cli/cli.h"

#include "common/util.h"

int kiln_cli_parse_flags(int argc, char **argv, const struct option *opts, const char *shortopts,
			 void (*set)(int ch, const char *arg, void *data), void *data,
			 kiln_error_t *err)
{
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long_only(argc, argv, shortopts, opts, NULL)) != -1) {
		if (ch == '?' || ch == ':')
			return kiln_error_make(err, 0, "%s: unknown or incomplete option %s",
					       argv[0], argv[optind - 1]);
		set(ch, optarg, data);
	}
	return 0;
}

void kiln_cli_set_flag(int ch, const char *arg, void *data)
{
	(void)ch;
	(void)arg;
	*(bool *)data = true;
}

void kiln_cli_set_string(int ch, const char *arg, void *data)
{
	(void)ch;
	*(const char **)data = arg;
}

int kiln_cli_one_id(int argc, char **argv, int extra_max, kiln_error_t *err)
{
	int n = argc - optind;

	if (n < 1 || n > 1 + extra_max)
		return kiln_error_make(err, 0, "%s: expected a container id%s", argv[0],
				       extra_max ? " (and at most one more argument)" : "");
	return 0;
}

int kiln_cli_check_format(const char *f, kiln_error_t *err)
{
	if (!streq(f, "table") && !streq(f, "json"))
		return kiln_error_make(err, 0, "--format: expected table or json, got \"%s\"", f);
	return 0;
}
