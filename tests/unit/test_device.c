/* The device list (vmm/device.h): the registered kinds, a machine built
 * from a configuration and its devices found by kind and id (the way
 * drive PATCH finds its drive), and what a failure halfway through leaves
 * to free: with test kinds that count their frees, and with the real
 * kinds, where nothing may stay open once the list is freed. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/unit/machine_fixture.h"
#include "tests/unit/tap.h"
#include "tests/unit/tmpdir.h"
#include "vmm/device.h"
#include "vmm/devices/boot_timer.h"
#include "vmm/devices/i8042.h"
#include "vmm/devices/serial.h"
#include "vmm/virtio/blk.h"
#include "vmm/virtio/fs.h"
#include "vmm/virtio/net.h"
#include "vmm/virtio/vsock.h"

/* Descriptors open in this process. */
static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static int kind_index(const struct vmm_device_kind *kind)
{
	int at = -1;

	for (size_t i = 0; i < vmm_device_kinds_len; i++) {
		if (vmm_device_kinds[i] != kind)
			continue;
		if (at >= 0)
			return -2; /* registered twice */
		at = (int)i;
	}
	return at;
}

static int test_kinds_registered_once(void)
{
	const struct vmm_device_kind *const all[] = {
	    &serial_kind,	&i8042_kind,	  &boot_timer_kind, &virtio_blk_kind,
	    &virtio_vsock_kind, &virtio_net_kind, &virtio_fs_kind};

	TAP_CHECK(vmm_device_kinds_len == ARRAY_SIZE(all));
	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		TAP_CHECK(kind_index(all[i]) >= 0);
	for (size_t i = 0; i < vmm_device_kinds_len; i++) {
		const struct vmm_device_kind *k = vmm_device_kinds[i];

		TAP_CHECK(k->name && k->count && k->create && k->free);
		/* A kind with ids says what an instance is called. */
		TAP_CHECK(!k->id == !k->what);
		for (size_t j = 0; j < i; j++)
			TAP_CHECK(!streq(vmm_device_kinds[j]->name, k->name));
	}
	/* virtio-mmio slots go to drives, then vsock, then interfaces. */
	TAP_CHECK(kind_index(&virtio_blk_kind) < kind_index(&virtio_vsock_kind));
	TAP_CHECK(kind_index(&virtio_vsock_kind) < kind_index(&virtio_net_kind));
	/* Only drives can be updated while the VM runs. */
	for (size_t i = 0; i < vmm_device_kinds_len; i++)
		TAP_CHECK(!vmm_device_kinds[i]->update ==
			  (vmm_device_kinds[i] != &virtio_blk_kind));
	return TAP_PASS;
}

/* ---- test kinds: count what they build and free ---- */

struct fake {
	const struct vmm_device_kind *kind;
	unsigned int i;
	int fd;
};

static unsigned int fake_fail_at = ~0u; /* which build (in order) fails */
static unsigned int fake_prepare_fail_at = ~0u;
static unsigned int fake_built, fake_prepared;
static char fake_freed[16]; /* what was freed, in order: the kind's letter */
static unsigned int fake_nr_freed;

static unsigned int fake_count2(const struct vmm_config *cfg)
{
	(void)cfg;
	return 2;
}

static const char *fake_id(const struct vmm_config *cfg, unsigned int i)
{
	(void)cfg;
	return i == 0 ? "zero" : "one";
}

static int fake_prepare(const struct vmm_config *cfg, unsigned int i, int *fd, kiln_error_t *err)
{
	(void)cfg, (void)i;
	if (fake_prepared++ == fake_prepare_fail_at)
		return kiln_error_make(err, 0, "prepare %u failed", i);
	*fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return *fd < 0 ? kiln_error_make(err, 0, "/dev/null") : 0;
}

static int fake_create(const struct vmm_device_env *env, unsigned int i, int fd, void **dev,
		       kiln_error_t *err);

static void fake_free(void *dev)
{
	struct fake *f = dev;

	if (f->fd >= 0)
		close(f->fd);
	if (fake_nr_freed < sizeof(fake_freed) - 1)
		fake_freed[fake_nr_freed++] = f->kind->name[0];
	free(f);
}

static int fake_update(void *dev, const char *path, kiln_error_t *err)
{
	struct fake *f = dev;

	return kiln_error_make(err, 0, "update %s %u to %s", f->kind->name, f->i, path);
}

/* Two of each: "a" with ids and an update, "b" with ids and a host fd,
 * "c" with a host fd and no ids. Fields in declaration order: name, what,
 * count, id, prepare, create, free, update. */
static const struct vmm_device_kind kind_a = {"a",  "thing",	 fake_count2, fake_id,
					      NULL, fake_create, fake_free,   fake_update};
static const struct vmm_device_kind kind_b = {"b",	    "b-thing",	 fake_count2, fake_id,
					      fake_prepare, fake_create, fake_free,   NULL};
static const struct vmm_device_kind kind_c = {"c",	    NULL,	 fake_count2, NULL,
					      fake_prepare, fake_create, fake_free,   NULL};
static const struct vmm_device_kind *const fake_kinds[] = {&kind_a, &kind_b, &kind_c};

static int fake_create(const struct vmm_device_env *env, unsigned int i, int fd, void **dev,
		       kiln_error_t *err)
{
	const struct vmm_device_kind *kind = NULL;
	struct fake *f;

	(void)env;
	/* Which kind is building: the one whose turn it is in build order. */
	kind = fake_kinds[fake_built / 2];
	if (fake_built++ == fake_fail_at) {
		if (fd >= 0)
			close(fd); /* create() owns the fd, also on failure */
		return kiln_error_make(err, 0, "%s %u failed", kind->name, i);
	}
	f = xzalloc(sizeof(*f));
	f->kind = kind;
	f->i = i;
	f->fd = fd;
	*dev = f;
	return 0;
}

static void fake_reset(unsigned int fail_at, unsigned int prepare_fail_at)
{
	fake_fail_at = fail_at;
	fake_prepare_fail_at = prepare_fail_at;
	fake_built = fake_prepared = fake_nr_freed = 0;
	memset(fake_freed, 0, sizeof(fake_freed));
}

/* A list built from the test kinds; the configuration is only passed on. */
struct fake_fx {
	struct vmm_devices l;
	struct vmm_config cfg;
	struct vmm_device_env env;
	int fds[VMM_DEVICES_MAX];
	int fds_before; /* open before the test */
};

static void fake_fx_init(struct fake_fx *x, unsigned int fail_at, unsigned int prepare_fail_at)
{
	memset(x, 0, sizeof(*x));
	vmm_config_init(&x->cfg);
	x->env.cfg = &x->cfg;
	x->fds_before = open_fds();
	fake_reset(fail_at, prepare_fail_at);
}

static int fake_fx_prepare(struct fake_fx *x, kiln_error_t *err)
{
	return vmm_devices_prepare(fake_kinds, ARRAY_SIZE(fake_kinds), &x->cfg, x->fds, err);
}

static int fake_fx_build(struct fake_fx *x, kiln_error_t *err)
{
	return vmm_devices_build(&x->l, fake_kinds, ARRAY_SIZE(fake_kinds), &x->env, x->fds, err);
}

static int test_find_by_kind_and_id(void)
{
	cleanup_error kiln_error_t err = NULL;
	struct fake_fx x;
	struct vmm_devices *l = &x.l;
	int *fds = x.fds;
	int before;
	struct fake *f;

	fake_fx_init(&x, ~0u, ~0u);
	before = x.fds_before;
	TAP_CHECK(fake_fx_prepare(&x, &err) == 0);
	/* b and c prepared one fd per instance, in build order. */
	TAP_CHECK(fds[0] < 0 && fds[1] < 0 && fds[2] >= 0 && fds[5] >= 0 && fds[6] < 0);
	TAP_CHECK(open_fds() == before + 4);
	TAP_CHECK(fake_fx_build(&x, &err) == 0);
	for (unsigned int i = 0; i < VMM_DEVICES_MAX; i++)
		TAP_CHECK(fds[i] == -1); /* every fd went to its device */
	TAP_CHECK(l->nr == 6);
	TAP_CHECK(vmm_devices_count(l, &kind_a) == 2 && vmm_devices_count(l, &kind_c) == 2);

	/* The same id under two kinds: each finds its own. */
	f = vmm_devices_get(l, &kind_b, "one");
	TAP_CHECK(f && f->kind == &kind_b && f->i == 1 && f->fd >= 0);
	f = vmm_devices_get(l, &kind_a, "one");
	TAP_CHECK(f && f->kind == &kind_a && f->i == 1 && f->fd < 0);
	TAP_CHECK_STR(vmm_devices_find(l, &kind_a, "zero")->id, "zero");
	TAP_CHECK(vmm_devices_get(l, &kind_a, "two") == NULL);
	TAP_CHECK(vmm_devices_get(l, &kind_c, "zero") == NULL); /* c has no ids */
	f = vmm_devices_get(l, &kind_c, NULL);
	TAP_CHECK(f && f->kind == &kind_c && f->i == 0);

	/* Updates reach the device by id, or name what is missing. */
	TAP_CHECK(vmm_devices_update(l, &kind_a, "one", "/x", &err) < 0);
	TAP_CHECK_STR(err->msg, "update a 1 to /x");
	kiln_error_free(&err);
	TAP_CHECK(vmm_devices_update(l, &kind_a, "two", "/x", &err) < 0);
	TAP_CHECK_STR(err->msg, "thing 'two' is not attached to the microVM");
	kiln_error_free(&err);
	TAP_CHECK(vmm_devices_update(l, &kind_b, "one", "/x", &err) < 0);
	TAP_CHECK_STR(err->msg, "b-thing 'one' cannot be updated while the microVM runs");
	kiln_error_free(&err);

	vmm_devices_free(l);
	TAP_CHECK(l->nr == 0 && fake_nr_freed == 6);
	TAP_CHECK_STR(fake_freed, "ccbbaa"); /* the last built first */
	TAP_CHECK(open_fds() == before);
	vmm_config_release(&x.cfg);
	return TAP_PASS;
}

/* A create that fails halfway: what was built stays in the list (the bus
 * cannot drop it) and is freed with it, each device once; the fds
 * prepared for devices never built are closed by unprepare. */
static int test_partly_built(void)
{
	cleanup_error kiln_error_t err = NULL;
	struct fake_fx x;
	struct vmm_devices *l = &x.l;
	int *fds = x.fds;

	fake_fx_init(&x, 3, ~0u); /* the second b fails */
	TAP_CHECK(fake_fx_prepare(&x, &err) == 0);
	TAP_CHECK(fake_fx_build(&x, &err) < 0);
	TAP_CHECK_STR(err->msg, "b 1 failed");
	TAP_CHECK(l->nr == 3 && fake_built == 4);
	TAP_CHECK(fds[2] == -1 && fds[3] == -1 && fds[4] >= 0 && fds[5] >= 0);
	vmm_devices_unprepare(fds);
	TAP_CHECK(fds[4] == -1 && fds[5] == -1);
	vmm_devices_free(l);
	TAP_CHECK_STR(fake_freed, "baa");
	TAP_CHECK(l->nr == 0 && open_fds() == x.fds_before);
	/* Freeing an empty list again does nothing. */
	vmm_devices_free(l);
	TAP_CHECK(fake_nr_freed == 3);
	vmm_config_release(&x.cfg);
	return TAP_PASS;
}

/* A prepare that fails closes what the others took. */
static int test_prepare_fails(void)
{
	cleanup_error kiln_error_t err = NULL;
	struct fake_fx x;

	fake_fx_init(&x, ~0u, 2); /* c's first fails, after both of b's */
	TAP_CHECK(fake_fx_prepare(&x, &err) < 0);
	TAP_CHECK_STR(err->msg, "prepare 0 failed");
	for (unsigned int i = 0; i < VMM_DEVICES_MAX; i++)
		TAP_CHECK(x.fds[i] == -1);
	TAP_CHECK(open_fds() == x.fds_before && fake_built == 0);
	vmm_config_release(&x.cfg);
	return TAP_PASS;
}

static int test_list_full(void)
{
	cleanup_error kiln_error_t err = NULL;
	struct vmm_devices l = {0};
	struct fake *spare = xzalloc(sizeof(*spare));

	fake_reset(~0u, ~0u);
	for (unsigned int i = 0; i < VMM_DEVICES_MAX; i++) {
		struct fake *f = xzalloc(sizeof(*f));

		f->kind = &kind_a;
		f->fd = -1;
		TAP_CHECK(vmm_devices_add(&l, &kind_a, NULL, f, &err) == 0);
	}
	TAP_CHECK(vmm_devices_add(&l, &kind_a, NULL, spare, &err) < 0);
	TAP_CHECK_STR(err->msg, "too many devices (at most 32)");
	free(spare); /* not taken on failure */
	vmm_devices_free(&l);
	TAP_CHECK(fake_nr_freed == sizeof(fake_freed) - 1 && l.nr == 0);
	return TAP_PASS;
}

/* ---- the real kinds on a machine without KVM ---- */

static char *disk_make(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		abort();
	close(fd);
	return path;
}

static void drive_add(struct vmm_config *cfg, const char *id, char *path)
{
	struct drive_config *d = &cfg->drives[cfg->nr_drives++];

	d->drive_id = xstrdup(id);
	d->path_on_host = path;
	d->is_root_device = cfg->nr_drives == 1;
}

/* A machine without KVM whose devices come from vmm_device_kinds[]: a
 * console on /dev/null, drives in dir. */
struct real_fx {
	struct machine m;
	struct vmm_config cfg;
	struct vmm_device_env env;
	struct vmm_devices l;
	int fds_before;
};

static void real_fx_init(struct real_fx *x)
{
	memset(x, 0, sizeof(*x));
	x->fds_before = open_fds();
	test_machine_init(&x->m, 0);
	vmm_config_init(&x->cfg);
	x->env = (struct vmm_device_env){.m = &x->m, .cfg = &x->cfg, .console_in = -1};
	x->env.console_out = open("/dev/null", O_WRONLY | O_CLOEXEC);
}

/* InstanceStart's two steps, as vmm.c runs them. */
static int real_fx_build(struct real_fx *x, kiln_error_t *err)
{
	int fds[VMM_DEVICES_MAX];
	int r = vmm_devices_prepare(vmm_device_kinds, vmm_device_kinds_len, &x->cfg, fds, err);

	if (r == 0)
		r = vmm_devices_build(&x->l, vmm_device_kinds, vmm_device_kinds_len, &x->env, fds,
				      err);
	vmm_devices_unprepare(fds);
	return r;
}

/* Frees the devices; whether nothing they opened is left. */
static bool real_fx_release(struct real_fx *x)
{
	vmm_devices_free(&x->l);
	if (x->env.console_out >= 0)
		close(x->env.console_out);
	vmm_config_release(&x->cfg);
	test_machine_release(&x->m);
	return x->l.nr == 0 && open_fds() == x->fds_before;
}

static int test_real_machine(void)
{
	cleanup_error kiln_error_t err = NULL;
	cleanup_tmpdir char *dir = test_tmpdir_make("device");
	cleanup_free char *other = NULL;
	struct real_fx x;
	struct virtio_blk *b;

	TAP_CHECK(dir != NULL);
	real_fx_init(&x);
	drive_add(&x.cfg, "rootfs", disk_make(dir, "root.img"));
	drive_add(&x.cfg, "data", disk_make(dir, "data.img"));
	TAP_CHECK(real_fx_build(&x, &err) == 0);
	/* serial, i8042, boot timer, two drives, in slot order. */
	TAP_CHECK(x.l.nr == 5 && x.m.nr_virtio == 2);
	TAP_CHECK(vmm_devices_get(&x.l, &serial_kind, NULL) &&
		  vmm_devices_get(&x.l, &i8042_kind, NULL));
	TAP_CHECK(vmm_devices_get(&x.l, &virtio_vsock_kind, NULL) == NULL);
	TAP_CHECK(vmm_devices_count(&x.l, &virtio_blk_kind) == 2);
	b = vmm_devices_get(&x.l, &virtio_blk_kind, "data");
	TAP_CHECK(b && b->mmio.slot.base == MACHINE_VIRTIO_BASE + MACHINE_VIRTIO_SLOT);
	TAP_CHECK_STR(b->drive_id, "data");

	/* Drive PATCH's path: that drive, and only it, switches files. */
	other = disk_make(dir, "other.img");
	TAP_CHECK(vmm_devices_update(&x.l, &virtio_blk_kind, "data", other, &err) == 0);
	TAP_CHECK_STR(b->path, other);
	b = vmm_devices_get(&x.l, &virtio_blk_kind, "rootfs");
	TAP_CHECK(b && streq(b->path, x.cfg.drives[0].path_on_host));
	TAP_CHECK(vmm_devices_update(&x.l, &virtio_blk_kind, "nope", "/x", &err) < 0);
	TAP_CHECK_STR(err->msg, "drive 'nope' is not attached to the microVM");
	TAP_CHECK(real_fx_release(&x));
	return TAP_PASS;
}

/* A drive that cannot be opened stops the build after the devices before
 * it; freeing the list then leaves nothing open. */
static int test_real_machine_partly_built(void)
{
	cleanup_error kiln_error_t err = NULL;
	cleanup_tmpdir char *dir = test_tmpdir_make("device");
	struct real_fx x;

	TAP_CHECK(dir != NULL);
	real_fx_init(&x);
	drive_add(&x.cfg, "rootfs", disk_make(dir, "root.img"));
	drive_add(&x.cfg, "gone", xasprintf("%s/missing.img", dir));
	TAP_CHECK(real_fx_build(&x, &err) < 0);
	TAP_CHECK(strstr(err->msg, "drive 'gone'") != NULL);
	TAP_CHECK(x.l.nr == 4 && vmm_devices_get(&x.l, &virtio_blk_kind, "rootfs") != NULL);
	TAP_CHECK(vmm_devices_get(&x.l, &virtio_blk_kind, "gone") == NULL);
	TAP_CHECK(real_fx_release(&x));
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_kinds_registered_once), TAP_TEST(test_find_by_kind_and_id),
	 TAP_TEST(test_partly_built), TAP_TEST(test_prepare_fails), TAP_TEST(test_list_full),
	 TAP_TEST(test_real_machine), TAP_TEST(test_real_machine_partly_built))
