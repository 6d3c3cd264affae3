/*
 * Daemon mode: MADV_REMOVE on a shared writable faultmap mapping punches a
 * hole in the file, as the kernel does: the range reads zeros in this
 * mapping, in another process's cache and in the file; pages around it
 * keep their data. On a mapping that may not write the file it gives
 * EACCES, as the kernel does.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 32

int main(void)
{
	daemon_private();
	require_engine();
	char path[64];
	int fd = make_file(path, NPAGES * PS, 19, O_RDWR);
	unsigned char *want = malloc(NPAGES * PS);
	fill_pattern(want, NPAGES * PS, 19);
	volatile unsigned char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
					    MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	for (int i = 0; i < NPAGES; i++) { /* dirty, cached pages */
		p[(size_t)i * PS + 1] = (uint8_t)(i + 1);
		want[(size_t)i * PS + 1] = (uint8_t)(i + 1);
	}
	CHECK(fm_madvise((void *)(p + 4 * PS), 8 * PS, MADV_REMOVE) == 0);
	memset(want + 4 * PS, 0, 8 * PS);
	for (size_t i = 0; i < NPAGES * PS; i += 512)
		CHECK_EQ(p[i], want[i]);
	CHECK_EQ(p[5 * PS + 1], 0);
	unsigned char b[PS];
	CHECK_EQ(fm_pread(fd, b, PS, 6 * PS), PS); /* through the cache */
	for (size_t i = 0; i < PS; i++)
		CHECK_EQ(b[i], 0);
	int ro = open(path, O_RDONLY);
	volatile unsigned char *q = fm_mmap(NULL, NPAGES * PS, PROT_READ, MAP_SHARED, ro, 0);
	CHECK(q != MAP_FAILED);
	CHECK(fm_madvise((void *)q, 4 * PS, MADV_REMOVE) < 0);
	CHECK_EQ(errno, EACCES);
	CHECK(fm_munmap((void *)q, NPAGES * PS) == 0);
	CHECK(fm_munmap((void *)p, NPAGES * PS) == 0);
	check_file_is(path, want, NPAGES * PS);
	close(ro);
	close(fd);
	unlink(path);
	free(want);
	return 0;
}
