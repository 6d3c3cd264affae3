/*
 * Daemon mode: when the daemon is killed (SIGKILL) while a client maps an
 * S3 object shared and writable, with dirty pages the daemon has not
 * written back, no write that reached the mapping is lost: the client
 * opens the store itself (the embedded store code, with the endpoint and
 * keys it sent the daemon) and PUTs the object once with every page its
 * views hold, once the watcher sees the daemon die and again at exit for
 * what it wrote since (store_daemon_killed). Checked with a GET (curl),
 * outside faultmap. Before, the client wrote files only, and the object
 * kept its old bytes. Skipped where radosgw cannot start.
 */
#include "ceph.h"
#include "helpers.h"
#include "store_tests.h"

#include <string.h>

#define NPAGES 24

static struct ceph c;
static char path[96]; /* bucket/key */

static bool object_has(const unsigned char *want, size_t size)
{
	unsigned char *got = NULL;
	size_t n = 0;
	bool same = ceph_s3(&c, "GET", path, NULL, 0, &got, &n) == 200 && n == size &&
		    !memcmp(got, want, n);
	free(got);
	return same;
}

int main(void)
{
	require_sigbus_delivery();
	ceph_start_rgw(&c);
	ceph_s3_env(&c);
	char bucket[64], url[128];
	snprintf(bucket, sizeof(bucket), "killed-%d", (int)getpid());
	CHECK_EQ(ceph_s3(&c, "PUT", bucket, NULL, 0, NULL, NULL), 200);
	snprintf(path, sizeof(path), "%s/obj", bucket);
	snprintf(url, sizeof(url), "s3://%s", path);
	unsigned char *want = malloc(NPAGES * PS);
	CHECK(want);
	fill_pattern(want, NPAGES * PS, 47);
	CHECK_EQ(ceph_s3(&c, "PUT", path, want, NPAGES * PS, NULL, NULL), 200);
	for (int i = 2; i < NPAGES; i += 4) /* whole pages of a pattern of their own */
		fill_pattern(want + (size_t)i * PS, PS, 3000 + (uint32_t)i);
	store_daemon_killed(url, want, NPAGES, 2, 4, object_has);
	ceph_s3_object_is(&c, path, want, NPAGES * PS);
	ceph_stop(&c);
	free(want);
	return 0;
}
