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
 * address_space (reported by the next msync) and counts it. All functions
 * run under engine.lock.
 */
#include "internal.h"

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

/*
 * protect_range - write-protect pages [index, index+count) of as in every
 * vma registered for write-protect, in every mm (the reverse map walk).
 * Return: 0, or -errno if some vma could not be protected.
 */
static int protect_range(struct address_space *as, uint64_t index, uint64_t count)
{
	int ret = 0;
	for (struct vma *v = as->i_mmap; v; v = v->i_mmap_next) {
		if (!v->wp || v->mm->dead)
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

/* write_run - write pages [index, index+count), resident and dirty, to the
 * file; mark them clean on success. Return: 0 or -errno. */
static int write_run(struct address_space *as, uint64_t index, uint64_t count)
{
	int err = protect_range(as, index, count);
	if (err)
		return err;
	uint64_t off = index << FM_PAGE_SHIFT;
	uint64_t end = (index + count) << FM_PAGE_SHIFT;
	if (end > as->i_size) {
		/* Bytes past EOF never reach the file; like the kernel's
		 * block_write_full_page, zero them in the cache as well. */
		end = as->i_size;
		if (end & (FM_PAGE_SIZE - 1))
			memset(as->direct_view + end, 0,
			       FM_PAGE_SIZE - (end & (FM_PAGE_SIZE - 1)));
	}
	while (off < end) {
		ssize_t n = as_write(as, as->direct_view + off, end - off, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			if (!as->wb_err)
				as->wb_err = err;
			engine.st.writeback_errors += count;
			return err;
		}
		off += (uint64_t)n;
	}
	for (uint64_t i = index; i < index + count; i++) {
		struct fm_frame *f = frame_get(as_find_frame(as, i));
		f->flags &= (uint8_t)~PG_DIRTY;
		as->nr_dirty--;
	}
	engine.st.pages_written += count;
	return 0;
}

#define WRITEBACK_MAX_RUN 256

/*
 * writeback_range - write back every dirty page of as in [start, end), in
 * runs of consecutive pages.
 * Return: 0, or the first error (the pages that failed stay dirty).
 */
int writeback_range(struct address_space *as, uint64_t start, uint64_t end)
{
	int ret = 0;
	uint64_t run = 0, run_start = 0;
	if (end > as->nr_pages)
		end = as->nr_pages;
	for (uint64_t i = start; i <= end && as->nr_dirty; i++) {
		bool dirty = false;
		if (i < end) {
			uint32_t *chunk = as->page_tree[i >> TREE_CHUNK_SHIFT];
			if (!chunk) { /* nothing resident in this chunk */
				uint64_t next = ((i >> TREE_CHUNK_SHIFT) + 1) << TREE_CHUNK_SHIFT;
				if (run) {
					int err = write_run(as, run_start, run);
					if (err && !ret)
						ret = err;
					run = 0;
				}
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
		if (run) {
			int err = write_run(as, run_start, run);
			if (err && !ret)
				ret = err;
			run = 0;
		}
		if (dirty) {
			run_start = i;
			run = 1;
		}
	}
	if (run) {
		int err = write_run(as, run_start, run);
		if (err && !ret)
			ret = err;
	}
	return ret;
}

/* writeback_all - write back every file. Return: 0 or the first error. */
int writeback_all(void)
{
	int ret = 0;
	for (struct address_space *as = engine.mappings; as; as = as->next) {
		int err = writeback_range(as, 0, as->nr_pages);
		if (err && !ret)
			ret = err;
	}
	return ret;
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
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
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
