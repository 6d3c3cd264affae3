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
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
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

/*
 * Where the engine's fds go (fd_floor and up, FM_FD_ROOM numbers). In the
 * library, FM_FD_FLOOR. Under faultmap run, out of the program's reach:
 *  - at the program's RLIMIT_NOFILE soft limit and above, when the soft
 *    limit can be raised by FM_FD_ROOM under the hard one (the usual
 *    1024/524288). The program is still shown, and held to, its own soft
 *    limit (fd_getrlimit, fd_beyond_limit): every number it may dup2 onto is
 *    free of the engine's fds, and a number beyond gets the kernel's EBADF.
 *  - else (soft = hard, as in containers; or a limit above FM_KEEP_MAX) in
 *    the top FM_FD_ROOM numbers below the soft limit (below FM_KEEP_MAX):
 *    a program dup2()ing onto one of the engine's fds there gets EBADF.
 * A program's setrlimit lower than the room keeps the real soft limit
 * above it, so that fd_keep still reaches the room.
 */
#define FM_FD_ROOM 1024
static _Atomic int fd_floor = FM_FD_FLOOR;
#ifdef FM_INTERPOSER
static pthread_mutex_t fd_limit_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic bool fd_room_made;
static _Atomic rlim_t fd_limit_program; /* the soft limit the program set */

static int prlimit_nofile(const struct rlimit *set, struct rlimit *get)
{
	return (int)syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, set, get);
}

/* fd_make_room - choose the room (first call), and raise the real soft
 * limit over it if the program's limit or an exec lowered it. */
static void fd_make_room(void)
{
	pthread_mutex_lock(&fd_limit_lock);
	struct rlimit rl;
	if (prlimit_nofile(NULL, &rl) < 0)
		goto out;
	rlim_t floor = (rlim_t)atomic_load(&fd_floor);
	if (!atomic_load(&fd_room_made)) {
		atomic_store(&fd_limit_program, rl.rlim_cur);
		floor = rl.rlim_cur < FM_FD_FLOOR ? FM_FD_FLOOR : rl.rlim_cur;
		if (floor + FM_FD_ROOM > rl.rlim_max || floor + FM_FD_ROOM > FM_KEEP_MAX) {
			floor = rl.rlim_cur < FM_KEEP_MAX ? rl.rlim_cur : FM_KEEP_MAX;
			floor = floor < FM_FD_FLOOR + FM_FD_ROOM ? FM_FD_FLOOR : floor - FM_FD_ROOM;
		}
		atomic_store(&fd_floor, (int)floor);
		atomic_store(&fd_room_made, true);
	}
	if (rl.rlim_cur < floor + FM_FD_ROOM && rl.rlim_max > rl.rlim_cur) {
		rl.rlim_cur = floor + FM_FD_ROOM < rl.rlim_max ? floor + FM_FD_ROOM : rl.rlim_max;
		prlimit_nofile(&rl, NULL);
	}
out:
	pthread_mutex_unlock(&fd_limit_lock);
}

bool fd_beyond_limit(int fd)
{
	return fd >= 0 && atomic_load(&fd_room_made) &&
	       (rlim_t)fd >= atomic_load(&fd_limit_program);
}

int fd_getrlimit(struct rlimit *rl)
{
	if (prlimit_nofile(NULL, rl) < 0)
		return -errno;
	if (atomic_load(&fd_room_made))
		rl->rlim_cur = atomic_load(&fd_limit_program);
	return 0;
}

int fd_setrlimit(const struct rlimit *rl)
{
	if (!atomic_load(&fd_room_made))
		return prlimit_nofile(rl, NULL) < 0 ? -errno : 0;
	pthread_mutex_lock(&fd_limit_lock);
	struct rlimit real = *rl;
	rlim_t room = (rlim_t)atomic_load(&fd_floor) + FM_FD_ROOM;
	if (real.rlim_cur <= real.rlim_max && real.rlim_cur < room)
		real.rlim_cur = room < real.rlim_max ? room : real.rlim_max;
	int err = prlimit_nofile(&real, NULL) < 0 ? -errno : 0;
	if (!err)
		atomic_store(&fd_limit_program, rl->rlim_cur);
	pthread_mutex_unlock(&fd_limit_lock);
	return err;
}

/* fd_limit_fork_child - in a forked child, which has only the forking
 * thread: another thread of the parent may have held fd_limit_lock at the
 * fork, and would never release the child's copy. */
void fd_limit_fork_child(void)
{
	pthread_mutex_init(&fd_limit_lock, NULL);
}

void fd_limit_for_exec(void)
{
	if (!atomic_load(&fd_room_made))
		return;
	pthread_mutex_lock(&fd_limit_lock);
	struct rlimit rl;
	if (prlimit_nofile(NULL, &rl) == 0) {
		rl.rlim_cur = atomic_load(&fd_limit_program);
		prlimit_nofile(&rl, NULL);
	}
	pthread_mutex_unlock(&fd_limit_lock);
}
#endif

int fd_keep(int fd)
{
	if (fd < 0)
		return fd;
#ifdef FM_INTERPOSER
	struct rlimit rl;
	if (!atomic_load(&fd_room_made) ||
	    (prlimit_nofile(NULL, &rl) == 0 &&
	     rl.rlim_cur < (rlim_t)atomic_load(&fd_floor) + FM_FD_ROOM &&
	     rl.rlim_cur < rl.rlim_max))
		fd_make_room();
#endif
#ifdef FM_INTERPOSER /* not the interposer's fcntl, which keeps this range */
	int high = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, atomic_load(&fd_floor));
#else
	int high = fcntl(fd, F_DUPFD_CLOEXEC, atomic_load(&fd_floor));
#endif
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

ssize_t fd_path(int fd, char *buf, size_t size)
{
	char link[32];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return n;
}
