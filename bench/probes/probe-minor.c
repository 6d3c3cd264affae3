/*
 * probe-minor - reading a cluster straight into the memfd and mapping it
 * with one UFFDIO_CONTINUE (views registered MINOR), against reading it into
 * a buffer and installing it with UFFDIO_COPY (views registered MISSING, the
 * engine today); and what MINOR registration costs the hits.
 *
 * The memfd has two views: D, unregistered (where reads land), and U, the
 * user's view. Four parts, each rep on a fresh memfd:
 *
 *  1. install, no fault: for each cluster, read it (buffered pread from a
 *     cached file, or O_DIRECT) and install it: into a bounce buffer, then
 *     UFFDIO_COPY into U (MISSING); or into the memfd, then UFFDIO_CONTINUE
 *     on U (MINOR). Into the memfd three ways: pread into D (the kernel
 *     faults D's pages in, zeroed, one by one); pread into the bounce
 *     buffer, then pwrite to the memfd (a second copy, but no fault and no
 *     zeroing); sendfile from the file to the memfd (one copy, in the
 *     kernel). The read and the install are timed apart.
 *  2. in-order first touch of U, misses served by a handler thread, a
 *     cluster per miss: COPY; CONTINUE (U registered MISSING|MINOR: a
 *     missing page raises MISSING, a page being read raises MINOR); and,
 *     with U registered MISSING only, the page put into the memfd and the
 *     faulting thread woken (UFFDIO_WAKE) to let the kernel map it itself
 *     on the retry, with fault-around: by a pread into D, which is unsafe
 *     (the page is in the memfd, zeroed, before the read fills it: a view
 *     can map it then), or by a pwrite to the memfd from the buffer, which
 *     is not (shmem's write path holds the new folio locked until its data
 *     is in and it is marked uptodate; a fault on it waits for the lock).
 *  3. hits: every page in the memfd, a new view touched once (8 bytes a
 *     page), in order and shuffled: unregistered; MISSING (faultmap's
 *     views: the kernel maps resident pages, with fault-around); MINOR,
 *     each minor fault served by a handler thread with UFFDIO_CONTINUE of
 *     the page or of its 16-page cluster; MINOR in SIGBUS mode, the
 *     faulting thread continuing the cluster itself.
 *  4. race check: three threads read every word of every page of U at
 *     once, in the same order, while misses are served by a handler thread
 *     (COPY, pread into D + WAKE, pwrite + WAKE); a page seen with a word
 *     not yet written counts as torn.
 *
 * Usage: probe-minor [--size MIB] [--reps N] [--dir DIR]
 * (default 64, 5, /var/tmp). Prints medians in ns per page.
 */
#include "probe.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>

static size_t npages, len;
static int src = -1, src_direct = -1;
static unsigned char *bounce;

struct memfd_views {
	int memfd, uffd, stop_fd;
	unsigned char *d, *u;
	size_t cluster;
	int serve_how; /* what the handler does with a fault */
	pthread_t tid;
	bool thread;
};

enum { S_COPY, S_CONTINUE, S_WAKE, S_WAKE_PWRITE, S_CONTINUE_HIT };

static void views_open(struct memfd_views *v, uint64_t uffd_features, uint64_t reg_mode)
{
	memset(v, 0, sizeof(*v));
	v->memfd = memfd_create("probe", MFD_CLOEXEC);
	if (v->memfd < 0 || ftruncate(v->memfd, (off_t)len) < 0)
		die("memfd");
	v->d = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, v->memfd, 0);
	v->u = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, v->memfd, 0);
	if (v->d == MAP_FAILED || v->u == MAP_FAILED)
		die("mmap");
	v->uffd = -1;
	if (reg_mode) {
		v->uffd = uffd_open(uffd_features);
		uffd_register(v->uffd, v->u, len, reg_mode);
	}
}

/* new_user_view - replace U by a new view (the memfd keeps its pages). */
static void new_user_view(struct memfd_views *v, uint64_t features, uint64_t reg_mode)
{
	munmap(v->u, len);
	if (v->uffd >= 0)
		close(v->uffd);
	v->uffd = -1;
	v->u = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, v->memfd, 0);
	if (v->u == MAP_FAILED)
		die("mmap");
	if (reg_mode) {
		v->uffd = uffd_open(features);
		uffd_register(v->uffd, v->u, len, reg_mode);
	}
}

static void read_into(int fd, unsigned char *dst, size_t n, size_t off)
{
	if (pread(fd, dst, n, (off_t)off) != (ssize_t)n)
		die("pread");
}

/* serve - the handler's work for a fault at addr in U. */
static int serve(struct memfd_views *v, uintptr_t addr, unsigned char *buf)
{
	size_t pg = (addr - (uintptr_t)v->u) / PG, first = pg / v->cluster * v->cluster;
	size_t n = (first + v->cluster <= npages ? v->cluster : npages - first) * PG;
	size_t off = first * PG;
	switch (v->serve_how) {
	case S_COPY:
		read_into(src, buf, n, off);
		return uffd_copy(v->uffd, v->u + off, buf, n);
	case S_CONTINUE:
		read_into(src, v->d + off, n, off);
		/* fall through */
	case S_CONTINUE_HIT:
		return uffd_continue(v->uffd, v->u + off, n);
	case S_WAKE:
	case S_WAKE_PWRITE: {
		if (v->serve_how == S_WAKE) {
			read_into(src, v->d + off, n, off);
		} else {
			read_into(src, buf, n, off);
			if (pwrite(v->memfd, buf, n, (off_t)off) != (ssize_t)n)
				return -errno;
		}
		struct uffdio_range r = {(uintptr_t)v->u + off, n};
		return ioctl(v->uffd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
	}
	}
	return -EINVAL;
}

static void *handler_thread(void *arg)
{
	struct memfd_views *v = arg;
	unsigned char *buf = aligned_alloc(PG, v->cluster * PG);
	struct pollfd p[2] = {{.fd = v->uffd, .events = POLLIN},
			      {.fd = v->stop_fd, .events = POLLIN}};
	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			die("poll");
		if (p[1].revents)
			break;
		struct uffd_msg m;
		if (read(v->uffd, &m, sizeof(m)) != sizeof(m))
			continue;
		if (m.event == UFFD_EVENT_PAGEFAULT && serve(v, m.arg.pagefault.address, buf))
			die("serve");
	}
	free(buf);
	return NULL;
}

static void thread_start(struct memfd_views *v, int how, size_t cluster)
{
	v->serve_how = how;
	v->cluster = cluster;
	v->stop_fd = eventfd(0, EFD_CLOEXEC);
	v->thread = true;
	if (pthread_create(&v->tid, NULL, handler_thread, v))
		die("pthread_create");
}

static void thread_stop(struct memfd_views *v)
{
	if (!v->thread)
		return;
	uint64_t one = 1;
	if (write(v->stop_fd, &one, 8) != 8)
		die("eventfd");
	pthread_join(v->tid, NULL);
	close(v->stop_fd);
	v->thread = false;
}

static void views_close(struct memfd_views *v)
{
	thread_stop(v);
	munmap(v->d, len);
	munmap(v->u, len);
	if (v->uffd >= 0)
		close(v->uffd);
	close(v->memfd);
}

static void check(const unsigned char *p, const char *what)
{
	size_t bad = touch(p, npages, NULL);
	if (bad)
		fprintf(stderr, "probe-minor: %s: %zu pages wrong\n", what, bad);
}

/* ---- 1. install, no fault ------------------------------------------------ */

enum { F_COPY, F_CONT_D, F_CONT_PWRITE, F_CONT_SENDFILE, F_COUNT };
static const char *const fill_name[F_COUNT] = {
	"COPY: pread to buffer, UFFDIO_COPY", "CONTINUE: pread into D",
	"CONTINUE: pread to buffer, pwrite memfd", "CONTINUE: sendfile file->memfd"};

/* fill - put the cluster at off into the memfd the way f says (for
 * F_COPY: into the bounce buffer only). */
static void fill(int f, struct memfd_views *v, int fd, size_t n, size_t off)
{
	switch (f) {
	case F_COPY: read_into(fd, bounce, n, off); break;
	case F_CONT_D: read_into(fd, v->d + off, n, off); break;
	case F_CONT_PWRITE:
		read_into(fd, bounce, n, off);
		if (pwrite(v->memfd, bounce, n, (off_t)off) != (ssize_t)n)
			die("pwrite memfd");
		break;
	case F_CONT_SENDFILE: {
		off_t in = (off_t)off;
		if (lseek(v->memfd, (off_t)off, SEEK_SET) < 0 ||
		    sendfile(v->memfd, fd, &in, n) != (ssize_t)n)
			die("sendfile");
		break;
	}
	}
}

/* install_pass - ns/page of CPU time reading and installing clusters of c
 * pages read from fd (cached, or O_DIRECT), filled the way f says; and of
 * the whole, on the wall clock (*wall_ns). */
static void install_pass(int f, int fd, size_t c, double *read_ns, double *inst_ns,
			 double *wall_ns)
{
	struct memfd_views v;
	bool cont = f != F_COPY;
	views_open(&v, cont ? UFFD_FEATURE_MINOR_SHMEM : 0,
		   cont ? UFFDIO_REGISTER_MODE_MINOR : UFFDIO_REGISTER_MODE_MISSING);
	double tr = 0, ti = 0, w0 = now();
	for (size_t off = 0; off < len; off += c * PG) {
		double t0 = thread_cpu();
		fill(f, &v, fd, c * PG, off);
		double t1 = thread_cpu();
		int err = cont ? uffd_continue(v.uffd, v.u + off, c * PG)
			       : uffd_copy(v.uffd, v.u + off, bounce, c * PG);
		if (err) {
			errno = -err;
			die(cont ? "UFFDIO_CONTINUE" : "UFFDIO_COPY");
		}
		ti += thread_cpu() - t1;
		tr += t1 - t0;
	}
	*wall_ns = (now() - w0) * 1e9 / (double)npages;
	check(v.u, cont ? "continue" : "copy");
	views_close(&v);
	*read_ns = tr * 1e9 / (double)npages;
	*inst_ns = ti * 1e9 / (double)npages;
}

/* ---- 2. first touch, misses through a handler thread --------------------- */

static struct cost miss_pass(int how, size_t c)
{
	struct memfd_views v;
	uint64_t mode = how == S_CONTINUE
				? UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR
				: UFFDIO_REGISTER_MODE_MISSING;
	views_open(&v, how == S_CONTINUE ? UFFD_FEATURE_MINOR_SHMEM : 0, mode);
	thread_start(&v, how, c);
	struct stamp t0 = stamp_now();
	size_t bad = touch(v.u, npages, NULL);
	struct cost t = cost_since(t0, npages);
	if (bad)
		fprintf(stderr, "probe-minor: miss pass %d: %zu pages wrong\n", how, bad);
	views_close(&v);
	return t;
}

/* ---- 3. hits through a new view ------------------------------------------ */

static struct memfd_views *volatile sig_views;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	int saved = errno;
	struct memfd_views *v = sig_views;
	uintptr_t a = (uintptr_t)si->si_addr;
	int err = -EFAULT;
	if (!v || a < (uintptr_t)v->u || a >= (uintptr_t)v->u + len ||
	    (err = serve(v, a, NULL))) {
		char msg[80];
		int n = snprintf(msg, sizeof(msg), "probe-minor: SIGBUS at %#lx: %d\n",
				 (unsigned long)a, err);
		ssize_t ignored = write(2, msg, (size_t)n);
		(void)ignored;
		signal(sig, SIG_DFL);
		return;
	}
	errno = saved;
}

enum { H_PLAIN, H_MISSING, H_MINOR_1, H_MINOR_16, H_MINOR_SIGBUS, H_COUNT };
static const char *const hit_name[H_COUNT] = {
	"unregistered view", "MISSING (faultmap today)", "MINOR, thread, CONTINUE 1 page",
	"MINOR, thread, CONTINUE 16 pages", "MINOR, SIGBUS, CONTINUE 16 pages"};

/* hit_pass - the cost per page of touching a new view of a full memfd;
 * *flt = minor faults per page. */
static struct cost hit_pass(int h, const uint32_t *order, double *flt)
{
	struct memfd_views v;
	views_open(&v, 0, 0);
	for (size_t off = 0; off < len; off += 1 << 20)
		read_into(src, v.d + off, 1 << 20, off);
	uint64_t feat = h == H_MINOR_SIGBUS ? UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_SIGBUS
			: h >= H_MINOR_1	    ? UFFD_FEATURE_MINOR_SHMEM
						    : 0;
	uint64_t mode = h == H_PLAIN ? 0
			: h == H_MISSING ? UFFDIO_REGISTER_MODE_MISSING
					 : UFFDIO_REGISTER_MODE_MINOR | UFFDIO_REGISTER_MODE_MISSING;
	new_user_view(&v, feat, mode);
	if (h == H_MINOR_1 || h == H_MINOR_16)
		thread_start(&v, S_CONTINUE_HIT, h == H_MINOR_1 ? 1 : 16);
	if (h == H_MINOR_SIGBUS) {
		v.serve_how = S_CONTINUE_HIT;
		v.cluster = 16;
		sig_views = &v;
	}
	long f0 = minflt_now();
	struct stamp t0 = stamp_now();
	size_t bad = touch(v.u, npages, order);
	struct cost t = cost_since(t0, npages);
	*flt = (double)(minflt_now() - f0) / (double)npages;
	sig_views = NULL;
	if (bad)
		fprintf(stderr, "probe-minor: hit pass %d: %zu pages wrong\n", h, bad);
	views_close(&v);
	return t;
}

/* ---- 4. race check ------------------------------------------------------- */

struct racer {
	pthread_t tid;
	const unsigned char *u;
	size_t torn;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	for (size_t pg = 0; pg < npages; pg++) {
		const volatile uint64_t *w = (const volatile uint64_t *)(r->u + pg * PG);
		for (size_t i = PG / 8; i-- > 0;) /* the last word first: written last */
			if (w[i] != page_word(pg) + i) {
				r->torn++;
				break;
			}
	}
	return NULL;
}

/* race_pass - torn pages seen by three readers racing over U's misses. */
static size_t race_pass(int how)
{
	struct memfd_views v;
	views_open(&v, 0, UFFDIO_REGISTER_MODE_MISSING);
	thread_start(&v, how, 16);
	struct racer r[3];
	size_t torn = 0;
	for (int i = 0; i < 3; i++) {
		r[i] = (struct racer){.u = v.u};
		if (pthread_create(&r[i].tid, NULL, racer_main, &r[i]))
			die("pthread_create");
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(r[i].tid, NULL);
		torn += r[i].torn;
	}
	views_close(&v);
	return torn;
}

int main(int argc, char **argv)
{
	struct probe_opts po = {.mib = 64, .reps = 5, .dir = "/var/tmp"};
	src = probe_start(argc, argv, &po, "probe-minor", "");
	int reps = po.reps;
	len = po.mib << 20;
	npages = len / PG;
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", src);
	src_direct = open(self, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (src_direct < 0)
		die("open O_DIRECT");
	bounce = aligned_alloc(PG, 1 << 20);
	struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER};
	sigaction(SIGBUS, &sa, NULL);
	uint32_t *order = shuffled(npages);

	printf("\n1. install, no fault: read + install per cluster, ns/page: CPU time of read / "
	       "install / both, and wall clock of both\n");
	static const size_t clusters[] = {16, 256};
	for (int direct = 0; direct < 2; direct++)
		for (int c = 0; c < 2; c++) {
			double r[F_COUNT][MAX_REPS], in[F_COUNT][MAX_REPS], tot[F_COUNT][MAX_REPS],
				w[F_COUNT][MAX_REPS];
			int nf = direct ? F_CONT_SENDFILE : F_COUNT;
			for (int k = 0; k < reps; k++)
				for (int f = 0; f < nf; f++) {
					install_pass(f, direct ? src_direct : src, clusters[c],
						     &r[f][k], &in[f][k], &w[f][k]);
					tot[f][k] = r[f][k] + in[f][k];
				}
			printf("  %s, cluster of %zu pages:\n", direct ? "O_DIRECT" : "cached",
			       clusters[c]);
			for (int f = 0; f < nf; f++)
				printf("    %-40s %6.0f / %6.0f / %6.0f  wall %6.0f\n", fill_name[f],
				       median(r[f], reps), median(in[f], reps), median(tot[f], reps),
				       median(w[f], reps));
		}

	printf("\n2. in-order first touch, misses through a handler thread, cluster 16 "
	       "(cached source)\n");
	{
		static const int how[] = {S_COPY, S_CONTINUE, S_WAKE, S_WAKE_PWRITE};
		static const char *const name[] = {"MISSING, read to buffer + COPY",
						   "MISSING|MINOR, read to D + CONTINUE",
						   "MISSING, read to D + WAKE (unsafe)",
						   "MISSING, read to buffer, pwrite + WAKE"};
		struct cost t[4][MAX_REPS];
		for (int k = 0; k < reps; k++)
			for (int i = 0; i < 4; i++)
				t[i][k] = miss_pass(how[i], 16);
		for (int i = 0; i < 4; i++)
			print_cost(name[i], 40, median_cost(t[i], reps));
	}

	printf("\n3. hits: every page in the memfd, a new view touched once (minor faults "
	       "per page; SIGBUS-served faults are not counted)\n");
	for (int o = 0; o < 2; o++) {
		struct cost t[H_COUNT][MAX_REPS];
		double f[H_COUNT][MAX_REPS];
		for (int k = 0; k < reps; k++)
			for (int h = 0; h < H_COUNT; h++)
				t[h][k] = hit_pass(h, o ? order : NULL, &f[h][k]);
		printf("  %s:\n", o ? "shuffled" : "in order");
		for (int h = 0; h < H_COUNT; h++) {
			struct cost m = median_cost(t[h], reps);
			printf("    %-34s %8.0f ns/page wall %8.0f cpu  (%.3f)\n", hit_name[h],
			       m.wall, m.cpu, median(f[h], reps));
		}
	}

	printf("\n4. race check: 3 readers over U while misses are served, %d reps: torn pages "
	       "seen (every word checked)\n", reps);
	{
		static const int how[] = {S_COPY, S_WAKE, S_WAKE_PWRITE};
		static const char *const name[] = {"COPY", "pread into D + WAKE", "pwrite + WAKE"};
		for (int i = 0; i < 3; i++) {
			size_t torn = 0;
			for (int k = 0; k < reps; k++)
				torn += race_pass(how[i]);
			printf("  %-24s %zu of %zu page reads\n", name[i], torn,
			       (size_t)reps * 3 * npages);
		}
	}
	print_load();
	free(order);
	free(bounce);
	return 0;
}
