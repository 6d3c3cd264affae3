/*
 * test_inline_faults_past_eof_reaches_programs_sigbus_handler - with
 * FAULTMAP_INLINE_FAULTS=1 faultmap's SIGBUS handler serves the misses of
 * inline views; every other SIGBUS is the program's, as under the kernel:
 * a page past the file's end (in an inline view, and in a kernel mapping
 * of a file), and a SIGBUS sent with kill, reach the handler the program
 * had installed before faultmap started, which faultmap calls. The pages
 * of the file, the tail of the last one zeroed, are served meanwhile.
 */
#include "helpers.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

TSAN_SIGNAL_UNSAFE_ALLOWED

static void scenario(void *arg)
{
	(void)arg;
	CHECK_EQ(setenv("FAULTMAP_INLINE_FAULTS", "1", 1), 0);
	catch_sigbus(); /* before faultmap starts: it chains to this one */
	char path[64];
	size_t size = 2 * PS + 100; /* three pages of file, the last one short */
	int rw = make_file(path, size, 5, O_RDWR);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	unsigned char *want = malloc(3 * PS);
	CHECK(want);
	memset(want, 0, 3 * PS);
	fill_pattern(want, size, 5);
	unsigned char *m = fm_mmap(NULL, 5 * PS, PROT_READ, MAP_SHARED, fd, 0);
	unsigned char *k = mmap(NULL, 5 * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED && k != MAP_FAILED);
	for (int round = 0; round < 3; round++) {
		CHECK(memcmp(m, want, 3 * PS) == 0); /* the tail reads zeros */
		for (int pg = 3; pg < 5; pg++) {
			int before = sigbus_count;
			if (sigsetjmp(sigbus_env, 1) == 0) {
				volatile unsigned char c = m[pg * PS + 1];
				(void)c;
			}
			CHECK_EQ(sigbus_count, before + 1);
			if (sigsetjmp(sigbus_env, 1) == 0) {
				volatile unsigned char c = k[pg * PS];
				(void)c;
			}
			CHECK_EQ(sigbus_count, before + 2);
		}
		int before = sigbus_count;
		if (sigsetjmp(sigbus_env, 1) == 0)
			kill(getpid(), SIGBUS);
		CHECK_EQ(sigbus_count, before + 1);
		CHECK_EQ(fm_madvise(m, 5 * PS, MADV_DONTNEED), 0);
	}
	CHECK_EQ(fm_munmap(m, 5 * PS), 0);
	CHECK_EQ(munmap(k, 5 * PS), 0);
	close(fd);
	close(rw);
	unlink(path);
	free(want);
	_exit(0);
}

int main(void)
{
	return inline_faults_test(scenario);
}
