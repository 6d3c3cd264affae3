/*
 * probe-collapse - large folios in a memfd filled the engine's way, and
 * what an eviction does to them. Measures under the machine's current
 * shmem THP settings (it writes none; run it once per setting):
 *
 *  1. pwrite: how many pages one 4 KiB or 64 KiB pwrite into an empty
 *     2 MiB block makes resident (a large folio's other pages are zeros);
 *  2. UFFDIO_COPY fill 4 KiB at a time (as the engine) through a
 *     MISSING-registered view, then MADV_COLLAPSE of each full 2 MiB block
 *     through a second view: ns per page of each;
 *  3. a new MISSING-registered view of the memfd re-touched (a word per
 *     page), collapsed against not collapsed: ns per page, faults per page;
 *  4. MADV_COLLAPSE of a block with one hole (the engine's evicted page):
 *     refused, or the hole made zeros;
 *  5. a hole punched in part of a collapsed block while another page of it
 *     is referenced (vmsplice): does the punched page go, or stay as zeros?
 */
#include "probe.h"

#include <sys/uio.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define BLOCK (2ul << 20)

static int memfd_of(size_t len)
{
	int fd = memfd_create("probe-collapse", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)len) < 0)
		die("memfd");
	return fd;
}

/* view - a MAP_SHARED view of fd at a 2 MiB-aligned address (a folio is
 * mapped whole only where address and offset agree modulo its size). */
static unsigned char *view(int fd, size_t len, int prot)
{
	unsigned char *room = mmap(NULL, len + BLOCK, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (room == MAP_FAILED)
		die("mmap");
	unsigned char *at = (unsigned char *)(((uintptr_t)room + BLOCK - 1) & ~(BLOCK - 1));
	if (mmap(at, len, prot, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED)
		die("mmap view");
	return at;
}

static size_t resident(const unsigned char *p, size_t len)
{
	unsigned char vec[BLOCK / PG];
	size_t n = 0;
	for (size_t off = 0; off < len; off += BLOCK) {
		if (mincore((void *)(p + off), BLOCK, vec) < 0)
			die("mincore");
		for (size_t i = 0; i < BLOCK / PG; i++)
			n += vec[i] & 1;
	}
	return n;
}

static void punch(int fd, size_t off, size_t len)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0)
		die("punch");
}

int main(int argc, char **argv)
{
	struct probe_opts o = {.mib = 128, .reps = 3, .dir = "/var/tmp"};
	if (probe_options(argc, argv, &o) < 0 || o.mib % 2) {
		fprintf(stderr, "usage: probe-collapse [--size MIB (even)] [--reps 1-%d]\n",
			MAX_REPS);
		return 2;
	}
	size_t len = o.mib << 20, pages = len / PG;
	char setting[64] = "?";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "r");
	if (f) {
		if (!fgets(setting, sizeof(setting), f))
			setting[0] = 0;
		setting[strcspn(setting, "\n")] = 0;
		fclose(f);
	}
	printf("probe-collapse: %zu MiB memfd, shmem_enabled: %s\n", o.mib, setting);
	print_load();

	/* 1. pwrite into an empty block. */
	static unsigned char buf[BLOCK];
	memset(buf, 0xab, sizeof(buf));
	for (size_t w = PG; w <= 16 * PG; w *= 16) {
		int fd = memfd_of(BLOCK);
		unsigned char *p = view(fd, BLOCK, PROT_READ);
		if (pwrite(fd, buf, w, 0) != (ssize_t)w)
			die("pwrite");
		printf("1. pwrite of %zu KiB into an empty block: %zu pages resident\n", w / 1024,
		       resident(p, BLOCK));
		munmap(p, BLOCK);
		close(fd);
	}

	int uffd = uffd_open(0);
	struct cost fill[MAX_REPS], coll[MAX_REPS], flat[MAX_REPS], big[MAX_REPS];
	double flat_faults = 0, big_faults = 0;
	int collapsed = 0, refused = 0, err = 0;
	for (int r = 0; r < o.reps; r++) {
		int fd = memfd_of(len);
		unsigned char *fv = view(fd, len, PROT_READ | PROT_WRITE);
		uffd_register(uffd, fv, len, UFFDIO_REGISTER_MODE_MISSING);
		unsigned char *src = aligned_alloc(PG, PG);
		struct stamp s = stamp_now();
		for (size_t pg = 0; pg < pages; pg++) {
			for (size_t i = 0; i < PG; i += 8) {
				uint64_t word = page_word(pg) + i / 8;
				memcpy(src + i, &word, 8);
			}
			if (uffd_copy(uffd, fv + pg * PG, src, PG) < 0)
				die("UFFDIO_COPY");
		}
		fill[r] = cost_since(s, pages);
		free(src);

		/* 3a. re-touch through a new view, 4 KiB pages. */
		unsigned char *nv = view(fd, len, PROT_READ);
		uffd_register(uffd, nv, len, UFFDIO_REGISTER_MODE_MISSING);
		long f0 = minflt_now();
		s = stamp_now();
		if (touch(nv, pages, NULL))
			die("re-touch read wrong data");
		flat[r] = cost_since(s, pages);
		flat_faults += (double)(minflt_now() - f0) / (double)pages / o.reps;
		munmap(nv, len);

		/* 2. collapse each block through a second view. */
		unsigned char *cv = view(fd, len, PROT_READ);
		s = stamp_now();
		for (size_t off = 0; off < len; off += BLOCK) {
			if (madvise(cv + off, BLOCK, MADV_COLLAPSE) == 0)
				collapsed++;
			else
				err = errno;
		}
		coll[r] = cost_since(s, pages);

		/* 3b. re-touch through a new view, after the collapse. */
		nv = view(fd, len, PROT_READ);
		uffd_register(uffd, nv, len, UFFDIO_REGISTER_MODE_MISSING);
		f0 = minflt_now();
		s = stamp_now();
		if (touch(nv, pages, NULL))
			die("re-touch after collapse read wrong data");
		big[r] = cost_since(s, pages);
		big_faults += (double)(minflt_now() - f0) / (double)pages / o.reps;
		munmap(nv, len);

		/* 4. a block with one hole. */
		munmap(cv, len);
		punch(fd, len - BLOCK + 2 * PG, PG);
		cv = view(fd, len, PROT_READ);
		int rc = madvise(cv + len - BLOCK, BLOCK, MADV_COLLAPSE);
		if (r == 0)
			printf("4. MADV_COLLAPSE of a block with one hole: %s; the hole %s\n",
			       rc ? strerror(errno) : "done",
			       resident(cv + len - BLOCK, BLOCK) == BLOCK / PG ? "is zeros now"
									: "stays a hole");
		refused += rc != 0;
		munmap(cv, len);
		munmap(fv, len);
		close(fd);
	}
	printf("2. %d of %zu blocks collapsed%s%s\n", collapsed, o.reps * len / BLOCK,
	       err ? "; last refusal: " : "", err ? strerror(err) : "");
	print_cost("fill, UFFDIO_COPY 4 KiB", 34, median_cost(fill, o.reps));
	print_cost("MADV_COLLAPSE of each 2 MiB block", 34, median_cost(coll, o.reps));
	printf("3. re-touch through a new registered view (faults per page):\n");
	print_cost("4 KiB pages", 34, median_cost(flat, o.reps));
	printf("  %-34s %8.4f\n", "", flat_faults);
	print_cost("after the collapse", 34, median_cost(big, o.reps));
	printf("  %-34s %8.4f\n", "", big_faults);

	/* 5. punch part of a collapsed block while a page of it is held. */
	int fd = memfd_of(BLOCK);
	unsigned char *fv = view(fd, BLOCK, PROT_READ | PROT_WRITE);
	uffd_register(uffd, fv, BLOCK, UFFDIO_REGISTER_MODE_MISSING);
	if (uffd_copy(uffd, fv, buf, BLOCK) < 0)
		die("UFFDIO_COPY");
	unsigned char *cv = view(fd, BLOCK, PROT_READ);
	int rc = madvise(cv, BLOCK, MADV_COLLAPSE);
	int pipefd[2];
	if (pipe(pipefd) < 0)
		die("pipe");
	struct iovec iov = {.iov_base = cv, .iov_len = PG};
	if (vmsplice(pipefd[1], &iov, 1, 0) != (ssize_t)PG)
		die("vmsplice");
	punch(fd, 5 * PG, PG);
	unsigned char vec[1];
	if (mincore(cv + 5 * PG, PG, vec) < 0)
		die("mincore");
	printf("5. collapse %s; page 0 held, page 5 punched: page 5 %s\n",
	       rc ? strerror(errno) : "done",
	       vec[0] & 1 ? (cv[5 * PG] ? "still there" : "stays, as zeros (the split failed)")
			  : "gone (a hole)");
	return 0;
}
