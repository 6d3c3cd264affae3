/*
 * Through a mapping of an NBD export, a page the server cannot read (its
 * error filter fails every read while a trigger file exists) raises SIGBUS
 * on the access that needs it, and only there: pages cached before the
 * errors read as before, and once the errors stop the very pages that
 * failed read the export's bytes (nothing was cached in their place). A
 * failing cluster is read again page by page, so with read-around the
 * faulting page alone gets SIGBUS.
 */
#include "helpers.h"
#include "nbdkit.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#define PAGES 64

static unsigned char *p, *want;

/* touch - read page i; return whether it raised SIGBUS, failing if it read
 * other bytes than the export's. */
static bool touch(size_t i)
{
	static volatile size_t at;
	at = i;
	if (sigsetjmp(sigbus_env, 1))
		return true;
	if (memcmp(p + at * PS, want + at * PS, PS) != 0) {
		fprintf(stderr, "page %zu: wrong bytes\n", at);
		exit(1);
	}
	return false;
}

int main(void)
{
	struct nbdkit k;
	nbdkit_start(&k, PAGES * PS, 11);
	require_engine();
	require_sigbus_delivery();
	catch_sigbus();
	struct fm_store *s = fm_store_open(k.url, O_RDONLY);
	CHECK(s);
	want = malloc(PAGES * PS);
	CHECK(want);
	fill_pattern(want, PAGES * PS, 11);
	p = fm_mmap_store(NULL, PAGES * PS, PROT_READ, MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);

	/* One page per miss: pages 0..7 cached, then reads fail. */
	CHECK(fm_madvise(p, PAGES * PS, MADV_RANDOM) == 0);
	for (size_t i = 0; i < 8; i++)
		CHECK(!touch(i));
	nbdkit_trigger(k.rerr, 1);
	for (size_t i = 0; i < 16; i++)
		CHECK_EQ(touch(i), i >= 8);
	CHECK_EQ(sigbus_count, 8);
	/* Read-around: the cluster around page 40 fails, then each page;
	 * only the access gets SIGBUS, and nothing of it is cached. */
	CHECK(fm_madvise(p, PAGES * PS, MADV_NORMAL) == 0);
	CHECK(touch(40));
	CHECK_EQ(sigbus_count, 9);
	nbdkit_trigger(k.rerr, 0);
	for (size_t i = 0; i < PAGES; i++)
		CHECK(!touch(i));
	CHECK_EQ(sigbus_count, 9);
	struct fm_stats st;
	CHECK(fm_stats(&st) == 0);
	printf("read errors: %llu\n", (unsigned long long)st.read_errors);
	CHECK_EQ(st.read_errors, 9);

	CHECK(fm_munmap(p, PAGES * PS) == 0);
	CHECK(fm_store_close(s) == 0);
	free(want);
	nbdkit_stop(&k);
	printf("ok\n");
	return 0;
}
