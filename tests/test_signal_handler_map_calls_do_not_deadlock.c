/*
 * A signal handler may call munmap, mmap, msync, mprotect, madvise and
 * mremap while the thread it interrupted is inside one of them: on Linux
 * this works, and programs rely on it. faultmap's handler used to wait for
 * the map lock that its own thread held.
 *
 * A setitimer handler at 100 us works on a mapping of its own (file B),
 * while the main thread maps file A shared, fills it and unmaps it, in a
 * loop of ITERATIONS per kind of call the handler makes (or until the
 * handler has run MIN_INTERRUPTS times). A watchdog thread
 * turns a hang into a failure.
 *
 * Built with FM_LIBC_CALLS (tests/programs/test_signal_handler_map_calls_
 * under_run.sh) the program calls the libc functions, and runs on the
 * kernel and under `faultmap run`.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include "helpers.h"

#ifdef FM_LIBC_CALLS
#define MMAP mmap
#define MUNMAP munmap
#define MSYNC msync
#define MPROTECT mprotect
#define MADVISE madvise
#define MREMAP mremap
#else
#define MMAP fm_mmap
#define MUNMAP fm_munmap
#define MSYNC fm_msync
#define MPROTECT fm_mprotect
#define MADVISE fm_madvise
#define MREMAP fm_mremap
#endif

TSAN_SIGNAL_UNSAFE_ALLOWED

#define ITERATIONS 300
#define MIN_ITERATIONS 30
#ifdef FM_UNDER_SANITIZER
#define MIN_INTERRUPTS 5000 /* CI's time: the normal build waits for 20000 */
#else
#define MIN_INTERRUPTS 20000
#endif
#define A_PAGES 16
#define B_PAGES 8

enum kind { K_MAP_UNMAP, K_MSYNC, K_MPROTECT, K_MADVISE, K_MREMAP, K_COUNT };
static const char *kind_name[K_COUNT] = {"mmap/munmap", "msync", "mprotect", "madvise",
					 "mremap"};

static int fd_b;
static char *hb;	/* the handler's mapping of file B, or NULL */
static size_t hb_len;
static enum kind kind;
static unsigned long calls;
static volatile sig_atomic_t handler_failed;
static atomic_int progress, done;

static void fail_in_handler(void)
{
	if (!handler_failed)
		handler_failed = errno ? errno : -1;
}

static void handler(int sig)
{
	(void)sig;
	int saved = errno;
	calls++;
	switch (kind) {
	case K_MAP_UNMAP:
		if (hb) {
			if (MUNMAP(hb, hb_len))
				fail_in_handler();
			hb = NULL;
		} else {
			hb = MMAP(NULL, hb_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd_b, 0);
			if (hb == MAP_FAILED) {
				hb = NULL;
				fail_in_handler();
			}
		}
		break;
	case K_MSYNC: { /* a write to the disk now and then: it takes longer
			 * than the timer's period */
		int how = MS_ASYNC;
		if (calls % 256 == 0) {
			hb[(calls / 256 % B_PAGES) * PS] = (char)(calls | 1);
			how = MS_SYNC;
		}
		if (MSYNC(hb, hb_len, how))
			fail_in_handler();
		break;
	}
	case K_MPROTECT:
		if (MPROTECT(hb, hb_len, calls & 1 ? PROT_READ : PROT_READ | PROT_WRITE))
			fail_in_handler();
		break;
	case K_MADVISE:
		if (MADVISE(hb, hb_len, calls & 1 ? MADV_SEQUENTIAL : MADV_NORMAL))
			fail_in_handler();
		break;
	case K_MREMAP: {
		size_t to = hb_len == B_PAGES * PS ? B_PAGES / 2 * PS : B_PAGES * PS;
		char *p = MREMAP(hb, hb_len, to, MREMAP_MAYMOVE);
		if (p == MAP_FAILED)
			fail_in_handler();
		else
			hb = p, hb_len = to;
		break;
	}
	default:
		break;
	}
	errno = saved;
}

/* A hang is a failure: no progress for 30 s (each iteration takes well
 * under a millisecond). */
static void *watchdog(void *arg)
{
	(void)arg;
	int last = -1;
	while (!atomic_load(&done)) {
		sleep(30);
		int now = atomic_load(&progress);
		if (now == last && !atomic_load(&done)) {
			fprintf(stderr,
				"hang: no progress in 30 s, at iteration %d, with a "
				"handler calling %s\n",
				now % ITERATIONS, kind_name[kind]);
			_exit(1);
		}
		last = now;
	}
	return NULL;
}

static int new_file(const char *dir, size_t size, char *path)
{
	snprintf(path, 96, "%s/fmsig.XXXXXX", dir);
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	char *buf = malloc(size);
	CHECK(buf);
	memset(buf, 'x', size);
	CHECK(write(fd, buf, size) == (ssize_t)size);
	free(buf);
	return fd;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : getenv("FM_TEST_DIR");
	if (!dir)
		dir = "/var/tmp";
#ifndef FM_LIBC_CALLS
	each_mode(); /* embedded, then daemon mode: each map call a request */
	require_engine();
#endif
	char path_a[96], path_b[96];
	int fd_a = new_file(dir, A_PAGES * PS, path_a);
	fd_b = new_file(dir, B_PAGES * PS, path_b);

	(void)handle_sigalrm(handler, watchdog);

	for (kind = 0; kind < K_COUNT; kind++) {
		hb_len = B_PAGES * PS;
		hb = NULL;
		if (kind != K_MAP_UNMAP) {
			hb = MMAP(NULL, hb_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd_b, 0);
			CHECK(hb != MAP_FAILED);
		}
		calls = 0;
		struct itimerval it = {{0, 100}, {0, 100}};
		CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
		/* ITERATIONS, or fewer once the handler has interrupted the
		 * loop MIN_INTERRUPTS times: where each call is a round trip to
		 * the daemon, the handler takes most of the 100 us period, and
		 * 300 iterations would take minutes. */
		for (int i = 0; i < ITERATIONS && !handler_failed &&
				(i < MIN_ITERATIONS || calls < MIN_INTERRUPTS);
		     i++) {
			char *a = MMAP(NULL, A_PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED,
				       fd_a, 0);
			CHECK(a != MAP_FAILED);
			memset(a, (char)('a' + i % 26), A_PAGES * PS);
			CHECK(MUNMAP(a, A_PAGES * PS) == 0);
			atomic_fetch_add(&progress, 1);
		}
		struct itimerval off = {{0, 0}, {0, 0}};
		CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
		if (handler_failed) {
			fprintf(stderr, "the handler's %s failed: %s\n", kind_name[kind],
				strerror(handler_failed > 0 ? handler_failed : EINVAL));
			exit(1);
		}
		CHECK(calls > 0);
		if (hb)
			CHECK(MUNMAP(hb, hb_len) == 0);
		fprintf(stderr, "%s: %lu handler calls\n", kind_name[kind], calls);
	}
	atomic_store(&done, 1);
	close(fd_a);
	close(fd_b);
	unlink(path_a);
	unlink(path_b);
	return 0;
}
