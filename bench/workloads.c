/*
 * workloads.c - what one child of fm-bench does: map the file the way its
 * contender does, run one workload, and report into a struct outcome.
 *
 * Every access checks what it read (the page's tag, or a scan's sum), so a
 * contender that serves wrong data is caught, not timed. Timing uses
 * CLOCK_MONOTONIC around the measured part only (the mapping, the engine's
 * start and the setup are outside it).
 */
#include "bench.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

/* workload_label - a workload's number as the tables show it ("3b"). */
const char *workload_label(int w)
{
	static const char *const label[W_COUNT] = {
		[W_FAULT] = "1", [W_SCAN] = "2", [W_RANDOM] = "3", [W_ZIPF] = "4",
		[W_WRITE] = "5", [W_RETOUCH] = "6", [W_RANDOM_MT] = "3b",
		[W_MAPCALLS] = "7",
	};
	return w > 0 && w < W_COUNT ? label[w] : "?";
}

double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- mapping, the way each contender does it ----------------------------- */

static void *(*umap_fn)(void *, size_t, int, int, int, off_t);
static int (*uunmap_fn)(void *, size_t);

static int ct;	/* this child's contender */
static struct outcome *result;

static void fail(const char *what)
{
	snprintf(result->msg, sizeof(result->msg), "%s: %s", what, strerror(errno));
	_exit(3);
}

static void skip(const char *why)
{
	result->skipped = 1;
	snprintf(result->msg, sizeof(result->msg), "%s", why);
	_exit(0);
}

static bool is_fm(void)
{
	return ct == CT_FM || ct == CT_FM_HINT || ct == CT_FM_DAEMON || ct == CT_FM_INLINE;
}

/* ---- daemon mode: a daemon of the job's own -------------------------------- */

static pid_t daemon_child; /* the job's daemon (CT_FM_DAEMON), or 0 */
static char daemon_dir[64];

/* daemon_cpu - the daemon's user + system seconds so far (/proc, in clock
 * ticks): its fault thread serves the job's misses, so its time is the
 * job's too. */
static double daemon_cpu(void)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)daemon_child);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* start_daemon - run `faultmap daemon --foreground` (beside fm-bench) as a
 * child, with the job's budget, in a runtime directory of its own, and put
 * this process in daemon mode; it dies with the job (PR_SET_PDEATHSIG). */
static void start_daemon(const struct job *job)
{
	char *dir = daemon_dir, exe[4096], bin[4200], budget[32];
	snprintf(daemon_dir, sizeof(daemon_dir), "/tmp/fm-bench-daemon.XXXXXX");
	if (!mkdtemp(dir) || chmod(dir, 0700))
		fail("mkdtemp");
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		fail("readlink /proc/self/exe");
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(bin, sizeof(bin), "%s/faultmap", exe);
	snprintf(budget, sizeof(budget), "%zu", (size_t)job->budget);
	setenv("XDG_RUNTIME_DIR", dir, 1);
	setenv("FAULTMAP_BUDGET", budget, 1);
	pid_t pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(bin, bin, "daemon", "--foreground", (char *)NULL);
		_exit(127);
	}
	daemon_child = pid;
	char sock[128];
	snprintf(sock, sizeof(sock), "%s/faultmap/daemon.sock", dir);
	for (int i = 0; i < 1000 && access(sock, F_OK); i++)
		usleep(5000);
	if (fm_set_mode(FM_MODE_DAEMON))
		fail("fm_set_mode");
	struct fm_stats st; /* connect now, not in the measured part */
	if (fm_stats(&st))
		skip("faultmap daemon mode cannot start here");
}

static bool hinted(void)
{
	return ct == CT_FM_HINT || ct == CT_KERNEL_HINT;
}

static void *map_file(size_t len, int prot, int flags, int fd)
{
	void *p;
	if (is_fm())
		p = fm_mmap(NULL, len, prot, flags, fd, 0);
	else if (ct == CT_UMAP)
		p = umap_fn(NULL, len, prot | PROT_WRITE, MAP_PRIVATE, fd, 0);
	else
		p = mmap(NULL, len, prot, flags, fd, 0);
	if (p == MAP_FAILED) {
		if (is_fm() && (errno == EPERM || errno == ENOTSUP)) {
			char why[160];
			snprintf(why, sizeof(why), "faultmap cannot start here: fm_mmap: %s",
				 strerror(errno));
			skip(why);
		}
		fail(is_fm() ? "fm_mmap" : ct == CT_UMAP ? "umap" : "mmap");
	}
	return p;
}

static void unmap_file(void *p, size_t len)
{
	int err = is_fm() ? fm_munmap(p, len) : ct == CT_UMAP ? uunmap_fn(p, len) : munmap(p, len);
	if (err)
		fail("munmap");
}

static void advise(void *p, size_t len, int advice)
{
	if (!hinted())
		return;
	if ((is_fm() ? fm_madvise(p, len, advice) : madvise(p, len, advice)) < 0)
		fail("madvise");
}

static void sync_file(void *p, size_t len)
{
	if ((is_fm() ? fm_msync(p, len, MS_SYNC) : msync(p, len, MS_SYNC)) < 0)
		fail("msync");
}

static int open_file(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		fail("open");
	return fd;
}

static void load_umap(const struct job *job)
{
	char env[32];
	snprintf(env, sizeof(env), "%llu", (unsigned long long)(job->budget / PG));
	setenv("UMAP_BUFSIZE", env, 1);
	void *h = dlopen(job->umap_lib, RTLD_NOW);
	if (!h) {
		char why[200];
		snprintf(why, sizeof(why), "UMap: dlopen: %s", dlerror());
		skip(why);
	}
	*(void **)&umap_fn = dlsym(h, "umap");
	*(void **)&uunmap_fn = dlsym(h, "uunmap");
	void (*set_buf)(uint64_t);
	*(void **)&set_buf = dlsym(h, "umapcfg_set_max_pages_in_buffer");
	if (!umap_fn || !uunmap_fn)
		skip("UMap: libumap has no umap/uunmap");
	if (set_buf)
		set_buf(job->budget / PG);
}

/* ---- measurement helpers ------------------------------------------------- */

struct snap {
	struct fm_stats fm;
	long majflt, minflt;
	double cpu;
};

static double tv_sec(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

/* snap_take - the process's counters now. RUSAGE_SELF covers every thread
 * of the process, the engine's fault and readahead threads included. */
static void snap_take(struct snap *s)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	s->majflt = ru.ru_majflt;
	s->minflt = ru.ru_minflt;
	s->cpu = tv_sec(ru.ru_utime) + tv_sec(ru.ru_stime);
	if (daemon_child)
		s->cpu += daemon_cpu();
	if (is_fm())
		fm_stats(&s->fm);
}

/* snap_add - add the counters between a and b to the outcome. */
static void snap_add(const struct snap *a, const struct snap *b)
{
	result->majflt += b->majflt - a->majflt;
	result->minflt += b->minflt - a->minflt;
	result->cpu += b->cpu - a->cpu;
	if (!is_fm())
		return;
	struct fm_stats *o = &result->fm;
	result->have_fm = true;
	o->budget_bytes = b->fm.budget_bytes;
	o->resident_bytes = b->fm.resident_bytes;
	o->dirty_bytes = b->fm.dirty_bytes;
	o->major_faults += b->fm.major_faults - a->fm.major_faults;
	o->minor_faults += b->fm.minor_faults - a->fm.minor_faults;
	o->write_faults += b->fm.write_faults - a->fm.write_faults;
	o->pages_read += b->fm.pages_read - a->fm.pages_read;
	o->pages_written += b->fm.pages_written - a->fm.pages_written;
	o->evictions += b->fm.evictions - a->fm.evictions;
	o->refaults += b->fm.refaults - a->fm.refaults;
	o->read_errors += b->fm.read_errors - a->fm.read_errors;
	o->writeback_errors += b->fm.writeback_errors - a->fm.writeback_errors;
}

static inline uint64_t load_tag(const unsigned char *page)
{
	uint64_t v;
	memcpy(&v, page, 8);
	return v;
}

/* touch_pass - read the tag of each page of p (in order, or in order[]);
 * return the number of wrong tags. */
static uint64_t touch_pass(const unsigned char *p, uint64_t pages, const uint32_t *order)
{
	uint64_t bad = 0;
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t pg = order ? order[i] : i;
		bad += load_tag(p + pg * PG) != page_tag(pg);
	}
	return bad;
}

static uint64_t scan_mapping(const unsigned char *p, uint64_t bytes)
{
	uint64_t sum = 0;
	for (uint64_t off = 0; off < bytes; off += PG)
		sum += page_words_sum(p + off);
	return sum;
}

static void read_all(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("pread");
		done += (size_t)n;
	}
}

static uint64_t scan_pread(int fd, unsigned char *buf, uint64_t bytes)
{
	uint64_t sum = 0;
	for (uint64_t off = 0; off < bytes; off += MIB) {
		size_t len = bytes - off < MIB ? (size_t)(bytes - off) : MIB;
		read_all(fd, buf, len, (off_t)off);
		for (size_t i = 0; i < len; i += PG)
			sum += page_words_sum(buf + i);
	}
	return sum;
}

static void check_sum(uint64_t got, uint64_t want, const char *what)
{
	if (got == want)
		return;
	result->data_errors++;
	snprintf(result->msg, sizeof(result->msg), "%s: sum of the file's words %#llx, expected %#llx",
		 what, (unsigned long long)got, (unsigned long long)want);
}

static void check_tags(uint64_t bad, const char *what)
{
	if (!bad)
		return;
	result->data_errors += bad;
	snprintf(result->msg, sizeof(result->msg), "%s: %llu pages read with a wrong tag", what,
		 (unsigned long long)bad);
}

/* ---- 1. fault path, no I/O: first touch on tmpfs -------------------------- */

static void w_fault(const struct job *job)
{
	uint64_t pages = job->file_bytes / PG;
	int fd = open_file(job->path, O_RDONLY);
	unsigned char *p = map_file(job->file_bytes, PROT_READ, job->map_flags, fd);
	advise(p, job->file_bytes, job->variant ? MADV_RANDOM : MADV_SEQUENTIAL);
	struct snap a, b;
	snap_take(&a);
	double t0 = now_sec();
	uint64_t bad = touch_pass(p, pages, job->variant ? job->order : NULL);
	result->seconds = now_sec() - t0;
	snap_take(&b);
	snap_add(&a, &b);
	result->ops = pages;
	result->bytes = job->file_bytes;
	check_tags(bad, "first touch");
	unmap_file(p, job->file_bytes);
	close(fd);
}

/* ---- 2. cold sequential scan --------------------------------------------- */

static void w_scan(const struct job *job)
{
	int fd = open_file(job->path, O_RDONLY);
	struct snap a, b;
	uint64_t sum;
	if (ct == CT_PREAD) {
		unsigned char *buf = aligned_alloc(4096, MIB);
		snap_take(&a);
		double t0 = now_sec();
		sum = scan_pread(fd, buf, job->file_bytes);
		result->seconds = now_sec() - t0;
		snap_take(&b);
		free(buf);
	} else {
		unsigned char *p = map_file(job->file_bytes, PROT_READ, job->map_flags, fd);
		advise(p, job->file_bytes, MADV_SEQUENTIAL);
		snap_take(&a);
		double t0 = now_sec();
		sum = scan_mapping(p, job->file_bytes);
		result->seconds = now_sec() - t0;
		snap_take(&b);
		unmap_file(p, job->file_bytes);
	}
	snap_add(&a, &b);
	result->ops = job->file_bytes / PG;
	result->bytes = job->file_bytes;
	check_sum(sum, job->expect_sum, "scan");
	close(fd);
}

/* ---- 3. uniform random 4 KiB reads, N threads ------------------------------ */

struct reader {
	pthread_t tid;
	const struct job *job;
	const unsigned char *map; /* or NULL: pread */
	int fd;
	uint64_t seed, ops, bad;
};

static atomic_int go, stop;

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint64_t pages = r->job->file_bytes / PG, s = r->seed;
	unsigned char *buf = aligned_alloc(4096, PG);
	while (!atomic_load(&go))
		;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t pg = xrand(&s) % pages;
		const unsigned char *src = r->map ? r->map + pg * PG : buf;
		if (!r->map)
			read_all(r->fd, buf, PG, (off_t)(pg * PG));
		r->bad += page_words_sum(src) != page_sum(pg);
		r->ops++;
	}
	free(buf);
	return NULL;
}

static void w_random(const struct job *job)
{
	int fd = open_file(job->path, O_RDONLY);
	unsigned char *p = NULL;
	if (ct != CT_PREAD) {
		p = map_file(job->file_bytes, PROT_READ, job->map_flags, fd);
		advise(p, job->file_bytes, MADV_RANDOM);
	}
	struct reader r[64];
	int n = job->threads < 64 ? job->threads : 64;
	atomic_store(&go, 0);
	atomic_store(&stop, 0);
	for (int i = 0; i < n; i++) {
		r[i] = (struct reader){.job = job, .map = p, .fd = fd,
				       .seed = job->seed + 0x1234567ULL * (uint64_t)(i + 1)};
		if (pthread_create(&r[i].tid, NULL, reader_main, &r[i]))
			fail("pthread_create");
	}
	struct snap a, b;
	snap_take(&a);
	double t0 = now_sec();
	atomic_store(&go, 1);
	struct timespec d = {(time_t)job->duration,
			     (long)((job->duration - (double)(time_t)job->duration) * 1e9)};
	while (nanosleep(&d, &d) < 0 && errno == EINTR)
		;
	atomic_store(&stop, 1);
	uint64_t ops = 0, bad = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(r[i].tid, NULL);
		ops += r[i].ops;
		bad += r[i].bad;
	}
	result->seconds = now_sec() - t0;
	snap_take(&b);
	snap_add(&a, &b);
	result->ops = ops;
	result->bytes = ops * PG;
	check_tags(bad, "random reads");
	if (p)
		unmap_file(p, job->file_bytes);
	close(fd);
}

/* ---- 4. hot set plus scans ------------------------------------------------ */

/* probe - is page pg resident now? mincore on the mapping, or for pread a
 * RWF_NOWAIT read that only succeeds from the page cache (it is then the
 * access itself: *served). */
static bool probe(const unsigned char *p, int fd, uint64_t pg, unsigned char *buf,
		  bool *served)
{
	*served = false;
	if (p) {
		unsigned char vec = 0;
		if (mincore((void *)(p + pg * PG), PG, &vec) < 0)
			result->probes_ok = false;
		return vec & 1;
	}
	struct iovec iov = {buf, PG};
	ssize_t n = preadv2(fd, &iov, 1, (off_t)(pg * PG), RWF_NOWAIT);
	if (n < 0 && errno != EAGAIN)
		result->probes_ok = false;
	*served = n == (ssize_t)PG;
	return *served;
}

/* zipf_phase - the reads of one phase; counted phases add to the outcome. */
static void zipf_phase(const struct job *job, const unsigned char *p, int fd,
		       const uint32_t *pages, bool counted)
{
	unsigned char *buf = aligned_alloc(4096, PG);
	uint64_t hits = 0, samples = 0, bad = 0;
	advise((void *)p, job->file_bytes, MADV_RANDOM);
	struct snap a, b;
	snap_take(&a);
	double t0 = now_sec(), cap = t0 + job->phase_cap;
	size_t i;
	for (i = 0; i < job->zipf_per_phase; i++) {
		if (i % 64 == 0 && i && now_sec() > cap) {
			result->capped++;
			break;
		}
		uint64_t pg = pages[i];
		bool served = false;
		if (job->sample_every && i % job->sample_every == 0) {
			samples++;
			hits += probe(p, fd, pg, buf, &served);
		}
		if (!p && !served)
			read_all(fd, buf, PG, (off_t)(pg * PG));
		bad += page_words_sum(p ? p + pg * PG : buf) != page_sum(pg);
	}
	double t = now_sec() - t0;
	snap_take(&b);
	free(buf);
	check_tags(bad, "zipf reads");
	if (!counted)
		return;
	snap_add(&a, &b);
	result->seconds += t;
	result->ops += i;
	result->bytes += i * PG;
	result->samples += samples;
	result->sample_hits += hits;
	result->accesses += i;
	if (is_fm()) {
		result->misses += b.fm.major_faults - a.fm.major_faults;
		result->have_misses = true;
	} else if (p) {
		result->misses += (uint64_t)(b.majflt - a.majflt);
		result->have_misses = true;
	}
}

static void w_zipf(const struct job *job)
{
	int fd = open_file(job->path, O_RDONLY);
	unsigned char *p = NULL, *buf = NULL;
	if (ct == CT_PREAD)
		buf = aligned_alloc(4096, MIB);
	else
		p = map_file(job->file_bytes, PROT_READ, job->map_flags, fd);
	result->probes_ok = true;
	zipf_phase(job, p, fd, job->zipf, false); /* warm-up */
	for (int k = 1; k <= job->phases; k++) {
		advise(p, job->file_bytes, MADV_SEQUENTIAL);
		double t0 = now_sec();
		uint64_t sum = p ? scan_mapping(p, job->file_bytes)
				 : scan_pread(fd, buf, job->file_bytes);
		result->seconds2 += now_sec() - t0;
		result->bytes2 += job->file_bytes;
		result->ops2 += job->file_bytes / PG;
		check_sum(sum, job->expect_sum, "scan");
		zipf_phase(job, p, fd, job->zipf + (size_t)k * job->zipf_per_phase, true);
	}
	if (p)
		unmap_file(p, job->file_bytes);
	free(buf);
	close(fd);
}

/* ---- 5. random writes through a shared mapping, periodic msync ----------- */

static void w_write(const struct job *job)
{
	uint64_t pages = job->file_bytes / PG, s = job->seed, i = 0;
	int fd = open_file(job->path, O_RDWR);
	unsigned char *p = NULL;
	if (ct != CT_PREAD) {
		p = map_file(job->file_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
		advise(p, job->file_bytes, MADV_RANDOM);
	}
	struct snap a, b;
	snap_take(&a);
	double t0 = now_sec(), end = t0 + job->duration;
	for (;; i++) {
		if (i % 64 == 0 && now_sec() >= end)
			break;
		uint64_t pg = xrand(&s) % pages, v = write_value(job->nonce, i);
		if (p) {
			memcpy(p + pg * PG + slot_of(pg), &v, 8);
		} else if (pwrite(fd, &v, 8, (off_t)(pg * PG + slot_of(pg))) != 8) {
			fail("pwrite");
		}
		if ((i + 1) % job->msync_every == 0) {
			if (p)
				sync_file(p, job->file_bytes);
			else if (fdatasync(fd) < 0)
				fail("fdatasync");
		}
	}
	if (p)
		sync_file(p, job->file_bytes);
	else if (fdatasync(fd) < 0)
		fail("fdatasync");
	result->seconds = now_sec() - t0;
	snap_take(&b);
	snap_add(&a, &b);
	result->ops = i;
	result->bytes = i * 8;
	if (p)
		unmap_file(p, job->file_bytes);
	close(fd);
}

/* ---- 6. re-touch resident pages ------------------------------------------- */

static void w_retouch(const struct job *job)
{
	uint64_t pages = job->file_bytes / PG;
	int fd = open_file(job->path, O_RDONLY);
	unsigned char *p = map_file(job->file_bytes, PROT_READ, job->map_flags, fd);
	advise(p, job->file_bytes, MADV_SEQUENTIAL);
	double t0 = now_sec();
	uint64_t bad = touch_pass(p, pages, NULL);
	result->seconds2 = now_sec() - t0;
	result->ops2 = pages;
	unsigned char *q = p;
	if (job->variant) { /* a second mapping of the same, resident, file */
		q = map_file(job->file_bytes, PROT_READ, job->map_flags, fd);
		advise(q, job->file_bytes, MADV_SEQUENTIAL);
	}
	struct snap a, b;
	snap_take(&a);
	t0 = now_sec();
	bad += touch_pass(q, pages, NULL);
	result->seconds = now_sec() - t0;
	snap_take(&b);
	snap_add(&a, &b);
	result->ops = pages;
	result->bytes = job->file_bytes;
	check_tags(bad, "re-touch");
	if (q != p)
		unmap_file(q, job->file_bytes);
	unmap_file(p, job->file_bytes);
	close(fd);
}

/* ---- 7. the mapping calls ------------------------------------------------- */

/*
 * w_mapcalls - one mapping call in a loop for job->duration seconds, on a
 * small shared mapping whose pages are resident (the cost of the call, not
 * of faults): mmap + munmap of 16 pages; mprotect between read-only and
 * read-write; mremap between 8 and 4 pages (MREMAP_MAYMOVE); msync
 * (MS_ASYNC). In daemon mode each is a request to the daemon.
 */
static void w_mapcalls(const struct job *job)
{
	size_t len = 16 * PG, half = 8 * PG;
	int fd = open_file(job->path, O_RDWR);
	bool fm = is_fm();
	char *p = map_file(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	for (size_t i = 0; i < len; i += PG)
		p[i] = (char)(p[i] + 1); /* resident and dirty, as a program's would be */
	size_t cur = len;
	if (job->variant == MC_MREMAP) { /* the mremap loop works on an 8-page one */
		char *q = fm ? fm_mremap(p, len, half, 0) : mremap(p, len, half, 0);
		if (q == MAP_FAILED)
			fail("mremap");
		cur = half;
	}
	struct snap a, b;
	snap_take(&a);
	double t0 = now_sec(), t = t0;
	uint64_t calls = 0;
	while (t - t0 < job->duration) {
		for (int k = 0; k < 64; k++, calls++) {
			int err = 0;
			switch (job->variant) {
			case MC_MMAP_MUNMAP: {
				char *q = map_file(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
				unmap_file(q, len);
				break;
			}
			case MC_MPROTECT: {
				int prot = calls & 1 ? PROT_READ : PROT_READ | PROT_WRITE;
				err = fm ? fm_mprotect(p, cur, prot) : mprotect(p, cur, prot);
				break;
			}
			case MC_MREMAP: {
				size_t to = cur == half ? half / 2 : half;
				char *q = fm ? fm_mremap(p, cur, to, MREMAP_MAYMOVE)
					     : mremap(p, cur, to, MREMAP_MAYMOVE);
				if (q == MAP_FAILED)
					fail("mremap");
				p = q, cur = to;
				break;
			}
			default:
				err = fm ? fm_msync(p, cur, MS_ASYNC) : msync(p, cur, MS_ASYNC);
				break;
			}
			if (err)
				fail("mapping call");
		}
		t = now_sec();
	}
	result->seconds = t - t0;
	snap_take(&b);
	snap_add(&a, &b);
	result->ops = calls;
	result->bytes = 0;
	unmap_file(p, cur);
	close(fd);
}

/* ---- fio: the device's ceiling in workloads 2, 3 and 3b ------------------ */

/* fio_field - field n (from 1) of fio's terse line, as a number. */
static double fio_field(const char *line, int n)
{
	const char *p = line;
	for (int i = 1; i < n && p; i++) {
		p = strchr(p, ';');
		if (p)
			p++;
	}
	return p ? strtod(p, NULL) : -1;
}

/* w_fio - run fio on the file as one job: O_DIRECT reads through io_uring,
 * 1 MiB sequential at queue depth 4 (workload 2), or 4 KiB uniform random
 * at queue depth = the variant's threads, for the duration (3, 3b). Its
 * CPU time is the job process's over the run, as fio reports it (usr% and
 * sys% of the run, from the job's getrusage); that of the whole of fio,
 * start-up and the job process it reaps included (wait4), goes in the
 * message. fio checks no data: it reads with O_DIRECT. */
static void w_fio(const struct job *job)
{
	bool scan = job->workload == W_SCAN;
	char file[340], size[48], depth[32], runtime[48], seed[48];
	snprintf(file, sizeof(file), "--filename=%s", job->path);
	snprintf(size, sizeof(size), "--size=%llu", (unsigned long long)job->file_bytes);
	snprintf(depth, sizeof(depth), "--iodepth=%d", scan ? 4 : job->threads);
	snprintf(runtime, sizeof(runtime), "--runtime=%lldms",
		 (long long)(job->duration * 1000 + 0.5));
	snprintf(seed, sizeof(seed), "--randseed=%llu", (unsigned long long)job->seed);
	const char *argv[24] = {job->fio, "--name=fmbench", file, size, depth, "--readonly",
				"--direct=1", "--ioengine=io_uring", "--output-format=terse",
				"--terse-version=3", "--invalidate=1"};
	int n = 11;
	if (scan) {
		argv[n++] = "--rw=read", argv[n++] = "--bs=1M";
	} else {
		argv[n++] = "--rw=randread", argv[n++] = "--bs=4k", argv[n++] = "--norandommap";
		argv[n++] = seed, argv[n++] = "--time_based", argv[n++] = runtime;
	}
	argv[n] = NULL;
	int out[2];
	if (pipe(out) < 0)
		fail("pipe");
	pid_t pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(out[1], 2);
		close(out[0]);
		close(out[1]);
		execv(job->fio, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	static char text[16384];
	size_t len = 0;
	ssize_t got;
	while ((got = read(out[0], text + len, sizeof(text) - 1 - len)) > 0 ||
	       (got < 0 && errno == EINTR))
		len += got > 0 ? (size_t)got : 0;
	text[len] = 0;
	close(out[0]);
	int status;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) < 0)
		fail("wait4 (fio)");
	const char *line = strstr(text, "3;fio-");
	if (!WIFEXITED(status) || WEXITSTATUS(status) || !line || fio_field(line, 5) != 0) {
		char why[200], *nl = strchr(text, '\n');
		if (nl)
			*nl = 0;
		snprintf(why, sizeof(why), "fio failed (status %#x): %.150s", status, text);
		skip(why);
	}
	double kib = fio_field(line, 6), ms = fio_field(line, 9);
	result->seconds = ms / 1000;
	result->bytes = (uint64_t)(kib * 1024);
	result->ops = result->bytes / PG;
	result->cpu = (fio_field(line, 88) + fio_field(line, 89)) / 100 * result->seconds;
	snprintf(result->msg, sizeof(result->msg),
		 "no data check (O_DIRECT); cpu: fio's job over the run; whole fio with "
		 "start-up: %.2f us/op", (tv_sec(ru.ru_utime) + tv_sec(ru.ru_stime)) * 1e6 /
		 (double)(result->ops ? result->ops : 1));
}

/* run_job - the child's body: set up the contender, run the workload. */
void run_job(const struct job *job, struct outcome *out)
{
	result = out;
	ct = job->contender;
	if (ct == CT_FM_DAEMON) {
		start_daemon(job);
	} else if (is_fm()) { /* the process's own engine (fm-daemon: the daemon's) */
		if (fm_set_mode(FM_MODE_EMBEDDED))
			fail("fm_set_mode");
		if (ct == CT_FM_INLINE) /* read when the engine starts, at the first map */
			setenv("FAULTMAP_INLINE_FAULTS", "1", 1);
		else
			unsetenv("FAULTMAP_INLINE_FAULTS");
		int err = fm_set_budget(job->budget);
		if (err) {
			errno = -err;
			fail("fm_set_budget");
		}
	} else if (ct == CT_UMAP) {
		load_umap(job);
	} else if (ct == CT_FIO) {
		if (!job->fio)
			skip("fio not installed (Debian package fio)");
		w_fio(job);
		out->done = 1;
		return;
	}
	switch (job->workload) {
	case W_FAULT: w_fault(job); break;
	case W_SCAN: w_scan(job); break;
	case W_RANDOM:
	case W_RANDOM_MT: w_random(job); break;
	case W_ZIPF: w_zipf(job); break;
	case W_WRITE: w_write(job); break;
	case W_RETOUCH: w_retouch(job); break;
	case W_MAPCALLS: w_mapcalls(job); break;
	default: break;
	}
	if (daemon_child) { /* stop it (it writes back) and remove its directory */
		/* This process is still its client: its watcher would say that
		 * the daemon is gone, which is no news here. */
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDERR_FILENO);
			close(null);
		}
		kill(daemon_child, SIGTERM);
		waitpid(daemon_child, NULL, 0);
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", daemon_dir);
		if (system(cmd)) {
		}
	}
	out->done = 1;
}
