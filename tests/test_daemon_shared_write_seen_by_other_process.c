/*
 * Daemon mode: two separately exec'd processes map one file MAP_SHARED.
 * Each sees the other's writes at once (one page cache, as on Linux), and
 * once both are gone (the worker by _exit, without munmap or msync) the
 * file holds every write. Before the daemon, each process had a cache of
 * its own: the reader saw stale bytes, and the last to write back won.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 64
#define ROUNDS 300

/* worker: checks each write the parent announces, answers with one of its
 * own; leaves by _exit, its mapping still there. */
static int worker(const char *path, int in, int out)
{
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	volatile unsigned char *q = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
					    MAP_SHARED, fd, 0);
	CHECK(q != MAP_FAILED);
	ping_pong_follow(q, NPAGES, in, out, NULL);
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "worker"))
		return worker(argv[2], atoi(argv[3]), atoi(argv[4]));
	daemon_private();
	require_engine();
	char path[64];
	int fd = make_file(path, NPAGES * PS, 7, O_RDWR);
	unsigned char *model = malloc(NPAGES * PS);
	fill_pattern(model, NPAGES * PS, 7);
	volatile unsigned char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
					    MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	int to[2], from[2];
	CHECK(pipe(to) == 0 && pipe(from) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char in[16], out[16];
		snprintf(in, sizeof(in), "%d", to[0]);
		snprintf(out, sizeof(out), "%d", from[1]);
		execl("/proc/self/exe", argv[0], "worker", path, in, out, (char *)NULL);
		_exit(127);
	}
	ping_pong_lead(p, model, NPAGES, ROUNDS, to[1], from[0]);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (size_t i = 0; i < NPAGES * PS; i++)
		CHECK_EQ(p[i], model[i]);
	CHECK(fm_munmap((void *)p, NPAGES * PS) == 0); /* the last: written back */
	check_file_is(path, model, NPAGES * PS);
	close(fd);
	unlink(path);
	free(model);
	return 0;
}
