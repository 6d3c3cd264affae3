/*
 * Daemon mode, RADOS: dirty pages of an object that no process maps any
 * more, because their write-back at the last unmap failed (the OSD's
 * osd_max_object_size lowered under them: EFBIG), are not lost when the
 * daemon is killed (SIGKILL): the daemon copied them to a store rescue
 * file with the object's version, and once the OSD takes them again, the
 * next daemon writes them to the object (read back with the rados tool)
 * and removes the rescue file. A copy of that rescue file, put back
 * once the rados tool wrote the same bytes again (the object's version
 * moves, as a timed-out write the OSD applied later moves it), is removed:
 * those pages reached the object (before, it was kept as changed); put
 * back once the tool wrote other bytes, it is kept and said changed.
 * Before, the pages died with the daemon.
 * Skipped where the single-node Ceph cluster cannot start.
 */
#include "ceph.h"
#include "helpers.h"
#include "store_tests.h"
#include "daemon/rescue.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 16
#define LIMIT "16384" /* osd_max_object_size while the write-back fails */

static struct ceph c;
static char url[256];

static void object_is(const unsigned char *bytes)
{
	size_t n = 0;
	unsigned char *got = ceph_get(&c, "rescued", &n);
	CHECK(got);
	CHECK_EQ(n, NPAGES * PS);
	size_t i = 0;
	while (i < n && got[i] == bytes[i])
		i++;
	if (i < n)
		fprintf(stderr, "the object differs at byte %zu (page %zu)\n", i, i / PS);
	CHECK(i == n);
	free(got);
}

static unsigned char *want;

/* put - another client (the rados tool) writes the object whole */
static void put(const unsigned char *bytes)
{
	ceph_put(&c, "rescued", bytes, NPAGES * PS);
}

/* the client: writes through a shared mapping; the pages past LIMIT are
 * refused at the last unmap */
static void client(void *arg)
{
	const unsigned char *bytes = arg;
	require_engine();
	struct fm_store *s = fm_store_open(url, O_RDWR);
	CHECK(s);
	unsigned char *p = fm_mmap_store(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, s,
					 0);
	CHECK(p != MAP_FAILED);
	for (int i = 1; i < NPAGES; i += 2)
		memcpy(p + (size_t)i * PS, bytes + (size_t)i * PS, PS);
	CHECK(fm_munmap(p, NPAGES * PS) == 0); /* its write-back fails: kept */
	CHECK(fm_store_close(s) == 0);
	exit(0);
}

int main(void)
{
	daemon_private(); /* this process never maps: its child does */
	ceph_start(&c);
	unsigned char *old = malloc(NPAGES * PS);
	want = malloc(NPAGES * PS);
	CHECK(old && want);
	fill_pattern(old, NPAGES * PS, 91);
	ceph_put(&c, "rescued", old, NPAGES * PS);
	memcpy(want, old, NPAGES * PS);
	for (int i = 1; i < NPAGES; i += 2) /* a pattern of their own */
		fill_pattern(want + (size_t)i * PS, PS, 9000 + (uint32_t)i);
	ceph_url(&c, "rescued", url, sizeof(url));

	CHECK_EQ(ceph_osd_config(&c, "osd_max_object_size", LIMIT), 0);
	char name[256];
	store_rescue_of_client(client, want, name, sizeof(name));
	unsigned char *half = malloc(NPAGES * PS); /* the pages under LIMIT went */
	CHECK(half);
	memcpy(half, want, NPAGES * PS);
	memcpy(half + 16384, old + 16384, NPAGES * PS - 16384);
	object_is(half);

	CHECK_EQ(ceph_osd_config(&c, "osd_max_object_size", "134217728"), 0);
	store_rescue_written_then_landed_or_kept(want, NPAGES * PS, put, object_is, name,
						 sizeof(name));
	ceph_stop(&c);
	free(half);
	free(old);
	free(want);
	return 0;
}
