/*
 * Daemon mode: a daemon stopped by SIGTERM while an NBD export refuses
 * every write (nbdkit's error filter) copies the dirty pages of the
 * export's cache to a store rescue file, mapped or not (rescue_stop), and
 * the next daemon writes them to the export once it takes writes again.
 * The client that maps them cannot write them either (its own flush at
 * the daemon's death, and at its exit, fail too). Before, only files got
 * rescue files at a stop, and the pages were lost with the daemon.
 * (faultmap daemon --stop does not stop a daemon whose write-back fails:
 * it answers the error, and keeps the pages.)
 */
#include "helpers.h"
#include "nbdkit.h"
#include "daemon/rescue.h"

#include <signal.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 24

static struct nbdkit k;

/* the client: writes through a shared mapping, then stops the daemon
 * while the export refuses writes, the mapping still there */
static void client(void *arg)
{
	const unsigned char *want = arg;
	require_engine();
	struct fm_store *s = nbdkit_open_store(&k, O_RDWR);
	unsigned char *p = fm_mmap_store(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, s,
					 0);
	CHECK(p != MAP_FAILED);
	for (int i = 2; i < NPAGES; i += 5)
		memcpy(p + (size_t)i * PS, want + (size_t)i * PS, PS);
	/* The client's flush at the daemon's death (emergency_flush, on a
	 * thread of its watcher) reads these pages. What orders it after the
	 * writes is the daemon's death, in another process, which TSan cannot
	 * see (it reported a race here once in CI): a map call takes the
	 * client's map_lock, which emergency_flush takes before it starts
	 * that thread, and makes the order one TSan sees. */
	CHECK(fm_mprotect(p, NPAGES * PS, PROT_READ | PROT_WRITE) == 0);
	nbdkit_trigger(k.werr, 1);
	pid_t d = daemon_pid();
	CHECK(d > 0);
	CHECK(kill(d, SIGTERM) == 0);
	for (int t = 0; t < 1000 && daemon_pid() > 0; t++)
		usleep(10000);
	CHECK(daemon_pid() < 0);
	exit(0); /* its exit's flush fails too */
}

int main(void)
{
	daemon_private(); /* this process never maps: its child does */
	nbdkit_start(&k, NPAGES * PS, 83);
	unsigned char *old = malloc(NPAGES * PS), *want = malloc(NPAGES * PS);
	CHECK(old && want);
	fill_pattern(old, NPAGES * PS, 83);
	memcpy(want, old, NPAGES * PS);
	for (int i = 2; i < NPAGES; i += 5)
		fill_pattern(want + (size_t)i * PS, PS, 8000 + (uint32_t)i);

	int status = in_child(client, want);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		exit(77);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (int t = 0; t < 500 && daemon_pid() > 0; t++)
		usleep(10000);
	CHECK(daemon_pid() < 0);
	check_file_is(k.disk, old, NPAGES * PS); /* nobody could write them */
	char name[256];
	CHECK_EQ(rescue_files(RESCUE_STORE_PREFIX, NULL, name, sizeof(name)), 1);

	nbdkit_trigger(k.werr, 0);
	require_engine_in_child(); /* a new daemon: it writes them back first */
	check_file_is(k.disk, want, NPAGES * PS);
	CHECK_EQ(rescue_files(RESCUE_STORE_PREFIX, NULL, name, sizeof(name)), 0);
	nbdkit_stop(&k);
	free(old);
	free(want);
	return 0;
}
