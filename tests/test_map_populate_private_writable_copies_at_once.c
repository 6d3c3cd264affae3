/*
 * MAP_POPULATE fills a mapping as the kernel's populate does: a private
 * writable mapping is populated by writing, so each page is the mapping's
 * own copy from the start and a later write to the file (pwrite) does not
 * show through it; a private read-only or a shared mapping is populated by
 * reading, and the file's later writes show through. faultmap populated
 * every mapping by reading, so its private writable mapping still showed
 * the file's new bytes (found by the random errno test, seed 421).
 * Compared with the kernel on a copy of the file, in both modes.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SIZE (4 * PS)

struct kind {
	const char *name;
	int prot, flags;
};

static const struct kind kinds[] = {
	{"private writable", PROT_READ | PROT_WRITE, MAP_PRIVATE},
	{"private read-only", PROT_READ, MAP_PRIVATE},
	{"shared writable", PROT_READ | PROT_WRITE, MAP_SHARED},
	{"shared read-only", PROT_READ, MAP_SHARED},
};

int main(void)
{
	each_mode();
	require_engine();
	char path[2][64];
	int fd[2];
	for (int i = 0; i < 2; i++)
		fd[i] = make_file(path[i], SIZE, 3, O_RDWR);
	unsigned char news[PS + 100];
	memset(news, 0xa5, sizeof(news));
	int failures = 0;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		unsigned char *p[2];
		for (int i = 0; i < 2; i++) { /* 0: the kernel, 1: faultmap */
			int flags = kinds[k].flags | MAP_POPULATE;
			p[i] = i ? fm_mmap(NULL, SIZE, kinds[k].prot, flags, fd[i], 0)
				 : mmap(NULL, SIZE, kinds[k].prot, flags, fd[i], 0);
			CHECK(p[i] != MAP_FAILED);
		}
		/* The file changes under the mappings: bytes of pages 1 and 2. */
		off_t at = PS + 50 + (off_t)k * 7;
		CHECK(pwrite(fd[0], news, sizeof(news), at) == (ssize_t)sizeof(news));
		CHECK(fm_pwrite(fd[1], news, sizeof(news), at) == (ssize_t)sizeof(news));
		if (memcmp(p[0], p[1], SIZE)) {
			size_t b = 0;
			while (p[0][b] == p[1][b])
				b++;
			fprintf(stderr, "%s mapping, populated: byte %zu is %d under the kernel, %d under faultmap\n",
				kinds[k].name, b, p[0][b], p[1][b]);
			failures++;
		}
		CHECK(munmap(p[0], SIZE) == 0);
		CHECK(fm_munmap(p[1], SIZE) == 0);
	}
	for (int i = 0; i < 2; i++) {
		close(fd[i]);
		unlink(path[i]);
	}
	if (failures)
		return 1;
	printf("MAP_POPULATE: private writable mappings copy at once, as the kernel's\n");
	return 0;
}
