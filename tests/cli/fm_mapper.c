/*
 * fm_mapper.c - a small program on faultmap (linked with libfaultmap.a, no
 * interposer) for the CLI tests: creates DIR/data.bin (256 pages), maps it
 * shared and reads pages 0-63 and dirties pages 8-11, maps pages 128-191
 * privately and writes 3 of them (copy on write), then prints
 * "ready <path>" and, unless --once, waits until DIR/stop exists (30 s at
 * most). Exit 77 when faultmap cannot start here.
 *
 * Built by the test scripts: cc -D_GNU_SOURCE -Iinclude fm_mapper.c
 * build/libfaultmap.a -luring -lpthread.
 */
#include "faultmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PS 4096
#define PAGES 256

/* make_data - DIR/data.bin, PAGES pages of non-zero bytes. Return: fd. */
static int make_data(const char *dir, char *path, size_t size)
{
	snprintf(path, size, "%s/data.bin", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	static char page[PS];
	memset(page, 'x', sizeof(page));
	for (int i = 0; fd >= 0 && i < PAGES; i++)
		if (write(fd, page, PS) != PS)
			return -1;
	return fd;
}

/* wait_stop - until DIR/stop exists, 30 s at most. */
static void wait_stop(const char *dir)
{
	char stop[4096];
	snprintf(stop, sizeof(stop), "%s/stop", dir);
	for (int i = 0; i < 600 && access(stop, F_OK); i++)
		usleep(50000);
}

int main(int argc, char **argv)
{
	int once = argc > 1 && !strcmp(argv[1], "--once");
	if (argc != 2 + once) {
		fprintf(stderr, "usage: fm_mapper [--once] DIR\n");
		return 2;
	}
	const char *dir = argv[1 + once];
	char path[4096];
	int fd = make_data(dir, path, sizeof(path));
	if (fd < 0)
		return perror(path), 1;
	char *shared =
	    fm_mmap(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (shared == MAP_FAILED) {
		printf("skip: fm_mmap: %s\n", strerror(errno));
		return errno == EPERM || errno == ENOSYS ? 77 : 1;
	}
	char *priv =
	    fm_mmap(NULL, 64 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 128 * PS);
	if (priv == MAP_FAILED)
		return perror("fm_mmap private"), 1;
	volatile unsigned sum = 0;
	for (int i = 0; i < 64; i++)
		sum += (unsigned char)shared[i * PS];
	for (int i = 8; i < 12; i++)
		shared[i * PS] = 'y';
	for (int i = 0; i < 3; i++)
		priv[i * 8 * PS] = 'z';
	printf("ready %s\n", path);
	fflush(stdout);
	if (!once)
		wait_stop(dir);
	return sum == 0 ? 3 : 0;
}
