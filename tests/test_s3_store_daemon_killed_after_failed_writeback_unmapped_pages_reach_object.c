/*
 * Daemon mode, S3 (real radosgw): dirty pages of an object that no process
 * maps any more, because their write-back failed (the S3 user suspended:
 * every PUT EACCES), are not lost when the daemon is killed (SIGKILL): the
 * daemon copied them to a store rescue file (0600) with the object's ETag
 * and the cache's size, which a fm_store_pwrite past the end had grown, and
 * once the user is enabled again, the next daemon PUTs them (the object
 * grown to that size, If-Match on that ETag) and removes the rescue file.
 * Neither the rescue file's name nor the daemon's log show the keys. A copy
 * of that rescue file, put back once curl PUT those bytes (an ETag the
 * rescue does not know, as a PUT of them whose answer was lost leaves), is
 * removed: they reached the object (before, it was kept as changed); put
 * back once curl PUT other bytes, it is kept and said changed. Before,
 * the pages died with the daemon.
 * Skipped where radosgw cannot start.
 */
#include "ceph.h"
#include "helpers.h"
#include "store_tests.h"
#include "daemon/rescue.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPAGES 12
#define SIZE (NPAGES * PS - 300)
static const char tail[] = "past the end, while the user is suspended";
#define GROWN (SIZE + 1000 + sizeof(tail))

static struct ceph c;
static char path[96], url[128];

static void suspend(bool on)
{
	const char *args[] = {"user", on ? "suspend" : "enable", "--uid=fm", NULL};
	CHECK_EQ(ceph_rgw_admin(&c, args), 0);
}

static unsigned char *want;

/* put, is - the object written whole, read, by another client (curl) */
static void put(const unsigned char *bytes)
{
	CHECK_EQ(ceph_s3(&c, "PUT", path, bytes, GROWN, NULL, NULL), 200);
}

static void is(const unsigned char *bytes)
{
	ceph_s3_object_is(&c, path, bytes, GROWN);
}

/* the client: writes through a shared mapping and past the end; the
 * PUTs are refused */
static void client(void *arg)
{
	const unsigned char *bytes = arg;
	require_engine();
	struct fm_store *s = fm_store_open(url, O_RDWR);
	CHECK(s);
	unsigned char *p = fm_mmap_store(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, bytes, PS) == 0); /* read before the user is suspended */
	suspend(true);
	for (int i = 1; i < NPAGES; i += 4)
		memcpy(p + (size_t)i * PS, bytes + (size_t)i * PS, PS);
	errno = 0;
	CHECK_EQ(fm_store_pwrite(s, tail, sizeof(tail), SIZE + 1000), -1);
	CHECK_EQ(errno, EACCES);
	CHECK(fm_munmap(p, SIZE) == 0); /* its write-back fails: kept */
	CHECK(fm_store_close(s) == 0);
	exit(0);
}

int main(void)
{
	daemon_private(); /* this process never maps: its child does */
	ceph_start_rgw(&c);
	ceph_s3_env(&c);
	suspend(false);
	unsigned char *old = calloc(1, GROWN);
	want = calloc(1, GROWN);
	CHECK(old && want);
	fill_pattern(old, SIZE, 37);
	memcpy(want, old, SIZE);
	for (int i = 1; i < NPAGES; i += 4) /* a pattern of their own */
		fill_pattern(want + (size_t)i * PS, PS, 3000 + (uint32_t)i);
	memcpy(want + SIZE + 1000, tail, sizeof(tail));
	char bucket[32];
	snprintf(bucket, sizeof(bucket), "fm-rescue-%d", (int)getpid());
	CHECK_EQ(ceph_s3(&c, "PUT", bucket, NULL, 0, NULL, NULL), 200);
	snprintf(path, sizeof(path), "%s/obj", bucket);
	CHECK_EQ(ceph_s3(&c, "PUT", path, old, SIZE, NULL, NULL), 200);
	snprintf(url, sizeof(url), "s3://%s", path);

	char name[256];
	store_rescue_of_client(client, want, name, sizeof(name));
	suspend(false);
	ceph_s3_object_is(&c, path, old, SIZE); /* the pages never reached it */

	char file[512];
	snprintf(file, sizeof(file), "%s/faultmap/%s", getenv("XDG_RUNTIME_DIR"), name);
	struct stat st;
	CHECK(stat(file, &st) == 0);
	CHECK_EQ(st.st_mode & 07777, 0600); /* the URL in it has the keys */
	store_rescue_written_then_landed_or_kept(want, GROWN, put, is, name, sizeof(name));
	const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
	CHECK(secret && *secret && !daemon_log_says(secret) && !strstr(name, secret));
	CHECK(daemon_log_says(url)); /* named so: s3://bucket/key */
	ceph_stop(&c);
	free(old);
	free(want);
	return 0;
}
