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
#include <sys/wait.h>
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

static int round_of(const char *path, int r)
{
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

int main(void)
{
#ifdef FM_UNDER_TSAN
	/* The watcher's flush reads the pages after the daemon's death, which
	 * orders it after the program's writes; TSan cannot see that order
	 * (a process's death) and reports the reads as a race. */
	fprintf(stderr, "skip: TSan cannot see that the daemon's death orders the writes "
			"before the flush\n");
	return 77;
#endif
	daemon_private();
	require_engine_in_child(); /* this process stays without a daemon */
	char path[64];
	int fd = make_file(path, NPAGES * PS, 3, O_RDWR);
	for (int r = 0; r < ROUNDS; r++) {
		fflush(NULL);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			exit(round_of(path, r));
		int status;
		CHECK(waitpid(pid, &status, 0) == pid);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		/* Whatever munmap left mapped was written at exit. */
		char b[PS];
		for (int i = 0; i < WRITTEN; i++) {
			CHECK_EQ(pread(fd, b, PS, (off_t)i * PS), PS);
			CHECK_EQ(b[100], 'A' + r);
		}
		daemon_gone(); /* the next round starts its own */
	}
	close(fd);
	unlink(path);
	return 0;
}
