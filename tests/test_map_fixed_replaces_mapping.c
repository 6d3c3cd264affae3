/*
 * fm_mmap with MAP_FIXED of file B over part of a mapping of file A replaces
 * that part, as mmap does: it reads B (at B's offset), the rest still reads
 * A, and shared writes through each part land in the right file once
 * everything is unmapped; A's writes made before the replacement are kept.
 * A private MAP_FIXED mapping running past the end of A's mapping keeps its
 * writes to itself. The kernel does the same on copies of the files.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define APAGES 8
#define BPAGES 6

struct side {
	const char *who;
	char apath[64], bpath[64];
	int afd, bfd;
	void *(*map)(void *, size_t, int, int, int, off_t);
	int (*unmap)(void *, size_t);
};

static struct side sides[2] = {{.who = "kernel", .map = mmap, .unmap = munmap},
			       {.who = "faultmap", .map = fm_mmap, .unmap = fm_munmap}};
static pid_t owner;

static void remove_files(void)
{
	if (getpid() != owner)
		return;
	for (int s = 0; s < 2; s++) {
		if (sides[s].apath[0])
			unlink(sides[s].apath);
		if (sides[s].bpath[0])
			unlink(sides[s].bpath);
	}
}

static void fill(unsigned char *p, size_t len, unsigned char v)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(v + i * 7);
}

/* compare - p must hold want; say where it does not. */
static void compare(const char *who, const char *what, const unsigned char *p,
		    const unsigned char *want, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != want[i]) {
			fprintf(stderr, "%s: %s byte %zu (page %zu): %02x, expected %02x\n",
				who, what, i, i / PS, p[i], want[i]);
			exit(1);
		}
}

static void check_file(const char *who, const char *path, const unsigned char *want,
		       size_t size)
{
	size_t got;
	unsigned char *b = slurp(path, &got);
	CHECK_EQ(got, size);
	compare(who, path, b, want, size);
	free(b);
}

/*
 * Shared B (pages 1-3 of it) over pages 2-4 of a shared mapping of A.
 * a and b are the expected file images, updated as the side writes.
 */
static void shared_over_shared(struct side *s, unsigned char *a, unsigned char *b)
{
	unsigned char *p = s->map(NULL, APAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED,
				  s->afd, 0);
	CHECK(p != MAP_FAILED);
	compare(s->who, "A before", p, a, APAGES * PS);
	/* Writes to A, one in the part about to be replaced. */
	fill(p + 100, 50, 0x10), fill(a + 100, 50, 0x10);
	fill(p + 3 * PS + 200, 300, 0x20), fill(a + 3 * PS + 200, 300, 0x20);

	unsigned char *q = s->map(p + 2 * PS, 3 * PS, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_FIXED, s->bfd, PS);
	if (q != p + 2 * PS) {
		fprintf(stderr, "%s: MAP_FIXED gave %p, asked %p\n", s->who, (void *)q,
			(void *)(p + 2 * PS));
		exit(1);
	}
	compare(s->who, "A pages 0-1", p, a, 2 * PS);
	compare(s->who, "B pages 1-3 at A's pages 2-4", p + 2 * PS, b + PS, 3 * PS);
	compare(s->who, "A pages 5-7", p + 5 * PS, a + 5 * PS, 3 * PS);

	/* A write to every page: 2-4 go to B's pages 1-3, the others to A. */
	for (size_t pg = 0; pg < APAGES; pg++) {
		size_t at = pg * PS + 64 * pg;
		unsigned char *img = pg >= 2 && pg <= 4 ? b + at - PS : a + at;
		fill(p + at, 500, (unsigned char)(0x40 + pg));
		fill(img, 500, (unsigned char)(0x40 + pg));
	}
	fill(p + 2 * PS - 8, 16, 0x90); /* across the A|B boundary */
	fill(a + 2 * PS - 8, 8, 0x90);
	fill(b + PS, 8, 0x90 + 8 * 7);
	fill(p + 5 * PS - 8, 16, 0xa0); /* across the B|A boundary */
	fill(b + 4 * PS - 8, 8, 0xa0);
	fill(a + 5 * PS, 8, 0xa0 + 8 * 7);

	CHECK(s->unmap(p, APAGES * PS) == 0);
}

/*
 * Private B (pages 0-2) over A's last two pages and the page after the
 * mapping's end: writes there stay in memory; A keeps its earlier writes.
 */
static void private_past_end(struct side *s, unsigned char *a, const unsigned char *b)
{
	unsigned char *base = mmap(NULL, (APAGES + 2) * PS, PROT_NONE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(base != MAP_FAILED);
	unsigned char *p = s->map(base, APAGES * PS, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_FIXED, s->afd, 0);
	CHECK(p == base);
	fill(p + 6 * PS + 10, 40, 0x51), fill(a + 6 * PS + 10, 40, 0x51);
	fill(p + 5 * PS + 10, 40, 0x52), fill(a + 5 * PS + 10, 40, 0x52);

	unsigned char *q = s->map(p + 6 * PS, 3 * PS, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_FIXED, s->bfd, 0);
	CHECK(q == p + 6 * PS);
	compare(s->who, "A pages 0-5", p, a, 6 * PS);
	compare(s->who, "private B", q, b, 3 * PS);
	fill(q, 3 * PS, 0x61); /* private: reaches neither file */
	fill(p + 4 * PS, 30, 0x62), fill(a + 4 * PS, 30, 0x62);
	unsigned char copy[3 * PS];
	fill(copy, sizeof(copy), 0x61);
	compare(s->who, "private B after writing", q, copy, sizeof(copy));

	CHECK(s->unmap(base, (APAGES + 2) * PS) == 0);
}

int main(void)
{
	owner = getpid();
	atexit(remove_files);
	require_engine();
	unsigned char *a[2], *b[2];
	for (int i = 0; i < 2; i++) {
		struct side *s = &sides[i];
		s->afd = make_file(s->apath, APAGES * PS, 41, O_RDWR);
		s->bfd = make_file(s->bpath, BPAGES * PS, 42, O_RDWR);
		a[i] = malloc(APAGES * PS);
		b[i] = malloc(BPAGES * PS);
		CHECK(a[i] && b[i]);
		fill_pattern(a[i], APAGES * PS, 41);
		fill_pattern(b[i], BPAGES * PS, 42);
	}

	for (int i = 0; i < 2; i++) {
		struct side *s = &sides[i];
		shared_over_shared(s, a[i], b[i]);
		check_file(s->who, s->apath, a[i], APAGES * PS);
		check_file(s->who, s->bpath, b[i], BPAGES * PS);
	}
	for (int i = 0; i < 2; i++) {
		struct side *s = &sides[i];
		private_past_end(s, a[i], b[i]);
		check_file(s->who, s->apath, a[i], APAGES * PS);
		check_file(s->who, s->bpath, b[i], BPAGES * PS);
	}
	for (int i = 0; i < 2; i++) {
		close(sides[i].afd);
		close(sides[i].bfd);
		free(a[i]);
		free(b[i]);
	}
	return 0;
}
