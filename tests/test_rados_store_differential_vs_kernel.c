/*
 * The differential test over a RADOS store: the same random operations
 * (map shared or private, unmap part or whole, write and read through the
 * mappings, msync, fm_store_pwrite/fm_store_pread against pwrite/pread)
 * run on an object of a real single-node Ceph cluster through faultmap and
 * on a local file through the kernel's mmap, the oracle
 * (tests/store_tests.c). Every byte read must match, and at the end
 * the object, read with librados (the rados tool), must be the oracle
 * file. With a 32-page budget, so that eviction and write-back (runs in
 * flight together) happen mid-sequence.
 *
 * FM_DIFF_OPS changes the number of operations; FM_DIFF_SEED the seed.
 */
#include "ceph.h"
#include "helpers.h"
#include "store_tests.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define SIZE (200 * PS + 1000) /* not a page multiple */

int main(void)
{
	struct ceph c;
	ceph_start(&c);
	CHECK(fm_set_budget(32 * PS) == 0);
	require_engine();
	char path[64], url[256];
	int oracle = make_file(path, SIZE, 21, O_RDWR);
	size_t n;
	unsigned char *want = slurp(path, &n);
	ceph_put(&c, "diff", want, n);
	free(want);
	ceph_url(&c, "diff", url, sizeof(url));
	struct fm_store *store = fm_store_open(url, O_RDWR);
	CHECK(store);
	long ops = store_differential(store, oracle, SIZE, false);
	CHECK(fm_store_close(store) == 0);
	want = slurp(path, &n);
	CHECK_EQ(n, SIZE);
	size_t got_n;
	unsigned char *got = ceph_get(&c, "diff", &got_n);
	CHECK(got);
	CHECK_EQ(got_n, SIZE);
	for (size_t i = 0; i < SIZE; i++)
		if (got[i] != want[i]) {
			fprintf(stderr, "object byte %zu is %#x, the oracle's %#x\n", i, got[i],
				want[i]);
			exit(1);
		}
	free(got);
	free(want);
	close(oracle);
	unlink(path);
	ceph_stop(&c);
	printf("%ld operations, object == oracle file\n", ops);
	return 0;
}
