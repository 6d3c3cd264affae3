/*
 * Bad arguments to fm_mmap, fm_munmap, fm_msync, fm_madvise and fm_mprotect
 * fail with the errno the kernel's own call gives for the same arguments:
 * each row of the table is run once through the kernel (on the kernel's
 * mappings of the file) and once through faultmap (on faultmap's mappings
 * laid out the same way), and the results must match. Nothing may crash,
 * and the mappings the failed calls aimed at must still read the file.
 */
#include "helpers.h"
#include "kernel_compat.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>


#define NPAGES 9

/*
 * Each side (kernel, faultmap) gets the same layout of NPAGES pages:
 *   page 0     unmapped
 *   pages 1-2  MAP_SHARED PROT_READ of the file through an O_RDONLY fd
 *   page 3     unmapped
 *   pages 4-7  MAP_SHARED PROT_READ|PROT_WRITE through an O_RDWR fd
 *   page 8     unmapped
 */
enum where {
	W_NULL, /* addr NULL */
	W_HOLE, /* page 0 */
	W_RO,	/* page 1 */
	W_GAP,	/* page 3 */
	W_RW,	/* page 4 */
};

enum op { MMAP, MUNMAP, MSYNC, MADVISE, MPROTECT };

enum which_fd { FD_NONE, FD_MINUS1, FD_CLOSED, FD_RDONLY, FD_RDWR, FD_WRONLY, FD_DIR, FD_PIPE };

struct row {
	const char *what;
	enum op op;
	enum where where;
	long delta; /* bytes added to the address */
	size_t len;
	int prot;
	int flags; /* mmap flags, msync flags or madvise advice */
	enum which_fd fd;
	off_t off;
	int expect; /* the errno the kernel gives */
};

static const struct row rows[] = {
	/* fm_mmap */
	{"mmap fd -1", MMAP, W_NULL, 0, PS, PROT_READ, MAP_SHARED, FD_MINUS1, 0, EBADF},
	{"mmap closed fd", MMAP, W_NULL, 0, PS, PROT_READ, MAP_PRIVATE, FD_CLOSED, 0, EBADF},
	{"mmap length 0", MMAP, W_NULL, 0, 0, PROT_READ, MAP_SHARED, FD_RDONLY, 0, EINVAL},
	{"mmap offset 1", MMAP, W_NULL, 0, PS, PROT_READ, MAP_PRIVATE, FD_RDONLY, 1, EINVAL},
	{"mmap offset PS/2", MMAP, W_NULL, 0, PS, PROT_READ, MAP_SHARED, FD_RDWR, PS / 2,
	 EINVAL},
	{"mmap shared PROT_WRITE of O_RDONLY fd", MMAP, W_NULL, 0, PS, PROT_READ | PROT_WRITE,
	 MAP_SHARED, FD_RDONLY, 0, EACCES},
	{"mmap shared_validate PROT_WRITE of O_RDONLY fd", MMAP, W_NULL, 0, PS, PROT_WRITE,
	 MAP_SHARED_VALIDATE, FD_RDONLY, 0, EACCES},
	{"mmap private PROT_READ of O_WRONLY fd", MMAP, W_NULL, 0, PS, PROT_READ, MAP_PRIVATE,
	 FD_WRONLY, 0, EACCES},
	{"mmap shared PROT_WRITE of O_WRONLY fd", MMAP, W_NULL, 0, PS, PROT_READ | PROT_WRITE,
	 MAP_SHARED, FD_WRONLY, 0, EACCES},
	{"mmap directory fd", MMAP, W_NULL, 0, PS, PROT_READ, MAP_PRIVATE, FD_DIR, 0, ENODEV},
	{"mmap pipe fd", MMAP, W_NULL, 0, PS, PROT_READ, MAP_SHARED, FD_PIPE, 0, ENODEV},
	{"mmap neither MAP_SHARED nor MAP_PRIVATE", MMAP, W_NULL, 0, PS, PROT_READ, 0,
	 FD_RDONLY, 0, EINVAL},
	{"mmap MAP_FIXED unaligned addr", MMAP, W_HOLE, 1, PS, PROT_READ,
	 MAP_PRIVATE | MAP_FIXED, FD_RDONLY, 0, EINVAL},
	{"mmap MAP_FIXED_NOREPLACE over a mapping", MMAP, W_RW, 0, PS, PROT_READ,
	 MAP_SHARED | MAP_FIXED_NOREPLACE, FD_RDONLY, 0, EEXIST},
	{"mmap MAP_FIXED_NOREPLACE overlapping a mapping's start", MMAP, W_GAP, 0, 2 * PS,
	 PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE, FD_RDONLY, 0, EEXIST},
	{"mmap enormous length", MMAP, W_NULL, 0, SIZE_MAX - 2 * 4096, PROT_READ, MAP_PRIVATE,
	 FD_RDONLY, 0, ENOMEM},
	{"mmap negative offset", MMAP, W_NULL, 0, PS, PROT_READ, MAP_SHARED, FD_RDONLY,
	 -(off_t)PS, EOVERFLOW},
	/* MAP_SHARED_VALIDATE refuses flags it does not know with EOPNOTSUPP. */
	{"mmap MAP_SHARED_VALIDATE with an unknown flag bit", MMAP, W_NULL, 0, PS, PROT_READ,
	 MAP_SHARED_VALIDATE | 0x800000, FD_RDWR, 0, EOPNOTSUPP},
	/* fm_munmap */
	{"munmap unaligned addr", MUNMAP, W_RW, 1, PS, 0, 0, FD_NONE, 0, EINVAL},
	{"munmap length 0", MUNMAP, W_RW, 0, 0, 0, 0, FD_NONE, 0, EINVAL},
	/* fm_msync */
	{"msync bad flags", MSYNC, W_RW, 0, PS, 0, 8, FD_NONE, 0, EINVAL},
	{"msync MS_SYNC|MS_ASYNC", MSYNC, W_RW, 0, PS, 0, MS_SYNC | MS_ASYNC, FD_NONE, 0,
	 EINVAL},
	{"msync unaligned addr", MSYNC, W_RW, 1, PS, 0, MS_SYNC, FD_NONE, 0, EINVAL},
	{"msync unmapped range", MSYNC, W_HOLE, 0, PS, 0, MS_SYNC, FD_NONE, 0, ENOMEM},
	{"msync MS_ASYNC unmapped range", MSYNC, W_HOLE, 0, PS, 0, MS_ASYNC, FD_NONE, 0,
	 ENOMEM},
	{"msync range running past a mapping's end", MSYNC, W_RW, 0, 5 * PS, 0, MS_SYNC,
	 FD_NONE, 0, ENOMEM},
	/* fm_madvise */
	{"madvise bogus advice", MADVISE, W_RW, 0, PS, 0, 12345, FD_NONE, 0, EINVAL},
	{"madvise bogus advice, unmapped range", MADVISE, W_HOLE, 0, PS, 0, 12345, FD_NONE, 0,
	 EINVAL},
	{"madvise unaligned addr", MADVISE, W_RW, 1, PS, 0, MADV_RANDOM, FD_NONE, 0, EINVAL},
	{"madvise MADV_NORMAL unmapped range", MADVISE, W_HOLE, 0, PS, 0, MADV_NORMAL, FD_NONE,
	 0, ENOMEM},
	{"madvise MADV_WILLNEED unmapped range", MADVISE, W_HOLE, 0, PS, 0, MADV_WILLNEED,
	 FD_NONE, 0, ENOMEM},
	{"madvise MADV_DONTNEED unmapped range", MADVISE, W_HOLE, 0, PS, 0, MADV_DONTNEED,
	 FD_NONE, 0, ENOMEM},
	/* fm_mprotect */
	{"mprotect PROT_WRITE, shared mapping of O_RDONLY fd", MPROTECT, W_RO, 0, 2 * PS,
	 PROT_READ | PROT_WRITE, 0, FD_NONE, 0, EACCES},
	{"mprotect unaligned addr", MPROTECT, W_RW, 1, PS, PROT_READ, 0, FD_NONE, 0, EINVAL},
	{"mprotect PROT_WRITE unaligned addr", MPROTECT, W_RW, 1, PS, PROT_READ | PROT_WRITE, 0,
	 FD_NONE, 0, EINVAL},
	{"mprotect bad prot bits", MPROTECT, W_RW, 0, PS, PROT_READ | 0x100, 0, FD_NONE, 0,
	 EINVAL},
	{"mprotect unmapped range", MPROTECT, W_HOLE, 0, PS, PROT_READ, 0, FD_NONE, 0, ENOMEM},
	/* The kernel checks prot and finds the hole before it looks at the
	 * mapping's VM_MAYWRITE. */
	{"mprotect PROT_WRITE, unmapped page then O_RDONLY shared mapping", MPROTECT, W_HOLE, 0,
	 3 * PS, PROT_READ | PROT_WRITE, 0, FD_NONE, 0, ENOMEM},
	{"mprotect PROT_WRITE|PROT_GROWSDOWN|PROT_GROWSUP, O_RDONLY shared mapping", MPROTECT,
	 W_RO, 0, 2 * PS, PROT_READ | PROT_WRITE | PROT_GROWSDOWN | PROT_GROWSUP, 0, FD_NONE, 0,
	 EINVAL},
};

static char path[64];
static pid_t owner;
static int fds[8];

static void remove_file(void)
{
	if (getpid() == owner && path[0])
		unlink(path);
}

/* lay_out - map the layout above at a fresh address, through the kernel or
 * through faultmap; return its base. */
static unsigned char *lay_out(int through_fm)
{
	unsigned char *base = mmap(NULL, NPAGES * PS, PROT_NONE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(base != MAP_FAILED);
	void *ro, *rw;
	if (through_fm) {
		ro = fm_mmap(base + PS, 2 * PS, PROT_READ, MAP_SHARED | MAP_FIXED,
			     fds[FD_RDONLY], 0);
		rw = fm_mmap(base + 4 * PS, 4 * PS, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_FIXED, fds[FD_RDWR], 0);
	} else {
		ro = mmap(base + PS, 2 * PS, PROT_READ, MAP_SHARED | MAP_FIXED,
			  fds[FD_RDONLY], 0);
		rw = mmap(base + 4 * PS, 4 * PS, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_FIXED, fds[FD_RDWR], 0);
	}
	CHECK(ro == base + PS);
	CHECK(rw == base + 4 * PS);
	CHECK(munmap(base, PS) == 0);
	CHECK(munmap(base + 3 * PS, PS) == 0);
	CHECK(munmap(base + 8 * PS, PS) == 0);
	return base;
}

static unsigned char *addr_of(unsigned char *base, enum where w)
{
	switch (w) {
	case W_NULL:
		return NULL;
	case W_HOLE:
		return base;
	case W_RO:
		return base + PS;
	case W_GAP:
		return base + 3 * PS;
	case W_RW:
		return base + 4 * PS;
	}
	return NULL;
}

/* run - one row through the kernel or faultmap. Return: 0 or the errno. */
static int run(const struct row *r, unsigned char *base, int through_fm)
{
	void *addr = addr_of(base, r->where);
	if (addr)
		addr = (unsigned char *)addr + r->delta;
	int fd = fds[r->fd];
	int ret;
	errno = 0;
	switch (r->op) {
	case MMAP: {
		void *p = through_fm ? fm_mmap(addr, r->len, r->prot, r->flags, fd, r->off)
				     : mmap(addr, r->len, r->prot, r->flags, fd, r->off);
		if (p != MAP_FAILED) { /* should not happen: undo it */
			fprintf(stderr, "%s: %s mapped it at %p\n", r->what,
				through_fm ? "faultmap" : "the kernel", p);
			if (through_fm)
				fm_munmap(p, r->len);
			else
				munmap(p, r->len);
			return 0;
		}
		return errno;
	}
	case MUNMAP:
		ret = through_fm ? fm_munmap(addr, r->len) : munmap(addr, r->len);
		break;
	case MSYNC:
		ret = through_fm ? fm_msync(addr, r->len, r->flags)
				 : msync(addr, r->len, r->flags);
		break;
	case MADVISE:
		ret = through_fm ? fm_madvise(addr, r->len, r->flags)
				 : madvise(addr, r->len, r->flags);
		break;
	case MPROTECT:
		ret = through_fm ? fm_mprotect(addr, r->len, r->prot)
				 : mprotect(addr, r->len, r->prot);
		break;
	default:
		return -1;
	}
	if (ret == 0)
		return 0;
	CHECK_EQ(ret, -1);
	return errno;
}

/* Whether [p, p + len) is unmapped (msync says ENOMEM for each page). */
static int unmapped(unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i += PS)
		if (msync(p + i, PS, MS_ASYNC) == 0 || errno != ENOMEM)
			return 0;
	return 1;
}

/* Whether the layout's holes are still holes. Something else in the
 * process (a sanitizer's allocator, a thread stack) may map into a one-page
 * hole at any time, since the kernel places new mappings in the highest gap
 * that fits. */
static int holes_ok(unsigned char *base)
{
	return unmapped(base, PS) && unmapped(base + 3 * PS, PS) && unmapped(base + 8 * PS, PS);
}

static void check_layout(unsigned char *base, const unsigned char *want, const char *who)
{
	if (memcmp(base + PS, want, 2 * PS) != 0 || memcmp(base + 4 * PS, want, 4 * PS) != 0) {
		fprintf(stderr, "%s: a mapping no longer reads the file\n", who);
		exit(1);
	}
}

/* tear_down - unmap the layout's two mappings; never the holes, which may
 * hold someone else's mapping by now. */
static void tear_down(unsigned char *base, int through_fm)
{
	if (through_fm) {
		CHECK(fm_munmap(base + PS, 2 * PS) == 0);
		CHECK(fm_munmap(base + 4 * PS, 4 * PS) == 0);
	} else {
		CHECK(munmap(base + PS, 2 * PS) == 0);
		CHECK(munmap(base + 4 * PS, 4 * PS) == 0);
	}
}

/* fresh - a layout whose holes are holes now: keep *base if it still is
 * one, else lay out a new one. */
static void fresh(unsigned char **base, int through_fm, int *relayouts)
{
	while (!holes_ok(*base)) {
		tear_down(*base, through_fm);
		*base = lay_out(through_fm);
		CHECK(++*relayouts < 100);
	}
}

int main(void)
{
	owner = getpid();
	atexit(remove_file);
	require_engine();

	const size_t size = 4 * PS;
	fds[FD_NONE] = -1;
	fds[FD_MINUS1] = -1;
	fds[FD_RDWR] = make_file(path, size, 11, O_RDWR);
	fds[FD_RDONLY] = open(path, O_RDONLY);
	fds[FD_WRONLY] = open(path, O_WRONLY);
	const char *dir = getenv("FM_TEST_DIR");
	fds[FD_DIR] = open(dir ? dir : "/var/tmp", O_RDONLY | O_DIRECTORY);
	int pipefd[2];
	CHECK(pipe(pipefd) == 0);
	fds[FD_PIPE] = pipefd[0];
	CHECK(fds[FD_RDONLY] >= 0 && fds[FD_WRONLY] >= 0 && fds[FD_DIR] >= 0);
	/* A number no file is open at: high, since the engine's own dups take
	 * the lowest free numbers. */
	fds[FD_CLOSED] = fcntl(fds[FD_RDONLY], F_DUPFD, 900);
	CHECK(fds[FD_CLOSED] >= 900);
	close(fds[FD_CLOSED]);

	unsigned char *want = malloc(size);
	CHECK(want);
	fill_pattern(want, size, 11);

	/* Map the file once before making holes, so the engine's own views
	 * of its cache are placed now and not later, inside a hole. */
	void *keeper = fm_mmap(NULL, PS, PROT_READ, MAP_SHARED, fds[FD_RDONLY], 0);
	CHECK(keeper != MAP_FAILED);

	unsigned char *kbase = lay_out(0);
	unsigned char *fbase = lay_out(1);
	check_layout(kbase, want, "kernel");
	check_layout(fbase, want, "faultmap");

	/* A row counts only if the holes were holes before it ran on either
	 * side and still are after: else it is run again on fresh layouts. */
	int bad = 0, relayouts = 0;
	const size_t nrows = sizeof(rows) / sizeof(rows[0]);
	for (size_t i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		int kerr, ferr;
		do {
			fresh(&kbase, 0, &relayouts);
			fresh(&fbase, 1, &relayouts);
			kerr = run(r, kbase, 0);
			ferr = run(r, fbase, 1);
		} while (!holes_ok(kbase) || !holes_ok(fbase));
		if (kerr != r->expect) {
			fprintf(stderr, "%s: the kernel gives %s, the table expects %s\n",
				r->what, strerrorname_np(kerr), strerrorname_np(r->expect));
			bad++;
		}
		if (ferr != kerr) {
			fprintf(stderr, "%s: kernel errno %s, faultmap errno %s\n", r->what,
				kerr ? strerrorname_np(kerr) : "0 (success)",
				ferr ? strerrorname_np(ferr) : "0 (success)");
			bad++;
		}
	}
	if (bad)
		fprintf(stderr, "%d mismatches in %zu rows\n", bad, nrows);
	if (relayouts)
		printf("laid out again %d times: something mapped into a hole\n", relayouts);

	/* The failed calls changed nothing. */
	check_layout(kbase, want, "kernel");
	check_layout(fbase, want, "faultmap");
	tear_down(fbase, 1);
	tear_down(kbase, 0);
	CHECK(fm_munmap(keeper, PS) == 0);

	check_file_is(path, want, size);
	free(want);
	for (int i = FD_RDONLY; i <= FD_PIPE; i++)
		close(fds[i]);
	close(pipefd[1]);
	return bad ? 1 : 0;
}
