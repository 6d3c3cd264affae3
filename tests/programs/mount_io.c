/*
 * mount_io.c - what an unmodified program does with a file, printed so that
 * a run on a local copy under the kernel and a run on a store's object
 * under faultmap run --mount can be compared line by line (the tests
 * test_mount_*.sh).
 *
 *   mount_io FILE MISSING
 *
 * FILE: stat, open O_RDWR, fstat, lseek(SEEK_END); the whole file with
 * read() in odd-sized pieces, 200 preads, a shared mapping: a hash of
 * each; then writes through the mapping (msync MS_SYNC), pwrite and
 * write(); the file read again with read() and through a new mapping. Each
 * step prints one line. MISSING: open, stat and access, whose errno names
 * are printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mount_prog.h"

static const char *errname(int e)
{
	switch (e) {
	case 0: return "ok";
	case ENOENT: return "ENOENT";
	case ENOTDIR: return "ENOTDIR";
	case EACCES: return "EACCES";
	case EROFS: return "EROFS";
	case EEXIST: return "EEXIST";
	case EINVAL: return "EINVAL";
	default: return strerror(e);
	}
}

/* read_all - the file from offset 0 with read() in pieces of 12345
 * bytes: its hash. */
static uint64_t read_all(int fd, off_t size)
{
	static char buf[12345];
	if (lseek(fd, 0, SEEK_SET) != 0)
		die("lseek 0");
	uint64_t h = FNV0;
	off_t total = 0;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		h = fnv(h, buf, (size_t)n);
		total += n;
	}
	if (n < 0)
		die("read");
	if (total != size)
		printf("read %lld bytes of %lld\n", (long long)total, (long long)size);
	return h;
}

static uint64_t map_hash(int fd, off_t size)
{
	char *p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap PROT_READ");
	uint64_t h = fnv(FNV0, p, (size_t)size);
	munmap(p, (size_t)size);
	return h;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mount_io FILE MISSING\n");
		return 2;
	}
	const char *file = argv[1], *missing = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);

	struct stat st;
	if (stat(file, &st) < 0)
		die("stat");
	printf("stat: size %lld, regular %d\n", (long long)st.st_size, S_ISREG(st.st_mode));
	int fd = open(file, O_RDWR);
	if (fd < 0)
		die("open");
	if (fstat(fd, &st) < 0)
		die("fstat");
	off_t size = st.st_size;
	printf("fstat: size %lld, regular %d\n", (long long)size, S_ISREG(st.st_mode));
	printf("lseek SEEK_END: %lld\n", (long long)lseek(fd, 0, SEEK_END));
	if (size < 65536) {
		printf("file too small\n");
		return 1;
	}

	printf("read: %016llx\n", (unsigned long long)read_all(fd, size));

	uint64_t h = FNV0;
	unsigned seed = 12345;
	char buf[20000];
	for (int i = 0; i < 200; i++) {
		seed = seed * 1103515245 + 12345;
		off_t off = (off_t)(seed % (unsigned)size);
		size_t len = (seed >> 8) % sizeof(buf);
		ssize_t n = pread(fd, buf, len, off);
		if (n < 0)
			die("pread");
		h = fnv(h, buf, (size_t)n);
		h = fnv(h, &n, sizeof(n));
	}
	printf("pread: %016llx\n", (unsigned long long)h);
	printf("mmap: %016llx\n", (unsigned long long)map_hash(fd, size));

	/* Writes: through a shared mapping, then pwrite and write. */
	char *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap PROT_WRITE");
	for (int i = 0; i < 64; i++)
		p[((off_t)i * 7919 * 4096 + i * 13) % size] = (char)(i + 1);
	memset(p + size / 2, 'M', 10000);
	if (msync(p, (size_t)size, MS_SYNC) < 0)
		die("msync");
	munmap(p, (size_t)size);
	if (pwrite(fd, "hello", 5, size - 5) != 5)
		die("pwrite");
	memset(buf, 'W', 1000);
	if (lseek(fd, 4096, SEEK_SET) != 4096 || write(fd, buf, 1000) != 1000)
		die("write");
	printf("position after write: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
	printf("read after writes: %016llx\n", (unsigned long long)read_all(fd, size));
	printf("mmap after writes: %016llx\n", (unsigned long long)map_hash(fd, size));
	if (close(fd) < 0)
		die("close");

	errno = 0;
	int m = open(missing, O_RDONLY);
	printf("open missing: %s\n", errname(m < 0 ? errno : 0));
	errno = 0;
	printf("stat missing: %s\n", errname(stat(missing, &st) < 0 ? errno : 0));
	errno = 0;
	printf("access missing: %s\n", errname(access(missing, F_OK) < 0 ? errno : 0));
	return 0;
}
