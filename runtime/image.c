/* The container's disk: an ext4 image of the bundle's rootfs (mkfs.ext4
 * -d), sized from the tree with room to spare. The host files the spec
 * bind-mounts are not copied in: they are volumes (runtime/volumes.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/io.h"
#include "common/util.h"
#include "runtime/runtime.h"

static unsigned long long tree_bytes, tree_inodes;

static int count_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path;
	(void)type;
	(void)ftw;
	tree_inodes++;
	/* data rounded to blocks, plus an inode's share of metadata */
	tree_bytes += ((unsigned long long)st->st_size + 4095) / 4096 * 4096 + 256;
	return 0;
}

void kiln_child_fail(int fd, const char *fmt, ...)
{
	int e = errno;
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	dprintf(fd, "%s: %s\n", what, strerror(e));
	_exit(127);
}

/* Runs argv, its output kept; a failure names the program and its last
 * line of output. */
int kiln_run_tool(char *const argv[], kiln_error_t *err)
{
	int pipefd[2];
	cleanup_free char *out = NULL;
	int status;
	pid_t pid;
	char *last;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return kiln_error_make(err, errno, "pipe");
	pid = fork();
	if (pid < 0)
		return kiln_error_make(err, errno, "fork");
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		execvp(argv[0], argv);
		dprintf(STDERR_FILENO, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	kiln_read_fd_all(pipefd[0], 1 << 20, &out, NULL, NULL);
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (out == NULL)
		out = xstrdup("");
	while (*out && out[strlen(out) - 1] == '\n')
		out[strlen(out) - 1] = '\0';
	last = strrchr(out, '\n');
	return kiln_error_make(err, 0, "%s failed: %s", argv[0], last ? last + 1 : out);
}

/* An ext4 image of rootfs with free_mib to spare: the container's disk. */
int kiln_image_build(const char *rootfs, const char *img, unsigned free_mib, kiln_error_t *err)
{
	char size_arg[32], inodes_arg[32];
	unsigned long long bytes;
	cleanup_close int fd = -1;

	tree_bytes = tree_inodes = 0;
	if (nftw(rootfs, count_entry, 64, FTW_PHYS) < 0)
		return kiln_error_make(err, errno, "root.path %s", rootfs);
	bytes = tree_bytes + tree_bytes / 8 + (unsigned long long)free_mib * 1048576 + (8u << 20);
	bytes = (bytes + 1048575) / 1048576 * 1048576;
	fd = open(img, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0)
		return kiln_error_make(err, errno, "rootfs image %s", img);
	snprintf(size_arg, sizeof(size_arg), "%lluk", bytes / 1024);
	snprintf(inodes_arg, sizeof(inodes_arg), "%llu", tree_inodes + tree_inodes / 4 + 4096);
	{
		char *const argv[] = {
		    "mkfs.ext4",      "-q", "-F",	"-O", "^has_journal", "-E",
		    "root_owner=0:0", "-N", inodes_arg, "-d", (char *)rootfs, (char *)img,
		    size_arg,	      NULL};

		if (kiln_run_tool(argv, err) < 0)
			return kiln_error_wrap(err, "building the rootfs image");
	}
	return 0;
}
