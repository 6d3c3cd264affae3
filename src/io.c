/*
 * io.c - the engine's io_uring rings (liburing).
 *
 * Two rings: write-back's, which belongs to the file store
 * (store/file.c: a batch of runs in flight at once), and the main fault
 * thread's, for the reads of misses (io_read_*): it starts a read from the
 * store's ring fd (store_ring_fd: the file's O_DIRECT fd), goes back to its
 * userfaultfds, and finishes the miss when the read completes. Only that
 * thread touches this second ring, so it needs no lock.
 */
#include "internal.h"

#include <errno.h>
#include <liburing.h>

/* io_ring_init - set up r with depth entries. Return: whether it could. */
bool io_ring_init(struct io_uring *r, unsigned depth)
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

/* io_start - set up write-back's ring (the file store's). Failing is not
 * an error: writes are then made one by one. Context: engine start,
 * engine.lock held. */
void io_start(void)
{
	file_store_start();
}

/* ---- The fault thread's reads ------------------------------------------- */

static struct io_uring read_ring;
static bool read_ring_ready;

/* io_read_init - set up the fault thread's ring of depth depth. Failing
 * is not an error: misses are then read with pread. Context: the main
 * fault thread, at its start. */
void io_read_init(unsigned depth)
{
	read_ring_ready = io_ring_init(&read_ring, depth);
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
