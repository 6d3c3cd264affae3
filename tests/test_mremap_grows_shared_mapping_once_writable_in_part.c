/*
 * A shared read-only mapping of two pages whose first page was made
 * writable, written, and made read-only again is one mapping for the
 * kernel again (its vmas merge back as their protections become the same),
 * so mremap grows it. So must faultmap: the first page's view had started
 * tracking writes (userfaultfd write-protect mode) and the second's had
 * not, which kept faultmap's records and the kernel vmas of its views
 * apart, and fm_mremap failed with EFAULT. The grown mapping then reads
 * the file, the write included, and a write through it reaches the file.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void run(int fd, bool through_fm)
{
	int (*protect)(void *, size_t, int) = through_fm ? fm_mprotect : mprotect;
	unsigned char *p = through_fm
			       ? fm_mmap(NULL, 2 * PS, PROT_READ, MAP_SHARED, fd, 0)
			       : mmap(NULL, 2 * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(protect(p, PS, PROT_READ | PROT_WRITE) == 0);
	p[7] = (unsigned char)(through_fm ? 0xf1 : 0x71);
	CHECK(protect(p, PS, PROT_READ) == 0);
	errno = 0;
	unsigned char *q = through_fm ? fm_mremap(p, 2 * PS, 4 * PS, MREMAP_MAYMOVE)
				      : mremap(p, 2 * PS, 4 * PS, MREMAP_MAYMOVE);
	if (q == MAP_FAILED) {
		fprintf(stderr, "%s: mremap of the mapping failed: %s\n",
			through_fm ? "faultmap" : "kernel", strerror(errno));
		exit(1);
	}
	CHECK(q[7] == (through_fm ? 0xf1 : 0x71));
	unsigned char want[PS];
	CHECK(pread(fd, want, PS, 3 * PS) == (ssize_t)PS);
	CHECK(memcmp(q + 3 * PS, want, PS) == 0); /* the grown part reads the file */
	CHECK(protect(q, 4 * PS, PROT_READ | PROT_WRITE) == 0);
	q[3 * PS + 9] = 0x5a;
	CHECK((through_fm ? fm_msync(q, 4 * PS, MS_SYNC) : msync(q, 4 * PS, MS_SYNC)) ==
	      0);
	unsigned char c;
	CHECK(pread(fd, &c, 1, 3 * PS + 9) == 1 && c == 0x5a);
	CHECK(pread(fd, &c, 1, 7) == 1 && c == (through_fm ? 0xf1 : 0x71));
	CHECK((through_fm ? fm_munmap(q, 4 * PS) : munmap(q, 4 * PS)) == 0);
}

int main(void)
{
	require_engine();
	char path[64];
	int fd = make_file(path, 8 * PS, 9, O_RDWR);
	run(fd, false);
	run(fd, true);
	close(fd);
	unlink(path);
	return 0;
}
