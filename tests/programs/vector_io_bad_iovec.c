/*
 * vector_io_bad_iovec - readv, writev, preadv, pwritev, preadv2 and
 * pwritev2 on a mapped (so, under faultmap run, cached) file, with an
 * iovec array the kernel cannot read (NULL, address 1, a PROT_NONE page,
 * an array running into one) or refuses (a negative length); then a good
 * one. Prints each call's result and errno, to compare with the kernel's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define PS 4096

static void show(const char *what, const char *call, ssize_t r)
{
	printf("%s %s: %zd %s\n", call, what, r, r < 0 ? strerrorname_np(errno) : "");
}

static void all_calls(int fd, const struct iovec *iov, int n, const char *what)
{
	show(what, "readv", readv(fd, iov, n));
	show(what, "writev", writev(fd, iov, n));
	show(what, "preadv", preadv(fd, iov, n, 0));
	show(what, "pwritev", pwritev(fd, iov, n, 0));
	show(what, "preadv2", preadv2(fd, iov, n, 0, 0));
	show(what, "pwritev2", pwritev2(fd, iov, n, 0, 0));
}

int main(void)
{
	int fd = open("data.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 4 * PS))
		return 1;
	char *map = mmap(NULL, 4 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *pages = mmap(NULL, 2 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED || pages == MAP_FAILED || mprotect(pages + PS, PS, PROT_NONE))
		return 1;
	memset(map, 'm', 4 * PS);
	static char buf[64];
	all_calls(fd, NULL, 1, "NULL iovec");
	all_calls(fd, (const struct iovec *)1, 1, "iovec at address 1");
	all_calls(fd, (const struct iovec *)(pages + PS), 1, "PROT_NONE iovec");
	/* Two elements, the second on the PROT_NONE page. */
	struct iovec *edge = (struct iovec *)(pages + PS) - 1;
	*edge = (struct iovec){buf, sizeof(buf)};
	all_calls(fd, edge, 2, "iovec running into PROT_NONE");
	struct iovec neg[2] = {{buf, sizeof(buf)}, {buf, (size_t)-5}};
	all_calls(fd, neg, 2, "negative length");
	struct iovec good[2] = {{buf, 16}, {map + PS, 16}};
	all_calls(fd, good, 2, "good iovec");
	printf("file offset %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
	munmap(map, 4 * PS);
	close(fd);
	return 0;
}
