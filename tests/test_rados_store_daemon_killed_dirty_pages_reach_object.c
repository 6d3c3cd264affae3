/*
 * Daemon mode: when the daemon is killed (SIGKILL) while a client maps a
 * RADOS object shared and writable, with dirty pages the daemon has not
 * written back, no write that reached the mapping is lost: the client
 * opens the store itself (the embedded store code, librados loaded on a
 * thread with a big stack) and writes what its views hold to the object,
 * once the watcher sees the daemon die and again at exit for what it
 * wrote since (store_daemon_killed; at exit before librados's own
 * destructors, else rados_create crashed there). Checked with the rados
 * tool, outside faultmap. Before, the client wrote files only, and the
 * object kept its old bytes. Skipped where the single-node Ceph cluster
 * cannot start.
 */
#include "ceph.h"
#include "helpers.h"
#include "store_tests.h"

#include <string.h>

#define NPAGES 40

static struct ceph c;

static bool object_has(const unsigned char *want, size_t size)
{
	size_t n = 0;
	unsigned char *got = ceph_get(&c, "killed", &n);
	bool same = got && n == size && !memcmp(got, want, n);
	free(got);
	return same;
}

int main(void)
{
	require_sigbus_delivery();
	ceph_start(&c);
	unsigned char *want = malloc(NPAGES * PS);
	CHECK(want);
	fill_pattern(want, NPAGES * PS, 43);
	ceph_put(&c, "killed", want, NPAGES * PS);
	for (int i = 1; i < NPAGES; i += 3) /* whole pages of a pattern of their own */
		fill_pattern(want + (size_t)i * PS, PS, 2000 + (uint32_t)i);
	char url[256];
	ceph_url(&c, "killed", url, sizeof(url));
	store_daemon_killed(url, want, NPAGES, 1, 3, object_has);
	ceph_stop(&c);
	free(want);
	return 0;
}
