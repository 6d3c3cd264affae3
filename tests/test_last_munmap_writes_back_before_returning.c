/*
 * The last munmap of a file writes its dirty pages back before it returns,
 * even while a read of that file is still in flight (a readahead window
 * ahead of the writer): a reader that opens the file right after the
 * munmap finds every byte written. Before, the write-back was left to the
 * end of the read, and a reader could come first. Reads are made slow
 * (fm_sys.pread) so that one is always in flight at the munmap.
 */
#include "helpers.h"
#include "internal.h"

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FILE_PAGES 2048 /* 8 MiB */
#define WRITE_PAGES 512 /* a stream long enough to be read ahead */
#define ROUNDS 5

static ssize_t slow_pread(int fd, void *buf, size_t n, off_t off)
{
	struct timespec ts = {0, 20 * 1000 * 1000};
	nanosleep(&ts, NULL);
	return pread(fd, buf, n, off);
}

int main(void)
{
	require_engine();
	fm_sys.pread = slow_pread;
	size_t size = FILE_PAGES * PS;
	unsigned char *want = malloc(size);
	CHECK(want);
	for (int round = 0; round < ROUNDS; round++) {
		char path[64];
		int fd = make_file(path, size, 40 + (uint32_t)round, O_RDWR);
		fill_pattern(want, size, 40 + (uint32_t)round);
		unsigned char *p = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		CHECK(p != MAP_FAILED);
		for (size_t i = 0; i < WRITE_PAGES; i++) {
			p[i * PS + 7] = (unsigned char)(0xa0 + round);
			want[i * PS + 7] = (unsigned char)(0xa0 + round);
		}
		CHECK_EQ(fm_munmap(p, size), 0);
		check_file_is(path, want, size); /* the kernel's read of the file */
		close(fd);
		unlink(path);
	}
	struct fm_stats st;
	fm_stats(&st);
	fprintf(stderr, "pages read ahead: %llu\n", (unsigned long long)st.readahead_pages);
	CHECK(st.readahead_pages > 0); /* a read was in flight to race with */
	free(want);
	return 0;
}
