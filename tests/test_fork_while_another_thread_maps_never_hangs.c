/*
 * fork() while another thread is inside a mapping call: the child's own
 * mapping calls must work. faultmap keeps its records in an allocator of
 * its own (src/alloc.c), under a lock; a fork while another thread held
 * it left it held for ever in the child, whose first call (in daemon
 * mode, the atfork handler's introduction to the daemon) then waited for
 * it with every signal blocked.
 *
 * MAPPERS threads map and unmap a file in a loop while the main thread forks
 * FORKS children; each child maps the file, reads it and unmaps it (in
 * embedded mode a child cannot map: ENOTSUP, as documented), then exits.
 * A child that does not exit within a minute is a hang: the test fails.
 * The window is short: without the fix this test did not hang in 3 runs
 * here (the hang was seen once, in
 * tests/programs/test_fork_while_another_thread_sets_fd_limit_never_hangs.sh);
 * it stands guard, many forks a run, in both modes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#ifdef FM_UNDER_SANITIZER
#define FORKS 60
#else
#define FORKS 400
#endif
#define PAGES 16
#define MAPPERS 2

static int fd;
static atomic_int stop;

static void *mapper(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		unsigned char *p[8];
		for (int i = 0; i < 8; i++) {
			p[i] = fm_mmap(NULL, PAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
			CHECK(p[i] != MAP_FAILED);
		}
		for (int i = 0; i < 8; i++)
			CHECK(fm_munmap(p[i], PAGES * PS) == 0);
	}
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "a forked child did not exit within 60 s: it hangs\n";
	if (write(2, msg, sizeof(msg) - 1)) {
	}
	_exit(1);
}

int main(void)
{
	each_mode();
	require_engine();
	require_threads_after_fork();
	char path[64];
	fd = make_file(path, PAGES * PS, 21, O_RDONLY);
	signal(SIGALRM, on_alarm);
	pthread_t t[MAPPERS];
	for (int i = 0; i < MAPPERS; i++)
		CHECK(pthread_create(&t[i], NULL, mapper, NULL) == 0);
	for (int i = 0; i < FORKS; i++) {
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			unsigned char *p = fm_mmap(NULL, PAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
			if (p == MAP_FAILED)
				_exit(errno == ENOTSUP ? 0 : 2);
			unsigned sum = 0;
			for (int k = 0; k < PAGES; k++)
				sum += p[k * PS];
			(void)sum;
			_exit(fm_munmap(p, PAGES * PS) ? 3 : 0);
		}
		alarm(60);
		int st;
		CHECK(waitpid(pid, &st, 0) == pid);
		alarm(0);
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "child %d: %s %d\n", i, WIFEXITED(st) ? "exit" : "signal",
				WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			return 1;
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < MAPPERS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	close(fd);
	unlink(path);
	return 0;
}
