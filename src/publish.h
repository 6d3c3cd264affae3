/*
 * publish.h - what a process running faultmap shows the outside world, and
 * the formats the faultmap CLI (programs/) reads. Shared by src/publish.c
 * (the engine side; src/internal.h for struct fm_file_counts) and
 * programs/ (the readers).
 *
 * Three channels, all off unless the environment asks for them (faultmap
 * run sets the variables). A setuid or setgid process (AT_SECURE) ignores
 * every FAULTMAP_* variable (secure_getenv), and says so on stderr: the
 * user who starts it must not choose a file it creates or an fd it writes.
 *
 *  1. Counters: FAULTMAP_PUBLISH=1. The process creates the segment
 *     faultmap.<pid> in its user's runtime directory (src/runtime_dir.h:
 *     e.g. $XDG_RUNTIME_DIR/faultmap, /run/faultmap for root,
 *     /dev/shm/faultmap-<uid>; the user's own, mode 0700), mode 0600 with
 *     O_EXCL | O_NOFOLLOW: one struct fm_pub,
 *     refreshed every FM_PUB_INTERVAL_MS by the publisher thread under a
 *     sequence lock, and unlinked at exit (or exec). Readers (faultmap stat)
 *     trust a segment only in a verified directory of the process's owner,
 *     owned by that user, whose pid field is its name's; they map it
 *     read-only and retry while seq is odd or changed. A segment whose pid
 *     is gone is stale: readers skip it (and may unlink it).
 *
 *  2. Inspection: with FAULTMAP_PUBLISH=1 the publisher thread also listens
 *     on the unix stream socket faultmap.<pid>.sock in the same directory.
 *     It answers only the same user or root (SO_PEERCRED); others get
 *     "error permission denied". It serves up to 16 clients at once, each
 *     with 2 s to send its request and 10 s to read the answer. Readers
 *     check the listener's SO_PEERCRED against the pid and its owner. A
 *     client connects and writes "inspect\n"; the process answers with the
 *     text below and closes. Every line is "key value..." with single spaces;
 *     numbers are decimal unless they start with 0x.
 *
 *       faultmap-inspect 1
 *       pid <pid>
 *       budget_pages <n>
 *       file <id> dev=<major>:<minor> ino=<n> size=<bytes> pages=<n> resident=<n> dirty=<n> path=<path, rest of line>
 *       pages <id> <runs>
 *       vma <id> mm=<n> start=0x<hex> end=0x<hex> pgoff=<n> <shared|private> prot=<r-|rw> cow=<n|-> [pid=<n>]
 *       end
 *
 *     One "file" line per address_space (ids 0, 1, ... in the order
 *     given), then its "pages" line, then one "vma" line per vma of its
 *     i_mmap (the reverse map). <runs> is the page index as run-length
 *     tokens covering pages 0..pages-1 in order: a state letter and a
 *     count, e.g. "R12 .500 D3 L16": '.' not cached, 'R' resident and
 *     clean, 'D' resident and dirty, 'L' being read (under I/O). mm=0 is
 *     the process itself, mm=1.. its forked children. cow is the number of
 *     pages of a private vma that the process has copied on write (from
 *     /proc/self/pagemap; "-" for shared vmas and for children's vmas).
 *     prot is the view's protection now, from /proc/self/maps ("?" for
 *     children's vmas, which the engine cannot see).
 *     In daemon mode the process asks its daemon for the dump
 *     (FMD_INSPECT): the files it maps, and every vma of them in any of
 *     the daemon's clients: its own as mm=0, another process's as mm=1..
 *     with pid=<n>; the daemon reads each process's /proc/PID/maps and
 *     pagemap, so prot and cow are known for all of them.
 *
 *  3. Trace: FAULTMAP_TRACE_FD=<fd>. The engine writes one line per fault it
 *     serves to that fd (an inherited pipe), from the fault thread:
 *
 *       fault t_us=<n> tid=<n> addr=0x<hex> vma=0x<hex>-0x<hex> pgoff=<n> index=<n> result=<miss|hit|write|sigbus> read_start=<n> read_pages=<n> read_us=<n> installed=<n> total_us=<n>
 *
 *     t_us counts from the engine's start; read_* and installed are 0
 *     unless result=miss; total_us is from reading the message to waking
 *     the thread. A "hit" is a fault on a page another fault brought in
 *     meanwhile: hits through the page tables never reach the engine (that
 *     is the point of the design), so the trace shows misses and first
 *     writes. At exit the engine writes "exit pid=<n>\n". The engine writes
 *     to a kept copy of the fd (fd_keep) and leaves the inherited one open,
 *     so that a program that execs (or spawns) another traces it too.
 *
 *  4. Exit summary: FAULTMAP_STATS_FILE=<path>. At exit (and before exec)
 *     the process appends one line to that file (O_APPEND, one write):
 *
 *       stats pid=<n> comm=<s> budget=<bytes> resident=<bytes> dirty=<bytes> major_faults=<n> minor_faults=<n> write_faults=<n> pages_read=<n> readahead_pages=<n> pages_written=<n> evictions=<n> refaults=<n> read_errors=<n> writeback_errors=<n> read_hits=<n> read_misses=<n> files=<n>
 *
 *     Only processes whose engine started (that mapped a file) write one.
 *     In comm, spaces and control characters are written as '_'.
 *     faultmap run --stats uses it; so do the tests, to check that a
 *     program really ran on faultmap.
 *
 * Hit ratio. faultmap sees every miss of a mapping (a fault on a page not
 * cached) but none of its hits: a cached page is mapped by the kernel's own
 * minor fault, or already is, and the access never reaches the engine. So
 * there is no hit ratio of mappings to report, and none is: the counters
 * of mappings are misses (faults that read), pages read, pages read ahead,
 * evictions and refaults (pages read again within a budget's worth of
 * evictions after their eviction: the cache was too small for them). Whether
 * a page read ahead was used later is not seen either (it is mapped into the
 * stream's vma when read), so it is not counted.
 * What is counted both ways is read() (fm_pread, fm_read and the
 * interposer's read, pread, readv... of a cached file): each page such a
 * call copies counts as a read hit if it was cached and as a read miss if it
 * had to be read for it (a page that straddles two 256 KiB pieces of one
 * long unaligned call counts twice). The read hit ratio is
 * read_hits / (read_hits + read_misses), of one file or of the process.
 */
#ifndef FAULTMAP_PUBLISH_H
#define FAULTMAP_PUBLISH_H

#include "faultmap.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * The segment's layout is versioned: the last byte of magic is the version
 * as an ASCII digit ("FFMPPUB1", "FFMPPUB2", ...), and any change to struct
 * fm_pub, fm_pub_file or fm_file_counts takes a new one. A reader reads
 * only its own version: fm_pub_version tells it which version a segment
 * has, so that it can say so instead of misreading it. Version 1 (until
 * faultmap 0.1 of 2026-11-30) had no per-file counters; its readers see a
 * version 2 segment as not initialised and skip it.
 */
#define FM_PUB_VERSION 2
#define FM_PUB_MAGIC_BASE 0x00425550504d4646ull /* "FFMPPUB" */
#define FM_PUB_MAGIC (FM_PUB_MAGIC_BASE | (uint64_t)('0' + FM_PUB_VERSION) << 56)
#define FM_PUB_INTERVAL_MS 200
#define FM_PUB_MAX_FILES 64
#define FM_PUB_PATH_MAX 256

/* fm_pub_version - the layout version of a segment whose magic is magic,
 * or 0 if it is not a segment (yet). */
static inline unsigned fm_pub_version(uint64_t magic)
{
	unsigned v = (unsigned)(magic >> 56);
	if ((magic & ~(0xffull << 56)) != FM_PUB_MAGIC_BASE || v < '1' || v > '9')
		return 0;
	return v - '0';
}

/* What happened to one file while it was cached: the engine counts it in
 * its address_space (src/internal.h) and publishes it as it is. Pages are
 * FM_PAGE_SIZE bytes. A file's counters start when it is first mapped and
 * go with it when nothing maps it any more. */
struct fm_file_counts {
	uint64_t faults;	  /* faults that read the file (major faults) */
	uint64_t fault_hits;	  /* faults on a page another fault brought in */
	uint64_t write_faults;	  /* first writes to clean shared pages */
	uint64_t pages_read;	  /* pages read from the file, by any path */
	uint64_t readahead_pages; /* of pages_read, read ahead of a stream */
	uint64_t pages_written;	  /* dirty pages written back */
	uint64_t evictions;	  /* pages dropped from the cache */
	uint64_t refaults;	  /* pages read again soon after their eviction */
	uint64_t read_hits;	  /* pages of read() calls found cached */
	uint64_t read_misses;	  /* pages of read() calls read from the file */
};

struct fm_pub_file {
	char path[FM_PUB_PATH_MAX]; /* as opened; truncated */
	uint64_t size_bytes;
	uint64_t pages;		/* ceil(size / page) */
	uint64_t resident_pages;
	uint64_t dirty_pages;
	uint64_t nr_vmas;	/* in every mm */
	struct fm_file_counts c;
};

struct fm_pub {
	uint64_t magic;		  /* FM_PUB_MAGIC once initialised */
	uint64_t seq;		  /* odd while being written (atomic) */
	int32_t pid;
	uint32_t nr_files;	  /* entries used in files[] */
	uint32_t files_total;	  /* files cached (may exceed FM_PUB_MAX_FILES) */
	uint32_t page_size;	  /* FM_PAGE_SIZE */
	char comm[32];		  /* program name (/proc/self/comm) */
	uint64_t updated_ms;	  /* CLOCK_MONOTONIC of the last refresh */
	uint64_t read_hits;	  /* see "Hit ratio" above */
	uint64_t read_misses;
	uint64_t faults_per_sec;  /* engine faults/s over the last interval */
	struct fm_stats st;	  /* fm_stats() */
	struct fm_pub_file files[FM_PUB_MAX_FILES];
};

/* One served fault, for the trace (see channel 3). */
struct fm_trace {
	uint64_t t_ns;		/* CLOCK_MONOTONIC when the message was read */
	int tid;
	uintptr_t addr, vm_start, vm_end;
	uint64_t pgoff, index;
	const char *result;	/* "miss", "hit", "write", "sigbus" */
	uint64_t read_start, read_pages, read_ns, installed;
	uint64_t total_ns;
};

/* ---- src/publish.c: called by the engine ---------------------------------- */

/* publish_start - at engine start: read FAULTMAP_PUBLISH,
 * FAULTMAP_TRACE_FD and FAULTMAP_STATS_FILE, create the segment, the socket
 * and the publisher thread as asked. Failures are reported once on stderr and leave the
 * engine running. Context: engine.lock not held. */
void publish_start(void);

/* publish_stop - at exit or exec: last refresh, stop the thread, unlink the
 * segment, close the socket, write "exit" to the trace and the line of
 * FAULTMAP_STATS_FILE. Idempotent; does nothing in a forked child (whose
 * engine is the parent's).
 * Context: engine.lock not held. */
void publish_stop(void);

/* trace_enabled - whether FAULTMAP_TRACE_FD is being written. Atomic:
 * publish_start sets it after the fault threads have started. */
extern _Atomic int fm_trace_fd;
static inline int trace_enabled(void)
{
	return atomic_load_explicit(&fm_trace_fd, memory_order_relaxed) >= 0;
}

/* trace_fault - write one fault's line. Context: any; does not take
 * engine.lock. */
void trace_fault(const struct fm_trace *t);

/* trace_mm_fault - in the daemon: write one fault's line to the trace of
 * the client of mm (FMD_TRACE), without blocking (a line that does not fit
 * in the pipe is dropped: the
 * daemon's fault thread never waits for one client's reader; the pipe is
 * made as large as the system allows, 1 MiB by default, when FMD_TRACE
 * takes it).
 * Context: engine.lock held (mm's trace fd cannot be closed meanwhile). */
struct mm;
void trace_mm_fault(struct mm *mm, struct fm_trace *t);

/* ---- the daemon's side (src/daemon/server.c) ------------------------------ */

/* publish_mm_counters - into p, the counters of mm (a client's: what its
 * faults and requests made the engine do), the daemon's budget, and the
 * files mm maps, with their residency. Context: engine.lock held. */
void publish_mm_counters(const struct mm *mm, struct fm_pub *p);

/* publish_mm_inspect - channel 2's dump for the client of mm, process pid:
 * the files mm maps and mm's vmas (mm=0), with their protection and copies
 * on write from /proc/PID. malloc'ed; *len its length.
 * Return: NULL when out of memory. Context: takes engine.lock. */
char *publish_mm_inspect(const struct mm *mm, pid_t pid, size_t *len);

/* trace_take - FMD_TRACE: write mm's faults to fd (the client's
 * FAULTMAP_TRACE_FD) from now on, t_us counted from base_ns
 * (CLOCK_MONOTONIC). Return: 0 or -errno (-EBUSY: traced already).
 * Context: engine.lock held. */
int trace_take(struct mm *mm, int fd, uint64_t base_ns);

/* ---- the client's side (src/client/client.c, daemon mode) ----------------- */

/* publish_client_start - publish_start for a daemon's client: the same
 * channels, but the counters and the dump are the daemon's for this
 * process (FMD_PUBLISH, FMD_INSPECT), and the trace is written by the
 * daemon (FMD_TRACE). Context: the client has just said hello. */
void publish_client_start(void);

/* publish_wants_last - whether publish_stop will want the counters of
 * FMD_EXIT's end (a stats file, or a segment to refresh a last time). */
bool publish_wants_last(void);

/* ---- readers (programs/, tests) ------------------------------------------- */

/* fm_pub_read - copy a consistent snapshot of the segment seg (mapped
 * read-only) into *out, retrying while a refresh is in progress.
 * Return: 0, -EINVAL (not an initialised segment), -EAGAIN (never stable). */
int fm_pub_read(const struct fm_pub *seg, struct fm_pub *out);

#endif /* FAULTMAP_PUBLISH_H */
