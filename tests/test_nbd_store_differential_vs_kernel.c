/*
 * The differential test over an NBD store: the same random operations
 * (map shared or private, unmap part or whole, write and read through the
 * mappings, msync, fm_store_pwrite/fm_store_pread against pwrite/pread)
 * run on an export of nbdkit through faultmap and on a local file through
 * the kernel's mmap, the oracle. Every byte read must match, and at the end
 * the export's bytes must be the oracle file's. With a 32-page budget, so
 * that eviction and write-back happen mid-sequence.
 *
 * FM_DIFF_OPS changes the number of operations; FM_DIFF_SEED the seed.
 */
#include "helpers.h"
#include "nbdkit.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define SIZE (200 * PS + 1000) /* not a page multiple */
#define PAGES ((SIZE + PS - 1) / PS)
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

/* in_file - bytes of m inside the store (the rest raises SIGBUS or is the
 * last page's tail, which stays out of the comparison). */
static size_t in_file(const struct map *m)
{
	return m->off >= SIZE ? 0 : SIZE - m->off < m->len ? SIZE - m->off : m->len;
}

static void op_map(void)
{
	if (nmaps == MAXMAPS)
		return;
	size_t off = (rnd(&rs) % PAGES) * PS;
	size_t len = (1 + rnd(&rs) % 24) * PS;
	if (off + len > PAGES * PS)
		len = PAGES * PS - off;
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
	size_t off = rnd(&rs) % (SIZE + PS), len = 1 + rnd(&rs) % sizeof(kb);
	if (write) {
		fill_pattern(kb, len, rnd(&rs));
		/* an export has a fixed size: the oracle file must not grow */
		size_t n = off >= SIZE ? 0 : SIZE - off < len ? SIZE - off : len;
		ssize_t fr = fm_store_pwrite(store, kb, len, (off_t)off);
		CHECK_EQ(fr, n ? (ssize_t)n : -1);
		if (n)
			CHECK_EQ(pwrite(oracle, kb, n, (off_t)off), n);
	} else {
		ssize_t kr = pread(oracle, kb, len, (off_t)off);
		CHECK_EQ(fm_store_pread(store, fb, len, (off_t)off), kr);
		CHECK(kr <= 0 || memcmp(kb, fb, (size_t)kr) == 0);
	}
}

int main(void)
{
	struct nbdkit k;
	nbdkit_start(&k, SIZE, 21);
	CHECK(fm_set_budget(32 * PS) == 0);
	require_engine();
	const char *e = getenv("FM_DIFF_SEED");
	rs = e ? strtoull(e, NULL, 0) : 0x5eed;
	e = getenv("FM_DIFF_OPS");
	long ops = e ? atol(e) : 4000;
	char path[64];
	oracle = make_file(path, SIZE, 21, O_RDWR);
	store = fm_store_open(k.url, O_RDWR);
	CHECK(store);
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
	CHECK(fm_store_close(store) == 0);
	size_t n;
	unsigned char *want = slurp(path, &n);
	CHECK_EQ(n, SIZE);
	check_file_is(k.disk, want, SIZE);
	free(want);
	close(oracle);
	unlink(path);
	nbdkit_stop(&k);
	printf("%ld operations, export == oracle file\n", ops);
	return 0;
}
