/*
 * cgroup.c - memory cgroups for fm-bench's children, read from outside.
 *
 * Every child runs in a cgroup of its own, a leaf run<N> under
 * fmbench-<pid>: the kernel and pread contenders with memory limited to the
 * budget, faultmap with no limit (its budget is its own); all are measured
 * the same way, by the kernel's peak counter (memory.peak on v2,
 * memory.max_usage_in_bytes on v1) and by sampling memory.stat.
 *
 * cgroup v2 is used when its hierarchy has the memory controller, else v1's
 * memory hierarchy. fmbench-<pid> goes under our own cgroup when that works
 * (so the children stay inside whatever contains us), else at the root of
 * the hierarchy. All functions return 0 or -errno.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int write_str(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

static int read_str(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size - 1);
	int err = n < 0 ? -errno : 0;
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return err;
}

static bool has_word(const char *list, const char *word)
{
	size_t len = strlen(word);
	for (const char *p = list; (p = strstr(p, word)); p += len)
		if ((p == list || p[-1] == ' ' || p[-1] == ',') &&
		    (p[len] == 0 || p[len] == ' ' || p[len] == '\n' || p[len] == ','))
			return true;
	return false;
}

/* find_mounts - the cgroup2 mount point and the v1 memory mount point. */
static void find_mounts(char *v2, char *v1, size_t size)
{
	v2[0] = v1[0] = 0;
	FILE *f = fopen("/proc/self/mounts", "re");
	if (!f)
		return;
	char dev[256], dir[256], type[64], opts[512];
	while (fscanf(f, "%255s %255s %63s %511s %*d %*d", dev, dir, type, opts) == 4) {
		if (!strcmp(type, "cgroup2") && !v2[0])
			snprintf(v2, size, "%s", dir);
		else if (!strcmp(type, "cgroup") && has_word(opts, "memory") && !v1[0])
			snprintf(v1, size, "%s", dir);
	}
	fclose(f);
}

/* own_path - our cgroup in hierarchy version (2: the "0::" line, 1: the line
 * with the memory controller). */
static void own_path(int version, char *out, size_t size)
{
	snprintf(out, size, "/");
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = 0;
		bool match = version == 2 ? !strcmp(line, "0") && c1[1] == 0
					  : has_word(c1 + 1, "memory");
		if (match) {
			snprintf(out, size, "%s", c2 + 1);
			break;
		}
	}
	fclose(f);
}

/* try_base - make dir/fmbench-<pid> a cgroup whose children get the memory
 * controller. */
static int try_base(struct cgroup_env *cg, const char *dir)
{
	char path[600];
	snprintf(cg->base, sizeof(cg->base), "%s/fmbench-%d", dir, (int)getpid());
	if (mkdir(cg->base, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (cg->version == 1)
		return 0;
	/* v2: memory must be enabled in dir for the base to have it, and in
	 * the base for its leaves. */
	char list[512];
	snprintf(path, sizeof(path), "%s/cgroup.controllers", cg->base);
	if (read_str(path, list, sizeof(list)) < 0 || !has_word(list, "memory")) {
		snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
		int err = write_str(path, "+memory");
		snprintf(path, sizeof(path), "%s/cgroup.controllers", cg->base);
		if (err || read_str(path, list, sizeof(list)) < 0 || !has_word(list, "memory")) {
			rmdir(cg->base);
			return err ? err : -ENOTSUP;
		}
	}
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", cg->base);
	int err = write_str(path, "+memory");
	if (err)
		rmdir(cg->base);
	return err;
}

/*
 * cg_setup - find a memory cgroup hierarchy we may use and create our
 * directory in it. On failure cg->version is 0 and cg->note says why.
 */
int cg_setup(struct cgroup_env *cg)
{
	char v2[256], v1[256], own[512], dir[800], probe[900], list[512];
	memset(cg, 0, sizeof(*cg));
	find_mounts(v2, v1, sizeof(v2));
	snprintf(probe, sizeof(probe), "%s/cgroup.controllers", v2);
	if (v2[0] && read_str(probe, list, sizeof(list)) == 0 && has_word(list, "memory")) {
		cg->version = 2;
		snprintf(cg->mount, sizeof(cg->mount), "%s", v2);
	} else if (v1[0]) {
		cg->version = 1;
		snprintf(cg->mount, sizeof(cg->mount), "%s", v1);
	} else {
		snprintf(cg->note, sizeof(cg->note),
			 "no cgroup hierarchy with the memory controller is mounted");
		return -ENOENT;
	}
	own_path(cg->version, own, sizeof(own));
	int err = -ENOENT;
	if (strcmp(own, "/")) {
		snprintf(dir, sizeof(dir), "%s%s", cg->mount, own);
		err = try_base(cg, dir);
	}
	if (err)
		err = try_base(cg, cg->mount);
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

/* cg_leaf_create - cgroup run<n> under the base, limited to limit bytes
 * (0: no limit). Its path goes to leaf. */
int cg_leaf_create(const struct cgroup_env *cg, unsigned n, uint64_t limit, char *leaf,
		   size_t size)
{
	snprintf(leaf, size, "%s/run%u", cg->base, n);
	if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
		return -errno;
	char path[700], val[32];
	if (!limit)
		return 0;
	snprintf(val, sizeof(val), "%llu", (unsigned long long)limit);
	snprintf(path, sizeof(path), "%s/%s", leaf,
		 cg->version == 2 ? "memory.max" : "memory.limit_in_bytes");
	int err = write_str(path, val);
	if (!err && cg->version == 2) { /* no swapping out of the limit */
		snprintf(path, sizeof(path), "%s/memory.swap.max", leaf);
		(void)write_str(path, "0");
	}
	if (err)
		rmdir(leaf);
	return err;
}

int cg_attach(const char *leaf, pid_t pid)
{
	char path[700], val[32];
	snprintf(path, sizeof(path), "%s/cgroup.procs", leaf);
	snprintf(val, sizeof(val), "%d", (int)pid);
	return write_str(path, val);
}

int cg_peak(const struct cgroup_env *cg, const char *leaf, uint64_t *peak)
{
	char path[700], buf[64];
	snprintf(path, sizeof(path), "%s/%s", leaf,
		 cg->version == 2 ? "memory.peak" : "memory.max_usage_in_bytes");
	int err = read_str(path, buf, sizeof(buf));
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

/* cg_sample - the leaf's memory now: total, kernel file cache (shmem
 * excluded), shmem + anonymous. */
int cg_sample(const struct cgroup_env *cg, const char *leaf, struct mem_sample *s)
{
	char path[700], buf[8192];
	snprintf(path, sizeof(path), "%s/memory.stat", leaf);
	int err = read_str(path, buf, sizeof(buf));
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
	err = read_str(path, cur, sizeof(cur));
	s->current = err ? 0 : strtoull(cur, NULL, 10);
	return err;
}

/* proc_sample - without cgroups: the child's VmRSS (split into file and
 * shmem+anon) and VmHWM, from /proc/<pid>/status. */
int proc_sample(pid_t pid, struct mem_sample *s, uint64_t *hwm)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	int err = read_str(path, buf, sizeof(buf));
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
	fprintf(stderr, "fm-bench: cannot remove %s: %s\n", leaf, strerror(errno));
}

void cg_teardown(const struct cgroup_env *cg)
{
	if (cg->version && rmdir(cg->base) < 0 && errno != ENOENT)
		fprintf(stderr, "fm-bench: cannot remove %s: %s\n", cg->base, strerror(errno));
}
