/*
 * Sixteen threads miss on random pages of a RADOS-backed mapping at once
 * (MADV_RANDOM: one page a miss; in embedded mode a 1 MiB budget, so that
 * pages are evicted and read again while others are in flight): every
 * byte read is the object's. Misses of a store without a ring fd overlap
 * through its own asynchronous reads (read_start: rados_aio_read, whose
 * callbacks run on librados's threads) once several threads miss at once;
 * a lone miss is read blocking. Both paths are taken here: each thread
 * starts alone, then all go at once; 16 threads use more than the 8
 * misses with cluster-sized buffers (MISS_BIG). In both modes.
 */
#include "ceph.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGES 2048 /* 8 MiB */
#define THREADS 16
#define READS 600

static unsigned char *want;
static volatile unsigned char *map;
static pthread_barrier_t go;

struct reader {
	pthread_t tid;
	uint64_t seed;
	long bad; /* index of a byte read wrong, + 1 */
};

static void *reader_run(void *arg)
{
	struct reader *r = arg;
	uint64_t x = r->seed;
	for (int i = 0; i < READS && !r->bad; i++) {
		if (i == 20) /* alone so far: now all together */
			pthread_barrier_wait(&go);
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t at = (size_t)(x % PAGES) * PS + (size_t)(x >> 40) % (PS - 16);
		for (size_t k = at; k < at + 16; k++)
			if (map[k] != want[k])
				r->bad = (long)k + 1;
	}
	return NULL;
}

static struct ceph c;

int main(void)
{
	ceph_start(&c);
	want = malloc(PAGES * PS);
	CHECK(want);
	fill_pattern(want, PAGES * PS, 41);
	ceph_put(&c, "many", want, PAGES * PS);
	each_mode();
	const char *mode = getenv("FAULTMAP_MODE");
	if (mode && !strcmp(mode, "embedded"))
		CHECK(fm_set_budget(1 << 20) == 0);
	require_engine();
	char url[256];
	ceph_url(&c, "many", url, sizeof(url));
	for (int round = 0; round < 3; round++) {
		struct fm_store *s = fm_store_open(url, O_RDONLY);
		CHECK(s);
		map = fm_mmap_store(NULL, PAGES * PS, PROT_READ, MAP_SHARED, s, 0);
		CHECK(map != MAP_FAILED);
		CHECK(fm_madvise((void *)map, PAGES * PS, MADV_RANDOM) == 0);
		CHECK(pthread_barrier_init(&go, NULL, THREADS) == 0);
		struct reader r[THREADS];
		for (int t = 0; t < THREADS; t++) {
			r[t] = (struct reader){.seed = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1 + 8 * round)};
			CHECK(pthread_create(&r[t].tid, NULL, reader_run, &r[t]) == 0);
		}
		for (int t = 0; t < THREADS; t++) {
			CHECK(pthread_join(r[t].tid, NULL) == 0);
			if (r[t].bad) {
				size_t k = (size_t)r[t].bad - 1;
				fprintf(stderr, "round %d, thread %d: byte %zu (page %zu) is %#x, expected %#x\n",
					round, t, k, k / PS, map[k], want[k]);
				exit(1);
			}
		}
		pthread_barrier_destroy(&go);
		CHECK(fm_munmap((void *)map, PAGES * PS) == 0);
		CHECK(fm_store_close(s) == 0);
	}
	free(want);
	printf("ok\n");
	return 0;
}
