/*
 * dup2_every_fd.c - the program of the dup2 tests (tests/programs): map
 * data.bin shared, dirty every page, dup2() /dev/null onto every fd number
 * from 3 to 1024 it does not own (as daemons "sanitize" their fds), read
 * the mapping back, write more, unmap, exit. With an argument N, first set
 * its RLIMIT_NOFILE soft limit to N. Prints what the kernel and faultmap
 * runs must agree on.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define SIZE (2u << 20)
#define PAGE 4096u

int main(int argc, char **argv)
{
	struct rlimit rl;
	if (argc > 1) {
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return perror("getrlimit"), 1;
		rl.rlim_cur = strtoul(argv[1], NULL, 10);
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return perror("setrlimit"), 1;
	}
	int fd = open("data.bin", O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, SIZE) < 0)
		return perror("data.bin"), 1;
	unsigned char *m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return perror("mmap"), 1;
	for (unsigned off = 0; off < SIZE; off += PAGE)
		snprintf((char *)m + off, 32, "first %08u", off);
	int null = open("/dev/null", O_RDWR);
	if (null < 0)
		return perror("/dev/null"), 1;
	unsigned replaced = 0;
	for (int n = 3; n <= 1024; n++)
		if (n != fd && n != null && dup2(null, n) == n)
			replaced++;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return perror("getrlimit"), 1;
	printf("dup2 succeeded on %u fds; soft limit %lu\n", replaced,
	       (unsigned long)rl.rlim_cur);
	unsigned long sum = 0, bad = 0;
	for (unsigned off = 0; off < SIZE; off += PAGE) {
		char want[32];
		snprintf(want, sizeof(want), "first %08u", off);
		if (strcmp((char *)m + off, want))
			bad++;
		for (unsigned i = 0; i < PAGE; i++)
			sum = sum * 31 + m[off + i];
	}
	printf("read back: %lu wrong pages, sum %lx\n", bad, sum);
	for (unsigned off = 0; off < SIZE; off += PAGE)
		snprintf((char *)m + off + 64, 32, "second %08u", off);
	if (munmap(m, SIZE) < 0)
		return perror("munmap"), 1;
	if (close(fd) < 0)
		return perror("close"), 1;
	return 0;
}
