/* 8042 keyboard controller. Commands, status and command-byte bits as in
 * the IBM PC/AT Technical Reference ("Keyboard Controller") and Linux's
 * drivers/input/serio/i8042.h, which is what the guest driver uses. There
 * is no keyboard behind it beyond an acknowledging stub: with
 * i8042.dumbkbd Linux sends the keyboard nothing, so only the keys the
 * VMM types ever reach the guest. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/log.h"
#include "common/util.h"
#include "vmm/devices/i8042.h"
#include "vmm/irq.h"

/* Status register (read from 0x64). */
#define I8042_STR_OBF	  0x01 /* output buffer full: data at 0x60 */
#define I8042_STR_SYS	  0x04 /* system flag, mirrors command byte bit 2 */
#define I8042_STR_CMDDAT  0x08 /* last write went to 0x64 */
#define I8042_STR_KEYLOCK 0x10 /* 1: keyboard not inhibited */

/* Command byte ("controller configuration byte"). */
#define I8042_CTR_KBDINT 0x01 /* IRQ 1 on keyboard output */
#define I8042_CTR_SYS	 0x04
#define I8042_CTR_KBDDIS 0x10
#define I8042_CTR_AUXDIS 0x20

/* Controller commands (writes to 0x64). */
#define I8042_CMD_READ_CTR   0x20
#define I8042_CMD_WRITE_CTR  0x60
#define I8042_CMD_AUX_DIS    0xa7
#define I8042_CMD_AUX_EN     0xa8
#define I8042_CMD_SELF_TEST  0xaa
#define I8042_CMD_KBD_TEST   0xab
#define I8042_CMD_KBD_DIS    0xad
#define I8042_CMD_KBD_EN     0xae
#define I8042_CMD_READ_OUTP  0xd0
#define I8042_CMD_WRITE_OUTP 0xd1
/* 0xf0-0xff pulse low, for about 6 us, the output-port bits whose bit is
 * clear in the low nibble; bit 0 of the output port is the CPU reset line,
 * so any even command in that range resets (Linux's reboot=k sends 0xfe). */
#define I8042_CMD_PULSE_MASK 0xf0

#define I8042_SELF_TEST_OK 0x55
#define I8042_KBD_TEST_OK  0x00

/* Keyboard replies (PS/2 keyboard protocol). */
#define KBD_CMD_RESET 0xff
#define KBD_REPLY_ACK 0xfa
#define KBD_REPLY_BAT 0xaa /* basic assurance test passed */

/* Ctrl (left), Alt (left), Delete pressed, then released in reverse order,
 * in scan code set 2: the set Linux's atkbd expects when the controller
 * does not translate (command byte bit 6 clear, as here), and the codes
 * Firecracker sends. Firecracker sends only the presses; the releases keep
 * the guest's modifier state clean in case it does not reboot. */
static const uint8_t i8042_ctrl_alt_del[] = {
    0x14,	      /* Ctrl down */
    0x11,	      /* Alt down */
    0xe0, 0x71,	      /* Delete down */
    0xe0, 0xf0, 0x71, /* Delete up */
    0xf0, 0x11,	      /* Alt up */
    0xf0, 0x14,	      /* Ctrl up */
};

/* The controller's output buffer is one byte; a small queue behind it lets
 * a whole key sequence wait for the guest to read it byte by byte. */
#define I8042_BUF_SIZE 16

struct i8042 {
	pthread_mutex_t lock;
	struct irq_line irq;
	void (*on_reset)(void *opaque);
	void *opaque;

	uint8_t status;
	uint8_t ctr;
	uint8_t outp;
	uint8_t pending_cmd; /* command waiting for its byte at 0x60, or 0 */
	uint8_t buf[I8042_BUF_SIZE];
	unsigned int head, count;
};

static void i8042_buf_flush(struct i8042 *d)
{
	d->head = 0;
	d->count = 0;
}

static bool i8042_buf_push(struct i8042 *d, uint8_t byte)
{
	if (d->count == I8042_BUF_SIZE)
		return false;
	d->buf[(d->head + d->count) % I8042_BUF_SIZE] = byte;
	d->count++;
	return true;
}

static uint8_t i8042_buf_pop(struct i8042 *d)
{
	uint8_t byte;

	if (d->count == 0)
		return 0;
	byte = d->buf[d->head];
	d->head = (d->head + 1) % I8042_BUF_SIZE;
	d->count--;
	return byte;
}

/* Keyboard data raises IRQ 1 when the guest enabled it. Linux's handler
 * reads one byte per interrupt, so each byte still queued after a read gets
 * an edge of its own. Replies to controller commands raise nothing: the
 * guest polls for them with interrupts off. */
static void i8042_kbd_irq(struct i8042 *d)
{
	if (d->ctr & I8042_CTR_KBDINT)
		irq_line_raise(&d->irq);
}

/* Replies to a controller command; only it can be read next. */
static void i8042_reply(struct i8042 *d, uint8_t byte)
{
	i8042_buf_flush(d);
	i8042_buf_push(d, byte);
}

/* Returns true when the guest pulsed the reset line. */
static bool i8042_command(struct i8042 *d, uint8_t cmd)
{
	d->pending_cmd = 0;
	switch (cmd) {
	case I8042_CMD_READ_CTR:
		i8042_reply(d, d->ctr);
		break;
	case I8042_CMD_WRITE_CTR:
	case I8042_CMD_WRITE_OUTP:
		d->pending_cmd = cmd;
		break;
	case I8042_CMD_READ_OUTP:
		i8042_reply(d, d->outp);
		break;
	case I8042_CMD_SELF_TEST:
		i8042_reply(d, I8042_SELF_TEST_OK);
		break;
	case I8042_CMD_KBD_TEST:
		i8042_reply(d, I8042_KBD_TEST_OK);
		break;
	case I8042_CMD_KBD_DIS:
		d->ctr |= I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_KBD_EN:
		d->ctr &= (uint8_t)~I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_AUX_DIS:
		d->ctr |= I8042_CTR_AUXDIS;
		break;
	case I8042_CMD_AUX_EN:
		d->ctr &= (uint8_t)~I8042_CTR_AUXDIS;
		break;
	default:
		if ((cmd & I8042_CMD_PULSE_MASK) == I8042_CMD_PULSE_MASK && !(cmd & 0x01))
			return true;
		/* Unknown commands (aux port, mux, password...) do nothing:
		 * Linux probes some and takes silence as "not there". */
		log_debug("i8042: ignoring command 0x%02x", cmd);
		break;
	}
	return false;
}

static void i8042_data_write(struct i8042 *d, uint8_t val)
{
	switch (d->pending_cmd) {
	case I8042_CMD_WRITE_CTR:
		d->ctr = val;
		break;
	case I8042_CMD_WRITE_OUTP:
		/* Stored only: a reset through output-port bit 0 is not
		 * emulated; Linux resets with the pulse command. */
		d->outp = val;
		break;
	default:
		/* A byte for the keyboard itself. The stub acknowledges
		 * everything and passes its self test after a reset. */
		i8042_buf_flush(d);
		i8042_buf_push(d, KBD_REPLY_ACK);
		if (val == KBD_CMD_RESET)
			i8042_buf_push(d, KBD_REPLY_BAT);
		i8042_kbd_irq(d);
		break;
	}
	d->pending_cmd = 0;
}

static uint8_t i8042_status(const struct i8042 *d)
{
	uint8_t st = d->status & I8042_STR_CMDDAT;

	st |= I8042_STR_KEYLOCK;
	if (d->ctr & I8042_CTR_SYS)
		st |= I8042_STR_SYS;
	if (d->count > 0)
		st |= I8042_STR_OBF;
	return st;
}

/* One range from 0x60 to 0x64 as in Firecracker; 0x61-0x63 read as zero
 * and ignore writes (KVM's in-kernel PIT answers 0x61 before it exits). */
#define I8042_OFF_DATA	  0
#define I8042_OFF_COMMAND (I8042_COMMAND_PORT - I8042_DATA_PORT)
#define I8042_NR_PORTS	  (I8042_OFF_COMMAND + 1)

static void i8042_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct i8042 *d = opaque;

	if (len != 1)
		return;
	pthread_mutex_lock(&d->lock);
	if (offset == I8042_OFF_DATA) {
		data[0] = i8042_buf_pop(d);
		if (d->count > 0)
			i8042_kbd_irq(d);
	} else if (offset == I8042_OFF_COMMAND) {
		data[0] = i8042_status(d);
	}
	pthread_mutex_unlock(&d->lock);
}

static void i8042_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct i8042 *d = opaque;
	bool reset = false;

	if (len != 1)
		return;
	pthread_mutex_lock(&d->lock);
	if (offset == I8042_OFF_DATA) {
		d->status &= (uint8_t)~I8042_STR_CMDDAT;
		i8042_data_write(d, data[0]);
	} else if (offset == I8042_OFF_COMMAND) {
		d->status |= I8042_STR_CMDDAT;
		reset = i8042_command(d, data[0]);
	}
	pthread_mutex_unlock(&d->lock);

	/* Outside the lock: the callback may stop the VM and free devices. */
	if (!reset)
		return;
	log_info("i8042: guest pulsed the reset line");
	if (d->on_reset)
		d->on_reset(d->opaque);
}

static const struct bus_ops i8042_ops = {
    .read = i8042_read,
    .write = i8042_write,
};

int i8042_send_ctrl_alt_del(struct i8042 *d, kiln_error_t *err)
{
	bool irq_on;

	pthread_mutex_lock(&d->lock);
	if (I8042_BUF_SIZE - d->count < sizeof(i8042_ctrl_alt_del)) {
		pthread_mutex_unlock(&d->lock);
		return kiln_error_make(err, ENOSPC,
				       "i8042: the guest has not read the previous keys yet");
	}
	for (size_t i = 0; i < sizeof(i8042_ctrl_alt_del); i++)
		i8042_buf_push(d, i8042_ctrl_alt_del[i]);
	irq_on = (d->ctr & I8042_CTR_KBDINT) != 0;
	i8042_kbd_irq(d);
	pthread_mutex_unlock(&d->lock);

	/* Like Firecracker, a guest that turned the interrupt off still gets
	 * the keys; it will see them if it polls. */
	if (!irq_on)
		log_warning("i8042: keyboard interrupt disabled by the guest; Ctrl+Alt+Del queued");
	return 0;
}

int i8042_create(struct machine *m, void (*on_reset)(void *opaque), void *opaque,
		 struct i8042 **out, kiln_error_t *err)
{
	struct i8042 *d = xzalloc(sizeof(*d));

	pthread_mutex_init(&d->lock, NULL);
	d->irq.fd = -1;
	d->on_reset = on_reset;
	d->opaque = opaque;
	/* As the firmware leaves it after POST: keyboard interrupt on, system
	 * flag set, no scan-code translation (Firecracker's defaults). */
	d->ctr = I8042_CTR_KBDINT | I8042_CTR_SYS;

	if (irq_line_open(&d->irq, err) < 0)
		goto fail;
	if (m->vm_fd >= 0 && irq_line_attach(&d->irq, m->vm_fd, MACHINE_I8042_GSI, err) < 0)
		goto fail;
	if (bus_register(&m->pio, I8042_DATA_PORT, I8042_NR_PORTS, &i8042_ops, d, err) < 0)
		goto fail;
	*out = d;
	return 0;

fail:
	i8042_free(d);
	return kiln_error_wrap(err, "i8042");
}

int i8042_irq_fd(const struct i8042 *d)
{
	return d->irq.fd;
}

void i8042_free(struct i8042 *d)
{
	if (d == NULL)
		return;
	irq_line_close(&d->irq);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* ---- the device kind: always there; its reset line ends the VM ---- */

static int i8042_kind_create(const struct vmm_device_env *env, unsigned int i, int fd, void **dev,
			     kiln_error_t *err)
{
	struct i8042 *d = NULL;
	int r;

	(void)i, (void)fd;
	r = i8042_create(env->m, env->on_reset, env->opaque, &d, err);
	*dev = d;
	return r;
}

static void i8042_kind_free(void *dev)
{
	i8042_free(dev);
}

const struct vmm_device_kind i8042_kind = {
    .name = "i8042",
    .count = vmm_device_count_one,
    .create = i8042_kind_create,
    .free = i8042_kind_free,
};
