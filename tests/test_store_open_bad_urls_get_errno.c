/*
 * fm_store_open refuses what it cannot open with the errno that says why,
 * and never crashes: an unknown scheme, bad flags, a missing file, a
 * directory, a socket nobody serves, a rados URL that is not one (a
 * cluster's errors: test_rados_store_open_errors_get_errno.c), an s3 URL
 * that is not one (a server's: test_s3_store_open_errors_get_errno.c); the calls
 * on a NULL handle give EBADF. A file:// store maps the file as fm_mmap does, and O_CREAT makes
 * the file mode 0600.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void refused(const char *url, int flags, int err)
{
	errno = 0;
	struct fm_store *s = fm_store_open(url, flags);
	if (s || errno != err) {
		fprintf(stderr, "%s flags %#x: %p errno %d (%s), expected errno %d\n",
			url ? url : "(null)", flags, (void *)s, errno, strerror(errno), err);
		exit(1);
	}
}

int main(void)
{
	require_engine();
	refused(NULL, O_RDONLY, EFAULT);
	refused("gopher://host/key", O_RDONLY, EPROTONOSUPPORT);
	refused("", O_RDONLY, EPROTONOSUPPORT);
	refused("file:///etc/hostname", O_WRONLY, EINVAL);
	refused("file:///etc/hostname", O_RDONLY | O_TRUNC, EINVAL);
	refused("file:///nonexistent/faultmap/x", O_RDONLY, ENOENT);
	refused("file:///tmp", O_RDONLY, ENODEV); /* as mmap of a directory */
	refused("file://host/tmp/x", O_RDONLY, EPROTONOSUPPORT);
	refused("nbd+unix:///?socket=/nonexistent/faultmap.sock", O_RDONLY, ENOENT);
	refused("nbd+unix:///?socket=/x", O_RDWR | O_CREAT, EINVAL);
	/* rados://pool/object[?conf=PATH]: what is not one is EINVAL, with
	 * librados or without */
	refused("rados://", O_RDONLY, EINVAL);
	refused("rados:/fm/obj", O_RDONLY, EINVAL);
	refused("rados://fm", O_RDONLY, EINVAL);
	refused("rados://fm/", O_RDONLY, EINVAL);
	refused("rados:///obj", O_RDONLY, EINVAL);
	refused("rados://fm?conf=/x/obj", O_RDONLY, EINVAL);
	refused("rados://fm/obj?", O_RDONLY, EINVAL);
	refused("rados://fm/obj?size=10", O_RDONLY, EINVAL);
	refused("rados://fm/obj?conf=/a&conf=/b", O_RDONLY, EINVAL);
	refused("rados://fm/obj?conf=", O_RDONLY, EINVAL);
	refused("rados://fm/o%zz", O_RDONLY, EINVAL);
	refused("rados://fm/o%2", O_RDONLY, EINVAL);
	refused("rados://fm/o%00x", O_RDONLY, EINVAL);
	refused("rados://fm/obj", O_WRONLY, EINVAL);
	/* s3://bucket/key[?endpoint=&region=&key_id=&secret=&token=] */
	unsetenv("FAULTMAP_S3_ENDPOINT");
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	refused("s3://bucket/key", O_RDONLY, EINVAL); /* no endpoint */
#define EP "endpoint=http://127.0.0.1:1"
	refused("s3://", O_RDONLY, EINVAL);
	refused("s3://bucket", O_RDONLY, EINVAL);
	refused("s3://bucket/", O_RDONLY, EINVAL);
	refused("s3:///key?" EP, O_RDONLY, EINVAL);
	refused("s3://bucket/key?", O_RDONLY, EINVAL);
	refused("s3://bucket/key?" EP "&size=10", O_RDONLY, EINVAL);
	refused("s3://bucket/key?" EP "&" EP, O_RDONLY, EINVAL);
	refused("s3://bucket/key?" EP "&key_id=x", O_RDONLY, EINVAL); /* no secret */
	refused("s3://bucket/k%zz?" EP, O_RDONLY, EINVAL);
	refused("s3://bucket/key?" EP, O_RDWR | O_CREAT, EIO); /* asked there */
	refused("s3://bucket/key?" EP, O_WRONLY, EINVAL);
	refused("s3://bucket/key?" EP, O_RDONLY, EIO); /* nothing listens */
	CHECK_EQ(fm_store_close(NULL), -1);
	CHECK_EQ(errno, EBADF);
	CHECK_EQ(fm_store_size(NULL), -EBADF);
	CHECK(fm_mmap_store(NULL, PS, PROT_READ, MAP_SHARED, NULL, 0) == MAP_FAILED);
	CHECK_EQ(errno, EBADF);
	char c;
	CHECK_EQ(fm_store_pread(NULL, &c, 1, 0), -1);
	CHECK_EQ(errno, EBADF);

	/* file://: a new file, 0600; written through a mapping and pwrite. */
	char path[64], url[80];
	snprintf(path, sizeof(path), "/var/tmp/fmstore.%d", (int)getpid());
	snprintf(url, sizeof(url), "file://%s", path);
	unlink(path);
	struct fm_store *s = fm_store_open(url, O_RDWR | O_CREAT);
	CHECK(s);
	struct stat st;
	CHECK(stat(path, &st) == 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(fm_store_pwrite(s, "hello", 5, 2 * PS - 2), 5); /* grows it */
	CHECK_EQ(fm_store_size(s), 2 * PS + 3);
	char *p = fm_mmap_store(NULL, 2 * PS + 3, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p + 2 * PS - 2, "hello", 5) == 0);
	CHECK_EQ(p[0], 0);
	p[0] = 'x';
	CHECK(fm_msync(p, PS, MS_SYNC) == 0);
	CHECK(fm_munmap(p, 2 * PS + 3) == 0);
	CHECK(fm_store_close(s) == 0);
	unsigned char want[2 * PS + 3];
	memset(want, 0, sizeof(want));
	want[0] = 'x';
	memcpy(want + 2 * PS - 2, "hello", 5);
	check_file_is(path, want, sizeof(want));
	CHECK(fm_mmap_store(NULL, PS, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, s = fm_store_open(url, O_RDONLY), 0) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
	fm_store_close(s);
	unlink(path);
	printf("ok\n");
	return 0;
}
