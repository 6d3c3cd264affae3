/*
 * Writers outside faultmap: a plain process (exec'd, never calls faultmap)
 * changes a file a faultmap process has cached, with write(2), through a
 * kernel MAP_SHARED mapping and msync, by truncating and by growing it.
 * After the documented trigger (the next fm_pread, fm_msync or fm_mmap of
 * the file: docs/design.md, "Writers outside faultmap"), the faultmap
 * process sees the new bytes as the kernel shows them: through its
 * existing mapping, fm_pread and a fresh mapping; past a new EOF its
 * mapping raises SIGBUS as a kernel mapping does. A dirty page that
 * conflicts with an outside change is kept and written over it at msync.
 * The other way: a plain reader sees what faultmap msync'd. Embedded mode,
 * then daemon mode (daemon_private) in an exec'd copy of this test.
 * Before, the mapping, fm_pread and fresh mappings all kept the stale page.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 8
#define LEN (NPAGES * PS)

static const char *const self = "/proc/self/exe";

/* do_op - in the plain process: "write OFF LEN SEED", "map OFF LEN SEED"
 * (a kernel mapping, msync) or "truncate SIZE" of path. */
static void do_op(const char *op, const char *path, size_t off, size_t len, uint32_t seed)
{
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	if (!strcmp(op, "truncate")) {
		CHECK(ftruncate(fd, (off_t)off) == 0);
		close(fd);
		return;
	}
	unsigned char *buf = malloc(len);
	fill_pattern(buf, len, seed);
	if (!strcmp(op, "write")) {
		CHECK(pwrite(fd, buf, len, (off_t)off) == (ssize_t)len);
	} else {
		size_t base = off & ~(PS - 1);
		unsigned char *m = mmap(NULL, off + len - base, PROT_READ | PROT_WRITE, MAP_SHARED,
					fd, (off_t)base);
		CHECK(m != MAP_FAILED);
		memcpy(m + (off - base), buf, len);
		CHECK(msync(m, off + len - base, MS_SYNC) == 0);
		CHECK(munmap(m, off + len - base) == 0);
	}
	free(buf);
	close(fd);
}

/* outside_main - the plain process (never calls faultmap): does each
 * operation read from stdin, answers on stdout. Started before anything
 * is mapped, so no fork writes dirty pages back on its account. */
static int outside_main(void)
{
	char op[16], path[64];
	size_t off, len;
	unsigned seed;
	while (scanf("%15s %63s %zu %zu %u", op, path, &off, &len, &seed) == 5) {
		do_op(op, path, off, len, seed);
		printf("ok\n");
		fflush(stdout);
	}
	return 0;
}

static FILE *to_outside, *from_outside;

static void outside_start(void)
{
	int in[2], out[2];
	/* Close-on-exec: the writer must not keep the write end of its own
	 * input, or it never sees EOF and outlives the test. */
	CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK(dup2(in[0], 0) == 0 && dup2(out[1], 1) == 1);
		execl(self, "outside-writer", "outside", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	to_outside = fdopen(in[1], "w");
	from_outside = fdopen(out[0], "r");
	CHECK(to_outside && from_outside);
}

/* outside - have the plain process do op; model gets the same bytes. */
static void outside(const char *op, const char *path, size_t off, size_t len, uint32_t seed,
		    unsigned char *model)
{
	char ok[8];
	fprintf(to_outside, "%s %s %zu %zu %u\n", op, path, off, len, seed);
	fflush(to_outside);
	CHECK(fgets(ok, sizeof(ok), from_outside) && !strcmp(ok, "ok\n"));
	if (model && strcmp(op, "truncate"))
		fill_pattern(model + off, len, seed);
}

/* trigger - the next call that checks the file: a one-byte fm_pread. */
static void trigger(int fd)
{
	char c;
	CHECK(fm_pread(fd, &c, 1, 0) == 1);
}

/* check_all - the mapping p, fm_pread and a fresh mapping hold model's
 * size bytes. */
static void check_all(int fd, const volatile unsigned char *p, const unsigned char *model,
		      size_t size)
{
	for (size_t i = 0; i < size; i++)
		if (p[i] != model[i]) {
			fprintf(stderr, "mapping: byte %zu is %d, the file's is %d\n", i, p[i],
				model[i]);
			exit(1);
		}
	unsigned char *buf = malloc(size + 1);
	CHECK_EQ(fm_pread(fd, buf, size + 1, 0), size);
	CHECK(memcmp(buf, model, size) == 0);
	free(buf);
	unsigned char *q = fm_mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(q != MAP_FAILED);
	CHECK(memcmp(q, model, size) == 0);
	CHECK(fm_munmap(q, size) == 0);
}

/* sigbus_at - whether reading p[i] raises SIGBUS. */
static bool sigbus_at(const volatile unsigned char *p, size_t i)
{
	int before = sigbus_count;
	if (sigsetjmp(sigbus_env, 1) == 0)
		(void)p[i];
	return sigbus_count != before;
}

static void scenario(void)
{
	outside_start();
	require_engine();
	catch_sigbus();
	char path[64];
	int fd = make_file(path, LEN, 3, O_RDWR);
	unsigned char *model = malloc(LEN);
	fill_pattern(model, LEN, 3);
	volatile unsigned char *p = fm_mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	check_all(fd, p, model, LEN); /* every page cached */

	/* write(2), seen at the next fm_pread. */
	outside("write", path, PS + 100, 2 * PS, 11, model);
	trigger(fd);
	check_all(fd, p, model, LEN);

	/* A kernel mapping and msync, seen at the next fm_msync. */
	outside("map", path, 4 * PS + 7, PS, 12, model);
	CHECK(fm_msync((void *)p, LEN, MS_SYNC) == 0);
	check_all(fd, p, model, LEN);

	/* write(2), seen at the next fm_mmap of the file. */
	outside("write", path, 0, 10, 13, model);
	unsigned char *q = fm_mmap(NULL, PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(q != MAP_FAILED);
	CHECK(memcmp(q, model, PS) == 0);
	CHECK(fm_munmap(q, PS) == 0);
	check_all(fd, p, model, LEN);

	/* Truncation: past the new EOF, SIGBUS, as in a kernel mapping; the
	 * rest of the last page reads zeros. */
	size_t small = 2 * PS + 500;
	outside("truncate", path, small, 0, 0, NULL);
	memset(model + small, 0, LEN - small);
	trigger(fd);
	unsigned char *k = mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(k != MAP_FAILED);
	for (size_t pg = 0; pg < NPAGES; pg++) {
		bool kernel = sigbus_at(k, pg * PS);
		CHECK_EQ(sigbus_at(p, pg * PS), kernel);
		CHECK_EQ(kernel, pg >= 3);
	}
	CHECK(munmap(k, LEN) == 0);
	check_all(fd, p, model, small);
	CHECK_EQ(p[small], 0);

	/* Growth back to NPAGES: the pages come back, with the new bytes. */
	outside("write", path, small, LEN - small, 14, model);
	trigger(fd);
	check_all(fd, p, model, LEN);

	/* A dirty page that an outside write meets is kept, and wins at
	 * write-back (the whole page); clean pages take the outside write. */
	volatile unsigned char *w = fm_mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(w != MAP_FAILED);
	w[6 * PS + 1] = 'X';
	model[6 * PS + 1] = 'X';
	unsigned char *before = malloc(PS);
	memcpy(before, model + 6 * PS, PS);
	outside("write", path, 6 * PS + 100, PS, 15, model); /* pages 6 and 7 */
	memcpy(model + 6 * PS, before, PS); /* page 6: faultmap's */
	trigger(fd);
	check_all(fd, p, model, LEN);
	CHECK(fm_msync((void *)w, LEN, MS_SYNC) == 0);
	check_file_is(path, model, LEN);

	/* The other way: a plain reader sees what faultmap msync'd. */
	memset((void *)(w + 2 * PS), 'Y', 300);
	memset(model + 2 * PS, 'Y', 300);
	CHECK(fm_msync((void *)w, LEN, MS_SYNC) == 0);
	check_file_is(path, model, LEN);
	check_all(fd, p, model, LEN);

	CHECK(fm_munmap((void *)w, LEN) == 0);
	CHECK(fm_munmap((void *)p, LEN) == 0);
	close(fd);
	unlink(path);
	free(before);
	free(model);
	fclose(to_outside);
	fclose(from_outside);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "outside"))
		return outside_main();
	if (argc == 2 && !strcmp(argv[1], "daemon")) {
		daemon_private();
		scenario();
		return 0;
	}
	scenario(); /* embedded */
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execl(self, argv[0], "daemon", (char *)NULL);
		_exit(127);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return 0;
}
