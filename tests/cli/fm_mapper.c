/*
 * fm_mapper.c - a small program on faultmap (linked with libfaultmap.a, no
 * interposer) for the CLI tests: creates DIR/data.bin (256 pages), maps it
 * shared and reads pages 0-63 and dirties pages 8-11, maps pages 128-191
 * privately and writes 3 of them (copy on write), then prints
 * "ready <path>" and, unless --once, waits until DIR/stop exists (30 s at
 * most). With --read it also creates DIR/read.bin (16 pages), maps it
 * without touching it, and reads its pages 0-3 twice with fm_pread: 4 pages
 * read and then found cached. With --fork it forks a child (which keeps
 * the mappings, mm 1 in inspect) that waits for DIR/stop too. Exit 77 when
 * faultmap cannot start here.
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
#include <sys/wait.h>
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

/* read_twice - DIR/read.bin (16 pages), mapped, its pages 0-3 read twice
 * with fm_pread. Return: 0 or -1. */
static int read_twice(const char *dir)
{
	char path[4096], buf[4 * PS];
	snprintf(path, sizeof(path), "%s/read.bin", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	memset(buf, 'r', sizeof(buf));
	for (int i = 0; fd >= 0 && i < 4; i++)
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			return -1;
	if (fd < 0 || fm_mmap(NULL, 16 * PS, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
		return -1;
	for (int i = 0; i < 2; i++)
		if (fm_pread(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
			return -1;
	return 0;
}

int main(int argc, char **argv)
{
	int once = 0, rd = 0, fork_child = 0, i = 1;
	for (; i < argc - 1; i++) {
		if (!strcmp(argv[i], "--once"))
			once = 1;
		else if (!strcmp(argv[i], "--read"))
			rd = 1;
		else if (!strcmp(argv[i], "--fork"))
			fork_child = 1;
		else
			break;
	}
	if (i != argc - 1) {
		fprintf(stderr, "usage: fm_mapper [--once] [--read] [--fork] DIR\n");
		return 2;
	}
	const char *dir = argv[i];
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
	if (rd && read_twice(dir))
		return perror("read.bin"), 1;
	pid_t child = fork_child ? fork() : 0;
	if (child < 0)
		return perror("fork"), 1;
	if (fork_child && child == 0) {
		wait_stop(dir);
		_exit(0);
	}
	printf("ready %s\n", path);
	fflush(stdout);
	if (!once)
		wait_stop(dir);
	if (child > 0)
		waitpid(child, NULL, 0);
	return sum == 0 ? 3 : 0;
}
