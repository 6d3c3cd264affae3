/*
 * mmap.c - the engine's life and the public fm_mmap family.
 *
 * The edge of the library: arguments are checked here, the kernel is asked
 * to validate what it can (fm_mmap first maps the file itself, so every errno
 * is the kernel's own), and errors become MAP_FAILED/-1 with errno. Below
 * this file everything returns 0 or -errno.
 *
 * A user mapping is a view of the file's memfd at the file offset, replacing
 * the kernel's mapping of the file at the same address (MAP_FIXED), and
 * registered with this process's userfaultfd: MISSING always, and WP for
 * shared views, which start write-protected (see writeback.c).
 */
#include "budget.h"
#include "internal.h"
#include "client/client.h"
#include "publish.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

_Thread_local struct mm *current_mm;

struct fm_engine engine = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.free_head = FM_NIL,
	.inline_uffd = -1,
	.lru = {{FM_NIL, FM_NIL, 0}, {FM_NIL, FM_NIL, 0}, {FM_NIL, FM_NIL, 0},
		{FM_NIL, FM_NIL, 0}, {FM_NIL, FM_NIL, 0}, {FM_NIL, FM_NIL, 0}},
};

/* Serialises the calls that change mappings, and fork (pthread_atfork), so a
 * child's copy of the vmas is consistent. Taken before engine.lock. The
 * fault thread never takes it: a fork waits for that thread to read its
 * UFFD_EVENT_FORK message. */
static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t start_once = PTHREAD_ONCE_INIT;
static bool budget_set;

/*
 * Signals are blocked while a program thread holds map_lock or engine.lock
 * (filemap.c does the same for read() and write()): a signal handler may
 * call munmap, mmap, msync... (programs rely on it, and the kernel allows
 * it), and on the thread it interrupted that call would wait forever for a
 * lock the thread holds. Blocked, the signal waits until the lock is
 * released. Nothing done under these locks touches a user view, so no
 * synchronous signal can arrive meanwhile.
 */
static void signals_block(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

static void signals_restore(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static void map_lock_take(sigset_t *old)
{
	signals_block(old);
	pthread_mutex_lock(&map_lock);
}

static void map_lock_drop(const sigset_t *old)
{
	pthread_mutex_unlock(&map_lock);
	signals_restore(old);
}

/* engine_lock_take, engine_lock_drop - see internal.h. */
void engine_lock_take(sigset_t *old)
{
	signals_block(old);
	pthread_mutex_lock(&engine.lock);
}

void engine_lock_drop(const sigset_t *old)
{
	pthread_mutex_unlock(&engine.lock);
	signals_restore(old);
}

int fm_parse_size(const char *text, size_t *out)
{
	if (!text || !isdigit((unsigned char)*text))
		return -EINVAL;
	int saved = errno; /* faultmap's own calls report in their result */
	errno = 0;
	char *end;
	unsigned long long v = strtoull(text, &end, 10);
	bool range = errno != 0;
	errno = saved;
	if (range)
		return -EINVAL;
	unsigned shift = 0;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	case 'T': shift = 40; break;
	default: break;
	}
	if (shift) {
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (toupper((unsigned char)*end) == 'B')
			end++;
	} else if (toupper((unsigned char)*end) == 'B') {
		end++;
	}
	if (*end != '\0' || (shift && v > (~0ULL >> shift)))
		return -EINVAL;
	*out = (size_t)(v << shift);
	return 0;
}

int fm_set_budget(size_t bytes)
{
	if (fm_client_mode())
		return client_set_budget(bytes);
	sigset_t mask;
	engine_lock_take(&mask);
	int err = 0;
	if (engine.started)
		err = -EBUSY;
	else if (bytes / FM_PAGE_SIZE < FM_MIN_BUDGET_PAGES)
		err = -EINVAL;
	else {
		engine.budget_pages = bytes / FM_PAGE_SIZE;
		budget_set = true;
	}
	engine_lock_drop(&mask);
	return err;
}

/*
 * budget_from_env - the budget set by fm_set_budget, else FAULTMAP_BUDGET (a
 * size, or a percentage of the smaller of RAM and the memory cgroup's
 * limit), else half of that (budget.c). A budget chosen by hand that does
 * not fit with faultmap's own memory is named on stderr, once: the engine
 * starts once. Return: 0 or -EINVAL.
 */
static int budget_from_env(void)
{
	struct fm_memory mem;
	memory_usable(&mem);
	const char *env = budget_set ? NULL : secure_getenv("FAULTMAP_BUDGET");
	if (!budget_set && !env) {
		uint64_t pages = budget_default(&mem) / FM_PAGE_SIZE;
		engine.budget_pages = pages > FM_MIN_BUDGET_PAGES ? pages : FM_MIN_BUDGET_PAGES;
		return 0;
	}
	uint64_t bytes;
	if (env && (budget_parse(env, &mem, &bytes) || bytes / FM_PAGE_SIZE < FM_MIN_BUDGET_PAGES)) {
		fprintf(stderr,
			"faultmap: FAULTMAP_BUDGET=\"%s\" is not a size of at least "
			"%lu KiB (examples: 65536, 64M, 2G) or a percentage of memory "
			"(50%%)\n",
			env, FM_MIN_BUDGET_PAGES * FM_PAGE_SIZE / 1024);
		return -EINVAL;
	}
	if (env)
		engine.budget_pages = bytes / FM_PAGE_SIZE;
	(void)budget_check(engine.budget_pages * FM_PAGE_SIZE, &mem);
	return 0;
}

/* Before fork: the child may exec a program that reads the file, which has
 * its own cache (or none): like the kernel's shared page cache, it must
 * see what this process wrote, so dirty pages are written back first.
 * Then the fault threads park (fault_fork_prepare): the kernel's fork
 * waits until one reads the fork message, and nothing they need may wait
 * for the locks that fork() holds (docs/design.md, Locks). map_lock stays
 * held until the child's mm is made (fault_fork_parent). */
static sigset_t fork_mask; /* the forking thread's, under map_lock */

static void atfork_prepare(void)
{
	sigset_t mask;
	map_lock_take(&mask);
	fork_mask = mask;
	pthread_mutex_lock(&engine.lock);
	if (atomic_load(&refuse_count)) /* the child would keep them refused */
		refuse_forget(0, UINTPTR_MAX);
	(void)writeback_all(); /* a failure keeps the pages dirty, as always */
	pthread_mutex_unlock(&engine.lock);
	if (!engine.forked_child)
		fault_fork_prepare();
}

static void atfork_parent(void)
{
	if (!engine.forked_child)
		fault_fork_parent();
	sigset_t mask = fork_mask;
	map_lock_drop(&mask);
}

/* In the child the parent's fault thread keeps serving the inherited
 * mappings; this copy of the engine must not touch them. */
static void atfork_child(void)
{
	pthread_mutex_init(&map_lock, NULL);
	pthread_mutex_init(&engine.lock, NULL);
#ifdef FM_INTERPOSER
	fd_limit_fork_child();
#endif
	if (!engine.forked_child && engine.mms) /* without fork events: every view */
		mm_unserve_child(engine.mms, uffd_fork_events);
	fault_fork_child();
	engine.forked_child = true;
	signals_restore(&fork_mask);
}

/* At normal exit, write every dirty page to its file; stderr names each
 * file whose pages could not be, which are lost with the process. Once:
 * a store's library may call it earlier (engine_exit_writeback), from an
 * exit handler that runs before the library's own destructors. */
static void exit_writeback(void)
{
	static atomic_bool done;
	if (engine.forked_child || getpid() != engine.pid || atomic_exchange(&done, true))
		return;
	sigset_t mask;
	engine_lock_take(&mask);
	(void)writeback_all();
	for (struct address_space *as = engine.mappings; as; as = as->next)
		writeback_report(as, 0, false);
	engine_lock_drop(&mask);
	publish_stop();
}

void engine_exit_writeback(void)
{
	if (engine.started)
		exit_writeback();
}

/*
 * fm_sync_all - write every dirty page of every file (before exec, which
 * ends the cache with the process image).
 * Return: 0, or the first write-back error (the pages stay dirty).
 * Context: takes map_lock and engine.lock.
 */
int fm_sync_all(void)
{
	if (fm_client_mode())
		return client_sync_all();
	sigset_t mask;
	map_lock_take(&mask);
	pthread_mutex_lock(&engine.lock);
	int err = writeback_all();
	pthread_mutex_unlock(&engine.lock);
	map_lock_drop(&mask);
	return err;
}

static void start_engine_once(void)
{
	int err = -ENOTSUP;
	if (sysconf(_SC_PAGESIZE) != (long)FM_PAGE_SIZE)
		goto out;
	pthread_mutex_lock(&engine.lock);
	err = budget_from_env();
	int uffd = -1;
	if (!err) {
		err = uffd_open(&uffd);
		if (err == -EPERM)
			uffd_explain_eperm(stderr);
	}
	if (!err) {
		engine.mms = mm_new(uffd);
		engine.io_buf = aligned_alloc(FM_PAGE_SIZE, FM_CLUSTER_MAX * FM_PAGE_SIZE);
		if (!engine.mms || !engine.io_buf)
			err = -ENOMEM;
	}
	if (!err)
		err = fault_inline_start();
	if (!err)
		err = fault_thread_start();
	if (err) {
		if (engine.mms)
			mm_destroy(engine.mms);
		else if (uffd >= 0)
			sys_close(uffd);
		engine.mms = NULL;
		free(engine.io_buf);
		engine.io_buf = NULL;
	} else {
		engine.started = true;
		engine.pid = getpid();
		io_start();
	}
	pthread_mutex_unlock(&engine.lock);
	if (!err) {
		atexit(exit_writeback);
		pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
		publish_start();
	}
out:
	engine.start_err = err;
}

/* engine_start - start the engine on first use. Return: 0 or -errno. */
int engine_start(void)
{
	static _Atomic bool done;
	if (!done) { /* signals blocked: start_engine_once takes engine.lock */
		sigset_t mask;
		signals_block(&mask);
		pthread_once(&start_once, start_engine_once);
		signals_restore(&mask);
		done = true;
	}
	return engine.start_err;
}

/* fm_start - start serving mappings: the engine, or in daemon mode the
 * connection to the daemon. Return: 0 or -errno. */
int fm_start(void)
{
	return fm_client_mode() ? client_start() : engine_start();
}

/* mm_unmap_range - forget the vmas in [start, end) (their views are unmapped
 * by the caller, or were replaced by the kernel), releasing unused files.
 * Context: engine.lock. */
int mm_unmap_range(struct mm *mm, uintptr_t start, uintptr_t end)
{
	int err = vma_carve(mm, start, end);
	if (err)
		return err;
	if (mm == engine_self() && atomic_load(&refuse_count)) /* the mapping call ends a refusal */
		refuse_forget(start, end);
	struct vma *v = mm->vmas;
	while (v) {
		if (v->vm_start >= start && v->vm_end <= end) {
			struct address_space *as = v->mapping;
			struct vma *next = v->mm_next;
			vma_free(v);
			if (!as->i_mmap) /* the last: written back now, not later */
				as_wait_reads(as);
			as_put_if_unused(as);
			v = next;
		} else {
			v = v->mm_next;
		}
	}
	return 0;
}


/* map_view - put a view of the file at p (where the kernel mapped the file)
 * and record it. Called with engine.lock. Return: 0 or -errno. */
static int map_view(void *p, size_t len, int prot, bool shared, int fd,
		    off_t offset, const struct stat *st)
{
	struct mm *mm = engine_self();
	int err;
	struct address_space *as = as_get(fd, st, &err);
	if (!as)
		return err;
	void *view = sys_mmap(p, len, prot, (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED,
			  as->memfd, offset);
	if (view == MAP_FAILED) {
		err = -errno;
		goto out;
	}
	view_small_pages(view, len);
	/* Only a view that can write needs write-protect tracking; the others
	 * keep the kernel's fault-around (WP registration turns it off). */
	bool may_write = shared && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR;
	bool wp = may_write && (prot & PROT_WRITE);
	/* A view that may ever track writes stays with the engine's
	 * userfaultfd: moving a view between the two would leave it
	 * unregistered for a moment, where a load would put a page of zeros
	 * into the memfd. */
	bool inline_faults = engine.inline_faults && !may_write;
	err = uffd_register(inline_faults ? engine.inline_uffd : mm->uffd, view, len, wp);
	if (!err && wp)
		err = uffd_writeprotect(mm->uffd, (uintptr_t)view, len, true);
	if (err)
		goto out;
	struct vma *vma = vma_new(mm, as, (uintptr_t)view, (uintptr_t)view + len,
				  (uint64_t)offset >> FM_PAGE_SHIFT, shared, may_write);
	if (!vma)
		err = -ENOMEM;
	else
		vma->wp = wp, vma->inline_faults = inline_faults;
out:
	if (err)
		as_put_if_unused(as);
	return err;
}

static int forget_hole(uintptr_t lo, uintptr_t hi, void *arg)
{
	(void)arg;
	return mm_unmap_range(engine_self(), lo, hi);
}

/* failed_fixed - a MAP_FIXED mmap at [addr, addr + len) failed: the kernel
 * may have unmapped what was there first; faultmap's records of what is
 * gone go too. errno is kept. Context: the map lock. */
static void failed_fixed(void *addr, size_t len)
{
	int saved = errno;
	pthread_mutex_lock(&engine.lock);
	(void)kernel_holes((uintptr_t)addr, (uintptr_t)addr + len, forget_hole, NULL);
	pthread_mutex_unlock(&engine.lock);
	errno = saved;
}

bool fm_mmap_serves(int flags)
{
	return !(flags & FM_KERNEL_MAP_FLAGS);
}

/* mmap_by_kernel - a mapping faultmap does not serve (anonymous memory, a
 * flag faultmap does not implement such as MAP_LOCKED, an executable or
 * special file under the interposer): the kernel makes it, and the fm_
 * calls pass it to the kernel too. With MAP_FIXED it may replace faultmap
 * mappings, whose records then go (or, if it fails, those the kernel
 * unmapped first). */
void *mmap_by_kernel(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
	if (!(flags & MAP_FIXED))
		return sys_mmap(addr, length, prot, flags, fd, offset);
	if (fm_client_mode())
		return client_mmap_by_kernel(addr, length, prot, flags, fd, offset);
	if (!engine.started || engine.forked_child)
		return sys_mmap(addr, length, prot, flags, fd, offset);
	sigset_t mask;
	map_lock_take(&mask);
	size_t len = page_round(length);
	int err = 0;
	void *p = sys_mmap(addr, length, prot, flags, fd, offset);
	if (p != MAP_FAILED) {
		pthread_mutex_lock(&engine.lock);
		err = mm_unmap_range(engine_self(), (uintptr_t)p, (uintptr_t)p + len);
		pthread_mutex_unlock(&engine.lock);
	} else if (len) {
		failed_fixed(addr, len);
	}
	map_lock_drop(&mask);
	if (err) {
		sys_munmap(p, len);
		return fail_ptr(err);
	}
	return p;
}

/* populate - MADV_POPULATE_READ or _WRITE by the kernel. Its populate
 * cannot fault in a missing page of an inline view (FAULTMAP_INLINE_FAULTS):
 * any kernel access there is EFAULT. After such a refusal the range is
 * populated again page by page (the kernel does not say where it
 * stopped), each page it refuses read in first (fault_inline_touch).
 * Return: 0, or -1 with errno, as madvise. */
static int populate(void *addr, size_t length, int advice)
{
	if (sys_madvise(addr, length, advice) == 0)
		return 0;
	if (errno != EFAULT || !engine.inline_faults)
		return -1;
	uintptr_t a = (uintptr_t)addr, end = (uintptr_t)addr + length;
	for (; a < end; a += FM_PAGE_SIZE) {
		size_t n = end - a < FM_PAGE_SIZE ? end - a : FM_PAGE_SIZE;
		for (int tries = 0; sys_madvise((void *)a, n, advice) < 0; tries++)
			if (errno != EFAULT || tries == 16 || !fault_inline_touch(a))
				return -1;
	}
	return 0;
}

void *fm_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
	if ((flags & MAP_ANONYMOUS) || !fm_mmap_serves(flags))
		return mmap_by_kernel(addr, length, prot, flags, fd, offset);
	if (fm_client_mode())
		return client_mmap(addr, length, prot, flags, fd, offset);
	int err = engine_start();
	if (err)
		return fail_ptr(err);
	if (engine.forked_child)
		return fail_ptr(-ENOTSUP);

	sigset_t mask;
	map_lock_take(&mask);
	size_t len = page_round(length);
	/* The kernel checks the arguments and picks the address (without
	 * reading anything: no populate). The flags that only place the
	 * mapping (MAP_32BIT, MAP_STACK) take effect here; those the kernel
	 * ignores for a file (MAP_UNINITIALIZED, unknown bits) are ignored. */
	void *p = sys_mmap(addr, length, prot, flags & ~MAP_POPULATE, fd, offset);
	if (p == MAP_FAILED) {
		if ((flags & MAP_FIXED) && len)
			failed_fixed(addr, len);
		map_lock_drop(&mask);
		return MAP_FAILED;
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		err = -errno;
	else if (!S_ISREG(st.st_mode))
		err = -ENODEV;
	if (!err) {
		pthread_mutex_lock(&engine.lock);
		if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))
			err = mm_unmap_range(engine_self(), (uintptr_t)p, (uintptr_t)p + len);
		if (!err)
			err = map_view(p, len, prot, (flags & MAP_TYPE) != MAP_PRIVATE,
				       fd, offset, &st);
		pthread_mutex_unlock(&engine.lock);
	}
	map_lock_drop(&mask);
	if (err) {
		sys_munmap(p, len);
		return fail_ptr(err);
	}
	if (flags & MAP_POPULATE)
		(void)populate(p, len, populate_advice(flags, prot));
	return p;
}

int fm_munmap(void *addr, size_t length)
{
	uintptr_t start = (uintptr_t)addr;
	size_t len = page_round(length);
	if ((start & (FM_PAGE_SIZE - 1)) || length == 0 || len == 0 ||
	    start + len < start)
		return fail(-EINVAL);
	if (fm_client_mode())
		return client_munmap(addr, length);
	if (!engine.started || engine.forked_child)
		return sys_munmap(addr, length);
	sigset_t mask;
	map_lock_take(&mask);
	pthread_mutex_lock(&engine.lock);
	int err = vma_carve(engine_self(), start, start + len);
	if (!err && sys_munmap(addr, len) < 0)
		err = -errno;
	if (!err)
		err = mm_unmap_range(engine_self(), start, start + len);
	pthread_mutex_unlock(&engine.lock);
	map_lock_drop(&mask);
	return err ? fail(err) : 0;
}

/*
 * walk_range - call fn on each faultmap vma in [start, end) after cutting
 * them to the range, and gap on each stretch that faultmap does not map
 * (the kernel's answer for it is the answer), in address order; stop at the
 * first error, as the kernel's walks do. Called with both locks.
 */
static int walk_range(struct mm *mm, uintptr_t start, uintptr_t end, bool carve,
		      int (*fn)(struct vma *, uintptr_t, uintptr_t, void *),
		      int (*gap)(uintptr_t, uintptr_t, void *), void *arg)
{
	int ret = 0;
	if (carve) {
		int err = vma_carve(mm, start, end);
		if (err)
			return err;
	}
	uintptr_t at = start;
	for (struct vma *v = mm->vmas; v && at < end; v = v->mm_next) {
		if (v->vm_end <= at)
			continue;
		if (v->vm_start >= end)
			break;
		if (v->vm_start > at && (ret = gap(at, v->vm_start, arg)))
			return ret;
		uintptr_t lo = v->vm_start > at ? v->vm_start : at;
		uintptr_t hi = v->vm_end < end ? v->vm_end : end;
		if ((ret = fn(v, lo, hi, arg)))
			return ret;
		at = hi;
	}
	if (at < end)
		ret = gap(at, end, arg);
	return ret;
}

/* What fm_msync's walk carries: the flags first (msync_vma reads them as an
 * int), and the kernel's "unmapped_error". */
struct msync_walk {
	int flags;
	int unmapped; /* -ENOMEM: a hole was skipped */
};

static int msync_vma(struct vma *v, uintptr_t lo, uintptr_t hi, void *arg)
{
	int flags = *(int *)arg;
	struct address_space *as = v->mapping;
	int err = 0;
	as_revalidate(as, NULL); /* changed outside faultmap? */
	/* Locked pages (mlock, mlockall) cannot be invalidated: the kernel
	 * says EBUSY, and knows whether the view is locked. */
	if ((flags & MS_INVALIDATE) && sys_msync((void *)lo, hi - lo, MS_INVALIDATE) < 0 &&
	    errno == EBUSY)
		return -EBUSY;
	if (v->shared && (flags & MS_SYNC)) {
		err = writeback_range(as, vma_index(v, lo), vma_index(v, hi));
		if (!err)
			err = as_sync(as);
	}
	/* Every write-back error since this mapping's last report, once (the
	 * kernel's errseq), the failure of this very write-back included. */
	int seen = errseq_check_and_advance(&as->wb_err, &v->wb_since);
	return seen ? seen : err;
}

static int msync_gap(uintptr_t lo, uintptr_t hi, void *arg)
{
	struct msync_walk *w = arg;
	if (sys_msync((void *)lo, hi - lo, w->flags) == 0)
		return 0;
	if (errno != ENOMEM)
		return -errno; /* the kernel stops there */
	/* and goes on past a hole, to say ENOMEM at the end unless a later
	 * mapping fails otherwise (MS_ASYNC alone stops there, but can fail
	 * no other way) */
	w->unmapped = -ENOMEM;
	return 0;
}

int fm_msync(void *addr, size_t length, int flags)
{
	uintptr_t start = (uintptr_t)addr;
	if ((start & (FM_PAGE_SIZE - 1)) ||
	    (flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC)) ||
	    ((flags & MS_ASYNC) && (flags & MS_SYNC)))
		return fail(-EINVAL);
	size_t len = page_round(length); /* 0 for a length near SIZE_MAX, */
	if (start + len < start)
		return fail(-ENOMEM);
	if (len == 0) /* which the kernel takes as nothing to do */
		return 0;
	if (fm_client_mode())
		return client_msync(addr, length, flags);
	if (!engine.started || engine.forked_child)
		return sys_msync(addr, length, flags);
	sigset_t mask;
	map_lock_take(&mask);
	pthread_mutex_lock(&engine.lock);
	struct msync_walk w = {.flags = flags};
	int err = walk_range(engine_self(), start, start + len, false, msync_vma, msync_gap, &w);
	pthread_mutex_unlock(&engine.lock);
	map_lock_drop(&mask);
	if (!err)
		err = w.unmapped;
	return err ? fail(err) : 0;
}

static int madvise_vma(struct vma *v, uintptr_t lo, uintptr_t hi, void *arg)
{
	int advice = *(int *)arg;
	switch (advice) {
	case MADV_NORMAL:
		v->ra.mode = RA_NORMAL;
		break;
	case MADV_RANDOM:
		v->ra.mode = RA_RANDOM;
		break;
	case MADV_SEQUENTIAL:
		v->ra.mode = RA_SEQUENTIAL;
		break;
	case MADV_WILLNEED: {
		struct address_space *as = v->mapping;
		uint64_t index = vma_index(v, lo), end = vma_index(v, hi);
		uint64_t room = engine.budget_pages / 2;
		if (end > as->nr_pages)
			end = as->nr_pages;
		while (index < end && room) {
			if (as_find_frame(as, index) != FM_NIL) {
				index++;
				continue;
			}
			uint64_t n = 1;
			while (index + n < end && n < FM_CLUSTER_MAX && n < room &&
			       as_find_frame(as, index + n) == FM_NIL)
				n++;
			if (reclaim_reserve(n) ||
			    filemap_read_pages(as, index, n, false, engine.io_buf, false))
				break; /* advice only: errors are not reported */
			index += n;
			room -= n;
		}
		break;
	}
	default:
		break;
	}
	return 0;
}

static int no_gap(uintptr_t lo, uintptr_t hi, void *arg)
{
	(void)lo, (void)hi, (void)arg;
	return 0;
}

/* mm_madvise_range - the engine's part of a readahead hint (MADV_NORMAL,
 * RANDOM, SEQUENTIAL, WILLNEED) on [start, end) of mm. Context: engine.lock. */
int mm_madvise_range(struct mm *mm, uintptr_t start, uintptr_t end, int advice)
{
	return walk_range(mm, start, end, advice != MADV_WILLNEED, madvise_vma, no_gap,
			  &advice);
}

/*
 * madvise_remove - MADV_REMOVE of [start, end), in address order as the
 * kernel goes: a faultmap mapping must be shared and writable (EACCES),
 * and gets a hole punched in its file through fm_fallocate, so the cache
 * reads zeros there too (the kernel would punch the memfd, the cache, and
 * not the file); other mappings are the kernel's; a hole gives ENOMEM at
 * the end. Return: 0 or -errno. Context: map_lock.
 */
static int madvise_remove(uintptr_t start, uintptr_t end)
{
	int unmapped = 0;
	for (uintptr_t at = start; at < end;) {
		pthread_mutex_lock(&engine.lock);
		struct vma *v = engine_self()->vmas;
		while (v && v->vm_end <= at)
			v = v->mm_next;
		if (!v || v->vm_start > at) {
			uintptr_t hi = v && v->vm_start < end ? v->vm_start : end;
			pthread_mutex_unlock(&engine.lock);
			int err = madvise_kernel_part(at, hi, MADV_REMOVE, &unmapped);
			if (err)
				return err;
			at = hi;
			continue;
		}
		uintptr_t hi = v->vm_end < end ? v->vm_end : end;
		int fd = file_store_fd(v->mapping->store, true);
		bool ok = v->shared && v->may_write && fd >= 0;
		off_t off = (off_t)(vma_index(v, at) << FM_PAGE_SHIFT);
		pthread_mutex_unlock(&engine.lock);
		if (!ok)
			return -EACCES;
		if (fm_fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
				 (off_t)(hi - at)) < 0)
			return -errno;
		at = hi;
	}
	return unmapped;
}

/* touches_ours - whether [start, start + len) holds part of a faultmap
 * mapping of this process (not known in a forked child of embedded mode:
 * false there). */
static bool touches_ours(uintptr_t start, size_t len)
{
	if (!len || !engine.started || engine.forked_child)
		return false;
	sigset_t mask;
	engine_lock_take(&mask);
	bool touches = false;
	for (struct vma *v = engine_self()->vmas; v; v = v->mm_next)
		touches |= v->vm_start < start + len && v->vm_end > start;
	engine_lock_drop(&mask);
	return touches;
}

int madvise_kernel_part(uintptr_t lo, uintptr_t hi, int advice, int *unmapped)
{
	if (lo < hi && sys_madvise((void *)lo, hi - lo, advice) < 0) {
		if (errno != ENOMEM)
			return -errno;
		*unmapped = -ENOMEM;
	}
	return 0;
}

/*
 * madvise_beside - advice for the kernel on the parts of [start, end) that
 * no faultmap mapping covers, in address order as the kernel goes: a hole
 * gives ENOMEM at the end, as the kernel says. Return: 0 or -errno.
 * Context: map_lock.
 */
static int madvise_beside(uintptr_t start, uintptr_t end, int advice)
{
	int unmapped = 0;
	for (uintptr_t at = start; at < end;) {
		uintptr_t lo = end, hi = end; /* the next stretch of a faultmap mapping */
		pthread_mutex_lock(&engine.lock);
		for (const struct vma *v = engine_self()->vmas; v; v = v->mm_next)
			if (v->vm_end > at && v->vm_start < end) {
				lo = v->vm_start > at ? v->vm_start : at;
				hi = v->vm_end < end ? v->vm_end : end;
				break;
			}
		pthread_mutex_unlock(&engine.lock);
		int err = madvise_kernel_part(at, lo, advice, &unmapped);
		if (err)
			return err;
		at = hi;
	}
	return unmapped;
}

int fm_madvise(void *addr, size_t length, int advice)
{
	if (fm_client_mode())
		return client_madvise(addr, length, advice);
	uintptr_t start = (uintptr_t)addr;
	size_t len = page_round(length);
	bool ours;
	switch (advice) {
	case MADV_NORMAL: case MADV_RANDOM: case MADV_SEQUENTIAL:
	case MADV_WILLNEED:
		ours = true;
		break;
	case MADV_DONTNEED: case MADV_DONTFORK: case MADV_DOFORK:
	case MADV_DONTDUMP: case MADV_DODUMP:
	case MADV_NOHUGEPAGE: case MADV_COLD: case MADV_PAGEOUT:
	case MADV_POPULATE_READ: case MADV_POPULATE_WRITE:
	/* For a file mapping the kernel ignores these, or refuses them: */
	case MADV_MERGEABLE: case MADV_UNMERGEABLE: case MADV_FREE:
	case MADV_WIPEONFORK: case MADV_KEEPONFORK:
		ours = false;
		break;
	case MADV_HUGEPAGE:
		/* Never for the cache's memfd (view_small_pages): passed on
		 * for the rest of the range only. */
		if (!(start & (FM_PAGE_SIZE - 1)) && !(length && !len) && start + len > start &&
		    touches_ours(start, len)) {
			sigset_t mask;
			map_lock_take(&mask);
			int err = madvise_beside(start, start + len, advice);
			map_lock_drop(&mask);
			return err ? fail(err) : 0;
		}
		return sys_madvise(addr, length, advice);
	case MADV_REMOVE:
		if ((start & (FM_PAGE_SIZE - 1)) || (length && !len) || start + len < start)
			return fail(-EINVAL);
		if (len && engine.started && !engine.forked_child) {
			sigset_t mask;
			map_lock_take(&mask);
			int err = madvise_remove(start, start + len);
			map_lock_drop(&mask);
			return err ? fail(err) : 0;
		}
		return sys_madvise(addr, length, advice);
	default:
		/* Advice that would bypass the cache (MADV_REMOVE, MADV_FREE...)
		 * is refused on faultmap mappings, and passed on elsewhere. */
		if (touches_ours(start, len))
			return fail(-EINVAL);
		return sys_madvise(addr, length, advice);
	}
	/* The kernel checks the range and applies what is its own. It also
	 * takes the readahead hints: its vmas split (and cannot always merge
	 * back: mremap then fails) as for a file mapping, while a memfd view
	 * has no readahead. MADV_WILLNEED goes as it is: on a memfd it only
	 * swaps in pages the cache holds (it allocates none), and passing
	 * anything else would change the view's hint, which it does not. */
	if ((advice == MADV_POPULATE_READ || advice == MADV_POPULATE_WRITE
		     ? populate(addr, length, advice)
		     : sys_madvise(addr, length, advice)) < 0)
		return -1;
	if (!ours || !engine.started || engine.forked_child || len == 0)
		return 0;
	sigset_t mask;
	map_lock_take(&mask);
	pthread_mutex_lock(&engine.lock);
	int err = mm_madvise_range(engine_self(), start, start + len, advice);
	pthread_mutex_unlock(&engine.lock);
	map_lock_drop(&mask);
	return err ? fail(err) : 0;
}

/* first_read_only - the start of the first shared vma in [lo, hi) whose
 * file was opened read-only, or hi. */
static uintptr_t first_read_only(struct mm *mm, uintptr_t lo, uintptr_t hi)
{
	for (struct vma *v = mm->vmas; v && v->vm_start < hi; v = v->mm_next)
		if (v->vm_end > lo && v->shared && !v->may_write)
			return v->vm_start > lo ? v->vm_start : lo;
	return hi;
}

/* start_tracking - a shared vma about to become writable: register it for
 * write-protect and protect it whole, before the kernel lets it write. */
static int start_tracking(struct vma *v, uintptr_t lo, uintptr_t hi, void *arg)
{
	(void)lo, (void)hi, (void)arg;
	if (!v->shared || v->wp)
		return 0;
	int uffd = v->mm->uffd;
	size_t len = v->vm_end - v->vm_start;
	int err = uffd_register(uffd, (void *)v->vm_start, len, true);
	if (!err)
		err = uffd_writeprotect(uffd, v->vm_start, len, true);
	if (!err)
		v->wp = true;
	return err;
}

/*
 * mm_start_tracking - [start, end) of mm is about to become writable: its
 * shared vmas start tracking writes, up to the first one whose file was
 * opened read-only, where *stop is set (end if none). Like the kernel,
 * what comes before the vma that refuses is changed (EACCES: its views
 * are writable memfds, so only we know). Context: engine.lock.
 */
int mm_start_tracking(struct mm *mm, uintptr_t start, uintptr_t end, uintptr_t *stop)
{
	*stop = first_read_only(mm, start, end);
	if (*stop == start)
		return 0;
	return walk_range(mm, start, *stop, true, start_tracking, no_gap, NULL);
}

/*
 * mm_track_evenly - [start, end) is to be moved or grown as one mapping:
 * where some of its shared views track writes and others do not (a part
 * was made writable, then read-only again), they all start tracking. The
 * kernel merged its own vmas back as the protection became the same
 * again; our views differ in their userfaultfd modes, which keeps them
 * apart (mremap would fail with EFAULT) until they are the same too.
 * Context: engine.lock.
 */
int mm_track_evenly(struct mm *mm, uintptr_t start, uintptr_t end)
{
	bool some = false;
	for (struct vma *v = mm->vmas; v && v->vm_start < end; v = v->mm_next)
		some |= v->vm_end > start && v->wp;
	uintptr_t stop;
	return some ? mm_start_tracking(mm, start, end, &stop) : 0;
}

int fm_mprotect(void *addr, size_t length, int prot)
{
	if (fm_client_mode())
		return client_mprotect(addr, length, prot);
	uintptr_t start = (uintptr_t)addr;
	size_t len = page_round(length);
	if (atomic_load(&refuse_count) && engine.started && !(start & (FM_PAGE_SIZE - 1)) &&
	    start + len > start) {
		/* The program's protection wins over a refused write's. */
		sigset_t old;
		engine_lock_take(&old);
		refuse_forget(start, start + len);
		int err = 0;
		if (!(prot & PROT_WRITE)) /* else: below, once the views track writes */
			err = sys_mprotect(addr, length, prot) < 0 ? -errno : 0;
		engine_lock_drop(&old);
		if (err || !(prot & PROT_WRITE))
			return err ? fail(err) : 0;
	}
	/* PROT_GROWS* never applies to faultmap's vmas: the kernel says so. */
	if (!engine.started || engine.forked_child || !(prot & PROT_WRITE) ||
	    (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM)) ||
	    (start & (FM_PAGE_SIZE - 1)) || start + len < start || (length && !len))
		return sys_mprotect(addr, length, prot);
	sigset_t mask;
	map_lock_take(&mask);
	pthread_mutex_lock(&engine.lock);
	uintptr_t stop;
	int err = mm_start_tracking(engine_self(), start, start + len, &stop);
	pthread_mutex_unlock(&engine.lock);
	if (!err && stop > start && sys_mprotect(addr, stop - start, prot) < 0)
		err = -errno;
	else if (!err && stop < start + len)
		err = -EACCES;
	map_lock_drop(&mask);
	return err ? fail(err) : 0;
}

/* reregister - register v again (and protect it whole if it tracks writes):
 * the kernel dropped its userfaultfd context. */
static int reregister(struct vma *v)
{
	size_t len = v->vm_end - v->vm_start;
	int err = uffd_register(vma_uffd(v), (void *)v->vm_start, len, v->wp);
	if (!err && v->wp) /* protecting a dirty page too costs one WP fault */
		err = uffd_writeprotect(v->mm->uffd, v->vm_start, len, true);
	return err;
}

/*
 * remap_vma - the kernel has moved and/or resized vma's view (mremap) to
 * [to, to + len): record it. A view that moved lost its userfaultfd
 * context (the engine does not take UFFD_EVENT_REMAP), and so did any view
 * the kernel merged it with at its new place: those are registered again
 * (and protected) before the program gets the address. A view grown in
 * place keeps its context; its new pages are protected.
 * Context: both locks.
 */
static int remap_vma(struct vma *vma, uintptr_t to, size_t len)
{
	struct mm *mm = vma->mm;
	uintptr_t from = vma->vm_start;
	size_t old_len = vma->vm_end - vma->vm_start;
	int err = 0;
	if (len < old_len)
		err = mm_unmap_range(mm, from + len, from + old_len);
	if (!err && to != from) {
		err = mm_unmap_range(mm, to, to + len); /* MREMAP_FIXED replaced these */
		vma_move(vma, to);
	}
	vma->vm_end = vma->vm_start + len;
	if (err)
		return err;
	if (to == from) /* grown in place: protect the new pages */
		return vma->wp && len > old_len
			       ? uffd_writeprotect(mm->uffd, from + old_len, len - old_len, true)
			       : 0;
	/* Every vma in the run of touching vmas around the moved one may share
	 * its kernel vma now. */
	struct vma *first = NULL;
	uintptr_t run_end = 0;
	for (struct vma *v = mm->vmas; v; v = v->mm_next) {
		if (!first || v->vm_start != run_end)
			first = v;
		run_end = v->vm_end;
		if (v == vma)
			break;
	}
	for (struct vma *v = first; v && !err; v = v->mm_next) {
		err = reregister(v);
		if (!v->mm_next || v->mm_next->vm_start != v->vm_end)
			break;
	}
	return err;
}

/* mremap_isolated - move a view that must move to a place of its own: into
 * a reservation with a guard page on each side, so the kernel cannot merge
 * it with a neighbouring view (which would lose its userfaultfd context
 * with it, for a moment in which its faults would go unserved).
 * Return: the new address, or MAP_FAILED with errno. */
static void *mremap_isolated(void *old, size_t old_size, size_t new_size)
{
	size_t len = page_round(new_size);
	char *r = sys_mmap(NULL, len + 2 * FM_PAGE_SIZE, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return MAP_FAILED;
	void *p = sys_mremap(old, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED,
			     r + FM_PAGE_SIZE);
	int err = errno;
	sys_munmap(r, FM_PAGE_SIZE);
	sys_munmap(r + FM_PAGE_SIZE + len, FM_PAGE_SIZE);
	if (p == MAP_FAILED) {
		sys_munmap(r + FM_PAGE_SIZE, len);
		errno = err;
	}
	return p;
}

/* shrink_in_place - mremap to a smaller size, in place, of a range that
 * touches faultmap vmas: as the kernel does, only the mapping at start must
 * exist, and the tail [start + new_len, start + old_len) is unmapped,
 * whatever it holds. The kernel does it; the records follow.
 * Return: the address, or MAP_FAILED with errno. Context: both locks. */
static void *shrink_in_place(struct mm *mm, void *old_address, size_t old_size,
			     size_t new_size, int flags)
{
	uintptr_t lo = (uintptr_t)old_address + page_round(new_size);
	uintptr_t hi = (uintptr_t)old_address + page_round(old_size);
	int err = vma_carve(mm, lo, hi);
	if (err)
		return fail_ptr(err);
	void *p = sys_mremap(old_address, old_size, new_size, flags, NULL);
	if (p != MAP_FAILED && (err = mm_unmap_range(mm, lo, hi)))
		return fail_ptr(err);
	return p;
}

/* unmap_both - unmap [lo, hi): the kernel's mappings and the records.
 * Context: both locks. */
static int unmap_both(struct mm *mm, uintptr_t lo, uintptr_t hi)
{
	int err = vma_carve(mm, lo, hi);
	if (!err && sys_munmap((void *)lo, hi - lo) < 0)
		err = -errno;
	if (!err)
		err = mm_unmap_range(mm, lo, hi);
	return err;
}

/* mm_reregister_near - register again every vma in a run of touching vmas
 * that reaches [lo, hi]: the kernel may have merged a view it moved there
 * with its neighbours, dropping their userfaultfd context. Context:
 * engine.lock (and the map lock of the mm's process). */
int mm_reregister_near(struct mm *mm, uintptr_t lo, uintptr_t hi)
{
	int err = 0;
	struct vma *first = NULL;
	uintptr_t run_end = 0;
	bool hit = false;
	for (struct vma *v = mm->vmas;; v = v->mm_next) {
		if (!v || !first || v->vm_start != run_end) { /* a run ends */
			for (struct vma *r = hit ? first : NULL; r && r != v && !err; r = r->mm_next)
				err = reregister(r);
			if (!v || err)
				return err;
			first = v;
			hit = false;
		}
		run_end = v->vm_end;
		hit |= v->vm_end >= lo && v->vm_start <= hi;
	}
}

/* move_range - mremap of [old, old + len) to [to, to + len) when it holds
 * several mappings. Linux 6.17 on moves them all, one vma after the other
 * (but not views registered with a userfaultfd): the first page must be
 * mapped; a hole after it is passed over, and the target's pages facing it
 * stay as they were. So here: each of the kernel's vmas in turn, the
 * target's part facing it unmapped first, and faultmap's records in it
 * following it (a record does not follow the splits of a protection or a
 * hint, and the kernel may merge two views into one vma), registered
 * again. Return: to, or MAP_FAILED with errno. Context: both locks. */
static void *move_range(struct mm *mm, void *old, size_t len, uintptr_t to)
{
	uintptr_t start = (uintptr_t)old, end = start + len, at = start, lo, hi;
	if (kernel_vma_at(start, &hi), !hi)
		return fail_ptr(-EFAULT);
	int err = vma_carve(mm, start, end);
	while (!err && at < end) {
		kernel_vma_from(at, &lo, &hi);
		if (!hi || lo >= end)
			break; /* a hole to the end */
		at = lo > at ? lo : at;
		hi = hi < end ? hi : end;
		for (struct vma *v = mm->vmas; v && v->vm_start < hi && !err; v = v->mm_next)
			if (v->vm_end > hi)
				err = vma_split(v, hi);
		if (!err)
			err = unmap_both(mm, at - start + to, hi - start + to);
		if (!err && sys_mremap((void *)at, hi - at, hi - at, MREMAP_MAYMOVE | MREMAP_FIXED,
				       (void *)(at - start + to)) == MAP_FAILED)
			err = -errno;
		for (struct vma *v = mm->vmas; !err && v;) {
			if (v->vm_start >= at && v->vm_end <= hi) {
				vma_move(v, v->vm_start - start + to);
				v = mm->vmas; /* the list is in address order */
			} else {
				v = v->mm_next;
			}
		}
		at = hi;
	}
	if (!err)
		err = mm_reregister_near(mm, to, to + len);
	return err ? fail_ptr(err) : (void *)to;
}

/* see_file_size - the file may have grown behind the engine's back (another
 * fd, another process): make the cache cover it before a view grows into
 * the new pages, which would else raise SIGBUS (fm_mremap; the daemon's
 * FMD_MREMAP). Context: engine.lock. */
int see_file_size(struct address_space *as)
{
	struct stat st;
	if (fstat(file_store_fd(as->store, false), &st) == 0 &&
	    (uint64_t)st.st_size > as->i_size)
		return as_resize(as, (uint64_t)st.st_size);
	return 0;
}

void *fm_mremap(void *old_address, size_t old_size, size_t new_size, int flags, ...)
{
	void *new_address = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		new_address = va_arg(ap, void *);
		va_end(ap);
	}
	if (fm_client_mode())
		return client_mremap(old_address, old_size, new_size, flags, new_address);
	uintptr_t start = (uintptr_t)old_address, to = (uintptr_t)new_address;
	size_t old_len = page_round(old_size), new_len = page_round(new_size);
	/* The kernel's checks of the arguments, made before it looks at or
	 * changes any mapping, are left to it (and an unknown flag must not
	 * be dropped on the way). */
	bool fixed = flags & MREMAP_FIXED;
	if (!engine.started || engine.forked_child || (start & (FM_PAGE_SIZE - 1)) ||
	    (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) ||
	    ((flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) && !(flags & MREMAP_MAYMOVE)) ||
	    new_len == 0 || new_len >= FM_TASK_SIZE ||
	    old_len >= FM_TASK_SIZE ||
	    (fixed && ((to & (FM_PAGE_SIZE - 1)) || to > FM_TASK_SIZE - new_len ||
		       (start + old_len > to && to + new_len > start)))) {
		void *p = sys_mremap(old_address, old_size, new_size, flags, new_address);
		if (fixed && engine.started && !engine.forked_child && new_len) {
			/* The kernel may have unmapped the target before it
			 * refused (an old size past the address space): the
			 * records of what it unmapped, or replaced, go. */
			sigset_t mask;
			map_lock_take(&mask);
			if (p == MAP_FAILED) {
				failed_fixed(new_address, new_len);
			} else {
				pthread_mutex_lock(&engine.lock);
				(void)mm_unmap_range(engine_self(), to, to + new_len);
				pthread_mutex_unlock(&engine.lock);
			}
			map_lock_drop(&mask);
		}
		return p;
	}
	sigset_t mask;
	map_lock_take(&mask);
	pthread_mutex_lock(&engine.lock);
	if (atomic_load(&refuse_count)) { /* a refused page moves as a normal one */
		refuse_forget(start, start + old_len);
		if (fixed)
			refuse_forget(to, to + new_len);
	}
	struct mm *mm = engine_self();
	bool ours = false;
	for (struct vma *v = mm->vmas; v && v->vm_start < start + (old_len ? old_len : 1);
	     v = v->mm_next)
		ours |= v->vm_end > start;
	int err = 0;
	struct vma *vma = NULL;
	uintptr_t kend = 0;
	if (ours && fixed && !(flags & MREMAP_DONTUNMAP) && old_len == new_len &&
	    (kernel_vma_at(start, &kend), kend < start + old_len)) {
		/* Several vmas, as Linux 6.17 on moves them: not by the kernel,
		 * which would move those before the first view, then refuse it
		 * (EFAULT), the move left half done. */
		void *p = move_range(mm, old_address, old_len, to);
		pthread_mutex_unlock(&engine.lock);
		map_lock_drop(&mask);
		return p;
	}
	if (ours && fixed && !(flags & MREMAP_DONTUNMAP) && old_len) {
		/* The kernel finds the mapping to move (one mapping from start
		 * for what is kept), then unmaps the target and the tail a
		 * shrink cuts off. */
		size_t keep = new_len < old_len ? new_len : old_len;
		err = vma_carve(mm, start, start + keep);
		bool keep_ours = false;
		for (struct vma *v = mm->vmas; v && v->vm_start < start + keep; v = v->mm_next)
			keep_ours |= v->vm_end > start;
		if (!err && !keep_ours) {
			/* The kernel's own mapping moves: faultmap's in the tail
			 * it cuts off or in the target only lose their records. */
			void *p = sys_mremap(old_address, old_size, new_size, flags, new_address);
			if (p != MAP_FAILED && new_len < old_len)
				err = mm_unmap_range(mm, start + new_len, start + old_len);
			if (p != MAP_FAILED && !err)
				err = mm_unmap_range(mm, to, to + new_len);
			pthread_mutex_unlock(&engine.lock);
			map_lock_drop(&mask);
			return err ? fail_ptr(err) : p;
		}
		if (!err)
			err = mm_track_evenly(mm, start, start + keep);
		if (!err) {
			vma_merge_range(mm, start, start + keep);
			struct vma *v = vma_find(mm, start);
			if (!v || v->vm_end < start + keep)
				err = -EFAULT;
		}
		if (err == -EFAULT && old_len == new_len) {
			/* A move that keeps the size may take several mappings
			 * (Linux 6.17 on). */
			void *p = move_range(mm, old_address, old_len, to);
			pthread_mutex_unlock(&engine.lock);
			map_lock_drop(&mask);
			return p;
		}
		/* The kernel grows one vma, and moves what a shrink keeps only
		 * if one vma holds it: else EFAULT, the target and the tail
		 * left as they were. */
		if (!err && new_len != old_len && (kernel_vma_at(start, &kend), kend < start + keep))
			err = -EFAULT;
		if (!err)
			err = unmap_both(mm, to, to + new_len);
		if (!err && new_len < old_len) {
			err = unmap_both(mm, start + new_len, start + old_len);
			old_size = old_len = new_len;
		}
	}
	if (err) {
	} else if (ours) {
		/* Duplicating a mapping (old_size 0) and MREMAP_DONTUNMAP are
		 * not done on faultmap mappings. */
		if (old_len == 0 || (flags & MREMAP_DONTUNMAP))
			err = -EINVAL;
		else if (new_len <= old_len && !(flags & MREMAP_FIXED)) {
			void *p = shrink_in_place(mm, old_address, old_size, new_size, flags);
			pthread_mutex_unlock(&engine.lock);
			map_lock_drop(&mask);
			return p;
		} else
			err = vma_carve(mm, start, start + old_len);
		if (!err)
			err = mm_track_evenly(mm, start, start + old_len);
		if (!err)
			vma_merge_range(mm, start, start + old_len);
		vma = err ? NULL : vma_find(mm, start);
		if (!err && (!vma || vma->vm_end != start + old_len))
			err = -EFAULT; /* as the kernel says for a range across vmas */
		if (!err && new_len > old_len)
			err = see_file_size(vma->mapping); /* pages to grow into */
	}
	pthread_mutex_unlock(&engine.lock);
	void *p = MAP_FAILED;
	if (!err && vma && (flags & MREMAP_MAYMOVE) && !(flags & MREMAP_FIXED)) {
		/* In place if it can be, else somewhere alone. */
		p = sys_mremap(old_address, old_size, new_size, 0, NULL);
		if (p == MAP_FAILED && errno == ENOMEM)
			p = mremap_isolated(old_address, old_size, new_size);
		if (p == MAP_FAILED)
			err = -errno;
	} else if (!err) {
		p = sys_mremap(old_address, old_size, new_size, flags, new_address);
		if (p == MAP_FAILED && errno == EFAULT && vma && fixed && old_len == new_len) {
			/* One record, several kernel vmas (a hint or a
			 * protection split the view): moved one by one. */
			pthread_mutex_lock(&engine.lock);
			p = move_range(mm, old_address, old_len, to);
			pthread_mutex_unlock(&engine.lock);
			map_lock_drop(&mask);
			return p;
		}
		if (p == MAP_FAILED)
			err = -errno;
		if (p != MAP_FAILED && !ours && fixed) {
			/* The kernel's own mapping moved over faultmap's: they
			 * lose their records. */
			pthread_mutex_lock(&engine.lock);
			err = mm_unmap_range(mm, to, to + new_len);
			pthread_mutex_unlock(&engine.lock);
		}
	}
	if (!err && vma) {
		pthread_mutex_lock(&engine.lock);
		err = remap_vma(vma, (uintptr_t)p, page_round(new_size));
		pthread_mutex_unlock(&engine.lock);
	}
	map_lock_drop(&mask);
	return err ? fail_ptr(err) : p;
}

/*
 * fm_remap_target - for remap_file_pages(start, size, ...) (the
 * interposer): whether faultmap maps any of [start, start + size), and if
 * so whether the kernel would take the call: one shared mapping of one
 * file from start on, without holes (-EINVAL otherwise). *fd gets a
 * descriptor of that file, writable if need be, for fm_mmap: the caller's
 * own, to close (in daemon mode the daemon's records answer).
 * Return: 1 (faultmap's: remap it), 0 (not faultmap's) or -errno.
 */
int fm_remap_target(uintptr_t start, size_t size, bool write, int *fd)
{
	if (fm_client_mode())
		return client_remap_target(start, size, write, fd);
	if (!engine.started || engine.forked_child)
		return 0;
	sigset_t mask;
	engine_lock_take(&mask);
	int ret = mm_remap_target(engine_self(), start, size, write, fd);
	engine_lock_drop(&mask);
	return ret;
}

/* mm_remap_target - fm_remap_target's check over mm: *fd gets a dup of the
 * file's descriptor, the caller's to close. Context: engine.lock. */
int mm_remap_target(struct mm *mm, uintptr_t start, size_t size, bool write, int *fd)
{
	int ret = 0;
	uintptr_t at = start;
	struct address_space *as = NULL;
	for (struct vma *v = mm->vmas; v && v->vm_start < start + size; v = v->mm_next) {
		if (v->vm_end <= start)
			continue;
		if (v->vm_start > at || !v->shared || (as && v->mapping != as) ||
		    (write && !v->may_write)) {
			ret = -EINVAL;
			break;
		}
		as = v->mapping;
		at = v->vm_end;
		ret = 1;
	}
	if (ret == 1 && at < start + size)
		ret = -EINVAL; /* runs past faultmap's mappings */
	if (ret == 1) {
		int f = file_store_fd(as->store, write);
		/* Not the interposer's fcntl, which keeps faultmap's fds. */
		*fd = f < 0 ? -1 : (int)syscall(SYS_fcntl, f, F_DUPFD_CLOEXEC, 0);
		if (*fd < 0)
			ret = f < 0 ? -EINVAL : -errno;
	}
	return ret;
}

int fm_stats(struct fm_stats *out)
{
	if (!out)
		return -EINVAL;
	if (fm_client_mode())
		return client_stats(out);
	sigset_t mask;
	engine_lock_take(&mask);
	fill_wait_landed(); /* what the program could read is counted */
	*out = engine.st;
	out->budget_bytes = engine.budget_pages * FM_PAGE_SIZE;
	out->resident_bytes = engine.lingering_pages * FM_PAGE_SIZE; /* unmapped files' */
	out->dirty_bytes = 0;
	for (struct address_space *as = engine.mappings; as; as = as->next) {
		out->resident_bytes += as->nr_resident * FM_PAGE_SIZE;
		out->dirty_bytes += as->nr_dirty * FM_PAGE_SIZE;
	}
	engine_lock_drop(&mask);
	return 0;
}

/* fm_debug_check_protected - writeback_check_protected() under the lock (for
 * the tests; not part of the API). */
bool fm_debug_check_protected(void)
{
	if (!engine.started || engine.forked_child)
		return true;
	sigset_t mask;
	engine_lock_take(&mask);
	bool ok = writeback_check_protected();
	engine_lock_drop(&mask);
	return ok;
}
