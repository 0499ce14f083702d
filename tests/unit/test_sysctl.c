/* linux.sysctl: which keys a container may set (oci/sysctl.c, runc's
 * rules), the agent's parse of them, and their writing under /proc/sys
 * (agent/sysctl.c, here into a scratch tree). */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/spec.h"
#include "agent/sysctl.h"
#include "common/io.h"
#include "common/json.h"
#include "common/util.h"
#include "oci/oci.h"
#include "tests/unit/tap.h"

#define IPC OCI_NS_BIT(OCI_NS_IPC)
#define NET OCI_NS_BIT(OCI_NS_NETWORK)
#define UTS OCI_NS_BIT(OCI_NS_UTS)
#define ALL (IPC | NET | UTS | OCI_NS_BIT(OCI_NS_PID) | OCI_NS_BIT(OCI_NS_MOUNT))

static const char ipc_need[] = "needs an ipc namespace (linux.namespaces)";
static const char not_ns[] =
    "not in a namespace of the container's own (allowed: "
    "kernel.{msgmax,msgmnb,msgmni,sem,shmall,shmmax,shmmni,shm_rmid_forced}, fs.mqueue.*, "
    "net.*, kernel.domainname)";

static const struct {
	const char *key;
	unsigned mask;
	const char *want; /* NULL: allowed */
} cases[] = {
    /* the ipc namespace's */
    {"kernel.msgmax", IPC, NULL},
    {"kernel.msgmnb", IPC, NULL},
    {"kernel.msgmni", IPC, NULL},
    {"kernel.sem", IPC, NULL},
    {"kernel.shmall", IPC, NULL},
    {"kernel.shmmax", IPC, NULL},
    {"kernel.shmmni", IPC, NULL},
    {"kernel.shm_rmid_forced", IPC, NULL},
    {"fs.mqueue.msg_max", IPC, NULL},
    {"kernel.shmmax", ALL & ~IPC, ipc_need},
    {"fs.mqueue.queues_max", NET | UTS, ipc_need},
    /* the network namespace's (podman's default_sysctls) */
    {"net.ipv4.ping_group_range", NET, NULL},
    {"net.ipv4.ping_group_range", ALL & ~NET, "needs a network namespace (linux.namespaces)"},
    /* the uts namespace's */
    {"kernel.domainname", UTS, NULL},
    {"kernel.domainname", IPC | NET, "needs a uts namespace (linux.namespaces)"},
    {"kernel.hostname", ALL, "not allowed, the \"hostname\" field sets it"},
    /* the kernel's own: not in any namespace */
    {"vm.swappiness", ALL, not_ns},
    {"kernel.pid_max", ALL, not_ns},
    {"kernel.msg_next_id", ALL, not_ns},
    {"fs.file-max", ALL, not_ns},
    /* names that are not one file under /proc/sys */
    {"", ALL, "invalid sysctl name"},
    {"net..ipv4", ALL, "invalid sysctl name"},
    {".net.ipv4", ALL, "invalid sysctl name"},
    {"net.ipv4.", ALL, "invalid sysctl name"},
    {"net/../../etc", ALL, "invalid sysctl name"},
    {"net.ipv4.conf.all/forwarding", ALL, "invalid sysctl name"},
};

static int test_check(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_error kiln_error_t err = NULL;
		int r = oci_sysctl_check(cases[i].key, cases[i].mask, &err);

		if ((r == 0) != (cases[i].want == NULL))
			tap_diag("%s (mask %#x): %s", cases[i].key, cases[i].mask,
				 err ? err->msg : "allowed");
		if (cases[i].want == NULL) {
			TAP_CHECK(r == 0 && err == NULL);
		} else {
			TAP_CHECK(r < 0 && err != NULL);
			TAP_CHECK_STR(err->msg, cases[i].want);
		}
	}
	return TAP_PASS;
}

/* A config with these namespaces and sysctls, checked as `kiln create`
 * checks it; the error message, or "ok". */
static char *config_check(const char *namespaces, const char *sysctls)
{
	cleanup_free char *text = xasprintf(
	    "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"a\"],"
	    "\"cwd\":\"/\"},\"linux\":{\"namespaces\":%s,\"sysctl\":%s}}",
	    namespaces, sysctls);
	cleanup_oci_config struct oci_config *c = NULL;
	cleanup_error kiln_error_t err = NULL;

	if (oci_config_parse(text, strlen(text), &c, &err) < 0 ||
	    oci_config_check_sysctls(c, &err) < 0)
		return xstrdup(err->msg);
	return xstrdup("ok");
}

static int test_config(void)
{
	cleanup_free char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

	/* podman 4.3's stock default_sysctls with --network none (a new
	 * network namespace), and containerd's none */
	a = config_check("[{\"type\":\"pid\"},{\"type\":\"network\"},{\"type\":\"ipc\"},"
			 "{\"type\":\"uts\"},{\"type\":\"mount\"}]",
			 "{\"net.ipv4.ping_group_range\":\"0 0\"}");
	TAP_CHECK_STR(a, "ok");
	/* a network namespace joined by path is the VM's too */
	b = config_check("[{\"type\":\"network\",\"path\":\"/proc/self/ns/net\"},"
			 "{\"type\":\"mount\"}]",
			 "{\"net.core.somaxconn\":\"1024\"}");
	TAP_CHECK_STR(b, "ok");
	/* the host's network (no network namespace): refused, as runc does */
	c = config_check("[{\"type\":\"mount\"}]", "{\"net.ipv4.ping_group_range\":\"0 0\"}");
	TAP_CHECK_STR(c, "linux.sysctl.net.ipv4.ping_group_range: needs a network namespace "
			 "(linux.namespaces)");
	d = config_check("[{\"type\":\"ipc\"},{\"type\":\"mount\"}]",
			 "{\"kernel.shmmax\":\"4096\",\"vm.overcommit_memory\":\"1\"}");
	TAP_CHECK(strncmp(d, "linux.sysctl.vm.overcommit_memory: not in a namespace", 53) == 0);
	return TAP_PASS;
}

/* linux (an object's text) in a config at "spec" in a document, through
 * agent_spec_parse(). */
static int agent_parse(const char *linux_text, struct agent_spec *s, char **msg)
{
	cleanup_free char *text =
	    xasprintf("{\"spec\":{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},"
		      "\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"},\"linux\":%s}}",
		      linux_text);
	cleanup_json kiln_json_t *doc = NULL;
	cleanup_error kiln_error_t err = NULL;

	memset(s, 0, sizeof(*s));
	*msg = NULL;
	if (kiln_json_parse(text, strlen(text), &doc, &err) < 0 ||
	    agent_spec_parse(kiln_json_get(doc, "spec"), s, &err) < 0) {
		*msg = xstrdup(err->msg);
		return -1;
	}
	return 0;
}

static int test_agent_parse(void)
{
	struct agent_spec s;
	cleanup_free char *msg = NULL;

	TAP_CHECK(agent_parse("{\"namespaces\":[{\"type\":\"ipc\"},"
			      "{\"type\":\"network\",\"path\":\"/run/netns/x\"}],"
			      "\"sysctl\":{\"kernel.sem\":\"250 32000 32 128\","
			      "\"net.ipv4.ping_group_range\":\"0 0\"}}",
			      &s, &msg) == 0);
	TAP_CHECK(s.nsysctls == 2);
	TAP_CHECK_STR(s.sysctls[0].key, "kernel.sem");
	TAP_CHECK_STR(s.sysctls[0].value, "250 32000 32 128");
	TAP_CHECK_STR(s.sysctls[1].key, "net.ipv4.ping_group_range");
	agent_spec_release(&s);

	/* the error names the key by its path in the document */
	TAP_CHECK(agent_parse("{\"namespaces\":[{\"type\":\"network\"}],"
			      "\"sysctl\":{\"kernel.shmmax\":\"1\"}}",
			      &s, &msg) < 0);
	agent_spec_release(&s);
	TAP_CHECK_STR(msg, "spec.linux.sysctl.kernel.shmmax: needs an ipc namespace "
			   "(linux.namespaces)");
	free(msg);
	TAP_CHECK(agent_parse("{\"sysctl\":{\"kernel.shmmax\":1}}", &s, &msg) < 0);
	agent_spec_release(&s);
	TAP_CHECK_STR(msg, "spec.linux.sysctl.kernel.shmmax: expected string");
	return TAP_PASS;
}

static char *read_text(const char *path)
{
	char *text = NULL;
	size_t len;

	if (kiln_read_file(path, 4096, &text, &len, NULL) < 0)
		return xstrdup("(unreadable)");
	return text;
}

static int test_apply(void)
{
	char dir[] = "/tmp/kiln-test-sysctl-XXXXXX";
	struct oci_kv sc[2] = {{"net.ipv4.ping_group_range", "0 0"}, {"kernel.shmmax", "4096"}};
	struct agent_spec s = {.sysctls = sc, .nsysctls = 2};
	cleanup_free char *net = NULL, *ipv4 = NULL, *kernel = NULL, *pgr = NULL, *shm = NULL;
	cleanup_free char *got = NULL, *got2 = NULL;
	cleanup_error kiln_error_t err = NULL;
	int ok;

	TAP_CHECK(mkdtemp(dir) != NULL);
	net = xasprintf("%s/net", dir);
	ipv4 = xasprintf("%s/net/ipv4", dir);
	kernel = xasprintf("%s/kernel", dir);
	pgr = xasprintf("%s/net/ipv4/ping_group_range", dir);
	shm = xasprintf("%s/kernel/shmmax", dir);
	ok = mkdir(net, 0755) == 0 && mkdir(ipv4, 0755) == 0 && mkdir(kernel, 0755) == 0 &&
	     kiln_write_file_atomic(pgr, "", 0, 0644, NULL) == 0 &&
	     kiln_write_file_atomic(shm, "", 0, 0644, NULL) == 0;
	if (ok)
		ok = agent_sysctl_apply(dir, &s, &err) == 0;
	if (ok) {
		got = read_text(pgr);
		got2 = read_text(shm);
	}
	if (!ok && err)
		tap_diag("%s", err->msg);
	/* a key with no file: the error names the key and the file */
	unlink(shm);
	if (ok)
		ok = agent_sysctl_apply(dir, &s, &err) < 0 && err != NULL &&
		     strstr(err->msg, "linux.sysctl.kernel.shmmax: open ") == err->msg &&
		     strstr(err->msg, "/kernel/shmmax: No such file or directory") != NULL;
	unlink(pgr);
	rmdir(kernel);
	rmdir(ipv4);
	rmdir(net);
	rmdir(dir);
	TAP_CHECK(ok);
	TAP_CHECK_STR(got, "0 0");
	TAP_CHECK_STR(got2, "4096");
	return TAP_PASS;
}

static int test_path(void)
{
	cleanup_free char *p = oci_sysctl_path("net.ipv4.conf.all.forwarding");

	TAP_CHECK_STR(p, "net/ipv4/conf/all/forwarding");
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_check), TAP_TEST(test_config), TAP_TEST(test_agent_parse),
	 TAP_TEST(test_apply), TAP_TEST(test_path))
