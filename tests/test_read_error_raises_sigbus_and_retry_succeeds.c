/*
 * A read error while serving a fault raises SIGBUS on the faulting access,
 * as the kernel does; nothing is cached, and the next access reads again.
 * Both ways a miss is read: with pread, and on the fault thread's io_uring
 * (a read left in flight).
 */
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static _Atomic int failing;
static sigjmp_buf env;
static volatile sig_atomic_t sigbus;
static void *volatile bus_addr;

static _Atomic int ring_reads;

static ssize_t bad_pread(int fd, void *buf, size_t n, off_t off)
{
	if (failing) {
		errno = EIO;
		return -1;
	}
	return pread(fd, buf, n, off);
}

static int bad_ring_read(uint64_t off, uint64_t len, int res)
{
	(void)off, (void)len;
	ring_reads++;
	return failing ? -EIO : res;
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	bus_addr = si->si_addr;
	sigbus++;
	siglongjmp(env, 1);
}

int main(void)
{
	pin_embedded_mode("read failures injected through this process's fm_sys");
	require_sigbus_delivery();
	require_engine();
	char path[64];
	int fd = make_file(path, 64 * PS, 61, O_RDONLY);
	unsigned char *want = malloc(64 * PS);
	fill_pattern(want, 64 * PS, 61);
	unsigned char *p = fm_mmap(NULL, 64 * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};
	sigaction(SIGBUS, &sa, NULL);

	/* Pass 1: the ring's read fails. Pass 2: pread fails (which also
	 * turns the ring off). In this order, because after a pread the
	 * second fault thread may serve the next fault, with pread. */
	fm_sys.read_done = bad_ring_read;
	int first = 1;
	if (file_in_memory(fd)) {
		fprintf(stderr, "note: %s is in memory, read with pread: no ring pass\n", path);
		first = 2;
	}
	/* Static: they live across siglongjmp. */
	static int pass;
	static size_t page;
	for (pass = first; pass <= 2; pass++) {
		page = pass == 1 ? 3 : 40; /* 16-page read-arounds apart */
		if (pass == 2)
			fm_sys.pread = bad_pread;
		struct fm_stats st;
		fm_stats(&st);
		uint64_t resident = st.resident_bytes;
		failing = 1;
		if (sigsetjmp(env, 1) == 0) {
			volatile unsigned char c = p[page * PS];
			(void)c;
		}
		CHECK_EQ(sigbus, pass - first + 1);
		CHECK(bus_addr == p + page * PS); /* si_addr: the faulting address */
		fm_stats(&st);
		CHECK_EQ(st.read_errors, (uint64_t)(pass - first + 1));
		CHECK_EQ(st.resident_bytes, resident); /* nothing cached */
		failing = 0;
		if (pass == 1) {
			CHECK(ring_reads > 0); /* it went through the ring */
			CHECK(memcmp(p + page * PS, want + page * PS, PS) == 0);
		}
		CHECK_EQ(sigbus, pass - first + 1);
	}
	CHECK(memcmp(p, want, 64 * PS) == 0);
	CHECK_EQ(sigbus, 3 - first);
	fm_munmap(p, 64 * PS);
	free(want);
	close(fd);
	unlink(path);
	return 0;
}
