/*
 * fm_fsync and fm_fdatasync report write-back errors as Linux's errseq
 * does: each open file (fd) that was open when an error happened hears of
 * it once; a later flush on it returns 0; another fd hears of it too,
 * once; an fd opened after the error was reported does not; and each
 * mapping hears of it once from fm_msync. Errors are injected through
 * fm_sys.pwrite; the pages stay dirty and reach the file once writes work.
 */
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define SIZE (16 * PS)

/* flushed - call flush(fd); return 0 or the errno it failed with. */
static int flushed(int (*flush)(int), int fd)
{
	errno = 0;
	int r = flush(fd);
	CHECK(r == 0 || r == -1);
	return r ? errno : 0;
}

int main(void)
{
	pin_embedded_mode("write-back failures injected through this process's fm_sys");
	require_engine();
	fm_sys.pwrite = failing_pwrite;
	char path[64];
	int fd1 = make_file(path, SIZE, 71, O_RDWR);
	int fd2 = open(path, O_RDWR);
	CHECK(fd2 >= 0);
	unsigned char *want = malloc(SIZE);
	unsigned char *p = fm_mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd1, 0);
	CHECK(p != MAP_FAILED);

	/* EIO: fd1's own flush fails, and tells fd1 only once. */
	pwrite_errno = EIO;
	memset(p, 0x11, SIZE);
	memset(want, 0x11, SIZE);
	CHECK_EQ(flushed(fm_fsync, fd1), EIO);
	pwrite_errno = 0;
	CHECK_EQ(flushed(fm_fsync, fd1), 0); /* written now, and told already */
	check_file_is(path, want, SIZE);
	/* fd2 was open when it happened: it hears of it, once. */
	CHECK_EQ(flushed(fm_fdatasync, fd2), EIO);
	CHECK_EQ(flushed(fm_fdatasync, fd2), 0);
	CHECK_EQ(flushed(fm_fsync, fd2), 0);

	/* ENOSPC, found by fd2's flush: fd1 hears of it once too. */
	pwrite_errno = ENOSPC;
	memset(p + PS, 0x22, PS);
	memset(want + PS, 0x22, PS);
	CHECK_EQ(flushed(fm_fdatasync, fd2), ENOSPC);
	pwrite_errno = 0;
	CHECK_EQ(flushed(fm_fsync, fd2), 0);
	check_file_is(path, want, SIZE);
	/* An fd opened now, after the error was reported (the interposer
	 * records it at open), does not hear of it. */
	int fd3 = open(path, O_RDWR);
	CHECK(fd3 >= 0);
	filemap_fd_opened(fd3);
	CHECK_EQ(flushed(fm_fsync, fd3), 0);
	CHECK_EQ(flushed(fm_fsync, fd1), ENOSPC);
	CHECK_EQ(flushed(fm_fsync, fd1), 0);
	CHECK_EQ(fm_sync_file_range(fd1, 0, 0, SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER),
		 0);

	/* The mapping, made before both errors, hears of the last one once. */
	errno = 0;
	CHECK_EQ(fm_msync(p, SIZE, MS_SYNC), -1);
	CHECK_EQ(errno, ENOSPC);
	CHECK_EQ(fm_msync(p, SIZE, MS_SYNC), 0);

	/* An error nobody heard of yet is for a new opener as well. */
	pwrite_errno = EIO;
	memset(p + 2 * PS, 0x33, PS);
	memset(want + 2 * PS, 0x33, PS);
	int fd4 = open(path, O_RDWR);
	CHECK(fd4 >= 0);
	filemap_fd_opened(fd4); /* opened before the error: it hears of it */
	struct fm_stats st;
	CHECK(fm_stats(&st) == 0);
	uint64_t errors = st.writeback_errors;
	fm_sync(); /* fails, and tells nobody */
	CHECK(fm_stats(&st) == 0);
	CHECK(st.writeback_errors > errors);
	pwrite_errno = 0;
	int fd5 = open(path, O_RDWR);
	CHECK(fd5 >= 0);
	filemap_fd_opened(fd5); /* after it, but nobody has heard of it */
	CHECK_EQ(flushed(fm_fsync, fd5), EIO);
	CHECK_EQ(flushed(fm_fsync, fd5), 0);
	CHECK_EQ(flushed(fm_fsync, fd4), EIO);
	CHECK_EQ(flushed(fm_fsync, fd3), EIO);
	check_file_is(path, want, SIZE);

	CHECK_EQ(fm_munmap(p, SIZE), 0);
	close(fd1), close(fd2), close(fd3), close(fd4), close(fd5);
	free(want);
	unlink(path);
	return 0;
}
