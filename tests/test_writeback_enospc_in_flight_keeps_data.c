/*
 * A real write error during a batched write-back (several page writes in
 * flight at once through io_uring) keeps the data: the file lives on a
 * tmpfs too small for it, so some writes fail with ENOSPC (and one run is
 * cut short) while others succeed. fm_msync reports ENOSPC, the pages stay
 * dirty and readable, and once there is room, the next fm_msync puts every
 * byte in the file. (test_failed_writeback_keeps_data_and_reports injects
 * errors instead, through fm_sys.pwrite, on the one-write-at-a-time path.)
 * The file system is made to look like one without fallocate (fm_sys):
 * on tmpfs, the reservation at the first write would otherwise raise
 * SIGBUS there (test_first_write_on_full_fs_raises_sigbus), and no write
 * would ever fail. Needs root to mount the tmpfs; skipped otherwise.
 * Embedded mode only: the daemon's engine cannot be rigged so (its
 * first write on a full tmpfs raises SIGBUS, as it should).
 */
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#define NPAGES 24

/* The file system has no fallocate: no block is reserved before a write. */
static int no_fallocate(int fd, int mode, off_t off, off_t len)
{
	(void)fd, (void)mode, (void)off, (void)len;
	errno = EOPNOTSUPP;
	return -1;
}

int main(void)
{
	/* fm_sys rigs this process's engine: embedded mode only. */
	pin_embedded_mode("fm_sys.fallocate rigs its own engine");
	fm_sys.fallocate = no_fallocate;
	require_engine();
	char dir[64], path[128];
	mount_tmpfs(dir, "size=32k"); /* room for 8 of the file's 24 pages */
	snprintf(path, sizeof(path), "%s/file", dir);
	const size_t size = NPAGES * PS;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, (off_t)size) == 0); /* sparse: no blocks yet */

	unsigned char *want = calloc(1, size);
	CHECK(want);
	unsigned char *p = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	/* Pages 0-5 in one run (it will be cut short), then every other page:
	 * single-page runs, all in flight together. */
	for (size_t i = 0; i < NPAGES; i++)
		if (i < 6 || i % 2) {
			memset(want + i * PS, (int)(0x40 + i), PS);
			memcpy(p + i * PS, want + i * PS, PS);
		}

	errno = 0;
	CHECK_EQ(fm_msync(p, size, MS_SYNC), -1);
	CHECK_EQ(errno, ENOSPC);
	struct fm_stats st;
	CHECK(fm_stats(&st) == 0);
	CHECK(st.writeback_errors > 0);
	CHECK(st.dirty_bytes > 0);
	CHECK(memcmp(p, want, size) == 0);

	/* Room now: everything reaches the file. */
	CHECK(mount("faultmap-test", dir, "tmpfs", MS_REMOUNT, "size=1m") == 0);
	CHECK_EQ(fm_msync(p, size, MS_SYNC), 0);
	CHECK(fm_stats(&st) == 0);
	CHECK_EQ(st.dirty_bytes, 0);
	check_file_is(path, want, size);
	CHECK(memcmp(p, want, size) == 0);

	CHECK(fm_munmap(p, size) == 0);
	close(fd);
	free(want);
	return 0;
}
