/*
 * Without permission to use userfaultfd (an unprivileged user, with
 * vm.unprivileged_userfaultfd=0 and no access to /dev/userfaultfd),
 * fm_mmap fails with EPERM and maps nothing. Needs root to drop to such a
 * user; skipped otherwise, or where that user does have access.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char path[64];

static void unprivileged(void *arg)
{
	(void)arg;
	CHECK(setgid(65534) == 0 && setuid(65534) == 0);
	if (user_may_uffd())
		_exit(77);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	errno = 0;
	void *p = fm_mmap(NULL, PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p == MAP_FAILED);
	CHECK_EQ(errno, EPERM);
	_exit(0);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skip: needs root to become an unprivileged user\n");
		return 77;
	}
	int fd = make_file(path, PS, 111, O_RDONLY);
	CHECK(chmod(path, 0644) == 0);
	int st = in_child(unprivileged, NULL);
	close(fd);
	unlink(path);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		fprintf(stderr, "skip: the unprivileged user may use userfaultfd here\n");
		return 77;
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}
