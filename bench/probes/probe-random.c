/*
 * probe-random - random 4 KiB reads from the disk through a view whose
 * misses are served three ways, against the kernel, side by side: where the
 * time of workload 3 (random reads, 1 or 2 threads) goes besides the I/O.
 *
 * Every contender reads the same random pages of a file the kernel's cache
 * does not hold (POSIX_FADV_DONTNEED before each run), each page once, for
 * --secs seconds, with --threads program threads; the contenders alternate,
 * --reps times, and the medians are printed:
 *   pread    O_DIRECT pread of 4 KiB (the device, no mapping);
 *   kernel   a MAP_SHARED mapping of the file with MADV_RANDOM;
 *   sigbus   a memfd view registered MISSING with UFFD_FEATURE_SIGBUS: the
 *            faulting thread's SIGBUS handler reads the page (O_DIRECT) and
 *            installs it with UFFDIO_COPY (direction 1 of issue 11);
 *   thread   a handler thread sleeping in poll() on the userfaultfd reads
 *            the page and installs it (UFFDIO_COPY wakes the program thread);
 *   spin     the same handler thread, but it never sleeps: it polls the
 *            userfaultfd without blocking (faultmap's fault thread spins
 *            50 us after each fault, so with one miss after another it
 *            never sleeps either);
 *   xproc    thread's handler, in another process (a child given the
 *            userfaultfd; its UFFDIO_COPY fills the program's view from the
 *            child's buffer): the faultmap daemon's round trip.
 * The handler thread serves one miss at a time (with 2 program threads,
 * their misses do not overlap there: faultmap's fault thread puts several
 * in flight on io_uring). CPU time is the whole process's (every thread).
 *
 * Usage: probe-random [--size MIB] [--reps N] [--dir DIR] [--secs S]
 *                     [--threads N]   (default 1024, 3, /var/tmp, 3, 1)
 * The directory must be on a disk (O_DIRECT), not tmpfs.
 */
#include "probe.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

enum { C_PREAD, C_KERNEL, C_SIGBUS, C_THREAD, C_SPIN, C_XPROC, NR_CONTENDERS };
static const char *const names[NR_CONTENDERS] = {"pread", "kernel", "sigbus", "thread", "spin",
						  "xproc"};

static int src = -1, dsrc = -1; /* the file: buffered, O_DIRECT */
static size_t npages;
static uint32_t *order;			   /* the pages to read, each once */
static unsigned char *volatile view;	   /* the view being read */
static int uffd = -1;
static atomic_int stop_flag;
static atomic_size_t next_read;		   /* the next index into order */
static atomic_size_t bad_pages;
static _Thread_local unsigned char bounce[PG] __attribute__((aligned(4096)));

/* serve - read page pg with O_DIRECT, install it in view. Async-signal-safe. */
static int serve(size_t pg)
{
	if (pread(dsrc, bounce, PG, (off_t)(pg * PG)) != (ssize_t)PG)
		return -EIO;
	return uffd_copy(uffd, view + pg * PG, bounce, PG);
}

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	int saved = errno;
	uintptr_t a = (uintptr_t)si->si_addr;
	if (!view || a < (uintptr_t)view || a >= (uintptr_t)view + npages * PG ||
	    serve((a - (uintptr_t)view) / PG)) {
		signal(sig, SIG_DFL); /* not ours, or cannot serve: die of it */
		return;
	}
	errno = saved;
}

static int stop_fd = -1;

/* handler - serve the userfaultfd's misses; spin: never sleep. */
static void *handler(void *arg)
{
	bool spin = arg != NULL;
	struct pollfd p[2] = {{.fd = uffd, .events = POLLIN}, {.fd = stop_fd, .events = POLLIN}};
	for (;;) {
		if (!spin && poll(p, 2, -1) < 0 && errno != EINTR)
			die("poll");
		if (spin ? atomic_load(&stop_flag) == 2 : p[1].revents != 0)
			return NULL;
		struct uffd_msg m;
		if (read(uffd, &m, sizeof(m)) != sizeof(m))
			continue; /* EAGAIN */
		if (m.event == UFFD_EVENT_PAGEFAULT &&
		    serve((m.arg.pagefault.address - (uintptr_t)view) / PG))
			die("serve");
	}
}

/* xproc_start - fork the handler process: it serves the userfaultfd with
 * handler() until the pipe's write end, which only this process holds,
 * closes. */
static pid_t xproc_pid = -1;
static int xproc_pipe = -1;

static void xproc_start(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC))
		die("pipe");
	xproc_pid = fork();
	if (xproc_pid < 0)
		die("fork");
	if (!xproc_pid) {
		close(p[1]);
		stop_fd = p[0];
		handler(NULL);
		_exit(0);
	}
	close(p[0]);
	xproc_pipe = p[1];
}

static void xproc_stop(void)
{
	close(xproc_pipe);
	if (waitpid(xproc_pid, NULL, 0) != xproc_pid)
		die("waitpid");
	xproc_pid = -1;
}

/* reader - a program thread: read a word of each page it takes from order
 * (or pread it), until told to stop. Return: pages read. */
static void *reader(void *arg)
{
	int c = (int)(intptr_t)arg;
	size_t n = 0, bad = 0;
	while (!atomic_load(&stop_flag)) {
		/* Past the end, order again: a run that stopped there read for
		 * part of its time only, and its rate came out too low. */
		size_t pg = order[atomic_fetch_add(&next_read, 1) % npages];
		uint64_t w;
		if (c == C_PREAD) {
			if (pread(dsrc, bounce, PG, (off_t)(pg * PG)) != (ssize_t)PG)
				die("pread");
			memcpy(&w, bounce, 8);
		} else {
			w = *(const volatile uint64_t *)(view + pg * PG);
		}
		bad += w != page_word(pg);
		n++;
	}
	atomic_fetch_add(&bad_pages, bad);
	return (void *)n;
}

struct result {
	double rate, cpu_us; /* reads per second; CPU us per read */
};

static struct result run(int c, int threads, double secs)
{
	if (fdatasync(src) < 0 || posix_fadvise(src, 0, 0, POSIX_FADV_DONTNEED))
		die("evicting the file");
	size_t len = npages * PG;
	int memfd = -1;
	pthread_t h;
	bool handler_running = false;
	if (c == C_KERNEL) {
		view = mmap(NULL, len, PROT_READ, MAP_SHARED, src, 0);
		if (view == MAP_FAILED || madvise(view, len, MADV_RANDOM))
			die("mmap (kernel)");
	} else if (c != C_PREAD) {
		memfd = memfd_create("probe-random", MFD_CLOEXEC);
		if (memfd < 0 || ftruncate(memfd, (off_t)len))
			die("memfd");
		view = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
		if (view == MAP_FAILED)
			die("mmap (memfd)");
		uffd = uffd_open(c == C_SIGBUS ? UFFD_FEATURE_SIGBUS : 0);
		uffd_register(uffd, view, len, UFFDIO_REGISTER_MODE_MISSING);
		if (c == C_XPROC) {
			xproc_start();
		} else if (c != C_SIGBUS) {
			stop_fd = eventfd(0, EFD_CLOEXEC);
			if (stop_fd < 0 || pthread_create(&h, NULL, handler,
							  c == C_SPIN ? (void *)1 : NULL))
				die("handler thread");
			handler_running = true;
		}
	}
	/* Each run starts at a new place in order: no page read twice. */
	static size_t cursor;
	atomic_store(&next_read, cursor);
	atomic_store(&stop_flag, 0);
	pthread_t t[64];
	struct stamp s = stamp_now();
	for (int i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, reader, (void *)(intptr_t)c))
			die("pthread_create");
	struct timespec d = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
	nanosleep(&d, NULL);
	atomic_store(&stop_flag, 1);
	size_t reads = 0;
	for (int i = 0; i < threads; i++) {
		void *n;
		pthread_join(t[i], &n);
		reads += (size_t)n;
	}
	struct cost k = cost_since(s, reads ? reads : 1);
	cursor = atomic_load(&next_read) % npages; /* past the end: read again */
	if (xproc_pid > 0)
		xproc_stop();
	if (handler_running) {
		atomic_store(&stop_flag, 2);
		uint64_t one = 1;
		if (write(stop_fd, &one, sizeof(one)) < 0)
			die("eventfd");
		pthread_join(h, NULL);
		close(stop_fd);
	}
	if (view && view != MAP_FAILED)
		munmap(view, len);
	view = NULL;
	if (uffd >= 0)
		close(uffd);
	uffd = -1;
	if (memfd >= 0)
		close(memfd);
	return (struct result){reads / (k.wall * reads / 1e9), k.cpu / 1e3};
}

int main(int argc, char **argv)
{
	double secs = 3;
	int threads = 1;
	/* Take this probe's own options out before probe_start sees them. */
	int n = 1;
	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "--secs"))
			secs = atof(argv[++i]);
		else if (i + 1 < argc && !strcmp(argv[i], "--threads"))
			threads = atoi(argv[++i]);
		else
			argv[n++] = argv[i];
	}
	argc = n;
	if (secs <= 0 || threads < 1 || threads > 64) {
		fprintf(stderr, "probe-random: --secs > 0, --threads 1-64\n");
		return 2;
	}
	struct probe_opts o = {.mib = 1024, .reps = 3, .dir = "/var/tmp"};
	src = probe_start(argc, argv, &o, "probe-random", " [--secs S] [--threads N]");
	npages = o.mib * 1024 * 1024 / PG;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", src);
	dsrc = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (dsrc < 0)
		die("open O_DIRECT (is --dir on tmpfs?)");
	order = shuffled(npages);
	struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL))
		die("sigaction");
	printf("random 4 KiB reads of a %zu MiB file, %d thread(s), %.1f s per run, %d reps\n",
	       o.mib, threads, secs, o.reps);
	double rate[NR_CONTENDERS][MAX_REPS], cpu[NR_CONTENDERS][MAX_REPS];
	for (int r = 0; r < o.reps; r++)
		for (int c = 0; c < NR_CONTENDERS; c++) {
			struct result x = run(c, threads, secs);
			rate[c][r] = x.rate;
			cpu[c][r] = x.cpu_us;
		}
	double kernel = median(rate[C_KERNEL], o.reps);
	printf("  %-7s %10s %9s %12s\n", "", "reads/s", "vs kernel", "cpu us/read");
	for (int c = 0; c < NR_CONTENDERS; c++) {
		double m = median(rate[c], o.reps);
		printf("  %-7s %10.0f %8.2fx %12.1f   (reads/s:", names[c], m, m / kernel,
		       median(cpu[c], o.reps));
		for (int r = 0; r < o.reps; r++)
			printf(" %.0f", rate[c][r]);
		printf(")\n");
	}
	size_t bad = atomic_load(&bad_pages);
	if (bad)
		printf("DATA CHECK FAILED: %zu pages read wrong\n", bad);
	return bad ? 1 : 0;
}
