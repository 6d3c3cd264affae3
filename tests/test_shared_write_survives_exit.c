/*
 * A write that reached a shared mapping survives normal process exit: a
 * process maps a file, writes more pages than its cache holds (so some
 * writes were already evicted and written back), and calls exit() without
 * munmap or msync. Everything is in the file afterwards.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGES 100

static char path[64];

static void writer(void *arg)
{
	(void)arg;
	CHECK(fm_set_budget(16 * PS) == 0);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	unsigned char *p = fm_mmap(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED && errno == EPERM)
		_exit(77);
	CHECK(p != MAP_FAILED);
	for (size_t i = 0; i < PAGES; i++)
		p[i * PS + 5] = (unsigned char)(i + 1);
	exit(0); /* no munmap, no msync */
}

int main(void)
{
	int fd = make_file(path, PAGES * PS, 91, O_RDONLY);
	int st = in_child(writer, NULL);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		unlink(path);
		return 77;
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	unsigned char *want = malloc(PAGES * PS);
	fill_pattern(want, PAGES * PS, 91);
	for (size_t i = 0; i < PAGES; i++)
		want[i * PS + 5] = (unsigned char)(i + 1);
	size_t n;
	unsigned char *file = slurp(path, &n);
	CHECK(memcmp(file, want, PAGES * PS) == 0);
	free(file), free(want);
	close(fd);
	unlink(path);
	return 0;
}
