/*
 * The multi-process differential suite (issue 10): NWORKERS separately
 * exec'd worker processes share NFILES files and run random sequences of
 * map (shared and private, various offsets and lengths, through read-write
 * and read-only fds), unmap (whole and partial), reads and writes through
 * the mappings, pread, pwrite (also growing the file), msync, ftruncate
 * (grow and shrink), fsync, madvise (MADV_REMOVE too), mremap (grow,
 * shrink, move), and fork (the child writes through an inherited mapping,
 * reads, msyncs, exits). The same sequence runs side by
 * side on two sets of workers: one makes the kernel's calls (mmap, pread...)
 * on one copy of the files, the other faultmap's (fm_mmap, fm_pread...) in
 * daemon mode on another copy. The parent tells one worker at a time (of
 * each set) which operation to do, so the order across processes is the
 * same in both runs, and compares what each worker saw after every
 * operation: bytes read, SIGBUS or not, return values and errno. At the end
 * of each sequence every file is compared as read through the cache, and,
 * after an fsync, on disk with plain pread. Run with a roomy budget and
 * with one of 16 pages (the daemon's, started on demand, inherits
 * FAULTMAP_BUDGET), so that eviction and write-back happen mid-sequence.
 *
 * Not generated: writes through a mapping past EOF (what stays of them
 * depends on when the kernel wrote the page back); under TSan, forks (a
 * child of a threaded process cannot start threads).
 *
 * FM_DIFFMP_SEQUENCES, FM_DIFFMP_OPS, FM_DIFFMP_SEED change the size and
 * the seed; FM_DIFFMP_LOG=1 prints each operation.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NWORKERS 3
#define NFILES 2
#define MAXMAPS 12
#define MAXDATA (3 * PS)
#define MAX_FILE_PAGES 20

enum {
	OP_OPEN = 1, OP_MAP, OP_UNMAP, OP_READ, OP_WRITE, OP_PREAD, OP_PWRITE, OP_MSYNC,
	OP_FTRUNCATE, OP_FSYNC, OP_MADVISE, OP_FORK, OP_STATS, OP_END, OP_QUIT, OP_MREMAP
};

static const char *const op_names[] = {
	"?", "open", "map", "unmap", "read", "write", "pread", "pwrite", "msync",
	"ftruncate", "fsync", "madvise", "fork", "stats", "end", "quit", "mremap"};

struct op {
	int kind;
	int slot, slot2, file, prot, shared, ro, flags, exit_plain;
	uint64_t off, len, a, b;
	uint8_t val;
	/* fork: the child writes [a, a+len) of slot (if slot >= 0), msyncs it
	 * (flags), then reads [ra, ra+rlen) of slot2 (if slot2 >= 0) */
	uint64_t ra, rlen;
	char path[NFILES][64];
};

struct result {
	int64_t ret;
	int err;
	int sigbus;
	int status;
	uint32_t ndata;
	uint64_t extra; /* not compared (stats) */
	unsigned char data[MAXDATA];
};

/* ---- the workers --------------------------------------------------------- */

struct calls {
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	int (*munmap)(void *, size_t);
	int (*msync)(void *, size_t, int);
	int (*madvise)(void *, size_t, int);
	ssize_t (*pread)(int, void *, size_t, off_t);
	ssize_t (*pwrite)(int, const void *, size_t, off_t);
	int (*ftruncate)(int, off_t);
	int (*fsync)(int);
	void *(*mremap)(void *, size_t, size_t, int, ...);
};

static const struct calls kernel_calls = {mmap, munmap, msync, madvise,
					  pread, pwrite, ftruncate, fsync, mremap};
static const struct calls faultmap_calls = {fm_mmap, fm_munmap, fm_msync, fm_madvise,
					    fm_pread, fm_pwrite, fm_ftruncate, fm_fsync, fm_mremap};

static const struct calls *sys;
static struct {
	unsigned char *p;
	size_t len;
} wmaps[MAXMAPS];
static int rw_fd[NFILES] = {-1, -1}, ro_fd[NFILES] = {-1, -1};

/* touch - read (buf) or write (val + i at byte i) len bytes at p, a page
 * at a time; a SIGBUS stops it. Return: the bytes done; *sigbus set. */
static size_t touch(unsigned char *p, size_t len, unsigned char *buf, bool write, uint8_t val,
		    int *sigbus)
{
	static volatile size_t done;
	done = 0;
	*sigbus = 0;
	if (sigsetjmp(sigbus_env, 1)) {
		*sigbus = 1;
		return done;
	}
	while (done < len) {
		size_t n = PS - ((uintptr_t)(p + done) & (PS - 1));
		if (n > len - done)
			n = len - done;
		if (write) {
			volatile unsigned char *q = p + done;
			for (size_t j = 0; j < n; j++)
				q[j] = (unsigned char)(val + done + j);
		} else {
			memcpy(buf + done, p + done, n);
		}
		done += n;
	}
	return done;
}

static void set_err(struct result *r, long ret)
{
	r->ret = ret;
	r->err = ret < 0 ? errno : 0;
}

static void do_fork(const struct op *o, struct result *r)
{
	int pfd[2];
	pid_t pid = pipe(pfd) == 0 ? fork() : -1;
	CHECK(pid >= 0);
	if (pid == 0) {
		struct result c = {0};
		int bus = 0;
		if (o->slot >= 0) {
			c.ret = (int64_t)touch(wmaps[o->slot].p + o->a, o->len, NULL, true, o->val,
					       &bus);
			c.sigbus = bus;
			if (o->flags && sys->msync(wmaps[o->slot].p, wmaps[o->slot].len, MS_SYNC))
				c.err = errno;
		}
		if (o->slot2 >= 0) {
			c.ndata = (uint32_t)touch(wmaps[o->slot2].p + o->ra, o->rlen, c.data, false,
						  0, &bus);
			c.sigbus |= bus << 1;
		}
		CHECK(write(pfd[1], &c, sizeof(c)) == (ssize_t)sizeof(c));
		if (o->exit_plain)
			exit(0);
		_exit(0);
	}
	close(pfd[1]);
	CHECK(read(pfd[0], r, sizeof(*r)) == (ssize_t)sizeof(*r));
	close(pfd[0]);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	r->status = status;
}

static void serve(const struct op *o, struct result *r)
{
	memset(r, 0, offsetof(struct result, data));
	int bus = 0;
	switch (o->kind) {
	case OP_OPEN:
		for (int i = 0; i < NFILES; i++) {
			rw_fd[i] = open(o->path[i], O_RDWR);
			ro_fd[i] = open(o->path[i], O_RDONLY);
			CHECK(rw_fd[i] >= 0 && ro_fd[i] >= 0);
		}
		break;
	case OP_MAP: {
		errno = 0;
		void *p = sys->mmap(NULL, o->len, o->prot, o->shared ? MAP_SHARED : MAP_PRIVATE,
				    o->ro ? ro_fd[o->file] : rw_fd[o->file], (off_t)o->off);
		r->ret = p == MAP_FAILED ? -1 : 0;
		r->err = p == MAP_FAILED ? errno : 0;
		if (p != MAP_FAILED) {
			wmaps[o->slot].p = p;
			wmaps[o->slot].len = (o->len + PS - 1) / PS * PS;
		}
		break;
	}
	case OP_UNMAP: {
		/* pages [a, b) of slot; the tail after b, if any, goes to slot2 */
		unsigned char *p = wmaps[o->slot].p;
		size_t pages = wmaps[o->slot].len / PS;
		set_err(r, sys->munmap(p + o->a * PS, (o->b - o->a) * PS));
		if (o->a == 0 && o->b < pages) {
			wmaps[o->slot].p = p + o->b * PS;
			wmaps[o->slot].len = (pages - o->b) * PS;
		} else if (o->b < pages) {
			wmaps[o->slot].len = o->a * PS;
			wmaps[o->slot2].p = p + o->b * PS;
			wmaps[o->slot2].len = (pages - o->b) * PS;
		} else {
			wmaps[o->slot].len = o->a * PS;
		}
		break;
	}
	case OP_READ:
		r->ndata = (uint32_t)touch(wmaps[o->slot].p + o->a, o->len, r->data, false, 0, &bus);
		r->sigbus = bus;
		break;
	case OP_WRITE:
		r->ret = (int64_t)touch(wmaps[o->slot].p + o->a, o->len, NULL, true, o->val, &bus);
		r->sigbus = bus;
		break;
	case OP_PREAD: {
		errno = 0;
		ssize_t n = sys->pread(o->ro ? ro_fd[o->file] : rw_fd[o->file], r->data, o->len,
				       (off_t)o->off);
		set_err(r, n);
		r->ndata = n > 0 ? (uint32_t)n : 0;
		break;
	}
	case OP_PWRITE: {
		unsigned char buf[MAXDATA];
		for (size_t j = 0; j < o->len; j++)
			buf[j] = (unsigned char)(o->val + 3 * j);
		errno = 0;
		set_err(r, sys->pwrite(o->ro ? ro_fd[o->file] : rw_fd[o->file], buf, o->len,
				       (off_t)o->off));
		break;
	}
	case OP_MSYNC:
		errno = 0;
		set_err(r, sys->msync(wmaps[o->slot].p + o->a * PS, o->len, o->flags));
		break;
	case OP_FTRUNCATE:
		errno = 0;
		set_err(r, sys->ftruncate(o->ro ? ro_fd[o->file] : rw_fd[o->file], (off_t)o->off));
		break;
	case OP_FSYNC:
		errno = 0;
		set_err(r, sys->fsync(rw_fd[o->file]));
		break;
	case OP_MADVISE:
		errno = 0;
		set_err(r, sys->madvise(wmaps[o->slot].p + o->a * PS, o->len, o->flags));
		break;
	case OP_FORK:
		do_fork(o, r);
		break;
	case OP_MREMAP: {
		/* mremap takes one kernel vma: the hints' splits merge back */
		CHECK(sys->madvise(wmaps[o->slot].p, wmaps[o->slot].len, MADV_NORMAL) == 0);
		errno = 0;
		void *p = sys->mremap(wmaps[o->slot].p, wmaps[o->slot].len, o->len, MREMAP_MAYMOVE);
		r->ret = p == MAP_FAILED ? -1 : 0;
		r->err = p == MAP_FAILED ? errno : 0;
		if (p != MAP_FAILED) {
			wmaps[o->slot].p = p;
			wmaps[o->slot].len = o->len;
		}
		break;
	}
	case OP_STATS:
		if (sys == &faultmap_calls) {
			struct fm_stats st;
			CHECK(fm_stats(&st) == 0);
			r->extra = st.evictions;
		}
		break;
	case OP_END:
		for (int i = 0; i < MAXMAPS; i++) {
			if (wmaps[i].len)
				CHECK(sys->munmap(wmaps[i].p, wmaps[i].len) == 0);
			wmaps[i].len = 0;
		}
		for (int i = 0; i < NFILES; i++) {
			close(rw_fd[i]);
			close(ro_fd[i]);
		}
		break;
	}
}

static int worker(bool faultmap, int in, int out)
{
	sys = faultmap ? &faultmap_calls : &kernel_calls;
	catch_sigbus();
	for (;;) {
		static struct op o;
		static struct result r;
		ssize_t n = read(in, &o, sizeof(o));
		if (n == 0 || o.kind == OP_QUIT)
			return 0;
		CHECK(n == (ssize_t)sizeof(o));
		serve(&o, &r);
		CHECK(write(out, &r, sizeof(r)) == (ssize_t)sizeof(r));
	}
}

/* ---- the parent ------------------------------------------------------------ */

/* One set of workers: [0] the kernel's, [1] faultmap's. */
struct team {
	pid_t pid[2][NWORKERS];
	int to[2][NWORKERS], from[2][NWORKERS];
};

static struct team team;
static char kpath[NFILES][64], fpath[NFILES][64];
static bool logging;
static unsigned long long ops_done, bytes_compared, sigbus_seen, forks_done;

/* The parent's model of what each worker maps, and the files' sizes,
 * from the results (the same on both sides, or the test stops). */
static struct {
	size_t len, off; /* len 0: free */
	int file, prot, shared;
} model[NWORKERS][MAXMAPS];
static size_t fsize[NFILES];
static uint64_t rs;

static void start_team(const char *argv0)
{
	for (int side = 0; side < 2; side++)
		for (int w = 0; w < NWORKERS; w++) {
			/* The parent's ends stay out of the other workers. */
			int to[2], from[2];
			CHECK(pipe2(to, O_CLOEXEC) == 0 && pipe2(from, O_CLOEXEC) == 0);
			CHECK(fcntl(to[0], F_SETFD, 0) == 0 && fcntl(from[1], F_SETFD, 0) == 0);
			team.pid[side][w] = exec_self(argv0, "worker %s %d %d",
						      side ? "faultmap" : "kernel", to[0], from[1]);
			close(to[0]);
			close(from[1]);
			team.to[side][w] = to[1];
			team.from[side][w] = from[0];
		}
}

static void stop_team(void)
{
	struct op quit = {.kind = OP_QUIT};
	for (int side = 0; side < 2; side++)
		for (int w = 0; w < NWORKERS; w++) {
			CHECK(write(team.to[side][w], &quit, sizeof(quit)) == (ssize_t)sizeof(quit));
			int status;
			CHECK(waitpid(team.pid[side][w], &status, 0) == team.pid[side][w]);
			if (!WIFEXITED(status) || WEXITSTATUS(status)) {
				fprintf(stderr, "%s worker %d ended with status %#x\n",
					side ? "faultmap" : "kernel", w, status);
				exit(1);
			}
			close(team.to[side][w]);
			close(team.from[side][w]);
		}
}

static void describe(const struct op *o, int w)
{
	fprintf(stderr, "worker %d: %s slot %d slot2 %d file %d prot %d shared %d ro %d flags %#x "
			"off %llu len %llu a %llu b %llu val %u ra %llu rlen %llu\n",
		w, op_names[o->kind], o->slot, o->slot2, o->file, o->prot, o->shared, o->ro,
		o->flags, (unsigned long long)o->off, (unsigned long long)o->len,
		(unsigned long long)o->a, (unsigned long long)o->b, o->val,
		(unsigned long long)o->ra, (unsigned long long)o->rlen);
}

static void get_result(int side, int w, struct result *r)
{
	ssize_t n = read(team.from[side][w], r, sizeof(*r));
	if (n != (ssize_t)sizeof(*r)) {
		int status = 0;
		waitpid(team.pid[side][w], &status, 0);
		fprintf(stderr, "%s worker %d died: status %#x\n", side ? "faultmap" : "kernel", w,
			status);
		exit(1);
	}
}

/* run - op o on worker w of both sides (the faultmap side with the paths
 * of its copies); fail unless both saw the same. Return: the result. */
static const struct result *run(int seq, int opno, int w, struct op *o)
{
	static struct result r[2];
	if (logging)
		describe(o, w);
	for (int side = 0; side < 2; side++) {
		if (o->kind == OP_OPEN)
			for (int i = 0; i < NFILES; i++)
				memcpy(o->path[i], side ? fpath[i] : kpath[i], 64);
		CHECK(write(team.to[side][w], o, sizeof(*o)) == (ssize_t)sizeof(*o));
	}
	get_result(0, w, &r[0]);
	get_result(1, w, &r[1]);
	const struct result *k = &r[0], *f = &r[1];
	bool same = k->ret == f->ret && k->err == f->err && k->sigbus == f->sigbus &&
		    k->status == f->status && k->ndata == f->ndata &&
		    memcmp(k->data, f->data, k->ndata) == 0;
	if (!same) {
		fprintf(stderr, "sequence %d op %d: the workers saw different things\n", seq, opno);
		describe(o, w);
		fprintf(stderr, "kernel:   ret %lld errno %d sigbus %d status %#x %u bytes\n",
			(long long)k->ret, k->err, k->sigbus, k->status, k->ndata);
		fprintf(stderr, "faultmap: ret %lld errno %d sigbus %d status %#x %u bytes\n",
			(long long)f->ret, f->err, f->sigbus, f->status, f->ndata);
		for (uint32_t j = 0; j < k->ndata && j < f->ndata; j++)
			if (k->data[j] != f->data[j]) {
				fprintf(stderr, "first different byte %u: kernel %02x faultmap %02x\n",
					j, k->data[j], f->data[j]);
				break;
			}
		exit(1);
	}
	bytes_compared += k->ndata;
	sigbus_seen += k->sigbus != 0;
	ops_done++;
	return k;
}

static int free_slot(int w)
{
	for (int i = 0; i < MAXMAPS; i++)
		if (!model[w][i].len)
			return i;
	return -1;
}

/* pick_map - a random mapping of worker w (writable: with PROT_WRITE), or -1. */
static int pick_map(int w, bool writable)
{
	int cand[MAXMAPS], n = 0;
	for (int i = 0; i < MAXMAPS; i++)
		if (model[w][i].len && (!writable || (model[w][i].prot & PROT_WRITE)))
			cand[n++] = i;
	return n ? cand[rnd(&rs) % (unsigned)n] : -1;
}

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* A range of mapping m of worker w to write: inside the file. Return:
 * false if none. */
static bool write_range(int w, int m, uint64_t *a, uint64_t *len)
{
	size_t off = model[w][m].off, size = fsize[model[w][m].file];
	if (off >= size)
		return false;
	size_t n = min_sz(size - off, model[w][m].len);
	*a = rnd(&rs) % n;
	*len = 1 + rnd(&rs) % min_sz(n - *a, MAXDATA);
	return true;
}

/* A range of mapping m to read: anywhere in it (past EOF: SIGBUS). */
static void read_range(int w, int m, uint64_t *a, uint64_t *len)
{
	size_t n = model[w][m].len;
	if (rnd(&rs) % 4) { /* mostly where the file has pages */
		size_t off = model[w][m].off, end = (fsize[model[w][m].file] + PS - 1) / PS * PS;
		if (end > off)
			n = min_sz(n, end - off);
	}
	*a = rnd(&rs) % n;
	*len = 1 + rnd(&rs) % min_sz(n - *a, MAXDATA);
}

static void op_map(int seq, int opno, int w)
{
	int slot = free_slot(w);
	if (slot < 0)
		return;
	struct op o = {.kind = OP_MAP, .slot = slot};
	o.file = (int)(rnd(&rs) % NFILES);
	size_t pages = (fsize[o.file] + PS - 1) / PS;
	o.off = (rnd(&rs) % (pages + 2)) * PS;
	o.len = (1 + rnd(&rs) % 8) * PS - (rnd(&rs) % 2 ? rnd(&rs) % PS : 0);
	o.shared = rnd(&rs) % 3 != 0;
	o.prot = rnd(&rs) % 3 ? PROT_READ | PROT_WRITE : PROT_READ;
	o.ro = rnd(&rs) % 4 == 0;
	const struct result *r = run(seq, opno, w, &o);
	if (r->ret == 0) {
		model[w][slot].len = (o.len + PS - 1) / PS * PS;
		model[w][slot].off = o.off;
		model[w][slot].file = o.file;
		model[w][slot].prot = o.prot;
		model[w][slot].shared = o.shared;
	}
}

static void op_unmap(int seq, int opno, int w)
{
	int m = pick_map(w, false);
	if (m < 0)
		return;
	size_t pages = model[w][m].len / PS;
	struct op o = {.kind = OP_UNMAP, .slot = m, .slot2 = -1};
	o.a = rnd(&rs) % 2 ? 0 : rnd(&rs) % pages;
	o.b = o.a + 1 + rnd(&rs) % (pages - o.a);
	if (o.a > 0 && o.b < pages) {
		o.slot2 = free_slot(w);
		if (o.slot2 < 0)
			o.b = pages; /* no room to track the tail: it goes too */
	}
	const struct result *r = run(seq, opno, w, &o);
	CHECK_EQ(r->ret, 0);
	if (o.a == 0 && o.b < pages) {
		model[w][m].off += o.b * PS;
		model[w][m].len = (pages - o.b) * PS;
	} else if (o.b < pages) {
		model[w][o.slot2] = model[w][m];
		model[w][o.slot2].off += o.b * PS;
		model[w][o.slot2].len = (pages - o.b) * PS;
		model[w][m].len = o.a * PS;
	} else {
		model[w][m].len = o.a * PS;
	}
}

static void op_read(int seq, int opno, int w)
{
	int m = pick_map(w, false);
	if (m < 0)
		return;
	struct op o = {.kind = OP_READ, .slot = m};
	read_range(w, m, &o.a, &o.len);
	run(seq, opno, w, &o);
}

static void op_write(int seq, int opno, int w)
{
	int m = pick_map(w, true);
	struct op o = {.kind = OP_WRITE, .slot = m, .val = (uint8_t)rnd(&rs)};
	if (m >= 0 && write_range(w, m, &o.a, &o.len))
		run(seq, opno, w, &o);
}

static void op_pread(int seq, int opno, int w)
{
	struct op o = {.kind = OP_PREAD, .file = (int)(rnd(&rs) % NFILES)};
	o.off = rnd(&rs) % (fsize[o.file] + PS);
	o.len = 1 + rnd(&rs) % MAXDATA;
	o.ro = rnd(&rs) % 2;
	run(seq, opno, w, &o);
}

static void op_pwrite(int seq, int opno, int w)
{
	struct op o = {.kind = OP_PWRITE, .file = (int)(rnd(&rs) % NFILES),
		       .val = (uint8_t)rnd(&rs)};
	size_t room = fsize[o.file] + 2 * PS;
	if (room > MAX_FILE_PAGES * PS)
		room = fsize[o.file] < MAX_FILE_PAGES * PS ? MAX_FILE_PAGES * PS : fsize[o.file];
	o.off = rnd(&rs) % room;
	o.len = 1 + rnd(&rs) % MAXDATA;
	o.ro = rnd(&rs) % 8 == 0; /* EBADF */
	const struct result *r = run(seq, opno, w, &o);
	if (r->ret > 0 && o.off + (uint64_t)r->ret > fsize[o.file])
		fsize[o.file] = o.off + (uint64_t)r->ret;
}

static void op_msync(int seq, int opno, int w)
{
	int m = pick_map(w, false);
	if (m < 0)
		return;
	size_t pages = model[w][m].len / PS;
	struct op o = {.kind = OP_MSYNC, .slot = m};
	o.a = rnd(&rs) % pages;
	o.len = (1 + rnd(&rs) % (pages - o.a)) * PS - rnd(&rs) % PS;
	static const int flags[] = {MS_SYNC, MS_SYNC, MS_ASYNC, MS_SYNC | MS_INVALIDATE,
				    MS_ASYNC | MS_SYNC};
	o.flags = flags[rnd(&rs) % 5];
	run(seq, opno, w, &o);
}

static void op_ftruncate(int seq, int opno, int w)
{
	struct op o = {.kind = OP_FTRUNCATE, .file = (int)(rnd(&rs) % NFILES)};
	o.off = rnd(&rs) % (min_sz(fsize[o.file] + fsize[o.file] / 2 + PS, MAX_FILE_PAGES * PS));
	o.ro = rnd(&rs) % 8 == 0; /* EINVAL */
	const struct result *r = run(seq, opno, w, &o);
	if (r->ret == 0)
		fsize[o.file] = o.off;
}

static void op_fsync(int seq, int opno, int w)
{
	struct op o = {.kind = OP_FSYNC, .file = (int)(rnd(&rs) % NFILES)};
	run(seq, opno, w, &o);
}

static void op_madvise(int seq, int opno, int w)
{
	static const int advice[] = {MADV_DONTNEED, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED,
				     MADV_NORMAL, MADV_REMOVE};
	int m = pick_map(w, false);
	if (m < 0)
		return;
	size_t pages = model[w][m].len / PS;
	struct op o = {.kind = OP_MADVISE, .slot = m, .flags = advice[rnd(&rs) % 6]};
	o.a = rnd(&rs) % pages;
	o.len = (1 + rnd(&rs) % (pages - o.a)) * PS;
	run(seq, opno, w, &o);
}

/* Grow, shrink or move a whole mapping. */
static void op_mremap(int seq, int opno, int w)
{
	int m = pick_map(w, false);
	if (m < 0)
		return;
	struct op o = {.kind = OP_MREMAP, .slot = m, .len = (1 + rnd(&rs) % 10) * PS};
	if (run(seq, opno, w, &o)->ret == 0)
		model[w][m].len = o.len;
}

static void op_fork(int seq, int opno, int w)
{
	struct op o = {.kind = OP_FORK, .slot = -1, .slot2 = -1, .val = (uint8_t)rnd(&rs)};
	int m = pick_map(w, true);
	if (m >= 0 && write_range(w, m, &o.a, &o.len)) {
		o.slot = m;
		o.flags = model[w][m].shared && rnd(&rs) % 2;
	}
	o.slot2 = pick_map(w, false);
	if (o.slot2 >= 0)
		read_range(w, o.slot2, &o.ra, &o.rlen);
	o.exit_plain = rnd(&rs) % 2;
	run(seq, opno, w, &o);
	forks_done++;
}

/* Compare file i as read through each side's cache, a chunk at a time. */
static void compare_caches(int seq, int opno)
{
	for (int i = 0; i < NFILES; i++)
		for (uint64_t off = 0; off < fsize[i] + PS; off += MAXDATA) {
			struct op o = {.kind = OP_PREAD, .file = i, .off = off, .len = MAXDATA};
			run(seq, opno, 0, &o);
		}
}

static void compare_disks(int seq)
{
	for (int i = 0; i < NFILES; i++) {
		size_t ks, fs;
		unsigned char *kb = slurp(kpath[i], &ks), *fb = slurp(fpath[i], &fs);
		if (ks != fs || memcmp(kb, fb, ks) != 0) {
			size_t j = 0;
			while (j < ks && j < fs && kb[j] == fb[j])
				j++;
			fprintf(stderr, "sequence %d: file %d on disk: kernel %zu bytes, faultmap "
					"%zu; first difference at %zu\n", seq, i, ks, fs, j);
			exit(1);
		}
		bytes_compared += ks;
		free(kb);
		free(fb);
	}
}

/* How often each operation comes, in percent. */
static const struct {
	unsigned percent;
	void (*op)(int seq, int opno, int w);
} mix[] = {
	{14, op_map}, {8, op_unmap}, {22, op_read}, {18, op_write}, {2, op_mremap}, {10, op_pread},
	{7, op_pwrite}, {5, op_msync}, {4, op_ftruncate}, {2, op_fsync}, {4, op_madvise},
#ifdef FM_UNDER_TSAN
	{4, op_read}, {0, op_fork}, /* a child of a threaded process cannot start threads */
#else
	{4, op_fork},
#endif
};

static void run_sequence(int seq, int nops)
{
	memset(model, 0, sizeof(model));
	for (int i = 0; i < NFILES; i++) {
		fsize[i] = (1 + rnd(&rs) % (MAX_FILE_PAGES / 2)) * PS + rnd(&rs) % PS;
		uint32_t seed = rnd(&rs);
		close(make_file(kpath[i], fsize[i], seed, O_RDONLY));
		close(make_file(fpath[i], fsize[i], seed, O_RDONLY));
	}
	for (int w = 0; w < NWORKERS; w++) {
		struct op o = {.kind = OP_OPEN};
		run(seq, -1, w, &o);
	}
	for (int opno = 0; opno < nops; opno++) {
		int w = (int)(rnd(&rs) % NWORKERS);
		unsigned r = rnd(&rs) % 100, below = 0;
		for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++) {
			below += mix[i].percent;
			if (r < below) {
				mix[i].op(seq, opno, w);
				break;
			}
		}
	}
	compare_caches(seq, nops);
	for (int i = 0; i < NFILES; i++) {
		struct op o = {.kind = OP_FSYNC, .file = i};
		run(seq, nops, 0, &o);
	}
	compare_disks(seq);
	for (int w = 0; w < NWORKERS; w++) {
		struct op o = {.kind = OP_END};
		run(seq, nops, w, &o);
	}
	for (int i = 0; i < NFILES; i++) {
		unlink(kpath[i]);
		unlink(fpath[i]);
	}
}

struct config {
	const char *budget; /* FAULTMAP_BUDGET for the daemon */
	int sequences, ops;
	uint64_t seed;
	const char *argv0;
};

static void run_config(void *arg)
{
	struct config *c = arg;
	daemon_private();
	CHECK(setenv("FAULTMAP_BUDGET", c->budget, 1) == 0);
	/* The daemon starts with the budget above; this process stays out
	 * of it (not a client). */
	require_engine_in_child();
	start_team(c->argv0);
	for (int s = 0; s < c->sequences; s++) {
		rs = c->seed + (uint64_t)s * 7919;
		run_sequence(s, c->ops);
	}
	struct op o = {.kind = OP_STATS};
	CHECK(write(team.to[1][0], &o, sizeof(o)) == (ssize_t)sizeof(o));
	static struct result r;
	get_result(1, 0, &r);
	stop_team();
	CHECK_EQ(daemon_stop(), 0);
	printf("budget %s: %d sequences x %d ops over %d processes: %llu operations compared "
	       "(%llu forks, %llu SIGBUS), %llu bytes compared; %llu evictions in the daemon\n",
	       c->budget, c->sequences, c->ops, NWORKERS, ops_done, forks_done, sigbus_seen,
	       bytes_compared, (unsigned long long)r.extra);
	if (!strcmp(c->budget, "64k") && c->sequences * c->ops >= 1000)
		CHECK(r.extra > 0); /* the small budget did evict */
	exit(0);
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "worker"))
		return worker(!strcmp(argv[2], "faultmap"), atoi(argv[3]), atoi(argv[4]));
	const char *e;
	int sequences = (e = getenv("FM_DIFFMP_SEQUENCES")) ? atoi(e) : 6;
	int ops = (e = getenv("FM_DIFFMP_OPS")) ? atoi(e) : 400;
	uint64_t seed = (e = getenv("FM_DIFFMP_SEED")) ? strtoull(e, NULL, 0) : 0x5eedf00d;
	logging = (e = getenv("FM_DIFFMP_LOG")) && atoi(e);
	struct config configs[] = {{"256M", sequences, ops, seed, argv[0]},
				   {"64k", sequences, ops, seed + 1, argv[0]}};
	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		int status = in_child(run_config, &configs[i]);
		if (i == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 77)
			return 77; /* no userfaultfd here */
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	return 0;
}
