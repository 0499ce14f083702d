/* The 8042 driven through the port-I/O bus as Linux's i8042 driver and its
 * reboot=k path drive it. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/unit/machine_fixture.h"
#include "tests/unit/tap.h"
#include "vmm/devices/i8042.h"

#define DATA   I8042_DATA_PORT
#define STATUS I8042_COMMAND_PORT

struct fixture {
	struct machine m;
	struct i8042 *d;
	int resets;
};

static void fixture_release(struct fixture *f)
{
	i8042_free(f->d);
	f->d = NULL;
}
#define cleanup_fixture __attribute__((cleanup(fixture_release)))

static void on_reset(void *opaque)
{
	struct fixture *f = opaque;

	f->resets++;
}

static int fixture_init(struct fixture *f)
{
	cleanup_error kiln_error_t err = NULL;

	*f = (struct fixture){0};
	test_machine_init(&f->m, 0);
	if (i8042_create(&f->m, on_reset, f, &f->d, &err) < 0) {
		tap_diag("i8042_create: %s", err->msg);
		return -1;
	}
	return 0;
}

static uint64_t irq_edges(struct fixture *f)
{
	return test_irq_edges(i8042_irq_fd(f->d));
}

/* i8042_command() in Linux: the reply is there once OBF is set. */
static int command_reply(struct fixture *f, uint8_t cmd)
{
	test_outb(&f->m, STATUS, cmd);
	if (!(test_inb(&f->m, STATUS) & 0x01))
		return -1;
	return test_inb(&f->m, DATA);
}

static int test_i8042_status_idle(void)
{
	cleanup_fixture struct fixture f;

	TAP_CHECK(fixture_init(&f) == 0);
	/* Not 0xff (Linux's "no controller"), keyboard not inhibited, SYS set,
	 * nothing to read, never busy. */
	TAP_CHECK(test_inb(&f.m, STATUS) == 0x14);
	TAP_CHECK(test_inb(&f.m, DATA) == 0x00);
	TAP_CHECK(irq_edges(&f) == 0);
	return TAP_PASS;
}

static int test_i8042_self_tests(void)
{
	cleanup_fixture struct fixture f;

	TAP_CHECK(fixture_init(&f) == 0);
	TAP_CHECK(command_reply(&f, 0xaa) == 0x55);
	TAP_CHECK((test_inb(&f.m, STATUS) & 0x01) == 0);
	TAP_CHECK(command_reply(&f, 0xab) == 0x00);
	/* Command replies are polled for; no interrupt. */
	TAP_CHECK(irq_edges(&f) == 0);
	TAP_CHECK(test_inb(&f.m, STATUS) & 0x08); /* last write was a command */
	return TAP_PASS;
}

static int test_i8042_command_byte(void)
{
	cleanup_fixture struct fixture f;

	TAP_CHECK(fixture_init(&f) == 0);
	/* Linux reads the command byte twice and wants the same value. */
	TAP_CHECK(command_reply(&f, 0x20) == 0x05);
	TAP_CHECK(command_reply(&f, 0x20) == 0x05);
	test_outb(&f.m, STATUS, 0x60);
	test_outb(&f.m, DATA, 0x47);
	TAP_CHECK((test_inb(&f.m, STATUS) & 0x08) == 0);
	TAP_CHECK(command_reply(&f, 0x20) == 0x47);
	test_outb(&f.m, STATUS, 0xad);
	TAP_CHECK(command_reply(&f, 0x20) == 0x57);
	test_outb(&f.m, STATUS, 0xae);
	TAP_CHECK(command_reply(&f, 0x20) == 0x47);
	/* Clearing bit 2 clears the status register's system flag. */
	test_outb(&f.m, STATUS, 0x60);
	test_outb(&f.m, DATA, 0x01);
	TAP_CHECK((test_inb(&f.m, STATUS) & 0x04) == 0);
	/* The output port round-trips without resetting anything. */
	test_outb(&f.m, STATUS, 0xd1);
	test_outb(&f.m, DATA, 0xdf);
	TAP_CHECK(command_reply(&f, 0xd0) == 0xdf);
	TAP_CHECK(f.resets == 0);
	return TAP_PASS;
}

static int test_i8042_keyboard_ack(void)
{
	cleanup_fixture struct fixture f;

	TAP_CHECK(fixture_init(&f) == 0);
	test_outb(&f.m, DATA, 0xf4); /* enable scanning */
	TAP_CHECK(irq_edges(&f) == 1);
	TAP_CHECK(test_inb(&f.m, DATA) == 0xfa);
	test_outb(&f.m, DATA, 0xff); /* reset: ACK, then BAT passed */
	TAP_CHECK(irq_edges(&f) == 1);
	TAP_CHECK(test_inb(&f.m, DATA) == 0xfa);
	TAP_CHECK(irq_edges(&f) == 1);
	TAP_CHECK(test_inb(&f.m, DATA) == 0xaa);
	TAP_CHECK(irq_edges(&f) == 0);
	return TAP_PASS;
}

static int test_i8042_reset(void)
{
	cleanup_fixture struct fixture f;

	TAP_CHECK(fixture_init(&f) == 0);
	test_outb(&f.m, STATUS, 0xff); /* pulses nothing */
	TAP_CHECK(f.resets == 0);
	test_outb(&f.m, DATA, 0xfe); /* to the keyboard: not a reset */
	TAP_CHECK(f.resets == 0);
	test_outb(&f.m, STATUS, 0xfe);
	TAP_CHECK(f.resets == 1);
	return TAP_PASS;
}

static int test_i8042_ctrl_alt_del(void)
{
	static const uint8_t want[] = {0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0,
				       0x71, 0xf0, 0x11, 0xf0, 0x14};
	cleanup_fixture struct fixture f;
	cleanup_error kiln_error_t err = NULL;

	TAP_CHECK(fixture_init(&f) == 0);
	TAP_CHECK(i8042_send_ctrl_alt_del(f.d, &err) == 0);
	/* The buffer holds one sequence; a second must wait for the guest. */
	TAP_CHECK(i8042_send_ctrl_alt_del(f.d, &err) < 0);
	TAP_CHECK(err != NULL && err->status == ENOSPC);
	TAP_CHECK(irq_edges(&f) == 1);
	/* Linux's i8042_interrupt reads one byte per IRQ: every byte that is
	 * still waiting after a read gets an edge. */
	for (size_t i = 0; i < sizeof(want); i++) {
		TAP_CHECK(test_inb(&f.m, STATUS) & 0x01);
		TAP_CHECK(test_inb(&f.m, DATA) == want[i]);
		TAP_CHECK(irq_edges(&f) == (i + 1 < sizeof(want) ? 1 : 0));
	}
	TAP_CHECK((test_inb(&f.m, STATUS) & 0x01) == 0);
	TAP_CHECK(i8042_send_ctrl_alt_del(f.d, &err) == 0);
	return TAP_PASS;
}

static int test_i8042_ctrl_alt_del_irq_disabled(void)
{
	cleanup_fixture struct fixture f;
	cleanup_error kiln_error_t err = NULL;

	TAP_CHECK(fixture_init(&f) == 0);
	test_outb(&f.m, STATUS, 0x60);
	test_outb(&f.m, DATA, 0x04);
	TAP_CHECK(i8042_send_ctrl_alt_del(f.d, &err) == 0);
	TAP_CHECK(irq_edges(&f) == 0);
	TAP_CHECK(test_inb(&f.m, STATUS) & 0x01);
	TAP_CHECK(test_inb(&f.m, DATA) == 0x14);
	return TAP_PASS;
}

static int test_i8042_other_ports_and_widths(void)
{
	cleanup_fixture struct fixture f;
	uint8_t two[2] = {0xfe, 0xfe};

	TAP_CHECK(fixture_init(&f) == 0);
	TAP_CHECK(bus_dispatch(&f.m.pio, STATUS, true, two, 1) == 0 && f.resets == 1);
	TAP_CHECK(bus_dispatch(&f.m.pio, DATA + 1, true, two, 1) == 0);
	TAP_CHECK(test_inb(&f.m, DATA + 1) == 0);
	TAP_CHECK(bus_dispatch(&f.m.pio, DATA + 2, true, two, 2) == 0);
	TAP_CHECK(f.resets == 1);
	TAP_CHECK(test_inb(&f.m, STATUS) == 0x1c);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_i8042_status_idle), TAP_TEST(test_i8042_self_tests),
	 TAP_TEST(test_i8042_command_byte), TAP_TEST(test_i8042_keyboard_ack),
	 TAP_TEST(test_i8042_reset), TAP_TEST(test_i8042_ctrl_alt_del),
	 TAP_TEST(test_i8042_ctrl_alt_del_irq_disabled),
	 TAP_TEST(test_i8042_other_ports_and_widths))
