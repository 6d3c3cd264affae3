/*
 * One page that cannot be read in the middle of a cluster: the fault on a
 * good page of that cluster is served, the cluster's other good pages are
 * cached (and can be written), and only the bad page raises SIGBUS. It is
 * not cached, so it reads right once the error is gone. Both ways a miss is
 * read: on the fault thread's io_uring (fm_sys.read_done fails the ring's
 * reads that cover the bad page) and with pread (fm_sys.pread fails them).
 * The cluster is the 16-page read-around of a first, random miss.
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

#define NPAGES 64
#define WRITTEN 0x5b

static _Atomic uint64_t bad_off = UINT64_MAX; /* file offset of the bad page */
static _Atomic int ring_failed, pread_failed;
static sigjmp_buf env;
static volatile sig_atomic_t sigbus;
static void *volatile bus_addr;

static bool covers_bad(uint64_t off, uint64_t len)
{
	return off <= bad_off && bad_off < off + len;
}

static int bad_ring_read(uint64_t off, uint64_t len, int res)
{
	if (!covers_bad(off, len))
		return res;
	ring_failed++;
	return -EIO;
}

static ssize_t bad_pread(int fd, void *buf, size_t n, off_t off)
{
	if (covers_bad((uint64_t)off, n)) {
		pread_failed++;
		errno = EIO;
		return -1;
	}
	return pread(fd, buf, n, off);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	bus_addr = si->si_addr;
	sigbus++;
	siglongjmp(env, 1);
}

/* touch - read the first byte of page i of p, or write WRITTEN there.
 * Return: whether it raised SIGBUS. */
static bool touch(unsigned char *p, size_t i, bool write)
{
	int before = sigbus;
	if (sigsetjmp(env, 1) == 0) {
		volatile unsigned char *v = p + i * PS;
		if (write)
			*v = WRITTEN;
		else
			(void)*v;
	}
	return sigbus != before;
}

/* cached - whether page i of the mapping p is in the file's cache (the
 * memfd's page cache, which mincore sees through the view). */
static bool cached(unsigned char *p, size_t i)
{
	unsigned char v;
	CHECK(mincore(p + i * PS, PS, &v) == 0);
	return v & 1;
}

int main(void)
{
	pin_embedded_mode("read failures injected through this process's fm_sys");
	require_sigbus_delivery();
	require_engine();
	char path[64];
	int fd = make_file(path, NPAGES * PS, 97, O_RDWR);
	unsigned char *want = malloc(NPAGES * PS);
	fill_pattern(want, NPAGES * PS, 97);
	struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);

	int first = 0;
	if (file_in_memory(fd)) {
		fprintf(stderr, "note: %s is in memory, read with pread: no ring pass\n", path);
		first = 1;
	}
	for (int pass = first; pass < 2; pass++) {
		/* A new mapping of a file nobody maps: a cold cache. */
		unsigned char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED,
					   fd, 0);
		CHECK(p != MAP_FAILED);
		if (pass == 0)
			fm_sys.read_done = bad_ring_read;
		else
			fm_sys.pread = bad_pread; /* which turns the ring off */
		size_t bad = 8, fault = 5; /* in the read-around [0, 16) */
		bad_off = bad * PS;
		int bus0 = sigbus;

		CHECK(!touch(p, fault, false));
		CHECK(memcmp(p + fault * PS, want + fault * PS, PS) == 0);
		CHECK(pass == 0 ? ring_failed > 0 : pread_failed > 0);
		/* Read with the faulting page, before and after the bad one. */
		CHECK(cached(p, bad - 1) && cached(p, bad + 1) && cached(p, 15));
		CHECK(!cached(p, bad));
		for (size_t i = 0; i < 16; i++)
			if (i != bad) {
				CHECK(!touch(p, i, false));
				CHECK(memcmp(p + i * PS, want + i * PS, PS) == 0);
			}
		CHECK(!touch(p, bad - 1, true) && !touch(p, bad + 1, true));
		want[(bad - 1) * PS] = want[(bad + 1) * PS] = WRITTEN;
		CHECK_EQ(sigbus, bus0);

		CHECK(touch(p, bad, false));
		CHECK(bus_addr == p + bad * PS);
		CHECK(touch(p, bad, true)); /* a write reads it first */
		CHECK_EQ(sigbus, bus0 + 2);
		CHECK(!cached(p, bad));

		bad_off = UINT64_MAX; /* the error is gone */
		CHECK(!touch(p, bad, false));
		CHECK(memcmp(p, want, NPAGES * PS) == 0);
		CHECK_EQ(sigbus, bus0 + 2);
		CHECK_EQ(fm_msync(p, NPAGES * PS, MS_SYNC), 0);
		CHECK_EQ(fm_munmap(p, NPAGES * PS), 0);
	}
	check_file_is(path, want, NPAGES * PS);
	free(want);
	close(fd);
	unlink(path);
	return 0;
}
