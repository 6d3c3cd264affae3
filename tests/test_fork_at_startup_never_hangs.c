/*
 * A process that forks right after its first file mapping does not hang.
 * The first fm_mmap starts the engine's threads; a fork that comes while
 * they are still starting (allocating their buffers) used to hang when one
 * of them waited for the malloc lock that fork() holds, while the kernel's
 * fork waited for it to read UFFD_EVENT_FORK.
 *
 * Each of ITERATIONS fresh processes (this program run again through
 * /proc/self/exe) maps a file, forks at once, and checks that the child
 * read the file. Each runs under its own alarm: a hang is SIGALRM.
 */
#include "helpers.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ITERATIONS 100
#define PAGES 16

/* The fresh process: map, fork at once, let the child read the mapping. */
static int map_and_fork(const char *path)
{
	alarm(10);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	unsigned char *p = fm_mmap(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return 77;
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		unsigned char want[PS];
		fill_pattern(want, PS, 71);
		_exit(memcmp(p, want, PS) == 0 ? 0 : 2);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	return 0;
}

int main(int argc, char **argv)
{
#ifdef FM_UNDER_TSAN
	/* TSan's fork interceptor takes its internal locks before fork()
	 * runs the atfork handlers, and the fault thread's instrumented code
	 * needs them before it can park and read UFFD_EVENT_FORK. */
	fprintf(stderr, "skip: TSan's fork interceptor deadlocks with UFFD_EVENT_FORK\n");
	return 77;
#endif
	if (argc == 3 && strcmp(argv[1], "--map-and-fork") == 0)
		return map_and_fork(argv[2]);
	char path[64];
	int fd = make_file(path, PAGES * PS, 71, O_RDWR);
	close(fd);
	int hung = 0, failed = 0;
	int i;
	for (i = 0; i < ITERATIONS && hung < 3; i++) { /* 3 hangs: enough said */
		fflush(NULL);
		pid_t pid = fork(); /* no engine runs in this process */
		CHECK(pid >= 0);
		if (pid == 0) {
			execl("/proc/self/exe", argv[0], "--map-and-fork", path, (char *)NULL);
			_exit(127);
		}
		int st;
		CHECK(waitpid(pid, &st, 0) == pid);
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
			hung++;
		else if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
			fprintf(stderr, "skip: faultmap cannot start in the fresh process\n");
			unlink(path);
			return 77;
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
	}
	unlink(path);
	if (hung || failed)
		fprintf(stderr, "%d of %d fresh processes hung (SIGALRM), %d failed\n", hung, i,
			failed);
	CHECK_EQ(hung, 0);
	CHECK_EQ(failed, 0);
	return 0;
}
