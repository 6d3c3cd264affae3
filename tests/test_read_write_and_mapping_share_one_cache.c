/*
 * read()/write() and mappings see one page cache, as on Linux: fm_pwrite is
 * seen at once through a shared and an untouched private mapping;
 * fm_pread sees a shared mapping's write before any write-back; a write
 * past EOF grows the file and the mapping can reach the new page; fm_write
 * and fm_read move the file offset.
 */
#include "helpers.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	require_engine();
	char path[64];
	const size_t size = 4 * PS;
	int fd = make_file(path, size, 5, O_RDWR);
	unsigned char *s = fm_mmap(NULL, 8 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	unsigned char *c = fm_mmap(NULL, 8 * PS, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK(s != MAP_FAILED && c != MAP_FAILED);
	volatile unsigned char warm = s[PS] + c[PS]; /* both map page 1 */
	(void)warm;

	CHECK(fm_pwrite(fd, "abc", 3, PS + 10) == 3);
	CHECK(!memcmp(s + PS + 10, "abc", 3));
	CHECK(!memcmp(c + PS + 10, "abc", 3));

	memcpy(s + 2 * PS + 5, "xyz", 3);
	char buf[8] = {0};
	CHECK(fm_pread(fd, buf, 3, 2 * PS + 5) == 3);
	CHECK(!memcmp(buf, "xyz", 3));

	/* Grow the file by writing past EOF: page 5 appears in the mapping,
	 * and the gap reads as zeros. */
	CHECK(fm_pwrite(fd, "end", 3, 5 * PS + 1) == 3);
	CHECK(!memcmp(s + 5 * PS + 1, "end", 3));
	CHECK_EQ(s[4 * PS + 50], 0);
	struct stat st;
	CHECK(fstat(fd, &st) == 0);
	CHECK_EQ(st.st_size, 5 * PS + 4);

	CHECK(lseek(fd, PS + 10, SEEK_SET) == (off_t)(PS + 10));
	CHECK(fm_read(fd, buf, 3) == 3);
	CHECK(!memcmp(buf, "abc", 3));
	CHECK(lseek(fd, 0, SEEK_CUR) == (off_t)(PS + 13));
	CHECK(fm_write(fd, "Q", 1) == 1);
	CHECK_EQ(s[PS + 13], 'Q');
	CHECK(lseek(fd, 0, SEEK_CUR) == (off_t)(PS + 14));

	CHECK(fm_munmap(s, 8 * PS) == 0);
	CHECK(fm_munmap(c, 8 * PS) == 0);
	size_t n;
	unsigned char *file = slurp(path, &n);
	CHECK_EQ(n, 5 * PS + 4);
	CHECK(!memcmp(file + 2 * PS + 5, "xyz", 3));
	CHECK(!memcmp(file + PS + 10, "abcQ", 4));
	free(file);
	close(fd);
	unlink(path);
	return 0;
}
