/*
 * mremap(MREMAP_MAYMOVE | MREMAP_FIXED) to the same size of a range the
 * kernel holds as several vmas: Linux 6.17 on moves them all (before, it
 * failed with EFAULT). Two ranges: a shared mapping whose second half was
 * made MADV_RANDOM (one mapping, split in two vmas by the hint), and two
 * shared mappings of two files side by side. faultmap must do what the
 * kernel does, whichever it is: it once moved the first only where its
 * records split (EFAULT for the hint's split, which its records do not
 * follow), and in daemon mode neither. Where the move succeeds, the moved
 * pages read the files, the old place is unmapped, and a write at the new
 * place reaches the file (the moved views are served and track writes).
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static bool fm;

static void *map_at(void *at, size_t len, int fd)
{
	int prot = PROT_READ | PROT_WRITE, flags = MAP_SHARED | MAP_FIXED;
	return fm ? fm_mmap(at, len, prot, flags, fd, 0)
		  : mmap(at, len, prot, flags, fd, 0);
}

/* Move [r, r + 4 pages) to r + 4 pages: page i holds file[i]; its last
 * page is at offset off3 of the file open at fd3. Return: 0 or the errno. */
static int move(unsigned char *r, int fd3, off_t off3, const unsigned char *const file[4])
{
	errno = 0;
	unsigned char *q =
	    fm ? fm_mremap(r, 4 * PS, 4 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, r + 4 * PS)
	       : mremap(r, 4 * PS, 4 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, r + 4 * PS);
	if (q == MAP_FAILED)
		return errno;
	CHECK(q == r + 4 * PS);
	for (int i = 0; i < 4; i++)
		CHECK(memcmp(q + i * PS, file[i], PS) == 0);
	CHECK(msync(r, 4 * PS, MS_ASYNC) == -1 &&
	      errno == ENOMEM); /* old place unmapped */
	q[3 * PS + 6] = 0x3c;
	CHECK((fm ? fm_msync(q, 4 * PS, MS_SYNC) : msync(q, 4 * PS, MS_SYNC)) == 0);
	unsigned char c;
	CHECK(pread(fd3, &c, 1, off3 + 6) == 1 && c == 0x3c);
	return 0;
}

/* Return: the errnos of the two moves (0: moved). */
static void run(int a, int b, const unsigned char *fa, const unsigned char *fb,
		int err[2])
{
	unsigned char *r =
	    mmap(NULL, 8 * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r != MAP_FAILED);
	CHECK(map_at(r, 4 * PS, a) == r);
	CHECK((fm ? fm_madvise(r + 2 * PS, 2 * PS, MADV_RANDOM)
		  : madvise(r + 2 * PS, 2 * PS, MADV_RANDOM)) == 0);
	const unsigned char *const files1[4] = {fa, fa + PS, fa + 2 * PS, fa + 3 * PS};
	err[0] = move(r, a, 3 * PS, files1);
	CHECK(pwrite(a, fa + 3 * PS + 6, 1, 3 * PS + 6) == 1); /* as it was */
	CHECK((fm ? fm_munmap(r, 8 * PS) : munmap(r, 8 * PS)) == 0);

	r = mmap(NULL, 8 * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r != MAP_FAILED);
	CHECK(map_at(r, 2 * PS, a) == r && map_at(r + 2 * PS, 2 * PS, b) == r + 2 * PS);
	const unsigned char *const files2[4] = {fa, fa + PS, fb, fb + PS};
	err[1] = move(r, b, PS, files2);
	CHECK(pwrite(b, fb + PS + 6, 1, PS + 6) == 1);
	CHECK((fm ? fm_munmap(r, 8 * PS) : munmap(r, 8 * PS)) == 0);
}

int main(void)
{
	require_engine();
	static unsigned char fa[4 * PS], fb[4 * PS];
	fill_pattern(fa, sizeof(fa), 21);
	fill_pattern(fb, sizeof(fb), 22);
	char pa[64], pb[64];
	int a = make_file(pa, sizeof(fa), 21, O_RDWR),
	    b = make_file(pb, sizeof(fb), 22, O_RDWR);
	int k[2], f[2];
	run(a, b, fa, fb, k);
	fm = true;
	run(a, b, fa, fb, f);
	for (int i = 0; i < 2; i++)
		if (k[i] != f[i]) {
			fprintf(stderr,
				"%s: the kernel's move %s (%s), faultmap's %s (%s)\n",
				i ? "two files" : "a hint's split",
				k[i] ? "failed" : "succeeded", strerror(k[i]),
				f[i] ? "failed" : "succeeded", strerror(f[i]));
			return 1;
		}
	close(a), close(b);
	unlink(pa), unlink(pb);
	return 0;
}
