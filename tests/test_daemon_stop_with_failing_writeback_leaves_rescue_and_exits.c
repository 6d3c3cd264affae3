/*
 * Daemon mode: faultmap daemon --stop while a client maps an NBD export
 * that refuses every write (nbdkit's error filter) and a file that refuses
 * them too (made immutable: EPERM; as root only), their pages dirty, is a
 * stop that cannot lose data: the daemon tries the write-back, copies what
 * it cannot write to rescue files (0600), as at SIGTERM, and exits;
 * --stop names the export and the file and their rescue files, and exits
 * 1. Once both take writes again, the next daemon writes them back: every
 * byte is there. Before, --stop said the error and exited 1, and the
 * daemon went on with the pages (only SIGTERM made rescue files).
 */
#include "helpers.h"
#include "nbdkit.h"
#include "daemon/rescue.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 24

static struct nbdkit k;
static char path[64];	/* the file ("": not root, no file) */
static pid_t owner;	/* the test's process (not its client) */
static unsigned char *old, *want;

/* cleanup - an immutable file would outlive the test: never leave one. */
static void cleanup(void)
{
	if (getpid() == owner && *path && set_immutable(path, false) == 0)
		unlink(path);
}

/* the client: writes through shared mappings of the export and the file;
 * both refuse writes from then on; it says so, and keeps the mappings
 * until the daemon is gone (its own flushes then fail too) */
static void client(void *arg, int out)
{
	(void)arg;
	require_engine();
	if (*path) { /* mapped first: the export's fm_mprotect orders both */
		int fd = open(path, O_RDWR | O_CLOEXEC);
		CHECK(fd >= 0);
		unsigned char *q = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
					   0);
		CHECK(q != MAP_FAILED);
		close(fd);
		for (int i = 2; i < NPAGES; i += 3)
			memset(q + (size_t)i * PS + 7, 0xc0 + i, 300);
	}
	nbdkit_map_dirty(&k, want, NPAGES, 1, 4);
	nbdkit_trigger(k.werr, 1);
	if (*path)
		CHECK_EQ(set_immutable(path, true), 0);
	xwrite(out, "r", 1);
	for (int t = 0; t < 3000 && daemon_pid() > 0; t++)
		usleep(10000);
	exit(0); /* its exit's flush fails too */
}

int main(void)
{
	daemon_private(); /* this process never maps: its child does */
	owner = getpid();
	nbdkit_start(&k, NPAGES * PS, 47);
	old = malloc(NPAGES * PS);
	want = malloc(NPAGES * PS);
	unsigned char *file_old = malloc(NPAGES * PS), *file_want = malloc(NPAGES * PS);
	CHECK(old && want && file_old && file_want);
	fill_pattern(old, NPAGES * PS, 47);
	memcpy(want, old, NPAGES * PS);
	for (int i = 1; i < NPAGES; i += 4)
		fill_pattern(want + (size_t)i * PS, PS, 4700 + (uint32_t)i);
	close(make_file(path, NPAGES * PS, 48, O_RDWR));
	atexit(cleanup);
	if (set_immutable(path, true)) { /* not root: the export alone */
		fprintf(stderr, "note: the file cannot be made immutable (not root): the export "
				"alone\n");
		unlink(path);
		*path = '\0';
	} else {
		CHECK_EQ(set_immutable(path, false), 0);
	}
	fill_pattern(file_old, NPAGES * PS, 48);
	memcpy(file_want, file_old, NPAGES * PS);
	for (int i = 2; i < NPAGES; i += 3)
		memset(file_want + (size_t)i * PS + 7, 0xc0 + i, 300);

	int in;
	pid_t pid = child_with_pipe(client, NULL, &in);
	child_ready(pid, in);

	char out[8192];
	int rc = run_faultmap(out, sizeof(out), "daemon", "--stop", NULL);
	fprintf(stderr, "faultmap daemon --stop (exit %d) said:\n%s", rc, out);
	CHECK_EQ(rc, 1);
	daemon_gone();
	CHECK(strstr(out, "could not be written back"));
	CHECK(strstr(out, "stopped"));
	CHECK(strstr(out, k.url)); /* the export, by its name */
	CHECK(!*path || strstr(out, path));
	char name[256];
	int n = rescue_files(RESCUE_PREFIX, NULL, name, sizeof(name));
	CHECK_EQ(n, *path ? 2 : 1);
	CHECK_EQ(rescue_files(RESCUE_STORE_PREFIX, NULL, name, sizeof(name)), 1);
	CHECK(strstr(out, name)); /* and where its pages are */
	char file[512];
	snprintf(file, sizeof(file), "%s/faultmap/%s", getenv("XDG_RUNTIME_DIR"), name);
	struct stat st;
	CHECK(stat(file, &st) == 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	wait_within(pid, 60, "the client");
	check_file_is(k.disk, old, NPAGES * PS); /* nobody could write them */

	if (*path) {
		check_file_is(path, file_old, NPAGES * PS);
		CHECK_EQ(set_immutable(path, false), 0);
	}
	nbdkit_rescue_reaches_export(&k, want, NPAGES * PS);
	if (*path)
		check_file_is(path, file_want, NPAGES * PS);
	nbdkit_stop(&k);
	free(old);
	free(want);
	free(file_old);
	free(file_want);
	return 0;
}
