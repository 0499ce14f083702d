/* The virtio-mmio transport driven like a guest driver drives it, with a
 * small echo device behind it (copies each chain's readable bytes into its
 * writable ones). */
#include <errno.h>
#include <stdlib.h>

#include "common/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/virtio_guest.h"
#include "vmm/virtio/mmio.h"

#define ECHO_DEVICE_ID	 0x2a
#define ECHO_FEATURE_BIT 3
#define ECHO_QUEUE_MAX	 16

struct echo {
	struct virtio_mmio mmio;
	uint8_t config[8];
	unsigned int resets;
	unsigned int notifies;
	struct virtq_chain chain;
};

static uint64_t echo_features(void *dev)
{
	(void)dev;
	return 1ULL << ECHO_FEATURE_BIT;
}

static void echo_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct echo *e = dev;

	memcpy(data, e->config + off, len);
}

static void echo_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct echo *e = dev;

	memcpy(e->config + off, data, len);
}

static int echo_queue_notify(void *dev, unsigned int queue)
{
	struct echo *e = dev;
	struct virtq *q = &e->mmio.queues[queue].vq;
	int rc;

	e->notifies++;
	while ((rc = virtq_pop(q, &e->chain)) > 0) {
		uint8_t buf[64];
		size_t n = virtq_chain_read(&e->chain, 0, buf, sizeof(buf));

		virtq_push(q, e->chain.head, (uint32_t)virtq_chain_write(&e->chain, 0, buf, n));
		virtio_mmio_signal_used(&e->mmio, queue);
	}
	return rc;
}

static void echo_reset(void *dev)
{
	struct echo *e = dev;

	e->resets++;
}

static const struct virtio_dev_ops echo_ops = {
    .name = "virtio-echo",
    .device_id = ECHO_DEVICE_ID,
    .nr_queues = 2,
    .queue_size_max = ECHO_QUEUE_MAX,
    .config_size = 8,
    .features = echo_features,
    .config_read = echo_config_read,
    .config_write = echo_config_write,
    .queue_notify = echo_queue_notify,
    .reset = echo_reset,
};

struct fx {
	struct machine m;
	struct echo e;
	struct vg_queue g;
	uint64_t base;
	int irq;
};

static void fx_free(struct fx **f)
{
	if (*f == NULL)
		return;
	virtio_mmio_release(&(*f)->e.mmio);
	vg_machine_release(&(*f)->m);
	free(*f);
}
#define cleanup_fx __attribute__((cleanup(fx_free)))

#define FEATURES_ALL                                                                               \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << ECHO_FEATURE_BIT) |                               \
	 (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX))
#define FEATURES_MIN (1ULL << VIRTIO_F_VERSION_1)
#define STATUS_UP                                                                                  \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |      \
	 VIRTIO_CONFIG_S_DRIVER_OK)

static struct fx *fx_new(void)
{
	struct fx *f = xzalloc(sizeof(*f));
	kiln_error_t err = NULL;

	if (vg_machine_init(&f->m) < 0 ||
	    virtio_mmio_init(&f->e.mmio, &f->m, &echo_ops, &f->e, &err) < 0) {
		tap_diag("%s", err ? err->msg : "gmem_init");
		abort();
	}
	f->base = f->e.mmio.slot.base;
	f->irq = f->e.mmio.irq.fd;
	vg_queue_init(&f->g, &f->m.mem, 8);
	return f;
}

/* One echo request: 4 readable bytes at buf 0, 8 writable at buf 1. */
static void echo_request(struct fx *f, uint16_t head, const char *msg)
{
	memcpy(vg_buf(&f->g, 0), msg, 4);
	vg_desc(&f->g, head, vg_buf_gpa(0), 4, VRING_DESC_F_NEXT, (uint16_t)(head + 1));
	vg_desc(&f->g, (uint16_t)(head + 1), vg_buf_gpa(1), 8, VRING_DESC_F_WRITE, 0);
	vg_avail_push(&f->g, head);
}

static uint32_t status(struct fx *f)
{
	return vg_rd(&f->m, f->base, VIRTIO_MMIO_STATUS);
}

static int test_identity_registers(void)
{
	cleanup_fx struct fx *f = fx_new();

	TAP_CHECK(f->base == MACHINE_VIRTIO_BASE);
	TAP_CHECK(f->e.mmio.slot.gsi == MACHINE_VIRTIO_GSI0);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_MAGIC_VALUE) == 0x74726976);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_VERSION) == 2);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_DEVICE_ID) == ECHO_DEVICE_ID);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_VENDOR_ID) == VIRTIO_MMIO_VENDOR);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_SHM_LEN_LOW) == 0xffffffff);
	TAP_CHECK(status(f) == 0);
	return TAP_PASS;
}

static int test_register_access_width(void)
{
	cleanup_fx struct fx *f = fx_new();
	uint8_t b[4] = {0xaa, 0xaa, 0xaa, 0xaa};

	/* §4.2.2.2: registers are 32-bit aligned accesses only. */
	TAP_CHECK(bus_dispatch(&f->m.mmio, f->base + VIRTIO_MMIO_MAGIC_VALUE, false, b, 2) == 0);
	TAP_CHECK(b[0] == 0 && b[1] == 0);
	TAP_CHECK(bus_dispatch(&f->m.mmio, f->base + 1, false, b, 4) == 0);
	TAP_CHECK(b[0] == 0);
	b[0] = VIRTIO_CONFIG_S_ACKNOWLEDGE;
	bus_dispatch(&f->m.mmio, f->base + VIRTIO_MMIO_STATUS, true, b, 1);
	TAP_CHECK(status(f) == 0);
	return TAP_PASS;
}

static int test_feature_negotiation(void)
{
	cleanup_fx struct fx *f = fx_new();

	TAP_CHECK(vg_device_features(&f->m, f->base) == FEATURES_ALL);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_DEVICE_FEATURES) == 0);

	/* No VERSION_1: this transport has no legacy interface. */
	TAP_CHECK(!(vg_negotiate(&f->m, f->base, 1ULL << ECHO_FEATURE_BIT) &
		    VIRTIO_CONFIG_S_FEATURES_OK));
	/* A bit the device did not offer. */
	TAP_CHECK(!(vg_negotiate(&f->m, f->base, FEATURES_MIN | (1ULL << 40)) &
		    VIRTIO_CONFIG_S_FEATURES_OK));
	TAP_CHECK(vg_negotiate(&f->m, f->base, FEATURES_ALL) & VIRTIO_CONFIG_S_FEATURES_OK);
	TAP_CHECK(virtio_mmio_has_feature(&f->e.mmio, ECHO_FEATURE_BIT));
	TAP_CHECK(virtio_mmio_has_feature(&f->e.mmio, VIRTIO_F_VERSION_1));
	TAP_CHECK(!virtio_mmio_has_feature(&f->e.mmio, 70));
	/* Fixed once FEATURES_OK is set. */
	vg_wr(&f->m, f->base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_DRIVER_FEATURES, 0);
	TAP_CHECK(virtio_mmio_has_feature(&f->e.mmio, ECHO_FEATURE_BIT));
	return TAP_PASS;
}

static int test_queue_registers(void)
{
	cleanup_fx struct fx *f = fx_new();
	struct virtq *q = &f->e.mmio.queues[1].vq;

	vg_negotiate(&f->m, f->base, FEATURES_MIN);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_SEL, 1);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_QUEUE_NUM_MAX) == ECHO_QUEUE_MAX);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_QUEUE_READY) == 0);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_SEL, 2); /* no such queue */
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_QUEUE_NUM_MAX) == 0);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_READY, 1);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_QUEUE_READY) == 0);

	f->g.desc = 0x1234500000010000ULL; /* both halves must land */
	vg_queue_setup(&f->m, f->base, 1, &f->g);
	TAP_CHECK(q->num == 8 && q->desc_gpa == f->g.desc);
	TAP_CHECK(q->avail_gpa == VG_AVAIL_GPA && q->used_gpa == VG_USED_GPA);
	TAP_CHECK(!q->ready); /* that descriptor table is not RAM */
	TAP_CHECK(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);

	vg_wr(&f->m, f->base, VIRTIO_MMIO_STATUS, 0);
	vg_negotiate(&f->m, f->base, FEATURES_MIN);
	f->g.desc = VG_DESC_GPA;
	vg_queue_setup(&f->m, f->base, 1, &f->g);
	TAP_CHECK(q->ready);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_QUEUE_READY) == 1);
	/* §4.2.2.3: no layout changes while the queue is ready. */
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NUM, 4);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x5000);
	TAP_CHECK(q->num == 8 && q->desc_gpa == VG_DESC_GPA && q->size == 8);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_READY, 0);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_QUEUE_READY) == 0);
	return TAP_PASS;
}

static int test_queue_size_not_power_of_two(void)
{
	cleanup_fx struct fx *f = fx_new();

	f->g.size = 6;
	vg_negotiate(&f->m, f->base, FEATURES_MIN);
	vg_queue_setup(&f->m, f->base, 0, &f->g);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_QUEUE_READY) == 0);
	TAP_CHECK(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* Not announced before DRIVER_OK, then at once (§2.1.2). */
	TAP_CHECK(vg_irq_count(f->irq) == 0);
	vg_driver_ok(&f->m, f->base);
	TAP_CHECK(vg_irq_count(f->irq) == 1);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_INTERRUPT_STATUS) == VIRTIO_MMIO_INT_CONFIG);
	TAP_CHECK((status(f) & STATUS_UP) == STATUS_UP);
	/* Above QueueNumMax. */
	f->g.size = 32;
	vg_wr(&f->m, f->base, VIRTIO_MMIO_STATUS, 0);
	vg_negotiate(&f->m, f->base, FEATURES_MIN);
	vg_queue_setup(&f->m, f->base, 0, &f->g);
	TAP_CHECK(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
	return TAP_PASS;
}

static int test_ring_areas_outside_ram(void)
{
	cleanup_fx struct fx *f = fx_new();

	f->g.used = VG_RAM_SIZE - 8; /* 6 + 8 * 8 bytes do not fit */
	vg_negotiate(&f->m, f->base, FEATURES_MIN);
	vg_queue_setup(&f->m, f->base, 0, &f->g);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_QUEUE_READY) == 0);
	TAP_CHECK(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* The driver cannot clear DEVICE_NEEDS_RESET except by a reset. */
	vg_wr(&f->m, f->base, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	TAP_CHECK(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
	return TAP_PASS;
}

static int test_notify_runs_queue(void)
{
	cleanup_fx struct fx *f = fx_new();
	uint32_t id, len;

	TAP_CHECK(vg_bringup(&f->m, f->base, FEATURES_MIN, &f->g) == STATUS_UP);
	echo_request(f, 0, "ping");
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(vg_used_idx(&f->g) == 1);
	vg_used_elem(&f->g, 0, &id, &len);
	TAP_CHECK(id == 0 && len == 4);
	TAP_CHECK(memcmp(vg_buf(&f->g, 1), "ping", 4) == 0);
	TAP_CHECK(vg_irq_count(f->irq) == 1);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_INTERRUPT_STATUS) == VIRTIO_MMIO_INT_VRING);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_INTERRUPT_STATUS) == 0);

	/* Notifying a queue that does not exist or is not ready is a no-op. */
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 7);
	TAP_CHECK(f->e.notifies == 1);
	return TAP_PASS;
}

static int test_no_processing_before_driver_ok(void)
{
	cleanup_fx struct fx *f = fx_new();

	vg_negotiate(&f->m, f->base, FEATURES_MIN);
	vg_queue_setup(&f->m, f->base, 0, &f->g);
	echo_request(f, 0, "ping");
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(f->e.notifies == 0 && vg_used_idx(&f->g) == 0);
	vg_driver_ok(&f->m, f->base);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(vg_used_idx(&f->g) == 1);
	return TAP_PASS;
}

static int test_interrupt_suppressed(void)
{
	cleanup_fx struct fx *f = fx_new();

	vg_bringup(&f->m, f->base, FEATURES_MIN, &f->g);
	vg_avail_flags(&f->g, VRING_AVAIL_F_NO_INTERRUPT);
	echo_request(f, 0, "ping");
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(vg_used_idx(&f->g) == 1);
	TAP_CHECK(vg_irq_count(f->irq) == 0);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_INTERRUPT_STATUS) == 0);
	return TAP_PASS;
}

static int test_event_idx_through_transport(void)
{
	cleanup_fx struct fx *f = fx_new();

	vg_bringup(&f->m, f->base, FEATURES_ALL, &f->g);
	TAP_CHECK(f->e.mmio.queues[0].vq.event_idx && f->e.mmio.queues[0].vq.indirect);
	echo_request(f, 0, "ping");
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(vg_used_idx(&f->g) == 1 && vg_irq_count(f->irq) == 1);
	TAP_CHECK(vg_avail_event(&f->g) == 1);
	return TAP_PASS;
}

static int test_broken_chain_needs_reset(void)
{
	cleanup_fx struct fx *f = fx_new();

	vg_bringup(&f->m, f->base, FEATURES_MIN, &f->g);
	vg_desc(&f->g, 0, vg_buf_gpa(0), 4, VRING_DESC_F_NEXT, 1);
	vg_desc(&f->g, 1, vg_buf_gpa(1), 4, VRING_DESC_F_NEXT, 0);
	vg_avail_push(&f->g, 0);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_INTERRUPT_STATUS) == VIRTIO_MMIO_INT_CONFIG);
	TAP_CHECK(vg_irq_count(f->irq) == 1);
	TAP_CHECK(vg_used_idx(&f->g) == 0);
	/* Processing has stopped, even for a now well-formed ring. */
	echo_request(f, 2, "pong");
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(f->e.notifies == 1 && vg_used_idx(&f->g) == 0);
	return TAP_PASS;
}

static int test_reset_clears_state(void)
{
	cleanup_fx struct fx *f = fx_new();
	struct virtq *q = &f->e.mmio.queues[0].vq;
	unsigned int resets;

	vg_bringup(&f->m, f->base, FEATURES_ALL, &f->g);
	resets = f->e.resets;
	echo_request(f, 0, "ping");
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	vg_avail_push(&f->g, 9); /* out of range: the device breaks */
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);

	vg_wr(&f->m, f->base, VIRTIO_MMIO_STATUS, 0);
	TAP_CHECK(f->e.resets == resets + 1);
	TAP_CHECK(status(f) == 0);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_INTERRUPT_STATUS) == 0);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_QUEUE_READY) == 0);
	TAP_CHECK(!q->ready && q->num == 0 && q->desc_gpa == 0 && q->used_idx == 0);
	TAP_CHECK(!virtio_mmio_has_feature(&f->e.mmio, VIRTIO_F_VERSION_1));

	/* And the device works again from scratch. */
	vg_irq_count(f->irq);
	vg_queue_init(&f->g, &f->m.mem, 8);
	TAP_CHECK(vg_bringup(&f->m, f->base, FEATURES_MIN, &f->g) == STATUS_UP);
	echo_request(f, 0, "abcd");
	vg_wr(&f->m, f->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	TAP_CHECK(vg_used_idx(&f->g) == 1 && vg_irq_count(f->irq) == 1);
	return TAP_PASS;
}

static int test_config_space(void)
{
	cleanup_fx struct fx *f = fx_new();
	uint8_t b[8];

	memcpy(f->e.config, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_CONFIG + 4) == 0x08070605);
	TAP_CHECK(bus_dispatch(&f->m.mmio, f->base + VIRTIO_MMIO_CONFIG + 1, false, b, 2) == 0);
	TAP_CHECK(b[0] == 2 && b[1] == 3);
	TAP_CHECK(bus_dispatch(&f->m.mmio, f->base + VIRTIO_MMIO_CONFIG, false, b, 8) == 0);
	TAP_CHECK(b[7] == 8);
	/* Past the end of the device's configuration: zeros, no callback. */
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_CONFIG + 6) == 0);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_CONFIG + 0x100) == 0);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_CONFIG, 0xdeadbeef);
	TAP_CHECK(memcmp(f->e.config, "\xef\xbe\xad\xde", 4) == 0);
	vg_wr(&f->m, f->base, VIRTIO_MMIO_CONFIG + 6, 0xdeadbeef);
	TAP_CHECK(f->e.config[6] == 7);
	return TAP_PASS;
}

static int test_config_changed(void)
{
	cleanup_fx struct fx *f = fx_new();
	uint32_t gen = vg_rd(&f->m, f->base, VIRTIO_MMIO_CONFIG_GENERATION);

	/* Before DRIVER_OK: a new generation, no interrupt. */
	pthread_mutex_lock(&f->e.mmio.lock);
	virtio_mmio_config_changed(&f->e.mmio);
	pthread_mutex_unlock(&f->e.mmio.lock);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_CONFIG_GENERATION) == gen + 1);
	TAP_CHECK(vg_irq_count(f->irq) == 0);

	vg_bringup(&f->m, f->base, FEATURES_MIN, &f->g);
	pthread_mutex_lock(&f->e.mmio.lock);
	virtio_mmio_config_changed(&f->e.mmio);
	pthread_mutex_unlock(&f->e.mmio.lock);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_CONFIG_GENERATION) == gen + 2);
	TAP_CHECK(vg_irq_count(f->irq) == 1);
	TAP_CHECK(vg_rd(&f->m, f->base, VIRTIO_MMIO_INTERRUPT_STATUS) == VIRTIO_MMIO_INT_CONFIG);
	return TAP_PASS;
}

static int test_slots(void)
{
	struct machine m;
	struct machine_virtio_slot s;
	cleanup_error kiln_error_t err = NULL;

	memset(&m, 0, sizeof(m));
	for (unsigned int i = 0; i < MACHINE_VIRTIO_MAX; i++) {
		TAP_CHECK(machine_virtio_slot_alloc(&m, &s, &err) == 0);
		TAP_CHECK(s.base == MACHINE_VIRTIO_BASE + i * MACHINE_VIRTIO_SLOT);
		TAP_CHECK(s.len == MACHINE_VIRTIO_SLOT && s.gsi == MACHINE_VIRTIO_GSI0 + i);
		TAP_CHECK(m.virtio[i].base == s.base);
	}
	TAP_CHECK(m.nr_virtio == MACHINE_VIRTIO_MAX);
	TAP_CHECK(machine_virtio_slot_alloc(&m, &s, &err) < 0);
	TAP_CHECK(err != NULL && strstr(err->msg, "too many virtio devices") != NULL);
	return TAP_PASS;
}

static int test_two_devices(void)
{
	cleanup_fx struct fx *f = fx_new();
	struct echo *e2 = xzalloc(sizeof(*e2));
	cleanup_error kiln_error_t err = NULL;
	int ok;

	ok = virtio_mmio_init(&e2->mmio, &f->m, &echo_ops, e2, &err) == 0 &&
	     e2->mmio.slot.base == f->base + MACHINE_VIRTIO_SLOT &&
	     e2->mmio.slot.gsi == MACHINE_VIRTIO_GSI0 + 1 &&
	     vg_rd(&f->m, e2->mmio.slot.base, VIRTIO_MMIO_MAGIC_VALUE) == VIRTIO_MMIO_MAGIC &&
	     e2->mmio.irq.fd != f->irq;
	virtio_mmio_release(&e2->mmio);
	free(e2);
	TAP_CHECK(ok);
	return TAP_PASS;
}

static int test_bad_ops_and_release(void)
{
	struct virtio_dev_ops bad = echo_ops;
	struct machine m;
	struct echo *e = xzalloc(sizeof(*e));
	cleanup_error kiln_error_t err = NULL;
	int rc;

	memset(&m, 0, sizeof(m));
	bad.queue_size_max = 12;
	rc = virtio_mmio_init(&e->mmio, &m, &bad, e, &err);
	virtio_mmio_release(&e->mmio); /* a failed init releases cleanly */
	memset(&e->mmio, 0, sizeof(e->mmio));
	virtio_mmio_release(&e->mmio); /* so does one never initialised */
	free(e);
	TAP_CHECK(rc < 0 && err != NULL && strstr(err->msg, "power of 2") != NULL);
	TAP_CHECK(m.nr_virtio == 0 && m.mmio.nr_ranges == 0);
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_identity_registers), TAP_TEST(test_register_access_width),
	 TAP_TEST(test_feature_negotiation), TAP_TEST(test_queue_registers),
	 TAP_TEST(test_queue_size_not_power_of_two), TAP_TEST(test_ring_areas_outside_ram),
	 TAP_TEST(test_notify_runs_queue), TAP_TEST(test_no_processing_before_driver_ok),
	 TAP_TEST(test_interrupt_suppressed), TAP_TEST(test_event_idx_through_transport),
	 TAP_TEST(test_broken_chain_needs_reset), TAP_TEST(test_reset_clears_state),
	 TAP_TEST(test_config_space), TAP_TEST(test_config_changed), TAP_TEST(test_slots),
	 TAP_TEST(test_two_devices), TAP_TEST(test_bad_ops_and_release))
