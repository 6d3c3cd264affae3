/*
 * io.c - writing many runs of pages to their files at once.
 *
 * Write-back (msync, eviction of dirty pages, exit) hands io_write a batch
 * of runs, often scattered one-page runs of several files. Written one
 * after another, each 4 KiB O_DIRECT write waits for the disk (~60 us here);
 * the kernel's own write-back submits them together. So io_write puts up to
 * IO_DEPTH of them in flight at once through io_uring (liburing), with
 * O_DIRECT where the file system has it, and waits for all of them.
 *
 * Where io_uring cannot be used, the runs are written one by one with
 * as_write: no io_uring (the kernel lacks it, or kernel.io_uring_disabled),
 * a forked child (the ring belongs to its parent), or a test that replaced
 * fm_sys.pwrite to make writes fail.
 *
 * Only write-back uses that ring, and write-back runs under engine.lock,
 * which therefore also guards it.
 *
 * The main fault thread has a ring of its own for the file reads of misses
 * (io_read_*): it starts a read, goes back to its userfaultfds, and
 * finishes the miss when the read completes. Only that thread touches this
 * second ring, so it needs no lock.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <string.h>
#include <unistd.h>

#define IO_DEPTH WB_BATCH /* a whole write-back batch in flight */

static struct io_uring ring;
static bool ring_ready;

/* ring_init - set up r with depth entries. Return: whether it could. */
static bool ring_init(struct io_uring *r, unsigned depth)
{
	if (io_uring_queue_init(depth, r, 0) < 0)
		return false;
	/* The ring's fd is the engine's: out of the program's reach. liburing
	 * enters the ring through these two. */
	int fd = fd_keep(r->ring_fd);
	r->ring_fd = fd;
	r->enter_ring_fd = fd;
	return true;
}

/* io_start - set up the ring. Failing is not an error: writes are then
 * made one by one. Context: engine start, engine.lock held. */
void io_start(void)
{
	ring_ready = ring_init(&ring, IO_DEPTH);
}

static bool use_ring(void)
{
	return ring_ready && !engine.forked_child && getpid() == engine.pid &&
	       fm_sys.pwrite == sys_pwrite;
}

/* write_one - write req with as_write, one call after another. */
static void write_one(struct io_req *req)
{
	while (req->done < req->len) {
		ssize_t n = as_write(req->as, req->buf + req->done, req->len - req->done,
				     req->off + req->done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			req->err = n < 0 ? -errno : -EIO;
			return;
		}
		req->done += (size_t)n;
	}
}

/* queue - put the rest of req on the ring, with O_DIRECT if it has whole
 * pages and the file takes it. Return: false if the ring is full. */
static bool queue(struct io_req *req)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (!sqe) {
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
		if (!sqe)
			return false;
	}
	size_t left = req->len - req->done;
	uint64_t off = req->off + req->done;
	struct address_space *as = req->as;
	req->direct = as->dio_wr_fd >= 0 && !(left & (FM_PAGE_SIZE - 1)) &&
		      !(off & (FM_PAGE_SIZE - 1));
	int fd = req->direct ? as->dio_wr_fd : as->wr_fd;
	io_uring_prep_write(sqe, fd, req->buf + req->done, (unsigned)left, off);
	io_uring_sqe_set_data(sqe, req);
	return true;
}

/* complete - account one completion of req. Return: whether req must be
 * queued again (a short write, EINTR, EAGAIN, or O_DIRECT refused). */
static bool complete(struct io_req *req, int res)
{
	if (res == -EINTR || res == -EAGAIN)
		return true;
	if (res == -EINVAL && req->direct) {
		as_direct_failed(req->as, req->as->dio_wr_fd, 1);
		return true;
	}
	if (res < 0) {
		req->err = res;
		return false;
	}
	if (res == 0) {
		req->err = -EIO;
		return false;
	}
	if (!req->direct) /* written through the kernel's cache: drop it */
		posix_fadvise(req->as->wr_fd, (off_t)(req->off + req->done), res,
			      POSIX_FADV_DONTNEED);
	req->done += (size_t)res;
	return req->done < req->len;
}

/*
 * io_write - write each of reqs[0..n) to its file: req->len bytes from
 * req->buf at req->off. Sets each req->err (0 or -errno) and req->done.
 * Context: engine.lock held.
 */
void io_write(struct io_req *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		reqs[i].done = 0;
		reqs[i].err = reqs[i].as->wr_fd < 0 ? -EBADF : 0;
	}
	if (!use_ring()) {
		for (size_t i = 0; i < n; i++)
			if (!reqs[i].err)
				write_one(&reqs[i]);
		return;
	}
	size_t next = 0, inflight = 0;
	while (next < n || inflight) {
		while (next < n && inflight < IO_DEPTH) {
			if (reqs[next].err || !reqs[next].len) {
				next++;
				continue;
			}
			if (!queue(&reqs[next]))
				break;
			next++;
			inflight++;
		}
		if (!inflight)
			continue;
		int r = io_uring_submit_and_wait(&ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			/* The ring failed: nothing more can be trusted to
			 * it. Finish by hand what is not yet written; a
			 * write still in flight is written again, harmlessly
			 * (the same bytes at the same place). */
			ring_ready = false;
			for (size_t i = 0; i < next; i++)
				if (!reqs[i].err && reqs[i].done < reqs[i].len)
					write_one(&reqs[i]);
			for (size_t i = next; i < n; i++)
				if (!reqs[i].err)
					write_one(&reqs[i]);
			return;
		}
		struct io_uring_cqe *cqe;
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			struct io_req *req = io_uring_cqe_get_data(cqe);
			int res = cqe->res;
			io_uring_cqe_seen(&ring, cqe);
			inflight--;
			if (complete(req, res)) {
				if (queue(req))
					inflight++;
				else
					write_one(req);
			}
		}
	}
}

/* ---- The fault thread's reads ------------------------------------------- */

static struct io_uring read_ring;
static bool read_ring_ready;

/* io_read_init - set up the fault thread's ring of depth depth. Failing
 * is not an error: misses are then read with pread. Context: the main
 * fault thread, at its start. */
void io_read_init(unsigned depth)
{
	read_ring_ready = ring_init(&read_ring, depth);
}

/* io_read_exit - tear the ring down; nothing may be in flight. */
void io_read_exit(void)
{
	if (read_ring_ready)
		io_uring_queue_exit(&read_ring);
	read_ring_ready = false;
}

/* io_read_fd - the fd to poll for completions, or -1 without a ring. */
int io_read_fd(void)
{
	return read_ring_ready ? read_ring.ring_fd : -1;
}

/* io_read_usable - whether io_read_submit may be used now: a ring, and
 * fm_sys.pread not replaced by a test (which must see every read).
 * Context: engine.lock held (fm_sys is changed under it). */
bool io_read_usable(void)
{
	return read_ring_ready && fm_sys.pread == sys_pread;
}

/* io_read_submit - start reading len bytes at off of fd into buf; tag comes
 * back with the completion. Return: 0 or -errno (nothing in flight). */
int io_read_submit(int fd, void *buf, size_t len, uint64_t off, void *tag)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&read_ring);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, fd, buf, (unsigned)len, off);
	io_uring_sqe_set_data(sqe, tag);
	int r;
	do
		r = io_uring_submit(&read_ring);
	while (r == -EINTR);
	return r == 1 ? 0 : r < 0 ? r : -EIO;
}

/* io_read_reap - take one completion, without waiting unless wait.
 * Return: whether there was one; *tag and *res (bytes or -errno) then say
 * which read and how it ended. */
bool io_read_reap(bool wait, void **tag, int *res)
{
	struct io_uring_cqe *cqe;
	int r = wait ? io_uring_wait_cqe(&read_ring, &cqe) : io_uring_peek_cqe(&read_ring, &cqe);
	if (r < 0)
		return false;
	*tag = io_uring_cqe_get_data(cqe);
	*res = cqe->res;
	io_uring_cqe_seen(&read_ring, cqe);
	return true;
}
