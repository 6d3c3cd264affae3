/*
 * The return convention of include/faultmap.h: the calls named after a
 * system call fail as that call does (MAP_FAILED or -1, errno set to the
 * kernel's value), on a file faultmap caches and on one it does not;
 * faultmap's own calls (fm_stats, fm_set_budget, fm_parse_size) return
 * -errno and leave errno as it was.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static int bad;

/* expect - ret must be -1 with errno want (errno was set to a sentinel). */
static void expect(const char *what, long ret, int want)
{
	if (ret != -1 || errno != want) {
		fprintf(stderr, "%s: returned %ld, errno %s; expected -1, %s\n", what, ret,
			strerrorname_np(errno), strerrorname_np(want));
		bad++;
	}
}

#define SENTINEL EHWPOISON

static void calls_on(int fd, const char *which)
{
	char what[128];
	char buf[16];
#define TRY(call, want)                                                       \
	do {                                                                  \
		errno = SENTINEL;                                             \
		long r_ = (long)(call);                                       \
		snprintf(what, sizeof(what), "%s on %s", #call, which);       \
		expect(what, r_, want);                                       \
	} while (0)
	TRY(fm_pread(fd, buf, sizeof(buf), -1), EINVAL);
	TRY(fm_pwrite(fd, buf, sizeof(buf), -1), EINVAL);
	TRY(fm_write(-1, buf, 1), EBADF);
	TRY(fm_read(-1, buf, 1), EBADF);
	TRY(fm_ftruncate(fd, -1), EINVAL);
	TRY(fm_fallocate(fd, 0, 0, 0), EINVAL);
	TRY(fm_fallocate(fd, 0, -1, PS), EINVAL);
#undef TRY
}

int main(void)
{
	require_engine();
	char path[64], other[64];
	int fd = make_file(path, 4 * PS, 3, O_RDWR);
	int ofd = make_file(other, 4 * PS, 4, O_RDWR);
	unsigned char *p = fm_mmap(NULL, 4 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);

	/* The mapping calls. */
	errno = SENTINEL;
	void *q = fm_mmap(NULL, PS, PROT_READ, MAP_SHARED, fd, 1);
	if (q != MAP_FAILED || errno != EINVAL) {
		fprintf(stderr, "fm_mmap offset 1: %p, errno %s\n", q, strerrorname_np(errno));
		bad++;
	}
	errno = SENTINEL;
	q = fm_mremap(p + 1, PS, 2 * PS, 0);
	if (q != MAP_FAILED || errno != EINVAL) {
		fprintf(stderr, "fm_mremap unaligned: %p, errno %s\n", q, strerrorname_np(errno));
		bad++;
	}
	errno = SENTINEL;
	expect("fm_munmap unaligned", fm_munmap(p + 1, PS), EINVAL);
	errno = SENTINEL;
	expect("fm_msync bad flags", fm_msync(p, PS, 0x100), EINVAL);
	errno = SENTINEL;
	expect("fm_msync unaligned", fm_msync(p + 1, PS, MS_SYNC), EINVAL);
	errno = SENTINEL;
	expect("fm_madvise bad advice", fm_madvise(p, PS, 12345), EINVAL);
	errno = SENTINEL;
	expect("fm_mprotect bad prot", fm_mprotect(p, PS, 0x100), EINVAL);
	errno = SENTINEL;
	expect("fm_mprotect unaligned", fm_mprotect(p + 1, PS, PROT_READ | PROT_WRITE), EINVAL);

	/* The read/write family, on the cached file and on another. */
	calls_on(fd, "a cached file");
	calls_on(ofd, "a file not cached");

	/* faultmap's own calls: -errno, errno untouched. */
	errno = SENTINEL;
	size_t sz;
	CHECK_EQ(fm_stats(NULL), -EINVAL);
	CHECK_EQ(fm_set_budget(1), -EBUSY); /* the engine runs */
	CHECK_EQ(fm_parse_size("12x", &sz), -EINVAL);
	CHECK_EQ(fm_parse_size("99999999999999999999999", &sz), -EINVAL);
	CHECK_EQ(fm_parse_size("64K", &sz), 0);
	CHECK_EQ(sz, 65536);
	if (errno != SENTINEL) {
		fprintf(stderr, "faultmap's own calls changed errno to %s\n",
			strerrorname_np(errno));
		bad++;
	}

	CHECK(fm_munmap(p, 4 * PS) == 0);
	close(fd), close(ofd);
	unlink(path), unlink(other);
	return bad ? 1 : 0;
}
