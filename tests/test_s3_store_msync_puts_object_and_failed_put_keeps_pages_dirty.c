/*
 * Writes to an S3 object (real radosgw) through a shared mapping reach the
 * object at fm_msync(MS_SYNC), as an independent GET then reads it, the
 * untouched bytes as they were; fm_store_pwrite writes through (past the
 * end, it grows the object: a PUT at the new size). A PUT that fails
 * keeps the pages dirty and reports: with the S3 user suspended, fm_msync fails with
 * EACCES and the object is unchanged; once the user is enabled again, the
 * next fm_msync puts the same writes. An object another writer replaced
 * is not overwritten: fm_msync fails with ESTALE (If-Match on the ETag the
 * store last saw), again at the next, and the other writer's bytes stay.
 * Both modes.
 */
#include "ceph.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 300 /* over 1 MiB: a write-back GETs the rest in two pieces at once */
#define TAIL 100

static struct ceph c;
static char path[96];

static void suspend(bool on)
{
	const char *args[] = {"user", on ? "suspend" : "enable", "--uid=fm", NULL};
	CHECK_EQ(ceph_rgw_admin(&c, args), 0);
}

int main(void)
{
	ceph_start_rgw(&c);
	each_mode();
	require_engine();
	ceph_s3_env(&c);
	suspend(false); /* as it must be, even if the other mode failed suspended */
	size_t size = PAGES * PS + TAIL;
	unsigned char *want = malloc(size + PS), *other = malloc(size + PS);
	CHECK(want && other);
	fill_pattern(want, size, 3);
	char bucket[32], url[128];
	snprintf(bucket, sizeof(bucket), "fm-write-%d", (int)getpid());
	CHECK_EQ(ceph_s3(&c, "PUT", bucket, NULL, 0, NULL, NULL), 200);
	snprintf(path, sizeof(path), "%s/db", bucket);
	CHECK_EQ(ceph_s3(&c, "PUT", path, want, size, NULL, NULL), 200);
	snprintf(url, sizeof(url), "s3://%s", path);
	struct fm_store *s = fm_store_open(url, O_RDWR);
	CHECK(s);
	const size_t len = (PAGES + 1) * PS;
	unsigned char *p = fm_mmap_store(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, want, size) == 0);

	/* through the mapping, then msync */
	memset(p + 3 * PS + 10, 'a', 100);
	memset(p + 20 * PS, 'b', PS);
	memset(p + PAGES * PS + 1, 'c', TAIL - 1); /* the last, partial page */
	memset(want + 3 * PS + 10, 'a', 100);
	memset(want + 20 * PS, 'b', PS);
	memset(want + PAGES * PS + 1, 'c', TAIL - 1);
	CHECK(fm_msync(p, len, MS_SYNC) == 0);
	ceph_s3_object_is(&c, path, want, size);

	/* fm_store_pwrite: through, and growing the object past its end */
	char msg[] = "across a page boundary";
	CHECK_EQ(fm_store_pwrite(s, msg, sizeof(msg), 5 * PS - 7), sizeof(msg));
	memcpy(want + 5 * PS - 7, msg, sizeof(msg));
	ceph_s3_object_is(&c, path, want, size);
	CHECK(memcmp(p + 5 * PS - 7, msg, sizeof(msg)) == 0);
	CHECK_EQ(fm_store_pwrite(s, msg, sizeof(msg), size - 5), sizeof(msg));
	memcpy(want + size - 5, msg, sizeof(msg));
	size += sizeof(msg) - 5;
	ceph_s3_object_is(&c, path, want, size);
	CHECK(memcmp(p + size - sizeof(msg), msg, sizeof(msg)) == 0);
	CHECK_EQ(fm_store_size(s), (int64_t)size);

	/* a PUT refused: the pages stay dirty until one succeeds */
	suspend(true);
	memset(p + 7 * PS, 'd', 50);
	errno = 0;
	CHECK(fm_msync(p, len, MS_SYNC) == -1);
	CHECK_EQ(errno, EACCES);
	suspend(false);
	ceph_s3_object_is(&c, path, want, size); /* not there */
	memset(want + 7 * PS, 'd', 50);
	CHECK(fm_msync(p, len, MS_SYNC) == 0);
	ceph_s3_object_is(&c, path, want, size);

	/* another writer's version is not overwritten */
	fill_pattern(other, size, 99);
	CHECK_EQ(ceph_s3(&c, "PUT", path, other, size, NULL, NULL), 200);
	memset(p + 9 * PS, 'e', 10);
	errno = 0;
	CHECK(fm_msync(p, len, MS_SYNC) == -1);
	CHECK_EQ(errno, ESTALE);
	ceph_s3_object_is(&c, path, other, size);
	errno = 0;
	CHECK(fm_msync(p, len, MS_SYNC) == -1); /* still dirty, still refused */
	CHECK_EQ(errno, ESTALE);
	CHECK(p[9 * PS] == 'e');
	ceph_s3_object_is(&c, path, other, size);

	CHECK(fm_munmap(p, len) == 0);
	CHECK(fm_store_close(s) == 0);
	free(want);
	free(other);
	ceph_stop(&c);
	printf("ok\n");
	return 0;
}
