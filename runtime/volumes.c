/* Volumes by virtio-fs (runtime/volumes.h). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/runtime.h"
#include "runtime/volumes.h"

#define VIRTIOFSD_FD 3

size_t kiln_volumes_add(struct kiln_volumes *vs, char *source, bool dir, bool readonly,
			bool recursive)
{
	vs->v = xrealloc(vs->v, (vs->n + 1) * sizeof(*vs->v));
	vs->v[vs->n] = (struct kiln_volume){
	    .source = source, .dir = dir, .readonly = readonly, .recursive = recursive};
	return vs->n++;
}

void kiln_volumes_release(struct kiln_volumes *vs)
{
	for (size_t i = 0; i < vs->n; i++)
		free(vs->v[i].source);
	free(vs->v);
	*vs = (struct kiln_volumes){0};
}

int kiln_volumes_make_share(const char *dir, const struct kiln_volumes *vs, kiln_error_t *err)
{
	cleanup_close int dfd = -1;

	if (mkdir(dir, 0700) < 0)
		return kiln_error_make(err, errno, "volumes: %s", dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return kiln_error_make(err, errno, "volumes: %s", dir);
	for (size_t i = 0; i < vs->n; i++) {
		char name[24];
		int fd;

		snprintf(name, sizeof(name), "%zu", i);
		if (vs->v[i].dir) {
			/* the mode of a mount point does not show through the bind */
			if (mkdirat(dfd, name, 0700) < 0)
				return kiln_error_make(err, errno, "volumes: %s/%s", dir, name);
			continue;
		}
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return kiln_error_make(err, errno, "volumes: %s/%s", dir, name);
		close(fd);
	}
	return 0;
}

void kiln_volumes_emit(kiln_json_gen_t *g, const struct kiln_volumes *vs)
{
	kiln_json_gen_array_open(g);
	for (size_t i = 0; i < vs->n; i++) {
		const struct kiln_volume *v = &vs->v[i];

		kiln_json_gen_map_open(g);
		kiln_json_gen_kv_string(g, "source", v->source);
		kiln_json_gen_kv_bool(g, "dir", v->dir);
		kiln_json_gen_kv_bool(g, "readonly", v->readonly);
		kiln_json_gen_kv_bool(g, "recursive", v->recursive);
		kiln_json_gen_map_close(g);
	}
	kiln_json_gen_array_close(g);
}

int kiln_volumes_parse(const kiln_json_t *node, const char *where, struct kiln_volumes *vs,
		       kiln_error_t *err)
{
	*vs = (struct kiln_volumes){0};
	if (!kiln_json_is_array(node))
		return kiln_error_make(err, 0, "%s: expected an array", where);
	for (size_t i = 0; i < kiln_json_array_len(node); i++) {
		const kiln_json_t *e = kiln_json_array_get(node, i);
		const char *src = NULL;
		bool dir = false, ro = false, rec = false;
		int r = kiln_json_get_string(e, "source", &src, err);

		if (r == 1)
			r = kiln_error_make(err, 0, "%s[%zu].source: required", where, i);
		if (r < 0 || kiln_json_get_bool(e, "dir", &dir, err) < 0 ||
		    kiln_json_get_bool(e, "readonly", &ro, err) < 0 ||
		    kiln_json_get_bool(e, "recursive", &rec, err) < 0) {
			kiln_volumes_release(vs);
			return -1;
		}
		if (src[0] != '/') {
			kiln_volumes_release(vs);
			return kiln_error_make(err, 0, "%s[%zu].source %s: not an absolute path",
					       where, i, src);
		}
		kiln_volumes_add(vs, xstrdup(src), dir, ro, rec);
	}
	return 0;
}

void kiln_virtiofsd_argv(const char *virtiofsd, const char *share, const char *cache, int fd,
			 struct kiln_virtiofsd_argv *a)
{
	size_t n = 0;

	*a = (struct kiln_virtiofsd_argv){0};
	a->owned[0] = xasprintf("--fd=%d", fd);
	a->owned[1] = xasprintf("source=%s", share);
	a->owned[2] = xasprintf("cache=%s", cache);
	a->argv[n++] = (char *)virtiofsd;
	a->argv[n++] = a->owned[0];
	a->argv[n++] = "-f";
	a->argv[n++] = "-o";
	a->argv[n++] = a->owned[1];
	a->argv[n++] = "-o";
	a->argv[n++] = a->owned[2];
	/* its own mount, pid and network namespaces, pivoted into the share */
	a->argv[n++] = "-o";
	a->argv[n++] = "sandbox=namespace";
	/* the guest gets no xattrs: no security.capability a host tool would
	 * trust on a file the guest wrote */
	a->argv[n++] = "-o";
	a->argv[n++] = "no_xattr";
	a->argv[n++] = "-o";
	a->argv[n++] = "log_level=err";
	a->argv[n] = NULL;
}

void kiln_virtiofsd_argv_free(struct kiln_virtiofsd_argv *a)
{
	for (size_t i = 0; i < ARRAY_SIZE(a->owned); i++)
		free(a->owned[i]);
	*a = (struct kiln_virtiofsd_argv){0};
}

/* In the child, in its own mount namespace: source onto share/<i>. */
static void bind_volume(const char *share, size_t i, const struct kiln_volume *v)
{
	cleanup_free char *entry = xasprintf("%s/%zu", share, i);

	if (mount(v->source, entry, NULL, MS_BIND | (v->recursive ? MS_REC : 0), NULL) < 0)
		kiln_child_fail(STDERR_FILENO, "virtiofsd: cannot bind %s", v->source);
	if (v->readonly) {
		/* only the read-only flag changes; with rbind, on every mount
		 * under it too (a plain remount would reach the top one) */
		struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};

		if (mount_setattr(AT_FDCWD, entry, v->recursive ? AT_RECURSIVE : 0, &attr,
				  sizeof(attr)) < 0)
			kiln_child_fail(STDERR_FILENO, "virtiofsd: cannot make read-only %s",
					v->source);
	}
}

pid_t kiln_virtiofsd_spawn(const struct kiln_virtiofsd_opts *o, kiln_error_t *err)
{
	struct kiln_virtiofsd_argv a;
	pid_t parent = getpid();
	pid_t pid;
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null_fd < 0)
		return kiln_error_make(err, errno, "/dev/null");
	kiln_virtiofsd_argv(o->virtiofsd, o->share, o->cache, VIRTIOFSD_FD, &a);
	pid = fork();
	if (pid < 0) {
		close(null_fd);
		kiln_virtiofsd_argv_free(&a);
		return kiln_error_make(err, errno, "fork");
	}
	if (pid == 0) {
		sigset_t all;

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		/* a group of its own: its sandboxed worker is in it, and a
		 * terminal's ^C for the container does not reach it */
		setpgid(0, 0);
		if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(null_fd, STDOUT_FILENO) < 0 ||
		    dup2(o->log_fd, STDERR_FILENO) < 0 || dup2(o->listen_fd, VIRTIOFSD_FD) < 0)
			_exit(127);
		/* dup2 onto itself keeps close-on-exec */
		if (fcntl(VIRTIOFSD_FD, F_SETFD, 0) < 0)
			_exit(127);
		close_range(VIRTIOFSD_FD + 1, ~0u, 0);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		if (unshare(CLONE_NEWNS) < 0)
			kiln_child_fail(STDERR_FILENO, "virtiofsd: new mount namespace");
		/* the binds stay here: nothing reaches the host's mount table */
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			kiln_child_fail(STDERR_FILENO, "virtiofsd: making / private");
		for (size_t i = 0; i < o->volumes->n; i++)
			bind_volume(o->share, i, &o->volumes->v[i]);
		execv(o->virtiofsd, a.argv);
		kiln_child_fail(STDERR_FILENO, "virtiofsd: cannot run %s", o->virtiofsd);
	}
	setpgid(pid, pid); /* the child does it too: whichever runs first */
	close(null_fd);
	kiln_virtiofsd_argv_free(&a);
	return pid;
}
