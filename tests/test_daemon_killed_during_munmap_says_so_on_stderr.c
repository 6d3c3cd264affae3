/*
 * Daemon mode: a munmap whose request meets the daemon's death cannot
 * tell whether the daemon wrote the range back: the kernel has already
 * unmapped it, so neither the watcher's flush nor the exit's finds those
 * pages. munmap then fails with EIO and stderr says what may be lost: the
 * writes are never dropped without a word. Made deterministic by stopping
 * the daemon (SIGSTOP) before the munmap and killing it while the request
 * waits. Each of the rounds is a process with a daemon of its own.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ROUNDS 4
#define NPAGES 8

static char *view;
static int unmapped, unmap_errno;

static void *unmap_it(void *arg)
{
	(void)arg;
	unmapped = fm_munmap(view, NPAGES * PS);
	unmap_errno = errno;
	return NULL;
}

static int round_of(int r, void *arg)
{
	(void)r;
	const char *path = ((char **)arg)[0], *log_path = ((char **)arg)[1];
	int log = open(log_path, O_WRONLY | O_TRUNC);
	CHECK(log >= 0);
	CHECK(dup2(log, 2) == 2);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	view = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(view != MAP_FAILED);
	memset(view, 'x', PS);
	pid_t d = daemon_pid();
	CHECK(d > 0);
	CHECK(kill(d, SIGSTOP) == 0);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, unmap_it, NULL) == 0);
	usleep(100000); /* the request waits for the stopped daemon */
	CHECK(kill(d, SIGKILL) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK_EQ(unmapped, -1);
	CHECK_EQ(unmap_errno, EIO);
	close(fd);
	return 0;
}

/* said - the round's stderr names the munmap whose pages may be lost. */
static void said(int r, void *arg)
{
	int log = open(((char **)arg)[1], O_RDONLY);
	CHECK(log >= 0);
	char text[4096] = "";
	CHECK(read(log, text, sizeof(text) - 1) >= 0);
	close(log);
	if (!strstr(text, "the daemon died during munmap(")) {
		fprintf(stderr, "round %d: no word of the munmap's pages; stderr was:\n%s\n", r,
			text);
		exit(1);
	}
}

int main(void)
{
	daemon_private();
	require_engine_in_child(); /* this process stays without a daemon */
	char path[64], log_path[64] = "/tmp/fm-munmap-log.XXXXXX";
	close(make_file(path, NPAGES * PS, 5, O_RDWR));
	int log = mkstemp(log_path);
	CHECK(log >= 0);
	close(log);
	char *paths[2] = {path, log_path};
	daemon_rounds(ROUNDS, round_of, said, paths);
	unlink(log_path);
	unlink(path);
	return 0;
}
