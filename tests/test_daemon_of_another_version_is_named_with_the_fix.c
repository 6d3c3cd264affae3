/*
 * A daemon that speaks another protocol version (one left running from an
 * older install) refuses a client's FMD_HELLO with EPROTO. The client's
 * mapping call then fails with EPROTO, and the program's stderr says what
 * happened and how to fix it ('faultmap daemon --stop'), once, rather than
 * a bare "Protocol error".
 *
 * The old daemon is played by this test: it listens on the runtime
 * directory's daemon.sock and answers the child's hello with -EPROTO.
 */
#include "helpers.h"
#include "daemon/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	char rt[] = "/tmp/fm-oldd.XXXXXX", dir[64], err_path[96], data[64];
	CHECK(mkdtemp(rt));
	snprintf(dir, sizeof(dir), "%s/faultmap", rt);
	CHECK(mkdir(dir, 0700) == 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", dir, FMD_SOCK_NAME);
	int ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	CHECK(ls >= 0);
	CHECK(bind(ls, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	CHECK(listen(ls, 4) == 0);
	snprintf(err_path, sizeof(err_path), "%s/stderr", rt);
	int fd = make_file(data, 4 * PS, 3, O_RDWR);

	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) { /* the program, in daemon mode, with that runtime dir */
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (e < 0 || dup2(e, 2) < 0)
			_exit(3);
		setenv("XDG_RUNTIME_DIR", rt, 1);
		if (fm_set_mode(FM_MODE_DAEMON))
			_exit(4);
		void *p = fm_mmap(NULL, 4 * PS, PROT_READ, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED)
			_exit(5);
		_exit(errno == EPROTO ? 0 : errno == EPERM ? 77 : 6);
	}
	/* The old daemon: one hello, refused. */
	int s = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	CHECK(s >= 0);
	struct fmd_req req;
	int fds[FMD_MAX_FDS], nfds = 0;
	ssize_t n = fmd_recv(s, &req, sizeof(req), fds, &nfds);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	CHECK_EQ(n, (ssize_t)sizeof(req));
	CHECK_EQ(req.op, FMD_HELLO);
	struct fmd_rep rep = {.err = -EPROTO};
	CHECK(fmd_send(s, &rep, sizeof(rep), NULL, 0, NULL, 0) == 0);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77) {
		fprintf(stderr, "skip: no userfaultfd here\n");
		return 77;
	}
	CHECK_EQ(WEXITSTATUS(st), 0);
	size_t len;
	char *text = (char *)slurp(err_path, &len);
	CHECK(text);
	text = realloc(text, len + 1);
	text[len] = '\0';
	if (!strstr(text, "another version") || !strstr(text, "faultmap daemon --stop")) {
		fprintf(stderr, "the program's stderr does not name the fix:\n%s\n", text);
		return 1;
	}
	free(text);
	close(s);
	close(ls);
	close(fd);
	unlink(data);
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", rt);
	CHECK(system(cmd) == 0);
	return 0;
}
