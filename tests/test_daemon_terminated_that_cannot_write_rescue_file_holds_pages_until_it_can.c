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

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#define NPAGES 16

static struct nbdkit k;
static char dir[128];	/* the daemon's runtime directory */
static pid_t owner;	/* the test's process (not its client) */
static bool immutable;	/* dir was made immutable (else read-only) */
static unsigned char *want;

/* closed - make dir take no new file (closed), or take them again. */
static void closed(bool on)
{
	if (immutable || (on && set_immutable(dir, true) == 0)) {
		immutable = on;
		CHECK(on || set_immutable(dir, false) == 0);
		return;
	}
	CHECK(chmod(dir, on ? 0500 : 0700) == 0);
}

/* cleanup - an immutable directory would outlive the test. */
static void cleanup(void)
{
	if (getpid() == owner && immutable)
		closed(false);
}

/* the client: writes through a shared mapping of the export, which
 * refuses writes from then on; it says so, and keeps the mapping until
 * the daemon is gone */
static void client(void *arg, int out)
{
	(void)arg;
	nbdkit_map_dirty(&k, want, NPAGES, 0, 3);
	nbdkit_trigger(k.werr, 1);
	xwrite(out, "r", 1);
	for (int t = 0; t < 6000 && daemon_pid() > 0; t++)
		usleep(10000);
	exit(0);
}

int main(void)
{
	daemon_private(); /* this process never maps: its child does */
	owner = getpid();
	atexit(cleanup);
	snprintf(dir, sizeof(dir), "%s/faultmap", getenv("XDG_RUNTIME_DIR"));
	nbdkit_start(&k, NPAGES * PS, 53);
	unsigned char *old = malloc(NPAGES * PS);
	want = malloc(NPAGES * PS);
	CHECK(old && want);
	fill_pattern(old, NPAGES * PS, 53);
	memcpy(want, old, NPAGES * PS);
	for (int i = 0; i < NPAGES; i += 3)
		fill_pattern(want + (size_t)i * PS, PS, 5300 + (uint32_t)i);

	int in;
	pid_t pid = child_with_pipe(client, NULL, &in);
	child_ready(pid, in);
	pid_t daemon = daemon_pid();
	CHECK(daemon > 0);

	closed(true);
	CHECK(kill(daemon, SIGTERM) == 0);
	for (int t = 0; t < 500 && !daemon_log_says("not exiting, they stay in memory"); t++)
		usleep(10000);
	CHECK(daemon_log_says("not exiting, they stay in memory"));
	usleep(300000);
	CHECK_EQ(daemon_pid(), daemon); /* it holds them */
	char name[256];
	CHECK_EQ(rescue_files(RESCUE_PREFIX, NULL, name, sizeof(name)), 0);

	closed(false); /* its next try copies them, and it exits */
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
