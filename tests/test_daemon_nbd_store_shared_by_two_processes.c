/*
 * Daemon mode: two separately exec'd processes open the same NBD export
 * (fm_store_open of one URL) and map it MAP_SHARED. The daemon opens the
 * store once and both are views of its one cache: a write by either is
 * seen by the other at once; fm_msync in one writes both processes' bytes
 * to the export (read back from nbdkit's file, outside faultmap), and
 * fm_store_pread in the worker reads the parent's unsynced writes. The
 * worker ends by _exit, its store neither unmapped nor closed: the daemon
 * releases it with the connection, and once the parent has closed its own
 * the daemon holds no stand-in of the store any more. Before, in daemon
 * mode fm_mmap_store of an NBD store failed with EOPNOTSUPP.
 */
#include "helpers.h"
#include "nbdkit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NPAGES 48
#define ROUNDS 200

static struct fm_store *worker_store;

/* the worker's store reads what its mapping read: the same cache */
static void check_pread(size_t off, unsigned char val)
{
	unsigned char c = 0;
	CHECK_EQ(fm_store_pread(worker_store, &c, 1, (off_t)off), 1);
	CHECK_EQ(c, val);
}

/* worker: checks each write the parent announces, through its mapping and
 * through fm_store_pread, and answers with one of its own; leaves by
 * _exit, its mapping and store still there. */
static int worker(const char *url, int in, int out)
{
	worker_store = fm_store_open(url, O_RDWR);
	CHECK(worker_store);
	CHECK_EQ(fm_store_size(worker_store), NPAGES * PS);
	volatile unsigned char *q = fm_mmap_store(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
						  MAP_SHARED, worker_store, 0);
	CHECK(q != MAP_FAILED);
	ping_pong_follow(q, NPAGES, in, out, check_pread);
}

/* standins - how many stand-ins of stores (memfds named by nbd.c's
 * standin) the daemon holds open. */
static int standins(pid_t daemon)
{
	char dir[64], path[320], target[256];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)daemon);
	DIR *d = opendir(dir);
	CHECK(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		ssize_t len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += strstr(target, "memfd:faultmap-store:") != NULL;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "worker"))
		return worker(argv[2], atoi(argv[3]), atoi(argv[4]));
	daemon_private();
	struct nbdkit k;
	nbdkit_start(&k, NPAGES * PS, 5);
	require_engine();
	struct fm_store *s = nbdkit_open_store(&k, O_RDWR);
	unsigned char *model = malloc(NPAGES * PS);
	CHECK(model);
	fill_pattern(model, NPAGES * PS, 5);
	volatile unsigned char *p = fm_mmap_store(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
						  MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp((void *)p, model, NPAGES * PS) == 0);
	int to[2], from[2];
	CHECK(pipe(to) == 0 && pipe(from) == 0);
	pid_t pid = exec_self(argv[0], "worker %s %d %d", k.url, to[0], from[1]);
	close(to[0]);
	close(from[1]);
	ping_pong_lead(p, model, NPAGES, ROUNDS, to[1], from[0]);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* One msync here writes the worker's bytes too: one cache. */
	CHECK(fm_msync((void *)p, NPAGES * PS, MS_SYNC) == 0);
	check_file_is(k.disk, model, NPAGES * PS);
	for (size_t i = 0; i < NPAGES * PS; i++)
		CHECK_EQ(p[i], model[i]);
	CHECK(fm_munmap((void *)p, NPAGES * PS) == 0);
	CHECK(fm_store_close(s) == 0);

	/* The worker's store went with its connection; the parent's with its
	 * close: no stand-in is left in the daemon. The worker's connection
	 * ends in the daemon's own time after its exit: wait for it (a
	 * bound only for the failure). */
	pid_t daemon = daemon_pid();
	CHECK(daemon > 0);
	int left = standins(daemon);
	for (int i = 0; left && i < 3000; i++) {
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
		left = standins(daemon);
	}
	CHECK_EQ(left, 0);
	check_file_is(k.disk, model, NPAGES * PS);
	free(model);
	nbdkit_stop(&k);
	printf("ok\n");
	return 0;
}
