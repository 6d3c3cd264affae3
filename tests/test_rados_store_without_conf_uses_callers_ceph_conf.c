/*
 * A rados:// URL without conf= finds its cluster with $CEPH_CONF as the
 * caller has it when it opens the store, a relative path from the
 * caller's directory: in daemon mode too, where the daemon that opens the
 * store was started before the variable was set, in another directory.
 * Before, the daemon looked with its own environment, which named
 * another cluster (one that never answers, here: ETIMEDOUT).
 */
#include "ceph.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static void reads_object(const char *url)
{
	struct fm_store *s = fm_store_open(url, O_RDONLY);
	if (!s) {
		fprintf(stderr, "%s with CEPH_CONF=%s: %s\n", url, getenv("CEPH_CONF"),
			strerror(errno));
		exit(1);
	}
	char buf[8] = {0};
	CHECK_EQ(fm_store_pread(s, buf, sizeof(buf), 0), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK(fm_store_close(s) == 0);
}

int main(void)
{
	struct ceph c;
	ceph_start(&c);
	/* The environment the daemon starts with names a cluster that never
	 * answers (its monitor's port is closed). */
	char dead[128];
	ceph_dead_conf(&c, dead, sizeof(dead));
	CHECK(setenv("CEPH_CONF", dead, 1) == 0);
	require_engine(); /* in daemon mode, the daemon runs from now on */
	ceph_put(&c, "plain", "hello", 5);
	char url[128];
	snprintf(url, sizeof(url), "rados://%s/plain", c.pool);
	CHECK(setenv("CEPH_CONF", c.conf, 1) == 0);
	reads_object(url);
	/* relative to this process's directory */
	char cwd[4096];
	CHECK(getcwd(cwd, sizeof(cwd)));
	CHECK(chdir(c.dir) == 0);
	CHECK(setenv("CEPH_CONF", c.conf + strlen(c.dir) + 1, 1) == 0);
	reads_object(url);
	CHECK(chdir(cwd) == 0);
	unsetenv("CEPH_CONF");
	unlink(dead);
	ceph_stop(&c);
	printf("ok\n");
	return 0;
}
