/*
 * Eviction that races with faults on the pages it evicts must not lose the
 * tracking of later writes. Readers hammer a file through a private view
 * (whose fault-around maps cached pages without asking the engine) and a
 * shared view, while a writer stamps every page through the shared view,
 * round after round, in a cache a quarter of the file's size. Every stamp
 * must be read back, and be in the file at the end.
 *
 * Regression: a hole punch drops the uffd-wp marker of a view when a racing
 * fault maps the page in the middle of the punch; the page then came back
 * writable without write-protection, and writes to it were lost at its
 * next eviction.
 */
#include "helpers.h"

#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define PAGES 64
#define ROUNDS 300

static unsigned char *shared, *priv;
static _Atomic int done;

static void *reader(void *arg)
{
	uint64_t s = (uint64_t)(intptr_t)arg;
	unsigned sum = 0;
	while (!done) {
		size_t pg = rnd(&s) % PAGES;
		sum += priv[pg * PS + 100] + shared[pg * PS + 200];
	}
	return (void *)(uintptr_t)sum;
}

int main(void)
{
	CHECK(fm_set_budget(16 * PS) == 0);
	require_engine();
	char path[64];
	int fd = make_file(path, PAGES * PS, 101, O_RDWR);
	shared = fm_mmap(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	priv = fm_mmap(NULL, PAGES * PS, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK(shared != MAP_FAILED && priv != MAP_FAILED);
	pthread_t th[2];
	for (int t = 0; t < 2; t++)
		CHECK(pthread_create(&th[t], NULL, reader, (void *)(intptr_t)(t + 1)) == 0);
	for (int r = 1; r <= ROUNDS; r++) {
		for (size_t pg = 0; pg < PAGES; pg++)
			memcpy(shared + pg * PS, &r, sizeof(r));
		for (size_t pg = 0; pg < PAGES; pg++) {
			int got;
			memcpy(&got, shared + pg * PS, sizeof(got));
			if (got != r) {
				fprintf(stderr, "round %d page %zu reads %d\n", r, pg, got);
				exit(1);
			}
		}
	}
	done = 1;
	for (int t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	CHECK(fm_munmap(shared, PAGES * PS) == 0);
	CHECK(fm_munmap(priv, PAGES * PS) == 0);
	for (size_t pg = 0; pg < PAGES; pg++) {
		int got;
		CHECK(pread(fd, &got, sizeof(got), (off_t)(pg * PS)) == sizeof(got));
		CHECK_EQ(got, ROUNDS);
	}
	close(fd);
	unlink(path);
	return 0;
}
