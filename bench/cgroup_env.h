/*
 * cgroup_env.h - memory cgroups made for programs run and measured from
 * outside: fm-bench's children, and the tests that run a program under a
 * memory limit (bench/cgroup.c; finding the hierarchy is src/cgroup.h's).
 */
#ifndef FM_CGROUP_ENV_H
#define FM_CGROUP_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cgroup_env {
	int version;	   /* 2, 1, or 0: none usable */
	char mount[1024];  /* where the memory hierarchy is mounted */
	char base[1200];   /* our directory: .../<prefix>-<pid> */
	char note[2048];   /* where, or why none */
	bool peak_counter; /* memory.peak / memory.max_usage_in_bytes exist */
};

struct mem_sample {
	uint64_t current; /* memory.current / usage_in_bytes, or VmRSS */
	uint64_t kfile;	  /* kernel page cache of files (not shmem) */
	uint64_t shmem_anon;
};

/* cg_setup - find a memory cgroup hierarchy we may use and create our
 * directory <prefix>-<pid> in it (under our own cgroup if we may, else at
 * the hierarchy's root). On failure cg->version is 0 and cg->note says
 * why. */
int cg_setup(struct cgroup_env *cg, const char *prefix);
/* cg_leaf_create - cgroup run<n> under the base, limited to limit bytes
 * (0: no limit; v2 also gets no swap). Its path goes to leaf. */
int cg_leaf_create(const struct cgroup_env *cg, unsigned n, uint64_t limit, char *leaf,
		   size_t size);
int cg_attach(const char *leaf, pid_t pid);
int cg_peak(const struct cgroup_env *cg, const char *leaf, uint64_t *peak);
/* cg_oom_kills - how many tasks of leaf the OOM killer killed. */
int cg_oom_kills(const struct cgroup_env *cg, const char *leaf, uint64_t *kills);
int cg_sample(const struct cgroup_env *cg, const char *leaf, struct mem_sample *s);
int proc_sample(pid_t pid, struct mem_sample *s, uint64_t *hwm);
void cg_leaf_remove(const char *leaf);
void cg_teardown(const struct cgroup_env *cg);

#endif /* FM_CGROUP_ENV_H */
