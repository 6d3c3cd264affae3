/*
 * A first write through a shared mapping to a page the file has no blocks
 * for, on a full file system, raises SIGBUS at the write, as the kernel
 * does (its page_mkwrite reserves the blocks): the data is never accepted
 * and then lost at write-back. A sparse 4 MiB file on a 1 MiB tmpfs is
 * filled page by page through a kernel mapping, then through a faultmap
 * mapping: both stop with SIGBUS at the same page, and after fm_msync
 * every page faultmap accepted is in the file. Needs root to mount the
 * tmpfs; skipped otherwise. (On ext4: test_first_write_on_full_ext4_...)
 */
#include "helpers.h"

#include <fcntl.h>
#include <unistd.h>

#define NPAGES 1024 /* 4 MiB */

int main(void)
{
	require_sigbus_delivery();
	require_engine();
	char dir[64], path[128];
	mount_tmpfs(dir, "size=1m");
	snprintf(path, sizeof(path), "%s/file", dir);

	/* The oracle: the kernel's mapping. */
	size_t kernel_stop = fill_until_sigbus(path, NPAGES, false, NULL, NULL);
	CHECK(kernel_stop < NPAGES);
	/* faultmap, on the same (emptied) file system. */
	unsigned char *p;
	int fd;
	size_t stop = fill_until_sigbus(path, NPAGES, true, &p, &fd);
	CHECK_EQ(stop, kernel_stop);
	check_filled_until(path, p, stop, NPAGES);
	CHECK_EQ(fm_munmap(p, NPAGES * PS), 0);
	close(fd);
	return 0;
}
