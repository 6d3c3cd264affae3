/*
 * A signal handler may map and unmap a file while the thread it
 * interrupted is inside malloc or free: the kernel's mmap and munmap take
 * no lock of the program's. faultmap's mapping calls keep records in
 * memory of their own; taken from malloc, a handler that interrupted
 * malloc waited for malloc's lock, which its own thread held.
 *
 * The main thread allocates and frees blocks of 1 to 64 KiB (past the
 * per-thread cache, so malloc takes its arena's lock) in a loop, while a
 * setitimer handler, 50 us after its last call ended, maps file B (a new view: a new record), unmaps
 * it, moves it with mremap and so on, until the handler has run HANDLER_CALLS
 * times. A watchdog thread turns a hang (no handler call for 20 s) into a
 * failure. Skipped under ASan and TSan, where faultmap's memory comes from
 * the sanitizer's malloc.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

TSAN_SIGNAL_UNSAFE_ALLOWED

#define HANDLER_CALLS 5000
#define B_PAGES 8

static int fd_b;
static char *hb;
static size_t hb_len = B_PAGES * PS;
static atomic_ulong calls;
static atomic_int done;
static volatile sig_atomic_t failed;

static void handler(int sig)
{
	(void)sig;
	int saved = errno;
	if (atomic_load(&calls) >= HANDLER_CALLS)
		return; /* the main thread may end now */
	unsigned long n = atomic_fetch_add(&calls, 1);
	if (!hb) {
		hb = fm_mmap(NULL, hb_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd_b, 0);
		if (hb == MAP_FAILED) {
			hb = NULL;
			failed = errno;
		} else {
			hb[0] = 'y'; /* a page cached, a write tracked */
		}
	} else if (n % 3 == 1) { /* moves: a record changes */
		size_t to = hb_len == B_PAGES * PS ? B_PAGES / 2 * PS : B_PAGES * PS;
		char *p = fm_mremap(hb, hb_len, to, MREMAP_MAYMOVE);
		if (p == MAP_FAILED)
			failed = errno;
		else
			hb = p, hb_len = to;
	} else if (n % 3 == 2 && hb_len > PS) { /* the middle goes: a split */
		if (fm_munmap(hb + PS, PS))
			failed = errno;
		if (fm_munmap(hb, hb_len))
			failed = errno;
		hb = NULL;
		hb_len = B_PAGES * PS;
	} else {
		if (fm_munmap(hb, hb_len))
			failed = errno;
		hb = NULL;
		hb_len = B_PAGES * PS;
	}
	/* The next call in 50 us of the main thread's time, whatever this
	 * one took. */
	struct itimerval next = {{0, 0}, {0, 50}};
	if (setitimer(ITIMER_REAL, &next, NULL))
		failed = errno;
	errno = saved;
}

static void *watchdog(void *arg)
{
	(void)arg;
	unsigned long last = (unsigned long)-1;
	while (!atomic_load(&done)) {
		for (int i = 0; i < 20 && !atomic_load(&done); i++)
			sleep(1);
		unsigned long now = atomic_load(&calls);
		if (now == last && !atomic_load(&done)) {
			fprintf(stderr, "hang: no handler call in 20 s, after %lu\n", now);
			_exit(1);
		}
		last = now;
	}
	return NULL;
}

int main(void)
{
#if defined(FM_UNDER_TSAN) || defined(__SANITIZE_ADDRESS__)
	fprintf(stderr, "skip: under a sanitizer faultmap takes its memory from the "
			"sanitizer's malloc (src/alloc.c)\n");
	return 77;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	fprintf(stderr, "skip: under a sanitizer faultmap takes its memory from the "
			"sanitizer's malloc (src/alloc.c)\n");
	return 77;
#endif
#endif
	require_engine();
	char path_b[64];
	fd_b = make_file(path_b, B_PAGES * PS, 3, O_RDWR);

	pthread_t wd = handle_sigalrm(handler, watchdog);
	struct itimerval it = {{0, 0}, {0, 50}};
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);

	enum { SLOTS = 64 };
	void *slot[SLOTS] = {0};
	uint64_t seed = 42;
	unsigned long allocs = 0;
	while (atomic_load(&calls) < HANDLER_CALLS && !failed) {
		unsigned i = rnd(&seed) % SLOTS;
		free(slot[i]);
		slot[i] = malloc(1024 + rnd(&seed) % (63 * 1024));
		CHECK(slot[i]);
		((char *)slot[i])[0] = 1;
		allocs++;
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
	atomic_store(&done, 1);
	for (unsigned i = 0; i < SLOTS; i++)
		free(slot[i]);
	if (failed) {
		fprintf(stderr, "a call in the handler failed: %s\n", strerror(failed));
		return 1;
	}
	if (hb)
		CHECK(fm_munmap(hb, hb_len) == 0);
	printf("%lu handler calls during %lu allocations\n", (unsigned long)atomic_load(&calls),
	       allocs);
	close(fd_b);
	unlink(path_b);
	pthread_join(wd, NULL);
	return 0;
}
