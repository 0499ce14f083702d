/* kiln pause ID, kiln resume ID: the container's VM paused or resumed. */
#include "runtime/cli/cli.h"

static int pause_or_resume(struct kiln_context *ctx, int argc, char **argv,
			   int (*op)(struct kiln_context *, const char *, kiln_error_t *),
			   kiln_error_t *err)
{
	if (argc != 2)
		return kiln_error_make(err, 0, "%s: expected exactly one container id", argv[0]), 1;
	return op(ctx, argv[1], err) < 0 ? 1 : 0;
}

int kiln_cmd_pause(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	return pause_or_resume(ctx, argc, argv, kiln_container_pause, err);
}

int kiln_cmd_resume(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	return pause_or_resume(ctx, argc, argv, kiln_container_resume, err);
}
