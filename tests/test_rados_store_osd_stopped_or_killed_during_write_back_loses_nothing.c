/*
 * The OSD of a RADOS object stops or dies in the middle of a write-back
 * (issue 12's fault test): no write that reached the mapping is lost, and
 * every failure is reported.
 *
 * The store's conf sets `rados osd op timeout = 1` (a Ceph client option,
 * read from the conf the URL names): without it librados waits for the
 * OSD forever, as Ceph clients do by default, and msync would wait too.
 *
 * - Stopped (SIGSTOP: a hung OSD), four rounds: every page of the shared
 *   mapping is written with the round's pattern, fm_msync(MS_SYNC) runs on
 *   a thread of its own, and the OSD is stopped before it starts, or 0, 5
 *   or 40 ms after (during or after the write-back: the test holds
 *   whichever it is). Then the OSD goes on (SIGCONT). If that msync
 *   returned 0, the object already has the whole pattern (read with the
 *   rados tool); else it failed with EIO or ETIMEDOUT (it must when the
 *   OSD stopped first). Either way, the next msync returns 0 and the
 *   object then has the whole pattern.
 * - Killed (SIGKILL; the memstore OSD's data dies with it): a new pattern
 *   is written, the OSD killed, and fm_msync fails (EIO or ETIMEDOUT), and
 *   fails again when asked again: the pages stay dirty, reported at every
 *   msync, never dropped as written. Then the cluster stops, and the
 *   process exits with status 0 (each_mode checks it): with connections
 *   to a dead OSD and monitor, librados's threads crashed the exit
 *   (SIGSEGV) in embedded mode before rados_at_exit.
 * In each mode (embedded, and daemon: the daemon opens the store with the
 * same conf; under a sanitizer, embedded only), each with a cluster of its
 * own. Skipped where the
 * single-node Ceph cluster cannot start.
 */
#include "ceph.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define PAGES 256 /* 1 MiB: one write-back of many pieces in flight */

static struct ceph c;
static unsigned char *p;
static int msync_ret, msync_errno;

static void *do_msync(void *arg)
{
	(void)arg;
	errno = 0;
	msync_ret = fm_msync(p, PAGES * PS, MS_SYNC);
	msync_errno = errno;
	return NULL;
}

static pid_t osd_pid(void)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/run/osd.0.pid", c.dir);
	FILE *f = fopen(path, "r");
	CHECK(f);
	int pid = 0;
	CHECK(fscanf(f, "%d", &pid) == 1 && pid > 1);
	fclose(f);
	return (pid_t)pid;
}

static void object_is(const unsigned char *want, const char *when)
{
	size_t n = 0;
	unsigned char *got = ceph_get(&c, "obj", &n);
	CHECK(got);
	if (n != PAGES * PS || memcmp(got, want, n) != 0) {
		size_t i = 0;
		while (i < n && i < PAGES * PS && got[i] == want[i])
			i++;
		fprintf(stderr, "%s: the object (%zu bytes) differs from the mapping's writes "
				"at byte %zu\n",
			when, n, i);
		exit(1);
	}
	free(got);
}

static void sleep_ms(int ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&t, NULL);
}

int main(void)
{
#ifdef FM_UNDER_SANITIZER
	/* CI's time: embedded mode only (where the exit crashed); the
	 * normal build runs both. */
	if (!getenv("FAULTMAP_MODE"))
		setenv("FAULTMAP_MODE", "embedded", 1);
#endif
	each_mode();
	ceph_start(&c); /* each mode's own: the first one's OSD is killed */
	require_engine();
	char conf[160];
	snprintf(conf, sizeof(conf), "%s/timeout.conf", c.dir);
	FILE *in = fopen(c.conf, "r"), *out = fopen(conf, "w");
	CHECK(in && out);
	char line[512];
	while (fgets(line, sizeof(line), in))
		fputs(line, out);
	fputs("\n[client]\nrados osd op timeout = 1\n", out);
	fclose(in);
	CHECK(fclose(out) == 0);

	unsigned char *want = malloc(PAGES * PS);
	CHECK(want);
	fill_pattern(want, PAGES * PS, 5);
	ceph_put(&c, "obj", want, PAGES * PS);
	char url[320];
	snprintf(url, sizeof(url), "rados://%s/obj?conf=%s", c.pool, conf);
	struct fm_store *s = fm_store_open(url, O_RDWR);
	CHECK(s);
	p = fm_mmap_store(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);
	CHECK(memcmp(p, want, PAGES * PS) == 0);
	pid_t osd = osd_pid();

	const int delays[] = {-1, 0, 5, 40}; /* -1: stopped first */
	int failed = 0;
	for (int r = 0; r < (int)(sizeof(delays) / sizeof(delays[0])); r++) {
		fill_pattern(want, PAGES * PS, 100 + (uint32_t)r);
		memcpy(p, want, PAGES * PS);
		pthread_t t;
		if (delays[r] < 0)
			CHECK(kill(osd, SIGSTOP) == 0);
		CHECK(pthread_create(&t, NULL, do_msync, NULL) == 0);
		if (delays[r] >= 0) {
			sleep_ms(delays[r]);
			CHECK(kill(osd, SIGSTOP) == 0);
		}
		pthread_join(t, NULL);
		CHECK(kill(osd, SIGCONT) == 0);
		if (msync_ret == 0) {
			CHECK(delays[r] >= 0);
			object_is(want, "msync returned 0 with the OSD stopped after it");
		} else {
			CHECK_EQ(msync_ret, -1);
			if (msync_errno != EIO && msync_errno != ETIMEDOUT) {
				fprintf(stderr, "msync with the OSD stopped: %s, not EIO or ETIMEDOUT\n",
					strerror(msync_errno));
				exit(1);
			}
			failed++;
		}
		CHECK(fm_msync(p, PAGES * PS, MS_SYNC) == 0);
		object_is(want, "msync after the OSD went on");
	}
	printf("stopped OSD: %d of 4 write-backs failed and were written again\n", failed);

	fill_pattern(want, PAGES * PS, 200);
	memcpy(p, want, PAGES * PS);
	CHECK(kill(osd, SIGKILL) == 0);
	for (int i = 0; i < 2; i++) {
		errno = 0;
		CHECK_EQ(fm_msync(p, PAGES * PS, MS_SYNC), -1);
		if (errno != EIO && errno != ETIMEDOUT) {
			fprintf(stderr, "msync with the OSD dead: %s, not EIO or ETIMEDOUT\n",
				strerror(errno));
			exit(1);
		}
	}
	CHECK(memcmp(p, want, PAGES * PS) == 0); /* still the program's */
	printf("killed OSD: msync failed twice, the pages still the mapping's\n");
	/* The data cannot reach a cluster that is gone: the unmap says so on
	 * stderr (kept in memory, reported again at exit). Then the whole
	 * cluster stops, and the process must still exit cleanly: librados's
	 * threads, reconnecting, used to crash it while exit ran librados's
	 * destructors (rados_at_exit now shuts the connections down first). */
	CHECK(fm_munmap(p, PAGES * PS) == 0);
	fm_store_close(s);
	ceph_stop(&c);
	free(want);
	printf("ok\n");
	return 0;
}
