/*
 * Many threads fault, read and write at once through shared and private
 * mappings of one file, with a budget small enough that pages are evicted
 * and written back under them. Each thread owns some bytes of every page and
 * checks them; at the end the file holds every shared write.
 */
#include "helpers.h"

#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define THREADS 4
#define PAGES 512
#define ROUNDS 3000

static unsigned char *shared, *priv, *want;

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	uint64_t s = 1000 + (uint64_t)t;
	unsigned char mine[PAGES] = {0};
	for (int r = 0; r < ROUNDS; r++) {
		size_t pg = rnd(&s) % PAGES;
		size_t off = pg * PS + (size_t)t * 8; /* this thread's byte */
		switch (rnd(&s) % 3) {
		case 0:
			mine[pg] = (unsigned char)(r | 1);
			shared[off] = mine[pg];
			break;
		case 1:
			CHECK_EQ(shared[off], mine[pg] ? mine[pg] : want[off]);
			break;
		default:
			/* private view: shows the cache until this page is copied */
			(void)*(volatile unsigned char *)(priv + pg * PS + 4000);
		}
	}
	for (size_t pg = 0; pg < PAGES; pg++)
		if (mine[pg])
			want[pg * PS + (size_t)t * 8] = mine[pg];
	return NULL;
}

int main(void)
{
	pin_embedded_mode("a budget set here, and this engine's counters");
	CHECK(fm_set_budget(64 * PS) == 0);
	require_engine();
	char path[64];
	int fd = make_file(path, PAGES * PS, 51, O_RDWR);
	want = malloc(PAGES * PS);
	fill_pattern(want, PAGES * PS, 51);
	shared = fm_mmap(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	priv = fm_mmap(NULL, PAGES * PS, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK(shared != MAP_FAILED && priv != MAP_FAILED);
	pthread_t th[THREADS];
	for (int t = 0; t < THREADS; t++)
		CHECK(pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t) == 0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	struct fm_stats st;
	fm_stats(&st);
	CHECK(st.evictions > 0);
	CHECK(fm_munmap(shared, PAGES * PS) == 0);
	CHECK(fm_munmap(priv, PAGES * PS) == 0);
	size_t n;
	unsigned char *file = slurp(path, &n);
	CHECK(memcmp(file, want, PAGES * PS) == 0);
	free(file), free(want);
	close(fd);
	unlink(path);
	return 0;
}
