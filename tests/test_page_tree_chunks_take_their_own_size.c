/*
 * A page_tree chunk (512 slots, 2 KiB) takes 2 KiB of faultmap's memory,
 * not 4: fm_alloc_bare gives power-of-two blocks without the header that
 * put them in the class twice their size. The page tree of a file touched
 * all over costs 1 KiB per MiB of file (2 MiB for the 2 GiB file of
 * fm-bench's random reads), not 2. Here: 256 chunks span 128 pages, each
 * block is zeroed when taken and holds its 2 KiB without touching another,
 * and blocks given back are taken again, zeroed. Under a sanitizer the
 * allocator is calloc's, and only the contents are checked.
 */
#include "helpers.h"
#include "internal.h"

#include <stdint.h>
#include <string.h>

#define N 256
#define SIZE (TREE_CHUNK * sizeof(uint32_t))

static bool zeroed(const unsigned char *p)
{
	for (size_t i = 0; i < SIZE; i++)
		if (p[i])
			return false;
	return true;
}

int main(void)
{
	CHECK_EQ(SIZE, (size_t)1 << TREE_CHUNK_BYTES_SHIFT);
	static unsigned char *b[N];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			b[i] = fm_alloc_bare(TREE_CHUNK_BYTES_SHIFT);
			CHECK(b[i]);
			CHECK(zeroed(b[i]));
			memset(b[i], i + 1, SIZE); /* the whole block is the caller's */
		}
		for (int i = 0; i < N; i++)
			for (size_t j = 0; j < SIZE; j++)
				if (b[i][j] != (unsigned char)(i + 1)) {
					fprintf(stderr, "round %d: block %d byte %zu overwritten\n", round,
						i, j);
					return 1;
				}
#ifndef FM_UNDER_SANITIZER
		/* Pages the blocks lie in: two blocks each. */
		static uintptr_t pages[N];
		size_t npages = 0;
		for (int i = 0; i < N; i++) {
			uintptr_t pg = (uintptr_t)b[i] & ~(uintptr_t)(FM_PAGE_SIZE - 1);
			CHECK_EQ((uintptr_t)b[i] % SIZE, 0);
			size_t k = 0;
			while (k < npages && pages[k] != pg)
				k++;
			if (k == npages)
				pages[npages++] = pg;
		}
		printf("round %d: %d chunks of %zu bytes in %zu pages\n", round, N, SIZE, npages);
		CHECK_EQ(npages, (size_t)N / 2);
#endif
		for (int i = 0; i < N; i++)
			fm_free_bare(b[i], TREE_CHUNK_BYTES_SHIFT);
	}
	return 0;
}
