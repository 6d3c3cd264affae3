/*
 * mount.c - faultmap run --mount PATH=URL: the files under PATH are objects
 * of the store at URL, for the calls preload.c interposes (see mount.h).
 *
 * A URL names either one object (an NBD export; rados://pool/object;
 * s3://bucket/key; a file) or a container of them (rados://pool;
 * s3://bucket or s3://bucket/prefix/: a URL whose part after "scheme://"
 * has no '/' or ends in one; file:///dir, a directory). A one-object mount
 * makes PATH itself that object (PATH/x: ENOTDIR); a container mount makes
 * PATH/NAME the object NAME (%-escaped into the URL, before its '?'
 * parameters), NAME being what is left of the path made absolute and
 * normalised without looking at the disk ("." and ".." taken away), so
 * "PATH/../x" is not under PATH and is the kernel's, and no NAME has a
 * ".." in it. PATH itself, of a container, is a directory (MOUNT_DIR):
 * the kernel's where it is on disk, else an empty one of faultmap's
 * (root_of); a path through that PATH and out again by ".." is the
 * kernel's at the path made normal (mount_kernel_path), since the kernel
 * cannot walk through a PATH that is not there ("ls -a PATH" stats
 * "PATH/.."). file:// mounts are served by the kernel at the file's own
 * path (MOUNT_LOCAL), as any file faultmap caches; a file:// container's
 * PATH is its directory.
 *
 * Every object this process opens (or stats) is a store of its own kind,
 * kept open until the process exits, one per URL (so every fd of one
 * object shares one cache). Its fds are new opens of the store's stand-in
 * with the program's access mode, recognised by (dev, ino).
 *
 * An fd this image did not open (inherited across an exec, received from
 * another process) may be of a stand-in of another image or process: its
 * memfd's name (store_standin) gives the URL of its store, which is opened
 * again here, and the fd's (dev, ino) is then an alias of that store
 * (reattach). A stand-in whose store cannot be opened again is an alias
 * of "unreachable": every call on it fails with EIO, never the empty
 * stand-in's bytes.
 *
 * No allocation before a call is known to be ours: the mounts are parsed
 * into static storage.
 */
#include "mount.h"

#include "client/client.h"
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MOUNTS_MAX 16
#define MOUNT_ENV_MAX 16384
#define OBJECTS_MAX 1024

struct mount {
	const char *dir; /* absolute, normalised, not "/" */
	size_t dir_len;
	const char *url;
	bool one;   /* the URL names one object: dir is it */
	bool local; /* file://: the kernel's file at path */
	bool nbd;
	const char *path; /* local: the file or directory */
};

static struct mount mounts[MOUNTS_MAX];
static size_t nr_mounts;
static char env_copy[MOUNT_ENV_MAX];
static pthread_once_t mounts_once = PTHREAD_ONCE_INIT;

struct object {
	char *url; /* NULL: an alias of s (reattach) */
	struct fm_store *s;
	dev_t dev;
	ino_t ino;
	bool used; /* object_evict: an fd of the program's is on it */
};

/* How many objects (stores) this process keeps open while no fd of the
 * program's is on them (a stat, an fd closed) before it lets them go
 * (object_evict): each holds a stand-in in the engine's fd room. */
#define OBJECTS_IDLE 64

static struct object objects[OBJECTS_MAX];
static _Atomic size_t nr_objects; /* objects[0..n) are complete */
static pthread_mutex_t objects_lock = PTHREAD_MUTEX_INITIALIZER;

/* The store of the stand-ins that cannot be opened again (never opened;
 * only its address is used). */
static struct fm_store unreachable;

/* file_url_path - the path of file:///path or file:/path, or NULL. */
static const char *file_url_path(const char *url)
{
	if (!strncmp(url, "file://", 7))
		return url[7] == '/' ? url + 7 : NULL;
	if (!strncmp(url, "file:/", 6))
		return url + 5;
	return NULL;
}

/* names_one - whether url names one object rather than a container. */
static bool names_one(const char *url, const char *local)
{
	if (local) {
		struct stat st;
		return syscall(SYS_newfstatat, AT_FDCWD, local, &st, 0) < 0 || !S_ISDIR(st.st_mode);
	}
	if (!strncmp(url, "nbd", 3))
		return true;
	const char *p = strstr(url, "://");
	if (!p)
		return true;
	p += 3;
	size_t n = strcspn(p, "?");
	const char *slash = memchr(p, '/', n);
	return slash && p[n - 1] != '/';
}

/* parse_mounts - FAULTMAP_MOUNTS into mounts[] (lines "PATH=URL"; PATH
 * absolute). A bad line is said once on stderr and left out. */
static void parse_mounts(void)
{
	const char *env = getenv("FAULTMAP_MOUNTS");
	if (!env || !*env)
		return;
	if (strlen(env) >= sizeof(env_copy)) {
		fprintf(stderr, "faultmap: FAULTMAP_MOUNTS is too long; nothing mounted\n");
		return;
	}
	strcpy(env_copy, env);
	for (char *line = env_copy, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *eq = strchr(line, '=');
		if (!eq || line[0] != '/' || eq == line + 1 || !eq[1] || nr_mounts == MOUNTS_MAX) {
			fprintf(stderr, "faultmap: FAULTMAP_MOUNTS: '%s' is not /PATH=URL (or more than "
					"%d mounts); left out\n",
				line, MOUNTS_MAX);
			continue;
		}
		*eq = '\0';
		size_t len = (size_t)(eq - line);
		while (len > 1 && line[len - 1] == '/')
			line[--len] = '\0';
		struct mount *m = &mounts[nr_mounts++];
		m->dir = line;
		m->dir_len = len;
		m->url = eq + 1;
		m->path = file_url_path(m->url);
		m->local = m->path != NULL;
		m->nbd = !strncmp(m->url, "nbd", 3);
		m->one = names_one(m->url, m->path);
	}
}

static bool mounted(void)
{
	pthread_once(&mounts_once, parse_mounts);
	return nr_mounts > 0;
}

/* normalise - make the absolute path p (in place) have no ".", "..",
 * empty or trailing component: "/a/./b//../c/" -> "/a/c". */
static void normalise(char *p)
{
	char *out = p; /* p[0] is '/' */
	const char *in = p;
	while (*in) {
		while (*in == '/')
			in++;
		const char *end = in + strcspn(in, "/");
		size_t n = (size_t)(end - in);
		if (n == 0 || (n == 1 && in[0] == '.')) {
			/* nothing */
		} else if (n == 2 && in[0] == '.' && in[1] == '.') {
			while (out > p && *--out != '/')
				;
		} else {
			*out++ = '/';
			memmove(out, in, n);
			out += n;
		}
		in = end;
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
}

static bool root_base(int dirfd, char *out, size_t size);

/* absolute - path (relative to dirfd) made absolute and normalised into
 * out[size] (with raw, not normalised). Return: 0, 1 if it cannot be
 * (dirfd not a directory we can name: the kernel answers), or
 * -ENAMETOOLONG. */
static int absolute_raw(int dirfd, const char *path, char *out, size_t size, bool raw)
{
	size_t len = 0;
	if (path[0] != '/') {
		if (dirfd == AT_FDCWD) {
			if (syscall(SYS_getcwd, out, size) < 0)
				return 1;
		} else if (!root_base(dirfd, out, size)) {
			char link[64];
			snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
			ssize_t n = readlink(link, out, size - 1);
			if (n <= 0 || out[0] != '/')
				return 1;
			out[n] = '\0';
		}
		len = strlen(out);
		if (len + 1 >= size)
			return -ENAMETOOLONG;
		out[len++] = '/';
	}
	size_t plen = strlen(path);
	if (len + plen >= size)
		return -ENAMETOOLONG;
	memcpy(out + len, path, plen + 1);
	if (!raw)
		normalise(out);
	return 0;
}

static int absolute(int dirfd, const char *path, char *out, size_t size)
{
	return absolute_raw(dirfd, path, out, size, false);
}

/* through_absent_dir - whether the absolute, not normalised path p leaves
 * a container mount's PATH by "..", that PATH not being on disk: the
 * kernel, walking p, would find no PATH (ENOENT) where a directory
 * stands for the program ("ls -a PATH" stats "PATH/.."). */
static bool through_absent_dir(char *p)
{
	size_t n = 0; /* p[0, n): the components before the one at in, normal */
	const char *in = p;
	while (*in) {
		while (*in == '/')
			in++;
		size_t len = strcspn(in, "/");
		if (len == 2 && in[0] == '.' && in[1] == '.') {
			for (size_t i = 0; i < nr_mounts; i++) {
				const struct mount *m = &mounts[i];
				struct stat st;
				if (!m->one && n >= m->dir_len &&
				    !strncmp(p, m->dir, m->dir_len) &&
				    (n == m->dir_len || p[m->dir_len] == '/') &&
				    syscall(SYS_newfstatat, AT_FDCWD, m->dir, &st, 0) < 0 &&
				    errno == ENOENT)
					return true;
			}
			while (n > 0 && p[--n] != '/')
				;
		} else if (len && !(len == 1 && in[0] == '.')) {
			p[n++] = '/'; /* in is past n: the copy only moves back */
			memmove(p + n, in, len);
			n += len;
		}
		in += len;
	}
	return false;
}

/* escape_into - append name to out[size] at *k, %XX-escaping what a URL
 * path cannot carry. Return: 0 or -ENAMETOOLONG. */
static int escape_into(char *out, size_t size, size_t *k, const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
		bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			     (*c >= '0' && *c <= '9') || strchr("/._-~", *c);
		if (*k + (plain ? 1 : 3) >= size)
			return -ENAMETOOLONG;
		if (plain) {
			out[(*k)++] = (char)*c;
		} else {
			out[(*k)++] = '%';
			out[(*k)++] = hex[*c >> 4];
			out[(*k)++] = hex[*c & 15];
		}
	}
	out[*k] = '\0';
	return 0;
}

/* object_url - the URL of object name of container mount m, into t. */
static int object_url(const struct mount *m, const char *name, struct mount_target *t)
{
	size_t size = sizeof(t->name), pre = strcspn(m->url, "?");
	const char *query = m->url + pre;
	if (m->local) {
		size_t a = strlen(m->path), b = strlen(name);
		if (a + 1 + b >= size)
			return -ENAMETOOLONG;
		memcpy(t->name, m->path, a);
		t->name[a] = '/';
		memcpy(t->name + a + 1, name, b + 1);
		return 0;
	}
	if (pre + 1 >= size)
		return -ENAMETOOLONG;
	memcpy(t->name, m->url, pre);
	size_t k = pre;
	if (t->name[k - 1] != '/')
		t->name[k++] = '/';
	t->name[k] = '\0';
	t->obj_at = (unsigned)k;
	int err = escape_into(t->name, size, &k, name);
	if (err)
		return err;
	if (k + strlen(query) >= size)
		return -ENAMETOOLONG;
	strcpy(t->name + k, query);
	return 0;
}

int mount_path(int dirfd, const char *path, struct mount_target *t)
{
	t->what = MOUNT_NOT_OURS;
	t->through = false;
	t->obj_at = 0;
	if (!path || !*path || !mounted())
		return 0;
	char abs[2 * PATH_MAX + 2];
	int err = absolute(dirfd, path, abs, sizeof(abs));
	if (err)
		return err < 0 ? err : 0;
	for (size_t i = 0; i < nr_mounts; i++) {
		const struct mount *m = &mounts[i];
		if (strncmp(abs, m->dir, m->dir_len) != 0)
			continue;
		const char *rest = abs + m->dir_len;
		if (*rest && *rest != '/')
			continue; /* "/mntx" is not under "/mnt" */
		if (*rest && m->one)
			return -ENOTDIR;
		size_t plen = strlen(path);
		t->trailing = path[plen - 1] == '/' ||
			      (plen >= 2 && path[plen - 1] == '.' && path[plen - 2] == '/');
		t->nbd = m->nbd;
		t->one = m->one;
		t->root = !*rest && !m->one;
		t->mount = (unsigned)i;
		t->what = m->local ? MOUNT_LOCAL : t->root ? MOUNT_DIR : MOUNT_OBJECT;
		if (t->root) { /* the container itself: its directory, or PATH */
			const char *dir = m->local ? m->path : m->dir;
			if (strlen(dir) >= sizeof(t->name))
				return -ENAMETOOLONG;
			strcpy(t->name, dir);
			return 0;
		} else if (m->one) {
			const char *one = m->local ? m->path : m->url;
			if (strlen(one) >= sizeof(t->name))
				return -ENAMETOOLONG;
			strcpy(t->name, one);
		} else if ((err = object_url(m, rest + 1, t))) {
			return err;
		}
		/* A local path keeps its trailing slash: the kernel's answer. */
		size_t n = strlen(t->name);
		if (m->local && t->trailing && n + 1 < sizeof(t->name))
			strcpy(t->name + n, "/");
		return 0;
	}
	/* Not under a mount, but maybe through one and out ("PATH/.."):
	 * the kernel gets the path made normal, where ".." leads from a
	 * directory PATH (a '/' kept at the end: a directory asked for). */
	size_t n = strlen(abs), plen = strlen(path);
	if (!strstr(path, "..") || n + 1 >= sizeof(t->name))
		return 0;
	strcpy(t->name, abs); /* and abs takes the path not made normal */
	if (absolute_raw(dirfd, path, abs, sizeof(abs), true) == 0 && through_absent_dir(abs)) {
		if (n > 1 && (path[plen - 1] == '/' || path[plen - 1] == '.'))
			strcpy(t->name + n, "/");
		t->through = true;
	}
	return 0;
}

/* ---- the objects this process opened ------------------------------------ */

static bool any_fd(bool (*match)(int fd, const struct stat *st, const void *arg),
		   const void *arg);

/* mark_used - any_fd's match: the objects fd (stat st) is on are used. */
static bool mark_used(int fd, const struct stat *st, const void *arg)
{
	(void)fd;
	(void)arg;
	size_t n = atomic_load(&nr_objects);
	for (size_t i = 0; i < n; i++)
		if (objects[i].s && objects[i].dev == st->st_dev && objects[i].ino == st->st_ino)
			objects[i].used = true;
	return false; /* on to the next fd */
}

/*
 * object_evict - let go of every object (and its aliases) that no fd of
 * the program's is on and nothing else holds (a mapping, a cache with
 * dirty pages, a caller of object_get: store_put_if_last), so that stat,
 * access, or open and close of many objects hold no descriptor after
 * they return. A later open or stat of its name opens it again. Nothing
 * goes if /proc/self/fd cannot be read. As in forget, no fd matches an
 * entry cleared, so no reader of objects[] can return its store now.
 * Context: objects_lock held.
 */
static void object_evict(void)
{
	size_t n = atomic_load(&nr_objects);
	for (size_t i = 0; i < n; i++)
		objects[i].used = false;
	if (any_fd(mark_used, NULL))
		return;
	for (size_t i = 0; i < n; i++) /* an alias used: its store too */
		for (size_t j = 0; objects[i].used && j < n; j++)
			if (objects[j].s == objects[i].s)
				objects[j].used = true;
	for (size_t i = 0; i < n; i++) {
		struct fm_store *s = objects[i].s;
		if (!s || objects[i].used || (s != &unreachable && !store_put_if_last(s)))
			continue;
		for (size_t j = i; j < n; j++)
			if (objects[j].s == s) {
				free(objects[j].url);
				objects[j] = (struct object){0};
			}
	}
}

/* idle_room - a free slot of objects[] for a new object, after letting
 * idle objects go if OBJECTS_IDLE are open. Return: its index (n: a new
 * one at the end; OBJECTS_MAX: none). Context: objects_lock held. */
static size_t idle_room(void)
{
	size_t n = atomic_load(&nr_objects), open = 0;
	for (size_t i = 0; i < n; i++)
		open += objects[i].s != NULL;
	if (open >= OBJECTS_IDLE)
		object_evict();
	size_t slot = 0;
	while (slot < n && objects[slot].s)
		slot++;
	return slot < OBJECTS_MAX ? slot : OBJECTS_MAX;
}

/*
 * object_get - the store of t's object: the one this process opened, else
 * opened now: for writing if the store allows (so that every fd shares one
 * cache), else, unless the program asks to write, read-only (a store may
 * refuse writing for its own reasons: S3's EFBIG for objects over S3's
 * 5 TiB); created if flags have O_CREAT and the store can make it.
 * *made: whether it was created now. Return: the store, with a reference
 * for the caller to give back (object_put: objects[] holds its own, which
 * mount_unlink may drop meanwhile), or NULL with errno.
 */
static struct fm_store *object_get(const struct mount_target *t, int flags, bool *made)
{
	*made = false;
	pthread_mutex_lock(&objects_lock);
	size_t n = atomic_load(&nr_objects);
	for (size_t i = 0; i < n; i++)
		if (objects[i].url && !strcmp(objects[i].url, t->name)) {
			struct fm_store *s = objects[i].s;
			store_get(s);
			pthread_mutex_unlock(&objects_lock);
			return s;
		}
	int err = 0;
	struct fm_store *s = NULL;
	size_t slot = idle_room(); /* a slot freed, else a new one */
	n = atomic_load(&nr_objects);
	char *url = slot < OBJECTS_MAX ? strdup(t->name) : NULL;
	if (!url)
		err = slot < OBJECTS_MAX ? ENOMEM : EMFILE;
	if (url) {
		int acc = flags & O_ACCMODE;
		s = fm_store_open(url, O_RDWR);
		if (!s && errno != ENOENT && acc != O_WRONLY && acc != O_RDWR)
			s = fm_store_open(url, O_RDONLY);
		if (!s && errno == ENOENT && (flags & O_CREAT) && !t->nbd) {
			s = fm_store_open(url, O_RDWR | O_CREAT | (flags & O_EXCL));
			*made = s != NULL;
		}
		err = s ? 0 : errno;
	}
	if (s) {
		store_get(s); /* the caller's */
		objects[slot] = (struct object){url, s, s->dev, s->ino, false};
		if (slot == n)
			atomic_store(&nr_objects, n + 1);
		else
			atomic_thread_fence(memory_order_release);
	} else {
		free(url);
	}
	pthread_mutex_unlock(&objects_lock);
	if (err)
		errno = err;
	return s;
}

static uint64_t object_size(struct fm_store *s);

/* object_put - give back object_get's reference, errno kept. */
static void object_put(struct fm_store *s)
{
	int err = errno;
	store_put(s);
	errno = err;
}

/* object_truncate - s made size bytes long: store_truncate, here or in
 * the daemon (client_store_truncate). Return: 0 or -errno. */
static int object_truncate(struct fm_store *s, uint64_t size)
{
	return fm_client_mode() ? client_store_truncate(s, size) : store_truncate(s, size);
}

static int sub_open(const struct mount_target *t, int flags);

int mount_open(const struct mount_target *t, int flags)
{
	bool dir = t->trailing || (flags & O_DIRECTORY);
	if (!t->trailing && (flags & O_TMPFILE) == O_TMPFILE) {
		errno = EOPNOTSUPP; /* no unnamed objects */
		return -1;
	}
	/* Not created before PATH/a is known to be no directory: EISDIR. */
	bool made;
	struct fm_store *s = object_get(t, dir ? 0 : flags & ~O_CREAT, &made);
	if (s && dir) {
		object_put(s);
		errno = ENOTDIR;
		return -1;
	}
	if (!s && errno == ENOENT && mount_sub(t))
		return sub_open(t, flags);
	if (!s && errno == ENOENT && !dir && (flags & O_CREAT))
		s = object_get(t, flags, &made);
	if (!s)
		return -1;
	int fd = -1;
	int acc = flags & O_ACCMODE;
	bool write = acc == O_WRONLY || acc == O_RDWR;
	if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL) && !made) {
		errno = EEXIST;
	} else if (write && !s->writable) {
		errno = EROFS;
	} else {
		int err = write && (flags & O_TRUNC) && object_size(s) > 0 ? object_truncate(s, 0) : 0;
		if (err && err != -EINVAL) { /* a store of fixed size ignores it, as a disk */
			errno = -err;
		} else {
			char path[64];
			snprintf(path, sizeof(path), "/proc/self/fd/%d", s->handle_fd);
			int keep = O_ACCMODE | O_CLOEXEC | O_NONBLOCK | O_APPEND | O_PATH;
			fd = (int)syscall(SYS_openat, AT_FDCWD, path, flags & keep, 0);
		}
	}
	object_put(s);
	return fd;
}

/* add_alias - (dev, ino) is s's too, from now on. */
static void add_alias(dev_t dev, ino_t ino, struct fm_store *s)
{
	pthread_mutex_lock(&objects_lock);
	size_t n = atomic_load(&nr_objects), i = 0;
	while (i < n && (!objects[i].s || objects[i].dev != dev || objects[i].ino != ino))
		i++;
	size_t slot = 0;
	while (slot < n && objects[slot].s)
		slot++;
	if (i == n && slot < OBJECTS_MAX) { /* full: reattach again next time */
		objects[slot] = (struct object){NULL, s, dev, ino, false};
		if (slot == n)
			atomic_store(&nr_objects, n + 1);
		else
			atomic_thread_fence(memory_order_release);
	}
	pthread_mutex_unlock(&objects_lock);
}

/*
 * reattach - the store of fd (stat st), a stand-in of a store this image
 * did not open, found again by the URL in its memfd's name, or
 * &unreachable if it cannot be (a name cut short, a store that does not
 * open now); NULL if fd is no stand-in. The store is opened as
 * object_get opens one, writable if it can be.
 */
static const char standin_pre[] = "/memfd:" FM_STANDIN_NAME,
		  standin_cut[] = "/memfd:" FM_STANDIN_CUT;

/* standin_url - if fd (stat st) is a stand-in: its URL (from its name:
 * store_standin), into target[size] (FM_STANDIN_NAME_MAX + 32), and
 * *whole (false: the URL was cut short), else NULL. */
static const char *standin_url(int fd, const struct stat *st, char *target, size_t size,
			       bool *whole)
{
	static const char tail[] = " (deleted)";
	if (!S_ISREG(st->st_mode) || st->st_nlink != 0) /* a memfd has no link */
		return NULL;
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, size - 1);
	if (n <= 0)
		return NULL;
	target[n] = '\0';
	*whole = !strncmp(target, standin_pre, strlen(standin_pre));
	if (!*whole && strncmp(target, standin_cut, strlen(standin_cut)))
		return NULL;
	size_t len = (size_t)n;
	if (len >= strlen(tail) && !strcmp(target + len - strlen(tail), tail))
		target[len - strlen(tail)] = '\0';
	return target + strlen(*whole ? standin_pre : standin_cut);
}

static struct fm_store *reattach(int fd, const struct stat *st)
{
	char target[FM_STANDIN_NAME_MAX + 32];
	bool whole;
	const char *url = standin_url(fd, st, target, sizeof(target), &whole);
	if (!url)
		return NULL;
	struct fm_store *s = &unreachable;
	struct mount_target t = {.what = MOUNT_OBJECT};
	int saved = errno, why = ENAMETOOLONG; /* a URL cut short */
	if (whole && strlen(url) < sizeof(t.name)) {
		strcpy(t.name, url);
		t.nbd = !strncmp(url, "nbd", 3);
		int fl = (int)syscall(SYS_fcntl, fd, F_GETFL);
		bool made;
		s = object_get(&t, fl < 0 ? O_RDONLY : fl & O_ACCMODE, &made);
		why = errno;
		if (!s)
			s = &unreachable;
	}
	errno = saved;
	if (s == &unreachable)
		fprintf(stderr, "faultmap: fd %d is an object of %s%s, which cannot be opened "
				"here (%s): its calls fail with EIO\n",
			fd, url, whole ? "" : "...", strerror(why));
	if (s->dev != st->st_dev || s->ino != st->st_ino)
		add_alias(st->st_dev, st->st_ino, s);
	if (s != &unreachable)
		object_put(s); /* objects[] keeps it, fd its alias */
	return s;
}

/* struct linux_dirent64, of getdents64(2). */
struct dirent64_raw {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static bool standin_inherited; /* a stand-in was open at the first look */
static pthread_once_t standin_once = PTHREAD_ONCE_INIT;

/* any_fd - whether match(fd, its stat, arg) holds for an fd open now that
 * is the program's (not the engine's: fd_kept); true if /proc/self/fd
 * cannot be read (cannot tell). No allocation: getdents64 into the
 * stack. */
static bool any_fd(bool (*match)(int fd, const struct stat *st, const void *arg),
		   const void *arg)
{
	int dir = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd",
			       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return true;
	char buf[4096];
	long n;
	bool found = false;
	while (!found && (n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0)
		for (long off = 0; off < n && !found;) {
			const struct dirent64_raw *d = (const void *)(buf + off);
			off += d->d_reclen;
			int fd = atoi(d->d_name);
			struct stat st;
			found = d->d_name[0] >= '0' && d->d_name[0] <= '9' && fd != dir &&
				!fd_kept(fd) && syscall(SYS_fstat, fd, &st) == 0 &&
				match(fd, &st, arg);
		}
	if (n < 0)
		found = true;
	syscall(SYS_close, dir);
	return found;
}

static bool is_standin(int fd, const struct stat *st, const void *arg)
{
	(void)arg;
	char target[FM_STANDIN_NAME_MAX + 32];
	bool whole;
	return standin_url(fd, st, target, sizeof(target), &whole) != NULL;
}

/* look_for_standins - with mounts, whether any fd open now (those this
 * image was started with, at the first mount_store_of) is a stand-in:
 * until then, or until this image opens an object, no fd is looked at
 * (a program under --mount that uses no object pays no fstat per call). */
static void look_for_standins(void)
{
	if (mounted())
		standin_inherited = any_fd(is_standin, NULL);
}

struct fm_store *mount_store_of(int fd)
{
	size_t n = atomic_load(&nr_objects);
	if (fd < 0)
		return NULL;
	if (!n) {
		pthread_once(&standin_once, look_for_standins);
		if (!standin_inherited)
			return NULL;
	}
	if (fd_kept(fd))
		return NULL;
	struct stat st;
	if (syscall(SYS_fstat, fd, &st) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (objects[i].dev == st.st_dev && objects[i].ino == st.st_ino)
			return objects[i].s;
	return reattach(fd, &st);
}

bool mount_unreachable(const struct fm_store *s)
{
	if (s != &unreachable && !s->removed)
		return false;
	errno = EIO;
	return true;
}

int mount_fd_to_map(struct fm_store *s, int fd)
{
	struct stat st;
	if (syscall(SYS_fstat, fd, &st) < 0)
		return -1;
	if (st.st_dev == s->dev && st.st_ino == s->ino)
		return fd;
	int acc = (int)syscall(SYS_fcntl, fd, F_GETFL);
	if (acc < 0)
		return -1;
	acc &= O_ACCMODE;
	if (acc == O_RDWR && !s->writable)
		acc = O_RDONLY; /* a shared writable mapping: EACCES */
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", s->handle_fd);
	return (int)syscall(SYS_openat, AT_FDCWD, path, acc | O_CLOEXEC, 0);
}

static mode_t object_mode(const struct fm_store *s)
{
	return S_IFREG | (s->writable ? 0644 : 0444);
}

static uint64_t object_size(struct fm_store *s)
{
	int64_t n = fm_store_size(s);
	return n < 0 ? 0 : (uint64_t)n;
}

/* removed_size - the size fstat tells of s (0 if this process unlinked
 * its object: mount_unlink), and *links, its link count. */
static uint64_t removed_size(struct fm_store *s, unsigned *links)
{
	*links = s->removed ? 0 : 1;
	return s->removed ? 0 : object_size(s);
}

int mount_fix_stat(struct fm_store *s, struct stat *st)
{
	if (s == &unreachable && mount_unreachable(s))
		return -1;
	unsigned links;
	uint64_t size = removed_size(s, &links);
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	st->st_mode = object_mode(s);
	st->st_nlink = links;
	return 0;
}

int mount_fix_statx(struct fm_store *s, struct statx *stx)
{
	if (s == &unreachable && mount_unreachable(s))
		return -1;
	unsigned links;
	uint64_t size = removed_size(s, &links);
	stx->stx_size = size;
	stx->stx_blocks = (size + 511) / 512;
	stx->stx_mode = (uint16_t)object_mode(s);
	stx->stx_nlink = links;
	return 0;
}

/* object_of - the store of t's object, opened if need be (as a stat
 * would find it); its trailing slash checked. NULL with errno. */
static struct fm_store *object_of(const struct mount_target *t)
{
	if (t->trailing) {
		errno = ENOTDIR;
		return NULL;
	}
	bool made;
	return object_get(t, 0, &made);
}

/* no_object - after object_of(t) failed: whether for want of the object
 * (or for a trailing slash) where t is a directory (mount_sub). */
static bool no_object(const struct mount_target *t)
{
	return (errno == ENOENT || (errno == ENOTDIR && t->trailing)) && mount_sub(t);
}

static int sub_stat(const struct mount_target *t, unsigned int mask, struct stat *st,
		    struct statx *stx);

int mount_stat(const struct mount_target *t, struct stat *st)
{
	struct fm_store *s = object_of(t);
	if (!s)
		return no_object(t) ? sub_stat(t, 0, st, NULL) : -1;
	int r = syscall(SYS_fstat, s->handle_fd, st) < 0 ? -1 : mount_fix_stat(s, st);
	object_put(s);
	return r;
}

int mount_statx(const struct mount_target *t, unsigned int mask, struct statx *stx)
{
	struct fm_store *s = object_of(t);
	if (!s)
		return no_object(t) ? sub_stat(t, mask, NULL, stx) : -1;
	int r = syscall(SYS_statx, s->handle_fd, "", AT_EMPTY_PATH, mask, stx) < 0
			? -1
			: mount_fix_statx(s, stx);
	object_put(s);
	return r;
}

int mount_access(const struct mount_target *t, int mode)
{
	if (mode & ~(R_OK | W_OK | X_OK)) {
		errno = EINVAL;
		return -1;
	}
	struct fm_store *s = object_of(t);
	if (!s)
		return no_object(t) ? 0 : -1; /* a directory: the user's */
	bool writable = s->writable;
	object_put(s);
	if ((mode & W_OK) && !writable) {
		errno = EROFS;
		return -1;
	}
	if (mode & X_OK) {
		errno = EACCES;
		return -1;
	}
	return 0;
}

/* object_remove - s's object removed from its store: store_remove, here
 * or in the daemon (client_store_remove). Return: 0 or -errno. */
static int object_remove(struct fm_store *s)
{
	return fm_client_mode() ? client_store_remove(s) : store_remove(s);
}

/* of_store - whether fd (stat st) is on the store arg: its stand-in, or
 * an alias of it in objects[], not its own handle_fd. */
static bool of_store(int fd, const struct stat *st, const void *arg)
{
	const struct fm_store *s = arg;
	size_t n = atomic_load(&nr_objects);
	if (fd == s->handle_fd)
		return false;
	for (size_t i = 0; i < n; i++)
		if (objects[i].s == s && objects[i].dev == st->st_dev &&
		    objects[i].ino == st->st_ino)
			return true;
	return false;
}

/* forget - s's object was removed: this process no longer finds it by its
 * URL (a later open is of a new object); if no fd of the program's is on
 * it, its slots are freed for object_get and objects[]'s reference given
 * back (a mapping, or a caller of object_get meanwhile, holds its own),
 * else s stays for those fds, whose calls fail with EIO
 * (mount_unreachable). A second forget of s (two threads unlinked it at
 * once) finds it in no slot and does nothing. (An fd closed by one thread
 * while another's call on it is still running is not waited for.) */
static void forget(struct fm_store *s)
{
	pthread_mutex_lock(&objects_lock);
	size_t n = atomic_load(&nr_objects);
	bool held = false;
	for (size_t i = 0; i < n; i++)
		if (objects[i].s == s) {
			held = true;
			free(objects[i].url);
			objects[i].url = NULL;
		}
	s->removed = true; /* its fds' calls: EIO (mount_unreachable) */
	bool drop = held && !any_fd(of_store, s);
	if (drop)
		for (size_t i = 0; i < n; i++)
			if (objects[i].s == s) {
				/* No fd matches it: no reader can return s now. */
				objects[i].dev = 0;
				objects[i].ino = 0;
				objects[i].s = NULL;
			}
	pthread_mutex_unlock(&objects_lock);
	if (drop)
		store_put(s);
}

int mount_unlink(const struct mount_target *t, int flags)
{
	if (flags & ~AT_REMOVEDIR) {
		errno = EINVAL;
		return -1;
	}
	if (t->one) { /* the kernel's, for a mount point that is a file */
		errno = t->trailing || (flags & AT_REMOVEDIR) ? ENOTDIR : EBUSY;
		return -1;
	}
	if (t->root) { /* the kernel's, for a mount point that is a directory */
		errno = flags & AT_REMOVEDIR ? EBUSY : EISDIR;
		return -1;
	}
	bool made;
	struct fm_store *s = object_get(t, 0, &made);
	if (!s && errno == ENOENT && mount_sub(t)) /* a directory, never empty */
		errno = flags & AT_REMOVEDIR ? ENOTEMPTY : EISDIR;
	if (!s)
		return -1; /* ENOENT: no such object, with a slash or not */
	int err = t->trailing || (flags & AT_REMOVEDIR) ? -ENOTDIR : object_remove(s);
	if (!err || err == -ENOENT) /* -ENOENT: removed by someone else meanwhile */
		forget(s);
	object_put(s);
	if (err) {
		errno = -err;
		return -1;
	}
	return 0;
}

int mount_rename(const struct mount_target *from, const struct mount_target *to,
		 unsigned int flags)
{
	if ((from->what != MOUNT_NOT_OURS && (from->one || from->root)) ||
	    (to->what != MOUNT_NOT_OURS && (to->one || to->root))) {
		errno = EBUSY; /* the kernel's, for a mount point */
		return -1;
	}
	if (from->what != to->what || from->mount != to->mount || from->what != MOUNT_LOCAL) {
		errno = EXDEV;
		return -1;
	}
	return (int)syscall(SYS_renameat2, AT_FDCWD, from->name, AT_FDCWD, to->name, flags);
}

/* ---- a store container's PATH itself ------------------------------------- */

/* Per container mount, its empty directory (an engine fd, + 1: 0 is none)
 * and its identity, for paths relative to an fd of it (root_base). */
static int root_fds[MOUNTS_MAX];
static struct {
	dev_t dev;
	ino_t ino;
} root_ids[MOUNTS_MAX];
static _Atomic bool roots_made;
static pthread_mutex_t root_lock = PTHREAD_MUTEX_INITIALIZER;

/* root_of - the empty directory of mount i: made under /tmp and removed
 * at once, kept open, for what a container's PATH is when not on disk.
 * Return: its fd, or -1. */
static int root_of(unsigned i)
{
	pthread_mutex_lock(&root_lock);
	if (!root_fds[i]) {
		char dir[] = "/tmp/faultmap-mount-XXXXXX";
		int fd = mkdtemp(dir) ? (int)syscall(SYS_openat, AT_FDCWD, dir,
						     O_RDONLY | O_DIRECTORY | O_CLOEXEC)
				      : -1;
		if (fd >= 0) {
			syscall(SYS_unlinkat, AT_FDCWD, dir, AT_REMOVEDIR);
			fd = fd_keep(fd);
		}
		struct stat st;
		if (fd >= 0 && syscall(SYS_fstat, fd, &st) == 0) {
			root_ids[i].dev = st.st_dev;
			root_ids[i].ino = st.st_ino;
			root_fds[i] = fd + 1;
			atomic_store(&roots_made, true);
		} else if (fd >= 0) {
			syscall(SYS_close, fd);
		}
	}
	int fd = root_fds[i] - 1;
	pthread_mutex_unlock(&root_lock);
	return fd;
}

/* root_base - if dirfd is open on a mount's empty directory (root_of):
 * that mount's PATH, into out[size]. Return: whether it is. */
static bool sub_of(const struct stat *st, char *out, size_t size);

static bool root_base(int dirfd, char *out, size_t size)
{
	struct stat st;
	if (!atomic_load(&roots_made) || syscall(SYS_fstat, dirfd, &st) < 0)
		return false;
	pthread_mutex_lock(&root_lock);
	size_t i = 0;
	while (i < nr_mounts && !(root_fds[i] && root_ids[i].dev == st.st_dev &&
				  root_ids[i].ino == st.st_ino))
		i++;
	bool found = i < nr_mounts && mounts[i].dir_len < size;
	if (found)
		strcpy(out, mounts[i].dir);
	pthread_mutex_unlock(&root_lock);
	return found || sub_of(&st, out, size);
}

/* no_dir - whether the kernel's call on t's PATH failed for want of it
 * (r < 0, ENOENT) and the mount's empty directory stands in: its fd into
 * *fd. */
static bool no_dir(long r, const struct mount_target *t, int *fd)
{
	if (r >= 0 || errno != ENOENT)
		return false;
	*fd = root_of(t->mount);
	if (*fd < 0)
		errno = ENOENT;
	return *fd >= 0;
}

/* dir_flags_ok - whether open(2) of an empty directory of faultmap's (a
 * container's PATH, PATH/a) may have flags: reading only (EISDIR to write
 * or create, the kernel's for a directory; EOPNOTSUPP for O_TMPFILE: no
 * unnamed objects), errno set if not. */
static bool dir_flags_ok(int flags)
{
	if ((flags & O_TMPFILE) == O_TMPFILE)
		errno = EOPNOTSUPP;
	else if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_CREAT))
		errno = EISDIR;
	else
		return true;
	return false;
}

int mount_dir_open(const struct mount_target *t, int flags, mode_t mode)
{
	struct stat st; /* not opened first: O_CREAT would make PATH a file */
	int root;
	if (!no_dir(syscall(SYS_newfstatat, AT_FDCWD, t->name, &st, 0), t, &root))
		return (int)syscall(SYS_openat, AT_FDCWD, t->name, flags, mode);
	if (!dir_flags_ok(flags))
		return -1;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", root);
	int keep = O_DIRECTORY | O_CLOEXEC | O_NONBLOCK | O_PATH;
	return (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | (flags & keep), 0);
}

int mount_dir_stat(const struct mount_target *t, int flags, unsigned int mask, struct stat *st,
		   struct statx *stx)
{
	long r = stx ? syscall(SYS_statx, AT_FDCWD, t->name, flags, mask, stx)
		     : syscall(SYS_newfstatat, AT_FDCWD, t->name, st, flags);
	int root;
	if (!no_dir(r, t, &root))
		return (int)r;
	if (stx) {
		if (syscall(SYS_statx, root, "", AT_EMPTY_PATH, mask, stx) < 0)
			return -1;
		stx->stx_nlink = 2; /* removed: 0 */
	} else {
		if (syscall(SYS_fstat, root, st) < 0)
			return -1;
		st->st_nlink = 2;
	}
	return 0;
}

/* sub_url - the URL of the prefix "a/" of the directory PATH/a t names
 * (MOUNT_OBJECT of a container): its object's URL with a '/' after the
 * name, before the '?' parameters, into out[size]. Return: 0 or
 * -ENAMETOOLONG. */
static int sub_url(const struct mount_target *t, char *out, size_t size)
{
	size_t end = t->obj_at + strcspn(t->name + t->obj_at, "?");
	if (strlen(t->name) + 2 > size)
		return -ENAMETOOLONG;
	memcpy(out, t->name, end);
	out[end] = '/';
	strcpy(out + end + 1, t->name + end);
	return 0;
}

static int list_url(const char *url, struct store_names *out)
{
	return fm_client_mode() ? client_store_list(url, out) : store_list(url, out);
}

int mount_list(const struct mount_target *t, struct store_names *out)
{
	const struct mount *m = &mounts[t->mount];
	*out = (struct store_names){0};
	if (t->what == MOUNT_OBJECT && t->obj_at && !m->one && !m->local) {
		char url[sizeof(t->name) + 1];
		int err = sub_url(t, url, sizeof(url));
		return err ? err : list_url(url, out);
	}
	if (t->what != MOUNT_DIR || m->one || m->local)
		return -ENOTDIR;
	return list_url(m->url, out);
}

bool mount_sub(const struct mount_target *t)
{
	if (t->what != MOUNT_OBJECT || !t->obj_at)
		return false;
	int saved = errno;
	struct store_names got;
	bool sub = mount_list(t, &got) == 0 && got.len > 0;
	free(got.buf);
	errno = saved;
	return sub;
}

/* The directories PATH/a of containers opened (sub_open): each fd's own
 * empty directory, removed, by its identity, with the path PATH/a it
 * stands for, for paths relative to it (root_base) and fdopendir
 * (mount_dir_of_fd); a ring, the oldest forgotten past SUBS_MAX. A removed
 * directory has no link: nothing else open has its identity. root_lock. */
#define SUBS_MAX 256
static struct {
	dev_t dev;
	ino_t ino;
	char *path;
} subs[SUBS_MAX];
static size_t subs_next;

/* sub_of - if st is of a directory of sub_open's: its path PATH/a into
 * out[size]. Return: whether it is. */
static bool sub_of(const struct stat *st, char *out, size_t size)
{
	if (!S_ISDIR(st->st_mode) || st->st_nlink != 0)
		return false;
	bool found = false;
	pthread_mutex_lock(&root_lock);
	for (size_t k = 1; k <= SUBS_MAX && k <= subs_next && !found; k++) {
		size_t i = (subs_next - k) % SUBS_MAX; /* the newest first */
		found = subs[i].path && subs[i].dev == st->st_dev && subs[i].ino == st->st_ino &&
			strlen(subs[i].path) < size;
		if (found)
			strcpy(out, subs[i].path);
	}
	pthread_mutex_unlock(&root_lock);
	return found;
}

/* sub_path - the path PATH/a of the directory t names: the mount's PATH
 * and the object's name, %-unescaped, into out[size]. Return: 0 or
 * -ENAMETOOLONG. */
static int sub_path(const struct mount_target *t, char *out, size_t size)
{
	const struct mount *m = &mounts[t->mount];
	size_t k = m->dir_len;
	if (k + 2 >= size)
		return -ENAMETOOLONG;
	memcpy(out, m->dir, k);
	out[k++] = '/';
	for (const char *c = t->name + t->obj_at; *c && *c != '?'; c++) {
		if (k + 1 >= size)
			return -ENAMETOOLONG;
		if (c[0] == '%' && c[1] && c[2]) {
			char hex[3] = {c[1], c[2], '\0'};
			out[k++] = (char)strtol(hex, NULL, 16);
			c += 2;
		} else {
			out[k++] = *c;
		}
	}
	out[k] = '\0';
	return 0;
}

/* sub_open - open(2) of the directory PATH/a t names (mount_sub): an empty
 * directory made under /tmp for this fd and removed at once, its identity
 * kept (subs). Return: the fd, or -1 with errno (EISDIR to write or
 * create). */
static int sub_open(const struct mount_target *t, int flags)
{
	if (!dir_flags_ok(flags))
		return -1;
	char path[2 * PATH_MAX + 2], dir[] = "/tmp/faultmap-dir-XXXXXX";
	int err = sub_path(t, path, sizeof(path));
	char *copy = err ? NULL : strdup(path);
	if (!copy) {
		errno = err ? -err : ENOMEM;
		return -1;
	}
	int keep = O_DIRECTORY | O_CLOEXEC | O_NONBLOCK | O_PATH;
	int fd = mkdtemp(dir) ? (int)syscall(SYS_openat, AT_FDCWD, dir, O_RDONLY | (flags & keep), 0)
			      : -1;
	err = errno;
	struct stat st;
	if (fd >= 0) {
		syscall(SYS_unlinkat, AT_FDCWD, dir, AT_REMOVEDIR);
		if (syscall(SYS_fstat, fd, &st) < 0) {
			err = errno;
			syscall(SYS_close, fd);
			fd = -1;
		}
	}
	if (fd < 0) {
		free(copy);
		errno = err;
		return -1;
	}
	pthread_mutex_lock(&root_lock);
	size_t i = subs_next++ % SUBS_MAX;
	free(subs[i].path);
	subs[i].dev = st.st_dev;
	subs[i].ino = st.st_ino;
	subs[i].path = copy;
	atomic_store(&roots_made, true);
	pthread_mutex_unlock(&root_lock);
	return fd;
}

/* sub_stat - stat(2) (statx into stx, if given) of the directory PATH/a t
 * names: the container PATH's, an inode number of its own (FNV-1a of the
 * URL, never 0) and two links. Return: 0 or -1 with errno. */
static int sub_stat(const struct mount_target *t, unsigned int mask, struct stat *st,
		    struct statx *stx)
{
	struct mount_target root;
	if (mount_path(AT_FDCWD, mounts[t->mount].dir, &root) || root.what != MOUNT_DIR) {
		errno = ENOENT;
		return -1;
	}
	if (mount_dir_stat(&root, 0, mask, st, stx) < 0)
		return -1;
	uint64_t h = 1469598103934665603ULL;
	for (const unsigned char *c = (const unsigned char *)t->name; *c; c++)
		h = (h ^ *c) * 1099511628211ULL;
	if (stx) {
		stx->stx_ino = h ? h : 1;
		stx->stx_nlink = 2;
	} else {
		st->st_ino = h ? (ino_t)h : 1;
		st->st_nlink = 2;
	}
	return 0;
}

int mount_fix_dir_stat(unsigned int mask, struct stat *st, struct statx *stx)
{
	struct stat k = {0};
	if (stx) {
		k.st_mode = stx->stx_mode;
		k.st_nlink = stx->stx_nlink;
		k.st_dev = makedev(stx->stx_dev_major, stx->stx_dev_minor);
		k.st_ino = stx->stx_ino;
	} else {
		k = *st;
	}
	char path[2 * PATH_MAX + 2];
	struct mount_target t;
	if (!atomic_load(&roots_made) || !sub_of(&k, path, sizeof(path)) ||
	    mount_path(AT_FDCWD, path, &t) || t.what != MOUNT_OBJECT)
		return 0;
	return sub_stat(&t, mask, stx ? NULL : st, stx);
}

bool mount_dir_of_fd(int fd, struct mount_target *t)
{
	struct stat st, dir;
	if (!mounted() || fd_kept(fd) || syscall(SYS_fstat, fd, &st) < 0 || !S_ISDIR(st.st_mode))
		return false;
	char path[2 * PATH_MAX + 2];
	if (atomic_load(&roots_made) && sub_of(&st, path, sizeof(path)))
		return mount_path(AT_FDCWD, path, t) == 0 && t->what == MOUNT_OBJECT;
	for (size_t i = 0; i < nr_mounts; i++) {
		const struct mount *m = &mounts[i];
		if (m->one || m->local)
			continue;
		pthread_mutex_lock(&root_lock);
		bool root = root_fds[i] && root_ids[i].dev == st.st_dev && root_ids[i].ino == st.st_ino;
		pthread_mutex_unlock(&root_lock);
		if (root || (syscall(SYS_newfstatat, AT_FDCWD, m->dir, &dir, 0) == 0 &&
			     dir.st_dev == st.st_dev && dir.st_ino == st.st_ino))
			return mount_path(AT_FDCWD, m->dir, t) == 0 && t->what == MOUNT_DIR;
	}
	return false;
}

int mount_dir_access(const struct mount_target *t, int mode, int flags)
{
	long r = flags ? syscall(SYS_faccessat2, AT_FDCWD, t->name, mode, flags)
		       : syscall(SYS_faccessat, AT_FDCWD, t->name, mode);
	int root;
	if (!no_dir(r, t, &root))
		return (int)r;
	if (mode & ~(R_OK | W_OK | X_OK)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

ssize_t mount_rw(struct fm_store *s, int fd, void *buf, size_t count, off_t off, bool at_pos,
		 bool write)
{
	if (mount_unreachable(s))
		return -1;
	if (!at_pos && off < 0) {
		errno = EINVAL;
		return -1;
	}
	int fl = (int)syscall(SYS_fcntl, fd, F_GETFL);
	off_t pos = at_pos ? (off_t)syscall(SYS_lseek, fd, 0, SEEK_CUR) : off;
	if (fl < 0 || pos < 0) {
		errno = EBADF;
		return -1;
	}
	if (write && (fl & O_APPEND)) /* pwrite too, as on Linux */
		pos = (off_t)object_size(s);
	int err = rw_check(fl, write, buf, count, pos);
	if (err) {
		errno = -err;
		return -1;
	}
	if (count > MAX_RW_COUNT)
		count = MAX_RW_COUNT;
	/* A write's failure is fd's to have heard of (store_pwrite_fd). */
	ssize_t n = write ? store_pwrite_fd(s, fd, buf, count, pos) : fm_store_pread(s, buf, count, pos);
	if (n > 0 && at_pos)
		(void)syscall(SYS_lseek, fd, pos + n, SEEK_SET);
	return n;
}

off_t mount_lseek(struct fm_store *s, int fd, off_t off, int whence)
{
	if (mount_unreachable(s))
		return -1;
	if (whence != SEEK_END && whence != SEEK_DATA && whence != SEEK_HOLE)
		return (off_t)syscall(SYS_lseek, fd, off, whence);
	off_t size = (off_t)object_size(s), to;
	if (whence == SEEK_END) {
		to = size + off;
		if (off > 0 && to < size) {
			errno = EOVERFLOW;
			return -1;
		}
	} else if (off < 0 || off >= size) {
		errno = off < 0 ? EINVAL : ENXIO;
		return -1;
	} else {
		to = whence == SEEK_DATA ? off : size; /* no holes: all data */
	}
	if (to < 0) {
		errno = EINVAL;
		return -1;
	}
	return (off_t)syscall(SYS_lseek, fd, to, SEEK_SET);
}

int mount_truncate(struct fm_store *s, int fd, off_t length)
{
	if (mount_unreachable(s))
		return -1;
	int fl = (int)syscall(SYS_fcntl, fd, F_GETFL);
	if (fl < 0) {
		errno = EBADF;
		return -1;
	}
	if (length < 0 || (fl & O_ACCMODE) == O_RDONLY || (fl & O_PATH)) {
		errno = EINVAL;
		return -1;
	}
	int err = object_truncate(s, (uint64_t)length);
	if (err) {
		errno = -err;
		return -1;
	}
	return 0;
}

void *mount_real(const char *name, _Atomic(void *) *cache)
{
	void *f = atomic_load(cache);
	if (!f) {
		f = dlsym(RTLD_NEXT, name);
		atomic_store(cache, f);
	}
	if (!f)
		errno = ENOSYS;
	return f;
}
