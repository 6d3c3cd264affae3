/*
 * client.h - a process whose page cache is the daemon's (src/client/client.c):
 * the fm_ mapping calls in daemon mode. Each behaves as its fm_ namesake
 * (-1 or MAP_FAILED with errno); mmap.c calls them when fm_client_mode().
 */
#ifndef FAULTMAP_CLIENT_H
#define FAULTMAP_CLIENT_H

#include "faultmap.h"
#include "daemon/proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The mapping calls below are called by their fm_ namesakes, after the
 * argument checks those make before looking at any mapping. */

/* client_start - connect to the user's daemon (starting it if none runs)
 * and hand it this process's userfaultfd, once. Return: 0 or -errno. */
int client_start(void);

/* client_set_budget - fm_set_budget in daemon mode: the budget of a
 * daemon this process starts (a running daemon keeps its own). Return: 0,
 * -EBUSY once connected, or -EINVAL for a budget below the minimum. */
int client_set_budget(size_t bytes);

void *client_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
void *client_mmap_by_kernel(void *addr, size_t length, int prot, int flags, int fd,
			    off_t offset);
int client_munmap(void *addr, size_t length);
int client_msync(void *addr, size_t length, int flags);
int client_madvise(void *addr, size_t length, int advice);
int client_mprotect(void *addr, size_t length, int prot);
void *client_mremap(void *old_address, size_t old_size, size_t new_size, int flags,
		    void *new_address);
int client_sync_all(void);
/* client_remap_target - fm_remap_target in daemon mode (the daemon's
 * records of this process's mappings answer). */
int client_remap_target(uintptr_t start, size_t size, bool write, int *fd);
/* client_before_exec - this image is about to exec (or a vfork child of
 * it): its stats line (FAULTMAP_STATS_FILE), and every dirty page to its
 * file, for the program about to start, which may read the file past
 * faultmap. Return: 0 or -errno (nothing is lost: the daemon keeps the
 * pages). */
int client_before_exec(void);

/* What publish.c asks of the daemon for this process (publish.h):
 * client_pub_counters copies the counters and files of FMD_PUBLISH into p
 * (not pid, comm, magic, seq); client_inspect returns the dump of
 * FMD_INSPECT, malloc'ed, *len its length (NULL: none); client_trace has
 * the daemon trace this process's faults to fd. Return: 0 or -errno. */
struct fm_pub;
int client_pub_counters(struct fm_pub *p);
char *client_inspect(size_t *len);
int client_trace(int fd, uint64_t base_ns);
/* read(), write() and the size and sync calls of a file the daemon may
 * cache (client_may_cache), through it; others go to the kernel. at_pos:
 * at the fd's file position (read, write), not at offset. */
bool client_may_cache(int fd);
ssize_t client_pread(int fd, void *buf, size_t count, off_t offset, bool at_pos);
ssize_t client_pwrite(int fd, const void *buf, size_t count, off_t offset, bool at_pos);
int client_file_op(int op, int fd, uint64_t a0, uint64_t a1, uint64_t a2);
int client_fsync_standin(int fd, bool datasync);
int client_stats(struct fm_stats *out);

/* Stores in daemon mode: fm_store_open of any URL but a file's opens the
 * store in the daemon (FMD_STORE_OPEN); the handle is a store of the
 * client's own kind (client_store_is), whose handle_fd is the daemon's
 * stand-in, mapped and read through the daemon as a file is. Return: 0
 * or -errno (client_store_rw: bytes, or -errno if none moved). */
int client_store_open(const char *url, int flags, struct fm_store **out);
bool client_store_is(const struct fm_store *s);
ssize_t client_store_rw(struct fm_store *s, int fd, void *buf, size_t count, off_t off,
			bool write);
int client_store_truncate(struct fm_store *s, uint64_t size);
int client_store_remove(struct fm_store *s);
struct store_names;
int client_store_list(const char *url, struct store_names *out);

/* client_daemon_pid - the pid of this user's daemon, if one runs (it is
 * not started); its socket's path into path. Return: the pid, -ENOENT if
 * none runs, or -errno. */
int client_daemon_pid(char *path, size_t size);

/* What a daemon asked to stop answered (client_stop_daemon). */
struct client_stop {
	bool stopped; /* it exited: with a write-back error, every page it
		       * could not write is in a rescue file */
	int copy_err; /* not stopped: the -errno of a rescue file it could
		       * not write (0: a daemon from before rescue files at
		       * a stop, which goes on after any error) */
	char report[FMD_REPORT_MAX]; /* after an error: a line for each
				      * file or store left dirty */
};

/* client_stop_daemon - ask the user's daemon, if one runs, to write every
 * dirty page and exit (faultmap daemon --stop); wait until it has. What it
 * cannot write it copies to rescue files, and exits all the same; only if
 * it cannot copy them either does it go on, holding them. out (NULL: not
 * wanted): what it answered. Return: 0, -ENOENT if none runs, or -errno
 * (the write-back's: see out->stopped). */
int client_stop_daemon(struct client_stop *out);

/* client_cache - faultmap cache: FMD_CACHE what (enum fmd_cache_what) of
 * the bytes [off, off + len) (len 0: to the end) of the file open at fd,
 * on a connection of its own; the answer into *info. A touch or a lock
 * starts the daemon if none runs; a query or an evict does not. With
 * conn, the connection is left open there (a lock lasts until it is
 * closed). Return: 0, -ENOENT if no daemon runs, or -errno (the daemon's
 * answer, *info filled: -ENOMEM for a lock over the limit; -EIO: the
 * daemon did not answer, or is too old to know FMD_CACHE). */
int client_cache(int fd, int what, uint64_t off, uint64_t len, struct fmd_cache_info *info,
		 int *conn);

#endif /* FAULTMAP_CLIENT_H */
