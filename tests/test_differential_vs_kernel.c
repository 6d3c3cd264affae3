/*
 * The differential suite: random sequences of map, unmap (whole and
 * partial), read, write, msync, madvise, mprotect, mremap, pread, pwrite
 * (also past EOF), ftruncate and verify over several files whose sizes are
 * not page multiples, run side by side on two copies of each file, one
 * through the kernel's mmap and one through faultmap. Every byte read and the
 * final files must match. Run with a roomy budget and with 16 pages, so that
 * eviction and write-back happen mid-sequence, and with files of up to 1536
 * pages in a 2048-page cache, so that streams are read ahead. In embedded
 * mode the last two run again with FAULTMAP_INLINE_FAULTS=1: the misses of
 * views that never track writes served by the thread that faulted.
 *
 * FM_DIFF_SEQUENCES and FM_DIFF_OPS change the size; FM_DIFF_SEED the seed.
 * It runs embedded (its budgets and counters are its own engine's), unless
 * FM_DIFF_DAEMON=1 asks for the daemon: then the same comparisons run
 * against the daemon's cache, at the daemon's budget (FAULTMAP_BUDGET when
 * it starts), and the counters are not checked.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

TSAN_SIGNAL_UNSAFE_ALLOWED

#define NFILES 3
#define MAXMAPS 24

struct file {
	char kpath[64], fpath[64];
	int krw, kro, frw, fro;
	size_t size;
};

struct map {
	unsigned char *k, *f;
	size_t len; /* bytes, page multiple */
	size_t off; /* file offset */
	int file, prot, shared;
};

static struct file files[NFILES];
static struct map maps[MAXMAPS];
static int nmaps;
static uint64_t rs;
/* A second stream, for the variants within an operation (a part made the
 * other protection and back, a move with MREMAP_FIXED): rs, and so the
 * sequence of operations of a seed, stays what it was without them. */
static uint64_t rs2;
static unsigned long long ops_done, bytes_compared;

static void fail_at(int seq, int op, const char *what)
{
	fprintf(stderr, "sequence %d op %d: %s\n", seq, op, what);
	exit(1);
}

/* Bytes of mapping m that lie in pages the file has (no SIGBUS). */
static size_t readable(const struct map *m)
{
	size_t file_pages_end = (files[m->file].size + PS - 1) / PS * PS;
	if (m->off >= file_pages_end)
		return 0;
	size_t n = file_pages_end - m->off;
	return n < m->len ? n : m->len;
}

static void op_map(int seq, int op)
{
	if (nmaps == MAXMAPS)
		return;
	int fi = (int)(rnd(&rs) % NFILES);
	struct file *fl = &files[fi];
	size_t pages = (fl->size + PS - 1) / PS;
	size_t off = (rnd(&rs) % (pages + 2)) * PS;
	size_t len = (1 + rnd(&rs) % 8) * PS - (rnd(&rs) % 2 ? rnd(&rs) % PS : 0);
	int shared = rnd(&rs) % 2;
	int prot = rnd(&rs) % 3 ? PROT_READ | PROT_WRITE : PROT_READ;
	int ro = rnd(&rs) % 4 == 0; /* sometimes through a read-only fd */
	int kfd = ro ? fl->kro : fl->krw, ffd = ro ? fl->fro : fl->frw;
	errno = 0;
	void *k = mmap(NULL, len, prot, shared ? MAP_SHARED : MAP_PRIVATE, kfd, (off_t)off);
	int kerr = errno;
	errno = 0;
	void *f = fm_mmap(NULL, len, prot, shared ? MAP_SHARED : MAP_PRIVATE, ffd, (off_t)off);
	int ferr = errno;
	if ((k == MAP_FAILED) != (f == MAP_FAILED) || (k == MAP_FAILED && kerr != ferr)) {
		fprintf(stderr, "kernel %p errno %d, faultmap %p errno %d\n", k, kerr, f, ferr);
		fail_at(seq, op, "map results differ");
	}
	if (k == MAP_FAILED)
		return;
	if (getenv("FM_DIFF_LOG"))
		fprintf(stderr, "  map file %d off %zu len %zu shared %d prot %d ro %d f=%p\n", fi, off, len, shared, prot, ro, f);
	maps[nmaps++] = (struct map){k, f, (len + PS - 1) / PS * PS, off, fi, prot, shared};
}

static void op_unmap(int seq, int op)
{
	if (!nmaps)
		return;
	int i = (int)(rnd(&rs) % (unsigned)nmaps);
	struct map m = maps[i];
	size_t pages = m.len / PS;
	size_t a = rnd(&rs) % 2 ? 0 : rnd(&rs) % pages;
	size_t b = a + 1 + rnd(&rs) % (pages - a);
	if (getenv("FM_DIFF_LOG"))
		fprintf(stderr, "  munmap f=%p pages %zu..%zu of %zu\n", (void *)m.f, a, b, pages);
	if (munmap(m.k + a * PS, (b - a) * PS) != 0)
		fail_at(seq, op, "kernel munmap failed");
	if (fm_munmap(m.f + a * PS, (b - a) * PS) != 0)
		fail_at(seq, op, "fm_munmap failed");
	maps[i] = maps[--nmaps];
	if (a > 0)
		maps[nmaps++] = (struct map){m.k, m.f, a * PS, m.off, m.file, m.prot, m.shared};
	if (b < pages && nmaps < MAXMAPS)
		maps[nmaps++] = (struct map){m.k + b * PS, m.f + b * PS, (pages - b) * PS,
					     m.off + b * PS, m.file, m.prot, m.shared};
	else if (b < pages) { /* no room to track it: unmap the tail too */
		munmap(m.k + b * PS, (pages - b) * PS);
		fm_munmap(m.f + b * PS, (pages - b) * PS);
	}
}

static void op_read(int seq, int op)
{
	if (!nmaps)
		return;
	struct map *m = &maps[rnd(&rs) % (unsigned)nmaps];
	size_t n = readable(m);
	if (!n)
		return;
	size_t a = rnd(&rs) % n, len = 1 + rnd(&rs) % (n - a);
	if (m->prot == PROT_NONE)
		return;
	if (memcmp(m->k + a, m->f + a, len) != 0) {
		for (size_t j = a; j < a + len; j++)
			if (m->k[j] != m->f[j]) {
				fprintf(stderr, "map off %zu shared %d byte %zu: kernel %02x faultmap %02x\n",
					m->off, m->shared, j, m->k[j], m->f[j]);
				break;
			}
		fail_at(seq, op, "read differs");
	}
	bytes_compared += len;
}

/* Bytes of mapping m that lie inside the file: writes stay there, since
 * what a write past EOF leaves in the cache depends on when the kernel
 * wrote the page back (test_eof_tail covers the tail). */
static size_t inside_file(const struct map *m)
{
	size_t size = files[m->file].size;
	if (m->off >= size)
		return 0;
	return size - m->off < m->len ? size - m->off : m->len;
}

static void op_write(int seq, int op)
{
	(void)seq, (void)op;
	if (!nmaps)
		return;
	struct map *m = &maps[rnd(&rs) % (unsigned)nmaps];
	size_t n = inside_file(m);
	if (!n || !(m->prot & PROT_WRITE))
		return;
	size_t a = rnd(&rs) % n, len = 1 + rnd(&rs) % (n - a);
	if (len > 3 * PS)
		len = 3 * PS;
	unsigned char v = (unsigned char)rnd(&rs);
	if (getenv("FM_DIFF_LOG"))
		fprintf(stderr, "  write file %d map off %zu len %zu shared %d at %zu+%zu f=%p\n", m->file, m->off, m->len, m->shared, a, len, (void *)m->f);
	for (size_t j = 0; j < len; j++) {
		m->k[a + j] = (unsigned char)(v + j);
		m->f[a + j] = (unsigned char)(v + j);
	}
}

static void op_msync(int seq, int op)
{
	if (!nmaps)
		return;
	struct map *m = &maps[rnd(&rs) % (unsigned)nmaps];
	int flags = rnd(&rs) % 3 ? MS_SYNC : MS_ASYNC;
	int kr = msync(m->k, m->len, flags), fr = fm_msync(m->f, m->len, flags);
	if (kr != fr)
		fail_at(seq, op, "msync results differ");
}

static void op_madvise(int seq, int op)
{
	static const int advice[] = {MADV_DONTNEED, MADV_RANDOM, MADV_SEQUENTIAL,
				     MADV_WILLNEED, MADV_NORMAL};
	if (!nmaps)
		return;
	struct map *m = &maps[rnd(&rs) % (unsigned)nmaps];
	size_t pages = m->len / PS;
	size_t a = rnd(&rs) % pages, n = 1 + rnd(&rs) % (pages - a);
	int adv = advice[rnd(&rs) % 5];
	if (getenv("FM_DIFF_LOG"))
		fprintf(stderr, "  madvise f=%p+%zu pages %zu adv %d\n", (void *)m->f, a, n, adv);
	int kr = madvise(m->k + a * PS, n * PS, adv);
	int fr = fm_madvise(m->f + a * PS, n * PS, adv);
	if (kr != fr)
		fail_at(seq, op, "madvise results differ");
}

/* mprotect on both sides; fail unless the results and errnos agree. */
static int both_mprotect(int seq, int op, struct map *m, size_t a, size_t n, int prot)
{
	errno = 0;
	int kr = mprotect(m->k + a * PS, n * PS, prot);
	int kerr = errno;
	errno = 0;
	int fr = fm_mprotect(m->f + a * PS, n * PS, prot);
	if (kr != fr || (kr && kerr != errno))
		fail_at(seq, op, "mprotect results differ");
	return kr;
}

/* Make a whole mapping read-only or read-write on both sides. */
static void op_mprotect(int seq, int op)
{
	if (!nmaps)
		return;
	struct map *m = &maps[rnd(&rs) % (unsigned)nmaps];
	int prot = m->prot & PROT_WRITE ? PROT_READ : PROT_READ | PROT_WRITE;
	if (getenv("FM_DIFF_LOG"))
		fprintf(stderr, "  mprotect f=%p len %zu prot %d\n", (void *)m->f, m->len, prot);
	if (!both_mprotect(seq, op, m, 0, m->len / PS, prot))
		m->prot = prot;
}

/* At times: make a part of a mapping the other protection and back (its
 * vmas split and merge back, on each side as the kernel does). */
static void reprotect_part(int seq, int op, struct map *m)
{
	if (rnd(&rs2) % 3)
		return;
	int other = m->prot & PROT_WRITE ? PROT_READ : PROT_READ | PROT_WRITE;
	size_t pages = m->len / PS, a = rnd(&rs2) % pages, n = 1 + rnd(&rs2) % (pages - a);
	if (getenv("FM_DIFF_LOG"))
		fprintf(stderr, "  mprotect f=%p+%zu pages %zu prot %d and back\n", (void *)m->f, a,
			n, other);
	if (!both_mprotect(seq, op, m, a, n, other))
		both_mprotect(seq, op, m, a, n, m->prot);
}

/* reserve - len bytes of address space with a free page on each side, so
 * that what moves there has no neighbour: the two sides' layouts differ,
 * and a mapping moved next to one of the same file at the next offset
 * merges with it (then its vmas are not the other side's). */
static unsigned char *reserve(size_t len)
{
	unsigned char *r = mmap(NULL, len + 2 * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r != MAP_FAILED);
	CHECK(munmap(r, PS) == 0 && munmap(r + PS + len, PS) == 0);
	return r + PS;
}

/* At times: move a whole mapping with MREMAP_FIXED, keeping its size, into
 * a reservation of its own on each side. */
static void fixed_move(int seq, int op, struct map *m)
{
	if (rnd(&rs2) % 3)
		return;
	unsigned char *kr = reserve(m->len), *fr = reserve(m->len);
	errno = 0;
	void *k = mremap(m->k, m->len, m->len, MREMAP_MAYMOVE | MREMAP_FIXED, kr);
	int kerr = errno;
	errno = 0;
	void *f = fm_mremap(m->f, m->len, m->len, MREMAP_MAYMOVE | MREMAP_FIXED, fr);
	if (getenv("FM_DIFF_LOG"))
		fprintf(stderr, "  mremap fixed f %p -> %p\n", (void *)m->f, f);
	if ((k == MAP_FAILED) != (f == MAP_FAILED) || (k == MAP_FAILED && kerr != errno)) {
		fprintf(stderr, "kernel %p errno %d, faultmap %p errno %d (fixed move of %zu)\n",
			k, kerr, f, errno, m->len);
		fail_at(seq, op, "mremap fixed results differ");
	}
	if (k == MAP_FAILED) {
		munmap(kr, m->len);
		munmap(fr, m->len);
		return;
	}
	m->k = k;
	m->f = f;
}

/* Grow, shrink or move a whole mapping on both sides. */
static void op_mremap(int seq, int op)
{
	if (!nmaps)
		return;
	struct map *m = &maps[rnd(&rs) % (unsigned)nmaps];
	reprotect_part(seq, op, m);
	fixed_move(seq, op, m);
	size_t len = (1 + rnd(&rs) % 10) * PS;
	/* mremap takes one kernel vma: let the hints' splits merge back. */
	if (madvise(m->k, m->len, MADV_NORMAL) || fm_madvise(m->f, m->len, MADV_NORMAL))
		fail_at(seq, op, "madvise failed");
	errno = 0;
	void *k = mremap(m->k, m->len, len, MREMAP_MAYMOVE);
	int kerr = errno;
	errno = 0;
	void *f = fm_mremap(m->f, m->len, len, MREMAP_MAYMOVE);
	if ((k == MAP_FAILED) != (f == MAP_FAILED) || (k == MAP_FAILED && kerr != errno))
	{
		fprintf(stderr, "kernel %p errno %d, faultmap %p errno %d (len %zu -> %zu) k %p f %p\n", k, kerr, f, errno, m->len, len, (void*)m->k, (void*)m->f);
		char cmd[64]; snprintf(cmd, sizeof cmd, "cat /proc/%d/maps >&2", getpid()); system(cmd);
		fail_at(seq, op, "mremap results differ");
	}
	if (k == MAP_FAILED)
		return;
	if (getenv("FM_DIFF_LOG"))
		fprintf(stderr, "  mremap file %d off %zu %zu -> %zu f %p -> %p\n", m->file, m->off, m->len, len, (void *)m->f, f);
	m->k = k;
	m->f = f;
	m->len = len;
}

/* pread of the same range of both files (at times past EOF). */
static void op_pread(int seq, int op)
{
	struct file *fl = &files[rnd(&rs) % NFILES];
	static unsigned char kb[4 * 4096], fb[4 * 4096];
	size_t off = rnd(&rs) % (fl->size + PS), len = 1 + rnd(&rs) % sizeof(kb);
	ssize_t kn = pread(fl->kro, kb, len, (off_t)off);
	ssize_t fn = fm_pread(fl->fro, fb, len, (off_t)off);
	if (kn != fn || (kn > 0 && memcmp(kb, fb, (size_t)kn)))
		fail_at(seq, op, "pread differs");
	bytes_compared += kn > 0 ? (size_t)kn : 0;
}

/* pwrite the same bytes to both files, at times growing them. */
static void op_pwrite(int seq, int op)
{
	struct file *fl = &files[rnd(&rs) % NFILES];
	static unsigned char buf[3 * 4096];
	size_t off = rnd(&rs) % (fl->size + 2 * PS), len = 1 + rnd(&rs) % sizeof(buf);
	unsigned char v = (unsigned char)rnd(&rs);
	for (size_t j = 0; j < len; j++)
		buf[j] = (unsigned char)(v + 3 * j);
	ssize_t kn = pwrite(fl->krw, buf, len, (off_t)off);
	ssize_t fn = fm_pwrite(fl->frw, buf, len, (off_t)off);
	if (kn != fn || kn != (ssize_t)len)
		fail_at(seq, op, "pwrite results differ");
	if (off + len > fl->size)
		fl->size = off + len;
}

/* Truncate both files to the same new size, shorter or longer. */
static void op_ftruncate(int seq, int op)
{
	struct file *fl = &files[rnd(&rs) % NFILES];
	size_t size = 1 + rnd(&rs) % (fl->size + fl->size / 2 + PS);
	int kr = ftruncate(fl->krw, (off_t)size);
	int fr = fm_ftruncate(fl->frw, (off_t)size);
	if (kr != 0 || fr != 0)
		fail_at(seq, op, "ftruncate failed");
	fl->size = size;
}

/* A whole-file mapping on each side: the page cache must hold the same. */
static void op_verify(int seq, int op)
{
	struct file *fl = &files[rnd(&rs) % NFILES];
	if (!fl->size)
		return;
	unsigned char *k = mmap(NULL, fl->size, PROT_READ, MAP_PRIVATE, fl->kro, 0);
	unsigned char *f = fm_mmap(NULL, fl->size, PROT_READ, MAP_SHARED, fl->fro, 0);
	if (k == MAP_FAILED || f == MAP_FAILED)
		fail_at(seq, op, "verify map failed");
	if (memcmp(k, f, fl->size) != 0)
		fail_at(seq, op, "page caches differ");
	bytes_compared += fl->size;
	munmap(k, fl->size);
	fm_munmap(f, fl->size);
}

/* FM_DIFF_PARANOID=1: after every operation, compare every file as read()
 * sees it, to find the first operation that diverges. */
static int paranoid;
bool fm_debug_check_protected(void); /* src/mmap.c, for tests */
static void check_all(int seq, int op, unsigned r)
{
	if (!fm_debug_check_protected()) {
		fprintf(stderr, "after op kind %u\n", r);
		fail_at(seq, op, "a clean page is not write-protected");
	}
	static unsigned char kb[1 << 20], fb[1 << 20];
	for (int i = 0; i < NFILES; i++) {
		ssize_t kn = pread(files[i].kro, kb, sizeof(kb), 0);
		ssize_t fn = fm_pread(files[i].fro, fb, sizeof(fb), 0);
		if (kn != fn || memcmp(kb, fb, (size_t)kn)) {
			size_t j = 0;
			while ((ssize_t)j < kn && kb[j] == fb[j])
				j++;
			fprintf(stderr, "after op kind %u: file %d: %zd vs %zd bytes, first difference at %zu\n",
				r, i, kn, fn, j);
			fail_at(seq, op, "caches diverged");
		}
		/* And after an msync of the whole file, the file itself. */
		size_t sz = files[i].size;
		void *f = fm_mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, files[i].frw, 0);
		CHECK(f != MAP_FAILED);
		CHECK(fm_msync(f, sz, MS_SYNC) == 0);
		CHECK(fm_munmap(f, sz) == 0);
		kn = pread(files[i].kro, kb, sizeof(kb), 0);
		fn = pread(files[i].fro, fb, sizeof(fb), 0);
		if (kn != fn || memcmp(kb, fb, (size_t)kn)) {
			size_t j = 0;
			while ((ssize_t)j < kn && kb[j] == fb[j])
				j++;
			fprintf(stderr, "after op kind %u: file %d on disk: %zd vs %zd bytes, first difference at %zu\n",
				r, i, kn, fn, j);
			fail_at(seq, op, "files diverged");
		}
	}
}

/* FM_DIFF_DAEMON=1: the daemon's cache, budget and counters. */
static bool daemon_mode;

/* Files have up to this many pages (more for the streams config). */
static size_t max_file_pages = 24;

static void run_sequence(int seq, int nops)
{
	for (int i = 0; i < NFILES; i++) {
		struct file *fl = &files[i];
		fl->size = (1 + rnd(&rs) % max_file_pages) * PS + rnd(&rs) % PS;
		uint32_t seed = rnd(&rs);
		fl->krw = make_file(fl->kpath, fl->size, seed, O_RDWR);
		fl->frw = make_file(fl->fpath, fl->size, seed, O_RDWR);
		fl->kro = open(fl->kpath, O_RDONLY);
		fl->fro = open(fl->fpath, O_RDONLY);
		CHECK(fl->kro >= 0 && fl->fro >= 0);
	}
	for (int op = 0; op < nops; op++) {
		unsigned r = rnd(&rs) % 100;
		if (getenv("FM_DIFF_LOG"))
			fprintf(stderr, "op %d kind %u\n", op, r);
		if (r < 14)
			op_map(seq, op);
		else if (r < 22)
			op_unmap(seq, op);
		else if (r < 46)
			op_read(seq, op);
		else if (r < 70)
			op_write(seq, op);
		else if (r < 75)
			op_msync(seq, op);
		else if (r < 78)
			op_madvise(seq, op);
		else if (r < 81)
			op_mprotect(seq, op);
		else if (r < 84)
			op_mremap(seq, op);
		else if (r < 89)
			op_pread(seq, op);
		else if (r < 94)
			op_pwrite(seq, op);
		else if (r < 96)
			op_ftruncate(seq, op);
		else
			op_verify(seq, op);
		ops_done++;
		if (paranoid)
			check_all(seq, op, r);
	}
	while (nmaps) {
		struct map *m = &maps[--nmaps];
		CHECK(munmap(m->k, m->len) == 0);
		CHECK(fm_munmap(m->f, m->len) == 0);
	}
	for (int i = 0; i < NFILES; i++) {
		struct file *fl = &files[i];
		size_t ks, fs;
		unsigned char *kb = slurp(fl->kpath, &ks), *fb = slurp(fl->fpath, &fs);
		if (ks != fs || memcmp(kb, fb, ks) != 0) {
			size_t j = 0;
			while (j < ks && j < fs && kb[j] == fb[j])
				j++;
			fprintf(stderr, "file %d: kernel %zu bytes, faultmap %zu; first difference at %zu\n",
				i, ks, fs, j);
			fail_at(seq, nops, "final file contents differ");
		}
		free(kb);
		free(fb);
		close(fl->krw), close(fl->kro), close(fl->frw), close(fl->fro);
		unlink(fl->kpath), unlink(fl->fpath);
	}
}

struct config {
	size_t budget;
	int sequences, ops;
	uint64_t seed;
	size_t max_file_pages;
};

static void run_config(void *arg)
{
	struct config *c = arg;
	if (!daemon_mode) /* the daemon's is set when it starts */
		CHECK(fm_set_budget(c->budget) == 0);
	require_engine();
	max_file_pages = c->max_file_pages;
	for (int s = 0; s < c->sequences; s++) {
		rs = c->seed + (uint64_t)s * 7919;
		rs2 = ~rs;
		run_sequence(s, c->ops);
	}
	struct fm_stats st;
	fm_stats(&st);
	printf("budget %zu pages%s, files up to %zu pages: %d sequences x %d ops = %llu ops, "
	       "%llu bytes compared, %llu major faults, %llu evictions, %llu pages written, "
	       "%llu read ahead\n",
	       c->budget / PS, daemon_mode ? " (unused: daemon mode)" : "", c->max_file_pages,
	       c->sequences, c->ops, ops_done, bytes_compared,
	       (unsigned long long)st.major_faults, (unsigned long long)st.evictions,
	       (unsigned long long)st.pages_written, (unsigned long long)st.readahead_pages);
	if (c->budget == 16 * PS && !daemon_mode)
		CHECK(st.evictions > 0); /* the small budget did evict */
	if (c->max_file_pages > 24 && c->sequences >= 4 && !daemon_mode)
		CHECK(st.readahead_pages > 0); /* the streams did read ahead */
	exit(0);
}

int main(void)
{
	const char *e;
	daemon_mode = (e = getenv("FM_DIFF_DAEMON")) && atoi(e);
	if (daemon_mode)
		CHECK(fm_set_mode(FM_MODE_DAEMON) == 0);
	else
		pin_embedded_mode("budgets set here, and this engine's counters (the daemon's: test_daemon_differential_vs_kernel_across_processes)");
	int sequences = (e = getenv("FM_DIFF_SEQUENCES")) ? atoi(e) : 40;
	int ops = (e = getenv("FM_DIFF_OPS")) ? atoi(e) : 500;
	uint64_t seed = (e = getenv("FM_DIFF_SEED")) ? strtoull(e, NULL, 0) : 0x5eed;
	paranoid = (e = getenv("FM_DIFF_PARANOID")) && atoi(e);
	struct config roomy = {256UL << 20, sequences, ops, seed, 24};
	struct config tiny = {16 * PS, sequences, ops, seed, 24};
	/* Big files in a cache that holds about one of them: sequential runs
	 * of faults grow windows that are read ahead asynchronously, and
	 * evicted. */
	struct config streams = {2048 * PS, (sequences + 3) / 4, ops / 2, seed + 1, 1536};
	int st = in_child(run_config, &roomy);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		return 77;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = in_child(run_config, &tiny);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = in_child(run_config, &streams);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (!daemon_mode && !getenv("FAULTMAP_INLINE_FAULTS")) {
		/* Again with misses served by the faulting thread (the views
		 * that never track writes: private ones, shared ones of a
		 * read-only fd, and op_verify's). */
		setenv("FAULTMAP_INLINE_FAULTS", "1", 1);
		st = in_child(run_config, &tiny);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		st = in_child(run_config, &streams);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		unsetenv("FAULTMAP_INLINE_FAULTS");
	}
	return 0;
}
