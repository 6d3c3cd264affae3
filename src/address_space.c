/*
 * address_space.c - the page cache of one file.
 *
 * An address_space is found by the file's (st_dev, st_ino), so every fd and
 * path that opens the file shares it; a store opened by fm_store_open is
 * found by the (st_dev, st_ino) of its stand-in (store/store.h). Its pages
 * come from and go to its store (as->store: a file store for a file), and
 * live in a memfd sized to the file; page_tree records which pages are
 * resident (frame number) and which were evicted recently (shadow entries,
 * for reclaim's refault test); i_mmap lists the vmas that map it. All functions run under engine.lock.
 */
#include "internal.h"
#include "daemon/rescue.h"
#include "daemon/files_table.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/magic.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

static uint64_t pages_of(uint64_t bytes)
{
	return (bytes + FM_PAGE_SIZE - 1) >> FM_PAGE_SHIFT;
}

/* Views replaced while a read was in flight: the reader copies into the
 * fill view it saw before dropping engine.lock, so it stays mapped (it
 * maps the same memfd) until no read is in flight. */
struct retired_views {
	char *fill, *direct;
	size_t len;
	struct retired_views *next;
};

static void unmap_views(char *fill, char *direct, size_t len)
{
	sys_munmap(fill, len);
	sys_munmap(direct, len);
}

/* retire_views - unmap the current views, or keep them while a read that
 * may use them is in flight. */
static void retire_views(struct address_space *as)
{
	size_t len = as->view_pages << FM_PAGE_SHIFT;
	if (!len)
		len = FM_PAGE_SIZE;
	struct retired_views *r = as->nr_io ? fm_alloc(sizeof(*r)) : NULL;
	if (!r) { /* no read in flight (or no memory: then, never unmap) */
		if (!as->nr_io)
			unmap_views(as->fill_view, as->direct_view, len);
		return;
	}
	*r = (struct retired_views){as->fill_view, as->direct_view, len, as->retired};
	as->retired = r;
}

/* free_retired - unmap the views retire_views kept. */
static void free_retired(struct address_space *as)
{
	while (as->retired) {
		struct retired_views *r = as->retired;
		as->retired = r->next;
		unmap_views(r->fill, r->direct, r->len);
		fm_free(r);
	}
}

/* as_file_changed - faultmap is changing the file (a write, a size change,
 * a write-back): pages read from it before are stale unless cached. wgen
 * values are unique across address_spaces. Context: engine.lock. */
void as_file_changed(struct address_space *as)
{
	static uint64_t gen;
	as->wgen = ++gen;
}

/*
 * Writers outside faultmap. A process that is not under faultmap writes the
 * file with write(2) or through a kernel mapping: the kernel's cache and the
 * file change, faultmap's pages do not. faultmap notices it by the file's
 * size, mtime and ctime (fstat: about 1 us), compared at each check point
 * (as_revalidate: the read/write family and the flushes, fm_mmap, msync)
 * with what they were when faultmap last knew the file (seen_*): after it
 * read them at creation or at a check, or after a change of its own
 * (as_change_begin/end). A change found drops the clean pages (the views
 * fault them in again, from the file) and takes the new size. A dirty page
 * stays, and is written over the outside change at write-back.
 *
 * Timestamps are ticks of a coarse clock (4 ms at HZ=250), unless the file
 * system has multigrain timestamps (Linux 6.13: ext4, xfs, btrfs, tmpfs),
 * where a change that follows a stat always gets a ctime of its own. On
 * the others, a change later in the tick in which faultmap looked would
 * leave size and times as they were: a ctime in the current tick is taken
 * as unsure, and the next check drops the clean pages again.
 */

/* kernel_has_mgtime - Linux 6.13 or later (multigrain timestamps). */
static bool kernel_has_mgtime(void)
{
	static int known; /* 0: not yet, 1: no, 2: yes */
	if (!known) {
		struct utsname u;
		int major = 0, minor = 0;
		if (uname(&u) == 0)
			sscanf(u.release, "%d.%d", &major, &minor);
		known = (major > 6 || (major == 6 && minor >= 13)) ? 2 : 1;
	}
	return known == 2;
}

#define XFS_MAGIC 0x58465342
#define BTRFS_MAGIC 0x9123683E

/* fine_ctime - whether the file system of sfs gives a change that follows
 * a stat a ctime of its own (FS_MGTIME). */
static bool fine_ctime(const struct statfs *sfs)
{
	if (!kernel_has_mgtime())
		return false;
	switch ((unsigned long)sfs->f_type) {
	case EXT4_SUPER_MAGIC: case XFS_MAGIC: case BTRFS_MAGIC: case TMPFS_MAGIC:
		return true;
	default:
		return false;
	}
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* ctime_unsure - a change may come in the same tick as ctime and leave it
 * as it is: ctime is the coarse clock's current tick (or second, for a
 * file system that keeps whole seconds). */
static bool ctime_unsure(const struct address_space *as, const struct timespec *ctime)
{
	if (as->fine_ctime)
		return false;
	struct timespec now, res;
	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	if (clock_getres(CLOCK_REALTIME_COARSE, &res) < 0 || ts_ns(&res) < 1000000)
		res.tv_sec = 0, res.tv_nsec = 10000000;
	int64_t gran = ctime->tv_nsec ? ts_ns(&res) : 1000000000;
	int64_t age = ts_ns(&now) - ts_ns(ctime);
	return age >= 0 && age < gran;
}

/* seen - record st as the file faultmap knows; check: read at a check
 * (not right after a change of faultmap's own), so unsure if recent. */
static void seen(struct address_space *as, const struct stat *st, bool check)
{
	as->seen_size = (uint64_t)st->st_size;
	as->seen_mtime = st->st_mtim;
	as->seen_ctime = st->st_ctim;
	as->seen_unsure = check && ctime_unsure(as, &st->st_ctim);
}

/* file_stat - fstat of the file a file store caches. Return: 0, or -1
 * for other stores (NBD...), whose writers faultmap cannot see. */
static int file_stat(const struct address_space *as, struct stat *st)
{
	if (!store_is_file(as->store))
		return -1;
	return fstat(as->store->handle_fd, st);
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* seen_still - whether the file is as faultmap last knew it. */
static bool seen_still(const struct address_space *as, const struct stat *st)
{
	return (uint64_t)st->st_size == as->seen_size && same_time(&st->st_mtim, &as->seen_mtime) &&
	       same_time(&st->st_ctim, &as->seen_ctime);
}

/* outside_change - the file changed outside faultmap (now st): drop the
 * clean pages, keep the dirty ones (said once on stderr), take the size. */
static void outside_change(struct address_space *as, const struct stat *st)
{
	as_file_changed(as); /* stashed reads are stale too */
	uint64_t dirty = reclaim_invalidate(as);
	if (dirty && !as->conflict_said) {
		fprintf(stderr,
			"faultmap: %s was changed outside faultmap while %llu of its pages were "
			"dirty here: they are kept, and written over it\n",
			as->path ? as->path : "a file", (unsigned long long)dirty);
		as->conflict_said = true;
	}
	if ((uint64_t)st->st_size != as->i_size)
		(void)as_set_size(as, (uint64_t)st->st_size);
	seen(as, st, true);
}

/*
 * as_revalidate - a check point: if the file changed outside faultmap since
 * faultmap last knew it (st: its fstat just made, or NULL), drop the clean
 * pages and take the new size, once no read of it is in flight.
 * Context: engine.lock, signals blocked, a program (or daemon request)
 * thread: dropped while reads are in flight (as_wait_reads).
 */
void as_revalidate(struct address_space *as, const struct stat *st)
{
	struct stat now;
	if (!st || !store_is_file(as->store)) {
		if (file_stat(as, &now) < 0)
			return;
		st = &now;
	}
	if (seen_still(as, st) && !as->seen_unsure)
		return;
	as_wait_reads(as);
	/* st may be older than what faultmap knows (a caller's fstat made
	 * before faultmap's own write-back, which moved the times): look
	 * again, and change nothing if the file is as faultmap knows it. */
	if (file_stat(as, &now) == 0 && (!seen_still(as, &now) || as->seen_unsure))
		outside_change(as, &now);
}

/* as_change_begin, as_change_end - around a change faultmap makes to the
 * file (a write, a size change, a write-back, a reservation): afterwards,
 * the file as it is then is faultmap's own, unless it had changed outside
 * faultmap before (then the next check drops the clean pages). A change
 * from outside between the two is taken for faultmap's.
 * Context: engine.lock. */
void as_change_begin(struct address_space *as)
{
	struct stat st;
	as->seen_current = file_stat(as, &st) == 0 && seen_still(as, &st);
}

void as_change_end(struct address_space *as)
{
	struct stat st;
	if (as->seen_current && file_stat(as, &st) == 0)
		seen(as, &st, false);
	as->seen_current = false;
}

/* as_io_done - a read of as (or a queued readahead) is over: unpin it.
 * Context: engine.lock. */
void as_io_done(struct address_space *as)
{
	if (--as->nr_io == 0)
		free_retired(as);
}

/*
 * view_small_pages - MADV_NOHUGEPAGE on a view of a cache's memfd.
 *
 * Eviction punches holes in the memfd a run of pages at a time. In a large
 * folio (2 MiB) a hole that covers part of it must split it, and when the
 * split fails (another page of the folio is referenced: vmsplice, O_DIRECT
 * I/O from a mapping, a fault in progress) shmem zeroes the punched pages
 * and keeps them: a view then maps zeros where the engine expects a miss,
 * and a program reads zeros for file data
 * (test_cache_never_reads_zeros_after_kernel_builds_large_folio). faultmap
 * fills its memfds 4 KiB at a time (UFFDIO_COPY allocates nothing larger),
 * but the kernel builds large folios out of full 2 MiB blocks through a
 * view that allows them: khugepaged, where the administrator allows shmem
 * huge pages (shmem_enabled always or within_size, or advise with
 * MADV_HUGEPAGE), and MADV_COLLAPSE, whatever the setting. Both find a
 * memfd only through a view without VM_NOHUGEPAGE; so every view, the
 * engine's and the programs', is made so, and MADV_HUGEPAGE is not passed
 * on for faultmap mappings (fm_madvise). A kernel without transparent huge
 * pages refuses the advice (EINVAL), and builds none either.
 */
void view_small_pages(void *view, size_t len)
{
	sys_madvise(view, len, MADV_NOHUGEPAGE);
}

/* map_views - (re)create fill_view and direct_view for view_pages pages. */
static int map_views(struct address_space *as, uint64_t view_pages)
{
	size_t len = view_pages << FM_PAGE_SHIFT;
	if (len == 0)
		len = FM_PAGE_SIZE;
	char *fill = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			  as->memfd, 0);
	if (fill == MAP_FAILED)
		return -errno;
	char *direct = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			    as->memfd, 0);
	if (direct == MAP_FAILED) {
		int err = -errno;
		sys_munmap(fill, len);
		return err;
	}
	view_small_pages(fill, len);
	view_small_pages(direct, len);
	int err = uffd_register(engine_self()->uffd, fill, len, false);
	if (err) {
		sys_munmap(fill, len);
		sys_munmap(direct, len);
		return err;
	}
	if (as->fill_view)
		retire_views(as);
	as->fill_view = fill;
	as->direct_view = direct;
	as->view_pages = view_pages;
	return 0;
}

/*
 * as_read - read len bytes at off (page aligned; buf page aligned) from the
 * store (its read op). Reads at the store's end are short.
 * Return: bytes read, or -1 with errno.
 */
ssize_t as_read(struct address_space *as, void *buf, size_t len, uint64_t off)
{
	ssize_t n = as->store->ops->read(as->store, buf, len, off);
	if (n < 0) {
		errno = (int)-n;
		return -1;
	}
	return n;
}

/* as_sync - make what was written back durable in the store (fdatasync of
 * a file). Return: 0 or -errno. */
int as_sync(struct address_space *as)
{
	return as->store->writable ? as->store->ops->sync(as->store) : 0;
}

#define MFD_NAME_MAX 249 /* the kernel's limit on a memfd's name */

/* memfd_name - "faultmap:<path>", the name /proc/PID/maps and smaps show
 * (as "/memfd:faultmap:<path> (deleted)"), so that tools see which file a
 * view holds. A path too long for the kernel's 249 bytes keeps its end, the
 * file's own name: "faultmap:..." and as much of the tail as fits, cut at a
 * character boundary (UTF-8). Plain "faultmap" when the path is unknown. */
static void memfd_name(const char *path, char name[MFD_NAME_MAX + 1])
{
	static const char prefix[] = "faultmap:", cut[] = "faultmap:...";
	if (!path) {
		snprintf(name, MFD_NAME_MAX + 1, "faultmap");
		return;
	}
	size_t len = strlen(path);
	if (sizeof(prefix) - 1 + len <= MFD_NAME_MAX) {
		snprintf(name, MFD_NAME_MAX + 1, "%s%s", prefix, path);
		return;
	}
	const char *tail = path + len - (MFD_NAME_MAX - (sizeof(cut) - 1));
	while ((*tail & 0xc0) == 0x80) /* not in the middle of a character */
		tail++;
	snprintf(name, MFD_NAME_MAX + 1, "%s%s", cut, tail);
}

/*
 * warn_other_caches - when this engine first caches the file of as for
 * writing: if another process maps a faultmap memfd of the same name that
 * is not this cache's memfd (another inode), that process is served by
 * another faultmap cache (a program in embedded mode, or another user's
 * daemon), and shared writes between the two are not coherent: say so on
 * stderr, once for the file. Found in /proc/PID/maps (a process of another
 * user only as root). A process that maps the file after this one is the
 * one that warns; a memfd of another cache of this engine's (own_cache)
 * is no other cache. Raw system calls: this runs under engine.lock, where
 * the interposer's open would take it again.
 */
struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* own_cache - whether ino is the memfd of a cache of this engine's (the
 * cache of a store removed since, whose name a new store of the URL
 * takes again: store_remove). Context: engine.lock. */
static bool own_cache(unsigned long ino)
{
	for (struct address_space *a = engine.mappings; a; a = a->next) {
		struct stat st;
		if (a->memfd >= 0 && fstat(a->memfd, &st) == 0 && st.st_ino == ino)
			return true;
	}
	return false;
}

static void warn_other_caches(struct address_space *as)
{
	/* Once per file for the life of the process, though its cache may be
	 * released and made again: /proc is read once per file (a ring of
	 * the last files looked at), not at every mapping of it. */
	static struct {
		dev_t dev;
		ino_t ino;
	} seen[256];
	static unsigned nr_seen;
	for (unsigned i = 0; i < nr_seen && i < 256; i++)
		if (seen[i].dev == as->dev && seen[i].ino == as->ino)
			return;
	seen[nr_seen % 256].dev = as->dev;
	seen[nr_seen % 256].ino = as->ino;
	nr_seen++;
	struct stat mst;
	char name[MFD_NAME_MAX + 1], want[MFD_NAME_MAX + 16];
	if (!as->path || fstat(as->memfd, &mst) < 0)
		return;
	memfd_name(as->path, name);
	int n = snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	int proc = sys_openat(AT_FDCWD, "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (proc < 0)
		return;
	char *buf = fm_alloc(1 << 16), *ents = fm_alloc(1 << 15);
	pid_t self = getpid(), other = 0;
	long got_ents = 0;
	for (long at = 0; buf && ents && !other; at += ((struct linux_dirent64 *)(ents + at))->d_reclen) {
		if (at >= got_ents) {
			got_ents = syscall(SYS_getdents64, proc, ents, 1 << 15);
			if (got_ents <= 0)
				break;
			at = 0;
		}
		pid_t pid = (pid_t)atoi(((struct linux_dirent64 *)(ents + at))->d_name);
		if (pid <= 0 || pid == self)
			continue;
		char maps[64];
		snprintf(maps, sizeof(maps), "%d/maps", (int)pid);
		int fd = sys_openat(proc, maps, O_RDONLY | O_CLOEXEC, 0);
		if (fd < 0)
			continue;
		size_t have = 0;
		for (;;) {
			ssize_t got = sys_read(fd, buf + have, (1 << 16) - 1 - have);
			if (got <= 0)
				break;
			have += (size_t)got;
			buf[have] = '\0';
			char *line = buf, *nl;
			while ((nl = strchr(line, '\n'))) {
				*nl = '\0';
				size_t len = (size_t)(nl - line);
				unsigned long ino;
				if (len > (size_t)n && !strcmp(line + len - (size_t)n, want) &&
				    sscanf(line, "%*s %*s %*s %*s %lu", &ino) == 1 &&
				    ino != (unsigned long)mst.st_ino && !own_cache(ino))
					other = pid;
				line = nl + 1;
			}
			have = strlen(line);
			memmove(buf, line, have);
		}
		sys_close(fd);
	}
	sys_close(proc);
	fm_free(ents);
	fm_free(buf);
	if (other)
		fprintf(stderr, "faultmap: %s is also cached by process %d, in another "
				"faultmap cache (a program in embedded mode, or another user's "
				"daemon): shared writes between the two are not coherent "
				"(FAULTMAP_MODE=daemon gives them one cache)\n",
			as->path, (int)other);
}

static void as_free(struct address_space *as)
{
	filemap_as_freed(as);
	if (as->store && !store_is_file(as->store)) { /* for the next cache */
		as->store->wb_err = as->wb_err;
	}
	if (as->fill_view) {
		size_t len = as->view_pages << FM_PAGE_SHIFT;
		unmap_views(as->fill_view, as->direct_view, len ? len : FM_PAGE_SIZE);
	}
	free_retired(as);
	for (uint64_t i = 0; i < as->tree_chunks; i++)
		fm_free_bare(as->page_tree[i], TREE_CHUNK_BYTES_SHIFT);
	fm_free(as->page_tree);
	fm_free(as->path);
	if (as->memfd >= 0)
		sys_close(as->memfd);
	if (as->ro_memfd >= 0)
		sys_close(as->ro_memfd);
	if (as->store)
		store_put(as->store);
	fm_free(as);
}

/* as_store - the store of the file open at fd: a store fm_store_open
 * opened, if (dev, ino) is one's, else a new file store. Sets *size. */
static int as_store(int fd, const struct stat *st, struct fm_store **s, uint64_t *size)
{
	*s = store_find(st->st_dev, st->st_ino);
	if (!*s) {
		*size = (uint64_t)st->st_size;
		return file_store_new(fd, NULL, s);
	}
	int64_t n = (*s)->ops->size(*s);
	if (n < 0) {
		store_put(*s);
		return (int)n;
	}
	*size = (uint64_t)n;
	return 0;
}

/* ---- lingering files (the daemon) ---------------------------------------
 *
 * The kernel keeps a file's pages after its last unmap: the same program
 * run again finds them. The daemon keeps, for engine.linger_s seconds, the
 * memfd of a file whose last mapping went (written back: clean), and not
 * the file: it holds no descriptor of it, so a deleted file's blocks are
 * freed and its file system can be unmounted, as with the kernel's cache.
 * A new cache of that file (dev, ino) adopts the memfd and its pages if
 * the file is as it was (size, mtime, ctime; only where a change always
 * gets a ctime of its own: fine_ctime, and not within the last tick), else
 * drops it. The pages count in the budget (frames_available) and are the
 * first to go when room is needed (reclaim_reserve).
 */
struct lingering {
	struct lingering *next; /* newer first */
	dev_t dev;
	ino_t ino;
	uint64_t size;
	struct timespec mtime, ctime;
	int memfd;
	uint64_t pages;
	uint64_t until; /* CLOCK_MONOTONIC_COARSE seconds */
};
static struct lingering *lingering;
static unsigned nr_lingering;

#define LINGER_MAX 4096 /* files */

static uint64_t monotonic_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
	return (uint64_t)t.tv_sec;
}

static void linger_free(struct lingering *l)
{
	sys_close(l->memfd);
	engine.lingering_pages -= l->pages;
	nr_lingering--;
	fm_free(l);
}

bool linger_drop_oldest(void)
{
	struct lingering **pp = &lingering;
	if (!*pp)
		return false;
	while ((*pp)->next)
		pp = &(*pp)->next;
	linger_free(*pp);
	*pp = NULL;
	return true;
}

/* linger_expire - let go of the files whose time is up. */
static void linger_expire(void)
{
	uint64_t now = lingering ? monotonic_s() : 0;
	for (struct lingering **pp = &lingering; *pp;) {
		struct lingering *l = *pp;
		if (now >= l->until) {
			*pp = l->next;
			linger_free(l);
		} else {
			pp = &l->next;
		}
	}
}

/* linger - as, clean, is about to be freed: keep its memfd and pages.
 * Return: whether it did (as->memfd is then -1). */
static bool linger(struct address_space *as)
{
	struct stat st;
	if (!engine.linger_s || !as->nr_resident || as->nr_dirty || !as->fine_ctime ||
	    as->seen_unsure || file_stat(as, &st) || !st.st_nlink || !seen_still(as, &st) ||
	    ctime_unsure(as, &st.st_ctim))
		return false;
	struct lingering *l = fm_alloc(sizeof(*l));
	if (!l)
		return false;
	*l = (struct lingering){.next = lingering, .dev = as->dev, .ino = as->ino,
				.size = (uint64_t)st.st_size, .mtime = st.st_mtim,
				.ctime = st.st_ctim, .memfd = as->memfd, .pages = as->nr_resident,
				.until = monotonic_s() + engine.linger_s};
	as->memfd = -1;
	lingering = l;
	engine.lingering_pages += l->pages;
	if (++nr_lingering > LINGER_MAX)
		linger_drop_oldest();
	return true;
}

/* linger_matches - whether the file (st) is as it was when l began to
 * linger. */
static bool linger_matches(const struct lingering *l, const struct stat *st)
{
	return l->size == (uint64_t)st->st_size && same_time(&l->mtime, &st->st_mtim) &&
	       same_time(&l->ctime, &st->st_ctim);
}

/* data_run - the next run of pages [*first, *last) the memfd fd holds,
 * from byte *pos on, before byte end; *pos moves past it. Return: whether
 * there is one. */
static bool data_run(int fd, off_t *pos, off_t end, uint64_t *first, uint64_t *last)
{
	if (*pos >= end)
		return false;
	off_t data = lseek(fd, *pos, SEEK_DATA);
	if (data < 0 || data >= end)
		return false;
	off_t hole = lseek(fd, data, SEEK_HOLE);
	if (hole < 0 || hole > end)
		hole = end;
	*first = (uint64_t)data >> FM_PAGE_SHIFT;
	*last = (uint64_t)hole >> FM_PAGE_SHIFT;
	*pos = hole;
	return true;
}

/* linger_find - the lingering cache of the file (dev, ino), unlinked
 * from the list, or NULL. One that no longer matches st (the file
 * changed, or is another file on a reused inode) is dropped. */
static struct lingering *linger_find(const struct stat *st)
{
	for (struct lingering **pp = &lingering; *pp; pp = &(*pp)->next) {
		struct lingering *l = *pp;
		if (l->dev != st->st_dev || l->ino != st->st_ino)
			continue;
		*pp = l->next;
		if (linger_matches(l, st))
			return l;
		linger_free(l);
		return NULL;
	}
	return NULL;
}

/* linger_adopt - as, new, whose memfd is l's, takes the pages in it
 * (clean, on the inactive list); a page there is no room for is punched
 * out. l goes. */
static void linger_adopt(struct address_space *as, struct lingering *l)
{
	engine.lingering_pages -= l->pages; /* frames from now on */
	nr_lingering--;
	fm_free(l);
	off_t pos = 0;
	uint64_t i, last;
	while (data_run(as->memfd, &pos, (off_t)(as->nr_pages << FM_PAGE_SHIFT), &i, &last)) {
		for (; i < last; i++) {
			uint32_t nr = reclaim_reserve(1) ? FM_NIL : frame_alloc();
			if (nr == FM_NIL || reclaim_prepare(as, i, nr, false)) {
				if (nr != FM_NIL)
					frame_free(nr);
				sys_fallocate(as->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					      (off_t)(i << FM_PAGE_SHIFT), FM_PAGE_SIZE);
				continue;
			}
			reclaim_insert(nr);
		}
	}
}

uint64_t linger_evict(const struct stat *st)
{
	struct lingering *l = linger_find(st);
	uint64_t n = l ? l->pages : 0;
	if (l)
		linger_free(l);
	return n;
}

bool linger_count(const struct stat *st, uint64_t first, uint64_t end, uint64_t *pages)
{
	*pages = 0;
	for (struct lingering *l = lingering; l; l = l->next) {
		if (l->dev != st->st_dev || l->ino != st->st_ino)
			continue;
		if (!linger_matches(l, st))
			return false;
		uint64_t i, last;
		off_t pos = (off_t)(first << FM_PAGE_SHIFT);
		while (data_run(l->memfd, &pos, (off_t)(end << FM_PAGE_SHIFT), &i, &last))
			*pages += last - i;
		return true;
	}
	return false;
}

static int as_create(int fd, const struct stat *st, struct address_space **out)
{
	struct address_space *as = fm_alloc(sizeof(*as));
	if (!as)
		return -ENOMEM;
	as->dev = st->st_dev;
	as->ino = st->st_ino;
	as->memfd = -1;
	as->ro_memfd = -1;
	as_file_changed(as);
	uint64_t size = 0;
	int err = as_store(fd, st, &as->store, &size);
	if (err) {
		fm_free(as);
		return err;
	}
	as->in_memory = as->store->in_memory;
	if (!store_is_file(as->store)) { /* what the last cache of it heard */
		as->wb_err = as->store->wb_err;
	}
	struct statfs sfs;
	as->fine_ctime = fstatfs(fd, &sfs) == 0 && fine_ctime(&sfs);
	seen(as, st, true);
	/* A slow store asks for bigger clusters (a power of 2). */
	as->ra_around = as->store->cluster_pages;
	if (as->ra_around < FM_RA_AROUND || (as->ra_around & (as->ra_around - 1)))
		as->ra_around = FM_RA_AROUND;
	/* and deeper readahead: more windows in flight while the program
	 * works through the ones it has. */
	as->ra_ahead = as->ra_around > FM_RA_AROUND ? FM_RA_AHEAD_SLOW : FM_RA_AHEAD;
	as->path = as->store->name ? fm_strdup(as->store->name) : NULL;
	char name[MFD_NAME_MAX + 1];
	memfd_name(as->path, name);
	struct lingering *l = engine.linger_s && as->fine_ctime ? linger_find(st) : NULL;
	if (l && size != l->size) { /* a store's idea of the size: not the file's */
		linger_free(l);
		l = NULL;
	}
	as->memfd = l ? -1 : fd_keep(memfd_create(name, MFD_CLOEXEC));
	err = !l && as->memfd < 0 ? -errno : 0;
	if (l) { /* its pages, as the last cache of this file left them */
		as->memfd = l->memfd;
		err = as_resize(as, size);
		if (err) {
			as->memfd = -1;
			linger_free(l);
		} else {
			linger_adopt(as, l);
		}
	} else if (!err) {
		err = as_resize(as, size);
	}
	if (err) {
		as_free(as);
		return err;
	}
	*out = as;
	return 0;
}

/*
 * as_get - the address_space of the file open at fd (st: its fstat),
 * created on first use; one that exists is revalidated (as_revalidate).
 * A writable fd is remembered for write-back.
 * Return: the address_space, or NULL with *err set. Context: engine.lock,
 * signals blocked, not a fault thread (see as_revalidate).
 */
struct address_space *as_get(int fd, const struct stat *st, int *err)
{
	struct address_space *as = as_find(st->st_dev, st->st_ino);
	if (!as) {
		*err = as_create(fd, st, &as);
		if (*err)
			return NULL;
		as->next = engine.mappings;
		engine.mappings = as;
		atomic_fetch_add(&engine.nr_cached, 1);
		files_table_count(as->dev, as->ino, 1);
	} else {
		as_revalidate(as, st); /* changed outside faultmap? */
	}
	struct fm_store *s = as->store;
	if (!s->writable && s->ops->add_writer && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR)
		s->ops->add_writer(s, fd);
	if (s->writable && !as->others_checked) {
		as->others_checked = true;
		warn_other_caches(as);
	}
	*err = 0;
	return as;
}

/* as_find - the address_space of the file (dev, ino), or NULL if the
 * file is not cached. Context: engine.lock. */
struct address_space *as_find(dev_t dev, ino_t ino)
{
	struct address_space *as;
	for (as = engine.mappings; as; as = as->next)
		if (as->dev == dev && as->ino == ino)
			break;
	return as;
}

/* as_release_idle - release the files kept with nothing mapping them
 * (faultmap cache --touch) whose pages have all been evicted since.
 * Context: engine.lock. */
void as_release_idle(void)
{
	linger_expire();
	for (struct address_space *as = engine.mappings, *next; as; as = next) {
		next = as->next;
		if (as->kept && !as->nr_resident && !as->i_mmap && !as->nr_io && !as->nr_pins) {
			as->kept = false;
			as_put_if_unused(as);
		}
	}
}

/*
 * as_resize - make the cache cover a file of i_size bytes. Growing only:
 * the memfd grows (pages past the old end become accessible) and the
 * engine's views are remapped if they are too short.
 * Return: 0 or -errno.
 */
int as_resize(struct address_space *as, uint64_t i_size)
{
	uint64_t nr = pages_of(i_size);
	if (nr > as->nr_pages || as->nr_pages == 0) {
		if (sys_ftruncate(as->memfd, (off_t)(nr << FM_PAGE_SHIFT)) < 0)
			return -errno;
	}
	if (!as->fill_view || nr > as->view_pages) {
		/* At least FM_VIEW_MIN_PAGES: a view of a small file would take
		 * the highest free gap that fits it, often the free pages next
		 * to a program's mapping, which it could no longer grow in
		 * place (mremap). Address space only: nothing past the memfd's
		 * end is ever touched. */
		uint64_t want = nr + nr / 4;
		int err = map_views(as, want > FM_VIEW_MIN_PAGES ? want : FM_VIEW_MIN_PAGES);
		if (err)
			return err;
	}
	uint64_t chunks = (nr + TREE_CHUNK - 1) >> TREE_CHUNK_SHIFT;
	if (chunks > as->tree_chunks) {
		uint32_t **t = fm_realloc(as->page_tree, chunks * sizeof(*t));
		if (!t)
			return -ENOMEM;
		for (uint64_t i = as->tree_chunks; i < chunks; i++)
			t[i] = NULL;
		as->page_tree = t;
		as->tree_chunks = chunks;
	}
	if (nr > as->nr_pages)
		as->nr_pages = nr;
	if (i_size > as->i_size)
		as->i_size = i_size;
	return 0;
}

/* zero_tail - zero the cached bytes of the page holding byte size, from size
 * to the end of that page: they lie past EOF (the kernel's page cache keeps
 * them zero too, and a mapping's writes there never reach the file). */
static void zero_tail(struct address_space *as, uint64_t size)
{
	uint64_t in_page = size & (FM_PAGE_SIZE - 1);
	if (!in_page)
		return;
	uint32_t nr = as_find_frame(as, size >> FM_PAGE_SHIFT);
	if (nr != FM_NIL && !(frame_get(nr)->flags & PG_LOCKED))
		memset(as->direct_view + size, 0, FM_PAGE_SIZE - in_page);
}

/*
 * as_set_size - the file is now i_size bytes long (truncated, extended, or
 * written past its end). Shrinking drops the cached pages past the new end,
 * dirty or not, and shrinks the memfd, so every view raises SIGBUS there,
 * as the kernel's do, and they are write-protected again in every shared
 * view (see writeback.c); the tail of the new last page is zeroed. Growing zeros
 * the old last page's tail and lets the new pages in.
 * Return: 0 or -errno. Context: engine.lock, no read in flight (nr_io 0).
 */
int as_set_size(struct address_space *as, uint64_t i_size)
{
	uint64_t old = as->i_size;
	if (i_size < old) {
		uint64_t nr = pages_of(i_size);
		reclaim_drop_range(as, nr, UINT64_MAX);
		if (sys_ftruncate(as->memfd, (off_t)(nr << FM_PAGE_SHIFT)) < 0)
			return -errno;
		/* The kernel zapped those pages in every view, leaving no
		 * uffd-wp marker where a dirty page was writable: protect
		 * them again, or a page that comes back with the file's
		 * growth would take writes unseen. */
		if (as->nr_pages > nr)
			writeback_protect(as, nr, as->nr_pages - nr);
		as->nr_pages = nr;
		as->i_size = i_size;
		zero_tail(as, i_size);
		return 0;
	}
	if (i_size > old) {
		zero_tail(as, old);
		return as_resize(as, i_size);
	}
	return 0;
}

/* as_slot - the page_tree slot of index, or NULL when it has none and
 * create is false (or memory ran out). */
uint32_t *as_slot(struct address_space *as, uint64_t index, bool create)
{
	uint64_t c = index >> TREE_CHUNK_SHIFT;
	if (c >= as->tree_chunks)
		return NULL;
	if (!as->page_tree[c]) {
		if (!create)
			return NULL;
		as->page_tree[c] = fm_alloc_bare(TREE_CHUNK_BYTES_SHIFT);
		if (!as->page_tree[c])
			return NULL;
	}
	return &as->page_tree[c][index & (TREE_CHUNK - 1)];
}

/* as_find_frame - the frame caching page index, or FM_NIL. */
uint32_t as_find_frame(struct address_space *as, uint64_t index)
{
	uint32_t *slot = as_slot(as, index, false);
	if (!slot || *slot == 0 || (*slot & SLOT_SHADOW))
		return FM_NIL;
	return *slot - 1;
}

static void as_unlink(struct address_space *as)
{
	struct address_space **pp = &engine.mappings;
	while (*pp != as)
		pp = &(*pp)->next;
	*pp = as->next;
	atomic_fetch_sub(&engine.nr_cached, 1);
	files_table_count(as->dev, as->ino, -1);
}

/*
 * as_wait_reads - until no fault thread is reading into as: a read in
 * flight could insert pages as the file was before a write, and keeps the
 * file from being written back and released (as_put_if_unused). No new
 * readahead window of as is queued meanwhile (nr_io_waiters). as stays
 * pinned (nr_pins) while the lock is dropped.
 * Context: a program thread, engine.lock held with signals blocked; the
 * lock is dropped while waiting. Never a fault thread: they end the reads.
 */
void as_wait_reads(struct address_space *as)
{
	as->nr_io_waiters++;
	as->nr_pins++;
	while (as->nr_io) {
		pthread_mutex_unlock(&engine.lock);
		sched_yield();
		pthread_mutex_lock(&engine.lock);
	}
	as->nr_pins--;
	as->nr_io_waiters--;
}

/*
 * as_put_if_unused - when no live process maps the file any more, write its
 * dirty pages back, and release its cache once no vma refers to it (the vmas
 * of exited children go when the fault thread reaps their mm). If write-back
 * fails the address_space stays, dirty, to be retried (at the next msync or
 * fsync, or at exit), and stderr says so. A file kept so, and said so, is
 * not written again here while its write-back backs off (read() and
 * write() of it come here each time).
 */
void as_put_if_unused(struct address_space *as)
{
	if (as->nr_io || as->nr_pins) /* a reader calls again when done */
		return;
	bool dead_only = true;
	for (struct vma *v = as->i_mmap; v && dead_only; v = v->i_mmap_next)
		dead_only = !mm_alive(v->mm);
	if (!dead_only)
		return;
	if (as->nr_dirty && as->wb_reported && as->wb_retry_at > engine.reclaim_passes) {
		rescue_update(as, true); /* a write() may have changed them */
		return;
	}
	int err = writeback_range(as, 0, as->nr_pages);
	if (err || as->nr_dirty) {
		writeback_report(as, err, true);
		rescue_update(as, true); /* in the daemon: a copy that outlives it */
		return;
	}
	if (as->i_mmap) {
		fault_thread_kick(); /* it reaps the dead and comes back here */
		return;
	}
	if (as->kept && as->nr_resident)
		return; /* written back; as_release_idle drops it once evicted */
	(void)linger(as); /* its pages stay, without it, for a while */
	reclaim_drop_mapping(as);
	as_unlink(as);
	as_free(as);
}

/* as_destroy_all - free every address_space (at exit, after write-back). */
void as_destroy_all(void)
{
	while (engine.mappings) {
		struct address_space *as = engine.mappings;
		reclaim_drop_mapping(as);
		as_unlink(as);
		as_free(as);
	}
}
