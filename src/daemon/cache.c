/*
 * cache.c - faultmap cache, the daemon's side (FMD_CACHE): what vmtouch
 * does to the kernel's page cache, done to the daemon's.
 *
 *  - query: how many pages of a range are cached, dirty, locked;
 *  - touch: read the missing pages of the range into the cache, a cluster
 *    at a time, through the engine (reclaim_reserve: a range bigger than
 *    the budget just cycles through it). The file stays cached with
 *    nothing mapping it (as->kept), as the kernel keeps an unmapped file's
 *    pages, until they are all evicted (as_release_idle);
 *  - evict: write the dirty pages of the range back, then drop its clean
 *    pages; a page whose write-back failed stays, dirty, and so does a
 *    locked page (both are counted in the answer): no dirty page is lost;
 *  - lock: a locked range (reclaim_pin, at most reclaim_pin_limit pages
 *    for all locks: -ENOMEM beyond), then touch; the lock lasts until the
 *    connection ends, however it ends.
 *
 * The file is the client's own open fd (SCM_RIGHTS), so a client acts only
 * on the files it can read.
 */
#include "daemon/cache.h"
#include "internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <time.h>

#define TOUCH_WAITS 1000 /* ms that a touch waits for room, in all */

/* count_range - resident, dirty and locked pages of [first, end) of as. */
static void count_range(struct address_space *as, uint64_t first, uint64_t end,
			struct fmd_cache_info *info)
{
	for (uint64_t i = first; i < end; i++) {
		uint64_t c = i >> TREE_CHUNK_SHIFT;
		if (c >= as->tree_chunks)
			break;
		if (!as->page_tree[c]) {
			i = ((c + 1) << TREE_CHUNK_SHIFT) - 1;
			continue;
		}
		uint32_t nr = as_find_frame(as, i);
		if (nr == FM_NIL || (frame_get(nr)->flags & PG_LOCKED))
			continue; /* not cached, or not yet (being read) */
		info->resident++;
		info->dirty += !!(frame_get(nr)->flags & PG_DIRTY);
		info->locked += frame_get(nr)->lru == LRU_PINNED;
	}
}

/* touch_range - read the pages of [first, end) of as that are not cached,
 * a cluster at a time, engine.lock dropped during each read. *done: pages
 * read. Return: 0 or -errno (a read error, or no room: -ENOMEM). */
static int touch_range(struct address_space *as, uint64_t first, uint64_t end,
		       uint64_t *done)
{
	char *buf = aligned_alloc(FM_PAGE_SIZE, FM_CLUSTER_MAX * FM_PAGE_SIZE);
	if (!buf)
		return -ENOMEM;
	int err = 0, waits = 0;
	for (uint64_t i = first; i < end && i < as->nr_pages && !err;) {
		if (as_find_frame(as, i) != FM_NIL) { /* cached, or being read */
			i++;
			continue;
		}
		uint64_t n = 1;
		while (i + n < end && i + n < as->nr_pages && n < FM_CLUSTER_MAX &&
		       as_find_frame(as, i + n) == FM_NIL)
			n++;
		err = reclaim_reserve(n);
		if (err && n > 1) { /* room for one at least */
			n = 1;
			err = reclaim_reserve(n);
		}
		if (err == -ENOMEM && waits++ < TOUCH_WAITS) {
			/* The frames may be those of reads in flight, given
			 * back when they end: wait for them, lock dropped. */
			pthread_mutex_unlock(&engine.lock);
			nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
			pthread_mutex_lock(&engine.lock);
			err = 0;
			continue;
		}
		if (!err)
			err = filemap_touch_pages(as, i, n, buf);
		if (!err)
			*done += n;
		i += n;
	}
	free(buf);
	return err;
}

/* evict_range - write back, then drop, the pages of [first, end) of as. */
static void evict_range(struct address_space *as, uint64_t first, uint64_t end,
			struct fmd_cache_info *info)
{
	info->err = writeback_range(as, first, end);
	info->done = reclaim_drop_clean(as, first, end);
	struct fmd_cache_info left = {0};
	count_range(as, first, end, &left);
	info->kept_dirty = left.dirty;
	info->kept_locked = left.locked;
}

/* do_lock - lock [first, end) of as for the connection, then read it. */
static int do_lock(struct fmd_locks *locks, struct address_space *as, uint64_t first,
		   uint64_t end, struct fmd_cache_info *info)
{
	if (locks->n >= FMD_MAX_LOCKS)
		return -ENOMEM;
	struct fm_pin *pin;
	int err = reclaim_pin(as, first, end, &pin);
	if (err)
		return err;
	as->kept = true;
	err = touch_range(as, first, end, &info->done);
	if (err) {
		reclaim_unpin(pin);
		return err;
	}
	pin->owner_next = locks->head;
	locks->head = pin;
	locks->n++;
	return 0;
}

int fmd_cache(struct fmd_locks *locks, const struct fmd_req *r, int fd,
	      struct fmd_cache_info *info)
{
	uint64_t what = r->a[0], off = r->a[1], len = r->a[2];
	if (what >= FMD_CACHE_WHAT_MAX || off > INT64_MAX || len > INT64_MAX)
		return -EINVAL;
	struct stat st;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fstat(fd, &st) < 0)
		return -errno;
	/* The client's right to read the file is its fd's (an O_PATH fd
	 * needs no right to the file). */
	if ((fl & O_PATH) || (fl & O_ACCMODE) == O_WRONLY)
		return -EBADF;
	if (!S_ISREG(st.st_mode))
		return -ENODEV;
	uint64_t first = off >> FM_PAGE_SHIFT;
	uint64_t end = !len || off + len > INT64_MAX
			       ? UINT64_MAX
			       : (off + len + FM_PAGE_SIZE - 1) >> FM_PAGE_SHIFT;
	pthread_mutex_lock(&engine.lock);
	as_release_idle();
	int err = 0;
	struct address_space *as;
	if (what == FMD_CACHE_QUERY || what == FMD_CACHE_EVICT) {
		as = as_find(st.st_dev, st.st_ino);
		if (as)
			as_revalidate(as, &st); /* changed outside faultmap? */
	} else {
		as = as_get(fd, &st, &err);
	}
	uint64_t size = as ? as->i_size : (uint64_t)st.st_size;
	uint64_t pages = as ? as->nr_pages : (size + FM_PAGE_SIZE - 1) >> FM_PAGE_SHIFT;
	if (end > pages)
		end = pages;
	if (first > end)
		first = end;
	if (as) {
		as->nr_pins++; /* it stays while the lock is dropped */
		switch (what) {
		case FMD_CACHE_TOUCH:
			as->kept = true;
			err = touch_range(as, first, end, &info->done);
			break;
		case FMD_CACHE_EVICT:
			evict_range(as, first, end, info);
			break;
		case FMD_CACHE_LOCK:
			err = do_lock(locks, as, first, end, info);
			break;
		}
		count_range(as, first, end, info);
		as->nr_pins--;
		if (!as->i_mmap)
			as_put_if_unused(as); /* an evicted file may go now */
	}
	bool lingers = false;
	if (!as) { /* a file no process maps may linger: its pages are still here */
		uint64_t n;
		lingers = linger_count(&st, first, end, &n);
		if (what == FMD_CACHE_EVICT && lingers) /* whole */
			info->done = linger_evict(&st);
		else
			info->resident = n;
	}
	info->size = size;
	info->first = first;
	info->count = end - first;
	info->cached = lingers || as_find(st.st_dev, st.st_ino) != NULL;
	info->budget = engine.budget_pages;
	info->locked_total = engine.pinned_pages;
	info->lock_limit = reclaim_pin_limit();
	pthread_mutex_unlock(&engine.lock);
	return err;
}

void fmd_cache_unlock_all(struct fmd_locks *locks)
{
	if (!locks->head)
		return;
	pthread_mutex_lock(&engine.lock);
	while (locks->head) {
		struct fm_pin *pin = locks->head;
		locks->head = pin->owner_next;
		reclaim_unpin(pin);
	}
	locks->n = 0;
	pthread_mutex_unlock(&engine.lock);
}
