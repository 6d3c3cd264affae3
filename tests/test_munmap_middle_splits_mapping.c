/*
 * fm_munmap of the middle of a mapping splits it, as munmap does: the pages
 * on both sides stay mapped at the same addresses and offsets, shared writes
 * through them (and the earlier write to an unmapped page) reach the file,
 * the unmapped pages raise SIGSEGV, and a private mapping keeps its
 * copy-on-write pages in the parts that remain. The kernel does the same on
 * its own copy of the file, and both must agree.
 */
#include "helpers.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 8

static char fpath[64], kpath[64];
static pid_t owner;
static sigjmp_buf segv_env;

static void remove_files(void)
{
	if (getpid() != owner)
		return;
	if (fpath[0])
		unlink(fpath);
	if (kpath[0])
		unlink(kpath);
}

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(segv_env, 1);
}

/* Whether reading the byte at p raises SIGSEGV. */
static int read_segv(const unsigned char *p)
{
	struct sigaction sa = {.sa_handler = on_segv}, old;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGSEGV, &sa, &old) == 0);
	volatile int hit = 0;
	if (sigsetjmp(segv_env, 1) == 0) {
		volatile unsigned char c = *(volatile const unsigned char *)p;
		(void)c;
	} else {
		hit = 1;
	}
	CHECK(sigaction(SIGSEGV, &old, NULL) == 0);
	return hit;
}

/* The same write through both mappings and into the expected file image. */
static void write_both(unsigned char *f, unsigned char *k, unsigned char *want,
		       size_t at, size_t len, unsigned char v)
{
	for (size_t i = 0; i < len; i++) {
		f[at + i] = (unsigned char)(v + i);
		k[at + i] = (unsigned char)(v + i);
		if (want)
			want[at + i] = (unsigned char)(v + i);
	}
}

static void check_files(const unsigned char *want, size_t size)
{
	size_t fs, ks;
	unsigned char *fb = slurp(fpath, &fs), *kb = slurp(kpath, &ks);
	CHECK_EQ(ks, size);
	CHECK_EQ(fs, size);
	CHECK(memcmp(kb, want, size) == 0); /* the test's model is right */
	for (size_t i = 0; i < size; i++)
		if (fb[i] != want[i]) {
			fprintf(stderr, "file byte %zu (page %zu): %02x, expected %02x\n", i,
				i / PS, fb[i], want[i]);
			exit(1);
		}
	free(fb);
	free(kb);
}

static void shared_split(unsigned char *want)
{
	const size_t size = NPAGES * PS;
	int ffd = open(fpath, O_RDWR), kfd = open(kpath, O_RDWR);
	CHECK(ffd >= 0 && kfd >= 0);
	unsigned char *f = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, ffd, 0);
	unsigned char *k = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, kfd, 0);
	CHECK(f != MAP_FAILED && k != MAP_FAILED);
	CHECK(memcmp(f, want, size) == 0);

	/* A write to a page about to be unmapped is in the cache: it stays. */
	write_both(f, k, want, 3 * PS + 100, 200, 0x30);

	CHECK(fm_munmap(f + 3 * PS, 2 * PS) == 0);
	CHECK(munmap(k + 3 * PS, 2 * PS) == 0);
	CHECK(read_segv(k + 3 * PS) && read_segv(k + 4 * PS + PS - 1));
	CHECK(read_segv(f + 3 * PS));
	CHECK(read_segv(f + 4 * PS));
	CHECK(read_segv(f + 4 * PS + PS - 1));
	CHECK(!read_segv(f + 3 * PS - 1));
	CHECK(!read_segv(f + 5 * PS));

	/* Both halves still read their own pages of the file. */
	CHECK(memcmp(f, want, 3 * PS) == 0);
	CHECK(memcmp(f + 5 * PS, want + 5 * PS, 3 * PS) == 0);
	CHECK(memcmp(f, k, 3 * PS) == 0);
	CHECK(memcmp(f + 5 * PS, k + 5 * PS, 3 * PS) == 0);

	/* And writes through both halves reach the file. */
	for (size_t pg = 0; pg < NPAGES; pg++) {
		if (pg == 3 || pg == 4)
			continue;
		write_both(f, k, want, pg * PS + 17 * pg, 300, (unsigned char)(0x80 + pg));
	}
	write_both(f, k, want, 3 * PS - 10, 10, 0x11); /* last bytes before the hole */
	write_both(f, k, want, 5 * PS, 10, 0x22);	    /* first bytes after it */
	CHECK(fm_munmap(f, 3 * PS) == 0);
	CHECK(fm_munmap(f + 5 * PS, 3 * PS) == 0);
	CHECK(munmap(k, 3 * PS) == 0);
	CHECK(munmap(k + 5 * PS, 3 * PS) == 0);
	check_files(want, size);
	close(ffd);
	close(kfd);
}

static void private_split(const unsigned char *want)
{
	const size_t size = NPAGES * PS;
	int ffd = open(fpath, O_RDONLY), kfd = open(kpath, O_RDONLY);
	CHECK(ffd >= 0 && kfd >= 0);
	unsigned char *f = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, ffd, 0);
	unsigned char *k = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, kfd, 0);
	CHECK(f != MAP_FAILED && k != MAP_FAILED);
	unsigned char *copy = malloc(size); /* what the private mapping holds */
	CHECK(copy);
	memcpy(copy, want, size);

	/* Copy-on-write pages on both sides of the cut, and in it. */
	write_both(f, k, copy, 1 * PS + 5, 2000, 0x41);
	write_both(f, k, copy, 4 * PS, PS, 0x42);
	write_both(f, k, copy, 6 * PS + 1000, 3000, 0x43);
	write_both(f, k, copy, 2 * PS + PS - 1, 1, 0x44);
	CHECK(memcmp(f, copy, size) == 0);

	CHECK(fm_munmap(f + 3 * PS, 2 * PS) == 0);
	CHECK(munmap(k + 3 * PS, 2 * PS) == 0);
	CHECK(read_segv(f + 3 * PS));
	CHECK(read_segv(f + 4 * PS));

	if (memcmp(f, copy, 3 * PS) != 0 || memcmp(f + 5 * PS, copy + 5 * PS, 3 * PS) != 0) {
		for (size_t i = 0; i < size; i++) {
			if (i / PS == 3 || i / PS == 4 || f[i] == copy[i])
				continue;
			fprintf(stderr, "private byte %zu (page %zu): %02x, expected %02x "
				"(kernel %02x, file %02x)\n", i, i / PS, f[i], copy[i], k[i], want[i]);
			break;
		}
		exit(1);
	}
	CHECK(memcmp(f, k, 3 * PS) == 0);
	CHECK(memcmp(f + 5 * PS, k + 5 * PS, 3 * PS) == 0);

	/* Later writes to the remaining parts stay private too. */
	write_both(f, k, copy, 0, 64, 0x45);
	write_both(f, k, copy, 7 * PS + 64, 64, 0x46);
	CHECK(memcmp(f, copy, 3 * PS) == 0);
	CHECK(memcmp(f + 5 * PS, copy + 5 * PS, 3 * PS) == 0);

	CHECK(fm_munmap(f, size) == 0); /* spans the hole: like munmap, fine */
	CHECK(munmap(k, size) == 0);
	check_files(want, size); /* nothing private reached the file */
	free(copy);
	close(ffd);
	close(kfd);
}

int main(void)
{
	owner = getpid();
	atexit(remove_files);
	require_engine();
	const size_t size = NPAGES * PS;
	close(make_file(fpath, size, 21, O_RDWR));
	close(make_file(kpath, size, 21, O_RDWR));
	unsigned char *want = malloc(size);
	CHECK(want);
	fill_pattern(want, size, 21);

	shared_split(want);
	private_split(want);
	free(want);
	return 0;
}
