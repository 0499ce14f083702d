/* Where the VMM, the guest kernel and the guest image are, and VM defaults
 * (runtime/runtime.h). The guest image records the kernel it was built for
 * (build/guest/kernel: version, then path); its modules load into no other
 * kernel, so a mismatch is refused here, before any VM boots. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/io.h"
#include "common/util.h"
#include "runtime/runtime.h"

static char *exe_dir(void)
{
	char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

	if (n <= 0)
		return xstrdup("/usr/local/bin");
	buf[n] = '\0';
	return xstrdup(dirname(buf));
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int set_uint(const char *path, unsigned line, const char *key, const char *v, unsigned *out,
		    kiln_error_t *err)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || end == v || n == 0 || n > 1u << 30)
		return kiln_error_make(err, 0, "%s:%u: %s: expected a positive number, got \"%s\"",
				       path, line, key, v);
	*out = (unsigned)n;
	return 0;
}

static int set_bool(const char *path, unsigned line, const char *key, const char *v, bool *out,
		    kiln_error_t *err)
{
	if (streq(v, "true") || streq(v, "false")) {
		*out = streq(v, "true");
		return 0;
	}
	return kiln_error_make(err, 0, "%s:%u: %s: expected true or false, got \"%s\"", path, line,
			       key, v);
}

static int parse_conf(const char *path, struct kiln_conf *c, kiln_error_t *err)
{
	cleanup_free char *text = NULL;
	char *rest, *l;
	unsigned line = 0;

	if (kiln_read_file(path, 1 << 20, &text, NULL, err) < 0) {
		if ((*err)->status == ENOENT) {
			kiln_error_free(err);
			return 0;
		}
		return -1;
	}
	rest = text;
	while ((l = strsep(&rest, "\n")) != NULL) {
		char *eq, *key, *val;
		char **str = NULL;
		unsigned *num = NULL;
		bool *flag = NULL;

		line++;
		if (strchr(l, '#'))
			*strchr(l, '#') = '\0';
		key = trim(l);
		if (*key == '\0')
			continue;
		eq = strchr(key, '=');
		if (eq == NULL)
			return kiln_error_make(err, 0, "%s:%u: expected \"key = value\"", path,
					       line);
		*eq = '\0';
		key = trim(key);
		val = trim(eq + 1);
		if (streq(key, "vmm"))
			str = &c->vmm;
		else if (streq(key, "kernel"))
			str = &c->kernel;
		else if (streq(key, "initramfs"))
			str = &c->initramfs;
		else if (streq(key, "vcpus"))
			num = &c->vcpus;
		else if (streq(key, "memory_mib"))
			num = &c->memory_mib;
		else if (streq(key, "boot_timeout_ms"))
			num = &c->boot_timeout_ms;
		else if (streq(key, "rootfs_free_mib"))
			num = &c->rootfs_free_mib;
		else if (streq(key, "pvm_guest_kernel"))
			flag = &c->pvm_guest_kernel;
		else
			return kiln_error_make(err, 0, "%s:%u: unknown key \"%s\"", path, line,
					       key);
		if (str) {
			free(*str);
			*str = xstrdup(val);
		} else if (flag) {
			if (set_bool(path, line, key, val, flag, err) < 0)
				return -1;
		} else if (set_uint(path, line, key, val, num, err) < 0) {
			return -1;
		}
	}
	return 0;
}

int kiln_kernel_version(const char *path, char **out, kiln_error_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char hdr[0x210];
	char ver[256];
	size_t n = 0;
	unsigned off;

	if (fd < 0)
		return kiln_error_make(err, errno, "kernel %s", path);
	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    memcmp(hdr + 0x202, "HdrS", 4) != 0)
		return kiln_error_make(err, 0, "kernel %s: not a bzImage", path);
	/* setup header kernel_version: offset of the string minus 0x200 */
	off = (unsigned)hdr[0x20e] | (unsigned)hdr[0x20f] << 8;
	if (off == 0 || pread(fd, ver, sizeof(ver) - 1, off + 0x200) <= 0)
		return kiln_error_make(err, 0, "kernel %s: no version string", path);
	ver[sizeof(ver) - 1] = '\0';
	while (n < sizeof(ver) - 1 && ver[n] && !isspace((unsigned char)ver[n]))
		n++;
	*out = xstrndup(ver, n);
	return 0;
}

/* The image's record: "<version>\n<kernel path>\n" next to it. */
static int read_record(const char *initramfs, char **version, char **kernel, kiln_error_t *err)
{
	cleanup_free char *dir = xstrdup(initramfs);
	cleanup_free char *path = xasprintf("%s/kernel", dirname(dir));
	cleanup_free char *text = NULL;
	char *nl;

	*version = *kernel = NULL;
	if (kiln_read_file(path, 4096, &text, NULL, err) < 0) {
		if ((*err)->status == ENOENT) {
			kiln_error_free(err);
			return 0;
		}
		return -1;
	}
	nl = strchr(text, '\n');
	if (nl) {
		*nl = '\0';
		*kernel = xstrdup(trim(nl + 1));
		if (**kernel == '\0') {
			free(*kernel);
			*kernel = NULL;
		}
	}
	*version = xstrdup(trim(text));
	return 0;
}

int kiln_conf_read(struct kiln_conf *c, const char **path, kiln_error_t *err)
{
	cleanup_free char *bin = exe_dir();

	*path = getenv("KILN_CONF") ? getenv("KILN_CONF") : KILN_CONF_PATH;
	*c = (struct kiln_conf){
	    .vcpus = 1, .memory_mib = 256, .boot_timeout_ms = 120000, .rootfs_free_mib = 256};
	if (parse_conf(*path, c, err) < 0)
		return -1;
	if (c->vmm == NULL)
		c->vmm = xasprintf("%s/kiln-vmm", bin);
	if (c->initramfs == NULL) {
		/* the build tree (build/bin -> build/guest), then an install */
		c->initramfs = xasprintf("%s/../guest/initramfs.cpio.gz", bin);
		if (access(c->initramfs, F_OK) < 0) {
			free(c->initramfs);
			c->initramfs = xasprintf("%s/../share/kiln/initramfs.cpio.gz", bin);
		}
	}
	return 0;
}

int kiln_conf_check_vmm(const struct kiln_conf *c, const char *path, kiln_error_t *err)
{
	if (access(c->vmm, X_OK) < 0)
		return kiln_error_make(err, errno, "kiln-vmm %s (set vmm in %s)", c->vmm, path);
	return 0;
}

int kiln_conf_check_guest(struct kiln_conf *c, const char *path, kiln_error_t *err)
{
	cleanup_free char *rec_version = NULL;
	cleanup_free char *rec_kernel = NULL;

	if (access(c->initramfs, R_OK) < 0)
		return kiln_error_make(err, errno,
				       "guest image %s (run `make guest`, or set "
				       "initramfs in %s)",
				       c->initramfs, path);
	if (read_record(c->initramfs, &rec_version, &rec_kernel, err) < 0)
		return -1;
	if (c->kernel == NULL && rec_kernel)
		c->kernel = xstrdup(rec_kernel);
	if (c->kernel == NULL)
		return kiln_error_make(err, 0, "no guest kernel: set kernel in %s", path);
	free(c->kernel_version);
	c->kernel_version = NULL;
	if (kiln_kernel_version(c->kernel, &c->kernel_version, err) < 0)
		return -1;
	if (rec_version && !streq(rec_version, c->kernel_version))
		return kiln_error_make(err, 0,
				       "kernel %s is %s but the guest image %s was built for %s "
				       "(rebuild it with `make guest KERNEL_VERSION=%s`)",
				       c->kernel, c->kernel_version, c->initramfs, rec_version,
				       c->kernel_version);
	return 0;
}

int kiln_conf_load(struct kiln_conf *c, kiln_error_t *err)
{
	const char *path;

	if (kiln_conf_read(c, &path, err) < 0 || kiln_conf_check_vmm(c, path, err) < 0 ||
	    kiln_conf_check_guest(c, path, err) < 0)
		return -1;
	return 0;
}

void kiln_conf_release(struct kiln_conf *c)
{
	free(c->vmm);
	free(c->kernel);
	free(c->initramfs);
	free(c->kernel_version);
	*c = (struct kiln_conf){0};
}
