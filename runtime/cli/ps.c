/* kiln ps [--format table|json] ID [PS-ARGS]: the container's host
 * processes, the supervisor and its kiln-vmm (the guest's own processes
 * are not host processes). */
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include "runtime/cli/cli.h"

int kiln_cmd_ps(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	static const struct option opts[] = {{"format", required_argument, NULL, 'f'}, {0}};
	const char *format = "table";
	struct kiln_container c;
	bool alive;
	pid_t vmm;

	if (kiln_cli_parse_flags(argc, argv, opts, "f:", kiln_cli_set_string, &format, err) < 0 ||
	    kiln_cli_check_format(format, err) < 0)
		return 1;
	if (argc - optind < 1)
		return kiln_error_make(err, 0, "ps: expected a container id"), 1;
	if (kiln_container_load(ctx, argv[optind], &c, err) < 0)
		return 1;
	/* the container's host processes: the supervisor and its kiln-vmm */
	alive = kiln_container_status(&c) != KILN_STOPPED;
	vmm = alive && kiln_pid_start(c.vmm_pid) == c.vmm_pid_start ? c.vmm_pid : -1;
	if (streq(format, "json")) {
		if (alive && vmm > 0)
			printf("[%d,%d]\n", c.pid, vmm);
		else if (alive)
			printf("[%d]\n", c.pid);
		else
			printf("[]\n");
		kiln_container_release(&c);
		return 0;
	}
	fflush(stdout);
	{
		/* ps [ps-args] (default -ef), keeping the header and the
		 * container's lines, as runc ps does */
		cleanup_free char *cmd = NULL;
		cleanup_free char *args = xstrdup("-ef");
		int status;

		if (argc - optind > 1) {
			free(args);
			args = xstrdup("");
			for (int i = optind + 1; i < argc; i++) {
				char *next = xasprintf("%s '%s'", args, argv[i]);

				free(args);
				args = next;
			}
		}
		cmd = xasprintf("ps %s | awk 'NR==1 { for (i = 1; i <= NF; i++) if ($i == \"PID\") "
				"col = i; print; next } col && ($col == %d || $col == %d)'",
				args, alive ? c.pid : -1, vmm);
		status = system(cmd);
		kiln_container_release(&c);
		if (status != 0)
			return kiln_error_make(err, 0, "ps: running ps failed"), 1;
	}
	return 0;
}
