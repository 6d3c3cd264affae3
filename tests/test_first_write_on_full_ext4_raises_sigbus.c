/*
 * test_first_write_on_full_fs_raises_sigbus on ext4 (on a loop device),
 * whose page_mkwrite reserves blocks by delayed allocation where faultmap's
 * fallocate allocates them: a sparse 4 MiB file on a file system with
 * about 1 MiB free is filled through a kernel mapping, then through a
 * faultmap mapping. Both raise SIGBUS, near the same page (the two ways of
 * reserving count metadata blocks differently: 175 and 174 here), and
 * every page faultmap accepted reaches the file. Needs root and loop
 * devices; skipped otherwise.
 */
#include "helpers.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define NPAGES 1024 /* 4 MiB */
#define SLACK 16    /* pages the two reservations may differ by */

int main(void)
{
	require_sigbus_delivery();
	struct loopfs fs;
	loopfs_create(&fs, 16 << 20);
	require_engine();
	/* Leave about 1 MiB free. */
	char filler[128], path[128];
	snprintf(filler, sizeof(filler), "%s/filler", fs.dir);
	snprintf(path, sizeof(path), "%s/file", fs.dir);
	struct statvfs sv;
	CHECK(statvfs(fs.dir, &sv) == 0);
	uint64_t free_bytes = (uint64_t)sv.f_bfree * sv.f_frsize;
	CHECK(free_bytes > (2 << 20));
	int ffd = open(filler, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(ffd >= 0);
	CHECK(fallocate(ffd, 0, 0, (off_t)(free_bytes - (1 << 20))) == 0);
	close(ffd);

	size_t kernel_stop = fill_until_sigbus(path, NPAGES, false, NULL, NULL);
	CHECK(kernel_stop < NPAGES);
	unlink(path);
	sync(); /* its blocks are free again */
	unsigned char *p;
	int fd;
	size_t stop = fill_until_sigbus(path, NPAGES, true, &p, &fd);
	CHECK(stop + SLACK >= kernel_stop && stop <= kernel_stop + SLACK);
	check_filled_until(path, p, stop, NPAGES);
	CHECK_EQ(fm_munmap(p, NPAGES * PS), 0);
	close(fd);
	unlink(path);
	unlink(filler);
	loopfs_destroy(&fs);
	return 0;
}
