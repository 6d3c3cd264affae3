/*
 * Two private mappings of one fd, at adjacent addresses and file offsets,
 * are one vma for the kernel, so mremap grows them as one mapping. Two
 * ways to get there: map a page of a private mapping again (MAP_FIXED,
 * same fd and offset), or move (MREMAP_FIXED) a private mapping of the next
 * pages to just after one. Each time both parts are written (copies on
 * write) and the whole is grown; the kernel does it, and so must faultmap.
 * In daemon mode each private view mapped a new read-only open of the
 * cache's memfd, and the kernel merges no two vmas of different open
 * files: the grow failed with EFAULT.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static bool fm;

static void *map(void *addr, size_t len, int flags, int fd, off_t off)
{
	flags |= MAP_PRIVATE;
	int prot = PROT_READ | PROT_WRITE;
	return fm ? fm_mmap(addr, len, prot, flags, fd, off)
		  : mmap(addr, len, prot, flags, fd, off);
}

/* Write both halves of the 2-page mapping at p (one byte each), grow it to
 * 6 pages, check the copies and the file's pages, unmap. */
static void grow(const char *how, unsigned char *p, const unsigned char *file)
{
	p[5] = 0x11;
	p[PS + 5] = 0x22;
	errno = 0;
	unsigned char *g = fm ? fm_mremap(p, 2 * PS, 6 * PS, MREMAP_MAYMOVE)
			      : mremap(p, 2 * PS, 6 * PS, MREMAP_MAYMOVE);
	if (g == MAP_FAILED) {
		fprintf(stderr, "%s, %s: growing the mapping failed: %s\n",
			fm ? "faultmap" : "kernel", how, strerror(errno));
		exit(1);
	}
	CHECK(g[5] == 0x11 && g[PS + 5] == 0x22);
	CHECK(memcmp(g + 2 * PS, file + 2 * PS, 4 * PS) == 0);
	CHECK((fm ? fm_munmap(g, 6 * PS) : munmap(g, 6 * PS)) == 0);
}

static void run(int fd, const unsigned char *file)
{
	unsigned char *p = map(NULL, 2 * PS, 0, fd, 0);
	CHECK(p != MAP_FAILED);
	p[10] = 1; /* a copy on write before the second page is mapped again */
	CHECK(map(p + PS, PS, MAP_FIXED, fd, PS) == p + PS);
	grow("a page mapped again", p, file);

	/* Room for 4 pages: the second mapping moves into its second half. */
	unsigned char *r =
	    mmap(NULL, 4 * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r != MAP_FAILED);
	p = map(r, PS, MAP_FIXED, fd, 0);
	unsigned char *q = map(NULL, PS, 0, fd, PS);
	CHECK(p == r && q != MAP_FAILED);
	void *m = fm ? fm_mremap(q, PS, PS, MREMAP_MAYMOVE | MREMAP_FIXED, p + PS)
		     : mremap(q, PS, PS, MREMAP_MAYMOVE | MREMAP_FIXED, p + PS);
	CHECK(m == p + PS);
	CHECK(munmap(r + 2 * PS, 2 * PS) == 0);
	grow("a mapping moved next to one", p, file);
}

int main(void)
{
	require_engine();
	static unsigned char file[8 * PS];
	fill_pattern(file, sizeof(file), 13); /* what make_file writes */
	char path[64];
	int fd = make_file(path, sizeof(file), 13, O_RDWR);
	for (int i = 0; i < 2; i++, fm = true)
		run(fd, file);
	close(fd);
	unlink(path);
	return 0;
}
