/*
 * test_publish_segment_shows_counters - with FAULTMAP_PUBLISH=1 the process
 * publishes its counters in the segment faultmap.<pid> of its runtime
 * directory (src/runtime_dir.h): after touching pages of
 * a mapped file, the segment (read as faultmap stat reads it) shows the
 * faults, the pages read and the file with its resident pages.
 */
#include "helpers.h"
#include "publish.h"
#include "runtime_dir.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 64

/* read_segment - map the segment and copy it consistently. */
static void read_segment(struct fm_pub *out)
{
	char dir[RT_DIR_PATH_MAX], name[32];
	int dfd = runtime_dir_create(dir, sizeof(dir));
	CHECK(dfd >= 0);
	snprintf(name, sizeof(name), RT_SEG_FMT, (int)getpid());
	int fd = openat(dfd, name, O_RDONLY);
	close(dfd);
	CHECK(fd >= 0);
	const struct fm_pub *seg = mmap(NULL, sizeof(*seg), PROT_READ, MAP_SHARED, fd, 0);
	CHECK(seg != MAP_FAILED);
	CHECK_EQ(fm_pub_read(seg, out), 0);
	munmap((void *)seg, sizeof(*seg));
	close(fd);
}

/* find_file - the entry of path in p, or NULL. */
static const struct fm_pub_file *find_file(const struct fm_pub *p, const char *path)
{
	for (uint32_t i = 0; i < p->nr_files && i < FM_PUB_MAX_FILES; i++)
		if (strcmp(p->files[i].path, path) == 0)
			return &p->files[i];
	return NULL;
}

int main(void)
{
	pin_embedded_mode("this process's own statistics segment");
	setenv("FAULTMAP_PUBLISH", "1", 1);
	require_engine();
	char path[64], real[PATH_MAX];
	int fd = make_file(path, NPAGES * PS, 7, O_RDONLY);
	CHECK(realpath(path, real));
	volatile unsigned char *p =
	    fm_mmap(NULL, NPAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	unsigned sum = 0;
	for (size_t i = 0; i < NPAGES; i += 4)
		sum += p[i * PS];
	CHECK(sum != 0);
	usleep(3 * FM_PUB_INTERVAL_MS * 1000);

	struct fm_pub *pub = malloc(sizeof(*pub));
	CHECK(pub);
	read_segment(pub);
	CHECK_EQ(pub->pid, getpid());
	CHECK(pub->st.major_faults > 0);
	CHECK(pub->st.pages_read > 0);
	CHECK(pub->st.resident_bytes > 0);
	CHECK_EQ(pub->read_misses, 0); /* no read() call */
	const struct fm_pub_file *f = find_file(pub, real);
	CHECK(f != NULL);
	CHECK_EQ(f->pages, NPAGES);
	CHECK_EQ(f->size_bytes, NPAGES * PS);
	CHECK(f->resident_pages > 0);
	CHECK_EQ(f->nr_vmas, 1);

	free(pub);
	CHECK_EQ(fm_munmap((void *)p, NPAGES * PS), 0);
	close(fd);
	unlink(path);
	return 0;
}
