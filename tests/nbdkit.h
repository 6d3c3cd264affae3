/* nbdkit.h - a real NBD server for the store tests: nbdkit, started by the
 * test itself on a Unix socket in a private temporary directory (mode
 * 0700), stopped at nbdkit_stop or when the test process that started it
 * ends in any way (--exit-with-parent; not by a forked child's exit). */
#ifndef FM_TEST_NBDKIT_H
#define FM_TEST_NBDKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct fm_store;

struct nbdkit {
	char dir[64];	   /* the private directory */
	char disk[96];	   /* dir/disk: the export's bytes (file plugin) */
	char url[160];	   /* nbd+unix:///?socket=dir/sock */
	char rerr[96];	   /* dir/rerr: while it exists, reads fail (EIO) */
	char werr[96];	   /* dir/werr: while it exists, writes fail (EIO) */
	pid_t pid;
};

/*
 * nbdkit_start - serve a new file of size bytes, filled with make_file's
 * pattern from seed, with nbdkit's file plugin, behind its error filter
 * (reads fail while k->rerr exists, writes while k->werr does). Skips the
 * test (exit 77, with the reason) when nbdkit is missing or cannot serve.
 * Call before faultmap starts.
 */
void nbdkit_start(struct nbdkit *k, size_t size, unsigned seed);
/* nbdkit_open_store - fm_store_open(k->url, flags), which must succeed;
 * skips the test (exit 77) where libnbd is not installed. */
struct fm_store *nbdkit_open_store(struct nbdkit *k, int flags);
/* nbdkit_map_dirty - in a client (it skips, exit 77, where faultmap cannot
 * start): open k's export O_RDWR and map its first npages shared; write
 * page i of want through the mapping for i = first, first + step... (never
 * msync'd); then fm_mprotect it, which orders those writes before the
 * client's own flush at the daemon's death where TSan sees it. Return:
 * the mapping. */
unsigned char *nbdkit_map_dirty(struct nbdkit *k, const unsigned char *want, size_t npages,
			       size_t first, size_t step);
/* nbdkit_rescue_reaches_export - the export takes writes again (k->werr
 * removed), and a new daemon (started as require_engine_in_child does)
 * writes the rescue files a daemon before left: the export then holds
 * want[0..size), and no rescue file is left. */
void nbdkit_rescue_reaches_export(struct nbdkit *k, const unsigned char *want, size_t size);
/* nbdkit_stuck_client - the setting of a daemon stop that can neither
 * write nor copy: k serves a new export of npages pages from seed; a
 * client (a child, alive until the daemon is gone) of the private daemon
 * (daemon_private first) writes pages 0, 3, 6... of *want through a
 * shared mapping, then makes the export refuse writes. *old, *want
 * (malloc'd): the export's bytes, and what the client wrote. Return: the
 * client's pid, once it wrote. */
pid_t nbdkit_stuck_client(struct nbdkit *k, size_t npages, unsigned seed, unsigned char **old,
			  unsigned char **want);
/* runtime_dir_closed - make the private daemon's runtime directory take
 * no new file (immutable as root, read-only otherwise), or take them
 * again; an immutable one is made mutable again at the test's exit. */
void runtime_dir_closed(bool on);
/* nbdkit_stop - stop nbdkit (SIGTERM, wait) and remove its directory. */
void nbdkit_stop(struct nbdkit *k);
/* touch or remove an error trigger. */
void nbdkit_trigger(const char *path, int on);

#endif
