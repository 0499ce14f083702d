/* kiln list [--format table|json] [--quiet]: the containers under --root. */
#include <dirent.h>
#include <stdio.h>

#include "common/util.h"
#include "runtime/cli/cli.h"

int kiln_cmd_list(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	static const struct option opts[] = {
	    {"format", required_argument, NULL, 'f'}, {"quiet", no_argument, NULL, 'q'}, {0}};
	const char *format = "table";
	cleanup_closedir DIR *d = NULL;
	struct dirent *e;
	bool quiet = false, first = true;
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long_only(argc, argv, "f:q", opts, NULL)) != -1) {
		if (ch == 'f')
			format = optarg;
		else if (ch == 'q')
			quiet = true;
		else
			return kiln_error_make(err, 0, "list: unknown option %s", argv[optind - 1]),
			       1;
	}
	if (kiln_cli_check_format(format, err) < 0)
		return 1;
	d = opendir(ctx->root);
	if (streq(format, "json"))
		printf("[");
	else if (!quiet)
		printf("%-20s %-8s %-10s %-40s %-32s %s\n", "ID", "PID", "STATUS", "BUNDLE",
		       "CREATED", "OWNER");
	while (d && (e = readdir(d)) != NULL) {
		struct kiln_container c;
		kiln_error_t e2 = NULL;
		enum kiln_status s;

		if (e->d_name[0] == '.' || kiln_container_load(ctx, e->d_name, &c, &e2) < 0) {
			kiln_error_free(&e2);
			continue;
		}
		s = kiln_container_status(&c);
		if (streq(format, "json")) {
			cleanup_free char *j = NULL;

			if (kiln_container_state_json(&c, &j, &e2) == 0)
				printf("%s%s", first ? "" : ",", j);
			kiln_error_free(&e2);
			first = false;
		} else if (quiet) {
			printf("%s\n", c.id);
		} else {
			printf("%-20s %-8d %-10s %-40s %-32s %s\n", c.id,
			       s == KILN_STOPPED ? 0 : c.pid, kiln_status_name(s), c.bundle,
			       c.created, "root");
		}
		kiln_container_release(&c);
	}
	if (streq(format, "json"))
		printf("]\n");
	return 0;
}
