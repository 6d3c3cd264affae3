/*
 * cgroup.c - the memory cgroup this process runs in, and its limit (see
 * cgroup.h).
 */
#include "cgroup.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* v1's memory.limit_in_bytes when no limit is set is PAGE_COUNTER_MAX
 * pages (about 2^63 bytes); anything this big is no limit. */
#define NO_LIMIT (1ULL << 62)

int cgroup_read(const char *path, char *buf, size_t size)
{
	int fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	ssize_t n = 1;
	while (len + 1 < size && (n = sys_read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	int err = n < 0 ? -errno : 0;
	sys_close(fd);
	buf[len] = 0;
	return err;
}

int cgroup_write(const char *path, const char *text)
{
	int fd = sys_openat(AT_FDCWD, path, O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ssize_t n = sys_write(fd, text, strlen(text));
	int err = n < 0 ? -errno : 0;
	sys_close(fd);
	return err;
}

bool cgroup_has_word(const char *list, const char *word)
{
	size_t len = strlen(word);
	for (const char *p = list; (p = strstr(p, word)); p += len)
		if ((p == list || p[-1] == ' ' || p[-1] == ',') &&
		    (p[len] == 0 || p[len] == ' ' || p[len] == '\n' || p[len] == ','))
			return true;
	return false;
}

/* read_all - a whole /proc file (which may be long: mountinfo), malloc'ed.
 * Return: the text, or NULL. */
static char *read_all(const char *path)
{
	size_t size = 16384;
	for (int tries = 0; tries < 8; tries++, size *= 2) {
		char *buf = malloc(size);
		if (!buf)
			return NULL;
		int err = cgroup_read(path, buf, size);
		if (!err && strlen(buf) + 1 < size)
			return buf;
		free(buf);
		if (err)
			return NULL;
	}
	return NULL;
}

/* own_path - this process's cgroup path in hierarchy version (2: the "0::"
 * line; 1: the line whose controllers include memory) into out. */
static int own_path(int version, char *out, size_t size)
{
	char *text = read_all("/proc/self/cgroup");
	if (!text)
		return -ENOENT;
	int err = -ENOENT;
	for (char *line = text, *next; err && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = 0;
		bool match = version == 2 ? !strcmp(line, "0:") : cgroup_has_word(c1 + 1, "memory");
		if (match && (size_t)snprintf(out, size, "%s", c2 + 1) < size)
			err = 0;
	}
	free(text);
	return err;
}

/* unescape - mountinfo's octal escapes (\040 for a space...) in place. */
static void unescape(char *s)
{
	char *d = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = 0;
}

/* under - the rest of path below root ("" for root itself, "/x" below it),
 * or NULL if path is not under root. */
static const char *under(const char *path, const char *root)
{
	if (!strcmp(root, "/"))
		return strcmp(path, "/") ? path : "";
	size_t len = strlen(root);
	if (strncmp(path, root, len) || (path[len] && path[len] != '/'))
		return NULL;
	return path + len;
}

int cgroup_find(int version, struct cgroup_where *where)
{
	char own[CGROUP_PATH_MAX];
	int err = own_path(version, own, sizeof(own));
	char *text = err ? NULL : read_all("/proc/self/mountinfo");
	if (!text)
		return -ENOENT;
	err = -ENOENT;
	/* "id parent maj:min root mountpoint opts [tags...] - fstype source superopts" */
	for (char *line = text, *next; err && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		char *dash = strstr(line, " - ");
		char root[CGROUP_PATH_MAX], mnt[CGROUP_PATH_MAX], type[32], opts[512];
		if (!dash || sscanf(line, "%*s %*s %*s %1023s %1023s", root, mnt) != 2 ||
		    sscanf(dash + 3, "%31s %*s %511s", type, opts) != 2)
			continue;
		if (version == 2 ? strcmp(type, "cgroup2")
				 : strcmp(type, "cgroup") || !cgroup_has_word(opts, "memory"))
			continue;
		unescape(root);
		unescape(mnt);
		const char *rest = under(own, root);
		if (!rest || (size_t)snprintf(where->dir, sizeof(where->dir), "%s%s",
					      strcmp(mnt, "/") ? mnt : "", rest) >= sizeof(where->dir))
			continue;
		if (!where->dir[0])
			snprintf(where->dir, sizeof(where->dir), "/");
		snprintf(where->mount, sizeof(where->mount), "%s", mnt);
		where->version = version;
		err = 0;
	}
	free(text);
	return err;
}

/* limit_at - the limit file of dir, if it sets a limit. */
static bool limit_at(int version, const char *dir, uint64_t *limit)
{
	char path[CGROUP_PATH_MAX + 32], text[64];
	snprintf(path, sizeof(path), "%s/%s", dir,
		 version == 2 ? "memory.max" : "memory.limit_in_bytes");
	if (cgroup_read(path, text, sizeof(text)) || text[0] < '0' || text[0] > '9')
		return false; /* absent (a root), unreadable, or "max" */
	char *end;
	unsigned long long v = strtoull(text, &end, 10);
	if (*end && *end != '\n')
		return false;
	*limit = v;
	return v < NO_LIMIT;
}

int cgroup_memory_limit(uint64_t *limit, char *where, size_t size)
{
	int err = -ENOENT;
	for (int version = 2; version >= 1; version--) {
		struct cgroup_where cg;
		if (cgroup_find(version, &cg))
			continue;
		/* up from the cgroup to the mount's root, the highest visible */
		char dir[CGROUP_PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", cg.dir);
		for (;;) {
			uint64_t v;
			if (limit_at(version, dir, &v) && (err || v < *limit)) {
				*limit = v;
				if (where)
					snprintf(where, size, "%s", dir);
				err = 0;
			}
			char *slash = strrchr(dir, '/');
			if (!strcmp(dir, cg.mount) || !slash || slash == dir)
				break;
			*slash = 0;
		}
	}
	return err;
}
