/*
 * Daemon mode: mremap of a faultmap mapping shrinks, grows in place and
 * moves (MREMAP_MAYMOVE, MREMAP_FIXED) as with kernel mmap: the bytes
 * follow, writes through the new range are tracked (seen by another
 * process, in the file after msync), and the old range is gone. SQLite
 * grows its mapping with mremap; the first daemon mode refused growth.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 64

/* reader: checks that page i of the file holds byte v in its cache. */
static int reader(const char *path, int page, int v)
{
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	unsigned char b;
	CHECK_EQ(fm_pread(fd, &b, 1, (off_t)page * PS + 5), 1);
	CHECK_EQ(b, v);
	return 0;
}

/* let_go - whether nothing of a file (or of the cache's memfd) is mapped
 * in [p, p + len) any more: the range is free, or something anonymous took
 * it (under ASan, the sanitizer's own mmaps fill such holes at once). */
static bool let_go(const volatile void *p, size_t len)
{
	uintptr_t lo = (uintptr_t)p, hi = lo + len;
	FILE *f = fopen("/proc/self/maps", "re");
	CHECK(f != NULL);
	char line[512];
	bool free_of_files = true;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end, inode;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &start, &end, &inode) == 3 &&
		    start < hi && end > lo && inode != 0)
			free_of_files = false;
	}
	fclose(f);
	return free_of_files;
}

static void other_sees(const char *self, const char *path, int page, int v)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char a[16], b[16];
		snprintf(a, sizeof(a), "%d", page);
		snprintf(b, sizeof(b), "%d", v);
		execl("/proc/self/exe", self, "reader", path, a, b, (char *)NULL);
		_exit(127);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "reader"))
		return reader(argv[2], atoi(argv[3]), atoi(argv[4]));
	daemon_private();
	require_engine();
	char path[64];
	int fd = make_file(path, NPAGES * PS, 17, O_RDWR);
	unsigned char *want = malloc(NPAGES * PS);
	fill_pattern(want, NPAGES * PS, 17);
	/* Room after it, so that growing in place can succeed. */
	char *area = mmap(NULL, 40 * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(area != MAP_FAILED);
	CHECK(munmap(area, 40 * PS) == 0);
	volatile unsigned char *p = fm_mmap(area, 8 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	p[1 * PS + 5] = 11;
	want[1 * PS + 5] = 11;
	/* Grow in place (the room is free). */
	volatile unsigned char *q = fm_mremap((void *)p, 8 * PS, 16 * PS, 0);
	CHECK(q == p);
	CHECK_EQ(q[1 * PS + 5], 11);
	CHECK_EQ(q[12 * PS + 5], want[12 * PS + 5]);
	q[12 * PS + 5] = 12; /* tracked: the other process sees it, msync writes it */
	want[12 * PS + 5] = 12;
	other_sees(argv[0], path, 12, 12);
	/* Move: a mapping sits right after it, so growing must move. */
	void *block = mmap((void *)(q + 16 * PS), PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
			   MAP_FIXED_NOREPLACE, -1, 0);
	CHECK(block != MAP_FAILED);
	volatile unsigned char *r = fm_mremap((void *)q, 16 * PS, 32 * PS, MREMAP_MAYMOVE);
	CHECK(r != MAP_FAILED && r != q);
	CHECK(!let_go(r, 32 * PS)); /* the new place is */
	CHECK(let_go(q, 16 * PS)); /* the old place is no view of the file any more */
	for (size_t i = 0; i < 32 * PS; i += 1024)
		CHECK_EQ(r[i], want[i]);
	r[30 * PS + 5] = 30;
	want[30 * PS + 5] = 30;
	r[12 * PS + 5] = 13; /* a page written before the move, again */
	want[12 * PS + 5] = 13;
	other_sees(argv[0], path, 30, 30);
	other_sees(argv[0], path, 12, 13);
	CHECK(let_go(q, 16 * PS));
	/* MREMAP_FIXED to a chosen place, shrinking. */
	char *dst = mmap(NULL, 8 * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(dst != MAP_FAILED);
	volatile unsigned char *s = fm_mremap((void *)r, 32 * PS, 8 * PS,
					      MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	CHECK(s == (volatile unsigned char *)dst);
	CHECK_EQ(s[1 * PS + 5], 11);
	s[2 * PS + 5] = 2;
	want[2 * PS + 5] = 2;
	other_sees(argv[0], path, 2, 2);
	CHECK(fm_msync((void *)s, 8 * PS, MS_SYNC) == 0);
	CHECK(fm_munmap((void *)s, 8 * PS) == 0);
	munmap(block, PS);
	check_file_is(path, want, NPAGES * PS);
	close(fd);
	unlink(path);
	free(want);
	return 0;
}
