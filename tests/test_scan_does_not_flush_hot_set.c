/*
 * A single sequential scan of a file far bigger than the cache must not
 * flush a hot working set: after the scan the hot pages are still resident
 * (mincore(2) on the mapping, which reports the memfd's page cache) and
 * touching them takes no major fault.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define BUDGET_PAGES 256
#define HOT 64

int main(void)
{
	CHECK(fm_set_budget(BUDGET_PAGES * PS) == 0);
	require_engine();
	char hot_path[64], scan_path[64];
	int hfd = make_file(hot_path, 1024 * PS, 31, O_RDONLY);
	int sfd = make_file(scan_path, 4096 * PS, 32, O_RDONLY);
	unsigned char *hot = fm_mmap(NULL, 1024 * PS, PROT_READ, MAP_SHARED, hfd, 0);
	unsigned char *scan = fm_mmap(NULL, 4096 * PS, PROT_READ, MAP_SHARED, sfd, 0);
	CHECK(hot != MAP_FAILED && scan != MAP_FAILED);

	size_t idx[HOT];
	uint64_t s = 7;
	for (int i = 0; i < HOT; i++)
		idx[i] = (rnd(&s) % 256) * 4; /* spread out: random misses */
	unsigned sum = 0;
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < HOT; i++)
			sum += hot[idx[i] * PS];
	for (size_t i = 0; i < 4096; i++)
		sum += scan[i * PS];

	unsigned char vec[1024];
	CHECK(mincore(hot, 1024 * PS, vec) == 0);
	int resident = 0;
	for (int i = 0; i < HOT; i++)
		resident += vec[idx[i]] & 1;
	struct fm_stats before, after;
	fm_stats(&before);
	for (int i = 0; i < HOT; i++)
		sum += hot[idx[i] * PS];
	fm_stats(&after);
	printf("hot pages resident after the scan: %d of %d (sum %u)\n", resident, HOT, sum);
	CHECK_EQ(resident, HOT);
	CHECK_EQ(after.major_faults, before.major_faults);
	fm_munmap(hot, 1024 * PS), fm_munmap(scan, 4096 * PS);
	close(hfd), close(sfd);
	unlink(hot_path), unlink(scan_path);
	return 0;
}
