/*
 * The page cache never holds more than the budget, measured outside the
 * engine: the bytes allocated to faultmap's memfds (st_blocks, read through
 * /proc/self/fd), sampled after every access, while sequential and random
 * reads and writes go through a file 16 times the budget.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define BUDGET_PAGES 64

static uint64_t peak;

static void sample(void)
{
	uint64_t b = memfd_bytes();
	if (b > peak)
		peak = b;
	CHECK(b <= BUDGET_PAGES * PS);
}

int main(void)
{
	pin_embedded_mode("this process's own cache, measured from outside");
	CHECK(fm_set_budget(BUDGET_PAGES * PS) == 0);
	require_engine();
	char path[64];
	const size_t pages = 16 * BUDGET_PAGES, size = pages * PS;
	int fd = make_file(path, size, 21, O_RDWR);
	unsigned char *want = malloc(size);
	fill_pattern(want, size, 21);
	unsigned char *p = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);

	for (size_t i = 0; i < pages; i++) { /* sequential */
		CHECK_EQ(p[i * PS + 7], want[i * PS + 7]);
		sample();
	}
	uint64_t s = 42;
	for (int k = 0; k < 2000; k++) { /* random reads and writes */
		size_t i = rnd(&s) % pages;
		if (k % 3 == 0) {
			p[i * PS + 1] = (unsigned char)k;
			want[i * PS + 1] = (unsigned char)k;
		} else {
			CHECK_EQ(p[i * PS + 1], want[i * PS + 1]);
		}
		sample();
	}
	struct fm_stats st;
	CHECK(fm_stats(&st) == 0);
	CHECK(st.resident_bytes <= BUDGET_PAGES * PS);
	CHECK(st.evictions > 0);
	CHECK(peak > 0);
	CHECK(fm_munmap(p, size) == 0);
	size_t n;
	unsigned char *file = slurp(path, &n);
	CHECK(memcmp(file, want, size) == 0);
	printf("peak %llu bytes of a %lu-byte budget\n", (unsigned long long)peak,
	       BUDGET_PAGES * PS);
	free(file), free(want);
	close(fd);
	unlink(path);
	return 0;
}
