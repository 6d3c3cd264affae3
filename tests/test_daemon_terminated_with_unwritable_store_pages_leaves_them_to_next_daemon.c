/*
 * Daemon mode: a daemon stopped by SIGTERM while an NBD export refuses
 * every write (nbdkit's error filter) copies the dirty pages of the
 * export's cache to a store rescue file, mapped or not (rescue_stop), and
 * the next daemon writes them to the export once it takes writes again.
 * The client that maps them cannot write them either (its own flush at
 * the daemon's death, and at its exit, fail too). Before, only files got
 * rescue files at a stop, and the pages were lost with the daemon.
 * (faultmap daemon --stop does the same, and says which pages are where:
 * test_daemon_stop_with_failing_writeback_leaves_rescue_and_exits.)
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
	nbdkit_map_dirty(&k, arg, NPAGES, 2, 5);
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
	daemon_gone();
	check_file_is(k.disk, old, NPAGES * PS); /* nobody could write them */
	char name[256];
	CHECK_EQ(rescue_files(RESCUE_STORE_PREFIX, NULL, name, sizeof(name)), 1);

	nbdkit_rescue_reaches_export(&k, want, NPAGES * PS);
	nbdkit_stop(&k);
	free(old);
	free(want);
	return 0;
}
