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
 * bytes), the same pread five times more, the program's own store (SIGBUS
 * once the page is writable again); then the ballast is removed and the
 * pread succeeds. The kernel's mapping and faultmap's, embedded and with a
 * daemon, must give the same results, ROUNDS times each, every round in a
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
#define BALLAST (64 * 1024)

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

/* writable_again - wait (bounded) until the page at q is writable in
 * /proc/self/maps: a refused write leaves it read-only for a moment. */
static bool writable_again(const unsigned char *q)
{
	for (int tries = 0; tries < 5000; tries++) {
		FILE *f = fopen("/proc/self/maps", "r");
		CHECK(f);
		char line[512];
		bool w = false;
		while (fgets(line, sizeof(line), f)) {
			unsigned long lo, hi;
			char perms[8];
			if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 &&
			    lo <= (uintptr_t)q && (uintptr_t)q < hi) {
				w = perms[1] == 'w';
				break;
			}
		}
		fclose(f);
		if (w)
			return true;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	return false;
}

static void round_in_child(enum side side, int out)
{
	if (side == EMBEDDED)
		CHECK(fm_set_mode(FM_MODE_EMBEDDED) == 0);
	char path[128], ballast[128], src_path[64];
	snprintf(path, sizeof(path), "%s/file", dir);
	snprintf(ballast, sizeof(ballast), "%s/ballast", dir);
	unlink(path);
	unlink(ballast);
	int b = open(ballast, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(b >= 0);
	CHECK(posix_fallocate(b, 0, BALLAST) == 0);
	close(b);
	int src = make_file(src_path, 2 * PS, 7, O_RDONLY);
	unsigned char want[2 * PS];
	fill_pattern(want, sizeof(want), 7);

	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, (off_t)(NPAGES * PS)) == 0);
	unsigned char *p = side == KERNEL ? mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
						 MAP_SHARED, fd, 0)
					  : fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
						    MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	struct result r;
	memset(&r, 0, sizeof(r));
	long i;
	for (i = 0; i < NPAGES; i++) {
		errno = 0;
		r.ret = pread(src, p + i * PS, PS, 0);
		r.err = r.ret < 0 ? errno : 0;
		if (r.ret != (long)PS)
			break;
	}
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
		CHECK(writable_again(q));
	}
	catch_sigbus();
	sigbus_count = 0;
	if (sigsetjmp(sigbus_env, 1) == 0)
		*(volatile unsigned char *)q = 1;
	r.store_sigbus = sigbus_count;
	CHECK(unlink(ballast) == 0);
	r.healed_ret = pread(src, q, PS, 0);
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

/* run_round - one round of side in a fresh process, killed if it does not
 * end within DEADLINE_S. */
static struct result run_round(enum side side, int round)
{
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		round_in_child(side, pfd[1]);
	}
	close(pfd[1]);
	int status = 0;
	time_t end = time(NULL) + DEADLINE_S;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		CHECK(w >= 0);
		if (w == pid)
			break;
		if (time(NULL) > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "%s, round %d: hung (killed after %d s)\n",
				side_name[side], round, DEADLINE_S);
			exit(1);
		}
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s, round %d: child failed (status %#x)\n", side_name[side],
			round, status);
		exit(1);
	}
	struct result r;
	CHECK(read(pfd[0], &r, sizeof(r)) == (ssize_t)sizeof(r));
	close(pfd[0]);
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
