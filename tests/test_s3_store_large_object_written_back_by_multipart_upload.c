/*
 * An S3 object over the single-PUT threshold (32 MiB; real radosgw), opened
 * O_RDWR and written through a shared mapping, reaches the object at
 * fm_msync(MS_SYNC) as a multipart upload: the 8 MiB parts the writes
 * touch are uploaded (one patched after a GET of its other bytes, one
 * written whole, the short last one), the untouched ranges between them
 * copied server-side (UploadPartCopy). An independent GET then reads the
 * object byte for byte as a local model of the writes says, and its ETag
 * names the parts: 6 (copy, upload, copy, upload, copy, upload), and
 * radosgw's access log shows each copy (a reply of a few hundred bytes)
 * and each upload (its body's bytes). A second
 * write-back, of other parts, copies from that multipart version (the
 * store now maps its ETag) in 4 parts, three grid parts copied as one and
 * the short tail copied last. No upload is left open. Both modes.
 */
#include "ceph.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB (1024 * 1024)
#define TAIL 3100 /* past the last 8 MiB part: the object ends in a short one */

static struct ceph c;
static char path[96], bucket[32];

/* parts_are - the object's ETag says it was made of n parts ("...-n"). */
static void parts_are(int n)
{
	unsigned char *hdr;
	size_t len;
	CHECK_EQ(ceph_s3(&c, "HEAD", path, NULL, 0, &hdr, &len), 200);
	char *text = malloc(len + 1), want[16];
	CHECK(text);
	memcpy(text, hdr, len);
	text[len] = '\0';
	snprintf(want, sizeof(want), "-%d\"", n);
	const char *etag = strcasestr(text, "\netag:");
	if (!etag || !strstr(etag, want) || strchr(etag, '\r') < strstr(etag, want)) {
		fprintf(stderr, "expected an ETag of %d parts in:\n%s\n", n, text);
		exit(1);
	}
	free(text);
	free(hdr);
}

/*
 * parts_sent - radosgw's access log shows the parts of the last write-back
 * (after the first `skip` logged) as want[] says, part i + 1 copied (0:
 * UploadPartCopy, logged with its reply's few hundred bytes) or uploaded
 * with want[i] bytes. radosgw logs from a thread of its own, so its lines
 * may come after the reply: they are awaited. Return: how many in all.
 */
static size_t parts_sent(size_t skip, const long *want, size_t n)
{
	int part[32];
	long bytes[32];
	size_t got = 0;
	for (int i = 0; i < 600 && (got = ceph_rgw_part_puts(&c, path, part, bytes, 32)) < skip + n; i++)
		usleep(100 * 1000);
	CHECK_EQ(got, skip + n);
	for (size_t i = skip; i < got; i++) {
		int k = part[i] - 1;
		CHECK(k >= 0 && (size_t)k < n);
		if (want[k] ? bytes[i] != want[k] : bytes[i] >= 1024) {
			fprintf(stderr, "part %d: %ld bytes logged, expected %s %ld\n", part[i],
				bytes[i], want[k] ? "an upload of" : "a copy (a reply of under 1024)",
				want[k]);
			exit(1);
		}
	}
	return got;
}

int main(void)
{
	ceph_start_rgw(&c);
	each_mode();
	require_engine();
	ceph_s3_env(&c);
	const size_t size = 40 * MIB + TAIL;
	unsigned char *want = malloc(size);
	CHECK(want);
	fill_pattern(want, size, 5);
	char url[128];
	snprintf(bucket, sizeof(bucket), "fm-mp-%d", (int)getpid());
	CHECK_EQ(ceph_s3(&c, "PUT", bucket, NULL, 0, NULL, NULL), 200);
	snprintf(path, sizeof(path), "%s/big", bucket);
	CHECK_EQ(ceph_s3(&c, "PUT", path, want, size, NULL, NULL), 200);
	snprintf(url, sizeof(url), "s3://%s", path);
	struct fm_store *s = fm_store_open(url, O_RDWR);
	CHECK(s);
	const size_t len = (size + PS - 1) / PS * PS;
	unsigned char *p = fm_mmap_store(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);

	/* part 1: a few bytes across a page boundary (the rest fetched);
	 * part 3: written whole; the short tail: its last bytes */
	const size_t at[] = {8 * MIB + 5 * PS - 20, 24 * MIB, size - 40};
	const size_t n[] = {50, 8 * MIB, 40};
	for (int i = 0; i < 3; i++) {
		memset(p + at[i], 'a' + i, n[i]);
		memset(want + at[i], 'a' + i, n[i]);
	}
	CHECK(fm_msync(p, len, MS_SYNC) == 0);
	ceph_s3_object_is(&c, path, want, size);
	parts_are(6);
	const long first[] = {0, 8 * MIB, 0, 8 * MIB, 0, TAIL};
	size_t logged = parts_sent(0, first, 6);
	ceph_s3_no_open_uploads(&c, bucket);
	CHECK(memcmp(p, want, size) == 0);

	/* again, from the multipart version: parts 0 and 4 */
	memset(p + 100, 'x', 10);
	memset(want + 100, 'x', 10);
	memset(p + 40 * MIB - 1, 'y', 1);
	memset(want + 40 * MIB - 1, 'y', 1);
	CHECK(fm_msync(p, len, MS_SYNC) == 0);
	ceph_s3_object_is(&c, path, want, size);
	parts_are(4);
	const long second[] = {8 * MIB, 0, 8 * MIB, 0};
	parts_sent(logged, second, 4);
	ceph_s3_no_open_uploads(&c, bucket);

	CHECK(fm_munmap(p, len) == 0);
	CHECK(fm_store_close(s) == 0);
	free(want);
	ceph_stop(&c);
	printf("ok\n");
	return 0;
}
