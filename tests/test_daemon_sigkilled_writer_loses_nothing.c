/*
 * Daemon mode: a writer killed with SIGKILL at a random moment loses
 * nothing it wrote through a shared mapping. Each write is announced on a
 * pipe after it is made; after the kill every announced write is in the
 * cache (another process's mapping sees it) and, once the daemon writes
 * back (the last unmap), in the file. Before the daemon the writer's dirty
 * pages died with it.
 */
#include "helpers.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 128
#define KILLS 25

struct note {
	uint32_t page;
	uint8_t val;
};

static int writer(const char *path, int out, unsigned seed)
{
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	volatile unsigned char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
					    MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		perror("writer: fm_mmap");
	CHECK(p != MAP_FAILED);
	uint64_t s = seed;
	for (;;) {
		struct note n;
		n.page = rnd(&s) % NPAGES;
		n.val = (uint8_t)(rnd(&s) | 1);
		p[n.page * PS + n.page % 61] = n.val;
		CHECK(write(out, &n, sizeof(n)) == (ssize_t)sizeof(n));
	}
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "writer"))
		return writer(argv[2], atoi(argv[3]), (unsigned)atoi(argv[4]));
	daemon_private();
	require_engine();
	char path[64];
	int fd = make_file(path, NPAGES * PS, 5, O_RDWR);
	unsigned char *model = malloc(NPAGES * PS);
	fill_pattern(model, NPAGES * PS, 5);
	volatile unsigned char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	uint64_t s = 12345;
	for (int k = 0; k < KILLS; k++) {
		int pfd[2];
		CHECK(pipe(pfd) == 0);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			char out[16], seed[16];
			snprintf(out, sizeof(out), "%d", pfd[1]);
			snprintf(seed, sizeof(seed), "%d", k + 1);
			execl("/proc/self/exe", argv[0], "writer", path, out, seed, (char *)NULL);
			_exit(127);
		}
		close(pfd[1]);
		/* Let it write a random number of times (it may be
		 * mid-write when killed: that page's fate is either). */
		unsigned want = 1 + rnd(&s) % 3000, got = 0;
		struct note n;
		while (got < want && read(pfd[0], &n, sizeof(n)) == (ssize_t)sizeof(n)) {
			model[n.page * PS + n.page % 61] = n.val;
			got++;
		}
		if (got != want) {
			int st;
			waitpid(pid, &st, 0);
			fprintf(stderr, "writer %d ended early after %u writes: status %#x\n", k,
				got, st);
			exit(1);
		}
		kill(pid, SIGKILL);
		/* Writes announced before the kill landed. */
		unsigned drained = 0;
		while (read(pfd[0], &n, sizeof(n)) == (ssize_t)sizeof(n)) {
			model[n.page * PS + n.page % 61] = n.val;
			drained++;
		}
		close(pfd[0]);
		int status;
		CHECK(waitpid(pid, &status, 0) == pid);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		/* The write it may have made without announcing it: the
		 * writer's next note, from its own generator. */
		uint64_t ws = (uint64_t)(k + 1);
		for (unsigned i = 0; i < got + drained; i++)
			rnd(&ws), rnd(&ws);
		struct note next = {rnd(&ws) % NPAGES, 0};
		next.val = (uint8_t)(rnd(&ws) | 1);
		size_t at = next.page * PS + next.page % 61;
		CHECK(p[at] == model[at] || p[at] == next.val);
		model[at] = p[at];
		/* Another process's view of the cache holds every write. */
		for (size_t i = 0; i < NPAGES * PS; i++)
			CHECK_EQ(p[i], model[i]);
	}
	/* The file too, once the daemon has written back. */
	CHECK(fm_munmap((void *)p, NPAGES * PS) == 0);
	CHECK_EQ(daemon_stop(), 0);
	check_file_is(path, model, NPAGES * PS);
	close(fd);
	unlink(path);
	free(model);
	return 0;
}
