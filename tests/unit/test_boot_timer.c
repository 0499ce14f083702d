/* The boot timer signalled the way Firecracker's test init does, over MMIO
 * and over port 0x3f0. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/util.h"
#include "tests/unit/machine_fixture.h"
#include "tests/unit/tap.h"
#include "vmm/devices/boot_timer.h"

struct fixture {
	struct machine m;
	struct boot_timer *bt;
};

static void fixture_release(struct fixture *f)
{
	boot_timer_free(f->bt);
	f->bt = NULL;
}
#define cleanup_fixture __attribute__((cleanup(fixture_release)))

static int fixture_init(struct fixture *f)
{
	cleanup_error kiln_error_t err = NULL;

	*f = (struct fixture){0};
	test_machine_init(&f->m, 0);
	if (boot_timer_create(&f->m, &f->bt, &err) < 0) {
		tap_diag("boot_timer_create: %s", err->msg);
		return -1;
	}
	return 0;
}

static int mmio_write(struct fixture *f, uint64_t off, uint64_t val, uint32_t len)
{
	uint8_t data[8];

	for (unsigned int i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(val >> (8 * i)); /* x86 is little-endian */
	return bus_dispatch(&f->m.mmio, MACHINE_BOOT_TIMER_ADDR + off, true, data, len);
}

static int test_boot_timer_ignores_others(void)
{
	cleanup_fixture struct fixture f;
	uint8_t b = BOOT_TIMER_MAGIC;

	TAP_CHECK(fixture_init(&f) == 0);
	boot_timer_start(f.bt);
	TAP_CHECK(boot_timer_elapsed_us(f.bt) == -1);
	TAP_CHECK(mmio_write(&f, 0, 124, 1) == 0);		/* wrong value */
	TAP_CHECK(mmio_write(&f, 0, BOOT_TIMER_MAGIC, 4) == 0); /* wrong size */
	TAP_CHECK(mmio_write(&f, 0, BOOT_TIMER_MAGIC, 2) == 0);
	TAP_CHECK(mmio_write(&f, 1, BOOT_TIMER_MAGIC, 1) == 0); /* wrong offset */
	TAP_CHECK(mmio_write(&f, 0xfff, BOOT_TIMER_MAGIC, 1) == 0);
	TAP_CHECK(bus_dispatch(&f.m.pio, BOOT_TIMER_PIO_PORT, false, &b, 1) == 0);
	TAP_CHECK(b == 0); /* reads see zero and do nothing */
	TAP_CHECK(boot_timer_elapsed_us(f.bt) == -1);
	return TAP_PASS;
}

/* Microseconds from a to b, rounded up: a bound no elapsed time the
 * timer measured inside [a, b] can exceed. */
static int64_t us_between(const struct timespec *a, const struct timespec *b)
{
	int64_t ns = (b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);

	return (ns + 999) / 1000;
}

/* The MMIO write stops the clock at the time elapsed since the start, in
 * microseconds. No sleep and no threshold: the start is put 20 ms before a
 * reading of CLOCK_MONOTONIC, so the elapsed time is at least 20000 us
 * however the test is scheduled, and at most what the clock says passed
 * between that start and a reading taken after the write. */
static int test_boot_timer_mmio(void)
{
	cleanup_fixture struct fixture f;
	struct timespec start, after;

	TAP_CHECK(fixture_init(&f) == 0);
	TAP_CHECK(clock_gettime(CLOCK_MONOTONIC, &start) == 0);
	start.tv_nsec -= 20000000L; /* 20 ms */
	if (start.tv_nsec < 0) {
		start.tv_sec--;
		start.tv_nsec += 1000000000L;
	}
	boot_timer_start_at(f.bt, &start);
	TAP_CHECK(boot_timer_elapsed_us(f.bt) == -1);
	TAP_CHECK(mmio_write(&f, 0, BOOT_TIMER_MAGIC, 1) == 0);
	TAP_CHECK(clock_gettime(CLOCK_MONOTONIC, &after) == 0);
	TAP_CHECK(boot_timer_elapsed_us(f.bt) >= 20000);
	TAP_CHECK(boot_timer_elapsed_us(f.bt) <= us_between(&start, &after));
	return TAP_PASS;
}

static int test_boot_timer_pio(void)
{
	cleanup_fixture struct fixture f;
	uint8_t b = BOOT_TIMER_MAGIC;

	TAP_CHECK(fixture_init(&f) == 0);
	boot_timer_start(f.bt);
	TAP_CHECK(bus_dispatch(&f.m.pio, BOOT_TIMER_PIO_PORT, true, &b, 1) == 0);
	TAP_CHECK(boot_timer_elapsed_us(f.bt) >= 0);
	/* Only the one port: COM1's 0x3f8 and 0x3f1 stay free. */
	TAP_CHECK(bus_dispatch(&f.m.pio, BOOT_TIMER_PIO_PORT + 1, true, &b, 1) == -ENOENT);
	return TAP_PASS;
}

/* The line Firecracker's tests parse. */
static int test_boot_timer_log_line(void)
{
	cleanup_fixture struct fixture f;
	cleanup_error kiln_error_t err = NULL;
	char path[] = "/tmp/kiln-test-boot-timer.XXXXXX";
	cleanup_close int fd = mkstemp(path);
	cleanup_free char *log = NULL;
	cleanup_free char *want = NULL;

	TAP_CHECK(fd >= 0);
	TAP_CHECK(fixture_init(&f) == 0);
	TAP_CHECK(kiln_log_init("test", KILN_LOG_INFO, KILN_LOG_TEXT, path, &err) == 0);
	boot_timer_start(f.bt);
	TAP_CHECK(mmio_write(&f, 0, BOOT_TIMER_MAGIC, 1) == 0);
	kiln_log_close();
	TAP_CHECK(kiln_read_file(path, 1 << 16, &log, NULL, &err) == 0);
	unlink(path);
	want =
	    xasprintf("Guest-boot-time = %6lld us %lld ms", (long long)boot_timer_elapsed_us(f.bt),
		      (long long)boot_timer_elapsed_us(f.bt) / 1000);
	if (strstr(log, want) == NULL) {
		tap_diag("log: %s", log);
		return TAP_FAIL;
	}
	return TAP_PASS;
}

static int test_boot_timer_overlap_reported(void)
{
	cleanup_fixture struct fixture f;
	cleanup_error kiln_error_t err = NULL;
	struct boot_timer *again = NULL;

	TAP_CHECK(fixture_init(&f) == 0);
	TAP_CHECK(boot_timer_create(&f.m, &again, &err) < 0);
	TAP_CHECK(again == NULL);
	TAP_CHECK(err != NULL && strstr(err->msg, "boot timer") != NULL);
	return TAP_PASS;
}

/* kiln-vmm takes InstanceStart before it builds the VM, then hands that
 * moment to the timer: the boot time includes building the VM. */
static int test_boot_timer_start_at(void)
{
	cleanup_fixture struct fixture f;
	struct timespec t, after;

	TAP_CHECK(fixture_init(&f) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec -= 2;
	boot_timer_start_at(f.bt, &t);
	TAP_CHECK(mmio_write(&f, 0, BOOT_TIMER_MAGIC, 1) == 0);
	clock_gettime(CLOCK_MONOTONIC, &after);
	/* At least the 2 s given, and in microseconds: no more than what
	 * really passed since t (a unit slip would overshoot it 1000-fold). */
	TAP_CHECK(boot_timer_elapsed_us(f.bt) >= 2000000);
	TAP_CHECK(boot_timer_elapsed_us(f.bt) <= us_between(&t, &after));
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_boot_timer_ignores_others), TAP_TEST(test_boot_timer_start_at),
	 TAP_TEST(test_boot_timer_mmio), TAP_TEST(test_boot_timer_pio),
	 TAP_TEST(test_boot_timer_log_line), TAP_TEST(test_boot_timer_overlap_reported))
