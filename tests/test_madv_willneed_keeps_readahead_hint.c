/*
 * MADV_WILLNEED reads ahead and changes nothing else: a mapping made
 * MADV_RANDOM stays random. Seen through mremap, in two ways; each time a
 * private mapping is made random, then WILLNEED on part of it, then
 * pages are written on either side of where the hints differ (each part
 * gets its own copy-on-write anon_vma, which keeps the parts apart for
 * good), and the whole is made normal again:
 *
 * - two pages, WILLNEED on both, then the second page alone normal: the
 *   kernel splits its vma there and cannot merge it back, so growing the
 *   mapping fails with EFAULT (one range across two vmas);
 * - three pages, WILLNEED on the first two: the kernel's vma never splits,
 *   so it grows from 3 to 7 pages.
 *
 * faultmap must do the same. It once passed WILLNEED to its view as
 * MADV_NORMAL: the view's hints, and so its vmas, were not the kernel's,
 * and the first grow succeeded while the second failed with EFAULT.
 * /proc/self/maps must show as many vmas on both sides.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* How many vmas of /proc/self/maps lie in [p, p + len). */
static int vmas_in(const unsigned char *p, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "re");
	CHECK(f != NULL);
	char line[512];
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t lo, hi;
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2 &&
		    lo >= (uintptr_t)p && hi <= (uintptr_t)p + len)
			n++;
	}
	fclose(f);
	return n;
}

struct scenario {
	size_t pages;		 /* of the mapping, made MADV_RANDOM */
	size_t willneed;	 /* MADV_WILLNEED on [0, willneed) */
	size_t normal;		 /* then MADV_NORMAL on [normal, pages) */
	size_t write_a, write_b; /* pages written */
	bool grows;		 /* what the kernel does */
};

struct result {
	int vmas;
	bool failed;
	int err;
};

static struct result run(int fd, const struct scenario *s, bool through_fm)
{
	size_t len = s->pages * PS, grown = (s->pages + 4) * PS;
	unsigned char *p =
	    through_fm ? fm_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
		       : mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(p != MAP_FAILED);
	int (*advise)(void *, size_t, int) = through_fm ? fm_madvise : madvise;
	CHECK(advise(p, len, MADV_RANDOM) == 0);
	CHECK(advise(p, s->willneed * PS, MADV_WILLNEED) == 0);
	CHECK(advise(p + s->normal * PS, len - s->normal * PS, MADV_NORMAL) == 0);
	p[s->write_a * PS + 10] = 1;
	p[s->write_b * PS + 10] = 2;
	CHECK(advise(p, len, MADV_NORMAL) == 0);
	struct result r = {.vmas = vmas_in(p, len)};
	errno = 0;
	void *q = through_fm ? fm_mremap(p, len, grown, MREMAP_MAYMOVE)
			     : mremap(p, len, grown, MREMAP_MAYMOVE);
	r.failed = q == MAP_FAILED;
	r.err = r.failed ? errno : 0;
	if (!r.failed) {
		p = q;
		len = grown;
		CHECK(p[s->write_b * PS + 10] == 2); /* the private copy moved along */
	}
	CHECK((through_fm ? fm_munmap(p, len) : munmap(p, len)) == 0);
	return r;
}

int main(void)
{
	require_engine();
	static const struct scenario scenarios[] = {
	    /* pages, willneed, normal, write_a, write_b, grows */
	    {2, 2, 1, 0, 1, false},
	    {3, 2, 3, 0, 2, true},
	};
	char path[64];
	int fd = make_file(path, 8 * PS, 7, O_RDWR);
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		const struct scenario *s = &scenarios[i];
		struct result k = run(fd, s, false), f = run(fd, s, true);
		if (k.vmas != f.vmas || k.failed != f.failed || k.err != f.err) {
			fprintf(stderr,
				"%zu pages: kernel: %d vmas, mremap %s (%s); faultmap: "
				"%d vmas, "
				"mremap %s (%s)\n",
				s->pages, k.vmas, k.failed ? "failed" : "succeeded",
				strerror(k.err), f.vmas,
				f.failed ? "failed" : "succeeded", strerror(f.err));
			return 1;
		}
		/* What this test is about (the kernel's way, checked). */
		CHECK(s->grows ? !k.failed : k.err == EFAULT);
	}
	close(fd);
	unlink(path);
	return 0;
}
