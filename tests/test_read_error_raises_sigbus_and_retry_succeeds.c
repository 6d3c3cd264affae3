/*
 * A read error while serving a fault raises SIGBUS on the faulting access,
 * as the kernel does; nothing is cached, and the next access reads again.
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

static ssize_t bad_pread(int fd, void *buf, size_t n, off_t off)
{
	if (failing) {
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

int main(void)
{
#ifdef FM_UNDER_TSAN
	/* TSan delivers a signal sent by another thread only when the target
	 * reaches one of its interceptors; a thread stuck re-faulting on one
	 * load never does. */
	fprintf(stderr, "skip: TSan defers the SIGBUS the fault thread sends\n");
	return 77;
#endif
	require_engine();
	char path[64];
	int fd = make_file(path, 8 * PS, 61, O_RDONLY);
	unsigned char *want = malloc(8 * PS);
	fill_pattern(want, 8 * PS, 61);
	unsigned char *p = fm_mmap(NULL, 8 * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};
	sigaction(SIGBUS, &sa, NULL);

	fm_sys.pread = bad_pread;
	failing = 1;
	if (sigsetjmp(env, 1) == 0) {
		volatile unsigned char c = p[3 * PS];
		(void)c;
	}
	CHECK_EQ(sigbus, 1);
	CHECK(bus_addr == p + 3 * PS); /* si_addr: the faulting address */
	struct fm_stats st;
	fm_stats(&st);
	CHECK_EQ(st.read_errors, 1);
	CHECK_EQ(st.resident_bytes, 0);

	failing = 0;
	CHECK(memcmp(p, want, 8 * PS) == 0);
	CHECK_EQ(sigbus, 1);
	fm_munmap(p, 8 * PS);
	free(want);
	close(fd);
	unlink(path);
	return 0;
}
