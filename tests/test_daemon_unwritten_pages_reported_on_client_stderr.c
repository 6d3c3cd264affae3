/*
 * Daemon mode: dirty pages that the daemon cannot write back are never
 * dropped without a word to the process that wrote them. When the
 * write-back at a client's last munmap of a file fails, the client's own
 * stderr names the file, the bytes and the error, as in embedded mode
 * (test_unwritten_pages_reported_on_stderr); so does it when the
 * write-back at its exit fails. The pages stay in the daemon's cache: once
 * the disk works again, stopping the daemon puts them in the files.
 * Before, the lines went to the daemon's log only.
 *
 * Two files on a loop device; a child maps both, reads their last pages,
 * cuts the device below them (every block from there on fails with EIO),
 * writes the last page of each, unmaps one and exits. Needs root.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 16
#define MARKER "test: unmapped\n"

static struct loopfs fs;
static char a_path[160], b_path[160], log_path[64];

static int make(char *path, const char *name, uint32_t seed)
{
	snprintf(path, 160, "%s/%s", fs.dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	unsigned char *data = malloc(NPAGES * PS);
	fill_pattern(data, NPAGES * PS, seed);
	CHECK_EQ(write(fd, data, NPAGES * PS), NPAGES * PS);
	CHECK(fsync(fd) == 0);
	free(data);
	return fd;
}

static void child(void *arg)
{
	(void)arg;
	int log = open(log_path, O_WRONLY | O_APPEND);
	CHECK(log >= 0);
	CHECK(dup2(log, 2) == 2);
	int fa = open(a_path, O_RDWR), fb = open(b_path, O_RDWR);
	CHECK(fa >= 0 && fb >= 0);
	volatile unsigned char *a = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
					    MAP_SHARED, fa, 0);
	volatile unsigned char *b = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
					    MAP_SHARED, fb, 0);
	CHECK(a != MAP_FAILED && b != MAP_FAILED);
	(void)a[(NPAGES - 1) * PS]; /* cached while the disk works */
	(void)b[(NPAGES - 1) * PS];
	uint64_t oa = file_block_offset(fa, (NPAGES - 1) * PS);
	uint64_t ob = file_block_offset(fb, (NPAGES - 1) * PS);
	CHECK(oa != UINT64_MAX && ob != UINT64_MAX);
	loopfs_fail_from(&fs, oa < ob ? oa : ob); /* both last pages past the cut */
	memset((void *)(a + (NPAGES - 1) * PS), 0xa1, PS);
	memset((void *)(b + (NPAGES - 1) * PS), 0xb2, PS);
	CHECK_EQ(fm_munmap((void *)a, NPAGES * PS), 0); /* munmap(2) says nothing either */
	CHECK(write(2, MARKER, strlen(MARKER)) == (ssize_t)strlen(MARKER));
	exit(0); /* atexit: the daemon forgets b, and writes it back */
}

/* expect - log holds line, whole, between from and to. */
static void expect(const char *from, const char *to, const char *line)
{
	const char *at = strstr(from, line);
	if (!at || at + strlen(line) > to) {
		fprintf(stderr, "missing line: %s\n", line);
		exit(1);
	}
}

/* last_page_is - the file at path holds its pattern from seed, but for
 * its last page, all c. */
static void last_page_is(const char *path, uint32_t seed, unsigned char c)
{
	unsigned char *want = malloc(NPAGES * PS);
	fill_pattern(want, NPAGES * PS, seed);
	memset(want + (NPAGES - 1) * PS, c, PS);
	check_file_is(path, want, NPAGES * PS);
	free(want);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skip: a loop device needs root\n");
		return 77;
	}
	daemon_private();
	require_engine_in_child();
	loopfs_create(&fs, 64 << 20);
	close(make(a_path, "a", 11));
	close(make(b_path, "b", 12));
	close(make_file(log_path, 0, 0, O_RDWR));

	int status = in_child(child, NULL);
	size_t n;
	char *log = (char *)slurp(log_path, &n);
	log[n] = '\0';
	fprintf(stderr, "the child's stderr:\n%s", log);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	const char *marker = strstr(log, MARKER);
	CHECK(marker);
	char line[512];
	snprintf(line, sizeof(line),
		 "faultmap: %lu bytes of %s could not be written back: %s (kept in memory",
		 (unsigned long)PS, a_path, strerror(EIO));
	expect(log, marker, line); /* at munmap */
	snprintf(line, sizeof(line),
		 "faultmap: %lu bytes of %s could not be written back: %s (kept in memory",
		 (unsigned long)PS, b_path, strerror(EIO));
	expect(marker, log + n, line); /* at exit */

	/* Kept: once the disk works, they reach the files. */
	loopfs_heal(&fs);
	CHECK_EQ(daemon_stop(), 0);
	last_page_is(a_path, 11, 0xa1);
	last_page_is(b_path, 12, 0xb2);
	free(log);
	unlink(log_path);
	loopfs_destroy(&fs);
	return 0;
}
