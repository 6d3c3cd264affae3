/*
 * Daemon mode: faultmap daemon --stop while a client maps an NBD export
 * that refuses every write (nbdkit's error filter), and the runtime
 * directory takes no rescue file either (made immutable as root, read-only
 * otherwise): the daemon cannot stop without losing the pages, so it does
 * not: --stop says so (the export, the error, that it goes on holding
 * them) and exits 1, the daemon runs on, and no rescue file is left. Once
 * the directory takes files again, --stop leaves the pages in a rescue
 * file and the daemon exits; once the export takes writes, the next daemon
 * writes them: every byte is there.
 */
#include "helpers.h"
#include "nbdkit.h"
#include "daemon/rescue.h"

#include <string.h>
#include <sys/wait.h>
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
	char out[8192], name[256];
	int rc = run_faultmap(out, sizeof(out), "daemon", "--stop", NULL);
	fprintf(stderr, "faultmap daemon --stop (exit %d) said:\n%s", rc, out);
	CHECK_EQ(rc, 1);
	CHECK(strstr(out, "could not be written back"));
	CHECK(strstr(out, "the daemon goes on, holding them in memory"));
	CHECK(strstr(out, k.url));
	usleep(200000);
	CHECK_EQ(daemon_pid(), daemon); /* it runs on */
	CHECK_EQ(rescue_files(RESCUE_PREFIX, NULL, name, sizeof(name)), 0);
	CHECK(daemon_log_says("not stopping, they stay in memory"));

	runtime_dir_closed(false);
	rc = run_faultmap(out, sizeof(out), "daemon", "--stop", NULL);
	fprintf(stderr, "faultmap daemon --stop (exit %d) said:\n%s", rc, out);
	CHECK_EQ(rc, 1);
	CHECK(strstr(out, "stopped"));
	daemon_gone();
	CHECK_EQ(rescue_files(RESCUE_STORE_PREFIX, NULL, name, sizeof(name)), 1);
	wait_within(pid, 90, "the client");
	check_file_is(k.disk, old, NPAGES * PS); /* nobody could write them */

	nbdkit_rescue_reaches_export(&k, want, NPAGES * PS);
	nbdkit_stop(&k);
	free(old);
	free(want);
	return 0;
}
