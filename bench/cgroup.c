/*
 * cgroup.c - memory cgroups for fm-bench's children (and for the tests
 * that run a program under a memory limit), read from outside.
 *
 * Every child runs in a cgroup of its own, a leaf run<N> under
 * <prefix>-<pid> (fmbench-<pid> for fm-bench): the kernel and pread
 * contenders with memory limited to the budget, faultmap with no limit (its budget is its own); all are measured
 * the same way, by the kernel's peak counter (memory.peak on v2,
 * memory.max_usage_in_bytes on v1) and by sampling memory.stat.
 *
 * cgroup v2 is used when its hierarchy has the memory controller, else v1's
 * memory hierarchy (found by src/cgroup.c). <prefix>-<pid> goes under our
 * own cgroup when that works (so the children stay inside whatever contains
 * us), else at the root of the hierarchy. All functions return 0 or -errno.
 */
#include "cgroup.h"
#include "cgroup_env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* try_base - make dir/<prefix>-<pid> a cgroup whose children get the
 * memory controller. */
static int try_base(struct cgroup_env *cg, const char *dir, const char *prefix)
{
	char path[1300];
	snprintf(cg->base, sizeof(cg->base), "%s/%s-%d", dir, prefix, (int)getpid());
	if (mkdir(cg->base, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (cg->version == 1)
		return 0;
	/* v2: memory must be enabled in dir for the base to have it, and in
	 * the base for its leaves. */
	char list[512];
	snprintf(path, sizeof(path), "%s/cgroup.controllers", cg->base);
	if (cgroup_read(path, list, sizeof(list)) < 0 || !cgroup_has_word(list, "memory")) {
		snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
		int err = cgroup_write(path, "+memory");
		snprintf(path, sizeof(path), "%s/cgroup.controllers", cg->base);
		if (err || cgroup_read(path, list, sizeof(list)) < 0 || !cgroup_has_word(list, "memory")) {
			rmdir(cg->base);
			return err ? err : -ENOTSUP;
		}
	}
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", cg->base);
	int err = cgroup_write(path, "+memory");
	if (err)
		rmdir(cg->base);
	return err;
}

int cg_setup(struct cgroup_env *cg, const char *prefix)
{
	char probe[1300], list[512];
	struct cgroup_where where;
	memset(cg, 0, sizeof(*cg));
	int err = cgroup_find(2, &where);
	snprintf(probe, sizeof(probe), "%s/cgroup.controllers", where.mount);
	if (err || cgroup_read(probe, list, sizeof(list)) || !cgroup_has_word(list, "memory"))
		err = cgroup_find(1, &where);
	if (err) {
		snprintf(cg->note, sizeof(cg->note),
			 "no cgroup hierarchy with the memory controller is mounted");
		return -ENOENT;
	}
	cg->version = where.version;
	snprintf(cg->mount, sizeof(cg->mount), "%s", where.mount);
	err = -ENOENT;
	if (strcmp(where.dir, where.mount))
		err = try_base(cg, where.dir, prefix);
	if (err)
		err = try_base(cg, cg->mount, prefix);
	if (err) {
		snprintf(cg->note, sizeof(cg->note), "cannot create a memory cgroup under %s: %s",
			 cg->mount, strerror(-err));
		cg->version = 0;
		return err;
	}
	snprintf(probe, sizeof(probe), "%s/%s", cg->base,
		 cg->version == 2 ? "memory.peak" : "memory.max_usage_in_bytes");
	/* a leaf has it if the base has it (v2: the base is a cgroup too) */
	struct stat st;
	cg->peak_counter = stat(probe, &st) == 0;
	snprintf(cg->note, sizeof(cg->note), "cgroup v%d, %s/run<N>; peak = %s", cg->version,
		 cg->base,
		 !cg->peak_counter     ? "sampled memory.current (no peak counter)"
		 : cg->version == 2 ? "memory.peak"
				    : "memory.max_usage_in_bytes");
	return 0;
}

int cg_leaf_create(const struct cgroup_env *cg, unsigned n, uint64_t limit, char *leaf,
		   size_t size)
{
	snprintf(leaf, size, "%s/run%u", cg->base, n);
	if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
		return -errno;
	char path[1400], val[32];
	if (!limit)
		return 0;
	snprintf(val, sizeof(val), "%llu", (unsigned long long)limit);
	snprintf(path, sizeof(path), "%s/%s", leaf,
		 cg->version == 2 ? "memory.max" : "memory.limit_in_bytes");
	int err = cgroup_write(path, val);
	if (!err && cg->version == 2) { /* no swapping out of the limit */
		snprintf(path, sizeof(path), "%s/memory.swap.max", leaf);
		(void)cgroup_write(path, "0");
	}
	if (err)
		rmdir(leaf);
	return err;
}

int cg_attach(const char *leaf, pid_t pid)
{
	char path[1400], val[32];
	snprintf(path, sizeof(path), "%s/cgroup.procs", leaf);
	snprintf(val, sizeof(val), "%d", (int)pid);
	return cgroup_write(path, val);
}

int cg_peak(const struct cgroup_env *cg, const char *leaf, uint64_t *peak)
{
	char path[1400], buf[64];
	snprintf(path, sizeof(path), "%s/%s", leaf,
		 cg->version == 2 ? "memory.peak" : "memory.max_usage_in_bytes");
	int err = cgroup_read(path, buf, sizeof(buf));
	if (err)
		return err;
	*peak = strtoull(buf, NULL, 10);
	return 0;
}

static uint64_t stat_key(const char *text, const char *key)
{
	size_t len = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, len) && p[len] == ' ')
			return strtoull(p + len + 1, NULL, 10);
	return 0;
}

int cg_oom_kills(const struct cgroup_env *cg, const char *leaf, uint64_t *kills)
{
	char path[1400], buf[4096];
	snprintf(path, sizeof(path), "%s/%s", leaf,
		 cg->version == 2 ? "memory.events" : "memory.oom_control");
	int err = cgroup_read(path, buf, sizeof(buf));
	*kills = err ? 0 : stat_key(buf, "oom_kill");
	return err;
}

/* cg_sample - the leaf's memory now: total, kernel file cache (shmem
 * excluded), shmem + anonymous. */
int cg_sample(const struct cgroup_env *cg, const char *leaf, struct mem_sample *s)
{
	char path[1400], buf[8192];
	snprintf(path, sizeof(path), "%s/memory.stat", leaf);
	int err = cgroup_read(path, buf, sizeof(buf));
	if (err)
		return err;
	uint64_t file = stat_key(buf, cg->version == 2 ? "file" : "cache");
	uint64_t shmem = stat_key(buf, "shmem");
	uint64_t anon = stat_key(buf, cg->version == 2 ? "anon" : "rss");
	s->kfile = file > shmem ? file - shmem : 0;
	s->shmem_anon = shmem + anon;
	char cur[64];
	snprintf(path, sizeof(path), "%s/%s", leaf,
		 cg->version == 2 ? "memory.current" : "memory.usage_in_bytes");
	err = cgroup_read(path, cur, sizeof(cur));
	s->current = err ? 0 : strtoull(cur, NULL, 10);
	return err;
}

/* proc_sample - without cgroups: the child's VmRSS (split into file and
 * shmem+anon) and VmHWM, from /proc/<pid>/status. */
int proc_sample(pid_t pid, struct mem_sample *s, uint64_t *hwm)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	int err = cgroup_read(path, buf, sizeof(buf));
	if (err)
		return err;
	const char *p;
	uint64_t rss_file = 0, rss_shmem = 0, rss_anon = 0;
	if ((p = strstr(buf, "VmHWM:")))
		*hwm = strtoull(p + 6, NULL, 10) * 1024;
	if ((p = strstr(buf, "VmRSS:")))
		s->current = strtoull(p + 6, NULL, 10) * 1024;
	if ((p = strstr(buf, "RssAnon:")))
		rss_anon = strtoull(p + 8, NULL, 10) * 1024;
	if ((p = strstr(buf, "RssFile:")))
		rss_file = strtoull(p + 8, NULL, 10) * 1024;
	if ((p = strstr(buf, "RssShmem:")))
		rss_shmem = strtoull(p + 9, NULL, 10) * 1024;
	s->kfile = rss_file;
	s->shmem_anon = rss_shmem + rss_anon;
	return 0;
}

/* cg_leaf_remove - remove an emptied leaf (its last task may take a moment
 * to leave after being reaped). */
void cg_leaf_remove(const char *leaf)
{
	for (int i = 0; i < 200; i++) {
		if (rmdir(leaf) == 0 || errno == ENOENT)
			return;
		if (errno != EBUSY)
			break;
		nanosleep(&(struct timespec){0, 5000000}, NULL);
	}
	fprintf(stderr, "cannot remove %s: %s\n", leaf, strerror(errno));
}

void cg_teardown(const struct cgroup_env *cg)
{
	if (cg->version && rmdir(cg->base) < 0 && errno != ENOENT)
		fprintf(stderr, "cannot remove %s: %s\n", cg->base, strerror(errno));
}
