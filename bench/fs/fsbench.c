/* The workload bench/fs/run runs inside a container, timed from inside so
 * that the VM's boot and the runtime's start-up do not count:
 *
 *   fsbench write FILE MIB     writes MIB MiB in 1 MiB writes, fsync, close
 *   fsbench read FILE          reads FILE back in 1 MiB reads
 *   fsbench time NAME CMD...   runs CMD (PATH searched), waits for it
 *
 * Each prints one `NAME_ms=...` line (write and read also `NAME_mibs=`)
 * and exits non-zero, with one line on stderr, when anything fails. Static,
 * so that it runs in a busybox rootfs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "fsbench: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

static void report(const char *name, double ms, double bytes)
{
	printf("%s_ms=%.1f\n", name, ms);
	if (bytes > 0)
		printf("%s_mibs=%.1f\n", name, bytes / (1 << 20) / (ms / 1e3));
}

static int do_write(const char *path, long mib)
{
	static char buf[CHUNK];
	double t0;
	int fd;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 131 + 7);
	t0 = now_ms();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail("open", path);
	for (long i = 0; i < mib; i++) {
		size_t done = 0;

		while (done < sizeof(buf)) {
			ssize_t n = write(fd, buf + done, sizeof(buf) - done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return fail("write", path);
			done += (size_t)n;
		}
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		return fail("fsync", path);
	report("write", now_ms() - t0, (double)mib * CHUNK);
	return 0;
}

static int do_read(const char *path)
{
	static char buf[CHUNK];
	double t0 = now_ms(), total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return fail("open", path);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("read", path);
		total += (double)n;
	}
	close(fd);
	report("read", now_ms() - t0, total);
	return 0;
}

static int do_time(const char *name, char **argv)
{
	double t0 = now_ms();
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return fail("fork for", name);
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "fsbench: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return fail("waitpid for", name);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "fsbench: %s: %s failed (status 0x%x)\n", name, argv[0], st);
		return 1;
	}
	report(name, now_ms() - t0, 0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "write") == 0)
		return do_write(argv[2], strtol(argv[3], NULL, 10));
	if (argc == 3 && strcmp(argv[1], "read") == 0)
		return do_read(argv[2]);
	if (argc >= 4 && strcmp(argv[1], "time") == 0)
		return do_time(argv[2], argv + 3);
	fprintf(stderr, "usage: fsbench write FILE MIB | read FILE | time NAME CMD...\n");
	return 2;
}
