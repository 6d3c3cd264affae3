/*
 * rescue.c - dirty pages that no process maps must outlive the daemon.
 *
 * When the daemon dies, each client writes what its shared views hold
 * (client.c, emergency_flush). But the daemon can hold dirty pages that no
 * process maps any more: their write-back at the last unmap failed (EIO,
 * ENOSPC, EPERM of an immutable file), and the error was reported. Those
 * pages live in the daemon's memfds alone. So whenever a file is left so
 * (as_put_if_unused, rescue_update), the daemon copies its dirty pages to a
 * rescue file in its runtime directory, fsync'ed, and removes it once the
 * pages reach the file (rescue_clean); a daemon that stops with pages it
 * could not write does the same for every file (rescue_stop). A daemon
 * that starts writes the rescue files it finds back to their files
 * (rescue_start), and keeps, and says on stderr (its log), each one it
 * cannot: the file is not the one it was (another inode at the path), it
 * changed since (size, mtime), the write fails again, or the rescue file
 * is not well formed.
 *
 * A store's cache (an NBD export, a RADOS or S3 object) gets one too
 * (RESCUE_STORE_PREFIX): it names the store by the URL the daemon opened
 * it with, and the version of the object its cache is of, where the store
 * has one (store_version: S3's ETag, RADOS's object version; an NBD export
 * has none). The daemon that starts opens the store with the embedded code
 * (store_open_url), and writes the pages only if the object's version now
 * is the one kept and its size the one kept (or one the store can take
 * again: an S3 object's size grown in the cache only), then syncs it.
 * Where only the version moved, it reads the pages' bytes back from the
 * object: if it holds them all, a write of them that was taken for failed
 * (a RADOS write that timed out, an S3 PUT whose answer was lost) landed,
 * and the rescue file goes; else the object changed, and it stays. A
 * store that cannot be reached keeps the rescue file for the next daemon
 * (stores' rescue files are tried for RESCUE_STORES_US at a start). An
 * export has no version: its size is all that is checked, so a rescue
 * written back overwrites what a writer outside faultmap put in those
 * pages since. A client of the dead daemon that writes its views' pages to
 * the store itself gives them to the store's rescue files first
 * (rescue_follow_store), under a lock (flock) that a daemon that starts
 * takes before it writes one back: whichever goes first, the client's
 * bytes are the ones the store ends with.
 *
 * A file's rescue file, RESCUE_PREFIX<dev>-<ino>-<pid of the daemon>, mode
 * 0600 in the 0700 runtime directory, is: struct rescue_head, the file's
 * path (path_len bytes), zeros to a multiple of 8, the pages' indices
 * (npages uint64_t, increasing), the pages (npages * page_size bytes). A
 * store's, RESCUE_STORE_PREFIX<hash of the URL>-<its stand-in's ino>-<pid>
 * (the URL itself never makes a path: it may hold S3 keys, which the file
 * holds, 0600, as the daemon's memory did), is the same with struct
 * rescue_store_head and its URL, name (no secrets: what is logged and
 * listed) and version instead of the path. It is written as <name>.tmp
 * (O_CREAT | O_EXCL | O_NOFOLLOW), fsync'ed, then renamed over the last
 * one, and the directory fsync'ed: a rescue file is whole or absent; a
 * daemon that dies while it writes one leaves the one before. Nothing in
 * it is trusted: its size must be exactly what its header says, every
 * index inside the size, in order, the path absolute (a store's URL not a
 * file's); the file at the path is opened O_NOFOLLOW and must be a regular
 * file of the same device and inode.
 *
 * The runtime directory is usually a tmpfs (/run/user/UID): rescue files
 * outlive the daemon, not a reboot.
 */
#include "daemon/rescue.h"
#include "internal.h"
#include "runtime_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESCUE_MAGIC "FMRESCU1"
#define RESCUE_STORE_MAGIC "FMRESCS1"
#define RESCUE_STR_MAX 65536     /* a store's URL or name: shorter */
#define RESCUE_VERSION_MAX 1024  /* a store's version: shorter */
#define RESCUE_CHUNK (16u << 20) /* a store's pages written this many at once */
#define RESCUE_RUN_PAGES 256	 /* pages in one run of a store's write, at most */
/* A starting daemon tries stores' rescue files for this long at most
 * (a cluster that does not answer takes its connect timeout, RADOS 30 s,
 * for each; the programs wait for the daemon meanwhile): the rest are
 * kept for the next daemon. */
#define RESCUE_STORES_US (60 * 1000000ull)

struct rescue_head {
	char magic[8];
	uint32_t page_size, path_len;
	uint64_t dev, ino, size; /* the file's identity and size at the copy */
	int64_t mtime_sec, mtime_nsec;
	uint64_t npages;
};

/* A store's: then its URL, name and version (their lengths here). */
struct rescue_store_head {
	char magic[8];
	uint32_t page_size, url_len, name_len, version_len;
	uint64_t size; /* the cache's size at the copy */
	uint64_t npages;
};

/* A store's rescue file is locked (flock) by a daemon that writes it back
 * and by a client that writes its own pages of that store
 * (rescue_follow_store); each waits this long for the other at most. */
#define RESCUE_LOCK_US (30 * 1000000ull)

static int rescue_dfd = -1; /* the daemon's runtime directory; -1: not the daemon */

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* rescuable - whether the dirty pages of as can have a rescue file: a
 * file's, or a store's opened by URL (not removed: its writes are
 * dropped). */
static bool rescuable(const struct address_space *as)
{
	const struct fm_store *s = as->store;
	return store_is_file(s) || (s->url && !s->removed);
}

/* what - as named in messages: the file's path, the store's name (never
 * a secret). */
static const char *what(const struct address_space *as)
{
	if (!store_is_file(as->store))
		return as->store->name ? as->store->name : "a store";
	return as->path ? as->path : "a file";
}

/* store_prefix - the start of the rescue files' names of the store at
 * url: RESCUE_STORE_PREFIX, the first 8 bytes of its MD5 in hex, "-".
 * Return: its length. */
static int store_prefix(const char *url, char *out, size_t size)
{
	unsigned char h[16];
	md5(url, strlen(url), h);
	return snprintf(out, size, RESCUE_STORE_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x-", h[0],
			h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
}

static void rescue_name(const struct address_space *as, char *name, size_t size, bool tmp)
{
	if (store_is_file(as->store)) {
		snprintf(name, size, RESCUE_PREFIX "%llu-%llu-%d%s", (unsigned long long)as->dev,
			 (unsigned long long)as->ino, (int)getpid(), tmp ? ".tmp" : "");
		return;
	}
	int k = store_prefix(as->store->url, name, size);
	if (k >= 0 && (size_t)k < size)
		snprintf(name + k, size - (size_t)k, "%llu-%d%s", (unsigned long long)as->ino,
			 (int)getpid(), tmp ? ".tmp" : "");
}

/* open_dir - the directory dfd for readdir, from its start (its own
 * descriptor: closedir leaves dfd open). Return: it, or NULL (errno). */
static DIR *open_dir(int dfd)
{
	int d = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *dir = d < 0 ? NULL : fdopendir(d);
	if (!dir) {
		int saved = errno;
		if (d >= 0)
			sys_close(d);
		errno = saved;
		return NULL;
	}
	rewinddir(dir); /* its offset is dfd's, which an earlier listing moved */
	return dir;
}

/* rescue_lock - lock the rescue file fd (flock, LOCK_EX), waiting
 * RESCUE_LOCK_US at most. Return: 0 or -errno (-EWOULDBLOCK: held). */
static int rescue_lock(int fd)
{
	uint64_t until = store_clock_us() + RESCUE_LOCK_US;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (store_clock_us() >= until)
			return -EWOULDBLOCK;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* io_all - write (or read) n bytes of buf at off of fd, whole. Return: 0
 * or -errno (-EBADMSG for a short read: a rescue file shorter than it
 * says; -EIO for a short write). */
static int io_all(int fd, void *buf, size_t n, off_t off, bool write)
{
	for (size_t done = 0; done < n;) {
		char *at = (char *)buf + done;
		ssize_t k = write ? sys_pwrite(fd, at, n - done, off + (off_t)done)
				  : sys_pread(fd, at, n - done, off + (off_t)done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : write ? -EIO : -EBADMSG;
		done += (size_t)k;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t n, off_t off)
{
	return io_all(fd, (void *)buf, n, off, true);
}

static int read_all(int fd, void *buf, size_t n, off_t off)
{
	return io_all(fd, buf, n, off, false);
}

/* dirty_pages - the indices of the dirty pages of as, increasing, into a
 * malloc'd *out. Return: how many, or -ENOMEM. */
static int64_t dirty_pages(struct address_space *as, uint64_t **out)
{
	uint64_t *v = malloc((as->nr_dirty ? as->nr_dirty : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	uint64_t n = 0;
	for (uint64_t i = 0; i < as->nr_pages && n < as->nr_dirty; i++) {
		if (!as->page_tree[i >> TREE_CHUNK_SHIFT]) { /* nothing resident here */
			i = (((i >> TREE_CHUNK_SHIFT) + 1) << TREE_CHUNK_SHIFT) - 1;
			continue;
		}
		uint32_t nr = as_find_frame(as, i);
		if (nr != FM_NIL && (frame_get(nr)->flags & PG_DIRTY))
			v[n++] = i;
	}
	*out = v;
	return (int64_t)n;
}

/* A rescue file's head being made: its header and strings, then zeros to
 * pad8(len). */
struct head_buf {
	char buf[sizeof(struct rescue_head) + PATH_MAX + 2 * RESCUE_STR_MAX + RESCUE_VERSION_MAX + 8];
	size_t len;
};

static void head_add(struct head_buf *b, const void *p, size_t n)
{
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

/* file_head - the head of a rescue file of the file as, of npages pages.
 * Return: 0 or -errno. */
static int file_head(struct address_space *as, uint64_t npages, struct head_buf *b)
{
	struct stat st;
	int fd = file_store_fd(as->store, false);
	if (fd < 0 || fstat(fd, &st) < 0)
		return fd < 0 ? -EBADF : -errno;
	const char *path = as->path ? as->path : "";
	if (path[0] != '/' || strlen(path) >= PATH_MAX)
		return -ENOENT; /* where to write them back is not known */
	struct rescue_head h = {
		.page_size = FM_PAGE_SIZE,
		.path_len = (uint32_t)strlen(path),
		.dev = (uint64_t)as->dev,
		.ino = (uint64_t)as->ino,
		.size = (uint64_t)st.st_size,
		.mtime_sec = st.st_mtim.tv_sec,
		.mtime_nsec = st.st_mtim.tv_nsec,
		.npages = npages,
	};
	memcpy(h.magic, RESCUE_MAGIC, sizeof(h.magic));
	head_add(b, &h, sizeof(h));
	head_add(b, path, h.path_len);
	return 0;
}

/* store_head - the head of a rescue file of the store as caches: its URL,
 * name and version (store_version). Return: 0 or -errno. */
static int store_head(struct address_space *as, uint64_t npages, struct head_buf *b)
{
	struct fm_store *s = as->store;
	char version[RESCUE_VERSION_MAX];
	store_version(s, version, sizeof(version));
	const char *name = s->name ? s->name : "";
	struct rescue_store_head h = {
		.page_size = FM_PAGE_SIZE,
		.url_len = (uint32_t)strnlen(s->url, RESCUE_STR_MAX),
		.name_len = (uint32_t)strnlen(name, RESCUE_STR_MAX),
		.version_len = (uint32_t)strlen(version),
		.size = as->i_size,
		.npages = npages,
	};
	if (h.url_len == RESCUE_STR_MAX || h.name_len == RESCUE_STR_MAX)
		return -ENAMETOOLONG;
	memcpy(h.magic, RESCUE_STORE_MAGIC, sizeof(h.magic));
	head_add(b, &h, sizeof(h));
	head_add(b, s->url, h.url_len);
	head_add(b, name, h.name_len);
	head_add(b, version, h.version_len);
	return 0;
}

/* save - copy the dirty pages of as into its rescue file (a new one
 * replaces the last). Return: 0 or -errno (nothing left behind). */
static int save(struct address_space *as)
{
	uint64_t *idx = NULL;
	int64_t n = dirty_pages(as, &idx);
	if (n < 0)
		return (int)n;
	struct head_buf *b = malloc(sizeof(*b));
	int err = b ? 0 : -ENOMEM;
	if (b) {
		b->len = 0;
		err = store_is_file(as->store) ? file_head(as, (uint64_t)n, b)
					       : store_head(as, (uint64_t)n, b);
	}
	if (err) {
		free(b);
		free(idx);
		return err;
	}
	memset(b->buf + b->len, 0, pad8(b->len) - b->len);
	char name[96], tmp[96];
	rescue_name(as, name, sizeof(name), false);
	rescue_name(as, tmp, sizeof(tmp), true);
	unlinkat(rescue_dfd, tmp, 0); /* a copy of ours never finished */
	int out = openat(rescue_dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	err = out < 0 ? -errno : 0;
	off_t at = (off_t)pad8(b->len);
	if (!err)
		err = write_all(out, b->buf, pad8(b->len), 0);
	free(b);
	if (!err)
		err = write_all(out, idx, (size_t)n * sizeof(*idx), at);
	at += (off_t)((size_t)n * sizeof(*idx));
	for (int64_t i = 0; !err && i < n; i++, at += FM_PAGE_SIZE)
		err = write_all(out, as->direct_view + (idx[i] << FM_PAGE_SHIFT), FM_PAGE_SIZE, at);
	if (!err && fsync(out) < 0)
		err = -errno;
	if (out >= 0)
		close(out);
	if (!err && renameat(rescue_dfd, tmp, rescue_dfd, name) < 0)
		err = -errno;
	if (err)
		unlinkat(rescue_dfd, tmp, 0);
	else
		(void)fsync(rescue_dfd);
	free(idx);
	return err;
}

/* keep - save as, and say so the first time (or why it could not be).
 * Return: 0 or save's -errno. */
static int keep(struct address_space *as)
{
	int err = save(as);
	char name[96];
	rescue_name(as, name, sizeof(name), false);
	if (err) {
		fprintf(stderr, "faultmap daemon: %llu dirty bytes of %s could not be copied to "
				"a rescue file (%s): they are lost if this daemon dies\n",
			(unsigned long long)as->nr_dirty << FM_PAGE_SHIFT, what(as), strerror(-err));
		return err;
	}
	if (!as->rescued)
		fprintf(stderr, "faultmap daemon: %llu dirty bytes of %s, which nothing maps, "
				"could not be written back: copied to the rescue file %s, "
				"written back by the next daemon if this one dies\n",
			(unsigned long long)as->nr_dirty << FM_PAGE_SHIFT, what(as), name);
	as->rescued = true;
	as->rescue_wgen = as->wgen;
	as->rescue_dirty = as->nr_dirty;
	return 0;
}

void rescue_clean(struct address_space *as)
{
	if (!as->rescued || rescue_dfd < 0)
		return;
	char name[96];
	rescue_name(as, name, sizeof(name), false);
	unlinkat(rescue_dfd, name, 0);
	as->rescued = false;
}

void rescue_update(struct address_space *as, bool unmapped)
{
	if (rescue_dfd < 0 || !rescuable(as))
		return;
	if (!as->nr_dirty) {
		rescue_clean(as);
		return;
	}
	/* Mapped by a live process: that one writes its views' pages if
	 * the daemon dies. Unchanged since the last copy: nothing to do. */
	if (!unmapped ||
	    (as->rescued && as->rescue_wgen == as->wgen && as->rescue_dirty == as->nr_dirty))
		return;
	keep(as);
}

/* mapped_live - whether a live process maps as: that one writes its
 * views' pages itself if the daemon dies (client.c, emergency_flush). */
static bool mapped_live(const struct address_space *as)
{
	for (struct vma *v = as->i_mmap; v; v = v->i_mmap_next)
		if (mm_alive(v->mm))
			return true;
	return false;
}

void rescue_refresh(struct address_space *as)
{
	if (as->rescued)
		rescue_update(as, !mapped_live(as));
}

int rescue_stop(void)
{
	int first = 0;
	for (struct address_space *as = engine.mappings; as; as = as->next) {
		if (!as->nr_dirty || !rescuable(as))
			continue;
		bool had = as->rescued;
		int err = rescue_dfd < 0 ? -EBADF : keep(as);
		as->rescued_at_stop = !had && as->rescued;
		if (err && !first)
			first = err;
	}
	return first;
}

void rescue_resume(void)
{
	for (struct address_space *as = engine.mappings; as; as = as->next) {
		if (as->rescued_at_stop && mapped_live(as))
			rescue_clean(as);
		as->rescued_at_stop = false;
	}
}

void rescue_report(char *out, size_t size)
{
	size_t used = 0;
	out[0] = '\0';
	for (struct address_space *as = engine.mappings; as; as = as->next) {
		if (!as->nr_dirty || (!store_is_file(as->store) && as->store->removed))
			continue; /* a removed object's writes are dropped */
		char name[96] = "";
		if (as->rescued)
			rescue_name(as, name, sizeof(name), false);
		int err = as->wb_last_err ? as->wb_last_err : -EIO;
		int n = snprintf(out + used, size - used, "  %s: %llu bytes (%s)%s%s\n", what(as),
				 (unsigned long long)as->nr_dirty << FM_PAGE_SHIFT, strerror(-err),
				 *name ? ", in the rescue file " : ", in no rescue file", name);
		if (n < 0 || (size_t)n >= size - used) { /* full: the log has the rest */
			out[used] = '\0';
			snprintf(out + used, size - used, "  ...\n");
			return;
		}
		used += (size_t)n;
	}
}

/* ---- a daemon that starts --------------------------------------------- */

/* A rescue file, read and checked: fd open on it, what it is of (a file's
 * path; a store's URL, name and version), its size and pages, the offset
 * of its indices. */
struct rescue_file {
	int fd;
	bool store;	      /* a store's (else a file's) */
	struct rescue_head h; /* a file's header */
	char path[PATH_MAX];  /* a file's path */
	char *url, *name, *version; /* a store's, malloc'd */
	uint64_t size, npages;
	off_t indices;
};

/* read_string - len bytes at *at of r's fd into a new string, with no NUL
 * in it; *at moves past them. Return: it, or NULL (*err: -EBADMSG,
 * -ENOMEM, a read's -errno). */
static char *read_string(struct rescue_file *r, uint32_t len, off_t *at, int *err)
{
	char *s = *err ? NULL : malloc((size_t)len + 1);
	if (!*err && !s)
		*err = -ENOMEM;
	if (!*err)
		*err = read_all(r->fd, s, len, *at);
	if (!*err) {
		s[len] = '\0';
		if (strlen(s) != len)
			*err = -EBADMSG;
	}
	*at += len;
	if (*err) {
		free(s);
		s = NULL;
	}
	return s;
}

/* head_file - read and check a file's header and path. Return: the
 * length of both, or -errno. */
static int64_t head_file(struct rescue_file *r)
{
	struct rescue_head *h = &r->h;
	int err = read_all(r->fd, h, sizeof(*h), 0);
	if (!err && (!h->path_len || h->path_len >= PATH_MAX))
		err = -EBADMSG;
	if (!err)
		err = read_all(r->fd, r->path, h->path_len, sizeof(*h));
	if (!err) {
		r->path[h->path_len] = '\0';
		if (r->path[0] != '/' || strlen(r->path) != h->path_len)
			err = -EBADMSG;
	}
	r->size = h->size;
	r->npages = h->npages;
	return err ? err : (int64_t)(sizeof(*h) + h->path_len);
}

/* head_store - read and check a store's header, URL (never a file's:
 * those have their own rescue files), name and version. Return: the
 * length of them all, or -errno. */
static int64_t head_store(struct rescue_file *r)
{
	struct rescue_store_head h;
	int err = read_all(r->fd, &h, sizeof(h), 0);
	if (!err && (!h.url_len || h.url_len >= RESCUE_STR_MAX || h.name_len >= RESCUE_STR_MAX ||
		     h.version_len >= RESCUE_VERSION_MAX))
		err = -EBADMSG;
	off_t at = sizeof(h);
	r->url = read_string(r, h.url_len, &at, &err);
	r->name = read_string(r, h.name_len, &at, &err);
	r->version = read_string(r, h.version_len, &at, &err);
	if (!err && !strncmp(r->url, "file:", 5))
		err = -EBADMSG;
	r->store = true;
	r->size = h.size;
	r->npages = h.npages;
	return err ? err : (int64_t)at;
}

static void rescue_close(struct rescue_file *r)
{
	if (r->fd >= 0)
		sys_close(r->fd);
	r->fd = -1;
	free(r->url);
	free(r->name);
	free(r->version);
	r->url = r->name = r->version = NULL;
}

/* rescue_open_as - rescue_open, the file opened with mode (O_RDONLY,
 * O_RDWR). */
static int rescue_open_as(int dfd, const char *name, int mode, struct rescue_file *r)
{
	*r = (struct rescue_file){.fd = -1};
	r->fd = sys_openat(dfd, name, mode | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
	if (r->fd < 0)
		return -errno;
	struct stat st;
	char magic[8];
	int err = fstat(r->fd, &st) < 0 ? -errno : 0;
	if (!err && (!S_ISREG(st.st_mode) || st.st_uid != geteuid()))
		err = -EPERM;
	if (!err && (uint64_t)st.st_size < sizeof(struct rescue_store_head))
		err = -EBADMSG;
	if (!err)
		err = read_all(r->fd, magic, sizeof(magic), 0);
	int64_t head = 0;
	if (!err && !memcmp(magic, RESCUE_MAGIC, sizeof(magic)))
		head = head_file(r);
	else if (!err && !memcmp(magic, RESCUE_STORE_MAGIC, sizeof(magic)))
		head = head_store(r);
	else if (!err)
		err = -EBADMSG;
	if (!err && head < 0)
		err = (int)head;
	uint32_t page_size; /* at the same place in both headers */
	if (!err)
		err = read_all(r->fd, &page_size, sizeof(page_size), sizeof(magic));
	uint64_t per_page = FM_PAGE_SIZE + sizeof(uint64_t);
	if (!err && (page_size != FM_PAGE_SIZE || r->npages > (uint64_t)st.st_size / per_page ||
		     pad8((size_t)head) + r->npages * per_page != (uint64_t)st.st_size))
		err = -EBADMSG;
	r->indices = (off_t)pad8((size_t)head);
	if (err)
		rescue_close(r);
	return err;
}

/* rescue_open - open and check the rescue file name in dfd: a file's or a
 * store's, by its magic. Return: 0, or -errno (-EBADMSG: not well formed;
 * r closed). */
static int rescue_open(int dfd, const char *name, struct rescue_file *r)
{
	return rescue_open_as(dfd, name, O_RDONLY, r);
}

/* read_indices - the indices of r's pages into a malloc'd *out: each
 * inside r's size, in increasing order. Return: 0 or -errno (-EBADMSG:
 * not so). */
static int read_indices(struct rescue_file *r, uint64_t **out)
{
	uint64_t *idx = malloc(r->npages ? r->npages * sizeof(*idx) : 1);
	int err = idx ? read_all(r->fd, idx, r->npages * sizeof(*idx), r->indices) : -ENOMEM;
	uint64_t pages = (r->size + FM_PAGE_SIZE - 1) >> FM_PAGE_SHIFT;
	for (uint64_t i = 0; !err && i < r->npages; i++)
		if ((i && idx[i] <= idx[i - 1]) || idx[i] >= pages)
			err = -EBADMSG;
	if (err) {
		free(idx);
		idx = NULL;
	}
	*out = idx;
	return err;
}

/* page_bytes - the bytes of page index that are inside size. */
static size_t page_bytes(uint64_t index, uint64_t size)
{
	uint64_t off = index << FM_PAGE_SHIFT;
	return size - off < FM_PAGE_SIZE ? (size_t)(size - off) : FM_PAGE_SIZE;
}

/* write_file - write the pages of r (idx: their indices) to its file.
 * Return: 0, or -errno (-ESTALE: the path names another file now, or it
 * changed since the copy). */
static int write_file(struct rescue_file *r, const uint64_t *idx, uint64_t *bytes)
{
	const struct rescue_head *h = &r->h;
	int fd = open(r->path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int err = fstat(fd, &st) < 0 ? -errno : 0;
	if (!err && (!S_ISREG(st.st_mode) || (uint64_t)st.st_dev != h->dev ||
		     (uint64_t)st.st_ino != h->ino || (uint64_t)st.st_size != h->size ||
		     st.st_mtim.tv_sec != h->mtime_sec || st.st_mtim.tv_nsec != h->mtime_nsec))
		err = -ESTALE;
	char *page = err ? NULL : malloc(FM_PAGE_SIZE);
	if (!err && !page)
		err = -ENOMEM;
	off_t data = r->indices + (off_t)(h->npages * sizeof(uint64_t));
	for (uint64_t i = 0; !err && i < h->npages; i++) {
		size_t n = page_bytes(idx[i], h->size);
		err = read_all(r->fd, page, FM_PAGE_SIZE, data + (off_t)(i * FM_PAGE_SIZE));
		if (!err)
			err = write_all(fd, page, n, (off_t)(idx[i] << FM_PAGE_SHIFT));
		*bytes += err ? 0 : n;
	}
	if (!err && fdatasync(fd) < 0)
		err = -errno;
	free(page);
	close(fd);
	return err;
}

/* store_as_kept - whether s is the object r was copied from, as it was
 * then: the same version (where the store has one), the same size, or
 * one s takes again (an S3 object's size grown in the cache only).
 * *moved: only its version is not r's (its size is), which a write of
 * r's pages that was taken for failed and landed after all (a RADOS
 * write that timed out, an S3 PUT whose answer was lost) also does.
 * Return: 0, or -errno (-ESTALE: it is not). */
static int store_as_kept(struct fm_store *s, const struct rescue_file *r, bool *moved)
{
	char now[RESCUE_VERSION_MAX];
	store_version(s, now, sizeof(now));
	int64_t size = s->ops->size(s);
	if (size < 0)
		return (int)size;
	*moved = strcmp(now, r->version) && (uint64_t)size == r->size;
	if (strcmp(now, r->version))
		return -ESTALE;
	int err = (uint64_t)size == r->size ? 0 : s->ops->resize(s, r->size);
	return err == -EOPNOTSUPP ? -ESTALE : err;
}

/* runs_in_store - whether s holds the bytes of ios[0..n) (runs of r's
 * pages, RESCUE_RUN_PAGES at most each), read back with its read op into
 * cmp (RESCUE_RUN_PAGES pages, page aligned). Return: 0 if it does, or
 * -errno (-ESTALE: it does not). */
static int runs_in_store(struct fm_store *s, const struct fm_store_io *ios, size_t n, char *cmp)
{
	for (size_t i = 0; i < n; i++) {
		size_t whole = (ios[i].len + FM_PAGE_SIZE - 1) & ~(size_t)(FM_PAGE_SIZE - 1);
		ssize_t got = s->ops->read(s, cmp, whole, ios[i].off);
		if (got < 0)
			return (int)got;
		if ((size_t)got < ios[i].len || memcmp(cmp, ios[i].buf, ios[i].len))
			return -ESTALE;
	}
	return 0;
}

/* write_store - open r's store (store_open_url, as embedded mode), check
 * it is as it was (store_as_kept), write the pages of r (idx: their
 * indices) in runs, RESCUE_CHUNK bytes at a time, each chunk synced. An
 * object whose version alone moved is read back instead (runs_in_store,
 * the same chunks): if it holds every page of r, they landed already.
 * Return: 0 (written), 1 (in the object already: nothing written), or
 * -errno (-ESTALE: the object changed since the copy). */
static int write_store(struct rescue_file *r, const uint64_t *idx, uint64_t *bytes)
{
	struct fm_store *s = NULL;
	bool moved = false;
	char *cmp = NULL;
	int err = store_open_url(r->url, O_RDWR, &s);
	if (!err)
		err = store_as_kept(s, r, &moved);
	if (err == -ESTALE && moved) {
		cmp = aligned_alloc(FM_PAGE_SIZE, RESCUE_RUN_PAGES * FM_PAGE_SIZE);
		err = cmp ? 0 : -ENOMEM;
	}
	char *buf = err ? NULL : malloc(RESCUE_CHUNK);
	struct fm_store_io *ios = err ? NULL : malloc(RESCUE_CHUNK / FM_PAGE_SIZE * sizeof(*ios));
	if (!err && (!buf || !ios))
		err = -ENOMEM;
	off_t data = r->indices + (off_t)(r->npages * sizeof(uint64_t));
	for (uint64_t i = 0; !err && i < r->npages;) {
		uint64_t k = r->npages - i; /* pages of this chunk */
		if (k > RESCUE_CHUNK / FM_PAGE_SIZE)
			k = RESCUE_CHUNK / FM_PAGE_SIZE;
		err = read_all(r->fd, buf, k * FM_PAGE_SIZE, data + (off_t)(i * FM_PAGE_SIZE));
		size_t n = 0;
		for (uint64_t j = 0; !err && j < k; j++) {
			size_t len = page_bytes(idx[i + j], r->size);
			struct fm_store_io *last = n ? &ios[n - 1] : NULL;
			*bytes += len;
			if (last && idx[i + j] == idx[i + j - 1] + 1 &&
			    last->len < RESCUE_RUN_PAGES * FM_PAGE_SIZE) {
				last->len += len;
				continue;
			}
			ios[n++] = (struct fm_store_io){.store = s,
							.buf = buf + j * FM_PAGE_SIZE,
							.off = idx[i + j] << FM_PAGE_SHIFT,
							.len = len};
		}
		if (!err)
			err = cmp ? runs_in_store(s, ios, n, cmp) : store_write_sync(s, ios, n);
		i += k;
	}
	free(ios);
	free(buf);
	free(cmp);
	if (s)
		store_put(s);
	return !err && cmp ? 1 : err;
}

/* restore - write back the rescue file name of dfd; remove it once its
 * pages are in the file or store, else keep it and say why. *store_us:
 * the time the stores' took so far in this start (RESCUE_STORES_US). */
static void restore(int dfd, const char *name, uint64_t *store_us)
{
	struct rescue_file r;
	int err = rescue_open(dfd, name, &r);
	if (err) {
		fprintf(stderr, "faultmap daemon: the rescue file %s cannot be read (%s): "
				"kept\n", name,
			err == -EBADMSG ? "it is not a well-formed rescue file" : strerror(-err));
		return;
	}
	const char *of = r.store ? (*r.name ? r.name : "a store") : r.path;
	int locked = r.store ? rescue_lock(r.fd) : 0; /* rescue_follow_store's */
	if (locked < 0) {
		char why[128];
		snprintf(why, sizeof(why), "a process of the daemon before held it for %llu s, "
					   "writing its own pages of that store",
			 RESCUE_LOCK_US / 1000000);
		fprintf(stderr, "faultmap daemon: the %llu pages of %s kept in the rescue file %s "
				"were not tried: %s: kept\n",
			(unsigned long long)r.npages, of, name,
			locked == -EWOULDBLOCK ? why : strerror(-locked));
		rescue_close(&r);
		return;
	}
	if (r.store && *store_us >= RESCUE_STORES_US) {
		fprintf(stderr, "faultmap daemon: the %llu pages of %s kept in the rescue file %s "
				"were not tried: the stores' rescue files before it took this "
				"start's %llu s: kept\n",
			(unsigned long long)r.npages, of, name, RESCUE_STORES_US / 1000000);
		rescue_close(&r);
		return;
	}
	uint64_t *idx = NULL, bytes = 0, t = store_clock_us();
	err = read_indices(&r, &idx);
	if (!err)
		err = r.store ? write_store(&r, idx, &bytes) : write_file(&r, idx, &bytes);
	free(idx);
	if (r.store)
		*store_us += store_clock_us() - t;
	if (err < 0) {
		fprintf(stderr, "faultmap daemon: the %llu pages of %s kept in the rescue file %s "
				"could not be written back: %s: kept\n",
			(unsigned long long)r.npages, of, name,
			err == -ESTALE && r.store ? "the object changed since (its version or "
						    "its size is not the one it was)"
			: err == -ESTALE	  ? "the file there is not the one it was, or it "
						    "changed since"
			: err == -EBADMSG	  ? "it is not a well-formed rescue file"
						  : strerror(-err));
		rescue_close(&r);
		return;
	}
	unlinkat(dfd, name, 0);
	if (err == 1)
		fprintf(stderr, "faultmap daemon: the %llu bytes of %s kept in the rescue file %s "
				"had already reached it (its version is not the one they were "
				"copied from, but it holds every one of them: a write of them "
				"taken for failed landed): removed\n",
			(unsigned long long)bytes, of, name);
	else
		fprintf(stderr, "faultmap daemon: %llu bytes of %s that an earlier daemon could "
				"not write back were written from the rescue file %s\n",
			(unsigned long long)bytes, of, name);
	rescue_close(&r);
}

/* is_rescue - whether name is a rescue file's (tmp: an unfinished one). */
static bool is_rescue(const char *name, bool *tmp)
{
	size_t len = strlen(name);
	*tmp = len > 4 && !strcmp(name + len - 4, ".tmp");
	return !strncmp(name, RESCUE_PREFIX, sizeof(RESCUE_PREFIX) - 1);
}

void rescue_start(int dfd)
{
	DIR *dir = open_dir(dfd);
	if (!dir) {
		fprintf(stderr, "faultmap daemon: no rescue files: %s\n", strerror(errno));
		return;
	}
	uint64_t store_us = 0;
	for (struct dirent *e; (e = readdir(dir));) {
		bool tmp;
		if (!is_rescue(e->d_name, &tmp))
			continue;
		if (tmp) /* a copy its daemon never finished: the one before stays */
			unlinkat(dfd, e->d_name, 0);
		else
			restore(dfd, e->d_name, &store_us);
	}
	closedir(dir);
	rescue_dfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
}

int rescue_list(int dfd, FILE *out)
{
	DIR *dir = open_dir(dfd);
	if (!dir)
		return 0;
	int n = 0;
	for (struct dirent *e; (e = readdir(dir));) {
		bool tmp;
		if (!is_rescue(e->d_name, &tmp) || tmp)
			continue;
		struct rescue_file r;
		n++;
		if (!out)
			continue;
		if (rescue_open(dfd, e->d_name, &r) < 0) {
			fprintf(out, "  %s: not a well-formed rescue file\n", e->d_name);
			continue;
		}
		fprintf(out, "  %s: %llu pages of %s\n", e->d_name, (unsigned long long)r.npages,
			r.store ? (*r.name ? r.name : "a store") : r.path);
		rescue_close(&r);
	}
	closedir(dir);
	return n;
}

/* ---- a client that writes a store's pages itself --------------------- */
/* (Its I/O goes through the sys_ calls, as the engine's: under faultmap
 * run they go straight to the kernel, not back into the interposer.) */

/* find_index - whether idx[0..n) (increasing) holds page; *at: where. */
static bool find_index(const uint64_t *idx, uint64_t n, uint64_t page, uint64_t *at)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (idx[mid] < page)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return lo < n && idx[lo] == page;
}

/* follow_one - the rescue file r (locked) takes the bytes of ios[0..n)
 * for each page it holds. Return: 0 or -errno. */
static int follow_one(struct rescue_file *r, const struct fm_store_io *ios, size_t n)
{
	uint64_t *idx = NULL;
	int err = read_indices(r, &idx);
	off_t data = r->indices + (off_t)(r->npages * sizeof(uint64_t));
	bool changed = false;
	for (size_t i = 0; !err && i < n; i++) {
		if (ios[i].off % FM_PAGE_SIZE)
			continue; /* flush_store's runs start at pages */
		for (size_t k = 0; !err && k < ios[i].len; k += FM_PAGE_SIZE) {
			uint64_t j;
			if (!find_index(idx, r->npages, (ios[i].off + k) >> FM_PAGE_SHIFT, &j))
				continue;
			size_t len = ios[i].len - k < FM_PAGE_SIZE ? ios[i].len - k : FM_PAGE_SIZE;
			err = write_all(r->fd, ios[i].buf + k, len, data + (off_t)(j * FM_PAGE_SIZE));
			changed = true;
		}
	}
	if (!err && changed && sys_fsync(r->fd) < 0)
		err = -errno;
	free(idx);
	return err;
}

int rescue_follow_store(const char *url, const struct fm_store_io *ios, size_t n,
			struct rescue_hold *hold)
{
	*hold = (struct rescue_hold){0};
	char dir[RT_DIR_PATH_MAX], prefix[64];
	int dfd = runtime_dir_create(dir, sizeof(dir));
	if (dfd < 0)
		return 0; /* no runtime directory: no rescue file either */
	size_t plen = (size_t)store_prefix(url, prefix, sizeof(prefix));
	DIR *dirp = open_dir(dfd);
	if (!dirp) {
		int err = -errno;
		sys_close(dfd);
		return err;
	}
	int first = 0;
	for (struct dirent *e; (e = readdir(dirp));) {
		bool tmp;
		if (!is_rescue(e->d_name, &tmp) || tmp || strncmp(e->d_name, prefix, plen))
			continue;
		struct rescue_file r;
		if (rescue_open_as(dfd, e->d_name, O_RDWR, &r) < 0)
			continue; /* not well formed: the daemon keeps it, and says so */
		struct stat st;
		int err = strcmp(r.url, url) ? 1 : rescue_lock(r.fd);
		if (!err && fstat(r.fd, &st) == 0 && st.st_nlink == 0)
			err = 1; /* written back and removed meanwhile */
		if (!err)
			err = follow_one(&r, ios, n);
		if (err < 0) {
			fprintf(stderr, "faultmap: the rescue file %s/%s of %s could not take the "
					"bytes this process writes there (%s): a daemon that writes "
					"it back may write older bytes over them\n",
				dir, e->d_name, *r.name ? r.name : "a store", strerror(-err));
			if (!first)
				first = err;
		}
		int *t = err ? NULL : realloc(hold->fds, (hold->n + 1) * sizeof(*t));
		if (t) { /* held, locked, until the store has the bytes */
			hold->fds = t;
			hold->fds[hold->n++] = r.fd;
			r.fd = -1;
		}
		rescue_close(&r);
	}
	closedir(dirp);
	sys_close(dfd);
	return first;
}

void rescue_follow_end(struct rescue_hold *hold)
{
	for (size_t i = 0; i < hold->n; i++)
		sys_close(hold->fds[i]);
	free(hold->fds);
	*hold = (struct rescue_hold){0};
}
