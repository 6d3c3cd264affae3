/*
 * mount.h - faultmap run --mount PATH=URL (interposer/mount.c): paths under
 * PATH are objects of the store at URL, for the interposed calls of
 * preload.c. The mounts come from FAULTMAP_MOUNTS (set by faultmap run):
 * lines "PATH=URL", PATH absolute and normalised.
 *
 * An object opened under a mount is a store (fm_store_open), held by this
 * process until it exits; the program's fd is a new open of the store's
 * stand-in (docs/design.md, "Stores in daemon mode"), so the kernel checks
 * its access mode for mmap, and any dup of it is recognised by its
 * (dev, ino): mount_store_of.
 */
#ifndef FAULTMAP_MOUNT_H
#define FAULTMAP_MOUNT_H

#include "faultmap.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>

struct statx;

/* What a path names (mount_path). */
enum mount_what {
	MOUNT_NOT_OURS, /* not under a mount: the kernel's */
	MOUNT_OBJECT,	/* an object of a store: its URL */
	MOUNT_LOCAL,	/* a file:// mount: this local path instead */
	MOUNT_DIR,	/* a store container's PATH itself: name is PATH */
};

struct mount_target {
	enum mount_what what;
	bool nbd;	 /* an NBD export: made by its server, never created */
	bool trailing;	 /* the path ended in '/' (ENOTDIR for an object) */
	bool one;	 /* PATH itself of a one-object mount (its mount point) */
	bool root;	 /* PATH itself of a container mount (its mount point) */
	bool through;	 /* MOUNT_NOT_OURS, but through a container's PATH that
			  * is not on disk and out by "..": the kernel's call
			  * on name, the path made normal (mount_kernel_path) */
	unsigned mount;	 /* which mount (for rename: EXDEV across two) */
	unsigned obj_at; /* MOUNT_OBJECT of a container: where the object's
			  * name (%-escaped) starts in name (mount_sub) */
	char name[8192]; /* the object's URL, or the local path */
};

/* mount_path - what path (relative to dirfd, as openat's) names. Return:
 * 0 (t filled) or -errno (a path under a mount that names nothing there:
 * ENOTDIR below a one-object mount, ENAMETOOLONG). */
int mount_path(int dirfd, const char *path, struct mount_target *t);

/* mount_kernel_path - for t MOUNT_NOT_OURS: the path (and *dirfd) the
 * kernel's call takes, path itself but where t->through. */
static inline const char *mount_kernel_path(const struct mount_target *t, int *dirfd,
					    const char *path)
{
	if (!t->through)
		return path;
	*dirfd = AT_FDCWD;
	return t->name;
}

/* mount_open - open the object t names with open(2)'s flags; where there
 * is no such object but t is a directory (mount_sub), that directory: an
 * empty one of faultmap's, made for this fd and removed at once, read
 * only (EISDIR to write or create). Return: the
 * program's new fd, or -1 with errno (ENOENT: no such object; EEXIST:
 * O_CREAT | O_EXCL of one that exists; EROFS: a read-only store opened for
 * writing; the store's errno otherwise). */
int mount_open(const struct mount_target *t, int flags);

/* mount_stat - stat(2) of the object t names (not opened for the
 * program); where there is none but t is a directory (mount_sub), the
 * container PATH's (mount_dir_stat), with an inode number of its own (a
 * hash of the URL) and two links. Return: 0 or -1 with errno. */
int mount_stat(const struct mount_target *t, struct stat *st);
int mount_statx(const struct mount_target *t, unsigned int mask, struct statx *stx);

/* mount_access - access(2) of the object t names (or of the directory t
 * is: mount_sub, as the container PATH's). Return: 0 or -1, errno. */
int mount_access(const struct mount_target *t, int mode);

/* mount_unlink - unlinkat(2) of the object t names (flags: 0 or
 * AT_REMOVEDIR, rmdir; a container's PATH itself: EISDIR, rmdir EBUSY): removed from its store (store_remove). This
 * process forgets it (a later open of its name is a new object, O_CREAT
 * or ENOENT); an fd still open on it keeps its store, but every call on
 * it fails with EIO (mount_unreachable; fstat: size 0, no link), and
 * what a mapping of it dirties is dropped, never written back. Return: 0 or -1 with errno
 * (ENOENT: no such object; EBUSY: a one-object mount's PATH, as for a
 * mount point; ENOTDIR: rmdir, or a trailing slash; EPERM: a store that
 * cannot remove an object). */
int mount_unlink(const struct mount_target *t, int flags);

/* mount_rename - renameat2(2) where from or to (or both) are under a
 * mount (what != MOUNT_NOT_OURS), as mount_path gives them: EBUSY for a
 * mount's PATH itself (a mount point), EXDEV across two mounts or
 * between a mount and the rest, the kernel's rename of a file:// mount's
 * files within it, and EXDEV within a store's container (no store
 * renames an object atomically: RADOS has no rename, S3 only copy and
 * delete). Return: 0 or -1 with errno. */
int mount_rename(const struct mount_target *from, const struct mount_target *to,
		 unsigned int flags);

/* mount_dir_open, mount_dir_stat, mount_dir_access - open(2), stat(2)
 * (into stx, statx(2), if given, else st) and access(2) of a store
 * container's PATH itself (MOUNT_DIR): the kernel's where PATH is on disk,
 * else an empty directory of faultmap's, removed at once (so that a
 * program can open and fsync it, as sqlite3 does after making its
 * journal, and sees a directory): open for reading only (EISDIR to write
 * or create), stat a directory (the user's, 0700, two links), access
 * granted; a path relative to an fd of it is under PATH (mount_path).
 * Return: as the calls. */
int mount_dir_open(const struct mount_target *t, int flags, mode_t mode);
int mount_dir_stat(const struct mount_target *t, int flags, unsigned int mask, struct stat *st,
		   struct statx *stx);
int mount_dir_access(const struct mount_target *t, int mode, int flags);

/* mount_list - the names in the container whose PATH (MOUNT_DIR) t
 * names, or in its directory PATH/a (MOUNT_OBJECT: mount_sub): store_list
 * of the mount's URL (or of the prefix "a/" under it), here or in the
 * daemon (client_store_list); "c/" names the directory c (store_names_add).
 * Return: 0 (out->buf malloc'd, or NULL) or -errno (-ENOTDIR: a file://
 * mount's, the kernel's directory). */
struct store_names;
int mount_list(const struct mount_target *t, struct store_names *out);

/* mount_sub - whether t (MOUNT_OBJECT: PATH/a, no object "a") is a
 * directory of a container: some object's name starts with "a/" (a
 * listing of that prefix is not empty). errno kept. */
bool mount_sub(const struct mount_target *t);

/* mount_fix_dir_stat - what fstat (into stx, statx with mask, if given,
 * else st) of an fd tells, the kernel's given: for an fd of a directory
 * PATH/a (mount_open of it: mount_sub), mount_stat's of PATH/a, else the
 * kernel's. Return: 0, or -1 with errno. */
int mount_fix_dir_stat(unsigned int mask, struct stat *st, struct statx *stx);

/* mount_dir_of_fd - whether fd is open on a store container's PATH (its
 * directory on disk, or the empty one of faultmap's: root_of), as
 * open(PATH, O_DIRECTORY) gives it: t then names PATH (MOUNT_DIR); or on
 * a directory PATH/a of one (mount_open of it: an empty directory of its
 * own, removed): t then names PATH/a (MOUNT_OBJECT). */
bool mount_dir_of_fd(int fd, struct mount_target *t);

/* mount_store_of - the store whose object fd is open on (any fd of it:
 * dups; an fd of another image's stand-in, inherited across an exec,
 * whose store is opened again here), or NULL. One atomic load until this
 * image opens an object, unless it started with a stand-in open. The store may be one that cannot be opened again: every
 * mount_ call on it fails with EIO (mount_unreachable). */
struct fm_store *mount_store_of(int fd);

/* mount_unreachable - whether s is the store of stand-ins that cannot be
 * opened again, or one whose object this process unlinked (mount_unlink):
 * then errno is EIO, the answer of every call on its fds. */
bool mount_unreachable(const struct fm_store *s);

/* mount_fd_to_map - the fd to give fm_mmap for a mapping of fd, an fd of
 * s: fd itself, or (an fd of another image's stand-in) a new fd of s's
 * stand-in with fd's access mode, for the caller to close. Return: the
 * fd, or -1 with errno. */
int mount_fd_to_map(struct fm_store *s, int fd);

/* mount_fix_stat, mount_fix_statx - what fstat of such an fd tells: the
 * stand-in's, with the store's size, a regular file's mode (0644, 0444
 * for a read-only store) and one link (an object this process unlinked:
 * size 0, no link). Return: 0, or -1 with EIO (a stand-in that cannot be
 * opened again). */
int mount_fix_stat(struct fm_store *s, struct stat *st);
int mount_fix_statx(struct fm_store *s, struct statx *stx);

/* mount_rw - read(2)/pread(2) (write: write, pwrite) of fd, an object's:
 * at its position if at_pos. Return: bytes, or -1 with errno. */
ssize_t mount_rw(struct fm_store *s, int fd, void *buf, size_t count, off_t off, bool at_pos,
		 bool write);

/* mount_lseek - lseek(2) of fd, an object's (SEEK_END, SEEK_DATA and
 * SEEK_HOLE from the store's size). Return: the offset, or -1 and errno. */
off_t mount_lseek(struct fm_store *s, int fd, off_t off, int whence);

/* mount_truncate - ftruncate(2) of fd, an object's. Return: 0 or -1, errno
 * (EINVAL: fd not open for writing, or a store of fixed size asked for
 * another size). */
int mount_truncate(struct fm_store *s, int fd, off_t length);

/* mount_std_changed - fd (only 0, 1 and 2 matter) was just made another
 * file or closed (dup2, dup3, dup, fcntl F_DUPFD*, open, close,
 * close_range): stdin, stdout or stderr become a FILE of ours while it is
 * an object, glibc's own again when it stops being one (stdio.c). errno
 * kept. */
void mount_std_changed(int fd);

/* mount_real - glibc's function name (dlsym(RTLD_NEXT), once, into
 * *cache), or NULL with errno ENOSYS: what stdio.c and dir.c leave to
 * glibc. */
void *mount_real(const char *name, _Atomic(void *) *cache);

#endif /* FAULTMAP_MOUNT_H */
