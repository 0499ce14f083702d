/* The split virtqueue against well-formed and hostile rings: setup checks,
 * chain walking with its limits, used ring and notification suppression. */
#include <errno.h>
#include <stdlib.h>

#include "common/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/virtio_guest.h"
#include "vmm/virtio/queue.h"

struct fx {
	struct machine m;
	struct vg_queue g;
	struct virtq q;
	struct virtq_chain c;
	int enable_rc;
};

static void fx_free(struct fx **f)
{
	if (*f == NULL)
		return;
	vg_machine_release(&(*f)->m);
	free(*f);
}
#define cleanup_fx __attribute__((cleanup(fx_free)))

/* A queue of `size` at the standard places, enabled (f->enable_rc says how
 * that went). */
static struct fx *fx_new(uint16_t size, bool event_idx, bool indirect)
{
	struct fx *f = xzalloc(sizeof(*f));

	if (vg_machine_init(&f->m) < 0)
		abort();
	vg_queue_init(&f->g, &f->m.mem, size);
	virtq_reset(&f->q);
	f->q.num = size;
	f->q.desc_gpa = f->g.desc;
	f->q.avail_gpa = f->g.avail;
	f->q.used_gpa = f->g.used;
	f->enable_rc = virtq_enable(&f->q, &f->m.mem, VIRTQ_SIZE_MAX, event_idx, indirect);
	return f;
}

/* Re-runs virtq_enable() after the test changed the driver's settings. */
static int fx_enable(struct fx *f)
{
	return virtq_enable(&f->q, &f->m.mem, VIRTQ_SIZE_MAX, false, false);
}

static int test_enable_ok(void)
{
	cleanup_fx struct fx *f = fx_new(256, false, false);

	TAP_CHECK(f->enable_rc == 0);
	TAP_CHECK(f->q.ready);
	TAP_CHECK(f->q.size == 256);
	TAP_CHECK(f->q.error == NULL);
	return TAP_PASS;
}

static int test_enable_size_not_power_of_two(void)
{
	cleanup_fx struct fx *f = fx_new(3, false, false);

	TAP_CHECK(f->enable_rc == -EINVAL);
	TAP_CHECK(!f->q.ready);
	TAP_CHECK(f->q.error != NULL);
	f->q.num = 0;
	TAP_CHECK(fx_enable(f) == -EINVAL);
	f->q.num = 2 * VIRTQ_SIZE_MAX; /* a power of 2, but above QueueNumMax */
	TAP_CHECK(fx_enable(f) == -EINVAL);
	f->q.num = 0x10000 + 4; /* would truncate to 4 in a uint16_t */
	TAP_CHECK(fx_enable(f) == -EINVAL);
	f->q.num = 1;
	TAP_CHECK(fx_enable(f) == 0);
	return TAP_PASS;
}

static int test_enable_misaligned(void)
{
	cleanup_fx struct fx *f = fx_new(8, false, false);

	f->q.desc_gpa = VG_DESC_GPA + 8;
	TAP_CHECK(fx_enable(f) == -EINVAL);
	f->q.desc_gpa = VG_DESC_GPA;
	f->q.avail_gpa = VG_AVAIL_GPA + 1;
	TAP_CHECK(fx_enable(f) == -EINVAL);
	f->q.avail_gpa = VG_AVAIL_GPA;
	f->q.used_gpa = VG_USED_GPA + 2;
	TAP_CHECK(fx_enable(f) == -EINVAL);
	TAP_CHECK(!f->q.ready);
	return TAP_PASS;
}

static int test_enable_areas_outside_ram(void)
{
	cleanup_fx struct fx *f = fx_new(256, false, false);

	/* Each area wholly outside RAM, then straddling its end. */
	f->q.desc_gpa = VG_RAM_SIZE;
	TAP_CHECK(fx_enable(f) == -EFAULT);
	f->q.desc_gpa = VG_RAM_SIZE - 16ULL * 128;
	TAP_CHECK(fx_enable(f) == -EFAULT);
	f->q.desc_gpa = VG_DESC_GPA;
	f->q.avail_gpa = VG_RAM_SIZE - 2ULL * 256; /* the 6 header bytes fall off */
	TAP_CHECK(fx_enable(f) == -EFAULT);
	f->q.avail_gpa = VG_AVAIL_GPA;
	f->q.used_gpa = 0xfffffffffffff000ULL; /* length would wrap around */
	TAP_CHECK(fx_enable(f) == -EFAULT);
	/* 6 + 8 * 256 bytes, 2 short of RAM's end once aligned to 4. */
	f->q.used_gpa = VG_RAM_SIZE - 6 - 8ULL * 256 - 2;
	TAP_CHECK(fx_enable(f) == 0);
	TAP_CHECK(f->q.ready);
	return TAP_PASS;
}

static int test_pop_empty(void)
{
	cleanup_fx struct fx *f = fx_new(8, false, false);

	TAP_CHECK(virtq_pop(&f->q, &f->c) == 0);
	virtq_reset(&f->q);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == 0); /* not ready */
	return TAP_PASS;
}

static int test_pop_push_round_trip(void)
{
	cleanup_fx struct fx *f = fx_new(8, false, false);
	uint32_t id, len;

	vg_desc(&f->g, 5, vg_buf_gpa(0), 100, VRING_DESC_F_NEXT, 2);
	vg_desc(&f->g, 2, vg_buf_gpa(1), 200, VRING_DESC_F_NEXT, 7);
	vg_desc(&f->g, 7, vg_buf_gpa(2), 300, VRING_DESC_F_WRITE, 0);
	vg_avail_push(&f->g, 5);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == 1);
	TAP_CHECK(f->c.head == 5);
	TAP_CHECK(f->c.nr_readable == 2 && f->c.nr_writable == 1);
	TAP_CHECK(f->c.readable_len == 300 && f->c.writable_len == 300);
	TAP_CHECK(f->c.iov[0].iov_base == vg_buf(&f->g, 0) && f->c.iov[0].iov_len == 100);
	TAP_CHECK(f->c.iov[1].iov_base == vg_buf(&f->g, 1) && f->c.iov[1].iov_len == 200);
	TAP_CHECK(f->c.iov[2].iov_base == vg_buf(&f->g, 2) && f->c.iov[2].iov_len == 300);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == 0);

	virtq_push(&f->q, 5, 42);
	TAP_CHECK(vg_used_idx(&f->g) == 1);
	vg_used_elem(&f->g, 0, &id, &len);
	TAP_CHECK(id == 5 && len == 42);
	return TAP_PASS;
}

static int test_chain_of_queue_size_is_fine(void)
{
	cleanup_fx struct fx *f = fx_new(4, false, false);

	for (uint16_t i = 0; i < 4; i++)
		vg_desc(&f->g, i, vg_buf_gpa(i), 16, i < 3 ? VRING_DESC_F_NEXT : 0, i + 1);
	vg_avail_push(&f->g, 0);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == 1);
	TAP_CHECK(f->c.nr_readable == 4);
	return TAP_PASS;
}

static int test_descriptor_loop(void)
{
	cleanup_fx struct fx *f = fx_new(4, false, false);

	vg_desc(&f->g, 0, vg_buf_gpa(0), 16, VRING_DESC_F_NEXT, 1);
	vg_desc(&f->g, 1, vg_buf_gpa(1), 16, VRING_DESC_F_NEXT, 0);
	vg_avail_push(&f->g, 0);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == -ELOOP);
	TAP_CHECK(f->q.error != NULL);
	/* The broken chain is not consumed. */
	TAP_CHECK(f->q.last_avail_idx == 0);
	return TAP_PASS;
}

static int test_descriptor_self_loop(void)
{
	cleanup_fx struct fx *f = fx_new(256, false, false);

	vg_desc(&f->g, 9, vg_buf_gpa(0), 16, VRING_DESC_F_NEXT, 9);
	vg_avail_push(&f->g, 9);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == -ELOOP);
	return TAP_PASS;
}

static int test_next_out_of_range(void)
{
	cleanup_fx struct fx *f = fx_new(8, false, false);

	vg_desc(&f->g, 0, vg_buf_gpa(0), 16, VRING_DESC_F_NEXT, 8);
	vg_avail_push(&f->g, 0);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == -EINVAL);
	TAP_CHECK(f->q.error != NULL);
	return TAP_PASS;
}

static int test_head_out_of_range(void)
{
	cleanup_fx struct fx *f = fx_new(8, false, false);

	vg_avail_push(&f->g, 8);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == -EINVAL);
	return TAP_PASS;
}

static int test_buffer_outside_ram(void)
{
	cleanup_fx struct fx *f = fx_new(8, false, false);
	static const struct {
		uint64_t addr;
		uint32_t len;
	} bad[] = {
	    {VG_RAM_SIZE, 1},		    /* just past the end */
	    {VG_RAM_SIZE - 10, 11},	    /* straddles the end */
	    {0xfffffffffffffff0ULL, 0x100}, /* addr + len wraps */
	    {GMEM_GAP_START, 1},	    /* the MMIO gap */
	};

	for (size_t k = 0; k < ARRAY_SIZE(bad); k++) {
		vg_desc(&f->g, (uint16_t)k, bad[k].addr, bad[k].len, 0, 0);
		vg_avail_push(&f->g, (uint16_t)k);
		TAP_CHECK(virtq_pop(&f->q, &f->c) == -EFAULT);
		/* The driver's ring is left where it was; skip past it. */
		f->q.last_avail_idx++;
	}
	/* The last byte of RAM is fine. */
	vg_desc(&f->g, 7, VG_RAM_SIZE - 1, 1, VRING_DESC_F_WRITE, 0);
	vg_avail_push(&f->g, 7);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == 1);
	return TAP_PASS;
}

static int test_avail_idx_jump(void)
{
	cleanup_fx struct fx *f = fx_new(8, false, false);

	vg_desc(&f->g, 0, vg_buf_gpa(0), 16, 0, 0);
	/* A full ring is allowed ... */
	vg_put16(&f->m.mem, VG_AVAIL_GPA + 2, 8);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == 1);
	/* ... more than a ring ahead of the device is not. */
	vg_put16(&f->m.mem, VG_AVAIL_GPA + 2, 10);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == -EINVAL);
	vg_put16(&f->m.mem, VG_AVAIL_GPA + 2, 0xffff);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == -EINVAL);
	return TAP_PASS;
}

static int test_readable_after_writable(void)
{
	cleanup_fx struct fx *f = fx_new(8, false, false);

	vg_desc(&f->g, 0, vg_buf_gpa(0), 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	vg_desc(&f->g, 1, vg_buf_gpa(1), 16, 0, 0);
	vg_avail_push(&f->g, 0);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == -EINVAL);
	return TAP_PASS;
}

static int test_index_wraparound(void)
{
	cleanup_fx struct fx *f = fx_new(4, false, false);
	uint32_t id, len;

	/* Past 65535 on both rings: free-running indexes wrap (§2.7.6). */
	for (unsigned int n = 0; n < 70000; n++) {
		uint16_t d = n % 4;

		vg_desc(&f->g, d, vg_buf_gpa(d), 16, VRING_DESC_F_WRITE, 0);
		vg_avail_push(&f->g, d);
		if (virtq_pop(&f->q, &f->c) != 1 || f->c.head != d)
			return TAP_FAIL;
		virtq_push(&f->q, d, n & 0xff);
	}
	TAP_CHECK(vg_used_idx(&f->g) == (uint16_t)70000);
	vg_used_elem(&f->g, (uint16_t)(70000 - 1), &id, &len);
	TAP_CHECK(id == (70000 - 1) % 4 && len == ((70000 - 1) & 0xff));
	return TAP_PASS;
}

static int test_indirect(void)
{
	cleanup_fx struct fx *f = fx_new(8, false, true);

	vg_desc_at(&f->m.mem, VG_INDIR_GPA, 0, vg_buf_gpa(0), 16, VRING_DESC_F_NEXT, 2);
	vg_desc_at(&f->m.mem, VG_INDIR_GPA, 2, vg_buf_gpa(1), 512, VRING_DESC_F_NEXT, 1);
	vg_desc_at(&f->m.mem, VG_INDIR_GPA, 1, vg_buf_gpa(2), 1, VRING_DESC_F_WRITE, 0);
	vg_desc(&f->g, 3, VG_INDIR_GPA, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	vg_avail_push(&f->g, 3);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == 1);
	TAP_CHECK(f->c.head == 3);
	TAP_CHECK(f->c.nr_readable == 2 && f->c.nr_writable == 1);
	TAP_CHECK(f->c.iov[1].iov_base == vg_buf(&f->g, 1) && f->c.iov[1].iov_len == 512);
	TAP_CHECK(f->c.iov[2].iov_base == vg_buf(&f->g, 2));
	return TAP_PASS;
}

/* One bad indirect setup per call: returns what virtq_pop() said. */
static int indirect_case(bool negotiated, uint64_t table, uint32_t table_len, uint16_t flags,
			 void (*fill)(struct guest_mem *))
{
	cleanup_fx struct fx *f = fx_new(8, false, negotiated);

	if (fill)
		fill(&f->m.mem);
	vg_desc(&f->g, 0, table, table_len, VRING_DESC_F_INDIRECT | flags, 1);
	vg_desc(&f->g, 1, vg_buf_gpa(3), 16, 0, 0);
	vg_avail_push(&f->g, 0);
	return virtq_pop(&f->q, &f->c);
}

static void fill_one(struct guest_mem *mem)
{
	vg_desc_at(mem, VG_INDIR_GPA, 0, vg_buf_gpa(0), 16, 0, 0);
}

static void fill_nested(struct guest_mem *mem)
{
	vg_desc_at(mem, VG_INDIR_GPA, 0, VG_INDIR_GPA + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
	vg_desc_at(mem, VG_INDIR_GPA + 0x100, 0, vg_buf_gpa(0), 16, 0, 0);
}

static void fill_loop(struct guest_mem *mem)
{
	vg_desc_at(mem, VG_INDIR_GPA, 0, vg_buf_gpa(0), 16, VRING_DESC_F_NEXT, 1);
	vg_desc_at(mem, VG_INDIR_GPA, 1, vg_buf_gpa(1), 16, VRING_DESC_F_NEXT, 0);
}

static void fill_next_out_of_table(struct guest_mem *mem)
{
	vg_desc_at(mem, VG_INDIR_GPA, 0, vg_buf_gpa(0), 16, VRING_DESC_F_NEXT, 2);
}

/* A table of 16 entries chained end to end: longer than the queue (8). */
static void fill_long(struct guest_mem *mem)
{
	for (uint16_t i = 0; i < 16; i++)
		vg_desc_at(mem, VG_INDIR_GPA, i, vg_buf_gpa(0), 16, i < 15 ? VRING_DESC_F_NEXT : 0,
			   i + 1);
}

static int test_indirect_hostile(void)
{
	TAP_CHECK(indirect_case(true, VG_INDIR_GPA, 16, 0, fill_one) == 1);
	TAP_CHECK(indirect_case(false, VG_INDIR_GPA, 16, 0, fill_one) == -EINVAL);
	TAP_CHECK(indirect_case(true, VG_INDIR_GPA, 16, VRING_DESC_F_NEXT, fill_one) == -EINVAL);
	TAP_CHECK(indirect_case(true, VG_INDIR_GPA, 16, 0, fill_nested) == -EINVAL);
	TAP_CHECK(indirect_case(true, VG_INDIR_GPA, 0, 0, fill_one) == -EINVAL);
	TAP_CHECK(indirect_case(true, VG_INDIR_GPA, 24, 0, fill_one) == -EINVAL);
	TAP_CHECK(indirect_case(true, VG_RAM_SIZE - 16, 32, 0, NULL) == -EFAULT);
	TAP_CHECK(indirect_case(true, VG_INDIR_GPA, 2 * 16, 0, fill_loop) == -ELOOP);
	TAP_CHECK(indirect_case(true, VG_INDIR_GPA, 2 * 16, 0, fill_next_out_of_table) == -EINVAL);
	TAP_CHECK(indirect_case(true, VG_INDIR_GPA, 16 * 16, 0, fill_long) == -ELOOP);
	/* An unaligned table is legal and must be read safely. */
	TAP_CHECK(indirect_case(true, VG_INDIR_GPA + 0x201, 16, 0, NULL) == 1);
	return TAP_PASS;
}

static int test_notify_flags(void)
{
	cleanup_fx struct fx *f = fx_new(8, false, false);

	virtq_push(&f->q, 0, 0);
	TAP_CHECK(virtq_should_notify(&f->q));
	vg_avail_flags(&f->g, VRING_AVAIL_F_NO_INTERRUPT);
	virtq_push(&f->q, 0, 0);
	TAP_CHECK(!virtq_should_notify(&f->q));
	return TAP_PASS;
}

static int test_notify_event_idx(void)
{
	cleanup_fx struct fx *f = fx_new(8, true, false);

	/* The flag is ignored with EVENT_IDX (§2.7.7.2). */
	vg_avail_flags(&f->g, VRING_AVAIL_F_NO_INTERRUPT);
	vg_used_event(&f->g, 2);
	virtq_push(&f->q, 0, 0); /* used idx 1: first decision always notifies */
	TAP_CHECK(virtq_should_notify(&f->q));
	virtq_push(&f->q, 0, 0); /* 2: not past used_event 2 yet */
	TAP_CHECK(!virtq_should_notify(&f->q));
	virtq_push(&f->q, 0, 0); /* 3: crossed it */
	TAP_CHECK(virtq_should_notify(&f->q));
	virtq_push(&f->q, 0, 0); /* 4: the driver has not moved used_event */
	TAP_CHECK(!virtq_should_notify(&f->q));
	vg_used_event(&f->g, 5);
	virtq_push(&f->q, 0, 0);
	virtq_push(&f->q, 0, 0); /* 6: batch crossed used_event 5 */
	TAP_CHECK(virtq_should_notify(&f->q));
	return TAP_PASS;
}

static int test_event_idx_avail_event(void)
{
	cleanup_fx struct fx *f = fx_new(8, true, false);

	vg_desc(&f->g, 0, vg_buf_gpa(0), 16, 0, 0);
	vg_avail_push(&f->g, 0);
	vg_avail_push(&f->g, 0);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == 1);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == 1);
	/* Empty: the device asks to be kicked for the next one (§2.7.10). */
	TAP_CHECK(virtq_pop(&f->q, &f->c) == 0);
	TAP_CHECK(vg_avail_event(&f->g) == 2);
	return TAP_PASS;
}

static int test_chain_copy_helpers(void)
{
	cleanup_fx struct fx *f = fx_new(8, false, false);
	struct iovec iov[VIRTQ_SIZE_MAX];
	char out[16] = {0};
	unsigned int n;

	memcpy(vg_buf(&f->g, 0), "hello ", 6);
	memcpy(vg_buf(&f->g, 1), "world", 5);
	vg_desc(&f->g, 0, vg_buf_gpa(0), 6, VRING_DESC_F_NEXT, 1);
	vg_desc(&f->g, 1, vg_buf_gpa(1), 5, VRING_DESC_F_NEXT, 2);
	vg_desc(&f->g, 2, vg_buf_gpa(2), 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
	vg_desc(&f->g, 3, vg_buf_gpa(3), 3, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 4);
	vg_desc(&f->g, 4, vg_buf_gpa(4), 4, VRING_DESC_F_WRITE, 0);
	vg_avail_push(&f->g, 0);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == 1);

	TAP_CHECK(virtq_chain_read(&f->c, 4, out, 100) == 7);
	TAP_CHECK(memcmp(out, "o world", 7) == 0);
	TAP_CHECK(virtq_chain_read(&f->c, 11, out, 1) == 0);
	TAP_CHECK(virtq_chain_write(&f->c, 1, "abcdefgh", 8) == 6);
	TAP_CHECK(memcmp(vg_buf(&f->g, 3), "\0ab", 3) == 0);
	TAP_CHECK(memcmp(vg_buf(&f->g, 4), "cdef", 4) == 0);

	n = virtq_chain_iov(&f->c, false, 5, 3, iov);
	TAP_CHECK(n == 2);
	TAP_CHECK(iov[0].iov_base == (char *)vg_buf(&f->g, 0) + 5 && iov[0].iov_len == 1);
	TAP_CHECK(iov[1].iov_base == vg_buf(&f->g, 1) && iov[1].iov_len == 2);
	n = virtq_chain_iov(&f->c, true, 0, 6, iov); /* the empty buffer is skipped */
	TAP_CHECK(n == 2 && iov[0].iov_len == 3 && iov[1].iov_len == 3);
	return TAP_PASS;
}

static int test_reset_clears_state(void)
{
	cleanup_fx struct fx *f = fx_new(8, true, true);

	vg_desc(&f->g, 0, vg_buf_gpa(0), 16, 0, 0);
	vg_avail_push(&f->g, 0);
	TAP_CHECK(virtq_pop(&f->q, &f->c) == 1);
	virtq_push(&f->q, 0, 1);
	virtq_reset(&f->q);
	TAP_CHECK(!f->q.ready && f->q.num == 0 && f->q.desc_gpa == 0);
	TAP_CHECK(f->q.last_avail_idx == 0 && f->q.used_idx == 0 && f->q.desc == NULL);
	TAP_CHECK(!f->q.event_idx && !f->q.indirect);
	virtq_push(&f->q, 0, 1); /* ignored: not ready */
	TAP_CHECK(vg_used_idx(&f->g) == 1);
	TAP_CHECK(!virtq_should_notify(&f->q));
	return TAP_PASS;
}

TAP_MAIN(TAP_TEST(test_enable_ok), TAP_TEST(test_enable_size_not_power_of_two),
	 TAP_TEST(test_enable_misaligned), TAP_TEST(test_enable_areas_outside_ram),
	 TAP_TEST(test_pop_empty), TAP_TEST(test_pop_push_round_trip),
	 TAP_TEST(test_chain_of_queue_size_is_fine), TAP_TEST(test_descriptor_loop),
	 TAP_TEST(test_descriptor_self_loop), TAP_TEST(test_next_out_of_range),
	 TAP_TEST(test_head_out_of_range), TAP_TEST(test_buffer_outside_ram),
	 TAP_TEST(test_avail_idx_jump), TAP_TEST(test_readable_after_writable),
	 TAP_TEST(test_index_wraparound), TAP_TEST(test_indirect), TAP_TEST(test_indirect_hostile),
	 TAP_TEST(test_notify_flags), TAP_TEST(test_notify_event_idx),
	 TAP_TEST(test_event_idx_avail_event), TAP_TEST(test_chain_copy_helpers),
	 TAP_TEST(test_reset_clears_state))
