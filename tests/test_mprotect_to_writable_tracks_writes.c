/*
 * A shared mapping made read-only does not track writes (it keeps the
 * kernel's fault-around); when fm_mprotect makes it writable, writes to the
 * pages it already has cached must still be noticed and reach the file.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define PAGES 8

int main(void)
{
	require_engine();
	char path[64];
	int fd = make_file(path, PAGES * PS, 131, O_RDWR);
	unsigned char *want = malloc(PAGES * PS);
	fill_pattern(want, PAGES * PS, 131);
	unsigned char *p = fm_mmap(NULL, PAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, want, PAGES * PS) == 0); /* every page cached */

	CHECK(fm_mprotect(p + 2 * PS, 4 * PS, PROT_READ | PROT_WRITE) == 0);
	for (int i = 2; i < 6; i++) {
		p[i * PS + 9] = (unsigned char)(0x70 + i);
		want[i * PS + 9] = (unsigned char)(0x70 + i);
	}
	struct fm_stats st;
	fm_stats(&st);
	CHECK_EQ(st.dirty_bytes, 4 * PS);
	CHECK(fm_munmap(p, PAGES * PS) == 0);
	size_t n;
	unsigned char *file = slurp(path, &n);
	CHECK(memcmp(file, want, PAGES * PS) == 0);
	free(file), free(want);
	close(fd);
	unlink(path);
	return 0;
}
