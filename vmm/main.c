/* kiln-vmm: a KVM microVM monitor with Firecracker's command line and API.
 *
 *   kiln-vmm --api-sock PATH [--id ID]        configure and start over the API
 *   kiln-vmm --config-file FILE [--no-api]    boot at once from a JSON file
 *   ... --no-seccomp                          without the seccomp filters
 *
 * The exit status is 0 when the guest resets or powers off, or the VMM is
 * stopped with SIGTERM/SIGINT; 1 when the VMM fails (one line on stderr);
 * 2 for bad usage. kiln-vmm knows nothing of containers: kiln's
 * per-container supervisor (runtime/supervisor.h) runs it as a child. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/api/api.h"
#include "vmm/devices/boot_timer.h"
#include "vmm/devices/i8042.h"
#include "vmm/seccomp.h"
#include "vmm/virtio/blk.h"
#include "vmm/vmm.h"

#define DEFAULT_API_SOCK "/run/kiln-vmm.socket"
#define CONFIG_FILE_MAX	 (1 << 20)

struct options {
	const char *api_sock;
	const char *config_file;
	const char *id;
	const char *log_path;
	const char *console;
	enum kiln_log_level level;
	bool no_api;
	bool no_seccomp;
	bool pvm_guest_kernel;
};

static struct vmm vmm;
static struct vmm_seccomp seccomp;
static struct timespec start_time;

static int backend_boot_on_main(struct vmm *v, void *arg, kiln_error_t *err)
{
	const struct vmm_config *cfg = arg;

	if (cfg->logger.present && cfg->logger.log_path) {
		enum kiln_log_level level = KILN_LOG_INFO;

		if (cfg->logger.level)
			kiln_log_parse_level(cfg->logger.level, &level);
		if (kiln_log_init("kiln-vmm", level, KILN_LOG_TEXT, cfg->logger.log_path, err) < 0)
			return kiln_error_wrap(err, "logger");
	}
	if (vmm_boot(v, cfg, err) < 0)
		return -1;
	/* The vCPU threads run, each under its own filter: a thread inherits
	 * its creator's filter, so the main thread's comes after them. The
	 * event loop has not yet run anything the guest asked for. */
	if (vmm_seccomp_install(v->ctl.seccomp, VMM_SECCOMP_VMM, err) < 0) {
		vmm_request_stop(v, 1, err && *err ? (*err)->msg : "seccomp");
		return -1;
	}
	return 0;
}

static int backend_instance_start(void *opaque, const struct vmm_config *cfg, kiln_error_t *err)
{
	return vmm_call(opaque, backend_boot_on_main, (void *)cfg, err);
}

static int backend_ctrl_alt_del(void *opaque, kiln_error_t *err)
{
	struct vmm *v = opaque;

	return i8042_send_ctrl_alt_del(vmm_device(v, &i8042_kind, NULL), err);
}

static int backend_pause(void *opaque, kiln_error_t *err)
{
	return vmm_pause(opaque, err);
}

static int backend_resume(void *opaque, kiln_error_t *err)
{
	return vmm_resume(opaque, err);
}

static int backend_drive_update(void *opaque, const char *drive_id, const char *path,
				kiln_error_t *err)
{
	struct vmm *v = opaque;

	return vmm_devices_update(&v->devices, &virtio_blk_kind, drive_id, path, err);
}

static struct vmm_api api;

/* FlushMetrics appends one JSON line to metrics_path: what the VMM knows. */
static int backend_flush_metrics(void *opaque, kiln_error_t *err)
{
	struct vmm *v = opaque;
	const char *path = api.config.metrics.metrics_path;
	struct timespec now, real;
	cleanup_free char *line = NULL;
	cleanup_close int fd = -1;

	if (!api.config.metrics.present || path == NULL)
		return kiln_error_make(err, 0, "metrics are not configured (PUT /metrics first)");
	clock_gettime(CLOCK_MONOTONIC, &now);
	clock_gettime(CLOCK_REALTIME, &real);
	line = xasprintf("{\"utc_timestamp_ms\":%lld,\"uptime_ms\":%lld,"
			 "\"guest_boot_time_us\":%lld,\"vcpus\":%u,\"drives\":%u}\n",
			 (long long)real.tv_sec * 1000 + real.tv_nsec / 1000000,
			 (long long)(now.tv_sec - start_time.tv_sec) * 1000 +
			     (now.tv_nsec - start_time.tv_nsec) / 1000000,
			 (long long)boot_timer_elapsed_us(vmm_device(v, &boot_timer_kind, NULL)),
			 v->m.nr_vcpus, vmm_devices_count(&v->devices, &virtio_blk_kind));
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return kiln_error_make(err, errno, "cannot open metrics file %s", path);
	if (kiln_write_all(fd, line, strlen(line)) < 0)
		return kiln_error_make(err, errno, "cannot write metrics file %s", path);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: kiln-vmm [--api-sock PATH | --no-api] [--config-file FILE] [--id ID]\n"
	    "                [--log-path FILE] [--level LEVEL] [--boot-timer]\n"
	    "  --api-sock PATH     serve the Firecracker-compatible API (default " DEFAULT_API_SOCK
	    ")\n"
	    "  --config-file FILE  configure from FILE (GET /vm/config's JSON) and boot\n"
	    "  --no-api            no API socket; needs --config-file\n"
	    "  --id ID             instance id reported by GET /\n"
	    "  --log-path FILE     log to FILE instead of stderr\n"
	    "  --level LEVEL       Error, Warning, Info (default) or Debug\n"
	    "  --boot-timer        accepted for Firecracker compatibility; always on\n"
	    "  --console FILE      write the guest console to FILE, not stdout\n"
	    "  --no-seccomp        run without the seccomp filters (on by default)\n"
	    "  --pvm-guest-kernel  the kernel is built as a PVM guest: boot it where /dev/kvm\n"
	    "                      is PVM (kvm_pvm), which hangs any other kernel\n"
	    "  --version, --help\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	    {"api-sock", required_argument, NULL, 'a'},
	    {"config-file", required_argument, NULL, 'c'},
	    {"no-api", no_argument, NULL, 'n'},
	    {"id", required_argument, NULL, 'i'},
	    {"log-path", required_argument, NULL, 'l'},
	    {"level", required_argument, NULL, 'L'},
	    {"boot-timer", no_argument, NULL, 'b'},
	    {"console", required_argument, NULL, 'C'},
	    {"no-seccomp", no_argument, NULL, 'S'},
	    {"pvm-guest-kernel", no_argument, NULL, 'P'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	*o = (struct options){.level = KILN_LOG_INFO};
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			o->api_sock = optarg;
			break;
		case 'c':
			o->config_file = optarg;
			break;
		case 'n':
			o->no_api = true;
			break;
		case 'i':
			o->id = optarg;
			break;
		case 'l':
			o->log_path = optarg;
			break;
		case 'L':
			if (kiln_log_parse_level(optarg, &o->level) < 0) {
				fprintf(stderr, "kiln-vmm: unknown log level '%s'\n", optarg);
				return 2;
			}
			break;
		case 'b':
			break;
		case 'C':
			o->console = optarg;
			break;
		case 'S':
			o->no_seccomp = true;
			break;
		case 'P':
			o->pvm_guest_kernel = true;
			break;
		case 'V':
			printf("kiln-vmm %s\n", KILN_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr,
				"kiln-vmm: unknown or incomplete option '%s' (see --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kiln-vmm: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (o->no_api && !o->config_file) {
		fprintf(stderr, "kiln-vmm: --no-api needs --config-file\n");
		return 2;
	}
	if (o->no_api && o->api_sock) {
		fprintf(stderr, "kiln-vmm: --no-api and --api-sock exclude each other\n");
		return 2;
	}
	if (!o->no_api && !o->api_sock)
		o->api_sock = DEFAULT_API_SOCK;
	return -1;
}

static void on_signal(void *opaque, uint32_t events)
{
	struct signalfd_siginfo si;
	int fd = *(int *)opaque;

	(void)events;
	if (read(fd, &si, sizeof(si)) == sizeof(si)) {
		log_info("stopping on signal %u", si.ssi_signo);
		vmm_request_stop(&vmm, 0, NULL);
	}
}

/* The guest console wants every key as typed. */
static struct termios saved_termios;
static bool termios_saved;

static void console_raw(int fd)
{
	struct termios t;

	if (!isatty(fd) || tcgetattr(fd, &saved_termios) < 0)
		return;
	t = saved_termios;
	cfmakeraw(&t);
	t.c_oflag |= OPOST; /* keep \n -> \r\n for the host terminal */
	if (tcsetattr(fd, TCSANOW, &t) == 0)
		termios_saved = true;
}

static void console_restore(int fd)
{
	if (termios_saved)
		tcsetattr(fd, TCSANOW, &saved_termios);
}

/* stdin feeds the guest console when it can be polled (a tty, pipe or
 * socket); a regular file or /dev/null cannot go into epoll. */
static int console_input_fd(void)
{
	struct stat st;

	if (fstat(STDIN_FILENO, &st) < 0)
		return -1;
	if (isatty(STDIN_FILENO) || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
		return STDIN_FILENO;
	return -1;
}

static int run(const struct options *o, kiln_error_t *err)
{
	const struct vmm_api_backend backend = {
	    .opaque = &vmm,
	    .instance_start = backend_instance_start,
	    .send_ctrl_alt_del = backend_ctrl_alt_del,
	    .flush_metrics = backend_flush_metrics,
	    .pause = backend_pause,
	    .resume = backend_resume,
	    .drive_update = backend_drive_update,
	};
	sigset_t sigs;
	cleanup_close int console_fd = -1;
	int sfd, r, status;

	clock_gettime(CLOCK_MONOTONIC, &start_time);
	if (o->console) {
		console_fd = open(o->console, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (console_fd < 0)
			return kiln_error_make(err, errno, "cannot open console file %s",
					       o->console);
	}
	r = vmm_init(&vmm, console_input_fd(), console_fd >= 0 ? console_fd : STDOUT_FILENO, err);
	if (r < 0)
		return r;
	vmm.pvm_guest_kernel = o->pvm_guest_kernel;
	vmm_api_init(&api, o->id, &backend);
	/* Compiled before any thread starts; each thread loads its own.
	 * KILN_VMM_SECCOMP_SELFTEST is for the tests only. */
	if (!o->no_seccomp) {
		r = vmm_seccomp_init(&seccomp, getenv("KILN_VMM_SECCOMP_SELFTEST"), err);
		if (r < 0)
			return r;
		vmm.ctl.seccomp = &seccomp;
		api.seccomp = &seccomp;
	}

	/* SIGTERM and SIGINT stop the VM from the main loop; blocked before
	 * any thread starts so that every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return kiln_error_make(err, errno, "signalfd");
	r = evloop_add(&vmm.m.loop, sfd, EPOLLIN, on_signal, &sfd, err);
	if (r < 0)
		return r;

	if (o->config_file) {
		cleanup_free char *json = NULL;
		size_t len;

		r = kiln_read_file(o->config_file, CONFIG_FILE_MAX, &json, &len, err);
		if (r == 0)
			r = vmm_config_parse(&api.config, json, len, err);
		if (r < 0)
			return kiln_error_wrap(err, "config file %s", o->config_file);
	}
	if (!o->no_api) {
		r = vmm_api_server_start(&api, o->api_sock, err);
		if (r < 0)
			return r;
	}
	console_raw(STDIN_FILENO);
	if (o->config_file) {
		/* Straight from the main thread: nothing runs the loop yet. */
		r = backend_boot_on_main(&vmm, &api.config, err);
		if (r == 0)
			api.state = VMM_STATE_RUNNING;
		if (r < 0) {
			console_restore(STDIN_FILENO);
			return r;
		}
	}
	status = vmm_run(&vmm);
	console_restore(STDIN_FILENO);
	vmm_api_server_stop(&api);
	close(sfd);
	if (vmm.exit_msg)
		return kiln_error_make(err, 0, "%s", vmm.exit_msg);
	return status;
}

int main(int argc, char **argv)
{
	cleanup_error kiln_error_t err = NULL;
	struct options o;
	int r;

	/* run through an fd (kiln's jail: fexecve), a 6.1 kernel names the
	 * process after the fd's number */
	prctl(PR_SET_NAME, "kiln-vmm");
	r = parse_options(argc, argv, &o);
	if (r >= 0)
		return r;
	if (kiln_log_init("kiln-vmm", o.level, KILN_LOG_TEXT, o.log_path, &err) < 0)
		return kiln_error_print_and_free(&err, "kiln-vmm");
	r = run(&o, &err);
	vmm_api_release(&api);
	vmm_release(&vmm);
	vmm_seccomp_release(&seccomp);
	if (r < 0)
		return kiln_error_print_and_free(&err, "kiln-vmm");
	return r;
}
