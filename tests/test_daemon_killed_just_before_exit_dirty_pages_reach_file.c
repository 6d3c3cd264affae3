/*
 * Daemon mode: a process that writes a shared mapping and exits right
 * after the daemon's SIGKILL, before its watcher has seen the death,
 * still leaves every byte in the file: the exit's request fails on the
 * dead daemon's socket, and the exit writes the pages itself. At first it
 * only said "could not write back", and the process's end cut the
 * watcher's flush short. Each round is a process with a daemon of its
 * own; half exit at once after the kill, half after the daemon is gone.
 */
#include "helpers.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ROUNDS 16
#define NPAGES 32

static int round_of(int r, void *arg)
{
	int fd = open(arg, O_RDWR);
	CHECK(fd >= 0);
	char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	for (int i = 0; i < NPAGES; i++)
		memset(p + i * PS, 'a' + r, PS);
	pid_t d = daemon_pid();
	CHECK(d > 0);
	CHECK(kill(d, SIGKILL) == 0);
	if (r % 2)
		daemon_gone();
	return 0; /* exit: the pages go to the file */
}

static void in_file(int r, void *arg)
{
	int fd = open(arg, O_RDONLY);
	CHECK(fd >= 0);
	char b[PS];
	for (int i = 0; i < NPAGES; i++) {
		CHECK_EQ(pread(fd, b, PS, (off_t)i * PS), PS);
		for (size_t k = 0; k < PS; k += 512)
			if (b[k] != 'a' + r) {
				fprintf(stderr, "round %d: page %d byte %zu is %#x\n", r, i, k,
					(unsigned char)b[k]);
				exit(1);
			}
	}
	close(fd);
}

int main(void)
{
	require_death_orders_flush();
	daemon_rounds_on_file(ROUNDS, NPAGES * PS, 9, round_of, in_file);
	return 0;
}
