/*
 * Daemon mode: when the daemon is killed (SIGKILL) with dirty pages it has
 * not written back, no write that reached a shared mapping is lost: the
 * client that holds the views writes what they hold to the file (the
 * daemon took the record of which pages are dirty with it), and at exit
 * again what it wrote since. Checked with the kernel's pread of the file,
 * after the kill and after the client exits.
 */
#include "helpers.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 128

static bool file_has(const char *path, const unsigned char *want)
{
	size_t n;
	unsigned char *got = slurp(path, &n);
	bool same = n == NPAGES * PS && !memcmp(got, want, n);
	free(got);
	return same;
}

int main(void)
{
	require_sigbus_delivery();
	char path[64];
	int fd0 = make_file(path, NPAGES * PS, 31, O_RDWR);
	close(fd0);
	unsigned char *want = malloc(NPAGES * PS);
	fill_pattern(want, NPAGES * PS, 31);
	for (int i = 0; i < NPAGES; i += 3)
		want[(size_t)i * PS + 9] = (uint8_t)(i + 1);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) { /* the client, in a process of its own */
		daemon_private();
		require_engine();
		int fd = open(path, O_RDWR);
		volatile unsigned char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
						    MAP_SHARED, fd, 0);
		CHECK(p != MAP_FAILED);
		for (int i = 0; i < NPAGES; i += 3) /* dirty, never msync'd */
			p[(size_t)i * PS + 9] = (uint8_t)(i + 1);
		pid_t d = daemon_pid();
		CHECK(d > 0);
		CHECK(kill(d, SIGKILL) == 0);
		bool written = false;
		for (int t = 0; t < 500 && !written; t++) { /* the watcher's flush */
			usleep(10000);
			written = file_has(path, want);
		}
		CHECK(written);
		/* Still mapped: the page already dirty takes more writes. */
		p[3 * PS + 10] = 0x77;
		exit(0); /* at exit, the later write too */
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	want[3 * PS + 10] = 0x77;
	check_file_is(path, want, NPAGES * PS);
	unlink(path);
	free(want);
	return 0;
}
