/*
 * A mapping of an NBD export (nbdkit, over a Unix socket) reads the
 * export's bytes, and its writes reach the export at fm_msync(MS_SYNC);
 * fm_store_pwrite and fm_store_pread go through the same cache; a new
 * store of the same URL reads what the first wrote. A read-only store
 * refuses a shared writable mapping (EACCES) and fm_store_pwrite (EBADF).
 */
#include "helpers.h"
#include "nbdkit.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#define PAGES 64

int main(void)
{
	struct nbdkit k;
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

	unsigned char *p = fm_mmap_store(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, want, PAGES * PS) == 0);
	for (size_t i = 0; i < PAGES; i += 3) {
		memset(p + i * PS + 100, (int)(0xa0 + i), 200);
		memset(want + i * PS + 100, (int)(0xa0 + i), 200);
	}
	CHECK(fm_msync(p, PAGES * PS, MS_SYNC) == 0);
	check_file_is(k.disk, want, PAGES * PS);

	/* pwrite through the cache: the mapping sees it at once, the export
	 * has it on return. */
	char msg[] = "written by fm_store_pwrite across a page boundary";
	CHECK_EQ(fm_store_pwrite(s, msg, sizeof(msg), 5 * PS - 10), sizeof(msg));
	memcpy(want + 5 * PS - 10, msg, sizeof(msg));
	CHECK(memcmp(p + 5 * PS - 10, msg, sizeof(msg)) == 0);
	check_file_is(k.disk, want, PAGES * PS);
	unsigned char back[3 * PS];
	CHECK_EQ(fm_store_pread(s, back, sizeof(back), 4 * PS), sizeof(back));
	CHECK(memcmp(back, want + 4 * PS, sizeof(back)) == 0);
	/* at the end of the export: short, then nothing */
	CHECK_EQ(fm_store_pread(s, back, sizeof(back), PAGES * PS - 100), 100);
	CHECK_EQ(fm_store_pread(s, back, sizeof(back), PAGES * PS), 0);
	CHECK_EQ(fm_store_pwrite(s, msg, sizeof(msg), PAGES * PS - 10), 10);
	memcpy(want + PAGES * PS - 10, msg, 10);
	errno = 0;
	CHECK_EQ(fm_store_pwrite(s, msg, sizeof(msg), PAGES * PS), -1);
	CHECK_EQ(errno, ENOSPC);
	CHECK_EQ(fm_store_pread(s, back, 1, -1), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(fm_store_pread(s, (void *)8, 100, 0), -1);
	CHECK_EQ(errno, EFAULT);

	CHECK(fm_munmap(p, PAGES * PS) == 0);
	CHECK(fm_store_close(s) == 0);
	check_file_is(k.disk, want, PAGES * PS);

	/* A new store of the URL reads it all back, through a new cache. */
	struct fm_store *ro = fm_store_open(k.url, O_RDONLY);
	CHECK(ro);
	errno = 0;
	CHECK(fm_mmap_store(NULL, PS, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED);
	CHECK_EQ(errno, EACCES);
	CHECK_EQ(fm_store_pwrite(ro, msg, 1, 0), -1);
	CHECK_EQ(errno, EBADF);
	p = fm_mmap_store(NULL, PAGES * PS, PROT_READ, MAP_PRIVATE, ro, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, want, PAGES * PS) == 0);
	CHECK(fm_munmap(p, PAGES * PS) == 0);
	CHECK(fm_store_close(ro) == 0);
	free(want);
	nbdkit_stop(&k);
	printf("ok\n");
	return 0;
}
