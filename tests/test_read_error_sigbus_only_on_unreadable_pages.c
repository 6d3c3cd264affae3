/*
 * A read error raises SIGBUS on exactly the pages that cannot be read, as
 * under the kernel's mmap, and never on the good pages read in the same
 * cluster or readahead window; writes into the good pages succeed; and a
 * page that could not be read is not cached, so it reads right once the
 * device is healed.
 *
 * Real I/O errors: a file on ext4 on a loop device, whose blocks from file
 * page BAD on are cut off the device. The file is scanned in order, read
 * and then written, under the kernel's mmap and under faultmap, on both
 * ways faultmap reads a miss: the fault thread's io_uring, and pread (a
 * pass-through fm_sys.pread turns the ring off). The ra_threads read the
 * stream's windows ahead on both.
 */
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BAD 2048		/* the first page that cannot be read */
#define NPAGES (BAD + 64)
#define SIZE (NPAGES * PS)

static sigjmp_buf env;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(env, 1);
}

static unsigned char mark(size_t i)
{
	return (unsigned char)(i * 7 + 1) | 1;
}

/* scan - touch every page of p in order: read its first byte, or write
 * mark(i) into its second. bus[i]: whether page i raised SIGBUS. */
static void scan(unsigned char *p, bool write, bool *bus)
{
	volatile unsigned char *v = p;
	for (volatile size_t i = 0; i < NPAGES; i++) {
		bus[i] = false;
		if (sigsetjmp(env, 1)) {
			bus[i] = true;
			continue;
		}
		if (write)
			v[i * PS + 1] = mark(i);
		else
			(void)v[i * PS];
	}
}

/* same_pages - fail unless faultmap raised SIGBUS on the pages the kernel
 * did, naming each page that differs. */
static void same_pages(const char *what, const bool *kernel, const bool *fm)
{
	int wrong = 0;
	for (size_t i = 0; i < NPAGES; i++)
		if (kernel[i] != fm[i] && wrong++ < 20)
			fprintf(stderr, "%s: page %zu: SIGBUS under %s only\n", what, i,
				kernel[i] ? "the kernel" : "faultmap");
	CHECK_EQ(wrong, 0);
}

/* check_good - the pages that raised no SIGBUS hold want's data. */
static void check_good(const unsigned char *p, const unsigned char *want, const bool *bus)
{
	for (size_t i = 0; i < NPAGES; i++)
		if (!bus[i] && memcmp(p + i * PS, want + i * PS, PS) != 0) {
			fprintf(stderr, "page %zu holds wrong data\n", i);
			exit(1);
		}
}

static ssize_t pass_through_pread(int fd, void *buf, size_t n, off_t off)
{
	return pread(fd, buf, n, off);
}

int main(void)
{
	require_sigbus_delivery();
	static struct loopfs fs;
	loopfs_create(&fs, 32 << 20); /* first: it forks */
	require_engine();

	char path[128];
	int fd = loopfs_file_failing_from(&fs, path, SIZE, 83, BAD);
	unsigned char *want = malloc(SIZE);
	CHECK(want);
	fill_pattern(want, SIZE, 83);

	struct sigaction sa = {.sa_handler = on_sigbus};
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGBUS, &sa, NULL) == 0);

	/* The kernel: the pages from BAD on, and only those. */
	static bool kread[NPAGES], kwrite[NPAGES], fbus[NPAGES];
	unsigned char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	scan(p, false, kread);
	check_good(p, want, kread);
	for (size_t i = 0; i < NPAGES; i++)
		CHECK_EQ(kread[i], i >= BAD);
	munmap(p, SIZE);
	drop_kernel_cache(fd);
	p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	scan(p, true, kwrite);
	CHECK(msync(p, SIZE, MS_SYNC) == 0);
	munmap(p, SIZE);
	drop_kernel_cache(fd);
	for (size_t i = 0; i < NPAGES; i++)
		if (!kwrite[i])
			want[i * PS + 1] = mark(i);

	/* faultmap, on the ring, then with pread. */
	static int pass;
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1)
			fm_sys.pread = pass_through_pread;
		struct fm_stats st;
		drop_faultmap_cache(fd); /* as the kernel's was: the pass before's */
		fm_stats(&st);
		CHECK_EQ(st.resident_bytes, 0); /* cold */
		uint64_t errors = st.read_errors;
		p = fm_mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		CHECK(p != MAP_FAILED);
		scan(p, false, fbus);
		same_pages(pass ? "pread, read" : "ring, read", kread, fbus);
		check_good(p, want, fbus);
		fm_stats(&st);
		CHECK_EQ(st.read_errors - errors, NPAGES - BAD);
		CHECK_EQ(fm_munmap(p, SIZE), 0);

		p = fm_mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		CHECK(p != MAP_FAILED);
		scan(p, true, fbus);
		same_pages(pass ? "pread, write" : "ring, write", kwrite, fbus);
		check_good(p, want, fbus);
		CHECK_EQ(fm_msync(p, SIZE, MS_SYNC), 0);
		if (pass == 1) {
			/* The pages that failed were not cached: healed,
			 * the device gives them, in the same mapping. */
			loopfs_heal(&fs);
			CHECK(memcmp(p, want, SIZE) == 0);
		}
		CHECK_EQ(fm_munmap(p, SIZE), 0);
	}
	check_file_is(path, want, SIZE);
	free(want);
	close(fd);
	loopfs_destroy(&fs);
	return 0;
}
