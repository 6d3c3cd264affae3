/*
 * Daemon mode: after the daemon is killed, a system call that copies to or
 * from a page of a mapping that can no longer be served fails with EFAULT,
 * as at a page the kernel cannot read, instead of hanging (the kernel
 * retries a fault inside a system call for as long as no fatal signal is
 * pending, so the SIGBUS a load gets is never taken there):
 * - pread(2) into a page that was never cached, and write(2) to a pipe
 *   from one;
 * - pread(2) into a page that was cached clean (a first write, which no
 *   one can record any more): the page still reads its bytes afterwards.
 * Each call ROUNDS times; the program's own load of an uncached page still
 * gets SIGBUS. A watchdog turns a hang into a failure.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 16
#define ROUNDS 5
#define N 100

static void *watchdog(void *arg)
{
	(void)arg;
	sleep(60);
	fprintf(stderr, "hang: a system call into the mapping did not return in 60 s\n");
	_exit(1); /* ends every thread, even one retrying a fault in the kernel */
}

int main(void)
{
	require_sigbus_delivery();
	daemon_private();
	require_engine();
	char path[64], src_path[64];
	int fd = make_file(path, NPAGES * PS, 21, O_RDWR);
	int src = make_file(src_path, N, 22, O_RDONLY);
	unsigned char *want = malloc(NPAGES * PS);
	CHECK(want);
	fill_pattern(want, NPAGES * PS, 21);
	unsigned char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(fm_madvise(p, NPAGES * PS, MADV_RANDOM) == 0); /* one page a miss */
	CHECK_EQ(((volatile unsigned char *)p)[1], want[1]); /* page 0 cached, clean */

	pid_t d = daemon_pid();
	CHECK(d > 0);
	CHECK(kill(d, SIGKILL) == 0);
	pthread_t wd;
	CHECK(pthread_create(&wd, NULL, watchdog, NULL) == 0);
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	for (int round = 0; round < ROUNDS; round++) {
		errno = 0;
		CHECK_EQ(pread(src, p + 3 * PS, N, 0), -1);
		CHECK_EQ(errno, EFAULT);
		errno = 0;
		CHECK_EQ(write(pfd[1], p + 5 * PS, N), -1);
		CHECK_EQ(errno, EFAULT);
		errno = 0;
		CHECK_EQ(pread(src, p, N, 0), -1);
		CHECK_EQ(errno, EFAULT);
		CHECK(memcmp(p, want, PS) == 0); /* still readable, unchanged */
	}
	catch_sigbus();
	sigbus_count = 0;
	if (sigsetjmp(sigbus_env, 1) == 0)
		(void)*(volatile unsigned char *)(p + 7 * PS);
	CHECK_EQ(sigbus_count, 1);
	printf("%d rounds: EFAULT from each call, page 0 still reads its bytes\n", ROUNDS);
	close(src);
	unlink(src_path);
	unlink(path);
	free(want);
	return 0;
}
