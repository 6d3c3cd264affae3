/*
 * A forked child's system call into a mapped page that cannot be served
 * gets EFAULT, as under the kernel, instead of hanging, also when it is
 * the child's first act after fork (before any faultmap call of its own):
 * - a page that cannot be read (real EIO): write(2) from the page to a
 *   pipe, and read(2) from a pipe into it;
 * - a first write that the full file system has no room for: pread(2) of
 *   another file into the mapping, page after page, until a call fails.
 * A readable page of the same mapping is copied first, as a control.
 *
 * The kernel retries such a fault for as long as no fatal signal is
 * pending, so a SIGBUS sent to the thread is never taken inside the call:
 * only the process can fail the copy (a poison marker, a read-only page),
 * and in daemon mode its watcher thread does it when the daemon tells it
 * (docs/design.md, "Write-back"); a child's watcher must be running from
 * the fork on.
 *
 * Each round is a fresh process that maps the files and forks CHILDREN
 * children one after another; a child that does not end within DEADLINE_S
 * is killed, and the test fails (a hang). The kernel's mapping, then
 * faultmap's in daemon mode. (In embedded mode a forked child's faults are
 * served by its parent's engine, which can neither poison nor protect the
 * child's view: such a call still hangs there; docs/design.md, "What is
 * not done yet".) Real I/O errors come from ext4 on a loop
 * device, the full file system is a 1 MiB tmpfs: needs root, skipped
 * otherwise.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BAD 32
#define NPAGES 64
#define SIZE (NPAGES * PS)
#define FULL_PAGES 512 /* 2 MiB: more than the tmpfs holds */
#define N 100
#define ROUNDS 2
#define CHILDREN 3
#define DEADLINE_S 30

enum side { KERNEL, DAEMON };
static const char *const side_name[] = {"kernel", "daemon"};

/* What one child saw. */
struct seen {
	long good;	      /* write(pipe, readable page): N */
	long out_ret, out_err; /* write(pipe, unreadable page) */
	long in_ret, in_err;   /* read(pipe, unreadable page) */
	long stop;	      /* the first page whose pread into the mapping failed */
	long fill_ret, fill_err;
};

static int bad_fd;	 /* on the loop device, failing from page BAD */
static char tmp_dir[64]; /* the 1 MiB tmpfs */

/* child - the calls, first thing after the fork; the result goes to out. */
static void __attribute__((noreturn))
child(const unsigned char *p, unsigned char *full, int src, int out)
{
	struct seen s;
	memset(&s, 0, sizeof(s));
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	s.good = write(pfd[1], p, N);
	char buf[N];
	if (s.good == N)
		CHECK(read(pfd[0], buf, N) == N);
	errno = 0;
	s.out_ret = write(pfd[1], p + BAD * PS, N);
	s.out_err = s.out_ret < 0 ? errno : 0;
	CHECK(write(pfd[1], buf, N) == N);
	errno = 0;
	s.in_ret = read(pfd[0], (void *)(p + BAD * PS), N);
	s.in_err = s.in_ret < 0 ? errno : 0;
	s.stop = fill_by_pread(src, full, FULL_PAGES, &s.fill_ret, &s.fill_err);
	CHECK(write(out, &s, sizeof(s)) == (ssize_t)sizeof(s));
	_exit(0);
}

/* round_process - in a fresh process of side: map the failing file and a sparse
 * file of the full tmpfs, then fork CHILDREN children in turn; each one's
 * result is written to out. */
static void round_process(void *arg, int out)
{
	enum side side = *(enum side *)arg;
	bool fm = side != KERNEL;
	char path[128], src_path[64];
	int src = make_file(src_path, PS, 7, O_RDONLY);
	unsigned char *p = fm ? fm_mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, bad_fd, 0)
			      : mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, bad_fd, 0);
	CHECK(p != MAP_FAILED);
	for (int c = 0; c < CHILDREN; c++) {
		int fd = sparse_file_on_full_fs(tmp_dir, FULL_PAGES, path);
		unsigned char *full =
			fm ? fm_mmap(NULL, FULL_PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
			   : mmap(NULL, FULL_PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		CHECK(full != MAP_FAILED);
		fflush(NULL);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			child(p, full, src, out);
		char what[64];
		snprintf(what, sizeof(what), "%s, child %d", side_name[side], c);
		wait_within(pid, DEADLINE_S, what);
		CHECK((fm ? fm_munmap : munmap)(full, FULL_PAGES * PS) == 0);
		close(fd);
	}
	CHECK((fm ? fm_munmap : munmap)(p, SIZE) == 0);
	close(src);
	unlink(src_path);
	exit(0);
}

/* run_round - one round of side; every child's result checked against
 * want (the kernel's), or stored there if want->good is 0. */
static void run_round(enum side side, int round, struct seen *want)
{
	int in;
	pid_t pid = child_with_pipe(round_process, &side, &in);
	char what[64];
	snprintf(what, sizeof(what), "%s, round %d", side_name[side], round);
	wait_within(pid, DEADLINE_S, what);
	for (int c = 0; c < CHILDREN; c++) {
		struct seen s;
		CHECK(read(in, &s, sizeof(s)) == (ssize_t)sizeof(s));
		printf("%s, child %d: good %ld, write from bad page %ld (%s), read into it %ld "
		       "(%s), full at page %ld (%ld, %s)\n",
		       what, c, s.good, s.out_ret, strerror((int)s.out_err), s.in_ret,
		       strerror((int)s.in_err), s.stop, s.fill_ret, strerror((int)s.fill_err));
		if (!want->good)
			*want = s;
		CHECK_EQ(s.good, want->good);
		CHECK_EQ(s.out_ret, want->out_ret);
		CHECK_EQ(s.out_err, want->out_err);
		CHECK_EQ(s.in_ret, want->in_ret);
		CHECK_EQ(s.in_err, want->in_err);
		CHECK_EQ(s.fill_ret, want->fill_ret);
		CHECK_EQ(s.fill_err, want->fill_err);
		CHECK(s.stop > 0 && s.stop < FULL_PAGES);
	}
	close(in);
}

int main(void)
{
	static struct loopfs fs;
	loopfs_create(&fs, 32 << 20); /* first: it forks */
	mount_tmpfs(tmp_dir, "size=1m");
	daemon_private();
	require_engine_in_child();
	require_threads_after_fork(); /* a daemon client's child starts its watcher */
	char path[128];
	bad_fd = loopfs_file_failing_from(&fs, path, SIZE, 97, BAD);

	struct seen want = {0};
	run_round(KERNEL, 0, &want);
	CHECK_EQ(want.good, N);
	CHECK_EQ(want.out_err, EFAULT);
	CHECK_EQ(want.fill_err, EFAULT);
	for (int round = 0; round < ROUNDS; round++)
		run_round(DAEMON, round, &want);
	return 0;
}
