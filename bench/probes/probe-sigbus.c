/*
 * probe-sigbus - what a miss costs when the faulting thread serves it
 * itself (UFFD_FEATURE_SIGBUS: the fault raises SIGBUS, whose handler reads
 * the page and installs it with UFFDIO_COPY) against a round trip through a
 * handler thread (the engine today), and what system calls do with a
 * missing page in SIGBUS mode.
 *
 * The data comes from a file the page cache holds (pread is a copy), so the
 * numbers are the mechanism's, not a disk's. Each rep maps a fresh memfd,
 * registers it MISSING and touches every page once (8 bytes), in order and
 * shuffled; a miss installs 1 page, or its aligned cluster of 16. Against:
 *   kernel    first touch of a MAP_SHARED mapping of the cached file;
 *   no fault  the same preads and UFFDIO_COPYs issued in a loop, no fault.
 *
 * Usage: probe-sigbus [--size MIB] [--reps N] [--dir DIR]
 * (default 64, 5, /var/tmp). Prints medians in ns per page.
 */
#include "probe.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

static unsigned char *volatile view; /* read by the SIGBUS handler */
static size_t npages, cluster = 1;
static int uffd = -1, src = -1;
static volatile sig_atomic_t sigbus_calls;
static unsigned char bounce_sig[16 * PG] __attribute__((aligned(4096)));
static unsigned char bounce_thr[16 * PG] __attribute__((aligned(4096)));

/* serve - read the cluster holding addr from the source, install it. */
static int serve(uintptr_t addr, unsigned char *bounce)
{
	size_t pg = (addr - (uintptr_t)view) / PG, first = pg / cluster * cluster;
	size_t n = first + cluster <= npages ? cluster : npages - first;
	if (pread(src, bounce, n * PG, (off_t)(first * PG)) != (ssize_t)(n * PG))
		return -EIO;
	return uffd_copy(uffd, view + first * PG, bounce, n * PG);
}

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	int saved = errno;
	uintptr_t a = (uintptr_t)si->si_addr;
	sigbus_calls++;
	if (a < (uintptr_t)view || a >= (uintptr_t)view + npages * PG || serve(a, bounce_sig)) {
		signal(sig, SIG_DFL); /* not ours, or cannot serve: die of it */
		return;
	}
	errno = saved;
}

static int stop_fd = -1;

static void *handler_thread(void *arg)
{
	(void)arg;
	struct pollfd p[2] = {{.fd = uffd, .events = POLLIN}, {.fd = stop_fd, .events = POLLIN}};
	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			die("poll");
		if (p[1].revents)
			return NULL;
		struct uffd_msg m;
		if (read(uffd, &m, sizeof(m)) != sizeof(m))
			continue; /* EAGAIN: another wake-up took it */
		if (m.event == UFFD_EVENT_PAGEFAULT && serve(m.arg.pagefault.address, bounce_thr))
			die("serve");
	}
}

struct mapping {
	int memfd;
	pthread_t tid;
	bool thread;
};

/* map_view - a fresh memfd view, registered MISSING, served in SIGBUS mode
 * or by a handler thread. */
static void map_view(struct mapping *m, bool sigbus_mode)
{
	m->memfd = memfd_create("probe", MFD_CLOEXEC);
	if (m->memfd < 0 || ftruncate(m->memfd, (off_t)(npages * PG)) < 0)
		die("memfd");
	view = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_SHARED, m->memfd, 0);
	if (view == MAP_FAILED)
		die("mmap");
	uffd = uffd_open(sigbus_mode ? UFFD_FEATURE_SIGBUS : 0);
	uffd_register(uffd, view, npages * PG, UFFDIO_REGISTER_MODE_MISSING);
	m->thread = !sigbus_mode;
	if (m->thread) {
		stop_fd = eventfd(0, EFD_CLOEXEC);
		if (pthread_create(&m->tid, NULL, handler_thread, NULL))
			die("pthread_create");
	}
}

static void unmap_view(struct mapping *m)
{
	if (m->thread) {
		uint64_t one = 1;
		if (write(stop_fd, &one, 8) != 8)
			die("eventfd");
		pthread_join(m->tid, NULL);
		close(stop_fd);
	}
	munmap(view, npages * PG);
	close(uffd);
	close(m->memfd);
}

enum { K_KERNEL, K_NOFAULT, K_SIGBUS, K_THREAD, K_COUNT };
static const char *const kind_name[K_COUNT] = {"kernel (page cache)", "no fault: pread+COPY",
					       "SIGBUS, in the faulting thread",
					       "handler thread"};

/* one_run - the cost per page of one pass of kind k. */
static struct cost one_run(int k, const uint32_t *order)
{
	struct stamp t0;
	struct cost t;
	size_t bad;
	if (k == K_KERNEL) {
		unsigned char *p = mmap(NULL, npages * PG, PROT_READ, MAP_SHARED, src, 0);
		if (p == MAP_FAILED)
			die("mmap source");
		t0 = stamp_now();
		bad = touch(p, npages, order);
		t = cost_since(t0, npages);
		munmap(p, npages * PG);
	} else {
		struct mapping m;
		map_view(&m, k == K_SIGBUS);
		t0 = stamp_now();
		if (k == K_NOFAULT) {
			for (size_t i = 0; i < npages; i += cluster)
				if (serve((uintptr_t)(view + (order ? order[i] : i) * PG), bounce_sig))
					die("serve");
			t = cost_since(t0, npages);
			bad = touch(view, npages, NULL);
		} else {
			bad = touch(view, npages, order);
			t = cost_since(t0, npages);
		}
		unmap_view(&m);
	}
	if (bad)
		fprintf(stderr, "probe-sigbus: %zu pages read wrong\n", bad);
	return t;
}

/* ---- system calls on a missing page in SIGBUS mode ---------------------- */

static void report(const char *what, ssize_t n, int err)
{
	if (n < 0)
		printf("  %-58s -1 %s\n", what, strerrorname_np(err));
	else
		printf("  %-58s %zd\n", what, n);
}

static void syscalls(bool sigbus_mode)
{
	struct mapping m;
	cluster = 1;
	map_view(&m, sigbus_mode);
	printf("\n%s mode: a system call whose buffer is a missing page\n",
	       sigbus_mode ? "SIGBUS" : "handler-thread");
	sigbus_calls = 0;
	int sv[2], pp[2];
	char tmpl[] = "/var/tmp/fm-probe-w-XXXXXX";
	int wfd = mkstemp(tmpl);
	if (wfd < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || pipe(pp) < 0)
		die("set-up");
	unlink(tmpl);
	static char data[PG];
	ssize_t n;
	n = pread(src, view, PG, 0);
	report("pread(file) into a missing page:", n, errno);
	n = pwrite(wfd, view + 2 * PG, PG, 0);
	report("pwrite(file) from a missing page:", n, errno);
	view[4 * PG] = 1; /* present (served through the fault), the next not */
	n = pread(src, view + 4 * PG, 2 * PG, 0);
	report("pread 8 KiB into [present page, missing page]:", n, errno);
	n = write(pp[1], view + 6 * PG, PG);
	report("write(pipe) from a missing page:", n, errno);
	n = send(sv[0], view + 8 * PG, PG, 0);
	report("send(unix socket) from a missing page:", n, errno);
	if (send(sv[1], data, PG, 0) != PG)
		die("send");
	n = recv(sv[0], view + 10 * PG, PG, MSG_DONTWAIT);
	report("recv(unix socket) into a missing page:", n, errno);
	n = recv(sv[0], data, PG, MSG_DONTWAIT);
	report("  then recv again into a plain buffer (data kept?):", n, errno);
	printf("  SIGBUS handler calls, the touch of the present page included: %d\n",
	       (int)sigbus_calls);
	close(wfd), close(sv[0]), close(sv[1]), close(pp[0]), close(pp[1]);
	unmap_view(&m);
}

int main(int argc, char **argv)
{
	struct probe_opts po = {.mib = 64, .reps = 5, .dir = "/var/tmp"};
	src = probe_start(argc, argv, &po, "probe-sigbus", "");
	int reps = po.reps;
	npages = (po.mib << 20) / PG;
	struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER};
	sigaction(SIGBUS, &sa, NULL);
	uint32_t *order = shuffled(npages);
	static const size_t clusters[] = {1, 16};
	for (int o = 0; o < 2; o++) {
		for (size_t c = 0; c < 2; c++) {
			cluster = clusters[c];
			struct cost v[K_COUNT][MAX_REPS];
			for (int r = 0; r < reps; r++)
				for (int k = 0; k < K_COUNT; k++)
					v[k][r] = one_run(k, o ? order : NULL);
			printf("\n%s touch, a miss installs %zu page%s:\n", o ? "shuffled" : "in-order",
			       cluster, cluster > 1 ? "s (aligned cluster)" : "");
			for (int k = 0; k < K_COUNT; k++)
				print_cost(kind_name[k], 34, median_cost(v[k], reps));
		}
	}
	syscalls(true);
	syscalls(false);
	print_load();
	free(order);
	return 0;
}
