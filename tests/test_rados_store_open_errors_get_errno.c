/*
 * fm_store_open of a rados:// URL gives the errno that says why it cannot
 * open it, from a real single-node cluster: a conf file that does not
 * exist (ENOENT), a pool that does not exist (ENOENT), an object that does
 * not exist without O_CREAT (ENOENT), O_CREAT|O_EXCL of one that does
 * (EEXIST), a conf whose monitor never answers (ETIMEDOUT, after the conf's
 * client mount timeout). %XX escapes name an object with '/' and '?' in it.
 */
#include "ceph.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static void refused(const char *url, int flags, int err)
{
	errno = 0;
	struct fm_store *s = fm_store_open(url, flags);
	if (s || errno != err) {
		fprintf(stderr, "%s flags %#x: %p errno %d (%s), expected errno %d\n", url, flags,
			(void *)s, errno, strerror(errno), err);
		exit(1);
	}
}

int main(void)
{
	struct ceph c;
	ceph_start(&c);
	require_engine();
	char url[512];
	refused("rados://fm/obj?conf=/nonexistent/faultmap/ceph.conf", O_RDONLY, ENOENT);
	snprintf(url, sizeof(url), "rados://nopool/obj?conf=%s", c.conf);
	refused(url, O_RDONLY, ENOENT);
	refused(url, O_RDWR | O_CREAT, ENOENT);
	ceph_url(&c, "missing", url, sizeof(url));
	refused(url, O_RDONLY, ENOENT);
	refused(url, O_RDWR, ENOENT);
	ceph_put(&c, "there", "x", 1);
	ceph_url(&c, "there", url, sizeof(url));
	refused(url, O_RDWR | O_CREAT | O_EXCL, EEXIST);
	struct fm_store *s = fm_store_open(url, O_RDWR | O_CREAT); /* exists: fine */
	CHECK(s);
	CHECK_EQ(fm_store_size(s), 1);
	CHECK(fm_store_close(s) == 0);

	/* escapes: the object "a/b?c" */
	ceph_put(&c, "a/b?c", "abc", 3);
	ceph_url(&c, "a%2Fb%3fc", url, sizeof(url));
	s = fm_store_open(url, O_RDONLY);
	CHECK(s);
	char buf[4] = {0};
	CHECK_EQ(fm_store_pread(s, buf, sizeof(buf), 0), 3);
	CHECK(memcmp(buf, "abc", 3) == 0);
	CHECK(fm_store_close(s) == 0);

	/* a monitor that never answers: its port is closed */
	char conf[128];
	ceph_dead_conf(&c, conf, sizeof(conf));
	snprintf(url, sizeof(url), "rados://fm/obj?conf=%s", conf);
	refused(url, O_RDONLY, ETIMEDOUT);
	unlink(conf);
	ceph_stop(&c);
	printf("ok\n");
	return 0;
}
