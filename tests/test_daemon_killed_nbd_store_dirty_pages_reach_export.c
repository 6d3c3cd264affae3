/*
 * Daemon mode: when the daemon is killed (SIGKILL) while a client maps an
 * NBD export shared and writable, with dirty pages the daemon has not
 * written back, no write that reached the mapping is lost: the client
 * opens the store itself (the embedded store code) and writes what its
 * views hold to the export, once the watcher sees the daemon die and again
 * at exit for what it wrote since (store_daemon_killed). Checked in the
 * export's file (nbdkit's file plugin), outside faultmap. Before, the
 * client wrote files only, and the export kept its old bytes.
 */
#include "helpers.h"
#include "nbdkit.h"
#include "store_tests.h"

#include <string.h>

#define NPAGES 96

static struct nbdkit k;

static bool export_has(const unsigned char *want, size_t size)
{
	size_t n;
	unsigned char *got = slurp(k.disk, &n);
	bool same = n == size && !memcmp(got, want, n);
	free(got);
	return same;
}

int main(void)
{
	require_sigbus_delivery();
	nbdkit_start(&k, NPAGES * PS, 41);
	unsigned char *want = malloc(NPAGES * PS);
	CHECK(want);
	fill_pattern(want, NPAGES * PS, 41);
	for (int i = 0; i < NPAGES; i += 5) /* whole pages of a pattern of their own */
		fill_pattern(want + (size_t)i * PS, PS, 1000 + (uint32_t)i);
	store_daemon_killed(k.url, want, NPAGES, 0, 5, export_has);
	check_file_is(k.disk, want, NPAGES * PS);
	nbdkit_stop(&k);
	free(want);
	return 0;
}
