/*
 * Dirty pages that cannot be written back are never dropped without a word:
 * when the write-back at the last munmap fails, stderr names the file, the
 * bytes and the error (the pages stay in the cache); when it fails at exit,
 * where they are lost, stderr says so again. A child process maps two
 * files on a "full disk" (every page write fails with ENOSPC, through
 * fm_sys), fills them, unmaps one and exits; its stderr is checked.
 */
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define A_SIZE (4UL << 20)
#define B_SIZE (1UL << 20)
#define MARKER "test: unmapped\n"

static char a_path[64], b_path[64], log_path[64];

static ssize_t full_disk(int fd, const void *buf, size_t n, off_t off)
{
	(void)fd, (void)buf, (void)n, (void)off;
	errno = ENOSPC;
	return -1;
}

static void fill(const char *path, size_t size, bool unmap)
{
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	unsigned char *p = fm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	memset(p, 0x5a, size);
	close(fd);
	if (unmap)
		CHECK_EQ(fm_munmap(p, size), 0); /* munmap(2) says nothing either */
}

static void child(void *arg)
{
	(void)arg;
	int log = open(log_path, O_WRONLY | O_APPEND);
	CHECK(log >= 0);
	CHECK(dup2(log, 2) == 2);
	require_engine();
	fm_sys.pwrite = full_disk;
	fill(a_path, A_SIZE, true);
	CHECK(write(2, MARKER, strlen(MARKER)) == (ssize_t)strlen(MARKER));
	fill(b_path, B_SIZE, false);
	exit(0); /* atexit: the last write-back */
}

/* expect - log holds line, whole, between from and to; return where it ends. */
static const char *expect(const char *from, const char *to, const char *line)
{
	const char *at = strstr(from, line);
	if (!at || at + strlen(line) > to) {
		fprintf(stderr, "missing line: %s", line);
		exit(1);
	}
	return at + strlen(line);
}

int main(void)
{
	/* fm_sys rigs this process's engine: embedded mode only
	 * (test_daemon_unwritten_pages_reported_on_client_stderr: daemon). */
	pin_embedded_mode("fm_sys.pwrite rigs its own engine");
	int fd = make_file(a_path, A_SIZE, 91, O_RDWR);
	close(fd);
	fd = make_file(b_path, B_SIZE, 92, O_RDWR);
	close(fd);
	fd = make_file(log_path, 0, 0, O_RDWR);
	int status = in_child(child, NULL);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		fprintf(stderr, "skip: faultmap cannot start\n");
		return 77;
	}
	size_t n;
	char *log = (char *)slurp(log_path, &n);
	log[n] = '\0';
	fprintf(stderr, "the child's stderr:\n%s", log);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	char line[512];
	const char *marker = strstr(log, MARKER);
	CHECK(marker);
	/* At munmap: said, and kept. */
	snprintf(line, sizeof(line),
		 "faultmap: %lu bytes of %s could not be written back: %s (kept in memory",
		 A_SIZE, a_path, strerror(ENOSPC));
	expect(log, marker, line);
	/* At exit: both files, lost. */
	snprintf(line, sizeof(line), "faultmap: %lu bytes of %s could not be written back: %s\n",
		 A_SIZE, a_path, strerror(ENOSPC));
	expect(marker, log + n, line);
	snprintf(line, sizeof(line), "faultmap: %lu bytes of %s could not be written back: %s\n",
		 B_SIZE, b_path, strerror(ENOSPC));
	expect(marker, log + n, line);

	/* The files are as they were: nothing was half written. */
	unsigned char *want = malloc(A_SIZE);
	fill_pattern(want, A_SIZE, 91);
	check_file_is(a_path, want, A_SIZE);
	fill_pattern(want, B_SIZE, 92);
	check_file_is(b_path, want, B_SIZE);
	free(want);
	free(log);
	close(fd);
	unlink(a_path), unlink(b_path), unlink(log_path);
	return 0;
}
