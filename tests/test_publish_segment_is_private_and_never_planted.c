/*
 * test_publish_segment_is_private_and_never_planted - with
 * FAULTMAP_PUBLISH=1 the counters segment and the inspect socket are
 * created in the user's runtime directory (a directory of the user, mode
 * 0700), the segment mode 0600 and owned by the user. Names planted there
 * before the process started (a symlink at the segment's name, a file at
 * the socket's name) are neither followed nor used: the symlink's target is
 * unchanged, and the segment and socket are new files. At exit both names
 * are removed.
 */
#include "helpers.h"
#include "publish.h"
#include "runtime_dir.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char planted[] = "planted: must stay as it is\n";

int main(void)
{
	pin_embedded_mode("this process's own statistics segment");
	char dir[RT_DIR_PATH_MAX], seg[32], sock[32], target[] = "/tmp/fm-target.XXXXXX";
	int dfd = runtime_dir_create(dir, sizeof(dir));
	CHECK(dfd >= 0);
	snprintf(seg, sizeof(seg), RT_SEG_FMT, (int)getpid());
	snprintf(sock, sizeof(sock), RT_SOCK_FMT, (int)getpid());

	/* The planted names: a symlink to a file of ours, and a plain file. */
	int tfd = mkstemp(target);
	CHECK(tfd >= 0);
	CHECK_EQ(write(tfd, planted, strlen(planted)), (long long)strlen(planted));
	close(tfd);
	unlinkat(dfd, seg, 0);
	unlinkat(dfd, sock, 0);
	CHECK(symlinkat(target, dfd, seg) == 0);
	int pfd = openat(dfd, sock, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(pfd >= 0);
	close(pfd);

	setenv("FAULTMAP_PUBLISH", "1", 1);
	require_engine();

	struct stat d, s, k, t;
	CHECK(fstat(dfd, &d) == 0);
	CHECK(S_ISDIR(d.st_mode));
	CHECK_EQ(d.st_uid, geteuid());
	CHECK_EQ(d.st_mode & 07777, 0700);

	CHECK(fstatat(dfd, seg, &s, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK(S_ISREG(s.st_mode)); /* not the symlink */
	CHECK_EQ(s.st_mode & 07777, 0600);
	CHECK_EQ(s.st_uid, geteuid());
	CHECK_EQ(s.st_size, sizeof(struct fm_pub));

	CHECK(fstatat(dfd, sock, &k, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK(S_ISSOCK(k.st_mode)); /* not the planted file */

	CHECK(stat(target, &t) == 0);
	CHECK_EQ(t.st_size, strlen(planted));
	size_t size;
	unsigned char *got = slurp(target, &size);
	CHECK(size == strlen(planted) && memcmp(got, planted, size) == 0);
	free(got);
	unlink(target);

	/* The segment is this process's: its pid, and a magic. */
	int fd = openat(dfd, seg, O_RDONLY | O_NOFOLLOW);
	CHECK(fd >= 0);
	const struct fm_pub *p = mmap(NULL, sizeof(*p), PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	struct fm_pub *copy = malloc(sizeof(*copy));
	CHECK(copy);
	CHECK_EQ(fm_pub_read(p, copy), 0);
	CHECK_EQ(copy->pid, getpid());
	free(copy);
	munmap((void *)p, sizeof(*p));
	close(fd);

	/* At exit (publish_stop, which exit runs) both names go. */
	publish_stop();
	CHECK(fstatat(dfd, seg, &s, AT_SYMLINK_NOFOLLOW) != 0);
	CHECK(fstatat(dfd, sock, &k, AT_SYMLINK_NOFOLLOW) != 0);
	close(dfd);
	return 0;
}
