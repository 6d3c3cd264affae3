/*
 * dir.c - listing a store container's PATH under faultmap run --mount
 * (mount.c): opendir and the rest of dirent.h.
 *
 * glibc's opendir opens its directory and reads it with getdents64 by its
 * own system calls, past the interposer: PATH, not on disk, was ENOENT,
 * and PATH on disk listed the disk, while open and stat of PATH/NAME are
 * the store's object NAME. So a DIR of a container's PATH is one of ours
 * (struct mount_dir): opendir of PATH (mount_path: MOUNT_DIR) or of a
 * directory PATH/a of it (MOUNT_OBJECT: names "a/..."; mount_sub), or
 * fdopendir of an fd open on one (mount_dir_of_fd: open(PATH, O_DIRECTORY)
 * gives the directory on disk or faultmap's empty one, open(PATH/a) one
 * of its own), lists ".", ".." and then the objects and directories
 * mount_list names (store_list, in the daemon in daemon mode), sorted,
 * each name once (an object before a directory of its name): one
 * snapshot, taken at opendir and again at rewinddir. Its fd (dirfd) is
 * that directory's, so that fstatat(dirfd(d), NAME) is the object NAME,
 * as open and stat of PATH/NAME. d_type is DT_REG for an object, DT_DIR
 * for a directory, "." and ".."; d_ino a hash of the name, never 0
 * (an object has no inode of its own: stat tells its stand-in's); d_off
 * and telldir the entry's index, which seekdir takes back.
 *
 * Every function of dirent.h that takes a DIR looks it up among ours
 * (one atomic load while there is none) and gives the others to glibc.
 * scandir and scandirat are served here for a container's PATH: glibc's
 * open their directory with its internal opendir. A file:// mount's paths
 * are the kernel's at their own path (opendir, scandir). glob(3),
 * ftw/nftw and glibc's fts open directories inside glibc too: not served.
 */
#include "mount.h"

#include "client/client.h"
#include "internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

_Static_assert(sizeof(struct dirent) == sizeof(struct dirent64) &&
		       offsetof(struct dirent, d_name) == offsetof(struct dirent64, d_name),
	       "one dirent layout (64-bit Linux)");

/* A DIR of a container's PATH. */
struct mount_dir {
	int fd;			/* the directory's (dirfd), closed by closedir */
	struct mount_target t;	/* PATH */
	struct store_names names; /* the snapshot: ".", "..", the objects */
	size_t *at;		/* at[i]: where entry i's name starts in names */
	size_t n, pos;		/* entries; the next one readdir gives */
	ino_t dot, dotdot;	/* d_ino of "." and ".." */
	struct dirent ent;	/* what readdir returns */
	struct mount_dir *next;
};

static struct mount_dir *dirs; /* ours, open: dirs_lock */
static _Atomic size_t nr_dirs;
static pthread_mutex_t dirs_lock = PTHREAD_MUTEX_INITIALIZER;

#define REAL(name, type)                                         \
	({                                                       \
		static _Atomic(void *) cache_;                   \
		(type)mount_real(name, &cache_);                       \
	})

/* lock_ours - d as ours, with dirs_lock held (unlock_ours), or NULL (d is
 * glibc's; nothing held). */
static struct mount_dir *lock_ours(DIR *d)
{
	if (!atomic_load(&nr_dirs))
		return NULL;
	pthread_mutex_lock(&dirs_lock);
	struct mount_dir *m = dirs;
	while (m && (DIR *)m != d)
		m = m->next;
	if (!m)
		pthread_mutex_unlock(&dirs_lock);
	return m;
}

static void unlock_ours(void)
{
	pthread_mutex_unlock(&dirs_lock);
}

/* name_ino - a d_ino for an object: FNV-1a of its name, never 0. */
static ino_t name_ino(const char *name)
{
	uint64_t h = 1469598103934665603ULL;
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		h = (h ^ *c) * 1099511628211ULL;
	return h ? (ino_t)h : 1;
}

/* list_error - the errno opendir gives for a listing the store refused
 * (-err): its own where opendir has it, else EIO (a cluster or server
 * that does not answer). */
static int list_error(int err)
{
	switch (-err) {
	case ENOENT: /* no such pool or bucket */
	case EACCES:
	case ENOMEM:
	case EMFILE:
	case ENFILE:
		return -err;
	default:
		return EIO;
	}
}

/* base_len - the length of name without its '/' at the end (a
 * directory's: store_names_add). */
static size_t base_len(const char *name)
{
	size_t n = strlen(name);
	return n && name[n - 1] == '/' ? n - 1 : n;
}

/* by_base - qsort_r's order of entries (at[] into names): by name, the
 * '/' of a directory's left out, an object before a directory. */
static int by_base(const void *a, const void *b, void *names)
{
	const char *x = (const char *)names + *(const size_t *)a;
	const char *y = (const char *)names + *(const size_t *)b;
	size_t lx = base_len(x), ly = base_len(y);
	int c = memcmp(x, y, lx < ly ? lx : ly);
	if (c || lx != ly)
		return c ? c : lx < ly ? -1 : 1;
	return (x[lx] == '/') - (y[ly] == '/');
}

/* unique - entries at[2..n) sorted (by_base) with each name once: a
 * directory listed by several objects' names once, and none where an
 * object has its name (a file wins). Return: how many are left. */
static size_t unique(const char *names, size_t *at, size_t n)
{
	if (n <= 3)
		return n;
	qsort_r(at + 2, n - 2, sizeof(*at), by_base, (void *)names);
	size_t k = 3;
	for (size_t i = 3; i < n; i++) {
		const char *prev = names + at[k - 1], *name = names + at[i];
		size_t lp = base_len(prev), ln = base_len(name);
		if (lp != ln || memcmp(prev, name, ln))
			at[k++] = at[i];
	}
	return k;
}

/* snapshot - m's entries listed now: ".", "..", then each object and
 * directory ("c/": store_names_add) whose name a path can carry (not "."
 * or "..", at most NAME_MAX bytes), each name once, sorted (unique).
 * Return: 0 (the old snapshot freed) or -errno (the old one kept). */
static int snapshot(struct mount_dir *m)
{
	struct store_names got;
	int err = mount_list(&m->t, &got);
	if (err)
		return err;
	struct store_names all = {0};
	size_t n = 2, k = 0;
	for (size_t off = 0; off < got.len; off += strlen(got.buf + off) + 1)
		n++;
	size_t *at = malloc(n * sizeof(*at));
	if (!at)
		err = -ENOMEM;
	for (size_t off = 0, i = 0; !err && i < n; i++) {
		const char *name = i == 0 ? "." : i == 1 ? ".." : got.buf + off;
		size_t len = base_len(name);
		if (i >= 2)
			off += strlen(name) + 1;
		if (i >= 2 && (len > NAME_MAX || (len == 1 && name[0] == '.') ||
			       (len == 2 && !strncmp(name, "..", 2))))
			continue;
		at[k] = all.len;
		if (!(err = store_names_add(&all, name, "")))
			k++;
	}
	free(got.buf);
	if (err) {
		free(at);
		free(all.buf);
		return err;
	}
	free(m->names.buf);
	free(m->at);
	m->names = all;
	m->at = at;
	m->n = unique(all.buf, at, k);
	return 0;
}

/* parent_ino - the inode number of the directory above path (absolute,
 * normalised), or a hash if it cannot be had. */
static ino_t parent_ino(const char *path)
{
	char up[sizeof(((struct mount_target *)0)->name)];
	struct stat st;
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] != '/')
		n--;
	memcpy(up, path, n);
	up[n] = '\0';
	return syscall(SYS_newfstatat, AT_FDCWD, up, &st, 0) == 0 ? st.st_ino : name_ino("..");
}

/* dir_new - a DIR of PATH (t) on fd, listed now; fd closed on failure if
 * close_fd. Return: it, or NULL with errno. */
static DIR *dir_new(int fd, const struct mount_target *t, bool close_fd)
{
	struct mount_dir *m = calloc(1, sizeof(*m));
	int err = m ? 0 : ENOMEM;
	if (m) {
		m->fd = fd;
		m->t = *t;
		int r = snapshot(m);
		err = r ? list_error(r) : 0;
	}
	if (!err) {
		struct stat st;
		if (m->t.what == MOUNT_OBJECT) { /* PATH/a: mount_stat's number */
			m->dot = name_ino(m->t.name);
			m->dotdot = name_ino("..");
		} else {
			m->dot = syscall(SYS_fstat, fd, &st) == 0 ? st.st_ino : name_ino(".");
			m->dotdot = parent_ino(m->t.name);
		}
		pthread_mutex_lock(&dirs_lock);
		m->next = dirs;
		dirs = m;
		atomic_fetch_add(&nr_dirs, 1);
		pthread_mutex_unlock(&dirs_lock);
		return (DIR *)m;
	}
	if (m) {
		free(m->names.buf);
		free(m->at);
		free(m);
	}
	if (close_fd)
		syscall(SYS_close, fd);
	errno = err;
	return NULL;
}

/* object_dir - opendir of PATH/a (MOUNT_OBJECT), a directory of the
 * container if no object "a" is (mount_open: ENOTDIR for an object,
 * ENOENT for nothing at all). */
static DIR *object_dir(const struct mount_target *t)
{
	int fd = mount_open(t, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? NULL : dir_new(fd, t, true);
}

typedef DIR *(*opendir_fn)(const char *);
typedef DIR *(*fdopendir_fn)(int);

EXPORT DIR *opendir(const char *name)
{
	struct mount_target t;
	int err = mount_path(AT_FDCWD, name, &t); /* NULL: not ours */
	if (err) {
		errno = -err;
		return NULL;
	}
	opendir_fn fn = REAL("opendir", opendir_fn);
	if (t.what == MOUNT_NOT_OURS)
		return fn ? fn(t.through ? t.name : name) : NULL;
	if (t.what == MOUNT_LOCAL) /* the kernel's, at the file's own path */
		return fn ? fn(t.name) : NULL;
	if (t.what == MOUNT_OBJECT)
		return object_dir(&t);
	int fd = mount_dir_open(&t, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	return fd < 0 ? NULL : dir_new(fd, &t, true);
}

EXPORT DIR *fdopendir(int fd)
{
	struct mount_target t;
	fdopendir_fn fn = REAL("fdopendir", fdopendir_fn);
	if (!mount_dir_of_fd(fd, &t))
		return fn ? fn(fd) : NULL;
	int fl = (int)syscall(SYS_fcntl, fd, F_GETFL);
	if (fl < 0 || (fl & O_PATH)) { /* glibc's checks */
		errno = EBADF;
		return NULL;
	}
	if ((fl & O_ACCMODE) == O_WRONLY) {
		errno = EINVAL;
		return NULL;
	}
	DIR *d = dir_new(fd, &t, false); /* fd left open on failure, as glibc's */
	if (d) /* the DIR owns fd, close-on-exec, as glibc's */
		syscall(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
	return d;
}

/* next_entry - m's next entry into m->ent, or NULL at the end. Context:
 * dirs_lock. */
static struct dirent *next_entry(struct mount_dir *m)
{
	if (m->pos >= m->n)
		return NULL;
	size_t i = m->pos++;
	const char *name = m->names.buf + m->at[i];
	struct dirent *e = &m->ent;
	memset(e, 0, offsetof(struct dirent, d_name));
	e->d_ino = i == 0 ? m->dot : i == 1 ? m->dotdot : name_ino(name);
	e->d_off = (off_t)(i + 1);
	e->d_reclen = sizeof(*e);
	size_t len = base_len(name); /* at most NAME_MAX bytes: snapshot */
	e->d_type = i < 2 || name[len] == '/' ? DT_DIR : DT_REG;
	memcpy(e->d_name, name, len);
	e->d_name[len] = '\0';
	return e;
}

typedef struct dirent *(*readdir_fn)(DIR *);
typedef int (*readdir_r_fn)(DIR *, struct dirent *, struct dirent **);

EXPORT struct dirent *readdir(DIR *d)
{
	struct mount_dir *m = lock_ours(d);
	if (!m) {
		readdir_fn fn = REAL("readdir", readdir_fn);
		return fn ? fn(d) : NULL;
	}
	struct dirent *e = next_entry(m);
	unlock_ours();
	return e;
}

EXPORT struct dirent64 *readdir64(DIR *d)
{
	struct mount_dir *m = lock_ours(d);
	if (!m) {
		struct dirent64 *(*fn)(DIR *) = REAL("readdir64", struct dirent64 * (*)(DIR *));
		return fn ? fn(d) : NULL;
	}
	struct dirent *e = next_entry(m);
	unlock_ours();
	return (struct dirent64 *)(void *)e;
}

/* dir_read_r - readdir_r of ours: the entry copied into entry. */
static int dir_read_r(struct mount_dir *m, struct dirent *entry, struct dirent **result)
{
	struct dirent *e = next_entry(m);
	if (e)
		memcpy(entry, e, sizeof(*e));
	*result = e ? entry : NULL;
	return 0;
}

EXPORT int readdir_r(DIR *d, struct dirent *entry, struct dirent **result)
{
	struct mount_dir *m = lock_ours(d);
	if (!m) {
		readdir_r_fn fn = REAL("readdir_r", readdir_r_fn);
		return fn ? fn(d, entry, result) : ENOSYS;
	}
	int r = dir_read_r(m, entry, result);
	unlock_ours();
	return r;
}

EXPORT int readdir64_r(DIR *d, struct dirent64 *entry, struct dirent64 **result)
{
	struct mount_dir *m = lock_ours(d);
	if (!m) {
		int (*fn)(DIR *, struct dirent64 *, struct dirent64 **) =
			REAL("readdir64_r", int (*)(DIR *, struct dirent64 *, struct dirent64 **));
		return fn ? fn(d, entry, result) : ENOSYS;
	}
	int r = dir_read_r(m, (struct dirent *)(void *)entry, (struct dirent **)(void *)result);
	unlock_ours();
	return r;
}

EXPORT int closedir(DIR *d)
{
	struct mount_dir *m = lock_ours(d);
	if (!m) {
		int (*fn)(DIR *) = REAL("closedir", int (*)(DIR *));
		return fn ? fn(d) : -1;
	}
	struct mount_dir **pp = &dirs;
	while (*pp != m)
		pp = &(*pp)->next;
	*pp = m->next;
	atomic_fetch_sub(&nr_dirs, 1);
	unlock_ours();
	int r = (int)syscall(SYS_close, m->fd);
	free(m->names.buf);
	free(m->at);
	free(m);
	return r;
}

/* rewinddir - a new snapshot (the old one kept if the store cannot list
 * now: rewinddir has no error to tell). */
EXPORT void rewinddir(DIR *d)
{
	struct mount_dir *m = lock_ours(d);
	if (!m) {
		void (*fn)(DIR *) = REAL("rewinddir", void (*)(DIR *));
		if (fn)
			fn(d);
		return;
	}
	int err = errno;
	(void)snapshot(m);
	m->pos = 0;
	errno = err;
	unlock_ours();
}

EXPORT int dirfd(DIR *d)
{
	struct mount_dir *m = lock_ours(d);
	if (!m) {
		int (*fn)(DIR *) = REAL("dirfd", int (*)(DIR *));
		return fn ? fn(d) : -1;
	}
	int fd = m->fd;
	unlock_ours();
	return fd;
}

EXPORT long telldir(DIR *d)
{
	struct mount_dir *m = lock_ours(d);
	if (!m) {
		long (*fn)(DIR *) = REAL("telldir", long (*)(DIR *));
		return fn ? fn(d) : -1;
	}
	long pos = (long)m->pos;
	unlock_ours();
	return pos;
}

EXPORT void seekdir(DIR *d, long pos)
{
	struct mount_dir *m = lock_ours(d);
	if (!m) {
		void (*fn)(DIR *, long) = REAL("seekdir", void (*)(DIR *, long));
		if (fn)
			fn(d, pos);
		return;
	}
	m->pos = pos < 0 ? 0 : (size_t)pos < m->n ? (size_t)pos : m->n;
	unlock_ours();
}

/* ---- scandir ---------------------------------------------------------------- */

typedef int (*scan_filter)(const struct dirent *);
typedef int (*scan_compar)(const struct dirent **, const struct dirent **);

/* scan_ours - scandir(3) of our d (closed here): each entry filter keeps,
 * copied (malloc'd, as glibc's), sorted with compar. Return: how many,
 * or -1 with errno. */
static int scan_ours(DIR *d, struct dirent ***namelist, scan_filter filter, scan_compar compar)
{
	struct dirent **list = NULL, *e;
	size_t n = 0, cap = 0;
	int err = 0;
	while (!err && (e = readdir(d))) {
		if (filter && !filter(e))
			continue;
		struct dirent *copy = malloc(sizeof(*e));
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			struct dirent **l = realloc(list, cap * sizeof(*l));
			if (l)
				list = l;
			else
				err = ENOMEM;
		}
		if (!copy || err) {
			free(copy);
			err = ENOMEM;
			break;
		}
		memcpy(copy, e, sizeof(*e));
		list[n++] = copy;
	}
	closedir(d);
	if (err || n > INT_MAX) {
		for (size_t i = 0; i < n; i++)
			free(list[i]);
		free(list);
		errno = err ? err : EOVERFLOW;
		return -1;
	}
	if (compar && n)
		qsort(list, n, sizeof(*list), (int (*)(const void *, const void *))compar);
	*namelist = list;
	return (int)n;
}

/* scan_at - scandirat(dirfd, dir): ours for a container's PATH (opendir's
 * rules: a file:// mount's at its own path), else glibc's (fn). */
static int scan_at(int dirfd, const char *dir, struct dirent ***namelist, scan_filter filter,
		   scan_compar compar, const char *glibc)
{
	struct mount_target t;
	int err = mount_path(dirfd, dir, &t); /* NULL: not ours */
	if (err) {
		errno = -err;
		return -1;
	}
	int (*fn)(int, const char *, struct dirent ***, scan_filter, scan_compar) =
		REAL(glibc, int (*)(int, const char *, struct dirent ***, scan_filter, scan_compar));
	if (t.what == MOUNT_NOT_OURS) {
		dir = mount_kernel_path(&t, &dirfd, dir);
		return fn ? fn(dirfd, dir, namelist, filter, compar) : -1;
	}
	if (t.what == MOUNT_LOCAL)
		return fn ? fn(AT_FDCWD, t.name, namelist, filter, compar) : -1;
	DIR *d;
	if (t.what == MOUNT_OBJECT) {
		d = object_dir(&t);
	} else {
		int fd = mount_dir_open(&t, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
		d = fd < 0 ? NULL : dir_new(fd, &t, true);
	}
	return d ? scan_ours(d, namelist, filter, compar) : -1;
}

EXPORT int scandirat(int dirfd, const char *dir, struct dirent ***namelist, scan_filter filter,
		     scan_compar compar)
{
	return scan_at(dirfd, dir, namelist, filter, compar, "scandirat");
}

EXPORT int scandirat64(int dirfd, const char *dir, struct dirent64 ***namelist,
		       int (*filter)(const struct dirent64 *),
		       int (*compar)(const struct dirent64 **, const struct dirent64 **))
{
	return scan_at(dirfd, dir, (struct dirent ***)namelist, (scan_filter)filter,
		       (scan_compar)compar, "scandirat64");
}

EXPORT int scandir(const char *dir, struct dirent ***namelist, scan_filter filter,
		   scan_compar compar)
{
	return scan_at(AT_FDCWD, dir, namelist, filter, compar, "scandirat");
}

EXPORT int scandir64(const char *dir, struct dirent64 ***namelist,
		     int (*filter)(const struct dirent64 *),
		     int (*compar)(const struct dirent64 **, const struct dirent64 **))
{
	return scan_at(AT_FDCWD, dir, (struct dirent ***)namelist, (scan_filter)filter,
		       (scan_compar)compar, "scandirat64");
}
