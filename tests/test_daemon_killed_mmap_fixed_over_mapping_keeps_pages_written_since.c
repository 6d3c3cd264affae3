/*
 * Daemon mode: after the daemon's death, a MAP_FIXED mmap over a shared
 * mapping whose pages were written since the watcher's flush. Anonymous
 * memory (the kernel's mapping) gets the kernel's answer, and the pages
 * it replaces are written to the file first; a new faultmap mapping of a
 * file cannot be made (EIO, as the other mapping calls), and the old one
 * stays in place, to be written at exit. At first both replaced the old
 * mapping, failed with EIO, and the write was lost.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ROUNDS 8
#define NPAGES 8

static int round_of(int r, void *arg)
{
	int fd = open(arg, O_RDWR);
	CHECK(fd >= 0);
	char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	memset(p, 'a' + r, PS);
	pid_t d = daemon_pid();
	CHECK(d > 0);
	CHECK(kill(d, SIGKILL) == 0);
	daemon_gone();
	memset(p + 100, 'A' + r, 100); /* still writable: it was dirty */
	if (r % 2 == 0) {
		void *q = fm_mmap(p, NPAGES * PS, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		CHECK(q == (void *)p);
		CHECK_EQ(p[100], 0); /* the kernel's new anonymous memory */
	} else {
		void *q = fm_mmap(p, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
				  fd, 0);
		CHECK(q == MAP_FAILED);
		CHECK_EQ(errno, EIO);
		CHECK_EQ(p[100], 'A' + r); /* the old mapping is still there */
	}
	close(fd);
	return 0;
}

static void in_file(int r, void *arg)
{
	int fd = open(arg, O_RDONLY);
	CHECK(fd >= 0);
	char b[PS];
	CHECK_EQ(pread(fd, b, PS, 0), PS);
	CHECK_EQ(b[0], 'a' + r);
	CHECK_EQ(b[100], 'A' + r);
	CHECK_EQ(b[200], 'a' + r);
	close(fd);
}

int main(void)
{
	require_death_orders_flush();
	daemon_rounds_on_file(ROUNDS, NPAGES * PS, 11, round_of, in_file);
	return 0;
}
