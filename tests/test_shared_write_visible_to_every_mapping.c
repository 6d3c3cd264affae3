/*
 * All mappings of one file share one page cache, whatever fd opened it: a
 * write through a shared mapping is seen at once through every other shared
 * mapping, through private mappings of pages they did not write, at other
 * offsets, and reaches the file.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	require_engine();
	char path[64];
	const size_t size = 8 * PS + 100;
	int fd1 = make_file(path, size, 9, O_RDWR);
	int fd2 = open(path, O_RDWR);
	int fd3 = open(path, O_RDONLY);
	CHECK(fd2 >= 0 && fd3 >= 0);
	unsigned char *a = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd1, 0);
	unsigned char *b = fm_mmap(NULL, 4 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 4 * PS);
	unsigned char *c = fm_mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd3, 0);
	CHECK(a != MAP_FAILED && b != MAP_FAILED && c != MAP_FAILED);

	volatile unsigned char warm = c[5 * PS]; /* c maps page 5 first */
	(void)warm;
	a[5 * PS + 1] = 0x77;
	CHECK_EQ(b[PS + 1], 0x77);
	CHECK_EQ(c[5 * PS + 1], 0x77);
	b[2 * PS + 9] = 0x66; /* page 6 */
	CHECK_EQ(a[6 * PS + 9], 0x66);
	CHECK_EQ(c[6 * PS + 9], 0x66);

	CHECK(fm_msync(b, 4 * PS, MS_SYNC) == 0);
	unsigned char byte;
	CHECK(pread(fd3, &byte, 1, 6 * PS + 9) == 1);
	CHECK_EQ(byte, 0x66);

	CHECK(fm_munmap(a, size) == 0);
	CHECK(fm_munmap(b, 4 * PS) == 0);
	CHECK(fm_munmap(c, size) == 0);
	CHECK(pread(fd3, &byte, 1, 5 * PS + 1) == 1);
	CHECK_EQ(byte, 0x77);
	close(fd1), close(fd2), close(fd3);
	unlink(path);
	return 0;
}
