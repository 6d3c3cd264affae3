/*
 * bench.h - fm-bench's shared declarations.
 *
 * fm-bench runs each workload once per contender, each contender in a
 * forked child placed in a memory cgroup by the parent: faultmap (budget
 * set in the child, since the budget is per process and the engine starts
 * once per process), kernel mmap with default advice and with the
 * workload's best madvise hint (cgroup limited to the same budget), pread
 * (same cgroup limit), fio (O_DIRECT, io_uring: the device's ceiling, in
 * the reading workloads 2, 3 and 3b, when Debian's fio is installed) and,
 * when UMAP_DIR points at a build, UMap.
 *
 *   fm-bench.c   options, the run loop, the table, the CSV
 *   cgroup.c     memory cgroups (v2 or v1) measured from outside the child
 *   files.c      test files: fast fill, the pattern, checks
 *   workloads.c  what a child does: the six workloads
 */
#ifndef FM_BENCH_H
#define FM_BENCH_H

#include "cgroup_env.h"
#include "faultmap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PG 4096UL
#define MIB (1024UL * 1024UL)
#define GIB (1024UL * MIB)

enum contender {
	CT_FM,		/* faultmap, no hint */
	CT_FM_HINT,	/* faultmap with the workload's madvise hint */
	CT_KERNEL,	/* kernel mmap, default advice */
	CT_KERNEL_HINT, /* kernel mmap with the workload's best hint */
	CT_PREAD,	/* pread / pwrite, same number of threads */
	CT_UMAP,	/* LLNL UMap, when UMAP_DIR is set */
	CT_FIO,		/* fio: O_DIRECT reads through io_uring, when installed */
	CT_FM_DAEMON,	/* faultmap in daemon mode (a daemon of the job's own), no hint */
	CT_FM_INLINE,	/* faultmap, embedded, FAULTMAP_INLINE_FAULTS=1, no hint */
	CT_COUNT
};

enum workload {
	W_FAULT = 1, /* first touch on tmpfs */
	W_SCAN,	     /* cold sequential scan */
	W_RANDOM,    /* uniform random 4 KiB reads */
	W_ZIPF,	     /* hot set plus scans */
	W_WRITE,     /* random writes through a shared mapping, msync */
	W_RETOUCH,   /* second pass over resident pages */
	W_RANDOM_MT, /* "3b": uniform random 4 KiB reads, many threads */
	W_MAPCALLS,  /* the mapping calls themselves, on resident pages */
	W_COUNT
};

/* Workload 7's variants: the call timed. */
enum map_call { MC_MMAP_MUNMAP, MC_MPROTECT, MC_MREMAP, MC_MSYNC_ASYNC, MC_COUNT };

extern const char *const contender_name[CT_COUNT];

/* What a child is told to do. The parent fills it before fork; the arrays
 * it points to are the parent's (shared copy-on-write, never written), so
 * they are charged to the parent's cgroup, not the child's. */
struct job {
	int workload;
	int variant; /* W_FAULT: 1 shuffled; W_RETOUCH: 1 new mapping; W_MAPCALLS: enum map_call */
	int contender;
	int threads;
	const char *path;
	uint64_t file_bytes;
	uint64_t budget; /* faultmap's budget (and UMap's buffer) */
	int map_flags;	 /* MAP_SHARED or MAP_PRIVATE for reading workloads */
	double duration; /* seconds, for the timed workloads (W3, W5) */
	uint64_t seed;
	uint64_t nonce;		 /* W5: tells this run's writes apart */
	unsigned msync_every;	 /* W5 */
	const uint32_t *order;	 /* W1 shuffled: page order */
	const uint32_t *zipf;	 /* W4: (phases + 1) * zipf_per_phase pages */
	size_t zipf_per_phase;	 /* W4 */
	int phases;		 /* W4: scan + zipf phases after the warm-up */
	unsigned sample_every;	 /* W4: residency probe every Nth access */
	double phase_cap;	 /* W4: seconds a Zipf phase may take at most */
	uint64_t expect_sum;	 /* sum of all 64-bit words of the file */
	const char *umap_lib;	 /* path of libumap.so, or NULL */
	const char *fio;	 /* fio's path, or NULL: not installed */
};

/* What a child reports, in shared anonymous memory. */
struct outcome {
	int done;	  /* the child reached the end */
	int skipped;	  /* contender not available here (msg says why) */
	uint64_t data_errors;
	char msg[240];
	double seconds; /* the measured part */
	uint64_t ops;	/* pages, reads or writes in it */
	uint64_t bytes;
	double seconds2; /* W4: scans; W6: the first (cold) pass */
	uint64_t ops2, bytes2;
	uint64_t samples, sample_hits; /* W4: residency probes */
	bool probes_ok;		       /* the probe worked (mincore, RWF_NOWAIT) */
	uint64_t accesses, misses;     /* W4: counted accesses, major faults */
	bool have_misses;
	int capped; /* W4: Zipf phases stopped by the time cap */
	struct fm_stats fm; /* faultmap: counters over the measured part */
	bool have_fm;
	long majflt, minflt; /* getrusage, over the measured part */
	double cpu;	     /* user + system seconds of the whole process (all
			      * threads, the engine's included), same part */
};

/* ---- cgroup.c: cgroup_env.h ------------------------------------------- */

/* ---- files.c ------------------------------------------------------------ */

void pattern_init(void);
uint64_t page_tag(uint64_t page);
void fill_page(unsigned char *dst, uint64_t page);
unsigned slot_of(uint64_t page);
uint64_t write_value(uint64_t nonce, uint64_t op);
uint64_t xrand(uint64_t *state);
int create_file(const char *path, uint64_t bytes, bool sync_it);
uint64_t file_sum(uint64_t bytes);
uint64_t page_words_sum(const unsigned char *page);
uint64_t page_sum(uint64_t page);
int drop_caches(const char *path, char *how, size_t how_size);
uint64_t verify_writes(const char *path, uint64_t bytes, uint64_t seed, uint64_t nonce,
		       uint64_t ops, char *msg, size_t msg_size);

/* ---- workloads.c -------------------------------------------------------- */

void run_job(const struct job *job, struct outcome *out);
double now_sec(void);
const char *workload_label(int w);

#endif /* FM_BENCH_H */
