/*
 * fm-rados-bench - a RADOS object read through a faultmap mapping against
 * librados itself, side by side in one run (issue 12's measurements):
 *
 *   random 4 KiB reads at QD1: a byte of a random page through the mapping
 *     (MADV_RANDOM: one page a miss) against rados_read of that page;
 *   the same with --threads N threads (default 4), each at QD1;
 *   a sequential scan of the whole object: the mapping (MADV_SEQUENTIAL)
 *     against rados_aio_read of 256 KiB pieces at queue depths 1, 4, 16,
 *     and against a copy-in loop: rados_aio_read at the best of those
 *     depths, each piece put into a fresh memfd page with UFFDIO_COPY (as
 *     the engine fills its cache), read through a view of the memfd, and
 *     punched out once a budget's worth is behind it, on one thread: what a cache that
 *     copies the data into shmem pays, with no engine. CPU time (the whole
 *     process's, librados's threads included) is printed for each;
 *   what users do without faultmap: copy the object to local disk first
 *     (rados_read of 4 MiB pieces written to a file in --dir, default
 *     /var/tmp, then fsync), then kernel mmap of that copy, its pages
 *     dropped from the kernel's cache first: random 4 KiB reads at QD1
 *     (MADV_RANDOM) and a scan (MADV_SEQUENTIAL), and the copy plus the
 *     scan against the mapping's scan alone.
 *
 * The object is SIZE bytes (default 64 MiB; a cluster's osd max object
 * size is 128 MiB by default), the budget SIZE/8, so the mapping's cache
 * holds an eighth of it; each pass of the mapping opens a new store (a
 * cold cache). Needs a cluster: --conf PATH (else $CEPH_CONF), --pool
 * (default fm); scripts/ceph-dev.sh up DIR makes one.
 *
 * With --scans N, only the scans: rados_aio_read at its best depth (of
 * 1, 4, 16, 32), the copy-in loop, a *direct loop* (the same, but each
 * piece read by rados_aio_read straight into the memfd's view, its pages
 * made first with MADV_POPULATE_WRITE: a cache with no copy of its own,
 * and so no protection from a view seeing a page before its read ends)
 * and the mapping, N rounds in turn, each
 * printed, then their medians: a scan of an object this small takes a
 * fraction of a second, and one pass says little.
 *
 * usage: fm-rados-bench [--conf PATH] [--pool POOL] [--size BYTES]
 *                       [--reads N] [--threads N] [--dir DIR] [--scans N]
 * Prints one line per measurement. Not a test: no timing is judged.
 */
#include <errno.h>
#include <stdbool.h>
#include <faultmap.h>
#include <fcntl.h>
#include <pthread.h>
#include <rados/librados.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/falloc.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define PIECE (256 * 1024)
#define OID "fm-rados-bench"
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "fm-rados-bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The copy-in loop's memfd view (scan_aio with fill): each piece read is
 * installed there with UFFDIO_COPY, a byte of each page read through it,
 * and the piece a budget behind punched out. */
struct fill_view {
	int memfd, uffd;
	char *view;
	size_t budget;
	bool direct; /* read straight into the view (populated), no copy */
	unsigned sum;
};

static void fill_piece(struct fill_view *f, const char *piece, size_t off)
{
	struct uffdio_copy c = {.dst = (uintptr_t)f->view + off, .src = (uintptr_t)piece,
				.len = PIECE};
	if (!f->direct && ioctl(f->uffd, UFFDIO_COPY, &c) < 0)
		die("UFFDIO_COPY", errno);
	for (size_t i = 0; i < PIECE; i += PAGE)
		f->sum += (unsigned char)((volatile char *)f->view)[off + i];
	if (off >= f->budget &&
	    fallocate(f->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(off - f->budget), PIECE) < 0)
		die("fallocate (punch)", errno);
}

/* scan_aio - read the whole object in PIECE reads, depth in flight (with
 * f, each into a bounce piece and then into f's memfd). Return: seconds. */
static double scan_aio(rados_ioctx_t io, char *buf, size_t size, int depth,
		       struct fill_view *f)
{
	rados_completion_t c[64];
	size_t off[64];
	int n = 0, head = 0;
	size_t next = 0, done = 0;
	double t = now();
	while (done < size) {
		while (n < depth && next < size) {
			int slot = (head + n) % depth;
			if (rados_aio_create_completion2(NULL, NULL, &c[slot]) < 0)
				die("rados_aio_create_completion2", EIO);
			off[slot] = next;
			char *dst = f ? buf + (size_t)slot * PIECE : buf + next;
			if (f && f->direct) { /* the pages made first, then read into */
				dst = f->view + next;
				if (madvise(dst, PIECE, MADV_POPULATE_WRITE) < 0)
					die("MADV_POPULATE_WRITE", errno);
			}
			int r = rados_aio_read(io, OID, c[slot], dst, PIECE, next);
			if (r < 0)
				die("rados_aio_read", r);
			next += PIECE;
			n++;
		}
		rados_aio_wait_for_complete(c[head]);
		int r = rados_aio_get_return_value(c[head]);
		if (r != PIECE)
			die("rados_aio_read returned short", r < 0 ? r : EIO);
		rados_aio_release(c[head]);
		if (f)
			fill_piece(f, buf + (size_t)head * PIECE, off[head]);
		done += PIECE;
		head = (head + 1) % depth;
		n--;
	}
	return now() - t;
}

/* One thread of the threaded random reads: reads random pages, QD1,
 * through the mapping (p) or with rados_read (io). */
struct reader {
	pthread_t tid;
	rados_ioctx_t io;
	volatile char *p;
	const char *buf;
	size_t pages;
	long reads;
	uint64_t seed;
	int err;
};

static void *reader_run(void *arg)
{
	struct reader *rd = arg;
	char page[PAGE];
	uint64_t x = rd->seed;
	for (long i = 0; i < rd->reads && !rd->err; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t pg = x % rd->pages;
		if (rd->p) {
			if (rd->p[pg * PAGE + 1] != rd->buf[pg * PAGE + 1])
				rd->err = EIO;
		} else if (rados_read(rd->io, OID, page, PAGE, pg * PAGE) != PAGE ||
			   page[1] != rd->buf[pg * PAGE + 1]) {
			rd->err = EIO;
		}
	}
	return NULL;
}

/* readers - nthreads threads of reads random reads each, through p (or
 * rados_read if p is NULL). Return: reads per second. */
static double readers(int nthreads, long reads, rados_ioctx_t io, volatile char *p,
		      const char *buf, size_t pages)
{
	struct reader rd[64];
	double t = now();
	for (int i = 0; i < nthreads; i++) {
		rd[i] = (struct reader){.io = io, .p = p, .buf = buf, .pages = pages,
					.reads = reads, .seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)};
		if (pthread_create(&rd[i].tid, NULL, reader_run, &rd[i]))
			die("pthread_create", EAGAIN);
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(rd[i].tid, NULL);
		if (rd[i].err)
			die(p ? "the mapping read a wrong byte" : "rados_read", rd[i].err);
	}
	return (double)nthreads * (double)reads / (now() - t);
}

/* map_object - a new store of url (a cold cache) mapped whole, with
 * advice; *sp: the store. */
static volatile char *map_object(const char *url, size_t size, int advice, struct fm_store **sp)
{
	struct fm_store *s = fm_store_open(url, O_RDONLY);
	if (!s)
		die("fm_store_open", errno);
	volatile char *p = fm_mmap_store(NULL, size, PROT_READ, MAP_SHARED, s, 0);
	if (p == MAP_FAILED)
		die("fm_mmap_store", errno);
	fm_madvise((void *)p, size, advice);
	*sp = s;
	return p;
}

/* fill_open, fill_close - the copy-in loop's memfd and its view. */
static void fill_open(struct fill_view *f, size_t size, bool direct)
{
	*f = (struct fill_view){.budget = size / 8, .direct = direct};
	f->memfd = memfd_create("fm-rados-bench", MFD_CLOEXEC);
	f->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (f->memfd < 0 || f->uffd < 0 || ftruncate(f->memfd, (off_t)size) < 0)
		die("memfd, userfaultfd", errno);
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_MISSING_SHMEM};
	f->view = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	struct uffdio_register reg = {.range = {(uintptr_t)f->view, size},
				      .mode = UFFDIO_REGISTER_MODE_MISSING};
	if (ioctl(f->uffd, UFFDIO_API, &api) < 0 || f->view == MAP_FAILED ||
	    (!direct && ioctl(f->uffd, UFFDIO_REGISTER, &reg) < 0))
		die("the copy-in loop's view", errno);
}

static void fill_close(struct fill_view *f, size_t size)
{
	munmap(f->view, size);
	close(f->uffd);
	close(f->memfd);
}

/* scan_mapping - a scan of a new mapping (a cold cache) of url, a byte of
 * each page, checked against buf. Return: seconds. */
static double scan_mapping(const char *url, const char *buf, size_t size)
{
	struct fm_store *s;
	volatile char *p = map_object(url, size, MADV_SEQUENTIAL, &s);
	double t = now();
	for (size_t off = 0; off < size; off += PAGE)
		if (p[off] != buf[off])
			die("the mapping read a wrong byte", EIO);
	t = now() - t;
	fm_munmap((void *)p, size);
	fm_store_close(s);
	return t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* scan_rounds - --scans: the best rados_aio_read depth, then rounds of
 * rados_aio_read at it, the copy-in loop and the mapping, in turn. */
static void scan_rounds(rados_ioctx_t io, const char *url, const char *buf, size_t size,
			int rounds)
{
	char *scan = malloc(size);
	if (!scan)
		die("malloc", ENOMEM);
	int qds[] = {1, 4, 16, 32}, best_qd = 1;
	double best = 0, aio[99], loop[99], direct[99], map[99], cpu[4][99];
	for (size_t k = 0; k < sizeof(qds) / sizeof(qds[0]); k++) {
		double mbs = (double)size / scan_aio(io, scan, size, qds[k], NULL) / 1e6;
		printf("scan, rados_aio_read 256 KiB at QD%d: %.0f MB/s\n", qds[k], mbs);
		if (mbs > best)
			best = mbs, best_qd = qds[k];
	}
	if (memcmp(scan, buf, size) != 0)
		die("rados_aio_read read wrong bytes", EIO);
	double pages = (double)(size / PAGE);
	for (int i = 0; i < rounds; i++) {
		double c0 = cpu_now();
		aio[i] = (double)size / scan_aio(io, scan, size, best_qd, NULL) / 1e6;
		double c1 = cpu_now();
		struct fill_view f;
		fill_open(&f, size, false);
		loop[i] = (double)size / scan_aio(io, scan, size, best_qd, &f) / 1e6;
		fill_close(&f, size);
		double c2 = cpu_now();
		fill_open(&f, size, true);
		direct[i] = (double)size / scan_aio(io, scan, size, best_qd, &f) / 1e6;
		fill_close(&f, size);
		double c3 = cpu_now();
		map[i] = (double)size / scan_mapping(url, buf, size) / 1e6;
		double c4 = cpu_now();
		cpu[0][i] = (c1 - c0) * 1e6 / pages;
		cpu[1][i] = (c2 - c1) * 1e6 / pages;
		cpu[2][i] = (c3 - c2) * 1e6 / pages;
		cpu[3][i] = (c4 - c3) * 1e6 / pages;
		printf("round %d: rados_aio_read QD%d %.0f MB/s, copy-in loop %.0f MB/s (%.0f%%), "
		       "direct loop %.0f MB/s (%.0f%%), mapping %.0f MB/s (%.0f%%); "
		       "cpu us/page %.2f %.2f %.2f %.2f\n",
		       i + 1, best_qd, aio[i], loop[i], 100 * loop[i] / aio[i], direct[i],
		       100 * direct[i] / aio[i], map[i], 100 * map[i] / aio[i], cpu[0][i], cpu[1][i],
		       cpu[2][i], cpu[3][i]);
	}
	double ma = median(aio, rounds), ml = median(loop, rounds), md = median(direct, rounds),
	       mm = median(map, rounds);
	printf("medians of %d rounds: rados_aio_read QD%d %.0f MB/s, copy-in loop %.0f MB/s "
	       "(%.0f%%), direct loop %.0f MB/s (%.0f%%), mapping %.0f MB/s (%.0f%% of "
	       "rados_aio_read); cpu us/page %.2f %.2f %.2f %.2f\n",
	       rounds, best_qd, ma, ml, 100 * ml / ma, md, 100 * md / ma, mm, 100 * mm / ma,
	       median(cpu[0], rounds), median(cpu[1], rounds), median(cpu[2], rounds),
	       median(cpu[3], rounds));
	free(scan);
}

int main(int argc, char **argv)
{
	const char *conf = getenv("CEPH_CONF"), *pool = "fm", *dir = "/var/tmp";
	size_t size = 64 << 20;
	long reads = 2000;
	int nthreads = 4, scans = 0;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--conf"))
			conf = argv[i + 1];
		else if (!strcmp(argv[i], "--pool"))
			pool = argv[i + 1];
		else if (!strcmp(argv[i], "--size") && fm_parse_size(argv[i + 1], &size) == 0)
			;
		else if (!strcmp(argv[i], "--dir"))
			dir = argv[i + 1];
		else if (!strcmp(argv[i], "--reads"))
			reads = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--threads") && atoi(argv[i + 1]) >= 1 &&
			 atoi(argv[i + 1]) <= 64)
			nthreads = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--scans") && atoi(argv[i + 1]) >= 1 &&
			 atoi(argv[i + 1]) <= 99)
			scans = atoi(argv[i + 1]);
		else {
			fprintf(stderr, "usage: fm-rados-bench [--conf PATH] [--pool POOL] "
					"[--size BYTES] [--reads N] [--threads 1-64] [--dir DIR] "
					"[--scans 1-99]\n");
			return 2;
		}
	}
	if (!conf) {
		fprintf(stderr, "fm-rados-bench: no --conf and no $CEPH_CONF\n");
		return 2;
	}
	size = (size + PIECE - 1) / PIECE * PIECE;
	fm_set_mode(FM_MODE_EMBEDDED); /* this process's own cache: fm_set_budget */
	if (fm_set_budget(size / 8) != 0)
		die("fm_set_budget", EINVAL);

	rados_t cluster;
	rados_ioctx_t io;
	int r = rados_create(&cluster, NULL);
	if (!r)
		r = rados_conf_read_file(cluster, conf);
	if (!r)
		r = rados_connect(cluster);
	if (!r)
		r = rados_ioctx_create(cluster, pool, &io);
	if (r)
		die("connecting", r);
	char *buf = malloc(size);
	if (!buf)
		die("malloc", ENOMEM);
	for (size_t i = 0; i < size; i++)
		buf[i] = (char)(i * 7 + i / PAGE);
	for (size_t off = 0; off < size; off += 4 << 20) { /* the object */
		r = rados_write(io, OID, buf + off, size - off < (4 << 20) ? size - off : 4 << 20, off);
		if (r < 0)
			die("rados_write", r);
	}
	printf("object %s/%s: %zu MiB, budget %zu MiB, %ld random reads\n", pool, OID,
	       size >> 20, (size / 8) >> 20, reads);
	char url[512];
	snprintf(url, sizeof(url), "rados://%s/%s?conf=%s", pool, OID, conf);
	if (scans) {
		scan_rounds(io, url, buf, size, scans);
		free(buf);
		rados_ioctx_destroy(io);
		rados_shutdown(cluster);
		return 0;
	}

	/* random 4 KiB reads, QD1: librados */
	size_t pages = size / PAGE;
	char page[PAGE];
	double t = now();
	for (long i = 0; i < reads; i++) {
		r = rados_read(io, OID, page, PAGE, (rnd() % pages) * PAGE);
		if (r != PAGE)
			die("rados_read", r < 0 ? r : EIO);
	}
	double t_rados = (now() - t) / (double)reads;

	/* random 4 KiB reads, QD1: the mapping */
	struct fm_store *s;
	volatile char *p = map_object(url, size, MADV_RANDOM, &s);
	unsigned sum = 0;
	t = now();
	for (long i = 0; i < reads; i++) {
		size_t pg = rnd() % pages;
		char v = p[pg * PAGE + 1];
		if (v != buf[pg * PAGE + 1])
			die("the mapping read a wrong byte", EIO);
		sum += (unsigned char)v;
	}
	double t_map = (now() - t) / (double)reads;
	fm_munmap((void *)p, size);
	fm_store_close(s);
	printf("random 4 KiB read, QD1: mapping %.1f us, rados_read %.1f us (%.2fx)\n",
	       t_map * 1e6, t_rados * 1e6, t_map / t_rados);

	/* random 4 KiB reads, nthreads threads at QD1 each */
	double ps_rados = readers(nthreads, reads / nthreads, io, NULL, buf, pages);
	p = map_object(url, size, MADV_RANDOM, &s);
	double ps_map = readers(nthreads, reads / nthreads, io, p, buf, pages);
	fm_munmap((void *)p, size);
	fm_store_close(s);
	printf("random 4 KiB read, %d threads: mapping %.0f reads/s (%.2fx its QD1), "
	       "rados_read %.0f reads/s (%.2fx its QD1); mapping/rados_read %.2f\n",
	       nthreads, ps_map, ps_map * t_map, ps_rados, ps_rados * t_rados, ps_map / ps_rados);

	/* scans */
	double best = 0;
	int best_qd = 0;
	int qds[] = {1, 4, 16};
	char *scan = malloc(size);
	if (!scan)
		die("malloc", ENOMEM);
	double best_cpu = 0;
	for (size_t k = 0; k < sizeof(qds) / sizeof(qds[0]); k++) {
		double c0 = cpu_now();
		double secs = scan_aio(io, scan, size, qds[k], NULL);
		double mbs = (double)size / secs / 1e6;
		double cpu = (cpu_now() - c0) * 1e6 / (double)(size / PAGE);
		printf("scan, rados_aio_read 256 KiB at QD%d: %.0f MB/s, cpu %.2f us/page\n", qds[k],
		       mbs, cpu);
		if (mbs > best)
			best = mbs, best_qd = qds[k], best_cpu = cpu;
	}
	if (memcmp(scan, buf, size) != 0)
		die("rados_aio_read read wrong bytes", EIO);
	/* the copy-in loop, at the best depth */
	struct fill_view f;
	fill_open(&f, size, false);
	double c0 = cpu_now();
	double fsecs = scan_aio(io, scan, size, best_qd, &f);
	double fmbs = (double)size / fsecs / 1e6;
	printf("scan, copy-in loop (rados_aio_read at QD%d, UFFDIO_COPY into a memfd, read, "
	       "punched a budget behind): %.0f MB/s = %.0f%% of rados_aio_read, cpu %.2f us/page "
	       "(rados_aio_read: %.2f)\n",
	       best_qd, fmbs, 100 * fmbs / best, (cpu_now() - c0) * 1e6 / (double)(size / PAGE),
	       best_cpu);
	sum += f.sum;
	fill_close(&f, size);
	p = map_object(url, size, MADV_SEQUENTIAL, &s);
	c0 = cpu_now();
	t = now();
	for (size_t off = 0; off < size; off += PAGE)
		sum += (unsigned char)p[off];
	double secs = now() - t;
	double mbs = (double)size / secs / 1e6;
	printf("scan, mapping (MADV_SEQUENTIAL): %.0f MB/s = %.0f%% of rados_aio_read at QD%d, "
	       "%.0f%% of the copy-in loop, cpu %.2f us/page\n",
	       mbs, 100 * mbs / best, best_qd, 100 * mbs / fmbs,
	       (cpu_now() - c0) * 1e6 / (double)(size / PAGE));
	fm_munmap((void *)p, size);
	fm_store_close(s);

	/* without faultmap: copy the object to local disk, map the copy */
	char path[512];
	snprintf(path, sizeof(path), "%s/fm-rados-bench-%d", dir, (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		die("open (the local copy)", errno);
	unlink(path);
	t = now();
	for (size_t off = 0; off < size; off += 4 << 20) {
		size_t n = size - off < (4 << 20) ? size - off : 4 << 20;
		r = rados_read(io, OID, scan, n, off);
		if (r != (int)n || pwrite(fd, scan, n, (off_t)off) != (ssize_t)n)
			die("copying the object", r < 0 ? -r : EIO);
	}
	if (fsync(fd) < 0)
		die("fsync (the local copy)", errno);
	double copy_secs = now() - t;
	printf("copy to local disk (%s): %.0f MB/s, %.2f s\n", dir,
	       (double)size / copy_secs / 1e6, copy_secs);
	if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
		die("posix_fadvise", EIO);
	char *k = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (k == MAP_FAILED || madvise(k, size, MADV_RANDOM))
		die("mmap (the local copy)", errno);
	t = now();
	for (long i = 0; i < reads; i++) {
		size_t pg = rnd() % pages;
		if (k[pg * PAGE + 1] != buf[pg * PAGE + 1])
			die("the local copy read a wrong byte", EIO);
	}
	double t_kmap = (now() - t) / (double)reads;
	munmap(k, size);
	printf("random 4 KiB read, QD1, kernel mmap of the local copy (MADV_RANDOM, cold): "
	       "%.1f us (the RADOS mapping: %.1f us)\n", t_kmap * 1e6, t_map * 1e6);
	if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
		die("posix_fadvise", EIO);
	k = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (k == MAP_FAILED || madvise(k, size, MADV_SEQUENTIAL))
		die("mmap (the local copy)", errno);
	t = now();
	for (size_t off = 0; off < size; off += PAGE)
		sum += (unsigned char)k[off];
	double kscan = now() - t;
	munmap(k, size);
	close(fd);
	printf("scan, kernel mmap of the local copy (MADV_SEQUENTIAL, cold): %.0f MB/s; "
	       "copy + scan %.2f s against the RADOS mapping's scan %.2f s\n",
	       (double)size / kscan / 1e6, copy_secs + kscan, secs);
	rados_remove(io, OID);
	rados_ioctx_destroy(io);
	rados_shutdown(cluster);
	free(scan);
	free(buf);
	return sum == 0xffffffffu; /* keeps the reads */
}
