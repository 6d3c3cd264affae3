/*
 * put_many.c WHERE N - make N files o0000, o0001... where file i holds
 * (i * 37) % 3001 bytes ('a' + i % 26, then its number): in the local
 * directory WHERE, or, for WHERE rados://POOL, as objects of that Ceph
 * pool (librados, CEPH_CONF), all from one process, so that a test makes
 * a thousand objects in a second rather than a rados command each.
 */
#include <errno.h>
#include <fcntl.h>
#include <rados/librados.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t content(int i, char *buf)
{
	size_t n = (size_t)(i * 37) % 3001;
	memset(buf, 'a' + i % 26, n);
	char num[16];
	int k = snprintf(num, sizeof(num), "%d", i);
	if (n >= (size_t)k)
		memcpy(buf + n - k, num, (size_t)k);
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: put_many DIR|rados://POOL N\n");
		return 2;
	}
	int n = atoi(argv[2]);
	static char buf[4096];
	rados_t cluster = NULL;
	rados_ioctx_t io = NULL;
	if (!strncmp(argv[1], "rados://", 8)) {
		int err = rados_create(&cluster, NULL);
		if (!err)
			err = rados_conf_read_file(cluster, NULL);
		if (!err)
			err = rados_connect(cluster);
		if (!err)
			err = rados_ioctx_create(cluster, argv[1] + 8, &io);
		if (err) {
			fprintf(stderr, "put_many: %s: %s\n", argv[1], strerror(-err));
			return 1;
		}
	}
	for (int i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "o%04d", i);
		size_t len = content(i, buf);
		if (io) {
			int err = rados_write_full(io, name, buf, len);
			if (err) {
				fprintf(stderr, "put_many: %s: %s\n", name, strerror(-err));
				return 1;
			}
			continue;
		}
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", argv[1], name);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd) < 0) {
			perror(path);
			return 1;
		}
	}
	if (io) {
		rados_ioctx_destroy(io);
		rados_shutdown(cluster);
	}
	return 0;
}
