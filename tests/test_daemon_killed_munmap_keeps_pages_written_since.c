/*
 * Daemon mode: after the daemon's death (SIGKILL), a page that was dirty
 * in a shared mapping stays writable, and the watcher has already written
 * what it held. A write after that, then munmap of the mapping: the bytes
 * reach the file before the pages leave the process, and munmap gets the
 * kernel's answer (0). At first munmap unmapped them, then failed with
 * EIO on the dead daemon's socket, and the write was lost. Each round is a
 * process with a daemon of its own; half unmap the whole mapping, half a
 * part of it (the rest is written at exit).
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ROUNDS 12
#define NPAGES 16
#define WRITTEN 4 /* pages 0..WRITTEN-1 are written before and after */

/* reaped - wait until process pid has exited (a zombie, or gone): every
 * one of its file descriptors is closed then. */
static void reaped(pid_t pid)
{
	char path[64], stat[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int t = 0; t < 500; t++) {
		FILE *f = fopen(path, "re");
		if (!f)
			return;
		char *got = fgets(stat, sizeof(stat), f);
		fclose(f);
		char *end = got ? strrchr(stat, ')') : NULL;
		if (end && end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X'))
			return;
		usleep(10000);
	}
	CHECK(!"the daemon never exited");
}

static int round_of(int r, void *arg)
{
	const char *path = arg;
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	for (int i = 0; i < WRITTEN; i++)
		memset(p + i * PS, 'a' + r, PS);
	pid_t d = daemon_pid();
	CHECK(d > 0);
	CHECK(kill(d, SIGKILL) == 0);
	daemon_gone();
	reaped(d);
	for (int i = 0; i < WRITTEN; i++)
		memset(p + i * PS + 100, 'A' + r, 100); /* the page is still writable */
	size_t len = r % 2 ? NPAGES * PS : 2 * PS; /* all, or pages 0 and 1 */
	CHECK_EQ(fm_munmap(p, len), 0);
	for (int i = 0; i < (int)(len / PS) && i < WRITTEN; i++) {
		char b[PS];
		CHECK_EQ(pread(fd, b, PS, (off_t)i * PS), PS);
		CHECK_EQ(b[0], 'a' + r);
		CHECK_EQ(b[100], 'A' + r); /* written after the death */
		CHECK_EQ(b[200], 'a' + r);
	}
	close(fd);
	return 0;
}

/* written_at_exit - whatever munmap left mapped was written at exit. */
static void written_at_exit(int r, void *arg)
{
	int fd = open(arg, O_RDONLY);
	CHECK(fd >= 0);
	char b[PS];
	for (int i = 0; i < WRITTEN; i++) {
		CHECK_EQ(pread(fd, b, PS, (off_t)i * PS), PS);
		CHECK_EQ(b[100], 'A' + r);
	}
	close(fd);
}

int main(void)
{
	require_death_orders_flush();
	daemon_rounds_on_file(ROUNDS, NPAGES * PS, 3, round_of, written_at_exit);
	return 0;
}
