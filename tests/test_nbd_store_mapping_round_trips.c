/*
 * A mapping of an NBD export (nbdkit, over a Unix socket) reads the
 * export's bytes, and its writes reach the export at fm_msync(MS_SYNC);
 * fm_store_pwrite and fm_store_pread go through the same cache; a new
 * store of the same URL reads what the first wrote. A read-only store
 * refuses a shared writable mapping (EACCES) and fm_store_pwrite (EBADF).
 */
#include "helpers.h"
#include "nbdkit.h"
#include "store_tests.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#define PAGES 64

static struct nbdkit k;

static void check_export(const unsigned char *want, size_t size)
{
	check_file_is(k.disk, want, size);
}

int main(void)
{
	nbdkit_start(&k, PAGES * PS, 7);
	require_engine();
	struct fm_store *s = fm_store_open(k.url, O_RDWR);
	if (!s) {
		printf("SKIP: fm_store_open(%s): %s\n", k.url, strerror(errno));
		nbdkit_stop(&k);
		return 77;
	}
	CHECK_EQ(fm_store_size(s), PAGES * PS);
	unsigned char *want = malloc(PAGES * PS);
	CHECK(want);
	fill_pattern(want, PAGES * PS, 7);

	unsigned char *p = store_round_trip(s, want, PAGES, check_export);
	char msg[] = "written by fm_store_pwrite across a page boundary";
	/* at the end of the export: a write is short, then ENOSPC */
	CHECK_EQ(fm_store_pwrite(s, msg, sizeof(msg), PAGES * PS - 10), 10);
	memcpy(want + PAGES * PS - 10, msg, 10);
	errno = 0;
	CHECK_EQ(fm_store_pwrite(s, msg, sizeof(msg), PAGES * PS), -1);
	CHECK_EQ(errno, ENOSPC);

	CHECK(fm_munmap(p, PAGES * PS) == 0);
	CHECK(fm_store_close(s) == 0);
	check_file_is(k.disk, want, PAGES * PS);

	/* A new store of the URL reads it all back, through a new cache. */
	store_read_only(k.url, want, PAGES * PS);
	free(want);
	nbdkit_stop(&k);
	printf("ok\n");
	return 0;
}
