/*
 * test_no_permission_message_says_how_to_get_access - when userfaultfd is
 * not permitted (an unprivileged user, vm.unprivileged_userfaultfd=0, no
 * access to /dev/userfaultfd), the first fm_mmap fails with EPERM and the
 * library says once on stderr how to get access: the faultmap group, the
 * udev rule (in contrib/, or installed), and the trade-off. It never advises the world-open
 * alternatives. Needs root to drop to such a user; skipped otherwise.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char path[64], log_path[] = "/tmp/fm-eperm-log.XXXXXX";
static int log_fd;

static void unprivileged(void *arg)
{
	(void)arg;
	CHECK(setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0);
	if (user_may_uffd())
		_exit(77);
	CHECK(dup2(log_fd, 2) == 2);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	for (int i = 0; i < 2; i++) {
		errno = 0;
		CHECK(fm_mmap(NULL, PS, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED);
		CHECK_EQ(errno, EPERM);
	}
	_exit(0);
}

static size_t count(const char *text, const char *what)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, what)); p++)
		n++;
	return n;
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skip: needs root to become an unprivileged user\n");
		return 77;
	}
	log_fd = mkstemp(log_path);
	CHECK(log_fd >= 0);
	int fd = make_file(path, PS, 111, O_RDONLY);
	CHECK(chmod(path, 0644) == 0);
	int st = in_child(unprivileged, NULL);
	close(fd);
	unlink(path);
	size_t size;
	unsigned char *raw = slurp(log_path, &size);
	unlink(log_path);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		fprintf(stderr, "skip: the unprivileged user may use userfaultfd here\n");
		return 77;
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	char *text = calloc(1, size + 1);
	CHECK(text);
	memcpy(text, raw, size);
	fprintf(stderr, "%s", text);
	CHECK_EQ(count(text, "faultmap: no permission to use userfaultfd"), 1);
	if (access("/dev/userfaultfd", F_OK) == 0) {
		CHECK(strstr(text, "groupadd --system faultmap"));
		CHECK(strstr(text, "sudo usermod -aG faultmap $USER"));
		CHECK(strstr(text, "contrib/60-faultmap-userfaultfd.rules") ||
		      strstr(text, "the udev rule is installed: "));
		CHECK(strstr(text, "udevadm trigger"));
		CHECK(strstr(text, "trusted users only"));
	}
	CHECK(!strstr(text, "0666"));
	CHECK(!strstr(text, "unprivileged_userfaultfd=1"));
	free(text);
	free(raw);
	return 0;
}
