/* store_tests.c - see store_tests.h. */
#include "store_tests.h"
#include "helpers.h"
#include "daemon/rescue.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXMAPS 16

struct map {
	unsigned char *k, *f;
	size_t off, len; /* page multiples */
	bool shared;
};

static struct map maps[MAXMAPS];
static int nmaps;
static uint64_t rs;
static struct fm_store *store;
static int oracle;
static size_t store_bytes;
static bool fixed;

/* in_file - bytes of m inside the store (the rest raises SIGBUS or is the
 * last page's tail, which stays out of the comparison). */
static size_t in_file(const struct map *m)
{
	size_t n = store_bytes;
	return m->off >= n ? 0 : n - m->off < m->len ? n - m->off : m->len;
}

static void op_map(void)
{
	if (nmaps == MAXMAPS)
		return;
	size_t pages = (store_bytes + PS - 1) / PS;
	size_t off = (rnd(&rs) % pages) * PS;
	size_t len = (1 + rnd(&rs) % 24) * PS;
	if (off + len > pages * PS)
		len = pages * PS - off;
	bool shared = rnd(&rs) % 3 != 0;
	int type = shared ? MAP_SHARED : MAP_PRIVATE;
	unsigned char *k = mmap(NULL, len, PROT_READ | PROT_WRITE, type, oracle, (off_t)off);
	unsigned char *f = fm_mmap_store(NULL, len, PROT_READ | PROT_WRITE, type, store, (off_t)off);
	CHECK(k != MAP_FAILED && f != MAP_FAILED);
	maps[nmaps++] = (struct map){k, f, off, len, shared};
}

static void op_unmap(void)
{
	if (!nmaps)
		return;
	int i = (int)(rnd(&rs) % (unsigned)nmaps);
	struct map m = maps[i];
	size_t pages = m.len / PS, a = rnd(&rs) % 2 ? 0 : rnd(&rs) % pages;
	size_t b = a + 1 + rnd(&rs) % (pages - a);
	CHECK(munmap(m.k + a * PS, (b - a) * PS) == 0);
	CHECK(fm_munmap(m.f + a * PS, (b - a) * PS) == 0);
	maps[i] = maps[--nmaps];
	if (a > 0)
		maps[nmaps++] = (struct map){m.k, m.f, m.off, a * PS, m.shared};
	if (b < pages && nmaps < MAXMAPS) {
		maps[nmaps++] = (struct map){m.k + b * PS, m.f + b * PS, m.off + b * PS,
					     (pages - b) * PS, m.shared};
	} else if (b < pages) {
		CHECK(munmap(m.k + b * PS, (pages - b) * PS) == 0);
		CHECK(fm_munmap(m.f + b * PS, (pages - b) * PS) == 0);
	}
}

static void op_access(bool write)
{
	if (!nmaps)
		return;
	struct map *m = &maps[rnd(&rs) % (unsigned)nmaps];
	size_t n = in_file(m);
	if (!n)
		return;
	size_t a = rnd(&rs) % n, len = 1 + rnd(&rs) % (n - a);
	if (write) {
		if (len > 2 * PS)
			len = 2 * PS;
		unsigned char v = (unsigned char)rnd(&rs);
		for (size_t j = 0; j < len; j++)
			m->k[a + j] = m->f[a + j] = (unsigned char)(v + j);
	} else if (memcmp(m->k + a, m->f + a, len) != 0) {
		fprintf(stderr, "map at %zu: bytes %zu..%zu differ\n", m->off, a, a + len);
		exit(1);
	}
}

static void op_msync(void)
{
	if (!nmaps)
		return;
	struct map *m = &maps[rnd(&rs) % (unsigned)nmaps];
	CHECK_EQ(fm_msync(m->f, m->len, MS_SYNC), msync(m->k, m->len, MS_SYNC));
}

static void op_rw(bool write)
{
	static unsigned char kb[3 * PS], fb[3 * PS];
	size_t off = rnd(&rs) % (store_bytes + PS), len = 1 + rnd(&rs) % sizeof(kb);
	if (write) {
		fill_pattern(kb, len, rnd(&rs));
		/* the oracle file must not grow: the mappings assume its size */
		size_t n = off >= store_bytes ? 0 : store_bytes - off < len ? store_bytes - off : len;
		if (!fixed && !n)
			return;
		ssize_t fr = fm_store_pwrite(store, kb, fixed ? len : n, (off_t)off);
		CHECK_EQ(fr, n ? (ssize_t)n : -1);
		if (!n)
			CHECK_EQ(errno, ENOSPC);
		if (n)
			CHECK_EQ(pwrite(oracle, kb, n, (off_t)off), n);
	} else {
		ssize_t kr = pread(oracle, kb, len, (off_t)off);
		CHECK_EQ(fm_store_pread(store, fb, len, (off_t)off), kr);
		CHECK(kr <= 0 || memcmp(kb, fb, (size_t)kr) == 0);
	}
}

long store_differential(struct fm_store *s, int fd, size_t bytes, bool fixed_size)
{
	const char *e = getenv("FM_DIFF_SEED");
	rs = e ? strtoull(e, NULL, 0) : 0x5eed;
	e = getenv("FM_DIFF_OPS");
	long ops = e ? atol(e) : 4000;
	store = s;
	oracle = fd;
	store_bytes = bytes;
	fixed = fixed_size;
	for (long i = 0; i < ops; i++) {
		switch (rnd(&rs) % 10) {
		case 0: op_map(); break;
		case 1: op_unmap(); break;
		case 2: case 3: op_access(true); break;
		case 4: case 5: op_access(false); break;
		case 6: op_msync(); break;
		case 7: op_rw(true); break;
		default: op_rw(false); break;
		}
	}
	while (nmaps) {
		struct map *m = &maps[--nmaps];
		CHECK(munmap(m->k, m->len) == 0);
		CHECK(fm_munmap(m->f, m->len) == 0); /* the last writes back */
	}
	return ops;
}

unsigned char *store_round_trip(struct fm_store *s, unsigned char *want, size_t pages,
				store_check_fn check)
{
	size_t size = pages * PS;
	unsigned char *p = fm_mmap_store(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, want, size) == 0);
	for (size_t i = 0; i < pages; i += 3) {
		memset(p + i * PS + 100, (int)(0xa0 + i), 200);
		memset(want + i * PS + 100, (int)(0xa0 + i), 200);
	}
	CHECK(fm_msync(p, size, MS_SYNC) == 0);
	check(want, size);
	/* pwrite through the cache: the mapping sees it at once, the store
	 * has it on return. */
	char msg[] = "written by fm_store_pwrite across a page boundary";
	CHECK_EQ(fm_store_pwrite(s, msg, sizeof(msg), 5 * PS - 10), sizeof(msg));
	memcpy(want + 5 * PS - 10, msg, sizeof(msg));
	CHECK(memcmp(p + 5 * PS - 10, msg, sizeof(msg)) == 0);
	check(want, size);
	unsigned char back[3 * PS];
	CHECK_EQ(fm_store_pread(s, back, sizeof(back), 4 * PS), sizeof(back));
	CHECK(memcmp(back, want + 4 * PS, sizeof(back)) == 0);
	CHECK_EQ(fm_store_pread(s, back, sizeof(back), size - 100), 100);
	CHECK_EQ(fm_store_pread(s, back, sizeof(back), size), 0);
	CHECK_EQ(fm_store_pread(s, back, 1, -1), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(fm_store_pread(s, (void *)8, 100, 0), -1);
	CHECK_EQ(errno, EFAULT);
	return p;
}

void store_read_only(const char *url, const unsigned char *want, size_t size)
{
	struct fm_store *ro = fm_store_open(url, O_RDONLY);
	CHECK(ro);
	errno = 0;
	CHECK(fm_mmap_store(NULL, PS, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED);
	CHECK_EQ(errno, EACCES);
	CHECK_EQ(fm_store_pwrite(ro, "x", 1, 0), -1);
	CHECK_EQ(errno, EBADF);
	unsigned char *p = fm_mmap_store(NULL, size, PROT_READ, MAP_PRIVATE, ro, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, want, size) == 0);
	CHECK(fm_munmap(p, size) == 0);
	CHECK(fm_store_close(ro) == 0);
}

void store_rescue_of_client(void (*fn)(void *), void *arg, char *name, size_t size)
{
	int status = in_child(fn, arg);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		exit(77);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(rescue_files(RESCUE_PREFIX, NULL, name, size), 1);
	CHECK(!strncmp(name, RESCUE_STORE_PREFIX, strlen(RESCUE_STORE_PREFIX)));
	daemon_kill();
}

void store_rescue_written_then_landed_or_kept(const unsigned char *want, size_t size,
					      void (*put)(const unsigned char *bytes),
					      void (*is)(const unsigned char *bytes), char *name,
					      size_t name_size)
{
	CHECK_EQ(rescue_files(RESCUE_STORE_PREFIX, NULL, name, name_size), 1);
	char path[512], copy[512];
	snprintf(path, sizeof(path), "%s/faultmap/%s", getenv("XDG_RUNTIME_DIR"), name);
	snprintf(copy, sizeof(copy), "%s/faultmap/kept-copy", getenv("XDG_RUNTIME_DIR"));
	copy_file(path, copy, 0);
	require_engine_in_child(); /* a new daemon: it writes them back first */
	is(want);
	CHECK_EQ(rescue_files(RESCUE_STORE_PREFIX, NULL, name, name_size), 0);
	CHECK(daemon_log_says("were written from the rescue file"));
	CHECK(daemon_stop() == 0);

	/* Landed: the object holds the rescued bytes at another version. */
	put(want);
	copy_file(copy, path, 0);
	require_engine_in_child();
	CHECK(daemon_log_says("had already reached it"));
	CHECK_EQ(rescue_files(RESCUE_STORE_PREFIX, NULL, name, name_size), 0);
	is(want);
	CHECK(daemon_stop() == 0);

	/* Changed: it holds other bytes there. */
	unsigned char *other = malloc(size);
	CHECK(other);
	for (size_t i = 0; i < size; i++)
		other[i] = (unsigned char)~want[i];
	put(other);
	CHECK(rename(copy, path) == 0);
	require_engine_in_child();
	CHECK(daemon_log_says("the object changed since (its version or its size is not the one it "
			      "was): kept"));
	CHECK_EQ(rescue_files(RESCUE_STORE_PREFIX, NULL, name, name_size), 1);
	is(other);
	CHECK(daemon_stop() == 0);
	unlink(path);
	free(other);
}

void store_daemon_killed(const char *url, unsigned char *want, size_t pages, size_t first,
			 size_t step, store_has_fn has)
{
	size_t size = pages * PS, again = first * PS + 10; /* a page written already */
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) { /* the client, in a process of its own */
		daemon_private();
		require_engine();
		struct fm_store *s = fm_store_open(url, O_RDWR);
		CHECK(s);
		unsigned char *p = fm_mmap_store(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
		CHECK(p != MAP_FAILED);
		for (size_t i = first; i < pages; i += step) /* dirty, never msync'd */
			memcpy(p + i * PS, want + i * PS, PS);
		CHECK(fm_store_close(s) == 0); /* the mapping outlives the handle */
		pid_t d = daemon_pid();
		CHECK(d > 0);
		CHECK(kill(d, SIGKILL) == 0);
		bool written = false;
		for (int t = 0; t < 300 && !written; t++) { /* the watcher's flush */
			usleep(50000);
			written = has(want, size);
		}
		CHECK(written);
		p[again] ^= 0xff; /* still mapped: a dirty page takes more writes */
		exit(0); /* at exit, the later write too */
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		exit(77);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fprintf(stderr, "the client ended with status %#x\n", (unsigned)status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	want[again] ^= 0xff;
	CHECK(has(want, size));
}
