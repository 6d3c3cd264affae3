/*
 * fork_while_setrlimit - one thread keeps setting RLIMIT_NOFILE while the
 * main thread maps a file and forks ROUNDS children, each of which sets
 * the limit too and reads the mapping. Under faultmap run a child forked
 * while the other thread held the interposer's fd-limit lock found it
 * locked for ever. Each child has an alarm: a hang is reported, not waited
 * for. Prints what the children read, to compare with the kernel's run.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 300
static atomic_bool stop;

static void *limits(void *arg)
{
	(void)arg;
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	while (!atomic_load(&stop)) {
		struct rlimit set = rl;
		set.rlim_cur = rl.rlim_cur - 1 - (rl.rlim_cur > 300 ? rand() % 200 : 0);
		setrlimit(RLIMIT_NOFILE, &set);
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "data.bin";
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		return perror("data file"), 1;
	unsigned char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return perror("mmap"), 1;
	for (int i = 0; i < (1 << 20); i += 4096)
		p[i] = (unsigned char)(i >> 12);
	pthread_t t;
	pthread_create(&t, NULL, limits, NULL);
	int hung = 0, wrong = 0;
	for (int r = 0; r < ROUNDS; r++) {
		pid_t pid = fork();
		if (pid == 0) {
			alarm(10);
			struct rlimit rl;
			getrlimit(RLIMIT_NOFILE, &rl);
			setrlimit(RLIMIT_NOFILE, &rl);
			int dup = open(path, O_RDONLY); /* may make the engine keep an fd */
			_exit(p[(r % 256) * 4096] == (unsigned char)(r % 256) && dup >= 0 ? 0 : 3);
		}
		int st;
		waitpid(pid, &st, 0);
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
			hung++;
		else if (!WIFEXITED(st) || WEXITSTATUS(st))
			wrong++;
	}
	atomic_store(&stop, true);
	pthread_join(t, NULL);
	printf("%d forks, %d hung, %d read wrong data\n", ROUNDS, hung, wrong);
	return hung || wrong;
}
