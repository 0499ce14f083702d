/* kiln-agent's PID 1 pieces that run outside a VM (agent/init.c): the
 * module order file, the mount table, mount point detection. */
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "agent/init.h"
#include "common/util.h"
#include "tests/unit/tap.h"

static int test_modules_parse(void)
{
	char **v = agent_modules_parse("virtio_mmio.ko\n\n  # vsock next\nvsock.ko  \n"
				       "\tvmw_vsock_virtio_transport_common.ko\r\n/abs/x.ko");
	static const char *const want[] = {"virtio_mmio.ko", "vsock.ko",
					   "vmw_vsock_virtio_transport_common.ko", "/abs/x.ko"};
	size_t n = 0;

	for (; v[n] != NULL; n++) {
		TAP_CHECK(n < ARRAY_SIZE(want));
		TAP_CHECK_STR(v[n], want[n]);
	}
	TAP_CHECK(n == ARRAY_SIZE(want));
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	v = agent_modules_parse("");
	TAP_CHECK(v[0] == NULL);
	free(v);
	return TAP_PASS;
}

/* Every target is absolute, and a parent comes before what is mounted on
 * it (/dev before /dev/pts, /sys before /sys/fs/cgroup). */
static int test_mount_table(void)
{
	static const char *const want[] = {"/proc",    "/sys", "/dev", "/dev/pts",
					   "/dev/shm", "/run", "/tmp", "/sys/fs/cgroup"};

	TAP_CHECK(agent_init_nmounts == ARRAY_SIZE(want));
	for (size_t i = 0; i < agent_init_nmounts; i++) {
		const char *t = agent_init_mounts[i].target;

		TAP_CHECK_STR(t, want[i]);
		for (size_t j = i + 1; j < agent_init_nmounts; j++) {
			const char *u = agent_init_mounts[j].target;

			/* u must not be a parent of t. */
			TAP_CHECK(!(strncmp(t, u, strlen(u)) == 0 && t[strlen(u)] == '/'));
		}
		TAP_CHECK(agent_init_mounts[i].flags & MS_NOSUID);
	}
	return TAP_PASS;
}

static int test_mountpoint(void)
{
	char dir[] = "/tmp/kiln-mp-XXXXXX";

	TAP_CHECK(agent_is_mountpoint("/"));
	TAP_CHECK(mkdtemp(dir) != NULL);
	TAP_CHECK(!agent_is_mountpoint(dir));
	TAP_CHECK(!agent_is_mountpoint("/nonexistent/path"));
	rmdir(dir);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_modules_parse), TAP_TEST(test_mount_table), TAP_TEST(test_mountpoint))
