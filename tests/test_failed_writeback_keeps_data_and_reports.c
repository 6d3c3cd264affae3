/*
 * A write-back that fails (EIO from msync, ENOSPC during eviction, an error
 * at the last munmap) never drops the data: the pages stay dirty in the
 * cache, the error is reported by the next fm_msync, and a later write-back
 * that succeeds puts everything in the file.
 */
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	pin_embedded_mode("write-back failures injected through this process's fm_sys");
	CHECK(fm_set_budget(16 * PS) == 0);
	require_engine();
	fm_sys.pwrite = failing_pwrite;
	char path[64], other[64];
	const size_t size = 8 * PS;
	int fd = make_file(path, size, 81, O_RDWR);
	int ofd = make_file(other, 64 * PS, 82, O_RDONLY);
	unsigned char *want = malloc(size);
	fill_pattern(want, size, 81);
	unsigned char *p = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	unsigned char *o = fm_mmap(NULL, 64 * PS, PROT_READ, MAP_SHARED, ofd, 0);
	CHECK(p != MAP_FAILED && o != MAP_FAILED);

	/* EIO at msync: reported, data kept, retried. */
	pwrite_errno = EIO;
	memset(p, 0x31, 2 * PS);
	memset(want, 0x31, 2 * PS);
	errno = 0;
	CHECK_EQ(fm_msync(p, size, MS_SYNC), -1);
	CHECK_EQ(errno, EIO);
	struct fm_stats st;
	fm_stats(&st);
	CHECK(st.dirty_bytes >= 2 * PS);
	CHECK(memcmp(p, want, size) == 0);

	/* ENOSPC while eviction writes back: the dirty pages stay. */
	pwrite_errno = ENOSPC;
	memset(p + 2 * PS, 0x32, 6 * PS);
	memset(want + 2 * PS, 0x32, 6 * PS);
	unsigned sum = 0;
	for (size_t i = 0; i < 64; i++)
		sum += o[i * PS]; /* 64 pages through a 16-page cache */
	fm_stats(&st);
	CHECK(st.writeback_errors > 0);
	CHECK(st.dirty_bytes == size);
	CHECK(memfd_bytes() <= 16 * PS);
	CHECK(memcmp(p, want, size) == 0);
	errno = 0;
	CHECK_EQ(fm_msync(p, size, MS_ASYNC), -1); /* the recorded error */
	CHECK(errno == ENOSPC || errno == EIO);

	pwrite_errno = 0;
	CHECK_EQ(fm_msync(p, size, MS_SYNC), 0);
	check_file_is(path, want, size);

	/* An error at the last munmap: the cache keeps the data for later. */
	pwrite_errno = EIO;
	memset(p, 0x33, PS);
	memset(want, 0x33, PS);
	CHECK_EQ(fm_munmap(p, size), 0);
	pwrite_errno = 0;
	p = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, want, size) == 0);
	errno = 0;
	CHECK_EQ(fm_msync(p, size, MS_SYNC), -1); /* reports the munmap's EIO */
	CHECK_EQ(errno, EIO);
	CHECK_EQ(fm_msync(p, size, MS_SYNC), 0);
	check_file_is(path, want, size);
	printf("sum %u\n", sum);

	fm_munmap(p, size);
	fm_munmap(o, 64 * PS);
	free(want);
	close(fd), close(ofd);
	unlink(path), unlink(other);
	return 0;
}
