/*
 * The file may return fewer bytes than asked (a short read): the engine
 * reads on until the cluster is complete, and every page is right. Both
 * ways a miss is read: with pread, and on the fault thread's io_uring.
 */
#include "helpers.h"
#include "internal.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static _Atomic long calls, ring_calls;

static ssize_t short_pread(int fd, void *buf, size_t n, off_t off)
{
	calls++;
	return pread(fd, buf, n < 100 ? n : 100, off);
}

static int short_ring_read(uint64_t off, uint64_t len, int res)
{
	(void)off, (void)len;
	ring_calls++;
	return res > 100 ? 100 : res;
}

int main(void)
{
	pin_embedded_mode("short reads injected through this process's fm_sys");
	require_engine();
	const size_t size = 40 * PS + 77;
	unsigned char *want = malloc(size);
	fill_pattern(want, size, 71);
	for (int pass = 1; pass <= 2; pass++) {
		if (pass == 1)
			fm_sys.pread = short_pread;
		else
			fm_sys.pread = sys_pread, fm_sys.read_done = short_ring_read;
		char path[64];
		int fd = make_file(path, size, 71, O_RDONLY);
		unsigned char *p = fm_mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		CHECK(p != MAP_FAILED);
		CHECK(memcmp(p, want, size) == 0);
		if (pass == 1)
			CHECK(calls > 40);
		else if (file_in_memory(fd))
			fprintf(stderr, "note: %s is in memory, read with pread: no ring pass\n", path);
		else
			CHECK(ring_calls > 0);
		fm_munmap(p, size);
		close(fd);
		unlink(path);
	}
	free(want);
	return 0;
}
