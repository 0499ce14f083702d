#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/kvm.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/acpi/acpi.h"
#include "vmm/boot/linux.h"
#include "vmm/device.h"
#include "vmm/vm.h"
#include "vmm/vmm.h"

/* Firecracker's default command line with the serial console on: the
 * i8042 options keep Linux from probing a mouse and a mux we don't have,
 * reboot=k makes `reboot` use the i8042 reset line (our exit path). Unlike
 * Firecracker's, no i8042.nopnp: with HW-reduced ACPI Linux maps no legacy
 * ISA IRQs, so the i8042 must take IRQ 1 from its ACPI PNP0303 device. */
#define VMM_DEFAULT_CMDLINE                                                                        \
	"console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.dumbkbd"

static void event_fd_signal(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void event_fd_drain(int fd)
{
	uint64_t n;

	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
}

/* Stops every vCPU at its next exit; joining them is vcpus_stop()'s job. */
static void vcpus_halt(struct vmm *v)
{
	pthread_mutex_lock(&v->ctl.lock);
	v->ctl.stop = true;
	pthread_cond_broadcast(&v->ctl.cond);
	pthread_mutex_unlock(&v->ctl.lock);
	for (unsigned int i = 0; i < v->m.nr_vcpus; i++)
		vcpu_kick(&v->vcpus[i]);
}

void vmm_request_stop(struct vmm *v, int status, const char *msg)
{
	pthread_mutex_lock(&v->lock);
	if (!v->done) {
		v->done = true;
		v->exit_status = status;
		v->exit_msg = msg && *msg ? xstrdup(msg) : NULL;
	}
	pthread_mutex_unlock(&v->lock);
	/* The guest must not run on after it asked to reset. */
	vcpus_halt(v);
	event_fd_signal(v->event_fd);
}

static void on_vcpu_event(void *opaque, enum vcpu_event ev, const char *msg)
{
	struct vmm *v = opaque;

	if (ev == VCPU_EVENT_RESET)
		vmm_request_stop(v, 0, NULL);
	else
		vmm_request_stop(v, 1, msg);
}

static void on_i8042_reset(void *opaque)
{
	vmm_request_stop(opaque, 0, NULL);
}

static void on_event(void *opaque, uint32_t events)
{
	(void)events;
	event_fd_drain(((struct vmm *)opaque)->event_fd);
}

static void on_call(void *opaque, uint32_t events)
{
	struct vmm *v = opaque;

	(void)events;
	event_fd_drain(v->call_fd);
	pthread_mutex_lock(&v->call_lock);
	if (v->call_fn && !v->call_done) {
		v->call_result = v->call_fn(v, v->call_arg, &v->call_err);
		v->call_done = true;
		pthread_cond_broadcast(&v->call_cond);
	}
	pthread_mutex_unlock(&v->call_lock);
}

static void kick_handler(int sig)
{
	(void)sig;
}

int vmm_init(struct vmm *v, int console_in, int console_out, kiln_error_t *err)
{
	struct sigaction sa = {.sa_handler = kick_handler};
	int r;

	memset(v, 0, sizeof(*v));
	v->m.kvm_fd = v->m.vm_fd = v->event_fd = v->call_fd = -1;
	v->m.pio.name = "pio";
	v->m.mmio.name = "mmio";
	v->console_in = console_in;
	v->console_out = console_out;
	pthread_mutex_init(&v->lock, NULL);
	pthread_mutex_init(&v->call_lock, NULL);
	pthread_cond_init(&v->call_cond, NULL);
	pthread_mutex_init(&v->ctl.lock, NULL);
	pthread_cond_init(&v->ctl.cond, NULL);
	v->ctl.on_event = on_vcpu_event;
	v->ctl.opaque = v;

	/* No SA_RESTART: the kick must make KVM_RUN return EINTR. */
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return kiln_error_make(err, errno, "sigaction");
	r = evloop_init(&v->m.loop, err);
	if (r < 0)
		return r;
	v->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	v->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->event_fd < 0 || v->call_fd < 0)
		return kiln_error_make(err, errno, "eventfd");
	r = evloop_add(&v->m.loop, v->event_fd, EPOLLIN, on_event, v, err);
	if (r == 0)
		r = evloop_add(&v->m.loop, v->call_fd, EPOLLIN, on_call, v, err);
	return r;
}

_Static_assert(VMM_MAX_VIRTIO == MACHINE_VIRTIO_MAX, "virtio-mmio slot counts differ");

/* Everything that can fail for reasons outside the VMM, before any of the
 * VM exists, so that a failed InstanceStart leaves nothing behind and can
 * be retried: the slot count and what the devices take from the host
 * (taps). */
static int vmm_boot_prepare(const struct vmm_config *cfg, int fds[VMM_DEVICES_MAX],
			    kiln_error_t *err)
{
	if (vmm_config_virtio_check(cfg, MACHINE_VIRTIO_MAX, err) < 0)
		return -1;
	return vmm_devices_prepare(vmm_device_kinds, vmm_device_kinds_len, cfg, fds, err);
}

static int vmm_add_devices(struct vmm *v, const struct vmm_config *cfg,
			   const struct timespec *instance_start, int fds[VMM_DEVICES_MAX],
			   kiln_error_t *err)
{
	const struct vmm_device_env env = {
	    .m = &v->m,
	    .cfg = cfg,
	    .console_in = v->console_in,
	    .console_out = v->console_out,
	    .on_reset = on_i8042_reset,
	    .opaque = v,
	    .instance_start = instance_start,
	};

	return vmm_devices_build(&v->devices, vmm_device_kinds, vmm_device_kinds_len, &env, fds,
				 err);
}

void *vmm_device(struct vmm *v, const struct vmm_device_kind *kind, const char *id)
{
	return vmm_devices_get(&v->devices, kind, id);
}

static int vmm_boot_once(struct vmm *v, const struct vmm_config *cfg, kiln_error_t *err);

/* Devices cannot be taken off the buses and the event loop while the VMM
 * runs, so a start that failed after building part of the VM cannot be
 * retried in this process. */
int vmm_boot(struct vmm *v, const struct vmm_config *cfg, kiln_error_t *err)
{
	int r;

	if (v->boot_failed)
		return kiln_error_make(err, 0,
				       "an earlier InstanceStart failed after building part of the "
				       "microVM; start a new kiln-vmm");
	r = vmm_boot_once(v, cfg, err);
	if (r < 0 && v->m.kvm_fd >= 0)
		v->boot_failed = true;
	return r;
}

static int vmm_boot_once(struct vmm *v, const struct vmm_config *cfg, kiln_error_t *err)
{
	cleanup_free struct kvm_cpuid2 *cpuid = NULL;
	struct acpi_layout layout;
	struct boot_entry entry;
	struct linux_boot lb;
	struct timespec instance_start;
	int fds[VMM_DEVICES_MAX];
	uint64_t rsdp = 0;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &instance_start);
	if (cfg->boot.kernel_image_path == NULL)
		return kiln_error_make(err, 0, "no kernel: set boot-source.kernel_image_path");
	/* The configuration's own problems first, whatever the host. */
	r = vmm_boot_prepare(cfg, fds, err);
	if (r < 0)
		return r;
	r = kiln_kvm_check_bootable(v->pvm_guest_kernel, "start kiln-vmm with --pvm-guest-kernel",
				    err);
	if (r == 0) {
		v->m.nr_vcpus = cfg->machine.vcpu_count;
		/* A vhost-user back end maps guest memory: it must be a
		 * shareable fd then. */
		r = vm_create(&v->m, (uint64_t)cfg->machine.mem_size_mib << 20, cfg->nr_fs > 0,
			      err);
	}
	/* The boot timer counts from the start of this function. */
	if (r == 0)
		r = vmm_add_devices(v, cfg, &instance_start, fds, err);
	vmm_devices_unprepare(fds);
	if (r < 0)
		return r;

	layout = (struct acpi_layout){
	    .nr_vcpus = v->m.nr_vcpus,
	    .virtio = v->m.virtio,
	    .nr_virtio = v->m.nr_virtio,
	    .serial = true,
	    .i8042 = true,
	};
	r = acpi_build(&v->m.mem, &layout, &rsdp, err);
	if (r < 0)
		return kiln_error_wrap(err, "ACPI tables");
	lb = (struct linux_boot){
	    .kernel_path = cfg->boot.kernel_image_path,
	    .initrd_path = cfg->boot.initrd_path,
	    .cmdline = cfg->boot.boot_args ? cfg->boot.boot_args : VMM_DEFAULT_CMDLINE,
	    .rsdp_gpa = rsdp,
	};
	r = linux_load(&v->m.mem, &lb, &entry, err);
	if (r < 0)
		return r;

	r = vcpu_supported_cpuid(v->m.kvm_fd, &cpuid, err);
	for (unsigned int i = 0; r == 0 && i < v->m.nr_vcpus; i++)
		r = vcpu_create(&v->m, i, cpuid, &v->ctl, &v->vcpus[i], err);
	if (r == 0)
		r = vcpu_set_boot_state(&v->vcpus[0], &entry, err);
	if (r < 0)
		return r;

	for (unsigned int i = 0; i < v->m.nr_vcpus; i++) {
		r = vcpu_start(&v->vcpus[i], err);
		if (r < 0)
			return r;
	}
	v->booted = true;
	log_info("VM started: %u vCPUs, %u MiB, kernel %s", v->m.nr_vcpus,
		 cfg->machine.mem_size_mib, cfg->boot.kernel_image_path);
	return 0;
}

int vmm_call(struct vmm *v, vmm_call_fn fn, void *arg, kiln_error_t *err)
{
	int r;

	pthread_mutex_lock(&v->call_lock);
	v->call_fn = fn;
	v->call_arg = arg;
	v->call_err = NULL;
	v->call_done = false;
	event_fd_signal(v->call_fd);
	while (!v->call_done && !v->call_closed)
		pthread_cond_wait(&v->call_cond, &v->call_lock);
	if (!v->call_done) {
		v->call_fn = NULL;
		pthread_mutex_unlock(&v->call_lock);
		return kiln_error_make(err, 0, "the microVM has stopped");
	}
	r = v->call_result;
	if (r < 0 && err)
		*err = v->call_err;
	else
		kiln_error_free(&v->call_err);
	v->call_err = NULL;
	v->call_fn = NULL;
	pthread_mutex_unlock(&v->call_lock);
	return r;
}

static unsigned int vcpus_started(const struct vmm *v)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < v->m.nr_vcpus; i++)
		n += v->vcpus[i].started;
	return n;
}

int vmm_pause(struct vmm *v, kiln_error_t *err)
{
	unsigned int n = vcpus_started(v);

	if (!v->booted)
		return kiln_error_make(err, 0, "the microVM is not running");
	pthread_mutex_lock(&v->ctl.lock);
	v->ctl.pause = true;
	pthread_mutex_unlock(&v->ctl.lock);
	for (unsigned int i = 0; i < v->m.nr_vcpus; i++)
		vcpu_kick(&v->vcpus[i]);
	pthread_mutex_lock(&v->ctl.lock);
	while (v->ctl.nr_parked < n && !v->ctl.stop)
		pthread_cond_wait(&v->ctl.cond, &v->ctl.lock);
	pthread_mutex_unlock(&v->ctl.lock);
	v->paused = true;
	return 0;
}

int vmm_resume(struct vmm *v, kiln_error_t *err)
{
	if (!v->booted)
		return kiln_error_make(err, 0, "the microVM is not running");
	pthread_mutex_lock(&v->ctl.lock);
	v->ctl.pause = false;
	pthread_cond_broadcast(&v->ctl.cond);
	pthread_mutex_unlock(&v->ctl.lock);
	v->paused = false;
	return 0;
}

static void vcpus_stop(struct vmm *v)
{
	vcpus_halt(v);
	for (unsigned int i = 0; i < v->m.nr_vcpus; i++) {
		if (v->vcpus[i].started)
			pthread_join(v->vcpus[i].thread, NULL);
		v->vcpus[i].started = false;
	}
}

int vmm_run(struct vmm *v)
{
	for (;;) {
		bool done;

		pthread_mutex_lock(&v->lock);
		done = v->done;
		pthread_mutex_unlock(&v->lock);
		if (done)
			break;
		if (evloop_run_once(&v->m.loop, -1) < 0) {
			vmm_request_stop(v, 1, "event loop failed");
			break;
		}
	}
	pthread_mutex_lock(&v->call_lock);
	v->call_closed = true;
	pthread_cond_broadcast(&v->call_cond);
	pthread_mutex_unlock(&v->call_lock);
	vcpus_stop(v);
	return v->exit_status;
}

void vmm_release(struct vmm *v)
{
	vcpus_stop(v);
	for (unsigned int i = 0; i < v->m.nr_vcpus; i++)
		vcpu_release(&v->vcpus[i]);
	vmm_devices_free(&v->devices);
	evloop_release(&v->m.loop);
	vm_release(&v->m);
	if (v->event_fd >= 0)
		close(v->event_fd);
	if (v->call_fd >= 0)
		close(v->call_fd);
	free(v->exit_msg);
	v->exit_msg = NULL;
}
