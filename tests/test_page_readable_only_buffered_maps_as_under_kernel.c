/*
 * A page the kernel reads, but an O_DIRECT read of which fails, maps as
 * under the kernel's mmap: faultmap reads a page again buffered (the way
 * the kernel's own fault reads it) before it calls it unreadable.
 *
 * ext4 makes such a page: a write past EOF from a buffer that cannot be
 * read fails with EFAULT but moves EOF and leaves the new block delayed-
 * allocated with no data; after the file grows past it, an O_DIRECT read
 * of that block fails with EIO, while a buffered one reads zeros. (Found
 * by the random-calls test, seed 13.) Elsewhere the test passes trivially.
 * Both ways a miss is read: on the fault thread's io_uring, and with pread
 * (a pass-through fm_sys.pread turns the ring off).
 */
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FIRST 4215		 /* the file's bytes before the failed write */
#define WRITE_AT (4 * PS + 1292) /* the failed write: EOF moves here */
#define GROWN (5 * PS + 3193)	 /* then the file grows past page 5 */

/* side - the sequence under the kernel or faultmap; returns the mapping's
 * pages 4 and 5 (2 * PS bytes) as read through a fresh mapping. */
static void side(bool fm, unsigned char *out)
{
	char path[64];
	int fd = make_file(path, FIRST, 7, O_RDWR);
	unsigned char *keep = fm ? fm_mmap(NULL, PS, PROT_READ, MAP_SHARED, fd, 0) : NULL;
	CHECK(!fm || keep != MAP_FAILED); /* the file is cached from here on */
	const void *volatile bad = (const void *)1; /* a buffer that cannot be read */
	errno = 0;
	ssize_t r = fm ? fm_pwrite(fd, bad, 8367, WRITE_AT) : pwrite(fd, bad, 8367, WRITE_AT);
	CHECK(r == -1 && errno == EFAULT);
	unsigned char *p = fm ? fm_mmap(NULL, 6 * PS, PROT_READ, MAP_SHARED, fd, 0)
			      : mmap(NULL, 6 * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	volatile unsigned char c = p[4 * PS]; /* page 4 read up to the new EOF */
	(void)c;
	CHECK((fm ? fm_ftruncate(fd, GROWN) : ftruncate(fd, GROWN)) == 0);
	catch_sigbus();
	sigbus_count = 0;
	if (sigsetjmp(sigbus_env, 1) == 0)
		memcpy(out, p + 4 * PS, 2 * PS);
	CHECK_EQ(sigbus_count, 0);
	CHECK((fm ? fm_munmap(p, 6 * PS) : munmap(p, 6 * PS)) == 0);
	if (fm)
		CHECK(fm_munmap(keep, PS) == 0);
	close(fd);
	unlink(path);
}

static ssize_t pass_through_pread(int fd, void *buf, size_t n, off_t off)
{
	return pread(fd, buf, n, off);
}

int main(void)
{
	pin_embedded_mode("O_DIRECT failures injected through this process's fm_sys");
	require_engine();
	static unsigned char k[2 * PS], f[2 * PS];
	side(false, k);
	side(true, f); /* on the ring */
	CHECK(memcmp(k, f, sizeof(k)) == 0);
	fm_sys.pread = pass_through_pread;
	memset(f, 0xff, sizeof(f));
	side(true, f); /* with pread */
	CHECK(memcmp(k, f, sizeof(k)) == 0);
	return 0;
}
