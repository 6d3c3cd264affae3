/*
 * internal.h - faultmap's types and cross-file declarations.
 *
 * Glossary (the seed's structures, as faultmap has them):
 *
 *   address_space  One per file (st_dev, st_ino): the file's page cache.
 *                  Its pages live in a memfd; page_tree indexes which are
 *                  resident (and remembers recently evicted ones as shadow
 *                  entries); i_mmap lists every vma that maps the file, in
 *                  every mm: the reverse map.
 *   view           An mmap of the memfd. A user mapping is a view at the
 *                  file offset (MAP_SHARED or MAP_PRIVATE of the memfd).
 *                  The engine keeps two views of its own per file:
 *                  fill_view, registered with userfaultfd, through which
 *                  UFFDIO_COPY inserts pages atomically, and direct_view,
 *                  unregistered, through which write-back reads pages
 *                  known to be resident (the kernel's direct map).
 *   vma            One mapped range of one mm: vm_start, vm_end, vm_pgoff,
 *                  shared or private. Kept in its mm's list and in its
 *                  address_space's i_mmap.
 *   mm             One process's mappings, with that process's userfaultfd.
 *                  The engine's own process is mm 0; a forked child gets an
 *                  mm of its own (UFFD_EVENT_FORK).
 *   page frame     A descriptor of one cached page (struct page in the
 *                  kernel): which file and index it holds, its LRU list and
 *                  whether it is dirty. The frame table is the mem_map.
 *   fault          A userfaultfd message: MISSING (page not in the cache) or
 *                  WP (first write to a clean page of a shared mapping).
 *   reclaim        Evicting frames so the cache stays within the budget.
 *   writeback      Writing dirty pages to the file.
 *
 * Locking: one mutex, engine.lock, protects every structure here. See
 * docs/design.md for what runs under it and what must never run under it.
 */
#ifndef FAULTMAP_INTERNAL_H
#define FAULTMAP_INTERNAL_H

#include "faultmap.h"
#include "kernel_compat.h"
#include "publish.h"
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#define FM_PAGE_SHIFT 12
#define FM_PAGE_SIZE (1UL << FM_PAGE_SHIFT)
#define FM_MIN_BUDGET_PAGES 16
#define FM_NIL UINT32_MAX
#define FM_CLUSTER_MAX 256 /* pages read by one miss, at most (io_buf) */
#define FM_RECLAIM_BATCH 32 /* pages evicted at once, at least */
#define FM_RA_AHEAD 4	    /* windows a stream has read ahead */
#define FM_RA_AHEAD_SLOW 8  /* the same, from a slow store (ra_ahead) */
#define FM_RA_AROUND 16	    /* pages read around a random miss, at least */
#define FM_VIEW_MIN_PAGES 16384 /* 64 MiB: the engine's views, at least */
#define FM_TASK_SIZE ((1UL << 47) - FM_PAGE_SIZE) /* x86-64, 4-level paging */

struct address_space;
struct vma;
struct mm;

/* The system calls' conventions, for the fm_ calls: -1 or MAP_FAILED with
 * errno set from -err. */
static inline int fail(int err)
{
	errno = -err;
	return -1;
}

static inline void *fail_ptr(int err)
{
	errno = -err;
	return MAP_FAILED;
}

static inline size_t page_round(size_t len)
{
	return (len + FM_PAGE_SIZE - 1) & ~(FM_PAGE_SIZE - 1);
}

/* ---- page.c: frame table and LRU lists --------------------------------- */

enum fm_lru {
	LRU_NONE,     /* frame is free */
	LRU_ONCE,     /* read by a sequential stream: evicted first */
	LRU_INACTIVE, /* read once by a fault: probation */
	LRU_ACTIVE,   /* refaulted soon after eviction: protected */
	LRU_WAIT,     /* dirty, of a file whose write-back failed: not chosen
		       * until its back-off ends (reclaim_backoff) */
	LRU_PINNED,   /* in a range locked by faultmap cache --lock (struct
		       * fm_pin): never chosen (the kernel's unevictable list) */
	LRU_COUNT
};

#define PG_DIRTY 0x1
#define PG_LOCKED 0x2 /* being read: not yet in the memfd, not on an LRU list */
#define PG_RESERVED 0x4 /* its blocks in the file are reserved (page_mkwrite) */

struct fm_frame {
	struct address_space *mapping; /* NULL when free */
	uint64_t index;		       /* page offset in the file */
	uint32_t prev, next;	       /* LRU (or free list) links */
	uint8_t lru;		       /* enum fm_lru */
	uint8_t flags;		       /* PG_* */
	uint8_t want_lru;	       /* PG_LOCKED: the list it will join */
};

struct fm_lru_list {
	uint32_t head, tail, count;
};

uint32_t frame_alloc(void);
void frame_free(uint32_t nr);
struct fm_frame *frame_get(uint32_t nr);
void lru_add(uint32_t nr, enum fm_lru list);
void lru_del(uint32_t nr);
void frame_table_destroy(void);

/* ---- address_space.c: the page cache of one file ------------------------ */

/* A page_tree slot: 0 empty, frame number + 1, or a shadow entry. */
#define SLOT_SHADOW 0x80000000u
#define TREE_CHUNK_SHIFT 9
#define TREE_CHUNK (1u << TREE_CHUNK_SHIFT)
#define TREE_CHUNK_BYTES_SHIFT (TREE_CHUNK_SHIFT + 2) /* uint32_t slots */

struct address_space {
	dev_t dev;
	ino_t ino;
	struct fm_store *store; /* where its pages come from (a reference) */
	bool in_memory;	      /* on tmpfs or ramfs: a read never waits for a disk */
	uint32_t ra_around;   /* pages read around a random miss (ra_window):
			       * the store's cluster_pages, at least 16 */
	uint8_t ra_ahead;     /* windows a stream reads ahead: FM_RA_AHEAD,
			       * or FM_RA_AHEAD_SLOW from a slow store */
	bool no_reserve;      /* the store cannot reserve (no fallocate):
			       * page_mkwrite reserves nothing */
	uint32_t nr_io;	      /* reads in flight without engine.lock: pins it */
	uint32_t nr_pins;     /* read()/write() calls using it: pins it */
	uint32_t nr_io_waiters; /* calls waiting for nr_io to drop to 0 */
	int memfd;	      /* the cache's memory */
	int ro_memfd;	      /* the memfd opened again read-only, for the
			       * daemon's views that may not write; -1 until
			       * one is asked for (one open file for them all,
			       * so that their vmas merge as the kernel's do) */
	char *path;	      /* the file's name when first mapped (for tools) */
	bool others_checked;  /* warn_other_caches ran (cached for writing) */
	uint64_t i_size;      /* file size when last looked at */
	uint64_t nr_pages;    /* pages in the memfd = ceil(i_size / page) */
	uint64_t view_pages;  /* length of fill_view and direct_view */
	char *fill_view;      /* registered; UFFDIO_COPY goes here */
	char *direct_view;    /* unregistered; only resident pages touched */
	struct retired_views *retired; /* old views, kept while nr_io */
	uint64_t wgen;	      /* changes whenever faultmap changes the file */
	/* The file as faultmap last knew it, to notice writers outside
	 * faultmap (as_revalidate): */
	uint64_t seen_size;
	struct timespec seen_mtime, seen_ctime;
	bool seen_unsure;     /* seen_ctime lies in the current tick of a file
			       * system with coarse timestamps: a change later
			       * in that tick would leave it as it is */
	bool seen_current;    /* as_change_begin found it true */
	bool fine_ctime;      /* the file system stamps each change that follows
			       * a stat with a new ctime (multigrain, Linux 6.13) */
	bool conflict_said;   /* stderr told of dirty pages an outside change met */
	uint32_t **page_tree; /* chunks of TREE_CHUNK slots */
	uint64_t tree_chunks;
	uint64_t nr_resident;
	uint64_t nr_dirty;
	struct errseq wb_err; /* errseq.h: each error told once to each opener */
	int wb_last_err;      /* the last write-back error (for reports) */
	bool wb_reported;     /* its dirty pages were reported unwritten */
	uint32_t wb_failures; /* write-backs failed in a row */
	uint64_t wb_retry_at; /* eviction writes it back again from this
			       * reclaim pass on (engine.reclaim_passes) */
	struct vma *i_mmap;   /* every vma mapping this file */
	struct fm_file_counts st; /* its counters (publish.h), for faultmap stat */
	bool kept;	      /* the daemon keeps its pages with nothing mapping
			       * it (faultmap cache --touch, --lock), until they
			       * are evicted (as_release_idle) */
	struct fm_pin *pins;  /* its locked ranges (reclaim_pin) */
	bool rescued;	      /* the daemon's rescue file holds its dirty pages */
	bool rescued_at_stop; /* since rescue_stop made it: gone again if the
			       * stop is called off (rescue_resume) */
	uint64_t rescue_wgen, rescue_dirty; /* wgen and nr_dirty at that copy */
	struct address_space *next;
};

/* A locked range of a file: pages [start, end) stay on LRU_PINNED while it
 * lasts (faultmap cache --lock; the daemon drops it when the connection
 * that made it ends). It holds a reference (nr_pins) on its file. */
struct fm_pin {
	struct address_space *as;
	uint64_t start, end;
	struct fm_pin *next;	   /* in as->pins */
	struct fm_pin *owner_next; /* in its owner's list (the daemon's client) */
};

struct address_space *as_get(int fd, const struct stat *st, int *err);
struct address_space *as_find(dev_t dev, ino_t ino);
/* linger_drop_oldest - let go of the oldest lingering file's pages (for
 * room). Return: whether there was one. Context: engine.lock. */
bool linger_drop_oldest(void);
/* linger_count - whether a lingering cache of the file (st: its fstat,
 * still as it was) exists; *pages: those of [first, end) it holds.
 * Context: engine.lock. */
bool linger_count(const struct stat *st, uint64_t first, uint64_t end, uint64_t *pages);
/* linger_evict - let go of the lingering cache of the file (st). Return:
 * its pages. Context: engine.lock. */
uint64_t linger_evict(const struct stat *st);
/* madvise_kernel_part - advice for the kernel on [lo, hi), a part of a
 * range that is not faultmap's: a hole there is remembered in *unmapped
 * (ENOMEM, said at the end, as the kernel goes on past it). Return: 0, or
 * another error of the kernel's, which ends the walk. (mmap.c) */
int madvise_kernel_part(uintptr_t lo, uintptr_t hi, int advice, int *unmapped);
/* view_small_pages - a view of a cache's memfd is never made of large
 * folios (MADV_NOHUGEPAGE; address_space.c says why). */
void view_small_pages(void *view, size_t len);
void as_release_idle(void);
void as_put_if_unused(struct address_space *as);
void as_wait_reads(struct address_space *as);
int as_resize(struct address_space *as, uint64_t i_size);
int as_set_size(struct address_space *as, uint64_t i_size);
ssize_t as_read(struct address_space *as, void *buf, size_t len, uint64_t off);
int as_sync(struct address_space *as);
void as_io_done(struct address_space *as);
void as_file_changed(struct address_space *as);
void as_revalidate(struct address_space *as, const struct stat *st);
void as_change_begin(struct address_space *as);
void as_change_end(struct address_space *as);

/* io.c: the io_uring rings (write-back's is the file store's). */
struct io_uring;
bool io_ring_init(struct io_uring *r, unsigned depth);
void io_start(void);
/* io.c: the main fault thread's reads (only that thread calls these). */
void io_read_init(unsigned depth);
void io_read_exit(void);
int io_read_fd(void);
bool io_read_usable(void);
int io_read_submit(int fd, void *buf, size_t len, uint64_t off, void *tag);
bool io_read_reap(bool wait, void **tag, int *res);
uint32_t *as_slot(struct address_space *as, uint64_t index, bool create);
uint32_t as_find_frame(struct address_space *as, uint64_t index);
void as_destroy_all(void);

/* ---- filemap.c: read(), write() and truncation of cached files --------- */

bool filemap_is_cached(int fd);
void filemap_lock_taken(int fd);
/* user_copy - copy len bytes between the engine's buffer mine and the
 * program's buffer user as the kernel's copy_to_user/copy_from_user would
 * (a bad user buffer stops the copy, never crashes). Return: bytes copied.
 * Context: engine.lock not held. */
size_t user_copy(void *mine, uintptr_t user, size_t len, bool to_user);
/* rw_check - the kernel's checks of a read (write: false) or write on an
 * fd of status flags fl, before it moves a byte, in its order: EBADF (the
 * fd's mode), EFAULT (the buffer's range), EINVAL (count, position).
 * Return: 0 or -errno. */
int rw_check(int fl, bool write, const void *buf, size_t count, off_t pos);
/* The most one read or write moves, as Linux clamps it. */
#define MAX_RW_COUNT (INT_MAX & ~(FM_PAGE_SIZE - 1))
/* The errseq number (the last write-back error it was told of) that the
 * open file fd's record holds: get says whether it has one; set gives it
 * one. For the daemon, which sees a client's fd under a new number at each
 * request and keeps the number per client fd between requests. */
bool filemap_fd_errseq_get(int fd, uint32_t *since);
void filemap_fd_errseq_set(int fd, uint32_t since);
void filemap_fd_opened(int fd);
int filemap_fd_told(int fd, struct address_space *as, int err);
void filemap_fds_closed(unsigned int first, unsigned int last);
int filemap_fsync_standin(int fd, bool datasync);
void filemap_as_freed(struct address_space *as);

/* ---- vma.c: the mappings of a process ----------------------------------- */

enum fm_ra_mode { RA_NORMAL, RA_RANDOM, RA_SEQUENTIAL };

struct file_ra_state {
	uint64_t next; /* index where a sequential stream would miss next */
	uint64_t async_end; /* end of the windows read ahead of it, or 0 */
	uint64_t marks[FM_RA_AHEAD_SLOW]; /* their markers, nearest first */
	uint8_t nmarks;
	uint32_t size; /* current window, pages */
	uint8_t mode;  /* enum fm_ra_mode */
};

struct vma {
	uintptr_t vm_start, vm_end; /* [start, end) in mm's address space */
	uint64_t vm_pgoff;	    /* file page at vm_start */
	bool shared;		    /* MAP_SHARED view */
	bool may_write;		    /* shared and the fd was writable */
	bool wp;		    /* registered for write-protect: shared and
				     * writable now or once (dirty tracking) */
	bool inline_faults;	    /* registered with engine.inline_uffd: its
				     * misses are served by the faulting thread
				     * (fault_inline) */
	struct file_ra_state ra;
	uint32_t wb_since;	    /* errseq: the last error msync reported */
	struct mm *mm;
	struct address_space *mapping;
	struct vma *mm_next;	 /* in mm->vmas, sorted by vm_start */
	struct vma *i_mmap_next; /* in mapping->i_mmap */
};

struct mm {
	int uffd;
	int notify; /* a daemon's client: its life line, where a refused
		     * write is told (struct fm_refusal); else -1 */
	bool dead; /* its process is gone */
	bool held; /* a daemon client's: its connection ends it (server.c),
		    * mm_reap_dead leaves it alone until then */
	struct vma *vmas;
	struct mm *next;
	/* What the engine did for this mm's process (a daemon's client: its
	 * row in faultmap stat, publish.h); engine.st counts every mm's.
	 * Under engine.lock, through count_event and count_read. */
	struct fm_stats st;
	uint64_t read_hits, read_misses;
	/* A daemon's client's FAULTMAP_TRACE_FD (FMD_TRACE): the daemon
	 * writes the lines of this mm's faults there, non-blocking, with
	 * t_us counted from trace_base_ns; else -1. Set once, under
	 * engine.lock; closed by mm_destroy. */
	_Atomic int trace_fd;
	uint64_t trace_base_ns;
	pid_t pid; /* a daemon's client: its process (inspect); else 0 */
	unsigned pinned; /* the helper fault thread polls it: not reaped */
};

/* mm_traced - whether the daemon writes mm's faults to its client's trace. */
static inline bool mm_traced(struct mm *mm)
{
	return atomic_load_explicit(&mm->trace_fd, memory_order_relaxed) >= 0;
}

struct vma *vma_find(struct mm *mm, uintptr_t addr);
struct vma *vma_new(struct mm *mm, struct address_space *as, uintptr_t start,
		    uintptr_t end, uint64_t pgoff, bool shared, bool may_write);
void vma_free(struct vma *vma);
int vma_split(struct vma *vma, uintptr_t addr);
int vma_carve(struct mm *mm, uintptr_t start, uintptr_t end);
void vma_move(struct vma *vma, uintptr_t start);
void vma_merge_range(struct mm *mm, uintptr_t start, uintptr_t end);
bool vma_range_covered(struct mm *mm, uintptr_t start, uintptr_t end);
int kernel_vma_at(uintptr_t addr, uintptr_t *end);
int kernel_vma_from(uintptr_t addr, uintptr_t *lo, uintptr_t *hi);
int kernel_holes(uintptr_t lo, uintptr_t hi, int (*forget)(uintptr_t, uintptr_t, void *),
		 void *arg);
/* populate_advice - how MAP_POPULATE fills a mapping, as the kernel's
 * populate does: a private writable one is written (each page becomes the
 * mapping's own copy at once, blind to later writes to the file), any
 * other is read. */
static inline int populate_advice(int flags, int prot)
{
	return (flags & MAP_TYPE) == MAP_PRIVATE && (prot & PROT_WRITE) ? MADV_POPULATE_WRITE
									: MADV_POPULATE_READ;
}
struct mm *mm_new(int uffd);
struct mm *mm_dup(struct mm *parent, int uffd);
void mm_unserve_child(struct mm *mm, bool inline_only);
void mm_destroy(struct mm *mm);
void mm_forget(struct mm *mm);
bool mm_alive(struct mm *mm);
static inline uint64_t vma_index(const struct vma *vma, uintptr_t addr)
{
	return vma->vm_pgoff + ((addr - vma->vm_start) >> FM_PAGE_SHIFT);
}

/* ---- uffd.c: the userfaultfd layer -------------------------------------- */

int uffd_open(int *out);
int uffd_open_client(int *out);
void uffd_explain_eperm(FILE *f);
/* Whether this process's userfaultfd reports forks (UFFD_FEATURE_EVENT_FORK
 * needs CAP_SYS_PTRACE). Set once by uffd_open at engine start. */
extern bool uffd_fork_events;
/* Every feature the kernel's userfaultfd offers (UFFDIO_API's answer), as
 * the last uffd_open learnt it (for faultmap doctor). */
extern uint64_t uffd_kernel_features;
/* uffd_open_sigbus - a userfaultfd made with UFFD_FEATURE_SIGBUS: a fault
 * in a range registered with it fails at once (SIGBUS, or EFAULT inside a
 * system call), never queued (refuse.c). Return: 0 or -errno. */
int uffd_open_sigbus(int *out);
int uffd_register(int uffd, void *addr, size_t len, bool wp);
int uffd_unregister(int uffd, uintptr_t addr, size_t len);
int uffd_copy(int uffd, void *dst, const void *src, size_t len, size_t *done);
int uffd_wake(int uffd, uintptr_t addr, size_t len);
int uffd_writeprotect(int uffd, uintptr_t addr, size_t len, bool protect);
int uffd_writeprotect_nowake(int uffd, uintptr_t addr, size_t len, bool protect);
int uffd_poison(int uffd, uintptr_t addr, size_t len);

/* ---- poison.c: a fault that must fail inside a system call --------------- */

struct uffd_msg;
/* poison_fault - the access of msg in vma must fail: if it was made
 * inside a system call, poison the page there, so that the call fails
 * with EFAULT, and wake the thread; in a daemon's client, tell it over its
 * life line (a struct fm_refusal with FM_NOTE_UNREADABLE), and it does
 * that or sends SIGBUS, and wakes the thread. Return: whether it did or
 * told (else: send SIGBUS). Context: engine.lock. */
bool poison_fault(struct vma *vma, const struct uffd_msg *msg);
/* poison_thread - in a daemon's client: the daemon could not read the
 * page at addr for thread tid (what: FM_NOTE_*). Poison it in this
 * process's view, through uffd, if the thread is inside a system call.
 * Return: 1 if it did (the thread is woken), 0 if the access was the
 * program's own load or store (send SIGBUS), -errno if it could not (send
 * SIGBUS); the caller wakes the thread but for 1. Context: map_lock. */
int poison_thread(int uffd, uintptr_t addr, pid_t tid, uint32_t what);
/* poison_reap - clear the markers whose access is over: those of thread
 * tid (it faults again), or with tid 0 those of threads now gone or seen
 * blocked elsewhere. Return: whether markers are left, to be looked at
 * again in POISON_CHECK_MS. Context: engine.lock (a daemon's client:
 * map_lock). */
bool poison_reap(pid_t tid);
#define POISON_CHECK_MS 10

/* ---- alloc.c: memory that a signal handler's mapping call may take ------ */

/* fm_alloc - n zeroed bytes, or NULL; from mmap'd memory of faultmap's own,
 * never from malloc (a handler may have interrupted malloc). fm_free
 * (NULL: nothing) and fm_realloc (contents kept, not zeroed past them)
 * take only what fm_alloc gave. */
void *fm_alloc(size_t n);
void *fm_realloc(void *p, size_t n);
void fm_free(void *p);
/* fm_alloc_bare - 2^shift zeroed bytes (32 B to 64 KiB) with no header, so
 * that a power-of-two record takes its own size; fm_free_bare takes it back
 * with the same shift. */
void *fm_alloc_bare(unsigned shift);
void fm_free_bare(void *p, unsigned shift);
char *fm_strdup(const char *s);

/* ---- refuse.c: a first write refused inside a system call ----------------- */

/* thread_syscall - the line of /proc/self/task/TID/syscall into buf.
 * Return: 0, or -errno (-ENOENT: the thread is gone). */
int thread_syscall(pid_t tid, char *buf, size_t n);
/* syscall_line_in_call - whether that line shows the thread inside a
 * system call (not "-1 ...": a fault from user mode; not "running"). */
bool syscall_line_in_call(const char *line);
/* refuse_write - the first write of thread tid to this process's shared
 * view at addr (registered with userfaultfd uffd) cannot be accepted
 * (page_mkwrite: ENOSPC). If the thread is inside a system call, move the
 * page to a userfaultfd whose faults fail at once, until the engine finds
 * room (refuse_forget), so that the call fails with EFAULT, a store of any
 * thread gets SIGBUS, and loads still read the page; the caller then wakes
 * the thread.
 * Return: 1 if it did, 0 if the write was the program's own store (send
 * SIGBUS), -errno if it could not (send SIGBUS). Context: this process's
 * refusal lock: engine.lock in embedded mode, the client's map_lock in
 * daemon mode. */
int refuse_write(int uffd, uintptr_t addr, pid_t tid);
/* refuse_forget - the engine found room for the refused pages in [lo, hi)
 * (FM_NOTE_ROOM in a daemon's client), a mapping call changes the range,
 * or the process forks: move them back (those still mapped) and forget
 * them. Context: the refusal lock. */
void refuse_forget(uintptr_t lo, uintptr_t hi);
/* shared_view - whether addr is in one of this process's faultmap shared
 * views (from /proc/self/maps). */
bool shared_view(uintptr_t addr);
extern _Atomic unsigned refuse_count; /* refusals in place: 0 most of the time */
/* What the daemon tells a client over its life line: thread tid's first
 * write to the page at addr is refused (refuse_write, in the client). */
struct fm_refusal {
	uint64_t addr;
	int32_t tid;
	uint32_t what; /* 0: a refused write; else FM_NOTE_UNREADABLE and
			* what the view is (poison_thread) */
};
#define FM_NOTE_UNREADABLE 1u /* the page at addr cannot be read */
#define FM_NOTE_WP 2u	      /* the view tracks writes */
#define FM_NOTE_SHARED 4u     /* the view is shared */
#define FM_NOTE_ROOM 8u	      /* the refused write at addr may be made now */

/* ---- fault.c: serving faults -------------------------------------------- */

int fault_thread_start(void);
void fault_thread_stop(void);
void fault_thread_kick(void);
/* refusal_holds - whether frame f is a page whose first write a process
 * holds refused: eviction leaves it (a load of it there would fail).
 * Context: engine.lock. */
bool refusal_holds(const struct fm_frame *f);
void fault_fork_prepare(void);
void fault_fork_parent(void);
void fault_fork_child(void);
void mm_reap_dead(void);
/* fill_wait_landed - wait until every page a fill has put in a memfd is
 * counted (before a read of the counters). Context: engine.lock held;
 * dropped while it waits. */
void fill_wait_landed(void);
int filemap_read_pages(struct address_space *as, uint64_t start, uint64_t count,
		       bool once, char *buf, bool unlock_for_io);
int filemap_touch_pages(struct address_space *as, uint64_t start, uint64_t count, char *buf);
void ra_window(struct vma *vma, struct address_space *as, uint64_t index,
	       uint64_t *start, uint64_t *count, bool *once);

/* ---- reclaim.c: keeping the cache within its budget --------------------- */

int reclaim_reserve(uint64_t pages);
void reclaim_note_fault(struct address_space *as, uint64_t index);
uint64_t frames_available(void);
int reclaim_prepare(struct address_space *as, uint64_t index, uint32_t nr, bool once);
void reclaim_insert(uint32_t nr);
void reclaim_abort(uint32_t nr);
void reclaim_drop_range(struct address_space *as, uint64_t start, uint64_t end);
bool reclaim_evict_page(struct address_space *as, uint64_t index);
void reclaim_drop_mapping(struct address_space *as);
uint64_t reclaim_invalidate(struct address_space *as);
void reclaim_backoff(struct address_space *as, int err);
void reclaim_backoff_end(struct address_space *as);
uint64_t reclaim_pin_limit(void);
int reclaim_pin(struct address_space *as, uint64_t start, uint64_t end, struct fm_pin **out);
void reclaim_unpin(struct fm_pin *pin);
bool reclaim_pinned(struct address_space *as, uint64_t index);
uint64_t reclaim_drop_clean(struct address_space *as, uint64_t start, uint64_t end);

/* ---- writeback.c: dirty pages to the file -------------------------------- */

int writeback_range(struct address_space *as, uint64_t start, uint64_t end);
/* A batch of runs to write back together (io_write puts them in flight at
 * once): writeback_begin, writeback_add for each range, writeback_finish. */
#define WB_BATCH 64
struct wb_batch {
	struct fm_store_io req[WB_BATCH];
	struct address_space *as[WB_BATCH];
	uint64_t index[WB_BATCH], count[WB_BATCH];
	size_t n;
	int err;
};
void writeback_begin(struct wb_batch *b);
void writeback_add(struct wb_batch *b, struct address_space *as, uint64_t start,
		   uint64_t end);
int writeback_finish(struct wb_batch *b);
void writeback_protect(struct address_space *as, uint64_t index, uint64_t count);
void page_mark_dirty(struct address_space *as, uint32_t nr);
int page_mkwrite(struct address_space *as, uint32_t nr);
int writeback_all(void);
bool writeback_check_protected(void);
void writeback_report(struct address_space *as, int err, bool kept);
/* writeback_capture - from now on, this thread's write-back reports are
 * also put in buf (size bytes, NUL-terminated, cut short when full); size
 * 0 stops it. For the daemon: the client whose request it serves hears of
 * them. */
void writeback_capture(char *buf, size_t size);

/* A fault on a page another fault thread is reading: resolved when the
 * read completes. */
struct fm_waiter {
	struct mm *mm;
	uintptr_t addr;
	bool write;
	struct address_space *mapping;
	uint64_t index;
};

/* ---- sys.c: the system calls the engine makes ---------------------------- */

/* File I/O that tests can make fail. */
struct fm_sys {
	ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
	ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
	int (*fdatasync)(int fd);
	/* The reservation of a page's blocks before its first write. */
	int (*fallocate)(int fd, int mode, off_t off, off_t len);
	/* What the main fault thread's ring says of its read of len bytes at
	 * file offset off (bytes or -errno): tests replace it to make those
	 * reads fail or come back short. */
	int (*read_done)(uint64_t off, uint64_t len, int res);
};
extern struct fm_sys fm_sys;

/*
 * The calls the interposer (interposer/) takes over are made by the engine
 * through these, so that in libfaultmap-preload.so (built with
 * FM_INTERPOSER) they go straight to the kernel and never back into the
 * interposer. Elsewhere they are the libc functions, which the sanitizers
 * see. They behave as the libc functions: -1 (MAP_FAILED) and errno.
 */
void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int sys_munmap(void *addr, size_t len);
int sys_madvise(void *addr, size_t len, int advice);
int sys_mprotect(void *addr, size_t len, int prot);
int sys_msync(void *addr, size_t len, int flags);
void *sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);
int sys_ftruncate(int fd, off_t len);
int sys_fallocate(int fd, int mode, off_t off, off_t len);
ssize_t sys_read(int fd, void *buf, size_t n);
ssize_t sys_write(int fd, const void *buf, size_t n);
ssize_t sys_pread(int fd, void *buf, size_t n, off_t off);
ssize_t sys_pwrite(int fd, const void *buf, size_t n, off_t off);
int sys_openat(int dirfd, const char *path, int flags, mode_t mode);
int sys_fsync(int fd);
int sys_fdatasync(int fd);
int sys_sync_file_range(int fd, off_t off, off_t len, unsigned int flags);
int sys_syncfs(int fd);
void sys_sync(void);

/*
 * The engine's own file descriptors are moved above FM_FD_FLOOR and kept in
 * a set, so that a program that closes every fd (or dup2()s over one)
 * cannot take them away: the interposer's close() leaves a kept fd open.
 * fd_keep returns the new fd (closing fd), or fd itself if it cannot move
 * it; sys_close really closes, and forgets the fd.
 */
#define FM_FD_FLOOR 512
int fd_keep(int fd);
bool fd_kept(int fd);
/* fd_path - what /proc/self/fd/<fd> names, NUL-terminated in buf.
 * Return: its length, or -errno. */
ssize_t fd_path(int fd, char *buf, size_t size);
int sys_close(int fd);
#ifdef FM_INTERPOSER
/*
 * The interposer's side (sys.c): fd_beyond_limit says whether fd is at or
 * beyond the RLIMIT_NOFILE soft limit the program sees; fd_getrlimit and fd_setrlimit are RLIMIT_NOFILE as
 * the program sees and sets it (0 or -errno); fd_limit_for_exec gives the
 * real limit back to the program before an exec (the next fd_keep raises
 * it again if the exec fails); fd_limit_fork_child resets its lock in a
 * forked child.
 */
struct rlimit;
bool fd_beyond_limit(int fd);
int fd_getrlimit(struct rlimit *rl);
int fd_setrlimit(const struct rlimit *rl);
void fd_limit_for_exec(void);
void fd_limit_fork_child(void);
#endif

/* ---- mmap.c: the engine ------------------------------------------------- */

struct fm_engine {
	pthread_mutex_t lock;
	bool started;
	bool forked_child;
	pid_t pid; /* of the process whose engine this is */
	bool inline_faults; /* FAULTMAP_INLINE_FAULTS: views that do not track
			     * writes take their misses in the faulting thread */
	int inline_uffd;    /* UFFD_FEATURE_SIGBUS: those views' userfaultfd */
	int start_err;
	uint64_t budget_pages;
	struct mm *mms;	 /* mms[0] is this process */
	struct address_space *mappings;
	_Atomic unsigned nr_cached; /* files in mappings (read without lock) */
	/* frame table (page.c) */
	struct fm_frame *frames;
	uint32_t nr_frames, frames_cap, free_head, nr_free;
	struct fm_lru_list lru[LRU_COUNT];
	uint64_t eviction_clock; /* evictions so far: shadow-entry clock */
	uint64_t reclaim_passes; /* eviction rounds so far: back-off clock */
	uint64_t wait_expiry;	 /* when a page on LRU_WAIT may leave it */
	char *io_buf;		 /* one cluster, for reads under the lock */
	struct fm_waiter *waiters; /* faults on pages being read */
	size_t nr_waiters, waiters_cap;
	struct fm_stats st;
	uint64_t read_hits, read_misses; /* pages of read() calls (publish.h) */
	uint64_t pinned_pages; /* pages of every fm_pin (reclaim_pin_limit) */
	uint64_t linger_s;	 /* a file's pages are kept this long after its
				  * last unmap (the daemon: FAULTMAP_LINGER); 0:
				  * dropped then (embedded mode) */
	uint64_t lingering_pages; /* theirs, in the budget (frames_available) */
};
extern struct fm_engine engine;

/* vma_uffd - the userfaultfd v's view is registered with. */
static inline int vma_uffd(const struct vma *v)
{
	return v->inline_faults ? engine.inline_uffd : v->mm->uffd;
}

/* fault_inline_start - with FAULTMAP_INLINE_FAULTS, the userfaultfd whose
 * faults are SIGBUS and the handler that serves them. Return: 0 or
 * -errno. Context: engine start, engine.lock. */
int fault_inline_start(void);
/* fault_inline_touch - a copy by the kernel (user_copy) stopped at addr: if
 * it is a missing page of an inline view, read it in. Return: whether the
 * copy may be tried again; errno as it was. Context: engine.lock not held. */
bool fault_inline_touch(uintptr_t addr);

/* current_mm - the mm whose fault or request this thread is serving, when
 * the engine serves other processes (the daemon: its client's mm), else
 * NULL. count_event and count_read count an event in engine.st and in
 * current_mm's own counters. Set and cleared with engine.lock held, while
 * the mm cannot be freed. */
extern _Thread_local struct mm *current_mm;
#define count_event(field, n)                                                  \
	do {                                                                   \
		uint64_t n_ = (n);                                             \
		engine.st.field += n_;                                         \
		if (current_mm)                                                \
			current_mm->st.field += n_;                            \
	} while (0)
#define count_read(which, n)                                                   \
	do {                                                                   \
		uint64_t n_ = (n);                                             \
		engine.read_##which += n_;                                     \
		if (current_mm)                                                \
			current_mm->read_##which += n_;                        \
	} while (0)

int engine_start(void);
/* engine_lock_take - engine.lock, with every signal blocked (the old mask
 * into *old): a handler that maps, msyncs or reads a cached file would
 * wait forever for the lock its own thread holds. engine_lock_drop: the
 * lock released, *old restored. */
void engine_lock_take(sigset_t *old);
void engine_lock_drop(const sigset_t *old);
/* engine_exit_writeback - the exit's write-back now (once, whoever asks
 * first: a store library's exit handler, or the engine's own). */
void engine_exit_writeback(void);
int fm_start(void);
/* The mmap flags faultmap leaves to the kernel: a mapping with one of them
 * is the kernel's (MAP_LOCKED would pin pages the engine evicts,
 * MAP_GROWSDOWN grows a view the engine does not know, MAP_HUGETLB and
 * MAP_SYNC ask for memory a memfd view is not). Every other flag is served:
 * MAP_32BIT and MAP_STACK only place the mapping, and the kernel ignores
 * MAP_UNINITIALIZED and unknown bits for files. */
#define FM_KERNEL_MAP_FLAGS (MAP_LOCKED | MAP_GROWSDOWN | MAP_HUGETLB | MAP_SYNC)
bool fm_mmap_serves(int flags);
void *mmap_by_kernel(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
/* The engine's side of the mapping calls, for any mm (the daemon's
 * clients: src/daemon/server.c). Context: engine.lock. */
int mm_unmap_range(struct mm *mm, uintptr_t start, uintptr_t end);
int mm_madvise_range(struct mm *mm, uintptr_t start, uintptr_t end, int advice);
int mm_start_tracking(struct mm *mm, uintptr_t start, uintptr_t end, uintptr_t *stop);
int mm_track_evenly(struct mm *mm, uintptr_t start, uintptr_t end);
int mm_reregister_near(struct mm *mm, uintptr_t lo, uintptr_t hi);
int see_file_size(struct address_space *as);
/* client.c: whether this process's mappings are served by the daemon
 * (FAULTMAP_MODE, fm_set_mode) rather than by an engine of its own. */
bool fm_client_mode(void);
int fm_remap_target(uintptr_t start, size_t size, bool write, int *fd);
int mm_remap_target(struct mm *mm, uintptr_t start, size_t size, bool write, int *fd);
int fm_sync_all(void);
bool fm_debug_check_protected(void);
#define engine_self() (engine.mms)

#endif /* FAULTMAP_INTERNAL_H */
