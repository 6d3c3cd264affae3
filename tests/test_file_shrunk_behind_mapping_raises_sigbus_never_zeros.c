/*
 * A file shrunk behind faultmap's back (ftruncate by the kernel, not
 * through faultmap) while it is mapped: a page that is wholly past the new
 * end raises SIGBUS at its first access, as under the kernel, and the
 * partial page at the new end reads the file's bytes then zeros. faultmap
 * filled such pages with zeros, served as data, when its read came back
 * short (the same path served zeros for a store that answered nothing
 * inside its object: Ceph's memstore with an object of exactly 4 GiB).
 * Compared with the kernel's mapping of a copy, in both modes.
 */
#include "helpers.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <string.h>
#include <unistd.h>

#define PAGES 8
#define NEW_SIZE (2 * PS + 100)

static sigjmp_buf env;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(env, 1);
}

/* probe - what the page at p gives: -1 SIGBUS, else a hash of its bytes. */
static long probe(volatile const unsigned char *p)
{
	if (sigsetjmp(env, 1))
		return -1;
	uint64_t h = 5381;
	for (size_t i = 0; i < PS; i++)
		h = h * 33 + p[i];
	return (long)(h & 0x7fffffffffffULL);
}

int main(void)
{
	each_mode();
	require_engine();
	struct sigaction sa = {.sa_handler = on_sigbus};
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGBUS, &sa, NULL) == 0);
	char path[2][64];
	long got[2][PAGES];
	for (int i = 0; i < 2; i++) { /* 0: the kernel, 1: faultmap */
		int fd = make_file(path[i], PAGES * PS, 5, O_RDWR);
		unsigned char *p = i ? fm_mmap(NULL, PAGES * PS, PROT_READ, MAP_SHARED, fd, 0)
				     : mmap(NULL, PAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
		CHECK(p != MAP_FAILED);
		/* One page per miss: nothing is cached before the shrink (a
		 * page cached before it stays until faultmap looks again at the
		 * file: the window docs/design.md describes). */
		CHECK((i ? fm_madvise(p, PAGES * PS, MADV_RANDOM) : madvise(p, PAGES * PS, MADV_RANDOM)) ==
		      0);
		CHECK(ftruncate(fd, NEW_SIZE) == 0); /* the kernel's, behind faultmap */
		for (int pg = PAGES - 1; pg >= 1; pg--) /* from the end: no readahead covers them */
			got[i][pg] = probe(p + pg * PS);
		got[i][0] = probe(p);
		CHECK((i ? fm_munmap(p, PAGES * PS) : munmap(p, PAGES * PS)) == 0);
		close(fd);
		unlink(path[i]);
	}
	int failures = 0;
	for (int pg = 0; pg < PAGES; pg++) {
		if (got[0][pg] != got[1][pg]) {
			fprintf(stderr, "page %d: kernel %s, faultmap %s\n", pg,
				got[0][pg] < 0 ? "SIGBUS" : "data", got[1][pg] < 0 ? "SIGBUS" : "data");
			failures++;
		}
	}
	CHECK(got[0][PAGES - 1] == -1); /* the kernel's answer past the new end */
	if (failures)
		return 1;
	printf("a file shrunk behind the mapping: SIGBUS past its new end, as the kernel\n");
	return 0;
}
