/*
 * probe-mthp - can the memfd's pages be large folios here (shmem mTHP), and
 * what do they change for a scan and a re-touch through a new mapping?
 *
 * memfds live on the kernel's internal shmem mount, governed by
 * /sys/kernel/mm/transparent_hugepage/shmem_enabled (PMD size) and, per
 * size, hugepages-<N>kB/shmem_enabled. The probe reads them, tries to set
 * them (root), and restores them on exit (also on SIGINT/SIGTERM/SIGHUP).
 * The machine-wide setting changes for the few seconds of each config:
 * memfds other programs create meanwhile may get large folios too.
 *
 * Each config, each rep, on a fresh memfd of --size MiB:
 *   fill      pread from a cached file into an unregistered view, 1 MiB a
 *             call (the "read straight into the memfd" way; UFFDIO_COPY
 *             only ever makes 4 KiB pages); the folios made are counted
 *             from hugepages-*kB/stats/shmem_alloc;
 *   pwrite    the same into a second memfd, through a buffer: pread, then
 *             pwrite to the memfd (shmem's write path); folios counted;
 *   scan      a new view, every 64-bit word summed;
 *   retouch   another new view, 8 bytes read per page (workload 6, new
 *             mapping); minor faults per page from getrusage;
 *   continue  a new view registered MINOR, UFFDIO_CONTINUE of 2 MiB at a
 *             time, then the same touch (nothing should fault).
 * And once, the kernel's own page cache: re-touch of the cached source
 * file through a new mapping (its folios come from readahead).
 *
 * Usage: probe-mthp [--size MIB] [--reps N] [--dir DIR] [--no-set]
 * (default 256, 5, /var/tmp). Prints medians in ns per page.
 */
#include "probe.h"

#include <dirent.h>
#include <signal.h>
#include <stdbool.h>

#define THP "/sys/kernel/mm/transparent_hugepage"
#define MAX_SIZES 16

static size_t len, npages;
static int src = -1;

/* ---- the settings ------------------------------------------------------- */

struct knob {
	char path[160];
	char orig[32];
	unsigned kb; /* 0: the top-level (PMD) knob */
};
static struct knob knobs[MAX_SIZES + 1];
static int nknobs;

static int read_line(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size - 1);
	int err = n < 0 ? -errno : 0;
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return err;
}

/* current - the bracketed word of a sysfs choice: "a [b] c" -> "b". */
static void current(const char *text, char *out, size_t size)
{
	const char *a = strchr(text, '['), *b = a ? strchr(a, ']') : NULL;
	snprintf(out, size, "%.*s", a && b ? (int)(b - a - 1) : 0, a ? a + 1 : "");
}

static int write_knob(const struct knob *k, const char *value)
{
	int fd = open(k->path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, value, strlen(value));
	int err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

static void restore(void)
{
	for (int i = 0; i < nknobs; i++)
		if (knobs[i].orig[0])
			write_knob(&knobs[i], knobs[i].orig);
}

static void on_signal(int sig)
{
	restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int cmp_knob(const void *a, const void *b)
{
	const struct knob *x = a, *y = b;
	return (x->kb > y->kb) - (x->kb < y->kb);
}

static void find_knobs(void)
{
	char text[200];
	struct knob *k = &knobs[nknobs++];
	snprintf(k->path, sizeof(k->path), THP "/shmem_enabled");
	if (read_line(k->path, text, sizeof(text)) == 0)
		current(text, k->orig, sizeof(k->orig));
	DIR *d = opendir(THP);
	struct dirent *e;
	while (d && (e = readdir(d)) && nknobs <= MAX_SIZES) {
		unsigned kb;
		if (sscanf(e->d_name, "hugepages-%ukB", &kb) != 1)
			continue;
		k = &knobs[nknobs];
		k->kb = kb;
		snprintf(k->path, sizeof(k->path), THP "/hugepages-%ukB/shmem_enabled", kb);
		if (read_line(k->path, text, sizeof(text)) == 0) {
			current(text, k->orig, sizeof(k->orig));
			nknobs++;
		}
	}
	if (d)
		closedir(d);
	qsort(knobs + 1, (size_t)nknobs - 1, sizeof(*knobs), cmp_knob);
}

/* apply - the top knob set to top; size kb_only's knob "always" (kb_only
 * 0: every size's), the PMD size's "inherit" (follow the top knob), every
 * other size "never". Return: 0 or -errno. */
static int apply(const char *top, unsigned kb_only)
{
	int err = write_knob(&knobs[0], top);
	for (int i = 1; i < nknobs && !err; i++)
		err = write_knob(&knobs[i], !kb_only || knobs[i].kb == kb_only ? "always"
					    : knobs[i].kb == 2048	       ? "inherit"
									       : "never");
	return err;
}

/* shmem_allocs - per size, the count of large shmem folios allocated so far. */
static void shmem_allocs(unsigned long *v)
{
	for (int i = 1; i < nknobs; i++) {
		char path[200], text[40];
		snprintf(path, sizeof(path), THP "/hugepages-%ukB/stats/shmem_alloc", knobs[i].kb);
		v[i] = read_line(path, text, sizeof(text)) == 0 ? strtoul(text, NULL, 10) : 0;
	}
}

/* ---- the measurements ---------------------------------------------------- */

enum { M_FILL, M_PWRITE, M_SCAN, M_RETOUCH, M_CONTINUE, M_COUNT };
static const char *const m_name[M_COUNT] = {
	"fill (pread into view)", "fill (pread to buffer, pwrite)", "scan, new view",
	"re-touch, new view", "MINOR view, CONTINUE 2M + touch"};

/* map_memfd - a view of the memfd at a 2 MiB-aligned address: a folio of
 * 2^k pages is mapped (and, on a fault, made) only where the address and
 * the file offset agree modulo its size. */
static unsigned char *map_memfd(int memfd)
{
	size_t align = 2ul << 20;
	unsigned char *r = mmap(NULL, len + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		die("mmap (reserve)");
	unsigned char *p = (unsigned char *)(((uintptr_t)r + align - 1) & ~(align - 1));
	if (p > r)
		munmap(r, (size_t)(p - r));
	munmap(p + len, (size_t)(r + align - p));
	if (mmap(p, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd, 0) == MAP_FAILED)
		die("mmap");
	return p;
}

/* pwrite_fill - fill a second memfd through a buffer and the write path:
 * its cost per page; the large folios it made in folios[]. */
static struct cost pwrite_fill(unsigned long *folios)
{
	static unsigned char buf[1 << 20] __attribute__((aligned(4096)));
	unsigned long a[MAX_SIZES + 1], b[MAX_SIZES + 1];
	int memfd = memfd_create("probe-w", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, (off_t)len) < 0)
		die("memfd");
	shmem_allocs(a);
	struct stamp t0 = stamp_now();
	for (size_t off = 0; off < len; off += sizeof(buf))
		if (pread(src, buf, sizeof(buf), (off_t)off) != sizeof(buf) ||
		    pwrite(memfd, buf, sizeof(buf), (off_t)off) != sizeof(buf))
			die("pread/pwrite");
	struct cost c = cost_since(t0, npages);
	shmem_allocs(b);
	for (int i = 1; i < nknobs; i++)
		folios[i] = b[i] - a[i];
	close(memfd);
	return c;
}

/* one_rep - the measurements on a fresh memfd: costs per page in t[],
 * minor faults per page of the re-touch in *flt, large folios made by the
 * fill in folios[], by the pwrite fill in wfolios[]. */
static void one_rep(struct cost *t, double *flt, unsigned long *folios, unsigned long *wfolios)
{
	unsigned long a[MAX_SIZES + 1], b[MAX_SIZES + 1];
	t[M_PWRITE] = pwrite_fill(wfolios);
	int memfd = memfd_create("probe", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, (off_t)len) < 0)
		die("memfd");
	unsigned char *d = map_memfd(memfd);
	shmem_allocs(a);
	struct stamp t0 = stamp_now();
	for (size_t off = 0; off < len; off += 1 << 20)
		if (pread(src, d + off, 1 << 20, (off_t)off) != 1 << 20)
			die("pread");
	t[M_FILL] = cost_since(t0, npages);
	shmem_allocs(b);
	for (int i = 1; i < nknobs; i++)
		folios[i] = b[i] - a[i];

	unsigned char *v = map_memfd(memfd);
	uint64_t sum = 0;
	t0 = stamp_now();
	for (size_t i = 0; i < len / 8; i++)
		sum += ((const volatile uint64_t *)v)[i];
	t[M_SCAN] = cost_since(t0, npages);
	if (sum == 42)
		printf(" ");
	munmap(v, len);

	v = map_memfd(memfd);
	long f0 = minflt_now();
	t0 = stamp_now();
	size_t bad = touch(v, npages, NULL);
	t[M_RETOUCH] = cost_since(t0, npages);
	*flt = (double)(minflt_now() - f0) / (double)npages;
	munmap(v, len);

	v = map_memfd(memfd);
	int uffd = uffd_open(UFFD_FEATURE_MINOR_SHMEM);
	uffd_register(uffd, v, len, UFFDIO_REGISTER_MODE_MINOR);
	t0 = stamp_now();
	for (size_t off = 0; off < len; off += 2 << 20) {
		int err = uffd_continue(uffd, v + off, 2 << 20);
		if (err) {
			errno = -err;
			die("UFFDIO_CONTINUE");
		}
	}
	bad += touch(v, npages, NULL);
	t[M_CONTINUE] = cost_since(t0, npages);
	close(uffd);
	munmap(v, len);
	munmap(d, len);
	close(memfd);
	if (bad)
		fprintf(stderr, "probe-mthp: %zu pages read wrong\n", bad);
}

static void run_config(const char *name, int reps)
{
	struct cost t[M_COUNT][MAX_REPS];
	double f[MAX_REPS];
	unsigned long folios[2][MAX_SIZES + 1] = {{0}}, total[2][MAX_SIZES + 1] = {{0}};
	for (int r = 0; r < reps; r++) {
		struct cost one[M_COUNT];
		one_rep(one, &f[r], folios[0], folios[1]);
		for (int m = 0; m < M_COUNT; m++)
			t[m][r] = one[m];
		for (int w = 0; w < 2; w++)
			for (int i = 1; i < nknobs; i++)
				total[w][i] += folios[w][i];
	}
	printf("\n%s:\n", name);
	for (int w = 0; w < 2; w++) {
		printf("  large folios made per fill, %s:", w ? "pwrite" : "pread into view");
		bool any = false;
		for (int i = 1; i < nknobs; i++)
			if (total[w][i]) {
				printf(" %ukB x %lu", knobs[i].kb, total[w][i] / (unsigned long)reps);
				any = true;
			}
		printf("%s\n", any ? "" : " none counted (4 KiB pages)");
	}
	for (int m = 0; m < M_COUNT; m++)
		print_cost(m_name[m], 34, median_cost(t[m], reps));
	printf("  %-34s %7.4f\n", "re-touch minor faults per page", median(f, reps));
}

int main(int argc, char **argv)
{
	struct probe_opts po = {.mib = 256, .reps = 5, .dir = "/var/tmp"};
	src = probe_start(argc, argv, &po, "probe-mthp", " [--no-set]");
	int reps = po.reps;
	bool set = !po.no_set;
	const char *dir = po.dir;
	len = po.mib << 20;
	if (po.mib % 2) {
		fprintf(stderr, "probe-mthp: --size must be even (whole 2 MiB folios)\n");
		return 2;
	}
	npages = len / PG;
	find_knobs();
	printf("settings found:");
	for (int i = 0; i < nknobs; i++)
		printf(" %s=%s", i ? strrchr(knobs[i].path, '-') + 1 : "shmem_enabled",
		       knobs[i].orig[0] ? knobs[i].orig : "?");
	printf("\n");
	atexit(restore);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	{ /* the kernel's page cache, re-touched through a new mapping */
		struct cost t[MAX_REPS];
		double f[MAX_REPS];
		for (int r = 0; r < reps; r++) {
			unsigned char *p = mmap(NULL, len, PROT_READ, MAP_SHARED, src, 0);
			if (p == MAP_FAILED)
				die("mmap source");
			long f0 = minflt_now();
			struct stamp t0 = stamp_now();
			if (touch(p, npages, NULL))
				fprintf(stderr, "probe-mthp: source read wrong\n");
			t[r] = cost_since(t0, npages);
			f[r] = (double)(minflt_now() - f0) / (double)npages;
			munmap(p, len);
		}
		struct cost m = median_cost(t, reps);
		printf("\nkernel page cache (the file in %s), re-touch, new mapping: %.1f ns/page "
		       "wall, %.1f cpu, %.4f minor faults/page\n", dir, m.wall, m.cpu,
		       median(f, reps));
	}

	if (!set) {
		run_config("as set now", reps);
		return 0;
	}
	int err = apply("never", ~0u);
	if (err) {
		printf("\ncannot set shmem_enabled here (%s): measuring the settings as they are\n",
		       strerror(-err));
		restore();
		run_config("as set now", reps);
		return 0;
	}
	run_config("4 KiB pages (shmem_enabled=never, hugepages-2048kB inherit, others never)",
		   reps);
	static const unsigned sizes[] = {16, 64, 512};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char name[100];
		snprintf(name, sizeof(name), "hugepages-%ukB/shmem_enabled=always (shmem_enabled=never)",
			 sizes[i]);
		if (apply("never", sizes[i]) == 0)
			run_config(name, reps);
	}
	if (apply("always", ~0u) == 0)
		run_config("shmem_enabled=always, hugepages-2048kB inherit (2 MiB folios)", reps);
	if (apply("always", 0) == 0)
		run_config("shmem_enabled=always, every hugepages-*kB always", reps);
	restore();
	printf("\nsettings restored:");
	for (int i = 0; i < nknobs; i++) {
		char text[200], cur[32];
		read_line(knobs[i].path, text, sizeof(text));
		current(text, cur, sizeof(cur));
		printf(" %s", cur);
	}
	printf("\n");
	print_load();
	return 0;
}
