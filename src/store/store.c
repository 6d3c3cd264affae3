/*
 * store.c - opening stores by URL, the registry that gives each its
 * identity, and the public calls on a store handle (fm_store_*).
 *
 * A store opened by fm_store_open is registered under its (dev, ino) until
 * its last reference goes; address_space.c looks it up there (store_find)
 * when fm_mmap_store maps its stand-in. The registry has its own lock,
 * store_lock, taken inside engine.lock (as_get) or alone, never around it.
 */
#include "internal.h"
#include "client/client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fm_store *stores; /* registered, store_lock */

/*
 * store_init - fill the generic part of a new store s: one reference (the
 * caller's), registered if it has a url (fm_store_open). Return: 0 or
 * -ENOMEM (nothing to undo).
 */
int store_init(struct fm_store *s, const struct fm_store_ops *ops, const char *url,
	       const char *name, bool writable)
{
	s->ops = ops;
	s->refs = 1;
	s->writable = writable;
	s->handle_fd = -1;
	s->url = url ? fm_strdup(url) : NULL;
	s->name = name ? fm_strdup(name) : NULL;
	if ((url && !s->url) || (name && !s->name)) {
		fm_free(s->url);
		fm_free(s->name);
		return -ENOMEM;
	}
	return 0;
}

/*
 * store_standin - give s (a store that is not a file) its stand-in: a
 * memfd of its own, never written (sealed at size 0), that gives it its
 * identity (dev, ino) and the kernel something to check fm_mmap_store's
 * arguments against;
 * opened read-only for a read-only store, so that a shared writable mapping
 * is refused with EACCES, as for a file. Kept out of the program's reach.
 * Its name is FM_STANDIN_NAME followed by url, a URL that opens the store
 * again (never with secrets in it), so that a program's fd of it carried
 * across an exec finds its object again (interposer/mount.c); a url too
 * long for a memfd's name is cut, after FM_STANDIN_CUT instead.
 * Return: 0 or -errno (destroy closes what was made).
 */
int store_standin(struct fm_store *s, const char *url, bool writable)
{
	char name[FM_STANDIN_NAME_MAX + 1];
	bool whole = strlen(FM_STANDIN_NAME) + strlen(url) <= FM_STANDIN_NAME_MAX;
	size_t k = strlen(strcpy(name, whole ? FM_STANDIN_NAME : FM_STANDIN_CUT));
	size_t n = strnlen(url, FM_STANDIN_NAME_MAX - k);
	memcpy(name + k, url, n);
	name[k + n] = '\0';
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* Its size is 0 for good: a write of the kernel's to it (glibc's
	 * stdio, or any call past the interposer, on a program's fd of an
	 * object) fails with EPERM, never drops the bytes into it. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
		int err = -errno;
		sys_close(fd);
		return err;
	}
	if (!writable) {
		char path[32];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		int ro = sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
		int err = ro < 0 ? -errno : 0;
		sys_close(fd);
		if (err)
			return err;
		fd = ro;
	}
	s->handle_fd = fd_keep(fd);
	if (s->handle_fd < 0)
		return s->handle_fd;
	struct stat st;
	if (fstat(s->handle_fd, &st) < 0)
		return -errno;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return 0;
}

/* store_clock_us - a monotonic clock, in microseconds. */
uint64_t store_clock_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

/* store_set_latency - a read of one page took us microseconds: readahead's
 * cluster grows with it (a store 10x slower than a disk wants bigger
 * reads). */
void store_set_latency(struct fm_store *s, uint64_t us)
{
	s->latency_us = us > 0 ? (uint32_t)(us < UINT32_MAX ? us : UINT32_MAX) : 1;
	s->cluster_pages = s->latency_us > 100 ? 64 : 16;
}

/* store_measure - time one read of s's first page (its read op), for
 * readahead's sake (store_set_latency). */
void store_measure(struct fm_store *s)
{
	char *page = aligned_alloc(FM_PAGE_SIZE, FM_PAGE_SIZE);
	uint64_t t = store_clock_us();
	if (page)
		(void)s->ops->read(s, page, FM_PAGE_SIZE, 0);
	store_set_latency(s, store_clock_us() - t);
	free(page);
}

/* store_fini - free what store_init allocated (called by destroy). */
void store_fini(struct fm_store *s)
{
	fm_free(s->url);
	fm_free(s->name);
}

static void store_register(struct fm_store *s)
{
	pthread_mutex_lock(&store_lock);
	s->registered = true;
	s->next = stores;
	stores = s;
	pthread_mutex_unlock(&store_lock);
}

/* store_find - the registered store of identity (dev, ino), with a new
 * reference, or NULL. */
struct fm_store *store_find(dev_t dev, ino_t ino)
{
	pthread_mutex_lock(&store_lock);
	struct fm_store *s = stores;
	while (s && (s->dev != dev || s->ino != ino))
		s = s->next;
	if (s)
		s->refs++;
	pthread_mutex_unlock(&store_lock);
	return s;
}

void store_get(struct fm_store *s)
{
	pthread_mutex_lock(&store_lock);
	s->refs++;
	pthread_mutex_unlock(&store_lock);
}

/* put_ref - drop a reference to s (if only_last, only if it is the last
 * one); the last one unregisters and destroys s. Return: whether it was
 * dropped. */
static bool put_ref(struct fm_store *s, bool only_last)
{
	pthread_mutex_lock(&store_lock);
	if (only_last && s->refs != 1) {
		pthread_mutex_unlock(&store_lock);
		return false;
	}
	bool last = --s->refs == 0;
	if (last && s->registered) {
		struct fm_store **pp = &stores;
		while (*pp != s)
			pp = &(*pp)->next;
		*pp = s->next;
	}
	pthread_mutex_unlock(&store_lock);
	if (last)
		s->ops->destroy(s);
	return true;
}

/* store_put - drop a reference; the last one unregisters and destroys s. */
void store_put(struct fm_store *s)
{
	put_ref(s, false);
}

/* store_put_if_last - store_put, only if it is the last reference.
 * Return: whether it was (s destroyed). */
bool store_put_if_last(struct fm_store *s)
{
	return put_ref(s, true);
}

/*
 * store_write - write each of ios[0..n) to its store, each store kind's
 * runs in flight together (its write op). Sets each io's done and err.
 * Context: engine.lock held.
 */
void store_write(struct fm_store_io *ios, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ios[i].done = 0;
		ios[i].err = ios[i].store->writable ? 0 : -EBADF;
		if (ios[i].store->removed) /* dropped: store_remove */
			ios[i].done = ios[i].len;
	}
	for (size_t i = 0; i < n; i++) {
		const struct fm_store_ops *ops = ios[i].store->ops;
		bool first = true; /* the first io of its kind: write them all */
		for (size_t j = 0; j < i && first; j++)
			first = ios[j].store->ops != ops;
		if (first)
			ops->write(ios, n);
	}
}

/* store_is_file - whether s is a local file's store (the fd faultmap is
 * given is the file itself), not one a stand-in memfd names. */
bool store_is_file(const struct fm_store *s)
{
	return !strcmp(s->ops->scheme, "file");
}

/* store_version - see store.h. */
void store_version(struct fm_store *s, char *out, size_t size)
{
	if (s->ops->version)
		s->ops->version(s, out, size);
	else if (size)
		out[0] = '\0';
}

/* store_write_sync - see store.h. */
int store_write_sync(struct fm_store *s, struct fm_store_io *ios, size_t n)
{
	int err = 0;
	if (n)
		store_write(ios, n);
	for (size_t i = 0; !err && i < n; i++)
		if (ios[i].err || ios[i].done != ios[i].len)
			err = ios[i].err ? ios[i].err : -EIO;
	if (!err && s->ops->sync)
		err = s->ops->sync(s);
	return err;
}

/* store_ring_fd - the fd the fault thread's ring may read s from (for
 * the buffered second try of a page, if buffered), or -1. */
int store_ring_fd(const struct fm_store *s, bool buffered)
{
	return s->ops->ring_fd ? s->ops->ring_fd(s, buffered) : -1;
}

/* store_read_start - s->ops->read_start, or -EOPNOTSUPP where s has none. */
int store_read_start(struct fm_store *s, void *buf, size_t len, uint64_t off,
		     void (*done)(void *tag, int res), void *tag)
{
	return s->ops->read_start ? s->ops->read_start(s, buf, len, off, done, tag) : -EOPNOTSUPP;
}

/* ---- the public calls --------------------------------------------------- */

/* url_path - the path of file:///path (or file:/path), or NULL. */
static const char *url_path(const char *url)
{
	if (strncmp(url, "file://", 7) == 0)
		return url[7] == '/' ? url + 7 : NULL; /* no host part */
	if (strncmp(url, "file:/", 6) == 0)
		return url + 5;
	return NULL;
}

/* store_flags_ok - the flags fm_store_open takes: O_RDONLY or O_RDWR,
 * with O_CREAT and O_EXCL (a file's). */
bool store_flags_ok(int flags)
{
	int acc = flags & O_ACCMODE;
	return !(flags & ~(O_ACCMODE | O_CREAT | O_EXCL)) && (acc == O_RDONLY || acc == O_RDWR);
}

/*
 * store_open_url - open the store url names (flags checked), by its
 * scheme, and register it. Every store kind is opened here: in embedded
 * mode for fm_store_open, in the daemon for its clients (store_open_shared).
 * Return: 0 or -errno (EPROTONOSUPPORT: no such scheme).
 */
int store_open_url(const char *url, int flags, struct fm_store **out)
{
	int err;
	struct fm_store *s = NULL;
	if (url_path(url))
		err = file_store_open(url_path(url), flags, url, &s);
	else if (strncmp(url, "nbd", 3) == 0 && (flags & (O_CREAT | O_EXCL)))
		err = -EINVAL; /* an export is made by its server */
	else if (strncmp(url, "nbd", 3) == 0)
		err = nbd_store_open(url, flags, &s);
	else if (strncmp(url, "rados:", 6) == 0)
		err = rados_store_open(url, flags, &s);
	else if (strncmp(url, "s3:", 3) == 0)
		err = s3_store_open(url, flags, &s);
	else
		err = -EPROTONOSUPPORT;
	if (!err) {
		store_register(s);
		*out = s;
	}
	return err;
}

static pthread_mutex_t shared_open_lock = PTHREAD_MUTEX_INITIALIZER;

/* store_find_url - the registered store opened from url (writable, if
 * writable), the newest, not removed (store_remove), with a new
 * reference, or NULL. */
static struct fm_store *store_find_url(const char *url, bool writable)
{
	pthread_mutex_lock(&store_lock);
	struct fm_store *s = stores;
	while (s && (!s->url || strcmp(s->url, url) || (writable && !s->writable) || s->removed))
		s = s->next;
	if (s)
		s->refs++;
	pthread_mutex_unlock(&store_lock);
	return s;
}

/*
 * store_open_shared - the daemon's store of url for one more client: the
 * one open already (so that every process of the user shares its cache),
 * unless it is no longer current (an S3 object replaced since: that store
 * maps the old version),
 * else a new one, opened for writing if the store allows it whatever flags
 * ask (a later writer then shares the cache of the readers before it),
 * else as flags ask (so a failure is embedded mode's, errno and all); a
 * client's access is its stand-in's (store_standin_fd). Return: 0 or -errno,
 * as fm_store_open's.
 */
int store_open_shared(const char *url, int flags, struct fm_store **out)
{
	bool want_write = (flags & O_ACCMODE) == O_RDWR;
	pthread_mutex_lock(&shared_open_lock);
	/* O_EXCL must fail on a store that exists: its kind says so. */
	struct fm_store *s = (flags & O_EXCL) ? NULL : store_find_url(url, want_write);
	if (s && s->ops->current && !s->ops->current(s)) {
		store_put(s); /* its clients keep it; a new one for this open */
		s = NULL;
	}
	int err = 0;
	if (!s && !want_write && !(flags & (O_CREAT | O_EXCL)) &&
	    store_open_url(url, O_RDWR, &s) != 0)
		s = NULL;
	if (!s)
		err = store_open_url(url, flags, &s);
	pthread_mutex_unlock(&shared_open_lock);
	if (!err)
		*out = s;
	return err;
}

/* store_standin_fd - a new fd of s's stand-in (its file, for a file store)
 * for a client: read-only unless writable (and s writable). Return: the
 * fd, or -errno. */
int store_standin_fd(const struct fm_store *s, bool writable)
{
	int fd;
	if (writable && s->writable) {
		fd = fcntl(s->handle_fd, F_DUPFD_CLOEXEC, 0);
	} else {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", s->handle_fd);
		fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	}
	return fd < 0 ? -errno : fd;
}

/* store_unescape - a malloc'd copy of [s, s + n) with %XX decoded, or NULL
 * (*err: -ENOMEM, or -EINVAL for a bad escape or an empty result). */
char *store_unescape(const char *s, size_t n, int *err)
{
	char *out = malloc(n + 1);
	size_t k = 0;
	*err = out ? 0 : -ENOMEM;
	for (size_t i = 0; out && i < n; i++) {
		if (s[i] != '%') {
			out[k++] = s[i];
			continue;
		}
		char hex[3] = {0};
		if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
		    !isxdigit((unsigned char)s[i + 2]) || (s[i + 1] == '0' && s[i + 2] == '0')) {
			*err = -EINVAL;
			break;
		}
		memcpy(hex, s + i + 1, 2);
		out[k++] = (char)strtol(hex, NULL, 16);
		i += 2;
	}
	if (!*err && !k)
		*err = -EINVAL;
	if (*err) {
		free(out);
		return NULL;
	}
	out[k] = '\0';
	return out;
}

/* store_url_here - url as the daemon must open it for this process: what
 * a store kind takes from the process (its environment, its directory)
 * written into the URL, by the kind (rados: $CEPH_CONF; s3: its endpoint,
 * region and keys). Return: a new
 * string, or NULL (ENOMEM). */
char *store_url_here(const char *url)
{
	if (strncmp(url, "rados:", 6) == 0)
		return rados_url_here(url);
	if (strncmp(url, "s3:", 3) == 0)
		return s3_url_here(url);
	return strdup(url);
}

struct fm_store *fm_store_open(const char *url, int flags)
{
	int err = 0;
	struct fm_store *s = NULL;
	if (!url)
		err = -EFAULT;
	else if (!store_flags_ok(flags))
		err = -EINVAL;
	else if (fm_client_mode() && !url_path(url))
		err = client_store_open(url, flags, &s); /* the daemon's */
	else
		err = store_open_url(url, flags, &s);
	if (err) {
		errno = -err;
		return NULL;
	}
	return s;
}

int fm_store_close(struct fm_store *s)
{
	if (!s) {
		errno = EBADF;
		return -1;
	}
	store_put(s);
	return 0;
}

int64_t fm_store_size(struct fm_store *s)
{
	if (!s)
		return -EBADF;
	return s->ops->size(s);
}

/* store_of_this_mode - whether s can be used in this process's mode: a
 * file store in both; in daemon mode a store of the daemon's
 * (client_store_open), in embedded mode any other. */
static bool store_of_this_mode(const struct fm_store *s)
{
	return file_store_fd(s, false) >= 0 || fm_client_mode() == client_store_is(s);
}

void *fm_mmap_store(void *addr, size_t length, int prot, int flags, struct fm_store *s,
		    off_t offset)
{
	if (!s) {
		errno = EBADF;
		return MAP_FAILED;
	}
	/* A mapping the kernel would make (MAP_ANONYMOUS, MAP_LOCKED...)
	 * would be of the stand-in, not of the store. */
	if ((flags & MAP_ANONYMOUS) || !fm_mmap_serves(flags)) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	/* In daemon mode the daemon gets the fd: a file's is the file, a
	 * store the daemon opened (client_store_open) has its stand-in
	 * there. A store opened in the other mode is no store here. */
	if (!store_of_this_mode(s)) {
		errno = EOPNOTSUPP;
		return MAP_FAILED;
	}
	return fm_mmap(addr, length, prot, flags, s->handle_fd, offset);
}

/* ---- fm_store_pread, fm_store_pwrite: through the cache ------------------ */

#define STORE_RW_CHUNK (64 * FM_PAGE_SIZE) /* bytes copied per lock hold */

struct store_op {
	struct address_space *as;
	sigset_t old_mask;
};

/* op_lock - engine.lock, with signals blocked (engine_lock_take). */
static void op_lock(struct store_op *op)
{
	engine_lock_take(&op->old_mask);
}

static void op_unlock(struct store_op *op)
{
	engine_lock_drop(&op->old_mask);
}

/* op_begin - the address_space caching s (created if need be), pinned,
 * with engine.lock held. Return: 0 or -errno (unlocked). */
static int op_begin(struct store_op *op, struct fm_store *s)
{
	int err = engine_start();
	if (err)
		return err;
	if (engine.forked_child)
		return -ENOTSUP;
	struct stat st;
	if (fstat(s->handle_fd, &st) < 0)
		return -errno;
	op_lock(op);
	op->as = as_get(s->handle_fd, &st, &err);
	if (!op->as) {
		op_unlock(op);
		return err;
	}
	op->as->nr_pins++;
	return 0;
}

/* op_end - unpin; release the cache if nothing maps it; unlock. */
static void op_end(struct store_op *op)
{
	op->as->nr_pins--;
	if (!op->as->i_mmap)
		as_put_if_unused(op->as);
	op_unlock(op);
}

/* cache_page - the frame of page index of as, read from the store first
 * (with the missing pages after it, up to end) if it is not cached.
 * Return: the frame, or -errno (the store's read error).
 * Context: op locked; dropped while another thread reads the page. */
static int64_t cache_page(struct address_space *as, uint64_t index, uint64_t end)
{
	for (;;) {
		uint32_t nr = as_find_frame(as, index);
		if (nr != FM_NIL && (frame_get(nr)->flags & PG_LOCKED)) {
			as_wait_reads(as);
			continue;
		}
		if (nr != FM_NIL)
			return nr;
		uint64_t n = 1;
		while (index + n < end && index + n < as->nr_pages && n < FM_CLUSTER_MAX &&
		       as_find_frame(as, index + n) == FM_NIL)
			n++;
		int err = reclaim_reserve(n);
		if (!err)
			err = filemap_read_pages(as, index, n, false, engine.io_buf, false);
		if (err)
			return err;
	}
}

/*
 * copy_chunk - copy [off, off + len) of the store between the cache and
 * bounce (into the cache, dirtying its pages, if write). len stops at the
 * store's end. Return: bytes copied, or -errno if none could be.
 * Context: op locked.
 */
static ssize_t copy_chunk(struct address_space *as, char *bounce, size_t len, uint64_t off,
			  bool write)
{
	size_t done = 0;
	uint64_t end = (off + len + FM_PAGE_SIZE - 1) >> FM_PAGE_SHIFT;
	while (done < len && off + done < as->i_size) {
		uint64_t pos = off + done;
		int64_t nr = cache_page(as, pos >> FM_PAGE_SHIFT, end);
		if (nr < 0)
			return done ? (ssize_t)done : nr;
		uint64_t stop = ((pos >> FM_PAGE_SHIFT) + 1) << FM_PAGE_SHIFT;
		if (stop > off + len)
			stop = off + len;
		if (stop > as->i_size)
			stop = as->i_size;
		if (write) {
			memcpy(as->direct_view + pos, bounce + done, stop - pos);
			page_mark_dirty(as, (uint32_t)nr);
		} else {
			memcpy(bounce + done, as->direct_view + pos, stop - pos);
		}
		done += stop - pos;
	}
	return (ssize_t)done;
}

/*
 * store_rw - read or write count bytes at off of s through its cache. A
 * write dirties the pages and writes them back (and syncs the store)
 * before it returns, as a write to a file reaches the file. fd: the open
 * file the write is of (a --mount object's fd), or -1: a write that fails
 * tells fd's open file of the write-back error it returns, as the fsync
 * inside the kernel's write() of an O_SYNC file does
 * (file_check_and_advance_wb_err), so fd's next fsync does not report it
 * again (filemap_fd_told). Return: bytes moved, or -errno if none were.
 */
static ssize_t store_rw(struct fm_store *s, int fd, void *buf, size_t count, off_t off,
			bool write)
{
	if (!s)
		return -EBADF;
	if (off < 0 || (ssize_t)count < 0)
		return -EINVAL;
	if (write && !s->writable)
		return -EBADF;
	if (!store_of_this_mode(s))
		return -EOPNOTSUPP;
	if (fm_client_mode() && file_store_fd(s, false) < 0) /* the daemon's store */
		return client_store_rw(s, fd, buf, count, off, write);
	if (fm_client_mode()) { /* a file: the daemon's cache of it */
		ssize_t r = write ? fm_pwrite(s->handle_fd, buf, count, off)
				  : fm_pread(s->handle_fd, buf, count, off);
		return r < 0 ? -errno : r;
	}
	char *bounce = fm_alloc(STORE_RW_CHUNK);
	if (!bounce)
		return -ENOMEM;
	struct store_op op;
	int err = op_begin(&op, s);
	if (err) {
		fm_free(bounce);
		return err;
	}
	if (write && (uint64_t)off + count > op.as->i_size) {
		/* A file grows; an export of fixed size takes a short write. */
		as_wait_reads(op.as);
		if (s->ops->resize(s, (uint64_t)off + count) == 0)
			(void)as_set_size(op.as, (uint64_t)off + count);
	}
	size_t done = 0;
	ssize_t ret = 0;
	while (done < count) {
		size_t n = count - done < STORE_RW_CHUNK ? count - done : STORE_RW_CHUNK;
		uintptr_t user = (uintptr_t)buf + done;
		if (write) {
			op_unlock(&op);
			n = user_copy(bounce, user, n, false);
			op_lock(&op);
			if (!n) {
				ret = -EFAULT;
				break;
			}
			as_wait_reads(op.as);
			as_file_changed(op.as);
		}
		ret = copy_chunk(op.as, bounce, n, (uint64_t)off + done, write);
		if (ret <= 0)
			break;
		if (!write) {
			op_unlock(&op);
			size_t copied = user_copy(bounce, user, (size_t)ret, true);
			op_lock(&op);
			if (copied < (size_t)ret) {
				done += copied;
				ret = -EFAULT;
				break;
			}
		}
		done += (size_t)ret;
		if ((size_t)ret < n)
			break; /* the store's end */
	}
	if (write && done) { /* write-through: the store has it on return */
		uint64_t first = (uint64_t)off >> FM_PAGE_SHIFT;
		uint64_t last = ((uint64_t)off + done + FM_PAGE_SIZE - 1) >> FM_PAGE_SHIFT;
		err = writeback_range(op.as, first, last);
		if (!err)
			err = as_sync(op.as);
		if (err) { /* said, and backing off: op_end does not try again */
			writeback_report(op.as, err, true);
			if (fd >= 0)
				err = filemap_fd_told(fd, op.as, err);
			ret = err, done = 0;
		}
	} else if (write && !done && !ret && count) {
		ret = -ENOSPC; /* at or past the end of a store of fixed size */
	}
	op_end(&op);
	fm_free(bounce);
	return done ? (ssize_t)done : ret;
}

/*
 * store_truncate - make s size bytes long through its cache (ftruncate of
 * a store under faultmap run --mount): the store's resize (its truncate,
 * where it has one: S3 PUTs the object at its new size, or changes
 * nothing), then the cache's size (pages past the end dropped, as a
 * file's), then the store's sync, so that the store has the new size on
 * return, as a write through the cache reaches it. A store of fixed
 * size keeps it: EINVAL (a block device's answer), but a size equal to
 * the store's is no change. Return: 0 or -errno. Context: the embedded
 * engine (in daemon mode the daemon calls it for FMD_FTRUNCATE of a
 * stand-in: client_store_truncate).
 */
int store_truncate(struct fm_store *s, uint64_t size)
{
	if (!s->writable)
		return -EINVAL; /* ftruncate of an fd not open for writing */
	if (size > (uint64_t)INT64_MAX)
		return -EINVAL;
	struct store_op op;
	int err = op_begin(&op, s);
	if (err)
		return err;
	if (size != op.as->i_size) {
		as_wait_reads(op.as);
		as_file_changed(op.as); /* stashed reads are stale now */
		err = s->ops->truncate ? s->ops->truncate(s, size)
		      : s->ops->resize ? s->ops->resize(s, size)
				       : -EOPNOTSUPP;
		if (err == -EOPNOTSUPP)
			err = -EINVAL;
		if (!err)
			err = as_set_size(op.as, size);
		if (!err) /* through, as a write: S3 PUTs its new size now */
			err = as_sync(op.as);
	}
	op_end(&op);
	return err;
}

/*
 * store_remove - remove s's object from its store (faultmap run --mount's
 * unlink), and mark s removed (also when the object was gone already:
 * -ENOENT), under engine.lock, where every write-back and every write
 * through the cache runs: no write can bring the object back between the
 * removal and the mark, and from then on s's writes are dropped (as an
 * unlinked file's data goes with its last reference), never written into
 * a new object of that name. Return: 0 or -errno (-EPERM: a store whose
 * object cannot be removed).
 */
int store_remove(struct fm_store *s)
{
	if (!s->ops->remove)
		return -EPERM;
	struct store_op op;
	op_lock(&op);
	int err = s->removed ? -ENOENT : s->ops->remove(s);
	if (!err || err == -ENOENT)
		s->removed = true;
	op_unlock(&op);
	return err;
}

/*
 * store_names_add - key, a name in a container listed with prefix, into
 * n as the name of its entry in the container: the key without the
 * prefix; left out unless it has the prefix and is not empty. A name with
 * a '/' (faultmap run --mount's PATH/a/b is the object "a/b") gives its
 * first component and the '/' ("a/": the directory PATH/a), if that is
 * not empty; the caller drops the repeats (several "a/..." keys, and an
 * S3 CommonPrefix). Return: 0 or -ENOMEM.
 */
int store_names_add(struct store_names *n, const char *key, const char *prefix)
{
	size_t plen = strlen(prefix);
	if (strncmp(key, prefix, plen) != 0)
		return 0;
	const char *name = key + plen;
	const char *slash = strchr(name, '/');
	size_t len = (slash ? (size_t)(slash - name) + 1 : strlen(name)) + 1;
	if (len == 1 || slash == name)
		return 0;
	if (n->len + len > n->cap) {
		size_t cap = n->cap ? 2 * n->cap : 4096;
		while (cap < n->len + len)
			cap *= 2;
		char *buf = realloc(n->buf, cap);
		if (!buf)
			return -ENOMEM;
		n->buf = buf;
		n->cap = cap;
	}
	memcpy(n->buf + n->len, name, len - 1);
	n->buf[n->len + len - 1] = '\0';
	n->len += len;
	return 0;
}

/*
 * store_list - the names of the objects directly in the container url
 * (faultmap run --mount's listing of a container's PATH): rados://pool,
 * s3://bucket, each with a prefix (.../prefix/: the keys under it, the
 * prefix taken off) and its parameters, as the mount's URL; one snapshot,
 * in the store's order. A name with a '/' after the prefix is listed as
 * its first component and the '/', a directory (store_names_add; RADOS
 * lists every object and gives each such name, S3 its CommonPrefixes). Return: 0 (out->buf malloc'd, or NULL for none) or
 * -errno (-ENOTDIR: no container of a store that lists; out freed).
 * Context: no lock; the embedded engine or the daemon (FMD_STORE_LIST).
 */
int store_list(const char *url, struct store_names *out)
{
	*out = (struct store_names){0};
	int err = -ENOTDIR;
	if (strncmp(url, "rados://", 8) == 0)
		err = rados_store_list(url, out);
	else if (strncmp(url, "s3://", 5) == 0)
		err = s3_store_list(url, out);
	if (err) {
		free(out->buf);
		*out = (struct store_names){0};
	}
	return err;
}

static ssize_t fail_rw(ssize_t r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

ssize_t fm_store_pread(struct fm_store *s, void *buf, size_t count, off_t offset)
{
	return fail_rw(store_rw(s, -1, buf, count, offset, false));
}

ssize_t fm_store_pwrite(struct fm_store *s, const void *buf, size_t count, off_t offset)
{
	return fail_rw(store_rw(s, -1, (void *)(uintptr_t)buf, count, offset, true));
}

/* store_pwrite_fd - see store.h. */
ssize_t store_pwrite_fd(struct fm_store *s, int fd, const void *buf, size_t count, off_t offset)
{
	return fail_rw(store_rw(s, fd, (void *)(uintptr_t)buf, count, offset, true));
}
