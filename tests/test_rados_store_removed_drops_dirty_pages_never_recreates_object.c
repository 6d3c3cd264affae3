/*
 * store_remove (faultmap run --mount's unlink; in daemon mode
 * FMD_STORE_REMOVE) of a RADOS store whose object is mapped shared, with a
 * dirty page: the object is gone from the pool (librados no longer finds
 * it), and what the mapping dirties, before and after, is dropped at
 * fm_msync and at fm_munmap, never written back, which would make the
 * object again. A second remove is ENOENT. A new store of the URL
 * (O_CREAT) is a new, empty object, not the removed store shared again
 * (in daemon mode, store_open_shared), and the old mapping's writes never
 * land in it. In the mode the process runs in (both: FAULTMAP_MODE).
 */
#include "ceph.h"
#include "helpers.h"
#include "client/client.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

#define PAGES 4

static struct ceph c;

/* remove_object - store_remove of s, here or in the daemon. */
static int remove_object(struct fm_store *s)
{
	return fm_client_mode() ? client_store_remove(s) : store_remove(s);
}

static void check_gone(const char *why)
{
	size_t n;
	unsigned char *got = ceph_get(&c, "obj", &n);
	if (got) {
		fprintf(stderr, "%s: the object is in the pool (%zu bytes, \"%.8s\")\n", why, n,
			(const char *)got);
		exit(1);
	}
}

int main(void)
{
	ceph_start(&c);
	require_engine();
	unsigned char *want = malloc(PAGES * PS);
	CHECK(want);
	fill_pattern(want, PAGES * PS, 3);
	ceph_put(&c, "obj", want, PAGES * PS);
	char url[256];
	ceph_url(&c, "obj", url, sizeof(url));
	struct fm_store *s = fm_store_open(url, O_RDWR);
	CHECK(s);
	unsigned char *p = fm_mmap_store(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, want, PAGES * PS) == 0);
	memcpy(p, "dirty before", 12); /* a dirty page at the removal */

	CHECK_EQ(remove_object(s), 0);
	check_gone("after the removal");
	memcpy(p + PS, "dirty after", 11);
	CHECK_EQ(fm_msync(p, PAGES * PS, MS_SYNC), 0);
	check_gone("after msync");
	CHECK_EQ(remove_object(s), -ENOENT);

	/* The name again: a new object, empty, of a new store. */
	struct fm_store *n = fm_store_open(url, O_RDWR | O_CREAT);
	CHECK(n);
	CHECK(n != s);
	CHECK_EQ(fm_store_size(n), 0);
	CHECK_EQ(fm_store_pwrite(n, "new", 3, 0), 3);
	memcpy(p + 2 * PS, "dirty later", 11);
	CHECK_EQ(fm_msync(p, PAGES * PS, MS_SYNC), 0);
	memcpy(p + 3 * PS, "dirty at unmap", 14);
	CHECK(fm_munmap(p, PAGES * PS) == 0);
	CHECK(fm_store_close(s) == 0);
	size_t size;
	unsigned char *got = ceph_get(&c, "obj", &size);
	CHECK(got);
	CHECK_EQ(size, 3);
	CHECK(memcmp(got, "new", 3) == 0);
	free(got);
	CHECK(fm_store_close(n) == 0);
	free(want);
	ceph_stop(&c);
	printf("ok: a removed store's dirty pages dropped, the object not made again (%s mode)\n",
	       fm_client_mode() ? "daemon" : "embedded");
	return 0;
}
