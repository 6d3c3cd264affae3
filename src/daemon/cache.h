/*
 * cache.h - faultmap cache in the daemon (src/daemon/cache.c): FMD_CACHE,
 * which reports, reads in, drops or locks the pages of a file, as vmtouch
 * does with the kernel's page cache.
 */
#ifndef FAULTMAP_DAEMON_CACHE_H
#define FAULTMAP_DAEMON_CACHE_H

#include "daemon/proto.h"

struct fm_pin;

/* The locks one connection holds, dropped when it ends. */
struct fmd_locks {
	struct fm_pin *head;
	unsigned n;
};
#define FMD_MAX_LOCKS 256 /* per connection */

/* fmd_cache - answer FMD_CACHE r for the file fd (the client's), into
 * *info. A lock joins locks. Return: 0 or -errno. Context: engine.lock
 * not held. */
int fmd_cache(struct fmd_locks *locks, const struct fmd_req *r, int fd,
	      struct fmd_cache_info *info);

/* fmd_cache_unlock_all - drop the locks (the connection ended).
 * Context: engine.lock not held. */
void fmd_cache_unlock_all(struct fmd_locks *locks);

#endif /* FAULTMAP_DAEMON_CACHE_H */
