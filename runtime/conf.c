/* Where the VMM, the guest kernel and the guest image are, and VM defaults
 * (runtime/runtime.h). The guest image records the kernel it was built for
 * (build/guest/kernel: version, then path); an image with modules works with
 * no other kernel, so a mismatch is refused here, before any VM boots. */
#include <ctype.h>
#include <elf.h>
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
		    unsigned long max, kiln_error_t *err)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || end == v || n == 0 || n > max)
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
		else if (streq(key, "jail"))
			flag = &c->jail;
		else if (streq(key, "jail_uid_base"))
			num = &c->jail_uid_base;
		else if (streq(key, "virtiofsd"))
			str = &c->virtiofsd;
		else if (streq(key, "volume_cache"))
			str = &c->volume_cache;
		else
			return kiln_error_make(err, 0, "%s:%u: unknown key \"%s\"", path, line,
					       key);
		if (str == &c->volume_cache && !kiln_volume_cache_valid(val))
			return kiln_error_make(
			    err, 0,
			    "%s:%u: volume_cache: expected none, auto or always, "
			    "got \"%s\"",
			    path, line, val);
		if (str) {
			free(*str);
			*str = xstrdup(val);
		} else if (flag) {
			if (set_bool(path, line, key, val, flag, err) < 0)
				return -1;
		} else if (set_uint(path, line, key, val, num,
				    num == &c->jail_uid_base ? KILN_JAIL_UID_BASE_MAX : 1u << 30,
				    err) < 0) {
			return -1;
		}
	}
	return 0;
}

/* The version in a bzImage's setup header: the string at the offset its
 * kernel_version field gives, plus 0x200 (x86 boot protocol); NULL if none. */
static char *bzimage_version(int fd, const unsigned char *hdr)
{
	char ver[256];
	size_t n = 0;
	unsigned off = (unsigned)hdr[0x20e] | (unsigned)hdr[0x20f] << 8;

	if (off == 0 || pread(fd, ver, sizeof(ver) - 1, off + 0x200) <= 0)
		return NULL;
	ver[sizeof(ver) - 1] = '\0';
	while (n < sizeof(ver) - 1 && ver[n] && !isspace((unsigned char)ver[n]))
		n++;
	return xstrndup(ver, n);
}

#define ELF_BANNER	"Linux version "
#define ELF_RODATA_MAX	(64U << 20)
#define ELF_SECTION_MAX 4096U

/* The version in an ELF vmlinux (booted through its PVH entry): the
 * kernel's linux_banner, "Linux version <release> (...)", in .rodata. Only
 * that section is read, found through the section headers, which both a
 * built vmlinux and one extracted from a bzImage keep. NULL, and *why,
 * if there is none. */
static char *elf_version(int fd, const char **why)
{
	Elf64_Ehdr eh;
	Elf64_Shdr strsh, sh;
	cleanup_free char *names = NULL;
	cleanup_free char *data = NULL;
	const char *b, *end;

	*why = "not an x86_64 ELF vmlinux";
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64)
		return NULL;
	*why = "no ELF section names";
	if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 ||
	    eh.e_shnum > ELF_SECTION_MAX || eh.e_shstrndx >= eh.e_shnum ||
	    pread(fd, &strsh, sizeof(strsh), (off_t)(eh.e_shoff + eh.e_shstrndx * sizeof(sh))) !=
		(ssize_t)sizeof(strsh) ||
	    strsh.sh_size == 0 || strsh.sh_size > (1U << 20))
		return NULL;
	names = xmalloc(strsh.sh_size + 1);
	if (pread(fd, names, strsh.sh_size, (off_t)strsh.sh_offset) != (ssize_t)strsh.sh_size)
		return NULL;
	names[strsh.sh_size] = '\0';
	*why = "no \"Linux version\" string in .rodata";
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		if (pread(fd, &sh, sizeof(sh), (off_t)(eh.e_shoff + i * sizeof(sh))) !=
		    (ssize_t)sizeof(sh))
			return NULL;
		if (sh.sh_type != SHT_PROGBITS || sh.sh_name >= strsh.sh_size ||
		    !streq(names + sh.sh_name, ".rodata"))
			continue;
		if (sh.sh_size == 0 || sh.sh_size > ELF_RODATA_MAX)
			return NULL;
		data = xmalloc(sh.sh_size);
		if (pread(fd, data, sh.sh_size, (off_t)sh.sh_offset) != (ssize_t)sh.sh_size)
			return NULL;
		b = memmem(data, sh.sh_size, ELF_BANNER, strlen(ELF_BANNER));
		if (b == NULL)
			return NULL;
		b += strlen(ELF_BANNER);
		end = b;
		while (end < data + sh.sh_size && *end && !isspace((unsigned char)*end))
			end++;
		return end == b ? NULL : xstrndup(b, (size_t)(end - b));
	}
	return NULL;
}

int kiln_kernel_version(const char *path, char **out, bool *elf, kiln_error_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char hdr[0x210];
	const char *why = "neither a bzImage nor an ELF vmlinux";

	*out = NULL;
	if (fd < 0) {
		kiln_error_make(err, errno, "kernel %s", path);
		return -1;
	}
	if (elf)
		*elf = false;
	if (pread(fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) &&
	    memcmp(hdr + 0x202, "HdrS", 4) == 0) {
		*out = bzimage_version(fd, hdr);
		why = "no version string";
	} else if (pread(fd, hdr, SELFMAG, 0) == SELFMAG && memcmp(hdr, ELFMAG, SELFMAG) == 0) {
		*out = elf_version(fd, &why);
		if (elf)
			*elf = true;
	}
	if (*out != NULL)
		return 0;
	kiln_error_make(err, 0, "kernel %s: %s", path, why);
	return -1; /* spelled out: callers read *out after a 0 */
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

const char *kiln_conf_path(void)
{
	return getenv("KILN_CONF") ? getenv("KILN_CONF") : KILN_CONF_PATH;
}

int kiln_conf_read(struct kiln_conf *c, const char **path, kiln_error_t *err)
{
	cleanup_free char *bin = exe_dir();

	*path = kiln_conf_path();
	*c = (struct kiln_conf){.vcpus = 1,
				.memory_mib = 256,
				.min_memory_mib = KILN_GUEST_MIB_FLOOR_BZIMAGE,
				.boot_timeout_ms = 120000,
				.rootfs_free_mib = 256,
				.jail = true,
				.jail_uid_base = KILN_JAIL_UID_BASE};
	if (parse_conf(*path, c, err) < 0)
		return -1;
	if (c->vmm == NULL)
		c->vmm = xasprintf("%s/kiln-vmm", bin);
	if (c->virtiofsd == NULL)
		c->virtiofsd = xstrdup(KILN_VIRTIOFSD);
	if (c->volume_cache == NULL)
		c->volume_cache = xstrdup("none");
	if (c->initramfs == NULL) {
		/* the build tree (build/bin -> build/guest), then an install
		 * (PREFIX/bin -> PREFIX/share/kiln) */
		cleanup_free char *copy = xstrdup(bin);
		const char *top = dirname(copy);

		c->initramfs = xasprintf("%s/guest/initramfs.cpio.gz", top);
		if (access(c->initramfs, F_OK) < 0) {
			free(c->initramfs);
			c->initramfs = xasprintf("%s/share/kiln/initramfs.cpio.gz", top);
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

bool kiln_volume_cache_valid(const char *mode)
{
	return streq(mode, "none") || streq(mode, "auto") || streq(mode, "always");
}

int kiln_conf_check_virtiofsd(const struct kiln_conf *c, const char *path, kiln_error_t *err)
{
	if (access(c->virtiofsd, X_OK) < 0)
		return kiln_error_make(err, errno,
				       "virtiofsd %s, needed for the spec's host bind mounts "
				       "(install qemu-system-common, or set virtiofsd in %s)",
				       c->virtiofsd, path);
	return 0;
}

int kiln_conf_check_guest(struct kiln_conf *c, const char *path, kiln_error_t *err)
{
	cleanup_free char *rec_version = NULL;
	cleanup_free char *rec_kernel = NULL;
	bool elf;

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
	if (kiln_kernel_version(c->kernel, &c->kernel_version, &elf, err) < 0)
		return -1;
	if (rec_version && !streq(rec_version, c->kernel_version))
		return kiln_error_make(err, 0,
				       "kernel %s is %s but the guest image %s was built for %s "
				       "(`make guest` builds kiln's kernel and its image, "
				       "`make guest-debian KERNEL_VERSION=%s` an image for "
				       "that Debian kernel)",
				       c->kernel, c->kernel_version, c->initramfs, rec_version,
				       c->kernel_version);
	/* A bzImage decompresses itself in guest RAM; an ELF vmlinux is loaded
	 * as it is (PVH entry). */
	c->min_memory_mib = elf ? KILN_GUEST_MIB_FLOOR_ELF : KILN_GUEST_MIB_FLOOR_BZIMAGE;
	if (c->memory_mib < c->min_memory_mib)
		return kiln_error_make(err, 0,
				       "memory_mib = %u in %s is below the %u MiB kernel %s "
				       "needs to boot",
				       c->memory_mib, path, c->min_memory_mib, c->kernel);
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
	free(c->virtiofsd);
	free(c->volume_cache);
	free(c->kernel);
	free(c->initramfs);
	free(c->kernel_version);
	*c = (struct kiln_conf){0};
}

int kiln_context_conf(struct kiln_context *ctx, const struct kiln_conf **conf, kiln_error_t *err)
{
	if (!ctx->conf_loaded) {
		if (kiln_conf_load(&ctx->conf, err) < 0) {
			kiln_conf_release(&ctx->conf);
			return -1;
		}
		ctx->conf_loaded = true;
	}
	*conf = &ctx->conf;
	return 0;
}

void kiln_context_release(struct kiln_context *ctx)
{
	if (ctx->conf_loaded)
		kiln_conf_release(&ctx->conf);
	ctx->conf_loaded = false;
}
