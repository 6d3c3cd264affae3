/* helpers.h - shared by faultmap's tests: one behaviour per test program,
 * exit 0 = pass, 77 = skip, anything else = fail. */
#ifndef FM_TEST_HELPERS_H
#define FM_TEST_HELPERS_H

#include "faultmap.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#define PS 4096UL

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			exit(1);                                               \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b)                                                          \
	do {                                                                    \
		long long a_ = (long long)(a), b_ = (long long)(b);             \
		if (a_ != b_) {                                                 \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", \
				__FILE__, __LINE__, #a, a_, #b, b_);            \
			exit(1);                                                \
		}                                                               \
	} while (0)

#if defined(__SANITIZE_THREAD__)
#define FM_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FM_UNDER_TSAN 1
#endif
#endif
/*
 * TSAN_SIGNAL_UNSAFE_ALLOWED - in a test whose signal handlers call what
 * POSIX does not list as async-signal-safe, tell TSan not to report it
 * (it defines __tsan_default_options, once per test). Two kinds of test
 * need it: those whose handlers make mapping calls, as the programs they
 * stand for do (the kernel's calls are safe there, and faultmap's must
 * be); and those of FAULTMAP_INLINE_FAULTS, whose SIGBUS handler serves
 * misses and allocates (sanitizer builds take fm_alloc's records from the
 * C library, so that the sanitizers see each one; the real build's
 * allocator, src/alloc.c, is made for handlers).
 */
#ifdef FM_UNDER_TSAN
#define TSAN_SIGNAL_UNSAFE_ALLOWED                                              \
	const char *__tsan_default_options(void);                               \
	const char *__tsan_default_options(void)                                \
	{                                                                       \
		return "report_signal_unsafe=0";                                \
	}
#else
#define TSAN_SIGNAL_UNSAFE_ALLOWED
#endif
/* Under a sanitizer (8-10 times slower): long random runs are cut there,
 * since the normal build runs them whole. */
#if defined(FM_UNDER_TSAN) || defined(__SANITIZE_ADDRESS__)
#define FM_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FM_UNDER_SANITIZER 1
#endif
#endif

/* Daemon mode with a daemon of the test's own: a private runtime directory
 * (XDG_RUNTIME_DIR, 0700) and FAULTMAP_MODE=daemon, inherited by exec'd
 * workers; at exit (of this process only) the daemon is stopped (every
 * dirty page written) and the directory removed. Call first. */
void daemon_private(void);
/* Pin this process (and the programs it execs) to embedded mode: for a
 * test of the engine's own machinery in this process (fm_sys hooks, its
 * counters, its budget, its segment), which daemon mode, the default,
 * runs in the daemon instead. why: what the test needs of the engine. */
void pin_embedded_mode(const char *why);
/* Stop the private daemon now (faultmap daemon --stop): it writes every
 * dirty page, then exits. Return: 0 or -errno. */
int daemon_stop(void);
/* The private daemon's pid (from its lock file's holder), or -1. */
pid_t daemon_pid(void);
/* Run the rest of the test in each mode of the library: this returns in a
 * child in embedded mode, then in one in daemon mode (daemon_private);
 * the process that called it exits with the first failure, 77 if both
 * skipped. With FAULTMAP_MODE set, in that mode only (daemon: a private
 * daemon), in this process. Call first. */
void each_mode(void);
/* The daemon's rescue files (src/daemon/rescue.c) in the runtime
 * directory: how many have a name starting with prefix (but skip, if not
 * NULL); the last one's name into name (size bytes). */
int rescue_files(const char *prefix, const char *skip, char *name, size_t size);
/* Whether the daemon's log (daemon.log in the runtime directory) says
 * what. */
bool daemon_log_says(const char *what);
/* SIGKILL the private daemon (which must run), and wait until its lock
 * is free. */
void daemon_kill(void);
/* Wait (5 s at most) until the private daemon has exited (its lock is
 * free); fail if it has not. */
void daemon_gone(void);
/* Run round(r, arg) for r in [0, n), each in a child process that starts
 * a private daemon of its own (this process must not be a client: see
 * require_engine_in_child), then check(r, arg) here (if not NULL), and
 * wait until that daemon is gone. A round's exit status 77 skips the
 * whole test (exit 77); any other but 0 fails it. */
void daemon_rounds(int n, int (*round)(int r, void *arg), void (*check)(int r, void *arg),
		   void *arg);
/* daemon_rounds with a private daemon (daemon_private) over a new file of
 * bytes (make_file's pattern from seed), whose path is each round's and
 * check's arg; the file is removed at the end. */
void daemon_rounds_on_file(int n, size_t bytes, uint32_t seed, int (*round)(int r, void *arg),
			   void (*check)(int r, void *arg));
/* Set or clear the immutable flag of the file (or directory) at path (no
 * one may write it, root neither; needs root). Return: 0 or errno. */
int set_immutable(const char *path, bool on);
/* Run this build's faultmap command (beside the test's directory) with
 * the arguments from arg on (NULL-terminated, 13 at most); what it
 * prints on stdout and stderr goes into out (size bytes, NUL-terminated).
 * Return: its exit status (-1: killed by a signal). */
int run_faultmap(char *out, size_t size, const char *arg, ...);
/* Copy the file from to the new file to (0600), less its last cut bytes. */
void copy_file(const char *from, const char *to, size_t cut);
/* Skip (exit 77) when faultmap cannot start here (no userfaultfd). */
void require_engine(void);
/* The same, checked in a child: this process does not become a client of
 * the daemon (which it starts, with this process's environment). */
void require_engine_in_child(void);
/* Skip (exit 77) where a test cannot catch the SIGBUS faultmap's fault
 * thread sends: under TSan, which delivers a signal sent by another thread
 * only when the target reaches one of its interceptors, and a thread stuck
 * re-faulting on one load never does. */
void require_sigbus_delivery(void);
/* Skip under TSan (exit 77): a client's flush after the daemon's death
 * reads pages the program wrote before it, an order that another
 * process's death makes and TSan cannot see (it reports a race). */
void require_death_orders_flush(void);
/* Skip (exit 77) where a forked child of a threaded process cannot start
 * threads (TSan): daemon mode's forked clients need theirs. */
void require_threads_after_fork(void);
/* A new file of size bytes filled from seed; its path goes into path[64]. */
int make_file(char *path, size_t size, uint32_t seed, int flags);
/* Write size bytes of make_file's pattern from seed to fd, and close it. */
void write_pattern(int fd, size_t size, uint32_t seed);
/* Fill buf with the pattern make_file uses. */
void fill_pattern(void *buf, size_t size, uint32_t seed);
/* Read the whole file at path into a malloc'd buffer; *size set. */
unsigned char *slurp(const char *path, size_t *size);
/* Fail unless the file at path holds exactly want[0..size) (names the
 * first byte that differs). */
void check_file_is(const char *path, const unsigned char *want, size_t size);
/* Page-cache bytes this process holds in faultmap's memfds, measured from
 * /proc/self/fd, outside the engine. */
uint64_t memfd_bytes(void);
uint32_t rnd(uint64_t *state);
/* Whether the file of fd is in memory (tmpfs, ramfs): faultmap reads such
 * files with pread, never on the fault thread's io_uring. */
bool file_in_memory(int fd);
/* Mount a tmpfs with options (e.g. "size=1m") on a new directory, whose
 * path goes into dir[64]; it is unmounted at exit. Skips (exit 77, with a
 * message) where it cannot be mounted (not root). */
void mount_tmpfs(char *dir, const char *options);
/* failing_pwrite - pwrite(2), but failing with pwrite_errno while it is
 * not 0: put in fm_sys.pwrite, it makes write-back fail. */
extern _Atomic int pwrite_errno;
ssize_t failing_pwrite(int fd, const void *buf, size_t n, off_t off);
/* catch_sigbus - from now on SIGBUS counts in sigbus_count and jumps to
 * sigbus_env (set it with sigsetjmp(sigbus_env, 1) before the access). */
extern sigjmp_buf sigbus_env;
extern volatile sig_atomic_t sigbus_count;
void catch_sigbus(void);
/* Whether this process may make a userfaultfd (vm.unprivileged_userfaultfd
 * is not 0, or /dev/userfaultfd opens for it). */
bool user_may_uffd(void);
/* fill_until_sigbus - create path anew, sparse, npages long, map it shared
 * (fm_mmap if faultmap, else the kernel's mmap) and write page i with
 * 0x40 + i % 64, in order, until a write raises SIGBUS (caught with
 * catch_sigbus, which it calls). Return: that page (npages if none); the
 * kernel's mapping is unmapped and closed, faultmap's left in *map, *fd. */
size_t fill_until_sigbus(const char *path, size_t npages, bool faultmap, unsigned char **map,
			 int *fd);
/* check_filled_until - after fill_until_sigbus: fm_msync of map succeeds,
 * with no write-back error, and the file and map hold pages [0, stop) as
 * written, zeros after. */
void check_filled_until(const char *path, unsigned char *map, size_t stop, size_t npages);
/* exec_self - a worker: this test program again (/proc/self/exe), started
 * with argv0 and the words of the printf-style fmt (split at spaces).
 * Return: its pid. */
pid_t exec_self(const char *argv0, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* handle_sigalrm - start thread watchdog with SIGALRM blocked (it never
 * runs the handler), then make handler SIGALRM's (SA_RESTART). Inline:
 * tests/programs builds a test with it without this file's library. */
static inline pthread_t handle_sigalrm(void (*handler)(int), void *(*watchdog)(void *))
{
	sigset_t alrm, old;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, &old);
	pthread_t wd;
	CHECK(pthread_create(&wd, NULL, watchdog, NULL) == 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	struct sigaction sa = {.sa_handler = handler};
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	return wd;
}
/* xwrite, xread - one message of n bytes on a pipe between a test and its
 * worker, whole or the test fails. */
void xwrite(int fd, const void *m, size_t n);
void xread(int fd, void *m, size_t n);
/*
 * Two processes writing one shared mapping in turn (npages long in each):
 * ping_pong_lead writes rounds random bytes into p (and model), each sent
 * to the other process (to), waits for the other's write (from), checks p
 * has it at once and records it in model; then it tells the other to
 * quit. ping_pong_follow is the other's side, on its own mapping q: checks
 * each byte it is told of (also with check(off, val), if not NULL), makes
 * a write of its own, and leaves by _exit(0), its mapping still there.
 */
void ping_pong_lead(volatile unsigned char *p, unsigned char *model, size_t npages, int rounds,
		    int to, int from);
void ping_pong_follow(volatile unsigned char *q, size_t npages, int in, int out,
		      void (*check)(size_t off, unsigned char val))
	__attribute__((noreturn));
/* Run fn(arg) in a child; return its wait status. */
int in_child(void (*fn)(void *), void *arg);
/* inline_faults_test - the main of a test of FAULTMAP_INLINE_FAULTS:
 * embedded mode, skipped where the engine cannot start; scenario runs in
 * a child. Return: its exit status. */
int inline_faults_test(void (*scenario)(void *));
/* inline_faults_file - in such a scenario, before the engine starts: turn
 * the mode on, set the budget (pages), and make a file of npages of
 * pattern seed at path. Return: an O_RDWR fd of it; *rdonly an O_RDONLY
 * one; *want its bytes (malloc'd). */
int inline_faults_file(char *path, size_t npages, size_t budget_pages, uint32_t seed,
		       int *rdonly, unsigned char **want);
/* child_with_pipe - fork a child that runs fn(arg, out), which must not
 * return, with out the write end of a pipe whose read end goes to *in.
 * Return: its pid. */
pid_t child_with_pipe(void (*fn)(void *arg, int out), void *arg, int *in);
/* child_ready - wait for the word (one byte) of child pid, with the read
 * end in of its pipe, that it is ready; if it ended first, exit as it did
 * (77: skipped; else failed). */
void child_ready(pid_t pid, int in);
/* wait_within - wait for child pid; if it has not ended within deadline_s
 * seconds it is killed and the test fails ("what: hung"); so it does if
 * the child did not exit 0. */
void wait_within(pid_t pid, int deadline_s, const char *what);

/*
 * A small ext4 file system without a journal on a loop device, for real
 * I/O errors. loopfs_fail_from shrinks the device (the backing image is
 * truncated, then LOOP_SET_CAPACITY, as `losetup -c` does), so every block
 * from a device offset on fails with a real EIO; loopfs_heal grows it back
 * with the same bytes. loopfs_create skips the test (exit 77, with a
 * message) when not root, or without loop devices, mkfs.ext4 or ext4.
 * Create it before faultmap starts: it forks a guard process, which, when
 * this process ends in any way (exit, crash, kill), heals and unmounts the
 * file system, detaches the loop device and removes the image.
 * loopfs_destroy does it now, and waits for it.
 */
struct loopfs {
	char dir[80];	 /* the mount point: make files here */
	char top[64];	 /* holds the image and the mount point */
	char image[80];	 /* the backing image */
	char tail[80];	 /* the image's bytes past a cut, while it is cut */
	char dev[32];	 /* /dev/loopN */
	uint64_t size;	 /* the image's full size */
	int guard;	 /* the pipe the guard process waits on */
	int guard_pid;
};
void loopfs_create(struct loopfs *fs, uint64_t size);
/* Every block of the device from byte dev_off (4 KiB aligned) on fails. */
void loopfs_fail_from(struct loopfs *fs, uint64_t dev_off);
void loopfs_heal(struct loopfs *fs);
void loopfs_destroy(struct loopfs *fs);
/* A new file of fs, size bytes filled from seed (path into path[128]),
 * whose pages from page bad on cannot be read: the device is cut where
 * that page lies (after a check that the file lies in one run there), and
 * the kernel's cache of it dropped. Return: the file open O_RDWR. */
int loopfs_file_failing_from(struct loopfs *fs, char *path, size_t size, uint32_t seed,
			     uint64_t bad);
/* The device offset of byte off of the file open at fd (FIEMAP), or
 * UINT64_MAX where the file has no block. */
uint64_t file_block_offset(int fd, uint64_t off);
/* sparse_file_on_full_fs - in dir (a small tmpfs: mount_tmpfs), a new
 * ballast file dir/ballast of 64 KiB, then a new sparse file dir/file of
 * npages (path into path[128]), open O_RDWR: its first writes fill the
 * file system. Unlink dir/ballast to make room again. */
int sparse_file_on_full_fs(const char *dir, size_t npages, char *path);
/* fill_by_pread - pread(2) src's first page into p's pages in order (up
 * to npages), until a call does not read a whole page; its result and
 * errno (0 if none) go to *ret and *err. Return: that page's number. */
long fill_by_pread(int src, unsigned char *p, long npages, long *ret, long *err);
/* Wait (bounded: 5 s) until the page at q is writable in /proc/self/maps:
 * a page whose first write is refused inside a system call is read-only
 * while it moves to the refusal's userfaultfd (src/refuse.c). Return:
 * whether it is. */
bool page_writable_again(const void *q);
/* Drop the file's pages from the kernel's cache (they must be clean);
 * fails unless none is left. */
void drop_kernel_cache(int fd);
/* The same for faultmap's cache: in daemon mode, a file no process maps
 * keeps its pages in the daemon for a while (FAULTMAP_LINGER), as in the
 * kernel's; this drops them (faultmap cache --evict). Embedded mode drops
 * them at the last unmap: nothing to do. */
void drop_faultmap_cache(int fd);

#endif
