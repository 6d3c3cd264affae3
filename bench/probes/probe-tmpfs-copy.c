/*
 * probe-tmpfs-copy - the fill of a file in memory (tmpfs), the engine's
 * way and with one copy less (issue 11, direction 2, for workload 1): 16-page
 * blocks (the engine's read-around) of a tmpfs file inserted into a memfd
 * through a MISSING-registered view, in a shuffled block order:
 *
 *   pread+copy   pread of the block into a buffer, then UFFDIO_COPY from
 *                the buffer (what the engine does: two copies);
 *   map+copy     UFFDIO_COPY straight from a MAP_SHARED mapping of the
 *                source file (one copy; the source's pages are mapped by
 *                the kernel's minor faults inside the ioctl's copy);
 *   kernel       first touch of a MAP_SHARED mapping of the source (no
 *                copy: the floor of a design that maps tmpfs's pages).
 *
 * ns per page, wall and CPU, medians of --reps; each rep punches the memfd
 * empty first, so the copies allocate new pages. Every inserted page's
 * first and last words are checked.
 *
 * Usage: probe-tmpfs-copy [--size MIB] [--reps N] [--dir DIR] (256, 5,
 * /dev/shm).
 */
#include "probe.h"

#define BLOCK (16 * PG)

static size_t size_mib = 256;
static int reps = 5;
static const char *dir = "/dev/shm";

static void check(const unsigned char *p, size_t len)
{
	for (size_t off = 0; off < len; off += PG) {
		uint64_t first, last;
		memcpy(&first, p + off, 8);
		memcpy(&last, p + off + PG - 8, 8);
		if (first != page_word(off / PG) || last != page_word(off / PG) + PG / 8 - 1) {
			fprintf(stderr, "probe: page %zu holds the wrong bytes\n", off / PG);
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--size"))
			size_mib = strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--reps"))
			reps = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--dir"))
			dir = argv[i + 1];
	}
	if (reps < 1 || reps > MAX_REPS || !size_mib)
		die("bad arguments");
	size_t len = size_mib << 20, blocks = len / BLOCK;
	int src = source_file(dir, len);
	uint32_t *order = shuffled(blocks);
	int mfd = memfd_create("probe-tmpfs-copy", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, (off_t)len) < 0)
		die("memfd");
	int uffd = uffd_open(0);
	unsigned char *dst = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	unsigned char *from = mmap(NULL, len, PROT_READ, MAP_SHARED, src, 0);
	unsigned char *buf = aligned_alloc(PG, BLOCK);
	if (dst == MAP_FAILED || from == MAP_FAILED || !buf)
		die("mmap");
	uffd_register(uffd, dst, len, UFFDIO_REGISTER_MODE_MISSING);

	struct cost pc[MAX_REPS], mc[MAX_REPS], kc[MAX_REPS];
	for (int r = 0; r < reps; r++) {
		for (int variant = 0; variant < 3; variant++) {
			int v = (variant + r) % 3; /* alternate which goes first */
			if (fallocate(mfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)len) < 0)
				die("punch");
			if (madvise(from, len, MADV_DONTNEED) < 0) /* the source unmapped again */
				die("madvise");
			struct stamp t = stamp_now();
			volatile uint64_t sum = 0;
			for (size_t b = 0; b < blocks; b++) {
				size_t off = (size_t)order[b] * BLOCK;
				if (v == 0) {
					if (pread(src, buf, BLOCK, (off_t)off) != (ssize_t)BLOCK)
						die("pread");
					if (uffd_copy(uffd, dst + off, buf, BLOCK))
						die("UFFDIO_COPY");
				} else if (v == 1) {
					if (uffd_copy(uffd, dst + off, from + off, BLOCK))
						die("UFFDIO_COPY from the mapping");
				} else {
					for (size_t i = 0; i < BLOCK; i += PG)
						sum += *(volatile uint64_t *)(from + off + i);
				}
			}
			struct cost c = cost_since(t, len / PG);
			if (v == 0)
				pc[r] = c;
			else if (v == 1)
				mc[r] = c;
			else
				kc[r] = c;
			check(v == 2 ? from : dst, len);
		}
	}
	printf("probe-tmpfs-copy: %zu MiB on %s, 16-page blocks in a shuffled order, medians of "
	       "%d\n", size_mib, dir, reps);
	struct cost p = median_cost(pc, reps), m = median_cost(mc, reps), k = median_cost(kc, reps);
	print_cost("pread+copy (the engine)", 26, p);
	print_cost("map+copy (one copy)", 26, m);
	print_cost("kernel, first touch", 26, k);
	printf("  map+copy / pread+copy: %.2f wall, %.2f cpu\n", m.wall / p.wall, m.cpu / p.cpu);
	return 0;
}
