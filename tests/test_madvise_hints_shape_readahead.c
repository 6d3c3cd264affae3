/*
 * fm_madvise's hints shape what a miss reads, as counted by fm_stats:
 * MADV_RANDOM reads one page per miss; MADV_SEQUENTIAL reads far ahead, so
 * a sequential pass takes few misses; MADV_WILLNEED reads the range into the
 * cache (mincore sees it resident, and touching it then takes no miss), and
 * nothing else; MADV_DONTNEED on a private mapping drops its copy-on-write
 * pages, which read the file again, as the kernel does on its own mapping.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 256

static char paths[8][64];
static int npaths;
static pid_t owner;

static void remove_files(void)
{
	if (getpid() != owner)
		return;
	for (int i = 0; i < npaths; i++)
		unlink(paths[i]);
}

/* A new file (never mapped, so none of it is in faultmap's cache). */
static int new_file(size_t size, uint32_t seed, int flags)
{
	CHECK(npaths < 8);
	int fd = make_file(paths[npaths], size, seed, flags);
	npaths++;
	return fd;
}

static struct fm_stats stats(void)
{
	struct fm_stats st;
	CHECK(fm_stats(&st) == 0);
	return st;
}

/* Read one byte of page pg and check it against the file. */
static void touch(const unsigned char *p, const unsigned char *want, size_t pg)
{
	size_t at = pg * PS + (pg * 37) % PS;
	if (*(volatile const unsigned char *)(p + at) != want[at]) {
		fprintf(stderr, "page %zu reads %02x, expected %02x\n", pg, p[at], want[at]);
		exit(1);
	}
}

static void random_one_page_per_miss(void)
{
	const size_t size = NPAGES * PS;
	int fd = new_file(size, 51, O_RDONLY);
	unsigned char *want = malloc(size);
	CHECK(want);
	fill_pattern(want, size, 51);
	unsigned char *p = fm_mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(fm_madvise(p, size, MADV_RANDOM) == 0);

	/* 64 distinct pages in random order, some next to each other. */
	unsigned char picked[NPAGES] = {0};
	size_t order[64];
	uint64_t rs = 0x1234567;
	for (int n = 0; n < 64;) {
		size_t pg = rnd(&rs) % NPAGES;
		if (!picked[pg]) {
			picked[pg] = 1;
			order[n++] = pg;
		}
	}
	struct fm_stats a = stats();
	for (int n = 0; n < 64; n++)
		touch(p, want, order[n]);
	struct fm_stats b = stats();
	uint64_t major = b.major_faults - a.major_faults, read = b.pages_read - a.pages_read;
	printf("MADV_RANDOM: 64 pages touched, %llu major faults, %llu pages read\n",
	       (unsigned long long)major, (unsigned long long)read);
	CHECK_EQ(major, 64); /* every page was a miss, once */
	CHECK_EQ(read, major);

	CHECK(fm_munmap(p, size) == 0);
	close(fd);
	free(want);
}

/* sequential_pass - misses and pages read by one in-order pass over a new
 * file mapped with advice (or none, if advice < 0). */
static void sequential_pass(int advice, uint32_t seed, uint64_t *major, uint64_t *read)
{
	const size_t size = NPAGES * PS;
	int fd = new_file(size, seed, O_RDONLY);
	unsigned char *want = malloc(size);
	CHECK(want);
	fill_pattern(want, size, seed);
	unsigned char *p = fm_mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK(p != MAP_FAILED);
	if (advice >= 0)
		CHECK(fm_madvise(p, size, advice) == 0);

	struct fm_stats a = stats();
	for (size_t pg = 0; pg < NPAGES; pg++)
		touch(p, want, pg);
	struct fm_stats b = stats();
	*major = b.major_faults - a.major_faults;
	*read = b.pages_read - a.pages_read;
	CHECK(memcmp(p, want, size) == 0);
	CHECK(fm_munmap(p, size) == 0);
	close(fd);
	free(want);
}

static void sequential_reads_ahead(void)
{
	uint64_t major, read, normal_major, normal_read;
	sequential_pass(MADV_SEQUENTIAL, 52, &major, &read);
	sequential_pass(-1, 55, &normal_major, &normal_read);
	printf("MADV_SEQUENTIAL: %d pages in order, %llu major faults, %llu pages read "
	       "(no advice: %llu major faults)\n", NPAGES, (unsigned long long)major,
	       (unsigned long long)read, (unsigned long long)normal_major);
	CHECK(major >= 1);
	CHECK(major * 4 <= NPAGES);
	CHECK_EQ(read, NPAGES); /* each page read once */
	/* The hint reads further ahead than the default does. */
	CHECK(major < normal_major);
}

static void resident(const unsigned char *p, size_t npages, unsigned char *vec)
{
	CHECK(mincore((void *)p, npages * PS, vec) == 0);
	for (size_t i = 0; i < npages; i++)
		vec[i] &= 1;
}

static void willneed_reads_the_range(void)
{
	const size_t size = NPAGES * PS;
	const size_t lo = 40, hi = 72; /* the range advised */
	int fd = new_file(size, 53, O_RDONLY);
	unsigned char *want = malloc(size);
	CHECK(want);
	fill_pattern(want, size, 53);
	unsigned char *p = fm_mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);

	unsigned char vec[NPAGES];
	resident(p, NPAGES, vec);
	for (size_t i = 0; i < NPAGES; i++)
		if (vec[i]) {
			fprintf(stderr, "page %zu resident before anything read it\n", i);
			exit(1);
		}

	struct fm_stats a = stats();
	CHECK(fm_madvise(p + lo * PS, (hi - lo) * PS, MADV_WILLNEED) == 0);
	struct fm_stats b = stats();
	resident(p, NPAGES, vec);
	for (size_t i = 0; i < NPAGES; i++)
		if (vec[i] != (i >= lo && i < hi)) {
			fprintf(stderr, "after MADV_WILLNEED of pages %zu-%zu: page %zu %s\n",
				lo, hi - 1, i, vec[i] ? "resident" : "not resident");
			exit(1);
		}
	CHECK_EQ(b.pages_read - a.pages_read, hi - lo);
	CHECK_EQ(b.major_faults, a.major_faults); /* advice is not a fault */

	for (size_t pg = lo; pg < hi; pg++)
		touch(p, want, pg);
	CHECK(memcmp(p + lo * PS, want + lo * PS, (hi - lo) * PS) == 0);
	struct fm_stats c = stats();
	CHECK_EQ(c.major_faults, b.major_faults);
	CHECK_EQ(c.pages_read, b.pages_read);

	/* A page outside the range still takes a miss (the counters work). */
	touch(p, want, NPAGES - 1);
	struct fm_stats d = stats();
	CHECK_EQ(d.major_faults, c.major_faults + 1);

	CHECK(fm_munmap(p, size) == 0);
	close(fd);
	free(want);
}

static void dontneed_drops_private_copies(void)
{
	const size_t pages = 8, size = pages * PS;
	int ffd = new_file(size, 54, O_RDONLY), kfd = new_file(size, 54, O_RDONLY);
	unsigned char *want = malloc(size);
	CHECK(want);
	fill_pattern(want, size, 54);
	unsigned char *f = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, ffd, 0);
	unsigned char *k = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, kfd, 0);
	CHECK(f != MAP_FAILED && k != MAP_FAILED);

	memset(f + 2 * PS, 0xab, PS), memset(k + 2 * PS, 0xab, PS);
	memset(f + 3 * PS + 5, 0xcd, 10), memset(k + 3 * PS + 5, 0xcd, 10);
	memset(f + 6 * PS, 0xef, 100), memset(k + 6 * PS, 0xef, 100);
	CHECK(memcmp(f, k, size) == 0);

	CHECK(madvise(k + 2 * PS, 2 * PS, MADV_DONTNEED) == 0);
	CHECK(fm_madvise(f + 2 * PS, 2 * PS, MADV_DONTNEED) == 0);
	/* The kernel's answer: pages 2-3 read the file again, page 6 keeps its
	 * private copy. */
	CHECK(memcmp(k + 2 * PS, want + 2 * PS, 2 * PS) == 0);
	CHECK(k[6 * PS] == 0xef);
	for (size_t i = 0; i < size; i++)
		if (f[i] != k[i]) {
			fprintf(stderr, "after MADV_DONTNEED: byte %zu (page %zu) reads %02x, "
				"the kernel's mapping %02x (file %02x)\n",
				i, i / PS, f[i], k[i], want[i]);
			exit(1);
		}
	/* And the pages can be written privately again. */
	memset(f + 2 * PS, 0x12, 50), memset(k + 2 * PS, 0x12, 50);
	CHECK(memcmp(f, k, size) == 0);

	CHECK(fm_munmap(f, size) == 0);
	CHECK(munmap(k, size) == 0);
	size_t got;
	unsigned char *file = slurp(paths[npaths - 2], &got);
	CHECK_EQ(got, size);
	CHECK(memcmp(file, want, size) == 0);
	free(file);
	close(ffd);
	close(kfd);
	free(want);
}

int main(void)
{
	owner = getpid();
	atexit(remove_files);
	/* A known budget, far above what these mappings need: nothing is
	 * evicted, and readahead is not capped by it. */
	CHECK(fm_set_budget(64UL << 20) == 0);
	require_engine();
	random_one_page_per_miss();
	sequential_reads_ahead();
	willneed_reads_the_range();
	dontneed_drops_private_copies();
	return 0;
}
