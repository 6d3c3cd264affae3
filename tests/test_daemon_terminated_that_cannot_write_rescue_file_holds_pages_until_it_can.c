/*
 * Daemon mode: SIGTERM while a client maps an NBD export that refuses
 * every write (nbdkit's error filter), and the runtime directory takes no
 * rescue file either (made immutable as root, read-only otherwise): the
 * daemon cannot exit without losing the pages, so it does not. It says so
 * in its log, takes no new client (its socket is gone), and tries again
 * every second; once the directory takes files, it leaves the pages in a
 * rescue file and exits; once the export takes writes, the next daemon
 * writes them: every byte is there. Before, a daemon told to stop exited
 * whether or not its rescue files could be written, and the pages were
 * lost (the log said so).
 */
#include "helpers.h"
#include "nbdkit.h"
#include "daemon/rescue.h"

#include <string.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#define NPAGES 16

static struct nbdkit k;

int main(void)
{
	daemon_private(); /* this process never maps: its child does */
	unsigned char *old, *want;
	pid_t pid = nbdkit_stuck_client(&k, NPAGES, 53, &old, &want);
	pid_t daemon = daemon_pid();
	CHECK(daemon > 0);

	runtime_dir_closed(true);
	CHECK(kill(daemon, SIGTERM) == 0);
	for (int t = 0; t < 500 && !daemon_log_says("not exiting, they stay in memory"); t++)
		usleep(10000);
	CHECK(daemon_log_says("not exiting, they stay in memory"));
	usleep(300000);
	CHECK_EQ(daemon_pid(), daemon); /* it holds them */
	char name[256];
	CHECK_EQ(rescue_files(RESCUE_PREFIX, NULL, name, sizeof(name)), 0);

	runtime_dir_closed(false); /* its next try copies them, and it exits */
	daemon_gone();
	CHECK(daemon_log_says("the dirty pages it held are in rescue files: exiting"));
	CHECK_EQ(rescue_files(RESCUE_STORE_PREFIX, NULL, name, sizeof(name)), 1);
	wait_within(pid, 90, "the client");
	check_file_is(k.disk, old, NPAGES * PS); /* nobody could write them */

	nbdkit_rescue_reaches_export(&k, want, NPAGES * PS);
	nbdkit_stop(&k);
	free(old);
	free(want);
	return 0;
}
