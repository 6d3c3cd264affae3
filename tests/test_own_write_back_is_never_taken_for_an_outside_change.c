/*
 * faultmap's own write-back is never taken for a change made outside
 * faultmap: while one thread maps a file shared, writes it and unmaps it
 * in a loop (its dirty pages written back by eviction under a 16-page
 * budget), and another keeps a mapping of it and reads, the main thread
 * maps and unmaps it too. Nothing outside faultmap touches the file, so
 * faultmap must never say it "was changed outside faultmap", nor drop its
 * clean pages for it.
 *
 * It did, hundreds of times a run, in both modes: a mapping call compared
 * the fstat its caller made before taking the engine's lock with what
 * faultmap knew, and a write-back in between had moved the file's times;
 * the file as faultmap knew it was taken for a changed one. Runs in each
 * mode; the daemon's words are in its log, embedded mode's on stderr.
 */
#include "helpers.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 64
#ifdef FM_UNDER_SANITIZER
#define ROUNDS 500 /* CI's time: the normal build runs 1500 */
#else
#define ROUNDS 1500
#endif
#define BUDGET_PAGES 16

static int fd;
static atomic_int stop;

static void *writer(void *arg)
{
	(void)arg;
	uint64_t s = 5;
	for (int r = 0; r < ROUNDS; r++) {
		unsigned char *p = fm_mmap(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED,
					   fd, 0);
		CHECK(p != MAP_FAILED);
		for (int k = 0; k < 8; k++) {
			size_t pg = rnd(&s) % PAGES;
			memset(p + pg * PS, (int)(rnd(&s) | 1) & 0xff, PS);
		}
		CHECK(fm_munmap(p, PAGES * PS) == 0);
	}
	atomic_store(&stop, 1);
	return NULL;
}

static void *reader(void *arg)
{
	(void)arg;
	const volatile unsigned char *p = fm_mmap(NULL, PAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	long sum = 0;
	while (!atomic_load(&stop))
		for (size_t i = 0; i < PAGES * PS; i += PS)
			sum += p[i];
	CHECK(fm_munmap((void *)p, PAGES * PS) == 0);
	return (void *)sum;
}

/* count_lines - lines of the file at path that contain what. */
static long count_lines(const char *path, const char *what)
{
	size_t n = 0;
	unsigned char *text = slurp(path, &n);
	long count = 0;
	for (const unsigned char *p = text; p && (p = memmem(p, n - (size_t)(p - text), what,
							      strlen(what)));
	     p++)
		count++;
	free(text);
	return count;
}

int main(void)
{
	each_mode();
	const char *mode = getenv("FAULTMAP_MODE");
	bool daemon = mode && !strcmp(mode, "daemon");
	/* Embedded mode says it on this process's stderr: into a file. */
	char err_path[] = "/tmp/fm-outside-err.XXXXXX";
	int err_fd = mkstemp(err_path);
	CHECK(err_fd >= 0);
	int saved = dup(2);
	if (!daemon)
		CHECK(dup2(err_fd, 2) == 2);
	CHECK(fm_set_budget(BUDGET_PAGES * PS) == 0);
	require_engine();
	char path[64];
	fd = make_file(path, PAGES * PS, 83, O_RDWR);

	pthread_t w, r;
	CHECK(pthread_create(&r, NULL, reader, NULL) == 0);
	CHECK(pthread_create(&w, NULL, writer, NULL) == 0);
	/* Mapping calls of a third thread: each compares the file with what
	 * faultmap knows. */
	while (!atomic_load(&stop)) {
		void *p = fm_mmap(NULL, PAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
		CHECK(p != MAP_FAILED);
		CHECK(fm_munmap(p, PAGES * PS) == 0);
	}
	CHECK(pthread_join(w, NULL) == 0);
	CHECK(pthread_join(r, NULL) == 0);
	fflush(stderr);
	CHECK(dup2(saved, 2) == 2);

	char log[4200];
	if (daemon)
		snprintf(log, sizeof(log), "%s/faultmap/daemon.log", getenv("XDG_RUNTIME_DIR"));
	else
		snprintf(log, sizeof(log), "%s", err_path);
	long said = count_lines(log, "changed outside faultmap");
	fprintf(stderr, "%s mode: %ld outside changes reported in %d rounds (%s)\n",
		daemon ? "daemon" : "embedded", said, ROUNDS, log);
	close(err_fd);
	unlink(err_path);
	close(fd);
	unlink(path);
	CHECK_EQ(said, 0);
	return 0;
}
