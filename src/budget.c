/*
 * budget.c - the page cache's budget against the memory this process may
 * use (see budget.h).
 *
 * faultmap's cache is shmem (memfds) that the kernel cannot reclaim (there
 * is no swap to put it in, and faultmap does not shrink on the kernel's
 * request), so in a memory cgroup the budget, faultmap's own memory and
 * the program's must all fit under the limit, or the kernel's OOM killer
 * ends the program. The default is half of the smaller of RAM and the
 * limit: with the overhead (6.25% of the budget and 8 MiB) that leaves the
 * program about 45% of it. README.md, "Memory", has the measurements.
 */
#include "budget.h"
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MiB (1024.0 * 1024.0)
#define OVERHEAD_FIXED (8ULL << 20)

void memory_usable(struct fm_memory *m)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	m->ram = pages > 0 ? (uint64_t)pages * FM_PAGE_SIZE : 0;
	m->cgroup[0] = 0;
	if (cgroup_memory_limit(&m->limit, m->cgroup, sizeof(m->cgroup)))
		m->limit = 0;
	m->usable = m->ram;
	if (m->limit && (!m->usable || m->limit < m->usable))
		m->usable = m->limit;
}

/* parse_percent - "N%" or "N.DDD%" in thousandths of a percent. */
static int parse_percent(const char *text, uint64_t *milli)
{
	uint64_t v = 0;
	int digits = 0, decimals = -1;
	const char *p = text;
	for (; *p && *p != '%'; p++) {
		if (*p == '.' && decimals < 0 && digits) {
			decimals = 0;
		} else if (isdigit((unsigned char)*p) && decimals < 3 && v <= 100000) {
			v = v * 10 + (uint64_t)(*p - '0');
			digits++;
			if (decimals >= 0)
				decimals++;
		} else {
			return -EINVAL;
		}
	}
	if (*p != '%' || p[1] || !digits || decimals == 0)
		return -EINVAL;
	for (int d = decimals < 0 ? 0 : decimals; d < 3; d++)
		v *= 10;
	if (v == 0 || v > 100000)
		return -EINVAL;
	*milli = v;
	return 0;
}

int budget_parse(const char *text, const struct fm_memory *m, uint64_t *bytes)
{
	uint64_t milli;
	size_t size;
	if (text && *text && text[strlen(text) - 1] == '%') {
		if (parse_percent(text, &milli))
			return -EINVAL;
		/* m->usable * milli / 100000, without overflow */
		*bytes = m->usable / 100000 * milli + m->usable % 100000 * milli / 100000;
		return 0;
	}
	if (fm_parse_size(text, &size))
		return -EINVAL;
	*bytes = size;
	return 0;
}

uint64_t budget_overhead(uint64_t budget)
{
	return budget / 16 + OVERHEAD_FIXED;
}

uint64_t budget_default(const struct fm_memory *m)
{
	uint64_t b = m->usable / 2;
	if (b + budget_overhead(b) > m->usable) /* below about 17 MiB */
		b = m->usable > OVERHEAD_FIXED ? (m->usable - OVERHEAD_FIXED) / 17 * 16 : 0;
	return b;
}

bool budget_check(uint64_t budget, const struct fm_memory *m)
{
	uint64_t need = budget + budget_overhead(budget);
	if (!m->usable || need <= m->usable)
		return true;
	char in[CGROUP_PATH_MAX + 64];
	if (m->limit && m->limit == m->usable)
		snprintf(in, sizeof(in), "the memory cgroup's limit of %.1f MiB (%s)",
			 (double)m->limit / MiB, m->cgroup);
	else
		snprintf(in, sizeof(in), "the machine's %.1f MiB of RAM", (double)m->ram / MiB);
	fprintf(stderr,
		"faultmap: a budget of %.1f MiB, with faultmap's own memory (up to %.1f MiB), "
		"does not fit in %s: the program may be killed for lack of memory. The "
		"default is half of it (%.1f MiB); --budget 50%% or FAULTMAP_BUDGET=50%% "
		"is a share of it\n",
		(double)budget / MiB, (double)budget_overhead(budget) / MiB, in,
		(double)budget_default(m) / MiB);
	return false;
}
