/*
 * reclaim.c - keeping the page cache within its budget.
 *
 * Only misses reach the engine (hits are mapped by the kernel), so recency
 * cannot be learnt from hits. The policy uses what misses do tell:
 *
 *  - pages read by a sequential stream go on LRU_ONCE and are evicted first
 *    (drop-behind), so a scan recycles its own pages instead of flushing
 *    everything else;
 *  - other pages start on LRU_INACTIVE (probation, FIFO);
 *  - a miss on a page evicted less than budget_pages evictions ago (its
 *    shadow entry in page_tree says when) is a refault: the page was part
 *    of the working set, and goes on LRU_ACTIVE (the kernel's workingset.c
 *    uses the same refault distance);
 *  - LRU_ACTIVE is capped at 3/4 of the budget; its oldest pages are demoted
 *    to LRU_INACTIVE.
 *
 * Eviction is batched: victims are sorted by file and index, dirty ones are
 * written back in runs, and clean ones are punched out of the memfd in runs
 * (each punch is a TLB shootdown). All functions run under engine.lock.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>


/* frames_available - pages the cache may still take without evicting. */
uint64_t frames_available(void)
{
	uint64_t free = engine.nr_free + (engine.budget_pages - engine.nr_frames);
	return free > engine.lingering_pages ? free - engine.lingering_pages : 0;
}

/* The pages the last few faults were for. One access may span two pages:
 * evicting the first to make room for the second would make it fault for
 * ever, so these are never chosen. */
#define RECENT_FAULTS 4
static struct {
	struct address_space *mapping;
	uint64_t index;
} recent[RECENT_FAULTS];
static unsigned recent_next;

/* reclaim_note_fault - remember that a fault needed page index of as. */
void reclaim_note_fault(struct address_space *as, uint64_t index)
{
	recent[recent_next % RECENT_FAULTS].mapping = as;
	recent[recent_next % RECENT_FAULTS].index = index;
	recent_next++;
}

static bool recently_faulted(uint32_t nr)
{
	const struct fm_frame *f = frame_get(nr);
	for (int i = 0; i < RECENT_FAULTS; i++)
		if (recent[i].mapping == f->mapping && recent[i].index == f->index)
			return true;
	return false;
}

/*
 * Back-off. A dirty page whose write-back failed (ENOSPC, EIO) cannot be
 * evicted: its data lives only here. Trying it again at every eviction made
 * a cache full of such pages retry them for every fault (1.49 million
 * failed page writes in one run). So a failure makes eviction leave that
 * file's dirty pages alone for a while: 2, 4, 8 ... up to 1024 reclaim
 * passes (eviction rounds) after the first, second, third... failure in a
 * row. Meanwhile they wait on LRU_WAIT, out of the victims' way, and faults
 * are served from the clean frames. msync, fsync, the last unmap and exit
 * always write at once; any success ends the back-off.
 */
#define BACKOFF_MAX_SHIFT 10

/* backed_off - frame f is dirty and its file's write-back is backing off. */
static bool backed_off(const struct fm_frame *f)
{
	return (f->flags & PG_DIRTY) && f->mapping->wb_retry_at > engine.reclaim_passes;
}

/* reclaim_backoff - a write-back of as failed with err. Several runs of
 * one batch count as one failure. */
void reclaim_backoff(struct address_space *as, int err)
{
	as->wb_last_err = err;
	if (as->wb_retry_at > engine.reclaim_passes)
		return;
	if (as->wb_failures < BACKOFF_MAX_SHIFT)
		as->wb_failures++;
	as->wb_retry_at = engine.reclaim_passes + (1ull << as->wb_failures);
}

/* reclaim_backoff_end - a write-back of as succeeded: the next failure
 * backs off from the start; its pages on LRU_WAIT that are clean now go
 * back at the next pass, and all of them once it has no dirty page left. */
void reclaim_backoff_end(struct address_space *as)
{
	as->wb_failures = 0;
	if (as->wb_retry_at) {
		if (!as->nr_dirty)
			as->wb_retry_at = 0;
		engine.wait_expiry = 0;
	}
}

/* park - put frame nr, dirty and backed off, on LRU_WAIT. */
static void park(uint32_t nr)
{
	lru_add(nr, LRU_WAIT);
	uint64_t at = frame_get(nr)->mapping->wb_retry_at;
	if (at < engine.wait_expiry)
		engine.wait_expiry = at;
}

/* release_waiting - put the frames whose back-off ended back where
 * victims are chosen (when one may have). */
static void release_waiting(void)
{
	if (engine.wait_expiry > engine.reclaim_passes)
		return;
	uint64_t next = UINT64_MAX;
	for (uint32_t nr = engine.lru[LRU_WAIT].head, after; nr != FM_NIL; nr = after) {
		struct fm_frame *f = frame_get(nr);
		after = f->next;
		if (backed_off(f)) {
			if (f->mapping->wb_retry_at < next)
				next = f->mapping->wb_retry_at;
			continue;
		}
		lru_del(nr);
		lru_add(nr, LRU_INACTIVE);
	}
	engine.wait_expiry = next;
}

static uint32_t pick_victim(void)
{
	while (engine.lru[LRU_ACTIVE].count > engine.budget_pages * 3 / 4) {
		uint32_t nr = engine.lru[LRU_ACTIVE].head;
		lru_del(nr);
		lru_add(nr, LRU_INACTIVE);
	}
	for (int l = LRU_ONCE; l <= LRU_ACTIVE; l++)
		for (uint32_t nr = engine.lru[l].head, after; nr != FM_NIL; nr = after) {
			after = frame_get(nr)->next;
			if (backed_off(frame_get(nr))) {
				lru_del(nr);
				park(nr);
			} else if (!recently_faulted(nr) && !refusal_holds(frame_get(nr))) {
				return nr;
			}
		}
	return FM_NIL;
}

static int victim_cmp(const void *a, const void *b)
{
	const struct fm_frame *x = frame_get(*(const uint32_t *)a);
	const struct fm_frame *y = frame_get(*(const uint32_t *)b);
	if (x->mapping != y->mapping)
		return (uintptr_t)x->mapping < (uintptr_t)y->mapping ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* punch_run - punch pages [index, index + n) of as, clean, out of the
 * memfd, and write-protect them again in every view.
 *
 * A hole punch keeps the uffd-wp markers of shared views, except where a
 * racing fault mapped a page between the kernel's unmap and its truncation:
 * unmap_mapping_folio() then zaps with ZAP_FLAG_DROP_MARKER. A view left
 * without a marker would map the page writable when it comes back, and its
 * writes would never be seen. So the run is protected again afterwards;
 * until then no page of it can come back (only the engine inserts, under
 * engine.lock), and a fault on it waits for the engine.
 * Return: 0 or -errno (nothing punched). */
static int punch_run(struct address_space *as, uint64_t index, uint64_t n)
{
	if (sys_fallocate(as->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (off_t)(index << FM_PAGE_SHIFT), (off_t)(n << FM_PAGE_SHIFT)) < 0)
		return -errno;
	writeback_protect(as, index, n);
	return 0;
}

/* evict_clean_run - punch victims v[0..n) (clean, one file, consecutive
 * indices) out of the memfd and free their frames, leaving shadow entries. */
static void evict_clean_run(const uint32_t *v, size_t n)
{
	struct fm_frame *first = frame_get(v[0]);
	struct address_space *as = first->mapping;
	if (punch_run(as, first->index, n)) {
		for (size_t i = 0; i < n; i++)
			lru_add(v[i], LRU_ACTIVE);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct fm_frame *f = frame_get(v[i]);
		uint32_t *slot = as_slot(as, f->index, false);
		*slot = SLOT_SHADOW | (uint32_t)(engine.eviction_clock++ & ~SLOT_SHADOW);
		as->nr_resident--;
		frame_free(v[i]);
	}
	count_event(evictions, n);
	as->st.evictions += n;
}

/* droppable - page index of as is resident, clean and not being read. */
static bool droppable(struct address_space *as, uint64_t index)
{
	uint32_t nr = as_find_frame(as, index);
	return nr != FM_NIL && !(frame_get(nr)->flags & (PG_DIRTY | PG_LOCKED));
}

/* drop_clean_run - punch pages [index, index + n) of as (droppable) out
 * of the memfd and free their frames; their slots become empty (no shadow:
 * a page read again is not a refault). */
static void drop_clean_run(struct address_space *as, uint64_t index, uint64_t n)
{
	if (punch_run(as, index, n))
		return; /* they stay: the next check tries again */
	for (uint64_t i = index; i < index + n; i++) {
		uint32_t nr = as_find_frame(as, i);
		lru_del(nr);
		frame_free(nr);
		*as_slot(as, i, false) = 0;
		as->nr_resident--;
	}
}

/* may_drop - page index of as is droppable (and, with keep_locked, not
 * locked by an fm_pin). */
static bool may_drop(struct address_space *as, uint64_t index, bool keep_locked)
{
	return droppable(as, index) &&
	       !(keep_locked && frame_get(as_find_frame(as, index))->lru == LRU_PINNED);
}

/* drop_runs - drop_clean_run each run of pages of [start, end) of as that
 * may_drop, one page_tree chunk at a time. */
static void drop_runs(struct address_space *as, uint64_t start, uint64_t end, bool keep_locked)
{
	for (uint64_t i = start; i < end;) {
		uint64_t c = i >> TREE_CHUNK_SHIFT;
		uint64_t stop = (c + 1) << TREE_CHUNK_SHIFT;
		if (c >= as->tree_chunks)
			break;
		if (stop > end)
			stop = end;
		if (!as->page_tree[c] || !may_drop(as, i, keep_locked)) {
			i = as->page_tree[c] ? i + 1 : stop;
			continue;
		}
		uint64_t j = i + 1;
		while (j < stop && may_drop(as, j, keep_locked))
			j++;
		drop_clean_run(as, i, j - i);
		i = j;
	}
}

/*
 * reclaim_invalidate - the file of as changed outside faultmap: drop its
 * clean pages (the views fault them in again, from the file). Pages being
 * read are left (the caller waited for the reads). Dirty pages stay.
 * Return: how many dirty pages stayed.
 */
uint64_t reclaim_invalidate(struct address_space *as)
{
	for (int i = 0; i < RECENT_FAULTS; i++)
		if (recent[i].mapping == as)
			recent[i].mapping = NULL;
	drop_runs(as, 0, as->tree_chunks << TREE_CHUNK_SHIFT, false);
	return as->nr_dirty;
}

/*
 * reclaim_drop_clean - drop the clean pages of [start, end) of as that are
 * not locked and not being read (faultmap cache --evict; the caller wrote
 * the dirty ones back first). No shadow entries: a page read again is not
 * a refault, as after the kernel's POSIX_FADV_DONTNEED.
 * Return: how many pages were dropped.
 */
uint64_t reclaim_drop_clean(struct address_space *as, uint64_t start, uint64_t end)
{
	uint64_t before = as->nr_resident;
	drop_runs(as, start, end < as->nr_pages ? end : as->nr_pages, true);
	return before - as->nr_resident;
}

/* ---- locked ranges (faultmap cache --lock) ------------------------------ */

/* reclaim_pin_limit - how many pages the locked ranges may hold in all:
 * the budget less room for the other files' misses (a cluster, or half of
 * a budget smaller than two). */
uint64_t reclaim_pin_limit(void)
{
	uint64_t room = engine.budget_pages / 2 < FM_CLUSTER_MAX ? engine.budget_pages / 2
								   : FM_CLUSTER_MAX;
	return engine.budget_pages - room;
}

/* reclaim_pinned - whether page index of as lies in a locked range. */
bool reclaim_pinned(struct address_space *as, uint64_t index)
{
	for (const struct fm_pin *p = as->pins; p; p = p->next)
		if (index >= p->start && index < p->end)
			return true;
	return false;
}

/* set_pinned - move the resident frames of [start, end) of as on or off
 * LRU_PINNED, as the locked ranges now say. Frames being read join their
 * list when inserted (reclaim_insert asks reclaim_pinned). */
static void set_pinned(struct address_space *as, uint64_t start, uint64_t end)
{
	if (end > as->nr_pages)
		end = as->nr_pages;
	for (uint64_t i = start; i < end; i++) {
		uint64_t c = i >> TREE_CHUNK_SHIFT;
		if (c >= as->tree_chunks || !as->page_tree[c]) {
			i = ((c + 1) << TREE_CHUNK_SHIFT) - 1;
			continue;
		}
		uint32_t nr = as_find_frame(as, i);
		if (nr == FM_NIL || (frame_get(nr)->flags & PG_LOCKED))
			continue;
		bool pin = reclaim_pinned(as, i);
		if (pin == (frame_get(nr)->lru == LRU_PINNED))
			continue;
		lru_del(nr);
		lru_add(nr, pin ? LRU_PINNED : LRU_INACTIVE);
	}
}

/*
 * reclaim_pin - lock pages [start, end) of as in the cache: from now on
 * they are never evicted (those not cached yet, once read). The locked
 * ranges together may hold at most reclaim_pin_limit() pages.
 * Return: 0 (*out: the range, for reclaim_unpin), or -ENOMEM (over the
 * limit, or no memory).
 */
int reclaim_pin(struct address_space *as, uint64_t start, uint64_t end, struct fm_pin **out)
{
	if (end > as->nr_pages)
		end = as->nr_pages;
	if (start > end)
		start = end;
	uint64_t pages = end - start;
	if (pages > reclaim_pin_limit() || engine.pinned_pages > reclaim_pin_limit() - pages)
		return -ENOMEM;
	struct fm_pin *p = fm_alloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct fm_pin){.as = as, .start = start, .end = end, .next = as->pins};
	as->pins = p;
	as->nr_pins++;
	engine.pinned_pages += pages;
	set_pinned(as, start, end);
	*out = p;
	return 0;
}

/* reclaim_unpin - end the locked range pin: its pages go back on
 * LRU_INACTIVE (unless another range locks them), and its file is
 * released if nothing else uses it (as_put_if_unused). */
void reclaim_unpin(struct fm_pin *pin)
{
	struct address_space *as = pin->as;
	struct fm_pin **pp = &as->pins;
	while (*pp != pin)
		pp = &(*pp)->next;
	*pp = pin->next;
	engine.pinned_pages -= pin->end - pin->start;
	set_pinned(as, pin->start, pin->end);
	fm_free(pin);
	as->nr_pins--;
	if (!as->i_mmap)
		as_put_if_unused(as);
}

/* run_end - the end of the run of victims starting at v[i]: one file,
 * consecutive indices, all dirty or all clean. */
static size_t run_end(const uint32_t *v, size_t n, size_t i)
{
	const struct fm_frame *f = frame_get(v[i]);
	size_t j = i + 1;
	while (j < n && frame_get(v[j])->mapping == f->mapping &&
	       frame_get(v[j])->index == f->index + (j - i) &&
	       (frame_get(v[j])->flags & PG_DIRTY) == (f->flags & PG_DIRTY))
		j++;
	return j;
}

/* evict_batch - write back and evict the victims v[0..n), all off the LRU:
 * the dirty ones are written back together (in flight at once), then every
 * clean run is punched out. A page that could not be written stays, dirty. */
static void evict_batch(uint32_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), victim_cmp);
	struct wb_batch b;
	writeback_begin(&b);
	for (size_t i = 0, j; i < n; i = j) {
		j = run_end(v, n, i);
		struct fm_frame *f = frame_get(v[i]);
		if (f->flags & PG_DIRTY)
			writeback_add(&b, f->mapping, f->index, f->index + (j - i));
	}
	(void)writeback_finish(&b);
	for (size_t i = 0, j; i < n; i = j) {
		j = run_end(v, n, i);
		if (frame_get(v[i])->flags & PG_DIRTY)
			for (size_t k = i; k < j; k++)
				if (backed_off(frame_get(v[k])))
					park(v[k]);
				else
					lru_add(v[k], LRU_ACTIVE);
		else
			evict_clean_run(v + i, j - i);
	}
}

/*
 * reclaim_reserve - make sure pages frames can be allocated, evicting (and
 * writing back) at least FM_RECLAIM_BATCH pages when it must evict at all.
 * Return: 0, or -ENOMEM when not enough pages could be evicted (all dirty
 * and failing write-back: the fault that needed them gets SIGBUS; see
 * "Dirty pages that cannot be written" in docs/design.md).
 */
int reclaim_reserve(uint64_t pages)
{
	if (pages > engine.budget_pages)
		return -ENOMEM;
	/* The pages of files no process maps (lingering) go first. */
	while (frames_available() < pages && linger_drop_oldest())
		;
	for (int tries = 0; frames_available() < pages && tries < 4; tries++) {
		/* A batch, but never so much of a small cache that the pages
		 * just read for a fault (the newest) go too: an access that
		 * spans two pages would evict one to bring in the other, for
		 * ever. */
		uint64_t batch = engine.budget_pages / 4 < FM_RECLAIM_BATCH
					 ? engine.budget_pages / 4
					 : FM_RECLAIM_BATCH;
		uint64_t want = pages - frames_available();
		if (want < batch)
			want = batch;
		uint64_t used = engine.nr_frames - engine.nr_free;
		if (want > used)
			want = used;
		uint32_t *v = fm_alloc(want * sizeof(*v));
		if (!v)
			return -ENOMEM;
		engine.reclaim_passes++;
		release_waiting();
		size_t n = 0;
		while (n < want) {
			uint32_t nr = pick_victim();
			if (nr == FM_NIL)
				break;
			lru_del(nr);
			v[n++] = nr;
		}
		evict_batch(v, n);
		fm_free(v);
		if (!n)
			break; /* nothing can go now */
	}
	return frames_available() >= pages ? 0 : -ENOMEM;
}

/*
 * reclaim_prepare - claim frame nr for page index of as, about to be read:
 * page_tree points at it (so other faults wait for it), it is PG_LOCKED and
 * on no list; the list it will join is chosen now, from the page's history.
 * Return: 0, or -ENOMEM (no memory for the page_tree chunk).
 */
int reclaim_prepare(struct address_space *as, uint64_t index, uint32_t nr, bool once)
{
	uint32_t *slot = as_slot(as, index, true);
	if (!slot)
		return -ENOMEM;
	enum fm_lru list = once ? LRU_ONCE : LRU_INACTIVE;
	if (*slot & SLOT_SHADOW) {
		uint32_t now = (uint32_t)(engine.eviction_clock & ~SLOT_SHADOW);
		uint32_t distance = (now - (*slot & ~SLOT_SHADOW)) & ~SLOT_SHADOW;
		if (distance <= engine.budget_pages) {
			list = LRU_ACTIVE;
			count_event(refaults, 1);
			as->st.refaults++;
		}
	}
	struct fm_frame *f = frame_get(nr);
	f->mapping = as;
	f->index = index;
	f->flags = PG_LOCKED;
	f->want_lru = (uint8_t)list;
	*slot = nr + 1;
	return 0;
}

/* reclaim_insert - frame nr, prepared, now holds its page: account it and
 * put it on its list. */
void reclaim_insert(uint32_t nr)
{
	struct fm_frame *f = frame_get(nr);
	f->flags &= (uint8_t)~PG_LOCKED;
	f->mapping->nr_resident++;
	lru_add(nr, f->mapping->pins && reclaim_pinned(f->mapping, f->index)
			    ? LRU_PINNED
			    : (enum fm_lru)f->want_lru);
}

/* reclaim_abort - frame nr, prepared, was not filled: forget it. */
void reclaim_abort(uint32_t nr)
{
	struct fm_frame *f = frame_get(nr);
	*as_slot(f->mapping, f->index, false) = 0;
	frame_free(nr);
}

/* reclaim_evict_page - evict page index of as now if it is cached, clean
 * and not being read: punched out of the memfd, so that every view faults
 * to the engine for it again. Return: whether it is not cached now. */
bool reclaim_evict_page(struct address_space *as, uint64_t index)
{
	uint32_t nr = as_find_frame(as, index);
	if (nr == FM_NIL)
		return true;
	if ((frame_get(nr)->flags & (PG_DIRTY | PG_LOCKED)) || frame_get(nr)->lru == LRU_PINNED)
		return false;
	lru_del(nr);
	evict_clean_run(&nr, 1);
	return as_find_frame(as, index) == FM_NIL;
}

/* reclaim_drop_range - free the frames of as caching pages [start, end)
 * without writing anything (the caller wrote the dirty pages back, or the
 * file lost them: truncation). Their page_tree slots become empty. */
void reclaim_drop_range(struct address_space *as, uint64_t start, uint64_t end)
{
	for (int i = 0; i < RECENT_FAULTS; i++)
		if (recent[i].mapping == as && recent[i].index >= start &&
		    recent[i].index < end)
			recent[i].mapping = NULL;
	for (uint64_t c = start >> TREE_CHUNK_SHIFT; c < as->tree_chunks; c++) {
		uint32_t *chunk = as->page_tree[c];
		for (uint32_t i = 0; chunk && i < TREE_CHUNK; i++) {
			uint64_t index = (c << TREE_CHUNK_SHIFT) + i;
			if (index < start || index >= end || chunk[i] == 0)
				continue;
			if (chunk[i] & SLOT_SHADOW) {
				chunk[i] = 0;
				continue;
			}
			uint32_t nr = chunk[i] - 1;
			if (frame_get(nr)->flags & PG_DIRTY)
				as->nr_dirty--;
			if (!(frame_get(nr)->flags & PG_LOCKED)) {
				lru_del(nr);
				as->nr_resident--;
			}
			frame_free(nr);
			chunk[i] = 0;
		}
	}
}

/* reclaim_drop_mapping - free every frame of as (see reclaim_drop_range). */
void reclaim_drop_mapping(struct address_space *as)
{
	reclaim_drop_range(as, 0, UINT64_MAX);
	as->nr_resident = 0;
}
