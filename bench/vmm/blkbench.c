/* blkbench: virtio-blk throughput from inside the benchmark guest
 * (bench/vmm/guest-init runs it; bench/vmm/run builds it static).
 *
 *   blkbench DEVICE [SEQ_MIB [RAND_SECS]]
 *
 * With O_DIRECT (no guest page cache) and one request in flight at a time:
 *   1. sequential write of SEQ_MIB (default 64) in 1 MiB requests, then
 *      fdatasync (a virtio-blk flush);
 *   2. sequential read of the same SEQ_MIB in 1 MiB requests;
 *   3. 4 KiB reads at random 4 KiB-aligned offsets within SEQ_MIB for
 *      RAND_SECS seconds (default 3).
 * Prints key=value lines: seq_write_mib_s, seq_read_mib_s, rand4k_read_iops,
 * rand4k_read_lat_us (mean). Exits 1 on an I/O error. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SEQ_BS	(1u << 20)
#define RAND_BS 4096u

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fail(const char *what)
{
	printf("blkbench_error=%s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	unsigned long mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 64;
	double secs = argc > 3 ? atof(argv[3]) : 3, t0, t;
	uint64_t blocks, ops = 0, x = 88172645463325252ull;
	unsigned char *buf;
	int fd;

	if (argc < 2 || mib == 0) {
		fprintf(stderr, "usage: blkbench DEVICE [SEQ_MIB [RAND_SECS]]\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_DIRECT);
	if (fd < 0)
		fail("open");
	if (posix_memalign((void **)&buf, 4096, SEQ_BS) != 0)
		fail("posix_memalign");
	for (size_t i = 0; i < SEQ_BS; i++)
		buf[i] = (unsigned char)(i * 131 + 7);

	t0 = now_s();
	for (unsigned long i = 0; i < mib; i++)
		if (pwrite(fd, buf, SEQ_BS, (off_t)i * SEQ_BS) != (ssize_t)SEQ_BS)
			fail("write");
	if (fdatasync(fd) < 0)
		fail("fdatasync");
	t = now_s() - t0;
	printf("seq_write_mib_s=%.1f\n", (double)mib / t);

	t0 = now_s();
	for (unsigned long i = 0; i < mib; i++)
		if (pread(fd, buf, SEQ_BS, (off_t)i * SEQ_BS) != (ssize_t)SEQ_BS)
			fail("read");
	t = now_s() - t0;
	printf("seq_read_mib_s=%.1f\n", (double)mib / t);

	blocks = (uint64_t)mib * (SEQ_BS / RAND_BS);
	t0 = now_s();
	do {
		/* xorshift64: the same offsets in every run */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		for (int k = 0; k < 64; k++, ops++)
			if (pread(fd, buf, RAND_BS,
				  (off_t)((x + (uint64_t)k * 7919) % blocks) * RAND_BS) !=
			    (ssize_t)RAND_BS)
				fail("random read");
		t = now_s() - t0;
	} while (t < secs);
	printf("rand4k_read_iops=%.0f\n", (double)ops / t);
	printf("rand4k_read_lat_us=%.1f\n", t / (double)ops * 1e6);
	close(fd);
	return 0;
}
