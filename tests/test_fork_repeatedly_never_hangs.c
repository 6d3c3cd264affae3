/*
 * fork() after fm_mmap never hangs, however often it is called and whatever
 * the engine's threads are doing meanwhile. The kernel makes fork() wait
 * until a fault thread has read UFFD_EVENT_FORK, while glibc's fork() holds
 * the malloc and stdio locks (and faultmap's atfork handlers their own
 * locks): an engine thread that waits for one of them first hangs the
 * process.
 *
 * Hundreds of forks in a row: children that _exit(0) at once, and children
 * that read (and check) and write the shared mapping, while two other
 * threads fault through a cache small enough that pages are read, evicted
 * and written back all the time. Each fork is under its own alarm, so a
 * hang fails the test with SIGALRM instead of running into the suite's
 * timeout.
 */
#include "helpers.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGES 256
#define FORKS 400
#define THREADS 2

static unsigned char *shared, *want;
static atomic_int stop;

/* Each thread owns one byte of every page: it writes it and checks it,
 * and reads the file's bytes around it. */
static void *faulter(void *arg)
{
	int t = (int)(intptr_t)arg;
	uint64_t s = 77 + (uint64_t)t;
	unsigned char mine[PAGES] = {0};
	while (!atomic_load(&stop)) {
		size_t pg = rnd(&s) % PAGES;
		size_t off = pg * PS + 64 + (size_t)t;
		if (rnd(&s) & 1) {
			mine[pg] = (unsigned char)(rnd(&s) | 1);
			shared[off] = mine[pg];
		} else {
			CHECK_EQ(shared[off], mine[pg] ? mine[pg] : want[off]);
			CHECK_EQ(shared[off + 1000], want[off + 1000]);
		}
	}
	return NULL;
}

int main(void)
{
#ifdef FM_UNDER_TSAN
	/* TSan's fork interceptor takes its internal locks before fork()
	 * runs the atfork handlers, and the fault thread's instrumented code
	 * needs them before it can park and read UFFD_EVENT_FORK. */
	fprintf(stderr, "skip: TSan's fork interceptor deadlocks with UFFD_EVENT_FORK\n");
	return 77;
#endif
	CHECK(fm_set_budget(32 * PS) == 0);
	require_engine();
	char path[64];
	int fd = make_file(path, PAGES * PS, 61, O_RDWR);
	want = malloc(PAGES * PS);
	fill_pattern(want, PAGES * PS, 61);
	shared = fm_mmap(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(shared != MAP_FAILED);

	/* Forks with nothing else going on. */
	for (int i = 0; i < FORKS / 2; i++) {
		alarm(10);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			_exit(0);
		int st;
		CHECK(waitpid(pid, &st, 0) == pid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}

	/* Forks while other threads fault; every other child reads and
	 * writes the mapping (a byte no thread owns). */
	pthread_t th[THREADS];
	for (int t = 0; t < THREADS; t++)
		CHECK(pthread_create(&th[t], NULL, faulter, (void *)(intptr_t)t) == 0);
	uint64_t s = 5;
	for (int i = 0; i < FORKS / 2; i++) {
		size_t pg = rnd(&s) % PAGES;
		alarm(10);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			if (i & 1) {
				if (shared[pg * PS + 2000] != want[pg * PS + 2000])
					_exit(2);
				shared[pg * PS + 8] = 0x5a;
			}
			_exit(0);
		}
		int st;
		CHECK(waitpid(pid, &st, 0) == pid);
		CHECK(WIFEXITED(st));
		CHECK_EQ(WEXITSTATUS(st), 0);
		if (i & 1) {
			CHECK_EQ(shared[pg * PS + 8], 0x5a);
			want[pg * PS + 8] = 0x5a;
		}
	}
	atomic_store(&stop, 1);
	for (int t = 0; t < THREADS; t++)
		CHECK(pthread_join(th[t], NULL) == 0);
	alarm(0);
	CHECK(fm_munmap(shared, PAGES * PS) == 0);
	close(fd);
	unlink(path);
	free(want);
	return 0;
}
