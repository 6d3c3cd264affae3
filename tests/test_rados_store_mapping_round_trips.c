/*
 * A mapping of a RADOS object (a real single-node cluster, memstore OSD)
 * reads the object's bytes, and its writes reach the object at
 * fm_msync(MS_SYNC), as librados (the rados tool) then reads it;
 * fm_store_pwrite and fm_store_pread go through the same cache, and a
 * write past the end grows the object as it grows a file; a new store of
 * the same URL reads what the first wrote. A read-only store refuses a
 * shared writable mapping (EACCES) and fm_store_pwrite (EBADF). O_CREAT
 * makes a new, empty object; O_CREAT|O_EXCL of one that exists is EEXIST.
 */
#include "ceph.h"
#include "helpers.h"
#include "store_tests.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#define PAGES 64

static void check_object_is(const struct ceph *c, const char *oid, const unsigned char *want,
			    size_t size)
{
	size_t n;
	unsigned char *got = ceph_get(c, oid, &n);
	CHECK(got);
	CHECK_EQ(n, size);
	for (size_t i = 0; i < size; i++)
		if (got[i] != want[i]) {
			fprintf(stderr, "object %s: byte %zu is %#x, expected %#x\n", oid, i,
				got[i], want[i]);
			exit(1);
		}
	free(got);
}

static struct ceph c;

static void check_obj(const unsigned char *want, size_t size)
{
	check_object_is(&c, "obj", want, size);
}

int main(void)
{
	ceph_start(&c);
	require_engine();
	unsigned char *want = malloc(PAGES * PS + PS);
	CHECK(want);
	fill_pattern(want, PAGES * PS, 7);
	ceph_put(&c, "obj", want, PAGES * PS);
	char url[256];
	ceph_url(&c, "obj", url, sizeof(url));
	struct fm_store *s = fm_store_open(url, O_RDWR);
	CHECK(s);
	CHECK_EQ(fm_store_size(s), PAGES * PS);

	unsigned char *p = store_round_trip(s, want, PAGES, check_obj);
	char msg[] = "written by fm_store_pwrite across a page boundary";
	/* past the end: the object grows, as a file */
	CHECK_EQ(fm_store_pwrite(s, msg, sizeof(msg), PAGES * PS - 10), sizeof(msg));
	memcpy(want + PAGES * PS - 10, msg, sizeof(msg));
	const size_t grown = PAGES * PS - 10 + sizeof(msg);
	CHECK_EQ(fm_store_size(s), grown);
	check_object_is(&c, "obj", want, grown);

	CHECK(fm_munmap(p, PAGES * PS) == 0);
	CHECK(fm_store_close(s) == 0);
	check_object_is(&c, "obj", want, grown);

	/* A new store of the URL reads it all back, through a new cache. */
	store_read_only(url, want, grown);

	/* O_CREAT: a new object, empty; O_EXCL refuses one that exists. */
	errno = 0;
	CHECK(!fm_store_open(url, O_RDWR | O_CREAT | O_EXCL));
	CHECK_EQ(errno, EEXIST);
	ceph_url(&c, "new", url, sizeof(url));
	errno = 0;
	CHECK(!fm_store_open(url, O_RDWR));
	CHECK_EQ(errno, ENOENT);
	s = fm_store_open(url, O_RDWR | O_CREAT | O_EXCL);
	CHECK(s);
	CHECK_EQ(fm_store_size(s), 0);
	CHECK_EQ(fm_store_pwrite(s, msg, sizeof(msg), 2 * PS), sizeof(msg));
	CHECK(fm_store_close(s) == 0);
	memset(want, 0, 2 * PS);
	memcpy(want + 2 * PS, msg, sizeof(msg));
	check_object_is(&c, "new", want, 2 * PS + sizeof(msg));
	free(want);
	ceph_stop(&c);
	printf("ok\n");
	return 0;
}
