/*
 * The last partial page reads zeros past EOF; bytes written there never
 * reach the file; a page wholly past EOF raises SIGBUS.
 */
#include "helpers.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static sigjmp_buf env;
static volatile sig_atomic_t got_sig;

static void on_sigbus(int sig)
{
	got_sig = sig;
	siglongjmp(env, 1);
}

int main(void)
{
	require_engine();
	char path[64];
	const size_t size = PS + 904; /* two pages, the second partial */
	int fd = make_file(path, size, 3, O_RDWR);
	unsigned char *p = fm_mmap(NULL, 3 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);

	unsigned char *want = malloc(size);
	fill_pattern(want, size, 3);
	CHECK(memcmp(p, want, size) == 0);
	for (size_t i = size; i < 2 * PS; i++)
		CHECK_EQ(p[i], 0);

	memset(p + size, 0xab, 2 * PS - size); /* the tail: never written back */
	p[0] = 0x42;
	CHECK(fm_msync(p, 3 * PS, MS_SYNC) == 0);

	struct sigaction sa = {.sa_handler = on_sigbus};
	sigaction(SIGBUS, &sa, NULL);
	if (sigsetjmp(env, 1) == 0) {
		volatile unsigned char c = p[2 * PS]; /* wholly past EOF */
		(void)c;
	}
	CHECK_EQ(got_sig, SIGBUS);

	CHECK(fm_munmap(p, 3 * PS) == 0);
	size_t got_size;
	unsigned char *file = slurp(path, &got_size);
	CHECK_EQ(got_size, size);
	want[0] = 0x42;
	CHECK(memcmp(file, want, size) == 0);

	/* A new mapping of the same file sees zeros past EOF again. */
	p = fm_mmap(NULL, 2 * PS, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK(p != MAP_FAILED);
	for (size_t i = size; i < 2 * PS; i++)
		CHECK_EQ(p[i], 0);
	fm_munmap(p, 2 * PS);
	free(file);
	free(want);
	close(fd);
	unlink(path);
	return 0;
}
