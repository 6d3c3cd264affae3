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
 * A rescue file, RESCUE_PREFIX<dev>-<ino>-<pid of the daemon>, mode 0600
 * in the 0700 runtime directory, is: struct rescue_head, the file's path
 * (path_len bytes), zeros to a multiple of 8, the pages' indices
 * (npages uint64_t, increasing), the pages (npages * page_size bytes). It
 * is written as <name>.tmp (O_CREAT | O_EXCL | O_NOFOLLOW), fsync'ed, then
 * renamed over the last one, and the directory fsync'ed: a rescue file is
 * whole or absent; a daemon that dies while it writes one leaves the one
 * before. Nothing in it is trusted: its size must be exactly what its
 * header says, every index inside the file's size, the path absolute; the
 * file at the path is opened O_NOFOLLOW and must be a regular file of the
 * same device and inode.
 *
 * The runtime directory is usually a tmpfs (/run/user/UID): rescue files
 * outlive the daemon, not a reboot.
 */
#include "daemon/rescue.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESCUE_MAGIC "FMRESCU1"

struct rescue_head {
	char magic[8];
	uint32_t page_size, path_len;
	uint64_t dev, ino, size; /* the file's identity and size at the copy */
	int64_t mtime_sec, mtime_nsec;
	uint64_t npages;
};

static int rescue_dfd = -1; /* the daemon's runtime directory; -1: not the daemon */

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static void rescue_name(const struct address_space *as, char *name, size_t size, bool tmp)
{
	snprintf(name, size, RESCUE_PREFIX "%llu-%llu-%d%s", (unsigned long long)as->dev,
		 (unsigned long long)as->ino, (int)getpid(), tmp ? ".tmp" : "");
}

/* io_all - write (or read) n bytes of buf at off of fd, whole. Return: 0
 * or -errno (-EIO for a short read). */
static int io_all(int fd, void *buf, size_t n, off_t off, bool write)
{
	for (size_t done = 0; done < n;) {
		char *at = (char *)buf + done;
		ssize_t k = write ? pwrite(fd, at, n - done, off + (off_t)done)
				  : pread(fd, at, n - done, off + (off_t)done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
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

/* save - copy the dirty pages of as into its rescue file (a new one
 * replaces the last). Return: 0 or -errno (nothing left behind). */
static int save(struct address_space *as)
{
	struct stat st;
	int fd = file_store_fd(as->store, false);
	if (fd < 0 || fstat(fd, &st) < 0)
		return fd < 0 ? -EBADF : -errno;
	uint64_t *idx = NULL;
	int64_t n = dirty_pages(as, &idx);
	if (n < 0)
		return (int)n;
	const char *path = as->path ? as->path : "";
	if (path[0] != '/' || strlen(path) >= PATH_MAX) {
		free(idx);
		return -ENOENT; /* where to write them back is not known */
	}
	struct rescue_head h = {
		.page_size = FM_PAGE_SIZE,
		.path_len = (uint32_t)strnlen(path, PATH_MAX),
		.dev = (uint64_t)as->dev,
		.ino = (uint64_t)as->ino,
		.size = (uint64_t)st.st_size,
		.mtime_sec = st.st_mtim.tv_sec,
		.mtime_nsec = st.st_mtim.tv_nsec,
		.npages = (uint64_t)n,
	};
	memcpy(h.magic, RESCUE_MAGIC, sizeof(h.magic));
	char name[96], tmp[96];
	rescue_name(as, name, sizeof(name), false);
	rescue_name(as, tmp, sizeof(tmp), true);
	unlinkat(rescue_dfd, tmp, 0); /* a copy of ours never finished */
	int out = openat(rescue_dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int err = out < 0 ? -errno : 0;
	off_t at = 0;
	static const char zeros[8];
	size_t head = sizeof(h) + h.path_len;
	if (!err)
		err = write_all(out, &h, sizeof(h), 0);
	if (!err)
		err = write_all(out, path, h.path_len, sizeof(h));
	if (!err)
		err = write_all(out, zeros, pad8(head) - head, (off_t)head);
	at = (off_t)pad8(head);
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

/* keep - save as, and say so the first time (or why it could not be). */
static void keep(struct address_space *as)
{
	int err = save(as);
	char name[96];
	rescue_name(as, name, sizeof(name), false);
	if (err) {
		fprintf(stderr, "faultmap daemon: %llu dirty bytes of %s could not be copied to "
				"a rescue file (%s): they are lost if this daemon dies\n",
			(unsigned long long)as->nr_dirty << FM_PAGE_SHIFT,
			as->path ? as->path : "a file", strerror(-err));
		return;
	}
	if (!as->rescued)
		fprintf(stderr, "faultmap daemon: %llu dirty bytes of %s, which nothing maps, "
				"could not be written back: copied to the rescue file %s, "
				"written back by the next daemon if this one dies\n",
			(unsigned long long)as->nr_dirty << FM_PAGE_SHIFT,
			as->path ? as->path : "a file", name);
	as->rescued = true;
	as->rescue_wgen = as->wgen;
	as->rescue_dirty = as->nr_dirty;
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
	if (rescue_dfd < 0 || !store_is_file(as->store))
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

void rescue_stop(void)
{
	if (rescue_dfd < 0)
		return;
	for (struct address_space *as = engine.mappings; as; as = as->next)
		if (as->nr_dirty && store_is_file(as->store))
			keep(as);
}

/* ---- a daemon that starts --------------------------------------------- */

/* A rescue file, read and checked: fd open on it, its header, the file's
 * path, the offset of its indices. */
struct rescue_file {
	int fd;
	struct rescue_head h;
	char path[PATH_MAX];
	off_t indices;
};

/* rescue_open - open and check the rescue file name in dfd. Return: 0,
 * or -errno (-EBADMSG: not well formed; r->fd closed). */
static int rescue_open(int dfd, const char *name, struct rescue_file *r)
{
	r->fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	struct stat st;
	int err = fstat(r->fd, &st) < 0 ? -errno : 0;
	if (!err && (!S_ISREG(st.st_mode) || st.st_uid != geteuid()))
		err = -EPERM;
	if (!err && (uint64_t)st.st_size < sizeof(r->h))
		err = -EBADMSG;
	if (!err)
		err = read_all(r->fd, &r->h, sizeof(r->h), 0);
	const struct rescue_head *h = &r->h;
	uint64_t per_page = FM_PAGE_SIZE + sizeof(uint64_t);
	if (!err && (memcmp(h->magic, RESCUE_MAGIC, sizeof(h->magic)) ||
		     h->page_size != FM_PAGE_SIZE || !h->path_len || h->path_len >= PATH_MAX ||
		     h->npages > (uint64_t)st.st_size / per_page ||
		     pad8(sizeof(*h) + h->path_len) + h->npages * per_page != (uint64_t)st.st_size))
		err = -EBADMSG;
	if (!err)
		err = read_all(r->fd, r->path, h->path_len, sizeof(*h));
	if (!err) {
		r->path[h->path_len] = '\0';
		if (r->path[0] != '/' || strlen(r->path) != h->path_len)
			err = -EBADMSG;
	}
	r->indices = (off_t)pad8(sizeof(*h) + h->path_len);
	if (err) {
		close(r->fd);
		r->fd = -1;
	}
	return err;
}

/* write_back - write the pages of r to its file. Return: 0, or -errno
 * (-ESTALE: the path names another file now, or it changed since the
 * copy; -EBADMSG: an index out of order or past the file's size). */
static int write_back(struct rescue_file *r, uint64_t *bytes)
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
	uint64_t last = 0;
	*bytes = 0;
	for (uint64_t i = 0; !err && i < h->npages; i++) {
		uint64_t index;
		err = read_all(r->fd, &index, sizeof(index), r->indices + (off_t)(i * sizeof(index)));
		if (!err && ((i && index <= last) || index >= (h->size + FM_PAGE_SIZE - 1) >> FM_PAGE_SHIFT))
			err = -EBADMSG;
		if (!err)
			err = read_all(r->fd, page, FM_PAGE_SIZE, data + (off_t)(i * FM_PAGE_SIZE));
		uint64_t off = index << FM_PAGE_SHIFT;
		size_t n = h->size - off < FM_PAGE_SIZE ? (size_t)(h->size - off) : FM_PAGE_SIZE;
		if (!err)
			err = write_all(fd, page, n, (off_t)off);
		*bytes += err ? 0 : n;
		last = index;
	}
	if (!err && fdatasync(fd) < 0)
		err = -errno;
	free(page);
	close(fd);
	return err;
}

/* restore - write back the rescue file name of dfd; remove it once its
 * pages are in the file, else keep it and say why. */
static void restore(int dfd, const char *name)
{
	struct rescue_file r;
	int err = rescue_open(dfd, name, &r);
	if (err) {
		fprintf(stderr, "faultmap daemon: the rescue file %s cannot be read (%s): "
				"kept\n", name,
			err == -EBADMSG ? "it is not a well-formed rescue file" : strerror(-err));
		return;
	}
	uint64_t bytes = 0;
	err = write_back(&r, &bytes);
	close(r.fd);
	if (err) {
		fprintf(stderr, "faultmap daemon: the %llu pages of %s kept in the rescue file %s "
				"could not be written back: %s: kept\n",
			(unsigned long long)r.h.npages, r.path, name,
			err == -ESTALE    ? "the file there is not the one it was, or it "
					    "changed since"
			: err == -EBADMSG ? "it is not a well-formed rescue file"
					  : strerror(-err));
		return;
	}
	unlinkat(dfd, name, 0);
	fprintf(stderr, "faultmap daemon: %llu bytes of %s that an earlier daemon could not "
			"write back were written from the rescue file %s\n",
		(unsigned long long)bytes, r.path, name);
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
	int d = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *dir = d < 0 ? NULL : fdopendir(d);
	if (!dir) {
		if (d >= 0)
			close(d);
		fprintf(stderr, "faultmap daemon: no rescue files: %s\n", strerror(errno));
		return;
	}
	rewinddir(dir);
	for (struct dirent *e; (e = readdir(dir));) {
		bool tmp;
		if (!is_rescue(e->d_name, &tmp))
			continue;
		if (tmp) /* a copy its daemon never finished: the one before stays */
			unlinkat(dfd, e->d_name, 0);
		else
			restore(dfd, e->d_name);
	}
	closedir(dir);
	rescue_dfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
}

int rescue_list(int dfd, FILE *out)
{
	int d = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *dir = d < 0 ? NULL : fdopendir(d);
	if (!dir) {
		if (d >= 0)
			close(d);
		return 0;
	}
	rewinddir(dir); /* its offset is dfd's, which an earlier listing moved */
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
		fprintf(out, "  %s: %llu pages of %s\n", e->d_name, (unsigned long long)r.h.npages,
			r.path);
		close(r.fd);
	}
	closedir(dir);
	return n;
}
