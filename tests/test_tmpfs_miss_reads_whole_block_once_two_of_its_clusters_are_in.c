/*
 * How much a first touch of a file on tmpfs reads, the budget roomy: the
 * aligned 16-page block around the page, until the 1 MiB (256-page) block
 * around it holds two such blocks; then 256 pages from the first absent
 * page before it (around_pages). So a program that touches a few pages of
 * a big file in memory at random copies 16 pages per touch, not 256, and
 * one that touches the whole file in any order misses about once per
 * 1 MiB. Every byte read is checked against the file; in both modes.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 1024 /* 4 MiB: four 1 MiB blocks */

static char path[64];
static pid_t owner;
static unsigned char *p, *want;

static void remove_file(void)
{
	if (getpid() == owner && path[0])
		unlink(path);
}

/* touch - read a byte of page, check it; return the pages read and the
 * misses taken by the touch. */
static void touch(size_t page, uint64_t *read, uint64_t *major)
{
	struct fm_stats a, b;
	CHECK(fm_stats(&a) == 0);
	size_t at = page * PS + (page * 61) % PS;
	if (*(volatile unsigned char *)(p + at) != want[at]) {
		fprintf(stderr, "page %zu reads %02x, expected %02x\n", page, p[at], want[at]);
		exit(1);
	}
	CHECK(fm_stats(&b) == 0);
	*read = b.pages_read - a.pages_read;
	*major = b.major_faults - a.major_faults;
	if (*major)
		printf("page %4zu: %llu miss, %llu pages read\n", page,
		       (unsigned long long)*major, (unsigned long long)*read);
}

int main(void)
{
	each_mode();
	owner = getpid();
	atexit(remove_file);
	setenv("FM_TEST_DIR", "/dev/shm", 1);
	int fd = make_file(path, NPAGES * PS, 91, O_RDONLY);
	if (!file_in_memory(fd)) {
		printf("skip: /dev/shm is not tmpfs here\n");
		return 77;
	}
	CHECK(fm_set_budget(NPAGES * PS / 4 * 5) == 0);
	want = malloc(NPAGES * PS);
	CHECK(want);
	fill_pattern(want, NPAGES * PS, 91);
	p = fm_mmap(NULL, NPAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);

	uint64_t read, major;
	/* One page in each of blocks 0, 2 and 3: 16 pages each. */
	size_t lone[] = {7, 512 + 100, 768 + 255};
	for (size_t i = 0; i < 3; i++) {
		touch(lone[i], &read, &major);
		CHECK_EQ(major, 1);
		CHECK_EQ(read, 16);
	}
	/* Block 1 (pages 256-511): a first 16-page block, then a second. */
	touch(256 + 3 * 16 + 5, &read, &major); /* [304, 320) */
	CHECK_EQ(major, 1);
	CHECK_EQ(read, 16);
	touch(256 + 10 * 16 + 2, &read, &major); /* [416, 432) */
	CHECK_EQ(major, 1);
	CHECK_EQ(read, 16);
	/* The third: 256 pages from the first absent page before it,
	 * [432, 688), into block 2 up to what it holds ([608, 624)). */
	touch(256 + 12 * 16, &read, &major);
	CHECK_EQ(major, 1);
	CHECK_EQ(read, 608 - 432);
	for (size_t page = 432; page < 608; page++) {
		touch(page, &read, &major);
		CHECK_EQ(major, 0);
	}
	/* Block 3 holds one 16-page block: the next touch there reads 16. */
	touch(768 + 5, &read, &major);
	CHECK_EQ(major, 1);
	CHECK_EQ(read, 16);
	CHECK(memcmp(p, want, NPAGES * PS) == 0);
	CHECK(fm_munmap(p, NPAGES * PS) == 0);
	close(fd);
	free(want);
	return 0;
}
