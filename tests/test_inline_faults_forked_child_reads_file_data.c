/*
 * test_inline_faults_forked_child_reads_file_data - with
 * FAULTMAP_INLINE_FAULTS=1, views that take their misses in the faulting
 * thread are registered with a userfaultfd of their own, which has no fork
 * events: the kernel drops a child's registration of them at fork, and a
 * fault there on a page the cache lacks would put a page of zeros into
 * the parent's memfd. So the child maps those views from the file itself
 * at fork (mm_unserve_child, inline_only), as the kernel's mappings: its
 * private copies stay. Over many forks, with another thread of the parent
 * faulting pages in and out meanwhile: every page the child reads is the
 * file's (the parent's shared writes included: written back before the
 * fork), its private copy stays its own, and the parent never reads zeros
 * afterwards.
 */
#include "helpers.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUDGET_PAGES 64
#define NPAGES 512
#define FORKS 40

static unsigned char *want, *ro, *priv;
static atomic_int stop;
static _Atomic unsigned long bad;

static void *churn(void *arg)
{
	(void)arg;
	uint64_t s = 12345;
	while (!atomic_load(&stop)) {
		size_t pg = rnd(&s) % NPAGES;
		if (memcmp(ro + pg * PS, want + pg * PS, PS))
			atomic_fetch_add(&bad, 1);
	}
	return NULL;
}

static void child_checks(void)
{
	for (size_t pg = 0; pg < NPAGES; pg++) {
		if (memcmp(ro + pg * PS, want + pg * PS, PS)) {
			fprintf(stderr, "child: read-only view, page %zu differs\n", pg);
			_exit(1);
		}
		bool own = pg == 1;
		if ((own ? priv[pg * PS] != 'P' : priv[pg * PS] != want[pg * PS]) ||
		    memcmp(priv + pg * PS + 1, want + pg * PS + 1, PS - 1)) {
			fprintf(stderr, "child: private view, page %zu differs\n", pg);
			_exit(1);
		}
	}
	_exit(0);
}

static void scenario(void *arg)
{
	(void)arg;
	char path[64];
	int rdonly, rw = inline_faults_file(path, NPAGES, BUDGET_PAGES, 91, &rdonly, &want);
	ro = fm_mmap(NULL, NPAGES * PS, PROT_READ, MAP_SHARED, rdonly, 0);
	priv = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, rw, 0);
	unsigned char *sh = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
	CHECK(ro != MAP_FAILED && priv != MAP_FAILED && sh != MAP_FAILED);
	priv[1 * PS] = 'P';
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, churn, NULL), 0);
	for (int f = 0; f < FORKS; f++) {
		size_t pg = (size_t)(f * 37 + 5) % NPAGES;
		if (pg == 1)
			pg = 2;
		sh[pg * PS + 11] = (unsigned char)f; /* dirty at the fork */
		want[pg * PS + 11] = (unsigned char)f;
		pid_t c = fork();
		CHECK(c >= 0);
		if (c == 0)
			child_checks();
		int st;
		CHECK_EQ(waitpid(c, &st, 0), c);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	atomic_store(&stop, 1);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(atomic_load(&bad), 0);
	for (size_t pg = 0; pg < NPAGES; pg++) /* no zeros left by a child */
		CHECK(memcmp(ro + pg * PS, want + pg * PS, PS) == 0);
	CHECK_EQ(priv[1 * PS], 'P');
	CHECK_EQ(fm_munmap(sh, NPAGES * PS), 0);
	CHECK_EQ(fm_munmap(ro, NPAGES * PS), 0);
	CHECK_EQ(fm_munmap(priv, NPAGES * PS), 0);
	close(rdonly);
	close(rw);
	unlink(path);
	free(want);
	_exit(0);
}

int main(void)
{
#ifdef FM_UNDER_TSAN
	/* TSan's fork interceptor takes its internal locks before fork()
	 * runs the atfork handlers, and the fault thread's instrumented code
	 * needs them before it can park and read UFFD_EVENT_FORK. */
	fprintf(stderr, "skip: TSan's fork interceptor deadlocks with UFFD_EVENT_FORK\n");
	return 77;
#endif
	return inline_faults_test(scenario);
}
