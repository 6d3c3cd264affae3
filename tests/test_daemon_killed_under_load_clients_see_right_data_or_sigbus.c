/*
 * Daemon mode, the daemon killed (SIGKILL) under load: NWRITERS and
 * NREADERS separately exec'd processes map one file MAP_SHARED (the
 * readers through a read-only fd) in a daemon whose budget (16 pages) is
 * far below the file (256 pages), so that misses, evictions and
 * write-backs go on all the time; the writers also write whole pages with
 * fm_pwrite, the readers read with fm_pread. Mid-run the daemon is killed
 * with SIGKILL, and everyone goes on for a while. The promise
 * (docs/design.md, "If the daemon dies"): every observation of every
 * process is either the right data or a refusal: SIGBUS for an access
 * through a mapping, EIO for a call. Never zeros, never stale data.
 *
 * "Right" is checked against a board kept outside faultmap (a kernel
 * mapping of another file): every word of page p holds p and a version;
 * writer p % NWRITERS writes version v over the whole page and then
 * publishes v on the board. A reader that sees a version older than the
 * one published before its read began read stale data; one newer than
 * the next one to be published read something never written. A write that
 * failed (SIGBUS, EIO) may or may not have landed: the writer leaves that
 * page alone from then on, so the board still bounds it.
 *
 * Several rounds, each with a daemon of its own (started on demand) and a
 * new file. Skipped under TSan, which defers the SIGBUS the client's
 * watcher thread sends to a thread stuck in a fault.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 256
#define NWRITERS 3
#define NREADERS 3
#define NPROCS (NWRITERS + NREADERS)
#define WORDS (PS / sizeof(uint64_t))

/* The board: a kernel mapping shared by everyone. */
struct board {
	_Atomic uint64_t version[NPAGES]; /* the last version fully written */
	_Atomic uint64_t progress[NPROCS]; /* operations done */
	_Atomic int stop;
};

struct tally {
	uint64_t ok, sigbus, eio;
};

static uint64_t word(uint64_t page, uint64_t version)
{
	return page << 40 | version;
}

static struct board *map_board(const char *path)
{
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	struct board *b = mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(b != MAP_FAILED);
	close(fd);
	return b;
}

/* check_page - every word of page p (buf) is p's, and its version lies
 * between what was published before the read (lo) and the version being
 * written after it (hi + 1). */
static void check_page(const uint64_t *buf, uint64_t p, uint64_t lo, uint64_t hi, const char *how)
{
	for (size_t i = 0; i < WORDS; i++) {
		uint64_t v = buf[i] & ((1ull << 40) - 1);
		if (buf[i] >> 40 != p || v < lo || v > hi + 1) {
			fprintf(stderr, "%s of page %llu, word %zu: %#llx; the board said "
					"version %llu..%llu\n", how, (unsigned long long)p, i,
				(unsigned long long)buf[i], (unsigned long long)lo,
				(unsigned long long)hi);
			exit(1);
		}
	}
}

static void writer(int id, int fd, struct board *b, struct tally *t)
{
	unsigned char *m = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);
	static bool uncertain[NPAGES]; /* a write failed: the page is left alone */
	static uint64_t buf[WORDS];
	uint64_t s = (uint64_t)id * 7 + 1;
	while (!atomic_load(&b->stop)) {
		uint64_t p = (rnd(&s) % (NPAGES / NWRITERS)) * NWRITERS + (uint64_t)id;
		atomic_fetch_add(&b->progress[id], 1);
		if (uncertain[p])
			continue;
		uint64_t v = atomic_load(&b->version[p]) + 1;
		static volatile size_t i;
		volatile bool failed = false;
		if (rnd(&s) % 4 == 0) {
			for (size_t j = 0; j < WORDS; j++)
				buf[j] = word(p, v);
			errno = 0;
			ssize_t n = fm_pwrite(fd, buf, PS, (off_t)(p * PS));
			if (n != (ssize_t)PS) {
				CHECK(n == -1 && errno == EIO);
				t->eio++;
				failed = true;
			}
		} else if (sigsetjmp(sigbus_env, 1) == 0) {
			volatile uint64_t *w = (volatile uint64_t *)(m + p * PS);
			for (i = 0; i < WORDS; i++)
				w[i] = word(p, v);
		} else {
			t->sigbus++;
			failed = true;
		}
		if (failed) {
			uncertain[p] = true;
		} else {
			atomic_store(&b->version[p], v);
			t->ok++;
		}
	}
}

static void reader(int id, int fd, struct board *b, struct tally *t)
{
	const unsigned char *m = fm_mmap(NULL, NPAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);
	static uint64_t buf[WORDS];
	uint64_t s = (uint64_t)id * 13 + 5;
	while (!atomic_load(&b->stop)) {
		uint64_t p = rnd(&s) % NPAGES;
		uint64_t lo = atomic_load(&b->version[p]);
		volatile bool got = false;
		const char *volatile how = "a load";
		if (rnd(&s) % 4 == 0) {
			how = "fm_pread";
			errno = 0;
			ssize_t n = fm_pread(fd, buf, PS, (off_t)(p * PS));
			if (n == (ssize_t)PS) {
				got = true;
			} else {
				CHECK(n == -1 && errno == EIO);
				t->eio++;
			}
		} else if (sigsetjmp(sigbus_env, 1) == 0) {
			memcpy(buf, m + p * PS, PS);
			got = true;
		} else {
			t->sigbus++;
		}
		if (got) {
			check_page(buf, p, lo, atomic_load(&b->version[p]), how);
			t->ok++;
		}
		atomic_fetch_add(&b->progress[NWRITERS + id], 1);
	}
}

static int worker(const char *role, int id, const char *path, const char *board_path)
{
	struct board *b = map_board(board_path);
	bool writing = !strcmp(role, "writer");
	int fd = open(path, writing ? O_RDWR : O_RDONLY);
	CHECK(fd >= 0);
	catch_sigbus();
	struct tally t = {0};
	if (writing)
		writer(id, fd, b, &t);
	else
		reader(id, fd, b, &t);
	printf("%s %d: %llu right, %llu SIGBUS, %llu EIO\n", role, id, (unsigned long long)t.ok,
	       (unsigned long long)t.sigbus, (unsigned long long)t.eio);
	fflush(stdout);
	_exit(0); /* the daemon is gone: nothing to say to it at exit */
}

static uint64_t progress(struct board *b, int i)
{
	return atomic_load(&b->progress[i]);
}

/* wait_progress - until every process has done `more` operations more
 * than in at[] (each keeps going: nothing waits for a timeout). */
static void wait_progress(struct board *b, const uint64_t *at, uint64_t more, const pid_t *pids)
{
	for (int i = 0; i < NPROCS; i++)
		while (progress(b, i) < at[i] + more) {
			int status;
			if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				fprintf(stderr, "process %d ended early: status %#x\n", i, status);
				exit(1);
			}
			usleep(1000);
		}
}

static void round_once(const char *argv0, int round)
{
	char path[64], board_path[64];
	int fd = make_file(path, NPAGES * PS, 0, O_RDWR);
	static uint64_t page[WORDS];
	for (uint64_t p = 0; p < NPAGES; p++) { /* version 0 of every page */
		for (size_t i = 0; i < WORDS; i++)
			page[i] = word(p, 0);
		CHECK(pwrite(fd, page, PS, (off_t)(p * PS)) == (ssize_t)PS);
	}
	close(fd);
	int bfd = make_file(board_path, sizeof(struct board), 0, O_RDWR);
	static const struct board zero;
	CHECK(pwrite(bfd, &zero, sizeof(zero), 0) == (ssize_t)sizeof(zero));
	close(bfd);
	struct board *b = map_board(board_path);
	pid_t pids[NPROCS];
	for (int i = 0; i < NPROCS; i++)
		pids[i] = exec_self(argv0, "%s %d %s %s", i < NWRITERS ? "writer" : "reader",
				    i < NWRITERS ? i : i - NWRITERS, path, board_path);
	/* Under load: everyone has done some operations, with misses and
	 * evictions all the while. Then the daemon dies. */
	uint64_t at[NPROCS] = {0};
	wait_progress(b, at, 200 + 100 * (uint64_t)round, pids);
	pid_t d = daemon_pid();
	CHECK(d > 0);
	CHECK(kill(d, SIGKILL) == 0);
	for (int i = 0; i < NPROCS; i++)
		at[i] = progress(b, i);
	/* Everyone goes on (each finds out through its own life line). */
	wait_progress(b, at, 2000, pids);
	atomic_store(&b->stop, 1);
	for (int i = 0; i < NPROCS; i++) {
		int status;
		CHECK(waitpid(pids[i], &status, 0) == pids[i]);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "round %d: process %d ended with status %#x\n", round, i,
				status);
			exit(1);
		}
	}
	munmap(b, sizeof(*b));
	unlink(path);
	unlink(board_path);
}

int main(int argc, char **argv)
{
	if (argc == 5)
		return worker(argv[1], atoi(argv[2]), argv[3], argv[4]);
	require_sigbus_delivery();
	daemon_private();
	CHECK(setenv("FAULTMAP_BUDGET", "64k", 1) == 0); /* for each daemon started on demand */
	/* Not a client itself: its forks would be clients of a dead daemon. */
	require_engine_in_child();
	for (int round = 0; round < 3; round++)
		round_once(argv[0], round);
	return 0;
}
