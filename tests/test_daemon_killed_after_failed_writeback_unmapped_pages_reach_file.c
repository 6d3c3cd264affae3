/*
 * Daemon mode: dirty pages that no process maps any more, because their
 * write-back at the last unmap failed (the file was made immutable:
 * EPERM), are not lost when the daemon is killed (SIGKILL): the daemon
 * copied them to a rescue file in its runtime directory, and once the
 * file can be written again, the next daemon writes them to it at its
 * start and removes the rescue file (a daemon that starts while the file
 * still refuses them keeps it). A rescue file that is not well formed is
 * kept, and the daemon's log says so. Before, the pages died
 * with the daemon and the file kept its old bytes. Needs root (chattr).
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 32

static char path[64]; /* the file */
static pid_t owner;   /* the test's process (not a forked client) */

/* cleanup - an immutable file would outlive the test: never leave one. */
static void cleanup(void)
{
	if (getpid() == owner && set_immutable(path, false) == 0)
		unlink(path);
}

int main(void)
{
	daemon_private(); /* this process never maps: its children do */
	close(make_file(path, NPAGES * PS, 61, O_RDWR));
	owner = getpid();
	unsigned char *old = malloc(NPAGES * PS), *want = malloc(NPAGES * PS);
	CHECK(old && want);
	fill_pattern(old, NPAGES * PS, 61);
	memcpy(want, old, NPAGES * PS);
	for (int i = 1; i < NPAGES; i += 4) /* whole pages of a pattern of their own */
		fill_pattern(want + (size_t)i * PS, PS, 4000 + (uint32_t)i);
	atexit(cleanup); /* registered after daemon_private's: run before it */
	int err = set_immutable(path, true);
	if (err) {
		unlink(path);
		printf("skip: cannot make a file immutable here: %s\n", strerror(err));
		return 77;
	}
	CHECK(set_immutable(path, false) == 0);

	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) { /* the client: writes, then the file refuses them */
		require_engine();
		int fd = open(path, O_RDWR);
		CHECK(fd >= 0);
		unsigned char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED,
					   fd, 0);
		CHECK(p != MAP_FAILED);
		for (int i = 1; i < NPAGES; i += 4)
			memcpy(p + (size_t)i * PS, want + (size_t)i * PS, PS);
		CHECK(set_immutable(path, true) == 0);
		CHECK(fm_munmap(p, NPAGES * PS) == 0); /* its write-back fails: kept */
		close(fd);
		exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		exit(77);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char name[256];
	CHECK_EQ(rescue_files("rescue-", NULL, name, sizeof(name)), 1);

	daemon_kill();
	check_file_is(path, old, NPAGES * PS); /* the pages never reached it */

	/* A daemon that cannot write them either keeps the rescue file. */
	require_engine_in_child();
	CHECK(daemon_log_says("could not be written back: Operation not permitted: kept"));
	CHECK_EQ(rescue_files("rescue-", NULL, name, sizeof(name)), 1);
	CHECK(daemon_stop() == 0);
	check_file_is(path, old, NPAGES * PS);
	CHECK(set_immutable(path, false) == 0);

	/* A rescue file that is not one: kept, and said. */
	char junk[160];
	snprintf(junk, sizeof(junk), "%s/faultmap/rescue-1-2-3", getenv("XDG_RUNTIME_DIR"));
	int j = open(junk, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(j >= 0);
	CHECK(write(j, "not a rescue file", 17) == 17);
	close(j);

	require_engine_in_child(); /* a new daemon: it writes them back first */
	check_file_is(path, want, NPAGES * PS);
	CHECK_EQ(rescue_files("rescue-", NULL, name, sizeof(name)), 1);
	CHECK(!strcmp(name, "rescue-1-2-3"));
	CHECK(daemon_log_says("rescue-1-2-3 cannot be read (it is not a well-formed rescue file): kept"));
	CHECK(daemon_log_says("were written from the rescue file"));
	unlink(junk);
	free(old);
	free(want);
	return 0;
}
