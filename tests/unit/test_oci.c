/* oci/: config.json, process.json, state, features and the default spec
 * (runtime-spec 1.0 to 1.3), and the name tables kiln-agent shares. */
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <seccomp.h>

#include "agent/spec.h"
#include "common/io.h"
#include "common/json.h"
#include "common/util.h"
#include "oci/oci.h"
#include "tests/unit/tap.h"
#include "tests/unit/tmpdir.h"

/* A config like runtime-spec config.md's example, with every field kiln
 * types and a few it does not (resources.network, blockIO.weightDevice,
 * process.futureField). */
static const char full_config[] =
    "{\n"
    "  \"ociVersion\": \"1.0.2-dev\",\n"
    "  \"process\": {\n"
    "    \"terminal\": true,\n"
    "    \"consoleSize\": {\"height\": 25, \"width\": 80},\n"
    "    \"user\": {\"uid\": 1, \"gid\": 1, \"umask\": 63, \"additionalGids\": [5, 6]},\n"
    "    \"args\": [\"sh\"],\n"
    "    \"env\": [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", "
    "\"TERM=xterm\"],\n"
    "    \"cwd\": \"/\",\n"
    "    \"capabilities\": {\n"
    "      \"bounding\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
    "      \"permitted\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
    "      \"inheritable\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
    "      \"effective\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\"],\n"
    "      \"ambient\": [\"CAP_NET_BIND_SERVICE\"]\n"
    "    },\n"
    "    \"rlimits\": [\n"
    "      {\"type\": \"RLIMIT_CORE\", \"hard\": 1024, \"soft\": 1024},\n"
    "      {\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 512}\n"
    "    ],\n"
    "    \"apparmorProfile\": \"acme_secure_profile\",\n"
    "    \"oomScoreAdj\": 100,\n"
    "    \"selinuxLabel\": \"system_u:system_r:svirt_lxc_net_t:s0:c124,c675\",\n"
    "    \"noNewPrivileges\": true,\n"
    "    \"futureField\": {\"ignored\": [1, 2]}\n"
    "  },\n"
    "  \"root\": {\"path\": \"rootfs\", \"readonly\": true},\n"
    "  \"hostname\": \"slartibartfast\",\n"
    "  \"domainname\": \"magrathea.example\",\n"
    "  \"mounts\": [\n"
    "    {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},\n"
    "    {\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\",\n"
    "     \"options\": [\"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\"]},\n"
    "    {\"destination\": \"/data\", \"source\": \"/volumes/testing\", \"options\": [\"rbind\", "
    "\"rw\"]}\n"
    "  ],\n"
    "  \"hooks\": {\n"
    "    \"prestart\": [\n"
    "      {\"path\": \"/usr/bin/fix-mounts\", \"args\": [\"fix-mounts\", \"arg1\", \"arg2\"], "
    "\"env\": [\"key1=value1\"]},\n"
    "      {\"path\": \"/usr/bin/setup-network\"}\n"
    "    ],\n"
    "    \"createRuntime\": [{\"path\": \"/usr/bin/fix-mounts\", \"args\": [\"fix-mounts\", "
    "\"arg1\"]}],\n"
    "    \"createContainer\": [{\"path\": \"/usr/bin/mount-hook\", \"args\": [\"-mount\", "
    "\"arg1\"], \"env\": [\"key1=value1\"], \"timeout\": 5}],\n"
    "    \"startContainer\": [{\"path\": \"/usr/bin/refresh-ldcache\"}],\n"
    "    \"poststart\": [{\"path\": \"/usr/bin/notify-start\", \"timeout\": 5}],\n"
    "    \"poststop\": [{\"path\": \"/usr/sbin/cleanup.sh\", \"args\": [\"cleanup.sh\", \"-f\"]}]\n"
    "  },\n"
    "  \"linux\": {\n"
    "    \"devices\": [\n"
    "      {\"path\": \"/dev/fuse\", \"type\": \"c\", \"major\": 10, \"minor\": 229, \"fileMode\": "
    "438, \"uid\": 0, \"gid\": 0},\n"
    "      {\"path\": \"/dev/sda\", \"type\": \"b\", \"major\": 8, \"minor\": 0, \"fileMode\": "
    "432}\n"
    "    ],\n"
    "    \"uidMappings\": [{\"containerID\": 0, \"hostID\": 1000, \"size\": 32000}],\n"
    "    \"gidMappings\": [{\"containerID\": 0, \"hostID\": 1000, \"size\": 32000}],\n"
    "    \"sysctl\": {\"net.ipv4.ip_forward\": \"1\", \"net.core.somaxconn\": \"256\"},\n"
    "    \"cgroupsPath\": \"/myRuntime/myContainer\",\n"
    "    \"resources\": {\n"
    "      \"network\": {\"classID\": 1048577, \"priorities\": [{\"name\": \"eth0\", \"priority\": "
    "500}]},\n"
    "      \"pids\": {\"limit\": 32771},\n"
    "      \"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 9223372036854772000}, "
    "{\"pageSize\": \"64KB\", \"limit\": 1000000}],\n"
    "      \"memory\": {\"limit\": 536870912, \"reservation\": 536870912, \"swap\": 536870912, "
    "\"kernel\": -1, \"kernelTCP\": -1, \"swappiness\": 0, \"disableOOMKiller\": false},\n"
    "      \"cpu\": {\"shares\": 1024, \"quota\": 1000000, \"period\": 500000, "
    "\"realtimeRuntime\": 950000, \"realtimePeriod\": 1000000, \"cpus\": \"2-3\", \"mems\": "
    "\"0-7\"},\n"
    "      \"devices\": [\n"
    "        {\"allow\": false, \"access\": \"rwm\"},\n"
    "        {\"allow\": true, \"type\": \"c\", \"major\": 10, \"minor\": 229, \"access\": "
    "\"rw\"},\n"
    "        {\"allow\": true, \"type\": \"b\", \"major\": 8, \"minor\": 0, \"access\": \"r\"}\n"
    "      ],\n"
    "      \"blockIO\": {\"weight\": 10, \"leafWeight\": 10, \"weightDevice\": [{\"major\": 8, "
    "\"minor\": 0, \"weight\": 500}]},\n"
    "      \"unified\": {\"io.max\": \"8:0 rbps=1048576\", \"memory.high\": \"1073741824\"}\n"
    "    },\n"
    "    \"rootfsPropagation\": \"slave\",\n"
    "    \"seccomp\": {\n"
    "      \"defaultAction\": \"SCMP_ACT_ALLOW\",\n"
    "      \"defaultErrnoRet\": 1,\n"
    "      \"architectures\": [\"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\", \"SCMP_ARCH_X86_64\"],\n"
    "      \"flags\": [\"SECCOMP_FILTER_FLAG_LOG\"],\n"
    "      \"syscalls\": [\n"
    "        {\"names\": [\"getcwd\", \"chmod\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": "
    "38},\n"
    "        {\"names\": [\"personality\"], \"action\": \"SCMP_ACT_ALLOW\",\n"
    "         \"args\": [{\"index\": 0, \"value\": 8, \"op\": \"SCMP_CMP_EQ\"}, {\"index\": 1, "
    "\"value\": 255, \"valueTwo\": 4, \"op\": \"SCMP_CMP_MASKED_EQ\"}]}\n"
    "      ]\n"
    "    },\n"
    "    \"namespaces\": [\n"
    "      {\"type\": \"pid\"}, {\"type\": \"network\", \"path\": \"/var/run/netns/cni-1234\"}, "
    "{\"type\": \"ipc\"},\n"
    "      {\"type\": \"uts\"}, {\"type\": \"mount\"}, {\"type\": \"user\"}, {\"type\": "
    "\"cgroup\"}\n"
    "    ],\n"
    "    \"maskedPaths\": [\"/proc/kcore\", \"/proc/latency_stats\", \"/proc/timer_list\", "
    "\"/proc/timer_stats\", \"/proc/sched_debug\"],\n"
    "    \"readonlyPaths\": [\"/proc/asound\", \"/proc/bus\", \"/proc/fs\", \"/proc/irq\", "
    "\"/proc/sys\", \"/proc/sysrq-trigger\"],\n"
    "    \"mountLabel\": \"system_u:object_r:svirt_sandbox_file_t:s0:c715,c811\"\n"
    "  },\n"
    "  \"annotations\": {\"com.example.key1\": \"value1\", \"com.example.key2\": \"value2\", "
    "\"com.example.key1\": \"value3\"}\n"
    "}\n";

/* s with every ' turned into ", so documents in tests read as JSON. */
static char *dq(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

/* The error oci_config_parse() gives for doc (quotes as '), or NULL when it
 * parses. */
static char *config_error(const char *doc)
{
	cleanup_free char *text = dq(doc);
	struct oci_config *c = NULL;
	kiln_error_t err = NULL;
	char *msg;

	if (oci_config_parse(text, strlen(text), &c, &err) == 0) {
		oci_config_free(c);
		return NULL;
	}
	msg = xstrdup(err != NULL && err->msg != NULL ? err->msg : "(no message)");
	kiln_error_free(&err);
	return msg;
}

static struct oci_config *config_ok(const char *doc)
{
	cleanup_free char *text = dq(doc);
	struct oci_config *c = NULL;
	kiln_error_t err = NULL;

	if (oci_config_parse(text, strlen(text), &c, &err) < 0) {
		tap_diag("parse failed: %s", err->msg);
		kiln_error_free(&err);
		return NULL;
	}
	return c;
}

#define CAPBIT(c) (UINT64_C(1) << (c))

static int test_full_config(void)
{
	cleanup_oci_config struct oci_config *c = NULL;
	kiln_error_t err = NULL;
	const struct oci_process *p;
	const struct oci_linux *l;
	const struct oci_resources *r;
	const struct oci_seccomp *s;

	TAP_CHECK(oci_config_parse(full_config, strlen(full_config), &c, &err) == 0);
	TAP_CHECK(err == NULL);
	TAP_CHECK_STR(c->oci_version, "1.0.2-dev");
	TAP_CHECK(c->raw_len == strlen(full_config));
	TAP_CHECK_STR(c->raw, full_config);
	TAP_CHECK_STR(c->root.path, "rootfs");
	TAP_CHECK(c->root.readonly);
	TAP_CHECK_STR(c->hostname, "slartibartfast");
	TAP_CHECK_STR(c->domainname, "magrathea.example");

	p = c->process;
	TAP_CHECK(p != NULL);
	TAP_CHECK(p->terminal);
	TAP_CHECK(p->console_size.present && p->console_size.height == 25 &&
		  p->console_size.width == 80);
	TAP_CHECK(p->user.uid == 1 && p->user.gid == 1);
	TAP_CHECK(p->user.umask.present && p->user.umask.value == 63);
	TAP_CHECK(p->user.n_additional_gids == 2);
	TAP_CHECK(p->user.additional_gids[0] == 5 && p->user.additional_gids[1] == 6);
	TAP_CHECK(p->user.username == NULL);
	TAP_CHECK(p->args.n == 1 && p->args.v[1] == NULL);
	TAP_CHECK_STR(p->args.v[0], "sh");
	TAP_CHECK(p->command_line == NULL);
	TAP_CHECK(p->env.n == 2);
	TAP_CHECK_STR(p->env.v[0],
		      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	TAP_CHECK_STR(p->env.v[1], "TERM=xterm");
	TAP_CHECK_STR(p->cwd, "/");
	TAP_CHECK(p->capabilities.present);
	TAP_CHECK(p->capabilities.bounding ==
		  (CAPBIT(CAP_AUDIT_WRITE) | CAPBIT(CAP_KILL) | CAPBIT(CAP_NET_BIND_SERVICE)));
	TAP_CHECK(p->capabilities.bounding == ((UINT64_C(1) << 29) | (1u << 5) | (1u << 10)));
	TAP_CHECK(p->capabilities.permitted == p->capabilities.bounding);
	TAP_CHECK(p->capabilities.inheritable == p->capabilities.bounding);
	TAP_CHECK(p->capabilities.effective == (CAPBIT(CAP_AUDIT_WRITE) | CAPBIT(CAP_KILL)));
	TAP_CHECK(p->capabilities.ambient == CAPBIT(CAP_NET_BIND_SERVICE));
	TAP_CHECK(p->n_rlimits == 2);
	TAP_CHECK_STR(p->rlimits[0].type, "RLIMIT_CORE");
	TAP_CHECK(p->rlimits[0].resource == RLIMIT_CORE);
	TAP_CHECK(p->rlimits[0].hard == 1024 && p->rlimits[0].soft == 1024);
	TAP_CHECK_STR(p->rlimits[1].type, "RLIMIT_NOFILE");
	TAP_CHECK(p->rlimits[1].resource == RLIMIT_NOFILE);
	TAP_CHECK(p->rlimits[1].hard == 1024 && p->rlimits[1].soft == 512);
	TAP_CHECK_STR(p->apparmor_profile, "acme_secure_profile");
	TAP_CHECK(p->oom_score_adj.present && p->oom_score_adj.value == 100);
	TAP_CHECK_STR(p->selinux_label, "system_u:system_r:svirt_lxc_net_t:s0:c124,c675");
	TAP_CHECK(p->no_new_privileges);

	TAP_CHECK(c->n_mounts == 3);
	TAP_CHECK_STR(c->mounts[0].destination, "/proc");
	TAP_CHECK_STR(c->mounts[0].type, "proc");
	TAP_CHECK_STR(c->mounts[0].source, "proc");
	TAP_CHECK(c->mounts[0].options.n == 0 && c->mounts[0].options.v[0] == NULL);
	TAP_CHECK_STR(c->mounts[1].destination, "/dev");
	TAP_CHECK(c->mounts[1].options.n == 4);
	TAP_CHECK_STR(c->mounts[1].options.v[0], "nosuid");
	TAP_CHECK_STR(c->mounts[1].options.v[3], "size=65536k");
	TAP_CHECK_STR(c->mounts[2].destination, "/data");
	TAP_CHECK(c->mounts[2].type == NULL);
	TAP_CHECK_STR(c->mounts[2].source, "/volumes/testing");
	TAP_CHECK(c->mounts[2].options.n == 2);
	TAP_CHECK_STR(c->mounts[2].options.v[1], "rw");

	TAP_CHECK(c->hooks[OCI_HOOK_PRESTART].n == 2);
	TAP_CHECK_STR(c->hooks[OCI_HOOK_PRESTART].items[0].path, "/usr/bin/fix-mounts");
	TAP_CHECK(c->hooks[OCI_HOOK_PRESTART].items[0].args.n == 3);
	TAP_CHECK_STR(c->hooks[OCI_HOOK_PRESTART].items[0].args.v[2], "arg2");
	TAP_CHECK(c->hooks[OCI_HOOK_PRESTART].items[0].env.n == 1);
	TAP_CHECK_STR(c->hooks[OCI_HOOK_PRESTART].items[0].env.v[0], "key1=value1");
	TAP_CHECK(!c->hooks[OCI_HOOK_PRESTART].items[0].timeout.present);
	TAP_CHECK_STR(c->hooks[OCI_HOOK_PRESTART].items[1].path, "/usr/bin/setup-network");
	TAP_CHECK(c->hooks[OCI_HOOK_PRESTART].items[1].args.n == 0);
	TAP_CHECK(c->hooks[OCI_HOOK_CREATE_RUNTIME].n == 1);
	TAP_CHECK(c->hooks[OCI_HOOK_CREATE_CONTAINER].n == 1);
	TAP_CHECK_STR(c->hooks[OCI_HOOK_CREATE_CONTAINER].items[0].path, "/usr/bin/mount-hook");
	TAP_CHECK(c->hooks[OCI_HOOK_CREATE_CONTAINER].items[0].timeout.present);
	TAP_CHECK(c->hooks[OCI_HOOK_CREATE_CONTAINER].items[0].timeout.value == 5);
	TAP_CHECK(c->hooks[OCI_HOOK_START_CONTAINER].n == 1);
	TAP_CHECK_STR(c->hooks[OCI_HOOK_START_CONTAINER].items[0].path, "/usr/bin/refresh-ldcache");
	TAP_CHECK(c->hooks[OCI_HOOK_POSTSTART].n == 1);
	TAP_CHECK(c->hooks[OCI_HOOK_POSTSTART].items[0].timeout.value == 5);
	TAP_CHECK(c->hooks[OCI_HOOK_POSTSTOP].n == 1);
	TAP_CHECK_STR(c->hooks[OCI_HOOK_POSTSTOP].items[0].args.v[1], "-f");

	/* A key given twice: first place, last value. */
	TAP_CHECK(c->annotations.n == 2);
	TAP_CHECK_STR(c->annotations.items[0].key, "com.example.key1");
	TAP_CHECK_STR(c->annotations.items[0].value, "value3");
	TAP_CHECK_STR(c->annotations.items[1].key, "com.example.key2");
	TAP_CHECK_STR(oci_map_get(&c->annotations, "com.example.key2"), "value2");
	TAP_CHECK(oci_map_get(&c->annotations, "com.example.key3") == NULL);

	l = c->linux_spec;
	TAP_CHECK(l != NULL);
	TAP_CHECK(l->n_devices == 2);
	TAP_CHECK_STR(l->devices[0].path, "/dev/fuse");
	TAP_CHECK_STR(l->devices[0].type, "c");
	TAP_CHECK(l->devices[0].major.present && l->devices[0].major.value == 10);
	TAP_CHECK(l->devices[0].minor.present && l->devices[0].minor.value == 229);
	TAP_CHECK(l->devices[0].file_mode.present && l->devices[0].file_mode.value == 0666);
	TAP_CHECK(l->devices[0].uid.present && l->devices[0].uid.value == 0);
	TAP_CHECK(l->devices[0].gid.present && l->devices[0].gid.value == 0);
	TAP_CHECK_STR(l->devices[1].type, "b");
	TAP_CHECK(l->devices[1].file_mode.value == 0660);
	TAP_CHECK(!l->devices[1].uid.present && !l->devices[1].gid.present);
	TAP_CHECK(l->n_uid_mappings == 1 && l->n_gid_mappings == 1);
	TAP_CHECK(l->uid_mappings[0].container_id == 0 && l->uid_mappings[0].host_id == 1000 &&
		  l->uid_mappings[0].size == 32000);
	TAP_CHECK(l->gid_mappings[0].host_id == 1000);
	TAP_CHECK(l->sysctl.n == 2);
	TAP_CHECK_STR(l->sysctl.items[0].key, "net.ipv4.ip_forward");
	TAP_CHECK_STR(l->sysctl.items[0].value, "1");
	TAP_CHECK_STR(oci_map_get(&l->sysctl, "net.core.somaxconn"), "256");
	TAP_CHECK_STR(l->cgroups_path, "/myRuntime/myContainer");
	TAP_CHECK_STR(l->rootfs_propagation, "slave");
	TAP_CHECK(l->masked_paths.n == 5);
	TAP_CHECK_STR(l->masked_paths.v[4], "/proc/sched_debug");
	TAP_CHECK(l->readonly_paths.n == 6);
	TAP_CHECK_STR(l->readonly_paths.v[0], "/proc/asound");
	TAP_CHECK_STR(l->mount_label, "system_u:object_r:svirt_sandbox_file_t:s0:c715,c811");

	TAP_CHECK(l->n_namespaces == 7);
	TAP_CHECK(l->namespaces[0].type == OCI_NS_PID && l->namespaces[0].path == NULL);
	TAP_CHECK(l->namespaces[1].type == OCI_NS_NETWORK);
	TAP_CHECK_STR(l->namespaces[1].path, "/var/run/netns/cni-1234");
	TAP_CHECK(l->namespaces[2].type == OCI_NS_IPC);
	TAP_CHECK(l->namespaces[3].type == OCI_NS_UTS);
	TAP_CHECK(l->namespaces[4].type == OCI_NS_MOUNT);
	TAP_CHECK(l->namespaces[5].type == OCI_NS_USER);
	TAP_CHECK(l->namespaces[6].type == OCI_NS_CGROUP);

	r = l->resources;
	TAP_CHECK(r != NULL);
	TAP_CHECK(r->pids_limit.present && r->pids_limit.value == 32771);
	TAP_CHECK(r->n_hugepage_limits == 2);
	TAP_CHECK_STR(r->hugepage_limits[0].page_size, "2MB");
	TAP_CHECK(r->hugepage_limits[0].limit == UINT64_C(9223372036854772000));
	TAP_CHECK_STR(r->hugepage_limits[1].page_size, "64KB");
	TAP_CHECK(r->hugepage_limits[1].limit == 1000000);
	TAP_CHECK(r->memory.limit.present && r->memory.limit.value == 536870912);
	TAP_CHECK(r->memory.reservation.value == 536870912 && r->memory.swap.value == 536870912);
	TAP_CHECK(r->memory.kernel.present && r->memory.kernel.value == -1);
	TAP_CHECK(r->memory.kernel_tcp.present && r->memory.kernel_tcp.value == -1);
	TAP_CHECK(r->memory.swappiness.present && r->memory.swappiness.value == 0);
	TAP_CHECK(r->memory.disable_oom_killer.present && !r->memory.disable_oom_killer.value);
	TAP_CHECK(!r->memory.use_hierarchy.present && !r->memory.check_before_update.present);
	TAP_CHECK(r->cpu.shares.present && r->cpu.shares.value == 1024);
	TAP_CHECK(r->cpu.quota.present && r->cpu.quota.value == 1000000);
	TAP_CHECK(r->cpu.period.present && r->cpu.period.value == 500000);
	TAP_CHECK(r->cpu.realtime_runtime.present && r->cpu.realtime_runtime.value == 950000);
	TAP_CHECK(r->cpu.realtime_period.present && r->cpu.realtime_period.value == 1000000);
	TAP_CHECK(!r->cpu.burst.present && !r->cpu.idle.present);
	TAP_CHECK_STR(r->cpu.cpus, "2-3");
	TAP_CHECK_STR(r->cpu.mems, "0-7");
	TAP_CHECK(r->n_devices == 3);
	TAP_CHECK(!r->devices[0].allow && r->devices[0].type == NULL);
	TAP_CHECK(!r->devices[0].major.present && !r->devices[0].minor.present);
	TAP_CHECK_STR(r->devices[0].access, "rwm");
	TAP_CHECK(r->devices[1].allow);
	TAP_CHECK_STR(r->devices[1].type, "c");
	TAP_CHECK(r->devices[1].major.value == 10 && r->devices[1].minor.value == 229);
	TAP_CHECK_STR(r->devices[1].access, "rw");
	TAP_CHECK_STR(r->devices[2].access, "r");
	TAP_CHECK(r->blkio_weight.present && r->blkio_weight.value == 10);
	TAP_CHECK(r->blkio_leaf_weight.present && r->blkio_leaf_weight.value == 10);
	TAP_CHECK(r->unified.n == 2);
	TAP_CHECK_STR(oci_map_get(&r->unified, "io.max"), "8:0 rbps=1048576");
	TAP_CHECK_STR(oci_map_get(&r->unified, "memory.high"), "1073741824");

	s = l->seccomp;
	TAP_CHECK(s != NULL);
	TAP_CHECK_STR(s->default_action, "SCMP_ACT_ALLOW");
	TAP_CHECK(s->default_errno_ret.present && s->default_errno_ret.value == 1);
	TAP_CHECK(s->architectures.n == 3);
	TAP_CHECK_STR(s->architectures.v[2], "SCMP_ARCH_X86_64");
	TAP_CHECK(s->flags.n == 1);
	TAP_CHECK_STR(s->flags.v[0], "SECCOMP_FILTER_FLAG_LOG");
	TAP_CHECK(s->listener_path == NULL && s->listener_metadata == NULL);
	TAP_CHECK(s->n_syscalls == 2);
	TAP_CHECK(s->syscalls[0].names.n == 2);
	TAP_CHECK_STR(s->syscalls[0].names.v[0], "getcwd");
	TAP_CHECK_STR(s->syscalls[0].names.v[1], "chmod");
	TAP_CHECK_STR(s->syscalls[0].action, "SCMP_ACT_ERRNO");
	TAP_CHECK(s->syscalls[0].errno_ret.present && s->syscalls[0].errno_ret.value == 38);
	TAP_CHECK(s->syscalls[0].n_args == 0);
	TAP_CHECK_STR(s->syscalls[1].action, "SCMP_ACT_ALLOW");
	TAP_CHECK(!s->syscalls[1].errno_ret.present);
	TAP_CHECK(s->syscalls[1].n_args == 2);
	TAP_CHECK(s->syscalls[1].args[0].index == 0 && s->syscalls[1].args[0].value == 8);
	TAP_CHECK(!s->syscalls[1].args[0].value_two.present);
	TAP_CHECK_STR(s->syscalls[1].args[0].op, "SCMP_CMP_EQ");
	TAP_CHECK(s->syscalls[1].args[1].index == 1 && s->syscalls[1].args[1].value == 255);
	TAP_CHECK(s->syscalls[1].args[1].value_two.present &&
		  s->syscalls[1].args[1].value_two.value == 4);
	TAP_CHECK_STR(s->syscalls[1].args[1].op, "SCMP_CMP_MASKED_EQ");

	TAP_CHECK(oci_config_check_runnable(c, &err) == 0);
	return TAP_PASS;
}

/* The smallest config: no process, no linux. */
static int test_minimal_config(void)
{
	cleanup_oci_config struct oci_config *c =
	    config_ok("{'ociVersion': '1.2.0', 'root': {'path': '/srv/rootfs'}}");
	kiln_error_t err = NULL;

	TAP_CHECK(c != NULL);
	TAP_CHECK_STR(c->root.path, "/srv/rootfs");
	TAP_CHECK(!c->root.readonly);
	TAP_CHECK(c->process == NULL && c->linux_spec == NULL);
	TAP_CHECK(c->n_mounts == 0 && c->hostname == NULL && c->annotations.n == 0);
	for (int k = 0; k < OCI_HOOK_COUNT; k++)
		TAP_CHECK(c->hooks[k].n == 0);
	TAP_CHECK(oci_config_check_runnable(c, &err) < 0);
	TAP_CHECK_STR(err->msg, "process: missing");
	kiln_error_free(&err);
	return TAP_PASS;
}

/* Nulls read as absent; empty strings and null seccomp likewise. */
static int test_nulls_are_absent(void)
{
	cleanup_oci_config struct oci_config *c = config_ok(
	    "{'ociVersion': '1.1.0', 'root': {'path': 'r', 'readonly': null}, 'hostname': null,"
	    " 'process': {'args': ['a'], 'cwd': '/', 'oomScoreAdj': null, 'user': null},"
	    " 'linux': {'namespaces': [{'type': 'pid', 'path': ''}], 'seccomp': {},"
	    " 'resources': {'memory': {'limit': null}}}}");

	TAP_CHECK(c != NULL);
	TAP_CHECK(!c->root.readonly && c->hostname == NULL);
	TAP_CHECK(!c->process->oom_score_adj.present);
	TAP_CHECK(c->linux_spec->namespaces[0].path == NULL);
	TAP_CHECK(c->linux_spec->seccomp != NULL);
	TAP_CHECK(c->linux_spec->seccomp->default_action == NULL);
	TAP_CHECK(!c->linux_spec->resources->memory.limit.present);
	TAP_CHECK(!c->linux_spec->resources->pids_limit.present);
	return TAP_PASS;
}

#define BASE	 "'ociVersion': '1.2.0', 'root': {'path': 'rootfs'}"
#define PROC(x)	 "{" BASE ", 'process': {'args': ['sh'], 'cwd': '/', " x "}}"
#define LINUX(x) "{" BASE ", 'linux': {" x "}}"

static const struct {
	const char *doc, *msg;
} bad_configs[] = {
    /* JSON itself */
    {"", "invalid JSON: empty document"},
    {"not json", "invalid JSON at byte 1: invalid string in json text"},
    {"{'ociVersion': '1.2.0', 'root': {'path': 'r'",
     "invalid JSON at byte 44: unexpected end of input"},
    {"[1, 2]", "expected a JSON object, not array"},
    /* ociVersion */
    {"{'root': {'path': 'r'}}", "ociVersion: missing"},
    {"{'ociVersion': 1.2, 'root': {'path': 'r'}}", "ociVersion: expected string"},
    {"{'ociVersion': '2.0.0', 'root': {'path': 'r'}}",
     "ociVersion: unsupported version \"2.0.0\" (kiln supports 1.0.0 to 1.3.x)"},
    {"{'ociVersion': '1.4.0', 'root': {'path': 'r'}}",
     "ociVersion: unsupported version \"1.4.0\" (kiln supports 1.0.0 to 1.3.x)"},
    {"{'ociVersion': '0.6.0', 'root': {'path': 'r'}}",
     "ociVersion: unsupported version \"0.6.0\" (kiln supports 1.0.0 to 1.3.x)"},
    {"{'ociVersion': '1.0', 'root': {'path': 'r'}}",
     "ociVersion: unsupported version \"1.0\" (kiln supports 1.0.0 to 1.3.x)"},
    /* root */
    {"{'ociVersion': '1.2.0'}", "root.path: missing"},
    {"{'ociVersion': '1.2.0', 'root': {'readonly': true}}", "root.path: missing"},
    {"{'ociVersion': '1.2.0', 'root': {'path': ''}}", "root.path: must not be empty"},
    {"{'ociVersion': '1.2.0', 'root': 'rootfs'}", "root: expected object"},
    {"{'ociVersion': '1.2.0', 'root': {'path': 'r', 'readonly': 1}}",
     "root.readonly: expected boolean"},
    /* mounts */
    {"{" BASE ", 'mounts': {}}", "mounts: expected array"},
    {"{" BASE ", 'mounts': ['/proc']}", "mounts[0]: expected object"},
    {"{" BASE ", 'mounts': [{'destination': '/a'}, {'type': 'tmpfs'}]}",
     "mounts[1].destination: missing"},
    {"{" BASE ", 'mounts': [{'destination': 'proc', 'type': 'proc'}]}",
     "mounts[0].destination: must be an absolute path"},
    {"{" BASE ", 'mounts': [{'destination': '/p', 'options': ['ro', 5]}]}",
     "mounts[0].options[1]: expected string"},
    /* process */
    {"{" BASE ", 'process': ['sh']}", "process: expected object"},
    {PROC("'user': {'uid': 'root'}"), "process.user.uid: expected unsigned integer"},
    {PROC("'user': {'uid': 0, 'gid': -1}"), "process.user.gid: -1 is out of range"},
    {PROC("'user': {'uid': 4294967296}"), "process.user.uid: 4294967296 is out of range"},
    {PROC("'user': {'umask': 4096}"), "process.user.umask: 4096 is not a mode"},
    {PROC("'user': {'additionalGids': [1, '2']}"),
     "process.user.additionalGids[1]: expected unsigned integer"},
    {PROC("'terminal': 'yes'"), "process.terminal: expected boolean"},
    {PROC("'env': ['A=b', null]"), "process.env[1]: expected string"},
    {PROC("'consoleSize': {'height': 10}"), "process.consoleSize.width: missing"},
    {PROC("'oomScoreAdj': 1001"), "process.oomScoreAdj: 1001 is out of range (-1000 to 1000)"},
    {PROC("'oomScoreAdj': 1.5"), "process.oomScoreAdj: expected integer"},
    {PROC("'rlimits': [{'type': 'RLIMIT_FOO', 'hard': 1, 'soft': 1}]"),
     "process.rlimits[0].type: unknown rlimit \"RLIMIT_FOO\""},
    {PROC("'rlimits': [{'type': 'RLIMIT_NOFILE', 'soft': 1}]"), "process.rlimits[0].hard: missing"},
    {PROC("'rlimits': [{'type': 'RLIMIT_CPU', 'hard': 1, 'soft': 1},"
	  " {'type': 'RLIMIT_CPU', 'hard': 2, 'soft': 2}]"),
     "process.rlimits[1].type: duplicate rlimit \"RLIMIT_CPU\""},
    {PROC("'rlimits': [{'hard': 1, 'soft': 1}]"), "process.rlimits[0].type: missing"},
    {PROC("'capabilities': {'effective': ['CAP_KILL', 'CAP_FOO']}"),
     "process.capabilities.effective[1]: unknown capability \"CAP_FOO\""},
    {PROC("'capabilities': {'bounding': ['cap_kill']}"),
     "process.capabilities.bounding[0]: unknown capability \"cap_kill\""},
    {PROC("'capabilities': {'ambient': ['5']}"),
     "process.capabilities.ambient[0]: unknown capability \"5\""},
    {PROC("'capabilities': {'permitted': 'CAP_KILL'}"),
     "process.capabilities.permitted: expected array"},
    /* hooks */
    {"{" BASE ", 'hooks': {'createRuntime': {}}}", "hooks.createRuntime: expected array"},
    {"{" BASE ", 'hooks': {'poststop': [{'path': 'cleanup.sh'}]}}",
     "hooks.poststop[0].path: must be an absolute path"},
    {"{" BASE ", 'hooks': {'prestart': [{'args': ['x']}]}}", "hooks.prestart[0].path: missing"},
    {"{" BASE ", 'hooks': {'startContainer': [{'path': '/h', 'timeout': 0}]}}",
     "hooks.startContainer[0].timeout: must be greater than zero"},
    /* annotations, hostname */
    {"{" BASE ", 'annotations': {'a': 1}}", "annotations.a: expected string"},
    {"{" BASE ", 'annotations': {'': 'x'}}", "annotations: keys must not be empty"},
    {"{" BASE ", 'hostname': ['h']}", "hostname: expected string"},
    /* linux */
    {"{" BASE ", 'linux': []}", "linux: expected object"},
    {LINUX("'namespaces': [{'type': 'pid'}, {'type': 'mount'}, {'type': 5}]"),
     "linux.namespaces[2].type: expected string"},
    {LINUX("'namespaces': [{'type': 'pid'}, {'type': 'vm'}]"),
     "linux.namespaces[1].type: unknown namespace type \"vm\""},
    {LINUX("'namespaces': [{'type': 'pid'}, {'type': 'ipc'}, {'type': 'pid'}]"),
     "linux.namespaces[2].type: duplicate namespace type \"pid\""},
    {LINUX("'namespaces': [{'path': '/proc/1/ns/pid'}]"), "linux.namespaces[0].type: missing"},
    {LINUX("'namespaces': [{'type': 'network', 'path': 'netns'}]"),
     "linux.namespaces[0].path: must be an absolute path"},
    {LINUX("'uidMappings': [{'containerID': 0, 'hostID': 1000}]"),
     "linux.uidMappings[0].size: missing"},
    {LINUX("'sysctl': {'kernel.shmmax': 4096}"), "linux.sysctl.kernel.shmmax: expected string"},
    {LINUX("'resources': {'memory': {'limit': '1G'}}"),
     "linux.resources.memory.limit: expected integer"},
    {LINUX("'resources': {'cpu': {'shares': -2}}"),
     "linux.resources.cpu.shares: -2 is out of range"},
    {LINUX("'resources': {'cpu': {'cpus': 3}}"), "linux.resources.cpu.cpus: expected string"},
    {LINUX("'resources': {'pids': {}}"), "linux.resources.pids.limit: missing"},
    {LINUX("'resources': {'devices': [{'access': 'rwm'}]}"),
     "linux.resources.devices[0].allow: missing"},
    {LINUX("'resources': {'devices': [{'allow': true, 'access': 'rwx'}]}"),
     "linux.resources.devices[0].access: \"rwx\" is not a combination of r, w and m"},
    {LINUX("'resources': {'blockIO': {'weight': 70000}}"),
     "linux.resources.blockIO.weight: 70000 is out of range (0 to 65535)"},
    {LINUX("'resources': {'hugepageLimits': [{'pageSize': '2MB'}]}"),
     "linux.resources.hugepageLimits[0].limit: missing"},
    {LINUX("'resources': {'unified': {'memory.max': 5}}"),
     "linux.resources.unified.memory.max: expected string"},
    {LINUX("'rootfsPropagation': 'sideways'"),
     "linux.rootfsPropagation: unknown propagation \"sideways\""},
    {LINUX("'rootfsPropagation': 'nosuid'"),
     "linux.rootfsPropagation: unknown propagation \"nosuid\""},
    {LINUX("'maskedPaths': '/proc/kcore'"), "linux.maskedPaths: expected array"},
    {LINUX("'devices': [{'path': '/dev/x', 'type': 'q'}]"),
     "linux.devices[0].type: unknown device type \"q\" (want c, b, u or p)"},
    {LINUX("'devices': [{'path': '/dev/x', 'type': 'c', 'major': 1}]"),
     "linux.devices[0].minor: missing"},
    {LINUX("'devices': [{'path': 'dev/x', 'type': 'p'}]"),
     "linux.devices[0].path: must be an absolute path"},
    {LINUX("'devices': [{'path': '/dev/x', 'type': 'b', 'major': 259, 'minor': 1048576}]"),
     "linux.devices[0]: device number 259:1048576 is out of range"},
    {LINUX("'devices': [{'path': '/dev/x', 'type': 'c', 'major': -1, 'minor': 0}]"),
     "linux.devices[0]: device number -1:0 is out of range"},
    {LINUX("'uidMappings': [{'containerID': 0, 'hostID': 1000, 'size': 0}]"),
     "linux.uidMappings[0].size: must not be 0"},
    /* seccomp */
    {LINUX("'seccomp': {'defaultAction': 'SCMP_ACT_BLOCK'}"),
     "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_BLOCK\""},
    {LINUX("'seccomp': {'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': [{'names': ['kill'],"
	   " 'action': 'SCMP_ACT_FOO'}]}"),
     "linux.seccomp.syscalls[0].action: unknown action \"SCMP_ACT_FOO\""},
    {LINUX("'seccomp': {'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': [{'names': ['kill']}]}"),
     "linux.seccomp.syscalls[0].action: missing"},
    {LINUX("'seccomp': {'syscalls': [{'names': ['kill'], 'action': 'SCMP_ACT_ERRNO'}]}"),
     "linux.seccomp.defaultAction: missing"},
    {LINUX("'seccomp': {'defaultAction': 'SCMP_ACT_ERRNO', 'syscalls': [{'names': [],"
	   " 'action': 'SCMP_ACT_ALLOW'}]}"),
     "linux.seccomp.syscalls[0].names: must name at least one syscall"},
    {LINUX("'seccomp': {'defaultAction': 'SCMP_ACT_ERRNO', 'syscalls': [{"
	   " 'action': 'SCMP_ACT_ALLOW'}]}"),
     "linux.seccomp.syscalls[0].names: missing"},
    {LINUX("'seccomp': {'defaultAction': 'SCMP_ACT_ERRNO', 'syscalls': [{'names': ['read'],"
	   " 'action': 'SCMP_ACT_ALLOW', 'args': [{'index': 0, 'value': 1, 'op': "
	   "'SCMP_CMP_FOO'}]}]}"),
     "linux.seccomp.syscalls[0].args[0].op: unknown operator \"SCMP_CMP_FOO\""},
    {LINUX(
	 "'seccomp': {'defaultAction': 'SCMP_ACT_ERRNO', 'syscalls': [{'names': ['read'],"
	 " 'action': 'SCMP_ACT_ALLOW', 'args': [{'index': 6, 'value': 1, 'op': 'SCMP_CMP_EQ'}]}]}"),
     "linux.seccomp.syscalls[0].args[0].index: 6 is out of range (0 to 5)"},
    {LINUX("'seccomp': {'defaultAction': 'SCMP_ACT_ERRNO', 'syscalls': [{'names': ['read'],"
	   " 'action': 'SCMP_ACT_ALLOW', 'args': [{'index': 1, 'op': 'SCMP_CMP_EQ'}]}]}"),
     "linux.seccomp.syscalls[0].args[0].value: missing"},
    {LINUX("'seccomp': {'defaultAction': 'SCMP_ACT_ERRNO',"
	   " 'architectures': ['SCMP_ARCH_X86_64', 'SCMP_ARCH_VAX']}"),
     "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_VAX\""},
    {LINUX("'seccomp': {'defaultAction': 'SCMP_ACT_ERRNO', 'architectures': ['x86_64']}"),
     "linux.seccomp.architectures[0]: unknown architecture \"x86_64\""},
    {LINUX("'seccomp': {'defaultAction': 'SCMP_ACT_ERRNO', 'flags': ['SECCOMP_FILTER_FLAG_X']}"),
     "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_X\""},
    {LINUX("'seccomp': {'defaultAction': 'SCMP_ACT_ERRNO', 'defaultErrnoRet': -1}"),
     "linux.seccomp.defaultErrnoRet: -1 is out of range"},
};

static int test_bad_configs(void)
{
	int failed = 0;

	for (size_t i = 0; i < ARRAY_SIZE(bad_configs); i++) {
		cleanup_free char *msg = config_error(bad_configs[i].doc);

		if (msg == NULL || !streq(msg, bad_configs[i].msg)) {
			tap_diag("bad_configs[%zu] %s\n#   error \"%s\"\n#   want  \"%s\"", i,
				 bad_configs[i].doc, msg ? msg : "(parsed)", bad_configs[i].msg);
			failed = 1;
		}
	}
	return failed ? TAP_FAIL : TAP_PASS;
}

/* What runtime-tools' generator writes ("ociVersion": "1.3.0"), with the
 * members runtime-spec 1.2 and 1.3 added that kiln does not act on
 * (process.scheduler, ioPriority, execCPUAffinity, linux.netDevices,
 * memoryPolicy, intelRdt.schemata): accepted and ignored, as runc does,
 * by the host's parser and by the agent's. */
static const char spec_1_3[] =
    "{'ociVersion': '1.3.0',"
    " 'process': {'user': {'uid': 0, 'gid': 0}, 'args': ['/runtimetest', '--path=/'],"
    "  'env': ['PATH=/bin', 'TERM=xterm'], 'cwd': '/',"
    "  'capabilities': {'bounding': ['CAP_KILL'], 'effective': ['CAP_KILL'],"
    "   'permitted': ['CAP_KILL']},"
    "  'rlimits': [{'type': 'RLIMIT_NOFILE', 'hard': 1024, 'soft': 1024}],"
    "  'noNewPrivileges': true,"
    "  'scheduler': {'policy': 'SCHED_OTHER', 'nice': 0},"
    "  'ioPriority': {'class': 'IOPRIO_CLASS_BE', 'priority': 4},"
    "  'execCPUAffinity': {'initial': '0', 'final': '0-1'}},"
    " 'root': {'path': '.'}, 'hostname': 'mrsdalloway',"
    " 'mounts': [{'destination': '/proc', 'type': 'proc', 'source': 'proc'}],"
    " 'linux': {'namespaces': [{'type': 'pid'}, {'type': 'mount'}, {'type': 'uts'},"
    "  {'type': 'user'}],"
    "  'uidMappings': [{'containerID': 0, 'hostID': 100000, 'size': 65536}],"
    "  'gidMappings': [{'containerID': 0, 'hostID': 100000, 'size': 65536}],"
    "  'devices': [{'path': '/dev/test1', 'type': 'c', 'major': 1, 'minor': 3,"
    "   'fileMode': 432, 'uid': 0, 'gid': 0}],"
    "  'netDevices': {'eth1': {'name': 'ctr1'}},"
    "  'memoryPolicy': {'mode': 'MPOL_INTERLEAVE', 'nodes': '0'},"
    "  'intelRdt': {'closID': 'x', 'schemata': ['L3:0=f']},"
    "  'timeOffsets': {'monotonic': {'secs': 1}}},"
    " 'futureMember': {'x': 1}}";

static int test_spec_1_3(void)
{
	cleanup_free char *text = dq(spec_1_3);
	cleanup_oci_config struct oci_config *c = NULL;
	cleanup_json kiln_json_t *doc = NULL;
	struct agent_spec as;
	kiln_error_t err = NULL;

	if (oci_config_parse(text, strlen(text), &c, &err) < 0 ||
	    oci_config_check_runnable(c, &err) < 0) {
		tap_diag("%s", err->msg);
		kiln_error_free(&err);
		return TAP_FAIL;
	}
	TAP_CHECK_STR(c->oci_version, "1.3.0");
	TAP_CHECK_STR(c->root.path, ".");
	TAP_CHECK(c->linux_spec->n_uid_mappings == 1 && c->linux_spec->n_devices == 1);
	TAP_CHECK(kiln_json_parse(text, strlen(text), &doc, &err) == 0);
	if (agent_spec_parse(doc, &as, &err) < 0) {
		tap_diag("agent: %s", err->msg);
		kiln_error_free(&err);
		return TAP_FAIL;
	}
	TAP_CHECK(as.userns && as.nuid_maps == 1 && as.ndevices == 1);
	agent_spec_release(&as);
	return TAP_PASS;
}

static int test_versions(void)
{
	static const char *const good[] = {"1.0.0",	 "1.0.2-dev", "1.1.0",	   "1.1.0-rc.1",
					   "1.2.0",	 "1.2.1",     "1.3.0",	   "1.3.1",
					   "1.2.10+dev", "1.0.0-rc5", "1.3.0-rc.2"};
	static const char *const bad[] = {"",	   "1",	     "1.0",    "1.4.0",	   "2.0.0",
					  "0.5.0", "1.0.x",  "1.10.0", "1.2.0dev", "v1.0.0",
					  "1.2.",  "1.30.0", "1.3.0x", "2.3.0"};

	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		if (!oci_version_supported(good[i])) {
			tap_diag("\"%s\" refused", good[i]);
			return TAP_FAIL;
		}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (oci_version_supported(bad[i])) {
			tap_diag("\"%s\" accepted", bad[i]);
			return TAP_FAIL;
		}
	return TAP_PASS;
}

/* The message oci_config_check_runnable() gives for doc's process, or NULL. */
static char *runnable_error(const char *doc)
{
	cleanup_oci_config struct oci_config *c = config_ok(doc);
	kiln_error_t err = NULL;
	char *msg;

	if (c == NULL)
		return xstrdup("(did not parse)");
	if (oci_config_check_runnable(c, &err) == 0)
		return NULL;
	msg = xstrdup(err->msg);
	kiln_error_free(&err);
	return msg;
}

static int test_check_runnable(void)
{
	static const struct {
		const char *doc, *msg;
	} cases[] = {
	    {"{" BASE "}", "process: missing"},
	    {"{" BASE ", 'process': {'cwd': '/'}}", "process.args: must not be empty"},
	    {"{" BASE ", 'process': {'args': [], 'cwd': '/'}}", "process.args: must not be empty"},
	    {"{" BASE ", 'process': {'args': [''], 'cwd': '/'}}",
	     "process.args[0]: must not be empty"},
	    {"{" BASE ", 'process': {'args': ['sh']}}", "process.cwd: must be an absolute path"},
	    {"{" BASE ", 'process': {'args': ['sh'], 'cwd': 'home'}}",
	     "process.cwd: must be an absolute path"},
	    {"{" BASE ", 'process': {'args': ['sh'], 'cwd': '/home'}}", NULL},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_free char *msg = runnable_error(cases[i].doc);

		if (cases[i].msg == NULL) {
			if (msg != NULL) {
				tap_diag("case %zu: %s", i, msg);
				return TAP_FAIL;
			}
			continue;
		}
		TAP_CHECK_STR(msg, cases[i].msg);
	}
	return TAP_PASS;
}

static int write_file(const char *path, const char *text)
{
	kiln_error_t err = NULL;

	if (kiln_write_file_atomic(path, text, strlen(text), 0644, &err) < 0) {
		tap_diag("%s", err->msg);
		kiln_error_free(&err);
		return -1;
	}
	return 0;
}

static int test_config_load(void)
{
	cleanup_tmpdir char *dir = test_tmpdir_make("oci");
	cleanup_free char *path = NULL, *want = NULL;
	struct oci_config *c = NULL;
	kiln_error_t err = NULL;

	TAP_CHECK(dir != NULL);
	path = xasprintf("%s/config.json", dir);

	TAP_CHECK(oci_config_load(dir, &c, &err) < 0 && c == NULL);
	want = xasprintf("%s: No such file or directory", path);
	TAP_CHECK_STR(err->msg, want);
	TAP_CHECK(err->status == ENOENT);
	kiln_error_free(&err);

	TAP_CHECK(write_file(path, "{\"ociVersion\": \"1.2.0\",") == 0);
	TAP_CHECK(oci_config_load(dir, &c, &err) < 0 && c == NULL);
	free(want);
	want = xasprintf("%s: invalid JSON at byte 23: unexpected end of input", path);
	TAP_CHECK_STR(err->msg, want);
	kiln_error_free(&err);

	TAP_CHECK(write_file(path, "{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"rootfs\"},"
				   " \"process\": {\"user\": {\"uid\": \"0\"}}}") == 0);
	TAP_CHECK(oci_config_load(dir, &c, &err) < 0 && c == NULL);
	free(want);
	want = xasprintf("%s: process.user.uid: expected unsigned integer", path);
	TAP_CHECK_STR(err->msg, want);
	kiln_error_free(&err);

	TAP_CHECK(write_file(path, full_config) == 0);
	TAP_CHECK(oci_config_load(dir, &c, &err) == 0);
	TAP_CHECK_STR(c->raw, full_config);
	TAP_CHECK_STR(c->hostname, "slartibartfast");
	oci_config_free(c);
	oci_config_free(NULL);
	return TAP_PASS;
}

static const char process_doc[] =
    "{\"terminal\": false, \"user\": {\"uid\": 33, \"gid\": 44}, \"args\": [\"ls\", \"-l\"],"
    " \"env\": [\"A=1\"], \"cwd\": \"/tmp\", \"capabilities\": {\"bounding\": [\"CAP_CHOWN\"]},"
    " \"noNewPrivileges\": true, \"rlimits\": [{\"type\": \"RLIMIT_NPROC\", \"hard\": 9,"
    " \"soft\": 8}]}";

static int test_process_doc(void)
{
	cleanup_oci_process struct oci_process *p = NULL;
	struct oci_process *bad = NULL;
	cleanup_tmpdir char *dir = test_tmpdir_make("oci-process");
	cleanup_free char *path = NULL, *want = NULL;
	kiln_error_t err = NULL;
	static const struct {
		const char *doc, *msg;
	} cases[] = {
	    {"{'user': {'uid': 'x'}}", "user.uid: expected unsigned integer"},
	    {"{'args': 'ls'}", "args: expected array"},
	    {"{'capabilities': {'effective': ['CAP_NOPE']}}",
	     "capabilities.effective[0]: unknown capability \"CAP_NOPE\""},
	    {"{'rlimits': [{'type': 'NOFILE', 'hard': 1, 'soft': 1}]}",
	     "rlimits[0].type: unknown rlimit \"NOFILE\""},
	    {"'sh'", "expected a JSON object, not string"},
	    {"{'args': ['sh'", "invalid JSON at byte 14: unexpected end of input"},
	};

	TAP_CHECK(oci_process_parse(process_doc, strlen(process_doc), &p, &err) == 0);
	TAP_CHECK(!p->terminal && p->user.uid == 33 && p->user.gid == 44);
	TAP_CHECK(p->args.n == 2);
	TAP_CHECK_STR(p->args.v[1], "-l");
	TAP_CHECK_STR(p->cwd, "/tmp");
	TAP_CHECK(p->capabilities.present && p->capabilities.bounding == CAPBIT(CAP_CHOWN));
	TAP_CHECK(p->capabilities.effective == 0);
	TAP_CHECK(p->no_new_privileges);
	TAP_CHECK(p->n_rlimits == 1 && p->rlimits[0].resource == RLIMIT_NPROC);
	TAP_CHECK(oci_process_check_runnable(p, &err) == 0);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_free char *text = dq(cases[i].doc);

		TAP_CHECK(oci_process_parse(text, strlen(text), &bad, &err) < 0 && bad == NULL);
		TAP_CHECK_STR(err->msg, cases[i].msg);
		kiln_error_free(&err);
	}

	/* Parses, but cannot run: messages without a "process." prefix. */
	TAP_CHECK(oci_process_parse("{\"cwd\": \"/\"}", 12, &bad, &err) == 0);
	TAP_CHECK(oci_process_check_runnable(bad, &err) < 0);
	TAP_CHECK_STR(err->msg, "args: must not be empty");
	kiln_error_free(&err);
	oci_process_free(bad);
	TAP_CHECK(oci_process_parse("{\"args\": [\"a\"], \"cwd\": \"x\"}", 27, &bad, &err) == 0);
	TAP_CHECK(oci_process_check_runnable(bad, &err) < 0);
	TAP_CHECK_STR(err->msg, "cwd: must be an absolute path");
	kiln_error_free(&err);
	oci_process_free(bad);
	bad = NULL;

	TAP_CHECK(dir != NULL);
	path = xasprintf("%s/process.json", dir);
	TAP_CHECK(oci_process_load(path, &bad, &err) < 0 && bad == NULL);
	want = xasprintf("%s: No such file or directory", path);
	TAP_CHECK_STR(err->msg, want);
	kiln_error_free(&err);
	TAP_CHECK(write_file(path, "{\"user\": {\"gid\": true}}") == 0);
	TAP_CHECK(oci_process_load(path, &bad, &err) < 0 && bad == NULL);
	free(want);
	want = xasprintf("%s: user.gid: expected unsigned integer", path);
	TAP_CHECK_STR(err->msg, want);
	kiln_error_free(&err);
	TAP_CHECK(write_file(path, process_doc) == 0);
	TAP_CHECK(oci_process_load(path, &bad, &err) == 0);
	TAP_CHECK_STR(bad->args.v[0], "ls");
	oci_process_free(bad);
	oci_process_free(NULL);
	return TAP_PASS;
}

/* A config and a process inside a larger document (kiln-agent's
 * requests): parsed alike, with paths from that document's root. */
static int test_parse_node(void)
{
	static const char req[] =
	    "{'params': {'spec': {'ociVersion': '1.2.0', 'root': {'path': 'r'},"
	    " 'process': {'args': ['sh'], 'cwd': '/', 'user': {'uid': 7}},"
	    " 'linux': {'devices': [{'path': '/dev/x', 'type': 'c', 'major': 1, 'minor': 3}]}},"
	    " 'process': {'args': ['ls'], 'cwd': '/tmp'},"
	    " 'bad_spec': {'ociVersion': '1.2.0', 'root': {'path': 'r'},"
	    " 'linux': {'gidMappings': [{'containerID': 0, 'hostID': 1, 'size': 0}]}},"
	    " 'bad_process': {'args': ['sh'], 'user': {'umask': 8192}},"
	    " 'array': []}}";
	cleanup_free char *text = dq(req);
	cleanup_json kiln_json_t *doc = NULL;
	cleanup_oci_config struct oci_config *c = NULL;
	cleanup_oci_process struct oci_process *p = NULL;
	struct oci_config *bad_c = NULL;
	struct oci_process *bad_p = NULL;
	const kiln_json_t *params;
	kiln_error_t err = NULL;

	TAP_CHECK(kiln_json_parse(text, strlen(text), &doc, &err) == 0);
	params = kiln_json_get(doc, "params");
	TAP_CHECK(oci_config_parse_node(kiln_json_get(params, "spec"), &c, &err) == 0);
	TAP_CHECK(c->raw == NULL && c->process != NULL && c->process->user.uid == 7);
	TAP_CHECK(c->linux_spec->n_devices == 1 && c->linux_spec->devices[0].minor.value == 3);
	TAP_CHECK(oci_config_check_runnable(c, &err) == 0);
	TAP_CHECK(oci_process_parse_node(kiln_json_get(params, "process"), &p, &err) == 0);
	TAP_CHECK_STR(p->cwd, "/tmp");
	TAP_CHECK(oci_process_check_runnable(p, &err) == 0);

	TAP_CHECK(oci_config_parse_node(kiln_json_get(params, "bad_spec"), &bad_c, &err) < 0);
	TAP_CHECK(bad_c == NULL);
	TAP_CHECK_STR(err->msg, "params.bad_spec.linux.gidMappings[0].size: must not be 0");
	kiln_error_free(&err);
	TAP_CHECK(oci_process_parse_node(kiln_json_get(params, "bad_process"), &bad_p, &err) < 0);
	TAP_CHECK(bad_p == NULL);
	TAP_CHECK_STR(err->msg, "params.bad_process.user.umask: 8192 is not a mode");
	kiln_error_free(&err);
	TAP_CHECK(oci_config_parse_node(kiln_json_get(params, "array"), &bad_c, &err) < 0);
	TAP_CHECK_STR(err->msg, "params.array: expected a JSON object, not array");
	kiln_error_free(&err);
	TAP_CHECK(oci_process_parse_node(kiln_json_get(params, "array"), &bad_p, &err) < 0);
	TAP_CHECK_STR(err->msg, "params.array: expected a JSON object, not array");
	kiln_error_free(&err);
	return TAP_PASS;
}

static int test_state_round_trip(void)
{
	struct oci_kv ann[] = {{"org.example.a", "1"}, {"org.example.b", "two \"quoted\""}};
	struct oci_state s = {
	    .oci_version = "1.2.0",
	    .id = "web-1",
	    .status = "running",
	    .pid = 4242,
	    .bundle = "/run/bundles/web-1",
	    .rootfs = "/run/bundles/web-1/rootfs",
	    .created = "2024-05-01T12:00:00.123456789Z",
	    .owner = "",
	    .annotations = {ann, 2},
	};
	static const char want[] = "{\n"
				   "  \"ociVersion\": \"1.2.0\",\n"
				   "  \"id\": \"web-1\",\n"
				   "  \"pid\": 4242,\n"
				   "  \"status\": \"running\",\n"
				   "  \"bundle\": \"/run/bundles/web-1\",\n"
				   "  \"rootfs\": \"/run/bundles/web-1/rootfs\",\n"
				   "  \"created\": \"2024-05-01T12:00:00.123456789Z\",\n"
				   "  \"annotations\": {\n"
				   "    \"org.example.a\": \"1\",\n"
				   "    \"org.example.b\": \"two \\\"quoted\\\"\"\n"
				   "  },\n"
				   "  \"owner\": \"\"\n"
				   "}\n";
	cleanup_free char *json = NULL, *json2 = NULL;
	cleanup_oci_state struct oci_state *back = NULL;
	kiln_error_t err = NULL;
	size_t len = 0, len2 = 0;

	TAP_CHECK(oci_state_to_json(&s, &json, &len, &err) == 0);
	TAP_CHECK_STR(json, want);
	TAP_CHECK(len == strlen(want));

	TAP_CHECK(oci_state_parse(json, len, &back, &err) == 0);
	TAP_CHECK_STR(back->oci_version, "1.2.0");
	TAP_CHECK_STR(back->id, "web-1");
	TAP_CHECK_STR(back->status, "running");
	TAP_CHECK(back->pid == 4242);
	TAP_CHECK_STR(back->bundle, "/run/bundles/web-1");
	TAP_CHECK_STR(back->rootfs, "/run/bundles/web-1/rootfs");
	TAP_CHECK_STR(back->created, "2024-05-01T12:00:00.123456789Z");
	TAP_CHECK_STR(back->owner, "");
	TAP_CHECK(back->annotations.n == 2);
	TAP_CHECK_STR(back->annotations.items[1].value, "two \"quoted\"");
	TAP_CHECK(oci_state_to_json(back, &json2, &len2, &err) == 0);
	TAP_CHECK_STR(json2, json);
	return TAP_PASS;
}

static int test_state_minimal_and_errors(void)
{
	struct oci_state s = {
	    .oci_version = "1.0.2", .id = "x", .status = "stopped", .bundle = "/b"};
	static const char want[] = "{\n"
				   "  \"ociVersion\": \"1.0.2\",\n"
				   "  \"id\": \"x\",\n"
				   "  \"pid\": 0,\n"
				   "  \"status\": \"stopped\",\n"
				   "  \"bundle\": \"/b\"\n"
				   "}\n";
	static const struct {
		const char *doc, *msg;
	} cases[] = {
	    {"{'id': 'x', 'status': 'created', 'bundle': '/b'}", "ociVersion: missing"},
	    {"{'ociVersion': '1.0.0', 'id': 'x', 'status': 'sleeping', 'bundle': '/b'}",
	     "status: unknown status \"sleeping\""},
	    {"{'ociVersion': '1.0.0', 'id': 'x', 'status': 'created', 'bundle': '/b', 'pid': -4}",
	     "pid: -4 is not a process id"},
	    {"{'ociVersion': '1.0.0', 'id': 'x', 'status': 'created', 'bundle': '/b', 'pid': '4'}",
	     "pid: expected integer"},
	    {"{'ociVersion': '1.0.0', 'id': 'x', 'status': 'created'}", "bundle: missing"},
	    {"{'ociVersion': '1.0.0', 'id': 'x', 'status': 'created', 'bundle': '/b',"
	     " 'annotations': {'k': 1}}",
	     "annotations.k: expected string"},
	};
	cleanup_free char *json = NULL;
	cleanup_oci_state struct oci_state *back = NULL;
	struct oci_state *bad = NULL;
	char *none = NULL;
	kiln_error_t err = NULL;

	TAP_CHECK(oci_state_to_json(&s, &json, NULL, &err) == 0);
	TAP_CHECK_STR(json, want);
	TAP_CHECK(oci_state_parse(json, strlen(json), &back, &err) == 0);
	TAP_CHECK(back->pid == 0 && back->rootfs == NULL && back->created == NULL);
	TAP_CHECK(back->owner == NULL && back->annotations.n == 0);

	s.id = NULL;
	TAP_CHECK(oci_state_to_json(&s, &none, NULL, &err) < 0 && none == NULL);
	TAP_CHECK_STR(err->msg, "state: id is required");
	kiln_error_free(&err);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_free char *text = dq(cases[i].doc);

		TAP_CHECK(oci_state_parse(text, strlen(text), &bad, &err) < 0 && bad == NULL);
		TAP_CHECK_STR(err->msg, cases[i].msg);
		kiln_error_free(&err);
	}
	oci_state_free(NULL);
	return TAP_PASS;
}

static int test_rfc3339(void)
{
	static const struct {
		time_t sec;
		long nsec;
		const char *want;
	} cases[] = {
	    {1714564800, 123456789, "2024-05-01T12:00:00.123456789Z"},
	    {1714564800, 120000000, "2024-05-01T12:00:00.12Z"},
	    {1714564800, 1, "2024-05-01T12:00:00.000000001Z"},
	    {1714564800, 0, "2024-05-01T12:00:00Z"},
	    {0, 500000000, "1970-01-01T00:00:00.5Z"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct timespec ts = {.tv_sec = cases[i].sec, .tv_nsec = cases[i].nsec};
		cleanup_free char *s = oci_time_rfc3339nano(&ts);

		TAP_CHECK_STR(s, cases[i].want);
	}
	return TAP_PASS;
}

/* The strings of the array at path in doc, as one ","-joined string. */
static char *join_array(const kiln_json_t *doc, const char *path)
{
	const kiln_json_t *arr = NULL;
	char *out = xstrdup("");

	if (kiln_json_get_array(doc, path, &arr, NULL) != 0)
		return out;
	for (size_t i = 0; i < kiln_json_array_len(arr); i++) {
		const char *s = "?";
		char *n;

		kiln_json_get_string(kiln_json_array_get(arr, i), "", &s, NULL);
		n = xasprintf("%s%s%s", out, i ? "," : "", s);
		free(out);
		out = n;
	}
	return out;
}

static bool array_has(const kiln_json_t *doc, const char *path, const char *s)
{
	cleanup_free char *all = join_array(doc, path);
	cleanup_free char *needle = xasprintf(",%s,", s);
	cleanup_free char *hay = xasprintf(",%s,", all);

	return strstr(hay, needle) != NULL;
}

static int test_features(void)
{
	cleanup_free char *json = NULL, *hooks = NULL, *ns = NULL, *ops = NULL, *flags = NULL;
	cleanup_json kiln_json_t *doc = NULL;
	const kiln_json_t *ann;
	kiln_error_t err = NULL;
	const char *s = NULL;
	bool b = true;
	size_t len = 0;

	TAP_CHECK(oci_features_json(&json, &len, &err) == 0);
	TAP_CHECK(len == strlen(json) && len > 0 && json[len - 1] == '\n');
	TAP_CHECK(kiln_json_parse(json, len, &doc, &err) == 0);
	TAP_CHECK(kiln_json_get_string(doc, "ociVersionMin", &s, &err) == 0);
	TAP_CHECK_STR(s, "1.0.0");
	TAP_CHECK(kiln_json_get_string(doc, "ociVersionMax", &s, &err) == 0);
	TAP_CHECK_STR(s, "1.3.0");
	hooks = join_array(doc, "hooks");
	/* the two that would run inside the VM are not offered */
	TAP_CHECK_STR(hooks, "prestart,createRuntime,poststart,poststop");
	ns = join_array(doc, "linux.namespaces");
	TAP_CHECK_STR(ns, "pid,network,mount,ipc,uts,user,cgroup");
	TAP_CHECK(kiln_json_get_bool(doc, "linux.mountExtensions.idmap.enabled", &b, &err) == 0 &&
		  !b);
	TAP_CHECK(array_has(doc, "mountOptions", "rbind"));
	TAP_CHECK(array_has(doc, "mountOptions", "nosuid"));
	TAP_CHECK(array_has(doc, "mountOptions", "rprivate"));
	TAP_CHECK(!array_has(doc, "mountOptions", "tmpcopyup"));
	TAP_CHECK(array_has(doc, "linux.capabilities", "CAP_CHOWN"));
	TAP_CHECK(array_has(doc, "linux.capabilities", "CAP_SYS_ADMIN"));
	TAP_CHECK(array_has(doc, "linux.capabilities", "CAP_CHECKPOINT_RESTORE"));
	TAP_CHECK(kiln_json_array_len(kiln_json_get(kiln_json_get(doc, "linux"), "capabilities")) ==
		  (size_t)CAP_LAST_CAP + 1);
	TAP_CHECK(kiln_json_get_bool(doc, "linux.cgroup.v2", &b, &err) == 0 && b);
	TAP_CHECK(kiln_json_get_bool(doc, "linux.cgroup.v1", &b, &err) == 0 && !b);
	TAP_CHECK(kiln_json_get_bool(doc, "linux.cgroup.systemd", &b, &err) == 0 && !b);
	TAP_CHECK(kiln_json_get_bool(doc, "linux.seccomp.enabled", &b, &err) == 0 && b);
	TAP_CHECK(array_has(doc, "linux.seccomp.actions", "SCMP_ACT_ERRNO"));
	TAP_CHECK(!array_has(doc, "linux.seccomp.actions", "SCMP_ACT_NOTIFY"));
	ops = join_array(doc, "linux.seccomp.operators");
	TAP_CHECK_STR(ops, "SCMP_CMP_EQ,SCMP_CMP_GE,SCMP_CMP_GT,SCMP_CMP_LE,SCMP_CMP_LT,"
			   "SCMP_CMP_MASKED_EQ,SCMP_CMP_NE");
	TAP_CHECK(array_has(doc, "linux.seccomp.archs", "SCMP_ARCH_X86_64"));
	TAP_CHECK(array_has(doc, "linux.seccomp.archs", "SCMP_ARCH_AARCH64"));
	flags = join_array(doc, "linux.seccomp.supportedFlags");
	TAP_CHECK_STR(flags, "SECCOMP_FILTER_FLAG_TSYNC,SECCOMP_FILTER_FLAG_LOG,"
			     "SECCOMP_FILTER_FLAG_SPEC_ALLOW");
	TAP_CHECK(kiln_json_get_bool(doc, "linux.apparmor.enabled", &b, &err) == 0 && !b);
	TAP_CHECK(kiln_json_get_bool(doc, "linux.selinux.enabled", &b, &err) == 0 && !b);
	/* Annotation keys hold dots, so they are read by key, not by path. */
	ann = kiln_json_get(doc, "annotations");
	TAP_CHECK(kiln_json_get_string(kiln_json_get(ann, "io.github.kiln.isolation"), "", &s,
				       &err) == 0);
	TAP_CHECK_STR(s, "microvm");
	TAP_CHECK(kiln_json_get_string(kiln_json_get(ann, "io.github.seccomp.libseccomp.version"),
				       "", &s, &err) == 0);
	TAP_CHECK(s[0] >= '2' && strchr(s, '.') != NULL);
	return TAP_PASS;
}

static int test_default_spec(void)
{
	cleanup_free char *json = NULL;
	cleanup_oci_config struct oci_config *c = NULL;
	struct agent_spec as;
	cleanup_json kiln_json_t *doc = NULL;
	kiln_error_t err = NULL;
	const struct oci_linux *l;
	uint64_t caps = CAPBIT(CAP_AUDIT_WRITE) | CAPBIT(CAP_KILL) | CAPBIT(CAP_NET_BIND_SERVICE);
	size_t len = 0;

	TAP_CHECK(oci_spec_default_json(&json, &len, &err) == 0);
	TAP_CHECK(len == strlen(json));
	/* runc's layout: tab-indented. */
	TAP_CHECK(
	    strncmp(json,
		    "{\n\t\"ociVersion\": \"1.3.0\",\n\t\"process\": {\n\t\t\"terminal\": true,",
		    59) == 0);
	if (oci_config_parse(json, len, &c, &err) < 0) {
		tap_diag("%s", err->msg);
		kiln_error_free(&err);
		return TAP_FAIL;
	}
	TAP_CHECK(oci_config_check_runnable(c, &err) == 0);
	TAP_CHECK_STR(c->oci_version, OCI_SPEC_VERSION);
	TAP_CHECK_STR(c->root.path, "rootfs");
	TAP_CHECK(c->root.readonly);
	TAP_CHECK_STR(c->hostname, "kiln");
	TAP_CHECK(c->process->terminal);
	TAP_CHECK(c->process->user.uid == 0 && c->process->user.gid == 0);
	TAP_CHECK(c->process->args.n == 1);
	TAP_CHECK_STR(c->process->args.v[0], "sh");
	TAP_CHECK(c->process->env.n == 2);
	TAP_CHECK_STR(c->process->env.v[1], "TERM=xterm");
	TAP_CHECK_STR(c->process->cwd, "/");
	TAP_CHECK(c->process->capabilities.bounding == caps);
	TAP_CHECK(c->process->capabilities.effective == caps);
	TAP_CHECK(c->process->capabilities.permitted == caps);
	TAP_CHECK(c->process->capabilities.ambient == caps);
	TAP_CHECK(c->process->capabilities.inheritable == 0);
	TAP_CHECK(c->process->n_rlimits == 1);
	TAP_CHECK(c->process->rlimits[0].resource == RLIMIT_NOFILE);
	TAP_CHECK(c->process->rlimits[0].hard == 1024 && c->process->rlimits[0].soft == 1024);
	TAP_CHECK(c->process->no_new_privileges);
	TAP_CHECK(c->n_mounts == 7);
	TAP_CHECK_STR(c->mounts[0].destination, "/proc");
	TAP_CHECK_STR(c->mounts[2].destination, "/dev/pts");
	TAP_CHECK_STR(c->mounts[2].options.v[3], "ptmxmode=0666");
	TAP_CHECK_STR(c->mounts[6].destination, "/sys/fs/cgroup");
	TAP_CHECK_STR(c->mounts[6].type, "cgroup");
	l = c->linux_spec;
	TAP_CHECK(l->n_namespaces == 6);
	TAP_CHECK(l->namespaces[0].type == OCI_NS_PID && l->namespaces[1].type == OCI_NS_NETWORK);
	TAP_CHECK(l->namespaces[5].type == OCI_NS_CGROUP);
	TAP_CHECK(l->masked_paths.n == 10);
	TAP_CHECK_STR(l->masked_paths.v[0], "/proc/acpi");
	TAP_CHECK(l->readonly_paths.n == 5);
	TAP_CHECK_STR(l->readonly_paths.v[4], "/proc/sysrq-trigger");
	TAP_CHECK(l->resources->n_devices == 1 && !l->resources->devices[0].allow);
	TAP_CHECK_STR(l->resources->devices[0].access, "rwm");

	/* And kiln-agent takes it as it is. */
	TAP_CHECK(kiln_json_parse(json, len, &doc, &err) == 0);
	if (agent_spec_parse(doc, &as, &err) < 0) {
		tap_diag("agent: %s", err->msg);
		kiln_error_free(&err);
		return TAP_FAIL;
	}
	TAP_CHECK(as.clone_flags == (CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
				     CLONE_NEWNS | CLONE_NEWCGROUP));
	agent_spec_release(&as);
	return TAP_PASS;
}

static int test_names(void)
{
	size_t n = 0;
	const struct oci_mount_option *o;

	TAP_CHECK(oci_rlimit_from_name("RLIMIT_NOFILE") == RLIMIT_NOFILE);
	TAP_CHECK(oci_rlimit_from_name("RLIMIT_RTTIME") == RLIMIT_RTTIME);
	TAP_CHECK(oci_rlimit_from_name("RLIMIT_AS") == RLIMIT_AS);
	TAP_CHECK(oci_rlimit_from_name("NOFILE") == -1);
	TAP_CHECK(oci_rlimit_from_name("rlimit_nofile") == -1);
	TAP_CHECK_STR(oci_rlimit_name(RLIMIT_STACK), "RLIMIT_STACK");
	TAP_CHECK(oci_rlimit_name(-5) == NULL);

	TAP_CHECK(oci_namespace_from_name("pid") == OCI_NS_PID);
	TAP_CHECK(oci_namespace_from_name("network") == OCI_NS_NETWORK);
	TAP_CHECK(oci_namespace_from_name("time") == OCI_NS_TIME);
	TAP_CHECK(oci_namespace_from_name("net") == -1);
	TAP_CHECK(oci_namespace_clone_flag(OCI_NS_MOUNT) == CLONE_NEWNS);
	TAP_CHECK(oci_namespace_clone_flag(OCI_NS_USER) == CLONE_NEWUSER);
	TAP_CHECK_STR(oci_namespace_name(OCI_NS_CGROUP), "cgroup");
	TAP_CHECK(oci_namespace_supported(OCI_NS_NETWORK));
	TAP_CHECK(oci_namespace_supported(OCI_NS_USER) && !oci_namespace_supported(OCI_NS_TIME));

	TAP_CHECK(oci_capability_from_name("CAP_CHOWN") == CAP_CHOWN);
	TAP_CHECK(oci_capability_from_name("CAP_SYS_ADMIN") == CAP_SYS_ADMIN);
	TAP_CHECK(oci_capability_from_name("CAP_BPF") == 39);
	TAP_CHECK(oci_capability_from_name("CAP_") == -1);
	TAP_CHECK(oci_capability_from_name("CAP_5") == -1);
	TAP_CHECK(oci_capability_from_name("CHOWN") == -1);

	o = oci_mount_option_lookup("rbind");
	TAP_CHECK(o != NULL && o->kind == OCI_MOUNT_OPT_BIND && o->flag == (MS_BIND | MS_REC));
	o = oci_mount_option_lookup("rw");
	TAP_CHECK(o != NULL && o->kind == OCI_MOUNT_OPT_CLEAR && o->flag == MS_RDONLY);
	o = oci_mount_option_lookup("rslave");
	TAP_CHECK(o != NULL && o->kind == OCI_MOUNT_OPT_PROPAGATION &&
		  o->flag == (MS_SLAVE | MS_REC));
	o = oci_mount_option_lookup("x-podman.something");
	TAP_CHECK(o != NULL && o->kind == OCI_MOUNT_OPT_RUNTIME);
	TAP_CHECK(oci_mount_option_lookup("mode=755") == NULL);
	TAP_CHECK(oci_mount_options(&n) != NULL && n > 30);

	TAP_CHECK_STR(oci_hook_name(OCI_HOOK_CREATE_CONTAINER), "createContainer");
	TAP_CHECK(oci_hook_name(OCI_HOOK_COUNT) == NULL);
	TAP_CHECK(oci_name_index(oci_seccomp_archs, "SCMP_ARCH_X86_64") >= 0);
	TAP_CHECK(oci_name_index(oci_seccomp_archs, "SCMP_ARCH_VAX") == -1);
	TAP_CHECK(oci_seccomp_operator_lookup("SCMP_CMP_NE") != NULL);
	TAP_CHECK(oci_seccomp_operator_lookup("SCMP_CMP_XX") == NULL);
	TAP_CHECK(oci_seccomp_action_supported("SCMP_ACT_KILL_PROCESS"));
	TAP_CHECK(!oci_seccomp_action_supported("SCMP_ACT_NOTIFY"));
	TAP_CHECK(!oci_seccomp_action_supported("SCMP_ACT_NOPE"));
	TAP_CHECK(oci_seccomp_arch_resolve("SCMP_ARCH_X86_64") == SCMP_ARCH_X86_64);
	TAP_CHECK(oci_seccomp_arch_resolve("SCMP_ARCH_AARCH64") == SCMP_ARCH_AARCH64);
	TAP_CHECK(oci_seccomp_arch_resolve("SCMP_ARCH_") == 0);
	TAP_CHECK(oci_seccomp_arch_resolve("X86_64") == 0);
	return TAP_PASS;
}

/* The seccomp tables hold libseccomp's values for their names. */
static int test_seccomp_tables(void)
{
	static const struct {
		const char *name;
		uint32_t value; /* with errno 38 for the two that take one */
	} actions[] = {
	    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW},
	    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(38)},
	    {"SCMP_ACT_KILL", SCMP_ACT_KILL},
	    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS},
	    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD},
	    {"SCMP_ACT_LOG", SCMP_ACT_LOG},
	    {"SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY},
	    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(38)},
	    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP},
	};
	static const struct {
		const char *name;
		enum scmp_compare value;
	} ops[] = {
	    {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE},
	    {"SCMP_CMP_GT", SCMP_CMP_GT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
	    {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
	    {"SCMP_CMP_NE", SCMP_CMP_NE},
	};
	const struct oci_seccomp_action *a;
	const struct oci_seccomp_operator *op;
	const struct oci_seccomp_flag *f, *flags;
	size_t n;

	TAP_CHECK(oci_seccomp_actions(&n) != NULL && n == ARRAY_SIZE(actions));
	for (size_t i = 0; i < ARRAY_SIZE(actions); i++) {
		a = oci_seccomp_action_lookup(actions[i].name);
		TAP_CHECK(a != NULL);
		TAP_CHECK((a->value | (a->takes_errno ? 38u : 0u)) == actions[i].value);
		TAP_CHECK(a->supported == !streq(actions[i].name, "SCMP_ACT_NOTIFY"));
	}
	TAP_CHECK(oci_seccomp_action_lookup("SCMP_ACT_ERRNO")->takes_errno);
	TAP_CHECK(oci_seccomp_action_lookup("SCMP_ACT_TRACE")->takes_errno);
	TAP_CHECK(!oci_seccomp_action_lookup("SCMP_ACT_LOG")->takes_errno);
	TAP_CHECK(oci_seccomp_action_lookup("scmp_act_allow") == NULL);
	TAP_CHECK(oci_seccomp_operators(&n) != NULL && n == ARRAY_SIZE(ops));
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		op = oci_seccomp_operator_lookup(ops[i].name);
		TAP_CHECK(op != NULL && op->value == ops[i].value);
	}
	flags = oci_seccomp_flags(&n);
	TAP_CHECK(n == OCI_SECCOMP_FLAG_COUNT);
	f = oci_seccomp_flag_lookup("SECCOMP_FILTER_FLAG_TSYNC");
	TAP_CHECK(f == &flags[OCI_SECCOMP_FLAG_TSYNC] && f->attr == SCMP_FLTATR_CTL_TSYNC);
	f = oci_seccomp_flag_lookup("SECCOMP_FILTER_FLAG_LOG");
	TAP_CHECK(f == &flags[OCI_SECCOMP_FLAG_LOG] && f->attr == SCMP_FLTATR_CTL_LOG);
	f = oci_seccomp_flag_lookup("SECCOMP_FILTER_FLAG_SPEC_ALLOW");
	TAP_CHECK(f == &flags[OCI_SECCOMP_FLAG_SPEC_ALLOW] && f->attr == SCMP_FLTATR_CTL_SSB);
	f = oci_seccomp_flag_lookup("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
	TAP_CHECK(f == &flags[OCI_SECCOMP_FLAG_WAIT_KILLABLE_RECV] && !f->supported);
	/* A supported flag has an attribute to set. */
	for (size_t i = 0; i < n; i++)
		TAP_CHECK(!flags[i].supported || flags[i].attr != _SCMP_FLTATR_MIN);
	TAP_CHECK(oci_seccomp_flag_lookup("SECCOMP_FILTER_FLAG_X") == NULL);
	return TAP_PASS;
}

/* oci_seccomp_parse() on its own: what oci_config_parse() reads for
 * linux.seccomp, with the same paths in its errors. */
static int test_seccomp_parse(void)
{
	static const char doc_text[] =
	    "{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\","
	    "\"defaultErrnoRet\":38,\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\"],"
	    "\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\"},"
	    "{\"names\":[\"kill\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
	    "{\"index\":1,\"value\":0,\"op\":\"SCMP_CMP_NOPE\"}]}]},"
	    "\"other\":null,\"empty\":{},\"list\":[]}}";
	cleanup_json kiln_json_t *doc = NULL;
	const kiln_json_t *l;
	struct oci_seccomp *s = NULL;
	kiln_error_t err = NULL;

	TAP_CHECK(kiln_json_parse(doc_text, strlen(doc_text), &doc, &err) == 0);
	l = kiln_json_get(doc, "linux");
	TAP_CHECK(oci_seccomp_parse(kiln_json_get(l, "seccomp"), &s, &err) == -1 && s == NULL);
	TAP_CHECK_STR(err->msg,
		      "linux.seccomp.syscalls[1].args[0].op: unknown operator \"SCMP_CMP_NOPE\"");
	kiln_error_free(&err);
	TAP_CHECK(oci_seccomp_parse(kiln_json_get(l, "list"), &s, &err) == -1 && s == NULL);
	TAP_CHECK_STR(err->msg, "linux.list: expected object");
	kiln_error_free(&err);
	TAP_CHECK(oci_seccomp_parse(NULL, &s, &err) == 0 && s == NULL);
	TAP_CHECK(oci_seccomp_parse(kiln_json_get(l, "other"), &s, &err) == 0 && s == NULL);
	TAP_CHECK(oci_seccomp_parse(kiln_json_get(l, "empty"), &s, &err) == 0 && s != NULL);
	TAP_CHECK(s->default_action == NULL && s->n_syscalls == 0 && s->flags.n == 0);
	oci_seccomp_free(s);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_full_config), TAP_TEST(test_minimal_config), TAP_TEST(test_nulls_are_absent),
	 TAP_TEST(test_bad_configs), TAP_TEST(test_versions), TAP_TEST(test_spec_1_3),
	 TAP_TEST(test_check_runnable), TAP_TEST(test_config_load), TAP_TEST(test_process_doc),
	 TAP_TEST(test_parse_node), TAP_TEST(test_state_round_trip),
	 TAP_TEST(test_state_minimal_and_errors), TAP_TEST(test_rfc3339), TAP_TEST(test_features),
	 TAP_TEST(test_default_spec), TAP_TEST(test_names), TAP_TEST(test_seccomp_tables),
	 TAP_TEST(test_seccomp_parse))
