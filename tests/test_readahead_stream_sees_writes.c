/*
 * A sequential stream is read ahead asynchronously (pages in flight, and a
 * marker page stashed outside the cache until the stream reaches it), and
 * still every page it reads holds the file's latest bytes: before each
 * page is read, fm_pwrite changes pages at several distances ahead of the
 * stream, so some land on pages in flight, on stashed markers and on pages
 * not read yet. Also: the readahead really ran (fm_stats), and a mapping
 * through MADV_SEQUENTIAL reads ahead as well.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 4096

static char path[64];
static pid_t owner;

static void remove_file(void)
{
	if (getpid() == owner && path[0])
		unlink(path);
}

/* stamp - write a page-sized stamp (value v) at page i, through faultmap,
 * into both the file and the model. */
static void stamp(int fd, unsigned char *model, size_t i, unsigned v)
{
	unsigned char page[PS];
	memset(page, (int)(v & 0xff), PS);
	memcpy(page, &v, sizeof(v));
	memcpy(page + PS - sizeof(i), &i, sizeof(i));
	CHECK(fm_pwrite(fd, page, PS, (off_t)(i * PS)) == (ssize_t)PS);
	memcpy(model + i * PS, page, PS);
}

static void stream(int fd, unsigned char *model, int advice, unsigned *v)
{
	const size_t size = (size_t)NPAGES * PS;
	unsigned char *p = fm_mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	if (advice)
		CHECK(fm_madvise(p, size, advice) == 0);
	static const size_t ahead[] = {1, 2, 63, 64, 65, 127, 128, 129, 255, 256, 257, 300, 511, 512, 513};
	for (size_t i = 0; i < NPAGES; i++) {
		for (size_t k = 0; k < sizeof(ahead) / sizeof(ahead[0]); k++)
			if (i + ahead[k] < NPAGES && (i + k) % 3 == 0)
				stamp(fd, model, i + ahead[k], ++*v);
		if (memcmp(p + i * PS, model + i * PS, PS) != 0) {
			unsigned got, want;
			memcpy(&got, p + i * PS, sizeof(got));
			memcpy(&want, model + i * PS, sizeof(want));
			fprintf(stderr, "page %zu: stamp %u, expected %u\n", i, got, want);
			exit(1);
		}
	}
	CHECK(fm_munmap(p, size) == 0);
}

int main(void)
{
	owner = getpid();
	atexit(remove_file);
	CHECK(fm_set_budget(64u << 20) == 0);
	require_engine();
	const size_t size = (size_t)NPAGES * PS;
	int fd = make_file(path, size, 77, O_RDWR);
	unsigned char *model = malloc(size);
	CHECK(model);
	fill_pattern(model, size, 77);
	unsigned v = 0;

	stream(fd, model, 0, &v);
	struct fm_stats st;
	CHECK(fm_stats(&st) == 0);
	printf("default advice: %llu of %llu pages read ahead\n",
	       (unsigned long long)st.readahead_pages, (unsigned long long)st.pages_read);
	CHECK(st.readahead_pages > 0);

	/* The file is cached now: drop it by mapping it again only after
	 * a truncation to zero and back (which empties the cache). */
	CHECK(fm_ftruncate(fd, 0) == 0);
	CHECK(fm_ftruncate(fd, (off_t)size) == 0);
	memset(model, 0, size);
	uint64_t before = st.readahead_pages;
	stream(fd, model, MADV_SEQUENTIAL, &v);
	CHECK(fm_stats(&st) == 0);
	printf("MADV_SEQUENTIAL: %llu more pages read ahead\n",
	       (unsigned long long)(st.readahead_pages - before));
	CHECK(st.readahead_pages > before);

	check_file_is(path, model, size);
	free(model);
	close(fd);
	return 0;
}
