/* kiln-vmm's per-thread seccomp filters (vmm/seccomp.c): each builds, and
 * loaded in a forked child it lets its own calls through and kills the
 * process with SIGSYS on anything else, down to the ioctl request and the
 * socket family. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/unit/machine_fixture.h"
#include "tests/unit/tap.h"
#include "tests/unit/tmpdir.h"
#include "vmm/seccomp.h"
#include "vmm/virtio/blk.h"

/* Under valgrind libseccomp's API level drops below 3 and
 * SCMP_ACT_KILL_PROCESS is refused (see test_agent_seccomp.c). */
static bool full_seccomp(void)
{
	if (seccomp_api_get() >= 3)
		return true;
	tap_diag("libseccomp API level %u (valgrind?): skipped", seccomp_api_get());
	return false;
}

/* What a child does under the filter; it returns the child's exit status. */
typedef int (*child_fn)(void);

/* Runs fn in a child that loaded kind's filter; returns its wait status,
 * or -1 when the filter could not be built. */
static int run_filtered(enum vmm_seccomp_kind kind, child_fn fn)
{
	cleanup_error kiln_error_t err = NULL;
	struct sock_fprog prog;
	struct rlimit no_core = {0, 0};
	pid_t pid;
	int st;

	if (vmm_seccomp_build(kind, &prog, &err) < 0) {
		tap_diag("%s", err->msg);
		return -1;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		setrlimit(RLIMIT_CORE, &no_core);
		if (vmm_seccomp_load(&prog, NULL) < 0)
			_exit(100);
		_exit(fn());
	}
	free(prog.filter);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

static bool killed_by_sigsys(int st)
{
	if (st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
		return true;
	tap_diag("child wait status %#x, want SIGSYS", (unsigned)st);
	return false;
}

static bool exited_ok(int st)
{
	if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return true;
	tap_diag("child wait status %#x, want exit 0", (unsigned)st);
	return false;
}

static int test_filters_build(void)
{
	if (!full_seccomp())
		return TAP_SKIP;
	for (int k = 0; k < VMM_SECCOMP_NR; k++) {
		cleanup_error kiln_error_t err = NULL;
		struct sock_fprog prog;

		if (vmm_seccomp_build(k, &prog, &err) < 0) {
			tap_diag("%s: %s", vmm_seccomp_kind_name(k), err->msg);
			return TAP_FAIL;
		}
		TAP_CHECK(prog.len > 0 && prog.filter != NULL);
		free(prog.filter);
	}
	return TAP_PASS;
}

/* Allowed everywhere: a write to a closed fd fails with EBADF. */
static int do_write(void)
{
	return write(-1, "x", 1) < 0 && errno == EBADF ? 0 : 1;
}

/* On no list: the selftest's call. */
static int do_getppid(void)
{
	syscall(SYS_getppid);
	return 0;
}

static int test_allowed_and_denied(void)
{
	if (!full_seccomp())
		return TAP_SKIP;
	for (int k = 0; k < VMM_SECCOMP_NR; k++) {
		tap_diag("filter %s", vmm_seccomp_kind_name(k));
		TAP_CHECK(exited_ok(run_filtered(k, do_write)));
		TAP_CHECK(killed_by_sigsys(run_filtered(k, do_getppid)));
	}
	return TAP_PASS;
}

static int do_kvm_run(void)
{
	return ioctl(-1, KVM_RUN, 0) < 0 && errno == EBADF ? 0 : 1;
}

static int do_kvm_create_vm(void)
{
	ioctl(-1, KVM_CREATE_VM, 0);
	return 0;
}

static int test_ioctl_by_request(void)
{
	if (!full_seccomp())
		return TAP_SKIP;
	TAP_CHECK(exited_ok(run_filtered(VMM_SECCOMP_VCPU, do_kvm_run)));
	TAP_CHECK(killed_by_sigsys(run_filtered(VMM_SECCOMP_VCPU, do_kvm_create_vm)));
	/* Only vCPU threads run the guest. */
	TAP_CHECK(killed_by_sigsys(run_filtered(VMM_SECCOMP_VMM, do_kvm_run)));
	TAP_CHECK(killed_by_sigsys(run_filtered(VMM_SECCOMP_API, do_kvm_run)));
	return TAP_PASS;
}

static int do_socket_unix(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	return fd >= 0 && close(fd) == 0 ? 0 : 1;
}

static int do_socket_inet(void)
{
	socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return 0;
}

static int test_socket_by_family(void)
{
	if (!full_seccomp())
		return TAP_SKIP;
	TAP_CHECK(exited_ok(run_filtered(VMM_SECCOMP_VMM, do_socket_unix)));
	TAP_CHECK(killed_by_sigsys(run_filtered(VMM_SECCOMP_VMM, do_socket_inet)));
	/* The API thread accepts; it never makes sockets. */
	TAP_CHECK(killed_by_sigsys(run_filtered(VMM_SECCOMP_API, do_socket_unix)));
	return TAP_PASS;
}

static int do_mmap_rw(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p != MAP_FAILED && munmap(p, 4096) == 0 ? 0 : 1;
}

static int do_mmap_exec(void)
{
	(void)mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return 0;
}

static int do_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 1;
	mprotect(p, 4096, PROT_READ | PROT_EXEC);
	return 0;
}

static int test_no_executable_memory(void)
{
	if (!full_seccomp())
		return TAP_SKIP;
	for (int k = 0; k < VMM_SECCOMP_NR; k++) {
		tap_diag("filter %s", vmm_seccomp_kind_name(k));
		TAP_CHECK(exited_ok(run_filtered(k, do_mmap_rw)));
		TAP_CHECK(killed_by_sigsys(run_filtered(k, do_mmap_exec)));
		TAP_CHECK(killed_by_sigsys(run_filtered(k, do_mprotect_exec)));
	}
	return TAP_PASS;
}

/* Drive PATCH runs on the API thread: open, fstat, fcntl, close. */
static struct virtio_blk *patch_blk;
static const char *patch_path;

static int do_drive_patch(void)
{
	return virtio_blk_update(patch_blk, patch_path, NULL) == 0 ? 0 : 1;
}

static int test_drive_patch_under_api_filter(void)
{
	cleanup_tmpdir char *dir = test_tmpdir_make("vmm-seccomp");
	cleanup_free char *img = NULL, *bigger = NULL;
	cleanup_error kiln_error_t err = NULL;
	struct drive_config cfg = {.drive_id = (char *)"data"};
	struct machine m;
	int st;

	if (!full_seccomp())
		return TAP_SKIP;
	TAP_CHECK(dir != NULL);
	img = xasprintf("%s/data.img", dir);
	bigger = xasprintf("%s/bigger.img", dir);
	TAP_CHECK(close(open(img, O_CREAT | O_WRONLY, 0600)) == 0 && truncate(img, 1 << 20) == 0);
	TAP_CHECK(close(open(bigger, O_CREAT | O_WRONLY, 0600)) == 0 &&
		  truncate(bigger, 2 << 20) == 0);
	TAP_CHECK(test_machine_init(&m, 0) == 0);
	cfg.path_on_host = img;
	if (virtio_blk_create(&m, &cfg, &patch_blk, &err) < 0) {
		tap_diag("%s", err->msg);
		return TAP_FAIL;
	}
	patch_path = bigger;
	st = run_filtered(VMM_SECCOMP_API, do_drive_patch);
	virtio_blk_free(patch_blk);
	test_machine_release(&m);
	TAP_CHECK(exited_ok(st));
	return TAP_PASS;
}

static int test_init_selftest_names(void)
{
	struct vmm_seccomp s;
	cleanup_error kiln_error_t err = NULL;

	if (!full_seccomp())
		return TAP_SKIP;
	TAP_CHECK(vmm_seccomp_init(&s, NULL, &err) == 0);
	TAP_CHECK(s.selftest == -1);
	vmm_seccomp_release(&s);
	TAP_CHECK(vmm_seccomp_init(&s, "vcpu", &err) == 0);
	TAP_CHECK(s.selftest == VMM_SECCOMP_VCPU);
	vmm_seccomp_release(&s);
	TAP_CHECK(vmm_seccomp_init(&s, "bogus", &err) < 0);
	TAP_CHECK_STR(err->msg, "KILN_VMM_SECCOMP_SELFTEST is 'bogus'; want api, vmm or vcpu");
	return TAP_PASS;
}

/* install: nothing without filters; with them, the selftest kind's call
 * outside the list ends the process. */
static int test_install(void)
{
	struct vmm_seccomp s;
	cleanup_error kiln_error_t err = NULL;
	pid_t pid;
	int st;

	if (!full_seccomp())
		return TAP_SKIP;
	TAP_CHECK(vmm_seccomp_install(NULL, VMM_SECCOMP_VMM, &err) == 0);
	TAP_CHECK(vmm_seccomp_init(&s, "api", &err) == 0);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct rlimit no_core = {0, 0};

		setrlimit(RLIMIT_CORE, &no_core);
		/* Not the selftest's kind: the child lives on. */
		if (vmm_seccomp_install(&s, VMM_SECCOMP_VMM, NULL) < 0)
			_exit(100);
		_exit(0);
	}
	TAP_CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	TAP_CHECK(exited_ok(st));
	pid = fork();
	if (pid == 0) {
		struct rlimit no_core = {0, 0};

		setrlimit(RLIMIT_CORE, &no_core);
		vmm_seccomp_install(&s, VMM_SECCOMP_API, NULL);
		_exit(0);
	}
	vmm_seccomp_release(&s);
	TAP_CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	TAP_CHECK(killed_by_sigsys(st));
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_filters_build), TAP_TEST(test_allowed_and_denied),
	 TAP_TEST(test_ioctl_by_request), TAP_TEST(test_socket_by_family),
	 TAP_TEST(test_no_executable_memory), TAP_TEST(test_drive_patch_under_api_filter),
	 TAP_TEST(test_init_selftest_names), TAP_TEST(test_install))
