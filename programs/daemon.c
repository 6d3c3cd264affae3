/*
 * daemon.c - faultmap daemon: run the user's faultmap daemon, the one page
 * cache of every process of the user in daemon mode (src/daemon/), or stop
 * it (--stop: every dirty page is written first, or left in a rescue
 * file).
 *
 *   faultmap daemon [--budget SIZE] [--foreground] [--if-not-running]
 *   faultmap daemon --stop
 *
 * Without --foreground it goes to the background and returns once the
 * daemon listens (exit 0), so that whoever started it can connect at once;
 * the library starts it so on demand (src/client/client.c). Its stderr is
 * then the file daemon.log in the runtime directory.
 */
#include "cli.h"
#include "client/client.h"
#include "daemon/proto.h"
#include "daemon/server.h"
#include "daemon/rescue.h"
#include "faultmap.h"
#include "internal.h"
#include "runtime_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#define FM_DAEMON_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FM_DAEMON_TSAN 1
#endif
#endif
#ifdef FM_DAEMON_TSAN
/* Built with TSan: the store libraries the daemon loads for its clients
 * (librados, libceph-common and their libstdc++) are not instrumented, and
 * hand buffers between their own threads with atomics TSan cannot see: the
 * memcpy and free they call look like races of the daemon (as in the RADOS
 * tests, tests/ceph.c). */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "called_from_lib:libceph-common.so.2\ncalled_from_lib:librados.so.2\n"
	       "called_from_lib:libstdc++.so.6\nmutex:libceph-common.so.2\n";
}
#endif

/* to_background - fork; the parent waits until the child listens (or
 * finds a daemon running) and exits; the child goes on in a session of its
 * own, its output to daemon.log. Return: in the child only, the fd to
 * write "listening" to. */
static int to_background(bool quiet_if_running)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("faultmap daemon: pipe");
		exit(1);
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("faultmap daemon: fork");
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		char c;
		ssize_t n;
		while ((n = read(p[0], &c, 1)) < 0 && errno == EINTR)
			;
		int status = 1;
		if (n == 1)
			exit(0);
		/* No word: the child exited (already running, or an error it
		 * wrote on our stderr). Its status is ours. */
		if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
			exit(WEXITSTATUS(status));
		(void)quiet_if_running;
		exit(1);
	}
	close(p[0]);
	/* A daemon holds none of its starter's files: an inherited pipe's
	 * end kept open here would keep its reader from ever seeing EOF. */
	int ready = p[1];
	if (ready != 3) {
		ready = fcntl(p[1], F_DUPFD_CLOEXEC, 3) == 3 ? 3 : p[1];
		if (ready != p[1])
			close(p[1]);
	}
	close_range((unsigned)ready + 1, ~0U, 0);
	if (ready > 3)
		close_range(3, (unsigned)ready - 1, 0);
	setsid();
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		close(null);
	}
	return ready;
}

/* log_to_runtime_dir - stderr to daemon.log (0600, the user's own) in the
 * runtime directory. */
static void log_to_runtime_dir(void)
{
	char dir[RT_DIR_PATH_MAX];
	int dfd = runtime_dir_create(dir, sizeof(dir));
	if (dfd < 0)
		return;
	int fd = openat(dfd, "daemon.log", O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
			0600);
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == geteuid() && S_ISREG(st.st_mode))
		dup2(fd, 2);
	if (fd >= 0)
		close(fd);
	close(dfd);
}

/* say_rescue_files - after --stop: the rescue files left in the runtime
 * directory (pages a daemon could not write back), on stderr. */
static void say_rescue_files(void)
{
	char dir[RT_DIR_PATH_MAX];
	int fd = runtime_dir_create(dir, sizeof(dir));
	if (fd < 0)
		return;
	int n = rescue_list(fd, NULL);
	if (n)
		fprintf(stderr, "faultmap daemon: %d rescue files in %s hold dirty pages that "
				"could not be written back; the next daemon to start writes "
				"them:\n", n, dir);
	if (n)
		rescue_list(fd, stderr);
	close(fd);
}

/* stop_daemon - faultmap daemon --stop: the daemon writes every dirty page back
 * and exits; what it cannot write it leaves in rescue files, and exits all
 * the same (exit 1, naming them); only if it cannot copy them either does
 * it go on, holding them (exit 1, saying so). Return: the exit status. */
static int stop_daemon(void)
{
	struct client_stop st;
	int err = client_stop_daemon(&st);
	if (err == -ENOENT) {
		fprintf(stderr, "faultmap daemon: none is running\n");
		return 0;
	}
	char dir[RT_DIR_PATH_MAX] = "the runtime directory";
	int fd = err ? runtime_dir_create(dir, sizeof(dir)) : -1;
	if (fd >= 0)
		close(fd);
	if (err && st.stopped)
		fprintf(stderr, "faultmap daemon: --stop: these could not be written back (%s); "
				"the daemon copied their dirty pages to rescue files in %s and "
				"stopped:\n%s", strerror(-err), dir, st.report);
	else if (err && st.copy_err)
		fprintf(stderr, "faultmap daemon: --stop: these could not be written back (%s), "
				"nor all copied to rescue files in %s (%s): the daemon goes on, "
				"holding them in memory; make room there, or let the files and "
				"stores take writes, and stop it again:\n%s",
			strerror(-err), dir, strerror(-st.copy_err), st.report);
	else if (err)
		fprintf(stderr, "faultmap daemon: --stop: %s (the daemon goes on)\n",
			strerror(-err));
	if (!err || st.stopped)
		say_rescue_files();
	return err ? 1 : 0;
}

int cmd_daemon(int argc, char **argv)
{
	struct fmd_opts o = {.ready_fd = -1};
	bool foreground = false, stop = false;
	const char *budget = NULL;
	for (int i = 1; i < argc; i++) {
		if (help_or_version("daemon", argv[i])) {
			return 0;
		} else if (!strcmp(argv[i], "--foreground")) {
			foreground = true;
		} else if (!strcmp(argv[i], "--background")) {
			foreground = false;
		} else if (!strcmp(argv[i], "--if-not-running")) {
			o.quiet_if_running = true;
		} else if (!strcmp(argv[i], "--stop")) {
			stop = true;
		} else if (!strcmp(argv[i], "--budget")) {
			if (++i == argc)
				usage_error("daemon", "--budget needs a size");
			budget = argv[i];
		} else {
			usage_error("daemon", "unknown option '%s'", argv[i]);
		}
	}
	if (stop) {
		if (budget || foreground)
			usage_error("daemon", "--stop takes no other option");
		return stop_daemon();
	}
	if (budget && fm_parse_size(budget, &o.budget))
		usage_error("daemon", "bad --budget '%s'", budget);
	fm_set_mode(FM_MODE_EMBEDDED); /* the daemon runs the engine itself */
	if (!foreground) {
		o.ready_fd = to_background(o.quiet_if_running);
		log_to_runtime_dir();
	}
	return fmd_main(&o);
}
