/* kiln-vmm's seccomp filters. Solo5's hvt_seccomp_linux.c is the model:
 * deny all, then allow each call with a line saying who needs it; as in
 * Firecracker each thread kind has its own list. A call outside the list
 * kills the whole process (SIGSYS), so a compromised thread cannot go on
 * with the call failed. The lists cover glibc 2.36 on x86_64, which is what
 * each libc wrapper below turns into. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/fs.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "common/util.h"
#include "vmm/seccomp.h"

/* One allowed call, with at most one argument check: (arg & mask) == datum. */
struct rule {
	int nr;
	int arg; /* -1: any arguments */
	uint64_t mask;
	uint64_t datum;
};

#define ALLOW(name)                                                                                \
	{                                                                                          \
		.nr = SCMP_SYS(name), .arg = -1                                                    \
	}
#define ALLOW_ARG(name, i, value)                                                                  \
	{                                                                                          \
		.nr = SCMP_SYS(name), .arg = (i), .mask = ~0ULL, .datum = (value)                  \
	}
/* The kernel reads an ioctl request as 32 bits. */
#define ALLOW_IOCTL(req)                                                                           \
	{                                                                                          \
		.nr = SCMP_SYS(ioctl), .arg = 1, .mask = 0xffffffffULL, .datum = (req)             \
	}
/* Memory that can never become executable. */
#define ALLOW_NO_EXEC(name)                                                                        \
	{                                                                                          \
		.nr = SCMP_SYS(name), .arg = 2, .mask = PROT_EXEC, .datum = 0                      \
	}

/* Every thread. */
static const struct rule common_rules[] = {
    ALLOW(futex),	     /* pthread mutexes, condition variables, joins */
    ALLOW_NO_EXEC(mmap),     /* malloc: arenas and large blocks */
    ALLOW_NO_EXEC(mprotect), /* malloc: growing a thread's arena */
    ALLOW(munmap),	     /* free; thread stacks after a join */
    ALLOW(madvise),	     /* malloc trimming; a thread's stack at its end */
    ALLOW(brk),		     /* malloc on the main arena */
    ALLOW(rt_sigprocmask),   /* glibc blocks signals in pthread_kill and at thread exit */
    ALLOW(getpid),	     /* pthread_kill (vcpu_kick: pause, stop), abort */
    ALLOW(gettid),	     /* abort on out of memory (xmalloc) */
    ALLOW(tgkill),	     /* pthread_kill (vcpu_kick: pause, stop), abort */
    ALLOW(write),	     /* log lines, eventfd doorbells and interrupt lines, console */
    ALLOW(close),	     /* connections, replaced backing files, teardown */
    ALLOW(clock_gettime),    /* log timestamps, metrics (when not through the vDSO) */
    ALLOW(exit),	     /* a thread returning */
    ALLOW(exit_group),	     /* kiln-vmm exiting */
    ALLOW(restart_syscall),  /* a futex wait restarted after the kick signal */
};

/* The main thread once the VM runs: the event loop, device emulation and
 * the host side of virtio-net and vsock, virtio-fs's vhost-user traffic
 * (its socket is connected and guest memory mapped before the filter),
 * then teardown. */
static const struct rule vmm_rules[] = {
    ALLOW(epoll_wait),		   /* the event loop; net's and vsock's own epoll sets */
    ALLOW(epoll_pwait),		   /* the same, where glibc uses it */
    ALLOW(epoll_ctl),		   /* device and vsock connection interest; fs kick fds */
    ALLOW(read),		   /* eventfds, signalfd (SIGTERM...), console input, tap rx */
    ALLOW(writev),		   /* virtio-net tx to the tap */
    ALLOW(preadv),		   /* virtio-blk reads */
    ALLOW(pwritev),		   /* virtio-blk writes */
    ALLOW(fdatasync),		   /* virtio-blk flush */
    ALLOW_ARG(socket, 0, AF_UNIX), /* vsock: guest connects to uds_path_PORT */
    ALLOW(connect),		   /* the same */
    ALLOW(accept4),		   /* vsock: host connects to uds_path */
    ALLOW(getsockopt),		   /* vsock: SO_ERROR of a guest connect */
    ALLOW(sendto),		   /* vsock: data and "OK port" to host sockets */
    ALLOW(sendmsg),		   /* vsock: data to host sockets; fs: vhost-user messages */
    ALLOW(recvmsg),		   /* vsock: data from host sockets; fs: vhost-user replies */
    ALLOW(recvfrom),		   /* vsock: a host's "CONNECT port" line */
    ALLOW(shutdown),		   /* vsock: half-close */
    ALLOW_IOCTL(TUNSETOFFLOAD),	   /* virtio-net: offloads the driver acked */
    ALLOW_IOCTL(TCSETS),	   /* console: restore the terminal at exit */
    ALLOW(unlink),		   /* remove the API socket and vsock uds_path at exit */
};

/* The API thread: HTTP over its unix socket, and the calls it makes
 * itself (drive PATCH, pause/resume, FlushMetrics, SendCtrlAltDel). */
static const struct rule api_rules[] = {
    ALLOW(poll),			  /* the server loop */
    ALLOW(ppoll),			  /* the same, where glibc uses it */
    ALLOW(accept4),			  /* clients */
    ALLOW(recvfrom),			  /* requests */
    ALLOW(sendto),			  /* responses */
    ALLOW_ARG(setsockopt, 1, SOL_SOCKET), /* SO_SNDTIMEO on each client */
    ALLOW(openat),			  /* drive PATCH backing file; FlushMetrics file */
    ALLOW_ARG(fcntl, 1, F_GETFL),	  /* drive PATCH: back to blocking after the open */
    ALLOW_ARG(fcntl, 1, F_SETFL),	  /* the same */
    ALLOW(newfstatat),			  /* config checks (stat), drive PATCH (fstat) */
    ALLOW(fstat),			  /* the same, older glibc */
    ALLOW(access),			  /* config checks: a kernel or drive is readable */
    ALLOW(faccessat),			  /* the same, where glibc uses it */
    ALLOW(faccessat2),			  /* the same, newer glibc */
    ALLOW_IOCTL(BLKGETSIZE64),		  /* drive PATCH: size of a block device */
};

/* A vCPU thread: KVM_RUN, and the port-I/O and MMIO exits it dispatches
 * to the devices (console output, device resets by the driver). virtio-fs
 * needs nothing here: a vCPU only signals an eventfd (write) and the event
 * loop talks to the back end. */
static const struct rule vcpu_rules[] = {
    ALLOW_IOCTL(KVM_RUN),	/* running the guest */
    ALLOW_IOCTL(TUNSETOFFLOAD), /* virtio-net reset clears the tap's offloads */
    ALLOW(epoll_ctl),		/* device resets: tap and vsock connection interest */
    ALLOW(rt_sigreturn),	/* return from the kick handler (VCPU_KICK_SIGNAL) */
};

static const struct {
	const char *name;
	const struct rule *rules;
	size_t nr;
} kinds[VMM_SECCOMP_NR] = {
    [VMM_SECCOMP_VMM] = {"vmm", vmm_rules, ARRAY_SIZE(vmm_rules)},
    [VMM_SECCOMP_API] = {"api", api_rules, ARRAY_SIZE(api_rules)},
    [VMM_SECCOMP_VCPU] = {"vcpu", vcpu_rules, ARRAY_SIZE(vcpu_rules)},
};

const char *vmm_seccomp_kind_name(enum vmm_seccomp_kind kind)
{
	return kind < VMM_SECCOMP_NR ? kinds[kind].name : "?";
}

static int rules_add(scmp_filter_ctx ctx, const struct rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = &rules[i];
		int rc;

		if (r->arg < 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 0);
		else
			rc = seccomp_rule_add(
			    ctx, SCMP_ACT_ALLOW, r->nr, 1,
			    SCMP_CMP((unsigned int)r->arg, SCMP_CMP_MASKED_EQ, r->mask, r->datum));
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* libseccomp 2.5 exports to a file descriptor only: a memfd, read back. */
static int bpf_export(scmp_filter_ctx ctx, struct sock_fprog *out, kiln_error_t *err)
{
	cleanup_close int fd = memfd_create("kiln-vmm-seccomp", MFD_CLOEXEC);
	struct stat st;
	void *buf;
	int rc;

	if (fd < 0)
		return kiln_error_make(err, errno, "memfd_create");
	rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
		return kiln_error_make(err, -rc, "seccomp_export_bpf");
	if (fstat(fd, &st) < 0)
		return kiln_error_make(err, errno, "fstat");
	if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
	    st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return kiln_error_make(err, 0, "seccomp_export_bpf wrote %lld bytes",
				       (long long)st.st_size);
	buf = xmalloc((size_t)st.st_size);
	if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		return kiln_error_make(err, errno, "reading the exported filter");
	}
	out->filter = buf;
	out->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
	return 0;
}

int vmm_seccomp_build(enum vmm_seccomp_kind kind, struct sock_fprog *out, kiln_error_t *err)
{
	scmp_filter_ctx ctx;
	int rc;

	*out = (struct sock_fprog){0};
	if (kind >= VMM_SECCOMP_NR)
		return kiln_error_make(err, 0, "no seccomp filter kind %d", (int)kind);
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL)
		return kiln_error_make(err, 0, "seccomp_init failed");
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc == 0)
		rc = rules_add(ctx, common_rules, ARRAY_SIZE(common_rules));
	if (rc == 0)
		rc = rules_add(ctx, kinds[kind].rules, kinds[kind].nr);
	if (rc < 0) {
		seccomp_release(ctx);
		return kiln_error_make(err, -rc, "%s seccomp filter", kinds[kind].name);
	}
	rc = bpf_export(ctx, out, err);
	seccomp_release(ctx);
	if (rc < 0)
		return kiln_error_wrap(err, "%s seccomp filter", kinds[kind].name);
	return 0;
}

int vmm_seccomp_init(struct vmm_seccomp *s, const char *selftest, kiln_error_t *err)
{
	*s = (struct vmm_seccomp){.selftest = -1};
	for (int k = 0; selftest && k < VMM_SECCOMP_NR; k++)
		if (streq(selftest, kinds[k].name))
			s->selftest = k;
	if (selftest && s->selftest < 0)
		return kiln_error_make(
		    err, 0, "KILN_VMM_SECCOMP_SELFTEST is '%s'; want api, vmm or vcpu", selftest);
	for (int k = 0; k < VMM_SECCOMP_NR; k++) {
		if (vmm_seccomp_build(k, &s->prog[k], err) < 0) {
			vmm_seccomp_release(s);
			return -1;
		}
	}
	return 0;
}

void vmm_seccomp_release(struct vmm_seccomp *s)
{
	for (int k = 0; k < VMM_SECCOMP_NR; k++) {
		free(s->prog[k].filter);
		s->prog[k] = (struct sock_fprog){0};
	}
}

int vmm_seccomp_load(const struct sock_fprog *prog, kiln_error_t *err)
{
	/* Needed without CAP_SYS_ADMIN (the jail); harmless with it. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return kiln_error_make(err, errno, "prctl(PR_SET_NO_NEW_PRIVS)");
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
		return kiln_error_make(err, errno, "loading a seccomp filter");
	return 0;
}

int vmm_seccomp_install(const struct vmm_seccomp *s, enum vmm_seccomp_kind kind, kiln_error_t *err)
{
	if (s == NULL)
		return 0;
	if (vmm_seccomp_load(&s->prog[kind], err) < 0)
		return kiln_error_wrap(err, "%s seccomp filter", kinds[kind].name);
	/* Test only: getppid is on no list, so this kills kiln-vmm (SIGSYS)
	 * unless the filter is missing or wrong. */
	if (s->selftest == (int)kind)
		syscall(SYS_getppid);
	return 0;
}
