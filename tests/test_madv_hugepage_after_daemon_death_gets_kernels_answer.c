/*
 * madvise(MADV_HUGEPAGE) in daemon mode asks the daemon which parts of the
 * range are faultmap mappings (their views must stay MADV_NOHUGEPAGE), and
 * passes it on for the rest. Once the daemon is gone, nothing evicts the
 * cache, and the program's own memory still takes the advice: the call
 * gets the kernel's answer, not the failed request's EIO (as it did at
 * first), even at once after the daemon's SIGKILL, when the request's
 * connection breaks before this process's watcher has seen the daemon go
 * (a race TSan's timing once caught). Each round is a process of its
 * own, with a daemon of its own.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ROUNDS 24

/* round_of - one daemon's life and death; in two rounds of three the
 * advice comes right after the SIGKILL, without waiting for the daemon to
 * be gone. Return: 0, or 77 when this kernel has no transparent huge
 * pages. */
static int round_of(int r, void *arg)
{
	(void)arg;
	bool at_once = r % 3 != 0;
	char path[64];
	int fd = make_file(path, 16 * PS, 7, O_RDONLY);
	char *p = fm_mmap(NULL, 16 * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(p[0] == p[0]);
	char *anon = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	CHECK(anon != MAP_FAILED);
	int want = madvise(anon, 4 << 20, MADV_NOHUGEPAGE) == 0 ? 0 : errno;
	if (want) {
		fprintf(stderr, "skip: no transparent huge pages here (%s)\n", strerror(want));
		unlink(path);
		return 77;
	}
	CHECK_EQ(fm_madvise(anon, 4 << 20, MADV_HUGEPAGE), 0); /* the daemon asked */
	CHECK_EQ(fm_madvise(p, 16 * PS, MADV_HUGEPAGE), 0);

	pid_t d = daemon_pid();
	CHECK(d > 0);
	CHECK(kill(d, SIGKILL) == 0);
	if (!at_once)
		daemon_gone();
	CHECK_EQ(fm_madvise(anon, 4 << 20, MADV_HUGEPAGE), 0);
	CHECK_EQ(fm_madvise(p, 16 * PS, MADV_HUGEPAGE), 0);
	CHECK_EQ(fm_madvise(anon + 1, PS, MADV_HUGEPAGE), -1); /* the kernel's EINVAL */
	CHECK_EQ(errno, EINVAL);
	close(fd);
	unlink(path);
	return 0;
}

int main(void)
{
	daemon_private();
	require_engine_in_child(); /* this process stays without a daemon */
	daemon_rounds(ROUNDS, round_of, NULL, NULL);
	return 0;
}
