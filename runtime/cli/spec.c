/* kiln spec [--bundle DIR]: writes a default config.json. */
#include <unistd.h>

#include "common/io.h"
#include "common/util.h"
#include "oci/features.h"
#include "runtime/cli/cli.h"

/* --rootless changes nothing */
static void set_bundle(int ch, const char *arg, void *data)
{
	if (ch == 'b')
		*(const char **)data = arg;
}

int kiln_cmd_spec(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	static const struct option opts[] = {
	    {"bundle", required_argument, NULL, 'b'}, {"rootless", no_argument, NULL, 'R'}, {0}};
	const char *bundle = ".";
	cleanup_free char *path = NULL;
	cleanup_free char *out = NULL;
	size_t len;

	(void)ctx;
	if (kiln_cli_parse_flags(argc, argv, opts, "b:", set_bundle, &bundle, err) < 0)
		return 1;
	if (argc != optind)
		return kiln_error_make(err, 0, "spec: unexpected argument %s", argv[optind]), 1;
	path = xasprintf("%s/config.json", bundle);
	if (access(path, F_OK) == 0)
		return kiln_error_make(err, 0, "%s exists; remove it first", path), 1;
	if (oci_spec_default_json(&out, &len, err) < 0 ||
	    kiln_write_file_atomic(path, out, len, 0644, err) < 0)
		return 1;
	return 0;
}
