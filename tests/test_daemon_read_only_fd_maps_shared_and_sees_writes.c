/*
 * Daemon mode: a file opened read-only maps MAP_SHARED (model weights,
 * numpy.memmap mode 'r'): its pages read the file, another process's
 * writes are seen at once, and it can never write: mprotect to PROT_WRITE
 * gets EACCES, as the kernel gives for a shared mapping of a read-only
 * fd. (userfaultfd only registers views that may write: such a view is a
 * private view of a read-only memfd; the first version failed with EPERM.)
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 64

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "writer")) {
		int fd = open(argv[2], O_RDWR);
		CHECK(fd >= 0);
		unsigned char b[PS];
		for (int i = 0; i < NPAGES; i += 3) {
			memset(b, 0xA0 + i % 16, PS);
			CHECK_EQ(fm_pwrite(fd, b, PS, (off_t)i * PS), PS);
		}
		return 0;
	}
	daemon_private();
	require_engine();
	char path[64];
	int wfd = make_file(path, NPAGES * PS, 13, O_RDWR);
	close(wfd);
	unsigned char *want = malloc(NPAGES * PS);
	fill_pattern(want, NPAGES * PS, 13);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	volatile unsigned char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	for (size_t i = 0; i < NPAGES * PS; i += 512)
		CHECK_EQ(p[i], want[i]);
	CHECK(fm_mprotect((void *)p, NPAGES * PS, PROT_READ | PROT_WRITE) < 0);
	CHECK_EQ(errno, EACCES);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execl("/proc/self/exe", argv[0], "writer", path, (char *)NULL);
		_exit(127);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (int i = 0; i < NPAGES; i++)
		for (size_t k = 0; k < PS; k += 256)
			CHECK_EQ(p[(size_t)i * PS + k],
				 i % 3 == 0 ? 0xA0 + i % 16 : want[(size_t)i * PS + k]);
	CHECK(fm_munmap((void *)p, NPAGES * PS) == 0);
	close(fd);
	unlink(path);
	free(want);
	return 0;
}
