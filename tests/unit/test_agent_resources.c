/* linux.resources in the guest (agent/resources.c): what is taken from the
 * spec as oci/ reads it, runc's cpu.shares → cpu.weight, and the files
 * written into a cgroup directory (here a scratch one). */
#include <string.h>
#include <unistd.h>

#include "agent/resources.h"
#include "common/io.h"
#include "common/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/tmpdir.h"

/* linux (an object's text) in a config, read by oci/ and converted. */
static int parse(const char *linux_text, struct agent_resources *r, char **msg)
{
	cleanup_free char *text = xasprintf(
	    "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"linux\":%s}", linux_text);
	cleanup_oci_config struct oci_config *c = NULL;
	cleanup_error kiln_error_t err = NULL;

	*msg = NULL;
	if (oci_config_parse(text, strlen(text), &c, &err) < 0) {
		*msg = xstrdup(err->msg);
		return -1;
	}
	agent_resources_convert(c->linux_spec->resources, r);
	return 0;
}

static int test_parse(void)
{
	struct agent_resources r;
	cleanup_free char *msg = NULL;

	/* podman 4.3's default pids_limit, containerd's default cpu.shares */
	TAP_CHECK(parse("{\"resources\":{\"pids\":{\"limit\":2048},"
			"\"cpu\":{\"shares\":1024},\"devices\":[{\"allow\":false}]}}",
			&r, &msg) == 0);
	TAP_CHECK(r.has_pids_limit && r.pids_limit == 2048);
	TAP_CHECK(r.has_cpu_weight && r.cpu_weight == 39);
	/* none, or 0 (leave it): nothing to write */
	TAP_CHECK(parse("{}", &r, &msg) == 0);
	TAP_CHECK(!r.has_pids_limit && !r.has_cpu_weight);
	TAP_CHECK(parse("{\"resources\":{\"pids\":{\"limit\":0},\"cpu\":{\"shares\":0}}}", &r,
			&msg) == 0);
	TAP_CHECK(!r.has_pids_limit && !r.has_cpu_weight);
	TAP_CHECK(parse("{\"resources\":{\"pids\":{\"limit\":-1}}}", &r, &msg) == 0);
	TAP_CHECK(r.has_pids_limit && r.pids_limit == -1);
	TAP_CHECK(parse("{\"resources\":{\"pids\":{\"limit\":\"x\"}}}", &r, &msg) < 0);
	TAP_CHECK_STR(msg, "linux.resources.pids.limit: expected integer");
	return TAP_PASS;
}

static int test_weight(void)
{
	TAP_CHECK(agent_cpu_shares_to_weight(0) == 0);
	TAP_CHECK(agent_cpu_shares_to_weight(2) == 1);
	TAP_CHECK(agent_cpu_shares_to_weight(1024) == 39);
	TAP_CHECK(agent_cpu_shares_to_weight(262144) == 10000);
	TAP_CHECK(agent_cpu_shares_to_weight(1u << 30) == 10000);
	return TAP_PASS;
}

static char *read_in(const char *dir, const char *name)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, name);
	char *text = NULL;
	size_t len;

	if (kiln_read_file(path, 4096, &text, &len, NULL) < 0)
		return xstrdup("(unreadable)");
	return text;
}

static int test_apply(void)
{
	cleanup_tmpdir char *dir = test_tmpdir_make("resources");
	cleanup_free char *pids = NULL, *weight = NULL, *pids_path = NULL, *w_path = NULL;
	struct agent_resources r = {
	    .has_pids_limit = true, .pids_limit = -1, .has_cpu_weight = true, .cpu_weight = 39};
	cleanup_error kiln_error_t err = NULL;

	TAP_CHECK(dir != NULL);
	pids_path = xasprintf("%s/pids.max", dir);
	w_path = xasprintf("%s/cpu.weight", dir);
	/* a cgroup without the cpu controller: the error names the field */
	TAP_CHECK(kiln_write_file_atomic(pids_path, "", 0, 0644, NULL) == 0);
	TAP_CHECK(agent_resources_apply(dir, &r, &err) < 0);
	TAP_CHECK(strncmp(err->msg, "linux.resources.cpu.shares: open ", 33) == 0);
	kiln_error_free(&err);
	TAP_CHECK(kiln_write_file_atomic(w_path, "", 0, 0644, NULL) == 0);
	TAP_CHECK(agent_resources_apply(dir, &r, &err) == 0);
	pids = read_in(dir, "pids.max");
	weight = read_in(dir, "cpu.weight");
	TAP_CHECK_STR(pids, "max");
	TAP_CHECK_STR(weight, "39");
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_parse), TAP_TEST(test_weight), TAP_TEST(test_apply))
