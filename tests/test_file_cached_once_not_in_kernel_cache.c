/*
 * faultmap's cache is the only cache of a file it serves: reading a file
 * through a mapping must not leave a second copy in the kernel's page cache
 * (which the budget would not count). Checked with mincore(2) on a kernel
 * mapping of the file, after reads and after write-back.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define PAGES 256

static int kernel_cached_pages(int fd)
{
	unsigned char *k = mmap(NULL, PAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(k != MAP_FAILED);
	unsigned char vec[PAGES];
	CHECK(mincore(k, PAGES * PS, vec) == 0);
	munmap(k, PAGES * PS);
	int n = 0;
	for (int i = 0; i < PAGES; i++)
		n += vec[i] & 1;
	return n;
}

int main(void)
{
	require_engine();
	char path[64];
	int fd = make_file(path, PAGES * PS, 121, O_RDWR);
	CHECK(fsync(fd) == 0);
	CHECK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
	int before = kernel_cached_pages(fd);

	unsigned char *p = fm_mmap(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	unsigned sum = 0;
	for (int i = 0; i < PAGES; i++)
		sum += p[i * PS];
	int after_read = kernel_cached_pages(fd);
	for (int i = 0; i < PAGES; i += 2)
		p[i * PS] = 1;
	CHECK(fm_msync(p, PAGES * PS, MS_SYNC) == 0);
	int after_write = kernel_cached_pages(fd);
	printf("kernel-cached pages: %d before, %d after reading, %d after write-back (sum %u)\n",
	       before, after_read, after_write, sum);
	if (before > 0) {
		fprintf(stderr, "skip: this file system keeps the file cached regardless\n");
		return 77;
	}
	CHECK_EQ(after_read, 0);
	CHECK_EQ(after_write, 0);
	fm_munmap(p, PAGES * PS);
	close(fd);
	unlink(path);
	return 0;
}
