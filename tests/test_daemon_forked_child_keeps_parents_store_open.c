/*
 * Daemon mode: a forked child has its parent's stores, as it has its
 * parent's file descriptors. The parent maps an NBD export, writes to it,
 * forks, then unmaps and closes the store (once the child has unmapped its
 * copy of the mapping); the child, afterwards, still reads the export
 * through the inherited handle (fm_store_pread sees the parent's write),
 * writes it (fm_store_pwrite: in the export on return, read back from
 * nbdkit's file), maps it again, opens a store of its own beside it, and
 * closes them. Before, the daemon knew a store only by its opener: the
 * parent's close ended the store, and the child's handle read nothing.
 */
#include "helpers.h"
#include "nbdkit.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 16

static void child(struct fm_store *s, unsigned char *p, int ready, int go, const struct nbdkit *k,
		  unsigned char *want)
{
	/* Its copy of the parent's mapping would keep the store's cache. */
	CHECK(fm_munmap(p, NPAGES * PS) == 0);
	CHECK(write(ready, "r", 1) == 1);
	char c;
	CHECK(read(go, &c, 1) == 1); /* the parent has closed its store */
	unsigned char back[PS];
	CHECK_EQ(fm_store_pread(s, back, PS, 3 * PS), PS);
	CHECK(memcmp(back, want + 3 * PS, PS) == 0);
	static const char msg[] = "from the forked child";
	CHECK_EQ(fm_store_pwrite(s, msg, sizeof(msg), 9 * PS - 4), sizeof(msg));
	memcpy(want + 9 * PS - 4, msg, sizeof(msg));
	check_file_is(k->disk, want, NPAGES * PS);
	/* a store of its own, beside the inherited one: the same cache */
	struct fm_store *t = fm_store_open(k->url, O_RDONLY);
	CHECK(t);
	CHECK_EQ(fm_store_pread(t, back, sizeof(msg), 9 * PS - 4), sizeof(msg));
	CHECK(memcmp(back, msg, sizeof(msg)) == 0);
	CHECK(fm_store_close(t) == 0);
	unsigned char *q = fm_mmap_store(NULL, NPAGES * PS, PROT_READ, MAP_SHARED, s, 0);
	CHECK(q != MAP_FAILED);
	CHECK(memcmp(q, want, NPAGES * PS) == 0);
	CHECK(fm_munmap(q, NPAGES * PS) == 0);
	CHECK(fm_store_close(s) == 0);
	_exit(0);
}

int main(void)
{
	require_threads_after_fork();
	daemon_private();
	struct nbdkit k;
	nbdkit_start(&k, NPAGES * PS, 21);
	require_engine();
	struct fm_store *s = nbdkit_open_store(&k, O_RDWR);
	unsigned char *want = malloc(NPAGES * PS);
	CHECK(want);
	fill_pattern(want, NPAGES * PS, 21);
	unsigned char *p = fm_mmap_store(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);
	memset(p + 3 * PS + 10, 0x5a, 100);
	memset(want + 3 * PS + 10, 0x5a, 100);
	CHECK(fm_msync(p, NPAGES * PS, MS_SYNC) == 0);
	int go[2], ready[2];
	CHECK(pipe(go) == 0 && pipe(ready) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		child(s, p, ready[1], go[0], &k, want);
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK(fm_munmap(p, NPAGES * PS) == 0);
	CHECK(fm_store_close(s) == 0);
	CHECK(write(go[1], "g", 1) == 1);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the child's write, seen from a new handle here */
	static const char msg[] = "from the forked child";
	memcpy(want + 9 * PS - 4, msg, sizeof(msg));
	s = fm_store_open(k.url, O_RDONLY);
	CHECK(s);
	unsigned char back[NPAGES * PS];
	CHECK_EQ(fm_store_pread(s, back, sizeof(back), 0), sizeof(back));
	CHECK(memcmp(back, want, sizeof(back)) == 0);
	CHECK(fm_store_close(s) == 0);
	free(want);
	nbdkit_stop(&k);
	printf("ok\n");
	return 0;
}
