/*
 * fm_mprotect(PROT_READ) on a shared writable mapping makes writes raise
 * SIGSEGV, on clean pages and on pages already written, while reads go on
 * working; fm_mprotect back to PROT_READ|PROT_WRITE makes writes work again,
 * and fm_msync(MS_SYNC) puts them in the file. Part of a mapping can be made
 * read-only alone. The kernel does the same on its own copy of the file.
 */
#include "helpers.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 4

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

/* access - read (v < 0) or write v at p. Return: whether it raised SIGSEGV. */
static int access_segv(unsigned char *p, int v)
{
	struct sigaction sa = {.sa_handler = on_segv}, old;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGSEGV, &sa, &old) == 0);
	volatile int hit = 0;
	if (sigsetjmp(segv_env, 1) == 0) {
		volatile unsigned char *vp = p;
		if (v < 0) {
			unsigned char c = *vp;
			(void)c;
		} else {
			*vp = (unsigned char)v;
		}
	} else {
		hit = 1;
	}
	CHECK(sigaction(SIGSEGV, &old, NULL) == 0);
	return hit;
}

/* Both sides must agree on whether the access faults; return that. */
static int both_segv(unsigned char *f, unsigned char *k, size_t at, int v)
{
	int ks = access_segv(k + at, v), fs = access_segv(f + at, v);
	if (ks != fs) {
		fprintf(stderr, "%s at byte %zu (page %zu): kernel %s, faultmap %s\n",
			v < 0 ? "read" : "write", at, at / PS, ks ? "SIGSEGV" : "no signal",
			fs ? "SIGSEGV" : "no signal");
		exit(1);
	}
	return fs;
}

static void write_both(unsigned char *f, unsigned char *k, unsigned char *want,
		       size_t at, size_t len, unsigned char v)
{
	for (size_t i = 0; i < len; i++) {
		f[at + i] = (unsigned char)(v + i);
		k[at + i] = (unsigned char)(v + i);
		want[at + i] = (unsigned char)(v + i);
	}
}

static void check_file(const char *path, const unsigned char *want, size_t size,
		       const char *who)
{
	size_t got;
	unsigned char *b = slurp(path, &got);
	CHECK_EQ(got, size);
	for (size_t i = 0; i < size; i++)
		if (b[i] != want[i]) {
			fprintf(stderr, "%s file byte %zu (page %zu): %02x, expected %02x\n",
				who, i, i / PS, b[i], want[i]);
			exit(1);
		}
	free(b);
}

int main(void)
{
	owner = getpid();
	atexit(remove_files);
	require_engine();
	const size_t size = NPAGES * PS;
	int ffd = make_file(fpath, size, 31, O_RDWR);
	int kfd = make_file(kpath, size, 31, O_RDWR);
	unsigned char *want = malloc(size);
	CHECK(want);
	fill_pattern(want, size, 31);
	unsigned char *f = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, ffd, 0);
	unsigned char *k = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, kfd, 0);
	CHECK(f != MAP_FAILED && k != MAP_FAILED);

	/* Page 0 written (dirty), page 1 only read, pages 2-3 untouched. */
	write_both(f, k, want, 10, 100, 0x50);
	CHECK(memcmp(f + PS, want + PS, PS) == 0);

	CHECK(fm_mprotect(f, size, PROT_READ) == 0);
	CHECK(mprotect(k, size, PROT_READ) == 0);
	for (size_t pg = 0; pg < NPAGES; pg++) {
		CHECK(both_segv(f, k, pg * PS + 10, 0x77));
		CHECK(!both_segv(f, k, pg * PS + 10, -1));
	}
	CHECK(memcmp(f, want, size) == 0); /* the refused writes changed nothing */
	CHECK(memcmp(k, want, size) == 0);

	CHECK(fm_mprotect(f, size, PROT_READ | PROT_WRITE) == 0);
	CHECK(mprotect(k, size, PROT_READ | PROT_WRITE) == 0);
	for (size_t pg = 0; pg < NPAGES; pg++)
		CHECK(!both_segv(f, k, pg * PS + 20, 0x60 + (int)pg));
	for (size_t pg = 0; pg < NPAGES; pg++)
		want[pg * PS + 20] = (unsigned char)(0x60 + pg);
	write_both(f, k, want, 2 * PS + 1000, 500, 0x70);
	CHECK(memcmp(f, want, size) == 0);
	CHECK(fm_msync(f, size, MS_SYNC) == 0);
	CHECK(msync(k, size, MS_SYNC) == 0);
	check_file(kpath, want, size, "kernel");
	check_file(fpath, want, size, "faultmap"); /* still mapped: msync did it */

	/* Only page 2 read-only: its neighbours stay writable. */
	CHECK(fm_mprotect(f + 2 * PS, PS, PROT_READ) == 0);
	CHECK(mprotect(k + 2 * PS, PS, PROT_READ) == 0);
	CHECK(both_segv(f, k, 2 * PS + 30, 0x7a));
	CHECK(!both_segv(f, k, 1 * PS + 30, 0x7b));
	CHECK(!both_segv(f, k, 3 * PS + 30, 0x7c));
	want[1 * PS + 30] = 0x7b;
	want[3 * PS + 30] = 0x7c;
	CHECK(fm_msync(f, size, MS_SYNC) == 0);
	CHECK(msync(k, size, MS_SYNC) == 0);
	check_file(kpath, want, size, "kernel");
	check_file(fpath, want, size, "faultmap");

	CHECK(fm_munmap(f, size) == 0);
	CHECK(munmap(k, size) == 0);
	check_file(fpath, want, size, "faultmap");
	free(want);
	close(ffd);
	close(kfd);
	return 0;
}
