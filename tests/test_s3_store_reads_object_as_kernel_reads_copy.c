/*
 * An S3 object (real radosgw on a single-node Ceph cluster) mapped with
 * fm_mmap_store reads byte for byte what the kernel's mmap of a local copy
 * reads: the pages in any order, the zeros after the end in the last page,
 * a mapping at an offset, and SIGBUS for a page past the end, as the
 * kernel's. fm_store_pread reads what pread(2) of the copy reads (short at
 * the end, 0 past it). Once another writer replaced an object, a store
 * opened before reads ESTALE where it has nothing cached, and a new open
 * reads the new version (in daemon mode, not through the daemon's old
 * store of that URL). The store takes its endpoint and keys from the
 * environment of the process that opens it: in daemon mode too, whose
 * daemon was started before they were set. The keys are in neither the
 * mappings' names (the client's and the daemon's /proc/PID/maps) nor the
 * daemon's log. Both modes.
 */
#include "ceph.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 37
#define TAIL 123

static struct ceph c;

/* page_sigbus - whether a load of p[0] raises SIGBUS. */
static bool page_sigbus(const volatile unsigned char *p)
{
	int before = sigbus_count;
	if (sigsetjmp(sigbus_env, 1) == 0)
		(void)p[0];
	return sigbus_count != before;
}

/* file_lacks - fail if the file at path holds needle. */
static void file_lacks(const char *path, const char *needle)
{
	size_t n;
	unsigned char *text = slurp(path, &n);
	if (!text)
		return;
	CHECK(!memmem(text, n, needle, strlen(needle)));
	free(text);
}

int main(void)
{
	require_sigbus_delivery(); /* first: no cluster started for nothing */
	ceph_start_rgw(&c);
	each_mode();
	require_engine(); /* in daemon mode, the daemon runs from now on */
	ceph_s3_env(&c); /* set after the daemon started: the client's */
	const size_t size = PAGES * PS + TAIL;
	unsigned char *data = malloc(size);
	CHECK(data);
	fill_pattern(data, size, 12);
	char bucket[32], path[96], url[128];
	snprintf(bucket, sizeof(bucket), "fm-read-%d", (int)getpid());
	CHECK_EQ(ceph_s3(&c, "PUT", bucket, NULL, 0, NULL, NULL), 200);
	snprintf(path, sizeof(path), "%s/model/weights.bin", bucket);
	CHECK_EQ(ceph_s3(&c, "PUT", path, data, size, NULL, NULL), 200);

	char copy[64];
	int lfd = make_file(copy, 0, 0, O_RDWR);
	CHECK_EQ(pwrite(lfd, data, size, 0), (ssize_t)size);
	const size_t len = (PAGES + 2) * PS;
	unsigned char *k = mmap(NULL, len, PROT_READ, MAP_SHARED, lfd, 0);
	CHECK(k != MAP_FAILED);

	snprintf(url, sizeof(url), "s3://%s", path);
	struct fm_store *s = fm_store_open(url, O_RDONLY);
	if (!s) {
		fprintf(stderr, "fm_store_open %s: %s\n", url, strerror(errno));
		exit(1);
	}
	CHECK_EQ(fm_store_size(s), (int64_t)size);
	unsigned char *p = fm_mmap_store(NULL, len, PROT_READ, MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);
	/* backwards, page by page (each a miss of its own), then all */
	for (size_t i = PAGES + 1; i-- > 0;)
		if (memcmp(p + i * PS, k + i * PS, PS) != 0) {
			fprintf(stderr, "page %zu differs from the kernel's\n", i);
			exit(1);
		}
	CHECK(memcmp(p, k, (PAGES + 1) * PS) == 0);
	CHECK(memcmp(p, data, size) == 0);
	catch_sigbus();
	CHECK(page_sigbus(k + (PAGES + 1) * PS)); /* the kernel's */
	CHECK(page_sigbus(p + (PAGES + 1) * PS)); /* the same */
	CHECK(!page_sigbus(p + PAGES * PS));

	/* at an offset, private */
	unsigned char *q = fm_mmap_store(NULL, 4 * PS, PROT_READ, MAP_PRIVATE, s, 5 * PS);
	CHECK(q != MAP_FAILED);
	CHECK(memcmp(q, data + 5 * PS, 4 * PS) == 0);
	CHECK(fm_munmap(q, 4 * PS) == 0);

	/* fm_store_pread against pread of the copy */
	static const struct {
		size_t off, len;
	} reads[] = {{0, 100}, {PS - 10, 3 * PS}, {size - 50, 200}, {size, 10},
		     {size + PS, 10}, {0, PAGES * PS + TAIL}, {7 * PS + 1, 300 * 1024}};
	unsigned char *got = malloc(size + 400 * 1024), *want = malloc(size + 400 * 1024);
	CHECK(got && want);
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		ssize_t w = pread(lfd, want, reads[i].len, (off_t)reads[i].off);
		ssize_t g = fm_store_pread(s, got, reads[i].len, (off_t)reads[i].off);
		if (g != w || (w > 0 && memcmp(got, want, (size_t)w) != 0)) {
			fprintf(stderr, "fm_store_pread(%zu, %zu): %zd, pread: %zd\n", reads[i].len,
				reads[i].off, g, w);
			exit(1);
		}
	}

	/* Another writer replaces an object: a store opened before maps the
	 * old version (its size; a read of what it has not cached fails
	 * with ESTALE, not a mix of two versions); a new open maps the new
	 * one, in daemon mode too (not the daemon's store of the old). */
	const size_t vsize = 2 * PS + 7;
	unsigned char *next = malloc(vsize);
	CHECK(next);
	fill_pattern(next, vsize, 77);
	char vpath[96], vurl[128];
	snprintf(vpath, sizeof(vpath), "%s/v", bucket);
	snprintf(vurl, sizeof(vurl), "s3://%s", vpath);
	CHECK_EQ(ceph_s3(&c, "PUT", vpath, data, 4 * PS, NULL, NULL), 200);
	struct fm_store *old = fm_store_open(vurl, O_RDONLY);
	CHECK(old);
	CHECK_EQ(ceph_s3(&c, "PUT", vpath, next, vsize, NULL, NULL), 200);
	errno = 0;
	CHECK_EQ(fm_store_pread(old, got, PS, 0), -1);
	CHECK_EQ(errno, ESTALE);
	CHECK_EQ(fm_store_size(old), 4 * PS);
	struct fm_store *now = fm_store_open(vurl, O_RDONLY);
	CHECK(now);
	CHECK_EQ(fm_store_size(now), (int64_t)vsize);
	CHECK_EQ(fm_store_pread(now, got, 3 * PS, 0), (ssize_t)vsize);
	CHECK(memcmp(got, next, vsize) == 0);
	CHECK(fm_store_close(now) == 0);
	CHECK(fm_store_close(old) == 0);
	free(next);

	/* the keys are in no name, no log */
	const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
	file_lacks("/proc/self/maps", secret);
	char dpath[96];
	if (daemon_pid() > 0) {
		snprintf(dpath, sizeof(dpath), "/proc/%d/maps", (int)daemon_pid());
		file_lacks(dpath, secret);
		snprintf(dpath, sizeof(dpath), "%s/faultmap/daemon.log", getenv("XDG_RUNTIME_DIR"));
		file_lacks(dpath, secret);
	}

	CHECK(fm_munmap(p, len) == 0);
	CHECK(fm_store_close(s) == 0);
	munmap(k, len);
	close(lfd);
	unlink(copy);
	free(got);
	free(want);
	free(data);
	ceph_stop(&c);
	printf("ok\n");
	return 0;
}
