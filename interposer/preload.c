/*
 * preload.c - the interposer: libfaultmap-preload.so, loaded with LD_PRELOAD
 * (faultmap run), serves an unmodified program's file mappings with
 * faultmap.
 *
 * It defines the libc entry points a program maps and accesses files with,
 * and sends them to the fm_* functions:
 *
 *  - mmap of a regular file (not executable, not memfd or /dev/shm, no flag
 *    faultmap does not implement) -> fm_mmap; everything else, and every
 *    mapping made when the engine cannot run (no userfaultfd permission, a
 *    forked child), goes to the kernel; but with FAULTMAP_REQUIRE=1
 *    (faultmap run --require) an engine that cannot start ends the process
 *    (exit 1) rather than fall back. munmap, msync, mprotect, madvise and
 *    mremap go to their fm_ versions, which pass ranges faultmap does not
 *    map to the kernel.
 *  - the read/write family, ftruncate, truncate, fallocate, copy_file_range
 *    and sendfile -> filemap.c, which serves files faultmap caches and
 *    passes the others to the kernel, so read(), write() and the mappings
 *    see one page cache, as on Linux.
 *  - fsync, fdatasync, sync_file_range, syncfs and sync -> filemap.c, which
 *    writes faultmap's dirty pages first and reports write-back errors once
 *    per open file (errseq); the open family only records, for a cached
 *    file, which errors the new fd is to hear of.
 *  - close and close_range leave the engine's own fds open (a program that
 *    closes every fd would otherwise take them away).
 *  - the exec family writes every dirty page to its file first (the cache
 *    dies with the process image); the new program is served too, as
 *    LD_PRELOAD is inherited.
 *
 * The engine inside this library makes its system calls directly (sys.c,
 * built with FM_INTERPOSER), never through these functions, and the
 * functions here never allocate before deciding a call is faultmap's: no
 * recursion through malloc.
 *
 * What stdio (fread/fwrite) and other libc-internal calls do bypasses the
 * interposer: glibc calls the kernel directly there; but a FILE of an
 * object under a mount is one of stdio.c, whose I/O is the mount layer's.
 */
#include "client/client.h"
#include "internal.h"
#include "mount.h"
#include "publish.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/file.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* shared_memory - whether fd is memory already: a memfd, a file in /dev/shm
 * or on hugetlbfs. Those are mapped by the kernel. */
static bool shared_memory(int fd)
{
	struct statfs fs;
	if (fstatfs(fd, &fs) < 0)
		return false;
	if ((unsigned long)fs.f_type == HUGETLBFS_MAGIC)
		return true;
	if ((unsigned long)fs.f_type != TMPFS_MAGIC)
		return false;
	char path[64];
	if (fd_path(fd, path, sizeof(path)) < 0)
		return true;
	return !strncmp(path, "/memfd:", 7) || !strncmp(path, "/dev/shm/", 9);
}

/* serves - whether faultmap maps this request. */
static bool serves(int prot, int flags, int fd)
{
	if ((flags & MAP_ANONYMOUS) || fd < 0 || (prot & PROT_EXEC) ||
	    !fm_mmap_serves(flags)) /* MAP_LOCKED...: see FM_KERNEL_MAP_FLAGS */
		return false;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || shared_memory(fd))
		return false;
	int err = fm_start();
	if (err) {
		/* faultmap run --require: stop rather than fall back. */
		const char *require = secure_getenv("FAULTMAP_REQUIRE");
		if (require && !strcmp(require, "1")) {
			fprintf(stderr, "faultmap: cannot serve mappings (%s), and faultmap "
					"run --require was given: exiting\n",
				strerror(-err));
			_exit(1);
		}
		static _Atomic int warned;
		if (!atomic_exchange(&warned, 1))
			fprintf(stderr, "faultmap: cannot serve mappings (%s); the "
					"kernel maps files instead\n",
				strerror(-err));
		return false;
	}
	return !engine.forked_child;
}

/* mount_mmap - mmap of fd, an fd of s, an object under faultmap run
 * --mount: faultmap's or none (the kernel would map the empty stand-in):
 * ENODEV, the kernel's answer for a file that cannot be mapped, for an
 * executable mapping, a flag faultmap does not serve, or an engine that
 * cannot run; EIO for a stand-in whose store cannot be opened again. An fd
 * of another image's stand-in (inherited across an exec) is mapped as an
 * fd of s's own with its access mode (mount_fd_to_map). */
static void *mount_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset,
			struct fm_store *s)
{
	if (mount_unreachable(s))
		return MAP_FAILED;
	if ((prot & PROT_EXEC) || !fm_mmap_serves(flags) || fm_start() || engine.forked_child) {
		errno = ENODEV;
		return MAP_FAILED;
	}
	int map_fd = mount_fd_to_map(s, fd);
	if (map_fd < 0)
		return MAP_FAILED;
	void *p = fm_mmap(addr, length, prot, flags, map_fd, offset);
	if (map_fd != fd) {
		int err = errno;
		syscall(SYS_close, map_fd);
		errno = err;
	}
	return p;
}

EXPORT void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
	struct fm_store *s = flags & MAP_ANONYMOUS ? NULL : mount_store_of(fd);
	if (s)
		return mount_mmap(addr, length, prot, flags, fd, offset, s);
	if (!serves(prot, flags, fd)) /* it may replace faultmap mappings */
		return mmap_by_kernel(addr, length, prot, flags, fd, offset);
	return fm_mmap(addr, length, prot, flags, fd, offset);
}

EXPORT void *mmap64(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
	return mmap(addr, length, prot, flags, fd, offset);
}

EXPORT int munmap(void *addr, size_t length)
{
	return fm_munmap(addr, length);
}

EXPORT int msync(void *addr, size_t length, int flags)
{
	return fm_msync(addr, length, flags);
}

EXPORT int mprotect(void *addr, size_t length, int prot)
{
	return fm_mprotect(addr, length, prot);
}

EXPORT int madvise(void *addr, size_t length, int advice)
{
	return fm_madvise(addr, length, advice);
}

EXPORT void *mremap(void *old_address, size_t old_size, size_t new_size, int flags, ...)
{
	void *new_address = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		new_address = va_arg(ap, void *);
		va_end(ap);
	}
	return fm_mremap(old_address, old_size, new_size, flags, new_address);
}

/* prot_at - the protection of the mapping at addr, from /proc/self/maps
 * (remap_file_pages keeps it). Return: PROT_* bits, or -1 if not found. */
static int prot_at(uintptr_t addr)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[4096], line[256];
	size_t len = 0;
	int prot = -1;
	ssize_t n;
	while (prot < 0 && (n = syscall(SYS_read, fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n && prot < 0; i++) {
			if (buf[i] != '\n') {
				if (len < sizeof(line) - 1)
					line[len++] = buf[i];
				continue;
			}
			line[len] = '\0';
			len = 0;
			unsigned long lo, hi;
			char perms[5];
			if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && lo <= addr &&
			    addr < hi)
				prot = (perms[0] == 'r' ? PROT_READ : 0) |
				       (perms[1] == 'w' ? PROT_WRITE : 0) |
				       (perms[2] == 'x' ? PROT_EXEC : 0);
		}
	}
	syscall(SYS_close, fd);
	return prot;
}

/*
 * remap_file_pages - the kernel emulates it with a new mapping of the file
 * at pgoff, in place (MAP_SHARED | MAP_FIXED | MAP_POPULATE, the old
 * protection). On faultmap's mappings, so does this, through fm_mmap: the
 * kernel's would map the cache's memfd there, unfilled pages and all.
 */
EXPORT int remap_file_pages(void *addr, size_t size, int prot, size_t pgoff, int flags)
{
	uintptr_t start = (uintptr_t)addr & ~(FM_PAGE_SIZE - 1);
	size &= ~(FM_PAGE_SIZE - 1);
	int old = size && start + size > start ? prot_at(start) : -1;
	int fd = -1;
	int ours = old < 0 ? 0 : fm_remap_target(start, size, old & PROT_WRITE, &fd);
	if (!ours)
		return (int)syscall(SYS_remap_file_pages, addr, size, prot, pgoff, flags);
	if (ours < 0 || prot || pgoff + (size >> FM_PAGE_SHIFT) < pgoff ||
	    pgoff > (SIZE_MAX >> FM_PAGE_SHIFT)) {
		if (ours > 0)
			syscall(SYS_close, fd);
		errno = ours < 0 ? -ours : EINVAL;
		return -1;
	}
	/* fd is our own (a dup): the file's cache, and the engine's fds with
	 * it, may go when the old mapping is replaced. */
	void *p = fm_mmap((void *)start, size, old, MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd,
			  (off_t)(pgoff << FM_PAGE_SHIFT));
	int err = errno;
	syscall(SYS_close, fd);
	errno = err;
	return p == MAP_FAILED ? -1 : 0;
}

/* ---- the read/write family ---------------------------------------------- */

/* io_read, io_pread, io_write, io_pwrite - the calls on an object under a
 * mount (mount.c), else the fm_ ones (filemap.c: a cached file, or the
 * kernel). */
static ssize_t io_read(int fd, void *buf, size_t count)
{
	struct fm_store *s = mount_store_of(fd);
	return s ? mount_rw(s, fd, buf, count, 0, true, false) : fm_read(fd, buf, count);
}

static ssize_t io_pread(int fd, void *buf, size_t count, off_t offset)
{
	struct fm_store *s = mount_store_of(fd);
	return s ? mount_rw(s, fd, buf, count, offset, false, false)
		 : fm_pread(fd, buf, count, offset);
}

static ssize_t io_write(int fd, const void *buf, size_t count)
{
	struct fm_store *s = mount_store_of(fd);
	return s ? mount_rw(s, fd, (void *)(uintptr_t)buf, count, 0, true, true)
		 : fm_write(fd, buf, count);
}

static ssize_t io_pwrite(int fd, const void *buf, size_t count, off_t offset)
{
	struct fm_store *s = mount_store_of(fd);
	return s ? mount_rw(s, fd, (void *)(uintptr_t)buf, count, offset, false, true)
		 : fm_pwrite(fd, buf, count, offset);
}

/* is_cached - whether fd's reads and writes are faultmap's: a cached file
 * or an object under a mount. */
static bool is_cached(int fd)
{
	return mount_store_of(fd) || filemap_is_cached(fd);
}

EXPORT ssize_t read(int fd, void *buf, size_t count)
{
	return io_read(fd, buf, count);
}

EXPORT ssize_t pread(int fd, void *buf, size_t count, off_t offset)
{
	return io_pread(fd, buf, count, offset);
}

EXPORT ssize_t pread64(int fd, void *buf, size_t count, off_t offset)
{
	return io_pread(fd, buf, count, offset);
}

EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
	return io_write(fd, buf, count);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
	return io_pwrite(fd, buf, count, offset);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset)
{
	return io_pwrite(fd, buf, count, offset);
}

/* lseek - an object's end is its store's size (mount.c); else the
 * kernel's. */
EXPORT off_t lseek(int fd, off_t offset, int whence)
{
	struct fm_store *s = mount_store_of(fd);
	return s ? mount_lseek(s, fd, offset, whence) : (off_t)syscall(SYS_lseek, fd, offset, whence);
}

EXPORT off_t lseek64(int fd, off_t offset, int whence) __attribute__((alias("lseek")));

/*
 * import_iovec - the kernel's reading of an iovec array: the array copied
 * from the program (EFAULT where it cannot be read, never a crash), the
 * count checked (EINVAL), each length checked (EINVAL if negative as a
 * ssize_t), the total clamped to what one call moves. Return: the copy
 * (malloc'd; NULL with errno set on error).
 */
static struct iovec *import_iovec(const struct iovec *uiov, int iovcnt)
{
	if (iovcnt < 0 || iovcnt > IOV_MAX) {
		errno = EINVAL;
		return NULL;
	}
	size_t bytes = (size_t)iovcnt * sizeof(*uiov);
	struct iovec *iov = malloc(bytes ? bytes : 1);
	if (!iov) {
		errno = ENOMEM;
		return NULL;
	}
	if (user_copy(iov, (uintptr_t)uiov, bytes, false) < bytes) {
		free(iov);
		errno = EFAULT;
		return NULL;
	}
	size_t total = 0, max = INT_MAX & ~(FM_PAGE_SIZE - 1);
	for (int i = 0; i < iovcnt; i++) {
		if ((ssize_t)iov[i].iov_len < 0) {
			free(iov);
			errno = EINVAL;
			return NULL;
		}
		if (iov[i].iov_len > max - total)
			iov[i].iov_len = max - total;
		total += iov[i].iov_len;
	}
	return iov;
}

/*
 * vector_io - readv/writev and their positioned forms on a cached file, one
 * element at a time (offset -1: at the file offset). Stops at a short
 * transfer. Return: bytes moved, or -1 with errno if none were.
 */
static ssize_t vector_io(int fd, const struct iovec *uiov, int iovcnt, off_t offset,
			 bool write_op)
{
	struct iovec *iov = import_iovec(uiov, iovcnt);
	if (!iov)
		return -1;
	ssize_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		size_t len = iov[i].iov_len;
		if (!len)
			continue;
		ssize_t n;
		if (write_op)
			n = offset < 0 ? io_write(fd, iov[i].iov_base, len)
				       : io_pwrite(fd, iov[i].iov_base, len, offset + total);
		else
			n = offset < 0 ? io_read(fd, iov[i].iov_base, len)
				       : io_pread(fd, iov[i].iov_base, len, offset + total);
		if (n < 0) {
			if (total)
				break;
			int err = errno;
			free(iov);
			errno = err;
			return -1;
		}
		total += n;
		if ((size_t)n < len)
			break;
	}
	free(iov);
	return total;
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	if (!is_cached(fd))
		return syscall(SYS_readv, fd, iov, iovcnt);
	return vector_io(fd, iov, iovcnt, -1, false);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	if (!is_cached(fd))
		return syscall(SYS_writev, fd, iov, iovcnt);
	return vector_io(fd, iov, iovcnt, -1, true);
}

/*
 * vector_at - preadv/pwritev and their v2 forms (nr: the system call). On a
 * cached file: element by element through the cache; offset -1 means the
 * file offset for the v2 forms and is EINVAL for the others. The RWF_
 * flags ask for hints a cached file does not need (RWF_NOWAIT: served
 * anyway). Elsewhere: the system call (its offset split in two words).
 */
static ssize_t vector_at(long nr, bool write_op, int fd, const struct iovec *iov,
			 int iovcnt, off_t offset, int flags)
{
	if (!is_cached(fd))
		return syscall(nr, fd, iov, iovcnt, (unsigned long)offset, 0UL, flags);
	bool v2 = nr == SYS_preadv2 || nr == SYS_pwritev2;
	if (offset < 0 && !v2) {
		errno = EINVAL;
		return -1;
	}
	return vector_io(fd, iov, iovcnt, offset < 0 ? -1 : offset, write_op);
}

EXPORT ssize_t preadv(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	return vector_at(SYS_preadv, false, fd, iov, iovcnt, offset, 0);
}

EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	return vector_at(SYS_preadv, false, fd, iov, iovcnt, offset, 0);
}

EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	return vector_at(SYS_pwritev, true, fd, iov, iovcnt, offset, 0);
}

EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	return vector_at(SYS_pwritev, true, fd, iov, iovcnt, offset, 0);
}

EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags)
{
	return vector_at(SYS_preadv2, false, fd, iov, iovcnt, offset, flags);
}

EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int iovcnt, off_t offset,
			  int flags)
{
	return vector_at(SYS_preadv2, false, fd, iov, iovcnt, offset, flags);
}

EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t offset,
			int flags)
{
	return vector_at(SYS_pwritev2, true, fd, iov, iovcnt, offset, flags);
}

EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int iovcnt, off_t offset,
			   int flags)
{
	return vector_at(SYS_pwritev2, true, fd, iov, iovcnt, offset, flags);
}

/* ---- size changes --------------------------------------------------------- */

EXPORT int ftruncate(int fd, off_t length)
{
	struct fm_store *s = mount_store_of(fd);
	return s ? mount_truncate(s, fd, length) : fm_ftruncate(fd, length);
}

EXPORT int ftruncate64(int fd, off_t length)
{
	return ftruncate(fd, length);
}

EXPORT int truncate(const char *path, off_t length)
{
	/* Open it (truncate needs write permission too) and truncate the fd,
	 * so the cache hears of it if the file is cached. */
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EISDIR || errno == ENOENT || errno == EACCES ||
		    errno == ENOTDIR || errno == ELOOP || errno == ENAMETOOLONG)
			return -1;
		return (int)syscall(SYS_truncate, path, length);
	}
	int ret = ftruncate(fd, length);
	int err = errno;
	syscall(SYS_close, fd);
	errno = err;
	return ret;
}

EXPORT int truncate64(const char *path, off_t length)
{
	return truncate(path, length);
}

EXPORT int fallocate(int fd, int mode, off_t offset, off_t len)
{
	if (mount_store_of(fd)) { /* no store reserves room (yet) */
		errno = EOPNOTSUPP;
		return -1;
	}
	return fm_fallocate(fd, mode, offset, len);
}

EXPORT int fallocate64(int fd, int mode, off_t offset, off_t len)
{
	return fm_fallocate(fd, mode, offset, len);
}

EXPORT int posix_fallocate(int fd, off_t offset, off_t len)
{
	if (offset < 0 || len <= 0)
		return EINVAL;
	int ret = fallocate(fd, 0, offset, len);
	return ret < 0 ? errno : 0;
}

EXPORT int posix_fallocate64(int fd, off_t offset, off_t len)
{
	return posix_fallocate(fd, offset, len);
}

/* ---- copies between files ------------------------------------------------- */

#define COPY_CHUNK (64 * 1024)

/*
 * copy_through_cache - copy up to len bytes from in_fd to out_fd through
 * the fm_ read/write functions (a positioned end when its offset pointer is
 * given, which is then advanced).
 * Return: bytes copied, or -1 with errno if none were.
 */
static ssize_t copy_through_cache(int in_fd, off_t *in_off, int out_fd, off_t *out_off,
				  size_t len)
{
	char *buf = malloc(COPY_CHUNK);
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	ssize_t total = 0;
	while ((size_t)total < len) {
		size_t want = len - (size_t)total < COPY_CHUNK ? len - (size_t)total : COPY_CHUNK;
		ssize_t n = in_off ? io_pread(in_fd, buf, want, *in_off)
				   : io_read(in_fd, buf, want);
		if (n <= 0) {
			if (n < 0 && !total)
				total = -1;
			break;
		}
		ssize_t w = 0;
		while (w < n) {
			ssize_t m = out_off ? io_pwrite(out_fd, buf + w, (size_t)(n - w), *out_off + w)
					    : io_write(out_fd, buf + w, (size_t)(n - w));
			if (m <= 0)
				break;
			w += m;
		}
		if (in_off)
			*in_off += w;
		else if (w < n) /* give back what was read but not written */
			lseek(in_fd, w - n, SEEK_CUR);
		if (out_off)
			*out_off += w;
		total += w;
		if (w < n) {
			if (!total)
				total = -1;
			break;
		}
	}
	int err = errno;
	free(buf);
	errno = err;
	return total;
}

EXPORT ssize_t copy_file_range(int fd_in, off_t *off_in, int fd_out, off_t *off_out,
			       size_t len, unsigned int flags)
{
	if (flags || (!is_cached(fd_in) && !is_cached(fd_out)))
		return syscall(SYS_copy_file_range, fd_in, off_in, fd_out, off_out, len, flags);
	return copy_through_cache(fd_in, off_in, fd_out, off_out, len);
}

EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	if (!is_cached(in_fd) && !is_cached(out_fd))
		return syscall(SYS_sendfile, out_fd, in_fd, offset, count);
	return copy_through_cache(in_fd, offset, out_fd, NULL, count);
}

EXPORT ssize_t sendfile64(int out_fd, int in_fd, off_t *offset, size_t count)
{
	return sendfile(out_fd, in_fd, offset, count);
}

/* ---- flushes -------------------------------------------------------------- */

/* fsync and the other flushes write faultmap's dirty pages first, and
 * report write-back errors once per open file (filemap.c). */
EXPORT int fsync(int fd)
{
	return mount_store_of(fd) ? filemap_fsync_standin(fd, false) : fm_fsync(fd);
}

EXPORT int fdatasync(int fd)
{
	return mount_store_of(fd) ? filemap_fsync_standin(fd, true) : fm_fdatasync(fd);
}

EXPORT int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags)
{
	return fm_sync_file_range(fd, offset, nbytes, flags);
}

EXPORT int syncfs(int fd)
{
	return fm_syncfs(fd);
}

EXPORT void sync(void)
{
	fm_sync();
}

/* ---- opening files -------------------------------------------------------- */

/*
 * The open family only records, for a file faultmap caches, which
 * write-back errors the new open file is to hear of from fsync (those
 * after now: errseq). The file is opened by the kernel as always.
 */
static int opened(int fd)
{
	if (fd >= 0 && engine.started && atomic_load(&engine.nr_cached)) {
		int err = errno;
		filemap_fd_opened(fd);
		errno = err;
	}
	return fd;
}

/*
 * at_target - what (*dirfd, *path) names under the mounts (mount.c), into
 * t; for a file:// mount's file, *dirfd and *path become its own path.
 * Return: MOUNT_OBJECT (t names it), MOUNT_DIR (a container's PATH
 * itself: t names it), MOUNT_NOT_OURS or MOUNT_LOCAL (the kernel's call, on
 * *dirfd and *path), or -1 with errno.
 */
static int at_target(int *dirfd, const char **path, struct mount_target *t)
{
	int err = mount_path(*dirfd, *path, t);
	if (err) {
		errno = -err;
		return -1;
	}
	if (t->what == MOUNT_LOCAL) {
		*dirfd = AT_FDCWD;
		*path = t->name;
	}
	*path = mount_kernel_path(t, dirfd, *path);
	return (int)t->what;
}

/* std_fd - fd, a new fd of the program's: if one of 0-2, the standard
 * stream follows it (mount_std_changed). */
static int std_fd(int fd)
{
	if (fd >= 0 && fd <= 2)
		mount_std_changed(fd);
	return fd;
}

/* open_at - every open: an object under a mount (mount.c), a file:// mount's
 * file at its own path, else the kernel's open. */
static int open_at(int dirfd, const char *path, int flags, mode_t mode)
{
	struct mount_target t;
	switch (at_target(&dirfd, &path, &t)) {
	case -1:
		return -1;
	case MOUNT_OBJECT:
		return std_fd(mount_open(&t, flags));
	case MOUNT_DIR:
		return std_fd(opened(mount_dir_open(&t, flags, mode)));
	default:
		return std_fd(opened((int)syscall(SYS_openat, dirfd, path, flags, mode)));
	}
}

/* MODE_ARG - the mode argument, which only O_CREAT and O_TMPFILE pass. */
#define MODE_ARG(flags, mode)                                                  \
	do {                                                                   \
		mode = 0;                                                      \
		if (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE) { \
			va_list ap_;                                           \
			va_start(ap_, flags);                                  \
			mode = va_arg(ap_, mode_t);                            \
			va_end(ap_);                                           \
		}                                                              \
	} while (0)

EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode;
	MODE_ARG(flags, mode);
	return open_at(AT_FDCWD, path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...)
{
	mode_t mode;
	MODE_ARG(flags, mode);
	return open_at(AT_FDCWD, path, flags, mode);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode;
	MODE_ARG(flags, mode);
	return open_at(dirfd, path, flags, mode);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode;
	MODE_ARG(flags, mode);
	return open_at(dirfd, path, flags, mode);
}

EXPORT int creat(const char *path, mode_t mode)
{
	return open_at(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

EXPORT int creat64(const char *path, mode_t mode)
{
	return open_at(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* What _FORTIFY_SOURCE builds call instead of open and openat. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

EXPORT int __open_2(const char *path, int flags)
{
	return open_at(AT_FDCWD, path, flags, 0);
}

EXPORT int __open64_2(const char *path, int flags)
{
	return open_at(AT_FDCWD, path, flags, 0);
}

EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	return open_at(dirfd, path, flags, 0);
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	return open_at(dirfd, path, flags, 0);
}

/* ---- stat and access ------------------------------------------------------ */

/*
 * The stat family and access: a path under a mount is an object's (its
 * store's size, a regular file's mode: mount.c), or a file:// mount's file
 * at its own path; an fd of an object tells the same. Everything else is
 * the kernel's call (on 64-bit Linux, struct stat is the kernel's, and the
 * old __xstat forms' versions all have its layout).
 */
/* empty_path - whether path is "" (a program may pass NULL: the kernel's
 * EFAULT then). */
static bool empty_path(const char *path)
{
	return path && !*path;
}

/* stat_any - stat_at's and statx's work: into stx (statx, with mask) if
 * given, else into st. */
static int stat_any(int dirfd, const char *path, int flags, unsigned int mask, struct stat *st,
		    struct statx *stx)
{
	if ((flags & AT_EMPTY_PATH) && empty_path(path)) {
		if ((stx ? syscall(SYS_statx, dirfd, "", flags, mask, stx)
			 : syscall(SYS_newfstatat, dirfd, "", st, flags)) < 0)
			return -1;
		struct fm_store *s = mount_store_of(dirfd);
		if (s && stx)
			return mount_fix_statx(s, stx);
		if (s)
			return mount_fix_stat(s, st);
		return mount_fix_dir_stat(mask, st, stx);
	}
	struct mount_target t;
	switch (at_target(&dirfd, &path, &t)) {
	case -1:
		return -1;
	case MOUNT_OBJECT:
		return stx ? mount_statx(&t, mask, stx) : mount_stat(&t, st);
	case MOUNT_DIR:
		return mount_dir_stat(&t, flags, mask, st, stx);
	default:
		return (int)(stx ? syscall(SYS_statx, dirfd, path, flags, mask, stx)
				 : syscall(SYS_newfstatat, dirfd, path, st, flags));
	}
}

static int stat_at(int dirfd, const char *path, struct stat *st, int flags)
{
	return stat_any(dirfd, path, flags, 0, st, NULL);
}

EXPORT int fstat(int fd, struct stat *st)
{
	return stat_at(fd, "", st, AT_EMPTY_PATH);
}

EXPORT int stat(const char *path, struct stat *st)
{
	return stat_at(AT_FDCWD, path, st, 0);
}

EXPORT int lstat(const char *path, struct stat *st)
{
	return stat_at(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	return stat_at(dirfd, path, st, flags);
}

EXPORT int fstat64(int fd, struct stat64 *st)
{
	return stat_at(fd, "", (struct stat *)st, AT_EMPTY_PATH);
}

EXPORT int stat64(const char *path, struct stat64 *st)
{
	return stat_at(AT_FDCWD, path, (struct stat *)st, 0);
}

EXPORT int lstat64(const char *path, struct stat64 *st)
{
	return stat_at(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW);
}

EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return stat_at(dirfd, path, (struct stat *)st, flags);
}

/* What programs built against glibc before 2.33 call. */
int __xstat(int ver, const char *path, struct stat *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);

EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
	(void)ver;
	return stat_at(AT_FDCWD, path, st, 0);
}

EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
	(void)ver;
	return stat_at(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	(void)ver;
	return stat_at(fd, "", st, AT_EMPTY_PATH);
}

EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	(void)ver;
	return stat_at(dirfd, path, st, flags);
}

EXPORT int __xstat64(int ver, const char *path, struct stat *st) __attribute__((alias("__xstat")));
EXPORT int __lxstat64(int ver, const char *path, struct stat *st) __attribute__((alias("__lxstat")));
EXPORT int __fxstat64(int ver, int fd, struct stat *st) __attribute__((alias("__fxstat")));
EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat *st, int flags)
	__attribute__((alias("__fxstatat")));

EXPORT int statx(int dirfd, const char *restrict path, int flags, unsigned int mask,
		 struct statx *restrict stx)
{
	return stat_any(dirfd, path, flags, mask, NULL, stx);
}

static int access_at(int dirfd, const char *path, int mode, int flags)
{
	struct mount_target t;
	switch (at_target(&dirfd, &path, &t)) {
	case -1:
		return -1;
	case MOUNT_OBJECT:
		return mount_access(&t, mode);
	case MOUNT_DIR:
		return mount_dir_access(&t, mode, flags);
	default:
		if (!flags)
			return (int)syscall(SYS_faccessat, dirfd, path, mode);
		return (int)syscall(SYS_faccessat2, dirfd, path, mode, flags);
	}
}

EXPORT int access(const char *path, int mode)
{
	return access_at(AT_FDCWD, path, mode, 0);
}

EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
	return access_at(dirfd, path, mode, flags);
}

/* euidaccess, eaccess - access with the effective ids (glibc's call the
 * kernel themselves: GNU sort checks its inputs with them). */
EXPORT int euidaccess(const char *path, int mode)
{
	return access_at(AT_FDCWD, path, mode, AT_EACCESS);
}

EXPORT int eaccess(const char *path, int mode)
{
	return access_at(AT_FDCWD, path, mode, AT_EACCESS);
}

/* ---- extended attributes -------------------------------------------------- */

/*
 * getxattr, lgetxattr, listxattr, llistxattr of a path under a mount
 * (ls -l asks lgetxattr for "security.selinux" of each name it lists, and
 * stops on any error but "none"): an object has no attribute, as a file
 * without any (getxattr ENODATA, listxattr 0 bytes; a missing object
 * ENOENT); a container's PATH is the kernel's, and faultmap's empty
 * directory has none either. Everything else is the kernel's call.
 */
static ssize_t xattr_at(const char *path, const char *name, void *value, size_t size,
			bool follow)
{
	struct mount_target t;
	int dirfd = AT_FDCWD;
	bool list = name == NULL;
	long nr = list ? (follow ? SYS_listxattr : SYS_llistxattr)
		       : (follow ? SYS_getxattr : SYS_lgetxattr);
	struct stat st;
	ssize_t r;
	switch (at_target(&dirfd, &path, &t)) {
	case -1:
		return -1;
	case MOUNT_OBJECT:
		if (mount_stat(&t, &st) < 0)
			return -1;
		break;
	case MOUNT_DIR:
		r = list ? syscall(nr, t.name, value, size) : syscall(nr, t.name, name, value, size);
		if (r >= 0 || errno != ENOENT || mount_dir_stat(&t, 0, 0, &st, NULL) < 0)
			return r;
		break;
	default:
		return list ? syscall(nr, path, value, size) : syscall(nr, path, name, value, size);
	}
	if (list)
		return 0;
	errno = ENODATA;
	return -1;
}

EXPORT ssize_t getxattr(const char *path, const char *name, void *value, size_t size)
{
	return xattr_at(path, name, value, size, true);
}

EXPORT ssize_t lgetxattr(const char *path, const char *name, void *value, size_t size)
{
	return xattr_at(path, name, value, size, false);
}

EXPORT ssize_t listxattr(const char *path, char *list, size_t size)
{
	return xattr_at(path, NULL, list, size, true);
}

EXPORT ssize_t llistxattr(const char *path, char *list, size_t size)
{
	return xattr_at(path, NULL, list, size, false);
}

/* ---- unlink and rename ------------------------------------------------------ */

/*
 * unlink, rmdir and rename of a path under a mount: an object is removed
 * from its store (mount_unlink), a file:// mount's file is the kernel's at
 * its own path (a one-object mount's PATH: EBUSY, a mount point); a rename that involves a mount is the kernel's only within
 * one file:// mount, else EXDEV, as across file systems (mount_rename).
 * Everything else is the kernel's call.
 */
static int unlink_at(int dirfd, const char *path, int flags)
{
	struct mount_target t;
	switch (at_target(&dirfd, &path, &t)) {
	case -1:
		return -1;
	case MOUNT_OBJECT:
	case MOUNT_DIR:
		return mount_unlink(&t, flags);
	case MOUNT_LOCAL:
		if (t.one || t.root) /* a mount point */
			return mount_unlink(&t, flags);
		/* fall through */
	default:
		return (int)syscall(SYS_unlinkat, dirfd, path, flags);
	}
}

EXPORT int unlink(const char *path)
{
	return unlink_at(AT_FDCWD, path, 0);
}

EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
	return unlink_at(dirfd, path, flags);
}

EXPORT int rmdir(const char *path)
{
	return unlink_at(AT_FDCWD, path, AT_REMOVEDIR);
}

/* remove - glibc's calls unlink, then rmdir on EISDIR, inside libc. */
EXPORT int remove(const char *path)
{
	int r = unlink_at(AT_FDCWD, path, 0);
	if (r < 0 && errno == EISDIR)
		r = unlink_at(AT_FDCWD, path, AT_REMOVEDIR);
	return r;
}

static int rename_at(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		     unsigned int flags)
{
	struct mount_target from, to; /* no allocation: the stack */
	int err = mount_path(olddirfd, oldpath, &from);
	if (!err)
		err = mount_path(newdirfd, newpath, &to);
	if (err) {
		errno = -err;
		return -1;
	}
	if (from.what == MOUNT_NOT_OURS && to.what == MOUNT_NOT_OURS) {
		oldpath = mount_kernel_path(&from, &olddirfd, oldpath);
		newpath = mount_kernel_path(&to, &newdirfd, newpath);
		return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
	}
	return mount_rename(&from, &to, flags);
}

EXPORT int rename(const char *oldpath, const char *newpath)
{
	return rename_at(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

EXPORT int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	return rename_at(olddirfd, oldpath, newdirfd, newpath, 0);
}

EXPORT int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		     unsigned int flags)
{
	return rename_at(olddirfd, oldpath, newdirfd, newpath, flags);
}

/* ---- the engine's fds ----------------------------------------------------- */

/* close - the engine's own fds are not the program's to close: they are
 * left open, and the program is told what it would be told of an fd that
 * is not open. */
EXPORT int close(int fd)
{
	if (fd_kept(fd)) {
		errno = EBADF;
		return -1;
	}
	if (fd >= 0)
		filemap_fds_closed((unsigned)fd, (unsigned)fd);
	int r = (int)syscall(SYS_close, fd);
	if (r == 0)
		std_fd(fd);
	return r;
}

/* std_range - after close_range(first, last): the standard streams of
 * the fds closed follow them. */
static int std_range(int r, unsigned int first, unsigned int last, int flags)
{
	if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
		for (unsigned int fd = first; fd <= last && fd <= 2; fd++)
			std_fd((int)fd);
	return r;
}

EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	if (flags & CLOSE_RANGE_CLOEXEC) /* the engine's fds are close-on-exec */
		return (int)syscall(SYS_close_range, first, last, flags);
	if (first <= last)
		filemap_fds_closed(first, last);
	unsigned int from = first;
	for (unsigned int fd = first; fd <= last && fd < 65536; fd++) {
		if (!fd_kept((int)fd))
			continue;
		if (fd > from && syscall(SYS_close_range, from, fd - 1, flags) < 0)
			return std_range(-1, first, fd - 1, flags);
		from = fd + 1;
	}
	if (from <= last && from >= first)
		return std_range((int)syscall(SYS_close_range, from, last, flags), first, last,
				 flags);
	return std_range(0, first, last, flags);
}

/* closefrom - glibc's calls the kernel directly: go through close_range
 * above. */
EXPORT void closefrom(int lowfd)
{
	if (lowfd >= 0)
		close_range((unsigned int)lowfd, ~0U, 0);
}

/*
 * dup2 and dup3 onto an fd number: the program's own fds below its
 * RLIMIT_NOFILE soft limit, as on Linux; the engine's live above that limit
 * (sys.c), and a number there gets the kernel's answer for a number beyond
 * the limit, EBADF. The engine's fds are not there as a source either.
 */
/* fd_reserved - whether fd is not the program's: the engine's, or beyond
 * the limit it sees. */
static bool fd_reserved(int fd)
{
	return fd_kept(fd) || fd_beyond_limit(fd);
}

static int dup_onto(int oldfd, int newfd, int flags, bool is_dup3)
{
	if (is_dup3 && (flags & ~O_CLOEXEC)) {
		errno = EINVAL;
		return -1;
	}
	if (is_dup3 && oldfd == newfd) {
		errno = EINVAL;
		return -1;
	}
	if (newfd < 0 || fd_reserved(newfd) || fd_reserved(oldfd)) {
		errno = EBADF;
		return -1;
	}
	if (oldfd == newfd) /* dup2: newfd, if it is open */
		return syscall(SYS_fcntl, oldfd, F_GETFD) < 0 ? -1 : newfd;
	if (syscall(SYS_fcntl, oldfd, F_GETFD) >= 0)
		filemap_fds_closed((unsigned)newfd, (unsigned)newfd);
	int r = (int)syscall(SYS_dup3, oldfd, newfd, flags);
	return r < 0 ? r : std_fd(r);
}

EXPORT int dup2(int oldfd, int newfd)
{
	return dup_onto(oldfd, newfd, 0, false);
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
	return dup_onto(oldfd, newfd, flags, true);
}

/* dup - the kernel's; a standard fd it lands on is followed (std_fd). */
EXPORT int dup(int oldfd)
{
	return std_fd((int)syscall(SYS_dup, oldfd));
}

/* fcntl - F_DUPFD from a number beyond the program's limit gets the
 * kernel's EINVAL (the engine's fds are there); the rest is glibc's. */
typedef int (*fcntl_fn)(int, int, ...);

EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	unsigned long arg = va_arg(ap, unsigned long); /* every cmd's is one word */
	va_end(ap);
	if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && (int)arg >= 0) {
		if (fd_kept(fd)) {
			errno = EBADF;
			return -1;
		}
		if (fd_beyond_limit((int)arg)) {
			errno = EINVAL;
			return -1;
		}
	}
	static _Atomic(fcntl_fn) real;
	fcntl_fn fn = atomic_load(&real);
	if (!fn) {
		fn = (fcntl_fn)dlsym(RTLD_NEXT, "fcntl64");
		if (!fn)
			return (int)syscall(SYS_fcntl, fd, cmd, arg);
		atomic_store(&real, fn);
	}
	int ret = fn(fd, cmd, arg);
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		return std_fd(ret);
	/* A lock taken: what a writer outside faultmap wrote under its own
	 * is to be seen now (docs/design.md, "Writers outside faultmap"). */
	if (ret == 0 &&
	    (cmd == F_SETLK || cmd == F_SETLKW || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW) &&
	    ((const struct flock *)arg)->l_type != F_UNLCK)
		filemap_lock_taken(fd);
	return ret;
}

/* flock - the kernel's; a lock taken is a check point, as in fcntl. */
EXPORT int flock(int fd, int op)
{
	int ret = (int)syscall(SYS_flock, fd, op);
	if (ret == 0 && !(op & LOCK_UN))
		filemap_lock_taken(fd);
	return ret;
}

/* One function on 64-bit Linux, as in glibc. */
EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

/* RLIMIT_NOFILE as the program set it (the engine's room above it is not
 * the program's); the other limits are the kernel's. */
_Static_assert(sizeof(struct rlimit) == sizeof(struct rlimit64), "one layout");

static int program_nofile(const struct rlimit *new_limit, struct rlimit *old_limit);

/* (No locals here: sanitizer runtimes call getrlimit before they can
 * serve an instrumented frame.) */
static int nofile_limit(pid_t pid, int resource, const struct rlimit *new_limit,
			struct rlimit *old_limit)
{
	if (resource != RLIMIT_NOFILE || (pid != 0 && pid != getpid()))
		return (int)syscall(SYS_prlimit64, pid, resource, new_limit, old_limit);
	return program_nofile(new_limit, old_limit);
}

__attribute__((noinline)) static int program_nofile(const struct rlimit *new_limit,
						   struct rlimit *old_limit)
{
	struct rlimit old;
	int err = fd_getrlimit(&old);
	if (!err && new_limit)
		err = fd_setrlimit(new_limit);
	if (err) {
		errno = -err;
		return -1;
	}
	if (old_limit)
		*old_limit = old;
	return 0;
}

EXPORT int prlimit(pid_t pid, __rlimit_resource_t resource, const struct rlimit *new_limit,
		   struct rlimit *old_limit)
{
	return nofile_limit(pid, (int)resource, new_limit, old_limit);
}

EXPORT int prlimit64(pid_t pid, __rlimit_resource_t resource, const struct rlimit64 *new_limit,
		     struct rlimit64 *old_limit)
{
	return nofile_limit(pid, (int)resource, (const struct rlimit *)new_limit,
			    (struct rlimit *)old_limit);
}

EXPORT int getrlimit(__rlimit_resource_t resource, struct rlimit *rl)
{
	return nofile_limit(0, (int)resource, NULL, rl);
}

EXPORT int getrlimit64(__rlimit_resource_t resource, struct rlimit64 *rl)
{
	return nofile_limit(0, (int)resource, NULL, (struct rlimit *)rl);
}

EXPORT int setrlimit(__rlimit_resource_t resource, const struct rlimit *rl)
{
	return nofile_limit(0, (int)resource, rl, NULL);
}

EXPORT int setrlimit64(__rlimit_resource_t resource, const struct rlimit64 *rl)
{
	return nofile_limit(0, (int)resource, (const struct rlimit *)rl, NULL);
}

/* ---- exec ----------------------------------------------------------------- */

/*
 * before_exec - the cache lives in this process image: write every dirty
 * page to its file before it goes, and before another program starts and
 * reads the file (not in a forked child: its engine is its parent's, which
 * wrote back at the fork).
 * Return: 0, or -1 with errno when write-back failed (the exec is refused:
 * it would lose the data).
 */
static int before_exec(void)
{
	fd_limit_for_exec();
	if (fm_client_mode()) {
		/* The daemon's cache outlives this image, so nothing is lost
		 * if this fails, and the exec goes on; but the program about
		 * to start may read the file past faultmap (stdio's reads do),
		 * so the dirty pages go to the file first. */
		(void)client_before_exec();
		return 0;
	}
	if (!engine.started || engine.forked_child)
		return 0;
	/* In a vfork child (another pid, the same memory: Python's
	 * subprocess) the engine lives on in the parent; its dirty pages are
	 * written all the same, for the program about to start to read. */
	int err = fm_sync_all();
	if (err) {
		errno = -err;
		return -1;
	}
	if (getpid() == engine.pid)
		publish_stop();
	return 0;
}

typedef int (*execve_fn)(const char *, char *const[], char *const[]);

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	if (before_exec())
		return -1;
	return (int)syscall(SYS_execve, path, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	if (before_exec())
		return -1;
	execve_fn real = (execve_fn)dlsym(RTLD_NEXT, "execvpe");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(file, argv, envp);
}

EXPORT int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	if (before_exec())
		return -1;
	return (int)syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
		    int flags)
{
	if (before_exec())
		return -1;
	return (int)syscall(SYS_execveat, dirfd, path, argv, envp, flags);
}

/* posix_spawn, posix_spawnp, system and popen start a program without
 * going through the exec functions above (glibc calls the kernel): write
 * back first, then call glibc's. */
typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			const posix_spawnattr_t *, char *const[], char *const[]);

static void *next_fn(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);
	if (!fn)
		errno = ENOSYS;
	return fn;
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	spawn_fn real = (spawn_fn)next_fn("posix_spawn");
	if (before_exec() || !real)
		return errno;
	return real(pid, path, fa, attr, argv, envp);
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	spawn_fn real = (spawn_fn)next_fn("posix_spawnp");
	if (before_exec() || !real)
		return errno;
	return real(pid, file, fa, attr, argv, envp);
}

EXPORT int system(const char *command)
{
	int (*real)(const char *) = (int (*)(const char *))next_fn("system");
	if (!real || (command && before_exec()))
		return -1;
	return real(command);
}

EXPORT FILE *popen(const char *command, const char *type)
{
	FILE *(*real)(const char *, const char *) =
		(FILE * (*)(const char *, const char *)) next_fn("popen");
	if (!real || before_exec())
		return NULL;
	return real(command, type);
}

/* COLLECT_ARGS - the NULL-terminated argument list of an execl* call, from
 * arg0 on, as an argv array on the caller's stack; ap is left after the
 * NULL (where execle's envp is). */
#define COLLECT_ARGS(arg0, ap, argv)                                     \
	do {                                                             \
		size_t n_ = 1;                                           \
		va_start(ap, arg0);                                      \
		while (va_arg(ap, char *))                               \
			n_++;                                            \
		va_end(ap);                                              \
		argv = __builtin_alloca((n_ + 1) * sizeof(char *));      \
		argv[0] = (char *)arg0;                                  \
		va_start(ap, arg0);                                      \
		for (size_t i_ = 1; i_ <= n_; i_++)                      \
			argv[i_] = va_arg(ap, char *);                   \
	} while (0)

EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	char **argv;
	COLLECT_ARGS(arg, ap, argv);
	va_end(ap);
	return execve(path, argv, environ);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	char **argv;
	COLLECT_ARGS(arg, ap, argv);
	va_end(ap);
	return execvpe(file, argv, environ);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char **argv;
	COLLECT_ARGS(arg, ap, argv);
	char **envp = va_arg(ap, char **);
	va_end(ap);
	return execve(path, argv, envp);
}
