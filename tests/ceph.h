/* ceph.h - a real Ceph cluster for the RADOS store tests: one monitor and
 * one memstore OSD on 127.0.0.1 (scripts/ceph-dev.sh, no manager), started
 * by the test itself in a private temporary directory, stopped at
 * ceph_stop or when the test process ends in any way (a watcher of the
 * script's stops it when the test's process is gone). */
#ifndef FM_TEST_CEPH_H
#define FM_TEST_CEPH_H

#include <stddef.h>

struct ceph {
	char dir[64];	/* the cluster's private directory */
	char conf[96];	/* dir/ceph.conf */
	const char *pool; /* a pool made for the test: "fm" */
	int owner;	  /* the process that started it (stops it at exit) */
};

/*
 * ceph_start - start a cluster. Skips the test (exit 77, with the reason)
 * when Ceph is not installed or the cluster cannot start. Call before
 * faultmap starts.
 */
void ceph_start(struct ceph *c);
/*
 * ceph_start_rgw - ceph_start, with radosgw (S3) on 127.0.0.1 and an S3
 * user whose keys are in c->dir/s3.env (0600). Skips the test (77, with
 * the reason) when radosgw or curl is not installed or it cannot start.
 */
void ceph_start_rgw(struct ceph *c);
/* ceph_s3_env - put the S3 user's endpoint and keys into this process's
 * environment (FAULTMAP_S3_ENDPOINT, AWS_ACCESS_KEY_ID...). */
void ceph_s3_env(const struct ceph *c);
/*
 * ceph_s3 - one signed S3 request with the curl tool (not faultmap):
 * method ("PUT", "GET", "HEAD", "DELETE") on path ("bucket" or
 * "bucket/key"); the body is in[0..in_size) if in, the response's body
 * goes to a malloc'd *out (*out_size) if out. Return: the HTTP status.
 */
int ceph_s3(const struct ceph *c, const char *method, const char *path, const void *in,
	    size_t in_size, unsigned char **out, size_t *out_size);
/* ceph_s3_start - an S3 test's start: ceph_start_rgw, each_mode and
 * require_engine (the rest runs in each mode), ceph_s3_env, and a bucket
 * "PREFIX-PID" made with ceph_s3 (its name into bucket, size bytes). */
void ceph_s3_start(struct ceph *c, const char *prefix, char *bucket, size_t size);
/* ceph_s3_object_is - the object at path ("bucket/key"), read with a GET
 * (curl, not faultmap), is want[0..size) byte for byte; else the test
 * fails, naming the first byte that differs. */
void ceph_s3_object_is(const struct ceph *c, const char *path, const void *want, size_t size);
/* ceph_s3_no_open_uploads - the bucket lists no multipart upload (open:
 * neither completed nor aborted); else the test fails, showing the list. */
void ceph_s3_no_open_uploads(const struct ceph *c, const char *bucket);
/*
 * ceph_rgw_part_puts - the PUTs of multipart parts of path ("bucket/key")
 * that radosgw has logged (its access log, c->dir/log/client.rgw.x.log),
 * in the log's order: part[i] the part number, bytes[i] the bytes the log
 * gives (a part's body for UploadPart, the reply's XML, a few hundred
 * bytes, for UploadPartCopy); at most max. Return: how many it logged.
 */
size_t ceph_rgw_part_puts(const struct ceph *c, const char *path, int *part, long *bytes,
			  size_t max);
/* ceph_rgw_admin - run radosgw-admin with args (NULL-terminated) on the
 * cluster; its exit code. */
int ceph_rgw_admin(const struct ceph *c, const char *const args[]);
/* ceph_osd_config - set the OSD's option name to value, at once (ceph
 * tell osd.0 config set): e.g. osd_max_object_size, past which its writes
 * fail with EFBIG. Return: the command's exit code. */
int ceph_osd_config(const struct ceph *c, const char *name, const char *value);
/* ceph_stop - stop the cluster (ceph-dev.sh down) and remove its directory. */
void ceph_stop(struct ceph *c);
/* ceph_dead_conf - write c->dir/dead.conf, the conf of a cluster that
 * never answers (its monitor's port is closed; client mount timeout 2 s),
 * and put its path into path (size bytes). */
void ceph_dead_conf(const struct ceph *c, char *path, size_t size);
/* ceph_url - "rados://pool/oid?conf=..." into url (size bytes). */
void ceph_url(const struct ceph *c, const char *oid, char *url, size_t size);
/* ceph_get - the object's bytes, read with librados (the rados tool), not
 * through faultmap: malloc'd, *size set; NULL if it does not exist. */
unsigned char *ceph_get(const struct ceph *c, const char *oid, size_t *size);
/* ceph_put - write the object (whole) with librados (the rados tool). */
void ceph_put(const struct ceph *c, const char *oid, const void *buf, size_t size);

#endif
