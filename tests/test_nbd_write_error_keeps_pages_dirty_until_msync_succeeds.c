/*
 * When the NBD server fails every write (its error filter, while a trigger
 * file exists), fm_msync(MS_SYNC) of a shared mapping reports EIO and the
 * export keeps its old bytes, but no data is lost: the pages stay dirty in
 * the cache, and once the errors stop the next fm_msync writes them and
 * succeeds. fm_store_pwrite fails with EIO too, and its data is written by
 * that same later msync. Done with a 16-page budget, so that eviction
 * meets the dirty pages it cannot write.
 */
#include "helpers.h"
#include "nbdkit.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#define PAGES 64
#define DIRTY 10

int main(void)
{
	struct nbdkit k;
	nbdkit_start(&k, PAGES * PS, 13);
	CHECK(fm_set_budget(16 * PS) == 0);
	require_engine();
	struct fm_store *s = fm_store_open(k.url, O_RDWR);
	CHECK(s);
	unsigned char *orig = malloc(PAGES * PS), *want = malloc(PAGES * PS);
	CHECK(orig && want);
	fill_pattern(orig, PAGES * PS, 13);
	memcpy(want, orig, PAGES * PS);
	unsigned char *p = fm_mmap_store(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);

	nbdkit_trigger(k.werr, 1);
	for (size_t i = 0; i < DIRTY; i++) {
		memset(p + i * 3 * PS, (int)(0x30 + i), PS);
		memset(want + i * 3 * PS, (int)(0x30 + i), PS);
	}
	char msg[] = "pwrite while the server fails";
	errno = 0;
	CHECK_EQ(fm_store_pwrite(s, msg, sizeof(msg), 50 * PS + 7), -1);
	CHECK_EQ(errno, EIO);
	memcpy(want + 50 * PS + 7, msg, sizeof(msg));
	errno = 0;
	CHECK_EQ(fm_msync(p, PAGES * PS, MS_SYNC), -1);
	CHECK_EQ(errno, EIO);
	check_file_is(k.disk, orig, PAGES * PS); /* nothing reached it */
	/* Reading the rest through the small cache evicts clean pages only. */
	for (size_t i = 0; i < PAGES * PS; i += PS)
		CHECK(memcmp(p + i, want + i, PS) == 0);
	struct fm_stats st;
	CHECK(fm_stats(&st) == 0);
	CHECK(st.writeback_errors > 0);

	/* Eviction's failed write-backs meanwhile are errors msync reports,
	 * once (errseq): now, while the server still fails. */
	CHECK_EQ(fm_msync(p, PAGES * PS, MS_SYNC), -1);
	CHECK_EQ(errno, EIO);
	nbdkit_trigger(k.werr, 0);
	CHECK_EQ(fm_msync(p, PAGES * PS, MS_SYNC), 0);
	check_file_is(k.disk, want, PAGES * PS);
	CHECK(fm_munmap(p, PAGES * PS) == 0);
	CHECK(fm_store_close(s) == 0);
	check_file_is(k.disk, want, PAGES * PS);
	free(orig);
	free(want);
	nbdkit_stop(&k);
	printf("ok\n");
	return 0;
}
