/*
 * Mapping calls whose range holds holes, several vmas, or mappings that
 * are not faultmap's, give what the kernel gives and leave what it leaves.
 * Each case runs twice in one process: on the kernel's mappings of one
 * copy of a file and on faultmap's of another, laid out the same way; the
 * results, errno, which pages are mapped and their bytes must be equal.
 * The cases are the differences the random errno test found (seeds 104 to
 * 220):
 *
 *  - msync(MS_SYNC) goes on past a hole and reports what a later mapping
 *    says (EINVAL: a mapping of a memfd_secret, which has no fsync; the
 *    random test met io_uring's rings);
 *    faultmap stopped at the hole with ENOMEM;
 *  - write(2) from a buffer that is only writable or only executable
 *    reads it, as the hardware does (x86); faultmap said EFAULT;
 *  - the kernel's own mapping moved by mremap over a faultmap mapping
 *    replaces it: mprotect(PROT_WRITE) there then works, where faultmap
 *    still took it for a read-only shared mapping (EACCES);
 *  - anonymous memory mapped with MAP_FIXED over a faultmap mapping
 *    replaces it as well (faultmap kept its record: EACCES; seed 501);
 *  - an mremap with MREMAP_FIXED that the kernel refuses after it unmapped
 *    the target (an old size past the address space) leaves a hole there
 *    for faultmap too (it kept its record; seeds 478, 491);
 *  - mremap growing a range of two vmas, or shrinking one to two vmas, is
 *    EFAULT and leaves the target and the tail mapped; faultmap had
 *    unmapped the target first, or moved what the shrink kept (seed 619);
 *  - a same-size MREMAP_FIXED move of several vmas with holes (Linux 6.17
 *    on) moves each vma and leaves the target's pages facing a hole as
 *    they were; faultmap said EFAULT, or, in daemon mode, moved the first
 *    vma and then failed;
 *  - MADV_REMOVE over a length past the user address space stops at the
 *    first mapping as the kernel does (the daemon refused the length:
 *    EINVAL; seed 461);
 *  - mremap with an old size that rounds to 0 (a duplicate) of a faultmap
 *    mapping is refused with EINVAL in both modes (not done, README); in
 *    embedded mode it made a duplicate that faultmap did not know.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define SIZE (8 * PS)

struct side {
	int fm; /* through faultmap (1) or the kernel (0) */
	int fd; /* the file, read-write */
	int ro; /* the same file, read-only */
	char path[64];
};

static struct side sides[2];
static int failures; /* every case runs, and each difference is told */

static void *map(const struct side *s, void *at, size_t len, int prot, int flags, int fd,
		 off_t off)
{
	void *p = s->fm ? fm_mmap(at, len, prot, flags, fd, off) : mmap(at, len, prot, flags, fd, off);
	CHECK(p != MAP_FAILED);
	return p;
}

/* Unmap len bytes at p, the pages of faultmap's shared mappings written
 * to the file first (in daemon mode the daemon writes them later). */
static void unmap(const struct side *s, void *p, size_t len)
{
	for (size_t k = 0; s->fm && k < len; k += PS) {
		unsigned char v;
		if (mincore((char *)p + k, PS, &v) == 0)
			CHECK(fm_msync((char *)p + k, PS, MS_SYNC) == 0);
	}
	CHECK((s->fm ? fm_munmap(p, len) : munmap(p, len)) == 0);
}

/* A reservation of n pages, PROT_NONE, to lay a case out in. */
static unsigned char *reserve(size_t n)
{
	void *p = mmap(NULL, n * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	return p;
}

/* Anonymous read-write pages at p, filled with c. */
static void anon(unsigned char *p, size_t n, int c)
{
	CHECK(mmap(p, n * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	      p);
	memset(p, c, n * PS);
}

/* What a page holds: -1 unmapped, -2 mapped but unreadable, else a hash.
 * Read as a system call reads it (process_vm_readv), so that faultmap's
 * pages fault in. */
static long page_state(const unsigned char *p)
{
	unsigned char v;
	if (mincore((void *)p, PS, &v) < 0)
		return -1;
	unsigned char buf[PS];
	struct iovec local = {buf, PS}, remote = {(void *)p, PS};
	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != PS)
		return -2;
	uint64_t h = 5381;
	for (size_t i = 0; i < PS; i++)
		h = h * 33 + buf[i];
	return (long)(h & 0x7fffffffffffULL);
}

#define MAX_PAGES 16

/* The states of n pages from p, taken at once after a side's call: what
 * the other side does next may map something into a hole of this one. */
static void take(long *st, const unsigned char *p, size_t n)
{
	CHECK(n <= MAX_PAGES);
	for (size_t i = 0; i < n; i++)
		st[i] = page_state(p + i * PS);
}

static void same_states(const char *what, const long *k, const long *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (k[i] != f[i]) {
			fprintf(stderr, "%s: page %zu: kernel %ld, faultmap %ld\n", what, i, k[i], f[i]);
			failures++;
			return;
		}
	}
}

/* The n pages at k (the kernel's side) and f (faultmap's) are alike now. */
static void same_pages(const char *what, const unsigned char *k, const unsigned char *f, size_t n)
{
	long a[MAX_PAGES], b[MAX_PAGES];
	take(a, k, n);
	take(b, f, n);
	same_states(what, a, b, n);
}

static void same_result(const char *what, long k, int kerr, long f, int ferr)
{
	if (k != f || (k < 0 && kerr != ferr)) {
		fprintf(stderr, "%s: kernel %ld (%s), faultmap %ld (%s)\n", what, k,
			k < 0 ? strerror(kerr) : "-", f, f < 0 ? strerror(ferr) : "-");
		failures++;
	}
}

/* msync(MS_SYNC) over [a shared mapping of the file][a hole][another][a
 * mapping of a memfd_secret]: the kernel goes on past the hole and stops
 * at the secret memory, whose file has no fsync (EINVAL). */
static void msync_sync_goes_on_past_a_hole(void)
{
	int secret = (int)syscall(SYS_memfd_secret, 0);
	if (secret < 0 || ftruncate(secret, PS) < 0) {
		printf("msync past a hole: no memfd_secret here (%s), not checked\n",
		       strerror(errno));
		return;
	}
	long r[2];
	int e[2];
	unsigned char *base[2];
	for (int i = 0; i < 2; i++) /* both first: a call frees pages the next reserve would take */
		base[i] = reserve(5);
	for (int i = 0; i < 2; i++) {
		unsigned char *b = base[i];
		map(&sides[i], b, PS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, sides[i].fd, 0);
		CHECK(munmap(b + PS, PS) == 0);
		map(&sides[i], b + 2 * PS, PS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		    sides[i].fd, PS);
		CHECK(mmap(b + 3 * PS, PS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, secret, 0) ==
		      b + 3 * PS);
		b[0] = 'x';
		b[2 * PS] = 'y';
		errno = 0;
		r[i] = sides[i].fm ? fm_msync(b, 4 * PS, MS_SYNC) : msync(b, 4 * PS, MS_SYNC);
		e[i] = errno;
	}
	same_result("msync(MS_SYNC) past a hole", r[0], e[0], r[1], e[1]);
	CHECK(r[0] == -1 && e[0] == EINVAL); /* the kernel's answer, as seen on 6.18 */
	for (int i = 0; i < 2; i++) {
		unmap(&sides[i], base[i], PS);
		unmap(&sides[i], base[i] + 2 * PS, PS);
		CHECK(munmap(base[i], 5 * PS) == 0);
	}
	close(secret);
}

/* pwrite from a buffer the program may write or execute but not read. */
static void write_from_unreadable_but_accessible_buffer_reads_it(void)
{
	static const int prots[] = {PROT_WRITE, PROT_EXEC, PROT_WRITE | PROT_EXEC};
	for (size_t k = 0; k < sizeof(prots) / sizeof(prots[0]); k++) {
		long r[2];
		int e[2];
		unsigned char *keep[2];
		for (int i = 0; i < 2; i++) {
			/* A mapping of the file makes faultmap cache it. */
			keep[i] = map(&sides[i], NULL, SIZE, PROT_READ, MAP_SHARED, sides[i].fd, 0);
			unsigned char *buf = reserve(3);
			anon(buf, 3, 'a' + (int)k);
			CHECK(mprotect(buf, 2 * PS, prots[k]) == 0);
			errno = 0;
			r[i] = sides[i].fm ? fm_pwrite(sides[i].fd, buf + 100, PS + 300, 2 * PS + 7)
					   : pwrite(sides[i].fd, buf + 100, PS + 300, 2 * PS + 7);
			e[i] = errno;
			CHECK(munmap(buf, 3 * PS) == 0);
		}
		char what[64];
		snprintf(what, sizeof(what), "pwrite from a buffer of protection %#x", prots[k]);
		same_result(what, r[0], e[0], r[1], e[1]);
		/* The kernel reads a write-only buffer; an execute-only one too,
		 * but on a CPU with protection keys (pku), where the kernel
		 * makes PROT_EXEC alone an execute-only key that its own
		 * copy_from_user obeys: EFAULT (faultmap's answer must match,
		 * above, either way). */
		if (!(prots[k] == PROT_EXEC && r[0] == -1 && e[0] == EFAULT))
			CHECK(r[0] == PS + 300);
		same_pages(what, keep[0], keep[1], SIZE / PS);
		for (int i = 0; i < 2; i++)
			unmap(&sides[i], keep[i], SIZE);
	}
}

/* The kernel's own mapping over pages 1-2 of a read-only shared mapping of
 * the file: an anonymous page grown there by mremap (by_mremap), or
 * anonymous memory mapped there with MAP_FIXED (fm_mmap passes it to the
 * kernel). Those pages are the kernel's anonymous mapping now. */
static void kernel_mapping_over_faultmap_mapping_replaces_it(bool by_mremap)
{
	long r[2], st[2][MAX_PAGES];
	int e[2];
	unsigned char *base[2];
	for (int i = 0; i < 2; i++) /* both first: a call frees pages the next reserve would take */
		base[i] = reserve(6);
	for (int i = 0; i < 2; i++) {
		unsigned char *b = base[i];
		map(&sides[i], b, 4 * PS, PROT_READ, MAP_SHARED | MAP_FIXED, sides[i].ro, 0);
		void *p;
		if (by_mremap) {
			anon(b + 5 * PS, 1, 'm');
			p = sides[i].fm ? fm_mremap(b + 5 * PS, PS, 2 * PS, MREMAP_MAYMOVE | MREMAP_FIXED,
						    b + PS)
					: mremap(b + 5 * PS, PS, 2 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, b + PS);
		} else {
			p = map(&sides[i], b + PS, 2 * PS, PROT_READ,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		}
		CHECK(p == b + PS);
		errno = 0;
		r[i] = sides[i].fm ? fm_mprotect(b + PS, 2 * PS, PROT_READ | PROT_WRITE)
				   : mprotect(b + PS, 2 * PS, PROT_READ | PROT_WRITE);
		e[i] = errno;
		take(st[i], b, 6);
	}
	const char *what = by_mremap ? "anonymous memory moved by mremap over the file's"
				     : "anonymous memory mapped with MAP_FIXED over the file's";
	same_result(what, r[0], e[0], r[1], e[1]);
	same_states(what, st[0], st[1], 6);
	for (int i = 0; i < 2; i++)
		unmap(&sides[i], base[i], 6 * PS);
}

/* mremap with MREMAP_FIXED onto a read-only shared mapping of the file and
 * an old size past the address space: the kernel unmaps the target before
 * it refuses, and faultmap must forget its mapping there. */
static void failed_mremap_fixed_forgets_what_kernel_unmapped(void)
{
	long r[2][3], st[2][MAX_PAGES];
	int e[2][3];
	unsigned char *base[2];
	for (int i = 0; i < 2; i++) /* both first: a call frees pages the next reserve would take */
		base[i] = reserve(6);
	for (int i = 0; i < 2; i++) {
		unsigned char *b = base[i];
		map(&sides[i], b + 2 * PS, 3 * PS, PROT_READ, MAP_SHARED | MAP_FIXED, sides[i].ro, 0);
		anon(b, 1, 'r');
		errno = 0;
		void *p = sides[i].fm ? fm_mremap(b, SIZE_MAX - 8191, PS, MREMAP_MAYMOVE | MREMAP_FIXED,
						  b + 3 * PS)
				      : mremap(b, SIZE_MAX - 8191, PS, MREMAP_MAYMOVE | MREMAP_FIXED,
					       b + 3 * PS);
		r[i][0] = p == MAP_FAILED ? -1 : 0;
		e[i][0] = errno;
		errno = 0;
		r[i][1] = sides[i].fm ? fm_mprotect(b + 2 * PS, 3 * PS, PROT_READ | PROT_WRITE)
				      : mprotect(b + 2 * PS, 3 * PS, PROT_READ | PROT_WRITE);
		e[i][1] = errno;
		errno = 0;
		r[i][2] = sides[i].fm ? fm_msync(b + 2 * PS, 3 * PS, MS_ASYNC | MS_INVALIDATE)
				      : msync(b + 2 * PS, 3 * PS, MS_ASYNC | MS_INVALIDATE);
		e[i][2] = errno;
		take(st[i], b, 6);
	}
	same_result("mremap MREMAP_FIXED with an old size past the address space", r[0][0], e[0][0],
		    r[1][0], e[1][0]);
	same_result("mprotect of its target after", r[0][1], e[0][1], r[1][1], e[1][1]);
	same_result("msync of its target after", r[0][2], e[0][2], r[1][2], e[1][2]);
	same_states("mremap MREMAP_FIXED with an old size past the address space", st[0], st[1], 6);
	for (int i = 0; i < 2; i++)
		unmap(&sides[i], base[i], 6 * PS);
}

/* mremap of [a read-write vma][a read-only vma][a read-write vma] of one
 * shared mapping, its first old pages, to new pages onto anonymous pages:
 * growing two vmas, or shrinking to two, is EFAULT, and the target and
 * the tail stay. */
static void resize_of_two_vmas_fails_and_leaves_target(size_t old, size_t new)
{
	long r[2], st[2][MAX_PAGES];
	int e[2];
	unsigned char *base[2];
	size_t t = old + 1, n = t + (old > new ? old : new);
	for (int i = 0; i < 2; i++) /* both first: a call frees pages the next reserve would take */
		base[i] = reserve(n);
	for (int i = 0; i < 2; i++) {
		unsigned char *b = base[i];
		map(&sides[i], b, old * PS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, sides[i].fd,
		    0);
		CHECK((sides[i].fm ? fm_mprotect(b + PS, PS, PROT_READ) : mprotect(b + PS, PS, PROT_READ)) ==
		      0);
		anon(b + t * PS, n - t, 't');
		errno = 0;
		void *p = sides[i].fm
				  ? fm_mremap(b, old * PS, new * PS, MREMAP_MAYMOVE | MREMAP_FIXED, b + t * PS)
				  : mremap(b, old * PS, new * PS, MREMAP_MAYMOVE | MREMAP_FIXED, b + t * PS);
		e[i] = errno;
		r[i] = p == MAP_FAILED ? -1 : (long)((unsigned char *)p - b);
		take(st[i], b, n);
	}
	char what[64];
	snprintf(what, sizeof(what), "mremap of two vmas from %zu to %zu pages", old, new);
	same_result(what, r[0], e[0], r[1], e[1]);
	same_states(what, st[0], st[1], n);
	for (int i = 0; i < 2; i++)
		unmap(&sides[i], base[i], n * PS);
}

/* A same-size MREMAP_FIXED move of the layout given (per page: 'v' a
 * shared mapping of the file, 'p' a private one, 'a' anonymous, '-' a
 * hole) onto anonymous pages. */
static void same_size_move(const char *layout)
{
	size_t n = strlen(layout);
	long r[2], st[2][MAX_PAGES];
	int e[2];
	unsigned char *base[2];
	for (int i = 0; i < 2; i++) /* both first: a call frees pages the next reserve would take */
		base[i] = reserve(2 * n + 1);
	for (int i = 0; i < 2; i++) {
		unsigned char *b = base[i];
		for (size_t k = 0; k < n; k++) {
			unsigned char *at = b + k * PS;
			off_t off = (off_t)(k % (SIZE / PS)) * PS;
			if (layout[k] == 'v')
				map(&sides[i], at, PS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
				    sides[i].fd, off);
			else if (layout[k] == 'p')
				map(&sides[i], at, PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
				    sides[i].fd, off);
			else if (layout[k] == 'a')
				anon(at, 1, '0' + (int)k);
			else
				CHECK(munmap(at, PS) == 0);
		}
		anon(b + (n + 1) * PS, n, 'T');
		errno = 0;
		void *p = sides[i].fm ? fm_mremap(b, n * PS, n * PS, MREMAP_MAYMOVE | MREMAP_FIXED,
						  b + (n + 1) * PS)
				      : mremap(b, n * PS, n * PS, MREMAP_MAYMOVE | MREMAP_FIXED,
					       b + (n + 1) * PS);
		e[i] = errno;
		r[i] = p == MAP_FAILED ? -1 : (long)((unsigned char *)p - b);
		take(st[i], b, 2 * n + 1);
	}
	char what[96];
	snprintf(what, sizeof(what), "same-size move of \"%s\"", layout);
	if (getenv("FM_TEST_VERBOSE"))
		fprintf(stderr, "%s: kernel %ld (%s), faultmap %ld (%s)\n", what, r[0],
			strerror(e[0]), r[1], strerror(e[1]));
	same_result(what, r[0], e[0], r[1], e[1]);
	same_states(what, st[0], st[1], 2 * n + 1);
	/* What moved is still the file's: a write through it reaches the file
	 * (and the other side's copy the same). */
	for (int i = 0; i < 2; i++) {
		for (size_t k = 0; k < n; k++) {
			unsigned char *at = base[i] + (n + 1 + k) * PS;
			if (r[i] >= 0 && layout[k] == 'v')
				at[5] ^= 0x5a;
		}
		for (size_t k = 0; k < 2 * n + 1; k++)
			if (page_state(base[i] + k * PS) != -1)
				unmap(&sides[i], base[i] + k * PS, PS);
	}
	size_t s0, s1;
	unsigned char *a = slurp(sides[0].path, &s0), *b = slurp(sides[1].path, &s1);
	if (s0 != s1 || memcmp(a, b, s0)) {
		fprintf(stderr, "%s: the files differ after it\n", what);
		failures++;
	}
	free(a);
	free(b);
}

/* MADV_REMOVE from a private mapping of the file over a length that runs
 * past the user address space: the kernel stops at the mapping (EACCES:
 * not shared and writable); the daemon refused the length (EINVAL). */
static void madvise_remove_past_the_address_space(void)
{
	long r[2];
	int e[2];
	for (int i = 0; i < 2; i++) {
		unsigned char *p = map(&sides[i], NULL, 2 * PS, PROT_READ, MAP_PRIVATE, sides[i].fd, 0);
		errno = 0;
		r[i] = sides[i].fm ? fm_madvise(p, (size_t)1 << 62, MADV_REMOVE)
				   : madvise(p, (size_t)1 << 62, MADV_REMOVE);
		e[i] = errno;
		unmap(&sides[i], p, 2 * PS);
	}
	same_result("MADV_REMOVE past the address space", r[0], e[0], r[1], e[1]);
}

static void duplicate_of_faultmap_mapping_is_refused(void)
{
	unsigned char *p = map(&sides[1], NULL, 2 * PS, PROT_READ, MAP_SHARED, sides[1].fd, 0);
	static const size_t sizes[] = {0, SIZE_MAX, SIZE_MAX - PS + 2};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		errno = 0;
		void *q = fm_mremap(p, sizes[k], PS, MREMAP_MAYMOVE);
		if (q != MAP_FAILED || errno != EINVAL) {
			fprintf(stderr, "mremap duplicating a faultmap mapping (old size %zu): %p, %s\n",
				sizes[k], q, strerror(errno));
			failures++;
		}
	}
	unmap(&sides[1], p, 2 * PS);
}

int main(void)
{
	each_mode();
	require_engine();
	for (int i = 0; i < 2; i++) {
		sides[i].fm = i;
		sides[i].fd = make_file(sides[i].path, SIZE, 7, O_RDWR);
		sides[i].ro = open(sides[i].path, O_RDONLY);
		CHECK(sides[i].ro >= 0);
	}
	msync_sync_goes_on_past_a_hole();
	write_from_unreadable_but_accessible_buffer_reads_it();
	kernel_mapping_over_faultmap_mapping_replaces_it(true);
	kernel_mapping_over_faultmap_mapping_replaces_it(false);
	failed_mremap_fixed_forgets_what_kernel_unmapped();
	resize_of_two_vmas_fails_and_leaves_target(2, 3);
	resize_of_two_vmas_fails_and_leaves_target(3, 2);
	static const char *const layouts[] = {"v-a-", "av", "a-v", "vv-p", "-av", "vpav", "p--v"};
	for (size_t k = 0; k < sizeof(layouts) / sizeof(layouts[0]); k++)
		same_size_move(layouts[k]);
	duplicate_of_faultmap_mapping_is_refused();
	madvise_remove_past_the_address_space();
	size_t s0, s1;
	unsigned char *a = slurp(sides[0].path, &s0), *b = slurp(sides[1].path, &s1);
	if (s0 != s1 || memcmp(a, b, s0)) {
		fprintf(stderr, "the files differ at the end\n");
		failures++;
	}
	free(a);
	free(b);
	for (int i = 0; i < 2; i++) {
		close(sides[i].fd);
		close(sides[i].ro);
		unlink(sides[i].path);
	}
	if (failures) {
		fprintf(stderr, "%d differences from the kernel\n", failures);
		return 1;
	}
	printf("map calls across holes and vmas: as the kernel\n");
	return 0;
}
