/*
 * The differential test over an NBD store: the same random operations
 * (map shared or private, unmap part or whole, write and read through the
 * mappings, msync, fm_store_pwrite/fm_store_pread against pwrite/pread)
 * run on an export of nbdkit through faultmap and on a local file through
 * the kernel's mmap, the oracle (tests/store_tests.c). Every byte
 * read must match, and at the end the export's bytes must be the oracle
 * file's. With a 32-page budget, so that eviction and write-back happen
 * mid-sequence.
 *
 * FM_DIFF_OPS changes the number of operations; FM_DIFF_SEED the seed.
 */
#include "helpers.h"
#include "nbdkit.h"
#include "store_tests.h"

#include <fcntl.h>
#include <unistd.h>

#define SIZE (200 * PS + 1000) /* not a page multiple */

int main(void)
{
	struct nbdkit k;
	nbdkit_start(&k, SIZE, 21);
	CHECK(fm_set_budget(32 * PS) == 0);
	require_engine();
	char path[64];
	int oracle = make_file(path, SIZE, 21, O_RDWR);
	struct fm_store *store = fm_store_open(k.url, O_RDWR);
	CHECK(store);
	long ops = store_differential(store, oracle, SIZE, true);
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
