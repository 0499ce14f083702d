#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "vmm/seccomp.h"
#include "vmm/vcpu.h"

#define CPUID_MAX_ENTRIES 256

#define MSR_IA32_TSC		0x10
#define MSR_IA32_SYSENTER_CS	0x174
#define MSR_IA32_SYSENTER_ESP	0x175
#define MSR_IA32_SYSENTER_EIP	0x176
#define MSR_IA32_MISC_ENABLE	0x1a0
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SYSCALL_MASK	0xc0000084
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MISC_ENABLE_FAST_STRING 1

#define APIC_LVT0	 0x350
#define APIC_LVT1	 0x360
#define APIC_MODE_NMI	 0x4
#define APIC_MODE_EXTINT 0x7

#define X86_CR0_PE  0x1ULL
#define X86_CR0_ET  0x10ULL
#define X86_CR0_PG  0x80000000ULL
#define X86_CR4_PAE 0x20ULL
#define EFER_LME    0x100ULL
#define EFER_LMA    0x400ULL

int vcpu_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out, kiln_error_t *err)
{
	struct kvm_cpuid2 *c = xzalloc(sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(c->entries[0]));

	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		free(c);
		return kiln_error_make(err, errno, "KVM_GET_SUPPORTED_CPUID");
	}
	*out = c;
	return 0;
}

static unsigned int bits_for(unsigned int n)
{
	unsigned int b = 0;

	while ((1U << b) < n)
		b++;
	return b;
}

/* The guest sees one socket with nr cores, one thread each, and APIC ID =
 * vCPU index; and that it runs on a hypervisor. */
static void cpuid_adjust(struct kvm_cpuid2 *c, unsigned int id, unsigned int nr)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0xffff) | (nr << 16) | (id << 24);
			e->ecx |= 1U << 31; /* hypervisor present */
			if (nr > 1)
				e->edx |= 1U << 28; /* HTT: ebx[23:16] is valid */
			break;
		case 4:
			e->eax = (e->eax & 0x03ffffff) | ((nr - 1) << 26);
			break;
		case 0xb:
			e->edx = id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (1 << 8) | 0;
			} else if (e->index == 1) {
				e->eax = bits_for(nr);
				e->ebx = nr;
				e->ecx = (2 << 8) | 1;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case 0x80000008:
			e->ecx = (e->ecx & ~0xffU) | (nr - 1);
			break;
		}
	}
}

static int set_msrs(struct vcpu *v, kiln_error_t *err)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} init[] = {
	    {MSR_IA32_SYSENTER_CS, 0},
	    {MSR_IA32_SYSENTER_ESP, 0},
	    {MSR_IA32_SYSENTER_EIP, 0},
	    {MSR_STAR, 0},
	    {MSR_CSTAR, 0},
	    {MSR_KERNEL_GS_BASE, 0},
	    {MSR_SYSCALL_MASK, 0},
	    {MSR_LSTAR, 0},
	    {MSR_IA32_TSC, 0},
	    {MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING},
	};
	cleanup_free struct kvm_msrs *msrs =
	    xzalloc(sizeof(*msrs) + ARRAY_SIZE(init) * sizeof(msrs->entries[0]));
	int n;

	msrs->nmsrs = ARRAY_SIZE(init);
	for (size_t i = 0; i < ARRAY_SIZE(init); i++)
		msrs->entries[i] =
		    (struct kvm_msr_entry){.index = init[i].index, .data = init[i].data};
	n = ioctl(v->fd, KVM_SET_MSRS, msrs);
	if (n < 0)
		return kiln_error_make(err, errno, "vCPU %u: KVM_SET_MSRS", v->id);
	if (n != (int)ARRAY_SIZE(init))
		return kiln_error_make(err, 0, "vCPU %u: KVM refused MSR 0x%x", v->id,
				       init[n].index);
	return 0;
}

/* LINT0 receives the legacy PIC (ExtINT), LINT1 NMIs, as on a PC. */
static int set_lapic(struct vcpu *v, kiln_error_t *err)
{
	struct kvm_lapic_state lapic;
	uint32_t lvt;

	if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
		return kiln_error_make(err, errno, "vCPU %u: KVM_GET_LAPIC", v->id);
	memcpy(&lvt, lapic.regs + APIC_LVT0, 4);
	lvt = (lvt & ~0x700U) | (APIC_MODE_EXTINT << 8);
	memcpy(lapic.regs + APIC_LVT0, &lvt, 4);
	memcpy(&lvt, lapic.regs + APIC_LVT1, 4);
	lvt = (lvt & ~0x700U) | (APIC_MODE_NMI << 8);
	memcpy(lapic.regs + APIC_LVT1, &lvt, 4);
	if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0)
		return kiln_error_make(err, errno, "vCPU %u: KVM_SET_LAPIC", v->id);
	return 0;
}

int vcpu_create(struct machine *m, unsigned int id, const struct kvm_cpuid2 *supported,
		struct vcpu_ctl *ctl, struct vcpu *v, kiln_error_t *err)
{
	size_t cpuid_size = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	cleanup_free struct kvm_cpuid2 *cpuid = xmalloc(cpuid_size);
	struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};
	int size, r;

	*v = (struct vcpu){.id = id, .fd = -1, .m = m, .ctl = ctl};
	v->fd = ioctl(m->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0)
		return kiln_error_make(err, errno, "KVM_CREATE_VCPU %u", id);
	size = ioctl(m->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		return kiln_error_make(err, errno, "KVM_GET_VCPU_MMAP_SIZE");
	v->run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return kiln_error_make(err, errno, "vCPU %u: mmap kvm_run", id);
	}
	v->run_size = (size_t)size;

	memcpy(cpuid, supported, cpuid_size);
	cpuid_adjust(cpuid, id, m->nr_vcpus);
	if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0)
		return kiln_error_make(err, errno, "vCPU %u: KVM_SET_CPUID2", id);
	r = set_msrs(v, err);
	if (r < 0)
		return r;
	if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
		return kiln_error_make(err, errno, "vCPU %u: KVM_SET_FPU", id);
	return set_lapic(v, err);
}

static void segment_flat(struct kvm_segment *s, uint16_t selector, uint8_t type, bool code64)
{
	*s = (struct kvm_segment){
	    .base = 0,
	    .limit = 0xffffffff,
	    .selector = selector,
	    .type = type,
	    .present = 1,
	    .s = 1,
	    .db = code64 ? 0 : 1,
	    .l = code64 ? 1 : 0,
	    .g = 1,
	};
}

int vcpu_set_boot_state(struct vcpu *v, const struct boot_entry *entry, kiln_error_t *err)
{
	bool lm = entry->mode == BOOT_MODE_LINUX64;
	struct kvm_sregs sregs;
	struct kvm_regs regs = {.rflags = 0x2, .rip = entry->rip};

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return kiln_error_make(err, errno, "KVM_GET_SREGS");
	/* Selectors match the GDT boot/linux.c writes. */
	segment_flat(&sregs.cs, lm ? 0x10 : 0x08, 0xb, lm);
	segment_flat(&sregs.ds, 0x18, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr =
	    (struct kvm_segment){.limit = 0xfffff, .selector = 0x20, .type = 0xb, .present = 1};
	sregs.gdt.base = BOOT_GDT_ADDR;
	sregs.gdt.limit = 5 * 8 - 1;
	sregs.idt.base = BOOT_IDT_ADDR;
	sregs.idt.limit = 7;
	if (lm) {
		sregs.cr3 = BOOT_PML4_ADDR;
		sregs.cr4 = X86_CR4_PAE;
		sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
		sregs.efer = EFER_LME | EFER_LMA;
		regs.rsi = entry->arg;
		regs.rsp = regs.rbp = BOOT_STACK_TOP;
	} else {
		sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
		sregs.cr4 = 0;
		sregs.efer = 0;
		regs.rbx = entry->arg;
	}
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return kiln_error_make(err, errno, "KVM_SET_SREGS");
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return kiln_error_make(err, errno, "KVM_SET_REGS");
	return 0;
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;

	/* `rep outs`/`rep ins` arrive as count accesses in a row. The data
	 * area lies inside the mmap'ed kvm_run page, laid out by KVM. */
	for (uint32_t i = 0; i < run->io.count; i++)
		bus_dispatch(&v->m->pio, run->io.port, out, data + i * run->io.size, run->io.size);
}

/* Waits while the VM is paused; returns true when the thread must exit. */
static bool vcpu_check_ctl(struct vcpu *v)
{
	struct vcpu_ctl *ctl = v->ctl;
	bool stop;

	pthread_mutex_lock(&ctl->lock);
	if (ctl->pause && !ctl->stop) {
		ctl->nr_parked++;
		pthread_cond_broadcast(&ctl->cond);
		while (ctl->pause && !ctl->stop)
			pthread_cond_wait(&ctl->cond, &ctl->lock);
		ctl->nr_parked--;
	}
	stop = ctl->stop;
	v->run->immediate_exit = 0;
	pthread_mutex_unlock(&ctl->lock);
	return stop;
}

static void vcpu_event(struct vcpu *v, enum vcpu_event ev, const char *fmt, ...)
{
	char msg[256] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	v->ctl->on_event(v->ctl->opaque, ev, msg);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct kvm_run *run = v->run;
	cleanup_error kiln_error_t err = NULL;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", v->id);
	pthread_setname_np(pthread_self(), name);
	if (vmm_seccomp_install(v->ctl->seccomp, VMM_SECCOMP_VCPU, &err) < 0) {
		vcpu_event(v, VCPU_EVENT_FAILURE, "vCPU %u: %s", v->id, err->msg);
		return NULL;
	}
	for (;;) {
		if (vcpu_check_ctl(v))
			return NULL;
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vcpu_event(v, VCPU_EVENT_FAILURE, "vCPU %u: KVM_RUN: %s", v->id,
				   strerror(errno));
			return NULL;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(v);
			break;
		case KVM_EXIT_MMIO:
			bus_dispatch(&v->m->mmio, run->mmio.phys_addr, run->mmio.is_write,
				     run->mmio.data, run->mmio.len);
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_SHUTDOWN:
			/* A triple fault: what a PC does next is reset. */
			vcpu_event(v, VCPU_EVENT_RESET, NULL);
			return NULL;
		case KVM_EXIT_SYSTEM_EVENT:
			if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ||
			    run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
				vcpu_event(v, VCPU_EVENT_RESET, NULL);
				return NULL;
			}
			vcpu_event(v, VCPU_EVENT_FAILURE, "vCPU %u: system event %u", v->id,
				   run->system_event.type);
			return NULL;
		case KVM_EXIT_FAIL_ENTRY:
			vcpu_event(
			    v, VCPU_EVENT_FAILURE,
			    "vCPU %u: KVM could not enter the guest (reason 0x%llx)", v->id,
			    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			return NULL;
		case KVM_EXIT_INTERNAL_ERROR:
			vcpu_event(v, VCPU_EVENT_FAILURE, "vCPU %u: KVM internal error %u", v->id,
				   run->internal.suberror);
			return NULL;
		default:
			vcpu_event(v, VCPU_EVENT_FAILURE, "vCPU %u: unexpected KVM exit %u", v->id,
				   run->exit_reason);
			return NULL;
		}
	}
}

int vcpu_start(struct vcpu *v, kiln_error_t *err)
{
	int r = pthread_create(&v->thread, NULL, vcpu_thread, v);

	if (r != 0)
		return kiln_error_make(err, r, "cannot start vCPU %u", v->id);
	v->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	/* immediate_exit covers the window before the thread enters KVM_RUN;
	 * the signal covers a thread already inside it. */
	v->run->immediate_exit = 1;
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_release(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}
