/*
 * Daemon mode: fsync reports a write-back error once to each open file, as
 * the kernel's errseq does, though the daemon receives the client's fd
 * under a new number at each request (it keeps what each client fd was
 * told). A file on a loop device whose blocks past a cut fail: a page
 * written there cannot be written back. fsync on fd1 gets EIO; the device
 * heals; fsync on fd1 then succeeds (its data is written, and it heard of
 * the error already), fd2 (open before the error) gets EIO once, then 0.
 * Before, each of a client's fsyncs heard of the file's last error again.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 64

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skip: a loop device needs root\n");
		return 77;
	}
	daemon_private();
	require_engine();
	struct loopfs fs;
	loopfs_create(&fs, 64 << 20);
	char path[160];
	snprintf(path, sizeof(path), "%s/f", fs.dir);
	int fd1 = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd1 >= 0);
	unsigned char *data = malloc(NPAGES * PS);
	fill_pattern(data, NPAGES * PS, 3);
	CHECK_EQ(write(fd1, data, NPAGES * PS), NPAGES * PS);
	CHECK(fsync(fd1) == 0);
	int fd2 = open(path, O_RDWR);
	CHECK(fd2 >= 0);
	volatile unsigned char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
					    MAP_SHARED, fd1, 0);
	CHECK(p != MAP_FAILED);
	CHECK_EQ(p[20 * PS], data[20 * PS]); /* cached while the disk works */
	uint64_t off = file_block_offset(fd1, 20 * PS);
	CHECK(off != UINT64_MAX);
	loopfs_fail_from(&fs, off); /* from that block on, the device fails */
	p[2 * PS] = 1; /* a good block */
	p[20 * PS] = 2; /* past the cut: its write-back fails */
	CHECK(fm_fsync(fd1) < 0);
	CHECK_EQ(errno, EIO);
	loopfs_heal(&fs);
	CHECK_EQ(fm_fsync(fd1), 0); /* written now; fd1 heard of the error */
	CHECK_EQ(fm_fsync(fd1), 0);
	CHECK(fm_fsync(fd2) < 0); /* fd2 hears of it, once */
	CHECK_EQ(errno, EIO);
	CHECK_EQ(fm_fsync(fd2), 0);
	unsigned char b;
	CHECK_EQ(pread(fd2, &b, 1, 20 * PS), 1); /* the kernel reads it from the file */
	CHECK_EQ(b, 2);
	CHECK(fm_munmap((void *)p, NPAGES * PS) == 0);
	close(fd1);
	close(fd2);
	free(data);
	daemon_stop();
	loopfs_destroy(&fs);
	return 0;
}
