/* 16550A UART. Register and bit names follow the TI/National PC16550D
 * datasheet (SNLS378, "Register Summary" table 2 and §8.6) and Linux's
 * include/uapi/linux/serial_reg.h, which is what the guest driver uses. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/devices/serial.h"
#include "vmm/irq.h"

/* Register offsets from the base port (datasheet table 2). */
enum {
	UART_RBR_THR_DLL = 0, /* DLL when LCR.DLAB */
	UART_IER_DLM = 1,     /* DLM when LCR.DLAB */
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

/* IER: only the low four bits exist on a 16550A; Linux's autoconfig writes
 * 0x0f and bit 6 and expects to read back exactly 0x0f (8250_port.c). */
#define UART_IER_RDI  0x01 /* received data available */
#define UART_IER_THRI 0x02 /* transmitter holding register empty */
#define UART_IER_RLSI 0x04 /* receiver line status */
#define UART_IER_MSI  0x08 /* modem status */
#define UART_IER_MASK 0x0f

/* IIR: bit 0 set means no interrupt pending; bits 7:6 are set while the
 * FIFOs are enabled, which is how Linux tells a 16550A from a 16450. */
#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI	0x00
#define UART_IIR_THRI	0x02
#define UART_IIR_RDI	0x04
#define UART_IIR_RLSI	0x06
#define UART_IIR_FIFO	0xc0

#define UART_FCR_ENABLE	   0x01
#define UART_FCR_CLEAR_RCV 0x02
#define UART_FCR_CLEAR_XMT 0x04
#define UART_FCR_TRIGGER   0xc0

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10
#define UART_MCR_MASK 0x1f

#define UART_LSR_DR   0x01
#define UART_LSR_OE   0x02
#define UART_LSR_PE   0x04
#define UART_LSR_FE   0x08
#define UART_LSR_BI   0x10
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_LSR_ERRS (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)

#define UART_MSR_DCTS	0x01
#define UART_MSR_DDSR	0x02
#define UART_MSR_TERI	0x04
#define UART_MSR_DDCD	0x08
#define UART_MSR_CTS	0x10
#define UART_MSR_DSR	0x20
#define UART_MSR_RI	0x40
#define UART_MSR_DCD	0x80
#define UART_MSR_DELTAS (UART_MSR_DCTS | UART_MSR_DDSR | UART_MSR_TERI | UART_MSR_DDCD)

/* What the modem lines read outside loopback: a modem that is always there
 * and always ready, as kvmtool presents it. */
#define SERIAL_MSR_IDLE (UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS)

/* Divisor 12 from the 1.8432 MHz reference: 9600 baud, the usual firmware
 * default. Only stored; nothing here runs at a baud rate. */
#define SERIAL_DEFAULT_DIVISOR 12

/* Host input is buffered in at most this many bytes (the 16550A has 16;
 * Linux drains whatever is there while LSR.DR is set, so more is fine). */
#define SERIAL_RX_FIFO_SIZE 64

struct serial {
	pthread_mutex_t lock; /* guards everything below except the fds */
	struct evloop *loop;
	struct irq_line irq;
	int in_fd;
	int out_fd;
	/* Signalled by a vCPU when the guest has made room in the RX FIFO;
	 * the event loop then watches in_fd again. Only the event-loop thread
	 * changes the loop's watch list. */
	int wake_fd;
	atomic_bool out_broken; /* output failed once; now discarded */

	uint8_t ier, lcr, mcr, scr, fcr, msr, lsr_errs;
	uint8_t dll, dlm;
	bool thri_pending; /* THR-empty interrupt, cleared by reading IIR */
	bool irq_level;	   /* the interrupt output as a level, to make edges */

	uint8_t rx[SERIAL_RX_FIFO_SIZE];
	unsigned int rx_head, rx_count;

	bool in_watched;     /* in_fd is in the event loop */
	bool in_eof;	     /* in_fd ended or failed: never watch it again */
	bool rx_wake_queued; /* wake_fd was written and not yet handled */
};

static unsigned int serial_rx_capacity(const struct serial *s)
{
	/* Without FIFOs the 16550A holds one received character in RBR
	 * (16450 mode, datasheet §8.6.1); host input then waits in in_fd. */
	return (s->fcr & UART_FCR_ENABLE) ? SERIAL_RX_FIFO_SIZE : 1;
}

static bool serial_rx_push(struct serial *s, uint8_t byte)
{
	if (s->rx_count >= serial_rx_capacity(s)) {
		/* A character arriving at a full FIFO is lost and flagged as an
		 * overrun (datasheet LSR bit 1). Host input is read no faster
		 * than the FIFO has room, so only loopback, or a guest shrinking
		 * the FIFO while input is being read, gets here. */
		s->lsr_errs |= UART_LSR_OE;
		return false;
	}
	s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_FIFO_SIZE] = byte;
	s->rx_count++;
	return true;
}

static uint8_t serial_rx_pop(struct serial *s)
{
	uint8_t byte;

	if (s->rx_count == 0)
		return 0;
	byte = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_RX_FIFO_SIZE;
	s->rx_count--;
	return byte;
}

static void serial_rx_clear(struct serial *s)
{
	s->rx_head = 0;
	s->rx_count = 0;
}

/* The pending interrupt of highest priority (datasheet table 4, "Interrupt
 * Control Functions"): line status, received data, THR empty, modem
 * status. The character-timeout interrupt is reported as received data:
 * there is no character clock, and Linux handles both the same way. */
static uint8_t serial_iir_id(const struct serial *s)
{
	if ((s->ier & UART_IER_RLSI) && (s->lsr_errs & UART_LSR_ERRS))
		return UART_IIR_RLSI;
	if ((s->ier & UART_IER_RDI) && s->rx_count > 0)
		return UART_IIR_RDI;
	if ((s->ier & UART_IER_THRI) && s->thri_pending)
		return UART_IIR_THRI;
	if ((s->ier & UART_IER_MSI) && (s->msr & UART_MSR_DELTAS))
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

/* The UART's INTR pin is a level; the irqfd takes edges. Raise one edge
 * each time the level goes up, as the pin would. Linux's 8250 handler loops
 * until IIR says nothing is pending, so the level is always low again when
 * the guest is ready for the next edge. */
static void serial_irq_update(struct serial *s)
{
	bool level = serial_iir_id(s) != UART_IIR_NO_INT;

	if (level && !s->irq_level)
		irq_line_raise(&s->irq);
	s->irq_level = level;
}

/* Asks the event loop to watch in_fd again once the guest has drained the
 * FIFO to half (or, without FIFOs, emptied RBR): one wake-up per half FIFO
 * rather than one per byte. */
static void serial_rx_maybe_resume(struct serial *s)
{
	uint64_t one = 1;

	if (s->in_fd < 0 || s->in_watched || s->in_eof || s->rx_wake_queued)
		return;
	if ((s->mcr & UART_MCR_LOOP) || s->rx_count > serial_rx_capacity(s) / 2)
		return;
	/* The eventfd is non-blocking and its counter cannot fill up here:
	 * rx_wake_queued allows one write per handler run. */
	if (write(s->wake_fd, &one, sizeof(one)) == sizeof(one))
		s->rx_wake_queued = true;
}

/* Modem inputs changed: the delta bits record each change until MSR is
 * read (datasheet §8.6.8); TERI only on the trailing edge of RI. */
static void serial_msr_set_inputs(struct serial *s, uint8_t inputs)
{
	uint8_t old = s->msr, deltas = 0;

	if ((old ^ inputs) & UART_MSR_CTS)
		deltas |= UART_MSR_DCTS;
	if ((old ^ inputs) & UART_MSR_DSR)
		deltas |= UART_MSR_DDSR;
	if ((old & UART_MSR_RI) && !(inputs & UART_MSR_RI))
		deltas |= UART_MSR_TERI;
	if ((old ^ inputs) & UART_MSR_DCD)
		deltas |= UART_MSR_DDCD;
	s->msr = (uint8_t)((old & UART_MSR_DELTAS) | deltas | inputs);
}

/* In loopback the four outputs drive the four inputs (datasheet §8.6.5:
 * DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD). Linux's autoconfig sets
 * LOOP|OUT2|RTS and expects MSR & 0xf0 == 0x90. */
static uint8_t serial_msr_inputs(const struct serial *s)
{
	uint8_t in = 0;

	if (!(s->mcr & UART_MCR_LOOP))
		return SERIAL_MSR_IDLE;
	if (s->mcr & UART_MCR_DTR)
		in |= UART_MSR_DSR;
	if (s->mcr & UART_MCR_RTS)
		in |= UART_MSR_CTS;
	if (s->mcr & UART_MCR_OUT1)
		in |= UART_MSR_RI;
	if (s->mcr & UART_MCR_OUT2)
		in |= UART_MSR_DCD;
	return in;
}

static void serial_out_write(struct serial *s, uint8_t byte)
{
	ssize_t r;

	if (s->out_fd < 0 || atomic_load(&s->out_broken))
		return;
	/* A full pipe blocks this vCPU, like a real UART that never drains
	 * (Firecracker does the same). Any error only loses the console. */
	r = kiln_write_all(s->out_fd, &byte, 1);
	if (r < 0 && !atomic_exchange(&s->out_broken, true))
		log_warning("serial: writing guest console output: %s; discarding it from now on",
			    strerror((int)-r));
}

static void serial_thr_write(struct serial *s, uint8_t byte, bool *out_pending)
{
	/* Writing THR clears the THR-empty interrupt; the byte leaves at once,
	 * so THR is empty again and the interrupt comes back: a new edge, which
	 * Linux's transmit path waits for after each burst it writes. */
	s->thri_pending = false;
	serial_irq_update(s);
	if (s->mcr & UART_MCR_LOOP)
		serial_rx_push(s, byte);
	else
		*out_pending = true;
	s->thri_pending = true;
}

static void serial_ier_write(struct serial *s, uint8_t val)
{
	uint8_t changed = (s->ier ^ val) & UART_IER_MASK;

	s->ier = val & UART_IER_MASK;
	/* Enabling the THR-empty interrupt while THR is empty raises it at
	 * once (datasheet §8.6.2); Linux's startup tests exactly this and
	 * otherwise falls back to polling with a timer (UART_BUG_THRE). */
	if (changed & UART_IER_THRI)
		s->thri_pending = (s->ier & UART_IER_THRI) != 0;
}

static void serial_fcr_write(struct serial *s, uint8_t val)
{
	/* Changing the enable bit clears both FIFOs; the other bits only take
	 * effect together with it (datasheet §8.6.4). The transmitter has no
	 * FIFO here to clear. */
	if ((s->fcr ^ val) & UART_FCR_ENABLE)
		serial_rx_clear(s);
	if (!(val & UART_FCR_ENABLE)) {
		s->fcr = 0;
		return;
	}
	if (val & UART_FCR_CLEAR_RCV)
		serial_rx_clear(s);
	s->fcr = val & (UART_FCR_ENABLE | UART_FCR_TRIGGER);
}

static void serial_mcr_write(struct serial *s, uint8_t val)
{
	s->mcr = val & UART_MCR_MASK;
	serial_msr_set_inputs(s, serial_msr_inputs(s));
}

static void serial_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	bool out_pending = false;
	uint8_t val = data[0];

	if (len != 1)
		return;
	pthread_mutex_lock(&s->lock);
	switch (offset) {
	case UART_RBR_THR_DLL:
		if (s->lcr & UART_LCR_DLAB)
			s->dll = val;
		else
			serial_thr_write(s, val, &out_pending);
		break;
	case UART_IER_DLM:
		if (s->lcr & UART_LCR_DLAB)
			s->dlm = val;
		else
			serial_ier_write(s, val);
		break;
	case UART_IIR_FCR:
		serial_fcr_write(s, val);
		break;
	case UART_LCR:
		s->lcr = val;
		break;
	case UART_MCR:
		serial_mcr_write(s, val);
		break;
	case UART_SCR:
		s->scr = val;
		break;
	default:
		/* LSR and MSR writes are factory test modes (datasheet note on
		 * table 2); ignored. */
		break;
	}
	serial_irq_update(s);
	serial_rx_maybe_resume(s);
	pthread_mutex_unlock(&s->lock);

	/* Outside the lock, so that a blocked console write stalls only this
	 * vCPU and not the event loop delivering input. The guest's own port
	 * lock keeps bytes from several vCPUs in order. */
	if (out_pending)
		serial_out_write(s, val);
}

static uint8_t serial_iir_read(struct serial *s)
{
	uint8_t id = serial_iir_id(s);

	/* Reading IIR while it reports THR empty clears that interrupt
	 * (datasheet table 4, "Interrupt Reset Control"). */
	if (id == UART_IIR_THRI)
		s->thri_pending = false;
	return (uint8_t)(id | ((s->fcr & UART_FCR_ENABLE) ? UART_IIR_FIFO : 0));
}

static void serial_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	uint8_t val = 0;

	if (len != 1)
		return;
	pthread_mutex_lock(&s->lock);
	switch (offset) {
	case UART_RBR_THR_DLL:
		val = (s->lcr & UART_LCR_DLAB) ? s->dll : serial_rx_pop(s);
		break;
	case UART_IER_DLM:
		val = (s->lcr & UART_LCR_DLAB) ? s->dlm : s->ier;
		break;
	case UART_IIR_FCR:
		val = serial_iir_read(s);
		break;
	case UART_LCR:
		val = s->lcr;
		break;
	case UART_MCR:
		val = s->mcr;
		break;
	case UART_LSR:
		/* The transmitter is always empty: bytes leave as written. Error
		 * bits clear on read (datasheet §8.6.7). */
		val = UART_LSR_THRE | UART_LSR_TEMT | s->lsr_errs;
		if (s->rx_count > 0)
			val |= UART_LSR_DR;
		s->lsr_errs = 0;
		break;
	case UART_MSR:
		val = s->msr;
		s->msr &= (uint8_t)~UART_MSR_DELTAS;
		break;
	case UART_SCR:
		val = s->scr;
		break;
	}
	serial_irq_update(s);
	serial_rx_maybe_resume(s);
	pthread_mutex_unlock(&s->lock);
	data[0] = val;
}

static const struct bus_ops serial_ops = {
    .read = serial_read,
    .write = serial_write,
};

/* Event loop: stops watching in_fd (safe from its own handler). */
static void serial_in_unwatch(struct serial *s)
{
	if (s->in_watched)
		evloop_del(s->loop, s->in_fd);
	s->in_watched = false;
}

static void serial_in_ready(void *opaque, uint32_t events)
{
	struct serial *s = opaque;
	uint8_t buf[SERIAL_RX_FIFO_SIZE];
	unsigned int room;
	int saved_errno;
	ssize_t n;

	(void)events;
	pthread_mutex_lock(&s->lock);
	room = serial_rx_capacity(s) - s->rx_count;
	if (room == 0 || (s->mcr & UART_MCR_LOOP)) {
		/* Leave the bytes in in_fd until the guest makes room; the
		 * receiver is disconnected from the line in loopback. */
		serial_in_unwatch(s);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	pthread_mutex_unlock(&s->lock);

	/* Read outside the lock: the fd is readable, but should another reader
	 * have taken the bytes, only this thread waits, never a vCPU. Only
	 * this thread adds host input, so the room can only grow meanwhile,
	 * unless the guest turns the FIFO off or sends to itself in loopback;
	 * bytes that then no longer fit overrun, as on real hardware. */
	do {
		n = read(s->in_fd, buf, room);
	} while (n < 0 && errno == EINTR);
	saved_errno = errno;

	pthread_mutex_lock(&s->lock);
	if (n > 0) {
		for (ssize_t i = 0; i < n; i++)
			serial_rx_push(s, buf[i]);
		if (s->rx_count >= serial_rx_capacity(s))
			serial_in_unwatch(s);
		serial_irq_update(s);
	} else if (n == 0 || saved_errno != EAGAIN) {
		if (n < 0)
			log_warning("serial: reading console input: %s; input closed",
				    strerror(saved_errno));
		else
			log_debug("serial: console input reached end of file");
		serial_in_unwatch(s);
		s->in_eof = true;
	}
	pthread_mutex_unlock(&s->lock);
}

static void serial_wake(void *opaque, uint32_t events)
{
	struct serial *s = opaque;
	cleanup_error kiln_error_t err = NULL;
	uint64_t cnt;

	(void)events;
	if (read(s->wake_fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		log_warning("serial: reading wake eventfd: %m");
	pthread_mutex_lock(&s->lock);
	s->rx_wake_queued = false;
	if (!s->in_watched && !s->in_eof) {
		if (evloop_add(s->loop, s->in_fd, EPOLLIN, serial_in_ready, s, &err) < 0) {
			log_error("serial: console input stopped: %s", err->msg);
			s->in_eof = true;
		} else {
			s->in_watched = true;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

int serial_create(struct machine *m, int in_fd, int out_fd, struct serial **out, kiln_error_t *err)
{
	struct serial *s = xzalloc(sizeof(*s));

	pthread_mutex_init(&s->lock, NULL);
	s->loop = &m->loop;
	s->in_fd = in_fd;
	s->out_fd = out_fd;
	s->wake_fd = -1;
	s->irq.fd = -1;
	atomic_init(&s->out_broken, false);
	s->dll = SERIAL_DEFAULT_DIVISOR;
	s->msr = SERIAL_MSR_IDLE;

	if (irq_line_open(&s->irq, err) < 0)
		goto fail;
	if (m->vm_fd >= 0 && irq_line_attach(&s->irq, m->vm_fd, MACHINE_SERIAL_GSI, err) < 0)
		goto fail;
	if (in_fd >= 0) {
		s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (s->wake_fd < 0) {
			kiln_error_make(err, errno, "eventfd");
			goto fail;
		}
		if (evloop_add(s->loop, s->wake_fd, EPOLLIN, serial_wake, s, err) < 0)
			goto fail;
		if (evloop_add(s->loop, in_fd, EPOLLIN, serial_in_ready, s, err) < 0)
			goto fail;
		s->in_watched = true;
	}
	if (bus_register(&m->pio, SERIAL_COM1_BASE, SERIAL_NR_PORTS, &serial_ops, s, err) < 0)
		goto fail;
	*out = s;
	return 0;

fail:
	serial_free(s);
	return kiln_error_wrap(err, "serial");
}

int serial_irq_fd(const struct serial *s)
{
	return s->irq.fd;
}

void serial_free(struct serial *s)
{
	if (s == NULL)
		return;
	serial_in_unwatch(s);
	if (s->wake_fd >= 0) {
		evloop_del(s->loop, s->wake_fd);
		close(s->wake_fd);
	}
	irq_line_close(&s->irq);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- the device kind: COM1, always there, on the VMM's console ---- */

static int serial_kind_create(const struct vmm_device_env *env, unsigned int i, int fd, void **dev,
			      kiln_error_t *err)
{
	struct serial *s = NULL;
	int r;

	(void)i, (void)fd;
	r = serial_create(env->m, env->console_in, env->console_out, &s, err);
	*dev = s;
	return r;
}

static void serial_kind_free(void *dev)
{
	serial_free(dev);
}

const struct vmm_device_kind serial_kind = {
    .name = "serial",
    .count = vmm_device_count_one,
    .create = serial_kind_create,
    .free = serial_kind_free,
};
