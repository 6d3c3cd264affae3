/*
 * The kernel keeps a file's pages cached after its last unmap: the same
 * program run again finds them. So does the daemon, for FAULTMAP_LINGER
 * seconds (default 300), without ever serving a stale page for it, and
 * without holding the file (a deleted file's blocks are freed at once):
 *
 *  1. a child maps the file, reads it and exits; the parent then maps and
 *     reads it with no page read from the file (pages_read unchanged), and
 *     gets the file's bytes; meanwhile the daemon has no descriptor of the
 *     file open;
 *  2. a write outside faultmap (pwrite) while it lingers: the next mapping
 *     reads the new bytes, not the cached ones;
 *  3. the lingering pages count in the budget: reading a second file as
 *     big as the budget leaves the daemon's resident pages within it;
 *  4. FAULTMAP_LINGER=0 (a daemon of its own): the last unmap drops the
 *     pages, and the next mapping reads the file again.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define PAGES 512
#define BUDGET_PAGES 1024 /* the daemon's: FAULTMAP_BUDGET */

/* read_all - map path's file, check every byte against want, unmap.
 * Return: pages the daemon read from files meanwhile. */
static uint64_t read_all(const char *path, const unsigned char *want, size_t size)
{
	struct fm_stats a, b;
	CHECK(fm_stats(&a) == 0);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	unsigned char *p = fm_mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, want, size) == 0);
	CHECK(fm_munmap(p, size) == 0);
	close(fd);
	CHECK(fm_stats(&b) == 0);
	return b.pages_read - a.pages_read;
}

/* daemon_holds - whether the daemon has path open (a link in its
 * /proc/PID/fd names it, " (deleted)" or not). */
static bool daemon_holds(const char *path)
{
	char dir[64], link[4096 + 300], target[4200];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)daemon_pid());
	DIR *d = opendir(dir);
	CHECK(d);
	bool found = false;
	size_t n = strlen(path);
	for (struct dirent *e; (e = readdir(d));) {
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		ssize_t k = readlink(link, target, sizeof(target) - 1);
		if (k <= 0)
			continue;
		target[k] = 0;
		found |= !strncmp(target, path, n) && (!target[n] || target[n] == ' ');
	}
	closedir(d);
	return found;
}

/* 4, in a process of its own with a daemon of its own */
static int no_linger(void)
{
	setenv("FAULTMAP_LINGER", "0", 1);
	daemon_private();
	char path[64];
	close(make_file(path, PAGES * PS, 12, O_RDWR));
	size_t size;
	unsigned char *want = slurp(path, &size);
	CHECK(read_all(path, want, size) >= PAGES);
	CHECK(read_all(path, want, size) >= PAGES);
	unlink(path);
	free(want);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "no-linger"))
		return no_linger();
	unsetenv("FAULTMAP_LINGER");
	char budget[32];
	snprintf(budget, sizeof(budget), "%lu", BUDGET_PAGES * PS);
	setenv("FAULTMAP_BUDGET", budget, 1);
	daemon_private();
	require_engine_in_child();
	char path[64];
	close(make_file(path, PAGES * PS, 11, O_RDWR));
	size_t size;
	unsigned char *want = slurp(path, &size);
	CHECK_EQ(size, (size_t)PAGES * PS);
	struct fm_stats s;

	/* 1. another process read it; this one finds it cached */
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK(read_all(path, want, size) >= PAGES);
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(!daemon_holds(path));
	CHECK(fm_stats(&s) == 0);
	CHECK(s.resident_bytes >= size); /* lingering pages are cached pages */
	CHECK_EQ(read_all(path, want, size), 0);

	/* 2. changed outside faultmap while it lingered */
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	for (size_t i = 0; i < size; i += PS)
		want[i + 17] ^= 0x5a;
	CHECK(pwrite(fd, want, size, 0) == (ssize_t)size);
	close(fd);
	CHECK(read_all(path, want, size) >= PAGES);

	/* 3. in the budget: a second file as big as it */
	char big[64];
	close(make_file(big, BUDGET_PAGES * PS, 13, O_RDWR));
	size_t big_size;
	unsigned char *big_want = slurp(big, &big_size);
	CHECK(read_all(big, big_want, big_size) >= BUDGET_PAGES);
	CHECK(fm_stats(&s) == 0);
	CHECK(s.resident_bytes <= (uint64_t)BUDGET_PAGES * PS);
	CHECK(read_all(path, want, size) >= 1); /* some went for room */
	unlink(big);
	free(big_want);
	unlink(path);
	free(want);

	/* 4. FAULTMAP_LINGER=0: dropped at the last unmap */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execl("/proc/self/exe", argv[0], "no-linger", (char *)NULL);
		_exit(127);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	return 0;
}
