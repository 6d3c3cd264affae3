/*
 * filemap.c - read(), write() and truncation of a file faultmap caches: the
 * kernel's generic_file_read_iter, generic_perform_write and
 * truncate_setsize, for faultmap's page cache.
 *
 * On Linux the read/write family and the mappings of a file see the same
 * page cache. While faultmap caches a file (while something maps it), these
 * functions keep that true:
 *
 *  - a read copies from the cache, bringing missing pages in first (it is a
 *    miss like a fault's), so it sees what mappings wrote and have not
 *    written back yet;
 *  - a write goes through to the file (the kernel handles its size, append
 *    mode and errors), then updates the pages the cache holds, so every view
 *    sees it at once. It waits until no read of the file is in flight, so a
 *    fault cannot insert data read before the write;
 *  - a size change (ftruncate, fallocate, a write past EOF) resizes the
 *    cache: pages past a new EOF go, and views raise SIGBUS there;
 *  - fsync and the other flushes write the file's dirty pages, then call
 *    the kernel, and report write-back errors once per open file.
 *
 * A file nobody maps is not cached, and these calls go straight to the
 * kernel. Data is copied through a bounce buffer, outside engine.lock: the
 * program's buffer may itself be a faultmap mapping, whose faults need the
 * lock. Signals are blocked while the lock is held, so a signal handler
 * that reads a cached file cannot deadlock against its own thread.
 *
 * The copies between the bounce buffer and the program's buffer are
 * system calls (process_vm_readv/writev on this process): a buffer the
 * kernel would refuse (unmapped, NULL, PROT_NONE, read-only for a read, past
 * EOF of a mapped file) gives EFAULT or a short count exactly where the
 * kernel's read or write would stop, never SIGSEGV; pages of faultmap
 * mappings fault in as in any system call.
 */
#include "internal.h"
#include "client/client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define FILEMAP_CHUNK (64 * FM_PAGE_SIZE) /* bytes copied per lock hold */

struct file_op {
	struct address_space *as;
	int fd;
	int fl; /* the fd's status flags */
	sigset_t old_mask;
};

static void op_lock(struct file_op *op)
{
	engine_lock_take(&op->old_mask);
}

static void op_unlock(struct file_op *op)
{
	engine_lock_drop(&op->old_mask);
}

/*
 * op_begin - find the address_space caching the file open at fd. On success
 * it is pinned and engine.lock is held (signals blocked).
 * Return: true, or false when the file is not cached (or fd is not a
 * regular file, or not open): the kernel serves the call.
 */
static bool op_begin(struct file_op *op, int fd)
{
	struct stat st;
	if (!engine.started || engine.forked_child || !atomic_load(&engine.nr_cached))
		return false;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	op->fd = fd;
	op->fl = fcntl(fd, F_GETFL);
	if (op->fl < 0)
		return false;
	op_lock(op);
	for (op->as = engine.mappings; op->as; op->as = op->as->next)
		if (op->as->dev == st.st_dev && op->as->ino == st.st_ino)
			break;
	if (!op->as) {
		op_unlock(op);
		return false;
	}
	op->as->nr_pins++;
	as_revalidate(op->as, &st); /* changed outside faultmap? */
	return true;
}

/* op_end - unpin, release the file if nothing maps it now, unlock. */
static void op_end(struct file_op *op)
{
	op->as->nr_pins--;
	if (!op->as->i_mmap)
		as_put_if_unused(op->as);
	op_unlock(op);
}

/*
 * read_to_bounce - copy bytes [off, off + len) of the file from the cache
 * to bounce, reading missing pages into the cache first. len stops at EOF.
 * Return: bytes copied, or -errno if none could be. Context: op locked;
 * dropped while waiting for a page another thread is reading.
 */
static ssize_t read_to_bounce(struct file_op *op, char *bounce, size_t len, uint64_t off)
{
	struct address_space *as = op->as;
	size_t done = 0;
	uint64_t missed = 0; /* pages below it were read by this call: not hits */
	while (done < len && off + done < as->i_size) {
		uint64_t pos = off + done;
		uint64_t index = pos >> FM_PAGE_SHIFT;
		uint32_t nr = as_find_frame(as, index);
		if (nr != FM_NIL && (frame_get(nr)->flags & PG_LOCKED)) {
			as_wait_reads(op->as);
			continue;
		}
		if (nr == FM_NIL) {
			uint64_t end = (off + len + FM_PAGE_SIZE - 1) >> FM_PAGE_SHIFT;
			uint64_t n = 1;
			while (index + n < end && index + n < as->nr_pages &&
			       n < FM_CLUSTER_MAX && as_find_frame(as, index + n) == FM_NIL)
				n++;
			int err = reclaim_reserve(n);
			if (!err)
				err = filemap_read_pages(as, index, n, false, engine.io_buf, false);
			if (err)
				return done ? (ssize_t)done : err;
			count_read(misses, n);
			as->st.read_misses += n;
			missed = index + n;
			continue;
		}
		if (index >= missed) {
			count_read(hits, 1);
			as->st.read_hits++;
		}
		uint64_t stop = (index + 1) << FM_PAGE_SHIFT;
		if (stop > off + len)
			stop = off + len;
		if (stop > as->i_size)
			stop = as->i_size;
		memcpy(bounce + done, as->direct_view + pos, stop - pos);
		done += stop - pos;
	}
	return (ssize_t)done;
}

/*
 * copy_from_user_by_kernel - copy len bytes from the program's buffer user
 * into mine with the kernel's own copy_from_user: a write of them to a
 * scratch memfd, then a read back. process_vm_readv wants pages the program
 * may read (VM_READ); a write(2) reads pages that are only writable or
 * only executable too, as the hardware does. Return: bytes copied (short at
 * the first page the kernel refuses).
 */
static size_t copy_from_user_by_kernel(void *mine, uintptr_t user, size_t len)
{
	int fd = memfd_create("faultmap-copy", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t done = 0;
	while (done < len) {
		ssize_t n = sys_pwrite(fd, (const void *)(user + done), len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	size_t got = 0;
	while (got < done) {
		ssize_t n = sys_pread(fd, (char *)mine + got, done - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	sys_close(fd);
	return got;
}

/*
 * user_copy - copy len bytes between the engine's buffer mine and the
 * program's buffer user, in the direction of to_user, as the kernel's
 * copy_to_user/copy_from_user would: through process_vm_writev/readv on
 * this process, so a bad user buffer stops the copy where the kernel's
 * would. Return: bytes copied (short at the first page the kernel refuses).
 * Context: engine.lock not held (the buffer may fault to the engine).
 */
size_t user_copy(void *mine, uintptr_t user, size_t len, bool to_user)
{
	pid_t self = engine.pid ? engine.pid : getpid(); /* a client: no engine */
	static _Atomic bool unusable; /* a seccomp filter forbids the calls */
	if (atomic_load_explicit(&unusable, memory_order_relaxed))
		goto plain;
	size_t done = 0;
	unsigned tries = 0; /* at one page: it may be evicted again meanwhile */
	while (done < len) {
		struct iovec local = {(char *)mine + done, len - done};
		struct iovec remote = {(void *)(user + done), len - done};
		ssize_t n = to_user ? process_vm_writev(self, &local, 1, &remote, 1, 0)
				    : process_vm_readv(self, &local, 1, &remote, 1, 0);
		if (n > 0) {
			done += (size_t)n;
			tries = 0;
			continue;
		}
		if ((n == 0 || errno == EFAULT) && tries++ < 16 && fault_inline_touch(user + done))
			continue; /* a miss of an inline view: the kernel copies no fault in */
		if ((n == 0 || errno == EFAULT) && to_user)
			return done;
		if (n == 0 || errno == EFAULT) /* unreadable, or only not VM_READ? */
			return done + copy_from_user_by_kernel((char *)mine + done, user + done,
							      len - done);
		if (errno == EINTR || errno == ENOMEM)
			continue;
		if (errno == ENOSYS || errno == EPERM) {
			atomic_store(&unusable, true);
			break;
		}
		return done;
	}
	if (done == len)
		return done;
plain:
	/* Without the system calls, a bad buffer crashes as a memcpy would. */
	if (to_user)
		memcpy((void *)user, mine, len);
	else
		memcpy(mine, (const void *)user, len);
	return len;
}

/* filemap_read - read len bytes at off from the cached file. */
static ssize_t filemap_read(struct file_op *op, void *buf, size_t len, uint64_t off)
{
	if (len > MAX_RW_COUNT)
		len = MAX_RW_COUNT;
	size_t chunk = FILEMAP_CHUNK;
	if (chunk > engine.budget_pages / 4 * FM_PAGE_SIZE)
		chunk = engine.budget_pages / 4 * FM_PAGE_SIZE;
	char *bounce = fm_alloc(len < chunk ? len : chunk);
	if (!bounce && len)
		return -ENOMEM;
	size_t done = 0;
	ssize_t ret = 0;
	while (done < len) {
		size_t n = len - done < chunk ? len - done : chunk;
		ret = read_to_bounce(op, bounce, n, off + done);
		if (ret <= 0)
			break;
		op_unlock(op);
		size_t copied = user_copy(bounce, (uintptr_t)buf + done, (size_t)ret, true);
		op_lock(op);
		done += copied;
		if (copied < (size_t)ret) {
			ret = -EFAULT; /* the kernel's answer if nothing was copied */
			break;
		}
		if ((size_t)ret < n)
			break; /* EOF */
	}
	fm_free(bounce);
	return done ? (ssize_t)done : ret;
}

/* update_cache - the file's bytes [off, off + len) are now src: copy them
 * into the pages the cache holds (the others read them from the file). */
static void update_cache(struct address_space *as, const char *src, size_t len,
			 uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		uint64_t pos = off + done;
		uint64_t stop = ((pos >> FM_PAGE_SHIFT) + 1) << FM_PAGE_SHIFT;
		if (stop > off + len)
			stop = off + len;
		if (as_find_frame(as, pos >> FM_PAGE_SHIFT) != FM_NIL)
			memcpy(as->direct_view + pos, src + done, stop - pos);
		done += stop - pos;
	}
}

/* kernel_write_fault - a write of n bytes at off from buf, whose first
 * byte cannot be read: the kernel checks the write (EFBIG, ENOSPC, EPERM of
 * a sealed or immutable file...) before it copies, so it says why, as it
 * would; it writes nothing. Return: -errno. */
static ssize_t kernel_write_fault(struct file_op *op, const void *buf, size_t n, uint64_t off)
{
	ssize_t ret = sys_pwrite(op->fd, buf, n,
				 (off_t)((op->fl & O_APPEND) ? op->as->i_size : off));
	return ret < 0 ? -errno : -EFAULT;
}

/*
 * filemap_write - write len bytes at off (at EOF for an O_APPEND fd) to the
 * file and the cache. *at says where the data went.
 * Return: bytes written, or -errno if none were.
 */
static ssize_t filemap_write(struct file_op *op, const void *buf, size_t len,
			     uint64_t off, uint64_t *at)
{
	if (len > MAX_RW_COUNT)
		len = MAX_RW_COUNT;
	bool append = op->fl & O_APPEND;
	/* A buffer whose first byte cannot be read is the kernel's to answer
	 * (below), before the bounce buffer is allocated: it could be mapped
	 * where the program's buffer was (a pointer to memory just unmapped),
	 * and the copy would then read it. */
	char first;
	op_unlock(op);
	bool unreadable = len && !user_copy(&first, (uintptr_t)buf, 1, false);
	op_lock(op);
	/* Page aligned: the program's fd may be O_DIRECT. */
	char *bounce = unreadable ? NULL : aligned_alloc(FM_PAGE_SIZE, FILEMAP_CHUNK);
	if (!unreadable && !bounce)
		return -ENOMEM;
	size_t done = 0;
	ssize_t ret = 0;
	*at = off;
	if (unreadable)
		ret = kernel_write_fault(op, buf, len < FILEMAP_CHUNK ? len : FILEMAP_CHUNK, off);
	while (!unreadable && done < len) {
		size_t n = len - done < FILEMAP_CHUNK ? len - done : FILEMAP_CHUNK;
		op_unlock(op);
		size_t copied = user_copy(bounce, (uintptr_t)buf + done, n, false);
		op_lock(op);
		if (!copied && !done) {
			ret = kernel_write_fault(op, buf, n, off);
			break;
		}
		if (!copied) {
			ret = -EFAULT;
			break;
		}
		n = copied; /* a bad page: write what comes before it */
		as_wait_reads(op->as);
		as_file_changed(op->as); /* stashed reads are stale now */
		struct address_space *as = op->as;
		uint64_t pos = off + done;
		if (append) { /* the kernel appends at EOF, whatever pos says */
			struct stat st;
			pos = fstat(op->fd, &st) == 0 ? (uint64_t)st.st_size : as->i_size;
			if (!done)
				*at = pos;
		}
		as_change_begin(as);
		ret = sys_pwrite(op->fd, bounce, n, (off_t)pos);
		if (ret < 0) {
			ret = -errno;
			as_change_end(as);
			break;
		}
		as_change_end(as);
		if (pos + (uint64_t)ret > as->i_size) {
			int err = as_set_size(as, pos + (uint64_t)ret);
			if (err && !done)
				ret = err; /* the file has it; the cache could not grow */
		}
		update_cache(as, bounce, (size_t)ret, pos);
		posix_fadvise(op->fd, (off_t)pos, ret, POSIX_FADV_DONTNEED);
		done += (size_t)ret;
		if ((size_t)ret < n)
			break;
	}
	if (ret < 0) { /* a failed write may still move EOF to its position */
		struct stat st;
		if (fstat(op->fd, &st) == 0 && (uint64_t)st.st_size > op->as->i_size)
			(void)as_set_size(op->as, (uint64_t)st.st_size);
	}
	free(bounce); /* aligned_alloc's, not fm_alloc's */
	return done ? (ssize_t)done : ret;
}

static ssize_t fail_rw(ssize_t err)
{
	if (err < 0) {
		errno = (int)-err;
		return -1;
	}
	return err;
}

/*
 * rw_check - the kernel's checks of a read or write before it moves a
 * byte (vfs_read, vfs_write), for an fd opened with flags fl: the fd's
 * mode (EBADF), the buffer's range (access_ok: EFAULT if it wraps or
 * leaves the user address space), the count and position (rw_verify_area:
 * EINVAL if the count is negative as a ssize_t or the end overflows a
 * loff_t), in that order. Return: 0 or -errno.
 */
int rw_check(int fl, bool write, const void *buf, size_t count, off_t pos)
{
	int mode = fl & O_ACCMODE;
	if ((fl & O_PATH) || mode == (write ? O_RDONLY : O_WRONLY))
		return -EBADF;
	uintptr_t end = (uintptr_t)buf + count;
	if (end < (uintptr_t)buf || end > FM_TASK_SIZE)
		return -EFAULT;
	if ((ssize_t)count < 0 || pos < 0 || (uint64_t)pos + count > (uint64_t)INT64_MAX)
		return -EINVAL;
	return 0;
}

ssize_t fm_pread(int fd, void *buf, size_t count, off_t offset)
{
	if (fm_client_mode())
		return client_pread(fd, buf, count, offset, false);

	if (offset < 0) /* before the fd is looked at */
		return fail_rw(-EINVAL);
	struct file_op op;
	if (!op_begin(&op, fd))
		return sys_pread(fd, buf, count, offset);
	ssize_t ret = rw_check(op.fl, false, buf, count, offset);
	if (!ret)
		ret = filemap_read(&op, buf, count, (uint64_t)offset);
	op_end(&op);
	return fail_rw(ret);
}

ssize_t fm_read(int fd, void *buf, size_t count)
{
	if (fm_client_mode())
		return client_pread(fd, buf, count, 0, true);

	struct file_op op;
	if (!op_begin(&op, fd))
		return sys_read(fd, buf, count);
	off_t pos = lseek(fd, 0, SEEK_CUR);
	ssize_t ret = pos < 0 ? -EBADF : rw_check(op.fl, false, buf, count, pos);
	if (!ret) {
		ret = filemap_read(&op, buf, count, (uint64_t)pos);
		if (ret > 0)
			lseek(fd, pos + ret, SEEK_SET);
	}
	op_end(&op);
	return fail_rw(ret);
}

ssize_t fm_pwrite(int fd, const void *buf, size_t count, off_t offset)
{
	if (fm_client_mode())
		return client_pwrite(fd, buf, count, offset, false);

	if (offset < 0) /* before the fd is looked at */
		return fail_rw(-EINVAL);
	struct file_op op;
	if (!op_begin(&op, fd))
		return sys_pwrite(fd, buf, count, offset);
	uint64_t at;
	ssize_t ret = rw_check(op.fl, true, buf, count, offset);
	if (!ret)
		ret = filemap_write(&op, buf, count, (uint64_t)offset, &at);
	op_end(&op);
	return fail_rw(ret);
}

ssize_t fm_write(int fd, const void *buf, size_t count)
{
	if (fm_client_mode())
		return client_pwrite(fd, buf, count, 0, true);

	struct file_op op;
	if (!op_begin(&op, fd))
		return sys_write(fd, buf, count);
	off_t pos = lseek(fd, 0, SEEK_CUR);
	ssize_t ret = pos < 0 ? -EBADF : rw_check(op.fl, true, buf, count, pos);
	if (!ret) {
		uint64_t at;
		ret = filemap_write(&op, buf, count, (uint64_t)pos, &at);
		if (ret > 0)
			lseek(fd, (off_t)at + ret, SEEK_SET);
	}
	op_end(&op);
	return fail_rw(ret);
}

int fm_ftruncate(int fd, off_t length)
{
	if (fm_client_mode())
		return client_file_op(FMD_FTRUNCATE, fd, (uint64_t)length, 0, 0);

	struct file_op op;
	if (!op_begin(&op, fd))
		return sys_ftruncate(fd, length);
	as_wait_reads(op.as);
	as_file_changed(op.as); /* stashed reads are stale now */
	as_change_begin(op.as);
	int err = sys_ftruncate(fd, length) < 0 ? -errno : 0;
	as_change_end(op.as);
	if (!err)
		err = as_set_size(op.as, (uint64_t)length);
	op_end(&op);
	return (int)fail_rw(err);
}

/* zero_cached - the file's bytes [off, end) read as zeros now, and may
 * have lost their blocks: the next write reserves them again. */
static void zero_cached(struct address_space *as, uint64_t off, uint64_t end)
{
	if (end > as->i_size)
		end = as->i_size;
	while (off < end) {
		uint64_t stop = ((off >> FM_PAGE_SHIFT) + 1) << FM_PAGE_SHIFT;
		if (stop > end)
			stop = end;
		uint32_t nr = as_find_frame(as, off >> FM_PAGE_SHIFT);
		if (nr != FM_NIL) {
			memset(as->direct_view + off, 0, stop - off);
			frame_get(nr)->flags &= (uint8_t)~PG_RESERVED;
		}
		off = stop;
	}
}

int fm_fallocate(int fd, int mode, off_t offset, off_t len)
{
	if (fm_client_mode())
		return client_file_op(FMD_FALLOCATE, fd, (uint64_t)mode, (uint64_t)offset,
				      (uint64_t)len);

	struct file_op op;
	if (!op_begin(&op, fd))
		return sys_fallocate(fd, mode, offset, len);
	int err = 0;
	/* Shifting a cached file's pages is not done: refused, not faked
	 * (after the checks the kernel makes first). */
	if ((mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) &&
	    (offset < 0 || len <= 0))
		err = -EINVAL;
	else if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE))
		err = -EOPNOTSUPP;
	if (!err) {
		as_wait_reads(op.as);
		as_file_changed(op.as); /* stashed reads are stale now */
		as_change_begin(op.as);
		err = sys_fallocate(fd, mode, offset, len) < 0 ? -errno : 0;
		as_change_end(op.as);
	}
	if (!err && (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)))
		zero_cached(op.as, (uint64_t)offset, (uint64_t)offset + (uint64_t)len);
	if (!err && !(mode & FALLOC_FL_KEEP_SIZE) &&
	    (uint64_t)offset + (uint64_t)len > op.as->i_size)
		err = as_set_size(op.as, (uint64_t)offset + (uint64_t)len);
	op_end(&op);
	return (int)fail_rw(err);
}

bool filemap_is_cached(int fd)
{
	if (fm_client_mode())
		return client_may_cache(fd);

	struct file_op op;
	if (!op_begin(&op, fd))
		return false;
	op_end(&op);
	return true;
}

/*
 * filemap_lock_taken - a lock on fd's file was just taken (fcntl, flock):
 * a writer outside faultmap that held a conflicting one is done, so its
 * changes are looked for now (as_revalidate), as NFS revalidates its cache
 * at a lock. errno is kept.
 */
void filemap_lock_taken(int fd)
{
	int saved = errno;
	if (fm_client_mode()) {
		char c;
		if (client_may_cache(fd))
			(void)client_pread(fd, &c, 0, 0, false); /* the daemon checks */
	} else {
		struct file_op op;
		if (op_begin(&op, fd))
			op_end(&op);
	}
	errno = saved;
}

/* ---- fsync and the other flushes ----------------------------------------- */

/*
 * The kernel's fsync writes the file's dirty pages, mapped ones included,
 * and reports every write-back error once to each open file description
 * (errseq, see errseq.h). faultmap's dirty pages are not the kernel's,
 * so these calls write them first, then call the kernel for the rest.
 *
 * Each open file description of a cached file is known by its fd number:
 * fd_errseq[fd] holds the errseq number of the last error it was told of.
 * The interposer records an fd when it is opened (the sample of the file's
 * errseq then) and forgets it when it is closed. An fd first seen here was
 * opened before faultmap cached the file, or outside the interposer: it
 * hears of the file's last error, as an fd that predates every error does.
 * fds that are dup()s of one another share a description in the kernel,
 * but are told apart here. All under engine.lock.
 */
struct fd_errseq {
	bool used;    /* false: no record */
	dev_t dev;    /* the file's, as its address_space's: a store's */
	ino_t ino;    /* errseq outlives its cache (as_free) */
	uint32_t since;
};
static struct fd_errseq *fd_errseq;
static size_t fd_errseq_len;
static _Atomic size_t fd_errseq_used; /* records held: close() looks only if any */

/* fd_is - whether fd has a record for the file (dev, ino). */
static bool fd_is(int fd, dev_t dev, ino_t ino)
{
	if (fd < 0 || (size_t)fd >= fd_errseq_len)
		return false;
	const struct fd_errseq *r = &fd_errseq[fd];
	return r->used && r->dev == dev && r->ino == ino;
}

/* fd_record_of - the record of fd for the file (dev, ino), created
 * (hearing of the last error) if it has none or one for another file.
 * NULL if out of memory. fd_record: for as's file. */
static struct fd_errseq *fd_record_of(int fd, dev_t dev, ino_t ino)
{
	if (fd < 0)
		return NULL;
	if ((size_t)fd >= fd_errseq_len) {
		size_t len = (size_t)fd + 64;
		struct fd_errseq *t = fm_realloc(fd_errseq, len * sizeof(*t));
		if (!t)
			return NULL;
		memset(t + fd_errseq_len, 0, (len - fd_errseq_len) * sizeof(*t));
		fd_errseq = t;
		fd_errseq_len = len;
	}
	struct fd_errseq *r = &fd_errseq[fd];
	if (!fd_is(fd, dev, ino)) {
		if (!r->used)
			fd_errseq_used++;
		*r = (struct fd_errseq){true, dev, ino, 0};
	}
	return r;
}

static struct fd_errseq *fd_record(int fd, struct address_space *as)
{
	return fd_record_of(fd, as->dev, as->ino);
}

/* filemap_fd_errseq_get, filemap_fd_errseq_set - see internal.h. By the
 * file's (dev, ino), cached or not: a store's errseq outlives its cache. */
bool filemap_fd_errseq_get(int fd, uint32_t *since)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return false;
	struct file_op op;
	op_lock(&op);
	bool have = fd_is(fd, st.st_dev, st.st_ino);
	if (have)
		*since = fd_errseq[fd].since;
	op_unlock(&op);
	return have;
}

void filemap_fd_errseq_set(int fd, uint32_t since)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return;
	struct file_op op;
	op_lock(&op);
	struct fd_errseq *r = fd_record_of(fd, st.st_dev, st.st_ino);
	if (r)
		r->since = since;
	op_unlock(&op);
}

/* fd_forget - fd is closed (or replaced): drop its record. */
static void fd_forget(int fd)
{
	if (fd >= 0 && (size_t)fd < fd_errseq_len && fd_errseq[fd].used) {
		fd_errseq[fd].used = false;
		fd_errseq_used--;
	}
}

/* filemap_fd_opened - fd was just opened: if its file is cached, it hears
 * only of the write-back errors that come after (or of one nobody heard
 * of yet), as errseq_sample says. Not in a (v)forked child. */
void filemap_fd_opened(int fd)
{
	struct file_op op;
	if (getpid() != engine.pid || !op_begin(&op, fd))
		return;
	struct fd_errseq *r = fd_record(fd, op.as);
	if (r)
		r->since = errseq_sample(&op.as->wb_err);
	op_end(&op);
}

/* filemap_fd_told - a write() of fd (an open file of as) fails with err
 * after writing back: what it returns is what an fsync of fd would
 * report (an error fd's open file had not heard of yet, else err), and
 * fd's open file has heard of it, as the fsync inside the kernel's write()
 * of an O_SYNC file tells its file (file_check_and_advance_wb_err): its
 * next fsync reports only a failure that comes after. Other open files
 * of as still hear of it. Context: engine.lock held. */
int filemap_fd_told(int fd, struct address_space *as, int err)
{
	if (getpid() != engine.pid)
		return err;
	struct fd_errseq *r = fd_record(fd, as);
	int seen = r ? errseq_check_and_advance(&as->wb_err, &r->since) : 0;
	return seen ? seen : err;
}

/* filemap_fds_closed - fds first to last are about to be closed. */
void filemap_fds_closed(unsigned int first, unsigned int last)
{
	/* Not in a child: a vfork child shares the table, not the fds. */
	if (!atomic_load(&fd_errseq_used) || engine.forked_child || getpid() != engine.pid)
		return;
	struct file_op op;
	op_lock(&op);
	for (size_t fd = first; fd <= last && fd < fd_errseq_len; fd++)
		fd_forget((int)fd);
	op_unlock(&op);
}

/* filemap_as_freed - as goes: so do the records of its fds, unless it
 * caches a store, whose errseq it leaves to the next cache (as_free). */
void filemap_as_freed(struct address_space *as)
{
	if (as->store && !store_is_file(as->store))
		return;
	for (size_t fd = 0; atomic_load(&fd_errseq_used) && fd < fd_errseq_len; fd++)
		if (fd_is((int)fd, as->dev, as->ino))
			fd_forget((int)fd);
}

/* report - what a flush of op's fd returns: the write-back errors its
 * open file description has not heard of yet (written now, err, included),
 * else err, else the kernel's own answer kerr. */
static int report(struct file_op *op, int err, int kerr)
{
	struct fd_errseq *r = fd_record(op->fd, op->as);
	int seen = r ? errseq_check_and_advance(&op->as->wb_err, &r->since) : 0;
	return seen ? seen : err ? err : kerr;
}

/* standin_sync - fd stands in for a store that no cache holds now (a
 * --mount object nothing maps): the kernel's fsync of the stand-in
 * flushes nothing; the store's own sync does (an NBD flush, a RADOS
 * flush, the PUT of an S3 object resized since its last PUT).
 * Return: 0 or -errno. */
static int standin_sync(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	struct fm_store *s = store_find(st.st_dev, st.st_ino);
	if (!s)
		return 0;
	int err = !store_is_file(s) && s->writable ? s->ops->sync(s) : 0;
	/* and what its last cache's write-backs failed with, once per open
	 * file, as report (the errseq kept in s, or a new cache's) */
	int seen = 0;
	if (!store_is_file(s)) {
		struct file_op op;
		op_lock(&op);
		struct address_space *as = as_find(s->dev, s->ino);
		struct fd_errseq *r = fd_record_of(fd, s->dev, s->ino);
		if (r)
			seen = errseq_check_and_advance(as ? &as->wb_err : &s->wb_err,
							&r->since);
		op_unlock(&op);
	}
	store_put(s);
	return seen ? seen : err;
}

/* sync_fd - fsync (datasync: fdatasync) of fd. */
static int sync_fd(int fd, bool datasync)
{
	struct file_op op;
	if (!op_begin(&op, fd)) {
		if ((datasync ? sys_fdatasync(fd) : sys_fsync(fd)) < 0)
			return -1;
		int err = standin_sync(fd);
		return err ? (int)fail_rw(err) : 0;
	}
	int err = 0, kerr = 0;
	if (!(op.fl & O_PATH))
		err = writeback_range(op.as, 0, op.as->nr_pages);
	/* fd stands in for another store: its own sync (standin_sync) */
	if (!err && !(op.fl & O_PATH) && !store_is_file(op.as->store))
		err = as_sync(op.as);
	op_unlock(&op);
	if ((datasync ? sys_fdatasync(fd) : sys_fsync(fd)) < 0)
		kerr = -errno;
	op_lock(&op);
	if (kerr != -EBADF) /* an O_PATH fd: nothing was written or reported */
		err = report(&op, err, kerr);
	else
		err = kerr;
	op_end(&op);
	return (int)fail_rw(err);
}

/* filemap_fsync_standin - fsync (datasync: fdatasync) of fd, a --mount
 * object's stand-in (the interposer's fsync and fdatasync): its store's
 * own flush too, cached or not. Return: 0 or -1 with errno. */
int filemap_fsync_standin(int fd, bool datasync)
{
	if (fm_client_mode())
		return client_fsync_standin(fd, datasync);
	return sync_fd(fd, datasync);
}

int fm_fsync(int fd)
{
	if (fm_client_mode())
		return client_file_op(FMD_FSYNC, fd, 0, 0, 0);

	return sync_fd(fd, false);
}

int fm_fdatasync(int fd)
{
	if (fm_client_mode())
		return client_file_op(FMD_FSYNC, fd, 1, 0, 0);

	return sync_fd(fd, true);
}

int fm_sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags)
{
	if (fm_client_mode())
		return client_file_op(FMD_SYNC_FILE_RANGE, fd, (uint64_t)offset, (uint64_t)nbytes,
				      flags);

	struct file_op op;
	if (!op_begin(&op, fd))
		return sys_sync_file_range(fd, offset, nbytes, flags);
	const unsigned valid = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
			       SYNC_FILE_RANGE_WAIT_AFTER;
	int err = 0;
	uint64_t end = UINT64_MAX; /* nbytes 0: to EOF */
	if ((flags & ~valid) || offset < 0 || nbytes < 0 ||
	    (nbytes && offset > INT64_MAX - nbytes))
		err = -EINVAL; /* the kernel's checks, before anything is written */
	else if (nbytes)
		end = ((uint64_t)offset + (uint64_t)nbytes + FM_PAGE_SIZE - 1) >> FM_PAGE_SHIFT;
	if (!err && (flags & SYNC_FILE_RANGE_WRITE) && !(op.fl & O_PATH))
		err = writeback_range(op.as, (uint64_t)offset >> FM_PAGE_SHIFT, end);
	if (!err) {
		op_unlock(&op);
		if (sys_sync_file_range(fd, offset, nbytes, flags) < 0)
			err = -errno;
		op_lock(&op);
	}
	/* Like the kernel: the write's own error, or, when it waits for the
	 * write-back, every error this file has not heard of. */
	if (!err && (flags & SYNC_FILE_RANGE_WAIT_AFTER))
		err = report(&op, 0, 0);
	op_end(&op);
	return (int)fail_rw(err);
}

/* writeback_dev - write back every cached file on device dev (or every
 * cached file: all). Return: 0 or the first error. */
static int writeback_dev(dev_t dev, bool all)
{
	struct file_op op;
	op_lock(&op);
	struct wb_batch b;
	writeback_begin(&b);
	for (struct address_space *as = engine.mappings; as; as = as->next)
		if (all || as->dev == dev)
			writeback_add(&b, as, 0, as->nr_pages);
	int err = writeback_finish(&b);
	op_unlock(&op);
	return err;
}

int fm_syncfs(int fd)
{
	if (fm_client_mode())
		return client_file_op(FMD_SYNCFS, fd, 0, 0, 0);

	struct stat st;
	int err = 0;
	if (engine.started && !engine.forked_child && fstat(fd, &st) == 0)
		err = writeback_dev(st.st_dev, false);
	if (sys_syncfs(fd) < 0)
		return -1;
	return (int)fail_rw(err);
}

void fm_sync(void)
{
	if (fm_client_mode()) {
		(void)client_sync_all();
		sys_sync();
		return;
	}

	if (engine.started && !engine.forked_child)
		(void)writeback_dev(0, true);
	sys_sync();
}
