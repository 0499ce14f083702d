/* kiln features: the features JSON (runtime-spec features.md). */
#include <stdio.h>

#include "common/util.h"
#include "oci/features.h"
#include "runtime/cli/cli.h"

int kiln_cmd_features(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	cleanup_free char *out = NULL;
	size_t len;

	(void)ctx;
	(void)argv;
	if (argc != 1)
		return kiln_error_make(err, 0, "features takes no arguments"), 1;
	if (oci_features_json(&out, &len, err) < 0)
		return 1;
	printf("%s\n", out);
	return 0;
}
