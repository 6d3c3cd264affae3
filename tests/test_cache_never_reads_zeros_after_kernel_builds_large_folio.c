/*
 * A page evicted from the cache is read again from the file, even when the
 * kernel would have built a 2 MiB folio of the cache's memfd.
 *
 * The kernel builds one when asked through a view of the memfd: by
 * MADV_COLLAPSE, or by khugepaged where the administrator allows shmem
 * huge pages (shmem_enabled always or within_size, or advise with
 * MADV_HUGEPAGE). Eviction punches holes in the memfd a run of pages at a
 * time; a hole in part of a large folio must split it, and when the split
 * fails (another page of the folio is referenced: here by vmsplice, as by
 * O_DIRECT I/O or a concurrent fault) shmem zeroes the punched pages and
 * keeps them. A view then maps those zeros where faultmap expects a miss:
 * the program read zeros for file data, in both modes.
 *
 * Here the program asks for huge pages (fm_madvise MADV_HUGEPAGE: faultmap
 * accepts it and does not pass it on), then asks the kernel itself (the
 * raw system call, which the interposer cannot see) to collapse a fully
 * cached 2 MiB block of its mapping, holds a reference to one page of it,
 * and makes the engine evict the block. Every byte it reads afterwards
 * must be the file's. Before faultmap's views were made MADV_NOHUGEPAGE,
 * 496 of the block's 512 pages read zeros, in both modes.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define HUGE (2UL << 20)
#define FILE_BYTES (4 * HUGE)
#define BUDGET_PAGES 768 /* 3 MiB: the last two blocks push the first out */
#define SEED 41

int main(void)
{
	each_mode();
	CHECK(fm_set_budget(BUDGET_PAGES * PS) == 0);
	char path[64];
	int fd = make_file(path, FILE_BYTES, SEED, O_RDONLY);
	unsigned char *want = malloc(FILE_BYTES);
	CHECK(want);
	fill_pattern(want, FILE_BYTES, SEED);

	/* A mapping at a 2 MiB-aligned address, so that its first block can
	 * be one huge page of the memfd. */
	char *room = mmap(NULL, FILE_BYTES + HUGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(room != MAP_FAILED);
	char *at = (char *)(((uintptr_t)room + HUGE - 1) & ~(HUGE - 1));
	const volatile unsigned char *p =
		fm_mmap(at, FILE_BYTES, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
	CHECK(p == (const volatile unsigned char *)at);

	/* Cache the first block whole. */
	long sum = 0;
	for (size_t off = 0; off < HUGE; off += PS)
		sum += p[off];
	CHECK(fm_madvise(at, HUGE, MADV_HUGEPAGE) == 0);
	int rc = (int)syscall(SYS_madvise, at, HUGE, MADV_COLLAPSE);
	fprintf(stderr, "MADV_COLLAPSE of the first block: %s\n", rc ? strerror(errno) : "done");

	/* A reference to one page of the block, which a split must respect. */
	int pipefd[2];
	CHECK(pipe(pipefd) == 0);
	struct iovec iov = {.iov_base = at + 3 * PS, .iov_len = PS};
	CHECK(vmsplice(pipefd[1], &iov, 1, 0) == (ssize_t)PS);

	/* Read the last two blocks: the first is evicted. */
	for (size_t off = 2 * HUGE; off < FILE_BYTES; off += PS)
		sum += p[off];
	/* Every page of the first block, read again, is the file's. */
	long wrong = 0, first = -1;
	for (size_t off = 0; off < HUGE; off += PS)
		if (memcmp((const void *)(p + off), want + off, PS)) {
			wrong++;
			if (first < 0)
				first = (long)(off / PS);
		}
	fprintf(stderr, "%ld of %lu pages differ from the file (first: page %ld)\n", wrong,
		HUGE / PS, first);
	CHECK_EQ(wrong, 0);

	close(pipefd[0]);
	close(pipefd[1]);
	CHECK(fm_munmap(at, FILE_BYTES) == 0);
	close(fd);
	unlink(path);
	free(want);
	return sum == -1;
}
