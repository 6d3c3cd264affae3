/*
 * alloc.c - the memory of the records that the mapping calls keep (vmas,
 * address spaces, page trees, stores, bounce buffers), away from malloc.
 *
 * A signal handler may call munmap, mmap, mremap... while the thread it
 * interrupted is inside malloc or free, holding malloc's lock: the kernel's
 * calls take no lock of the program's, and programs rely on that. If
 * faultmap's calls took their memory from malloc, such a handler would
 * wait for its own thread for ever (issue 9, item 5). So they take it from
 * here: size classes of 32 B to 64 KiB carved from mmap'd chunks, larger
 * blocks mapped one by one, under a lock that records its owner. A handler
 * that interrupted this very allocator on its own thread (the owner is
 * itself) does not wait: it maps a block of its own, and a block it frees
 * waits on a lock-free list until the next call that holds the lock.
 *
 * Blocks are zeroed. Under ASan and TSan the sanitizers' allocator is used
 * instead (calloc, realloc, free), so that they still see every leak and
 * race; there a handler that interrupts malloc can still deadlock.
 */
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FM_ALLOC_LIBC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FM_ALLOC_LIBC 1
#endif
#endif

#ifdef FM_ALLOC_LIBC
#include <stdlib.h>

void *fm_alloc(size_t n)
{
	return calloc(1, n ? n : 1);
}

void *fm_realloc(void *p, size_t n)
{
	return realloc(p, n ? n : 1);
}

void fm_free(void *p)
{
	free(p);
}

void *fm_alloc_bare(unsigned shift)
{
	return calloc(1, (size_t)1 << shift);
}

void fm_free_bare(void *p, unsigned shift)
{
	(void)shift;
	free(p);
}
#else

#define MIN_SHIFT 5	/* 32 B */
#define MAX_SHIFT 16	/* 64 KiB */
#define NR_CLASSES (MAX_SHIFT - MIN_SHIFT + 1)
#define CHUNK (256 * 1024)
#define LARGE 0xffu
#define MAGIC 0x6d6175u

/* Before each block: its class (or LARGE: the mapping's length in size). */
struct head {
	uint32_t magic;
	uint32_t class;
	uint64_t size;
};
#define HEAD ((sizeof(struct head) + 15) & ~(size_t)15)

struct free_block {
	struct free_block *next;
};

static struct free_block *free_list[NR_CLASSES];
static _Atomic(struct free_block *) deferred; /* freed by a handler */
static _Atomic uintptr_t owner;		      /* the thread holding the lock, or 0 */

/* lock - take the allocator's lock. Return: false if this thread holds it
 * already (a handler interrupted it): then it must not wait. */
static bool lock(void)
{
	uintptr_t self = (uintptr_t)pthread_self();
	for (;;) {
		uintptr_t none = 0;
		if (atomic_compare_exchange_weak(&owner, &none, self))
			return true;
		if (none == self)
			return false;
		sched_yield();
	}
}

static void put(struct head *h);

static void unlock(void)
{
	atomic_store(&owner, 0);
}

/*
 * A fork while another thread holds the lock would leave it held for ever
 * in the child, whose first faultmap call (the atfork handler's
 * FMD_FORK_ADOPT) then waits with every signal blocked: seen once in
 * test_fork_while_another_thread_sets_fd_limit_never_hangs. As malloc
 * does, the lock is taken before the fork and given back on both sides.
 * Registered first, so its prepare handler runs last, after faultmap's
 * others have used the allocator (and no holder of this lock waits for
 * anything they hold). A handler that forks on the thread that holds it
 * (took == false) leaves it to the interrupted call.
 */
static bool fork_took;

static void fork_prepare(void)
{
	fork_took = lock();
}

static void fork_done(void)
{
	if (fork_took)
		unlock();
}

__attribute__((constructor)) static void alloc_init(void)
{
	pthread_atfork(fork_prepare, fork_done, fork_done);
}

/* drain - free what handlers freed meanwhile. Context: the lock. */
static void drain(void)
{
	struct free_block *b = atomic_exchange(&deferred, NULL);
	while (b) {
		struct free_block *next = b->next;
		put((struct head *)((char *)b - HEAD));
		b = next;
	}
}

static void *map_large(size_t n)
{
	size_t len = (HEAD + n + FM_PAGE_SIZE - 1) & ~(size_t)(FM_PAGE_SIZE - 1);
	void *m = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	struct head *h = m;
	*h = (struct head){MAGIC, LARGE, len};
	return (char *)m + HEAD;
}

static unsigned class_of(size_t n)
{
	unsigned c = 0;
	while (((size_t)1 << (MIN_SHIFT + c)) < HEAD + n)
		c++;
	return c;
}

/* take - a block of class c from its list, refilled with a new chunk.
 * Context: the lock. */
static void *take(unsigned c)
{
	if (!free_list[c]) {
		size_t size = (size_t)1 << (MIN_SHIFT + c);
		char *m = sys_mmap(NULL, CHUNK, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		for (size_t at = 0; at + size <= CHUNK; at += size) {
			struct free_block *b = (struct free_block *)(m + at + HEAD);
			((struct head *)(m + at))->magic = MAGIC;
			((struct head *)(m + at))->class = c;
			b->next = free_list[c];
			free_list[c] = b;
		}
	}
	struct free_block *b = free_list[c];
	free_list[c] = b->next;
	memset(b, 0, ((size_t)1 << (MIN_SHIFT + c)) - HEAD);
	return b;
}

/* put - give back block h. Context: the lock (or a large block). */
static void put(struct head *h)
{
	if (h->class == LARGE) {
		sys_munmap(h, h->size);
		return;
	}
	struct free_block *b = (struct free_block *)((char *)h + HEAD);
	b->next = free_list[h->class];
	free_list[h->class] = b;
}

void *fm_alloc(size_t n)
{
	if (n > ((size_t)1 << MAX_SHIFT) - HEAD)
		return map_large(n);
	if (!lock())
		return map_large(n); /* a handler on the lock's own thread */
	drain();
	void *p = take(class_of(n));
	unlock();
	return p;
}

static size_t usable(const struct head *h)
{
	return (h->class == LARGE ? h->size : (size_t)1 << (MIN_SHIFT + h->class)) - HEAD;
}

/* give_back - put block h (of a class) on its list; a handler on the
 * lock's own thread leaves it on the lock-free list, for the next call that
 * holds the lock. */
static void give_back(struct head *h)
{
	if (!lock()) {
		struct free_block *b = (struct free_block *)((char *)h + HEAD);
		b->next = atomic_load(&deferred);
		while (!atomic_compare_exchange_weak(&deferred, &b->next, b))
			;
		return;
	}
	put(h);
	drain();
	unlock();
}

void fm_free(void *p)
{
	if (!p)
		return;
	struct head *h = (struct head *)((char *)p - HEAD);
	if (h->magic != MAGIC)
		abort(); /* not fm_alloc's: a bug of faultmap's, never to pass silently */
	if (h->class == LARGE) {
		put(h);
		return;
	}
	give_back(h);
}

/*
 * fm_alloc_bare - 2^shift zeroed bytes (32 B to 64 KiB) with no header
 * before them, or NULL: the whole block of that class. For records whose
 * size is a power of two, which a header would put in the class twice
 * their size (a page_tree chunk, 2 KiB, took 4 KiB). fm_free_bare gives it
 * back, told the same shift. A handler on the lock's own thread maps a
 * page of its own, which joins the class's list when freed.
 */
void *fm_alloc_bare(unsigned shift)
{
	if (shift < MIN_SHIFT || shift > MAX_SHIFT)
		return NULL;
	size_t size = (size_t)1 << shift;
	if (!lock()) {
		size_t len = (size + FM_PAGE_SIZE - 1) & ~(size_t)(FM_PAGE_SIZE - 1);
		void *m = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				   -1, 0);
		return m == MAP_FAILED ? NULL : m;
	}
	drain();
	char *b = take(shift - MIN_SHIFT);
	unlock();
	if (!b)
		return NULL;
	memset(b - HEAD, 0, HEAD); /* the rest take zeroed */
	return b - HEAD;
}

void fm_free_bare(void *p, unsigned shift)
{
	if (!p)
		return;
	struct head *h = p;
	*h = (struct head){MAGIC, shift - MIN_SHIFT, 0};
	give_back(h);
}

void *fm_realloc(void *p, size_t n)
{
	if (!p)
		return fm_alloc(n);
	size_t have = usable((struct head *)((char *)p - HEAD));
	if (n <= have)
		return p;
	void *q = fm_alloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, have);
	fm_free(p);
	return q;
}
#endif

char *fm_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = fm_alloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}
