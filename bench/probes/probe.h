/*
 * probe.h - what the standalone probes of bench/probes/ share: timing,
 * medians, userfaultfd set-up, a source file in the page cache.
 *
 * The probes measure directions for faultmap's fault path (issue 11) with
 * no engine: each builds the smallest version of one mechanism, times it
 * against the kernel in the same run, and prints medians. They are built by
 * `make bench` and are not tests: nothing is judged.
 */
#ifndef FM_PROBE_H
#define FM_PROBE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PG 4096ul
#define MAX_REPS 32

static inline double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A moment, on the wall clock and in CPU time used by the whole process
 * (every thread): the machine is shared, so the wall clock includes waits
 * for a CPU, which CPU time does not. */
struct stamp {
	double wall, cpu;
};

/* A cost in ns per page, both ways. */
struct cost {
	double wall, cpu;
};

static inline struct stamp stamp_now(void)
{
	struct timespec c;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
	return (struct stamp){now(), (double)c.tv_sec + (double)c.tv_nsec / 1e9};
}

/* thread_cpu - CPU seconds of the calling thread so far. */
static inline double thread_cpu(void)
{
	struct timespec c;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c);
	return (double)c.tv_sec + (double)c.tv_nsec / 1e9;
}

static inline struct cost cost_since(struct stamp a, size_t pages)
{
	struct stamp b = stamp_now();
	return (struct cost){(b.wall - a.wall) * 1e9 / (double)pages,
			     (b.cpu - a.cpu) * 1e9 / (double)pages};
}

static inline void die(const char *what)
{
	fprintf(stderr, "probe: %s: %s\n", what, strerror(errno));
	exit(1);
}

static inline int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* median - of v[0..n), which it sorts. */
static inline double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* median_cost - the medians of n costs (which it reorders), each way. */
static inline struct cost median_cost(struct cost *v, int n)
{
	double w[MAX_REPS], c[MAX_REPS];
	for (int i = 0; i < n; i++)
		w[i] = v[i].wall, c[i] = v[i].cpu;
	return (struct cost){median(w, n), median(c, n)};
}

static inline void print_cost(const char *label, int width, struct cost c)
{
	printf("  %-*s %8.0f ns/page wall %8.0f cpu\n", width, label, c.wall, c.cpu);
}

static inline long minflt_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* uffd_open - a userfaultfd with the features asked for (API handshake
 * done); exits with a message if the kernel lacks them. */
static inline int uffd_open(uint64_t features)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		die("userfaultfd");
	struct uffdio_api api = {.api = UFFD_API, .features = features};
	if (ioctl(fd, UFFDIO_API, &api) < 0)
		die("UFFDIO_API (features not supported here?)");
	return fd;
}

static inline void uffd_register(int uffd, void *addr, size_t len, uint64_t mode)
{
	struct uffdio_register r = {.range = {(uintptr_t)addr, len}, .mode = mode};
	if (ioctl(uffd, UFFDIO_REGISTER, &r) < 0)
		die("UFFDIO_REGISTER");
}

/* uffd_copy - UFFDIO_COPY len bytes from src to dst; EEXIST (already
 * there) counts as done. Return: 0 or -errno. Async-signal-safe. */
static inline int uffd_copy(int uffd, void *dst, const void *src, size_t len)
{
	struct uffdio_copy c = {.dst = (uintptr_t)dst, .src = (uintptr_t)src, .len = len};
	if (ioctl(uffd, UFFDIO_COPY, &c) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* uffd_continue - map the page-cache pages of [addr, addr+len) into the
 * MINOR-registered view; EEXIST (some already mapped) counts as done.
 * Return: 0 or -errno. Async-signal-safe. */
static inline int uffd_continue(int uffd, void *addr, size_t len)
{
	struct uffdio_continue c = {.range = {(uintptr_t)addr, len}};
	if (ioctl(uffd, UFFDIO_CONTINUE, &c) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* page_word - the pattern: word i of page pg of the source is
 * page_word(pg) + i, never 0, so a page seen before its data is complete
 * (zeros) is told apart. */
static inline uint64_t page_word(uint64_t pg)
{
	return pg * 0x9e3779b97f4a7c15ull + 1;
}

/* source_file - a file of len bytes in dir, every page starting with
 * page_word() + i in word i, read once so the page cache holds it; unlinked at once
 * (the fd keeps it). Return: the fd, read-only. */
static inline int source_file(const char *dir, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/fm-probe-%d", dir, (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		die(path);
	unlink(path);
	static unsigned char buf[1 << 20];
	for (size_t off = 0; off < len; off += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i += 8) {
			uint64_t w = page_word((off + i) / PG) + i % PG / 8;
			memcpy(buf + i, &w, 8);
		}
		if (pwrite(fd, buf, sizeof(buf), (off_t)off) != (ssize_t)sizeof(buf))
			die("pwrite (source)");
	}
	if (fdatasync(fd) < 0)
		die("fdatasync");
	return fd;
}

/* shuffled - a random permutation of 0..n-1 (fixed seed). */
static inline uint32_t *shuffled(size_t n)
{
	uint32_t *a = malloc(n * sizeof(*a));
	if (!a)
		die("malloc");
	uint64_t s = 0x5eed;
	for (size_t i = 0; i < n; i++)
		a[i] = (uint32_t)i;
	for (size_t i = n - 1; i > 0; i--) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		size_t j = s % (i + 1);
		uint32_t t = a[i];
		a[i] = a[j], a[j] = t;
	}
	return a;
}

/* touch - read the first word of each page of p (in order, or in the order
 * given); return how many were wrong. */
static inline size_t touch(const volatile unsigned char *p, size_t pages, const uint32_t *order)
{
	size_t bad = 0;
	for (size_t i = 0; i < pages; i++) {
		size_t pg = order ? order[i] : i;
		bad += *(const volatile uint64_t *)(p + pg * PG) != page_word(pg);
	}
	return bad;
}

struct probe_opts {
	size_t mib;	 /* --size */
	int reps;	 /* --reps, 1..MAX_REPS */
	const char *dir; /* --dir: where the source file goes */
	int no_set;	 /* --no-set (probe-mthp) */
};

/* probe_options - parse the probes' options into o (which holds the
 * defaults). Return: 0, or -1 on a bad or unknown option. */
static inline int probe_options(int argc, char **argv, struct probe_opts *o)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-set"))
			o->no_set = 1;
		else if (i + 1 < argc && !strcmp(argv[i], "--size"))
			o->mib = strtoul(argv[++i], NULL, 0);
		else if (i + 1 < argc && !strcmp(argv[i], "--reps"))
			o->reps = atoi(argv[++i]);
		else if (i + 1 < argc && !strcmp(argv[i], "--dir"))
			o->dir = argv[++i];
		else
			return -1;
	}
	return o->reps >= 1 && o->reps <= MAX_REPS && o->mib >= 1 ? 0 : -1;
}

static inline void print_load(void)
{
	double l[3];
	if (getloadavg(l, 3) == 3)
		printf("load average: %.2f %.2f %.2f (%ld CPUs)\n", l[0], l[1], l[2],
		       sysconf(_SC_NPROCESSORS_ONLN));
}

/* probe_start - parse the options (exit 2 with usage on a bad one), make
 * stdout line-buffered, make the source file of o->mib MiB and say what
 * runs. Return: the source file's fd. */
static inline int probe_start(int argc, char **argv, struct probe_opts *o, const char *name,
			      const char *extra_usage)
{
	if (probe_options(argc, argv, o) < 0) {
		fprintf(stderr, "usage: %s [--size MIB] [--reps 1-%d] [--dir DIR]%s\n", name,
			MAX_REPS, extra_usage);
		exit(2);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	int fd = source_file(o->dir, o->mib << 20);
	printf("%s: %zu MiB, %d reps (alternated), medians; source file in %s, cached\n", name,
	       o->mib, o->reps, o->dir);
	print_load();
	return fd;
}

#endif /* FM_PROBE_H */
