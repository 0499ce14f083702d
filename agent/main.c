/* kiln-agent: PID 1 of a kiln guest. Brings the guest up (init.c), then
 * serves the agent protocol on vsock (server.c) until `shutdown`. Run as
 * another PID (for debugging) it skips the PID 1 duties.
 *
 * usage: kiln-agent [--control-port N] [--stdio-port N] [--debug]
 * Kernel command line: kiln.debug turns on debug logging. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/vm_sockets.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/cgroup.h"
#include "agent/init.h"
#include "agent/rootfs.h"
#include "agent/server.h"
#include "common/io.h"
#include "common/log.h"
#include "common/util.h"

static int vsock_listen(unsigned port, kiln_error_t *err)
{
	struct sockaddr_vm addr = {
	    .svm_family = AF_VSOCK,
	    .svm_cid = VMADDR_CID_ANY,
	    .svm_port = port,
	};
	cleanup_close int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return kiln_error_make(err, errno,
				       "vsock socket (is vmw_vsock_virtio_transport "
				       "loaded?)");
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return kiln_error_make(err, errno, "vsock bind port %u", port);
	if (listen(fd, 64) < 0)
		return kiln_error_make(err, errno, "vsock listen port %u", port);
	return TAKE_FD(fd);
}

static bool cmdline_has(const char *word)
{
	cleanup_free char *cmdline = NULL;
	kiln_error_t err = NULL;

	if (kiln_read_file("/proc/cmdline", 65536, &cmdline, NULL, &err) < 0) {
		kiln_error_free(&err);
		return false;
	}
	for (char *save = NULL, *w = strtok_r(cmdline, " \n", &save); w != NULL;
	     w = strtok_r(NULL, " \n", &save))
		if (streq(w, word))
			return true;
	return false;
}

static int agent_main(bool pid1, unsigned ctl_port, unsigned stdio_port, kiln_error_t *err)
{
	struct agent_server srv;
	struct agent_runtime rt = {
	    .run_dir = AGENT_RUN_DIR,
	    .sysblock = "/sys/block",
	    .cgroup_root = AGENT_CGROUP_ROOT,
	};
	cleanup_close int ctl = -1, stdio_fd = -1, pidns = -1;
	int r;

	(void)pid1;
	if (!agent_is_mountpoint(AGENT_CGROUP_ROOT)) {
		log_warning("no cgroup2 at %s: stats and signal-all are off", AGENT_CGROUP_ROOT);
		rt.cgroup_root = NULL;
	}
	pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (pidns < 0)
		return kiln_error_make(err, errno, "open /proc/self/ns/pid");
	rt.self_pidns = pidns;
	ctl = vsock_listen(ctl_port, err);
	if (ctl < 0)
		return -1;
	stdio_fd = vsock_listen(stdio_port, err);
	if (stdio_fd < 0)
		return -1;
	if (agent_server_init(&srv, TAKE_FD(ctl), TAKE_FD(stdio_fd), &rt, err) < 0) {
		agent_server_release(&srv);
		return -1;
	}
	log_info("serving on vsock ports %u (control) and %u (stdio)", ctl_port, stdio_port);
	r = agent_server_run(&srv, err);
	agent_server_release(&srv);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"control-port", required_argument, NULL, 'c'},
	    {"stdio-port", required_argument, NULL, 's'},
	    {"debug", no_argument, NULL, 'd'},
	    {NULL, 0, NULL, 0},
	};
	unsigned ctl_port = PROTO_CONTROL_PORT, stdio_port = PROTO_STDIO_PORT;
	bool pid1 = getpid() == 1, debug = false;
	kiln_error_t err = NULL;
	int o;

	if (pid1)
		agent_init_console();
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			ctl_port = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			stdio_port = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			debug = true;
			break;
		default:
			if (!pid1)
				return 2;
		}
	}
	if (pid1) {
		/* Modules come from the initramfs, so they load before the
		 * switch to the agent's own root. */
		int failed = agent_init_modules("/lib/modules");

		if (failed > 0)
			log_error("%d kernel modules did not load", failed);
		if (agent_init_switch_root(&err) < 0 || agent_init_mount_all("", &err) < 0)
			agent_init_fatal(err->msg);
	}
	debug = debug || cmdline_has("kiln.debug");
	kiln_log_init("kiln-agent", debug ? KILN_LOG_DEBUG : KILN_LOG_INFO, KILN_LOG_TEXT, NULL,
		      NULL);
	if (agent_main(pid1, ctl_port, stdio_port, &err) < 0) {
		if (pid1) {
			agent_init_fatal(err->msg);
		}
		return kiln_error_print_and_free(&err, "kiln-agent");
	}
	if (pid1)
		agent_init_poweroff();
	return 0;
}
