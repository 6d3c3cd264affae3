/*
 * While the full file system has no room for a page's first write, and a
 * system call's copy into it was refused (EFAULT), stores to that page by
 * another thread get SIGBUS, as under the kernel (whose page_mkwrite fails
 * the same way for every writer), never SIGSEGV; loads still read it.
 *
 * A sparse file on a 1 MiB tmpfs (a ballast file takes 64 KiB of it) is
 * filled page by page with pread(2) into a shared mapping until a call
 * fails; once the page is writable in /proc/self/maps again (faultmap
 * makes it read-only while it moves it to the refusal's userfaultfd), a
 * second thread stores to it in a loop while this one makes TRIES more
 * preads into it (EFAULT, each; under the old refusal each made the page
 * read-only again until the thread was past it) and loads it; then the
 * ballast goes, and a store succeeds (faultmap's once it has seen the
 * room). The kernel's mapping first, then faultmap's in each mode (with
 * FAULTMAP_MODE set, in that one), each in a fresh process. Needs root to
 * mount the tmpfs; skipped otherwise.
 */
#include "helpers.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NPAGES 512 /* 2 MiB: more than the file system holds */
#define TRIES 50
#define DEADLINE_S 60

enum side { KERNEL, EMBEDDED, DAEMON };
static const char *const side_name[] = {"kernel", "embedded", "daemon"};

struct result {
	long stop;	 /* the first page whose pread failed */
	long efault;	 /* preads there afterwards that failed with EFAULT */
	long bus, segv;	 /* the other thread's stores */
	long loads;	 /* loads that read the page without a signal */
};

static char dir[64];
static volatile unsigned char *target;
static atomic_bool stop_storing;
static __thread sigjmp_buf env;

static void on_signal(int sig)
{
	siglongjmp(env, sig);
}

/* store - a store to target; the signal it raised, or 0. */
static int store(void)
{
	int sig = sigsetjmp(env, 1);
	if (sig == 0)
		*target = 1;
	return sig;
}

/* storer - stores to target until told to stop; counts their signals
 * into the struct result at arg. At least one store. */
static void *storer(void *arg)
{
	struct result *r = arg;
	do {
		int sig = store();
		r->bus += sig == SIGBUS;
		r->segv += sig == SIGSEGV;
		sched_yield();
	} while (!atomic_load(&stop_storing));
	return NULL;
}

static void side_process(void *arg, int out)
{
	enum side side = *(enum side *)arg;
	if (side == EMBEDDED)
		pin_embedded_mode("the test's embedded side");
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGBUS, &sa, NULL) == 0);
	CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
	char path[128], ballast[128], src_path[64];
	snprintf(ballast, sizeof(ballast), "%s/ballast", dir);
	int src = make_file(src_path, PS, 7, O_RDONLY);
	int fd = sparse_file_on_full_fs(dir, NPAGES, path);
	bool fm = side != KERNEL;
	unsigned char *p = fm ? fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
			      : mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	struct result r;
	memset(&r, 0, sizeof(r));
	long i;
	for (i = 0; i < NPAGES; i++)
		if (pread(src, p + i * PS, PS, 0) != (long)PS)
			break;
	r.stop = i;
	CHECK(i > 0 && i < NPAGES);
	target = p + i * PS;
	if (fm)
		CHECK(page_writable_again((const void *)target));
	atomic_store(&stop_storing, false);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, storer, &r) == 0);
	for (int k = 0; k < TRIES; k++) {
		r.efault += pread(src, (void *)target, PS, 0) < 0 && errno == EFAULT;
		if (sigsetjmp(env, 1) == 0)
			r.loads += *target == 0;
		/* The other thread stores meanwhile (and the old refusal,
		 * which made the page read-only until this thread was past
		 * the access, would last until the next look at it). */
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	atomic_store(&stop_storing, true);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(unlink(ballast) == 0);
	/* Room again: a store succeeds (faultmap's once it has seen the
	 * room, within POISON_CHECK_MS; the kernel's at once). */
	int tries = 0;
	while (store() != 0 && tries++ < 5000)
		usleep(1000);
	CHECK(tries < 5000);
	CHECK((fm ? fm_munmap : munmap)(p, NPAGES * PS) == 0);
	close(fd);
	close(src);
	unlink(src_path);
	CHECK(write(out, &r, sizeof(r)) == (ssize_t)sizeof(r));
	exit(0);
}

static struct result run_side(enum side side)
{
	int in;
	pid_t pid = child_with_pipe(side_process, &side, &in);
	wait_within(pid, DEADLINE_S, side_name[side]);
	struct result r;
	CHECK(read(in, &r, sizeof(r)) == (ssize_t)sizeof(r));
	close(in);
	printf("%s: full at page %ld; %ld EFAULT of %d preads; the other thread's stores: %ld "
	       "SIGBUS, %ld SIGSEGV; %ld loads\n",
	       side_name[side], r.stop, r.efault, TRIES, r.bus, r.segv, r.loads);
	return r;
}

int main(void)
{
	const char *only = getenv("FAULTMAP_MODE");
	require_sigbus_delivery();
	mount_tmpfs(dir, "size=1m");
	daemon_private(); /* the daemon side's (the embedded one sets its mode) */
	require_engine_in_child();
	struct result k = run_side(KERNEL);
	CHECK_EQ(k.efault, TRIES);
	CHECK(k.bus > 0 && k.segv == 0);
	for (int side = EMBEDDED; side <= DAEMON; side++) {
		if (only && *only && strcmp(only, side_name[side]))
			continue;
		struct result f = run_side((enum side)side);
		CHECK_EQ(f.stop, k.stop);
		CHECK_EQ(f.efault, TRIES);
		CHECK_EQ(f.segv, 0);
		CHECK(f.bus > 0);
		CHECK_EQ(f.loads, TRIES); /* faultmap's page reads zeros (a hole) */
	}
	return 0;
}
