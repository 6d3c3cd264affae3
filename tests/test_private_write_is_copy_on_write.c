/*
 * The seed's scene.dat example: two private mappings of one file; a write
 * through one makes a private copy that neither the other mapping, nor a
 * shared mapping, nor the file ever sees. Pages the private mapping has not
 * written still show what shared mappings write.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	require_engine();
	char path[64];
	const size_t size = 4 * PS;
	int fd = make_file(path, size, 5, O_RDWR);
	unsigned char *orig = slurp(path, &(size_t){0});
	unsigned char *render = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	unsigned char *render3d = fm_mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	unsigned char *shared = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(render != MAP_FAILED && render3d != MAP_FAILED && shared != MAP_FAILED);

	CHECK_EQ(render3d[10], orig[10]); /* both privately map the cache */
	render[10] = (unsigned char)~orig[10]; /* copy on write */
	CHECK_EQ(render[10], (unsigned char)~orig[10]);
	CHECK_EQ(render3d[10], orig[10]);
	CHECK_EQ(shared[10], orig[10]);

	/* A shared write to page 0 is not seen by the copy, is seen by the
	 * private mapping that did not write, and page 1 is still shared. */
	shared[20] = 0x11;
	shared[PS + 5] = 0x22;
	CHECK_EQ(render[20], orig[20]);
	CHECK_EQ(render3d[20], 0x11);
	CHECK_EQ(render[PS + 5], 0x22);

	CHECK(fm_msync(render, size, MS_SYNC) == 0);
	CHECK(fm_munmap(render, size) == 0);
	CHECK(fm_munmap(render3d, size) == 0);
	CHECK(fm_munmap(shared, size) == 0);
	size_t n;
	unsigned char *file = slurp(path, &n);
	orig[20] = 0x11;
	orig[PS + 5] = 0x22;
	CHECK(memcmp(file, orig, size) == 0); /* the private write is not there */
	free(file);
	free(orig);
	close(fd);
	unlink(path);
	return 0;
}
