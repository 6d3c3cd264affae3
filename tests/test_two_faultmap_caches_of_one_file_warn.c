/*
 * Two faultmap caches of one file (two programs in embedded mode, or
 * daemons of two users) that map it shared and writable are not coherent:
 * the second one says so on stderr, naming the file and the other process,
 * once. Two clients of one daemon share one cache: no warning.
 */
#include "helpers.h"

#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* second - map the file shared and writable, twice; stderr goes to err. */
static int second(const char *path, const char *mode)
{
	if (!strcmp(mode, "daemon"))
		CHECK(fm_set_mode(FM_MODE_DAEMON) == 0);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	for (int i = 0; i < 2; i++) {
		void *p = fm_mmap(NULL, 4 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		CHECK(p != MAP_FAILED);
		((volatile char *)p)[0] = 1;
		CHECK(fm_munmap(p, 4 * PS) == 0);
	}
	return 0;
}

/* run_second - its stderr, in out. */
static void run_second(const char *self, const char *path, const char *mode, char *out,
		       size_t size)
{
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	/* posix_spawn, not fork: no fork event for the engine to read (a
	 * fork of a process with an engine hangs under TSan). */
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	char *args[] = {(char *)self, "second", (char *)path, (char *)mode, NULL};
	pid_t pid;
	CHECK(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, args, environ) == 0);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	size_t have = 0;
	ssize_t n;
	while (have < size - 1 && (n = read(pfd[0], out + have, size - 1 - have)) > 0)
		have += (size_t)n;
	out[have] = '\0';
	close(pfd[0]);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int count(const char *text, const char *what)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, what)); p++)
		n++;
	return n;
}

/* daemon_part - a client of a daemon maps the file, and another client
 * does too: nothing is said. */
static int daemon_part(const char *self, const char *path)
{
	char err[4096];
	daemon_private();
	int fd = open(path, O_RDWR);
	volatile char *p = fm_mmap(NULL, 4 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	p[1] = 2;
	run_second(self, path, "daemon", err, sizeof(err));
	if (strstr(err, "also cached"))
		fprintf(stderr, "the daemon's client said:\n%s\n", err);
	CHECK(!strstr(err, "also cached"));
	CHECK(fm_munmap((void *)p, 4 * PS) == 0);
	return 0;
}

int main(int argc, char **argv)
{
	pin_embedded_mode("two caches of one file: two embedded engines");
	if (argc == 4 && !strcmp(argv[1], "second"))
		return second(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "daemon-part"))
		return daemon_part(argv[0], argv[2]);
	require_engine();
	char path[64], err[4096], who[64];
	int fd = make_file(path, 4 * PS, 29, O_RDWR);
	/* This process, in embedded mode, caches the file for writing. */
	void *p = fm_mmap(NULL, 4 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	((volatile char *)p)[1] = 1;
	run_second(argv[0], path, "embedded", err, sizeof(err));
	snprintf(who, sizeof(who), "also cached by process %d", (int)getpid());
	if (count(err, who) != 1)
		fprintf(stderr, "the second program said:\n%s\n", err);
	CHECK_EQ(count(err, who), 1); /* once, though it mapped twice */
	CHECK(strstr(err, path));
	CHECK(fm_munmap(p, 4 * PS) == 0);
	close(fd);
	/* Two clients of one daemon: one cache, nothing to say. */
	/* A fresh process: this one is in embedded mode. */
	char *args[] = {argv[0], "daemon-part", path, NULL};
	pid_t pid;
	CHECK(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ) == 0);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	unlink(path);
	return 0;
}
