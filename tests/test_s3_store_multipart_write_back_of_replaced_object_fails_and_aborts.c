/*
 * A multipart write-back (an object over 32 MiB; real radosgw) of an object
 * another writer replaced behind faultmap's back fails instead of mixing
 * two versions: the untouched parts are copied server-side only from the
 * version faultmap mapped (x-amz-copy-source-if-match), so fm_msync fails
 * with ESTALE, the object stays the other writer's byte for byte, the
 * upload is aborted (the bucket lists no open upload), and the pages stay
 * dirty: the next fm_msync fails the same way, and the mapping keeps the
 * writes. The dirty part is written whole, so no GET (which would fail
 * first, If-Match) precedes the copies: they are what refuses. Both modes.
 */
#include "ceph.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB (1024 * 1024)

static struct ceph c;
static char path[96], bucket[32];

int main(void)
{
	ceph_start_rgw(&c);
	each_mode();
	require_engine();
	ceph_s3_env(&c);
	const size_t size = 40 * MIB;
	unsigned char *mine = malloc(size), *other = malloc(size);
	CHECK(mine && other);
	fill_pattern(mine, size, 7);
	fill_pattern(other, size, 8);
	char url[128];
	snprintf(bucket, sizeof(bucket), "fm-mpx-%d", (int)getpid());
	CHECK_EQ(ceph_s3(&c, "PUT", bucket, NULL, 0, NULL, NULL), 200);
	snprintf(path, sizeof(path), "%s/big", bucket);
	CHECK_EQ(ceph_s3(&c, "PUT", path, mine, size, NULL, NULL), 200);
	snprintf(url, sizeof(url), "s3://%s", path);
	struct fm_store *s = fm_store_open(url, O_RDWR);
	CHECK(s);
	unsigned char *p = fm_mmap_store(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);

	memset(p + 16 * MIB, 'z', 8 * MIB); /* part 2, whole */
	CHECK_EQ(ceph_s3(&c, "PUT", path, other, size, NULL, NULL), 200);
	for (int i = 0; i < 2; i++) {
		errno = 0;
		CHECK(fm_msync(p, size, MS_SYNC) == -1);
		CHECK_EQ(errno, ESTALE);
		ceph_s3_object_is(&c, path, other, size);
		ceph_s3_no_open_uploads(&c, bucket);
	}
	for (size_t i = 16 * MIB; i < 24 * MIB; i += PS)
		CHECK(p[i] == 'z');

	CHECK(fm_munmap(p, size) == 0);
	fm_store_close(s); /* the pages still cannot be written */
	free(mine);
	free(other);
	ceph_stop(&c);
	printf("ok\n");
	return 0;
}
