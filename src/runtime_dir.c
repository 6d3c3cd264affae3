/*
 * runtime_dir.c - the per-user directory of faultmap's segments and sockets:
 * see the contract in runtime_dir.h.
 */
#include "runtime_dir.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* open_dir - open path as a directory without following a last symlink.
 * Return: fd or -errno (-ELOOP/-ENOTDIR: a symlink or not a directory). */
static int open_dir(const char *path)
{
	int fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

/* private_parent - whether parent is an absolute path to a directory of
 * uid that no other user can write to (closed to group and others for a
 * user, not writable by them for root). If so, parent/faultmap goes into
 * out. */
static bool private_parent(const char *parent, uid_t uid, char *out, size_t size)
{
	if (!parent || parent[0] != '/')
		return false;
	int fd = open_dir(parent);
	if (fd < 0)
		return false;
	struct stat st;
	mode_t closed = uid == 0 ? 022 : 077;
	bool ok = !fstat(fd, &st) && st.st_uid == uid && !(st.st_mode & closed);
	sys_close(fd);
	int n = snprintf(out, size, "%s/faultmap", parent);
	return ok && n > 0 && (size_t)n < size;
}

/* xdg_dir - $XDG_RUNTIME_DIR/faultmap into out if XDG_RUNTIME_DIR is
 * private to uid. */
static bool xdg_dir(uid_t uid, char *out, size_t size)
{
	return private_parent(secure_getenv("XDG_RUNTIME_DIR"), uid, out, size);
}

/* system_dir - a place under /run that only root could have made for uid:
 * /run/user/<uid>/faultmap (systemd-logind's runtime directory of a user),
 * or /run/faultmap for root. Another user cannot take these first, as it
 * can /dev/shm/faultmap-<uid>. */
static bool system_dir(uid_t uid, char *out, size_t size)
{
	char parent[64];
	snprintf(parent, sizeof(parent), "/run/user/%u", (unsigned)uid);
	return private_parent(parent, uid, out, size) ||
	       (uid == 0 && private_parent("/run", 0, out, size));
}

/* shared_dir - /dev/shm/faultmap-<uid>, or /tmp/faultmap-<uid> where
 * /dev/shm is not a directory. */
static void shared_dir(uid_t uid, bool shm, char *out, size_t size)
{
	snprintf(out, size, "%s/faultmap-%u", shm ? "/dev/shm" : "/tmp", (unsigned)uid);
}

static bool have_dev_shm(void)
{
	struct stat st;
	return !stat("/dev/shm", &st) && S_ISDIR(st.st_mode);
}

/* verify - fd, opened at path, is a directory of uid, mode 0700; else say
 * why on stderr. Return: 0 or -EPERM. */
static int verify(int fd, const char *path, uid_t uid)
{
	struct stat st;
	if (fstat(fd, &st))
		return -errno;
	if (S_ISDIR(st.st_mode) && st.st_uid == uid && (st.st_mode & 07777) == 0700)
		return 0;
	fprintf(stderr,
		"faultmap: refusing %s: it is owned by uid %u with mode %04o, and must "
		"be a directory of uid %u with mode 0700 (remove it, or set "
		"XDG_RUNTIME_DIR to a directory of your own)\n",
		path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), (unsigned)uid);
	return -EPERM;
}

/* runtime_dir_open - see runtime_dir.h. */
int runtime_dir_open(const char *path, uid_t uid)
{
	int fd = open_dir(path);
	if (fd == -ELOOP || fd == -ENOTDIR) {
		fprintf(stderr,
			"faultmap: refusing %s: it is a symlink or not a directory "
			"(remove it, or set XDG_RUNTIME_DIR to a directory of your own)\n",
			path);
		return -EPERM;
	}
	if (fd < 0)
		return fd;
	int err = verify(fd, path, uid);
	if (err) {
		sys_close(fd);
		return err;
	}
	return fd;
}

/* runtime_dir_create - see runtime_dir.h. */
int runtime_dir_create(char *path, size_t size)
{
	uid_t uid = geteuid();
	if (!xdg_dir(uid, path, size) && !system_dir(uid, path, size))
		shared_dir(uid, have_dev_shm(), path, size);
	bool made = mkdir(path, 0700) == 0;
	if (!made && errno != EEXIST) {
		int err = -errno;
		fprintf(stderr, "faultmap: cannot create %s: %s\n", path, strerror(errno));
		return err;
	}
	int fd = open_dir(path);
	/* A directory just made may lack bits the umask took away. */
	if (made && fd >= 0)
		(void)fchmod(fd, 0700);
	if (fd >= 0)
		sys_close(fd);
	return runtime_dir_open(path, uid);
}

/* runtime_dir_candidates - see runtime_dir.h. */
int runtime_dir_candidates(uid_t uid, char paths[][RT_DIR_PATH_MAX])
{
	char c[RT_DIR_CANDIDATES][RT_DIR_PATH_MAX];
	int n = 0, out = 0;
	if (uid == geteuid() && xdg_dir(uid, c[n], sizeof(c[n])))
		n++;
	snprintf(c[n++], sizeof(c[0]), "/run/user/%u/faultmap", (unsigned)uid);
	if (uid == 0)
		snprintf(c[n++], sizeof(c[0]), "/run/faultmap");
	shared_dir(uid, true, c[n++], sizeof(c[0]));
	shared_dir(uid, false, c[n++], sizeof(c[0]));
	for (int i = 0; i < n; i++) {
		bool dup = false;
		for (int j = 0; j < out; j++)
			dup |= !strcmp(paths[j], c[i]);
		if (!dup)
			memcpy(paths[out++], c[i], sizeof(c[i]));
	}
	return out;
}

/* proc_owner - see runtime_dir.h. */
int proc_owner(int pid, uid_t *uid)
{
	char path[32];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d", pid);
	if (pid <= 0 || stat(path, &st))
		return -ESRCH;
	*uid = st.st_uid;
	return 0;
}
