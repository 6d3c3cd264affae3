/*
 * A MAP_FIXED mmap that fails may leave a hole where the old mapping was:
 * Linux unmaps the range before the file refuses the new mapping (here
 * MAP_SYNC, which a file outside DAX refuses). faultmap must then forget
 * its mapping there: msync and mprotect of the range see the hole, as
 * under the kernel (faultmap kept its record, and msync said 0 where the
 * kernel said ENOMEM: random errno test, seed 443), and a write made
 * through the lost pages before still reaches the file. Compared with the
 * kernel on a copy of the file, whatever the kernel does, in both modes.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif

#define PAGES 4

int main(void)
{
	each_mode();
	require_engine();
	static const int fixed_flags[] = {MAP_SHARED | MAP_FIXED | MAP_SYNC,
					  MAP_SHARED_VALIDATE | MAP_FIXED | MAP_SYNC};
	int failures = 0;
	for (size_t k = 0; k < sizeof(fixed_flags) / sizeof(fixed_flags[0]); k++) {
		char path[2][64];
		long res[2][4];
		for (int i = 0; i < 2; i++) { /* 0: the kernel, 1: faultmap */
			int fd = make_file(path[i], PAGES * PS, 9, O_RDWR);
			unsigned char *p = i ? fm_mmap(NULL, PAGES * PS, PROT_READ | PROT_WRITE,
						       MAP_SHARED, fd, 0)
					     : mmap(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED,
						    fd, 0);
			CHECK(p != MAP_FAILED);
			memset(p + PS, 'Z', PS); /* dirty, in the page about to go */
			errno = 0;
			void *q = i ? fm_mmap(p + PS, 2 * PS, PROT_READ | PROT_WRITE, fixed_flags[k], fd, 0)
				    : mmap(p + PS, 2 * PS, PROT_READ | PROT_WRITE, fixed_flags[k], fd, 0);
			res[i][0] = q == MAP_FAILED ? -errno : 0;
			errno = 0;
			res[i][1] = (i ? fm_msync(p, PAGES * PS, MS_SYNC) : msync(p, PAGES * PS, MS_SYNC)) ? -errno : 0;
			errno = 0;
			res[i][2] = (i ? fm_mprotect(p, PAGES * PS, PROT_READ)
				       : mprotect(p, PAGES * PS, PROT_READ)) ? -errno : 0;
			unsigned char v;
			res[i][3] = mincore(p + PS, PS, &v) == 0;
			/* Whatever is left is unmapped; the file keeps the write. */
			for (int pg = 0; pg < PAGES; pg++)
				if (mincore(p + pg * PS, PS, &v) == 0)
					CHECK((i ? fm_munmap(p + pg * PS, PS) : munmap(p + pg * PS, PS)) == 0);
			CHECK((i ? fm_fsync(fd) : fsync(fd)) == 0);
			close(fd);
		}
		static const char *const what[] = {"the MAP_FIXED mmap", "msync over it",
						   "mprotect over it", "its second page mapped"};
		for (int r = 0; r < 4; r++)
			if (res[0][r] != res[1][r]) {
				fprintf(stderr, "flags %#x: %s: kernel %ld, faultmap %ld\n", fixed_flags[k],
					what[r], res[0][r], res[1][r]);
				failures++;
			}
		size_t s0, s1;
		unsigned char *a = slurp(path[0], &s0), *b = slurp(path[1], &s1);
		if (s0 != s1 || memcmp(a, b, s0)) {
			fprintf(stderr, "flags %#x: the files differ\n", fixed_flags[k]);
			failures++;
		}
		CHECK(s1 == PAGES * PS && b[PS] == 'Z' && b[2 * PS - 1] == 'Z');
		free(a);
		free(b);
		unlink(path[0]);
		unlink(path[1]);
		printf("flags %#x: mmap %ld, msync %ld, mprotect %ld (as the kernel)\n", fixed_flags[k],
		       res[0][0], res[0][1], res[0][2]);
	}
	return failures ? 1 : 0;
}
