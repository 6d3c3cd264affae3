/*
 * RADOS stores of one cluster (one conf) opened by one process share one
 * librados connection: connecting starts a dozen librados threads, and
 * faultmap run --mount opens a store for every name a program looks up
 * (sqlite3 looks for db-journal and db-wal at each transaction). Counted
 * in this process's threads (/proc/self/status), so embedded mode: the
 * first store adds a connection's threads, 7 more stores of other objects
 * add fewer than one connection's; a failed open (no such object) adds
 * none either. Each store still reads its own object; once all are
 * closed the connection is shut down (its threads gone) and a new store
 * connects again and reads.
 */
#include "ceph.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#define STORES 8

static int threads(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	CHECK(f);
	char line[256];
	int n = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	CHECK(n > 0);
	return n;
}

int main(void)
{
	fm_set_mode(FM_MODE_EMBEDDED);
	static struct ceph c;
	ceph_start(&c);
	require_engine();
	char url[256], name[16], buf[16];
	for (int i = 0; i < STORES; i++) {
		snprintf(name, sizeof(name), "obj%d", i);
		ceph_put(&c, name, name, strlen(name));
	}
	struct fm_store *s[STORES];
	int before = threads();
	ceph_url(&c, "obj0", url, sizeof(url));
	CHECK((s[0] = fm_store_open(url, O_RDWR)));
	int one = threads() - before; /* one connection's threads */
	printf("one connection: %d threads\n", one);
	CHECK(one >= 2);
	for (int i = 1; i < STORES; i++) {
		snprintf(name, sizeof(name), "obj%d", i);
		ceph_url(&c, name, url, sizeof(url));
		CHECK((s[i] = fm_store_open(url, O_RDWR)));
	}
	ceph_url(&c, "missing", url, sizeof(url));
	errno = 0;
	CHECK(!fm_store_open(url, O_RDWR));
	CHECK_EQ(errno, ENOENT);
	int more = threads() - before - one;
	printf("%d more stores and a failed open: %d more threads\n", STORES - 1, more);
	CHECK(more < one);
	for (int i = 0; i < STORES; i++) {
		snprintf(name, sizeof(name), "obj%d", i);
		memset(buf, 0, sizeof(buf));
		CHECK_EQ(fm_store_pread(s[i], buf, sizeof(buf), 0), (ssize_t)strlen(name));
		CHECK(strcmp(buf, name) == 0);
	}
	for (int i = 0; i < STORES; i++)
		CHECK(fm_store_close(s[i]) == 0);
	int after = threads() - before;
	printf("all closed: %d threads more than before\n", after);
	CHECK(after < one);
	ceph_url(&c, "obj3", url, sizeof(url));
	CHECK((s[0] = fm_store_open(url, O_RDONLY)));
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(fm_store_pread(s[0], buf, sizeof(buf), 0), 4);
	CHECK(strcmp(buf, "obj3") == 0);
	CHECK(fm_store_close(s[0]) == 0);
	ceph_stop(&c);
	return 0;
}
