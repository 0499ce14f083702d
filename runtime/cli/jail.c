/* `kiln jail`: kiln-vmm's jail for people who drive kiln-vmm through its API
 * themselves, with Firecracker's jailer's flag names where they fit:
 *
 *   kiln jail --id ID --exec-file PATH --uid UID --gid GID
 *             [--chroot-base-dir DIR] [--netns PATH] [--cgroup DIR]
 *             [--resource-limit no-file=N|fsize=N]... [--bind FILE]... [--tun]
 *             [-- ARGS...]
 *
 * The jail is <chroot-base-dir>/<exec-file's name>/<id>/root (default base
 * /srv/jailer), made when missing; put the VM's files there first (or give
 * them with --bind: read-only, by their base name). The program is run as
 * `<name> ARGS...` with that directory as its root (runtime/jail.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "common/util.h"
#include "runtime/cli/cli.h"
#include "runtime/jail.h"

#define DEFAULT_CHROOT_BASE "/srv/jailer"

struct jail_opts {
	const char *id, *exec_file, *base, *netns, *cgroup;
	struct kiln_jail jail;
	bool have_uid, have_gid;
};

static int parse_id_number(const char *flag, const char *s, unsigned *out, kiln_error_t *err)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || *end || end == s || n == 0 || n >= 4294967295ul)
		return kiln_error_make(err, 0, "%s: expected a non-zero uid/gid number, got \"%s\"",
				       flag, s);
	*out = (unsigned)n;
	return 0;
}

static int parse_limit(const char *s, struct kiln_jail *j, kiln_error_t *err)
{
	const char *eq = strchr(s, '=');
	char *end;
	unsigned long long n;

	if (eq == NULL)
		goto bad;
	errno = 0;
	n = strtoull(eq + 1, &end, 10);
	if (errno || *end || end == eq + 1 || n == 0)
		goto bad;
	if (strncmp(s, "no-file=", 8) == 0)
		j->nofile = n;
	else if (strncmp(s, "fsize=", 6) == 0)
		j->fsize = n;
	else
		goto bad;
	return 0;
bad:
	return kiln_error_make(
	    err, 0, "--resource-limit: expected no-file=N or fsize=N (N > 0), got \"%s\"", s);
}

static int parse_jail(int argc, char **argv, struct jail_opts *o, kiln_error_t *err)
{
	enum {
		O_ID = 256,
		O_EXEC,
		O_UID,
		O_GID,
		O_BASE,
		O_NETNS,
		O_CGROUP,
		O_LIMIT,
		O_BIND,
		O_TUN
	};
	static const struct option opts[] = {
	    {"id", required_argument, NULL, O_ID},
	    {"exec-file", required_argument, NULL, O_EXEC},
	    {"uid", required_argument, NULL, O_UID},
	    {"gid", required_argument, NULL, O_GID},
	    {"chroot-base-dir", required_argument, NULL, O_BASE},
	    {"netns", required_argument, NULL, O_NETNS},
	    {"cgroup", required_argument, NULL, O_CGROUP},
	    {"resource-limit", required_argument, NULL, O_LIMIT},
	    {"bind", required_argument, NULL, O_BIND},
	    {"tun", no_argument, NULL, O_TUN},
	    {0},
	};
	struct kiln_jail *j = &o->jail;
	int ch;

	*o = (struct jail_opts){.base = DEFAULT_CHROOT_BASE};
	j->nofile = KILN_JAIL_DEFAULT_NOFILE;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case O_ID:
			o->id = optarg;
			break;
		case O_EXEC:
			o->exec_file = optarg;
			break;
		case O_UID:
			if (parse_id_number("--uid", optarg, &j->uid, err) < 0)
				return -1;
			o->have_uid = true;
			break;
		case O_GID:
			if (parse_id_number("--gid", optarg, &j->gid, err) < 0)
				return -1;
			o->have_gid = true;
			break;
		case O_BASE:
			o->base = optarg;
			break;
		case O_NETNS:
			o->netns = optarg;
			break;
		case O_CGROUP:
			o->cgroup = optarg;
			break;
		case O_LIMIT:
			if (parse_limit(optarg, j, err) < 0)
				return -1;
			break;
		case O_BIND:
			if (j->n_binds == KILN_JAIL_MAX_BINDS)
				return kiln_error_make(err, 0, "--bind: at most %d files",
						       KILN_JAIL_MAX_BINDS);
			if (access(optarg, R_OK) < 0)
				return kiln_error_make(err, errno, "--bind %s", optarg);
			j->binds[j->n_binds].src = optarg;
			j->binds[j->n_binds++].name = basename(optarg);
			break;
		case O_TUN:
			j->tun = true;
			break;
		default:
			return kiln_error_make(err, 0, "jail: unknown or incomplete option %s",
					       argv[optind - 1]);
		}
	}
	if (!o->id || !o->exec_file || !o->have_uid || !o->have_gid)
		return kiln_error_make(err, 0,
				       "jail: --id, --exec-file, --uid and --gid are required");
	if (kiln_check_id(o->id, err) < 0)
		return -1;
	if (o->base[0] != '/')
		return kiln_error_make(err, 0, "--chroot-base-dir: \"%s\" is not an absolute path",
				       o->base);
	return 0;
}

static int mkdir_parents(char *path)
{
	for (char *p = strchr(path + 1, '/');; p = strchr(p + 1, '/')) {
		if (p)
			*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -1;
		if (!p)
			return 0;
		*p = '/';
	}
}

static int join(const char *netns, const char *cgroup, kiln_error_t *err)
{
	if (netns) {
		cleanup_close int fd = open(netns, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			return kiln_error_make(err, errno, "--netns %s", netns);
	}
	if (cgroup) {
		cleanup_free char *procs = xasprintf("%s/cgroup.procs", cgroup);
		cleanup_close int fd = open(procs, O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, "0", 1) != 1)
			return kiln_error_make(err, errno, "--cgroup %s", cgroup);
	}
	return 0;
}

int kiln_cmd_jail(struct kiln_context *ctx, int argc, char **argv, kiln_error_t *err)
{
	struct jail_opts o;
	cleanup_free char *exec_copy = NULL, *dir = NULL;
	cleanup_close int exe = -1;
	const char *what;
	char **args;

	(void)ctx;
	if (parse_jail(argc, argv, &o, err) < 0)
		return 1;
	if (geteuid() != 0)
		return kiln_error_make(err, 0, "jail: must be run as root"), 1;
	exe = open(o.exec_file, O_PATH | O_CLOEXEC);
	if (exe < 0)
		return kiln_error_make(err, errno, "--exec-file %s", o.exec_file), 1;
	exec_copy = xstrdup(o.exec_file);
	dir = xasprintf("%s/%s/%s/root", o.base, basename(exec_copy), o.id);
	if (mkdir_parents(dir) < 0)
		return kiln_error_make(err, errno, "jail directory %s", dir), 1;
	if (join(o.netns, o.cgroup, err) < 0)
		return 1;
	o.jail.dir = dir;
	if (kiln_jail_prepare(&o.jail, &what) < 0 || kiln_jail_enter(&o.jail, &what) < 0)
		return kiln_error_make(err, errno, "jail: %s", what), 1;
	/* argv[0] is the program's name; the rest after "--" */
	args = xcalloc((size_t)(argc - optind) + 2, sizeof(*args));
	args[0] = basename(exec_copy);
	for (int i = optind; i < argc; i++)
		args[i - optind + 1] = argv[i];
	fexecve(exe, args, environ);
	if (errno == ENOENT)
		kiln_error_make(
		    err, 0,
		    "jail: running %s: the program or its interpreter is not in the jail "
		    "(a dynamically linked program finds no libraries there)",
		    o.exec_file);
	else
		kiln_error_make(err, errno, "jail: running %s", o.exec_file);
	free(args);
	return 1;
}
