/*
 * runtime_dir.h - the per-user directory where faultmap puts what one user's
 * processes show to that user (and root) only: the counters segments and
 * the inspect sockets of src/publish.c, and the daemon's socket to come.
 *
 * Contract:
 *
 *  - Where. A process of user U (its effective uid) uses the first of:
 *    $XDG_RUNTIME_DIR/faultmap, when XDG_RUNTIME_DIR (secure_getenv) is an
 *    absolute path to a directory of U with no access for group or others;
 *    /run/user/U/faultmap, when /run/user/U is such a directory (made by
 *    systemd-logind at login); for root, /run/faultmap; otherwise
 *    /dev/shm/faultmap-U (or /tmp/faultmap-U where /dev/shm is not a
 *    directory). A reader that looks for U's processes tries, in order: its
 *    own $XDG_RUNTIME_DIR/faultmap (if the reader is U),
 *    /run/user/U/faultmap, /run/faultmap (U = 0), /dev/shm/faultmap-U and
 *    /tmp/faultmap-U (runtime_dir_candidates).
 *
 *  - Trust. A directory is used only if it is, as opened with O_NOFOLLOW and
 *    checked with fstat, a directory (not a symlink), owned by U, mode 0700.
 *    Then only U and root can create, replace, open or connect to anything
 *    inside it: a name in it cannot be planted or taken over by another
 *    user, unlike a name in /dev/shm or an abstract socket name. Anything
 *    else at the path is refused with a message on stderr that names the
 *    path, what is wrong and what to do; it is never chmod'ed, chowned or
 *    removed. (Another user can deny U the /dev/shm and /tmp places by
 *    creating the directory first; U then sets XDG_RUNTIME_DIR. The places
 *    under /run cannot be taken so.)
 *
 *  - Inside, names are "faultmap.<pid>" (a counters segment, 0600) and
 *    "faultmap.<pid>.sock" (that process's inspect socket). Files are
 *    created with O_EXCL | O_NOFOLLOW; a leftover of a dead process of the
 *    same pid (necessarily U's own) is removed first.
 *
 * Functions return a directory fd or -errno, the library's convention.
 */
#ifndef FAULTMAP_RUNTIME_DIR_H
#define FAULTMAP_RUNTIME_DIR_H

#include <stddef.h>
#include <sys/types.h>

#define RT_DIR_PATH_MAX 256
#define RT_DIR_CANDIDATES 5
#define RT_SEG_FMT "faultmap.%d"       /* counters segment; pid */
#define RT_SOCK_FMT "faultmap.%d.sock" /* inspect socket; pid */

/* runtime_dir_create - this process's directory (for its effective uid),
 * created 0700 if missing, verified as above; its path into path.
 * Return: an O_DIRECTORY fd, or -errno after saying why on stderr.
 * Context: any; the caller closes the fd. */
int runtime_dir_create(char *path, size_t size);

/* runtime_dir_open - open the directory path if it is one of uid, mode 0700.
 * Return: an O_DIRECTORY fd; -ENOENT if there is none (silently); -EACCES
 * if the caller may not open it; -EPERM if it is not to be trusted (said on
 * stderr). */
int runtime_dir_open(const char *path, uid_t uid);

/* runtime_dir_candidates - where processes of uid may have their directory,
 * most likely first, without duplicates. Return: how many (at most
 * RT_DIR_CANDIDATES). */
int runtime_dir_candidates(uid_t uid, char paths[][RT_DIR_PATH_MAX]);

/* proc_owner - the owner of process pid (the owner of /proc/<pid>: its
 * effective uid, or root for a process that is not dumpable).
 * Return: 0, or -ESRCH when there is no such process. */
int proc_owner(int pid, uid_t *uid);

#endif /* FAULTMAP_RUNTIME_DIR_H */
