/*
 * mremap(MREMAP_FIXED) of a shared mapping of file pages 2..3 to just after
 * a shared mapping of pages 0..1 of the same file: the kernel merges the two
 * into one vma, so the whole grows as one mapping. With faultmap the moved
 * view loses its userfaultfd registration, and so does the view the kernel
 * merges it with: both must be registered again before fm_mremap returns.
 * In daemon mode only the moved view was: the first mapping, never touched
 * before, then read zeros where the file has data (the kernel filled the
 * cache's memfd itself), its writes went untracked, and growing the whole
 * failed with EFAULT (two vmas, one registered, one not). The test reads
 * and writes the untouched pages after the move, checks the file, and
 * grows the whole, each time as the kernel does it.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void run(int fd, const unsigned char *file, bool through_fm)
{
	const char *who = through_fm ? "faultmap" : "kernel";
	/* Eight pages of address space: the mappings go in its start. */
	unsigned char *r =
	    mmap(NULL, 8 * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r != MAP_FAILED);
	int prot = PROT_READ | PROT_WRITE;
	unsigned char *p = through_fm
			       ? fm_mmap(r, 2 * PS, prot, MAP_SHARED | MAP_FIXED, fd, 0)
			       : mmap(r, 2 * PS, prot, MAP_SHARED | MAP_FIXED, fd, 0);
	unsigned char *q = through_fm
			       ? fm_mmap(NULL, 2 * PS, prot, MAP_SHARED, fd, 2 * PS)
			       : mmap(NULL, 2 * PS, prot, MAP_SHARED, fd, 2 * PS);
	CHECK(p == r && q != MAP_FAILED);
	void *m =
	    through_fm
		? fm_mremap(q, 2 * PS, 2 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, p + 2 * PS)
		: mremap(q, 2 * PS, 2 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, p + 2 * PS);
	CHECK(m == p + 2 * PS);
	CHECK(munmap(r + 4 * PS, 4 * PS) == 0); /* room to grow */
	for (size_t i = 0; i < 4 * PS; i += PS / 2)
		if (p[i] != file[i]) {
			fprintf(stderr,
				"%s: byte %zu after the move: %02x, the file has %02x\n",
				who, i, p[i], file[i]);
			exit(1);
		}
	p[PS + 3] = 0xa5;
	CHECK((through_fm ? fm_msync(p, 4 * PS, MS_SYNC) : msync(p, 4 * PS, MS_SYNC)) ==
	      0);
	unsigned char c;
	CHECK(pread(fd, &c, 1, PS + 3) == 1);
	if (c != 0xa5) {
		fprintf(stderr,
			"%s: a write to the first mapping did not reach the file\n", who);
		exit(1);
	}
	CHECK(pwrite(fd, &file[PS + 3], 1, PS + 3) == 1); /* as it was */
	errno = 0;
	unsigned char *g = through_fm ? fm_mremap(p, 4 * PS, 6 * PS, MREMAP_MAYMOVE)
				      : mremap(p, 4 * PS, 6 * PS, MREMAP_MAYMOVE);
	if (g == MAP_FAILED) {
		fprintf(stderr, "%s: growing the merged mapping failed: %s\n", who,
			strerror(errno));
		exit(1);
	}
	CHECK(memcmp(g + 5 * PS, file + 5 * PS, PS) == 0);
	CHECK((through_fm ? fm_munmap(g, 6 * PS) : munmap(g, 6 * PS)) == 0);
}

int main(void)
{
	require_engine();
	char path[64];
	int fd = make_file(path, 8 * PS, 11, O_RDWR);
	unsigned char file[8 * PS];
	CHECK(pread(fd, file, sizeof(file), 0) == (ssize_t)sizeof(file));
	run(fd, file, false);
	run(fd, file, true);
	close(fd);
	unlink(path);
	return 0;
}
