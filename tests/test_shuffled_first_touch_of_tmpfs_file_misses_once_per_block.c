/*
 * A first touch of every page of a file on tmpfs, in a shuffled order,
 * with the budget roomy: each miss reads the aligned 16-page block around
 * it (read-around), or the 1 MiB block around it once that block holds
 * two 16-page blocks (around_pages), so the pass takes at most one miss
 * per 16-page block, half as many here, and reads each page once. Roomy:
 * 1.25 times the file. Before, read-around stopped once half the budget
 * was used, as for a file on a disk, and a budget of 1.25 times the file
 * took 27,136 misses for 65,536 pages (fm-bench workload 1, shuffled):
 * every miss a round trip through the fault thread, for a page tmpfs
 * already held; with 16-page blocks only, 4,096. The kernel maps a tmpfs
 * page's resident neighbours at its fault (fault-around). Every byte read
 * is checked against the file; in both modes.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 1024
#define BLOCK 16

static char path[64];
static pid_t owner;

static void remove_file(void)
{
	if (getpid() == owner && path[0])
		unlink(path);
}

int main(void)
{
	each_mode();
	owner = getpid();
	atexit(remove_file);
	setenv("FM_TEST_DIR", "/dev/shm", 1);
	int fd = make_file(path, NPAGES * PS, 83, O_RDONLY);
	if (!file_in_memory(fd)) {
		printf("skip: /dev/shm is not tmpfs here\n");
		return 77;
	}
	/* The budget: 1.25 times the file, as workload 1's (a daemon's is
	 * set at its start). */
	CHECK(fm_set_budget(NPAGES * PS / 4 * 5) == 0);
	unsigned char *want = malloc(NPAGES * PS);
	CHECK(want);
	fill_pattern(want, NPAGES * PS, 83);
	unsigned char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);

	size_t order[NPAGES];
	for (size_t i = 0; i < NPAGES; i++)
		order[i] = i;
	uint64_t rs = 0x5eed83;
	for (size_t i = NPAGES - 1; i > 0; i--) {
		size_t j = rnd(&rs) % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	struct fm_stats a, b;
	CHECK(fm_stats(&a) == 0);
	for (size_t i = 0; i < NPAGES; i++) {
		size_t at = order[i] * PS + (order[i] * 61) % PS;
		if (*(volatile unsigned char *)(p + at) != want[at]) {
			fprintf(stderr, "page %zu reads %02x, expected %02x\n", order[i], p[at],
				want[at]);
			return 1;
		}
	}
	CHECK(fm_stats(&b) == 0);
	uint64_t major = b.major_faults - a.major_faults, read = b.pages_read - a.pages_read;
	printf("%d pages touched in a shuffled order: %llu misses, %llu pages read\n", NPAGES,
	       (unsigned long long)major, (unsigned long long)read);
	CHECK(major > 0);
	CHECK(major <= NPAGES / BLOCK / 2);
	CHECK_EQ(read, NPAGES);
	CHECK(memcmp(p, want, NPAGES * PS) == 0);
	CHECK(fm_munmap(p, NPAGES * PS) == 0);
	close(fd);
	free(want);
	return 0;
}
