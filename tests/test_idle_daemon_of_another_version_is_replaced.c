/*
 * After an upgrade, the daemon left running speaks another protocol. One
 * that serves no process is replaced by the first program that needs a
 * daemon: it stops it (FMD_STOP, a[0] = 1, after write-back) and starts
 * its own, and says so on stderr; its mapping works. One that serves
 * processes is never stopped so: FMD_STOP with a[0] = 1 gets EBUSY, and a
 * client of another version hears the daemon's version and how many
 * processes it serves.
 *
 * The old daemon is `faultmap daemon` made to speak protocol 99
 * (FAULTMAP_TEST_DAEMON_PROTOCOL).
 */
#include "helpers.h"
#include "daemon/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* start_old_daemon - `faultmap daemon --background` (beside this test's
 * build directory) speaking protocol 99; returns once it listens. */
static void start_old_daemon(void)
{
	char exe[PATH_MAX], bin[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(n > 0);
	exe[n] = 0;
	snprintf(bin, sizeof(bin), "%s/../faultmap", dirname(exe));
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		setenv("FAULTMAP_TEST_DAEMON_PROTOCOL", "99", 1);
		execl(bin, bin, "daemon", "--background", (char *)NULL);
		_exit(127);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
}

/* raw - one request to the daemon on a connection of its own. */
static struct fmd_rep raw(const struct fmd_req *req, const int *fds, int nfds)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/faultmap/%s", getenv("XDG_RUNTIME_DIR"),
		 FMD_SOCK_NAME);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	CHECK(connect(s, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	CHECK(fmd_send(s, req, sizeof(*req), NULL, 0, fds, nfds) == 0);
	struct fmd_rep rep;
	int got[FMD_MAX_FDS], ngot = 0;
	CHECK(fmd_recv(s, &rep, sizeof(rep), got, &ngot) == (ssize_t)sizeof(rep));
	for (int i = 0; i < ngot; i++)
		close(got[i]);
	close(s);
	return rep;
}

int main(void)
{
	daemon_private();
	int probe = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (probe < 0) { /* before any daemon starts: none of this version may run */
		fprintf(stderr, "skip: no userfaultfd here: %s\n", strerror(errno));
		return 77;
	}
	close(probe);
	char data[64], err_path[PATH_MAX];
	int fd = make_file(data, 8 * PS, 5, O_RDWR);
	size_t size;
	unsigned char *want = slurp(data, &size);

	/* An idle daemon of protocol 99: replaced. */
	start_old_daemon();
	pid_t old = daemon_pid();
	CHECK(old > 0);
	snprintf(err_path, sizeof(err_path), "%s/stderr", getenv("XDG_RUNTIME_DIR"));
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		CHECK(e >= 0 && dup2(e, 2) == 2);
		unsigned char *p = fm_mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
		CHECK(p != MAP_FAILED);
		CHECK(memcmp(p, want, size) == 0);
		CHECK(fm_munmap(p, size) == 0);
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
	size_t len;
	char *text = (char *)slurp(err_path, &len);
	text = realloc(text, len + 1);
	text[len] = 0;
	if (WEXITSTATUS(st) || !strstr(text, "stopped an idle faultmap daemon of protocol 99")) {
		fprintf(stderr, "the program (exit %d) said:\n%s\n", WEXITSTATUS(st), text);
		return 1;
	}
	free(text);
	CHECK(kill(old, 0) < 0 && errno == ESRCH);
	pid_t now = daemon_pid();
	CHECK(now > 0 && now != old);

	/* A daemon in use is not stopped so. */
	unsigned char *p = fm_mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, want, size) == 0);
	struct fmd_req stop = {.op = FMD_STOP, .a = {1}};
	CHECK_EQ(raw(&stop, NULL, 0).err, -EBUSY);
	CHECK_EQ(daemon_pid(), now);
	/* A client of another version hears which, and that it is in use. */
	int pair[2];
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0);
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	CHECK(uffd >= 0);
	int fds[2] = {uffd, pair[1]};
	struct fmd_req hello = {.op = FMD_HELLO, .a = {FMD_VERSION - 1, (uint64_t)getpid()}};
	struct fmd_rep rep = raw(&hello, fds, 2);
	CHECK_EQ(rep.err, -EPROTO);
	CHECK_EQ(rep.v[0], (uint64_t)FMD_VERSION);
	CHECK_EQ(rep.v[1], 1);
	close(uffd);
	close(pair[0]);
	close(pair[1]);
	CHECK(fm_munmap(p, size) == 0);
	close(fd);
	unlink(data);
	free(want);
	return 0;
}
