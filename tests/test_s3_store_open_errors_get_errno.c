/*
 * fm_store_open of an s3:// URL gives the errno that says why it cannot
 * open it, from a real radosgw: an object or a bucket that does not exist
 * (ENOENT, HTTP 404), a wrong secret key or an unknown key id (EACCES,
 * HTTP 403), an endpoint where nothing listens (EIO), no endpoint at all,
 * a URL without a key (EINVAL), O_CREAT|O_EXCL of an object that exists
 * (EEXIST). With the right keys given in the
 * URL itself, the environment's wrong ones do not count. Both modes.
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
		fprintf(stderr, "%s flags %#x: %p errno %d (%s), expected errno %d (%s)\n", url,
			flags, (void *)s, errno, strerror(errno), err, strerror(err));
		exit(1);
	}
}

static void opens(const char *url)
{
	struct fm_store *s = fm_store_open(url, O_RDONLY);
	if (!s) {
		fprintf(stderr, "%s: %s\n", url, strerror(errno));
		exit(1);
	}
	char buf[8] = {0};
	CHECK_EQ(fm_store_pread(s, buf, sizeof(buf), 0), 3);
	CHECK(memcmp(buf, "abc", 3) == 0);
	CHECK(fm_store_close(s) == 0);
}

int main(void)
{
	struct ceph c;
	char bucket[32], path[64], url[512];
	ceph_s3_start(&c, "fm-err", bucket, sizeof(bucket));
	snprintf(path, sizeof(path), "%s/there", bucket);
	CHECK_EQ(ceph_s3(&c, "PUT", path, "abc", 3, NULL, NULL), 200);
	snprintf(url, sizeof(url), "s3://%s", path);
	opens(url);

	snprintf(url, sizeof(url), "s3://%s/missing", bucket);
	refused(url, O_RDONLY, ENOENT);
	refused(url, O_RDWR, ENOENT);
	refused("s3://fm-no-such-bucket/there", O_RDONLY, ENOENT);
	snprintf(url, sizeof(url), "s3://%s", path);
	refused(url, O_RDWR | O_CREAT | O_EXCL, EEXIST);
	snprintf(url, sizeof(url), "s3://%s", bucket);
	refused(url, O_RDONLY, EINVAL); /* no key */
	refused("s3:///there", O_RDONLY, EINVAL);

	/* wrong keys: 403 */
	char secret[160], key[160];
	snprintf(secret, sizeof(secret), "%s", getenv("AWS_SECRET_ACCESS_KEY"));
	snprintf(key, sizeof(key), "%s", getenv("AWS_ACCESS_KEY_ID"));
	CHECK(setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1) == 0);
	snprintf(url, sizeof(url), "s3://%s", path);
	refused(url, O_RDONLY, EACCES);
	/* the URL's keys come first */
	snprintf(url, sizeof(url), "s3://%s?key_id=%s&secret=%s", path, key, secret);
	opens(url);
	CHECK(setenv("AWS_SECRET_ACCESS_KEY", secret, 1) == 0);
	CHECK(setenv("AWS_ACCESS_KEY_ID", "FMNOSUCHKEY", 1) == 0);
	snprintf(url, sizeof(url), "s3://%s", path);
	refused(url, O_RDONLY, EACCES);
	CHECK(setenv("AWS_ACCESS_KEY_ID", key, 1) == 0);

	/* nothing listens there */
	char endpoint[160];
	snprintf(endpoint, sizeof(endpoint), "%s", getenv("FAULTMAP_S3_ENDPOINT"));
	CHECK(setenv("FAULTMAP_S3_ENDPOINT", "http://127.0.0.1:1", 1) == 0);
	refused(url, O_RDONLY, EIO);
	/* no endpoint at all */
	CHECK(unsetenv("FAULTMAP_S3_ENDPOINT") == 0);
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_ENDPOINT_URL");
	refused(url, O_RDONLY, EINVAL);
	/* the endpoint in the URL */
	snprintf(url, sizeof(url), "s3://%s?endpoint=%s", path, endpoint);
	opens(url);
	ceph_stop(&c);
	printf("ok\n");
	return 0;
}
