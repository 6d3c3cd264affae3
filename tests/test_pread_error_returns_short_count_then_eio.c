/*
 * fm_pread and fm_read of a cached file across a page that cannot be read
 * return the bytes before that page (a short count), and EIO when they
 * start at it, as the kernel's pread and read do; the page is not cached,
 * so it reads right once the device is healed.
 *
 * Real I/O errors: a file on ext4 on a loop device, whose blocks from file
 * page BAD on are cut off the device. Each call is made under the kernel
 * first, and faultmap must give the same result.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BAD 64
#define NPAGES (BAD + 16)
#define SIZE (NPAGES * PS)

struct result {
	ssize_t ret;
	int err;
	off_t pos; /* the file offset after the call */
};

/* call - pread (or read from off, when !positional) len bytes at off of
 * fd into buf, under the kernel or faultmap. */
static struct result call(bool fm, bool positional, int fd, void *buf, size_t len, off_t off)
{
	struct result r;
	CHECK(lseek(fd, positional ? 0 : off, SEEK_SET) >= 0);
	errno = 0;
	if (positional)
		r.ret = fm ? fm_pread(fd, buf, len, off) : pread(fd, buf, len, off);
	else
		r.ret = fm ? fm_read(fd, buf, len) : read(fd, buf, len);
	r.err = r.ret < 0 ? errno : 0;
	r.pos = lseek(fd, 0, SEEK_CUR);
	return r;
}

int main(void)
{
	static struct loopfs fs;
	loopfs_create(&fs, 32 << 20); /* first: it forks */
	require_engine();
	char path[128];
	int fd = loopfs_file_failing_from(&fs, path, SIZE, 89, BAD);
	unsigned char *want = malloc(SIZE), *buf = malloc(SIZE);
	CHECK(want && buf);
	fill_pattern(want, SIZE, 89);
	/* Mapped: faultmap caches the file, and fm_pread reads through it. */
	unsigned char *p = fm_mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);

	const struct {
		size_t first, pages; /* the range read, in pages */
	} ranges[] = {
		{BAD - 8, 16},	   /* across the first bad page */
		{BAD - 1, 2},	   /* one good page, one bad */
		{BAD, 4},	   /* starting at it */
		{BAD + 3, 1},	   /* one bad page */
		{BAD - 40, NPAGES}, /* across it, to EOF */
	};
	for (int positional = 1; positional >= 0; positional--)
		for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
			size_t len = ranges[i].pages * PS;
			off_t off = (off_t)(ranges[i].first * PS);
			drop_kernel_cache(fd);
			struct result k = call(false, positional, fd, buf, len, off);
			struct result f = call(true, positional, fd, buf, len, off);
			if (k.ret != f.ret || k.err != f.err || k.pos != f.pos) {
				fprintf(stderr,
					"%s of pages [%zu, %zu): kernel %zd (%s, offset %lld), "
					"faultmap %zd (%s, offset %lld)\n",
					positional ? "pread" : "read", ranges[i].first,
					ranges[i].first + ranges[i].pages, k.ret, strerror(k.err),
					(long long)k.pos, f.ret, strerror(f.err), (long long)f.pos);
				exit(1);
			}
			if (ranges[i].first < BAD) /* the bytes before it */
				CHECK_EQ(f.ret, (BAD - ranges[i].first) * PS);
			else
				CHECK_EQ(f.err, EIO);
			if (f.ret > 0)
				CHECK(memcmp(buf, want + off, (size_t)f.ret) == 0);
		}
	/* The bad pages were not cached: healed, the device gives them. */
	loopfs_heal(&fs);
	CHECK_EQ(fm_pread(fd, buf, SIZE, 0), SIZE);
	CHECK(memcmp(buf, want, SIZE) == 0);
	CHECK(memcmp(p, want, SIZE) == 0);
	CHECK_EQ(fm_munmap(p, SIZE), 0);
	free(want);
	free(buf);
	close(fd);
	loopfs_destroy(&fs);
	return 0;
}
