/*
 * mremap(p, 1024, 8192, 0) of a 1 KiB shared mapping, with the pages after
 * it free and the file grown to 8 KiB behind faultmap's back (ftruncate on
 * the fd, not fm_ftruncate): the kernel grows it in place, and so must
 * faultmap; the grown part reads the file, and a write there reaches it.
 * The engine's own views of the file must not sit in the free pages (a
 * view of a small file used to take the first small gap).
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void grow(int through_fm, int fd)
{
	CHECK(ftruncate(fd, 1024) == 0);
	/* Three pages of address space; the last two are made free. */
	unsigned char *r = mmap(NULL, 3 * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r != MAP_FAILED);
	CHECK(munmap(r + PS, 2 * PS) == 0);
	unsigned char *p = through_fm ? fm_mmap(r + PS, 1024, PROT_READ | PROT_WRITE,
						MAP_SHARED | MAP_FIXED, fd, 0)
				      : mmap(r + PS, 1024, PROT_READ | PROT_WRITE,
					     MAP_SHARED | MAP_FIXED, fd, 0);
	CHECK(p == r + PS);
	CHECK(p[0] != 0);
	CHECK(ftruncate(fd, 2 * PS) == 0);
	errno = 0;
	unsigned char *q = through_fm ? fm_mremap(p, 1024, 2 * PS, 0) : mremap(p, 1024, 2 * PS, 0);
	if (q != p) {
		fprintf(stderr, "%s: mremap gave %p (%s), expected %p\n",
			through_fm ? "faultmap" : "kernel", (void *)q, strerror(errno), (void *)p);
		exit(1);
	}
	CHECK(q[PS + 5] == 0); /* the file's new part reads zeros */
	q[PS + 5] = 0x42;
	CHECK((through_fm ? fm_msync(q, 2 * PS, MS_SYNC) : msync(q, 2 * PS, MS_SYNC)) == 0);
	unsigned char c;
	CHECK(pread(fd, &c, 1, PS + 5) == 1 && c == 0x42);
	CHECK((through_fm ? fm_munmap(q, 2 * PS) : munmap(q, 2 * PS)) == 0);
	CHECK(munmap(r, PS) == 0);
}

int main(void)
{
	each_mode();
	require_engine();
	char path[64];
	int fd = make_file(path, 1024, 5, O_RDWR);
	grow(0, fd);
	CHECK(pwrite(fd, "\0", 1, PS + 5) == 1);
	grow(1, fd);
	close(fd);
	unlink(path);
	return 0;
}
