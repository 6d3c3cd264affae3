/*
 * Daemon mode: a forked child keeps serving the mappings it inherited, can
 * make mappings of its own, and its msync(MS_SYNC) makes its writes
 * durable in the file before it returns (a pread of the file by the kernel
 * sees them). Its writes are seen by the parent's mapping at once. Forks
 * again and again, from a parent with dirty pages. Before the daemon, a
 * child's fm_mmap failed with ENOTSUP and its msync wrote nothing.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 64
#define FORKS 40

static void child(const char *path, volatile unsigned char *p, int i)
{
	/* The parent's last write, through the inherited view. */
	CHECK_EQ(p[0], (uint8_t)(i + 1));
	p[(i % 32) * PS + 7] = (uint8_t)(0x80 + i);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	volatile unsigned char *q = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
					    MAP_SHARED, fd, 0);
	CHECK(q != MAP_FAILED);
	CHECK_EQ(q[(i % 32) * PS + 7], (uint8_t)(0x80 + i)); /* one cache */
	q[(32 + i % 32) * PS + 9] = (uint8_t)(0x40 + i);
	CHECK(fm_msync((void *)p, NPAGES * PS, MS_SYNC) == 0);
	CHECK(fm_msync((void *)q, NPAGES * PS, MS_SYNC) == 0);
	unsigned char b;
	CHECK(pread(fd, &b, 1, (off_t)((i % 32) * PS + 7)) == 1);
	CHECK_EQ(b, (uint8_t)(0x80 + i));
	CHECK(pread(fd, &b, 1, (off_t)((32 + i % 32) * PS + 9)) == 1);
	CHECK_EQ(b, (uint8_t)(0x40 + i));
	CHECK(fm_munmap((void *)q, NPAGES * PS) == 0);
	_exit(0);
}

int main(void)
{
	require_threads_after_fork();
	daemon_private();
	require_engine();
	char path[64];
	int fd = make_file(path, NPAGES * PS, 3, O_RDWR);
	volatile unsigned char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
					    MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	for (int i = 0; i < FORKS; i++) {
		p[0] = (uint8_t)(i + 1); /* dirty at the fork */
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			child(path, p, i);
		int status;
		CHECK(waitpid(pid, &status, 0) == pid);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		CHECK_EQ(p[(i % 32) * PS + 7], (uint8_t)(0x80 + i));
		CHECK_EQ(p[(32 + i % 32) * PS + 9], (uint8_t)(0x40 + i));
	}
	CHECK(fm_munmap((void *)p, NPAGES * PS) == 0);
	close(fd);
	unlink(path);
	return 0;
}
