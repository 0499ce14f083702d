/* OCI spec -> what the agent does (agent/spec.c), and the executable
 * lookup the child runs before exec (agent/container.c). */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/container.h"
#include "agent/spec.h"
#include "agent/userns.h"
#include "common/json.h"
#include "common/util.h"
#include "tests/unit/tap.h"

static const char full_spec[] =
    "{\"ociVersion\":\"1.2.0\","
    "\"process\":{\"terminal\":true,\"user\":{\"uid\":1000,\"gid\":100,"
    "\"additionalGids\":[5,6],\"umask\":18},"
    "\"args\":[\"sh\",\"-c\",\"echo hi\"],\"env\":[\"PATH=/bin\",\"A=b=c\"],\"cwd\":\"/work\","
    "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1024,\"soft\":512}],"
    "\"oomScoreAdj\":-500,\"noNewPrivileges\":true,"
    "\"capabilities\":{\"bounding\":[\"CAP_CHOWN\",\"CAP_KILL\"],\"effective\":[\"CAP_KILL\"],"
    "\"permitted\":[\"CAP_KILL\"],\"ambient\":[\"CAP_KILL\"]}},"
    "\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
    "\"hostname\":\"box\","
    "\"mounts\":["
    "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
    "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
    "\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
    "{\"destination\":\"/data\",\"type\":\"none\",\"source\":\"/srv\","
    "\"options\":[\"rbind\",\"ro\",\"rprivate\"]},"
    "{\"destination\":\"/sys\",\"type\":\"sysfs\"}],"
    "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"mount\"},{\"type\":\"uts\"},"
    "{\"type\":\"ipc\"},{\"type\":\"network\",\"path\":\"/var/run/netns/x\"}],"
    "\"maskedPaths\":[\"/proc/kcore\"],\"readonlyPaths\":[\"/proc/sys\",\"/proc/bus\"],"
    "\"sysctl\":{\"net.ipv4.ip_forward\":\"1\"}}}";

static int parse_spec(const char *text, struct agent_spec *s, char **msg)
{
	cleanup_json kiln_json_t *doc = NULL;
	kiln_error_t err = NULL;
	int r;

	*msg = NULL;
	if (kiln_json_parse(text, strlen(text), &doc, &err) < 0) {
		*msg = xstrdup(err->msg);
		kiln_error_free(&err);
		return -1;
	}
	r = agent_spec_parse(doc, s, &err);
	if (r < 0) {
		*msg = xstrdup(err ? err->msg : "(none)");
		kiln_error_free(&err);
	}
	return r;
}

static int test_full(void)
{
	struct agent_spec s;
	cleanup_free char *msg = NULL;
	const struct oci_process *p;

	if (parse_spec(full_spec, &s, &msg) < 0) {
		tap_diag("%s", msg);
		agent_spec_release(&s);
		return TAP_FAIL;
	}
	p = s.process;
	TAP_CHECK(p == s.oci->process);
	TAP_CHECK_STR(p->args.v[0], "sh");
	TAP_CHECK_STR(p->args.v[2], "echo hi");
	TAP_CHECK(p->args.v[3] == NULL);
	TAP_CHECK_STR(p->env.v[1], "A=b=c");
	TAP_CHECK_STR(agent_env_get(p->env.v, "A"), "b=c");
	TAP_CHECK(agent_env_get(p->env.v, "PAT") == NULL);
	TAP_CHECK_STR(p->cwd, "/work");
	TAP_CHECK(p->terminal);
	TAP_CHECK(p->user.uid == 1000 && p->user.gid == 100);
	TAP_CHECK(p->user.n_additional_gids == 2 && p->user.additional_gids[0] == 5 &&
		  p->user.additional_gids[1] == 6);
	TAP_CHECK(p->user.umask.present && p->user.umask.value == 022);
	TAP_CHECK(p->n_rlimits == 1 && p->rlimits[0].resource == RLIMIT_NOFILE);
	TAP_CHECK(p->rlimits[0].soft == 512 && p->rlimits[0].hard == 1024);
	TAP_CHECK(p->oom_score_adj.present && p->oom_score_adj.value == -500);
	TAP_CHECK(p->no_new_privileges);
	TAP_CHECK(p->capabilities.present);
	TAP_CHECK(p->capabilities.bounding == ((1ull << 0) | (1ull << 5))); /* CHOWN, KILL */
	TAP_CHECK(p->capabilities.effective == 1ull << 5 && p->capabilities.ambient == 1ull << 5);
	TAP_CHECK(p->capabilities.inheritable == 0);
	TAP_CHECK_STR(s.hostname, "box");
	TAP_CHECK(s.readonly_root);
	/* the network namespace by path becomes a new one in the guest */
	TAP_CHECK(s.clone_flags ==
		  (CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET));
	TAP_CHECK(s.nmounts == 4);
	TAP_CHECK_STR(s.mounts[0].type, "proc");
	TAP_CHECK(!s.mounts[0].bind && s.mounts[0].data == NULL && s.mounts[0].flags == 0);
	TAP_CHECK_STR(s.mounts[1].data, "mode=755,size=65536k");
	TAP_CHECK(s.mounts[1].flags == (MS_NOSUID | MS_STRICTATIME));
	TAP_CHECK_STR(s.mounts[2].type, "bind");
	TAP_CHECK(s.mounts[2].bind);
	TAP_CHECK(s.mounts[2].flags == (MS_BIND | MS_REC | MS_RDONLY));
	TAP_CHECK(s.mounts[2].propagation == (MS_PRIVATE | MS_REC));
	TAP_CHECK_STR(s.mounts[2].source, "/srv");
	/* No source: the type stands in, as mount(8) does. */
	TAP_CHECK_STR(s.mounts[3].source, "sysfs");
	TAP_CHECK(s.nmasked == 1 && s.nreadonly == 2);
	TAP_CHECK_STR(s.readonly_paths[1], "/proc/bus");
	TAP_CHECK(s.nsysctls == 1);
	TAP_CHECK_STR(s.sysctls[0].key, "net.ipv4.ip_forward");
	TAP_CHECK_STR(s.sysctls[0].value, "1");
	agent_spec_release(&s);
	return TAP_PASS;
}

/* What a config needs besides its process, and a process the agent runs. */
#define HEAD "\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"}"
#define PROC HEAD ",\"process\":{\"cwd\":\"/\",\"args\":[\"a\"]"

static int test_defaults(void)
{
	struct agent_spec s;
	cleanup_free char *msg = NULL;
	const struct oci_process *p;

	TAP_CHECK(parse_spec("{" PROC "}}", &s, &msg) == 0);
	p = s.process;
	TAP_CHECK_STR(p->cwd, "/");
	TAP_CHECK(p->env.v[0] == NULL);
	TAP_CHECK(p->user.uid == 0 && p->user.gid == 0 && p->user.n_additional_gids == 0);
	TAP_CHECK(!p->user.umask.present && !p->capabilities.present && !p->oom_score_adj.present);
	TAP_CHECK(s.hostname == NULL && !s.readonly_root && s.clone_flags == 0);
	TAP_CHECK(s.nmounts == 0 && s.nmasked == 0 && s.nsysctls == 0 && s.ndevices == 0);
	TAP_CHECK(!s.userns && s.nuid_maps == 0 && s.seccomp == NULL);
	agent_spec_release(&s);
	return TAP_PASS;
}

static int test_mount_options(void)
{
	struct agent_mount m = {0};
	const char *opts[] = {"rw",    "ro",	 "nosuid",   "suid",
			      "nodev", "noexec", "relatime", "x-podman-thing",
			      "uid=5", "rslave", "gid=6"};

	agent_mount_options(&m, opts, ARRAY_SIZE(opts));
	TAP_CHECK(m.flags == (MS_RDONLY | MS_NODEV | MS_NOEXEC | MS_RELATIME));
	TAP_CHECK(m.propagation == (MS_SLAVE | MS_REC));
	TAP_CHECK_STR(m.data, "uid=5,gid=6");
	TAP_CHECK(!m.bind);
	free(m.data);
	return TAP_PASS;
}

/* podman --userns=keep-id's shape (three lines around the user's own ID),
 * and linux.devices as runtime-tools' linux_devices test gives them. */
static int test_userns_and_devices(void)
{
	struct agent_spec s;
	cleanup_free char *msg = NULL, *uid_text = NULL;
	static const char text[] =
	    "{" PROC "},\"linux\":{\"namespaces\":[{\"type\":\"user\"},"
	    "{\"type\":\"mount\"}],"
	    "\"uidMappings\":[{\"containerID\":0,\"hostID\":100000,\"size\":1000},"
	    "{\"containerID\":1000,\"hostID\":1000,\"size\":1},"
	    "{\"containerID\":1001,\"hostID\":101001,\"size\":64535}],"
	    "\"gidMappings\":[{\"containerID\":0,\"hostID\":200000,\"size\":65536}],"
	    "\"devices\":[{\"path\":\"/dev/test1\",\"type\":\"c\",\"major\":1,\"minor\":3,"
	    "\"fileMode\":8612,\"uid\":1000,\"gid\":7},"
	    "{\"path\":\"/dev/fifo\",\"type\":\"p\"},"
	    "{\"path\":\"/dev/blk\",\"type\":\"b\",\"major\":259,\"minor\":1048575}]}}";

	if (parse_spec(text, &s, &msg) < 0) {
		tap_diag("%s", msg);
		return TAP_FAIL;
	}
	/* the user namespace is not a clone flag: it is entered later */
	TAP_CHECK(s.userns && s.clone_flags == CLONE_NEWNS);
	TAP_CHECK(s.nuid_maps == 3 && s.ngid_maps == 1);
	TAP_CHECK(agent_idmap_to_host(s.uid_maps, s.nuid_maps, 0) == 100000);
	TAP_CHECK(agent_idmap_to_host(s.uid_maps, s.nuid_maps, 999) == 100999);
	TAP_CHECK(agent_idmap_to_host(s.uid_maps, s.nuid_maps, 1000) == 1000);
	TAP_CHECK(agent_idmap_to_host(s.uid_maps, s.nuid_maps, 1001) == 101001);
	TAP_CHECK(agent_idmap_to_host(s.uid_maps, s.nuid_maps, 65535) == 165535);
	TAP_CHECK(agent_idmap_to_host(s.uid_maps, s.nuid_maps, 65536) == (uint32_t)-1);
	TAP_CHECK(agent_idmap_to_host(s.gid_maps, s.ngid_maps, 7) == 200007);
	TAP_CHECK(agent_idmap_to_host(NULL, 0, 42) == 42);
	uid_text = agent_userns_map_text(s.uid_maps, s.nuid_maps);
	TAP_CHECK_STR(uid_text, "0 100000 1000\n1000 1000 1\n1001 101001 64535\n");
	TAP_CHECK(s.ndevices == 3);
	TAP_CHECK_STR(s.devices[0].path, "/dev/test1");
	TAP_CHECK(s.devices[0].type == S_IFCHR && s.devices[0].rdev == makedev(1, 3));
	/* fileMode 8612 is 020644: the type bits are the "type" member's business */
	TAP_CHECK(s.devices[0].mode == 0644 && s.devices[0].uid == 1000 && s.devices[0].gid == 7);
	TAP_CHECK(s.devices[1].type == S_IFIFO && s.devices[1].mode == 0666);
	TAP_CHECK(s.devices[2].type == S_IFBLK && s.devices[2].rdev == makedev(259, 1048575));
	agent_spec_release(&s);
	return TAP_PASS;
}

#define CHECK_SPEC_FAILS(text, want)                                                               \
	do {                                                                                       \
		struct agent_spec s_;                                                              \
		cleanup_free char *msg_ = NULL;                                                    \
		int r_ = parse_spec((text), &s_, &msg_);                                           \
		agent_spec_release(&s_);                                                           \
		TAP_CHECK(r_ < 0);                                                                 \
		TAP_CHECK_STR(msg_, (want));                                                       \
	} while (0)

static int test_errors(void)
{
	CHECK_SPEC_FAILS("[]", "expected a JSON object, not array");
	CHECK_SPEC_FAILS("{}", "ociVersion: missing");
	CHECK_SPEC_FAILS("{" HEAD "}", "process: missing");
	CHECK_SPEC_FAILS("{" HEAD ",\"process\":{\"cwd\":\"/\",\"args\":[]}}",
			 "process.args: must not be empty");
	CHECK_SPEC_FAILS("{" HEAD ",\"process\":{\"cwd\":\"/\",\"args\":[\"\"]}}",
			 "process.args[0]: must not be empty");
	CHECK_SPEC_FAILS("{" HEAD ",\"process\":{\"args\":[\"a\"]}}",
			 "process.cwd: must be an absolute path");
	CHECK_SPEC_FAILS("{" PROC ",\"args\":[\"a\",1]}}", "process.args[1]: expected string");
	CHECK_SPEC_FAILS("{" PROC ",\"cwd\":\"rel\"}}", "process.cwd: must be an absolute path");
	CHECK_SPEC_FAILS("{" PROC ",\"user\":{\"uid\":-1}}}",
			 "process.user.uid: -1 is out of range");
	CHECK_SPEC_FAILS("{" PROC ",\"user\":{\"username\":\"bob\"}}}",
			 "process.user.username: user names are not supported; give uid and gid");
	CHECK_SPEC_FAILS("{" PROC ",\"oomScoreAdj\":1001}}",
			 "process.oomScoreAdj: 1001 is out of range (-1000 to 1000)");
	CHECK_SPEC_FAILS("{" PROC ",\"rlimits\":[{\"type\":\"RLIMIT_X\",\"hard\":1,\"soft\":1}]}}",
			 "process.rlimits[0].type: unknown rlimit \"RLIMIT_X\"");
	CHECK_SPEC_FAILS("{" PROC ",\"rlimits\":[{\"type\":\"RLIMIT_CORE\"}]}}",
			 "process.rlimits[0].hard: missing");
	CHECK_SPEC_FAILS("{" PROC ",\"capabilities\":{\"bounding\":[\"CAP_FLY\"]}}}",
			 "process.capabilities.bounding[0]: unknown capability \"CAP_FLY\"");
	CHECK_SPEC_FAILS("{" PROC "},\"linux\":{\"namespaces\":[{\"type\":\"time\"}]}}",
			 "linux.namespaces[0].type: namespace type \"time\" is not supported");
	CHECK_SPEC_FAILS(
	    "{" PROC "},\"linux\":{\"namespaces\":[{\"type\":\"user\"}]}}",
	    "linux.uidMappings: missing (a user namespace needs at least one mapping)");
	CHECK_SPEC_FAILS(
	    "{" PROC "},\"linux\":{\"namespaces\":[{\"type\":\"user\"}],\"uidMappings\":"
	    "[{\"containerID\":0,\"hostID\":1000,\"size\":1}]}}",
	    "linux.gidMappings: missing (a user namespace needs at least one mapping)");
	CHECK_SPEC_FAILS("{" PROC "},\"linux\":{\"gidMappings\":"
			 "[{\"containerID\":0,\"hostID\":1000,\"size\":1}]}}",
			 "linux.gidMappings: needs a user namespace (linux.namespaces)");
	CHECK_SPEC_FAILS("{" PROC "},\"linux\":{\"namespaces\":[{\"type\":\"user\"}],"
			 "\"uidMappings\":[{\"containerID\":0,\"hostID\":1000,\"size\":0}]}}",
			 "linux.uidMappings[0].size: must not be 0");
	CHECK_SPEC_FAILS("{" PROC "},\"linux\":{\"devices\":"
			 "[{\"path\":\"/dev/x\",\"type\":\"c\",\"major\":1}]}}",
			 "linux.devices[0].minor: missing");
	CHECK_SPEC_FAILS("{" PROC "},\"linux\":{\"devices\":"
			 "[{\"path\":\"/dev/x\",\"type\":\"c\",\"major\":4096,\"minor\":0}]}}",
			 "linux.devices[0]: device number 4096:0 is out of range");
	CHECK_SPEC_FAILS("{" PROC
			 "},\"linux\":{\"devices\":[{\"path\":\"/dev/x\",\"type\":\"q\"}]}}",
			 "linux.devices[0].type: unknown device type \"q\" (want c, b, u or p)");
	CHECK_SPEC_FAILS("{" PROC
			 "},\"linux\":{\"devices\":[{\"path\":\"dev/x\",\"type\":\"p\"}]}}",
			 "linux.devices[0].path: must be an absolute path");
	CHECK_SPEC_FAILS(
	    "{" PROC
	    "},\"linux\":{\"namespaces\":[{\"type\":\"pid\",\"path\":\"/proc/1/ns/pid\"}]}}",
	    "linux.namespaces[0].path: joining an existing namespace is not supported");
	CHECK_SPEC_FAILS("{" PROC "},\"hostname\":\"h\"}",
			 "hostname: needs a uts namespace (linux.namespaces)");
	CHECK_SPEC_FAILS("{" PROC "},\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_FOO\"}}}",
			 "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_FOO\"");
	CHECK_SPEC_FAILS("{" PROC "},\"mounts\":[{\"destination\":\"x\",\"type\":\"tmpfs\"}]}",
			 "mounts[0].destination: must be an absolute path");
	CHECK_SPEC_FAILS("{" PROC "},\"mounts\":[{\"type\":\"tmpfs\"}]}",
			 "mounts[0].destination: missing");
	CHECK_SPEC_FAILS("{" PROC "},\"mounts\":[{\"destination\":\"/x\"}]}",
			 "mounts[0]: type: missing (and not a bind mount)");
	CHECK_SPEC_FAILS("{" PROC "},\"mounts\":[{\"destination\":\"/x\",\"type\":\"none\","
			 "\"options\":[\"rbind\"]}]}",
			 "mounts[0]: source: missing for a bind mount");
	CHECK_SPEC_FAILS("{" PROC "},\"mounts\":[{\"destination\":\"/x\",\"type\":\"bind\","
			 "\"source\":\"rel\"}]}",
			 "mounts[0].source: bind mount source must be an absolute guest path");
	CHECK_SPEC_FAILS("{" PROC "},\"linux\":{\"sysctl\":{\"a/../b\":\"1\"}}}",
			 "linux.sysctl.a/../b: invalid sysctl name");
	return TAP_PASS;
}

/* Errors name the path from the request's root when the spec sits in one,
 * the checks made on the parsed spec too. */
static char *request_error(const char *req, const char *key)
{
	cleanup_json kiln_json_t *doc = NULL;
	const kiln_json_t *node;
	struct agent_spec s;
	struct oci_process *p = NULL;
	kiln_error_t err = NULL;
	char *msg;
	int r;

	if (kiln_json_parse(req, strlen(req), &doc, &err) < 0) {
		msg = xstrdup(err->msg);
		kiln_error_free(&err);
		return msg;
	}
	node = kiln_json_get(kiln_json_get(doc, "params"), key);
	if (streq(key, "spec")) {
		r = agent_spec_parse(node, &s, &err);
		agent_spec_release(&s);
	} else {
		r = agent_process_parse(node, &p, &err);
		oci_process_free(p);
	}
	if (r == 0)
		return xstrdup("ok");
	msg = xstrdup(err != NULL ? err->msg : "(no message)");
	kiln_error_free(&err);
	return msg;
}

static int test_error_path_in_request(void)
{
	static const struct {
		const char *req, *key, *want;
	} cases[] = {
	    {"{\"params\":{\"spec\":{" PROC ",\"user\":{\"gid\":\"x\"}}}}}", "spec",
	     "params.spec.process.user.gid: expected unsigned integer"},
	    {"{\"params\":{\"spec\":{" HEAD "}}}", "spec", "params.spec.process: missing"},
	    {"{\"params\":{\"spec\":{" PROC ",\"args\":[]}}}}", "spec",
	     "params.spec.process.args: must not be empty"},
	    {"{\"params\":{\"spec\":{" PROC "},\"linux\":{\"namespaces\":[{\"type\":\"user\"}]}}}}",
	     "spec",
	     "params.spec.linux.uidMappings: missing (a user namespace needs at least one "
	     "mapping)"},
	    {"{\"params\":{\"spec\":{" PROC "},\"linux\":{\"sysctl\":{\"vm.x\":\"1\"}}}}}", "spec",
	     "params.spec.linux.sysctl.vm.x: not in a namespace of the container's own (allowed: "
	     "kernel.{msgmax,msgmnb,msgmni,sem,shmall,shmmax,shmmni,shm_rmid_forced}, "
	     "fs.mqueue.*, net.*, kernel.domainname)"},
	    {"{\"params\":{\"spec\":{" PROC "},\"linux\":{\"seccomp\":"
	     "{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}}}}}",
	     "spec", "params.spec.linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is not supported"},
	    /* exec's process object */
	    {"{\"params\":{\"process\":{\"cwd\":\"/\",\"args\":[\"a\"]}}}", "process", "ok"},
	    {"{\"params\":{\"process\":{\"args\":[\"a\"],\"cwd\":\"/\",\"user\":{\"uid\":\"0\"}}}}",
	     "process", "params.process.user.uid: expected unsigned integer"},
	    {"{\"params\":{\"process\":{\"cwd\":\"/\",\"args\":[]}}}", "process",
	     "params.process.args: must not be empty"},
	    {"{\"params\":{\"process\":{\"args\":[\"a\"]}}}", "process",
	     "params.process.cwd: must be an absolute path"},
	    {"{\"params\":{\"process\":{\"cwd\":\"/"
	     "\",\"args\":[\"a\"],\"user\":{\"username\":\"u\"}}}}",
	     "process",
	     "params.process.user.username: user names are not supported; give uid and gid"},
	    {"{\"params\":{\"process\":{\"cwd\":\"/\",\"args\":[\"a\"],\"rlimits\":"
	     "[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1,\"soft\":1},"
	     "{\"type\":\"RLIMIT_NOFILE\",\"hard\":2,\"soft\":2}]}}}",
	     "process", "params.process.rlimits[1].type: duplicate rlimit \"RLIMIT_NOFILE\""},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_free char *got = request_error(cases[i].req, cases[i].key);

		if (!streq(got, cases[i].want)) {
			tap_diag("case %zu: got \"%s\", want \"%s\"", i, got, cases[i].want);
			return TAP_FAIL;
		}
	}
	return TAP_PASS;
}

static int test_find_executable(void)
{
	char dir[] = "/tmp/kiln-test-exe-XXXXXX";
	cleanup_free char *prog = NULL, *noexec = NULL, *path_env = NULL, *found = NULL;
	char *env[2] = {NULL, NULL};
	kiln_error_t err = NULL;
	FILE *f;

	TAP_CHECK(mkdtemp(dir) != NULL);
	prog = xasprintf("%s/hello", dir);
	noexec = xasprintf("%s/data", dir);
	f = fopen(prog, "w");
	TAP_CHECK(f != NULL);
	fclose(f);
	chmod(prog, 0755);
	f = fopen(noexec, "w");
	TAP_CHECK(f != NULL);
	fclose(f);
	path_env = xasprintf("PATH=/nonexistent:%s", dir);
	env[0] = path_env;

	TAP_CHECK(agent_find_executable("hello", env, &found, &err) == 0);
	TAP_CHECK_STR(found, prog);
	free(TAKE_PTR(found));
	TAP_CHECK(agent_find_executable(prog, env, &found, &err) == 0);
	TAP_CHECK_STR(found, prog);
	free(TAKE_PTR(found));
	TAP_CHECK(agent_find_executable("nope", env, &found, &err) < 0);
	TAP_CHECK(err->status == ENOENT);
	kiln_error_free(&err);
	if (geteuid() != 0) {
		/* Root may execute anything with an x bit; data has none. */
		TAP_CHECK(agent_find_executable("data", env, &found, &err) < 0);
		TAP_CHECK(err->status == EACCES);
		kiln_error_free(&err);
	}
	/* Without PATH in env the default applies. */
	env[0] = NULL;
	TAP_CHECK(agent_find_executable("sh", env, &found, &err) == 0);
	TAP_CHECK(strstr(found, "/sh") != NULL);
	unlink(prog);
	unlink(noexec);
	rmdir(dir);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_full), TAP_TEST(test_defaults), TAP_TEST(test_mount_options),
	 TAP_TEST(test_userns_and_devices), TAP_TEST(test_errors),
	 TAP_TEST(test_error_path_in_request), TAP_TEST(test_find_executable))
