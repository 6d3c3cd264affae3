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
 *  - stdin, stdout and stderr are FILEs of ours while fds 0-2 are objects:
 *    when the program starts (`prog <PATH/x`, an fd carried across an
 *    exec) and whenever an object lands on 0-2 while it runs (a shell's
 *    `echo hi >PATH/x`, `exec >PATH/log`: dup2...), glibc's again when
 *    it stops being one (mount_std_changed).
 *  - dprintf, vdprintf of an object's fd: formatted here, written with
 *    mount_rw.
 *  - freopen, freopen64 of a path under a mount fail with EOPNOTSUPP, the
 *    stream left open (glibc's FILE cannot become a cookie FILE in place);
 *    freopen(NULL, mode, f) of a FILE of an object keeps it as it is.
 */
#include "mount.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
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
	if (!path || !mode || t.what == MOUNT_DIR)
		return glibc(path, mode); /* a container's PATH: the kernel's */
	if (t.what == MOUNT_NOT_OURS)
		return glibc(t.through ? t.name : path, mode);
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
	mount_std_changed(fd); /* 0-2 closed before: stdin... follows it */
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
	return glibc ? glibc(path && (t.what == MOUNT_LOCAL || t.through) ? t.name : path, mode, stream)
		     : NULL;
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

/* ---- dprintf --------------------------------------------------------------- */

/*
 * dprintf, vdprintf (and the _FORTIFY_SOURCE forms) of an object's fd:
 * formatted here (vasprintf), written with mount_rw; glibc's write the fd
 * with its own system calls (into the stand-in, which refuses them).
 * Other fds: glibc's.
 */
typedef int (*vdprintf_fn)(int, const char *, va_list);

static int object_vdprintf(int fd, const char *fmt, va_list ap, const char *name,
			   _Atomic(void *) *cache)
{
	struct fm_store *s = fmt ? mount_store_of(fd) : NULL;
	if (!s) {
		vdprintf_fn glibc = (vdprintf_fn)mount_real(name, cache);
		return glibc ? glibc(fd, fmt, ap) : -1;
	}
	char *buf;
	int n = vasprintf(&buf, fmt, ap);
	if (n < 0)
		return -1;
	ssize_t done = 0, w = 0;
	while (done < n && (w = mount_rw(s, fd, buf + done, (size_t)(n - done), 0, true, true)) > 0)
		done += w;
	int err = errno;
	free(buf);
	errno = err;
	return done < n ? -1 : n;
}

EXPORT int vdprintf(int fd, const char *fmt, va_list ap)
{
	static _Atomic(void *) cache;
	return object_vdprintf(fd, fmt, ap, "vdprintf", &cache);
}

EXPORT int dprintf(int fd, const char *fmt, ...)
{
	static _Atomic(void *) cache;
	va_list ap;
	va_start(ap, fmt);
	int r = object_vdprintf(fd, fmt, ap, "vdprintf", &cache);
	va_end(ap);
	return r;
}

typedef int (*vdprintf_chk_fn)(int, int, const char *, va_list);
int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap);
int __dprintf_chk(int fd, int flag, const char *fmt, ...);

/* chk_vdprintf - glibc's __vdprintf_chk for an fd not an object's. */
static int chk_vdprintf(int fd, int flag, const char *fmt, va_list ap)
{
	if (fmt && mount_store_of(fd)) {
		static _Atomic(void *) unused;
		return object_vdprintf(fd, fmt, ap, "vdprintf", &unused);
	}
	static _Atomic(void *) cache;
	vdprintf_chk_fn glibc = (vdprintf_chk_fn)mount_real("__vdprintf_chk", &cache);
	return glibc ? glibc(fd, flag, fmt, ap) : -1;
}

EXPORT int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
	return chk_vdprintf(fd, flag, fmt, ap);
}

EXPORT int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = chk_vdprintf(fd, flag, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- the standard streams -------------------------------------------------- */

/*
 * stdin, stdout and stderr follow fds 0-2: while fd N is an object, the
 * program's variable (stdin...: glibc's functions and the program read it)
 * holds a FILE of ours on N (std_file), whose calls go to whatever N is
 * at each call (object_read...); when N stops being one, glibc's own FILE
 * is put back. Checked when the program starts and at every call that
 * puts another file on 0-2 or closes one (dup2, dup3, dup, fcntl
 * F_DUPFD*, open, close, close_range: mount_std_changed). A FILE is
 * swapped only while the variable holds what was put there (glibc's,
 * open on N; or ours): a program's own assignment, or fclose, is left
 * alone. What the outgoing FILE holds moves to the incoming one, as if
 * the FILE stayed one and its fd changed under it (the kernel's case):
 * bytes written and not yet flushed are written to the new file when
 * flushed; bytes read ahead and not yet consumed are read first
 * (ungetc, which glibc lets push back any number). Our FILE's buffering
 * is glibc's FILE's (stderr unbuffered; line buffered if glibc's was;
 * else fully, as for a regular file).
 */
#define GLIBC_IO_UNBUFFERED 0x0002 /* _IO_UNBUFFERED of glibc's libio.h */

static FILE **const std_var[3] = {&stdin, &stdout, &stderr};
static FILE *std_glibc[3]; /* glibc's stdin... as the program started */
static FILE *std_ours[3];  /* ours, made at the first swap, reused */
static pthread_mutex_t std_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
/* This process's pid (a fork's child's too): another is a vfork child
 * sharing our memory (Python's subprocess dup2s there), whose dup2s must
 * not swap the parent's FILEs. */
static _Atomic pid_t std_pid;

/* std_close - fclose of our FILE of a standard fd (the program's own
 * fclose(stdout)...): forgotten (the variable is the program's now), the
 * fd closed by the interposer's close. */
static int std_close(void *cookie)
{
	int fd = (int)(intptr_t)cookie;
	pthread_mutex_lock(&std_lock);
	std_ours[fd] = NULL;
	pthread_mutex_unlock(&std_lock);
	return close(fd);
}

/* std_file - our FILE of fd (0-2), made at the first call, buffered as
 * glibc's g. NULL with errno. */
static FILE *std_file(int fd, FILE *g)
{
	if (std_ours[fd])
		return std_ours[fd];
	cookie_io_functions_t io = {object_read, object_write, object_seek, std_close};
	FILE *f = fopencookie((void *)(intptr_t)fd, fd ? "w" : "r", io);
	if (!f)
		return NULL;
	f->_fileno = fd;
	/* glibc's buffer: unbuffered is one byte (setvbuf _IOFBF later
	 * leaves it so); none yet: what a regular file gets, full. */
	size_t size = g->_IO_buf_base ? __fbufsize(g) : 0;
	if (fd == 2 || (g->_flags & GLIBC_IO_UNBUFFERED) || size == 1)
		setvbuf(f, NULL, _IONBF, 0);
	else if (__flbf(g))
		setvbuf(f, NULL, _IOLBF, size);
	std_ours[fd] = f;
	return f;
}

/* std_move - what from holds for its fd, moved to to (see above). */
static void std_move(FILE *from, FILE *to)
{
	if (from->_IO_write_ptr > from->_IO_write_base) {
		fwrite(from->_IO_write_base, 1, (size_t)(from->_IO_write_ptr - from->_IO_write_base),
		       to);
	} else if (from->_IO_read_ptr < from->_IO_read_end) {
		for (const char *p = from->_IO_read_end; p > from->_IO_read_ptr;)
			ungetc((unsigned char)*--p, to);
	}
	__fpurge(from);
}

void mount_std_changed(int fd)
{
	if (fd < 0 || fd > 2 || getpid() != atomic_load(&std_pid))
		return;
	int err = errno;
	pthread_mutex_lock(&std_lock);
	FILE *cur = *std_var[fd], *g = std_glibc[fd];
	bool object = mount_store_of(fd) != NULL;
	if (object && cur == g && g && g->_fileno == fd) {
		FILE *f = std_file(fd, g);
		if (f) {
			std_move(g, f);
			*std_var[fd] = f;
		} else {
			fprintf(stderr, "faultmap: fd %d is an object, but its FILE cannot be "
					"made (%s): stdio on it fails\n", fd, strerror(errno));
			g->_flags |= _IO_ERR_SEEN;
		}
	} else if (!object && cur && cur == std_ours[fd]) {
		std_move(cur, g);
		*std_var[fd] = g;
	}
	pthread_mutex_unlock(&std_lock);
	errno = err;
}

static void std_forked(void)
{
	atomic_store(&std_pid, getpid());
}

__attribute__((constructor)) static void std_streams(void)
{
	std_forked();
	pthread_atfork(NULL, NULL, std_forked);
	for (int fd = 0; fd < 3; fd++) {
		std_glibc[fd] = *std_var[fd];
		mount_std_changed(fd);
	}
}
