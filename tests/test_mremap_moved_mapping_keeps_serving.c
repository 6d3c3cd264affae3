/*
 * fm_mremap: a shared mapping grown in place reaches the file's new pages;
 * one moved elsewhere keeps its data, its missing pages are still read from
 * the file (not zero-filled by the kernel), and writes to its clean pages are
 * still tracked and reach the file. Shrinking unmaps the tail.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
	require_engine();
	char path[64];
	int fd = make_file(path, 16 * PS, 8, O_RDWR);
	unsigned char expect[16 * PS];
	fill_pattern(expect, sizeof(expect), 8);
	/* Room to grow in place: reserve 8 pages, map 2 at their start. */
	unsigned char *r = mmap(NULL, 8 * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r != MAP_FAILED);
	CHECK(munmap(r + 2 * PS, 6 * PS) == 0);
	unsigned char *p = fm_mmap(r, 2 * PS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	CHECK(p == r);
	CHECK_EQ(p[10], expect[10]);
	unsigned char *g = fm_mremap(p, 2 * PS, 6 * PS, 0);
	CHECK(g == p);
	CHECK(!memcmp(g + 4 * PS, expect + 4 * PS, PS)); /* read from the file */

	/* Move it to a fixed place. */
	unsigned char *dst = mmap(NULL, 6 * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(dst != MAP_FAILED);
	unsigned char *m = fm_mremap(g, 6 * PS, 6 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	CHECK(m == dst);
	CHECK_EQ(m[10], expect[10]);
	CHECK(!memcmp(m + 5 * PS, expect + 5 * PS, PS)); /* never read before */
	m[3 * PS + 1] = 0x5a; /* a clean page: the write must be tracked */
	CHECK(fm_msync(m, 6 * PS, MS_SYNC) == 0);
	unsigned char byte;
	CHECK(pread(fd, &byte, 1, 3 * PS + 1) == 1);
	CHECK_EQ(byte, 0x5a);

	/* Shrink: the tail goes. */
	CHECK(fm_mremap(m, 6 * PS, 2 * PS, 0) == m);
	m[PS] = 0x6b;
	CHECK(fm_munmap(m, 2 * PS) == 0);
	CHECK(pread(fd, &byte, 1, PS) == 1);
	CHECK_EQ(byte, 0x6b);
	close(fd);
	unlink(path);
	return 0;
}
