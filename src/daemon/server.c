/*
 * server.c - the faultmap daemon: one page cache for every process of its
 * user (issue 10; docs/design.md, "The daemon").
 *
 * The daemon runs the engine (mmap.c and the rest) for itself, as the
 * library does in embedded mode, and gives each client process an mm of
 * its own, made of the client's userfaultfd (sent with FMD_HELLO). The
 * fault thread serves every mm's userfaultfd alike, so a client's miss is
 * read by the daemon's fault thread, filled into the file's memfd through
 * the daemon's own fill view, and woken through the client's userfaultfd:
 * no extra hop against embedded mode. A client maps the memfds itself (a
 * process can only change its own address space): the daemon keeps the
 * records (vmas), answers the messages of proto.h, and writes back.
 *
 * One thread per client reads its requests; each request takes
 * engine.lock for what it changes, and never waits for the client while
 * it holds it. A client that goes away (exit, SIGKILL, crash: the socket
 * ends) loses nothing: its mappings are forgotten as by munmap, so the
 * last mapping of a file writes its dirty pages back.
 */
#include "daemon/cache.h"
#include "daemon/files_table.h"
#include "daemon/proto.h"
#include "daemon/server.h"
#include "daemon/rescue.h"
#include "internal.h"
#include "runtime_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define FMD_MAX_CLIENTS 1024
#define FMD_MAX_VMAS 65530 /* the kernel's default vm.max_map_count */
#define FMD_MAX_PENDING_FORKS 64
#define FMD_FORK_TTL_S 30

/* What one of a client's fds was told of write-back errors (errseq),
 * kept between its flushes: the fd the daemon receives is a new number at
 * each request. Known by the client's fd number and the file. */
struct client_fd {
	int cfd;
	dev_t dev;
	ino_t ino;
	uint32_t since;
};
#define FMD_MAX_CLIENT_FDS 1024

/* A store a client opened (FMD_STORE_OPEN): one reference, by its number. */
struct client_store {
	uint64_t id;
	struct fm_store *s;
};
#define FMD_MAX_CLIENT_STORES 1024

/* stores_put - drop the references of stores[0..n) and free the array. */
static void stores_put(struct client_store *stores, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_put(stores[i].s);
	free(stores);
}

struct client {
	int sock;
	struct client_store *stores; /* FMD_MAX_CLIENT_STORES at most */
	size_t nstores;
	uint64_t last_store_id;
	struct client_fd *fds; /* errseq of its fds, FMD_MAX_CLIENT_FDS at most */
	size_t nfds;
	char *bounce; /* FMD_BOUNCE bytes shared with the client */
	struct fmd_bell *bell; /* after them */
	uint32_t served; /* requests received since the bell was made */
	int life; /* the client's life line: kept open; refusals are told there */
	pid_t pid;
	pid_t peer; /* the process that connected (SO_PEERCRED) */
	struct mm *mm;
	struct fm_pub *last; /* FMD_EXIT of a[0] = 1: its counters at the end */
	struct fmd_locks locks; /* faultmap cache --lock: until it goes */
};

/* A fork announced by FMD_FORK_PREPARE, waiting for its child. */
struct pending_fork {
	uint64_t token;
	struct mm *mm; /* the parent's vmas, no userfaultfd yet */
	struct client_store *stores; /* the parent's, a reference each */
	size_t nstores;
	uint64_t last_store_id;
	time_t born;
	struct pending_fork *next;
};

static struct pending_fork *pending; /* under engine.lock */
static unsigned nr_pending;
static _Atomic int nr_clients;
static int stop_fd = -1; /* eventfd: FMD_STOP asks the main loop to end */

/* ---- requests ------------------------------------------------------------ */

/* mm_count_vmas - how many vmas mm has. Context: engine.lock. */
static unsigned mm_count_vmas(const struct mm *mm)
{
	unsigned n = 0;
	for (const struct vma *v = mm->vmas; v; v = v->mm_next)
		n++;
	return n;
}

/* range_ok - a page-aligned, non-empty range that does not wrap and lies
 * in user space. */
static bool range_ok(uint64_t start, uint64_t len)
{
	return !(start & (FM_PAGE_SIZE - 1)) && !(len & (FM_PAGE_SIZE - 1)) && len &&
	       start + len > start && start + len <= FM_TASK_SIZE + FM_PAGE_SIZE;
}

/* is_userfaultfd - whether fd is a userfaultfd (a client could send any). */
static bool is_userfaultfd(int fd)
{
	char target[64];
	return fd_path(fd, target, sizeof(target)) > 0 &&
	       !strcmp(target, "anon_inode:[userfaultfd]");
}

static bool is_socket(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* attach - make mm the client's, served from now on through uffd. */
static void attach(struct client *c, struct mm *mm, int uffd, int life)
{
	mm->uffd = fd_keep(uffd);
	mm->held = true;
	mm->pid = c->peer;
	c->life = fd_keep(life);
	/* Refused writes are told there (fault.c, refuse_fault): a copy the
	 * mm keeps, which lives as long as it does. */
	mm->notify = c->life >= 0 ? fd_keep(fcntl(c->life, F_DUPFD_CLOEXEC, 0)) : -1;
	c->mm = mm;
	mm->next = engine.mms->next; /* after the daemon's own mm */
	engine.mms->next = mm;
	fault_thread_kick(); /* poll its userfaultfd too */
}

/* make_bounce - the client's bounce buffer for read() and write(): a memfd
 * that neither side can shrink (a shrunk one would fault the daemon).
 * Return: the memfd to send, or -errno. */
static int make_bounce(struct client *c)
{
	int fd = memfd_create("faultmap:bounce", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	void *p = MAP_FAILED;
	if (sys_ftruncate(fd, FMD_BOUNCE_MAP) == 0 &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0)
		p = sys_mmap(NULL, FMD_BOUNCE_MAP, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int err = -errno;
		close(fd);
		return err;
	}
	c->bounce = p;
	c->bell = (struct fmd_bell *)(c->bounce + FMD_BOUNCE);
	return fd;
}

/* The protocol this daemon speaks: FMD_VERSION, unless a test asks for a
 * daemon of another version (FAULTMAP_TEST_DAEMON_PROTOCOL, read once at
 * the start: test_idle_daemon_of_another_version_is_replaced). */
static uint64_t speaks = FMD_VERSION;

/* attached_clients - the processes whose mappings this daemon serves.
 * Context: engine.lock. */
static uint64_t attached_clients(void)
{
	uint64_t n = 0;
	for (struct mm *mm = engine.mms; mm; mm = mm->next)
		n += mm != engine_self() && !mm->dead;
	return n;
}

/* other_version - the answer to a client of another protocol: this
 * daemon's, and whether it serves anyone (a client of a newer version
 * replaces an idle one: FMD_STOP with a[0] = 1). Return: -EPROTO. */
static int other_version(struct fmd_rep *rep)
{
	rep->v[0] = speaks;
	pthread_mutex_lock(&engine.lock);
	rep->v[1] = attached_clients();
	pthread_mutex_unlock(&engine.lock);
	return -EPROTO;
}

static int do_hello(struct client *c, const struct fmd_req *r, int *fds, struct fmd_rep *rep,
		    int *out_fd)
{
	if (r->a[0] != speaks)
		return other_version(rep);
	if (!is_userfaultfd(fds[0]) || !is_socket(fds[1]))
		return -EBADF;
	*out_fd = make_bounce(c);
	if (*out_fd < 0)
		return *out_fd;
	struct mm *mm = mm_new(-1);
	if (!mm)
		return -ENOMEM;
	c->pid = (pid_t)r->a[1];
	pthread_mutex_lock(&engine.lock);
	attach(c, mm, fds[0], fds[1]);
	rep->v[0] = engine.budget_pages;
	pthread_mutex_unlock(&engine.lock);
	fds[0] = fds[1] = -1; /* kept */
	return 0;
}

/* view_memfd - the memfd to send for a view: the cache's own for a view
 * that may write the file, else the memfd opened again read-only, so that
 * a read-only fd never yields a writable shared view. The same open file
 * each time (as->ro_memfd): the kernel merges two views only if they map
 * one open file, as it merges two mappings of one fd of the file.
 * Context: engine.lock. */
static int view_memfd(struct address_space *as, bool writable)
{
	if (!writable && as->ro_memfd < 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", as->memfd);
		as->ro_memfd = fd_keep(sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0));
		if (as->ro_memfd < 0)
			return -1;
	}
	return fcntl(writable ? as->memfd : as->ro_memfd, F_DUPFD_CLOEXEC, 0);
}

static int do_mmap(struct client *c, const struct fmd_req *r, int fd, struct fmd_rep *rep,
		   int *memfd)
{
	uint64_t start = r->a[0], len = r->a[1], off = r->a[2];
	int prot = (int)r->a[3], type = (int)r->a[4];
	if (!range_ok(start, len) || (off & (FM_PAGE_SIZE - 1)) || off > (uint64_t)LLONG_MAX ||
	    (type != MAP_SHARED && type != MAP_PRIVATE) || r->a[5] > 1)
		return -EINVAL;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENODEV;
	int acc = fcntl(fd, F_GETFL) & O_ACCMODE;
	bool shared = type == MAP_SHARED;
	/* What the kernel checked in the client, checked again on the fd
	 * itself: a client gets only what its descriptors allow. */
	if (acc == O_WRONLY || (shared && (prot & PROT_WRITE) && acc != O_RDWR))
		return -EACCES;
	bool may_write = shared && acc == O_RDWR;
	bool wp = may_write && (prot & PROT_WRITE);
	pthread_mutex_lock(&engine.lock);
	int err = 0;
	if (r->a[5])
		err = mm_unmap_range(c->mm, start, start + len);
	if (!err && mm_count_vmas(c->mm) >= FMD_MAX_VMAS)
		err = -ENOMEM;
	struct address_space *as = err ? NULL : as_get(fd, &st, &err);
	if (as) {
		*memfd = view_memfd(as, may_write);
		struct vma *v = *memfd < 0 ? NULL
				 : vma_new(c->mm, as, start, start + len, off >> FM_PAGE_SHIFT,
					   shared, may_write);
		if (!v) {
			err = *memfd < 0 ? -errno : -ENOMEM;
			as_put_if_unused(as);
		} else {
			v->wp = wp;
		}
	}
	pthread_mutex_unlock(&engine.lock);
	if (err && *memfd >= 0) {
		close(*memfd);
		*memfd = -1;
	}
	rep->v[0] = wp;
	rep->v[1] = may_write;
	return err;
}

static int do_munmap(struct client *c, const struct fmd_req *r)
{
	if (!range_ok(r->a[0], r->a[1]))
		return -EINVAL;
	pthread_mutex_lock(&engine.lock);
	int err = mm_unmap_range(c->mm, r->a[0], r->a[0] + r->a[1]);
	pthread_mutex_unlock(&engine.lock);
	return err;
}

/* do_msync - the engine's part of msync: the client asked the kernel
 * first, for its own checks (holes, locked pages). */
static int do_msync(struct client *c, const struct fmd_req *r)
{
	uint64_t start = r->a[0], end = r->a[0] + r->a[1];
	int flags = (int)r->a[2];
	if (!range_ok(r->a[0], r->a[1]))
		return -EINVAL;
	int ret = 0;
	pthread_mutex_lock(&engine.lock);
	for (struct vma *v = c->mm->vmas; v && v->vm_start < end && !ret; v = v->mm_next) {
		if (v->vm_end <= start)
			continue;
		uintptr_t lo = v->vm_start > start ? v->vm_start : start;
		uintptr_t hi = v->vm_end < end ? v->vm_end : end;
		struct address_space *as = v->mapping;
		int err = 0;
		as_revalidate(as, NULL); /* changed outside faultmap? */
		if (v->shared && (flags & MS_SYNC)) {
			err = writeback_range(as, vma_index(v, lo), vma_index(v, hi));
			if (!err)
				err = as_sync(as);
		}
		int seen = errseq_check_and_advance(&as->wb_err, &v->wb_since);
		ret = seen ? seen : err;
	}
	pthread_mutex_unlock(&engine.lock);
	return ret;
}

/* madv_remove - MADV_REMOVE of [start, end), in address order as the
 * kernel goes: a faultmap mapping must be shared and writable (EACCES) and
 * gets a hole punched in its file, through the cache (fm_fallocate on the
 * daemon's own writable fd), so every view reads zeros there. It stops at
 * the first stretch with no faultmap mapping, which is the kernel's (a
 * hole, or a mapping of another kind): rep->v[0] says where it stopped
 * (end: done), rep->v[1] where that stretch ends; the client asks the
 * kernel for it, then the daemon again for the rest. */
static int madv_remove(struct client *c, uintptr_t start, uintptr_t end, struct fmd_rep *rep)
{
	for (uintptr_t at = start; at < end;) {
		pthread_mutex_lock(&engine.lock);
		struct vma *v = c->mm->vmas;
		while (v && v->vm_end <= at)
			v = v->mm_next;
		if (!v || v->vm_start > at) {
			rep->v[0] = at;
			rep->v[1] = v && v->vm_start < end ? v->vm_start : end;
			pthread_mutex_unlock(&engine.lock);
			return 0;
		}
		uintptr_t hi = v->vm_end < end ? v->vm_end : end;
		int wr_fd = file_store_fd(v->mapping->store, true);
		bool ok = v->shared && v->may_write && wr_fd >= 0;
		int fd = ok ? fcntl(wr_fd, F_DUPFD_CLOEXEC, 0) : -1;
		off_t off = (off_t)(vma_index(v, at) << FM_PAGE_SHIFT);
		pthread_mutex_unlock(&engine.lock);
		if (!ok)
			return -EACCES;
		if (fd < 0)
			return -errno;
		int err = fm_fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
				       (off_t)(hi - at)) < 0 ? -errno : 0;
		close(fd);
		if (err)
			return err;
		at = hi;
	}
	rep->v[0] = end;
	return 0;
}

static int do_madvise(struct client *c, const struct fmd_req *r, struct fmd_rep *rep)
{
	int advice = (int)r->a[2];
	if (!range_ok(r->a[0], r->a[1]))
		return -EINVAL;
	if (advice == MADV_REMOVE)
		return madv_remove(c, r->a[0], r->a[0] + r->a[1], rep);
	if (advice != MADV_NORMAL && advice != MADV_RANDOM && advice != MADV_SEQUENTIAL &&
	    advice != MADV_WILLNEED)
		return -EINVAL;
	pthread_mutex_lock(&engine.lock);
	int err = mm_madvise_range(c->mm, r->a[0], r->a[0] + r->a[1], advice);
	pthread_mutex_unlock(&engine.lock);
	return err;
}

static int do_touches(struct client *c, const struct fmd_req *r, struct fmd_rep *rep)
{
	uint64_t start = r->a[0], end = r->a[0] + r->a[1];
	if (end < start)
		return -EINVAL;
	pthread_mutex_lock(&engine.lock);
	const struct vma *v = c->mm->vmas;
	while (v && !(v->vm_start < end && v->vm_end > start))
		v = v->mm_next;
	rep->v[0] = 0;
	if (v) {
		rep->v[0] = v->vm_end < end ? v->vm_end : end;
		rep->v[1] = v->vm_start > start ? v->vm_start : start;
	}
	pthread_mutex_unlock(&engine.lock);
	return 0;
}

static int do_mprotect(struct client *c, const struct fmd_req *r, struct fmd_rep *rep)
{
	if (!range_ok(r->a[0], r->a[1]))
		return -EINVAL;
	pthread_mutex_lock(&engine.lock);
	uintptr_t stop = r->a[0] + r->a[1];
	int err = r->a[2] ? mm_track_evenly(c->mm, r->a[0], r->a[0] + r->a[1])
			  : mm_start_tracking(c->mm, r->a[0], r->a[0] + r->a[1], &stop);
	pthread_mutex_unlock(&engine.lock);
	rep->v[0] = stop;
	return err;
}

/* do_mremap - see FMD_MREMAP. */
static int do_mremap(struct client *c, const struct fmd_req *r, struct fmd_rep *rep)
{
	uint64_t old = r->a[0], old_len = r->a[1], to = r->a[2], new_len = r->a[3];
	if (!range_ok(old, old_len) || !range_ok(to, new_len) ||
	    (to != old && to < old + old_len && to + new_len > old))
		return -EINVAL;
	struct mm *mm = c->mm;
	pthread_mutex_lock(&engine.lock);
	int err = 0;
	if (new_len < old_len) { /* the kernel cut the tail off first */
		err = mm_unmap_range(mm, old + new_len, old + old_len);
		old_len = new_len;
	}
	if (!err)
		err = vma_carve(mm, old, old + old_len);
	struct vma *first = err ? NULL : vma_find(mm, old);
	if (!err && (!first || first->vm_start != old))
		err = -EFAULT;
	if (!err) { /* one mapping: contiguous records of one file */
		vma_merge_range(mm, old, old + old_len);
		if (first->vm_end != old + old_len)
			err = -EFAULT;
	}
	if (!err && new_len > old_len)
		err = see_file_size(first->mapping); /* pages it grew into */
	if (!err && to != old)
		err = mm_unmap_range(mm, to, to + new_len); /* replaced there */
	if (!err) {
		struct vma v = *first;
		vma_free(first); /* the file stays: the new record follows at once */
		struct vma *n = vma_new(mm, v.mapping, to, to + new_len, v.vm_pgoff, v.shared,
					v.may_write);
		if (!n) {
			err = -ENOMEM;
			as_put_if_unused(v.mapping);
		} else {
			n->wp = v.wp;
			n->ra = v.ra;
			n->wb_since = v.wb_since;
			rep->v[0] = v.wp;
		}
	}
	if (!err && to != old)
		err = mm_reregister_near(mm, to, to + new_len);
	pthread_mutex_unlock(&engine.lock);
	return err;
}

/* forget_pending - drop a pending fork (its child never came). Context:
 * engine.lock. */
static void forget_pending(struct pending_fork **pp)
{
	struct pending_fork *p = *pp;
	*pp = p->next;
	nr_pending--;
	mm_forget(p->mm);
	stores_put(p->stores, p->nstores);
	free(p);
}

/* expire_pending - forget the forks whose child did not come in time. */
static void expire_pending(void)
{
	time_t now = time(NULL);
	for (struct pending_fork **pp = &pending; *pp;) {
		if (now - (*pp)->born > FMD_FORK_TTL_S)
			forget_pending(pp);
		else
			pp = &(*pp)->next;
	}
}

static int do_fork_prepare(struct client *c, struct fmd_rep *rep, struct fmd_view **views)
{
	uint64_t token;
	if (getrandom(&token, sizeof(token), 0) != (ssize_t)sizeof(token))
		return -EAGAIN;
	pthread_mutex_lock(&engine.lock);
	expire_pending();
	int err = 0;
	unsigned n = mm_count_vmas(c->mm);
	struct pending_fork *p = NULL;
	if (nr_pending >= FMD_MAX_PENDING_FORKS ||
	    (size_t)n * sizeof(struct fmd_view) > FMD_MAX_PAYLOAD - sizeof(struct fmd_rep))
		err = -ENOMEM;
	if (!err) {
		p = calloc(1, sizeof(*p));
		*views = calloc(n ? n : 1, sizeof(**views));
		if (p && c->stores) /* the child's table: as large as any */
			p->stores = calloc(FMD_MAX_CLIENT_STORES, sizeof(*p->stores));
		if (p && *views && (p->stores || !c->stores))
			p->mm = mm_dup(c->mm, -1);
		if (!p || !*views || !p->mm)
			err = -ENOMEM;
	}
	if (!err) {
		unsigned i = 0;
		for (struct vma *v = c->mm->vmas; v; v = v->mm_next, i++)
			(*views)[i] = (struct fmd_view){v->vm_start, v->vm_end, v->wp, v->shared};
		/* The child has the parent's stores, by the same numbers. */
		for (size_t k = 0; k < c->nstores; k++) {
			p->stores[k] = c->stores[k];
			store_get(c->stores[k].s);
		}
		p->nstores = c->nstores;
		p->last_store_id = c->last_store_id;
		p->token = token;
		p->born = time(NULL);
		p->next = pending;
		pending = p;
		nr_pending++;
		rep->v[0] = token;
		rep->v[1] = n;
		rep->len = (uint32_t)(n * sizeof(struct fmd_view));
	} else {
		if (p)
			free(p->stores);
		free(p);
		free(*views);
		*views = NULL;
	}
	pthread_mutex_unlock(&engine.lock);
	return err;
}

static int do_fork_adopt(struct client *c, const struct fmd_req *r, int *fds, int *out_fd,
			 struct fmd_rep *rep)
{
	if (r->a[1] != speaks)
		return other_version(rep);
	if (!is_userfaultfd(fds[0]) || !is_socket(fds[1]))
		return -EBADF;
	*out_fd = make_bounce(c);
	if (*out_fd < 0)
		return *out_fd;
	int err = -ENOENT;
	pthread_mutex_lock(&engine.lock);
	for (struct pending_fork **pp = &pending; *pp; pp = &(*pp)->next) {
		struct pending_fork *p = *pp;
		if (p->token != r->a[0])
			continue;
		*pp = p->next;
		nr_pending--;
		c->pid = (pid_t)r->a[2];
		attach(c, p->mm, fds[0], fds[1]);
		c->stores = p->stores;
		c->nstores = p->nstores;
		c->last_store_id = p->last_store_id;
		free(p);
		fds[0] = fds[1] = -1;
		err = 0;
		break;
	}
	pthread_mutex_unlock(&engine.lock);
	return err;
}

static int do_fork_forget(const struct fmd_req *r)
{
	pthread_mutex_lock(&engine.lock);
	for (struct pending_fork **pp = &pending; *pp; pp = &(*pp)->next) {
		if ((*pp)->token == r->a[0]) {
			forget_pending(pp);
			break;
		}
	}
	pthread_mutex_unlock(&engine.lock);
	return 0;
}

/*
 * store_let_go - a client lets go of store s: its program closed the
 * object's last fd (FMD_STORE_CLOSE), or it ended (client_gone), by exit,
 * _exit, a signal or a crash. The pages of s's cache that a failed
 * write-back kept dirty (a write() or msync the store refused) are
 * written again now, backing off or not, as the last unmap of a file
 * writes it (as_put_if_unused), if nothing maps s: a process that does
 * writes them at its msync or last unmap (and probing whether it lives
 * would write-protect a page of its). So a program that ends
 * once its store takes writes again leaves them in the store, as in
 * embedded mode its exit's write-back does. A failure keeps them dirty,
 * said in the log (and to a client at FMD_EXIT: writeback_capture), for
 * the usual retries (eviction, msync, daemon stop). Context: engine.lock.
 */
static void store_let_go(struct fm_store *s)
{
	struct address_space *as = as_find(s->dev, s->ino);
	if (!as || !as->nr_dirty || as->i_mmap)
		return;
	if (as->wb_retry_at > engine.reclaim_passes)
		as->wb_retry_at = engine.reclaim_passes; /* its back-off ends now */
	as_put_if_unused(as);
}

/* client_gone - the client exited (or asked FMD_EXIT): forget its
 * mappings, as munmap would, so that the last mapping of a file writes it
 * back; the fault thread then reaps the mm. */
static void client_gone(struct client *c)
{
	if (!c->mm)
		return;
	pthread_mutex_lock(&engine.lock);
	if (c->last) /* files and residency as they were, the counters after */
		publish_mm_counters(c->mm, c->last);
	current_mm = c->mm;
	(void)mm_unmap_range(c->mm, 0, FM_TASK_SIZE + FM_PAGE_SIZE);
	current_mm = NULL;
	for (size_t i = 0; i < c->nstores; i++)
		store_let_go(c->stores[i].s);
	if (c->last) {
		struct fm_stats st = c->mm->st;
		st.budget_bytes = c->last->st.budget_bytes;
		st.resident_bytes = c->last->st.resident_bytes;
		st.dirty_bytes = c->last->st.dirty_bytes;
		c->last->st = st;
		c->last->read_hits = c->mm->read_hits;
		c->last->read_misses = c->mm->read_misses;
	}
	c->mm->dead = true;
	c->mm->held = false; /* the fault thread reaps it */
	pthread_mutex_unlock(&engine.lock);
	fault_thread_kick();
	c->mm = NULL;
}

/* store_of_fd - the store (not a file's) whose stand-in fd is, with a
 * reference, or NULL. */
static struct fm_store *store_of_fd(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return NULL;
	struct fm_store *s = store_find(st.st_dev, st.st_ino);
	if (s && file_store_fd(s, false) >= 0) {
		store_put(s);
		s = NULL;
	}
	return s;
}

/* client_fd_of - the record of the client's fd number cfd, which is fd
 * here, made if need be (the oldest goes when the table is full). */
static struct client_fd *client_fd_of(struct client *c, int cfd, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return NULL;
	for (size_t i = 0; i < c->nfds; i++)
		if (c->fds[i].cfd == cfd && c->fds[i].dev == st.st_dev && c->fds[i].ino == st.st_ino)
			return &c->fds[i];
	if (!c->fds && !(c->fds = calloc(FMD_MAX_CLIENT_FDS, sizeof(*c->fds))))
		return NULL;
	if (c->nfds == FMD_MAX_CLIENT_FDS)
		memmove(c->fds, c->fds + 1, --c->nfds * sizeof(*c->fds));
	c->fds[c->nfds] = (struct client_fd){cfd, st.st_dev, st.st_ino, 0};
	return &c->fds[c->nfds++];
}

/* standin_rw - FMD_PREAD or FMD_PWRITE of a store's stand-in fd: the
 * store's bytes, through the cache, as the fd's mode allows (EBADF). A
 * write of the client's fd a[3] (a[2] = FMD_RW_TOLD) tells that fd's
 * record of the write-back error it returns (store_pwrite_fd). */
static int standin_rw(struct client *c, const struct fmd_req *r, int fd, struct fm_store *s,
		    struct fmd_rep *rep)
{
	bool write = r->op == FMD_PWRITE;
	int acc = fcntl(fd, F_GETFL) & O_ACCMODE;
	if (r->a[1] == FMD_AT_POS)
		return -ESPIPE;
	if (write ? acc == O_RDONLY : acc == O_WRONLY)
		return -EBADF;
	struct client_fd *k = NULL;
	if (write && r->a[2] == FMD_RW_TOLD && r->a[3] <= INT_MAX) {
		k = client_fd_of(c, (int)r->a[3], fd);
		if (k && k->since)
			filemap_fd_errseq_set(fd, k->since);
	}
	ssize_t n = !write ? fm_store_pread(s, c->bounce, r->a[0], (off_t)r->a[1])
		    : k	   ? store_pwrite_fd(s, fd, c->bounce, r->a[0], (off_t)r->a[1])
			   : fm_store_pwrite(s, c->bounce, r->a[0], (off_t)r->a[1]);
	if (k) {
		int saved = errno;
		(void)filemap_fd_errseq_get(fd, &k->since);
		errno = saved;
	}
	if (n < 0)
		return -errno;
	rep->v[0] = (uint64_t)n;
	return 0;
}

/* A store opened (or listed) on a thread of its own (open_store,
 * list_store). */
struct store_open_job {
	const char *url;
	int flags, err;
	struct fm_store *s;
	struct store_names names; /* list_store's */
};

static void *store_open_thread(void *arg)
{
	struct store_open_job *j = arg;
	j->err = store_open_shared(j->url, j->flags, &j->s);
	return NULL;
}

static void *store_list_thread(void *arg)
{
	struct store_open_job *j = arg;
	j->err = store_list(j->url, &j->names);
	return NULL;
}

/* on_big_stack - fn(j) on a thread with a program's main stack (8 MiB): a
 * store kind's library runs its initializers at its first use
 * (librados's need more than the client threads' 256 KiB), and may
 * connect with deep calls. j->err: -EAGAIN if no thread could start. */
static void on_big_stack(void *(*fn)(void *), struct store_open_job *j)
{
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 8 << 20);
	if (pthread_create(&t, &attr, fn, j) == 0)
		pthread_join(t, NULL);
	pthread_attr_destroy(&attr);
}

/* open_store - store_open_shared on a big stack (on_big_stack). Return:
 * 0 or -errno. */
static int open_store(const char *url, int flags, struct fm_store **out)
{
	struct store_open_job j = {url, flags, -EAGAIN, NULL, {0}};
	on_big_stack(store_open_thread, &j);
	*out = j.s;
	return j.err;
}

/* bounce_url - a copy of the URL in the first len bytes of c's bounce
 * buffer (the client may change the buffer meanwhile). Return: it
 * (malloc'd), or NULL with *err (-ENOMEM; -EINVAL: a NUL in it). */
static char *bounce_url(struct client *c, uint64_t len, int *err)
{
	char *url = malloc(len + 1);
	*err = url ? 0 : -ENOMEM;
	if (url) {
		memcpy(url, c->bounce, len);
		url[len] = '\0';
	}
	if (url && strlen(url) != len) {
		free(url);
		url = NULL;
		*err = -EINVAL;
	}
	return url;
}

/* memfd_holding - a new memfd named name holding buf[0..len). Return: its
 * fd, or -errno. */
static int memfd_holding(const char *name, const char *buf, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	int err = fd < 0 ? -errno : 0;
	for (size_t off = 0; !err && off < len;) {
		ssize_t n = write(fd, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			err = n < 0 ? -errno : -EIO;
		else
			off += (size_t)n;
	}
	if (err && fd >= 0)
		close(fd);
	return err ? err : fd;
}

/* do_store_open - see FMD_STORE_OPEN. */
static int do_store_open(struct client *c, const struct fmd_req *r, struct fmd_rep *rep,
			 int *out_fd)
{
	uint64_t len = r->a[0];
	if (len >= FMD_BOUNCE || r->a[1] > INT_MAX || !store_flags_ok((int)r->a[1]) || r->a[2] ||
	    r->a[3] || r->a[4] || r->a[5])
		return -EINVAL;
	int flags = (int)r->a[1];
	if (c->nstores == FMD_MAX_CLIENT_STORES)
		return -EMFILE;
	if (!c->stores && !(c->stores = calloc(FMD_MAX_CLIENT_STORES, sizeof(*c->stores))))
		return -ENOMEM;
	int err;
	char *url = bounce_url(c, len, &err);
	struct fm_store *s = NULL;
	if (url)
		err = open_store(url, flags, &s);
	free(url);
	if (err)
		return err;
	*out_fd = store_standin_fd(s, (flags & O_ACCMODE) == O_RDWR);
	if (*out_fd < 0) {
		err = *out_fd;
		store_put(s);
		return err;
	}
	c->stores[c->nstores] = (struct client_store){++c->last_store_id, s};
	rep->v[0] = c->stores[c->nstores++].id;
	return 0;
}

static int do_store_close(struct client *c, const struct fmd_req *r)
{
	for (size_t i = 0; i < c->nstores; i++) {
		if (c->stores[i].id != r->a[0])
			continue;
		struct fm_store *s = c->stores[i].s;
		c->stores[i] = c->stores[--c->nstores];
		pthread_mutex_lock(&engine.lock);
		store_let_go(s);
		pthread_mutex_unlock(&engine.lock);
		store_put(s);
		return 0;
	}
	return -EBADF;
}

/* do_remap_target - FMD_REMAP_TARGET: fm_remap_target (mmap.c) over the
 * client's mm. */
static int do_remap_target(struct client *c, const struct fmd_req *r, struct fmd_rep *rep,
			   int *out_fd)
{
	uint64_t start = r->a[0], size = r->a[1];
	if (!range_ok(start, size) || r->a[2] > 1)
		return -EINVAL;
	pthread_mutex_lock(&engine.lock);
	int ret = mm_remap_target(c->mm, start, size, r->a[2], out_fd);
	pthread_mutex_unlock(&engine.lock);
	if (ret < 0)
		return ret;
	rep->v[0] = (uint64_t)ret;
	return 0;
}

/* do_store_list - see FMD_STORE_LIST: store_list on a big stack
 * (on_big_stack), the names into a memfd (*out_fd). Return: 0 or -errno. */
static int do_store_list(struct client *c, const struct fmd_req *r, struct fmd_rep *rep,
			 int *out_fd)
{
	uint64_t len = r->a[0];
	if (len >= FMD_BOUNCE || r->a[1] || r->a[2] || r->a[3] || r->a[4] || r->a[5])
		return -EINVAL;
	struct store_open_job j = {NULL, 0, -EAGAIN, NULL, {0}};
	char *url = bounce_url(c, len, &j.err);
	j.url = url;
	if (url)
		on_big_stack(store_list_thread, &j);
	free(url);
	int fd = j.err ? j.err : memfd_holding("faultmap:list", j.names.buf, j.names.len);
	free(j.names.buf);
	if (fd < 0)
		return fd;
	rep->v[0] = j.names.len;
	*out_fd = fd;
	return 0;
}

/* do_store_remove - see FMD_STORE_REMOVE. */
static int do_store_remove(int fd)
{
	struct fm_store *s = store_of_fd(fd);
	if (!s)
		return -EBADF;
	int err = store_remove(s);
	store_put(s);
	return err;
}

static int do_store_size(int fd, struct fmd_rep *rep)
{
	struct fm_store *s = store_of_fd(fd);
	if (!s)
		return -EBADF;
	int64_t n = s->ops->size(s);
	store_put(s);
	if (n < 0)
		return (int)n;
	rep->v[0] = (uint64_t)n;
	return 0;
}

/* do_file - a read(), write() or size change of the client's file fd,
 * through the cache: the engine's own fm_ calls, run here on the fd the
 * client sent (the same open file description: its mode, O_APPEND and
 * position are the client's), with the bounce buffer as the program's
 * buffer. A file the daemon does not cache goes to the kernel there too. */
static int do_file(struct client *c, const struct fmd_req *r, int fd, struct fmd_rep *rep)
{
	ssize_t n = 0;
	uint64_t len = r->a[0], off = r->a[1];
	bool at_pos = off == FMD_AT_POS;
	if ((r->op == FMD_PREAD || r->op == FMD_PWRITE) &&
	    (len > FMD_BOUNCE || (!at_pos && off > (uint64_t)INT64_MAX)))
		return -EINVAL;
	struct fm_store *s = r->op == FMD_PREAD || r->op == FMD_PWRITE || r->op == FMD_FTRUNCATE
				     ? store_of_fd(fd)
				     : NULL;
	if (s) { /* a store's stand-in */
		int err;
		if (r->op != FMD_FTRUNCATE)
			err = standin_rw(c, r, fd, s, rep);
		else if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY)
			err = -EINVAL; /* the kernel's, for an fd not open for writing */
		else
			err = store_truncate(s, r->a[0]);
		store_put(s);
		filemap_fds_closed((unsigned)fd, (unsigned)fd); /* as below */
		return err;
	}
	switch (r->op) {
	case FMD_PREAD:
		n = at_pos ? fm_read(fd, c->bounce, len) : fm_pread(fd, c->bounce, len, (off_t)off);
		break;
	case FMD_PWRITE:
		n = at_pos ? fm_write(fd, c->bounce, len)
			   : fm_pwrite(fd, c->bounce, len, (off_t)off);
		break;
	case FMD_FTRUNCATE:
		n = fm_ftruncate(fd, (off_t)r->a[0]);
		break;
	case FMD_FALLOCATE:
		n = fm_fallocate(fd, (int)r->a[0], (off_t)r->a[1], (off_t)r->a[2]);
		break;
	case FMD_FSYNC:
	case FMD_SYNC_FILE_RANGE: {
		struct client_fd *k = client_fd_of(c, (int)r->a[3], fd);
		if (k && k->since)
			filemap_fd_errseq_set(fd, k->since);
		if (r->op == FMD_FSYNC)
			n = r->a[0] ? fm_fdatasync(fd) : fm_fsync(fd);
		else
			n = fm_sync_file_range(fd, (off_t)r->a[0], (off_t)r->a[1],
					       (unsigned)r->a[2]);
		int saved = errno;
		if (k)
			(void)filemap_fd_errseq_get(fd, &k->since);
		errno = saved;
		break;
	}
	case FMD_SYNCFS:
		n = fm_syncfs(fd);
		break;
	}
	/* The fd number is ours for this request only: its errseq record goes
	 * (kept in c->fds for a flush). */
	filemap_fds_closed((unsigned)fd, (unsigned)fd);
	if (n < 0)
		return -errno;
	rep->v[0] = (uint64_t)n;
	return 0;
}

/* do_publish - FMD_PUBLISH: the client's counters and files, or the
 * last ones after FMD_EXIT. Return: whether the connection goes on. */
static bool do_publish(struct client *c)
{
	struct fmd_rep rep = {0};
	struct fm_pub *p = c->mm ? calloc(1, sizeof(*p)) : c->last;
	if (!p) {
		rep.err = c->mm ? -ENOMEM : -ENOTCONN;
		return fmd_send(c->sock, &rep, sizeof(rep), NULL, 0, NULL, 0) == 0;
	}
	if (c->mm) {
		pthread_mutex_lock(&engine.lock);
		publish_mm_counters(c->mm, p);
		pthread_mutex_unlock(&engine.lock);
	}
	rep.len = (uint32_t)sizeof(*p);
	bool ok = fmd_send(c->sock, &rep, sizeof(rep), p, sizeof(*p), NULL, 0) == 0;
	if (p != c->last)
		free(p);
	return ok;
}

/* do_inspect - FMD_INSPECT: the dump of publish.h's channel 2 for the
 * client, in a memfd (*out_fd). Return: 0 or -errno. */
static int do_inspect(struct client *c, int *out_fd)
{
	size_t len;
	char *text = publish_mm_inspect(c->mm, c->peer, &len);
	if (!text)
		return -ENOMEM;
	int fd = memfd_holding("faultmap:inspect", text, len);
	free(text);
	if (fd < 0)
		return fd;
	*out_fd = fd;
	return 0;
}

/* do_trace - FMD_TRACE: trace the client's faults to fds[0] from now on,
 * t_us counted from a[0] (CLOCK_MONOTONIC, ns). Return: 0 or -errno. */
static int do_trace(struct client *c, const struct fmd_req *r, int fd)
{
	pthread_mutex_lock(&engine.lock);
	int err = trace_take(c->mm, fd, r->a[0]);
	pthread_mutex_unlock(&engine.lock);
	return err;
}

/* The number of descriptors each request must carry. */
static int fds_wanted(uint32_t op)
{
	switch (op) {
	case FMD_HELLO: case FMD_FORK_ADOPT:
		return 2;
	case FMD_MMAP: case FMD_PREAD: case FMD_PWRITE: case FMD_FTRUNCATE:
	case FMD_FALLOCATE: case FMD_FSYNC: case FMD_SYNC_FILE_RANGE: case FMD_SYNCFS:
	case FMD_CACHE:
	case FMD_STORE_SIZE:
	case FMD_STORE_REMOVE:
	case FMD_TRACE:
		return 1;
	default:
		return 0;
	}
}

/*
 * do_stop - FMD_STOP (faultmap daemon --stop): write every dirty page
 * back, answer, and have the main loop end (it writes back again whatever
 * came meanwhile). A stop that cannot lose data: what cannot be written
 * goes to rescue files, mapped or not, as at SIGTERM (rescue_stop), and
 * the daemon stops all the same; rep.err is the write-back's error,
 * rep.v[0] = 1 (it stops), and the payload has a line for each file or
 * store left (rescue_report). Only if a rescue file cannot be written
 * either does it go on, holding the pages (v[0] = 0, v[1] = the copy's
 * errno; the rescue files of mapped caches go again: rescue_resume).
 * With a[0] = 1 (a client of another version replacing an idle daemon),
 * only if no process maps through it (-EBUSY) and every page was
 * written. Return: false to end the connection.
 */
static bool do_stop(struct client *c, const struct fmd_req *r)
{
	struct fmd_rep rep = {0};
	char report[FMD_REPORT_MAX];
	pthread_mutex_lock(&engine.lock);
	if (r->a[0] == 1 && attached_clients())
		rep.err = -EBUSY;
	else
		rep.err = writeback_all();
	rep.v[0] = !rep.err;
	if (rep.err && r->a[0] != 1) {
		int copy = rescue_stop();
		if (copy)
			rescue_resume();
		rep.v[0] = !copy;
		rep.v[1] = (uint64_t)-copy;
		rescue_report(report, sizeof(report));
		rep.len = (uint32_t)strlen(report);
		if (copy)
			fprintf(stderr, "faultmap daemon: --stop: dirty pages that could not be "
					"written back could not all be copied to rescue files "
					"either (%s): not stopping, they stay in memory\n",
				strerror(-copy));
		else
			fprintf(stderr, "faultmap daemon: --stop: the dirty pages that could not "
					"be written back (%s) are in rescue files: stopping\n",
				strerror(-rep.err));
	}
	pthread_mutex_unlock(&engine.lock);
	bool ok = fmd_send(c->sock, &rep, sizeof(rep), report, rep.len, NULL, 0) == 0;
	uint64_t one = 1;
	if (rep.v[0] && write(stop_fd, &one, sizeof(one)) < 0)
		ok = false;
	return ok;
}

/*
 * last_writeback - the daemon stops (SIGTERM, or --stop once do_stop
 * found it can): write every dirty page back, what came since included;
 * what cannot be written goes to rescue files (rescue_stop). What can be
 * neither keeps this process, and with it the pages, alive: no new
 * client can come (the socket is gone), the connected ones are served,
 * and both are tried again every STOP_RETRY_MS, until the pages are
 * written or copied (a SIGKILL meanwhile loses them; the log said so).
 * sfd: the signals' signalfd, read meanwhile. Return: the last
 * write-back's -errno, or 0.
 */
#define STOP_RETRY_MS 1000
static int last_writeback(int sfd)
{
	for (int tries = 0;; tries++) {
		pthread_mutex_lock(&engine.lock);
		int err = writeback_all();
		int copy = err ? rescue_stop() : 0;
		if (copy)
			rescue_resume();
		pthread_mutex_unlock(&engine.lock);
		if (!copy) {
			if (err)
				fprintf(stderr, "faultmap daemon: write-back failed: %s\n",
					strerror(-err));
			if (tries)
				fprintf(stderr, "faultmap daemon: the dirty pages it held are %s: "
						"exiting\n", err ? "in rescue files" : "written back");
			return err;
		}
		if (!tries)
			fprintf(stderr, "faultmap daemon: stopping, but dirty pages that could not be "
					"written back (%s) could not all be copied to rescue files "
					"either (%s): not exiting, they stay in memory; tried again "
					"every %d ms (a SIGKILL would lose them)\n",
				strerror(-err), strerror(-copy), STOP_RETRY_MS);
		struct pollfd p = {sfd, POLLIN, 0};
		if (poll(&p, 1, STOP_RETRY_MS) > 0) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) < 0) {
			} /* another SIGTERM: still not */
		}
	}
}

/* answer - answer one request. Return: false to end the connection
 * (a protocol error). */
static bool answer(struct client *c, const struct fmd_req *r, int *fds)
{
	struct fmd_rep rep = {0};
	struct fmd_view *views = NULL;
	const void *payload = NULL;
	char report[FMD_REPORT_MAX];
	int out_fd = -1;
	bool attached = c->mm != NULL;
	bool ok = true;
	switch (r->op) {
	case FMD_HELLO:
		rep.err = attached ? -EISCONN : do_hello(c, r, fds, &rep, &out_fd);
		break;
	case FMD_FORK_ADOPT:
		rep.err = attached ? -EISCONN : do_fork_adopt(c, r, fds, &out_fd, &rep);
		break;
	case FMD_SYNC_ALL:
		pthread_mutex_lock(&engine.lock);
		rep.err = writeback_all();
		pthread_mutex_unlock(&engine.lock);
		break;
	case FMD_STATS: {
		struct fm_stats st;
		rep.err = fm_stats(&st);
		rep.len = rep.err ? 0 : (uint32_t)sizeof(st);
		if (!rep.err)
			ok = fmd_send(c->sock, &rep, sizeof(rep), &st, sizeof(st), NULL, 0) == 0;
		return ok;
	}
	case FMD_PUBLISH: /* after FMD_EXIT too */
		return do_publish(c);
	case FMD_CACHE: { /* needs no FMD_HELLO: faultmap cache */
		struct fmd_cache_info info = {0};
		rep.err = fmd_cache(&c->locks, r, fds[0], &info);
		rep.len = (uint32_t)sizeof(info);
		return fmd_send(c->sock, &rep, sizeof(rep), &info, sizeof(info), NULL, 0) == 0;
	}
	case FMD_STOP:
		return do_stop(c, r);
	default:
		if (!attached) {
			rep.err = -ENOTCONN;
			break;
		}
		switch (r->op) {
		case FMD_MMAP:
			rep.err = do_mmap(c, r, fds[0], &rep, &out_fd);
			break;
		case FMD_MUNMAP:
			writeback_capture(report, sizeof(report));
			rep.err = do_munmap(c, r);
			writeback_capture(NULL, 0);
			rep.len = (uint32_t)strlen(report);
			payload = report;
			break;
		case FMD_MSYNC:
			rep.err = do_msync(c, r);
			break;
		case FMD_MADVISE:
			rep.err = do_madvise(c, r, &rep);
			break;
		case FMD_TOUCHES:
			rep.err = do_touches(c, r, &rep);
			break;
		case FMD_MPROTECT:
			rep.err = do_mprotect(c, r, &rep);
			break;
		case FMD_FORK_PREPARE:
			rep.err = do_fork_prepare(c, &rep, &views);
			payload = views;
			break;
		case FMD_FORK_FORGET:
			rep.err = do_fork_forget(r);
			break;
		case FMD_EXIT:
			if (r->a[0] == 1 && !c->last)
				c->last = calloc(1, sizeof(*c->last));
			writeback_capture(report, sizeof(report));
			client_gone(c);
			writeback_capture(NULL, 0);
			rep.len = (uint32_t)strlen(report);
			payload = report;
			break;
		case FMD_PREAD: case FMD_PWRITE: case FMD_FTRUNCATE: case FMD_FALLOCATE:
		case FMD_FSYNC: case FMD_SYNC_FILE_RANGE: case FMD_SYNCFS:
			rep.err = do_file(c, r, fds[0], &rep);
			break;
		case FMD_MREMAP:
			rep.err = do_mremap(c, r, &rep);
			break;
		case FMD_STORE_OPEN:
			rep.err = do_store_open(c, r, &rep, &out_fd);
			break;
		case FMD_STORE_CLOSE:
			rep.err = do_store_close(c, r);
			break;
		case FMD_STORE_SIZE:
			rep.err = do_store_size(fds[0], &rep);
			break;
		case FMD_STORE_REMOVE:
			rep.err = do_store_remove(fds[0]);
			break;
		case FMD_STORE_LIST:
			rep.err = do_store_list(c, r, &rep, &out_fd);
			break;
		case FMD_REMAP_TARGET:
			rep.err = do_remap_target(c, r, &rep, &out_fd);
			break;
		case FMD_INSPECT:
			rep.err = do_inspect(c, &out_fd);
			break;
		case FMD_TRACE:
			rep.err = do_trace(c, r, fds[0]);
			break;
		default:
			ok = false;
		}
	}
	if (ok)
		ok = fmd_send(c->sock, &rep, sizeof(rep), payload, rep.len, &out_fd,
			      out_fd >= 0) == 0;
	if (ok && c->bell)
		atomic_fetch_add_explicit(&c->bell->replies, 1, memory_order_release);
	free(views);
	if (out_fd >= 0)
		close(out_fd);
	return ok;
}

/* serve_request - answer one request, counting what it makes the engine
 * do as the client's (current_mm: its faultmap stat row). */
static bool serve_request(struct client *c, const struct fmd_req *r, int *fds)
{
	current_mm = c->mm; /* cleared by client_gone when the mm goes */
	bool ok = answer(c, r, fds);
	current_mm = NULL;
	return ok;
}

static void *client_thread(void *arg)
{
	struct client *c = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		struct fmd_req r;
		int fds[FMD_MAX_FDS], nfds;
		bool counted = c->bell; /* the client counts what it sends after FMD_HELLO */
		if (counted) /* awake a while for the next request (struct fmd_bell) */
			fmd_bell_wait(&c->bell->requests, c->served, FMD_BELL_DAEMON_NS);
		ssize_t n = fmd_recv(c->sock, &r, sizeof(r), fds, &nfds);
		if (counted && n > 0)
			c->served++;
		bool ok = n == (ssize_t)sizeof(r) && r.flags == 0 && r.op > 0 &&
			  r.op < FMD_OP_MAX && nfds == fds_wanted(r.op);
		if (ok)
			ok = serve_request(c, &r, fds);
		for (int i = 0; i < nfds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		if (!ok)
			break;
	}
	fmd_cache_unlock_all(&c->locks);
	client_gone(c);
	stores_put(c->stores, c->nstores); /* after its mappings: they hold their own */
	if (c->bounce)
		sys_munmap(c->bounce, FMD_BOUNCE_MAP);
	free(c->fds);
	free(c->last);
	close(c->sock);
	if (c->life >= 0)
		sys_close(c->life);
	free(c);
	atomic_fetch_sub(&nr_clients, 1);
	return NULL;
}

/* ---- the socket ------------------------------------------------------- */

/* accept_client - take one connection: the daemon's own user only. */
static void accept_client(int lsock)
{
	int s = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		return;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) || len != sizeof(cred) ||
	    cred.uid != geteuid() || atomic_load(&nr_clients) >= FMD_MAX_CLIENTS) {
		close(s);
		return;
	}
	struct client *c = calloc(1, sizeof(*c));
	pthread_attr_t attr;
	pthread_t t;
	if (!c) {
		close(s);
		return;
	}
	c->sock = s;
	c->peer = cred.pid;
	c->life = -1;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	atomic_fetch_add(&nr_clients, 1);
	if (pthread_create(&t, &attr, client_thread, c)) {
		atomic_fetch_sub(&nr_clients, 1);
		close(s);
		free(c);
	}
	pthread_attr_destroy(&attr);
}

int fmd_socket_path(char *path, size_t size)
{
	char dir[RT_DIR_PATH_MAX];
	int dfd = runtime_dir_create(dir, sizeof(dir));
	if (dfd < 0)
		return dfd;
	close(dfd);
	struct sockaddr_un sun;
	if ((size_t)snprintf(path, size, "%s/%s", dir, FMD_SOCK_NAME) >= size ||
	    strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/* take_lock - the daemon's lock file, held while it runs: one daemon per
 * user. Return: its fd, -EEXIST if another daemon holds it, or -errno. */
static int take_lock(int dfd)
{
	int fd = openat(dfd, FMD_LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EPERM;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno == EWOULDBLOCK ? -EEXIST : -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* listen_on - bind the socket, 0600, in the runtime directory dfd, after
 * removing a stale one (the lock says no daemon uses it). */
static int listen_on(int dfd, const char *path)
{
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	strcpy(sun.sun_path, path);
	(void)unlinkat(dfd, FMD_SOCK_NAME, 0);
	mode_t old = umask(0177);
	int err = bind(s, (struct sockaddr *)&sun, sizeof(sun)) < 0 ? -errno : 0;
	umask(old);
	if (!err && listen(s, 128) < 0)
		err = -errno;
	if (err) {
		close(s);
		return err;
	}
	return s;
}

/* socket_gone - whether the socket this daemon listens on is no longer
 * in its runtime directory (removed with it, say by a test's cleanup, or
 * replaced): then no new client can reach the daemon. */
static bool socket_gone(int dfd, const struct stat *bound)
{
	struct stat st;
	if (!bound->st_ino)
		return false;
	if (fstatat(dfd, FMD_SOCK_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT;
	return st.st_ino != bound->st_ino || st.st_dev != bound->st_dev;
}

/* linger_seconds - how long a file's pages stay cached after its last
 * unmap: FAULTMAP_LINGER seconds (0: dropped then), else
 * FMD_LINGER_DEFAULT. */
static uint64_t linger_seconds(void)
{
	const char *env = secure_getenv("FAULTMAP_LINGER");
	if (!env || !*env)
		return FMD_LINGER_DEFAULT;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(env, &end, 10);
	if (errno || *end || *env == '-' || v > 365ULL * 24 * 3600) {
		fprintf(stderr, "faultmap daemon: FAULTMAP_LINGER=%s is not a number of seconds "
				"(at most a year): %d\n",
			env, FMD_LINGER_DEFAULT);
		return FMD_LINGER_DEFAULT;
	}
	return v;
}

int fmd_main(const struct fmd_opts *o)
{
	if (o->budget && fm_set_budget(o->budget)) {
		fprintf(stderr, "faultmap daemon: bad budget\n");
		return 2;
	}
	char dir[RT_DIR_PATH_MAX], path[RT_DIR_PATH_MAX + 32];
	int dfd = runtime_dir_create(dir, sizeof(dir));
	if (dfd < 0)
		return 1;
	int lock = take_lock(dfd);
	if (lock < 0) {
		close(dfd);
		if (lock == -EEXIST) {
			if (!o->quiet_if_running)
				fprintf(stderr, "faultmap daemon: already running (%s/%s)\n", dir,
					FMD_SOCK_NAME);
			return o->quiet_if_running ? 0 : 1;
		}
		fprintf(stderr, "faultmap daemon: %s/%s: %s\n", dir, FMD_LOCK_NAME,
			strerror(-lock));
		return 1;
	}
	/* The dirty pages daemons before this one could not write back. */
	rescue_start(dfd);
	/* What a program's environment asks of its own process's publishing
	 * (publish.h) is not the daemon's: its clients publish themselves. */
	unsetenv("FAULTMAP_PUBLISH");
	unsetenv("FAULTMAP_TRACE_FD");
	unsetenv("FAULTMAP_STATS_FILE");
	unsetenv("FAULTMAP_INLINE_FAULTS"); /* embedded mode's: misses of the
					     * process's own views */
	const char *test_version = secure_getenv("FAULTMAP_TEST_DAEMON_PROTOCOL");
	if (test_version && strtoull(test_version, NULL, 10))
		speaks = strtoull(test_version, NULL, 10);
	engine.linger_s = linger_seconds();
	int err = files_table_create(dfd);
	if (!err)
		err = engine_start();
	if (err) {
		fprintf(stderr, "faultmap daemon: cannot start: %s\n", strerror(-err));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, FMD_SOCK_NAME);
	int lsock = listen_on(dfd, path);
	if (lsock < 0) {
		fprintf(stderr, "faultmap daemon: %s: %s\n", path, strerror(-lsock));
		return 1;
	}
	struct stat bound; /* our socket: if it goes, no client can come */
	if (fstatat(dfd, FMD_SOCK_NAME, &bound, AT_SYMLINK_NOFOLLOW) < 0)
		memset(&bound, 0, sizeof(bound));
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	sigaddset(&term, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	int sfd = signalfd(-1, &term, SFD_CLOEXEC);
	stop_fd = eventfd(0, EFD_CLOEXEC);
	if (o->ready_fd >= 0) { /* tell whoever started us that we listen */
		if (write(o->ready_fd, "1", 1) < 0) {
		}
		close(o->ready_fd);
	}
	for (;;) {
		struct pollfd p[3] = {{lsock, POLLIN, 0}, {sfd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
		if (poll(p, 3, 10000) < 0 && errno != EINTR)
			break;
		if (p[1].revents || p[2].revents)
			break;
		if (p[0].revents & POLLIN)
			accept_client(lsock);
		pthread_mutex_lock(&engine.lock);
		expire_pending();
		as_release_idle(); /* files kept by faultmap cache, evicted since;
				    * lingering ones whose time is up */
		bool waited_for = nr_pending > 0;
		pthread_mutex_unlock(&engine.lock);
		if (!waited_for && atomic_load(&nr_clients) == 0 && socket_gone(dfd, &bound)) {
			fprintf(stderr, "faultmap daemon: %s was removed: no process can reach "
					"this daemon any more, and none uses it; stopping\n",
				path);
			break;
		}
	}
	/* Stop: no new clients; every dirty page is written (exit_writeback,
	 * at exit), then the lock goes with the process. */
	if (!socket_gone(dfd, &bound))
		unlinkat(dfd, FMD_SOCK_NAME, 0);
	close(lsock);
	err = last_writeback(sfd);
	files_table_remove(dfd); /* read() and write() go to the kernel now */
	close(dfd);
	return err ? 1 : 0;
}
