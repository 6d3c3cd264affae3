/*
 * A vfork child shares the parent's memory, not its fds: its close() (the
 * interposer's, as Python's subprocess closes fds before exec) must not
 * forget the parent's record of which write-back error an fd was told of.
 * Else the parent's next fsync reports an error it already reported.
 */
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE (4 * PS)

int main(void)
{
	pin_embedded_mode("write failures injected through this process's fm_sys");
#ifdef FM_UNDER_TSAN
	/* TSan makes vfork() a fork(), whose interceptor holds TSan's locks
	 * while the kernel waits for a fault thread to read UFFD_EVENT_FORK
	 * (see test_fork_child_sees_file_data): it hung in CI's TSan run. */
	fprintf(stderr, "skip: TSan's fork interceptor deadlocks with UFFD_EVENT_FORK\n");
	return 77;
#endif
	require_engine();
	fm_sys.pwrite = failing_pwrite;
	char path[64];
	int fd = make_file(path, SIZE, 73, O_RDWR);
	unsigned char *p = fm_mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	filemap_fd_opened(fd); /* as the interposer's open does */
	pwrite_errno = EIO;
	memset(p, 0x44, SIZE);
	CHECK_EQ(fm_fsync(fd), -1);
	CHECK_EQ(errno, EIO);
	pwrite_errno = 0;

	pid_t pid = vfork();
	CHECK(pid >= 0);
	if (pid == 0) {
		filemap_fds_closed((unsigned)fd, (unsigned)fd); /* the child's close(fd) */
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK_EQ(fm_fsync(fd), 0); /* told already, and written now */

	CHECK_EQ(fm_munmap(p, SIZE), 0);
	close(fd);
	unlink(path);
	return 0;
}
