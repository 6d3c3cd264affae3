/*
 * fault.c - the fault path: the thread that reads userfaultfd messages and
 * serves them, readahead, and filling the cache from the file.
 *
 * The life of a miss (see docs/design.md): an access to a page not in the
 * cache blocks in the kernel and queues a MISSING message; fault_thread reads
 * it; do_fault finds the vma and the file index; ra_window sizes the
 * cluster; reclaim_reserve makes room; miss_start starts reading the
 * cluster on the fault thread's io_uring, and when the read completes
 * miss_complete inserts it with UFFDIO_COPY into the file's fill_view, which
 * adds the pages to the memfd's cache; then the faulting thread is woken,
 * and the kernel maps the page itself. Later accesses to any page of the cluster,
 * through any view, are kernel minor faults that never reach this file.
 */
#include "internal.h"
#include "publish.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RA_MAX_NORMAL 256 /* pages: 1 MiB */
#define RA_MAX_SEQUENTIAL FM_CLUSTER_MAX /* pages: 1 MiB */
#define SPIN_NS 50000 /* 50 us */
#define SPIN_CHECK_NS 5000 /* how often a spin asks whether CPUs are wanted */

static pthread_t fault_thread_id, io_thread_id;
static char *thread_buffer(void);

/* The engine's threads say when they are in their loops (fault_thread_start
 * waits for them all). */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cv = PTHREAD_COND_INITIALIZER;
static unsigned nr_started;

static void thread_ready(void)
{
	pthread_mutex_lock(&start_lock);
	nr_started++;
	pthread_cond_broadcast(&start_cv);
	pthread_mutex_unlock(&start_lock);
}

/* The second fault thread serves faults only while the main one waits for
 * the disk: two threads polling one userfaultfd would both wake for every
 * fault (measured: -17% single-thread random reads). */
static pthread_mutex_t helper_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t helper_cv = PTHREAD_COND_INITIALIZER;
static bool main_in_io;
static _Thread_local bool main_fault_thread;

static void main_io(bool busy)
{
	if (!main_fault_thread)
		return;
	pthread_mutex_lock(&helper_lock);
	main_in_io = busy;
	if (busy)
		pthread_cond_signal(&helper_cv);
	pthread_mutex_unlock(&helper_lock);
}
/* main_reading - whether the main fault thread is reading a miss (not
 * only past one, its faulting thread woken). */
static bool main_reading(void)
{
	pthread_mutex_lock(&helper_lock);
	bool busy = main_in_io;
	pthread_mutex_unlock(&helper_lock);
	return busy;
}

static int kick_fd = -1;
static int loadavg_fd = -1; /* /proc/loadavg, for cpus_wanted */
static long nr_cpus;
static _Atomic int stopping;

/* kick_drain - take the kicks counted on kick_fd (fault_thread_kick). */
static void kick_drain(void)
{
	uint64_t v;
	if (read(kick_fd, &v, sizeof(v)) < 0) { /* already drained */
	}
}

/* around_room - the free frames above which a miss in as still reads the
 * block around it (ra_window). */
static uint64_t around_room(const struct address_space *as)
{
	return as->in_memory ? engine.budget_pages / 16 : engine.budget_pages / 2;
}

/*
 * around_pages - how many pages a random miss at index in as reads around
 * it (aligned): the file's ra_around; for a file in memory, the whole
 * FM_CLUSTER_MAX-page block when that block already holds two read-arounds'
 * worth of pages. A program that touches all of an in-memory file in a
 * shuffled order then misses once per 1 MiB block, not once per 64 KiB,
 * once a tenth of it is in (fm-bench workload 1, shuffled: 4,096 misses
 * for 256 MiB with 16 pages, about 1,000 with this), while one that picks
 * a few pages of a big file at random still reads 16 around each (a
 * simulation: 2,000 random pages of a 16 GiB file, 1.03x the pages read
 * with this, 4x with 256 pages always). The kernel's context readahead
 * sizes its window by the pages it finds cached before the miss in the
 * same way. A read of a file in memory costs copies, not a disk, so the
 * block is worth reading once its neighbours show the program goes there,
 * and while the free frames hold it beside around_room.
 */
static uint64_t around_pages(struct address_space *as, uint64_t index)
{
	uint64_t around = as->ra_around;
	if (!as->in_memory || around >= FM_CLUSTER_MAX ||
	    frames_available() < around_room(as) + FM_CLUSTER_MAX)
		return around; /* the block would evict, not use free frames */
	/* The block lies in one page_tree chunk: none, nothing of it cached. */
	_Static_assert(TREE_CHUNK % FM_CLUSTER_MAX == 0, "a block in one chunk");
	uint64_t block = index & ~(uint64_t)(FM_CLUSTER_MAX - 1), in = 0;
	if (!as_slot(as, block, false))
		return around;
	for (uint64_t i = block; i < block + FM_CLUSTER_MAX && i < as->nr_pages && in < 2 * around;
	     i++)
		in += as_find_frame(as, i) != FM_NIL;
	return in >= 2 * around ? FM_CLUSTER_MAX : around;
}

/*
 * ra_window - the cluster to read for a miss at index through vma: pages
 * [*start, *start + *count), all absent from the cache and containing index;
 * *once says it was read by a sequential stream. Updates the vma's
 * readahead state.
 *
 * A miss where the previous cluster ended doubles the window (a stream);
 * any other miss halves it, down to one page. While the cache has plenty of
 * room, a non-sequential miss still reads the FM_RA_AROUND-page block around
 * it (or the store's cluster_pages, if bigger: a slow store; or a bigger
 * block of a file in memory, around_pages), as the
 * kernel's read-around does; under memory pressure that would
 * evict useful pages for data nobody asked for, so it reads only the window.
 * Plenty of room (around_room): more than half the budget free for a file
 * on a disk or a store, where the block costs a bigger read; more than a
 * sixteenth for a file in memory (tmpfs), where it costs only copies, and
 * saves the round trip of each neighbour's miss (the kernel maps a tmpfs
 * page's resident neighbours at its fault, fault-around).
 * MADV_RANDOM always reads one page, MADV_SEQUENTIAL always the most.
 */
void ra_window(struct vma *vma, struct address_space *as, uint64_t index,
	       uint64_t *start, uint64_t *count, bool *once)
{
	struct file_ra_state *ra = &vma->ra;
	uint64_t cap = engine.budget_pages / 4;
	uint64_t size, first = index;
	bool sequential = index == ra->next;
	switch (ra->mode) {
	case RA_RANDOM:
		size = 1;
		sequential = false;
		break;
	case RA_SEQUENTIAL:
		size = RA_MAX_SEQUENTIAL;
		sequential = true;
		break;
	default:
		size = sequential ? ra->size * 2u : ra->size / 2u;
		if (size > RA_MAX_NORMAL)
			size = RA_MAX_NORMAL;
		if (size < 1)
			size = 1;
		ra->size = (uint32_t)size;
		if (!sequential && frames_available() > around_room(as)) {
			uint64_t around = around_pages(as, index);
			first = index & ~(around - 1);
			while (first < index && as_find_frame(as, first) != FM_NIL)
				first++;
			for (uint64_t i = index; i > first; i--)
				if (as_find_frame(as, i - 1) != FM_NIL) {
					first = i;
					break;
				}
			if (size < around - (index - first))
				size = around - (index - first);
		}
	}
	if (size > cap)
		size = cap ? cap : 1;
	if (size > as->nr_pages - index)
		size = as->nr_pages - index;
	uint64_t n = 1;
	while (n < size && as_find_frame(as, index + n) == FM_NIL)
		n++;
	/* The read-around before index counts too: with a small budget a
	 * 16-page block could otherwise take most of the cache for one miss,
	 * and leave a concurrent miss no frame at all. */
	uint64_t most = cap ? cap : 1;
	if (index - first + n > most)
		first = index - (most > n ? most - n : 0);
	*start = first;
	*count = index - first + n;
	*once = sequential;
	ra->next = index + n;
	if (!sequential) {
		ra->async_end = 0;
		ra->nmarks = 0;
	}
}

/*
 * Filling the cache from the file, in four steps, so that the main fault
 * thread can leave the read in flight (see "Misses in flight"):
 *
 *   fill_begin  (engine.lock)  claim frames for [start, start+count): the
 *               pages are PG_LOCKED in page_tree (a fault on them waits),
 *               and as is pinned by nr_io;
 *   fill_read   (no lock)      read what is still missing into buf;
 *   fill_copy   (no lock)      one UFFDIO_COPY for the cluster (one per run
 *               of pages that could be read): the pages appear in the
 *               cache, and every view, only whole;
 *   fill_end    (engine.lock)  put the inserted frames on their LRU lists,
 *               give back the others.
 *
 * A read error does not fail the whole cluster: the pages are then read
 * one by one (fill_page), and only those that cannot be read are left out
 * of the cache (f->bad). The others are inserted, so a fault on them, or
 * a write, succeeds; a fault on a bad page reads it again, and raises
 * SIGBUS only if it fails again. The kernel does the same: a page its
 * readahead could not read is left !uptodate, and filemap_fault reads it
 * alone before it gives up.
 */
struct fill {
	struct address_space *as;
	uint64_t start, n; /* frames claimed for [start, start+n) */
	bool once;
	uint32_t frames[FM_CLUSTER_MAX];
	uint64_t off, len, want; /* bytes: the cluster, and the file's part */
	uint64_t got;		 /* bytes read so far */
	uint64_t bad[FM_CLUSTER_MAX / 64]; /* pages that could not be read */
	int err;		 /* their -errno, or 0: no bad page */
	int copy_err;		 /* why pages from done on were not inserted */
	size_t done;		 /* bytes inserted, bad pages skipped */
	int uffd;
	char *dst, *buf;
};

static bool page_bad(const struct fill *f, uint64_t i)
{
	return f->bad[i / 64] & (1ull << (i % 64));
}

/* fill_begin - claim the frames (the caller reserved them). Taken now: while
 * the lock is dropped, a growing file may get new views, but the old ones
 * stay mapped until no read is in flight (as_io_done).
 * Return: 0 or -ENOMEM. Context: engine.lock held. */
static int fill_begin(struct fill *f, struct address_space *as, uint64_t start,
		      uint64_t count, bool once, char *buf)
{
	uint64_t n = 0;
	while (n < count) {
		uint32_t nr = frame_alloc();
		if (nr == FM_NIL)
			break;
		if (reclaim_prepare(as, start + n, nr, once)) {
			frame_free(nr);
			break;
		}
		f->frames[n++] = nr;
	}
	if (n < count) {
		while (n)
			reclaim_abort(f->frames[--n]);
		return -ENOMEM;
	}
	f->as = as;
	f->start = start;
	f->n = n;
	f->once = once;
	f->off = start << FM_PAGE_SHIFT;
	f->len = count << FM_PAGE_SHIFT;
	f->want = as->i_size > f->off ? as->i_size - f->off : 0;
	if (f->want > f->len)
		f->want = f->len;
	f->got = 0;
	memset(f->bad, 0, sizeof(f->bad));
	f->err = 0;
	f->copy_err = 0;
	f->done = 0;
	f->uffd = engine_self()->uffd;
	f->dst = as->fill_view + f->off;
	f->buf = buf;
	as->nr_io++;
	return 0;
}

/* read_span - read the cluster's bytes from *pos until end with as_read,
 * asking for bytes up to limit (whole pages: O_DIRECT wants them); a read
 * at EOF is short. A read that ends before end, the size the cache knows,
 * never fills pages with zeros as if they were data: either the file
 * shrank (the page holding its new end reads zeros after it; a page past
 * it is not the file's: -ENXIO, so a view gets SIGBUS there as past EOF),
 * or the store answered nothing inside its object (-EIO: Ceph's memstore
 * does so for an object of exactly 4 GiB).
 * Return: 0 or -errno; *pos: how far it got. */
static int read_span(struct fill *f, uint64_t *pos, uint64_t end, uint64_t limit)
{
	while (*pos < end) {
		ssize_t r = as_read(f->as, f->buf + *pos, limit - *pos, f->off + *pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0) {
			int64_t size = f->as->store->ops->size(f->as->store);
			uint64_t at = f->off + *pos, in_page = at & (FM_PAGE_SIZE - 1);
			if (size < 0 || (uint64_t)size > at)
				return -EIO;
			if (!in_page)
				return -ENXIO;
			/* The new end is inside this page: zeros after it,
			 * as the kernel's page at EOF reads. */
			memset(f->buf + *pos, 0, FM_PAGE_SIZE - in_page);
			*pos += FM_PAGE_SIZE - in_page;
			continue;
		}
		*pos += (uint64_t)r;
	}
	return 0;
}

/* read_again - whether a read that ended with res (-errno) is to be made
 * again with pread rather than fail: not submitted (-ECANCELED), or
 * interrupted, or O_DIRECT refused. */
static bool read_again(int res)
{
	return res == -ECANCELED || res == -EINTR || res == -EAGAIN || res == -EINVAL;
}

/* fill_page - finish page i of the cluster, whose own read gave res (bytes,
 * or -errno): read what it lacks with as_read. A page that cannot be read
 * is marked bad; the part of a page past the file's end is zeroed. */
static void fill_page(struct fill *f, uint64_t i, int res)
{
	uint64_t pos = i << FM_PAGE_SHIFT, limit = pos + FM_PAGE_SIZE;
	uint64_t end = limit < f->want ? limit : f->want;
	int err = res < 0 && !read_again(res) ? res : 0;
	if (res > 0)
		pos += (uint64_t)res;
	if (!err)
		err = read_span(f, &pos, end, limit);
	if (err) {
		f->bad[i / 64] |= 1ull << (i % 64);
		if (!f->err)
			f->err = err;
	} else if (pos < limit) {
		memset(f->buf + pos, 0, limit - pos);
	}
}

/* fill_pages_left - the page after the last of the file's part. */
static uint64_t fill_pages_left(const struct fill *f)
{
	return (f->want + FM_PAGE_SIZE - 1) >> FM_PAGE_SHIFT;
}

/* fill_read - read the rest of the cluster with as_read; if that fails,
 * the pages not yet read one by one (fill_page).
 * Context: engine.lock not held. */
static void fill_read(struct fill *f)
{
	if (!read_span(f, &f->got, f->want, f->len))
		return;
	for (uint64_t i = f->got >> FM_PAGE_SHIFT; i < fill_pages_left(f); i++)
		fill_page(f, i, -ECANCELED);
	f->got = f->want;
}

/* fill_copy - zero the part past what was read, and insert the cluster's
 * good pages with one UFFDIO_COPY (DONTWAKE) per run of them. Done before
 * the lock is taken again: the frames are PG_LOCKED, so nothing else
 * touches these pages, and a fault thread waiting for the lock would wait
 * for the copy too.
 * Context: engine.lock not held (or held, for a cluster already in buf). */
static void fill_copy(struct fill *f)
{
	if (f->got > f->want)
		f->got = f->want;
	memset(f->buf + f->got, 0, f->len - f->got);
	uint64_t pages = f->len >> FM_PAGE_SHIFT;
	for (uint64_t i = 0; i < pages;) {
		if (page_bad(f, i)) {
			i++;
			continue;
		}
		uint64_t j = i + 1;
		while (j < pages && !page_bad(f, j))
			j++;
		size_t off = i << FM_PAGE_SHIFT, done;
		f->copy_err = uffd_copy(f->uffd, f->dst + off, f->buf + off,
					(j - i) << FM_PAGE_SHIFT, &done);
		f->done = off + done;
		if (f->copy_err)
			return;
		i = j;
	}
	f->done = f->len;
}

/* fill_status - whether page i of the cluster was inserted: 0; or why
 * not: the read's -errno, or the copy's (-EAGAIN: the mm is changing). */
static int fill_status(const struct fill *f, uint64_t i)
{
	if (page_bad(f, i))
		return f->err;
	if ((i << FM_PAGE_SHIFT) >= f->done)
		return f->copy_err ? f->copy_err : -EAGAIN;
	return 0;
}

/* fill_end - unpin as, put the inserted frames on their LRU lists and free
 * the others. Return: fill_status of page index of the file.
 * Context: engine.lock held. */
static int fill_end(struct fill *f, uint64_t index)
{
	as_io_done(f->as);
	uint64_t inserted = 0;
	for (uint64_t i = 0; i < f->n; i++) {
		if (!fill_status(f, i)) {
			reclaim_insert(f->frames[i]);
			inserted++;
		} else {
			reclaim_abort(f->frames[i]);
		}
	}
	count_event(pages_read, inserted);
	f->as->st.pages_read += inserted;
	return fill_status(f, index - f->start);
}

/*
 * fill_pages - read pages [start, start+count) of as, none of them in
 * page_tree, from the file into buf (unless have_data: buf holds them
 * already), and insert those that could be read. The caller reserved the
 * frames. With unlock_for_io, engine.lock is dropped during the read and
 * the copy.
 * Return: whether page index is now cached (fill_end), or -ENOMEM.
 * Context: engine.lock held; dropped and retaken if unlock_for_io.
 */
/*
 * Fills whose pages may already be in the memfd but are not yet counted:
 * a fill made with engine.lock dropped copies its pages in first, and the
 * program can map and read them at once (a minor fault), while fill_end,
 * which counts them, waits for the lock. A program that read a window and
 * then asked for its counters found up to a window's pages not yet read
 * (pages_read 255 short of a 512 MiB scan, 1 run in 25 under load:
 * test_stats_count_every_page_a_scan_read). fill_wait_landed waits for
 * them. Counted before the copy, so that none is missed.
 */
static atomic_uint landing;
static pthread_cond_t landed_cv = PTHREAD_COND_INITIALIZER;

void fill_wait_landed(void)
{
	while (atomic_load(&landing))
		pthread_cond_wait(&landed_cv, &engine.lock);
}

static int fill_pages(struct address_space *as, uint64_t start, uint64_t count,
		      uint64_t index, bool once, char *buf, bool unlock_for_io,
		      bool have_data)
{
	struct fill f;
	int err = fill_begin(&f, as, start, count, once, buf);
	if (err)
		return err;
	bool wait = unlock_for_io && !as->in_memory; /* for the disk */
	if (unlock_for_io)
		pthread_mutex_unlock(&engine.lock);
	if (wait)
		main_io(true);
	if (have_data)
		f.got = f.want;
	fill_read(&f);
	if (unlock_for_io)
		atomic_fetch_add(&landing, 1);
	fill_copy(&f);
	if (wait)
		main_io(false);
	if (unlock_for_io)
		pthread_mutex_lock(&engine.lock);
	err = fill_end(&f, index);
	if (unlock_for_io && atomic_fetch_sub(&landing, 1) == 1)
		pthread_cond_broadcast(&landed_cv);
	return err;
}

/* filemap_read_pages - fill_pages, from the file. Return: 0 when page
 * start is now cached (pages after it may not be: read error), else
 * -errno. */
int filemap_read_pages(struct address_space *as, uint64_t start, uint64_t count,
		       bool once, char *buf, bool unlock_for_io)
{
	return fill_pages(as, start, count, start, once, buf, unlock_for_io, false);
}

/* send_sigbus - make the faulting thread of a failed fault take SIGBUS, as
 * the kernel does when a page cannot be read. Another thread may not send a
 * kernel si_code, so it says SI_ASYNCIO (an I/O error), with si_addr set to
 * the faulting address. A child process only gets a plain tkill. */
static void send_sigbus(struct mm *mm, const struct uffd_msg *msg)
{
	pid_t tid = (pid_t)msg->arg.pagefault.feat.ptid;
	count_event(read_errors, 1);
	if (mm != engine_self()) {
		syscall(SYS_tkill, tid, SIGBUS);
		return;
	}
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGBUS;
	si.si_code = SI_ASYNCIO;
	si.si_addr = (void *)(uintptr_t)msg->arg.pagefault.address;
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGBUS, &si) < 0)
		syscall(SYS_tgkill, getpid(), tid, SIGBUS);
}

/* fail_fault - the access of msg in vma cannot be served: it fails as at
 * a page the kernel cannot read, with EFAULT inside a system call
 * (poison_fault), else with SIGBUS. */
static void fail_fault(struct vma *vma, const struct uffd_msg *msg, struct fm_trace *t)
{
	t->result = "sigbus";
	if (poison_fault(vma, msg))
		return;
	send_sigbus(vma->mm, msg);
	uffd_wake(vma->mm->uffd, (uintptr_t)msg->arg.pagefault.address & ~(FM_PAGE_SIZE - 1),
		  FM_PAGE_SIZE);
}

/* mm_still_there - m, if it is still in engine.mms and its process lives:
 * a pointer kept while engine.lock was dropped may name an mm reaped
 * meanwhile. Return: m or NULL. Context: engine.lock held. */
static struct mm *mm_still_there(struct mm *m)
{
	struct mm *mm = engine.mms;
	while (mm && mm != m)
		mm = mm->next;
	return mm && !mm->dead ? mm : NULL;
}

/* The first writes the engine refused inside a system call, which the
 * process holds refused (refuse.c). Each stays out of eviction's way, and
 * refusals_check tries its reservation again every POISON_CHECK_MS; once
 * the file has room (or the page or its view is gone), the process moves
 * the page back: this one at once, a daemon's client when told
 * (FM_NOTE_ROOM on its life line). Under engine.lock. */
#define REFUSALS_MAX 256
static struct refusal {
	struct mm *mm;
	uintptr_t addr;
	struct address_space *as; /* the page, as it was then */
	uint64_t index;
} refusals[REFUSALS_MAX];
static unsigned nr_refusals;

/* refusal_hold - record the refusal of vma's page at addr. Return: false
 * if the table is full (the write is then refused to a store only). */
static bool refusal_hold(struct vma *vma, uintptr_t addr)
{
	for (unsigned i = 0; i < nr_refusals; i++)
		if (refusals[i].mm == vma->mm && refusals[i].addr == addr)
			return true;
	if (nr_refusals == REFUSALS_MAX)
		return false;
	refusals[nr_refusals++] =
		(struct refusal){vma->mm, addr, vma->mapping, vma_index(vma, addr)};
	return true;
}

bool refusal_holds(const struct fm_frame *f)
{
	for (unsigned i = 0; i < nr_refusals; i++)
		if (refusals[i].as == f->mapping && refusals[i].index == f->index)
			return true;
	return false;
}

/* refusal_ends - tell r's process that its page may be written. Return:
 * false if that must be tried again (the life line is full). */
static bool refusal_ends(const struct refusal *r)
{
	if (r->mm == engine_self()) {
		refuse_forget(r->addr, r->addr + FM_PAGE_SIZE);
		return true;
	}
	struct fm_refusal n = {.addr = r->addr, .what = FM_NOTE_ROOM};
	return r->mm->notify < 0 ||
	       send(r->mm->notify, &n, sizeof(n), MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(n) ||
	       (errno != EAGAIN && errno != EWOULDBLOCK);
}

/* refusals_check - end the refusals whose page the file has room for now,
 * or whose page or view is gone. Return: whether refusals are left. */
static bool refusals_check(void)
{
	for (unsigned i = 0; i < nr_refusals;) {
		struct refusal *r = &refusals[i];
		struct mm *mm = mm_still_there(r->mm);
		struct vma *vma = mm ? vma_find(mm, r->addr) : NULL;
		if (vma && (vma->mapping != r->as || vma_index(vma, r->addr) != r->index))
			vma = NULL;
		uint32_t nr = vma ? as_find_frame(r->as, r->index) : FM_NIL;
		if (nr != FM_NIL && (frame_get(nr)->flags & PG_LOCKED))
			nr = FM_NIL;
		if ((nr != FM_NIL && page_mkwrite(r->as, nr)) || (vma && !refusal_ends(r))) {
			i++;
			continue;
		}
		*r = refusals[--nr_refusals];
	}
	return nr_refusals > 0;
}

/* refuse_fault - the write of msg in vma is refused (page_mkwrite found
 * no room): a store gets SIGBUS; a copy inside a system call must fail
 * with EFAULT instead, which only the faulting process can arrange
 * (refuse.c). A daemon's client is told over its life line, and wakes the
 * thread itself. Return: whether the thread is left to the client (do
 * not wake it). */
static bool refuse_fault(struct vma *vma, const struct uffd_msg *msg)
{
	pid_t tid = (pid_t)msg->arg.pagefault.feat.ptid;
	uintptr_t addr = (uintptr_t)msg->arg.pagefault.address & ~(FM_PAGE_SIZE - 1);
	if (vma->mm->notify >= 0 && refusal_hold(vma, addr)) {
		struct fm_refusal n = {.addr = addr, .tid = tid};
		if (send(vma->mm->notify, &n, sizeof(n), MSG_DONTWAIT | MSG_NOSIGNAL) ==
		    (ssize_t)sizeof(n))
			return true;
	} else if (vma->mm == engine_self() && nr_refusals < REFUSALS_MAX &&
		   refuse_write(vma->mm->uffd, addr, tid) > 0) {
		refusal_hold(vma, addr); /* room for it: checked above */
		return false;
	}
	send_sigbus(vma->mm, msg);
	return false;
}

/* resolve - let the faulting thread go on: for a write to a shared page,
 * the page is dirty now and is unprotected in this vma (which wakes the
 * thread); otherwise the thread is just woken, to retry. A first write for
 * which the file has no room (page_mkwrite) leaves the page clean and
 * protected, and the writer gets SIGBUS, as from the kernel; without msg
 * (a waiter) it is only woken: its retry is a WP fault, which sends it. */
static void resolve(struct vma *vma, uint32_t nr, uintptr_t addr, bool write,
		    const struct uffd_msg *msg)
{
	int uffd = vma->mm->uffd;
	if (write && vma->shared && nr != FM_NIL) {
		if (page_mkwrite(vma->mapping, nr)) {
			if (msg && refuse_fault(vma, msg))
				return;
			uffd_wake(uffd, addr, FM_PAGE_SIZE);
			return;
		}
		page_mark_dirty(vma->mapping, nr);
		if (uffd_writeprotect(uffd, addr, FM_PAGE_SIZE, false) == 0)
			return;
	}
	uffd_wake(uffd, addr, FM_PAGE_SIZE);
}

/* map_cluster - map the pages just read, [start, start+count), into the
 * faulting vma now, with one MADV_POPULATE_READ per run of cached pages,
 * instead of one minor fault each later (shared views, registered for WP,
 * get no kernel fault-around). Only for this process's own vmas. Pages
 * that could not be read are skipped: populating one would fault to the
 * fault thread, which may be the caller. Shared views keep their write
 * protection. Context: engine.lock held since the pages were inserted. */
static void map_cluster(struct vma *vma, uint64_t start, uint64_t count)
{
	if (vma->mm != engine_self() || count < 2)
		return;
	uint64_t first = vma->vm_pgoff;
	uint64_t last = first + ((vma->vm_end - vma->vm_start) >> FM_PAGE_SHIFT);
	uint64_t lo = start > first ? start : first;
	uint64_t hi = start + count < last ? start + count : last;
	while (lo < hi) {
		if (as_find_frame(vma->mapping, lo) == FM_NIL) {
			lo++;
			continue;
		}
		uint64_t end = lo + 1;
		while (end < hi && as_find_frame(vma->mapping, end) != FM_NIL)
			end++;
		(void)sys_madvise((void *)(vma->vm_start + ((lo - first) << FM_PAGE_SHIFT)),
				  (end - lo) << FM_PAGE_SHIFT, MADV_POPULATE_READ);
		lo = end;
	}
}

/*
 * Asynchronous readahead: a stream should not wait for the disk at every
 * window. After a sequential miss, the next FM_RA_AHEAD windows are queued
 * for the ra_threads, which read them while the program works through the
 * pages it has (two threads: one reads while the other copies). Each
 * window's first page, its marker, is left out of the cache: only misses
 * reach the engine, so the program's fault on a marker is how the engine
 * learns that the stream has reached a window read ahead, and queues one
 * more (the kernel marks a page PG_readahead for the same purpose). The
 * marker is stashed, so that fault does not wait for the disk; a fault on
 * a page still being read waits for it, as any fault on a PG_LOCKED page
 * does. A stream from a slow store (ra_ahead) keeps FM_RA_AHEAD_SLOW
 * windows ahead, not FM_RA_AHEAD, and its windows may take every
 * ra_thread: there are RA_THREADS, of which a fast file's windows take
 * RA_THREADS_FAST at most, as many as fast disks gained from (a RADOS
 * object 150 us away wants more reads in flight than a local file 50 us
 * away: a 512 MiB RADOS object scanned at 974 MB/s against 854 with
 * 4 windows and 3 threads, medians of 12 scans in alternating runs; 8
 * threads and 12 windows, or 4 or 7 threads, did no better).
 * A queued window pins its address_space (nr_io). Every mm's
 * streams are read ahead (the daemon's clients' too); the pages read are
 * mapped into the stream's vma only in this process's own mm (map_cluster):
 * another process maps them with its own minor faults.
 */
#define RA_THREADS 5
#define RA_THREADS_FAST 3
#define RA_QUEUE (2 * FM_RA_AHEAD_SLOW)
struct ra_req {
	struct address_space *as;
	struct mm *mm;  /* the stream's; may be gone by the time it is read */
	uintptr_t addr; /* the miss that queued it, to find the vma again */
	uint64_t start, count;
};
static struct ra_req ra_queue[RA_QUEUE];
static size_t ra_queued;
static pthread_cond_t ra_cv = PTHREAD_COND_INITIALIZER;
static pthread_t ra_thread_id[RA_THREADS];
static unsigned ra_busy_fast; /* ra_threads reading a fast file's window */

/* queue_window - queue the window after the stream's last one. Return:
 * whether it did. */
static bool queue_window(struct vma *vma, uintptr_t addr, uint64_t end)
{
	struct file_ra_state *ra = &vma->ra;
	struct address_space *as = vma->mapping;
	uint64_t marker = ra->async_end > end ? ra->async_end : end;
	uint64_t size = ra->mode == RA_SEQUENTIAL ? RA_MAX_SEQUENTIAL : ra->size;
	/* Reading ahead may only take free frames and the stream's own used
	 * pages (LRU_ONCE, but not the window the program is in): else it
	 * would evict the working set. Each window ahead gets a share. */
	uint64_t once = engine.lru[LRU_ONCE].count;
	uint64_t room = frames_available() + (once > ra->size ? once - ra->size : 0);
	if (size > room / (2u * as->ra_ahead))
		size = room / (2u * as->ra_ahead);
	/* A write waiting for the reads of this file to end would starve if
	 * the stream kept queueing more. */
	if (ra_queued == RA_QUEUE || as->nr_io_waiters || marker >= as->nr_pages ||
	    as_find_frame(as, marker) != FM_NIL)
		return false;
	if (size > as->nr_pages - marker)
		size = as->nr_pages - marker;
	/* Smaller windows than two eviction batches would have a batch evict
	 * the window in use, which then refaults as working set. */
	if (size < 2 * FM_RECLAIM_BATCH)
		return false;
	ra_queue[ra_queued++] = (struct ra_req){as, vma->mm, addr, marker + 1, size - 1};
	as->nr_io++;
	ra->marks[ra->nmarks++] = marker;
	ra->async_end = marker + size;
	pthread_cond_signal(&ra_cv);
	return true;
}

/* ra_async - the stream of vma now has pages up to end (a sequential miss
 * at addr, or a marker, was just served): forget the markers behind it and
 * queue windows until ra_ahead are ahead. Context: engine.lock. */
static void ra_async(struct vma *vma, uintptr_t addr, uint64_t end)
{
	struct file_ra_state *ra = &vma->ra;
	if (ra->async_end <= end) {
		ra->async_end = 0;
		ra->nmarks = 0;
	}
	while (ra->nmarks && ra->marks[0] < end) {
		ra->nmarks--;
		memmove(ra->marks, ra->marks + 1, ra->nmarks * sizeof(ra->marks[0]));
	}
	while (ra->nmarks < vma->mapping->ra_ahead && queue_window(vma, addr, end)) {
	}
	if (ra->nmarks)
		ra->next = ra->marks[0];
}

static void wake_waiters(struct address_space *as, uint64_t start, uint64_t end);

/* The marker page of a window read ahead, read by ra_thread but not put in
 * the cache (so that the program's access to it still reaches the engine):
 * the fault on it is then served from here, without waiting for the disk.
 * gen is the file's as->wgen when it was read; a stash is used only if the
 * file has not been changed by faultmap since. An ra_thread fills a slot
 * with engine.lock dropped, after marking it busy and not ok under it. */
struct ra_stash {
	_Alignas(FM_PAGE_SIZE) char data[FM_PAGE_SIZE]; /* O_DIRECT reads here */
	struct address_space *as;
	uint64_t index, gen;
	bool ok;   /* holds page index of as, read at gen */
	bool busy; /* an ra_thread is reading into it */
};
static struct ra_stash stash[RA_QUEUE];
static unsigned stash_next;

/* stash_marker - read page index of as into a stash slot, unless cached.
 * Context: engine.lock; dropped during the read. */
static void stash_marker(struct address_space *as, uint64_t index)
{
	if (index >= as->nr_pages || as_find_frame(as, index) != FM_NIL)
		return;
	struct ra_stash *st = NULL;
	for (int i = 0; i < RA_QUEUE && !st; i++) {
		struct ra_stash *s = &stash[stash_next++ % RA_QUEUE];
		if (!s->busy)
			st = s;
	}
	if (!st)
		return;
	st->ok = false;
	st->busy = true;
	uint64_t gen = as->wgen;
	uint64_t off = index << FM_PAGE_SHIFT;
	uint64_t want = as->i_size - off < FM_PAGE_SIZE ? as->i_size - off : FM_PAGE_SIZE;
	as->nr_io++;
	pthread_mutex_unlock(&engine.lock);
	ssize_t r;
	do
		r = as_read(as, st->data, FM_PAGE_SIZE, off);
	while (r < 0 && errno == EINTR);
	pthread_mutex_lock(&engine.lock);
	as_io_done(as);
	st->busy = false;
	if (r < 0 || (uint64_t)r < want)
		return; /* the fault will read it, and report the error */
	memset(st->data + want, 0, FM_PAGE_SIZE - want);
	st->as = as;
	st->index = index;
	st->gen = gen;
	st->ok = true;
}

/* from_stash - serve a miss at index of as through vma from a stashed
 * marker, and queue the stream's next window.
 * Return: whether it did. Context: engine.lock. */
static bool from_stash(struct vma *vma, struct address_space *as, uint64_t index,
		       uintptr_t addr, bool write, struct fm_trace *t)
{
	struct ra_stash *st = NULL;
	for (int i = 0; i < RA_QUEUE; i++)
		if (stash[i].ok && stash[i].as == as && stash[i].index == index)
			st = &stash[i];
	if (!st)
		return false;
	st->ok = false;
	if (st->gen != as->wgen || reclaim_reserve(1) ||
	    fill_pages(as, index, 1, index, true, st->data, false, true))
		return false;
	count_event(major_faults, 1);
	as->st.faults++;
	t->result = "miss";
	t->read_start = index;
	t->read_pages = 1;
	t->installed = 1;
	if (vma->ra.nmarks && vma->ra.marks[0] == index)
		ra_async(vma, addr, index + 1);
	resolve(vma, as_find_frame(as, index), addr, write, NULL);
	return true;
}

/* ra_run - read window r: its marker into a stash first (the program will
 * reach it first), then the absent pages after it into the cache, which
 * are mapped into the stream's vma. A page that cannot be read (nor a
 * marker) is not cached: the program's own fault on it reads it again,
 * and gets the error then. Context: engine.lock; dropped during the
 * reads. */
static void ra_run(const struct ra_req *r, char *buf)
{
	struct address_space *as = r->as;
	if (!as->i_mmap)
		return;
	stash_marker(as, r->start - 1);
	uint64_t n = 0;
	while (n < r->count && r->start + n < as->nr_pages &&
	       as_find_frame(as, r->start + n) == FM_NIL)
		n++;
	if (!n || !as->i_mmap || reclaim_reserve(n))
		return;
	(void)filemap_read_pages(as, r->start, n, true, buf, true);
	wake_waiters(as, r->start, r->start + n);
	uint64_t got = 0;
	for (uint64_t i = r->start; i < r->start + n; i++)
		got += as_find_frame(as, i) != FM_NIL;
	count_event(readahead_pages, got);
	as->st.readahead_pages += got;
	/* The stream's process, if it is still there (the lock was dropped
	 * for the read): what was read counts as its too (a daemon's
	 * client: its faultmap stat row). */
	struct mm *mm = mm_still_there(r->mm);
	if (mm == engine_self())
		mm = NULL;
	if (mm) {
		mm->st.pages_read += got;
		mm->st.readahead_pages += got;
	}
	struct vma *vma = vma_find(mm ? mm : engine_self(), r->addr);
	if (vma && vma->mapping == as)
		map_cluster(vma, r->start, n);
}

/* ra_thread - reads the windows ra_async queues, oldest first. */
static void *ra_thread(void *arg)
{
	(void)arg;
	char *buf = thread_buffer();
	thread_ready();
	pthread_mutex_lock(&engine.lock);
	while (!stopping) {
		/* the first window queued that this thread may read */
		size_t i = 0;
		while (i < ra_queued && ra_queue[i].as->ra_ahead == FM_RA_AHEAD &&
		       ra_busy_fast >= RA_THREADS_FAST)
			i++;
		if (i == ra_queued) {
			pthread_cond_wait(&ra_cv, &engine.lock);
			continue;
		}
		struct ra_req r = ra_queue[i];
		memmove(ra_queue + i, ra_queue + i + 1, (--ra_queued - i) * sizeof(r));
		as_io_done(r.as); /* filemap_read_pages pins it from here */
		bool fast = r.as->ra_ahead == FM_RA_AHEAD;
		ra_busy_fast += fast;
		ra_run(&r, buf);
		ra_busy_fast -= fast;
		if (!r.as->i_mmap)
			as_put_if_unused(r.as);
	}
	while (ra_queued) /* stopping: forget the rest */
		as_io_done(ra_queue[--ra_queued].as);
	pthread_mutex_unlock(&engine.lock);
	free(buf);
	return NULL;
}

static void add_waiter(struct mm *mm, uintptr_t addr, bool write,
		       struct address_space *as, uint64_t index)
{
	if (engine.nr_waiters == engine.waiters_cap) {
		size_t cap = engine.waiters_cap ? engine.waiters_cap * 2 : 16;
		struct fm_waiter *w = fm_realloc(engine.waiters, cap * sizeof(*w));
		if (!w) { /* it will fault again */
			uffd_wake(mm->uffd, addr, FM_PAGE_SIZE);
			return;
		}
		engine.waiters = w;
		engine.waiters_cap = cap;
	}
	engine.waiters[engine.nr_waiters++] =
		(struct fm_waiter){mm, addr, write, as, index};
}

/* wake_waiters - resolve the faults that waited for pages [start, end) of
 * as to be read; where the read failed they fault again. */
static void wake_waiters(struct address_space *as, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < engine.nr_waiters;) {
		struct fm_waiter w = engine.waiters[i];
		if (w.mapping != as || w.index < start || w.index >= end) {
			i++;
			continue;
		}
		engine.waiters[i] = engine.waiters[--engine.nr_waiters];
		struct vma *vma = vma_find(w.mm, w.addr);
		uint32_t nr = as_find_frame(as, w.index);
		if (vma && vma->mapping == as && nr != FM_NIL)
			resolve(vma, nr, w.addr, w.write, NULL);
		else
			uffd_wake(w.mm->uffd, w.addr, FM_PAGE_SIZE);
	}
}

/* filemap_touch_pages - filemap_read_pages of pages [start, start +
 * count), all absent, with engine.lock dropped during the read (buf: the
 * caller's own, FM_CLUSTER_MAX pages, page-aligned), then the faults that
 * waited for them meanwhile are resolved. For faultmap cache (the daemon's
 * request threads). Context: engine.lock, the frames reserved; not a
 * fault thread. */
int filemap_touch_pages(struct address_space *as, uint64_t start, uint64_t count, char *buf)
{
	int err = filemap_read_pages(as, start, count, false, buf, true);
	wake_waiters(as, start, start + count);
	return err;
}

/* forget_waiters - drop the waiters of mm (its process is gone). */
static void forget_waiters(struct mm *mm)
{
	for (size_t i = 0; i < engine.nr_waiters;)
		if (engine.waiters[i].mm == mm)
			engine.waiters[i] = engine.waiters[--engine.nr_waiters];
		else
			i++;
}

static uint64_t now_ns(void);

/* miss_mapped - a miss's cluster [start, start + count) is cached: count
 * the major fault, map the cluster into vma (the faulting one) and, after
 * a sequential miss (once), queue the next window. Context: engine.lock. */
static void miss_mapped(struct vma *vma, uintptr_t addr, uint64_t start, uint64_t count,
			bool once)
{
	count_event(major_faults, 1);
	vma->mapping->st.faults++;
	map_cluster(vma, start, count);
	if (once)
		ra_async(vma, addr, start + count);
}

/* miss_done - finish a miss at index of as whose cluster [start,
 * start+count) was read (err: 0 if page index was, else why not): wake the faults that
 * waited for it, map the cluster into the faulting vma, queue readahead,
 * and let the faulting thread go on. mm is NULL if its process is gone.
 * Context: engine.lock held. */
static void miss_done(struct mm *mm, const struct uffd_msg *msg, struct address_space *as,
		      uint64_t index, uint64_t start, uint64_t count, bool once, int err,
		      uint64_t read_from, struct fm_trace *t)
{
	uintptr_t addr = (uintptr_t)msg->arg.pagefault.address & ~(FM_PAGE_SIZE - 1);
	bool write = msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE;
	t->read_start = start;
	t->read_pages = count;
	t->read_ns = now_ns() - read_from;
	/* The lock was dropped: the vma may be gone, the file unused. */
	wake_waiters(as, start, start + count);
	struct vma *vma = mm ? vma_find(mm, addr) : NULL;
	if (!vma || vma->mapping != as) {
		if (mm)
			uffd_wake(mm->uffd, addr, FM_PAGE_SIZE);
		if (!as->i_mmap)
			as_put_if_unused(as);
		return;
	}
	if (err == -EAGAIN) {
		uffd_wake(mm->uffd, addr, FM_PAGE_SIZE);
		return;
	}
	if (err) {
		fail_fault(vma, msg, t);
		return;
	}
	t->result = "miss";
	t->installed = count;
	miss_mapped(vma, addr, start, count, once);
	resolve(vma, as_find_frame(as, index), addr, write, msg);
}

/*
 * Misses in flight. The main fault thread does not wait for the disk: it
 * starts a miss's read on its own ring (io_read_submit), goes back to its
 * userfaultfds, and finishes the miss (miss_complete) when the read ends.
 * So the misses of several program threads overlap without a second thread
 * to wake, and a program with one thread pays no hand-off. Only the main
 * fault thread touches these. Only O_DIRECT reads of files on a disk go
 * on the ring: tmpfs cannot be read without blocking, as io_uring sees it,
 * so each read was handed to one of io_uring's worker threads, and
 * workload 1 shuffled went from 10.7 to 21.8 us/page. A file in memory is
 * read with pread, and needs no helper: its read never waits for a disk.
 * A store with no fd for the ring but reads of its own that end on its own
 * threads (read_start: RADOS) has its misses in flight the same way, once
 * misses overlap (store_overlap_recent); their completions come back
 * through store_done and a kick. The helper thread (io_fault_thread)
 * serves while the main one reads a file with pread, without O_DIRECT,
 * io_uring, or a test that replaced fm_sys.pread, a store that has neither
 * (NBD, S3) or a lone miss of one that has read_start, or with more in
 * flight than the limits below.
 */
/*
 * Up to MISS_MAX misses in flight: 32, as many as random reads of 32
 * threads need (fm-bench workload 3b, 32 threads: 16,107-20,236 reads/s
 * with 8 in flight, 24,188-32,368 with 32, 0.31-0.41x to 0.55-0.68x
 * kernel + MADV_RANDOM; four alternating pairs, load 3-14). The
 * first MISS_BIG have buffers for a whole cluster (1 MiB, a stream's
 * window); the others for MISS_SMALL_PAGES only (a random miss's
 * read-around), so that the buffers stay within 9.5 MiB, not 32, beside
 * the budget.
 */
#define MISS_MAX 32
#define MISS_BIG 8
#define MISS_SMALL_PAGES FM_RA_AROUND
struct miss {
	bool busy;
	bool ready;    /* not submitted: miss_complete reads it all */
	bool probing;  /* the cluster's read failed: reading page by page */
	bool buffered; /* the read in flight is the probe's second try */
	uint64_t probe; /* the page of the cluster being read, if probing */
	uint64_t rd_off, rd_len; /* the read in flight, in the cluster */
	struct mm *mm; /* NULL once its process is gone */
	struct uffd_msg msg;
	uint64_t index, read_from;
	struct fm_trace t;
	struct fill f;
	char *buf;
};
static struct miss misses[MISS_MAX];
static unsigned nr_misses, nr_ready;
static unsigned ring_reads; /* misses' reads in flight on the ring */
static uint64_t miss_pages; /* frames claimed by the misses in flight */

static void miss_store_done(void *tag, int res);

/* miss_submit - put the read of bytes [off, off + len) of m's cluster in
 * flight: on the ring, or the store's own (read_start) where it has no
 * ring fd. Return: 0 or -errno (nothing in flight). */
static int miss_submit(struct miss *m, uint64_t off, uint64_t len)
{
	struct fm_store *s = m->f.as->store;
	if (s->ops->read_start && store_ring_fd(s, false) < 0) {
		if (m->buffered)
			return -EBADF; /* no second kind of read */
		m->rd_off = off;
		m->rd_len = len;
		return store_read_start(s, m->buf + off, len, m->f.off + off, miss_store_done, m);
	}
	int fd = store_ring_fd(s, m->buffered);
	if (fd < 0)
		return -EBADF;
	m->rd_off = off;
	m->rd_len = len;
	int err = io_read_submit(fd, m->buf + off, len, m->f.off + off, m);
	ring_reads += !err;
	return err;
}

/*
 * A store's own asynchronous read (read_start) ends on a thread of the
 * store's, which then kicks the fault thread: one hand-off more than the
 * store's blocking read, whose caller its I/O thread wakes itself. With
 * one program thread missing at a time, the blocking read is faster (RADOS
 * at QD1: every miss in flight was 15-20% slower, build/fm-rados-bench);
 * with several, only the asynchronous ones overlap (8 threads: about 2x
 * the reads per second). So misses of such a store go in flight only while
 * misses overlap: another was in flight, or the helper thread took a
 * fault while the main one was reading (store_overlap), within the last
 * OVERLAP_MISSES misses. (The helper also takes a lone thread's next
 * fault at times, when it reads its userfaultfd just as the main thread
 * is done reading: not an overlap.)
 */
#define OVERLAP_MISSES 16
static atomic_uint store_overlap;

static bool store_overlap_recent(void)
{
	if (nr_misses) {
		atomic_store(&store_overlap, OVERLAP_MISSES);
		return true;
	}
	unsigned left = atomic_load(&store_overlap);
	if (!left)
		return false;
	atomic_store(&store_overlap, left - 1);
	return true;
}

/* miss_start - start the read of a miss's cluster and leave it in flight.
 * Only the main fault thread does; the frames in flight stay within a
 * quarter of the budget, so that they cannot starve reclaim.
 * Return: whether it did (else nothing changed: read it now).
 * Context: engine.lock held. */
static bool miss_start(struct mm *mm, const struct uffd_msg *msg, struct address_space *as,
		       uint64_t index, uint64_t start, uint64_t count, bool once,
		       uint64_t read_from, const struct fm_trace *t)
{
	bool ring = store_ring_fd(as->store, false) >= 0;
	if (!main_fault_thread || nr_misses == MISS_MAX || as->in_memory ||
	    (ring ? !io_read_usable() : !as->store->ops->read_start) ||
	    (nr_misses && miss_pages + count > engine.budget_pages / 4))
		return false;
	if (!ring && !store_overlap_recent())
		return false;
	struct miss *m = misses;
	while (m < misses + MISS_MAX && (m->busy || (m >= misses + MISS_BIG &&
						     count > MISS_SMALL_PAGES)))
		m++;
	if (m == misses + MISS_MAX)
		return false; /* the big buffers are busy: read it now */
	size_t pages = m < misses + MISS_BIG ? FM_CLUSTER_MAX : MISS_SMALL_PAGES;
	if (!m->buf && !(m->buf = aligned_alloc(FM_PAGE_SIZE, pages * FM_PAGE_SIZE)))
		return false;
	if (fill_begin(&m->f, as, start, count, once, m->buf))
		return false;
	m->busy = true;
	m->probing = false;
	m->buffered = false;
	m->mm = mm;
	m->msg = *msg;
	m->index = index;
	m->read_from = read_from;
	m->t = *t;
	nr_misses++;
	miss_pages += count;
	m->ready = !m->f.want || miss_submit(m, 0, m->f.len) < 0;
	nr_ready += m->ready;
	return true;
}

/* miss_complete - the read in flight of miss m ended with res (bytes, or
 * -errno; -ECANCELED: not submitted). Read what the cluster lacks with
 * pread (a short read, O_DIRECT refused, or not submitted). If the read
 * failed, read the cluster page by page (probe), on the ring, each page's
 * read submitted when the one before ends, so that only the pages that
 * cannot be read fail. Then insert the cluster and finish the miss
 * (miss_done). Context: main fault thread, engine.lock not held. */
static void miss_complete(struct miss *m, int res)
{
	struct fill *f = &m->f;
	if (m->probing) {
		if (res < 0 && !read_again(res) && !m->buffered) {
			/* The kernel's own read is buffered: ask it too (ext4
			 * fails an O_DIRECT read of a block that a failed write
			 * left delayed-allocated, which a buffered read reads). */
			m->buffered = true;
			if (!miss_submit(m, m->probe << FM_PAGE_SHIFT, FM_PAGE_SIZE))
				return; /* in flight: completes here again */
		}
		if (m->buffered && res > 0)
			posix_fadvise(store_ring_fd(f->as->store, true),
				      (off_t)(f->off + (m->probe << FM_PAGE_SHIFT)), res,
				      POSIX_FADV_DONTNEED);
		m->buffered = false;
		fill_page(f, m->probe++, res);
	} else if (res >= 0 || read_again(res)) {
		if (res > 0)
			f->got += (uint64_t)res;
		fill_read(f); /* after a pread error, it probes by itself */
	} else {
		m->probing = true;
		m->probe = f->got >> FM_PAGE_SHIFT;
	}
	while (m->probing && m->probe < fill_pages_left(f)) {
		if (!miss_submit(m, m->probe << FM_PAGE_SHIFT, FM_PAGE_SIZE))
			return; /* in flight: completes here again */
		fill_page(f, m->probe++, -ECANCELED);
	}
	if (m->probing) {
		m->probing = false;
		f->got = f->want;
	}
	fill_copy(f);
	pthread_mutex_lock(&engine.lock);
	current_mm = m->mm == engine_self() ? NULL : m->mm;
	int err = fill_end(f, m->index);
	miss_done(m->mm, &m->msg, f->as, m->index, f->start, f->n, f->once, err, m->read_from,
		  &m->t);
	if (m->t.result && m->mm && mm_traced(m->mm))
		trace_mm_fault(m->mm, &m->t);
	current_mm = NULL;
	pthread_mutex_unlock(&engine.lock);
	if (m->t.result && trace_enabled()) {
		m->t.total_ns = now_ns() - m->t.t_ns;
		trace_fault(&m->t);
	}
	m->busy = false;
	nr_misses--;
	miss_pages -= f->n;
}

/*
 * Reads of stores without a ring fd (RADOS: read_start) end on a thread
 * of the store's, which queues them here and kicks the fault thread;
 * misses_reap finishes them. At most one read per miss is in flight.
 */
static pthread_mutex_t store_done_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	struct miss *m;
	int res;
} store_done[MISS_MAX];
static atomic_uint nr_store_done;

static void miss_store_done(void *tag, int res)
{
	pthread_mutex_lock(&store_done_lock);
	unsigned i = atomic_load(&nr_store_done);
	store_done[i].m = tag;
	store_done[i].res = res;
	atomic_store(&nr_store_done, i + 1);
	pthread_mutex_unlock(&store_done_lock);
	fault_thread_kick();
}

/* store_done_reap - finish the misses whose store reads ended.
 * Return: whether there were any. */
static bool store_done_reap(void)
{
	if (!atomic_load(&nr_store_done))
		return false;
	pthread_mutex_lock(&store_done_lock);
	unsigned n = atomic_load(&nr_store_done);
	struct miss *m[MISS_MAX];
	int res[MISS_MAX];
	for (unsigned i = 0; i < n; i++) {
		m[i] = store_done[i].m;
		res[i] = store_done[i].res;
	}
	atomic_store(&nr_store_done, 0);
	pthread_mutex_unlock(&store_done_lock);
	for (unsigned i = 0; i < n; i++)
		miss_complete(m[i], fm_sys.read_done(m[i]->f.off + m[i]->rd_off, m[i]->rd_len,
						     res[i]));
	return n > 0;
}

/* misses_reap - finish the misses whose reads ended (waiting for one if
 * wait and none had). Return: whether any was finished.
 * Context: main fault thread, engine.lock not held. */
static bool misses_reap(bool wait)
{
	for (;;) {
		bool any = store_done_reap();
		for (struct miss *m = misses; nr_ready && m < misses + MISS_MAX; m++)
			if (m->busy && m->ready) {
				m->ready = false;
				nr_ready--;
				miss_complete(m, -ECANCELED);
				any = true;
			}
		void *tag;
		int res;
		while (ring_reads && io_read_reap(false, &tag, &res)) {
			struct miss *m = tag;
			ring_reads--;
			miss_complete(m, fm_sys.read_done(m->f.off + m->rd_off, m->rd_len, res));
			any = true;
		}
		if (any || !wait || !nr_misses)
			return any;
		/* A read on the ring, or one of a store's, ends next. */
		struct pollfd pfd[2] = {{.fd = kick_fd, .events = POLLIN},
					{.fd = ring_reads ? io_read_fd() : -1, .events = POLLIN}};
		if (poll(pfd, 2, -1) > 0 && (pfd[0].revents & POLLIN))
			kick_drain();
	}
}

/* forget_misses - the process of mm is gone: its misses in flight finish
 * without waking anyone. Context: main fault thread, engine.lock held. */
static void forget_misses(struct mm *mm)
{
	for (struct miss *m = misses; m < misses + MISS_MAX; m++)
		if (m->busy && m->mm == mm)
			m->mm = NULL;
}

/* frames_in_flight - frames on no LRU list: claimed by reads in flight
 * (PG_LOCKED), which give them back when they end. */
static uint64_t frames_in_flight(void)
{
	uint64_t listed = 0;
	for (int l = LRU_NONE + 1; l < LRU_COUNT; l++)
		listed += engine.lru[l].count;
	return engine.nr_frames - engine.nr_free - listed;
}

/* reserve_miss - frames for a miss at index: for its cluster [*start,
 * *start + *count), or else for that page alone (then *start, *count say
 * so). Return: 0; -EAGAIN if none can be had while reads in flight hold
 * frames (they come back soon: the access is to be made again); or
 * -errno. Context: engine.lock. */
static int reserve_miss(uint64_t index, uint64_t *start, uint64_t *count)
{
	int err = reclaim_reserve(*count);
	if (err && *count > 1) {
		*start = index;
		*count = 1;
		err = reclaim_reserve(1);
	}
	if (err == -ENOMEM && frames_in_flight()) /* they free up soon: fault again */
		err = -EAGAIN;
	return err;
}

/* do_fault - serve one page-fault message of mm, reading into buf; say in
 * *t what was done, for the trace.
 * Context: engine.lock held; dropped during file reads of this process. */
static void do_fault(struct mm *mm, const struct uffd_msg *msg, char *buf,
		     struct fm_trace *t)
{
	uintptr_t addr = (uintptr_t)msg->arg.pagefault.address & ~(FM_PAGE_SIZE - 1);
	uint64_t flags = msg->arg.pagefault.flags;
	bool write = flags & UFFD_PAGEFAULT_FLAG_WRITE;
	if (mm == engine_self()) /* past its last access */
		poison_reap((pid_t)msg->arg.pagefault.feat.ptid);
	struct vma *vma = vma_find(mm, addr);
	if (!vma) { /* unmapped meanwhile: the retry will tell */
		uffd_wake(mm->uffd, addr, FM_PAGE_SIZE);
		return;
	}
	struct address_space *as = vma->mapping;
	uint64_t index = vma_index(vma, addr);
	t->addr = (uintptr_t)msg->arg.pagefault.address;
	t->vm_start = vma->vm_start;
	t->vm_end = vma->vm_end;
	t->pgoff = vma->vm_pgoff;
	t->index = index;
	uint32_t nr = as_find_frame(as, index);
	if (nr != FM_NIL && (frame_get(nr)->flags & PG_LOCKED)) {
		/* Another fault thread is reading it. */
		add_waiter(mm, addr, write || (flags & UFFD_PAGEFAULT_FLAG_WP), as, index);
		return;
	}
	if (flags & UFFD_PAGEFAULT_FLAG_WP) {
		count_event(write_faults, 1);
		as->st.write_faults++;
		t->result = "write";
		/* Evicted since: the retry takes a MISSING fault. */
		if (nr == FM_NIL)
			uffd_wake(mm->uffd, addr, FM_PAGE_SIZE);
		else
			resolve(vma, nr, addr, true, msg);
		return;
	}
	if (nr != FM_NIL) { /* another fault brought it in meanwhile */
		count_event(minor_faults, 1);
		as->st.fault_hits++;
		t->result = "hit";
		resolve(vma, nr, addr, write, msg);
		return;
	}
	if (index >= as->nr_pages) {
		fail_fault(vma, msg, t);
		return;
	}
	reclaim_note_fault(as, index);
	if (from_stash(vma, as, index, addr, write, t))
		return;
	uint64_t start, count;
	bool once;
	ra_window(vma, as, index, &start, &count, &once);
	int err = reserve_miss(index, &start, &count);
	uint64_t read_from = now_ns();
	if (!err && miss_start(mm, msg, as, index, start, count, once, read_from, t))
		return; /* in flight: miss_complete finishes it */
	if (!err)
		err = fill_pages(as, start, count, index, once, buf, true, false);
	miss_done(mm, msg, as, index, start, count, once, err, read_from, t);
}

/*
 * Misses served in the faulting thread (FAULTMAP_INLINE_FAULTS): the
 * kernel's own way, where do_page_fault runs in the task that faulted.
 * Views that do not track writes (read-only, or private) are registered
 * with engine.inline_uffd, made with UFFD_FEATURE_SIGBUS: a miss there is
 * not queued for a fault thread, the kernel sends the faulting thread
 * SIGBUS at once, and its handler (inline_sigbus) reads the page into the
 * cache and returns: the access is made again and maps the page. No
 * thread hand-off, no sleep and wake per miss. A system call whose buffer
 * is such a missing page gets EFAULT, not a wait: so this is for views no
 * system call reads, and an option.
 */
#define INLINE_WAIT_NS 20000 /* a page another thread reads: look again after */
static pthread_key_t inline_buf_key;
static struct sigaction inline_old_sigbus;

static void inline_buf_free(void *buf)
{
	sys_munmap(buf, FM_CLUSTER_MAX * FM_PAGE_SIZE);
}

/* inline_buf - this thread's cluster buffer for its misses, made at its
 * first miss (address space only: a random miss touches 16 pages of it),
 * unmapped when the thread ends. */
static char *inline_buf(void)
{
	char *buf = pthread_getspecific(inline_buf_key);
	if (buf)
		return buf;
	buf = sys_mmap(NULL, FM_CLUSTER_MAX * FM_PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return NULL;
	if (pthread_setspecific(inline_buf_key, buf)) {
		inline_buf_free(buf);
		return NULL;
	}
	return buf;
}

/*
 * fault_inline - serve, in this thread, a fault at addr in one of this
 * process's views registered with engine.inline_uffd: the miss's fault
 * path of do_fault, with the read made here (fill_pages drops
 * engine.lock meanwhile); a page another thread is reading is waited for
 * (INLINE_WAIT_NS naps). Return: 0 when the access may be made again
 * (the page is cached, or was evicted again: a miss again); -EFAULT if addr
 * is in no such view; else the -errno of a page that cannot be had (past
 * the file's end, a read error): SIGBUS for the program, as the kernel's.
 * Context: signals blocked, engine.lock not held.
 */
static int fault_inline(uintptr_t addr)
{
	addr &= ~(uintptr_t)(FM_PAGE_SIZE - 1);
	if (engine.forked_child)
		return -EFAULT;
	char *buf = inline_buf();
	pthread_mutex_lock(&engine.lock);
	struct mm *mm = engine_self();
	struct vma *vma = mm ? vma_find(mm, addr) : NULL;
	if (!vma || !vma->inline_faults) {
		pthread_mutex_unlock(&engine.lock);
		return -EFAULT;
	}
	struct address_space *as = vma->mapping;
	uint64_t index = vma_index(vma, addr);
	uint32_t nr = as_find_frame(as, index);
	if (nr != FM_NIL) { /* brought in meanwhile, or being read: wait for that read */
		if (!(frame_get(nr)->flags & PG_LOCKED)) {
			count_event(minor_faults, 1);
			as->st.fault_hits++;
		}
		as->nr_pins++;
		while (nr != FM_NIL && (frame_get(nr)->flags & PG_LOCKED)) {
			pthread_mutex_unlock(&engine.lock);
			nanosleep(&(struct timespec){0, INLINE_WAIT_NS}, NULL);
			pthread_mutex_lock(&engine.lock);
			nr = as_find_frame(as, index);
		}
		as->nr_pins--;
		if (!as->i_mmap)
			as_put_if_unused(as);
		pthread_mutex_unlock(&engine.lock);
		return 0; /* the access again: mapped, or a miss again */
	}
	if (index >= as->nr_pages || !buf) {
		pthread_mutex_unlock(&engine.lock);
		return index >= as->nr_pages ? -ENXIO : -ENOMEM;
	}
	reclaim_note_fault(as, index);
	struct fm_trace t;
	memset(&t, 0, sizeof(t));
	if (from_stash(vma, as, index, addr, false, &t)) {
		pthread_mutex_unlock(&engine.lock);
		return 0;
	}
	uint64_t start, count;
	bool once;
	ra_window(vma, as, index, &start, &count, &once);
	int err = reserve_miss(index, &start, &count);
	if (!err)
		err = fill_pages(as, start, count, index, once, buf, true, false);
	wake_waiters(as, start, start + count);
	vma = vma_find(mm, addr); /* the lock was dropped */
	if (!err && vma && vma->mapping == as)
		miss_mapped(vma, addr, start, count, once);
	if (!as->i_mmap)
		as_put_if_unused(as);
	pthread_mutex_unlock(&engine.lock);
	return err == -EAGAIN ? 0 : err;
}

/* inline_sigbus - the SIGBUS handler: a miss in an inline view is served
 * and the access made again; any other SIGBUS (a page that cannot be
 * read, a kernel mapping past its file's end, kill -BUS) goes to the
 * handler the program had, or kills the process as the default does. */
static void inline_sigbus(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	if (si->si_code == BUS_ADRERR && fault_inline((uintptr_t)si->si_addr) == 0) {
		errno = saved;
		return;
	}
	errno = saved;
	const struct sigaction *old = &inline_old_sigbus;
	if (old->sa_flags & SA_SIGINFO) {
		old->sa_sigaction(sig, si, uc);
	} else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
	} else { /* the default: die of it (a fault comes again at once) */
		signal(sig, SIG_DFL);
		if (si->si_code <= 0)
			raise(sig);
	}
}

bool fault_inline_touch(uintptr_t addr)
{
	if (!engine.inline_faults)
		return false;
	int saved = errno; /* the caller's EFAULT, if the page is not one */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int err = fault_inline(addr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return err == 0;
}

int fault_inline_start(void)
{
	const char *on = secure_getenv("FAULTMAP_INLINE_FAULTS");
	if (!on || strcmp(on, "1"))
		return 0;
	int err = uffd_open_sigbus(&engine.inline_uffd);
	if (err)
		return err;
	if (pthread_key_create(&inline_buf_key, inline_buf_free))
		return -EAGAIN;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = inline_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask); /* nothing interrupts a holder of engine.lock */
	if (sigaction(SIGBUS, &sa, &inline_old_sigbus))
		return -errno;
	engine.inline_faults = true;
	return 0;
}

/* do_fork - a process forked: serve its copy of parent's vmas through the
 * new userfaultfd the kernel gave us. Context: engine.lock held. */
static void do_fork(struct mm *parent, int ufd)
{
	int child_uffd = fd_keep(ufd);
	struct mm *child = mm_dup(parent, child_uffd);
	if (!child) {
		sys_close(child_uffd);
		return;
	}
	struct mm **pp = &engine.mms;
	while (*pp)
		pp = &(*pp)->next;
	*pp = child;
	fault_thread_kick(); /* the main fault thread polls it from now on */
}

/*
 * Fork. The kernel's fork (UFFD_EVENT_FORK) waits until a fault thread has
 * read the fork message from this process's userfaultfd, while glibc's
 * fork() holds, around the system call, map_lock (atfork_prepare), every
 * malloc arena lock and the stdio list lock. So from atfork_prepare to
 * atfork_parent the main fault thread is *parked* (fork_park): it reads
 * only this process's userfaultfd, into preallocated space, and takes no
 * lock but fork_lock (which nobody holds across anything that waits), and
 * the helper thread does not read at all. A page fault read meanwhile is
 * held (held[]) and served after the fork; the fork message's new
 * userfaultfd is recorded in fork_ufd[], and atfork_parent makes the
 * child's mm (mm_dup) before it releases map_lock, so the child gets the
 * vmas as they were at the fork. Nothing in the park loop allocates, or
 * waits for engine.lock: any engine thread may be stuck on a malloc lock
 * with engine.lock held, and the fork still ends.
 */
#define FORK_SLOTS 16
#define HELD_MAX 64
static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fork_cv = PTHREAD_COND_INITIALIZER;
static _Atomic bool fork_req; /* a glibc fork asks the fault threads to park */
static bool fork_busy;	      /* from atfork_prepare to the end of atfork_parent */
static bool main_parked;      /* the main fault thread is in fork_park */
static bool helper_reading;   /* the helper thread is reading/serving one message */
static bool threads_running;  /* the fault threads run (start to stop) */
static int fork_ufd[FORK_SLOTS]; /* children's userfaultfds, mm not made yet */
static unsigned nr_fork_ufd;
static struct uffd_msg held[HELD_MAX]; /* faults read while parked */
static unsigned nr_held;

/* fork_record - keep the userfaultfd of a child of this process until its
 * mm is made. Never allocates: it may run during the fork. */
static void fork_record(int ufd)
{
	pthread_mutex_lock(&fork_lock);
	if (nr_fork_ufd < FORK_SLOTS)
		fork_ufd[nr_fork_ufd++] = ufd;
	else /* only raw fork()s, many at once: that child goes unserved */
		sys_close(ufd);
	pthread_mutex_unlock(&fork_lock);
}

/* fork_take - take the recorded userfaultfds into ufds (FORK_SLOTS).
 * Context: fork_lock. Return: how many. */
static unsigned fork_take(int *ufds)
{
	unsigned n = nr_fork_ufd;
	memcpy(ufds, fork_ufd, n * sizeof(*ufds));
	nr_fork_ufd = 0;
	return n;
}

/* fork_serve - make the mms of the children recorded (forks without
 * glibc's fork(), whose userfaultfd a fault thread read); during a glibc
 * fork, atfork_parent makes them. Context: no lock held. */
static void fork_serve(void)
{
	int ufds[FORK_SLOTS];
	pthread_mutex_lock(&fork_lock);
	unsigned n = fork_busy ? 0 : fork_take(ufds);
	pthread_mutex_unlock(&fork_lock);
	if (!n)
		return;
	pthread_mutex_lock(&engine.lock);
	for (unsigned i = 0; i < n; i++)
		do_fork(engine_self(), ufds[i]);
	pthread_mutex_unlock(&engine.lock);
}

/* fork_park - the main fault thread, asked to park: read this process's
 * userfaultfd until the fork is over, holding page faults and recording
 * the fork's userfaultfd. Context: main fault thread, no lock held. */
static void fork_park(void)
{
	pthread_mutex_lock(&fork_lock);
	if (!fork_req) {
		pthread_mutex_unlock(&fork_lock);
		return;
	}
	main_parked = true;
	pthread_cond_broadcast(&fork_cv);
	pthread_mutex_unlock(&fork_lock);
	int uffd = engine_self()->uffd;
	struct pollfd pfd[2] = {{.fd = kick_fd, .events = POLLIN},
				{.fd = uffd, .events = POLLIN}};
	while (fork_req) {
		if (poll(pfd, 2, -1) < 0)
			continue;
		kick_drain();
		struct uffd_msg msg;
		while (sys_read(uffd, &msg, sizeof(msg)) == (ssize_t)sizeof(msg)) {
			if (msg.event == UFFD_EVENT_FORK)
				fork_record((int)msg.arg.fork.ufd);
			else if (msg.event != UFFD_EVENT_PAGEFAULT)
				continue;
			else if (nr_held < HELD_MAX)
				held[nr_held++] = msg;
			else /* it faults again after the fork */
				uffd_wake(uffd, msg.arg.pagefault.address & ~(FM_PAGE_SIZE - 1),
					  FM_PAGE_SIZE);
		}
	}
	pthread_mutex_lock(&fork_lock);
	main_parked = false;
	pthread_cond_broadcast(&fork_cv);
	pthread_mutex_unlock(&fork_lock);
}

/* fault_fork_prepare - before a glibc fork (atfork_prepare, map_lock
 * held): park the main fault thread and stop the helper reading. */
void fault_fork_prepare(void)
{
	pthread_mutex_lock(&fork_lock);
	fork_busy = true;
	if (threads_running && uffd_fork_events) { /* else the fork waits for none */
		fork_req = true;
		fault_thread_kick();
		while (!main_parked || helper_reading)
			pthread_cond_wait(&fork_cv, &fork_lock);
	}
	pthread_mutex_unlock(&fork_lock);
}

/* fault_fork_parent - after a glibc fork, in the parent (map_lock still
 * held): unpark, and make the child's mm from the vmas as they are. */
void fault_fork_parent(void)
{
	int ufds[FORK_SLOTS];
	pthread_mutex_lock(&fork_lock);
	fork_req = false;
	fault_thread_kick();
	while (main_parked)
		pthread_cond_wait(&fork_cv, &fork_lock);
	unsigned n = fork_take(ufds);
	fork_busy = false;
	pthread_mutex_unlock(&fork_lock);
	pthread_mutex_lock(&engine.lock);
	for (unsigned i = 0; i < n; i++)
		do_fork(engine_self(), ufds[i]);
	pthread_mutex_unlock(&engine.lock);
}

/* fault_fork_child - in the child, whose engine is inert: forget the
 * parent's fork state (its threads are not here). */
void fault_fork_child(void)
{
	pthread_mutex_init(&fork_lock, NULL);
	pthread_cond_init(&fork_cv, NULL);
	pthread_cond_init(&landed_cv, NULL);
	atomic_store(&landing, 0);
	fork_req = false;
	fork_busy = main_parked = helper_reading = threads_running = false;
	nr_fork_ufd = nr_held = 0;
}

/* mm_reap_dead - forget the mms of processes that are gone. Only the fault
 * thread calls it: it alone holds mm pointers outside engine.lock, but for
 * those the helper thread has pinned, which wait for the next round. */
void mm_reap_dead(void)
{
	struct mm **pp = &engine.mms->next;
	while (*pp) {
		struct mm *mm = *pp;
		if (!mm->dead || mm->held || mm->pinned) {
			pp = &mm->next;
			continue;
		}
		*pp = mm->next;
		forget_waiters(mm);
		forget_misses(mm);
		mm_forget(mm);
	}
}

/* serve_message - serve one message read from mm's userfaultfd, reading
 * file data into buf. */
static void serve_message(struct mm *mm, const struct uffd_msg *msg, char *buf)
{
	if (msg->event == UFFD_EVENT_FORK && mm == engine_self()) {
		fork_record((int)msg->arg.fork.ufd);
		fork_serve();
		fault_thread_kick(); /* if atfork_parent took the slots already */
		return;
	}
	struct fm_trace t = {.result = NULL};
	if (trace_enabled() || mm_traced(mm)) {
		t.t_ns = now_ns();
		t.tid = (int)msg->arg.pagefault.feat.ptid;
	}
	pthread_mutex_lock(&engine.lock);
	current_mm = mm == engine_self() ? NULL : mm;
	if (msg->event == UFFD_EVENT_PAGEFAULT)
		do_fault(mm, msg, buf, &t);
	else if (msg->event == UFFD_EVENT_FORK) /* a child forked */
		do_fork(mm, (int)msg->arg.fork.ufd);
	if (t.result && mm_traced(mm))
		trace_mm_fault(mm, &t);
	current_mm = NULL;
	pthread_mutex_unlock(&engine.lock);
	if (t.result && trace_enabled()) {
		t.total_ns = now_ns() - t.t_ns;
		trace_fault(&t);
	}
}

/* handle_messages - read one message of mm's userfaultfd and serve it,
 * reading file data into buf. One at a time, so that the other fault thread
 * can take the next while this one waits for the disk.
 * Return: whether there was one. */
static bool handle_messages(struct mm *mm, char *buf)
{
	struct uffd_msg msg;
	if (sys_read(mm->uffd, &msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		return false;
	serve_message(mm, &msg, buf);
	return true;
}

/* serve_held - serve the faults read while parked for a fork. Context:
 * main fault thread, no lock held. */
static bool serve_held(char *buf)
{
	if (!nr_held)
		return false;
	for (unsigned i = 0; i < nr_held; i++)
		serve_message(engine_self(), &held[i], buf);
	nr_held = 0;
	return true;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* cpus_wanted - whether at least two threads of the machine wait for a CPU
 * (the running count of /proc/loadavg, "0.61 1.25 1.43 3/412 9876", which
 * counts this thread, above the CPUs plus one). A spin then keeps a CPU
 * from threads with work to do: in the daemon, client threads it has just
 * woken. One waiting thread is the common case of a thread just woken, and
 * stopping for it cost random reads of 2 threads 4-7%. docs/design.md,
 * "Life of one fault", step 11, has the measurements. */
static bool cpus_wanted(void)
{
	char text[128];
	ssize_t n = loadavg_fd < 0 ? -1 : sys_pread(loadavg_fd, text, sizeof(text) - 1, 0);
	if (n <= 0)
		return false;
	text[n] = '\0';
	const char *p = text;
	for (int field = 0; field < 3 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p && atol(p) > nr_cpus + 1;
}

/* spin - after serving a fault of mm, poll mm's userfaultfd without
 * sleeping for SPIN_NS: a program that misses once usually misses again
 * soon, and a thread that sleeps in poll() pays a wake-up on every fault
 * (ARCHITECTURE-NOTES: 26-37 us per miss blocking, 10-25 us spinning). In
 * the daemon, mm is the client that faulted, not the daemon's own (polling
 * that one made every client miss wait out the spin, then a wake-up).
 * It stops early when at least two threads of the machine wait for a CPU
 * (cpus_wanted). Only this thread reaps mms, so mm lives through the spin. */
static void spin(char *buf, struct mm *mm)
{
	uint64_t until = now_ns() + SPIN_NS, check = 0;
	for (uint64_t t; !stopping && (t = now_ns()) < until;) {
		if (t >= check) {
			if (cpus_wanted())
				break;
			check = t + SPIN_CHECK_NS;
		}
		if (fork_req) {
			fork_park();
			serve_held(buf);
		}
		bool reaped = misses_reap(false);
		if (handle_messages(mm, buf) || reaped)
			until = now_ns() + SPIN_NS;
	}
}

static char *thread_buffer(void)
{
	char *buf = aligned_alloc(FM_PAGE_SIZE, FM_CLUSTER_MAX * FM_PAGE_SIZE);
	if (!buf)
		abort(); /* at start-up: cannot serve faults */
	return buf;
}

/* fault_thread - the main fault thread: serves every mm (this process and
 * forked children), reaps dead children, and spins after a fault. */
static void *fault_thread(void *arg)
{
	(void)arg;
	main_fault_thread = true;
	io_read_init(MISS_MAX);
	char *buf = thread_buffer();
	struct pollfd *pfd = NULL;
	struct mm **mms = NULL;
	size_t cap = 0;
	thread_ready();
	while (!stopping) {
		if (fork_req)
			fork_park();
		serve_held(buf);
		fork_serve();
		pthread_mutex_lock(&engine.lock);
		mm_reap_dead();
		size_t n = 2;
		for (struct mm *mm = engine.mms; mm; mm = mm->next)
			n++;
		if (n > cap) {
			free(pfd);
			free(mms);
			cap = n * 2;
			pfd = calloc(cap, sizeof(*pfd));
			mms = calloc(cap, sizeof(*mms));
			if (!pfd || !mms)
				abort(); /* cannot serve faults any more */
		}
		pfd[0] = (struct pollfd){.fd = kick_fd, .events = POLLIN};
		/* Completions of the misses in flight; with MISS_MAX in
		 * flight, no new message is read until one ends. */
		pfd[1] = (struct pollfd){.fd = ring_reads ? io_read_fd() : -1, .events = POLLIN};
		n = 2;
		for (struct mm *mm = engine.mms; mm && nr_misses < MISS_MAX; mm = mm->next, n++) {
			mms[n] = mm;
			pfd[n] = (struct pollfd){.fd = mm->uffd, .events = POLLIN};
		}
		bool markers = poison_reap(0);
		if (nr_refusals && refusals_check())
			markers = true;
		int timeout = atomic_load(&nr_store_done) ? 0 : markers ? POISON_CHECK_MS : -1;
		pthread_mutex_unlock(&engine.lock);
		if (poll(pfd, n, timeout) < 0)
			continue;
		if (pfd[0].revents & POLLIN)
			kick_drain();
		bool served = misses_reap(false);
		struct mm *last = engine_self();
		for (size_t i = 2; i < n; i++) {
			if ((pfd[i].revents & POLLIN) && handle_messages(mms[i], buf)) {
				served = true;
				last = mms[i];
			}
			if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
				pthread_mutex_lock(&engine.lock);
				mms[i]->dead = mms[i] != engine.mms;
				pthread_mutex_unlock(&engine.lock);
			}
		}
		if (served)
			spin(buf, last);
	}
	while (nr_misses) /* stopping: finish what is in flight */
		misses_reap(true);
	io_read_exit();
	for (struct miss *m = misses; m < misses + MISS_MAX; m++) {
		free(m->buf);
		m->buf = NULL;
	}
	free(pfd);
	free(mms);
	free(buf);
	return NULL;
}

/* helper_read_begin - whether the helper thread may read a message now
 * (not while a fork is in progress: then only the parked main fault thread
 * reads); if so, fault_fork_prepare waits until helper_read_end. */
static bool helper_read_begin(void)
{
	pthread_mutex_lock(&fork_lock);
	bool ok = !fork_req;
	helper_reading = ok;
	pthread_mutex_unlock(&fork_lock);
	return ok;
}

static void helper_read_end(void)
{
	pthread_mutex_lock(&fork_lock);
	helper_reading = false;
	pthread_cond_broadcast(&fork_cv);
	pthread_mutex_unlock(&fork_lock);
}

/* helper_pin - under engine.lock, pin up to max live mms (this process,
 * its forked children; in the daemon, its clients) into mms, their
 * userfaultfds into pfd. Return: how many. */
#define HELPER_MMS 64
static size_t helper_pin(struct mm **mms, struct pollfd *pfd, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&engine.lock);
	for (struct mm *mm = engine.mms; mm && n < max; mm = mm->next) {
		if (mm->dead || mm->uffd < 0)
			continue;
		mm->pinned++;
		mms[n] = mm;
		pfd[n++] = (struct pollfd){.fd = mm->uffd, .events = POLLIN};
	}
	pthread_mutex_unlock(&engine.lock);
	return n;
}

/* helper_unpin - release what helper_pin pinned; wake the main thread to
 * reap those that died meanwhile. */
static void helper_unpin(struct mm **mms, size_t n)
{
	bool dead = false;
	pthread_mutex_lock(&engine.lock);
	for (size_t i = 0; i < n; i++) {
		mms[i]->pinned--;
		dead |= mms[i]->dead;
	}
	pthread_mutex_unlock(&engine.lock);
	if (dead)
		fault_thread_kick();
}

/* io_fault_thread - the second fault thread: serves faults while the main
 * one waits for the disk (the file read of a miss is done without
 * engine.lock), so misses of several program threads overlap: this
 * process's and its children's, and in the daemon every client's. It
 * never spins: two spinning threads would take both CPUs from the program. */
static void *io_fault_thread(void *arg)
{
	(void)arg;
	char *buf = thread_buffer();
	struct mm *mms[HELPER_MMS];
	struct pollfd pfd[HELPER_MMS];
	thread_ready();
	while (!stopping) {
		pthread_mutex_lock(&helper_lock);
		while (!main_in_io && !stopping)
			pthread_cond_wait(&helper_cv, &helper_lock);
		pthread_mutex_unlock(&helper_lock);
		size_t n = helper_pin(mms, pfd, HELPER_MMS);
		bool more = false;
		if (poll(pfd, n, 1) > 0) {
			for (size_t i = 0; i < n; i++) {
				if (!(pfd[i].revents & POLLIN))
					continue;
				more = true;
				while (more && helper_read_begin()) {
					bool overlap = main_reading();
					more = handle_messages(mms[i], buf);
					if (more && overlap) /* misses overlap */
						atomic_store(&store_overlap, OVERLAP_MISSES);
					helper_read_end();
				}
			}
		}
		helper_unpin(mms, n);
		if (more) /* a fork is in progress: the main thread reads */
			poll(NULL, 0, 1);
	}
	free(buf);
	return NULL;
}

/* stop_threads - stop and join the fault threads and the first nr_ra
 * ra_threads. */
static void stop_threads(int nr_ra)
{
	pthread_mutex_lock(&fork_lock);
	threads_running = false;
	pthread_mutex_unlock(&fork_lock);
	stopping = 1;
	fault_thread_kick();
	pthread_mutex_lock(&helper_lock);
	pthread_cond_broadcast(&helper_cv);
	pthread_mutex_unlock(&helper_lock);
	pthread_join(fault_thread_id, NULL);
	pthread_join(io_thread_id, NULL);
	for (int i = 0; i < nr_ra; i++) {
		pthread_mutex_lock(&engine.lock);
		pthread_cond_broadcast(&ra_cv);
		pthread_mutex_unlock(&engine.lock);
		pthread_join(ra_thread_id[i], NULL);
	}
	stopping = 0;
}

/* fault_thread_start - start serving faults. Return: 0 or -errno. */
int fault_thread_start(void)
{
	kick_fd = fd_keep(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (kick_fd < 0)
		return -errno;
	if (loadavg_fd < 0) /* none (no /proc): spins as long as ever */
		loadavg_fd = fd_keep(sys_openat(AT_FDCWD, "/proc/loadavg", O_RDONLY | O_CLOEXEC, 0));
	nr_cpus = sysconf(_SC_NPROCESSORS_ONLN);
	sigset_t all, old;
	sigfillset(&all);
	/* The thread never runs the program's signal handlers. */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&fault_thread_id, NULL, fault_thread, NULL);
	if (!err && pthread_create(&io_thread_id, NULL, io_fault_thread, NULL)) {
		stopping = 1;
		fault_thread_kick();
		pthread_join(fault_thread_id, NULL);
		stopping = 0;
		err = EAGAIN;
	}
	for (int i = 0; i < RA_THREADS && !err; i++)
		if (pthread_create(&ra_thread_id[i], NULL, ra_thread, NULL)) {
			stop_threads(i);
			err = EAGAIN;
		}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		nr_started = 0;
		sys_close(kick_fd);
		kick_fd = -1;
		return -err;
	}
	/* Started means started: a fork that comes right after the first
	 * fm_mmap meets threads in their loops, not allocating their
	 * buffers. */
	pthread_mutex_lock(&start_lock);
	while (nr_started < 2 + RA_THREADS)
		pthread_cond_wait(&start_cv, &start_lock);
	nr_started = 0;
	pthread_mutex_unlock(&start_lock);
	pthread_mutex_lock(&fork_lock);
	threads_running = true;
	pthread_mutex_unlock(&fork_lock);
	return 0;
}

void fault_thread_kick(void)
{
	uint64_t one = 1;
	if (write(kick_fd, &one, sizeof(one)) < 0) { /* counter full: woken anyway */
	}
}

void fault_thread_stop(void)
{
	stop_threads(RA_THREADS);
	sys_close(kick_fd);
	kick_fd = -1;
}
