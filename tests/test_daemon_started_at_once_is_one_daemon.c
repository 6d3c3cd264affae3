/*
 * Daemon mode: programs started at the same moment, with no daemon
 * running, end up sharing one daemon (one cache): each of 8 exec'd
 * processes maps the same file at once (each may start a daemon; one wins
 * the lock), writes its own page, and then sees every other's write
 * through its own mapping. Repeated, each round with a fresh runtime
 * directory, so the race is run many times.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 8
#define ROUNDS 6

static int worker(const char *path, int me, int go, int done, int all)
{
	char c;
	CHECK(read(go, &c, 1) == 1); /* all start together */
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	volatile unsigned char *p = fm_mmap(NULL, WORKERS * PS, PROT_READ | PROT_WRITE,
					    MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		perror("worker: fm_mmap");
	CHECK(p != MAP_FAILED);
	p[me * PS + 7] = (uint8_t)(0x30 + me);
	CHECK(write(done, "d", 1) == 1);
	CHECK(read(all, &c, 1) == 1); /* every worker has written */
	for (int i = 0; i < WORKERS; i++)
		CHECK_EQ(p[i * PS + 7], 0x30 + i);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 7 && !strcmp(argv[1], "worker"))
		return worker(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
	for (int round = 0; round < ROUNDS; round++) {
		pid_t owner = fork(); /* each round: a runtime directory of its own */
		CHECK(owner >= 0);
		if (owner > 0) {
			int status;
			CHECK(waitpid(owner, &status, 0) == owner);
			CHECK(WIFEXITED(status));
			if (WEXITSTATUS(status) == 77)
				return 77;
			CHECK_EQ(WEXITSTATUS(status), 0);
			continue;
		}
		daemon_private();
		if (!user_may_uffd()) {
			fprintf(stderr, "skip: no userfaultfd\n");
			exit(77);
		}
		char path[64];
		int fd = make_file(path, WORKERS * PS, 23, O_RDWR);
		close(fd);
		int go[2], done[2], all[2];
		CHECK(pipe(go) == 0 && pipe(done) == 0 && pipe(all) == 0);
		pid_t pids[WORKERS];
		for (int i = 0; i < WORKERS; i++) {
			pids[i] = fork();
			CHECK(pids[i] >= 0);
			if (pids[i] == 0) {
				char me[8], a[8], b[8], c[8];
				snprintf(me, sizeof(me), "%d", i);
				snprintf(a, sizeof(a), "%d", go[0]);
				snprintf(b, sizeof(b), "%d", done[1]);
				snprintf(c, sizeof(c), "%d", all[0]);
				execl("/proc/self/exe", argv[0], "worker", path, me, a, b, c,
				      (char *)NULL);
				_exit(127);
			}
		}
		char buf[WORKERS];
		memset(buf, 'g', sizeof(buf));
		CHECK(write(go[1], buf, WORKERS) == WORKERS);
		for (int i = 0; i < WORKERS; i++)
			CHECK(read(done[0], buf, 1) == 1);
		memset(buf, 'a', sizeof(buf));
		CHECK(write(all[1], buf, WORKERS) == WORKERS);
		for (int i = 0; i < WORKERS; i++) {
			int status;
			CHECK(waitpid(pids[i], &status, 0) == pids[i]);
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		}
		unlink(path);
		exit(0); /* stops this round's daemon (atexit) */
	}
	return 0;
}
