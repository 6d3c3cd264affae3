/*
 * writeback.c - writing dirty pages of shared mappings back to the file.
 *
 * A page of a shared mapping is clean until its first write: every clean
 * page is write-protected (userfaultfd WP) in every shared writable vma that
 * maps it, so that first write raises a WP fault, which marks the page dirty
 * and unprotects it in that vma. Write-back reverses this: it protects the
 * page again in every vma (writers now block in a WP fault), writes it from
 * the engine's direct view, and marks it clean. A write that comes after the
 * protection dirties the page again, so no write is ever lost, and a page is
 * evicted only when clean and protected.
 *
 * A failed write leaves the pages dirty, records the error on the
 * address_space (errseq.h: reported once to every opener, by msync and
 * fsync) and counts it. All functions run under engine.lock.
 */
#include "internal.h"
#include "daemon/rescue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void page_mark_dirty(struct address_space *as, uint32_t nr)
{
	struct fm_frame *f = frame_get(nr);
	if (!(f->flags & PG_DIRTY)) {
		f->flags |= PG_DIRTY;
		as->nr_dirty++;
	}
}

#define RESERVE_PAGES 16 /* the aligned block page_mkwrite reserves at once */

/* reserve - reserve the file's blocks for pages [lo, hi) of as (past EOF:
 * nothing). Return: 0, or -ENOSPC/-EDQUOT (the file system is full). A
 * file system without fallocate, or any other failure, reserves nothing,
 * as the kernel's page_mkwrite does there: write-back will tell. */
static int reserve(struct address_space *as, uint64_t lo, uint64_t hi)
{
	uint64_t off = lo << FM_PAGE_SHIFT;
	uint64_t end = hi << FM_PAGE_SHIFT;
	if (end > as->i_size)
		end = as->i_size;
	if (off >= end)
		return 0;
	as_change_begin(as); /* it changes ctime */
	int err = as->store->ops->reserve(as->store, off, end - off);
	as_change_end(as);
	if (err == -ENOSPC || err == -EDQUOT)
		return err;
	if (err == -EOPNOTSUPP)
		as->no_reserve = true;
	return 0;
}

/* reservable - page index of as is resident, clean and not reserved. */
static bool reservable(struct address_space *as, uint64_t index)
{
	uint32_t nr = as_find_frame(as, index);
	return nr != FM_NIL &&
	       !(frame_get(nr)->flags & (PG_DIRTY | PG_LOCKED | PG_RESERVED));
}

/*
 * page_mkwrite - frame nr of as, clean, is about to be written through a
 * shared view: make sure the file has room for it, as the kernel's
 * page_mkwrite does, so that a full file system raises SIGBUS at the write
 * and never loses the data later, at write-back. The blocks are reserved
 * with fallocate(FALLOC_FL_KEEP_SIZE), for the run of resident, clean,
 * unreserved pages around the page in its RESERVE_PAGES block: one system
 * call for the first writes to a whole cluster. Where the block does not
 * fit, the page alone is tried. Reserved pages are marked PG_RESERVED
 * (until evicted, or punched by fm_fallocate).
 * Return: 0, or -ENOSPC/-EDQUOT: the page stays clean and protected, and
 * the writer gets SIGBUS. Context: engine.lock.
 */
int page_mkwrite(struct address_space *as, uint32_t nr)
{
	struct fm_frame *f = frame_get(nr);
	if ((f->flags & (PG_DIRTY | PG_RESERVED)) || as->no_reserve || !as->store->writable ||
	    !as->store->ops->reserve)
		return 0;
	uint64_t index = f->index;
	uint64_t first = index & ~(uint64_t)(RESERVE_PAGES - 1);
	uint64_t last = first + RESERVE_PAGES < as->nr_pages ? first + RESERVE_PAGES
							       : as->nr_pages;
	uint64_t lo = index, hi = index + 1;
	while (lo > first && reservable(as, lo - 1))
		lo--;
	while (hi < last && reservable(as, hi))
		hi++;
	int err = reserve(as, lo, hi);
	if (err && hi - lo > 1) {
		lo = index;
		hi = index + 1;
		err = reserve(as, lo, hi);
	}
	if (err)
		return err;
	for (uint64_t i = lo; i < hi; i++)
		frame_get(as_find_frame(as, i))->flags |= PG_RESERVED;
	return 0;
}

/*
 * protect_range - write-protect pages [index, index+count) of as in every
 * vma registered for write-protect, in every mm (the reverse map walk).
 * Return: 0, or -errno if some vma could not be protected.
 */
static int protect_range(struct address_space *as, uint64_t index, uint64_t count)
{
	int ret = 0;
	for (struct vma *v = as->i_mmap; v; v = v->i_mmap_next) {
		/* A forked child's views before it adopts them (uffd -1, in
		 * the daemon) are not registered yet: it registers and
		 * protects them whole itself. */
		if (!v->wp || v->mm->dead || v->mm->uffd < 0)
			continue;
		uint64_t vfirst = v->vm_pgoff;
		uint64_t vlast = v->vm_pgoff + ((v->vm_end - v->vm_start) >> FM_PAGE_SHIFT);
		uint64_t lo = index > vfirst ? index : vfirst;
		uint64_t hi = index + count < vlast ? index + count : vlast;
		if (lo >= hi)
			continue;
		uintptr_t addr = v->vm_start + ((lo - vfirst) << FM_PAGE_SHIFT);
		int err = uffd_writeprotect(v->mm->uffd, addr,
					    (hi - lo) << FM_PAGE_SHIFT, true);
		if (err == -ESRCH)
			v->mm->dead = true; /* its process exited */
		else if (err && err != -ENOENT && !ret)
			ret = err;
	}
	return ret;
}

void writeback_protect(struct address_space *as, uint64_t index, uint64_t count)
{
	(void)protect_range(as, index, count);
}

/* flush - write the runs queued in b, all at once (io_write), and mark
 * the pages of each run that was written clean. A run that failed stays
 * dirty; its error is kept on the address_space for msync and in b->err. */
static void flush(struct wb_batch *b)
{
	for (size_t r = 0; r < b->n; r++) /* what faultmap writes is its own */
		if (!r || b->as[r] != b->as[r - 1])
			as_change_begin(b->as[r]);
	store_write(b->req, b->n);
	for (size_t r = 0; r < b->n; r++)
		if (!r || b->as[r] != b->as[r - 1])
			as_change_end(b->as[r]);
	for (size_t r = 0; r < b->n; r++) {
		struct address_space *as = b->as[r];
		as_file_changed(as);
		int err = b->req[r].err;
		if (err) {
			errseq_set(&as->wb_err, err);
			if (!b->err)
				b->err = err;
			count_event(writeback_errors, b->count[r]);
			reclaim_backoff(as, err);
			continue;
		}
		for (uint64_t i = b->index[r]; i < b->index[r] + b->count[r]; i++) {
			struct fm_frame *f = frame_get(as_find_frame(as, i));
			f->flags &= (uint8_t)~PG_DIRTY;
			as->nr_dirty--;
		}
		count_event(pages_written, b->count[r]);
		as->st.pages_written += b->count[r];
		reclaim_backoff_end(as);
		if (!as->nr_dirty) {
			as->wb_reported = false;
			rescue_clean(as); /* the daemon's copy is not needed now */
		}
	}
	for (size_t r = 0; r < b->n; r++) /* a copy left: as the pages are now */
		if (!r || b->as[r] != b->as[r - 1])
			rescue_refresh(b->as[r]);
	b->n = 0;
}

/* queue_run - queue pages [index, index+count), resident and dirty, for
 * writing: protect them in every vma first (from now on a write to them
 * faults, and makes them dirty again after this write-back). */
static void queue_run(struct wb_batch *b, struct address_space *as, uint64_t index,
		      uint64_t count)
{
	int err = protect_range(as, index, count);
	if (err) {
		if (!b->err)
			b->err = err;
		return;
	}
	uint64_t off = index << FM_PAGE_SHIFT;
	uint64_t end = (index + count) << FM_PAGE_SHIFT;
	if (end > as->i_size) {
		/* Bytes past EOF never reach the file; like the kernel's
		 * block_write_full_page, zero them in the cache as well. */
		end = as->i_size > off ? as->i_size : off;
		if (end & (FM_PAGE_SIZE - 1))
			memset(as->direct_view + end, 0,
			       FM_PAGE_SIZE - (end & (FM_PAGE_SIZE - 1)));
	}
	if (b->n == WB_BATCH)
		flush(b);
	b->req[b->n] = (struct fm_store_io){.store = as->store, .buf = as->direct_view + off,
					    .off = off, .len = end - off};
	b->as[b->n] = as;
	b->index[b->n] = index;
	b->count[b->n] = count;
	b->n++;
}

#define WRITEBACK_MAX_RUN 256

void writeback_begin(struct wb_batch *b)
{
	b->n = 0;
	b->err = 0;
}

/* writeback_add - queue every dirty page of as in [start, end) in b, in
 * runs of consecutive pages. */
void writeback_add(struct wb_batch *b, struct address_space *as, uint64_t start,
		   uint64_t end)
{
	uint64_t run = 0, run_start = 0;
	if (end > as->nr_pages)
		end = as->nr_pages;
	for (uint64_t i = start; i <= end && as->nr_dirty; i++) {
		bool dirty = false;
		if (i < end) {
			uint32_t *chunk = as->page_tree[i >> TREE_CHUNK_SHIFT];
			if (!chunk) { /* nothing resident in this chunk */
				uint64_t next = ((i >> TREE_CHUNK_SHIFT) + 1) << TREE_CHUNK_SHIFT;
				if (run)
					queue_run(b, as, run_start, run);
				run = 0;
				i = (next < end ? next : end) - 1;
				continue;
			}
			uint32_t nr = as_find_frame(as, i);
			dirty = nr != FM_NIL && (frame_get(nr)->flags & PG_DIRTY);
		}
		if (dirty && run < WRITEBACK_MAX_RUN) {
			if (!run)
				run_start = i;
			run++;
			continue;
		}
		if (run)
			queue_run(b, as, run_start, run);
		run = 0;
		if (dirty) {
			run_start = i;
			run = 1;
		}
	}
	if (run)
		queue_run(b, as, run_start, run);
}

/* writeback_finish - write what b still holds. Return: 0, or the first
 * error of the whole batch (the pages that failed stay dirty). */
int writeback_finish(struct wb_batch *b)
{
	if (b->n)
		flush(b);
	return b->err;
}

/*
 * writeback_range - write back every dirty page of as in [start, end).
 * Return: 0, or the first error (the pages that failed stay dirty).
 */
int writeback_range(struct address_space *as, uint64_t start, uint64_t end)
{
	struct wb_batch b;
	writeback_begin(&b);
	writeback_add(&b, as, start, end);
	return writeback_finish(&b);
}

/* writeback_all - write back every file. Return: 0 or the first error. */
int writeback_all(void)
{
	struct wb_batch b;
	writeback_begin(&b);
	for (struct address_space *as = engine.mappings; as; as = as->next)
		writeback_add(&b, as, 0, as->nr_pages);
	return writeback_finish(&b);
}

/* dirty_bytes - the bytes of the file that the dirty pages of as hold
 * (the last page's part past EOF is not the file's). */
static uint64_t dirty_bytes(struct address_space *as)
{
	uint64_t bytes = as->nr_dirty << FM_PAGE_SHIFT;
	uint64_t tail = as->i_size & (FM_PAGE_SIZE - 1);
	uint32_t nr = tail ? as_find_frame(as, as->i_size >> FM_PAGE_SHIFT) : FM_NIL;
	if (nr != FM_NIL && (frame_get(nr)->flags & PG_DIRTY))
		bytes -= FM_PAGE_SIZE - tail;
	return bytes;
}

/* The buffer this thread's reports are copied to (writeback_capture). */
static _Thread_local char *capture;
static _Thread_local size_t capture_size;

void writeback_capture(char *buf, size_t size)
{
	capture = size ? buf : NULL;
	capture_size = size;
	if (capture)
		capture[0] = '\0';
}

/*
 * writeback_report - say on stderr that the dirty pages of as could not be
 * written back (err, or the last write-back error): a page is never dropped
 * unsaid. kept: they stay in the cache, to be written again (said once,
 * until the file is clean again); else the process is ending and they are
 * lost. While this thread captures (writeback_capture), the line goes to
 * the capture too, said once or not: the daemon's client hears of it.
 * Context: engine.lock.
 */
void writeback_report(struct address_space *as, int err, bool kept)
{
	bool said = kept && as->wb_reported;
	if (!as->nr_dirty || (said && !capture))
		return;
	if (!err)
		err = as->wb_last_err ? as->wb_last_err : -EIO;
	char line[PATH_MAX + 256];
	snprintf(line, sizeof(line), "faultmap: %llu bytes of %s could not be written back: %s%s\n",
		 (unsigned long long)dirty_bytes(as), as->path ? as->path : "a file",
		 strerror(-err),
		 kept ? " (kept in memory: written again by the next msync or fsync of "
			"the file, and at exit)"
		      : "");
	if (!said)
		fputs(line, stderr);
	if (capture) {
		size_t used = strlen(capture);
		snprintf(capture + used, capture_size - used, "%s", line);
	}
	as->wb_reported = kept;
}

/*
 * writeback_check_protected - the sanity check of this file's invariant:
 * every clean resident page is write-protected (uffd-wp, per
 * /proc/self/pagemap) in every write-tracked vma of this process that maps
 * it. For tests; prints the first page that is not.
 * Return: whether the invariant holds. Context: engine.lock.
 */
bool writeback_check_protected(void)
{
	int fd = sys_openat(AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return true; /* cannot tell */
	bool ok = true;
	for (struct vma *v = engine_self()->vmas; v && ok; v = v->mm_next) {
		if (!v->wp)
			continue;
		for (uintptr_t a = v->vm_start; a < v->vm_end && ok; a += FM_PAGE_SIZE) {
			uint64_t index = vma_index(v, a);
			uint32_t nr = index < v->mapping->nr_pages ? as_find_frame(v->mapping, index)
								   : FM_NIL;
			if (nr == FM_NIL || (frame_get(nr)->flags & (PG_DIRTY | PG_LOCKED)))
				continue;
			uint64_t e = 0;
			if (pread(fd, &e, sizeof(e), (off_t)(a / FM_PAGE_SIZE * 8)) != sizeof(e))
				continue;
			if (!(e & (1ull << 57))) {
				fprintf(stderr, "faultmap: clean page %llu of %s is writable at %#lx "
						"(vma %#lx-%#lx pgoff %llu, pagemap %#llx)\n",
					(unsigned long long)index, v->mapping->path ? v->mapping->path : "?",
					(unsigned long)a, (unsigned long)v->vm_start,
					(unsigned long)v->vm_end, (unsigned long long)v->vm_pgoff,
					(unsigned long long)e);
				ok = false;
			}
		}
	}
	sys_close(fd);
	return ok;
}
