/*
 * Daemon mode: a rescued NBD export's pages that a process maps again and
 * writes keep that process's bytes when the next daemon writes the rescue
 * file back. Client A writes pages 0, 3, 6...; the export refuses them at
 * its last unmap: the daemon copies them to a store rescue file. Then
 * client B maps the export and writes pages 0, 6, 12... (and page 1) over
 * A's; the daemon is SIGKILLed while the export still refuses writes.
 * Once it takes them, B writes what its views hold to the export itself
 * (its exit's flush), and a new daemon writes the rescue file back. The
 * export must then hold B's bytes on B's pages and A's on the rest of A's.
 * Before, the rescue file kept A's older bytes (an export has no version
 * to tell that it changed since the copy), and the next daemon wrote
 * them over B's: B's pages 0, 6, 12... were lost. Now a client that
 * writes a store's pages itself first gives its bytes to that store's
 * rescue files (rescue_follow_store), holding each locked until the
 * export has them; a daemon that starts waits for that lock before it
 * writes a rescue file back.
 */
#include "helpers.h"
#include "nbdkit.h"
#include "store_tests.h"
#include "daemon/rescue.h"

#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NPAGES 40
#define SIZE (NPAGES * PS - 1024) /* the last page: part of one */

static struct nbdkit k;
/* the export's first bytes, A's, B's, and what it must end with (here, not
 * on main's stack: the forked clients exit with them) */
static unsigned char *old, *a, *b, *want;

static size_t page_len(int i)
{
	return i == NPAGES - 1 ? SIZE - (size_t)i * PS : PS;
}

/* map_export - in a client: the export opened, *s, and mapped shared,
 * writable, whole. */
static unsigned char *map_export(struct fm_store **s)
{
	require_engine();
	*s = nbdkit_open_store(&k, O_RDWR);
	unsigned char *p = fm_mmap_store(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, *s, 0);
	CHECK(p != MAP_FAILED);
	return p;
}

/* client A: writes pages 0, 3, 6...; the export refuses them at the last
 * unmap and at the close: the daemon keeps them, in a rescue file */
static void client_a(void *arg)
{
	(void)arg;
	struct fm_store *s;
	unsigned char *p = map_export(&s);
	for (int i = 0; i < NPAGES; i += 3)
		memcpy(p + (size_t)i * PS, a + (size_t)i * PS, page_len(i));
	nbdkit_trigger(k.werr, 1);
	CHECK(fm_munmap(p, SIZE) == 0);
	CHECK(fm_store_close(s) == 0);
	exit(0);
}

/* client B: maps the export again, writes pages 0, 6, 12... and page 1,
 * says so on ready, and exits when go says (its exit's flush writes its
 * views to the export: the daemon is dead by then) */
static void client_b(int ready, int go)
{
	struct fm_store *s;
	unsigned char *p = map_export(&s);
	(void)s; /* kept open: the daemon dies first */
	for (int i = 0; i < NPAGES; i += 6)
		memcpy(p + (size_t)i * PS, b + (size_t)i * PS, page_len(i));
	memcpy(p + PS, b + PS, PS);
	/* orders the writes before the watcher's flush where TSan sees it
	 * (nbdkit_map_dirty says why) */
	CHECK(fm_mprotect(p, NPAGES * PS, PROT_READ | PROT_WRITE) == 0);
	CHECK(write(ready, "r", 1) == 1);
	char c;
	CHECK(read(go, &c, 1) == 1);
	exit(0);
}

int main(void)
{
	daemon_private();
	nbdkit_start(&k, SIZE, 71);
	old = malloc(NPAGES * PS), a = malloc(NPAGES * PS), b = malloc(NPAGES * PS),
	want = malloc(NPAGES * PS);
	CHECK(old && a && b && want);
	fill_pattern(old, SIZE, 71);
	fill_pattern(a, NPAGES * PS, 7001);
	fill_pattern(b, NPAGES * PS, 9002);
	memcpy(want, old, SIZE);
	for (int i = 0; i < NPAGES; i += 3)
		memcpy(want + (size_t)i * PS, (i % 6 ? a : b) + (size_t)i * PS, page_len(i));
	memcpy(want + PS, b + PS, PS);

	int status = in_child(client_a, NULL);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		exit(77);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char name[256];
	CHECK_EQ(rescue_files(RESCUE_STORE_PREFIX, NULL, name, sizeof(name)), 1);

	int ready[2], go[2];
	CHECK(pipe(ready) == 0 && pipe(go) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		client_b(ready[1], go[0]);
	}
	close(ready[1]);
	close(go[0]);
	char c;
	if (read(ready[0], &c, 1) != 1) { /* B skipped or failed */
		CHECK(waitpid(pid, &status, 0) == pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
			exit(77);
		CHECK(!"client B did not get to write");
	}
	daemon_kill(); /* the export still refuses: B's first flush fails */
	nbdkit_trigger(k.werr, 0);
	CHECK(write(go[1], "g", 1) == 1);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(ready[0]);
	close(go[1]);
	/* B's exit wrote what its view holds: A's pages and its own. */
	check_file_is(k.disk, want, SIZE);

	/* A daemon that starts waits while a client holds the rescue file
	 * (that client writes its bytes there, then to the export): here
	 * the test holds it, and writes page 3 of the export meanwhile. */
	char path[512];
	snprintf(path, sizeof(path), "%s/faultmap/%s", getenv("XDG_RUNTIME_DIR"), name);
	int held = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(held >= 0 && flock(held, LOCK_EX) == 0);
	int disk = open(k.disk, O_WRONLY | O_CLOEXEC);
	CHECK(disk >= 0 && pwrite(disk, b + 3 * PS, PS, 3 * PS) == PS && close(disk) == 0);
	fflush(NULL);
	pid_t starter = fork();
	CHECK(starter >= 0);
	if (starter == 0) {
		close(held); /* the lock is the open file's: not this child's */
		require_engine_in_child(); /* a new daemon, which writes it back */
		_exit(0);
	}
	struct timespec ts = {0, 300 * 1000 * 1000};
	nanosleep(&ts, NULL);
	unsigned char *now = malloc(NPAGES * PS);
	size_t size = 0;
	unsigned char *got = slurp(k.disk, &size);
	CHECK(now && got && size == SIZE);
	memcpy(now, want, SIZE);
	memcpy(now + 3 * PS, b + 3 * PS, PS);
	CHECK(memcmp(got, now, SIZE) == 0); /* not written back yet */
	free(got);
	free(now);
	close(held);
	CHECK(waitpid(starter, &status, 0) == starter);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* The new daemon wrote the rescue file back: B's bytes stay, and
	 * A's page 3, the rescue's, is there again. */
	check_file_is(k.disk, want, SIZE);
	CHECK_EQ(rescue_files(RESCUE_PREFIX, NULL, name, sizeof(name)), 0);
	CHECK(daemon_log_says("were written from the rescue file"));
	nbdkit_stop(&k);
	free(old);
	free(a);
	free(b);
	free(want);
	return 0;
}
