/*
 * Once a program has read every page of a file through a mapping, the
 * counters say so: pages_read went up by at least the pages it read.
 *
 * A readahead window's pages are in the cache (the program can map and
 * read them) a moment before the engine counts them: the reading thread
 * copies them in with engine.lock dropped, then waits for the lock to
 * count them. A program that finished its scan in that moment and asked
 * for its counters found up to a window short (255 of 131072 pages, in 1
 * scan of a 512 MiB file in 25 under load).
 *
 * Each round maps a file that is not cached (drop_faultmap_cache: in
 * daemon mode the pages outlive the last unmap for a while), reads every
 * page in order (readahead windows, ending at the file's end) and asks for
 * the counters; ROUNDS rounds, since the moment is short. In embedded mode
 * and daemon mode (the daemon's counters: fm_stats asks it).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helpers.h"

#ifdef FM_UNDER_SANITIZER
#define ROUNDS 40
#else
#define ROUNDS 300
#endif
#define FILE_PAGES 2048 /* 8 MiB: several windows a scan */

int main(void)
{
	each_mode();
	require_engine();
	char path[64];
	int fd = make_file(path, FILE_PAGES * PS, 7, O_RDONLY);
	unsigned short_rounds = 0;
	uint64_t worst = 0;
	for (int round = 0; round < ROUNDS; round++) {
		struct fm_stats before, after;
		drop_faultmap_cache(fd); /* what the round before read: read again */
		CHECK(fm_stats(&before) == 0);
		const volatile unsigned char *p =
			fm_mmap(NULL, FILE_PAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
		CHECK(p != MAP_FAILED);
		unsigned sum = 0;
		for (uint64_t i = 0; i < FILE_PAGES; i++)
			sum += p[i * PS + (i % PS)];
		(void)sum;
		CHECK(fm_stats(&after) == 0);
		uint64_t read = after.pages_read - before.pages_read;
		if (read < FILE_PAGES) {
			short_rounds++;
			if (FILE_PAGES - read > worst)
				worst = FILE_PAGES - read;
		}
		CHECK(fm_munmap((void *)p, FILE_PAGES * PS) == 0);
	}
	close(fd);
	unlink(path);
	if (short_rounds)
		fprintf(stderr, "%u rounds of %d counted fewer pages read than the scan read "
				"(up to %llu short of %d)\n",
			short_rounds, ROUNDS, (unsigned long long)worst, FILE_PAGES);
	CHECK_EQ(short_rounds, 0);
	return 0;
}
