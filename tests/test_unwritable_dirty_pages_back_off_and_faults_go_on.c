/*
 * Dirty pages that cannot be written (a dead disk: every page write fails
 * with EIO, through fm_sys) do not make eviction retry them at every
 * fault: write-back of that file backs off, the count of failed page
 * writes stays small, and faults that clean frames can serve are served.
 * When every frame of the 1 MiB budget is dirty and unwritable, the fault
 * that needs one more gets SIGBUS (the budget holds, no data is dropped);
 * once the disk works again, fm_msync writes every page accepted.
 */
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define BUDGET_PAGES 256 /* 1 MiB */
#define A_PAGES 512	 /* written */
#define B_PAGES 4096	 /* read */
#define DIRTY_FIRST 192
/* Failed page writes allowed: a few back-off rounds of a batch or two
 * (without back-off the first pass over B alone fails hundreds of
 * thousands). */
#define MAX_ERRORS (16 * BUDGET_PAGES)

static uint64_t errors(void)
{
	struct fm_stats st;
	CHECK(fm_stats(&st) == 0);
	return st.writeback_errors;
}

/* read_b - read B through the cache: in order, then at random. */
static void read_b(const unsigned char *b, const unsigned char *want)
{
	CHECK(memcmp(b, want, B_PAGES * PS) == 0);
	uint64_t s = 7;
	for (int i = 0; i < 1024; i++) {
		size_t pg = rnd(&s) % B_PAGES;
		CHECK(b[pg * PS + 17] == want[pg * PS + 17]);
	}
}

int main(void)
{
	pin_embedded_mode("write failures injected through this process's fm_sys");
	CHECK(fm_set_budget(BUDGET_PAGES * PS) == 0);
	require_engine();
	fm_sys.pwrite = failing_pwrite;
	char a_path[64], b_path[64];
	int afd = make_file(a_path, A_PAGES * PS, 93, O_RDWR);
	int bfd = make_file(b_path, B_PAGES * PS, 94, O_RDONLY);
	unsigned char *a_want = malloc(A_PAGES * PS), *b_want = malloc(B_PAGES * PS);
	fill_pattern(a_want, A_PAGES * PS, 93);
	fill_pattern(b_want, B_PAGES * PS, 94);
	unsigned char *a = fm_mmap(NULL, A_PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, afd, 0);
	unsigned char *b = fm_mmap(NULL, B_PAGES * PS, PROT_READ, MAP_SHARED, bfd, 0);
	CHECK(a != MAP_FAILED && b != MAP_FAILED);

	/* Three quarters of the budget dirty and unwritable; B is served
	 * from the quarter left, again and again. */
	pwrite_errno = EIO; /* the disk is dead */
	memset(a, 0x61, DIRTY_FIRST * PS);
	memset(a_want, 0x61, DIRTY_FIRST * PS);
	for (int round = 0; round < 2; round++)
		read_b(b, b_want);
	printf("failed page writes while B was read twice: %llu\n",
	       (unsigned long long)errors());
	CHECK(errors() > 0);
	CHECK(errors() <= MAX_ERRORS);
	CHECK(memcmp(a, a_want, A_PAGES * PS) == 0);

#ifndef FM_UNDER_TSAN /* TSan defers the SIGBUS the fault thread sends */
	/* Every frame dirty: the write that needs one more gets SIGBUS. */
	catch_sigbus();
	static volatile size_t i;
	for (i = DIRTY_FIRST; i < A_PAGES; i++) {
		if (sigsetjmp(sigbus_env, 1))
			break;
		memset(a + i * PS, 0x62, PS);
		memset(a_want + i * PS, 0x62, PS);
	}
	printf("SIGBUS at page %zu; failed page writes: %llu\n", (size_t)i,
	       (unsigned long long)errors());
	CHECK_EQ(sigbus_count, 1);
	CHECK(i <= BUDGET_PAGES);
	CHECK(memfd_bytes() <= BUDGET_PAGES * PS);
	CHECK(errors() <= MAX_ERRORS);
#endif

	/* The disk works again. An msync of part of A cleans those pages,
	 * and faults may take their frames at once: no SIGBUS while the rest
	 * of A is still dirty and backing off. */
	pwrite_errno = 0;
	CHECK_EQ(fm_msync(a, DIRTY_FIRST / 2 * PS, MS_SYNC), -1); /* EIO, reported once */
	CHECK_EQ(errno, EIO);
#ifndef FM_UNDER_TSAN
	if (sigsetjmp(sigbus_env, 1)) {
		fprintf(stderr, "SIGBUS reading B after A was partly written back\n");
		return 1;
	}
#endif
	read_b(b, b_want);
	/* Every accepted page reaches the file. */
	CHECK_EQ(fm_msync(a, A_PAGES * PS, MS_SYNC), 0);
	check_file_is(a_path, a_want, A_PAGES * PS);
	read_b(b, b_want);
	CHECK(memcmp(a, a_want, A_PAGES * PS) == 0);

	fm_munmap(a, A_PAGES * PS);
	fm_munmap(b, B_PAGES * PS);
	free(a_want), free(b_want);
	close(afd), close(bfd);
	unlink(a_path), unlink(b_path);
	return 0;
}
