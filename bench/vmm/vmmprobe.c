/* vmmprobe: starts a VMM process and times it from the outside, the same way
 * for every VMM (bench/vmm/run builds and uses it).
 *
 *   vmmprobe api --sock PATH --proto http|qmp [--timeout S] [--log FILE] -- CMD...
 *     Time from just before fork() until PATH accepts a connection and
 *     answers: `GET /` gets an HTTP status line (http), or the QMP greeting
 *     arrives (qmp). Then the on-CPU time of all the process's threads so
 *     far is read from /proc/PID/task/TID/schedstat (ns resolution), and the
 *     process is killed. Prints: wall_ms= cpu_ms=
 *
 *   vmmprobe boot [--marker STR] [--timeout S] [--console FILE] [--log FILE]
 *                 [--smaps GUEST_MIB [--settle MS] [--stop-after-smaps]] -- CMD...
 *     Runs CMD with stdout and stderr on pipes, timestamping what arrives.
 *     Prints: up_ms= (first stdout line containing STR, default
 *     KILN-GUEST-UP), exit_ms= (the process has ended), status=,
 *     cpu_ms= (rusage of the whole run, all threads) and boot_timer_us=
 *     (kiln-vmm's "Guest-boot-time = N us" line on stderr, if any).
 *     With --smaps: MS milliseconds (default 1000) after the marker,
 *     /proc/PID/smaps is read; mappings at least GUEST_MIB large are guest
 *     RAM (Firecracker's memory cop uses the same rule), the rest is the
 *     VMM's own. Prints rss_kb= guest_rss_kb= overhead_rss_kb=
 *     overhead_anon_kb= (the part of the overhead in anonymous memory:
 *     heap, stacks, data rather than code) guest_maps= . Then the run goes
 *     on; with --stop-after-smaps the process is sent SIGTERM instead
 *     (SIGKILL 30 s later) and exit_ms is -1.
 *
 *   vmmprobe exec -- CMD...
 *     Time and CPU (rusage) of CMD from just before fork() to its exit: the
 *     floor any process start costs on this host. Prints: wall_ms= cpu_ms=
 *
 * Exit status: 0 when the measurement was taken, 1 when it failed (one line
 * on stderr), 2 for bad usage. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "vmmprobe: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

static int open_log(const char *path)
{
	int fd;

	if (path == NULL)
		return open("/dev/null", O_WRONLY | O_CLOEXEC);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("cannot create %s", path);
	return fd;
}

/* fork+exec CMD with stdin from /dev/null and the given stdout/stderr. */
static pid_t spawn(char **cmd, int out, int err)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);

		dup2(in, 0);
		dup2(out, 1);
		dup2(err, 2);
		execvp(cmd[0], cmd);
		fprintf(stderr, "vmmprobe: cannot run %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

/* Sum of se.sum_exec_runtime (ns) over the live threads of PID. */
static double task_cpu_ms(pid_t pid)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	double ns = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char p[512];
		unsigned long long run = 0;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s/schedstat", path, e->d_name);
		f = fopen(p, "r");
		if (f == NULL)
			continue;
		if (fscanf(f, "%llu", &run) == 1)
			ns += (double)run;
		fclose(f);
	}
	closedir(d);
	return ns / 1e6;
}

/* Whether the API at PATH answers now: connect, send/receive, check. */
static bool api_answers(const char *path, bool qmp)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char buf[512];
	size_t have = 0;
	int fd;
	bool ok = false;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto out;
	if (!qmp) {
		static const char req[] =
		    "GET / HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";

		if (write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
			goto out;
	}
	/* Read until the answer is recognisable (or 5 s pass). */
	while (have < sizeof(buf) - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			break;
		n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = 0;
		if (qmp ? strstr(buf, "\"QMP\"") != NULL
			: (strncmp(buf, "HTTP/1.", 7) == 0 && strstr(buf, "\r\n") != NULL)) {
			ok = true;
			break;
		}
	}
out:
	close(fd);
	return ok;
}

static int cmd_api(int argc, char **argv)
{
	const char *sock = NULL, *proto = "http", *log = NULL;
	double timeout_ms = 60000, t0, ready = -1, cpu;
	int i, logfd, status;
	pid_t pid;

	for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (i + 1 >= argc)
			die("option %s needs a value", argv[i]);
		if (strcmp(argv[i], "--sock") == 0)
			sock = argv[++i];
		else if (strcmp(argv[i], "--proto") == 0)
			proto = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0)
			timeout_ms = atof(argv[++i]) * 1000;
		else if (strcmp(argv[i], "--log") == 0)
			log = argv[++i];
		else
			die("unknown option %s", argv[i]);
	}
	if (sock == NULL || i + 1 >= argc)
		die("%s", "usage: vmmprobe api --sock PATH --proto http|qmp -- CMD...");
	unlink(sock);
	logfd = open_log(log);
	t0 = now_ms();
	pid = spawn(argv + i + 1, logfd, logfd);
	close(logfd);
	for (;;) {
		double t;

		if (api_answers(sock, strcmp(proto, "qmp") == 0)) {
			ready = now_ms() - t0;
			break;
		}
		t = now_ms();
		if (t - t0 > timeout_ms || waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(200);
	}
	cpu = task_cpu_ms(pid);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	unlink(sock);
	if (ready < 0)
		die("%s never answered (see the log)", sock);
	printf("wall_ms=%.2f cpu_ms=%.2f\n", ready, cpu);
	return 0;
}

/* Sums one process's smaps: guest RAM (mappings >= guest_kb) and the rest. */
static int read_smaps(pid_t pid, unsigned long guest_kb)
{
	char path[64], line[512];
	unsigned long rss = 0, grss = 0, anon = 0, size = 0, v;
	int maps = 0;
	bool guest = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;

		char perms[8];

		/* A mapping's header: "lo-hi perms offset dev inode [path]".
		 * Guest RAM is writable; a large PROT_NONE reservation (a malloc
		 * arena's, say) is not. */
		if (sscanf(line, "%lx-%lx %7s ", &lo, &hi, perms) == 3) {
			size = (hi - lo) / 1024;
			guest = size >= guest_kb && strncmp(perms, "rw", 2) == 0;
			maps += guest;
			continue;
		}
		if (sscanf(line, "Rss: %lu kB", &v) == 1) {
			rss += v;
			if (guest)
				grss += v;
		} else if (!guest && sscanf(line, "Anonymous: %lu kB", &v) == 1) {
			anon += v;
		}
	}
	fclose(f);
	printf(
	    "rss_kb=%lu guest_rss_kb=%lu overhead_rss_kb=%lu overhead_anon_kb=%lu guest_maps=%d\n",
	    rss, grss, rss - grss, anon, maps);
	return 0;
}

/* Looks for kiln-vmm's boot-timer line in what arrived on stderr. */
static long long boot_timer_us(const char *s)
{
	const char *p = strstr(s, "Guest-boot-time = ");

	return p ? atoll(p + strlen("Guest-boot-time = ")) : -1;
}

static int cmd_boot(int argc, char **argv)
{
	const char *marker = "KILN-GUEST-UP", *console = NULL, *log = NULL;
	double timeout_ms = 600000, settle_ms = 1000, t0, up = -1, exited = -1, deadline;
	unsigned long smaps_mib = 0;
	int i, o[2], e[2], confd, logfd, pidfd, status = 0;
	bool out_open = true, err_open = true, alive = true, smaps_done = false, stopped = false;
	bool timed_out = false, smaps_stop = false;
	char line[4096], errbuf[65536];
	size_t linelen = 0, errlen = 0;
	struct rusage ru;
	pid_t pid;

	for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--stop-after-smaps") == 0) {
			smaps_stop = true;
			continue;
		}
		if (i + 1 >= argc)
			die("option %s needs a value", argv[i]);
		if (strcmp(argv[i], "--marker") == 0)
			marker = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0)
			timeout_ms = atof(argv[++i]) * 1000;
		else if (strcmp(argv[i], "--console") == 0)
			console = argv[++i];
		else if (strcmp(argv[i], "--log") == 0)
			log = argv[++i];
		else if (strcmp(argv[i], "--smaps") == 0)
			smaps_mib = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--settle") == 0)
			settle_ms = atof(argv[++i]);
		else
			die("unknown option %s", argv[i]);
	}
	if (i + 1 >= argc)
		die("%s", "usage: vmmprobe boot [options] -- CMD...");
	confd = open_log(console);
	logfd = open_log(log);
	if (pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	t0 = now_ms();
	pid = spawn(argv + i + 1, o[1], e[1]);
	close(o[1]);
	close(e[1]);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		die("pidfd_open: %s", strerror(errno));
	deadline = t0 + timeout_ms;
	errbuf[0] = 0;

	while (alive || out_open || err_open) {
		struct pollfd p[3] = {{.fd = out_open ? o[0] : -1, .events = POLLIN},
				      {.fd = err_open ? e[0] : -1, .events = POLLIN},
				      {.fd = alive ? pidfd : -1, .events = POLLIN}};
		double t = now_ms(), wait_ms = deadline - t;
		char buf[4096];
		ssize_t n;

		if (smaps_mib && up >= 0 && !smaps_done && alive) {
			double due = t0 + up + settle_ms;

			if (t >= due) {
				if (read_smaps(pid, smaps_mib * 1024) < 0)
					die("%s", "cannot read the VMM's smaps");
				smaps_done = true;
				if (smaps_stop) {
					kill(pid, SIGTERM);
					stopped = true;
					deadline = t + 30000;
				}
				continue;
			}
			if (due - t < wait_ms)
				wait_ms = due - t;
		}
		if (wait_ms <= 0) {
			if (!alive)
				break; /* pipes held open by someone else */
			kill(pid, SIGKILL);
			timed_out = !stopped;
			deadline = t + 10000;
			wait_ms = 10000;
			stopped = true;
		}
		if (poll(p, 3, (int)wait_ms + 1) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		t = now_ms();
		if (p[2].revents) {
			exited = t - t0;
			alive = false;
		}
		if (p[0].revents) {
			n = read(o[0], buf, sizeof(buf));
			if (n <= 0) {
				out_open = false;
			} else {
				if (write(confd, buf, (size_t)n) < 0)
					die("%s", "cannot write the console file");
				for (ssize_t k = 0; k < n; k++) {
					if (linelen < sizeof(line) - 1)
						line[linelen++] = buf[k];
					if (buf[k] == '\n' || k == n - 1) {
						line[linelen] = 0;
						if (up < 0 && strstr(line, marker) != NULL)
							up = t - t0;
						if (buf[k] == '\n')
							linelen = 0;
					}
				}
			}
		}
		if (p[1].revents) {
			n = read(e[0], buf, sizeof(buf));
			if (n <= 0) {
				err_open = false;
			} else {
				if (write(logfd, buf, (size_t)n) < 0)
					die("%s", "cannot write the log file");
				if (errlen + (size_t)n < sizeof(errbuf) - 1) {
					memcpy(errbuf + errlen, buf, (size_t)n);
					errlen += (size_t)n;
					errbuf[errlen] = 0;
				}
			}
		}
	}
	if (wait4(pid, &status, 0, &ru) < 0)
		die("wait4: %s", strerror(errno));
	if (timed_out)
		die("%s", "the VMM did not finish in time; killed");
	if (up < 0)
		die("the marker '%s' never appeared on the console", marker);
	if (smaps_mib && !smaps_done)
		die("%s", "the VMM ended before its memory could be read");
	printf("up_ms=%.2f exit_ms=%.2f status=%d cpu_ms=%.2f boot_timer_us=%lld\n", up,
	       stopped ? -1.0 : exited,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
	       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
		   (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3,
	       boot_timer_us(errbuf));
	return 0;
}

/* A floor for the API figures: fork+exec of CMD until it has exited. */
static int cmd_exec(int argc, char **argv)
{
	struct rusage ru;
	double t0, t;
	int status, logfd;
	pid_t pid;

	if (argc < 2 || strcmp(argv[0], "--") != 0)
		die("%s", "usage: vmmprobe exec -- CMD...");
	logfd = open_log(NULL);
	t0 = now_ms();
	pid = spawn(argv + 1, logfd, logfd);
	if (wait4(pid, &status, 0, &ru) < 0)
		die("wait4: %s", strerror(errno));
	t = now_ms() - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("%s failed", argv[1]);
	printf("wall_ms=%.2f cpu_ms=%.2f\n", t,
	       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
		   (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "exec") == 0)
		return cmd_exec(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "api") == 0)
		return cmd_api(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "boot") == 0)
		return cmd_boot(argc - 2, argv + 2);
	fprintf(stderr, "usage: vmmprobe api|boot|exec [options] -- CMD...\n");
	return 2;
}
