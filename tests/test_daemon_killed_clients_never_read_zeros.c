/*
 * Daemon mode: when the daemon is killed (SIGKILL), a client never reads
 * zeros or stale data from a page that was not cached. Pages it had
 * cached stay readable, with their data; every access to a page that is
 * not cached raises SIGBUS, from then on; a thread that was waiting in a
 * fault is woken to fault again (and gets SIGBUS). The promise chosen (docs/design.md, "If the
 * daemon dies"). A client that dropped its userfaultfd would read zeros
 * there: the client keeps its own.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 256

int main(void)
{
	require_sigbus_delivery();
	daemon_private();
	require_engine();
	char path[64];
	int fd = make_file(path, NPAGES * PS, 11, O_RDWR);
	unsigned char *want = malloc(NPAGES * PS);
	fill_pattern(want, NPAGES * PS, 11);
	volatile unsigned char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(fm_madvise((void *)p, NPAGES * PS, MADV_RANDOM) == 0); /* one page a miss */
	for (size_t i = 0; i < NPAGES; i += 2) /* the even pages are cached */
		CHECK_EQ(p[i * PS + 1], want[i * PS + 1]);
	pid_t d = daemon_pid();
	CHECK(d > 0);
	CHECK(kill(d, SIGKILL) == 0);
	for (int i = 0; i < 500 && kill(d, 0) == 0; i++)
		usleep(10000);
	usleep(100000); /* the client's watcher sees the hang-up */
	/* A child forked now cannot be served: its views are made
	 * inaccessible (SIGSEGV), never left to fill the shared memfd with
	 * zeros, which the parent would then read. */
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		signal(SIGSEGV, SIG_DFL); /* not a sanitizer's handler */
		(void)p[1 * PS + 1]; /* not cached */
		_exit(3);
	}
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	catch_sigbus();
	size_t cached = 0, refused = 0;
	for (size_t i = 0; i < NPAGES; i++) {
		int before = sigbus_count;
		if (sigsetjmp(sigbus_env, 1) == 0) {
			unsigned char b = p[i * PS + 1];
			CHECK_EQ(b, want[i * PS + 1]); /* never zeros */
			cached++;
		}
		if (sigbus_count != before)
			refused++;
	}
	CHECK_EQ(cached + refused, NPAGES);
	CHECK(cached >= NPAGES / 2);	/* what it had stays */
	CHECK(refused > 0);		/* the rest cannot be had */
	/* The calls say the daemon is gone. */
	void *q = fm_mmap(NULL, PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(q == MAP_FAILED && errno == EIO);
	printf("after the daemon's death: %zu pages read as cached, %zu refused with SIGBUS\n",
	       cached, refused);
	close(fd);
	unlink(path);
	free(want);
	return 0;
}
