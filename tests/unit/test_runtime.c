/* kiln's host-side decisions that need no VM: signal names, VM sizing,
 * cgroup paths, kiln.conf, the guest image's kernel check and the guest's
 * namespaces when the spec names them by path. */
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/io.h"
#include "oci/oci.h"
#include "runtime/runtime.h"
#include "runtime/volumes.h"
#include "tests/unit/tap.h"
#include "tests/unit/tmpdir.h"

#define cleanup_tmpdir __attribute__((cleanup(test_tmpdir_remove)))

static int test_signals(void)
{
	static const struct {
		const char *in;
		int want;
	} ok[] = {{"KILL", SIGKILL}, {"SIGTERM", SIGTERM}, {"sigusr1", SIGUSR1},
		  {"9", 9},	     {"WINCH", SIGWINCH},  {"64", 64}};
	static const char *const bad[] = {"0", "65", "FOO", "SIG", "-9", "9x", ""};

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		kiln_error_t err = NULL;
		int sig = -1;

		TAP_CHECK(kiln_parse_signal(ok[i].in, &sig, &err) == 0);
		TAP_CHECK(sig == ok[i].want);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cleanup_error kiln_error_t err = NULL;
		cleanup_free char *want = xasprintf("unknown signal \"%s\"", bad[i]);
		int sig = -1;

		TAP_CHECK(kiln_parse_signal(bad[i], &sig, &err) < 0);
		TAP_CHECK_STR(err->msg, want);
	}
	return TAP_PASS;
}

static struct oci_config *config_with(const char *extra)
{
	cleanup_free char *text =
	    xasprintf("{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"r\"}, "
		      "\"process\": {\"args\": [\"true\"], \"cwd\": \"/\"}%s}",
		      extra);
	struct oci_config *c = NULL;
	kiln_error_t err = NULL;

	if (oci_config_parse(text, strlen(text), &c, &err) < 0) {
		tap_diag("config: %s", err->msg);
		kiln_error_free(&err);
	}
	return c;
}

static int size_with_floor(const char *extra, unsigned floor, unsigned *vcpus, unsigned *mib,
			   kiln_error_t *err)
{
	cleanup_oci_config struct oci_config *c = config_with(extra);
	struct kiln_conf conf = {.vcpus = 1, .memory_mib = 256, .min_memory_mib = floor};

	if (c == NULL)
		return -2;
	return kiln_vm_size(c, &conf, vcpus, mib, err);
}

static int size_of(const char *extra, unsigned *vcpus, unsigned *mib, kiln_error_t *err)
{
	return size_with_floor(extra, KILN_GUEST_MIB_FLOOR_BZIMAGE, vcpus, mib, err);
}

static int test_vm_size(void)
{
	cleanup_error kiln_error_t err = NULL;
	unsigned v = 0, m = 0;

	TAP_CHECK(size_of("", &v, &m, &err) == 0);
	TAP_CHECK(v == 1 && m == 256);
	TAP_CHECK(size_of(", \"linux\": {\"resources\": {\"cpu\": {\"quota\": 150000, "
			  "\"period\": 100000}, \"memory\": {\"limit\": 536870912}}}",
			  &v, &m, &err) == 0);
	TAP_CHECK(v == 2 && m == 512);
	/* a limit below what a guest boots in is raised to the minimum */
	TAP_CHECK(size_of(", \"linux\": {\"resources\": {\"memory\": {\"limit\": 10485760}}}", &v,
			  &m, &err) == 0);
	TAP_CHECK(m == 128);
	/* kiln's kernel (an ELF vmlinux) boots in less */
	TAP_CHECK(
	    size_with_floor(", \"linux\": {\"resources\": {\"memory\": {\"limit\": 10485760}}}",
			    KILN_GUEST_MIB_FLOOR_ELF, &v, &m, &err) == 0);
	TAP_CHECK(m == 64);
	TAP_CHECK(size_with_floor(", \"annotations\": {\"io.kiln.vm.memory_mib\": \"64\"}",
				  KILN_GUEST_MIB_FLOOR_ELF, &v, &m, &err) == 0);
	TAP_CHECK(m == 64);
	TAP_CHECK(size_of(", \"annotations\": {\"io.kiln.vm.memory_mib\": \"64\"}", &v, &m, &err) ==
		  -1);
	TAP_CHECK_STR(err->msg,
		      "annotations.io.kiln.vm.memory_mib: expected 128 to 1048576, got \"64\"");
	kiln_error_free(&err);
	/* annotations win */
	TAP_CHECK(size_of(", \"annotations\": {\"io.kiln.vm.vcpus\": \"4\", "
			  "\"io.kiln.vm.memory_mib\": \"1024\"}, \"linux\": {\"resources\": "
			  "{\"cpu\": {\"quota\": 100000}}}",
			  &v, &m, &err) == 0);
	TAP_CHECK(v == 4 && m == 1024);
	TAP_CHECK(size_of(", \"annotations\": {\"io.kiln.vm.vcpus\": \"33\"}", &v, &m, &err) == -1);
	TAP_CHECK_STR(err->msg, "annotations.io.kiln.vm.vcpus: expected 1 to 32, got \"33\"");
	TAP_CHECK(size_of(", \"annotations\": {\"io.kiln.vm.memory_mib\": \"lots\"}", &v, &m,
			  &err) == -1);
	TAP_CHECK_STR(err->msg,
		      "annotations.io.kiln.vm.memory_mib: expected 128 to 1048576, got \"lots\"");
	return TAP_PASS;
}

static int test_cgroup_dir(void)
{
	static const struct {
		const char *path;
		bool systemd;
		const char *want;
	} cases[] = {
	    {"/libpod_parent/libpod-abc", false, "/sys/fs/cgroup/libpod_parent/libpod-abc"},
	    {"relative/x", false, "/sys/fs/cgroup/relative/x"},
	    {"machine.slice:libpod:abc", true, "/sys/fs/cgroup/machine.slice/libpod-abc.scope"},
	    {"a-b.slice:p:n", true, "/sys/fs/cgroup/a.slice/a-b.slice/p-n.scope"},
	    {"-.slice:p:n", true, "/sys/fs/cgroup/p-n.scope"},
	    {"/plain/path", true, "/sys/fs/cgroup/plain/path"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_free char *got = kiln_cgroup_dir(cases[i].path, cases[i].systemd);

		TAP_CHECK_STR(got, cases[i].want);
	}
	TAP_CHECK(kiln_cgroup_dir(NULL, false) == NULL);
	TAP_CHECK(kiln_cgroup_dir("", true) == NULL);
	return TAP_PASS;
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, name);

	kiln_write_file_atomic(p, data, len, 0755, NULL);
}

/* A file with just enough of a bzImage's setup header for its version. */
static void fake_kernel(const char *dir, const char *version)
{
	char img[0x400] = {0};
	unsigned off = 0x100; /* the string at 0x200 + off */

	img[0x202] = 'H'; /* the magic "HdrS", not a C string */
	img[0x203] = 'd';
	img[0x204] = 'r';
	img[0x205] = 'S';
	img[0x20e] = (char)(off & 0xff);
	img[0x20f] = (char)(off >> 8);
	snprintf(img + 0x200 + off, sizeof(img) - 0x200 - off, "%s (builder) #1 SMP", version);
	write_file(dir, "vmlinuz", img, sizeof(img));
}

static int load_conf(const char *dir, const char *conf_text, const char *record,
		     struct kiln_conf *c, kiln_error_t *err)
{
	cleanup_free char *conf = xasprintf("%s/kiln.conf", dir);

	write_file(dir, "kiln.conf", conf_text, strlen(conf_text));
	if (record)
		write_file(dir, "kernel", record, strlen(record));
	setenv("KILN_CONF", conf, 1);
	return kiln_conf_load(c, err);
}

/* An x86_64 ELF with a section table of three: none, .shstrtab and
 * RODATA_NAME holding LEN bytes of RODATA (what kiln_kernel_version reads of a vmlinux). */
static void fake_elf(const char *dir, const char *name, const char *rodata_name, const char *rodata,
		     size_t len)
{
	char img[1024] = {0};
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Shdr *sh = (Elf64_Shdr *)(img + 64);
	char *strtab = img + 64 + 3 * sizeof(Elf64_Shdr);
	size_t name_off = 1, data_off;

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_machine = EM_X86_64;
	eh->e_shoff = 64;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = 3;
	eh->e_shstrndx = 1;
	memcpy(strtab + 1, ".shstrtab", sizeof(".shstrtab"));
	memcpy(strtab + 11, rodata_name, strlen(rodata_name) + 1);
	sh[1] = (Elf64_Shdr){.sh_name = name_off,
			     .sh_type = SHT_STRTAB,
			     .sh_offset = (Elf64_Off)(strtab - img),
			     .sh_size = 12 + strlen(rodata_name)};
	data_off = (size_t)(strtab - img) + 64;
	memcpy(img + data_off, rodata, len);
	sh[2] = (Elf64_Shdr){
	    .sh_name = 11, .sh_type = SHT_PROGBITS, .sh_offset = data_off, .sh_size = len};
	write_file(dir, name, img, sizeof(img));
}

static int test_conf(void)
{
	cleanup_tmpdir char *dir = test_tmpdir_make("runtime");
	cleanup_free char *text = NULL;
	cleanup_free char *record = NULL;
	cleanup_free char *kernel = NULL;
	cleanup_error kiln_error_t err = NULL;
	struct kiln_conf c = {0};

	TAP_CHECK(dir != NULL);
	fake_kernel(dir, "6.1.0-test");
	write_file(dir, "kiln-vmm", "#!/bin/sh\n", 10);
	write_file(dir, "initramfs.cpio.gz", "x", 1);
	kernel = xasprintf("%s/vmlinuz", dir);
	text = xasprintf("# comment\nvmm = %s/kiln-vmm\ninitramfs = %s/initramfs.cpio.gz\n"
			 "vcpus = 2  # two\nmemory_mib=512\n",
			 dir, dir);
	record = xasprintf("6.1.0-test\n%s\n", kernel);
	TAP_CHECK(load_conf(dir, text, record, &c, &err) == 0);
	TAP_CHECK_STR(c.kernel, kernel);
	TAP_CHECK_STR(c.kernel_version, "6.1.0-test");
	TAP_CHECK(c.vcpus == 2 && c.memory_mib == 512 && c.boot_timeout_ms == 120000);
	TAP_CHECK(c.min_memory_mib == KILN_GUEST_MIB_FLOOR_BZIMAGE);
	kiln_conf_release(&c);

	/* a context loads kiln.conf on first need and keeps it */
	{
		struct kiln_context ctx = KILN_CONTEXT_INIT;
		const struct kiln_conf *got = NULL, *again = NULL;

		TAP_CHECK(kiln_context_conf(&ctx, &got, &err) == 0);
		TAP_CHECK(got->vcpus == 2 && got->memory_mib == 512);
		write_file(dir, "kiln.conf", "vcpus\n", 6);
		TAP_CHECK(kiln_context_conf(&ctx, &again, &err) == 0 && again == got);
		kiln_context_release(&ctx);
		TAP_CHECK(kiln_context_conf(&ctx, &got, &err) < 0);
		TAP_CHECK(strstr(err->msg, "expected \"key = value\"") != NULL);
		kiln_error_free(&err);
		kiln_context_release(&ctx);
	}

	/* memory_mib below what a bzImage boots in */
	{
		cleanup_free char *small = xasprintf(
		    "vmm = %s/kiln-vmm\ninitramfs = %s/initramfs.cpio.gz\nmemory_mib = 100\n", dir,
		    dir);
		cleanup_free char *want =
		    xasprintf("memory_mib = 100 in %s/kiln.conf is below the 128 MiB kernel %s "
			      "needs to boot",
			      dir, kernel);

		TAP_CHECK(load_conf(dir, small, record, &c, &err) < 0);
		TAP_CHECK_STR(err->msg, want);
		kiln_error_free(&err);
		kiln_conf_release(&c);
	}

	/* the image says another kernel */
	free(record);
	record = xasprintf("6.2.0-other\n%s\n", kernel);
	TAP_CHECK(load_conf(dir, text, record, &c, &err) < 0);
	TAP_CHECK(strstr(err->msg, "is 6.1.0-test but the guest image") != NULL);
	TAP_CHECK(strstr(err->msg, "was built for 6.2.0-other") != NULL);
	kiln_conf_release(&c);

	free(text);
	text = xasprintf("%s/kiln.conf", dir);
	{
		cleanup_free char *want = xasprintf("%s:2: unknown key \"cpus\"", text);

		TAP_CHECK(load_conf(dir, "\ncpus = 2\n", NULL, &c, &err) < 0);
		TAP_CHECK_STR(err->msg, want);
		kiln_conf_release(&c);
	}
	{
		cleanup_free char *want =
		    xasprintf("%s:1: memory_mib: expected a positive number, got \"0\"", text);

		TAP_CHECK(load_conf(dir, "memory_mib = 0\n", NULL, &c, &err) < 0);
		TAP_CHECK_STR(err->msg, want);
		kiln_conf_release(&c);
	}
	{
		cleanup_free char *want = xasprintf("%s:1: expected \"key = value\"", text);

		TAP_CHECK(load_conf(dir, "vcpus\n", NULL, &c, &err) < 0);
		TAP_CHECK_STR(err->msg, want);
		kiln_conf_release(&c);
	}
	{
		/* A vmlinux: the release from linux_banner in .rodata. */
		cleanup_free char *elf = xasprintf("%s/vmlinux", dir);
		cleanup_free char *version = NULL;

		static const char rodata[] =
		    "\x01\x02other data\0Linux version 6.1.192-kiln (kiln@kiln) #1 SMP\n";

		bool is_elf = false;

		fake_elf(dir, "vmlinux", ".rodata", rodata, sizeof(rodata));
		TAP_CHECK(kiln_kernel_version(elf, &version, &is_elf, &err) == 0);
		TAP_CHECK_STR(version, "6.1.192-kiln");
		TAP_CHECK(is_elf);
	}
	{
		/* An ELF whose banner is in no .rodata is not taken for a kernel. */
		cleanup_free char *elf = xasprintf("%s/notkernel", dir);
		cleanup_free char *want =
		    xasprintf("kernel %s: no \"Linux version\" string in .rodata", elf);
		cleanup_free char *version = NULL;

		static const char banner[] = "Linux version 6.1.192-kiln (kiln@kiln)";

		fake_elf(dir, "notkernel", ".data", banner, sizeof(banner));
		TAP_CHECK(kiln_kernel_version(elf, &version, NULL, &err) < 0);
		TAP_CHECK_STR(err->msg, want);
		kiln_error_free(&err);
		fake_elf(dir, "notkernel", ".rodata", banner, strlen("Linux version "));
		TAP_CHECK(kiln_kernel_version(elf, &version, NULL, &err) < 0);
		TAP_CHECK_STR(err->msg, want);
		kiln_error_free(&err);
	}
	{
		cleanup_free char *junk = xasprintf("%s/junk", dir);
		cleanup_free char *want =
		    xasprintf("kernel %s: neither a bzImage nor an ELF vmlinux", junk);
		cleanup_free char *version = NULL;

		write_file(dir, "junk", "not a kernel, just some bytes that are too few", 46);
		TAP_CHECK(kiln_kernel_version(junk, &version, NULL, &err) < 0);
		TAP_CHECK_STR(err->msg, want);
	}
	return TAP_PASS;
}

/* The guest spec made from a config with these namespaces; NULL and *err
 * when refused. */
static char *guest_spec_with(const char *namespaces, const char *top, kiln_error_t *err)
{
	cleanup_free char *extra = xasprintf(
	    ", \"linux\": {\"namespaces\": %s, \"sysctl\": {\"kernel.msgmax\": \"8192\"}}%s",
	    namespaces, top);
	cleanup_oci_config struct oci_config *c = config_with(extra);
	struct kiln_volumes vols;
	char *out = NULL;
	size_t len;

	if (c == NULL || kiln_guest_spec(c, "/nonexistent", &out, &len, &vols, err) < 0)
		return NULL;
	kiln_volumes_release(&vols);
	/* without the generator's indentation (no value here has blanks) */
	for (char *r = out, *w = out;; r++)
		if (*r != ' ' && *r != '\t' && *r != '\n' && (*w++ = *r) == '\0')
			break;
	return out;
}

static int test_namespace_paths(void)
{
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *spec = NULL;
	cleanup_free char *want = NULL;
	struct utsname u;

	/* our own UTS and IPC namespaces stand in for a pod sandbox's */
	TAP_CHECK(uname(&u) == 0);
	spec = guest_spec_with("[{\"type\": \"network\", \"path\": \"/proc/self/ns/net\"}, "
			       "{\"type\": \"uts\", \"path\": \"/proc/self/ns/uts\"}, "
			       "{\"type\": \"ipc\", \"path\": \"/proc/self/ns/ipc\"}, "
			       "{\"type\": \"mount\"}]",
			       "", &err);
	if (spec == NULL)
		tap_diag("%s", err ? err->msg : "the config did not parse");
	TAP_CHECK(spec != NULL);
	want = xasprintf("{\"ociVersion\":\"1.2.0\",\"root\":{\"path\":\"r\"},\"process\":{"
			 "\"args\":[\"true\"],\"cwd\":\"/\"},\"linux\":{\"namespaces\":[{"
			 "\"type\":\"network\",\"path\":\"/proc/self/ns/net\"},{\"type\":"
			 "\"uts\"},{\"type\":\"ipc\"},{\"type\":\"mount\"}],\"sysctl\":{"
			 "\"kernel.msgmax\":\"8192\"}},\"hostname\":\"%s\"}",
			 u.nodename);
	TAP_CHECK_STR(spec, want);
	free(spec);

	/* the spec's own hostname wins */
	spec = guest_spec_with("[{\"type\": \"uts\", \"path\": \"/proc/self/ns/uts\"}]",
			       ", \"hostname\": \"mine\"", &err);
	TAP_CHECK(spec != NULL && strstr(spec, "\"hostname\":\"mine\"") != NULL);
	TAP_CHECK(strstr(spec, u.nodename) == NULL || streq(u.nodename, "mine"));

	TAP_CHECK(guest_spec_with("[{\"type\": \"uts\"}, {\"type\": \"pid\", \"path\": "
				  "\"/proc/self/ns/pid\"}]",
				  "", &err) == NULL);
	TAP_CHECK_STR(err->msg, "linux.namespaces[1]: joining the pid namespace /proc/self/ns/pid "
				"is not supported (a VM cannot share it)");
	kiln_error_free(&err);
	TAP_CHECK(guest_spec_with("[{\"type\": \"mount\", \"path\": \"/proc/self/ns/mnt\"}]", "",
				  &err) == NULL);
	TAP_CHECK(strstr(err->msg, "joining the mount namespace") != NULL);
	kiln_error_free(&err);
	TAP_CHECK(guest_spec_with("[{\"type\": \"user\", \"path\": \"/proc/self/ns/user\"}]", "",
				  &err) == NULL);
	TAP_CHECK_STR(err->msg, "linux.namespaces[0]: joining the user namespace "
				"/proc/self/ns/user is not supported (a VM cannot share it)");
	kiln_error_free(&err);
	TAP_CHECK(guest_spec_with("[{\"type\": \"ipc\", \"path\": \"/proc/self/ns/uts\"}]", "",
				  &err) == NULL);
	TAP_CHECK_STR(err->msg,
		      "linux.namespaces[0].path /proc/self/ns/uts: not a namespace of type "
		      "\"ipc\"");
	kiln_error_free(&err);
	TAP_CHECK(guest_spec_with("[{\"type\": \"cgroup\", \"path\": \"/nonexistent/ns\"}]", "",
				  &err) == NULL);
	TAP_CHECK_STR(err->msg,
		      "linux.namespaces[0].path /nonexistent/ns: No such file or directory");
	return TAP_PASS;
}

/* Without the generator's blanks (no value here has any). */
static void squeeze(char *s)
{
	for (char *r = s, *w = s;; r++)
		if (*r != ' ' && *r != '\t' && *r != '\n' && (*w++ = *r) == '\0')
			break;
}

/* Host bind mounts become volumes: the guest's spec binds their entries
 * in the share, with the spec's options; /dev/shm is a tmpfs. */
static int test_guest_spec_volumes(void)
{
	cleanup_tmpdir char *dir = test_tmpdir_make("volspec");
	cleanup_free char *data = NULL, *hosts = NULL, *shm = NULL, *fifo = NULL;
	cleanup_free char *extra = NULL, *out = NULL, *want = NULL;
	cleanup_oci_config struct oci_config *c = NULL;
	cleanup_error kiln_error_t err = NULL;
	struct kiln_volumes vols;
	size_t len;
	int fd;

	TAP_CHECK(dir != NULL);
	data = xasprintf("%s/data", dir);
	hosts = xasprintf("%s/hosts", dir);
	shm = xasprintf("%s/shm", dir);
	fifo = xasprintf("%s/fifo", dir);
	TAP_CHECK(mkdir(data, 0755) == 0 && mkdir(shm, 0755) == 0);
	fd = open(hosts, O_WRONLY | O_CREAT, 0644);
	TAP_CHECK(fd >= 0);
	close(fd);
	extra = xasprintf(", \"mounts\": ["
			  "{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"
			  "{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"%s\","
			  " \"options\": [\"rbind\", \"nosuid\", \"rprivate\"]},"
			  "{\"destination\": \"/etc/hosts\", \"source\": \"%s\", \"options\": "
			  "[\"bind\", \"ro\"]},"
			  "{\"destination\": \"/dev/shm\", \"type\": \"bind\", \"source\": \"%s\","
			  " \"options\": [\"rbind\"]},"
			  "{\"destination\": \"/rel\", \"type\": \"bind\", \"source\": \"hosts\","
			  " \"options\": [\"bind\", \"noexec\"]}]",
			  data, hosts, shm);
	c = config_with(extra);
	TAP_CHECK(c != NULL);
	if (kiln_guest_spec(c, dir, &out, &len, &vols, &err) < 0) {
		tap_diag("%s", err->msg);
		return TAP_FAIL;
	}
	squeeze(out);
	want = xstrdup(
	    "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	    "{\"destination\":\"/data\",\"type\":\"bind\",\"options\":[\"rbind\",\"nosuid\","
	    "\"rprivate\"],\"source\":\"/run/kiln-volumes/0\"},"
	    "{\"destination\":\"/etc/hosts\",\"options\":[\"bind\",\"ro\"],"
	    "\"source\":\"/run/kiln-volumes/1\"},"
	    "{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\",\"options\":"
	    "[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=65536k\"]},"
	    "{\"destination\":\"/rel\",\"type\":\"bind\",\"options\":[\"bind\",\"noexec\"],"
	    "\"source\":\"/run/kiln-volumes/2\"}]");
	if (strstr(out, want) == NULL)
		tap_diag("got %s", out);
	TAP_CHECK(strstr(out, want) != NULL);
	TAP_CHECK(vols.n == 3);
	TAP_CHECK_STR(vols.v[0].source, data);
	TAP_CHECK(vols.v[0].dir && vols.v[0].recursive && !vols.v[0].readonly);
	TAP_CHECK_STR(vols.v[1].source, hosts);
	TAP_CHECK(!vols.v[1].dir && !vols.v[1].recursive && vols.v[1].readonly);
	TAP_CHECK_STR(vols.v[2].source, hosts);
	TAP_CHECK(!vols.v[2].dir && !vols.v[2].readonly);
	kiln_volumes_release(&vols);
	oci_config_free(c);
	free(out);
	out = NULL;

	/* a source that does not exist, or is neither directory nor file */
	free(extra);
	extra = xasprintf(", \"mounts\": [{\"destination\": \"/x\", \"type\": \"bind\", "
			  "\"source\": \"%s/nope\"}]",
			  dir);
	c = config_with(extra);
	TAP_CHECK(c != NULL && kiln_guest_spec(c, dir, &out, &len, &vols, &err) < 0);
	{
		cleanup_free char *msg =
		    xasprintf("mounts[0].source %s/nope: No such file or directory", dir);

		TAP_CHECK_STR(err->msg, msg);
	}
	kiln_error_free(&err);
	oci_config_free(c);
	TAP_CHECK(mkfifo(fifo, 0600) == 0);
	free(extra);
	extra = xasprintf(", \"mounts\": [{\"destination\": \"/x\", \"type\": \"bind\", "
			  "\"source\": \"%s\"}]",
			  fifo);
	c = config_with(extra);
	TAP_CHECK(c != NULL && kiln_guest_spec(c, dir, &out, &len, &vols, &err) < 0);
	TAP_CHECK(strstr(err->msg, "only directories and regular files can be shared") != NULL);
	TAP_CHECK(vols.n == 0 && out == NULL);
	rmdir(data);
	rmdir(shm);
	return TAP_PASS;
}

/* The share's layout, container.json's record of the volumes, and
 * virtiofsd's command line. */
static int test_volumes_share(void)
{
	cleanup_tmpdir char *dir = test_tmpdir_make("volshare");
	cleanup_free char *share = NULL, *e0 = NULL, *e1 = NULL;
	cleanup_json_gen kiln_json_gen_t *g = kiln_json_gen_new(false);
	cleanup_json kiln_json_t *doc = NULL;
	cleanup_error kiln_error_t err = NULL;
	cleanup_free char *text = NULL;
	struct kiln_volumes vs = {0}, back = {0};
	struct kiln_virtiofsd_argv a;
	struct stat st;
	size_t len;

	TAP_CHECK(dir != NULL);
	share = xasprintf("%s/volumes", dir);
	e0 = xasprintf("%s/0", share);
	e1 = xasprintf("%s/1", share);
	kiln_volumes_add(&vs, xstrdup("/srv/data"), true, false, true);
	kiln_volumes_add(&vs, xstrdup("/etc/hosts"), false, true, false);
	TAP_CHECK(kiln_volumes_make_share(share, &vs, &err) == 0);
	TAP_CHECK(stat(share, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
	TAP_CHECK(stat(e0, &st) == 0 && S_ISDIR(st.st_mode));
	TAP_CHECK(stat(e1, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0);
	/* a second time: the directory is there already */
	TAP_CHECK(kiln_volumes_make_share(share, &vs, &err) < 0);
	TAP_CHECK(strstr(err->msg, "File exists") != NULL);
	kiln_error_free(&err);
	unlink(e1);
	rmdir(e0);
	rmdir(share);

	kiln_volumes_emit(g, &vs);
	TAP_CHECK(kiln_json_gen_finish(g, &text, &len, &err) == 0);
	TAP_CHECK_STR(text, "[{\"source\":\"/srv/data\",\"dir\":true,\"readonly\":false,"
			    "\"recursive\":true},{\"source\":\"/etc/hosts\",\"dir\":false,"
			    "\"readonly\":true,\"recursive\":false}]");
	TAP_CHECK(kiln_json_parse(text, len, &doc, &err) == 0);
	TAP_CHECK(kiln_volumes_parse(doc, "volumes.sources", &back, &err) == 0);
	TAP_CHECK(back.n == 2 && streq(back.v[1].source, "/etc/hosts") && back.v[0].dir &&
		  back.v[0].recursive && !back.v[0].readonly && back.v[1].readonly);
	kiln_volumes_release(&back);
	kiln_json_free(doc);
	doc = NULL;
	TAP_CHECK(kiln_json_parse("[{\"source\": \"rel\"}]", 19, &doc, &err) == 0);
	TAP_CHECK(kiln_volumes_parse(doc, "volumes.sources", &back, &err) < 0);
	TAP_CHECK_STR(err->msg, "volumes.sources[0].source rel: not an absolute path");
	kiln_error_free(&err);

	kiln_virtiofsd_argv(KILN_VIRTIOFSD, "/run/kiln/c1/volumes", "none", 3, &a);
	{
		static const char *const want[] = {KILN_VIRTIOFSD,
						   "--fd=3",
						   "-f",
						   "-o",
						   "source=/run/kiln/c1/volumes",
						   "-o",
						   "cache=none",
						   "-o",
						   "sandbox=namespace",
						   "-o",
						   "no_xattr",
						   "-o",
						   "log_level=err"};
		size_t i;

		for (i = 0; i < ARRAY_SIZE(want); i++)
			TAP_CHECK(a.argv[i] != NULL && streq(a.argv[i], want[i]));
		TAP_CHECK(a.argv[i] == NULL);
	}
	kiln_virtiofsd_argv_free(&a);
	kiln_volumes_release(&vs);
	return TAP_PASS;
}

/* root.path in the forms runtime-tools and people write it. */
static int test_rootfs_path(void)
{
	cleanup_tmpdir char *b = test_tmpdir_make("rootpath");
	cleanup_free char *rootfs = NULL, *link = NULL;
	static const char *const rel[] = {"rootfs",   "rootfs/",      "./rootfs", "./rootfs/.",
					  "rootfs//", "../%s/rootfs", "lnk",	  "lnk/"};

	TAP_CHECK(b != NULL);
	rootfs = xasprintf("%s/rootfs", b);
	link = xasprintf("%s/lnk", b);
	TAP_CHECK(mkdir(rootfs, 0755) == 0 && symlink("rootfs", link) == 0);
	for (size_t i = 0; i < ARRAY_SIZE(rel); i++) {
		cleanup_free char *r = xasprintf(rel[i], strrchr(b, '/') + 1);
		cleanup_free char *got = kiln_rootfs_path(b, r);

		if (!streq(got, rootfs)) {
			tap_diag("root.path \"%s\": %s, want %s", r, got, rootfs);
			rmdir(rootfs);
			return TAP_FAIL;
		}
	}
	{
		cleanup_free char *abs = xasprintf("%s/./rootfs/", b);
		cleanup_free char *got = kiln_rootfs_path("/elsewhere", abs);
		cleanup_free char *dot = kiln_rootfs_path(b, ".");
		cleanup_free char *dot_slash = kiln_rootfs_path(b, "./");
		cleanup_free char *missing = kiln_rootfs_path(b, "nope/");

		TAP_CHECK_STR(got, rootfs);
		/* "." is the bundle itself (runtime-tools' generator writes it) */
		TAP_CHECK_STR(dot, b);
		TAP_CHECK_STR(dot_slash, b);
		TAP_CHECK(strncmp(missing, b, strlen(b)) == 0 && strstr(missing, "/nope") != NULL);
	}
	rmdir(rootfs);
	return TAP_PASS;
}

/* config.md#poststart, #poststop: a failing hook there is a warning and
 * the next one runs; a failing prestart hook stops the others. */
static int test_hooks_failing(void)
{
	cleanup_tmpdir char *d = test_tmpdir_make("hooks");
	cleanup_free char *cfg = NULL, *path = NULL, *ran = NULL, *text = NULL;
	cleanup_error kiln_error_t err = NULL;
	struct kiln_container c = {0};
	size_t len;

	TAP_CHECK(d != NULL);
	cfg = xasprintf(
	    "{\"ociVersion\": \"1.3.0\", \"root\": {\"path\": \"r\"}, \"hooks\": {"
	    "\"poststart\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"exit 3\"]},"
	    " {\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat >%s/poststart\"]}],"
	    "\"poststop\": [{\"path\": \"/nonexistent/hook\"},"
	    " {\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat >%s/poststop\"]}],"
	    "\"prestart\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"exit 4\"]},"
	    " {\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat >%s/prestart\"]}]}}",
	    d, d, d);
	path = xasprintf("%s/config.json", d);
	TAP_CHECK(kiln_write_file_atomic(path, cfg, strlen(cfg), 0600, &err) == 0);
	c.id = "h1";
	c.dir = d;
	c.bundle = d;

	TAP_CHECK(kiln_hooks_run(&c, OCI_HOOK_POSTSTART, &err) == 0 && err == NULL);
	ran = xasprintf("%s/poststart", d);
	TAP_CHECK(kiln_read_file(ran, 4096, &text, &len, &err) == 0);
	TAP_CHECK(strstr(text, "\"id\":\"h1\"") != NULL || strstr(text, "\"id\": \"h1\"") != NULL);
	free(ran);
	ran = xasprintf("%s/poststop", d);
	TAP_CHECK(kiln_hooks_run(&c, OCI_HOOK_POSTSTOP, &err) == 0 && err == NULL);
	TAP_CHECK(access(ran, F_OK) == 0);
	free(ran);
	ran = xasprintf("%s/prestart", d);
	TAP_CHECK(kiln_hooks_run(&c, OCI_HOOK_PRESTART, &err) < 0);
	TAP_CHECK_STR(err->msg, "hooks.prestart[0] (/bin/sh): exited with status 4");
	TAP_CHECK(access(ran, F_OK) < 0);
	return TAP_PASS;
}

/* The operations find containers under their context's root, take plain
 * arguments and say what is wrong with a stopped one. */
static int test_container_ops(void)
{
	cleanup_tmpdir char *root = test_tmpdir_make("root");
	cleanup_tmpdir char *other = test_tmpdir_make("other");
	cleanup_free char *dir = NULL, *spec = NULL, *ran = NULL, *out = NULL;
	cleanup_error kiln_error_t err = NULL;
	struct kiln_context ctx = KILN_CONTEXT_INIT, elsewhere = KILN_CONTEXT_INIT;
	struct kiln_container c = {0};

	TAP_CHECK(root != NULL && other != NULL);
	ctx.root = root;
	elsewhere.root = other;
	dir = xasprintf("%s/c1", root);
	ran = xasprintf("%s/poststop", other);
	TAP_CHECK(mkdir(dir, 0700) == 0);
	spec = xasprintf("{\"ociVersion\": \"1.3.0\", \"root\": {\"path\": \"r\"}, "
			 "\"hooks\": {\"poststop\": [{\"path\": \"/bin/sh\", "
			 "\"args\": [\"sh\", \"-c\", \"cat >%s\"]}]}}",
			 ran);
	write_file(dir, "config.json", spec, strlen(spec));
	c.id = "c1";
	c.dir = dir;
	c.bundle = root;
	c.created = "2026-12-07T18:00:00Z";
	TAP_CHECK(kiln_container_save(&c, &err) == 0);

	TAP_CHECK(kiln_container_state(&ctx, "c1", &out, &err) == 0);
	TAP_CHECK(strstr(out, "\"stopped\"") != NULL);
	TAP_CHECK(kiln_container_state(&elsewhere, "c1", &out, &err) < 0);
	TAP_CHECK_STR(err->msg, "container \"c1\" does not exist");
	kiln_error_free(&err);
	TAP_CHECK(kiln_container_kill(&ctx, "c1", SIGTERM, false, &err) < 0);
	TAP_CHECK_STR(err->msg, "container \"c1\" is not running");
	kiln_error_free(&err);
	TAP_CHECK(kiln_container_pause(&ctx, "c1", &err) < 0);
	TAP_CHECK_STR(err->msg, "container \"c1\" is stopped, not running");
	kiln_error_free(&err);
	TAP_CHECK(kiln_container_resume(&ctx, "c1", &err) < 0);
	TAP_CHECK_STR(err->msg, "container \"c1\" is stopped, not paused");
	kiln_error_free(&err);
	TAP_CHECK(kiln_container_delete(&elsewhere, "c1", false, &err) < 0);
	TAP_CHECK_STR(err->msg, "container \"c1\" does not exist");
	kiln_error_free(&err);
	TAP_CHECK(kiln_container_delete(&elsewhere, "c1", true, &err) == 0 && err == NULL);
	TAP_CHECK(access(dir, F_OK) == 0);

	/* delete runs the poststop hooks and removes the state directory */
	TAP_CHECK(kiln_container_delete(&ctx, "c1", false, &err) == 0 && err == NULL);
	TAP_CHECK(access(dir, F_OK) < 0 && access(ran, F_OK) == 0);
	TAP_CHECK(kiln_container_delete(&ctx, "c1", false, &err) < 0);
	TAP_CHECK_STR(err->msg, "container \"c1\" does not exist");
	return TAP_PASS;
}

TAP_MAIN({"signal names and numbers", test_signals}, {"VM size", test_vm_size},
	 {"cgroup directories", test_cgroup_dir}, {"kiln.conf and the kernel check", test_conf},
	 {"namespaces given by path", test_namespace_paths}, {"root.path forms", test_rootfs_path},
	 {"host bind mounts become volumes in the guest's spec", test_guest_spec_volumes},
	 {"the volumes' share, record and virtiofsd command line", test_volumes_share},
	 {"failing poststart and poststop hooks warn, the rest run", test_hooks_failing},
	 {"operations on a stopped container, under their context's root", test_container_ops})
