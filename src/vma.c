/*
 * vma.c - the mappings of a process (mm) and their descriptors (vma).
 *
 * An mm keeps its vmas in a list sorted by address; each vma is also on its
 * file's i_mmap list, the reverse map. Splitting follows the kernel: a vma
 * cut at addr becomes two with the same file and adjusted vm_pgoff. All
 * functions run under engine.lock.
 */
#include "internal.h"

#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* vma_find - the vma containing addr, or NULL. */
struct vma *vma_find(struct mm *mm, uintptr_t addr)
{
	for (struct vma *v = mm->vmas; v && v->vm_start <= addr; v = v->mm_next)
		if (addr < v->vm_end)
			return v;
	return NULL;
}

static void mm_link(struct mm *mm, struct vma *vma)
{
	struct vma **pp = &mm->vmas;
	while (*pp && (*pp)->vm_start < vma->vm_start)
		pp = &(*pp)->mm_next;
	vma->mm_next = *pp;
	*pp = vma;
	vma->i_mmap_next = vma->mapping->i_mmap;
	vma->mapping->i_mmap = vma;
}

struct vma *vma_new(struct mm *mm, struct address_space *as, uintptr_t start,
		    uintptr_t end, uint64_t pgoff, bool shared, bool may_write)
{
	struct vma *vma = fm_alloc(sizeof(*vma));
	if (!vma)
		return NULL;
	*vma = (struct vma){
		.vm_start = start,
		.vm_end = end,
		.vm_pgoff = pgoff,
		.shared = shared,
		.may_write = may_write,
		.ra = {.next = UINT64_MAX, .size = 4, .mode = RA_NORMAL},
		.wb_since = errseq_sample(&as->wb_err),
		.mm = mm,
		.mapping = as,
	};
	mm_link(mm, vma);
	return vma;
}

/* vma_free - unlink vma from its mm and from its file's i_mmap; free it.
 * The caller unmaps the range and calls as_put_if_unused(). */
void vma_free(struct vma *vma)
{
	struct vma **pp = &vma->mm->vmas;
	while (*pp != vma)
		pp = &(*pp)->mm_next;
	*pp = vma->mm_next;
	pp = &vma->mapping->i_mmap;
	while (*pp != vma)
		pp = &(*pp)->i_mmap_next;
	*pp = vma->i_mmap_next;
	fm_free(vma);
}

/* vma_split - cut vma at addr (strictly inside it) into [start, addr) and a
 * new vma [addr, end). Return: 0 or -ENOMEM. */
int vma_split(struct vma *vma, uintptr_t addr)
{
	struct vma *tail = vma_new(vma->mm, vma->mapping, addr, vma->vm_end,
				   vma_index(vma, addr), vma->shared,
				   vma->may_write);
	if (!tail)
		return -ENOMEM;
	tail->ra = vma->ra;
	tail->wp = vma->wp;
	tail->inline_faults = vma->inline_faults;
	tail->wb_since = vma->wb_since;
	vma->vm_end = addr;
	return 0;
}

/* vma_move - the kernel moved vma to start (mremap): follow it, keeping the
 * list sorted. The caller makes sure nothing else is recorded there. */
void vma_move(struct vma *vma, uintptr_t start)
{
	struct vma **pp = &vma->mm->vmas;
	while (*pp != vma)
		pp = &(*pp)->mm_next;
	*pp = vma->mm_next;
	vma->vm_end = start + (vma->vm_end - vma->vm_start);
	vma->vm_start = start;
	pp = &vma->mm->vmas;
	while (*pp && (*pp)->vm_start < start)
		pp = &(*pp)->mm_next;
	vma->mm_next = *pp;
	*pp = vma;
}

/* vma_merge_range - join the adjacent vmas in [start, end) that the kernel
 * may hold as one (same file, contiguous offsets, same kind): our splits
 * follow every call, the kernel merges back. */
void vma_merge_range(struct mm *mm, uintptr_t start, uintptr_t end)
{
	struct vma *v = vma_find(mm, start);
	while (v && v->mm_next && v->vm_end < end) {
		struct vma *n = v->mm_next;
		if (n->vm_start != v->vm_end || n->mapping != v->mapping ||
		    n->vm_pgoff != vma_index(v, v->vm_end) || n->shared != v->shared ||
		    n->may_write != v->may_write || n->wp != v->wp) {
			v = n;
			continue;
		}
		v->vm_end = n->vm_end;
		vma_free(n);
	}
}

/* vma_carve - split the vmas straddling start or end so that every vma
 * overlapping [start, end) lies wholly inside it. Return: 0 or -ENOMEM. */
int vma_carve(struct mm *mm, uintptr_t start, uintptr_t end)
{
	struct vma *v = vma_find(mm, start);
	if (v && v->vm_start < start) {
		int err = vma_split(v, start);
		if (err)
			return err;
	}
	v = vma_find(mm, end - 1);
	if (v && v->vm_end > end)
		return vma_split(v, end);
	return 0;
}

/* vma_range_covered - whether faultmap vmas cover all of [start, end). */
bool vma_range_covered(struct mm *mm, uintptr_t start, uintptr_t end)
{
	uintptr_t at = start;
	for (struct vma *v = mm->vmas; v && at < end; v = v->mm_next) {
		if (v->vm_end <= at)
			continue;
		if (v->vm_start > at)
			return false;
		at = v->vm_end;
	}
	return at >= end;
}

struct mm *mm_new(int uffd)
{
	struct mm *mm = fm_alloc(sizeof(*mm));
	if (mm) {
		mm->uffd = uffd;
		mm->notify = -1;
		atomic_init(&mm->trace_fd, -1);
	}
	return mm;
}

/* mm_dup - the mm of a forked child: the parent's vmas, served through the
 * child's userfaultfd. Return: the mm, or NULL. */
struct mm *mm_dup(struct mm *parent, int uffd)
{
	struct mm *mm = mm_new(uffd);
	if (!mm)
		return NULL;
	for (struct vma *v = parent->vmas; v; v = v->mm_next) {
		if (v->inline_faults) /* the child maps the file itself */
			continue;
		struct vma *c = vma_new(mm, v->mapping, v->vm_start, v->vm_end,
					v->vm_pgoff, v->shared, v->may_write);
		if (!c) {
			mm_destroy(mm);
			return NULL;
		}
		c->ra = v->ra;
		c->wp = v->wp;
		c->wb_since = v->wb_since;
	}
	return mm;
}

/* mm_alive - whether the process of mm still exists. Poll never reports a
 * dead mm's userfaultfd; an ioctl that needs the mm answers -ESRCH. The probe
 * write-protects one page, which is always safe: a write there takes a WP
 * fault, which marks the page dirty. */
bool mm_alive(struct mm *mm)
{
	if (mm->dead || mm == engine_self())
		return !mm->dead;
	if (mm->vmas && uffd_writeprotect(mm->uffd, mm->vmas->vm_start, FM_PAGE_SIZE,
					  true) == -ESRCH)
		mm->dead = true;
	return !mm->dead;
}

/* mm_destroy - forget an mm and its vmas; close its userfaultfd. The caller
 * unlinks it from engine.mms and releases files left unused. */
void mm_destroy(struct mm *mm)
{
	while (mm->vmas)
		vma_free(mm->vmas);
	if (mm->uffd >= 0)
		sys_close(mm->uffd);
	if (mm->notify >= 0)
		sys_close(mm->notify);
	if (atomic_load(&mm->trace_fd) >= 0)
		sys_close(atomic_load(&mm->trace_fd));
	fm_free(mm);
}

/* mm_forget - destroy mm (unlinked from engine.mms, or never linked) and
 * release the files it alone kept (as_put_if_unused: the last mapping of
 * a file writes it back). Context: engine.lock. */
void mm_forget(struct mm *mm)
{
	struct address_space **seen = NULL;
	size_t n = 0;
	for (struct vma *v = mm->vmas; v; v = v->mm_next) {
		struct address_space **s = fm_realloc(seen, (n + 1) * sizeof(*s));
		if (!s)
			break;
		seen = s;
		seen[n++] = v->mapping;
	}
	mm_destroy(mm);
	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= seen[j] == seen[i];
		if (!dup)
			as_put_if_unused(seen[i]);
	}
	fm_free(seen);
}

/* maps_next - the next of the kernel's vmas (this process's) in
 * /proc/self/maps, in address order: its bounds and protection.
 * Return: whether there was one. */
static bool maps_next(FILE *f, uintptr_t *lo, uintptr_t *hi, int *prot)
{
	char line[512], perms[8];
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s", lo, hi, perms) == 3) {
			*prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0);
			return true;
		}
	}
	return false;
}

/* kernel_vma_from - the first of the kernel's vmas (this process's) that
 * ends after addr: its bounds in *lo and *hi (both 0 if none).
 * Return: its protection (PROT_NONE if none). */
int kernel_vma_from(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
	FILE *f = fopen("/proc/self/maps", "re");
	uintptr_t l, h;
	int prot = PROT_NONE, p;
	*lo = *hi = 0;
	while (maps_next(f, &l, &h, &p)) {
		if (h > addr) {
			*lo = l;
			*hi = h;
			prot = p;
			break;
		}
	}
	if (f)
		fclose(f);
	return prot;
}

/* kernel_vma_at - the kernel's vma (this process's) that holds addr (the
 * records do not follow its splits by protection or hint): its end in
 * *end (0 if none holds addr). Return: its protection; PROT_NONE if no
 * vma holds addr. */
int kernel_vma_at(uintptr_t addr, uintptr_t *end)
{
	uintptr_t lo;
	int prot = kernel_vma_from(addr, &lo, end);
	if (lo > addr) {
		*end = 0;
		return PROT_NONE;
	}
	return prot;
}

/* kernel_holes - call forget(a, b, arg) for each stretch [a, b) of
 * [lo, hi) that the kernel maps nothing in, in one pass over
 * /proc/self/maps: where a failed MAP_FIXED mmap left a hole, as Linux may
 * (the old mappings were unmapped before the file refused the new one). A
 * range the kernel refuses before it unmaps anything (unaligned, past the
 * user address space) has no such hole. Return: the first failure of
 * forget, or 0. */
int kernel_holes(uintptr_t lo, uintptr_t hi, int (*forget)(uintptr_t, uintptr_t, void *),
		 void *arg)
{
	if ((lo & (FM_PAGE_SIZE - 1)) || hi <= lo || hi > FM_TASK_SIZE)
		return 0;
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return 0;
	uintptr_t at = lo, vlo, vhi;
	int prot, err = 0;
	while (!err && at < hi && maps_next(f, &vlo, &vhi, &prot)) {
		if (vhi <= at)
			continue;
		if (vlo > at)
			err = forget(at, vlo < hi ? vlo : hi, arg);
		at = vhi;
	}
	if (!err && at < hi)
		err = forget(at, hi, arg);
	fclose(f);
	return err;
}

/* own_copy - whether the page at addr is this process's private copy
 * (anonymous, present or swapped), from /proc/self/pagemap (fd pm).
 * Return: 1, 0, or -1 if pagemap cannot tell. */
static int own_copy(int pm, uintptr_t addr)
{
	uint64_t e;
	off_t off = (off_t)((addr >> FM_PAGE_SHIFT) * sizeof(e));
	if (pm < 0 || pread(pm, &e, sizeof(e), off) != (ssize_t)sizeof(e))
		return -1;
	bool present = e >> 63 & 1, swapped = e >> 62 & 1, file = e >> 61 & 1;
	return (present && !file) || swapped;
}

/* map_file - map [start, end) of v by the kernel, from the file itself. A
 * range that cannot be mapped so is made inaccessible, never left on the
 * memfd. */
static void map_file(const struct vma *v, uintptr_t start, uintptr_t end, int prot)
{
	if (prot < 0) {
		sys_mmap((void *)start, end - start, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		return;
	}
	const struct address_space *as = v->mapping;
	int fd = file_store_fd(as->store, v->shared);
	if (fd < 0)
		fd = file_store_fd(as->store, false);
	off_t off = (off_t)((v->vm_pgoff << FM_PAGE_SHIFT) + (start - v->vm_start));
	int flags = (v->shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED;
	if (sys_mmap((void *)start, end - start, prot, flags, fd, off) == MAP_FAILED)
		sys_mmap((void *)start, end - start, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
}

/*
 * mm_unserve_child - in a child forked while this process's userfaultfd
 * has no fork events (uffd_fork_events false): the kernel dropped the
 * child's registration of every view, so a fault there on a page the cache
 * lacks would put a page of zeros into the memfd, the parent's cache. Every
 * page of every view is mapped again by the kernel from the file itself
 * (dirty pages were written back before the fork), except the pages of
 * private views that the process had already copied on write, which stay.
 * The child's mappings are then the kernel's, like mappings it makes
 * itself. Where pagemap cannot tell (a process that is not dumpable), the
 * private view is made inaccessible rather than risk wrong data.
 * inline_only: the userfaultfd has fork events, and the parent's fault
 * thread serves the child's views, but not those of engine.inline_uffd
 * (no fork events: a SIGBUS handler in the child would find no engine):
 * only those are mapped again (mm_dup leaves them out).
 * Context: the child, at fork (one thread), before anything else.
 */
void mm_unserve_child(struct mm *mm, bool inline_only)
{
	int pm = -1;
	for (struct vma *v = mm->vmas; v; v = v->mm_next) {
		if (inline_only && !v->inline_faults)
			continue;
		if (pm < 0 && !v->shared)
			pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		uintptr_t end;
		int prot = kernel_vma_at(v->vm_start, &end);
		if (v->shared) {
			map_file(v, v->vm_start, v->vm_end, prot);
			continue;
		}
		if (own_copy(pm, v->vm_start) < 0) {
			map_file(v, v->vm_start, v->vm_end, -1);
			continue;
		}
		uintptr_t run = v->vm_start;
		for (uintptr_t a = v->vm_start; a < v->vm_end; a += FM_PAGE_SIZE) {
			if (own_copy(pm, a) != 1)
				continue;
			if (run < a)
				map_file(v, run, a, prot);
			run = a + FM_PAGE_SIZE;
		}
		if (run < v->vm_end)
			map_file(v, run, v->vm_end, prot);
	}
	if (pm >= 0)
		sys_close(pm);
}
