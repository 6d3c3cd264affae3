/*
 * madvise(MADV_HUGEPAGE) in daemon mode asks the daemon which parts of the
 * range are faultmap mappings (their views must stay MADV_NOHUGEPAGE), and
 * passes it on for the rest. Once the daemon is gone, nothing evicts the
 * cache, and the program's own memory still takes the advice: the call
 * gets the kernel's answer, not the failed request's EIO (as it did at
 * first).
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
	daemon_private();
	require_engine();
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
		return 77;
	}
	CHECK_EQ(fm_madvise(anon, 4 << 20, MADV_HUGEPAGE), 0); /* the daemon asked */
	CHECK_EQ(fm_madvise(p, 16 * PS, MADV_HUGEPAGE), 0);

	pid_t d = daemon_pid();
	CHECK(d > 0);
	CHECK(kill(d, SIGKILL) == 0);
	daemon_gone();
	CHECK_EQ(fm_madvise(anon, 4 << 20, MADV_HUGEPAGE), 0);
	CHECK_EQ(fm_madvise(p, 16 * PS, MADV_HUGEPAGE), 0);
	CHECK_EQ(fm_madvise(anon + 1, PS, MADV_HUGEPAGE), -1); /* the kernel's EINVAL */
	CHECK_EQ(errno, EINVAL);
	close(fd);
	unlink(path);
	return 0;
}
