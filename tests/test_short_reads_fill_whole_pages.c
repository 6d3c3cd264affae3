/*
 * The file may return fewer bytes than asked (a short read): the engine
 * reads on until the cluster is complete, and every page is right.
 */
#include "helpers.h"
#include "internal.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static _Atomic long calls;

static ssize_t short_pread(int fd, void *buf, size_t n, off_t off)
{
	calls++;
	return pread(fd, buf, n < 100 ? n : 100, off);
}

int main(void)
{
	require_engine();
	fm_sys.pread = short_pread;
	char path[64];
	const size_t size = 40 * PS + 77;
	int fd = make_file(path, size, 71, O_RDONLY);
	unsigned char *want = malloc(size);
	fill_pattern(want, size, 71);
	unsigned char *p = fm_mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, want, size) == 0);
	CHECK(calls > 40);
	fm_munmap(p, size);
	free(want);
	close(fd);
	unlink(path);
	return 0;
}
