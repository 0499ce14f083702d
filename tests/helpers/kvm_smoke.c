/* kvm-smoke: proves that /dev/kvm runs guest code. It creates a VM with one
 * vCPU and one page of memory, runs a few real-mode instructions that add two
 * registers, write the digit of the sum and a string to I/O port 0x3f8 and
 * halt, and checks each exit. Prints what the guest wrote; exits 0 only when
 * it is exactly what the code should produce. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"

#define GUEST_BASE 0x1000
#define GUEST_PORT 0x3f8

/* Real mode, CS=0 IP=0x1000, AX=2 BX=3 on entry:
 *   add al, bl; add al, '0'; mov dx, 0x3f8; out dx, al
 *   mov si, msg; l: lodsb; test al, al; jz done; out dx, al; jmp l
 *   done: hlt
 *   msg: "-ok\n", 0 */
static const uint8_t guest_code[] = {
    0x00, 0xd8,	      /* add al, bl */
    0x04, '0',	      /* add al, '0' */
    0xba, 0xf8, 0x03, /* mov dx, 0x3f8 */
    0xee,	      /* out dx, al */
    0xbe, 0x16, 0x10, /* mov si, 0x1016 (msg) */
    0xac,	      /* l: lodsb */
    0x84, 0xc0,	      /* test al, al */
    0x74, 0x03,	      /* jz done */
    0xee,	      /* out dx, al */
    0xeb, 0xf8,	      /* jmp l */
    0xf4,	      /* done: hlt */
    0x90, 0x90,	      /* padding up to msg at 0x16 */
    '-',  'o',	'k',  '\n', 0,
};

static int fail(const char *what)
{
	fprintf(stderr, "kvm-smoke: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(void)
{
	cleanup_close int kvm = -1, vm = -1, vcpu = -1;
	struct kvm_userspace_memory_region region;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	char out[64];
	size_t out_len = 0;
	int run_size;
	uint8_t *mem;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("open /dev/kvm");
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		fprintf(stderr, "kvm-smoke: unexpected KVM API version\n");
		return 1;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");

	mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap guest memory");
	memcpy(mem, guest_code, sizeof(guest_code));
	region = (struct kvm_userspace_memory_region){
	    .slot = 0,
	    .guest_phys_addr = GUEST_BASE,
	    .memory_size = 0x1000,
	    .userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");

	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (int)sizeof(*run))
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run");

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS");
	regs = (struct kvm_regs){.rip = GUEST_BASE, .rax = 2, .rbx = 3, .rflags = 0x2};
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");

	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			return fail("KVM_RUN");
		if (run->exit_reason == KVM_EXIT_HLT)
			break;
		if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT ||
		    run->io.port != GUEST_PORT || run->io.size != 1 || run->io.count != 1) {
			fprintf(stderr, "kvm-smoke: unexpected exit %u\n", run->exit_reason);
			return 1;
		}
		if (out_len + 1 >= sizeof(out)) {
			fprintf(stderr, "kvm-smoke: the guest wrote too much\n");
			return 1;
		}
		out[out_len++] = *((char *)run + run->io.data_offset);
	}
	out[out_len] = '\0';
	fputs(out, stdout);
	if (strcmp(out, "5-ok\n") != 0) {
		fprintf(stderr, "kvm-smoke: the guest wrote \"%s\", want \"5-ok\\n\"\n", out);
		return 1;
	}
	return 0;
}
