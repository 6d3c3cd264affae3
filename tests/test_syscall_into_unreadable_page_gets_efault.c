/*
 * A system call that copies to or from a mapped page that cannot be read
 * fails with EFAULT, as under the kernel's mmap, instead of hanging: the
 * kernel retries such a fault until the engine resolves it, and a SIGBUS
 * sent to the thread is not taken inside the call. The program's own
 * access to the page then raises SIGBUS, as under the kernel; once the
 * device is healed (and the thread has gone on: here, it touches another
 * page), the same calls read the file's bytes, also when a read(2) of the
 * file has cached the page meanwhile.
 *
 * Real I/O errors: a file on ext4 on a loop device, whose blocks from page
 * BAD on are cut off the device. The calls: write(2) from the page to a
 * pipe, process_vm_readv from it, and read(2) from a pipe into it; in a
 * shared writable view (it tracks writes), a shared read-only one and a
 * private one; in the shared writable view, a store once the marker is
 * gone reaches the file at msync (the page is write-protected again). In
 * embedded mode and in daemon mode (FAULTMAP_MODE=daemon: the client
 * poisons its own view when its daemon tells it the page cannot be
 * read).
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define BAD 32
#define NPAGES 64
#define SIZE (NPAGES * PS)
#define N 100 /* bytes each call copies */

/* What one view's run saw: each call's result and errno, failing and then
 * healed, and whether the program's own load raised SIGBUS. */
struct run {
	long ret[2][3];
	int err[2][3];
	bool bus[2];
};

static const char *const call_name[3] = {"write(pipe, page)", "process_vm_readv(page)",
					 "read(pipe, page)"};

/* calls - the three calls on page q; their bytes must be want's (the
 * write and the read leave the pipe empty). */
static void calls(unsigned char *q, const unsigned char *want, long *ret, int *err)
{
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	unsigned char buf[N];
	errno = 0;
	ret[0] = write(pfd[1], q, N);
	err[0] = ret[0] < 0 ? errno : 0;
	if (ret[0] == N) {
		CHECK(read(pfd[0], buf, N) == N);
		CHECK(memcmp(buf, want, N) == 0);
	}
	struct iovec l = {buf, N}, r = {q, N};
	errno = 0;
	ret[1] = process_vm_readv(getpid(), &l, 1, &r, 1, 0);
	err[1] = ret[1] < 0 ? errno : 0;
	if (ret[1] == N)
		CHECK(memcmp(buf, want, N) == 0);
	/* Into the page: the file's own bytes, so a read that lands changes
	 * nothing. Read-only views refuse it either way. */
	CHECK(write(pfd[1], want, N) == N);
	errno = 0;
	ret[2] = read(pfd[0], q, N);
	err[2] = ret[2] < 0 ? errno : 0;
	close(pfd[0]);
	close(pfd[1]);
}

static bool load_faults(const volatile unsigned char *q)
{
	if (sigsetjmp(sigbus_env, 1))
		return true;
	(void)*q;
	return false;
}

/* view_run - map the file (kernel or faultmap), with pages from BAD on
 * cut off the device, and run the calls on page BAD; heal, go on, and run
 * them again. The device is cut again at the end. */
static void view_run(struct loopfs *fs, int fd, uint64_t cut, bool fm, int prot, int flags,
		     const unsigned char *want, struct run *r)
{
	unsigned char *p = fm ? fm_mmap(NULL, SIZE, prot, flags, fd, 0)
			      : mmap(NULL, SIZE, prot, flags, fd, 0);
	CHECK(p != MAP_FAILED);
	for (int healed = 0; healed < 2; healed++) {
		if (healed) {
			loopfs_heal(fs);
			/* The page is read another way first: cached when the
			 * marker goes, in a view that tracks writes too. */
			unsigned char buf[N];
			CHECK((fm ? fm_pread : pread)(fd, buf, N, BAD * PS) == N);
			CHECK(!load_faults(p)); /* the thread goes on elsewhere */
		}
		calls(p + BAD * PS, want + BAD * PS, r->ret[healed], r->err[healed]);
		r->bus[healed] = load_faults(p + BAD * PS);
	}
	if ((flags & MAP_SHARED) && (prot & PROT_WRITE)) {
		/* A store after the marker went is seen, and written back
		 * (the page was write-protected again); then undone. */
		for (int k = 0; k < 2; k++) {
			p[BAD * PS] ^= 0xff;
			CHECK((fm ? fm_msync : msync)(p, SIZE, MS_SYNC) == 0);
			unsigned char b;
			CHECK(pread(fd, &b, 1, BAD * PS) == 1);
			CHECK_EQ(b, k ? want[BAD * PS] : want[BAD * PS] ^ 0xff);
		}
	}
	CHECK(memcmp(p, want, SIZE) == 0);
	CHECK((fm ? fm_munmap(p, SIZE) : munmap(p, SIZE)) == 0);
	drop_kernel_cache(fd);
	drop_faultmap_cache(fd); /* the next view meets the failing device too */
	loopfs_fail_from(fs, cut);
}

int main(void)
{
	require_sigbus_delivery();
	static struct loopfs fs;
	loopfs_create(&fs, 32 << 20); /* first: it forks */
	require_engine();
	catch_sigbus();
	unsigned char *want = malloc(SIZE);
	CHECK(want);
	fill_pattern(want, SIZE, 97);
	char path[128];
	int fd = loopfs_file_failing_from(&fs, path, SIZE, 97, BAD);
	uint64_t cut = file_block_offset(fd, BAD * PS);

	static const struct {
		const char *name;
		int prot, flags;
	} views[] = {
		{"shared writable", PROT_READ | PROT_WRITE, MAP_SHARED},
		{"shared read-only", PROT_READ, MAP_SHARED},
		{"private", PROT_READ | PROT_WRITE, MAP_PRIVATE},
	};
	int wrong = 0;
	for (size_t v = 0; v < sizeof(views) / sizeof(views[0]); v++) {
		alarm(60); /* a call that hangs fails the test instead */
		struct run k, f;
		view_run(&fs, fd, cut, false, views[v].prot, views[v].flags, want, &k);
		view_run(&fs, fd, cut, true, views[v].prot, views[v].flags, want, &f);
		/* The kernel: EFAULT (or a read-only view's EFAULT) while
		 * failing, N bytes once healed, and SIGBUS only while failing. */
		CHECK(k.ret[0][0] == -1 && k.err[0][0] == EFAULT);
		CHECK(k.ret[1][0] == N);
		CHECK(k.bus[0] && !k.bus[1]);
		for (int h = 0; h < 2; h++) {
			for (int c = 0; c < 3; c++)
				if (k.ret[h][c] != f.ret[h][c] || k.err[h][c] != f.err[h][c]) {
					fprintf(stderr,
						"%s view, %s, %s: kernel %ld (%s), faultmap %ld (%s)\n",
						views[v].name, h ? "healed" : "failing", call_name[c],
						k.ret[h][c], strerror(k.err[h][c]), f.ret[h][c],
						strerror(f.err[h][c]));
					wrong++;
				}
			if (k.bus[h] != f.bus[h]) {
				fprintf(stderr, "%s view, %s, a load: SIGBUS under %s only\n",
					views[v].name, h ? "healed" : "failing",
					k.bus[h] ? "the kernel" : "faultmap");
				wrong++;
			}
		}
	}
	alarm(0);
	CHECK_EQ(wrong, 0);
	free(want);
	close(fd);
	loopfs_destroy(&fs);
	return 0;
}
