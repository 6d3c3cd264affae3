/*
 * Writes made while another thread streams through the file (read ahead,
 * through a cache smaller than the file, so that reads of the file are in
 * flight nearly all the time) land, and every mapping shows them at once.
 * A write waits until no read of the file is in flight (no read may bring
 * back bytes from before it); the stream stops only once the writer is
 * done, so a writer that never got its turn would hang until the suite's
 * timeout. (queue_window also stops queueing windows of a file a write
 * waits for; without that rule this test still passed here, in 0.3 s.)
 */
#include "helpers.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#define NPAGES 8192 /* 32 MiB, in a 8 MiB cache */
#define NWRITES 200

static char path[64];
static pid_t owner;
static int fd;
static unsigned char *map;
static atomic_bool writer_done;
static atomic_uint passes;

static void remove_file(void)
{
	if (getpid() == owner && path[0])
		unlink(path);
}

static void *streamer(void *arg)
{
	(void)arg;
	unsigned sum = 0;
	while (!atomic_load(&writer_done)) {
		for (size_t i = 0; i < NPAGES && !atomic_load(&writer_done); i++)
			sum += map[i * PS];
		atomic_fetch_add(&passes, 1);
	}
	return (void *)(uintptr_t)sum;
}

int main(void)
{
	owner = getpid();
	atexit(remove_file);
	CHECK(fm_set_budget(8u << 20) == 0);
	require_engine();
	const size_t size = (size_t)NPAGES * PS;
	fd = make_file(path, size, 5, O_RDWR);
	map = fm_mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(map != MAP_FAILED);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, streamer, NULL) == 0);
	while (atomic_load(&passes) == 0) /* the stream is going */
		usleep(1000);

	unsigned char page[PS];
	uint64_t s = 99;
	for (int w = 0; w < NWRITES; w++) {
		size_t i = rnd(&s) % NPAGES;
		memset(page, w & 0xff, PS);
		memcpy(page, &w, sizeof(w));
		CHECK(fm_pwrite(fd, page, PS, (off_t)(i * PS)) == (ssize_t)PS);
		/* The mapping shows it at once (one cache). */
		CHECK(memcmp(map + i * PS, page, PS) == 0);
	}
	atomic_store(&writer_done, true);
	CHECK(pthread_join(t, NULL) == 0);
	struct fm_stats st;
	CHECK(fm_stats(&st) == 0);
	printf("%d writes during %u passes of the stream; %llu pages read ahead\n", NWRITES,
	       atomic_load(&passes), (unsigned long long)st.readahead_pages);
	CHECK(st.readahead_pages > 0);
	CHECK(fm_munmap(map, size) == 0);
	close(fd);
	return 0;
}
