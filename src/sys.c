/*
 * sys.c - the system calls faultmap makes.
 *
 * Every read of a file, write of a page and flush passes through the fm_sys
 * table, so a test can replace an entry and make the Nth call fail with the
 * errno it chooses (SQLite's os_unix.c does the same). Production code never
 * changes the table.
 *
 * The calls the interposer takes over (mmap, read, close...) are made
 * through the sys_* functions: raw system calls in the interposer's build,
 * libc elsewhere. And the engine's own fds are kept out of the program's
 * reach (fd_keep).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef FM_INTERPOSER
void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}
int sys_munmap(void *addr, size_t len)
{
	return (int)syscall(SYS_munmap, addr, len);
}
int sys_madvise(void *addr, size_t len, int advice)
{
	return (int)syscall(SYS_madvise, addr, len, advice);
}
int sys_mprotect(void *addr, size_t len, int prot)
{
	return (int)syscall(SYS_mprotect, addr, len, prot);
}
int sys_msync(void *addr, size_t len, int flags)
{
	return (int)syscall(SYS_msync, addr, len, flags);
}
void *sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
	return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
}
int sys_ftruncate(int fd, off_t len)
{
	return (int)syscall(SYS_ftruncate, fd, len);
}
int sys_fallocate(int fd, int mode, off_t off, off_t len)
{
	return (int)syscall(SYS_fallocate, fd, mode, off, len);
}
ssize_t sys_read(int fd, void *buf, size_t n)
{
	return syscall(SYS_read, fd, buf, n);
}
ssize_t sys_write(int fd, const void *buf, size_t n)
{
	return syscall(SYS_write, fd, buf, n);
}
ssize_t sys_pread(int fd, void *buf, size_t n, off_t off)
{
	return syscall(SYS_pread64, fd, buf, n, off);
}
ssize_t sys_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return syscall(SYS_pwrite64, fd, buf, n, off);
}
int sys_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}
int sys_fsync(int fd)
{
	return (int)syscall(SYS_fsync, fd);
}
int sys_fdatasync(int fd)
{
	return (int)syscall(SYS_fdatasync, fd);
}
int sys_sync_file_range(int fd, off_t off, off_t len, unsigned int flags)
{
	return (int)syscall(SYS_sync_file_range, fd, off, len, flags);
}
int sys_syncfs(int fd)
{
	return (int)syscall(SYS_syncfs, fd);
}
void sys_sync(void)
{
	syscall(SYS_sync);
}
static int close_fd(int fd)
{
	return (int)syscall(SYS_close, fd);
}
#else
void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}
int sys_munmap(void *addr, size_t len)
{
	return munmap(addr, len);
}
int sys_madvise(void *addr, size_t len, int advice)
{
	return madvise(addr, len, advice);
}
int sys_mprotect(void *addr, size_t len, int prot)
{
	return mprotect(addr, len, prot);
}
int sys_msync(void *addr, size_t len, int flags)
{
	return msync(addr, len, flags);
}
void *sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
	return mremap(old, old_len, new_len, flags, new_addr);
}
int sys_ftruncate(int fd, off_t len)
{
	return ftruncate(fd, len);
}
int sys_fallocate(int fd, int mode, off_t off, off_t len)
{
	return fallocate(fd, mode, off, len);
}
ssize_t sys_read(int fd, void *buf, size_t n)
{
	return read(fd, buf, n);
}
ssize_t sys_write(int fd, const void *buf, size_t n)
{
	return write(fd, buf, n);
}
ssize_t sys_pread(int fd, void *buf, size_t n, off_t off)
{
	return pread(fd, buf, n, off);
}
ssize_t sys_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite(fd, buf, n, off);
}
int sys_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	return openat(dirfd, path, flags, mode);
}
int sys_fsync(int fd)
{
	return fsync(fd);
}
int sys_fdatasync(int fd)
{
	return fdatasync(fd);
}
int sys_sync_file_range(int fd, off_t off, off_t len, unsigned int flags)
{
	return sync_file_range(fd, off, len, flags);
}
int sys_syncfs(int fd)
{
	return syncfs(fd);
}
void sys_sync(void)
{
	sync();
}
static int close_fd(int fd)
{
	return close(fd);
}
#endif

static int read_done(uint64_t off, uint64_t len, int res)
{
	(void)off, (void)len;
	return res;
}

struct fm_sys fm_sys = {
	.pread = sys_pread,
	.pwrite = sys_pwrite,
	.fdatasync = sys_fdatasync,
	.fallocate = sys_fallocate,
	.read_done = read_done,
};

#define FM_KEEP_MAX 65536
static _Atomic uint64_t kept[FM_KEEP_MAX / 64];

bool fd_kept(int fd)
{
	if (fd < 0 || fd >= FM_KEEP_MAX)
		return false;
	return atomic_load(&kept[fd / 64]) & (1ull << (fd % 64));
}

int fd_keep(int fd)
{
	if (fd < 0)
		return fd;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, FM_FD_FLOOR);
	if (high >= 0 && high < FM_KEEP_MAX) {
		close_fd(fd);
		fd = high;
	} else if (high >= 0) {
		close_fd(high);
	}
	if (fd < FM_KEEP_MAX)
		atomic_fetch_or(&kept[fd / 64], 1ull << (fd % 64));
	return fd;
}

int sys_close(int fd)
{
	if (fd >= 0 && fd < FM_KEEP_MAX)
		atomic_fetch_and(&kept[fd / 64], ~(1ull << (fd % 64)));
	return close_fd(fd);
}
