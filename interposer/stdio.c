/*
 * stdio.c - stdio on objects under faultmap run --mount (mount.c).
 *
 * glibc's FILE reads, writes and seeks its fd with its own system calls,
 * past the interposer, and its fopen opens with its own open: on an object
 * it would read the empty stand-in. So a FILE of an object is one of
 * fopencookie(3), whose read, write, seek and close are the mount layer's
 * calls on the object's fd (mount_rw, mount_lseek), with its _fileno set
 * to that fd (glibc's cookie files have -2 there and never use it for
 * their I/O), so that fileno(3) and what a program does with it (fstat,
 * mmap) are the object's too:
 *  - fopen, fopen64: a path under a mount is opened with mount_open, with
 *    fopen's flags for the mode ("r", "w", "a", "+", "x" O_EXCL, "e"
 *    O_CLOEXEC); a file:// mount's file is fopen'ed at its own path;
 *    other paths are glibc's fopen.
 *  - fdopen of an object's fd: a FILE of it, with fdopen's checks (EINVAL
 *    for a mode the fd's access mode does not allow; "a" sets O_APPEND).
 *  - stdin, stdout and stderr that are objects when the program starts
 *    (`prog <PATH/x`, an fd carried across an exec) become FILEs of them,
 *    before main (stderr unbuffered, as glibc's).
 *  - freopen, freopen64 of a path under a mount fail with EOPNOTSUPP, the
 *    stream left open (glibc's FILE cannot become a cookie FILE in place);
 *    freopen(NULL, mode, f) of a FILE of an object keeps it as it is.
 */
#include "mount.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

typedef FILE *(*fopen_fn)(const char *, const char *);
typedef FILE *(*fdopen_fn)(int, const char *);
typedef FILE *(*freopen_fn)(const char *, const char *, FILE *);

/* ---- a FILE of an object --------------------------------------------------- */

static ssize_t object_read(void *cookie, char *buf, size_t n)
{
	int fd = (int)(intptr_t)cookie;
	struct fm_store *s = mount_store_of(fd);
	return s ? mount_rw(s, fd, buf, n, 0, true, false) : (ssize_t)syscall(SYS_read, fd, buf, n);
}

/* object_write - the bytes written; 0 on error (errno), as fopencookie
 * wants. */
static ssize_t object_write(void *cookie, const char *buf, size_t n)
{
	int fd = (int)(intptr_t)cookie;
	struct fm_store *s = mount_store_of(fd);
	ssize_t r = s ? mount_rw(s, fd, (void *)(uintptr_t)buf, n, 0, true, true)
		      : (ssize_t)syscall(SYS_write, fd, buf, n);
	return r < 0 ? 0 : r;
}

static int object_seek(void *cookie, off64_t *off, int whence)
{
	int fd = (int)(intptr_t)cookie;
	struct fm_store *s = mount_store_of(fd);
	off_t r = s ? mount_lseek(s, fd, (off_t)*off, whence)
		    : (off_t)syscall(SYS_lseek, fd, (off_t)*off, whence);
	if (r < 0)
		return -1;
	*off = r;
	return 0;
}

static int object_close(void *cookie)
{
	return close((int)(intptr_t)cookie); /* the interposer's close */
}

/* object_file - a FILE of fd, an object's, with mode. NULL with errno. */
static FILE *object_file(int fd, const char *mode)
{
	cookie_io_functions_t io = {object_read, object_write, object_seek, object_close};
	FILE *f = fopencookie((void *)(intptr_t)fd, mode, io);
	if (f)
		f->_fileno = fd;
	return f;
}

/* mode_flags - open(2)'s flags for fopen's mode. Return: 0 or -EINVAL. */
static int mode_flags(const char *mode, int *flags)
{
	int f;
	switch (mode[0]) {
	case 'r':
		f = O_RDONLY;
		break;
	case 'w':
		f = O_WRONLY | O_CREAT | O_TRUNC;
		break;
	case 'a':
		f = O_WRONLY | O_CREAT | O_APPEND;
		break;
	default:
		return -EINVAL;
	}
	for (const char *m = mode + 1; *m && *m != ','; m++) {
		if (*m == '+')
			f = (f & ~O_ACCMODE) | O_RDWR;
		else if (*m == 'x')
			f |= O_EXCL;
		else if (*m == 'e')
			f |= O_CLOEXEC;
	}
	*flags = f;
	return 0;
}

/* ---- fopen, fdopen, freopen ------------------------------------------------ */

static FILE *fopen_any(const char *path, const char *mode, const char *name,
			_Atomic(void *) *cache)
{
	struct mount_target t;
	int err = path && mode ? mount_path(AT_FDCWD, path, &t) : 0;
	if (err) {
		errno = -err;
		return NULL;
	}
	fopen_fn glibc = (fopen_fn)mount_real(name, cache);
	if (!glibc)
		return NULL;
	if (!path || !mode || t.what == MOUNT_NOT_OURS || t.what == MOUNT_DIR)
		return glibc(path, mode); /* a container's PATH: the kernel's */
	if (t.what == MOUNT_LOCAL)
		return glibc(t.name, mode);
	int flags;
	if (mode_flags(mode, &flags)) {
		errno = EINVAL;
		return NULL;
	}
	int fd = mount_open(&t, flags);
	if (fd < 0)
		return NULL;
	FILE *f = object_file(fd, mode);
	if (!f) {
		int e = errno;
		syscall(SYS_close, fd);
		errno = e;
	}
	return f;
}

EXPORT FILE *fopen(const char *path, const char *mode)
{
	static _Atomic(void *) cache;
	return fopen_any(path, mode, "fopen", &cache);
}

EXPORT FILE *fopen64(const char *path, const char *mode)
{
	static _Atomic(void *) cache;
	return fopen_any(path, mode, "fopen64", &cache);
}

EXPORT FILE *fdopen(int fd, const char *mode)
{
	if (!mode || !mount_store_of(fd)) {
		static _Atomic(void *) cache;
		fdopen_fn glibc = (fdopen_fn)mount_real("fdopen", &cache);
		return glibc ? glibc(fd, mode) : NULL;
	}
	int fl = (int)syscall(SYS_fcntl, fd, F_GETFL), want;
	if (fl < 0)
		return NULL;
	if (mode_flags(mode, &want)) {
		errno = EINVAL;
		return NULL;
	}
	int acc = fl & O_ACCMODE, wacc = want & O_ACCMODE;
	if (acc != O_RDWR && acc != wacc) {
		errno = EINVAL;
		return NULL;
	}
	if ((want & O_APPEND) && !(fl & O_APPEND) &&
	    syscall(SYS_fcntl, fd, F_SETFL, fl | O_APPEND) < 0)
		return NULL;
	return object_file(fd, mode);
}

static FILE *freopen_any(const char *path, const char *mode, FILE *stream, const char *name,
			  _Atomic(void *) *cache)
{
	if (!path && stream && fileno(stream) >= 0 && mount_store_of(fileno(stream)))
		return stream; /* glibc would reopen the stand-in */
	struct mount_target t;
	int err = path ? mount_path(AT_FDCWD, path, &t) : 0;
	if (err) {
		errno = -err;
		return NULL;
	}
	if (path && t.what == MOUNT_OBJECT) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	freopen_fn glibc = (freopen_fn)mount_real(name, cache);
	return glibc ? glibc(path && t.what == MOUNT_LOCAL ? t.name : path, mode, stream) : NULL;
}

EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream)
{
	static _Atomic(void *) cache;
	return freopen_any(path, mode, stream, "freopen", &cache);
}

EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream)
{
	static _Atomic(void *) cache;
	return freopen_any(path, mode, stream, "freopen64", &cache);
}

/* ---- the standard streams -------------------------------------------------- */

/* std_streams - stdin, stdout and stderr of objects become FILEs of them
 * (the program's own stdin... variables: glibc's functions use them). */
__attribute__((constructor)) static void std_streams(void)
{
	FILE **std[3] = {&stdin, &stdout, &stderr};
	static const char *const modes[3] = {"r", "w", "w"};
	int err = errno;
	for (int fd = 0; fd < 3; fd++) {
		if (!mount_store_of(fd))
			continue;
		FILE *f = object_file(fd, modes[fd]);
		if (!f)
			continue;
		if (fd == 2)
			setvbuf(f, NULL, _IONBF, 0);
		*std[fd] = f;
	}
	errno = err;
}
