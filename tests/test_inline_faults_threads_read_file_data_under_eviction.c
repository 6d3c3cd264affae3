/*
 * test_inline_faults_threads_read_file_data_under_eviction - with
 * FAULTMAP_INLINE_FAULTS=1 (embedded mode), the views that never track
 * writes (a shared view of a read-only fd, a private view) take their
 * misses in the thread that faulted (its SIGBUS handler), not in a fault
 * thread. Eight threads read random pages of such views of a file 32
 * times the budget, so pages are evicted under them all the time: every
 * page read must be the file's, and a private view's own copies stay.
 * A shared write through a view of a writable fd (the engine's
 * userfaultfd) is seen by the read-only view, as one cache.
 *
 * What the mode changes, and says in README.md: a system call that reads
 * a missing page of such a view gets EFAULT from the kernel (no thread to
 * wait for), while faultmap's own calls (fm_pwrite from that page) read
 * it in and go on; a page in the cache reads in a system call as always.
 * MADV_POPULATE_READ and _WRITE succeed there, as the kernel's.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

TSAN_SIGNAL_UNSAFE_ALLOWED

#define BUDGET_PAGES 64
#define NPAGES (32 * BUDGET_PAGES)
#define THREADS 8
#define READS 12000

static unsigned char *want, *ro, *priv;
static _Atomic unsigned long bad;

static void *reader(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
	for (int i = 0; i < READS; i++) {
		size_t pg = rnd(&s) % NPAGES;
		const unsigned char *p = (i & 1 ? ro : priv) + pg * PS;
		if (i & 1 || pg % 64) { /* priv's page 64k holds the main thread's copy */
			if (memcmp(p, want + pg * PS, PS))
				atomic_fetch_add(&bad, 1);
		} else if (p[0] != (unsigned char)~want[pg * PS] ||
			   memcmp(p + 1, want + pg * PS + 1, PS - 1)) {
			atomic_fetch_add(&bad, 1);
		}
	}
	return NULL;
}

static void scenario(void *arg)
{
	(void)arg;
	char path[64];
	int rdonly, rw = inline_faults_file(path, NPAGES, BUDGET_PAGES, 77, &rdonly, &want);
	ro = fm_mmap(NULL, NPAGES * PS, PROT_READ, MAP_SHARED, rdonly, 0);
	priv = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, rw, 0);
	CHECK(ro != MAP_FAILED && priv != MAP_FAILED);

	/* The mode is on: a system call meets a missing page with EFAULT. */
	int p[2];
	CHECK_EQ(pipe(p), 0);
	errno = 0;
	CHECK_EQ(write(p[1], ro + 5 * PS, PS), -1);
	CHECK_EQ(errno, EFAULT);
	/* faultmap's own copy reads it in: fm_pwrite into another cached file */
	char other[64];
	int ofd = make_file(other, 4 * PS, 78, O_RDWR);
	unsigned char *omap = fm_mmap(NULL, 4 * PS, PROT_READ, MAP_SHARED, ofd, 0);
	CHECK(omap != MAP_FAILED);
	CHECK_EQ(fm_pwrite(ofd, ro + 9 * PS, PS, PS), (ssize_t)PS);
	CHECK(memcmp(omap + PS, want + 9 * PS, PS) == 0);
	/* a page in the cache: the system call reads it */
	volatile unsigned char touch = ro[5 * PS];
	(void)touch;
	CHECK_EQ(write(p[1], ro + 5 * PS, PS), (ssize_t)PS);
	unsigned char back[PS];
	CHECK_EQ(read(p[0], back, PS), (ssize_t)PS);
	CHECK(memcmp(back, want + 5 * PS, PS) == 0);
	/* MADV_POPULATE_READ succeeds, as the kernel's (its populate alone
	 * cannot fault such a page in: EFAULT); so does MAP_POPULATE. What
	 * stays resident afterwards is the budget's to say. */
	CHECK_EQ(fm_madvise(ro, NPAGES * PS, MADV_POPULATE_READ), 0);
	CHECK_EQ(fm_madvise(priv + 64 * PS, 16 * PS, MADV_POPULATE_WRITE), 0);
	unsigned char *pop = fm_mmap(NULL, 32 * PS, PROT_READ, MAP_SHARED | MAP_POPULATE, rdonly,
				     (off_t)(NPAGES / 2 * PS));
	CHECK(pop != MAP_FAILED);
	CHECK(memcmp(pop, want + NPAGES / 2 * PS, 32 * PS) == 0);
	CHECK_EQ(fm_munmap(pop, 32 * PS), 0);

	/* private copies on every 64th page, then the threads */
	for (size_t pg = 0; pg < NPAGES; pg += 64)
		priv[pg * PS] = (unsigned char)~want[pg * PS];
	pthread_t t[THREADS];
	for (uintptr_t i = 0; i < THREADS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, reader, (void *)(i + 1)), 0);
	for (int i = 0; i < THREADS; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	CHECK_EQ(atomic_load(&bad), 0);
	struct fm_stats st;
	CHECK_EQ(fm_stats(&st), 0);
	CHECK(st.evictions > 0);

	/* one cache: a write through the writable view, seen read-only */
	unsigned char *sh = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
	CHECK(sh != MAP_FAILED);
	for (size_t pg = 3; pg < NPAGES; pg += 97) {
		sh[pg * PS + 7] = 0xa5;
		want[pg * PS + 7] = 0xa5;
	}
	CHECK_EQ(fm_msync(sh, NPAGES * PS, MS_SYNC), 0);
	for (size_t pg = 0; pg < NPAGES; pg++) /* evicts the written ones too */
		CHECK(memcmp(ro + pg * PS, want + pg * PS, PS) == 0);
	for (size_t pg = 3; pg < NPAGES; pg += 97)
		CHECK_EQ(ro[pg * PS + 7], 0xa5);
	CHECK_EQ(fm_munmap(sh, NPAGES * PS), 0);
	CHECK_EQ(fm_munmap(ro, NPAGES * PS), 0);
	CHECK_EQ(fm_munmap(priv, NPAGES * PS), 0);
	CHECK_EQ(fm_munmap(omap, 4 * PS), 0);
	close(ofd);
	unlink(other);
	close(rdonly);
	close(rw);
	unlink(path);
	free(want);
	_exit(0);
}

int main(void)
{
	return inline_faults_test(scenario);
}
