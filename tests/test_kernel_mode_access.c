/*
 * System calls can use a mapping as their buffer: write(fd2, p, n) reads
 * pages not yet in the cache (the fault is taken inside the kernel) and
 * read(fd3, p, n) fills a shared mapping, whose data then reaches the file.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	require_engine();
	char src[64], dst[64], in[64];
	const size_t size = 16 * PS + 123;
	int fd = make_file(src, size, 11, O_RDWR);
	int out = make_file(dst, 0, 0, O_RDWR);
	int infd = make_file(in, 3 * PS, 12, O_RDONLY);

	unsigned char *p = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(write(out, p, size) == (ssize_t)size); /* faults inside write() */
	size_t n1, n2;
	unsigned char *a = slurp(src, &n1), *b = slurp(dst, &n2);
	CHECK_EQ(n2, size);
	CHECK(memcmp(a, b, size) == 0);

	CHECK(read(infd, p + 5 * PS, 3 * PS) == 3 * PS); /* kernel writes into p */
	CHECK(fm_munmap(p, size) == 0);
	unsigned char *want = malloc(3 * PS);
	fill_pattern(want, 3 * PS, 12);
	free(a);
	a = slurp(src, &n1);
	CHECK(memcmp(a + 5 * PS, want, 3 * PS) == 0);
	CHECK(memcmp(a, b, 5 * PS) == 0);
	free(a), free(b), free(want);
	close(fd), close(out), close(infd);
	unlink(src), unlink(dst), unlink(in);
	return 0;
}
