/*
 * faultmap cache --evict (FMD_CACHE_EVICT) on a file this process maps
 * shared and has written: the dirty pages of the range are written back
 * first (the file, read by the kernel, holds every write), then every page
 * of the range leaves the daemon's cache (resident 0), the pages past the
 * range stay; the mapping then reads the file's bytes again (its pages
 * come back from the file), and a write after the eviction is tracked
 * again (dirty). The residency report (FMD_CACHE_QUERY) agrees at each step.
 */
#include "helpers.h"
#include "client/client.h"
#include "internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 64

static struct fmd_cache_info ask(int fd, int what, uint64_t off, uint64_t len)
{
	struct fmd_cache_info in;
	memset(&in, 0xff, sizeof(in));
	CHECK_EQ(client_cache(fd, what, off, len, &in, NULL), 0);
	return in;
}

int main(void)
{
	daemon_private();
	require_engine();
	char path[64];
	int fd = make_file(path, PAGES * PS, 5, O_RDWR);
	unsigned char *want = malloc(PAGES * PS);
	fill_pattern(want, PAGES * PS, 5);
	unsigned char *p = fm_mmap(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, want, PAGES * PS) == 0);
	for (int i = 10; i < 20; i++) {
		memset(p + i * PS + 100, 0xa0 + i, 50);
		memset(want + i * PS + 100, 0xa0 + i, 50);
	}
	struct fmd_cache_info in = ask(fd, FMD_CACHE_QUERY, 0, 0);
	CHECK_EQ(in.cached, 1);
	CHECK_EQ(in.size, PAGES * PS);
	CHECK_EQ(in.first, 0);
	CHECK_EQ(in.count, PAGES);
	CHECK_EQ(in.resident, PAGES);
	CHECK_EQ(in.dirty, 10);
	CHECK_EQ(in.locked, 0);

	/* Pages 0-31 (bytes 1..128K: rounded out to whole pages). */
	in = ask(fd, FMD_CACHE_EVICT, 1, 32 * PS - 1);
	CHECK_EQ(in.first, 0);
	CHECK_EQ(in.count, 32);
	CHECK_EQ(in.err, 0);
	CHECK_EQ(in.done, 32);
	CHECK_EQ(in.kept_dirty, 0);
	CHECK_EQ(in.kept_locked, 0);
	CHECK_EQ(in.resident, 0);
	CHECK_EQ(in.dirty, 0);
	check_file_is(path, want, PAGES * PS); /* written back before dropped */
	in = ask(fd, FMD_CACHE_QUERY, 32 * PS, 0);
	CHECK_EQ(in.first, 32);
	CHECK_EQ(in.count, 32);
	CHECK_EQ(in.resident, 32);

	/* Read again, from the file; written again, tracked again. */
	CHECK(memcmp(p, want, PAGES * PS) == 0);
	in = ask(fd, FMD_CACHE_QUERY, 0, 32 * PS);
	CHECK_EQ(in.resident, 32);
	CHECK_EQ(in.dirty, 0);
	p[5 * PS] = 1;
	want[5 * PS] = 1;
	in = ask(fd, FMD_CACHE_QUERY, 0, 0);
	CHECK_EQ(in.dirty, 1);
	/* A range past the end is empty, not an error. */
	in = ask(fd, FMD_CACHE_EVICT, 100 * PS, PS);
	CHECK_EQ(in.count, 0);
	CHECK_EQ(in.done, 0);
	CHECK(fm_munmap(p, PAGES * PS) == 0);
	check_file_is(path, want, PAGES * PS);
	close(fd);
	unlink(path);
	free(want);
	return 0;
}
