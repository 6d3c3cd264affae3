/*
 * Thirty-two threads read random pages of a shared mapping of a file on
 * disk at once, each page checked against the file's bytes: up to 32
 * misses in flight on the main fault thread's io_uring, the 24 beyond the
 * first 8 with buffers of 16 pages (MISS_SMALL_PAGES). Without advice a
 * miss reads the 16-page block around it while the cache has room, and
 * one page under pressure (embedded mode: a 2 MiB budget, so pages are
 * evicted and read again while others are in flight); with MADV_RANDOM
 * one page. A second round maps the file at an offset that is not a
 * multiple of 16 pages. In both modes.
 */
#include "helpers.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 8192 /* 32 MiB */
#define THREADS 32
#define READS 300

static unsigned char *want;
static volatile unsigned char *map;
static size_t map_pages, map_first;

struct reader {
	pthread_t tid;
	uint64_t seed;
	long bad; /* index in the file of a byte read wrong, + 1 */
};

static void *reader_run(void *arg)
{
	struct reader *r = arg;
	uint64_t x = r->seed;
	for (int i = 0; i < READS && !r->bad; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t at = (size_t)(x % map_pages) * PS + (size_t)(x >> 40) % (PS - 16);
		for (size_t k = at; k < at + 16; k++)
			if (map[k] != want[map_first * PS + k])
				r->bad = (long)(map_first * PS + k) + 1;
	}
	return NULL;
}

int main(void)
{
	each_mode();
	const char *mode = getenv("FAULTMAP_MODE");
	if (mode && !strcmp(mode, "embedded"))
		CHECK(fm_set_budget(2 << 20) == 0);
	require_engine();
	char path[64];
	int fd = make_file(path, (size_t)PAGES * PS, 32, O_RDONLY);
	want = malloc((size_t)PAGES * PS);
	CHECK(want);
	fill_pattern(want, (size_t)PAGES * PS, 32);
	for (int round = 0; round < 4; round++) {
		map_first = round & 1 ? 5 : 0;
		map_pages = PAGES - map_first;
		map = fm_mmap(NULL, map_pages * PS, PROT_READ, MAP_SHARED, fd,
			      (off_t)(map_first * PS));
		CHECK(map != MAP_FAILED);
		if (round >= 2)
			CHECK(fm_madvise((void *)map, map_pages * PS, MADV_RANDOM) == 0);
		struct reader r[THREADS];
		for (int t = 0; t < THREADS; t++) {
			r[t] = (struct reader){.seed = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1 + 64 * round)};
			CHECK(pthread_create(&r[t].tid, NULL, reader_run, &r[t]) == 0);
		}
		for (int t = 0; t < THREADS; t++) {
			CHECK(pthread_join(r[t].tid, NULL) == 0);
			if (r[t].bad) {
				size_t k = (size_t)r[t].bad - 1;
				fprintf(stderr, "round %d, thread %d: byte %zu of the file (page %zu) "
						"is %#x, expected %#x\n",
					round, t, k, k / PS, map[k - map_first * PS], want[k]);
				exit(1);
			}
		}
		CHECK(fm_munmap((void *)map, map_pages * PS) == 0);
	}
	close(fd);
	unlink(path);
	free(want);
	printf("ok\n");
	return 0;
}
