/*
 * msync(MS_INVALIDATE) on pages locked with mlock: the kernel says EBUSY,
 * and so must fm_msync on a faultmap mapping; unlocked, it succeeds again.
 * MS_SYNC alone still succeeds on locked pages.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The system calls themselves: the sanitizers make mlock a no-op. */
static int lock(void *p, size_t len) { return (int)syscall(SYS_mlock, p, len); }
static int unlock(void *p, size_t len) { return (int)syscall(SYS_munlock, p, len); }

static void check(int through_fm, int fd)
{
	const char *who = through_fm ? "faultmap" : "kernel";
	unsigned char *p = through_fm ? fm_mmap(NULL, 4 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
				      : mmap(NULL, 4 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	if (lock(p + PS, PS) != 0) {
		printf("skip: mlock: %s (RLIMIT_MEMLOCK)\n", strerror(errno));
		exit(77);
	}
	int (*sync)(void *, size_t, int) = through_fm ? fm_msync : msync;
	errno = 0;
	int r = sync(p, 4 * PS, MS_INVALIDATE);
	if (r != -1 || errno != EBUSY) {
		fprintf(stderr, "%s: msync(MS_INVALIDATE) of locked pages: %d (%s), expected EBUSY\n",
			who, r, strerror(errno));
		exit(1);
	}
	errno = 0;
	r = sync(p, 4 * PS, MS_SYNC | MS_INVALIDATE);
	CHECK(r == -1 && errno == EBUSY);
	CHECK(sync(p, 4 * PS, MS_SYNC) == 0);
	CHECK(sync(p + 2 * PS, 2 * PS, MS_INVALIDATE) == 0); /* not the locked page */
	CHECK(unlock(p + PS, PS) == 0);
	CHECK(sync(p, 4 * PS, MS_INVALIDATE) == 0);
	CHECK((through_fm ? fm_munmap(p, 4 * PS) : munmap(p, 4 * PS)) == 0);
}

int main(void)
{
	require_engine();
	char path[64];
	int fd = make_file(path, 4 * PS, 9, O_RDWR);
	check(0, fd);
	check(1, fd);
	close(fd);
	unlink(path);
	return 0;
}
