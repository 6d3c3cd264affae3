/*
 * Embedded mode: a process that maps a RADOS object shared and writable,
 * leaves pages dirty (never msync'd, never unmapped) and ends with exit()
 * has them in the object, and exits with status 0: the engine's exit-time
 * write-back (exit_writeback, an atexit handler) reaches the object,
 * whether the engine started before the store was opened (librados,
 * loaded then, registers its C++ destructors after the engine's handler,
 * so they run first) or after (the store opened first). In daemon mode
 * the client's exit-time flush once crashed there (SIGSEGV in
 * rados_create after librados's destructors; ba51adc): this guards the
 * embedded path, which keeps its cluster handle connected (struct
 * rados_conn) and never creates one at exit. Each case in a child of its
 * own; checked with the rados tool, outside faultmap. Skipped where the
 * single-node Ceph cluster cannot start.
 */
#include "ceph.h"
#include "helpers.h"

#include <errno.h>
#include <faultmap.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 24

static struct ceph c;
static unsigned char want[NPAGES * PS];
static char url[256];

/* dirty_and_exit - map the object, dirty every third page from first,
 * exit. engine_first: start the engine before opening the store. */
static void dirty_and_exit(bool engine_first, size_t first)
{
	pin_embedded_mode("the embedded engine's exit-time write-back is the test");
	if (engine_first)
		require_engine();
	struct fm_store *s = fm_store_open(url, O_RDWR);
	CHECK(s);
	unsigned char *p = fm_mmap_store(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	if (p == MAP_FAILED && !engine_first) {
		fprintf(stderr, "skip: faultmap cannot start: %s\n", strerror(errno));
		exit(77);
	}
	CHECK(p != MAP_FAILED);
	for (size_t i = first; i < NPAGES; i += 3)
		memcpy(p + i * PS, want + i * PS, PS);
	if (engine_first)
		CHECK(fm_store_close(s) == 0); /* the mapping outlives the handle */
	exit(0);
}

static void run_case(bool engine_first, size_t first)
{
	for (size_t i = first; i < NPAGES; i += 3) /* whole pages of a pattern of their own */
		fill_pattern(want + i * PS, PS, 3000 + (uint32_t)(i + 100 * engine_first));
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		dirty_and_exit(engine_first, first);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		exit(77);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fprintf(stderr, "the %s case ended with status %#x\n",
			engine_first ? "engine-first" : "store-first", (unsigned)status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	size_t n = 0;
	unsigned char *got = ceph_get(&c, "exiting", &n);
	CHECK(got);
	CHECK_EQ(n, NPAGES * PS);
	for (size_t i = 0; i < NPAGES; i++)
		if (memcmp(got + i * PS, want + i * PS, PS)) {
			fprintf(stderr, "%s case: page %zu of the object is not what was written\n",
				engine_first ? "engine-first" : "store-first", i);
			CHECK(!"the exit-time write-back reached the object");
		}
	free(got);
}

int main(void)
{
	ceph_start(&c);
	fill_pattern(want, sizeof(want), 47);
	ceph_put(&c, "exiting", want, sizeof(want));
	ceph_url(&c, "exiting", url, sizeof(url));
	run_case(true, 1);
	run_case(false, 2);
	ceph_stop(&c);
	return 0;
}
