#include "helpers.h"
#include "client/client.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void loopfs_cleanup(struct loopfs *fs);

bool file_in_memory(int fd)
{
	struct statfs sfs;
	return fstatfs(fd, &sfs) == 0 &&
	       (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
}

static char daemon_dir[64];
static pid_t daemon_owner;

int daemon_stop(void)
{
	return client_stop_daemon(NULL);
}

pid_t daemon_pid(void)
{
	char path[128], line[256];
	snprintf(path, sizeof(path), "%s/faultmap/daemon.lock", daemon_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	int r = fstat(fd, &st);
	close(fd);
	if (r)
		return -1;
	/* The holder of the flock on that inode, from /proc/locks. */
	FILE *f = fopen("/proc/locks", "re");
	pid_t pid = -1;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long ino;
		int p;
		if (sscanf(line, "%*d: FLOCK %*s %*s %d %x:%x:%lu", &p, &maj, &min, &ino) == 4 &&
		    ino == (unsigned long)st.st_ino)
			pid = p;
	}
	if (f)
		fclose(f);
	return pid;
}

static void daemon_cleanup(void)
{
	if (getpid() != daemon_owner)
		return;
	daemon_stop();
	/* The daemon ran under the sanitizers of this build: what they said
	 * is in its log, which goes with the directory. */
	char log[128];
	snprintf(log, sizeof(log), "%s/faultmap/daemon.log", daemon_dir);
	size_t n = 0;
	unsigned char *text = access(log, R_OK) == 0 ? slurp(log, &n) : NULL;
	bool bad = text && (memmem(text, n, "Sanitizer", 9) || memmem(text, n, "runtime error", 13));
	if (bad)
		fprintf(stderr, "the daemon's log (%s):\n%.*s\n", log, (int)n, (const char *)text);
	free(text);
	if (getenv("FM_TEST_DAEMON_DIR"))
		return;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", daemon_dir);
	if (system(cmd)) {
	}
	if (bad)
		_exit(1);
}

/* rt_path - name in the runtime directory's faultmap/ into out. */
static void rt_path(const char *name, char *out, size_t size)
{
	CHECK((size_t)snprintf(out, size, "%s/faultmap/%s", getenv("XDG_RUNTIME_DIR"), name) < size);
}

int rescue_files(const char *prefix, const char *skip, char *name, size_t size)
{
	char dir[128];
	rt_path("", dir, sizeof(dir));
	DIR *d = opendir(dir);
	CHECK(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		if (!strncmp(e->d_name, prefix, strlen(prefix)) && (!skip || strcmp(e->d_name, skip))) {
			snprintf(name, size, "%s", e->d_name);
			n++;
		}
	closedir(d);
	return n;
}

bool daemon_log_says(const char *what)
{
	char log[128];
	rt_path("daemon.log", log, sizeof(log));
	size_t n;
	unsigned char *text = slurp(log, &n);
	CHECK(text);
	text[n] = '\0';
	bool says = strstr((char *)text, what) != NULL;
	free(text);
	return says;
}

void daemon_kill(void)
{
	pid_t d = daemon_pid();
	CHECK(d > 0);
	CHECK(kill(d, SIGKILL) == 0);
	daemon_gone();
}

void daemon_gone(void)
{
	for (int t = 0; t < 500 && daemon_pid() > 0; t++) /* its lock goes with it */
		usleep(10000);
	CHECK(daemon_pid() < 0);
}

void daemon_rounds(int n, int (*round)(int r, void *arg), void (*check)(int r, void *arg),
		   void *arg)
{
	for (int r = 0; r < n; r++) {
		fflush(NULL);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			exit(round(r, arg));
		int status;
		CHECK(waitpid(pid, &status, 0) == pid);
		CHECK(WIFEXITED(status));
		if (WEXITSTATUS(status) == 77)
			exit(77);
		if (WEXITSTATUS(status) != 0) {
			fprintf(stderr, "round %d of %d failed\n", r, n);
			exit(1);
		}
		if (check)
			check(r, arg);
		daemon_gone(); /* the next round starts its own */
	}
}

void daemon_rounds_on_file(int n, size_t bytes, uint32_t seed, int (*round)(int r, void *arg),
			   void (*check)(int r, void *arg))
{
	daemon_private();
	require_engine_in_child(); /* this process stays without a daemon */
	char path[64];
	close(make_file(path, bytes, seed, O_RDWR));
	daemon_rounds(n, round, check, path);
	unlink(path);
}

int set_immutable(const char *path, bool on)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	int flags = 0, err = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
		err = errno;
	flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
	if (!err && ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
		err = errno;
	close(fd);
	return err;
}

int run_faultmap(char *out, size_t size, const char *arg, ...)
{
	char exe[PATH_MAX - 16], bin[PATH_MAX], log[64] = "/tmp/fm-cli-out.XXXXXX";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0'; /* .../build/tests: the command is in .../build */
	snprintf(bin, sizeof(bin), "%.*s/faultmap", (int)(strrchr(exe, '/') - exe), exe);
	const char *argv[16] = {bin, arg};
	va_list ap;
	va_start(ap, arg);
	for (int i = 2; i < 15 && (argv[i - 1]); i++)
		argv[i] = va_arg(ap, const char *);
	va_end(ap);
	int fd = mkstemp(log);
	CHECK(fd >= 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		execv(bin, (char **)argv);
		_exit(127);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	ssize_t got = pread(fd, out, size - 1, 0);
	out[got > 0 ? got : 0] = '\0';
	close(fd);
	unlink(log);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void copy_file(const char *from, const char *to, size_t cut)
{
	size_t n;
	unsigned char *bytes = slurp(from, &n);
	CHECK(bytes && n >= cut);
	int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, bytes, n - cut), (ssize_t)(n - cut));
	close(fd);
	free(bytes);
}

void daemon_private(void)
{
	/* FM_TEST_DAEMON_DIR: a directory of one's own, to watch (or debug)
	 * the daemon there. */
	const char *keep = getenv("FM_TEST_DAEMON_DIR");
	snprintf(daemon_dir, sizeof(daemon_dir), "%s", keep ? keep : "/tmp/fm-daemon-test.XXXXXX");
	CHECK(keep || mkdtemp(daemon_dir));
	CHECK(chmod(daemon_dir, 0700) == 0);
	setenv("XDG_RUNTIME_DIR", daemon_dir, 1);
	setenv("FAULTMAP_MODE", "daemon", 1);
	CHECK(fm_set_mode(FM_MODE_DAEMON) == 0);
	daemon_owner = getpid();
	atexit(daemon_cleanup);
}

void pin_embedded_mode(const char *why)
{
	(void)why; /* said at the call, for the reader */
	setenv("FAULTMAP_MODE", "embedded", 1);
	CHECK(fm_set_mode(FM_MODE_EMBEDDED) == 0);
}

void each_mode(void)
{
	const char *env = getenv("FAULTMAP_MODE");
	if (env && !strcmp(env, "daemon"))
		daemon_private();
	if (env && *env)
		return;
	static const char *const modes[] = {"embedded", "daemon"};
	int result = 77;
	for (int i = 0; i < 2; i++) {
		fflush(NULL);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			if (i)
				daemon_private();
			else
				pin_embedded_mode("the test's embedded half");
			return; /* the test runs in this mode */
		}
		int st;
		CHECK(waitpid(pid, &st, 0) == pid);
		int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (code && code != 77)
			fprintf(stderr, "in %s mode: %s %d\n", modes[i],
				WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? code : WTERMSIG(st));
		if (code != 77 && (result == 77 || !result))
			result = code;
	}
	exit(result);
}

void require_engine(void)
{
	char path[64];
	int fd = make_file(path, PS, 1, O_RDONLY);
	void *p = fm_mmap(NULL, PS, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "skip: faultmap cannot start: %s\n", strerror(errno));
		unlink(path);
		exit(77);
	}
	fm_munmap(p, PS);
	close(fd);
	unlink(path);
}

static void require_engine_then_exit(void *arg)
{
	(void)arg;
	require_engine();
	exit(0);
}

void require_engine_in_child(void)
{
	int status = in_child(require_engine_then_exit, NULL);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		exit(77);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

void require_sigbus_delivery(void)
{
#ifdef FM_UNDER_TSAN
	fprintf(stderr, "skip: TSan defers the SIGBUS the fault thread sends\n");
	exit(77);
#endif
}

void require_death_orders_flush(void)
{
#ifdef FM_UNDER_TSAN
	fprintf(stderr, "skip: TSan cannot see that the daemon's death orders the writes "
			"before the flush\n");
	exit(77);
#endif
}

void require_threads_after_fork(void)
{
#ifdef FM_UNDER_TSAN
	fprintf(stderr, "skip: TSan cannot start threads in a child of a threaded process\n");
	exit(77);
#endif
}

uint32_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 11);
}

void fill_pattern(void *buf, size_t size, uint32_t seed)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL ^ seed;
	unsigned char *b = buf;
	for (size_t i = 0; i < size; i++)
		b[i] = (unsigned char)(rnd(&s) | 1); /* never 0: zeros mean "not read" */
}

void write_pattern(int fd, size_t size, uint32_t seed)
{
	unsigned char *buf = malloc(size ? size : 1);
	CHECK(buf);
	fill_pattern(buf, size, seed);
	CHECK(write(fd, buf, size) == (ssize_t)size);
	free(buf);
	close(fd);
}

int make_file(char *path, size_t size, uint32_t seed, int flags)
{
	const char *dir = getenv("FM_TEST_DIR");
	snprintf(path, 64, "%s/fmtest.XXXXXX", dir ? dir : "/var/tmp");
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	write_pattern(fd, size, seed);
	fd = open(path, flags);
	CHECK(fd >= 0);
	return fd;
}

unsigned char *slurp(const char *path, size_t *size)
{
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	struct stat st;
	CHECK(fstat(fd, &st) == 0);
	unsigned char *b = malloc((size_t)st.st_size + 1);
	CHECK(b);
	CHECK(pread(fd, b, (size_t)st.st_size, 0) == st.st_size);
	close(fd);
	*size = (size_t)st.st_size;
	return b;
}

void check_file_is(const char *path, const unsigned char *want, size_t size)
{
	size_t got;
	unsigned char *b = slurp(path, &got);
	CHECK_EQ(got, size);
	for (size_t i = 0; i < size; i++)
		if (b[i] != want[i]) {
			fprintf(stderr, "%s: byte %zu (page %zu) is %02x, expected %02x\n", path,
				i, i / PS, b[i], want[i]);
			exit(1);
		}
	free(b);
}

uint64_t memfd_bytes(void)
{
	DIR *d = opendir("/proc/self/fd");
	CHECK(d);
	uint64_t total = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char link[300], target[256];
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strncmp(target, "/memfd:faultmap", 15) != 0)
			continue;
		struct stat st;
		if (stat(link, &st) == 0)
			total += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return total;
}

bool user_may_uffd(void)
{
	FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");
	int v = 1;
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 1;
		fclose(f);
	}
	return v != 0 || access("/dev/userfaultfd", R_OK | W_OK) == 0;
}

pid_t exec_self(const char *argv0, const char *fmt, ...)
{
	char words[512];
	va_list ap;
	va_start(ap, fmt);
	CHECK((size_t)vsnprintf(words, sizeof(words), fmt, ap) < sizeof(words));
	va_end(ap);
	char *argv[16] = {(char *)argv0};
	int argc = 1;
	for (char *save, *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		CHECK(argc < 15);
		argv[argc++] = w;
	}
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	return pid;
}

void xwrite(int fd, const void *m, size_t n)
{
	CHECK(write(fd, m, n) == (ssize_t)n);
}

void xread(int fd, void *m, size_t n)
{
	CHECK(read(fd, m, n) == (ssize_t)n);
}

struct ping_pong_msg {
	uint32_t page, off;
	uint8_t val, quit;
};

void ping_pong_lead(volatile unsigned char *p, unsigned char *model, size_t npages, int rounds,
		    int to, int from)
{
	uint64_t s = 1;
	for (int i = 0; i < rounds; i++) {
		struct ping_pong_msg m = {rnd(&s) % npages, rnd(&s) % PS, (uint8_t)rnd(&s), 0};
		p[m.page * PS + m.off] = m.val;
		model[m.page * PS + m.off] = m.val;
		xwrite(to, &m, sizeof(m));
		struct ping_pong_msg r;
		xread(from, &r, sizeof(r));
		CHECK_EQ(p[r.page * PS + r.off], r.val); /* seen at once */
		model[r.page * PS + r.off] = r.val;
	}
	struct ping_pong_msg quit = {.quit = 1};
	xwrite(to, &quit, sizeof(quit));
}

void ping_pong_follow(volatile unsigned char *q, size_t npages, int in, int out,
		      void (*check)(size_t off, unsigned char val))
{
	uint64_t s = 99;
	for (;;) {
		struct ping_pong_msg m;
		xread(in, &m, sizeof(m));
		if (m.quit)
			_exit(0);
		CHECK_EQ(q[m.page * PS + m.off], m.val);
		if (check)
			check(m.page * PS + m.off, m.val);
		struct ping_pong_msg r = {rnd(&s) % npages, rnd(&s) % PS, (uint8_t)rnd(&s), 0};
		q[r.page * PS + r.off] = r.val;
		xwrite(out, &r, sizeof(r));
	}
}

int in_child(void (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	return status;
}

int inline_faults_test(void (*scenario)(void *))
{
	pin_embedded_mode("FAULTMAP_INLINE_FAULTS is the embedded engine's");
	require_engine_in_child();
	int st = in_child(scenario, NULL);
	CHECK(WIFEXITED(st));
	return WEXITSTATUS(st);
}

int inline_faults_file(char *path, size_t npages, size_t budget_pages, uint32_t seed,
		       int *rdonly, unsigned char **want)
{
	CHECK_EQ(setenv("FAULTMAP_INLINE_FAULTS", "1", 1), 0);
	CHECK_EQ(fm_set_budget(budget_pages * PS), 0);
	int rw = make_file(path, npages * PS, seed, O_RDWR);
	*rdonly = open(path, O_RDONLY);
	CHECK(*rdonly >= 0);
	*want = malloc(npages * PS);
	CHECK(*want);
	fill_pattern(*want, npages * PS, seed);
	return rw;
}

pid_t child_with_pipe(void (*fn)(void *arg, int out), void *arg, int *in)
{
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		fn(arg, pfd[1]);
		_exit(1); /* fn must not return */
	}
	close(pfd[1]);
	*in = pfd[0];
	return pid;
}

void child_ready(pid_t pid, int in)
{
	char c;
	if (read(in, &c, 1) == 1)
		return;
	int status; /* it ended first: skipped, or failed */
	CHECK(waitpid(pid, &status, 0) == pid);
	exit(WIFEXITED(status) && WEXITSTATUS(status) == 77 ? 77 : 1);
}

void wait_within(pid_t pid, int deadline_s, const char *what)
{
	int status;
	time_t end = time(NULL) + deadline_s;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		CHECK(w >= 0);
		if (w == pid)
			break;
		if (time(NULL) > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "%s: hung (killed after %d s)\n", what, deadline_s);
			exit(1);
		}
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s: failed (status %#x)\n", what, status);
		exit(1);
	}
}

static char tmpfs_dir[64];
static pid_t tmpfs_owner;

static void unmount_tmpfs(void)
{
	if (getpid() != tmpfs_owner || !tmpfs_dir[0])
		return;
	umount2(tmpfs_dir, MNT_DETACH);
	rmdir(tmpfs_dir);
}

void mount_tmpfs(char *dir, const char *options)
{
	CHECK(!tmpfs_dir[0]); /* one per test */
	snprintf(tmpfs_dir, sizeof(tmpfs_dir), "/tmp/fmtest-tmpfs.XXXXXX");
	CHECK(mkdtemp(tmpfs_dir));
	if (mount("faultmap-test", tmpfs_dir, "tmpfs", 0, options) != 0) {
		printf("cannot mount a tmpfs here (%s)\n", strerror(errno));
		rmdir(tmpfs_dir);
		exit(77);
	}
	tmpfs_owner = getpid();
	atexit(unmount_tmpfs);
	snprintf(dir, 64, "%s", tmpfs_dir);
}

/* ---- loopfs: ext4 on a loop device, for real I/O errors ----------------- */

static void loopfs_skip(struct loopfs *fs, const char *why)
{
	fprintf(stderr, "skip: %s\n", why);
	loopfs_cleanup(fs);
	exit(77);
}

/* run_quiet - run argv, output to /dev/null. Return: its exit status, or
 * 127 if it could not be started. */
static int run_quiet(char *const argv[])
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execvp(argv[0], argv);
		char path[64];
		snprintf(path, sizeof(path), "/usr/sbin/%s", argv[0]);
		execv(path, argv);
		snprintf(path, sizeof(path), "/sbin/%s", argv[0]);
		execv(path, argv);
		_exit(127);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* set_capacity - make the loop device as big as its image is now. */
static int set_capacity(const struct loopfs *fs)
{
	int fd = open(fs->dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = ioctl(fd, LOOP_SET_CAPACITY, 0) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* loopfs_cleanup - undo whatever of loopfs_create was done: heal, unmount
 * (the loop device has LO_FLAGS_AUTOCLEAR: it goes with the mount), remove
 * the files and the directories. Idempotent; the guard process calls it
 * with the struct as it was at the fork, so it works from the files. */
static void loopfs_cleanup(struct loopfs *fs)
{
	if (fs->dev[0])
		loopfs_heal(fs);
	if (fs->dir[0] && umount2(fs->dir, 0) < 0 && errno == EBUSY)
		umount2(fs->dir, MNT_DETACH);
	if (fs->dev[0]) {
		int fd = open(fs->dev, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ioctl(fd, LOOP_CLR_FD, 0); /* gone already with autoclear */
			close(fd);
		}
	}
	if (fs->image[0])
		unlink(fs->image);
	if (fs->tail[0])
		unlink(fs->tail);
	if (fs->dir[0])
		rmdir(fs->dir);
	if (fs->top[0])
		rmdir(fs->top);
	fs->dev[0] = fs->image[0] = fs->tail[0] = fs->dir[0] = fs->top[0] = 0;
}

/* attach - a free loop device for the image, with autoclear.
 * Return: its fd, or -errno. */
static int attach(struct loopfs *fs)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	int img = open(fs->image, O_RDWR | O_CLOEXEC);
	CHECK(img >= 0);
	int ret = -EBUSY;
	for (int tries = 0; tries < 20 && ret == -EBUSY; tries++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			ret = -errno;
			break;
		}
		snprintf(fs->dev, sizeof(fs->dev), "/dev/loop%d", n);
		int fd = open(fs->dev, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			break;
		}
		struct loop_config cfg = {.fd = (unsigned)img, .block_size = 4096};
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
			ret = fd;
			break;
		}
		ret = -errno; /* EBUSY: another process took it first */
		close(fd);
	}
	if (ret < 0)
		fs->dev[0] = 0;
	close(img);
	close(ctl);
	return ret;
}

void loopfs_create(struct loopfs *fs, uint64_t size)
{
	memset(fs, 0, sizeof(*fs));
	fs->guard = -1;
	fs->size = size;
	if (geteuid() != 0)
		loopfs_skip(fs, "loop devices need root");
	const char *dir = getenv("FM_TEST_DIR");
	snprintf(fs->top, sizeof(fs->top), "%s/fmloop.XXXXXX", dir ? dir : "/var/tmp");
	CHECK(mkdtemp(fs->top));
	snprintf(fs->image, sizeof(fs->image), "%s/image", fs->top);
	snprintf(fs->tail, sizeof(fs->tail), "%s/tail", fs->top);
	int img = open(fs->image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(img >= 0);
	CHECK(ftruncate(img, (off_t)size) == 0);
	close(img);
	snprintf(fs->dir, sizeof(fs->dir), "%s/mnt", fs->top);
	CHECK(mkdir(fs->dir, 0700) == 0);
	int loop = attach(fs);
	if (loop < 0) {
		char why[128];
		snprintf(why, sizeof(why), "no loop device: %s", strerror(-loop));
		loopfs_skip(fs, why);
	}
	/* Inode tables written now: no lazy init writing in the background. */
	char *mkfs[] = {"mkfs.ext4", "-q", "-F", "-b", "4096", "-O", "^has_journal",
			"-E", "lazy_itable_init=0", fs->dev, NULL};
	int rc = run_quiet(mkfs);
	if (rc == 127)
		loopfs_skip(fs, "no mkfs.ext4");
	CHECK(rc == 0);
	if (mount(fs->dev, fs->dir, "ext4", 0, NULL) < 0) {
		int e = errno;
		close(loop);
		if (e == ENODEV)
			loopfs_skip(fs, "no ext4 in this kernel");
		fprintf(stderr, "mount %s: %s\n", fs->dev, strerror(e));
		loopfs_cleanup(fs);
		exit(1);
	}
	close(loop); /* the mount holds the device now */
	int pfd[2];
	CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* The guard: holds nothing open on the file system, and waits
		 * for every holder of the pipe's write end to be gone. */
		close(pfd[1]);
		for (int fd = 3; fd < 1024; fd++)
			if (fd != pfd[0])
				close(fd);
		setsid(); /* out of reach of a timeout's signal to the group */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		char c;
		while (read(pfd[0], &c, 1) != 0 && errno == EINTR) {
		}
		loopfs_cleanup(fs);
		_exit(0);
	}
	close(pfd[0]);
	fs->guard = pfd[1];
	fs->guard_pid = pid;
}

/* copy_bytes - copy len bytes at off of the file at from to the same
 * place of the file at to (created if need be). */
static void copy_bytes(const char *from, const char *to, uint64_t off, uint64_t len)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	CHECK(in >= 0 && out >= 0);
	char *buf = malloc(1 << 20);
	CHECK(buf);
	for (uint64_t done = 0; done < len;) {
		size_t n = len - done < (1 << 20) ? (size_t)(len - done) : (1 << 20);
		CHECK(pread(in, buf, n, (off_t)(off + done)) == (ssize_t)n);
		CHECK(pwrite(out, buf, n, (off_t)(off + done)) == (ssize_t)n);
		done += n;
	}
	free(buf);
	CHECK(fsync(out) == 0);
	close(in);
	close(out);
}

void loopfs_fail_from(struct loopfs *fs, uint64_t dev_off)
{
	struct stat st;
	CHECK(stat(fs->image, &st) == 0);
	CHECK((uint64_t)st.st_size == fs->size && dev_off < fs->size && !(dev_off & 4095));
	copy_bytes(fs->image, fs->tail, dev_off, fs->size - dev_off);
	CHECK(truncate(fs->image, (off_t)dev_off) == 0);
	CHECK(set_capacity(fs) == 0);
}

void loopfs_heal(struct loopfs *fs)
{
	struct stat st;
	if (stat(fs->image, &st) < 0 || (uint64_t)st.st_size == fs->size)
		return;
	uint64_t cut = (uint64_t)st.st_size;
	CHECK(truncate(fs->image, (off_t)fs->size) == 0);
	copy_bytes(fs->tail, fs->image, cut, fs->size - cut);
	CHECK(unlink(fs->tail) == 0);
	CHECK(set_capacity(fs) == 0);
}

void loopfs_destroy(struct loopfs *fs)
{
	close(fs->guard);
	fs->guard = -1;
	int status;
	CHECK(waitpid(fs->guard_pid, &status, 0) == fs->guard_pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int loopfs_file_failing_from(struct loopfs *fs, char *path, size_t size, uint32_t seed,
			     uint64_t bad)
{
	snprintf(path, 128, "%s/file", fs->dir);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	unsigned char *buf = malloc(size);
	CHECK(buf);
	fill_pattern(buf, size, seed);
	CHECK(pwrite(fd, buf, size, 0) == (ssize_t)size);
	free(buf);
	CHECK(fsync(fd) == 0);
	uint64_t cut = file_block_offset(fd, bad * PS);
	for (uint64_t i = 0; i < (size + PS - 1) / PS; i++)
		if ((file_block_offset(fd, i * PS) >= cut) != (i >= bad)) {
			fprintf(stderr, "%s: page %llu is not where one run would put it\n",
				path, (unsigned long long)i);
			exit(1);
		}
	drop_kernel_cache(fd);
	loopfs_fail_from(fs, cut);
	return fd;
}

uint64_t file_block_offset(int fd, uint64_t off)
{
	struct fiemap *map = calloc(1, sizeof(*map) + sizeof(struct fiemap_extent));
	CHECK(map);
	map->fm_start = off;
	map->fm_length = 1;
	map->fm_flags = FIEMAP_FLAG_SYNC;
	map->fm_extent_count = 1;
	CHECK(ioctl(fd, FS_IOC_FIEMAP, map) == 0);
	uint64_t at = UINT64_MAX;
	if (map->fm_mapped_extents && map->fm_extents[0].fe_logical <= off)
		at = map->fm_extents[0].fe_physical + (off - map->fm_extents[0].fe_logical);
	free(map);
	return at;
}

bool fm_client_mode(void); /* src/internal.h: whether this process is a daemon's client */

void drop_faultmap_cache(int fd)
{
	if (!fm_client_mode())
		return;
	struct fmd_cache_info info;
	int err = client_cache(fd, FMD_CACHE_EVICT, 0, 0, &info, NULL);
	CHECK(err == 0 || err == -ENOENT); /* ENOENT: no daemon runs */
	if (!err)
		CHECK_EQ(info.kept_dirty + info.kept_locked, 0);
}

void drop_kernel_cache(int fd)
{
	struct stat st;
	CHECK(fstat(fd, &st) == 0);
	CHECK(fdatasync(fd) == 0);
	CHECK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
	size_t len = (size_t)st.st_size;
	if (!len)
		return;
	void *p = mmap(NULL, len, PROT_NONE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	size_t pages = (len + PS - 1) / PS;
	unsigned char *vec = malloc(pages);
	CHECK(vec);
	CHECK(mincore(p, len, vec) == 0);
	for (size_t i = 0; i < pages; i++)
		if (vec[i] & 1) {
			fprintf(stderr, "page %zu is still in the kernel's cache\n", i);
			exit(1);
		}
	free(vec);
	munmap(p, len);
}

sigjmp_buf sigbus_env;
volatile sig_atomic_t sigbus_count;

static void on_sigbus(int sig)
{
	(void)sig;
	sigbus_count++;
	siglongjmp(sigbus_env, 1);
}

void catch_sigbus(void)
{
	struct sigaction sa = {.sa_handler = on_sigbus};
	CHECK(sigaction(SIGBUS, &sa, NULL) == 0);
}

_Atomic int pwrite_errno;

ssize_t failing_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (pwrite_errno) {
		errno = pwrite_errno;
		return -1;
	}
	return pwrite(fd, buf, n, off);
}

size_t fill_until_sigbus(const char *path, size_t npages, bool faultmap, unsigned char **map,
			 int *fd)
{
	unlink(path);
	int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(f >= 0);
	CHECK(ftruncate(f, (off_t)(npages * PS)) == 0); /* sparse: no blocks yet */
	unsigned char *p = faultmap ? fm_mmap(NULL, npages * PS, PROT_READ | PROT_WRITE,
					      MAP_SHARED, f, 0)
				    : mmap(NULL, npages * PS, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
	CHECK(p != MAP_FAILED);
	catch_sigbus();
	sigbus_count = 0;
	static volatile size_t i;
	for (i = 0; i < npages; i++)
		if (sigsetjmp(sigbus_env, 1) == 0)
			memset(p + i * PS, (int)(0x40 + i % 64), PS);
		else
			break;
	printf("%s: SIGBUS at page %zu\n", faultmap ? "faultmap" : "kernel", (size_t)i);
	CHECK_EQ(sigbus_count, i < npages);
	if (faultmap) {
		*map = p;
		*fd = f;
	} else {
		CHECK(munmap(p, npages * PS) == 0);
		close(f);
	}
	return i;
}

void check_filled_until(const char *path, unsigned char *map, size_t stop, size_t npages)
{
	struct fm_stats st;
	CHECK(fm_stats(&st) == 0);
	CHECK_EQ(st.dirty_bytes, stop * PS); /* the refused page stays clean */
	CHECK_EQ(fm_msync(map, npages * PS, MS_SYNC), 0);
	unsigned char *want = calloc(1, npages * PS);
	CHECK(want);
	for (size_t i = 0; i < stop; i++)
		memset(want + i * PS, (int)(0x40 + i % 64), PS);
	check_file_is(path, want, npages * PS);
	CHECK(memcmp(map, want, npages * PS) == 0);
	CHECK(fm_stats(&st) == 0);
	CHECK_EQ(st.writeback_errors, 0);
	free(want);
}

bool page_writable_again(const void *q)
{
	for (int tries = 0; tries < 5000; tries++) {
		FILE *f = fopen("/proc/self/maps", "r");
		CHECK(f);
		char line[512];
		bool w = false;
		while (fgets(line, sizeof(line), f)) {
			unsigned long lo, hi;
			char perms[8];
			if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 &&
			    lo <= (uintptr_t)q && (uintptr_t)q < hi) {
				w = perms[1] == 'w';
				break;
			}
		}
		fclose(f);
		if (w)
			return true;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	return false;
}

int sparse_file_on_full_fs(const char *dir, size_t npages, char *path)
{
	char ballast[128];
	snprintf(ballast, sizeof(ballast), "%s/ballast", dir);
	snprintf(path, 128, "%s/file", dir);
	unlink(path);
	unlink(ballast);
	int b = open(ballast, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(b >= 0);
	CHECK(posix_fallocate(b, 0, 64 * 1024) == 0);
	close(b);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, (off_t)(npages * PS)) == 0);
	return fd;
}

long fill_by_pread(int src, unsigned char *p, long npages, long *ret, long *err)
{
	long i;
	for (i = 0; i < npages; i++) {
		errno = 0;
		*ret = pread(src, p + i * PS, PS, 0);
		*err = *ret < 0 ? errno : 0;
		if (*ret != (long)PS)
			break;
	}
	return i;
}
