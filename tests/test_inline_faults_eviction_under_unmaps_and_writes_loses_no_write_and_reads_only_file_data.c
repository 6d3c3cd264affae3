/*
 * test_inline_faults_eviction_under_unmaps_and_writes_loses_no_write_and_reads_only_file_data
 * - with FAULTMAP_INLINE_FAULTS=1, misses are served in the threads that
 * fault, and so is the eviction that makes room for them: many threads
 * evict at once, and a victim may belong to a file another thread is
 * releasing, or is being written through a view the fault thread serves.
 *
 * Four threads map views of four files, each four times the budget,
 * read random pages and unmap the views again, over and over: the victims
 * of one thread's eviction belong to files another thread is unmapping
 * (the last view of a file releases its cache) or faulting in. Two more
 * threads write through a shared view of a fifth file (served by the
 * fault thread: the mode leaves writable views to it), and msync now and
 * then, so that its pages turn clean and become victims too: a write must
 * never land in a page that is then dropped.
 *
 * Every page read must be the file's (never zeros, never another file's),
 * every write must reach the file, no thread may hang or die of SIGBUS,
 * and the budget holds. (It caught both mistakes of a prototype that
 * punched victims with engine.lock dropped: a file released under the
 * punch, under UBSan, and victims left unlocked, as hangs.)
 */
#include "helpers.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

TSAN_SIGNAL_UNSAFE_ALLOWED

#define BUDGET_PAGES 48
#define NPAGES (4 * BUDGET_PAGES)
#define FILES 4
#define READERS 4
#define WRITERS 2
#define ROUNDS 300
#define READS 24
#define WRITES 12000

static int fds[FILES];
static unsigned char *want[FILES];
static unsigned char *wmap;
static uint64_t written[WRITERS][NPAGES]; /* the last value each wrote */
static _Atomic unsigned long bad, failed;

static void *reader(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
	for (int r = 0; r < ROUNDS; r++) {
		int f = (int)(rnd(&s) % FILES);
		bool shared = rnd(&s) & 1;
		unsigned char *v = fm_mmap(NULL, NPAGES * PS, PROT_READ,
					   shared ? MAP_SHARED : MAP_PRIVATE, fds[f], 0);
		if (v == MAP_FAILED) {
			atomic_fetch_add(&failed, 1);
			continue;
		}
		for (int i = 0; i < READS; i++) {
			size_t pg = rnd(&s) % NPAGES;
			if (memcmp(v + pg * PS, want[f] + pg * PS, PS))
				atomic_fetch_add(&bad, 1);
		}
		if (fm_munmap(v, NPAGES * PS))
			atomic_fetch_add(&failed, 1);
	}
	return NULL;
}

/* writer w writes the 8 bytes at w * 8 of random pages: its own bytes */
static void *writer(void *arg)
{
	uintptr_t w = (uintptr_t)arg;
	uint64_t s = (w + 100) * 0x9e3779b97f4a7c15ull + 1;
	for (uint64_t i = 1; i <= WRITES; i++) {
		size_t pg = rnd(&s) % NPAGES;
		uint64_t v = (i << 8) | w;
		memcpy(wmap + pg * PS + w * 8, &v, 8);
		written[w][pg] = v;
		if (i % 500 == 0 && fm_msync(wmap, NPAGES * PS, MS_SYNC))
			atomic_fetch_add(&failed, 1);
	}
	return NULL;
}

static void scenario(void *arg)
{
	(void)arg;
	for (int f = 0; f < FILES; f++) {
		char path[64];
		int rw = inline_faults_file(path, NPAGES, BUDGET_PAGES, 300 + (uint32_t)f, &fds[f],
					    &want[f]);
		close(rw);
		unlink(path); /* the fds keep it */
	}
	char wpath[64];
	int wfd = make_file(wpath, NPAGES * PS, 399, O_RDWR);
	wmap = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, wfd, 0);
	CHECK(wmap != MAP_FAILED);

	pthread_t t[READERS + WRITERS];
	for (uintptr_t i = 0; i < READERS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, reader, (void *)(i + 1)), 0);
	for (uintptr_t w = 0; w < WRITERS; w++)
		CHECK_EQ(pthread_create(&t[READERS + w], NULL, writer, (void *)w), 0);
	for (int i = 0; i < READERS + WRITERS; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	CHECK_EQ(atomic_load(&failed), 0);
	CHECK_EQ(atomic_load(&bad), 0);

	/* every write reached the file: read it past faultmap */
	CHECK_EQ(fm_msync(wmap, NPAGES * PS, MS_SYNC), 0);
	unsigned char *orig = malloc(NPAGES * PS), page[PS];
	CHECK(orig);
	fill_pattern(orig, NPAGES * PS, 399);
	int plain = open(wpath, O_RDONLY);
	CHECK(plain >= 0);
	unsigned long lost = 0;
	for (size_t pg = 0; pg < NPAGES; pg++) {
		CHECK_EQ(pread(plain, page, PS, (off_t)(pg * PS)), (ssize_t)PS);
		for (size_t w = 0; w < WRITERS; w++)
			if (written[w][pg])
				memcpy(orig + pg * PS + w * 8, &written[w][pg], 8);
		if (memcmp(page, orig + pg * PS, PS))
			lost++;
	}
	CHECK_EQ(lost, 0);
	close(plain);
	unlink(wpath);

	struct fm_stats st;
	CHECK_EQ(fm_stats(&st), 0);
	CHECK(st.evictions > 0);
	CHECK(st.resident_bytes <= BUDGET_PAGES * PS);
	_exit(0);
}

int main(void)
{
	return inline_faults_test(scenario);
}
