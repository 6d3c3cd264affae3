/*
 * A system call whose copy is the first write to a page of a shared
 * mapping that the full file system has no room for gets EFAULT (or a
 * short count), as under the kernel, instead of hanging: the kernel
 * retries such a fault for as long as no fatal signal is pending, so a
 * SIGBUS sent to the thread is never taken inside the call.
 *
 * A sparse file on a 1 MiB tmpfs (a ballast file takes 64 KiB of it) is
 * filled page by page with pread(2) into the mapping until a call fails.
 * Then, on the page that failed: pread across the last good page and it
 * (a short count), read(2) from a pipe (EFAULT, and the pipe keeps its
 * bytes), the same pread five times more, the program's own store
 * (SIGBUS, once the page has moved: it is read-only meanwhile); then the
 * ballast is removed and the pread succeeds (faultmap's once it has seen
 * the room, within POISON_CHECK_MS). The kernel's mapping and faultmap's,
 * embedded and with a daemon, must give the same results, ROUNDS times each, every round in a
 * fresh process; faultmap's also still reads the page (zeros) after the
 * refusal, and msync writes every accepted page. A round that does not end
 * within DEADLINE_S is killed and fails the test (a hang). Needs root to
 * mount the tmpfs; skipped otherwise.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NPAGES 512 /* 2 MiB: more than the file system holds */
#define ROUNDS 4
#define DEADLINE_S 60

enum side { KERNEL, EMBEDDED, DAEMON };
static const char *const side_name[] = {"kernel", "embedded", "daemon"};

struct result {
	long stop;	      /* the first page whose pread failed */
	long ret, err;	      /* that pread's */
	long span_ret;	      /* pread of the last good page and that one */
	long pipe_ret, pipe_err, pipe_left;
	long again_efault;    /* of 5 more preads there */
	long store_sigbus;    /* the program's store there raised SIGBUS */
	long healed_ret;      /* pread there after the ballast is gone */
	long zeros;	      /* faultmap: a load reads zeros there */
};

static char dir[64];

static void round_in_child(enum side side, int out)
{
	if (side == EMBEDDED)
		CHECK(fm_set_mode(FM_MODE_EMBEDDED) == 0);
	char path[128], ballast[128], src_path[64];
	snprintf(ballast, sizeof(ballast), "%s/ballast", dir);
	int src = make_file(src_path, 2 * PS, 7, O_RDONLY);
	unsigned char want[2 * PS];
	fill_pattern(want, sizeof(want), 7);

	int fd = sparse_file_on_full_fs(dir, NPAGES, path);
	unsigned char *p = side == KERNEL ? mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
						 MAP_SHARED, fd, 0)
					  : fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
						    MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	struct result r;
	memset(&r, 0, sizeof(r));
	long i = fill_by_pread(src, p, NPAGES, &r.ret, &r.err);
	r.stop = i;
	CHECK(i > 0 && i < NPAGES);
	unsigned char *q = p + i * PS;
	r.span_ret = pread(src, q - PS, 2 * PS, 0);
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	CHECK(write(pfd[1], want, 100) == 100);
	errno = 0;
	r.pipe_ret = read(pfd[0], q, 100);
	r.pipe_err = r.pipe_ret < 0 ? errno : 0;
	int left = -1;
	CHECK(ioctl(pfd[0], FIONREAD, &left) == 0);
	r.pipe_left = left;
	close(pfd[0]);
	close(pfd[1]);
	for (int k = 0; k < 5; k++)
		r.again_efault += pread(src, q, PS, 0) < 0 && errno == EFAULT;
	if (side != KERNEL) { /* tmpfs itself fails a load of a hole when full */
		r.zeros = q[0] == 0 && q[PS - 1] == 0;
		CHECK(page_writable_again(q));
	}
	catch_sigbus();
	sigbus_count = 0;
	if (sigsetjmp(sigbus_env, 1) == 0)
		*(volatile unsigned char *)q = 1;
	r.store_sigbus = sigbus_count;
	CHECK(unlink(ballast) == 0);
	/* faultmap sees the room within POISON_CHECK_MS (the refused page
	 * then takes writes again); the kernel at once. */
	for (int tries = 0; tries < 5000; tries++) {
		r.healed_ret = pread(src, q, PS, 0);
		if (side == KERNEL || r.healed_ret >= 0 || errno != EFAULT)
			break;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	if (side != KERNEL) { /* every page accepted reached the file */
		CHECK_EQ(fm_msync(p, NPAGES * PS, MS_SYNC), 0);
		for (long k = 0; k < r.stop; k++)
			CHECK(pread(fd, want + PS, PS, k * PS) == (long)PS &&
			      memcmp(want + PS, want, PS) == 0);
		fill_pattern(want, sizeof(want), 7);
		CHECK(memcmp(q, want, PS) == 0);
		CHECK_EQ(fm_munmap(p, NPAGES * PS), 0);
	} else {
		CHECK(munmap(p, NPAGES * PS) == 0);
	}
	close(fd);
	close(src);
	unlink(src_path);
	CHECK(write(out, &r, sizeof(r)) == (ssize_t)sizeof(r));
	_exit(0);
}

static void round_process(void *arg, int out)
{
	round_in_child(*(enum side *)arg, out);
}

/* run_round - one round of side in a fresh process, killed if it does not
 * end within DEADLINE_S. */
static struct result run_round(enum side side, int round)
{
	int in;
	pid_t pid = child_with_pipe(round_process, &side, &in);
	char what[64];
	snprintf(what, sizeof(what), "%s, round %d", side_name[side], round);
	wait_within(pid, DEADLINE_S, what);
	struct result r;
	CHECK(read(in, &r, sizeof(r)) == (ssize_t)sizeof(r));
	close(in);
	printf("%s, round %d: stop %ld (%ld, %s), span %ld, pipe %ld (%s, %ld left), again %ld "
	       "EFAULT, store SIGBUS %ld, healed %ld, zeros %ld\n",
	       side_name[side], round, r.stop, r.ret, strerror((int)r.err), r.span_ret,
	       r.pipe_ret, strerror((int)r.pipe_err), r.pipe_left, r.again_efault,
	       r.store_sigbus, r.healed_ret, r.zeros);
	return r;
}

int main(void)
{
	require_sigbus_delivery();
	mount_tmpfs(dir, "size=1m");
	daemon_private(); /* the daemon rounds' (embedded ones set their mode) */
	require_engine_in_child();
	struct result k = run_round(KERNEL, 0);
	CHECK_EQ(k.err, EFAULT);
	CHECK_EQ(k.span_ret, PS);
	CHECK_EQ(k.pipe_err, EFAULT);
	for (int side = EMBEDDED; side <= DAEMON; side++)
		for (int round = 0; round < ROUNDS; round++) {
			struct result f = run_round((enum side)side, round);
			CHECK_EQ(f.stop, k.stop);
			CHECK_EQ(f.ret, k.ret);
			CHECK_EQ(f.err, k.err);
			CHECK_EQ(f.span_ret, k.span_ret);
			CHECK_EQ(f.pipe_ret, k.pipe_ret);
			CHECK_EQ(f.pipe_err, k.pipe_err);
			CHECK_EQ(f.pipe_left, k.pipe_left);
			CHECK_EQ(f.again_efault, k.again_efault);
			CHECK_EQ(f.store_sigbus, k.store_sigbus);
			CHECK_EQ(f.healed_ret, k.healed_ret);
			CHECK_EQ(f.zeros, 1);
		}
	return 0;
}
