/*
 * A live shared mapping shows the file's bytes, and only them, while
 * another thread of the process maps the same file shared, writes it and
 * unmaps it, in a loop (with write-back, and the file's last unmap when the
 * reader maps anew each pass), under the smallest budget, so that pages
 * are evicted and read again all the time. No byte of the file is ever 0:
 * a 0 read is a page served empty. The same program runs on the kernel's
 * mmap first, the oracle.
 *
 * Issue 9 reported zeros in this setting; this test did not reproduce them.
 * It found a SIGBUS on a valid page instead: one miss's read-around took
 * up to 15 + budget/4 frames, two misses in flight held every frame, and a
 * third fault, finding nothing to evict, was sent SIGBUS.
 */
#include "helpers.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 64
#define ROUNDS 1500
#define FM_TEST_BUDGET_PAGES 16

static int fd;
static atomic_int stop;
static atomic_long zeros;
static void *(*map_fn)(void *, size_t, int, int, int, off_t);
static int (*unmap_fn)(void *, size_t);

static void *writer(void *arg)
{
	(void)arg;
	uint64_t s = 3;
	for (int r = 0; r < ROUNDS; r++) {
		unsigned char *p = map_fn(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED,
					  fd, 0);
		CHECK(p != MAP_FAILED);
		for (int k = 0; k < 8; k++) {
			size_t pg = rnd(&s) % PAGES;
			memset(p + pg * PS, (int)(rnd(&s) | 1) & 0xff, PS);
		}
		CHECK(unmap_fn(p, PAGES * PS) == 0);
	}
	atomic_store(&stop, 1);
	return NULL;
}

/* Reads every byte through a mapping it keeps (arg 0), or through a new
 * mapping each pass (arg 1: then the writer's unmap is sometimes the
 * file's last). */
static void *reader(void *arg)
{
	bool remap = arg != NULL;
	const volatile unsigned char *p = NULL;
	while (!atomic_load(&stop)) {
		if (!p) {
			p = map_fn(NULL, PAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
			CHECK(p != MAP_FAILED);
		}
		for (size_t i = 0; i < PAGES * PS; i += 512)
			if (p[i] == 0)
				atomic_fetch_add(&zeros, 1);
		if (remap) {
			CHECK(unmap_fn((void *)p, PAGES * PS) == 0);
			p = NULL;
		}
	}
	if (p)
		CHECK(unmap_fn((void *)p, PAGES * PS) == 0);
	return NULL;
}

static long run(const char *what, bool remap)
{
	atomic_store(&stop, 0);
	atomic_store(&zeros, 0);
	pthread_t w, r;
	CHECK(pthread_create(&r, NULL, reader, remap ? &r : NULL) == 0);
	CHECK(pthread_create(&w, NULL, writer, NULL) == 0);
	CHECK(pthread_join(w, NULL) == 0);
	CHECK(pthread_join(r, NULL) == 0);
	long z = atomic_load(&zeros);
	fprintf(stderr, "%s, reader %s: %ld zero bytes read\n", what,
		remap ? "maps each pass" : "keeps its mapping", z);
	return z;
}

static void on_sigbus(int sig)
{
	(void)sig;
	static const char msg[] = "SIGBUS on a page of the file, inside its size\n";
	if (write(2, msg, sizeof(msg) - 1) < 0) {
	}
	_exit(1);
}

static void *kernel_mmap(void *a, size_t l, int p, int f, int d, off_t o)
{
	return mmap(a, l, p, f, d, o);
}

int main(void)
{
	/* The smallest budget: a quarter of the file, so that pages are
	 * evicted and read again all the time, and misses in flight hold a
	 * good part of the cache. */
	CHECK(fm_set_budget(FM_TEST_BUDGET_PAGES * PS) == 0);
	require_engine();
	char path[64];
	fd = make_file(path, PAGES * PS, 81, O_RDWR);
	signal(SIGBUS, on_sigbus);

	for (int remap = 0; remap < 2; remap++) {
		map_fn = kernel_mmap, unmap_fn = munmap;
		CHECK_EQ(run("kernel", remap), 0);
		map_fn = fm_mmap, unmap_fn = fm_munmap;
		CHECK_EQ(run("faultmap, 16-page budget", remap), 0);
	}
	close(fd);
	unlink(path);
	return 0;
}
