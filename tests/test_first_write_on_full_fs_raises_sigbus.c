/*
 * A first write through a shared mapping to a page the file has no blocks
 * for, on a full file system, raises SIGBUS at the write, as the kernel
 * does (its page_mkwrite reserves the blocks): the data is never accepted
 * and then lost at write-back. A sparse 4 MiB file on a 1 MiB tmpfs is
 * filled page by page through a kernel mapping, then through a faultmap
 * mapping: both stop with SIGBUS at the same page, and after fm_msync
 * every page faultmap accepted is in the file. Needs root to mount the
 * tmpfs; skipped otherwise.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define NPAGES 1024 /* 4 MiB */

static char path[128];
static int sparse_file(void)
{
	unlink(path);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, (off_t)(NPAGES * PS)) == 0);
	return fd;
}

/* fill - write page i with byte 0x40 + i % 64, in order, until SIGBUS.
 * Return: the page that raised SIGBUS, or NPAGES. */
static size_t fill(unsigned char *p)
{
	static volatile size_t i;
	sigbus_count = 0;
	for (i = 0; i < NPAGES; i++)
		if (sigsetjmp(sigbus_env, 1) == 0)
			memset(p + i * PS, (int)(0x40 + i % 64), PS);
		else
			break;
	return i;
}

int main(void)
{
	require_sigbus_delivery();
	require_engine();
	char dir[64];
	mount_tmpfs(dir, "size=1m");
	snprintf(path, sizeof(path), "%s/file", dir);
	catch_sigbus();
	const size_t size = NPAGES * PS;

	/* The oracle: the kernel's mapping. */
	int fd = sparse_file();
	unsigned char *k = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(k != MAP_FAILED);
	size_t kernel_stop = fill(k);
	CHECK(munmap(k, size) == 0);
	close(fd);
	printf("kernel: SIGBUS at page %zu\n", kernel_stop);
	CHECK(kernel_stop < NPAGES);
	CHECK_EQ(sigbus_count, 1);

	/* faultmap, on the same (emptied) file system. */
	fd = sparse_file();
	unsigned char *p = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	size_t stop = fill(p);
	printf("faultmap: SIGBUS at page %zu\n", stop);
	CHECK_EQ(sigbus_count, 1);
	CHECK_EQ(stop, kernel_stop);
	struct fm_stats st;
	CHECK(fm_stats(&st) == 0);
	CHECK_EQ(st.dirty_bytes, stop * PS); /* the refused page stays clean */

	/* Everything accepted reaches the file. */
	CHECK_EQ(fm_msync(p, size, MS_SYNC), 0);
	unsigned char *want = calloc(1, size);
	CHECK(want);
	for (size_t i = 0; i < stop; i++)
		memset(want + i * PS, (int)(0x40 + i % 64), PS);
	check_file_is(path, want, size);
	CHECK(memcmp(p, want, size) == 0);
	CHECK(fm_stats(&st) == 0);
	CHECK_EQ(st.writeback_errors, 0);
	CHECK_EQ(fm_munmap(p, size), 0);
	close(fd);
	free(want);
	return 0;
}
