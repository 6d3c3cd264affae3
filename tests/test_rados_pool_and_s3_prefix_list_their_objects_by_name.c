/*
 * store_list (faultmap run --mount's listing of a container's PATH; in
 * daemon mode FMD_STORE_LIST, client_store_list) names the objects
 * directly in a container, and "sub/" for the directory of names with a
 * '/': a RADOS pool's (rados_nobjects_list_*: "a", "b c" and "sub/" of
 * "sub/x"), an S3 bucket's under a prefix (ListObjectsV2 with delimiter
 * '/': "a&b" and "k1" of "pre/a&b" and "pre/k1", decoded from XML's
 * &amp;, and "sub/", a CommonPrefix of "pre/sub/y"; not "other") and a
 * whole bucket's ("other", "pre/"), each once. Errors: no such pool or
 * bucket ENOENT, a cluster that does not answer an error, a prefix without
 * its trailing '/' EINVAL, a store kind that has no container (nbd, file)
 * ENOTDIR. Both modes (each_mode).
 */
#include "ceph.h"
#include "helpers.h"
#include "client/client.h"
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct ceph c;

/* list - store_list of url, here or in the daemon. */
static int list(const char *url, struct store_names *out)
{
	return fm_client_mode() ? client_store_list(url, out) : store_list(url, out);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* expect - url lists the names want (NULL-terminated), in any order. */
static void expect(const char *url, const char *const want[])
{
	struct store_names got;
	CHECK_EQ(list(url, &got), 0);
	const char *names[16];
	size_t n = 0;
	for (size_t off = 0; off < got.len; off += strlen(got.buf + off) + 1) {
		CHECK(n < 16);
		names[n++] = got.buf + off;
	}
	qsort(names, n, sizeof(names[0]), by_name);
	size_t k = 0;
	while (want[k])
		k++;
	if (n != k)
		fprintf(stderr, "%s: %zu names, want %zu\n", url, n, k);
	CHECK_EQ(n, k);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], want[i]))
			fprintf(stderr, "%s: name %zu is '%s', want '%s'\n", url, i, names[i], want[i]);
		CHECK(!strcmp(names[i], want[i]));
	}
	free(got.buf);
}

static int list_err(const char *url)
{
	struct store_names got;
	int err = list(url, &got);
	CHECK(got.buf == NULL);
	return err;
}

int main(void)
{
	char bucket[64], url[512], dead[160];
	ceph_s3_start(&c, "fmlist", bucket, sizeof(bucket));
	ceph_put(&c, "a", "1", 1);
	ceph_put(&c, "b c", "22", 2);
	ceph_put(&c, "sub/x", "333", 3);
	snprintf(url, sizeof(url), "rados://%s?conf=%s", c.pool, c.conf);
	expect(url, (const char *const[]){"a", "b c", "sub/", NULL});
	snprintf(url, sizeof(url), "rados://%s/?conf=%s", c.pool, c.conf);
	expect(url, (const char *const[]){"a", "b c", "sub/", NULL});
	snprintf(url, sizeof(url), "rados://%s/sub/?conf=%s", c.pool, c.conf);
	expect(url, (const char *const[]){"x", NULL});
	snprintf(url, sizeof(url), "rados://no-such-pool?conf=%s", c.conf);
	CHECK_EQ(list_err(url), -ENOENT);
	ceph_dead_conf(&c, dead, sizeof(dead));
	snprintf(url, sizeof(url), "rados://%s?conf=%s", c.pool, dead);
	CHECK(list_err(url) < 0);

	const char *keys[] = {"pre/k1", "pre/a%26b", "pre/sub/y", "other"};
	for (size_t i = 0; i < 4; i++) {
		char path[128];
		snprintf(path, sizeof(path), "%s/%s", bucket, keys[i]);
		CHECK_EQ(ceph_s3(&c, "PUT", path, "x", 1, NULL, NULL), 200);
	}
	snprintf(url, sizeof(url), "s3://%s/pre/", bucket);
	expect(url, (const char *const[]){"a&b", "k1", "sub/", NULL});
	snprintf(url, sizeof(url), "s3://%s", bucket);
	expect(url, (const char *const[]){"other", "pre/", NULL});
	snprintf(url, sizeof(url), "s3://%s/empty/", bucket);
	expect(url, (const char *const[]){NULL});
	snprintf(url, sizeof(url), "s3://%s/pre", bucket);
	CHECK_EQ(list_err(url), -EINVAL);
	CHECK_EQ(list_err("s3://no-such-bucket-fm/"), -ENOENT);
	CHECK_EQ(list_err("nbd+unix:///?socket=/nowhere"), -ENOTDIR);
	CHECK_EQ(list_err("file:///tmp"), -ENOTDIR);
	ceph_stop(&c);
	return 0;
}
