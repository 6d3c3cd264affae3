/*
 * One access that spans two pages must complete even in the smallest cache
 * and whatever the readahead: the fault for the second page must not evict
 * the first. Reads 8 bytes across page boundaries of a file 64 times the
 * cache, with each madvise hint.
 *
 * Regression: with a 16-page budget a reclaim batch (32 pages) evicted the
 * whole cache, and with MADV_SEQUENTIAL the page just read was the first
 * victim: the access faulted its two pages in turn for ever.
 */
#include "helpers.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define PAGES 1024

int main(void)
{
	CHECK(fm_set_budget(16 * PS) == 0);
	require_engine();
	alarm(60); /* a livelock fails the test instead of hanging it */
	char path[64];
	int fd = make_file(path, PAGES * PS, 141, O_RDONLY);
	unsigned char *want = malloc(PAGES * PS);
	fill_pattern(want, PAGES * PS, 141);
	static const int advice[] = {MADV_NORMAL, MADV_SEQUENTIAL, MADV_RANDOM};
	for (int a = 0; a < 3; a++) {
		unsigned char *p = fm_mmap(NULL, PAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
		CHECK(p != MAP_FAILED);
		CHECK(fm_madvise(p, PAGES * PS, advice[a]) == 0);
		uint64_t s = 5 + (uint64_t)a;
		for (int k = 0; k < 3000; k++) {
			size_t i = 1 + (a == 1 ? (size_t)k % (PAGES - 1) : rnd(&s) % (PAGES - 1));
			uint64_t v, w;
			memcpy(&v, p + i * PS - 4, 8);
			memcpy(&w, want + i * PS - 4, 8);
			CHECK(v == w);
		}
		CHECK(fm_munmap(p, PAGES * PS) == 0);
	}
	free(want);
	close(fd);
	unlink(path);
	return 0;
}
