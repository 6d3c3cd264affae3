/*
 * budget.h - the page cache's budget: how much memory this process may use
 * (RAM, or its memory cgroup's limit if smaller), the default share of it,
 * sizes given as a percentage of it, and whether a budget fits with
 * faultmap's own memory beside it. Used by the engine (mmap.c) and by
 * `faultmap run --budget` (programs/common.c).
 */
#ifndef FAULTMAP_BUDGET_H
#define FAULTMAP_BUDGET_H

#include "cgroup.h"

#include <stdint.h>

struct fm_memory {
	uint64_t ram;			/* physical memory */
	uint64_t limit;			/* the memory cgroup's limit, or 0 */
	uint64_t usable;		/* the smaller of the two */
	char cgroup[CGROUP_PATH_MAX];	/* the cgroup that sets limit */
};

/* memory_usable - fill *m for this process. */
void memory_usable(struct fm_memory *m);

/*
 * budget_parse - a budget given as a size ("64M", fm_parse_size) or as a
 * percentage of m->usable ("50%", "12.5%": above 0, at most 100, up to
 * three decimals). Return: 0 and *bytes set, or -EINVAL.
 */
int budget_parse(const char *text, const struct fm_memory *m, uint64_t *bytes);

/* budget_overhead - the memory faultmap itself needs beside a budget of
 * this size, at most (measured: README, "Memory"). */
uint64_t budget_overhead(uint64_t budget);

/* budget_default - half of m->usable, less if that and its overhead
 * would not fit (a very small limit). */
uint64_t budget_default(const struct fm_memory *m);

/* budget_check - say on stderr (one message) if budget and its overhead
 * do not fit in m->usable. Return: whether it fits. */
bool budget_check(uint64_t budget, const struct fm_memory *m);

#endif /* FAULTMAP_BUDGET_H */
