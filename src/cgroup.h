/*
 * cgroup.h - the memory cgroup this process runs in: where its hierarchy is
 * mounted, its directory there, and the memory limit that applies to it.
 *
 * The engine reads the limit to size its default budget (src/budget.c);
 * fm-bench (bench/cgroup.c) and the tests find the hierarchy here to create
 * cgroups of their own. cgroup v2 (the "0::" line of /proc/self/cgroup, a
 * cgroup2 mount) and v1 (the line and the mount of the memory controller)
 * are both handled; the directory is the mount point plus the cgroup's path
 * less the mount's own root (/proc/self/mountinfo), so it is right inside
 * containers too. Only raw system calls (sys_*): the interposer's engine
 * calls these under engine.lock. Functions return 0 or -errno.
 */
#ifndef FAULTMAP_CGROUP_H
#define FAULTMAP_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CGROUP_PATH_MAX 1024

struct cgroup_where {
	int version;			/* 2 or 1 */
	char mount[CGROUP_PATH_MAX];	/* where the hierarchy is mounted */
	char dir[CGROUP_PATH_MAX];	/* this process's cgroup in it */
};

/* cgroup_find - this process's cgroup in the v2 hierarchy (version 2) or
 * in v1's memory hierarchy (version 1). Return: 0, or -ENOENT where there
 * is none (or it is not visible from this mount namespace). */
int cgroup_find(int version, struct cgroup_where *where);

/* cgroup_read - the text of a (small) file, NUL-terminated. */
int cgroup_read(const char *path, char *buf, size_t size);
/* cgroup_write - write text to a cgroup file (one write). */
int cgroup_write(const char *path, const char *text);
/* cgroup_has_word - whether a list such as "cpu memory io" or
 * "rw,memory" holds word. */
bool cgroup_has_word(const char *list, const char *word);

/*
 * cgroup_memory_limit - the smallest memory limit of this process's cgroup
 * and its ancestors (v2 memory.max, v1 memory.limit_in_bytes; "max" and
 * v1's "unlimited" value are no limit): what the kernel enforces on it.
 * The directory holding it goes to where (size bytes), if where is not
 * NULL. Return: 0, or -ENOENT where no limit applies or none is visible.
 */
int cgroup_memory_limit(uint64_t *limit, char *where, size_t size);

#endif /* FAULTMAP_CGROUP_H */
