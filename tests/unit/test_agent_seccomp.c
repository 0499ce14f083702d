/* linux.seccomp → libseccomp (agent/seccomp.c): parsing with JSON-path
 * errors, building, and filters loaded in a forked child doing what the
 * profile says. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/seccomp.h"
#include "agent/spec.h"
#include "common/json.h"
#include "common/util.h"
#include "tests/unit/tap.h"

/* libseccomp probes the kernel with seccomp(2), which valgrind does not
 * pass through: under valgrind the API level drops below 3 and filter flags
 * or SCMP_ACT_KILL_PROCESS are refused, and a deny-by-default filter would
 * deny valgrind's own syscalls. Tests needing them skip there. */
static bool full_seccomp(void)
{
	if (seccomp_api_get() >= 3)
		return true;
	tap_diag("libseccomp API level %u (valgrind?): skipped", seccomp_api_get());
	return false;
}

/* The rest of a config that oci/ accepts and the agent can run. */
#define PROC                                                                                       \
	"\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},"                                      \
	"\"process\":{\"args\":[\"a\"],\"cwd\":\"/\"}"

/* A whole config with linux.seccomp = sc, through agent_spec_parse. */
static int parse_sc(const char *sc, struct agent_spec *s, char **msg)
{
	cleanup_json kiln_json_t *doc = NULL;
	cleanup_free char *text = xasprintf("{" PROC ",\"linux\":{\"seccomp\":%s}}", sc);
	kiln_error_t err = NULL;
	int r;

	*msg = NULL;
	memset(s, 0, sizeof(*s));
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

/* config-linux.md's example. */
static const char spec_example[] =
    "{\"defaultAction\":\"SCMP_ACT_ALLOW\","
    "\"architectures\":[\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"],"
    "\"syscalls\":[{\"names\":[\"getcwd\",\"chmod\"],\"action\":\"SCMP_ACT_ERRNO\"}]}";

static int test_runtime_spec_example(void)
{
	struct agent_spec s;
	cleanup_free char *msg = NULL;
	scmp_filter_ctx ctx = NULL;
	kiln_error_t err = NULL;
	const struct agent_seccomp *sc;

	if (parse_sc(spec_example, &s, &msg) < 0) {
		tap_diag("%s", msg);
		agent_spec_release(&s);
		return TAP_FAIL;
	}
	sc = s.seccomp;
	TAP_CHECK(sc != NULL);
	TAP_CHECK(sc->default_action == SCMP_ACT_ALLOW);
	TAP_CHECK(sc->narches == 2 && sc->arches[0] == SCMP_ARCH_X86 &&
		  sc->arches[1] == SCMP_ARCH_X32);
	TAP_CHECK(sc->flags == 0);
	TAP_CHECK(sc->nrules == 1 && sc->rules[0].nnames == 2);
	TAP_CHECK_STR(sc->rules[0].names[1], "chmod");
	TAP_CHECK(sc->rules[0].names[2] == NULL);
	/* No errnoRet: EPERM, as runc. */
	TAP_CHECK(sc->rules[0].action == SCMP_ACT_ERRNO(EPERM));
	TAP_CHECK(sc->rules[0].nargs == 0);
	if (agent_seccomp_build(sc, &ctx, &err) < 0) {
		tap_diag("%s", err->msg);
		kiln_error_free(&err);
		agent_spec_release(&s);
		return TAP_FAIL;
	}
	TAP_CHECK(ctx != NULL);
	seccomp_release(ctx);
	agent_spec_release(&s);
	return TAP_PASS;
}

/* The shape of podman's (containers/common's) default profile: a default
 * errno, three architectures, flags, long name lists with names this
 * libseccomp does not know, argument conditions (personality's several
 * conditions on arg 0), and a rule doing what the default does. */
static const char podman_like[] =
    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,"
    "\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"],"
    "\"flags\":[\"SECCOMP_FILTER_FLAG_TSYNC\",\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\","
    "\"SECCOMP_FILTER_FLAG_LOG\"],"
    "\"syscalls\":["
    "{\"names\":[\"bdflush\",\"io_pgetevents\",\"kexec_file_load\",\"kexec_load\","
    "\"migrate_pages\",\"move_pages\",\"nfsservctl\",\"nice\",\"oldfstat\",\"oldlstat\","
    "\"oldolduname\",\"oldstat\",\"olduname\",\"pciconfig_iobase\",\"pciconfig_read\","
    "\"pciconfig_write\",\"sgetmask\",\"ssetmask\",\"swapcontext\",\"swapoff\",\"swapon\","
    "\"sysfs\",\"uselib\",\"userfaultfd\",\"ustat\",\"vm86\",\"vm86old\",\"vmsplice\"],"
    "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[],\"comment\":\"\",\"includes\":{},"
    "\"excludes\":{},\"errnoRet\":1},"
    "{\"names\":[\"_llseek\",\"_newselect\",\"accept\",\"accept4\",\"access\",\"read\","
    "\"write\",\"close\",\"exit\",\"exit_group\",\"futex\",\"getpid\",\"mmap\",\"brk\","
    "\"kiln_no_such_syscall\",\"arch_prctl\",\"clone3\",\"faccessat2\",\"epoll_pwait2\","
    "\"futex_waitv\",\"landlock_create_ruleset\",\"memfd_secret\",\"process_mrelease\","
    "\"set_mempolicy_home_node\",\"cachestat\",\"fchmodat2\",\"map_shadow_stack\","
    "\"futex_wake\",\"futex_wait\",\"futex_requeue\",\"statmount\",\"listmount\","
    "\"lsm_get_self_attr\",\"lsm_set_self_attr\",\"lsm_list_modules\",\"mseal\"],"
    "\"action\":\"SCMP_ACT_ALLOW\"},"
    "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
    "{\"index\":0,\"value\":0,\"valueTwo\":0,\"op\":\"SCMP_CMP_EQ\"}]},"
    "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
    "{\"index\":0,\"value\":8,\"op\":\"SCMP_CMP_EQ\"},"
    "{\"index\":0,\"value\":131072,\"op\":\"SCMP_CMP_EQ\"},"
    "{\"index\":0,\"value\":4294967295,\"op\":\"SCMP_CMP_EQ\"}]},"
    "{\"names\":[\"clone\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
    "{\"index\":0,\"value\":2114060288,\"valueTwo\":0,\"op\":\"SCMP_CMP_MASKED_EQ\"}]},"
    "{\"names\":[\"socket\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":22,\"args\":["
    "{\"index\":0,\"value\":40,\"op\":\"SCMP_CMP_EQ\"}]},"
    "{\"names\":[\"ptrace\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":38},"
    "{\"names\":[\"uname\"],\"action\":\"SCMP_ACT_LOG\"},"
    "{\"names\":[\"reboot\"],\"action\":\"SCMP_ACT_KILL_PROCESS\"},"
    "{\"names\":[\"acct\"],\"action\":\"SCMP_ACT_TRACE\",\"errnoRet\":5},"
    "{\"names\":[\"syslog\"],\"action\":\"SCMP_ACT_TRAP\"},"
    "{\"names\":[\"quotactl\"],\"action\":\"SCMP_ACT_KILL\"},"
    "{\"names\":[\"lookup_dcookie\"],\"action\":\"SCMP_ACT_KILL_THREAD\"}]}";

static int test_podman_shape(void)
{
	struct agent_spec s;
	cleanup_free char *msg = NULL;
	scmp_filter_ctx ctx = NULL;
	kiln_error_t err = NULL;
	const struct agent_seccomp *sc;

	if (parse_sc(podman_like, &s, &msg) < 0) {
		tap_diag("%s", msg);
		agent_spec_release(&s);
		return TAP_FAIL;
	}
	sc = s.seccomp;
	TAP_CHECK(sc != NULL);
	TAP_CHECK(sc->default_action == SCMP_ACT_ERRNO(38));
	TAP_CHECK(sc->narches == 3 && sc->arches[0] == SCMP_ARCH_X86_64);
	TAP_CHECK(sc->flags == (1u << OCI_SECCOMP_FLAG_TSYNC | 1u << OCI_SECCOMP_FLAG_LOG |
				1u << OCI_SECCOMP_FLAG_SPEC_ALLOW));
	TAP_CHECK(sc->nrules == 13);
	TAP_CHECK(sc->rules[0].nnames == 28 && sc->rules[0].action == SCMP_ACT_ERRNO(1));
	TAP_CHECK(sc->rules[1].action == SCMP_ACT_ALLOW);
	TAP_CHECK(sc->rules[3].nargs == 3 && sc->rules[3].args[2].datum_a == 0xffffffffull);
	TAP_CHECK(sc->rules[3].args[2].op == SCMP_CMP_EQ && sc->rules[3].args[2].arg == 0);
	TAP_CHECK(sc->rules[4].args[0].op == SCMP_CMP_MASKED_EQ);
	TAP_CHECK(sc->rules[4].args[0].datum_a == 2114060288 && sc->rules[4].args[0].datum_b == 0);
	TAP_CHECK(sc->rules[5].action == SCMP_ACT_ERRNO(22));
	TAP_CHECK(sc->rules[6].action == sc->default_action);
	TAP_CHECK(sc->rules[7].action == SCMP_ACT_LOG);
	TAP_CHECK(sc->rules[8].action == SCMP_ACT_KILL_PROCESS);
	TAP_CHECK(sc->rules[9].action == SCMP_ACT_TRACE(5));
	TAP_CHECK(sc->rules[10].action == SCMP_ACT_TRAP);
	TAP_CHECK(sc->rules[11].action == SCMP_ACT_KILL);
	TAP_CHECK(sc->rules[12].action == SCMP_ACT_KILL_THREAD);
	/* Unknown names skipped, ptrace's rule (the default's action)
	 * skipped, personality's repeated arg 0 split: it all builds. */
	if (!full_seccomp()) {
		agent_spec_release(&s);
		return TAP_PASS;
	}
	if (agent_seccomp_build(sc, &ctx, &err) < 0) {
		tap_diag("%s", err->msg);
		kiln_error_free(&err);
		agent_spec_release(&s);
		return TAP_FAIL;
	}
	seccomp_release(ctx);
	agent_spec_release(&s);
	return TAP_PASS;
}

static int test_absent_or_empty(void)
{
	struct agent_spec s;
	cleanup_free char *msg = NULL, *msg2 = NULL, *msg3 = NULL;

	TAP_CHECK(parse_sc("{}", &s, &msg) == 0);
	TAP_CHECK(s.seccomp == NULL);
	agent_spec_release(&s);
	TAP_CHECK(parse_sc("null", &s, &msg2) == 0);
	TAP_CHECK(s.seccomp == NULL);
	agent_spec_release(&s);
	/* No rules but a default: a filter. */
	TAP_CHECK(parse_sc("{\"defaultAction\":\"SCMP_ACT_LOG\"}", &s, &msg3) == 0);
	TAP_CHECK(s.seccomp != NULL && s.seccomp->default_action == SCMP_ACT_LOG);
	TAP_CHECK(s.seccomp->nrules == 0 && s.seccomp->narches == 0);
	agent_spec_release(&s);
	return TAP_PASS;
}

#define CHECK_SC_FAILS(sc, want)                                                                   \
	do {                                                                                       \
		struct agent_spec s_;                                                              \
		cleanup_free char *msg_ = NULL;                                                    \
		int r_ = parse_sc((sc), &s_, &msg_);                                               \
		agent_spec_release(&s_);                                                           \
		TAP_CHECK(r_ < 0);                                                                 \
		TAP_CHECK_STR(msg_, (want));                                                       \
	} while (0)

#define DEF "\"defaultAction\":\"SCMP_ACT_ALLOW\""

static int test_errors(void)
{
	CHECK_SC_FAILS("[]", "linux.seccomp: expected object");
	CHECK_SC_FAILS("{\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\"}]}",
		       "linux.seccomp.defaultAction: missing");
	CHECK_SC_FAILS("{\"defaultAction\":\"SCMP_ACT_FOO\"}",
		       "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_FOO\"");
	CHECK_SC_FAILS("{\"defaultAction\":7}", "linux.seccomp.defaultAction: expected string");
	CHECK_SC_FAILS("{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}",
		       "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is not supported");
	CHECK_SC_FAILS("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":70000}",
		       "linux.seccomp.defaultErrnoRet: 70000 is out of range (0 to 65535)");
	CHECK_SC_FAILS("{" DEF ",\"defaultErrnoRet\":1}",
		       "linux.seccomp.defaultErrnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE "
		       "take an errno");
	CHECK_SC_FAILS("{" DEF ",\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_VAX\"]}",
		       "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_VAX\"");
	CHECK_SC_FAILS("{" DEF ",\"architectures\":[\"x86_64\"]}",
		       "linux.seccomp.architectures[0]: unknown architecture \"x86_64\"");
	CHECK_SC_FAILS("{" DEF ",\"flags\":[\"SECCOMP_FILTER_FLAG_BOGUS\"]}",
		       "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_BOGUS\"");
	CHECK_SC_FAILS("{" DEF ",\"flags\":[\"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV\"]}",
		       "linux.seccomp.flags[0]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not "
		       "supported");
	CHECK_SC_FAILS("{" DEF
		       ",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\"},"
		       "{\"names\":[\"write\"],\"action\":\"SCMP_ACT_LOG\"},"
		       "{\"names\":[\"open\"],\"action\":\"SCMP_ACT_FOO\"}]}",
		       "linux.seccomp.syscalls[2].action: unknown action \"SCMP_ACT_FOO\"");
	CHECK_SC_FAILS("{" DEF
		       ",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}",
		       "linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY is not supported");
	CHECK_SC_FAILS("{" DEF ",\"syscalls\":[{\"names\":[\"read\"]}]}",
		       "linux.seccomp.syscalls[0].action: missing");
	CHECK_SC_FAILS("{" DEF ",\"syscalls\":[{\"action\":\"SCMP_ACT_ERRNO\"}]}",
		       "linux.seccomp.syscalls[0].names: missing");
	CHECK_SC_FAILS("{" DEF ",\"syscalls\":[{\"names\":[],\"action\":\"SCMP_ACT_ERRNO\"}]}",
		       "linux.seccomp.syscalls[0].names: must name at least one syscall");
	CHECK_SC_FAILS("{" DEF
		       ",\"syscalls\":[{\"names\":[\"read\",3],\"action\":\"SCMP_ACT_ERRNO\"}]}",
		       "linux.seccomp.syscalls[0].names[1]: expected string");
	CHECK_SC_FAILS("{" DEF ",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_LOG\","
		       "\"errnoRet\":1}]}",
		       "linux.seccomp.syscalls[0].errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE "
		       "take an errno");
	CHECK_SC_FAILS("{" DEF ",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\","
		       "\"args\":[{\"index\":0,\"value\":0,\"op\":\"SCMP_CMP_EQ\"},"
		       "{\"index\":1,\"value\":0,\"op\":\"SCMP_CMP_FOO\"}]}]}",
		       "linux.seccomp.syscalls[0].args[1].op: unknown operator \"SCMP_CMP_FOO\"");
	CHECK_SC_FAILS("{" DEF ",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\","
		       "\"args\":[{\"index\":6,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
		       "linux.seccomp.syscalls[0].args[0].index: 6 is out of range (0 to 5)");
	CHECK_SC_FAILS("{" DEF ",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\","
		       "\"args\":[{\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
		       "linux.seccomp.syscalls[0].args[0].index: missing");
	CHECK_SC_FAILS("{" DEF ",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\","
		       "\"args\":[{\"index\":0,\"op\":\"SCMP_CMP_EQ\"}]}]}",
		       "linux.seccomp.syscalls[0].args[0].value: missing");
	CHECK_SC_FAILS("{" DEF ",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\","
		       "\"args\":[{\"index\":0,\"value\":-1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
		       "linux.seccomp.syscalls[0].args[0].value: -1 is out of range");
	CHECK_SC_FAILS("{" DEF ",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\","
		       "\"args\":[{\"index\":0,\"value\":0}]}]}",
		       "linux.seccomp.syscalls[0].args[0].op: missing");
	return TAP_PASS;
}

/* Every action and flag in oci/'s tables: the agent applies exactly those
 * marked supported (what `kiln features` reports), with the table's value. */
static int test_follows_oci_tables(void)
{
	const struct oci_seccomp_action *actions;
	const struct oci_seccomp_flag *flags;
	size_t n;

	actions = oci_seccomp_actions(&n);
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *sc = xasprintf("{\"defaultAction\":\"%s\"}", actions[i].name);
		cleanup_free char *msg = NULL, *want = NULL;
		struct agent_spec s;
		int r = parse_sc(sc, &s, &msg);

		if (actions[i].supported) {
			TAP_CHECK(r == 0 && s.seccomp != NULL);
			TAP_CHECK(s.seccomp->default_action ==
				  (actions[i].value | (actions[i].takes_errno ? EPERM : 0)));
		} else {
			want = xasprintf("linux.seccomp.defaultAction: %s is not supported",
					 actions[i].name);
			TAP_CHECK(r < 0);
			TAP_CHECK_STR(msg, want);
		}
		agent_spec_release(&s);
	}
	flags = oci_seccomp_flags(&n);
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *sc = xasprintf("{" DEF ",\"flags\":[\"%s\"]}", flags[i].name);
		cleanup_free char *msg = NULL, *want = NULL;
		struct agent_spec s;
		int r = parse_sc(sc, &s, &msg);

		if (flags[i].supported) {
			TAP_CHECK(r == 0 && s.seccomp != NULL && s.seccomp->flags == 1u << i);
		} else {
			want =
			    xasprintf("linux.seccomp.flags[0]: %s is not supported", flags[i].name);
			TAP_CHECK(r < 0);
			TAP_CHECK_STR(msg, want);
		}
		agent_spec_release(&s);
	}
	return TAP_PASS;
}

/* Parses sc, builds the filter here (as the agent does before forking),
 * then in a child sets no_new_privs, loads it and runs body, whose return
 * is the child's exit status. Returns the wait status, or -1. */
static int run_filtered(const char *sc, int (*body)(void))
{
	struct agent_spec s;
	cleanup_free char *msg = NULL;
	scmp_filter_ctx ctx = NULL;
	kiln_error_t err = NULL;
	int status;
	pid_t pid;

	if (parse_sc(sc, &s, &msg) < 0 || agent_seccomp_build(s.seccomp, &ctx, &err) < 0) {
		tap_diag("%s", msg != NULL ? msg : err != NULL ? err->msg : "(none)");
		kiln_error_free(&err);
		agent_spec_release(&s);
		return -1;
	}
	agent_spec_release(&s);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || agent_seccomp_load(ctx, &err) < 0)
			_exit(100);
		seccomp_release(ctx);
		_exit(body());
	}
	seccomp_release(ctx);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static char tmpdir[] = "/tmp/kiln-seccomp-XXXXXX";

/* Exit statuses: 0 all as expected, else the number of the failed step. */
static int mkdir_body(void)
{
	cleanup_free char *path = xasprintf("%s/d", tmpdir);

	if (mkdir(path, 0700) == 0 || errno != EPERM)
		return 1;
	if (mkdirat(AT_FDCWD, path, 0700) == 0 || errno != EPERM)
		return 2;
	if (getpid() <= 0 || access(tmpdir, F_OK) != 0)
		return 3;
	/* Not in the profile: the default (allow). */
	if (rmdir(tmpdir) != 0)
		return 4;
	return 0;
}

static int test_load_errno(void)
{
	int st;

	if (mkdtemp(tmpdir) == NULL)
		return TAP_FAIL;
	st = run_filtered("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
			  "{\"names\":[\"mkdir\",\"mkdirat\"],\"action\":\"SCMP_ACT_ERRNO\","
			  "\"errnoRet\":1},"
			  "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ALLOW\"}]}",
			  mkdir_body);
	if (access(tmpdir, F_OK) == 0) {
		rmdir(tmpdir);
		tap_diag("the child did not remove %s", tmpdir);
		return TAP_FAIL;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		tap_diag("child status %#x", (unsigned)st);
		return TAP_FAIL;
	}
	return TAP_PASS;
}

static int args_body(void)
{
	pid_t self = getpid();

	/* personality(0xffffffff) queries; denied by its argument. */
	if (personality(0xffffffff) != -1 || errno != EACCES)
		return 1;
	/* kill: signal 0 or SIGWINCH (two conditions on arg 1: either). */
	if (kill(self, 0) == 0 || errno != EACCES)
		return 2;
	if (kill(self, SIGWINCH) == 0 || errno != EACCES)
		return 3;
	if (kill(self, SIGCONT) != 0)
		return 4;
	/* MASKED_EQ: umask is denied when the mode has 0002 set. */
	if (umask(0002) != (mode_t)-1 && errno != EACCES)
		return 5;
	umask(022);
	if (umask(0020) != 022)
		return 6;
	return 0;
}

static int test_load_args(void)
{
	int st;

	if (!full_seccomp())
		return TAP_SKIP;
	st = run_filtered(
	    "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\","
	    "\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"],\"flags\":[\"SECCOMP_FILTER_FLAG_TSYNC\"],"
	    "\"syscalls\":["
	    "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13,"
	    "\"args\":[{\"index\":0,\"value\":4294967295,\"op\":\"SCMP_CMP_EQ\"}]},"
	    "{\"names\":[\"kill\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13,"
	    "\"args\":[{\"index\":1,\"value\":0,\"op\":\"SCMP_CMP_EQ\"},"
	    "{\"index\":1,\"value\":28,\"op\":\"SCMP_CMP_EQ\"}]},"
	    "{\"names\":[\"umask\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13,"
	    "\"args\":[{\"index\":0,\"value\":2,\"valueTwo\":2,\"op\":\"SCMP_CMP_MASKED_EQ\"}]}]}",
	    args_body);

	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		tap_diag("child status %#x", (unsigned)st);
		return TAP_FAIL;
	}
	return TAP_PASS;
}

static int kill_body(void)
{
	getppid();
	return 1;
}

static int test_load_kill_process(void)
{
	int st;

	if (!full_seccomp())
		return TAP_SKIP;
	st = run_filtered("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
			  "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_KILL_PROCESS\"}]}",
			  kill_body);

	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS) {
		tap_diag("child status %#x", (unsigned)st);
		return TAP_FAIL;
	}
	return TAP_PASS;
}

/* A default errno: everything not allowed fails with it. */
static int default_body(void)
{
	/* syscall(): glibc's getppid() cannot fail, so sets no errno. */
	if (syscall(SYS_getppid) != -1 || errno != ENOSYS)
		return 1;
	if (getpid() <= 0)
		return 2;
	return 0;
}

static int test_load_default_errno(void)
{
	int st;

	if (!full_seccomp())
		return TAP_SKIP;
	st = run_filtered(
	    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,\"syscalls\":["
	    "{\"names\":[\"getpid\",\"exit\",\"exit_group\",\"write\",\"kiln_no_such_syscall\"],"
	    "\"action\":\"SCMP_ACT_ALLOW\"},"
	    "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":38}]}",
	    default_body);

	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		tap_diag("child status %#x", (unsigned)st);
		return TAP_FAIL;
	}
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_runtime_spec_example), TAP_TEST(test_podman_shape),
	 TAP_TEST(test_absent_or_empty), TAP_TEST(test_errors), TAP_TEST(test_follows_oci_tables),
	 TAP_TEST(test_load_errno), TAP_TEST(test_load_args), TAP_TEST(test_load_kill_process),
	 TAP_TEST(test_load_default_errno))
