/* kiln update --resources FILE|- ID: the container's host cgroup limits
 * from a runtime-spec linux.resources document. */
#include <unistd.h>

#include "common/io.h"
#include "common/json.h"
#include "common/util.h"
#include "runtime/cli/cli.h"

int kiln_cmd_update(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	static const struct option opts[] = {{"resources", required_argument, NULL, 'r'}, {0}};
	const char *file = NULL;
	cleanup_free char *text = NULL;
	cleanup_json kiln_json_t *doc = NULL;
	size_t len;

	if (kiln_cli_parse_flags(argc, argv, opts, "r:", kiln_cli_set_string, &file, err) < 0)
		return 1;
	if (kiln_cli_one_id(argc, argv, 0, err) < 0)
		return 1;
	if (file == NULL)
		return kiln_error_make(err, 0, "update: --resources FILE (or -) is required"), 1;
	if (streq(file, "-") ? kiln_read_fd_all(STDIN_FILENO, 1 << 20, &text, &len, err)
			     : kiln_read_file(file, 1 << 20, &text, &len, err))
		return 1;
	if (kiln_json_parse(text, len, &doc, err) < 0)
		return kiln_error_wrap(err, "--resources %s", file), 1;
	return kiln_container_update(ctx, argv[optind], doc, err) < 0 ? 1 : 0;
}
