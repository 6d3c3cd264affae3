/*
 * rescue.h - the daemon's rescue files: dirty pages of a file or a store
 * (an NBD export, a RADOS or S3 object) that no process maps any more,
 * whose write-back failed, copied where they outlive the daemon (src/daemon/rescue.c; docs/design.md, "If the daemon
 * dies").
 */
#ifndef FAULTMAP_RESCUE_H
#define FAULTMAP_RESCUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct address_space;
struct fm_store_io;

#define RESCUE_PREFIX "rescue-" /* a file's: rescue-<dev>-<ino>-<daemon pid> */
/* a store's: rescue-store-<hash of its URL>-<its stand-in's ino>-<daemon pid> */
#define RESCUE_STORE_PREFIX RESCUE_PREFIX "store-"

/* rescue_start - the daemon starts, holding its lock in its runtime
 * directory dfd: write back what the rescue files of daemons before it
 * hold (each kept, and said on stderr, where it cannot be), and from now
 * on keep rescue files there. Context: before serving anyone. */
void rescue_start(int dfd);

/* rescue_update - as (a file's cache, or a store's) changed (a
 * write-back, a write, a truncation, its last live mapping gone): if it
 * has dirty pages and no live process maps it, make its rescue file hold
 * them (written again when they changed);
 * if it has none, remove its rescue file. No-op outside the daemon.
 * Context: engine.lock. */
void rescue_update(struct address_space *as, bool unmapped);

/* rescue_refresh - a write-back of as ended (eviction's, too, which
 * writes some of its pages, and moves a store object's version): if a
 * rescue file holds its pages, rescue_update. Context: engine.lock. */
void rescue_refresh(struct address_space *as);

/* rescue_clean - as has no dirty page any more: remove its rescue file.
 * Context: engine.lock. */
void rescue_clean(struct address_space *as);

/* rescue_stop - the daemon stops and its last write-back left dirty
 * pages: each file's and store's go to a rescue file, mapped or not.
 * Return: 0, or the first error of a copy (-EBADF: no runtime directory;
 * those pages are in no rescue file: a daemon that exits now loses them).
 * Context: engine.lock. */
int rescue_stop(void);

/* rescue_resume - the daemon goes on after all (rescue_stop failed, at
 * faultmap daemon --stop): the rescue files that rescue_stop made for
 * caches a live process maps go again, as rescue_update makes none for
 * those (that process writes its pages if the daemon dies; a copy left
 * would go stale as it writes on). Context: engine.lock. */
void rescue_resume(void);

/* rescue_report - a line into out (size bytes, NUL-terminated) for each
 * file or store whose cache has dirty pages: its name (never a secret),
 * the bytes, the last write-back error, and its rescue file's name or
 * that it has none. Context: engine.lock. */
void rescue_report(char *out, size_t size);

/* rescue_list - write a line to out (NULL: none) for each rescue file in
 * the directory dfd (its name, its pages, the file or the store, by its
 * name, they are for). Return: how many there are. */
int rescue_list(int dfd, FILE *out);

/* What rescue_follow_store holds: the rescue files it wrote, locked. */
struct rescue_hold {
	int *fds;
	size_t n;
};

/* rescue_follow_store - this process (a client whose daemon died) is
 * about to write the bytes of ios[0..n) (runs of a store's cache, from
 * its views) to the store at url itself: first each rescue file of that
 * store in the runtime directory takes those bytes for the pages it
 * holds, so that a daemon that writes it back later writes them, not
 * older ones (an NBD export has no version to tell that the store
 * changed since the rescue). Each one it wrote stays locked (flock, as a
 * daemon that writes it back locks it) in *hold until rescue_follow_end,
 * to call once the store's write is done. Return: 0, or the first -errno
 * of a rescue file that could not take them (said on stderr). */
int rescue_follow_store(const char *url, const struct fm_store_io *ios, size_t n,
			struct rescue_hold *hold);

/* rescue_follow_end - unlock and close what rescue_follow_store held. */
void rescue_follow_end(struct rescue_hold *hold);

#endif
