/* nbdkit.c - see nbdkit.h. */
#include "nbdkit.h"
#include "helpers.h"
#include "daemon/rescue.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void skip(struct nbdkit *k, const char *why)
{
	printf("SKIP: nbdkit cannot serve here: %s\n", why);
	nbdkit_stop(k);
	exit(77);
}

static struct nbdkit *running; /* stopped at exit, even by a failed CHECK */
static pid_t running_owner;	/* by the process that started it: not a forked child */

static void stop_at_exit(void)
{
	if (running && getpid() == running_owner)
		nbdkit_stop(running);
}

void nbdkit_start(struct nbdkit *k, size_t size, unsigned seed)
{
	memset(k, 0, sizeof(*k));
	running = k;
	running_owner = getpid();
	atexit(stop_at_exit);
	k->pid = -1;
	snprintf(k->dir, sizeof(k->dir), "/tmp/fm-nbd.XXXXXX");
	CHECK(mkdtemp(k->dir)); /* mode 0700: ours alone */
	snprintf(k->disk, sizeof(k->disk), "%s/disk", k->dir);
	snprintf(k->rerr, sizeof(k->rerr), "%s/rerr", k->dir);
	snprintf(k->werr, sizeof(k->werr), "%s/werr", k->dir);
	char sock[96], a_file[128], a_rf[128], a_wf[128];
	snprintf(sock, sizeof(sock), "%s/sock", k->dir);
	snprintf(k->url, sizeof(k->url), "nbd+unix:///?socket=%s", sock);
	snprintf(a_file, sizeof(a_file), "file=%s", k->disk);
	snprintf(a_rf, sizeof(a_rf), "error-pread-file=%s", k->rerr);
	snprintf(a_wf, sizeof(a_wf), "error-pwrite-file=%s", k->werr);
	int fd = open(k->disk, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	write_pattern(fd, size, seed);
	int errpipe[2]; /* the child's exec error, if any */
	CHECK(pipe2(errpipe, O_CLOEXEC) == 0);
	k->pid = fork();
	CHECK(k->pid >= 0);
	if (k->pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0 && !getenv("FM_NBDKIT_VERBOSE")) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execlp("nbdkit", "nbdkit", "--foreground", "--exit-with-parent", "-U", sock,
		       "--filter=error", "file", a_file, "error-pread-rate=100%", a_rf,
		       "error-pwrite-rate=100%", a_wf, (char *)NULL);
		int e = errno;
		(void)!write(errpipe[1], &e, sizeof(e));
		_exit(127);
	}
	close(errpipe[1]);
	int e = 0;
	if (read(errpipe[0], &e, sizeof(e)) == (ssize_t)sizeof(e)) {
		close(errpipe[0]);
		waitpid(k->pid, NULL, 0);
		k->pid = -1;
		skip(k, e == ENOENT ? "nbdkit is not installed (Debian package nbdkit)"
				    : strerror(e));
	}
	close(errpipe[0]);
	/* Wait for the socket (or for nbdkit to give up); 30 s at most, only
	 * to tell a server that never comes up: no timing is tested. */
	for (int i = 0; i < 3000; i++) {
		struct stat st;
		if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
			return;
		int status;
		if (waitpid(k->pid, &status, WNOHANG) == k->pid) {
			k->pid = -1;
			skip(k, "nbdkit exited before serving (run with FM_NBDKIT_VERBOSE=1)");
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	skip(k, "its socket did not appear in 30 s");
}

struct fm_store *nbdkit_open_store(struct nbdkit *k, int flags)
{
	struct fm_store *s = fm_store_open(k->url, flags);
	if (!s && errno == EPROTONOSUPPORT) {
		printf("SKIP: no libnbd: %s\n", strerror(errno));
		nbdkit_stop(k);
		exit(77);
	}
	CHECK(s);
	return s;
}

unsigned char *nbdkit_map_dirty(struct nbdkit *k, const unsigned char *want, size_t npages,
			       size_t first, size_t step)
{
	require_engine();
	struct fm_store *s = nbdkit_open_store(k, O_RDWR);
	unsigned char *p = fm_mmap_store(NULL, npages * PS, PROT_READ | PROT_WRITE, MAP_SHARED, s,
					 0);
	CHECK(p != MAP_FAILED);
	for (size_t i = first; i < npages; i += step)
		memcpy(p + i * PS, want + i * PS, PS);
	/* The client's flush at the daemon's death (emergency_flush, on a
	 * thread of its watcher) reads these pages. What orders it after the
	 * writes is the daemon's death, in another process, which TSan cannot
	 * see (it reported a race here once in CI): a map call takes the
	 * client's map_lock, which emergency_flush takes before it starts
	 * that thread, and makes the order one TSan sees. */
	CHECK(fm_mprotect(p, npages * PS, PROT_READ | PROT_WRITE) == 0);
	return p;
}

void nbdkit_rescue_reaches_export(struct nbdkit *k, const unsigned char *want, size_t size)
{
	nbdkit_trigger(k->werr, 0);
	require_engine_in_child(); /* a new daemon: it writes them back first */
	check_file_is(k->disk, want, size);
	char name[256];
	CHECK_EQ(rescue_files(RESCUE_PREFIX, NULL, name, sizeof(name)), 0);
}

void nbdkit_stop(struct nbdkit *k)
{
	if (running == k)
		running = NULL;
	if (k->pid > 0) {
		/* nbdkit waits for its clients to go: a test that fails holds
		 * its connections, so after a while SIGKILL (the export's file
		 * has every write it acknowledged). */
		kill(k->pid, SIGTERM);
		int i = 0;
		while (waitpid(k->pid, NULL, WNOHANG) == 0) {
			if (++i == 200)
				kill(k->pid, SIGKILL);
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		k->pid = -1;
	}
	if (!k->dir[0])
		return;
	const char *names[] = {"disk", "sock", "rerr", "werr"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char p[128];
		snprintf(p, sizeof(p), "%s/%s", k->dir, names[i]);
		unlink(p);
	}
	rmdir(k->dir);
	k->dir[0] = '\0';
}

void nbdkit_trigger(const char *path, int on)
{
	if (on) {
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		CHECK(fd >= 0);
		close(fd);
	} else {
		CHECK(unlink(path) == 0);
	}
}

/* ---- a stop that can neither write nor copy ---------------------------- */

static struct nbdkit *stuck_k;
static size_t stuck_pages;
static unsigned char *stuck_want;
static char closed_dir[128]; /* the directory runtime_dir_closed closed */
static pid_t closed_owner;   /* the test's process (not its client) */
static bool closed_immutable; /* closed_dir was made immutable (else read-only) */

/* the client: writes through a shared mapping of the export, which
 * refuses writes from then on; it says so, and keeps the mapping until
 * the daemon is gone */
static void stuck_client(void *arg, int out)
{
	(void)arg;
	nbdkit_map_dirty(stuck_k, stuck_want, stuck_pages, 0, 3);
	nbdkit_trigger(stuck_k->werr, 1);
	xwrite(out, "r", 1);
	for (int t = 0; t < 6000 && daemon_pid() > 0; t++)
		usleep(10000);
	exit(0);
}

pid_t nbdkit_stuck_client(struct nbdkit *k, size_t npages, unsigned seed, unsigned char **old,
			  unsigned char **want)
{
	nbdkit_start(k, npages * PS, seed);
	*old = malloc(npages * PS);
	*want = malloc(npages * PS);
	CHECK(*old && *want);
	fill_pattern(*old, npages * PS, seed);
	memcpy(*want, *old, npages * PS);
	for (size_t i = 0; i < npages; i += 3)
		fill_pattern(*want + i * PS, PS, seed * 100 + (uint32_t)i);
	stuck_k = k;
	stuck_pages = npages;
	stuck_want = *want;
	int in;
	pid_t pid = child_with_pipe(stuck_client, NULL, &in);
	child_ready(pid, in);
	return pid;
}

/* closed_cleanup - an immutable directory would outlive the test. */
static void closed_cleanup(void)
{
	if (getpid() == closed_owner && closed_immutable)
		runtime_dir_closed(false);
}

void runtime_dir_closed(bool on)
{
	if (!closed_owner) {
		closed_owner = getpid();
		snprintf(closed_dir, sizeof(closed_dir), "%s/faultmap", getenv("XDG_RUNTIME_DIR"));
		atexit(closed_cleanup);
	}
	if (closed_immutable || (on && set_immutable(closed_dir, true) == 0)) {
		closed_immutable = on;
		CHECK(on || set_immutable(closed_dir, false) == 0);
		return;
	}
	CHECK(chmod(closed_dir, on ? 0500 : 0700) == 0);
}
