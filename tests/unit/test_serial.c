/* The 16550A driven through the port-I/O bus the way Linux's 8250 driver
 * drives it, with pipes standing in for the console. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/unit/machine_fixture.h"
#include "tests/unit/tap.h"
#include "vmm/devices/serial.h"

#define COM1 SERIAL_COM1_BASE
#define RBR  (COM1 + 0)
#define IER  (COM1 + 1)
#define IIR  (COM1 + 2)
#define FCR  (COM1 + 2)
#define LCR  (COM1 + 3)
#define MCR  (COM1 + 4)
#define LSR  (COM1 + 5)
#define MSR  (COM1 + 6)
#define SCR  (COM1 + 7)

struct fixture {
	struct machine m;
	struct serial *s;
	int in[2];  /* host writes in[1]; the device reads in[0] */
	int out[2]; /* the device writes out[1]; the test reads out[0] */
};

static void fixture_release(struct fixture *f)
{
	serial_free(f->s);
	f->s = NULL;
	evloop_release(&f->m.loop);
	for (int i = 0; i < 2; i++) {
		if (f->in[i] >= 0)
			close(f->in[i]);
		if (f->out[i] >= 0)
			close(f->out[i]);
	}
}
#define cleanup_fixture __attribute__((cleanup(fixture_release)))

static int fixture_init(struct fixture *f, bool with_input)
{
	cleanup_error kiln_error_t err = NULL;

	*f = (struct fixture){0};
	f->in[0] = f->in[1] = f->out[0] = f->out[1] = -1;
	test_machine_init(&f->m, 0);
	if (evloop_init(&f->m.loop, &err) < 0)
		return -1;
	if (pipe2(f->out, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	if (with_input && pipe2(f->in, O_CLOEXEC) < 0)
		return -1;
	if (serial_create(&f->m, f->in[0], f->out[1], &f->s, &err) < 0) {
		tap_diag("serial_create: %s", err->msg);
		return -1;
	}
	return 0;
}

/* Edges raised since the last call. */
static uint64_t irq_edges(struct fixture *f)
{
	return test_irq_edges(serial_irq_fd(f->s));
}

static int pipe_pending(int fd)
{
	int n = -1;

	ioctl(fd, FIONREAD, &n);
	return n;
}

static int test_serial_output(void)
{
	cleanup_fixture struct fixture f;
	const char *msg = "Linux version 6.1\n";
	char buf[64] = {0};

	TAP_CHECK(fixture_init(&f, false) == 0);
	TAP_CHECK(test_inb(&f.m, LSR) == 0x60); /* THRE | TEMT */
	for (const char *p = msg; *p; p++)
		test_outb(&f.m, RBR, (uint8_t)*p);
	TAP_CHECK(read(f.out[0], buf, sizeof(buf) - 1) == (ssize_t)strlen(msg));
	TAP_CHECK_STR(buf, msg);
	TAP_CHECK(test_inb(&f.m, LSR) == 0x60);
	/* Nothing enabled, nothing raised. */
	TAP_CHECK(irq_edges(&f) == 0);
	TAP_CHECK(test_inb(&f.m, IIR) == 0x01);
	return TAP_PASS;
}

static int test_serial_divisor_latch(void)
{
	cleanup_fixture struct fixture f;
	char c;

	TAP_CHECK(fixture_init(&f, false) == 0);
	test_outb(&f.m, IER, 0x05);
	test_outb(&f.m, LCR, 0x83); /* DLAB, 8N1 */
	test_outb(&f.m, RBR, 0x01); /* DLL: 115200 baud */
	test_outb(&f.m, IER, 0x00); /* DLM */
	TAP_CHECK(test_inb(&f.m, RBR) == 0x01);
	TAP_CHECK(test_inb(&f.m, IER) == 0x00);
	test_outb(&f.m, LCR, 0x03);
	TAP_CHECK(test_inb(&f.m, LCR) == 0x03);
	/* The latch did not touch IER, and no byte went out. */
	TAP_CHECK(test_inb(&f.m, IER) == 0x05);
	TAP_CHECK(read(f.out[0], &c, 1) < 0 && errno == EAGAIN);
	test_outb(&f.m, LCR, 0x80);
	TAP_CHECK(test_inb(&f.m, RBR) == 0x01 && test_inb(&f.m, IER) == 0x00);
	test_outb(&f.m, LCR, 0x03);
	test_outb(&f.m, SCR, 0x5a);
	TAP_CHECK(test_inb(&f.m, SCR) == 0x5a);
	return TAP_PASS;
}

/* The checks of Linux's autoconfig() (drivers/tty/serial/8250/8250_port.c):
 * IER keeps exactly its low nibble, loopback reflects MCR in MSR, and with
 * FIFOs enabled IIR's top bits say 16550A. */
static int test_serial_autoconfig_probe(void)
{
	cleanup_fixture struct fixture f;

	TAP_CHECK(fixture_init(&f, false) == 0);
	test_outb(&f.m, IER, 0x00);
	TAP_CHECK((test_inb(&f.m, IER) & 0x0f) == 0x00);
	test_outb(&f.m, IER, 0x0f);
	TAP_CHECK(test_inb(&f.m, IER) == 0x0f);
	test_outb(&f.m, IER, 0x4f); /* UART_IER_UUE must not stick on a 16550A */
	TAP_CHECK(test_inb(&f.m, IER) == 0x0f);
	test_outb(&f.m, IER, 0x00);
	irq_edges(&f);

	test_outb(&f.m, MCR, 0x10 | 0x0a); /* LOOP | OUT2 | RTS */
	TAP_CHECK((test_inb(&f.m, MSR) & 0xf0) == 0x90);
	test_outb(&f.m, MCR, 0x00);

	test_outb(&f.m, FCR, 0x01);
	TAP_CHECK((test_inb(&f.m, IIR) >> 6) == 3);
	TAP_CHECK((test_inb(&f.m, IIR) & 0x20) == 0); /* not a 64-byte 16750 */
	test_outb(&f.m, FCR, 0x00);
	TAP_CHECK((test_inb(&f.m, IIR) >> 6) == 0);
	return TAP_PASS;
}

static int test_serial_loopback(void)
{
	cleanup_fixture struct fixture f;
	uint8_t msr;
	char c;

	TAP_CHECK(fixture_init(&f, false) == 0);
	test_outb(&f.m, FCR, 0x07);
	test_outb(&f.m, MCR, 0x1f); /* LOOP and all four outputs */
	msr = test_inb(&f.m, MSR);
	TAP_CHECK((msr & 0xf0) == 0xf0);
	TAP_CHECK((test_inb(&f.m, MSR) & 0x0f) == 0); /* deltas clear on read */
	test_outb(&f.m, MCR, 0x10 | 0x01);	      /* only DTR: RI falls, TERI */
	msr = test_inb(&f.m, MSR);
	TAP_CHECK((msr & 0xf0) == 0x20);
	TAP_CHECK(msr & 0x04);

	test_outb(&f.m, IER, 0x01);
	irq_edges(&f);
	for (const char *p = "echo"; *p; p++)
		test_outb(&f.m, RBR, (uint8_t)*p);
	TAP_CHECK(irq_edges(&f) >= 1);
	TAP_CHECK(test_inb(&f.m, LSR) & 0x01);
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc4);
	TAP_CHECK(test_inb(&f.m, RBR) == 'e' && test_inb(&f.m, RBR) == 'c');
	TAP_CHECK(test_inb(&f.m, RBR) == 'h' && test_inb(&f.m, RBR) == 'o');
	TAP_CHECK((test_inb(&f.m, LSR) & 0x01) == 0);
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc1);
	/* Nothing reached the host. */
	TAP_CHECK(read(f.out[0], &c, 1) < 0 && errno == EAGAIN);

	test_outb(&f.m, MCR, 0x0b);
	TAP_CHECK(test_inb(&f.m, MSR) & 0x08); /* leaving loopback changed DCD */
	TAP_CHECK((test_inb(&f.m, MSR) & 0xf0) == 0xb0);
	test_outb(&f.m, RBR, 'x');
	TAP_CHECK(read(f.out[0], &c, 1) == 1 && c == 'x');
	return TAP_PASS;
}

static int test_serial_input_irq(void)
{
	cleanup_fixture struct fixture f;

	TAP_CHECK(fixture_init(&f, true) == 0);
	test_outb(&f.m, FCR, 0x07);
	test_outb(&f.m, IER, 0x05); /* RDI | RLSI, as serial8250_do_startup */
	TAP_CHECK(irq_edges(&f) == 0);
	TAP_CHECK(write(f.in[1], "ab", 2) == 2);
	TAP_CHECK(evloop_run_once(&f.m.loop, 1000) >= 1);
	TAP_CHECK(irq_edges(&f) == 1);
	TAP_CHECK(test_inb(&f.m, LSR) == 0x61);
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc4);
	TAP_CHECK(test_inb(&f.m, RBR) == 'a');
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc4);
	TAP_CHECK(test_inb(&f.m, RBR) == 'b');
	TAP_CHECK(test_inb(&f.m, LSR) == 0x60);
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc1);

	/* The line went low, so the next byte is a new edge. */
	TAP_CHECK(write(f.in[1], "c", 1) == 1);
	TAP_CHECK(evloop_run_once(&f.m.loop, 1000) >= 1);
	TAP_CHECK(irq_edges(&f) == 1);
	TAP_CHECK(test_inb(&f.m, RBR) == 'c');

	/* With RDI off, data waits without an interrupt; enabling RDI then
	 * raises it. */
	test_outb(&f.m, IER, 0x00);
	TAP_CHECK(write(f.in[1], "d", 1) == 1);
	TAP_CHECK(evloop_run_once(&f.m.loop, 1000) >= 1);
	TAP_CHECK(irq_edges(&f) == 0);
	TAP_CHECK(test_inb(&f.m, LSR) & 0x01);
	test_outb(&f.m, IER, 0x01);
	TAP_CHECK(irq_edges(&f) == 1);
	TAP_CHECK(test_inb(&f.m, RBR) == 'd');
	return TAP_PASS;
}

static int test_serial_thr_empty_irq(void)
{
	cleanup_fixture struct fixture f;
	char buf[8];

	TAP_CHECK(fixture_init(&f, false) == 0);
	test_outb(&f.m, FCR, 0x01);
	/* Linux's UART_BUG_THRE test: enabling THRI with THR empty must show
	 * the interrupt in IIR, twice in a row. */
	test_outb(&f.m, IER, 0x02);
	TAP_CHECK(irq_edges(&f) == 1);
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc2);
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc1); /* the read cleared it */
	test_outb(&f.m, IER, 0x00);
	test_outb(&f.m, IER, 0x02);
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc2);
	TAP_CHECK(irq_edges(&f) == 1);

	/* Each write clears THR empty and the byte leaving brings it back: the
	 * line pulses, one edge per byte. */
	test_outb(&f.m, RBR, 'o');
	test_outb(&f.m, RBR, 'k');
	TAP_CHECK(irq_edges(&f) == 2);
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc2);
	test_outb(&f.m, RBR, '!');
	TAP_CHECK(irq_edges(&f) == 1);
	TAP_CHECK(read(f.out[0], buf, sizeof(buf)) == 3 && memcmp(buf, "ok!", 3) == 0);

	/* Rewriting IER with THRI already on raises nothing new. */
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc2);
	test_outb(&f.m, IER, 0x02);
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc1);
	TAP_CHECK(irq_edges(&f) == 0);
	return TAP_PASS;
}

static int test_serial_iir_priority(void)
{
	cleanup_fixture struct fixture f;

	TAP_CHECK(fixture_init(&f, false) == 0);
	test_outb(&f.m, FCR, 0x01);
	test_outb(&f.m, MCR, 0x10);
	test_outb(&f.m, IER, 0x0f);
	/* Fill the FIFO in loopback and overrun it by one. */
	for (int i = 0; i <= 64; i++)
		test_outb(&f.m, RBR, (uint8_t)i);
	/* Line status first, then received data, then THR empty. */
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc6);
	TAP_CHECK(test_inb(&f.m, LSR) == 0x63); /* OE | THRE | TEMT | DR */
	TAP_CHECK(test_inb(&f.m, LSR) == 0x61); /* OE clears on read */
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc4);
	for (int i = 0; i < 64; i++)
		TAP_CHECK(test_inb(&f.m, RBR) == i);
	TAP_CHECK((test_inb(&f.m, LSR) & 0x01) == 0);
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc2);
	/* Modem status is last: an MCR change in loopback sets a delta. */
	test_outb(&f.m, MCR, 0x11);
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc0);
	test_inb(&f.m, MSR);
	TAP_CHECK(test_inb(&f.m, IIR) == 0xc1);
	return TAP_PASS;
}

static int test_serial_rx_backpressure(void)
{
	cleanup_fixture struct fixture f;
	cleanup_free uint8_t *sent = xmalloc(10240);
	cleanup_free uint8_t *got = xmalloc(10240);
	size_t n = 0;

	TAP_CHECK(fixture_init(&f, true) == 0);
	for (size_t i = 0; i < 10240; i++)
		sent[i] = (uint8_t)(i * 7 + i / 251);
	TAP_CHECK(write(f.in[1], sent, 10240) == 10240);
	test_outb(&f.m, FCR, 0x07);
	test_outb(&f.m, IER, 0x01);

	/* The device takes one FIFO's worth and then stops reading. */
	TAP_CHECK(evloop_run_once(&f.m.loop, 1000) == 1);
	TAP_CHECK(pipe_pending(f.in[0]) == 10240 - 64);
	TAP_CHECK(evloop_run_once(&f.m.loop, 0) == 0);
	TAP_CHECK(pipe_pending(f.in[0]) == 10240 - 64);

	for (int rounds = 0; n < 10240 && rounds < 10000; rounds++) {
		/* Drain like Linux's serial8250_rx_chars: at most 256 per IRQ. */
		for (int i = 0; i < 256 && (test_inb(&f.m, LSR) & 0x01); i++)
			got[n++] = test_inb(&f.m, RBR);
		evloop_run_once(&f.m.loop, 100);
	}
	TAP_CHECK(n == 10240);
	TAP_CHECK(memcmp(sent, got, 10240) == 0);
	TAP_CHECK(pipe_pending(f.in[0]) == 0);

	/* Draining only to half the FIFO is enough to resume. */
	TAP_CHECK(write(f.in[1], sent, 200) == 200);
	TAP_CHECK(evloop_run_once(&f.m.loop, 1000) >= 1);
	TAP_CHECK(pipe_pending(f.in[0]) == 200 - 64);
	for (int i = 0; i < 31; i++)
		TAP_CHECK(test_inb(&f.m, RBR) == sent[i]);
	TAP_CHECK(evloop_run_once(&f.m.loop, 0) == 0);
	TAP_CHECK(test_inb(&f.m, RBR) == sent[31]);
	TAP_CHECK(evloop_run_once(&f.m.loop, 1000) >= 1); /* the wake-up */
	TAP_CHECK(evloop_run_once(&f.m.loop, 1000) >= 1); /* the read */
	TAP_CHECK(pipe_pending(f.in[0]) == 200 - 64 - 32);
	return TAP_PASS;
}

struct loop_thread {
	struct evloop *loop;
	atomic_bool stop;
};

static void *loop_thread_run(void *opaque)
{
	struct loop_thread *t = opaque;

	while (!atomic_load(&t->stop))
		evloop_run_once(t->loop, 10);
	return NULL;
}

/* The threads of the VMM: the event loop feeds the FIFO while a "vCPU"
 * drains it; the wake-ups cross between them. */
static int test_serial_rx_threads(void)
{
	cleanup_fixture struct fixture f;
	cleanup_free uint8_t *sent = xmalloc(32768);
	cleanup_free uint8_t *got = xmalloc(32768);
	struct loop_thread t = {.loop = &f.m.loop};
	pthread_t tid;
	size_t n = 0;

	TAP_CHECK(fixture_init(&f, true) == 0);
	t.loop = &f.m.loop;
	atomic_init(&t.stop, false);
	for (size_t i = 0; i < 32768; i++)
		sent[i] = (uint8_t)(i ^ (i >> 8));
	test_outb(&f.m, FCR, 0x07);
	TAP_CHECK(write(f.in[1], sent, 32768) == 32768);
	TAP_CHECK(pthread_create(&tid, NULL, loop_thread_run, &t) == 0);
	for (long spins = 0; n < 32768 && spins < 100000000; spins++) {
		if (test_inb(&f.m, LSR) & 0x01)
			got[n++] = test_inb(&f.m, RBR);
	}
	atomic_store(&t.stop, true);
	pthread_join(tid, NULL);
	TAP_CHECK(n == 32768);
	TAP_CHECK(memcmp(sent, got, 32768) == 0);
	return TAP_PASS;
}

static int test_serial_rx_without_fifo(void)
{
	cleanup_fixture struct fixture f;

	TAP_CHECK(fixture_init(&f, true) == 0);
	/* A 16450-mode UART holds one character; the rest waits in the pipe,
	 * and enabling the FIFOs (which clears them) loses at most that one. */
	TAP_CHECK(write(f.in[1], "xyz", 3) == 3);
	TAP_CHECK(evloop_run_once(&f.m.loop, 1000) == 1);
	TAP_CHECK(pipe_pending(f.in[0]) == 2);
	TAP_CHECK(test_inb(&f.m, RBR) == 'x');
	TAP_CHECK(evloop_run_once(&f.m.loop, 1000) >= 1);
	TAP_CHECK(evloop_run_once(&f.m.loop, 1000) >= 1);
	TAP_CHECK(test_inb(&f.m, RBR) == 'y');
	test_outb(&f.m, FCR, 0x07);
	for (int i = 0; i < 3 && !(test_inb(&f.m, LSR) & 0x01); i++)
		evloop_run_once(&f.m.loop, 100);
	TAP_CHECK(test_inb(&f.m, RBR) == 'z');
	return TAP_PASS;
}

static int test_serial_loopback_holds_input(void)
{
	cleanup_fixture struct fixture f;

	TAP_CHECK(fixture_init(&f, true) == 0);
	test_outb(&f.m, FCR, 0x07);
	test_outb(&f.m, MCR, 0x10);
	TAP_CHECK(write(f.in[1], "q", 1) == 1);
	TAP_CHECK(evloop_run_once(&f.m.loop, 1000) == 1);
	TAP_CHECK((test_inb(&f.m, LSR) & 0x01) == 0);
	TAP_CHECK(pipe_pending(f.in[0]) == 1);
	test_outb(&f.m, MCR, 0x0b);
	for (int i = 0; i < 3 && !(test_inb(&f.m, LSR) & 0x01); i++)
		evloop_run_once(&f.m.loop, 100);
	TAP_CHECK(test_inb(&f.m, RBR) == 'q');
	return TAP_PASS;
}

static int test_serial_input_eof(void)
{
	cleanup_fixture struct fixture f;

	TAP_CHECK(fixture_init(&f, true) == 0);
	test_outb(&f.m, FCR, 0x07);
	TAP_CHECK(write(f.in[1], "z", 1) == 1);
	close(f.in[1]);
	f.in[1] = -1;
	TAP_CHECK(evloop_run_once(&f.m.loop, 1000) == 1);
	TAP_CHECK(evloop_run_once(&f.m.loop, 1000) == 1); /* EOF: unwatch */
	TAP_CHECK(evloop_run_once(&f.m.loop, 0) == 0);	  /* no busy loop */
	TAP_CHECK(test_inb(&f.m, RBR) == 'z');
	TAP_CHECK(evloop_run_once(&f.m.loop, 0) == 0);
	return TAP_PASS;
}

static int test_serial_output_broken(void)
{
	cleanup_fixture struct fixture f;
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;

	TAP_CHECK(fixture_init(&f, false) == 0);
	TAP_CHECK(sigaction(SIGPIPE, &ign, &old) == 0);
	close(f.out[0]);
	f.out[0] = -1;
	/* EPIPE is logged once; the device keeps working. */
	test_outb(&f.m, RBR, 'a');
	test_outb(&f.m, RBR, 'b');
	sigaction(SIGPIPE, &old, NULL);
	TAP_CHECK(test_inb(&f.m, LSR) == 0x60);
	return TAP_PASS;
}

static int test_serial_wide_access_ignored(void)
{
	cleanup_fixture struct fixture f;
	uint8_t data[2] = {0x0f, 0x0f};

	TAP_CHECK(fixture_init(&f, false) == 0);
	TAP_CHECK(bus_dispatch(&f.m.pio, IER, true, data, 2) == 0);
	TAP_CHECK(test_inb(&f.m, IER) == 0);
	TAP_CHECK(bus_dispatch(&f.m.pio, LSR, false, data, 2) == 0);
	TAP_CHECK(data[0] == 0 && data[1] == 0);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_serial_output), TAP_TEST(test_serial_divisor_latch),
	 TAP_TEST(test_serial_autoconfig_probe), TAP_TEST(test_serial_loopback),
	 TAP_TEST(test_serial_input_irq), TAP_TEST(test_serial_thr_empty_irq),
	 TAP_TEST(test_serial_iir_priority), TAP_TEST(test_serial_rx_backpressure),
	 TAP_TEST(test_serial_rx_threads), TAP_TEST(test_serial_rx_without_fifo),
	 TAP_TEST(test_serial_loopback_holds_input), TAP_TEST(test_serial_input_eof),
	 TAP_TEST(test_serial_output_broken), TAP_TEST(test_serial_wide_access_ignored))
