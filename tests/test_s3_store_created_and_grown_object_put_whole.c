/*
 * An S3 object (real radosgw) is created by fm_store_open with O_CREAT (an
 * empty object; O_CREAT|O_EXCL of one that exists is EEXIST, O_CREAT alone
 * opens it) and grows: fm_store_pwrite past the end makes the store that
 * long and PUTs the whole object at its new size, zeros between the old
 * end and the write, as a GET with curl shows byte for byte; a mapping
 * then reads and msyncs the grown object. A write far past the end (over
 * 32 MiB: a multipart upload, every part uploaded since none is in the
 * old object) gives the exact bytes too, and leaves no upload open. Both
 * modes.
 */
#include "ceph.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BIG (40UL << 20) /* over S3_MULTIPART_MIN */

int main(void)
{
	struct ceph c;
	char bucket[32], path[96], url[128];
	ceph_s3_start(&c, "fm-grow", bucket, sizeof(bucket));
	snprintf(path, sizeof(path), "%s/new", bucket);
	snprintf(url, sizeof(url), "s3://%s", path);

	/* created, empty; O_EXCL: EEXIST once it exists */
	errno = 0;
	CHECK(fm_store_open(url, O_RDWR) == NULL);
	CHECK_EQ(errno, ENOENT);
	struct fm_store *s = fm_store_open(url, O_RDWR | O_CREAT | O_EXCL);
	CHECK(s);
	CHECK_EQ(fm_store_size(s), 0);
	ceph_s3_object_is(&c, path, "", 0);
	errno = 0;
	CHECK(fm_store_open(url, O_RDWR | O_CREAT | O_EXCL) == NULL);
	CHECK_EQ(errno, EEXIST);
	struct fm_store *again = fm_store_open(url, O_RDWR | O_CREAT);
	CHECK(again);
	CHECK_EQ(fm_store_size(again), 0);
	CHECK(fm_store_close(again) == 0);

	/* grown by a write past the end: zeros before it */
	const size_t size = 2 * PS + 10 + 30;
	unsigned char *want = calloc(1, BIG + PS);
	CHECK(want);
	fill_pattern(want + 2 * PS + 10, 30, 5);
	CHECK_EQ(fm_store_pwrite(s, want + 2 * PS + 10, 30, 2 * PS + 10), 30);
	CHECK_EQ(fm_store_size(s), (int64_t)size);
	ceph_s3_object_is(&c, path, want, size);
	unsigned char back[64];
	CHECK_EQ(fm_store_pread(s, back, sizeof(back), 2 * PS), 40);
	CHECK(memcmp(back, want + 2 * PS, 40) == 0);

	/* a mapping of the grown object */
	unsigned char *p = fm_mmap_store(NULL, 3 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, want, size) == 0);
	memset(p + PS - 3, 'm', 6);
	memset(want + PS - 3, 'm', 6);
	CHECK(fm_msync(p, 3 * PS, MS_SYNC) == 0);
	ceph_s3_object_is(&c, path, want, size);
	CHECK(fm_munmap(p, 3 * PS) == 0);

	/* far past the end: a multipart upload of the new size */
	fill_pattern(want + BIG, 100, 9);
	CHECK_EQ(fm_store_pwrite(s, want + BIG, 100, BIG), 100);
	CHECK_EQ(fm_store_size(s), (int64_t)(BIG + 100));
	ceph_s3_object_is(&c, path, want, BIG + 100);
	ceph_s3_no_open_uploads(&c, bucket);

	CHECK(fm_store_close(s) == 0);
	free(want);
	ceph_stop(&c);
	printf("ok\n");
	return 0;
}
