/* store_tests.h - checks shared by the tests of each store kind (NBD,
 * RADOS, S3): a mapping's round trip, a read-only store's refusals, a
 * daemon killed under a writer (store_daemon_killed), and the
 * differential test (test_*_store_differential_vs_kernel.c): the same random
 * operations (map shared or private, unmap part or whole, write and read
 * through the mappings, msync, fm_store_pwrite/fm_store_pread against
 * pwrite/pread) on the store through faultmap and on a local file through
 * the kernel's mmap, the oracle. Every byte read must match (exit 1 at the
 * first that does not). */
#ifndef FM_TEST_STORE_TESTS_H
#define FM_TEST_STORE_TESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fm_store;

/*
 * store_differential - $FM_DIFF_OPS operations (4000) from the seed
 * $FM_DIFF_SEED (0x5eed) on store and on oracle (an fd open O_RDWR on a
 * file of the store's size, size bytes, with the same bytes). fixed: the store has a fixed size (an NBD export), so writes
 * past its end are short or fail with ENOSPC; else (a file, an object)
 * the writes stay inside size, as the mappings assume. At the end every
 * mapping is unmapped (the last writes back); the store stays open.
 * Return: the number of operations.
 */
long store_differential(struct fm_store *store, int oracle, size_t size, bool fixed);

/* A check that the store's bytes are want[0..size), read without faultmap
 * (the export's file; the object, through librados). */
typedef void (*store_check_fn)(const unsigned char *want, size_t size);

/*
 * store_round_trip - on s (O_RDWR, PAGES * PS bytes of want): a shared
 * mapping reads want; writes through it reach the store at msync(MS_SYNC);
 * fm_store_pwrite across a page boundary shows in the mapping at once and
 * in the store on return; fm_store_pread reads it back. Updates want;
 * leaves the mapping in place and returns it.
 */
unsigned char *store_round_trip(struct fm_store *s, unsigned char *want, size_t pages,
				store_check_fn check);
/* store_read_only - a read-only store of url refuses a shared writable
 * mapping (EACCES) and fm_store_pwrite (EBADF), and a private mapping of
 * it reads want[0..size), through a new cache. */
void store_read_only(const char *url, const unsigned char *want, size_t size);

/* Whether the store's bytes are want[0..size) now, read without faultmap. */
typedef bool (*store_has_fn)(const unsigned char *want, size_t size);

/*
 * store_daemon_killed - a daemon killed under a writer of the store at
 * url loses nothing: in a forked client (daemon mode, a daemon of its
 * own) url is opened O_RDWR and mapped shared, each page i of want with
 * i % step == first is written whole through the mapping (never
 * msync'd), the handle closed (the mapping outlives it), the daemon
 * SIGKILLed; the store must then have want (has, polled for 15 s: the
 * watcher's flush). A byte of a page already dirty is written again, and
 * after the client's exit the store must have that too (the exit's
 * flush); want is updated with it. Skips (77) if the client does.
 */
void store_daemon_killed(const char *url, unsigned char *want, size_t pages, size_t first,
			 size_t step, store_has_fn has);

/*
 * store_rescue_of_client - fn(arg) runs in a forked client, and must exit
 * 0 (77: the test is skipped) leaving a store rescue file (its write-back
 * failed), the only rescue file, whose name goes into name (size bytes);
 * then the daemon is killed (SIGKILL).
 */
void store_rescue_of_client(void (*fn)(void *), void *arg, char *name, size_t size);
/*
 * store_rescue_written_then_landed_or_kept - the one store rescue file of
 * the runtime directory (a daemon's, killed), whose store takes writes
 * now, is written back by the next daemon, and removed: is(want) must
 * then pass (the object is want[0..size), read without faultmap). A copy
 * of it put back once put(want) wrote the same bytes again (another
 * client: the object's version moves) is removed by the daemon after,
 * which says they had already reached the object, and the object is as
 * it was; put back once put wrote other bytes (want's, each inverted), it
 * is kept, and said changed, and the object keeps those. The daemon is
 * stopped after each. Its name goes into name (name_size bytes).
 */
void store_rescue_written_then_landed_or_kept(const unsigned char *want, size_t size,
					      void (*put)(const unsigned char *bytes),
					      void (*is)(const unsigned char *bytes), char *name,
					      size_t name_size);

#endif
