/*
 * file.c - the file store: a local file, as fm_mmap has always read and
 * written it.
 *
 * Reads go through a second open file description with O_DIRECT, so the
 * kernel does not cache the file a second time outside the budget; where
 * the file system has no O_DIRECT (tmpfs) they are buffered, and what they
 * brought into the kernel's cache is dropped (POSIX_FADV_DONTNEED). The
 * main fault thread reads misses on its own io_uring from that same O_DIRECT
 * fd (file_ring_fd; io.c, fault.c).
 *
 * Write-back hands file_write a batch of runs, often scattered one-page
 * runs of several files. Written one after another, each 4 KiB O_DIRECT
 * write waits for the disk (~60 us here); the kernel's own write-back
 * submits them together. So file_write puts up to IO_DEPTH of them in
 * flight at once through io_uring (liburing), with O_DIRECT where the file
 * system has it, and waits for all of them. Where io_uring cannot be used
 * they are written one by one with pwrite: no io_uring (the kernel lacks
 * it, or kernel.io_uring_disabled), a forked child (the ring belongs to its
 * parent), or a test that replaced fm_sys.pwrite to make writes fail. Only
 * write-back uses that ring, and write-back runs under engine.lock, which
 * therefore also guards it.
 *
 * Every system call that tests make fail goes through fm_sys (sys.c).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <liburing.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

struct file_store {
	struct fm_store s;
	int fd;		    /* dup of the file: buffered reads, if need be */
	int wr_fd;	    /* dup of a writable fd of the file, or -1 */
	_Atomic int dio_fd; /* the file reopened O_DIRECT for reading, or -1 */
	int dio_wr_fd;	    /* ... and for writing, or -1 (engine.lock) */
	int dio_unused[2];  /* O_DIRECT fds given up on, closed at destroy */
};

static const struct fm_store_ops file_ops;

static struct file_store *fs_of(const struct fm_store *s)
{
	return (struct file_store *)s;
}

/* reopen_direct - a new open file description of the file at fd, with
 * O_DIRECT, so the file's data is not cached a second time in the kernel's
 * page cache. (fcntl(F_SETFL) would change the program's own fd.) Returns -1
 * where the file system has no O_DIRECT (tmpfs). */
static int reopen_direct(int fd, int mode)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return fd_keep(sys_openat(AT_FDCWD, path, mode | O_DIRECT | O_CLOEXEC, 0));
}

/* direct_failed - the file system refused an O_DIRECT transfer: use
 * buffered I/O on this file from now on. The fd is closed with the store,
 * as another fault thread may be reading with it. */
static void direct_failed(struct file_store *fs, int fd, int which)
{
	if (which == 0) {
		int expected = fd; /* two fault threads may both see EINVAL */
		if (atomic_compare_exchange_strong(&fs->dio_fd, &expected, -1))
			fs->dio_unused[0] = fd;
	} else {
		fs->dio_wr_fd = -1; /* write-back runs under engine.lock */
		fs->dio_unused[1] = fd;
	}
}

/* buffered - the result n of a buffered pread or pwrite of fd at off:
 * -errno, or n, with what it brought into the kernel's cache dropped. */
static ssize_t buffered(int fd, ssize_t n, uint64_t off)
{
	if (n < 0)
		return -errno;
	if (n > 0)
		posix_fadvise(fd, (off_t)off, n, POSIX_FADV_DONTNEED);
	return n;
}

/* file_read - O_DIRECT where the file system has it, and buffered where
 * that fails (the kernel's own read is buffered); buffered reads drop what
 * they brought into the kernel's cache, so the file is cached only once,
 * in faultmap's budget. */
static ssize_t file_read(struct fm_store *s, void *buf, size_t len, uint64_t off)
{
	struct file_store *fs = fs_of(s);
	int dio = fs->dio_fd;
	if (dio >= 0) {
		ssize_t n = fm_sys.pread(dio, buf, len, (off_t)off);
		if (n >= 0)
			return n;
		if (errno == EINVAL)
			direct_failed(fs, dio, 0);
		/* Else the kernel's own (buffered) read is asked too: ext4
		 * fails an O_DIRECT read of a block that a failed write left
		 * delayed-allocated, which a buffered read reads. */
	}
	return buffered(fs->fd, fm_sys.pread(fs->fd, buf, len, (off_t)off), off);
}

/* write_some - write len bytes at off: whole pages with O_DIRECT where it
 * works, a partial last page (the file's tail) buffered, then dropped from
 * the kernel's cache. Return: bytes written, or -errno. */
static ssize_t write_some(struct file_store *fs, const char *buf, size_t len, uint64_t off)
{
	if (fs->wr_fd < 0)
		return -EBADF;
	size_t whole = len & ~(FM_PAGE_SIZE - 1);
	if (fs->dio_wr_fd >= 0 && whole && !(off & (FM_PAGE_SIZE - 1))) {
		int dio = fs->dio_wr_fd;
		ssize_t n = fm_sys.pwrite(dio, buf, whole, (off_t)off);
		if (n >= 0)
			return n;
		if (errno != EINVAL)
			return -errno;
		direct_failed(fs, dio, 1);
	}
	return buffered(fs->wr_fd, fm_sys.pwrite(fs->wr_fd, buf, len, (off_t)off), off);
}

/* write_one - write the rest of io with pwrite, one call after another. */
static void write_one(struct fm_store_io *io)
{
	while (io->done < io->len) {
		ssize_t n = write_some(fs_of(io->store), io->buf + io->done, io->len - io->done,
				       io->off + io->done);
		if (n == -EINTR)
			continue;
		if (n <= 0) {
			io->err = n < 0 ? (int)n : -EIO;
			return;
		}
		io->done += (size_t)n;
	}
}

/* ---- write-back batches on io_uring ------------------------------------- */

#define IO_DEPTH WB_BATCH /* a whole write-back batch in flight */

static struct io_uring ring;
static bool ring_ready;

/* file_store_start - set up the write-back ring. Failing is not an error:
 * writes are then made one by one. Context: engine start, engine.lock. */
void file_store_start(void)
{
	ring_ready = io_ring_init(&ring, IO_DEPTH);
}

static bool use_ring(void)
{
	return ring_ready && !engine.forked_child && getpid() == engine.pid &&
	       fm_sys.pwrite == sys_pwrite;
}

/* queue - put the rest of io on the ring, with O_DIRECT if it has whole
 * pages and the file takes it. Return: false if the ring is full. */
static bool queue(struct fm_store_io *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (!sqe) {
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
		if (!sqe)
			return false;
	}
	size_t left = io->len - io->done;
	uint64_t off = io->off + io->done;
	struct file_store *fs = fs_of(io->store);
	io->direct = fs->dio_wr_fd >= 0 && !(left & (FM_PAGE_SIZE - 1)) &&
		     !(off & (FM_PAGE_SIZE - 1));
	int fd = io->direct ? fs->dio_wr_fd : fs->wr_fd;
	io_uring_prep_write(sqe, fd, io->buf + io->done, (unsigned)left, off);
	io_uring_sqe_set_data(sqe, io);
	return true;
}

/* complete - account one completion of io. Return: whether io must be
 * queued again (a short write, EINTR, EAGAIN, or O_DIRECT refused). */
static bool complete(struct fm_store_io *io, int res)
{
	struct file_store *fs = fs_of(io->store);
	if (res == -EINTR || res == -EAGAIN)
		return true;
	if (res == -EINVAL && io->direct) {
		direct_failed(fs, fs->dio_wr_fd, 1);
		return true;
	}
	if (res < 0) {
		io->err = res;
		return false;
	}
	if (res == 0) {
		io->err = -EIO;
		return false;
	}
	if (!io->direct) /* written through the kernel's cache: drop it */
		posix_fadvise(fs->wr_fd, (off_t)(io->off + io->done), res, POSIX_FADV_DONTNEED);
	io->done += (size_t)res;
	return io->done < io->len;
}

/* mine - whether io is this store kind's, and still to be written. */
static bool mine(const struct fm_store_io *io)
{
	return io->store->ops == &file_ops && !io->err && io->len;
}

/* write_by_hand - the ring failed: nothing more can be trusted to it.
 * Finish by hand what is not yet written; a write still in flight is
 * written again, harmlessly (the same bytes at the same place). */
static void write_by_hand(struct fm_store_io *ios, size_t n)
{
	ring_ready = false;
	for (size_t i = 0; i < n; i++)
		if (mine(&ios[i]) && ios[i].done < ios[i].len)
			write_one(&ios[i]);
}

static void file_write(struct fm_store_io *ios, size_t n)
{
	if (!use_ring()) {
		for (size_t i = 0; i < n; i++)
			if (mine(&ios[i]))
				write_one(&ios[i]);
		return;
	}
	size_t next = 0, inflight = 0;
	while (next < n || inflight) {
		while (next < n && inflight < IO_DEPTH) {
			if (!mine(&ios[next])) {
				next++;
				continue;
			}
			if (!queue(&ios[next]))
				break;
			next++;
			inflight++;
		}
		if (!inflight)
			continue;
		int r = io_uring_submit_and_wait(&ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			write_by_hand(ios, n);
			return;
		}
		struct io_uring_cqe *cqe;
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			struct fm_store_io *io = io_uring_cqe_get_data(cqe);
			int res = cqe->res;
			io_uring_cqe_seen(&ring, cqe);
			inflight--;
			if (complete(io, res)) {
				if (queue(io))
					inflight++;
				else
					write_one(io);
			}
		}
	}
}

/* ---- the rest of the interface ------------------------------------------ */

static int64_t file_size(struct fm_store *s)
{
	struct stat st;
	if (fstat(fs_of(s)->fd, &st) < 0)
		return -errno;
	return (int64_t)st.st_size;
}

static int file_resize(struct fm_store *s, uint64_t size)
{
	struct file_store *fs = fs_of(s);
	if (fs->wr_fd < 0)
		return -EBADF;
	return sys_ftruncate(fs->wr_fd, (off_t)size) < 0 ? -errno : 0;
}

static int file_sync(struct fm_store *s)
{
	struct file_store *fs = fs_of(s);
	if (fs->wr_fd < 0)
		return 0;
	return fm_sys.fdatasync(fs->wr_fd) < 0 ? -errno : 0;
}

static int file_reserve(struct fm_store *s, uint64_t off, uint64_t len)
{
	struct file_store *fs = fs_of(s);
	int r;
	do
		r = fm_sys.fallocate(fs->wr_fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	return errno == ENOSYS ? -EOPNOTSUPP : -errno;
}

static int file_ring_fd(const struct fm_store *s, bool buffered)
{
	return buffered ? fs_of(s)->fd : fs_of(s)->dio_fd;
}

/* file_add_writer - remember a writable fd of the file for write-back. */
static void file_add_writer(struct fm_store *s, int fd)
{
	struct file_store *fs = fs_of(s);
	if (fs->wr_fd >= 0)
		return;
	fs->wr_fd = fd_keep(fcntl(fd, F_DUPFD_CLOEXEC, 0));
	if (fs->wr_fd < 0)
		return;
	fs->dio_wr_fd = reopen_direct(fd, O_RDWR);
	s->writable = true;
	s->handle_fd = fs->wr_fd;
}

static void file_destroy(struct fm_store *s)
{
	struct file_store *fs = fs_of(s);
	int fds[] = {fs->fd, fs->wr_fd, fs->dio_fd, fs->dio_wr_fd, fs->dio_unused[0],
		     fs->dio_unused[1]};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			sys_close(fds[i]);
	store_fini(s);
	fm_free(fs);
}

static const struct fm_store_ops file_ops = {
	.scheme = "file",
	.read = file_read,
	.write = file_write,
	.size = file_size,
	.resize = file_resize,
	.sync = file_sync,
	.reserve = file_reserve,
	.ring_fd = file_ring_fd,
	.add_writer = file_add_writer,
	.destroy = file_destroy,
};

/* file_path - the name fd was opened by (for the tools), or NULL. */
static char *file_path(int fd)
{
	char path[4096];
	return fd_path(fd, path, sizeof(path)) < 0 ? NULL : fm_strdup(path);
}

/*
 * file_store_new - a store for the file open at fd (which it does not keep:
 * it has dups of its own), writable if fd is open O_RDWR.
 * Return: 0 or -errno.
 */
int file_store_new(int fd, const char *url, struct fm_store **out)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	struct file_store *fs = fm_alloc(sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->wr_fd = fs->dio_wr_fd = -1;
	fs->dio_unused[0] = fs->dio_unused[1] = -1;
	fs->fd = fd_keep(fcntl(fd, F_DUPFD_CLOEXEC, 0));
	fs->dio_fd = fs->fd < 0 ? -1 : reopen_direct(fd, O_RDONLY);
	char *path = file_path(fd);
	int err = fs->fd < 0 ? -errno : store_init(&fs->s, &file_ops, url, path, false);
	fm_free(path);
	if (err) {
		if (fs->fd >= 0)
			sys_close(fs->fd);
		if (fs->dio_fd >= 0)
			sys_close(fs->dio_fd);
		fm_free(fs);
		return err;
	}
	struct statfs sfs;
	fs->s.in_memory = fstatfs(fd, &sfs) == 0 &&
			  (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
	fs->s.dev = st.st_dev;
	fs->s.ino = st.st_ino;
	fs->s.handle_fd = fs->fd;
	fs->s.latency_us = fs->s.in_memory ? 1 : 50;
	fs->s.cluster_pages = 16;
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR)
		file_add_writer(&fs->s, fd);
	*out = &fs->s;
	return 0;
}

/* file_store_open - the store of file:///path. flags: O_RDONLY or
 * O_RDWR, with O_CREAT (the file is then made mode 0600). */
int file_store_open(const char *path, int flags, const char *url, struct fm_store **out)
{
	int fd = sys_openat(AT_FDCWD, path, flags | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	struct stat st;
	int err = fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -ENODEV;
	if (!err)
		err = file_store_new(fd, url, out);
	sys_close(fd);
	return err;
}

int file_store_fd(const struct fm_store *s, bool write)
{
	if (s->ops != &file_ops)
		return -1;
	return write ? fs_of(s)->wr_fd : fs_of(s)->fd;
}
