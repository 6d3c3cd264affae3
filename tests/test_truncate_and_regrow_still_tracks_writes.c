/*
 * A dirty page of a shared mapping that a truncation removes, and that
 * comes back when the file grows again, is a clean page: a write to it
 * after a read must still be seen and reach the file. (The kernel zaps the
 * page without leaving a write-protect marker; faultmap protects the range
 * again.) Truncation also drops the cached pages past the new end: they
 * read as zeros once the file regrows, as with kernel mmap.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	require_engine();
	char path[64];
	const size_t size = 8 * PS;
	int fd = make_file(path, size, 3, O_RDWR);
	unsigned char *p = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	p[5 * PS + 7] = 0x11; /* dirty, writable in this mapping */
	CHECK(fm_ftruncate(fd, 2 * PS + 100) == 0);
	CHECK(fm_ftruncate(fd, size) == 0);
	CHECK_EQ(p[5 * PS + 7], 0); /* read: the page comes back, clean, zeros */
	CHECK_EQ(p[2 * PS + 100], 0); /* the old tail reads zeros */
	p[5 * PS + 7] = 0x22; /* must be seen as a first write again */
	CHECK(fm_munmap(p, size) == 0);
	unsigned char byte;
	CHECK(pread(fd, &byte, 1, 5 * PS + 7) == 1);
	CHECK_EQ(byte, 0x22);
	close(fd);
	unlink(path);
	return 0;
}
