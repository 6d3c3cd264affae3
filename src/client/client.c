/*
 * client.c - a process served by the faultmap daemon (daemon mode): one page
 * cache for every process of the user, as the seed's page cache belongs to
 * the file, not to a process (issue 10; docs/design.md, "The daemon").
 *
 * The client keeps no cache. At its first mapping it opens a userfaultfd
 * (without fork events), connects to the daemon's socket (starting the
 * daemon if none runs) and sends the userfaultfd: from then on the daemon's
 * fault thread reads this process's faults and fills the pages. What only
 * this process can do, it does itself: the kernel calls on its own address
 * space (mmap of the memfd the daemon sends, munmap, mprotect...) and the
 * registration of its views. The daemon keeps the records and the cache.
 *
 * Locks: map_lock serialises this process's mapping calls (and a fork:
 * the child must see a consistent set of mappings); rpc_lock one request
 * on the socket. Signals are blocked while either is held, as in mmap.c.
 *
 * If the daemon dies, the life line (a socketpair whose other end only
 * the daemon holds) hangs up: the watcher thread then answers every fault
 * of this process with SIGBUS, and the calls fail with EIO. Pages already
 * mapped stay readable; nothing reads zeros. What the shared writable views
 * hold is written to their files, and to their stores (opened here with
 * the embedded store code): emergency_flush.
 */
#include "budget.h"
#include "client/client.h"
#include "daemon/files_table.h"
#include "daemon/proto.h"
#include "daemon/rescue.h"
#include "daemon/server.h"
#include "internal.h"
#include "publish.h"
#include "runtime_dir.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;


/* Present when the process runs under ThreadSanitizer (the program or
 * this library built with it), whose fork interceptor kills a child of a
 * threaded process that starts a thread. */
extern void __tsan_init(void) __attribute__((weak));

#define CONNECT_TRIES 500 /* 10 ms apart: 5 s for a daemon to start */

static struct {
	bool started;
	int start_err;
	size_t budget; /* fm_set_budget's, for a daemon we start; 0: none */
	_Atomic bool dead; /* the daemon is gone */
	_Atomic bool cut; /* a request's connection broke: the daemon is gone, or
			   * going, before the watcher may have seen it (dead) */
	_Atomic bool exited; /* FMD_EXIT was answered: the daemon may stop */
	pid_t pid;
	int sock, uffd, life;
	char *bounce; /* FMD_BOUNCE bytes shared with the daemon */
	struct fmd_bell *bell; /* after them */
	pthread_t watcher;
} cl = {.sock = -1, .uffd = -1, .life = -1};

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t rpc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t bounce_lock = PTHREAD_MUTEX_INITIALIZER; /* outside rpc_lock */

static _Atomic int mode; /* FM_MODE_*, 0 until known */
static _Atomic bool watching; /* the watcher thread runs */
static void watch(void);

int fm_set_mode(int m)
{
	if (m != FM_MODE_EMBEDDED && m != FM_MODE_DAEMON)
		return -EINVAL;
	if (engine.started || cl.started)
		return atomic_load(&mode) == m ? 0 : -EBUSY;
	atomic_store(&mode, m);
	return 0;
}

bool fm_client_mode(void)
{
	int m = atomic_load(&mode);
	if (!m) {
		const char *env = secure_getenv("FAULTMAP_MODE");
		/* The daemon is the default: one page cache for every
		 * process, as the kernel's is (issue 10). */
		m = env && !strcmp(env, "embedded") ? FM_MODE_EMBEDDED : FM_MODE_DAEMON;
		if (env && *env && strcmp(env, "daemon") && strcmp(env, "embedded"))
			fprintf(stderr, "faultmap: FAULTMAP_MODE=%s is neither daemon nor "
					"embedded: daemon\n", env);
		int zero = 0;
		if (!atomic_compare_exchange_strong(&mode, &zero, m))
			m = atomic_load(&mode);
	}
	return m == FM_MODE_DAEMON;
}

static void block_signals(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

static void lock_take(pthread_mutex_t *m, sigset_t *old)
{
	block_signals(old);
	pthread_mutex_lock(m);
}

static void lock_drop(pthread_mutex_t *m, const sigset_t *old)
{
	pthread_mutex_unlock(m);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* ---- the socket ----------------------------------------------------------- */

/*
 * rpc - one request and its reply. fd_in goes with the request (or -1);
 * a descriptor in the reply goes to *fd_out (closed if fd_out is NULL); a
 * payload to payload (at most psize bytes). A daemon that does not answer
 * is gone: -EIO from then on.
 */
static int rpc_on(int sock, struct fmd_bell *bell, const struct fmd_req *req, const int *fds,
		  int nfds, struct fmd_rep *rep, int *fd_out, void *payload, size_t psize)
{
	char *buf = fm_alloc(sizeof(*rep) + psize);
	if (!buf)
		return -ENOMEM;
	uint32_t replies = bell ? atomic_load_explicit(&bell->replies, memory_order_acquire) : 0;
	int err = fmd_send(sock, req, sizeof(*req), NULL, 0, fds, nfds);
	if (bell && !err) { /* awake for the reply a while, before recvmsg sleeps */
		atomic_fetch_add_explicit(&bell->requests, 1, memory_order_release);
		fmd_bell_wait(&bell->replies, replies, FMD_BELL_CLIENT_NS);
	}
	int rfds[FMD_MAX_FDS], nr = 0;
	ssize_t n = err ? -1 : fmd_recv(sock, buf, sizeof(*rep) + psize, rfds, &nr);
	if (err || n < (ssize_t)sizeof(*rep)) {
		if (sock == cl.sock) /* no answer: the daemon's end closed */
			atomic_store(&cl.cut, true);
		err = -EIO;
	}
	if (!err) {
		memcpy(rep, buf, sizeof(*rep));
		if (rep->len > psize || (size_t)n != sizeof(*rep) + rep->len)
			err = -EIO;
		else if (rep->len)
			memcpy(payload, buf + sizeof(*rep), rep->len);
	}
	for (int i = 0; i < nr; i++) {
		if (!err && fd_out && i == 0)
			*fd_out = rfds[i];
		else
			sys_close(rfds[i]);
	}
	fm_free(buf);
	return err ? -EIO : rep->err;
}

static int rpc(const struct fmd_req *req, int fd_in, struct fmd_rep *rep, int *fd_out,
	       void *payload, size_t psize)
{
	struct fmd_rep scratch;
	if (!rep)
		rep = &scratch;
	if (fd_out)
		*fd_out = -1;
	if (atomic_load(&cl.dead))
		return -EIO;
	watch();
	sigset_t old;
	lock_take(&rpc_lock, &old);
	int err = rpc_on(cl.sock, cl.bell, req, &fd_in, fd_in >= 0, rep, fd_out, payload, psize);
	lock_drop(&rpc_lock, &old);
	return err;
}

/* rpc_reporting - rpc of a request (FMD_MUNMAP, FMD_EXIT) whose answer
 * says what the daemon could not write back: this process's stderr says
 * it, as embedded mode's would (writeback_report). */
static int rpc_reporting(const struct fmd_req *req)
{
	char report[FMD_REPORT_MAX];
	struct fmd_rep rep = {0};
	int err = rpc(req, -1, &rep, NULL, report, sizeof(report) - 1);
	if (err != -EIO && rep.len && rep.len < sizeof(report)) {
		report[rep.len] = '\0';
		fputs(report, stderr);
	}
	return err;
}

/* in_main_program - whether the object dladdr found (info) is the
 * program itself: its ELF header is where the program's headers
 * (AT_PHDR) say. For the program, dladdr names argv[0], which whoever
 * starts it chooses. */
static bool in_main_program(const Dl_info *info)
{
	const ElfW(Ehdr) *eh = info->dli_fbase;
	return eh && (uintptr_t)eh + eh->e_phoff == getauxval(AT_PHDR);
}

/* trusted_for_setuid - in a setuid or setgid program (AT_SECURE), a daemon
 * binary is started with its privileges only if neither it nor its
 * directory could have been put there by someone else: owned by root or
 * the program's user, not writable by group or others. */
static bool trusted_for_setuid(const char *path)
{
	if (!getauxval(AT_SECURE))
		return true;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	const char *const check[] = {path, slash && dir[0] ? dir : "/"};
	for (size_t i = 0; i < 2; i++) {
		struct stat st;
		if (stat(check[i], &st) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
		    (st.st_mode & (S_IWGRP | S_IWOTH)))
			return false;
	}
	return true;
}

/* daemon_binary - the faultmap CLI that runs the daemon: FAULTMAP_DAEMON,
 * else beside this library (or the program it is linked into: the real
 * one, /proc/self/exe, never argv[0]), else in its faultmap/ directory,
 * else one level up (build/tests/ -> build/). */
static bool daemon_binary(char *path, size_t size)
{
	const char *env = secure_getenv("FAULTMAP_DAEMON");
	if (env && *env) {
		snprintf(path, size, "%s", env);
		return access(path, X_OK) == 0;
	}
	Dl_info info;
	if (!dladdr((void *)daemon_binary, &info) || !info.dli_fname)
		return false;
	char dir[PATH_MAX];
	if (in_main_program(&info)) {
		ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
		if (n <= 0)
			return false;
		dir[n] = '\0';
	} else {
		snprintf(dir, sizeof(dir), "%s", info.dli_fname);
	}
	char *slash = strrchr(dir, '/');
	if (!slash)
		return false;
	*slash = '\0';
	static const char *const where[] = {"%s/faultmap", "%s/faultmap/faultmap",
					    "%s/../faultmap"};
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		struct stat st;
		snprintf(path, size, where[i], dir);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0 &&
		    trusted_for_setuid(path))
			return true;
	}
	return false;
}

int client_set_budget(size_t bytes)
{
	sigset_t old;
	lock_take(&start_lock, &old);
	int err = 0;
	if (cl.started)
		err = -EBUSY;
	else if (bytes / FM_PAGE_SIZE < FM_MIN_BUDGET_PAGES)
		err = -EINVAL;
	else
		cl.budget = bytes;
	lock_drop(&start_lock, &old);
	return err;
}

/* spawn_daemon - start `faultmap daemon --background --if-not-running` and
 * wait for it: it returns once its daemon listens, or another one runs.
 * Its environment is ours without LD_PRELOAD (the daemon is not a program
 * to interpose) and FAULTMAP_MODE (it runs the engine itself). */
static int spawn_daemon(void)
{
	char bin[PATH_MAX];
	if (!daemon_binary(bin, sizeof(bin)))
		return -ENOENT;
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 2, sizeof(*env));
	if (!env)
		return -ENOMEM;
	char budget[48];
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "FAULTMAP_MODE=", 14) &&
		    (!cl.budget || strncmp(environ[i], "FAULTMAP_BUDGET=", 16)))
			env[k++] = environ[i];
	if (cl.budget) { /* fm_set_budget's, over FAULTMAP_BUDGET */
		snprintf(budget, sizeof(budget), "FAULTMAP_BUDGET=%zu", cl.budget);
		env[k++] = budget;
	}
	char *argv[] = {bin, "daemon", "--background", "--if-not-running", NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	/* None of this process's files: the daemon outlives it, and an fd it
	 * kept (a pipe's write end) would keep a reader from seeing EOF. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	pid_t pid;
	int err = posix_spawn(&pid, bin, &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	if (err)
		return -err;
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

/* connect_daemon - a connection to this user's daemon, started if need be
 * (start: whether to). Two clients that start at once both spawn; one
 * daemon wins the lock, the other exits, and both connect to the winner.
 * Return: the socket, or -errno. */
static int connect_daemon(bool start)
{
	char path[RT_DIR_PATH_MAX + 32];
	int err = fmd_socket_path(path, sizeof(path));
	if (err)
		return err;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	strcpy(sun.sun_path, path);
	bool spawned = false;
	for (int i = 0; i < CONNECT_TRIES; i++) {
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (s < 0)
			return -errno;
		if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			struct ucred cred;
			socklen_t len = sizeof(cred);
			if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
			    cred.uid != geteuid()) {
				sys_close(s);
				return -EPERM; /* not our own daemon */
			}
			return fd_keep(s);
		}
		err = -errno;
		sys_close(s);
		if (err != -ENOENT && err != -ECONNREFUSED && err != -EAGAIN)
			return err;
		if (!start)
			return err;
		if (!spawned) {
			spawned = true;
			int e = spawn_daemon();
			if (e == -ENOENT)
				fprintf(stderr, "faultmap: no faultmap daemon runs, and no faultmap "
						"executable was found to start one: set FAULTMAP_DAEMON "
						"to it (or FAULTMAP_MODE=embedded)\n");
			if (e)
				return e == -ENOENT ? -ENOTCONN : e;
			continue;
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return err;
}

/* ---- the daemon's death ----------------------------------------------------- */

/* flush_view - write the pages of [lo, hi), a view of the file at path
 * from offset off, that the cache holds (mincore: the memfd's page cache),
 * to the file, within its size. Return: bytes written, or -errno. */
static long flush_view(const char *path, uintptr_t lo, uintptr_t hi, uint64_t off)
{
	int fd = sys_openat(AT_FDCWD, path, O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct stat st;
	long done = 0;
	unsigned char vec[64];
	if (fstat(fd, &st) < 0)
		done = -errno;
	for (uintptr_t at = lo; done >= 0 && at < hi; at += sizeof(vec) * FM_PAGE_SIZE) {
		size_t len = hi - at < sizeof(vec) * FM_PAGE_SIZE ? hi - at : sizeof(vec) * FM_PAGE_SIZE;
		if (mincore((void *)at, len, vec) < 0)
			break; /* unmapped meanwhile */
		for (size_t i = 0; i < len / FM_PAGE_SIZE && done >= 0; i++) {
			uint64_t pos = off + (at - lo) + i * FM_PAGE_SIZE;
			if (!(vec[i] & 1) || pos >= (uint64_t)st.st_size)
				continue;
			size_t n = (uint64_t)st.st_size - pos < FM_PAGE_SIZE ? (size_t)(st.st_size - (off_t)pos)
									     : FM_PAGE_SIZE;
			if (sys_pwrite(fd, (void *)(at + i * FM_PAGE_SIZE), n, (off_t)pos) != (ssize_t)n)
				done = -errno;
			else
				done += (long)n;
		}
	}
	if (done >= 0 && sys_fdatasync(fd) < 0)
		done = -errno;
	sys_close(fd);
	return done;
}

/* maps_text - this process's /proc/self/maps, whole (raw system calls):
 * malloc'd, or NULL. */
static char *maps_text(void)
{
	int fd = sys_openat(AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	size_t cap = 1 << 16, have = 0;
	char *text = malloc(cap);
	for (ssize_t n; text; have += (size_t)n) {
		if (have + 4096 > cap) {
			char *t = realloc(text, cap *= 2);
			if (!t) {
				free(text);
				text = NULL;
				break;
			}
			text = t;
		}
		if ((n = sys_read(fd, text + have, cap - have - 1)) <= 0)
			break;
	}
	sys_close(fd);
	if (text)
		text[have] = '\0';
	return text;
}

/*
 * The stores this process's shared views map: for each cache memfd of a
 * store the daemon sent for a shared view (its dev and ino, as
 * /proc/self/maps shows them), the URL that opens the store here (the one
 * sent to the daemon, store_url_here's), so that emergency_flush can
 * write the views' pages to the store itself. Added at client_mmap; an
 * entry no view maps any more is dropped when the table is full
 * (prune_store_views). Under map_lock.
 */
struct store_view {
	dev_t dev;
	ino_t ino;
	char *url;
};
static struct store_view *store_views;
static size_t n_store_views, cap_store_views;

/* A daemon store this process holds (client_store_open), on a list
 * under map_lock. */
struct daemon_store {
	struct fm_store s;
	uint64_t id;
	char *here; /* the URL as sent to the daemon (store_url_here) */
	struct daemon_store *next;
};
static struct daemon_store *daemon_stores;

/* One line of /proc/self/maps. */
struct maps_entry {
	uintptr_t lo, hi;
	char perms[8];
	unsigned long long off;
	dev_t dev;
	ino_t ino;
	char *name; /* in the line; NULL if none */
};

/* maps_line - parse one line of /proc/self/maps into e. Return: whether
 * it parsed. */
static bool maps_line(char *line, struct maps_entry *e)
{
	unsigned maj, min;
	unsigned long long inode;
	int at = 0;
	if (sscanf(line, "%lx-%lx %7s %llx %x:%x %llu %n", &e->lo, &e->hi, e->perms, &e->off, &maj,
		   &min, &inode, &at) != 7)
		return false;
	e->dev = makedev(maj, min);
	e->ino = (ino_t)inode;
	e->name = at ? line + at : NULL;
	return true;
}

/* prune_store_views - drop the entries whose memfd no view maps now.
 * Under map_lock. */
static void prune_store_views(void)
{
	char *text = maps_text();
	if (!text)
		return;
	bool *seen = calloc(n_store_views ? n_store_views : 1, sizeof(*seen));
	for (char *line = text, *nl; seen && (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		struct maps_entry e;
		for (size_t i = 0; maps_line(line, &e) && i < n_store_views; i++)
			if (store_views[i].dev == e.dev && store_views[i].ino == e.ino)
				seen[i] = true;
	}
	size_t k = 0;
	for (size_t i = 0; seen && i < n_store_views; i++) {
		if (seen[i])
			store_views[k++] = store_views[i];
		else
			free(store_views[i].url);
	}
	if (seen)
		n_store_views = k;
	free(seen);
	free(text);
}

/* note_store_view - a shared view of memfd was mapped from the fd whose
 * stat is standin: if that is the stand-in of a store this process opened,
 * remember which store memfd caches. Under map_lock. */
static void note_store_view(const struct stat *standin, int memfd)
{
	struct daemon_store *ds = daemon_stores;
	while (ds && (ds->s.dev != standin->st_dev || ds->s.ino != standin->st_ino))
		ds = ds->next;
	struct stat m;
	if (!ds || fstat(memfd, &m) < 0)
		return;
	for (size_t i = 0; i < n_store_views; i++)
		if (store_views[i].dev == m.st_dev && store_views[i].ino == m.st_ino)
			return;
	if (n_store_views == cap_store_views && cap_store_views)
		prune_store_views();
	if (n_store_views == cap_store_views) {
		size_t cap = cap_store_views ? 2 * cap_store_views : 16;
		struct store_view *t = realloc(store_views, cap * sizeof(*t));
		if (!t)
			return;
		store_views = t;
		cap_store_views = cap;
	}
	char *url = strdup(ds->here);
	if (url)
		store_views[n_store_views++] = (struct store_view){m.st_dev, m.st_ino, url};
}

/* A view of a store's cache found in /proc/self/maps: [lo, hi) from byte
 * off of the store. */
struct store_run_view {
	uintptr_t lo, hi;
	uint64_t off;
};

/* One store to write at the daemon's death: its URL and name (the maps'
 * name: no secrets in it), the views of its cache; out: bytes, or -errno. */
struct store_flush {
	char *url, *name;
	struct store_run_view *views;
	size_t n, cap;
	long done;
};

#define STORE_RUN_MAX (1u << 20) /* a run written in one piece, at most */

/* flush_store - write the pages the views of f hold (mincore) to the
 * store, opened here with the embedded code (store_open_url), within its
 * size, in one store_write (an S3 object: one PUT of all of them), then
 * its sync. Sets f->done: bytes written, or -errno. */
static void flush_store(struct store_flush *f)
{
	struct fm_store *s = NULL;
	int err = store_open_url(f->url, O_RDWR, &s);
	int64_t size = err ? 0 : s->ops->size(s);
	if (!err && size < 0)
		err = (int)size;
	struct fm_store_io *ios = NULL;
	size_t n = 0, cap = 0;
	unsigned char vec[64];
	for (size_t v = 0; !err && v < f->n; v++) {
		const struct store_run_view *w = &f->views[v];
		for (uintptr_t at = w->lo; !err && at < w->hi; at += sizeof(vec) * FM_PAGE_SIZE) {
			size_t len = w->hi - at < sizeof(vec) * FM_PAGE_SIZE ? w->hi - at
									     : sizeof(vec) * FM_PAGE_SIZE;
			if (mincore((void *)at, len, vec) < 0)
				break; /* unmapped meanwhile */
			for (size_t i = 0; i < len / FM_PAGE_SIZE; i++) {
				uint64_t pos = w->off + (at - w->lo) + i * FM_PAGE_SIZE;
				if (!(vec[i] & 1) || pos >= (uint64_t)size)
					continue;
				size_t k = (uint64_t)size - pos < FM_PAGE_SIZE ? (size_t)((uint64_t)size - pos)
									      : FM_PAGE_SIZE;
				const char *buf = (const char *)(at + i * FM_PAGE_SIZE);
				struct fm_store_io *last = n ? &ios[n - 1] : NULL;
				if (last && last->buf + last->len == buf && last->off + last->len == pos &&
				    last->len + k <= STORE_RUN_MAX && !(last->len % FM_PAGE_SIZE)) {
					last->len += k;
					continue;
				}
				if (n == cap) {
					size_t c = cap ? 2 * cap : 64;
					struct fm_store_io *t = realloc(ios, c * sizeof(*t));
					if (!t) {
						err = -ENOMEM;
						break;
					}
					ios = t;
					cap = c;
				}
				ios[n++] = (struct fm_store_io){.store = s, .buf = buf, .off = pos, .len = k};
			}
		}
	}
	long done = 0;
	struct rescue_hold hold = {0};
	if (!err) { /* a rescue file of the store takes these bytes first */
		rescue_follow_store(f->url, ios, n, &hold);
		err = store_write_sync(s, ios, n);
		rescue_follow_end(&hold);
	}
	for (size_t i = 0; !err && i < n; i++)
		done += (long)ios[i].len;
	free(ios);
	if (s)
		store_put(s);
	f->done = err ? err : done;
}

/* flush_stores_thread - flush_store of each of the n stores at arg: on
 * a thread with a program's main stack (8 MiB), as the daemon's
 * open_store, for the store kinds' libraries (librados's initializers
 * overflow the watcher's 64 KiB). */
struct flush_stores_job {
	struct store_flush *f;
	size_t n;
};

static void *flush_stores_thread(void *arg)
{
	struct flush_stores_job *j = arg;
	for (size_t i = 0; i < j->n; i++)
		flush_store(&j->f[i]);
	return NULL;
}

/*
 * emergency_flush - the daemon died, and with it the record of which
 * pages are dirty: every page that this process's writable shared views
 * hold is written to its file, so that no write that reached a shared
 * mapping is lost (clean pages are written too, with the bytes the file
 * has, unless a writer outside faultmap changed them since). The views are
 * found in /proc/self/maps, by their memfds' names ("faultmap:<path>"):
 * no bookkeeping can go stale. A view of a store's cache (a memfd
 * store_views names) is written to the store, opened here as embedded
 * mode opens it (flush_store). Done when the watcher sees the daemon die,
 * again at exit (writes made meanwhile), and for [lo, hi) only before a
 * munmap of it (client_munmap). Every client does it; they write the same
 * bytes.
 */
static bool emergency_flush(uintptr_t lo, uintptr_t hi)
{
	static const char tag[] = "/memfd:faultmap:", tail[] = " (deleted)";
	sigset_t old;
	lock_take(&map_lock, &old); /* a copy of store_views */
	struct store_flush *flush = n_store_views ? calloc(n_store_views, sizeof(*flush)) : NULL;
	size_t nflush = flush ? n_store_views : 0;
	for (size_t i = 0; i < nflush; i++)
		flush[i].url = strdup(store_views[i].url);
	struct store_view *keys = nflush ? malloc(nflush * sizeof(*keys)) : NULL;
	if (keys)
		memcpy(keys, store_views, nflush * sizeof(*keys));
	else
		nflush = 0;
	lock_drop(&map_lock, &old);
	char *text = maps_text();
	long total = 0;
	for (char *line = text, *nl; line && (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		struct maps_entry e;
		if (!maps_line(line, &e) || !e.name || e.perms[1] != 'w' || e.perms[3] != 's' ||
		    e.hi <= lo || e.lo >= hi)
			continue;
		if (e.lo < lo) { /* only the part in [lo, hi) */
			e.off += lo - e.lo;
			e.lo = lo;
		}
		if (e.hi > hi)
			e.hi = hi;
		char *name = e.name;
		size_t len = strlen(name);
		if (strncmp(name, tag, sizeof(tag) - 1) || len < sizeof(tag) + sizeof(tail) ||
		    strcmp(name + len - (sizeof(tail) - 1), tail))
			continue;
		name[len - (sizeof(tail) - 1)] = '\0';
		const char *path = name + sizeof(tag) - 1;
		size_t k = 0;
		while (k < nflush && (keys[k].dev != e.dev || keys[k].ino != e.ino))
			k++;
		if (k < nflush) { /* a store's cache: written below */
			struct store_flush *f = &flush[k];
			if (f->n == f->cap) {
				size_t c = f->cap ? 2 * f->cap : 4;
				struct store_run_view *t = realloc(f->views, c * sizeof(*t));
				if (!t) {
					fprintf(stderr, "faultmap: the daemon is gone, and the pages "
							"of %s mapped here could not be written to it: "
							"%s\n", path, strerror(ENOMEM));
					continue;
				}
				f->views = t;
				f->cap = c;
			}
			f->views[f->n++] = (struct store_run_view){e.lo, e.hi, e.off};
			if (!f->name)
				f->name = strdup(path);
			continue;
		}
		if (path[0] != '/' && strncmp(path, "...", 3))
			continue; /* not a file's cache (the bounce buffer) */
		long n = path[0] == '/' ? flush_view(path, e.lo, e.hi, e.off) : -ENAMETOOLONG;
		if (n < 0)
			fprintf(stderr, "faultmap: the daemon is gone, and the pages of %s "
					"mapped here could not be written to it: %s\n",
				path, strerror((int)-n));
		else
			total += n;
	}
	free(text);
	if (total)
		fprintf(stderr, "faultmap: the daemon is gone: %ld bytes of this process's "
				"shared writable mappings written to their files\n", total);
	size_t k = 0; /* the stores with views, first */
	for (size_t i = 0; i < nflush; i++) {
		if (!flush[i].n || !flush[i].url) {
			free(flush[i].url);
			free(flush[i].name);
			free(flush[i].views);
			continue;
		}
		flush[k++] = flush[i];
	}
	if (k) {
		struct flush_stores_job j = {flush, k};
		pthread_attr_t attr;
		pthread_t t;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 8 << 20);
		if (pthread_create(&t, &attr, flush_stores_thread, &j) == 0) {
			pthread_join(t, NULL);
		} else {
			for (size_t i = 0; i < k; i++)
				flush[i].done = -EAGAIN;
		}
		pthread_attr_destroy(&attr);
	}
	long stored = 0;
	for (size_t i = 0; i < k; i++) {
		if (flush[i].done < 0)
			fprintf(stderr, "faultmap: the daemon is gone, and the pages of %s "
					"mapped here could not be written to it: %s\n",
				flush[i].name ? flush[i].name : "a store", strerror((int)-flush[i].done));
		else
			stored += flush[i].done;
		free(flush[i].url);
		free(flush[i].name);
		free(flush[i].views);
	}
	if (stored)
		fprintf(stderr, "faultmap: the daemon is gone: %ld bytes of this process's "
				"shared writable mappings written to their stores\n", stored);
	free(flush);
	free(keys);
	return k > 0;
}

/* The process whose watcher registered exit_flush; whether it ran. */
static pid_t exit_flush_pid;
static _Atomic bool exit_flushed;

/* exit_flush - at_exit's emergency_flush, earlier: registered with
 * atexit after the watcher's flush opened stores, so run before the
 * destructors of the libraries that loaded (librados's C++ globals,
 * registered when it was loaded: run before at_exit, registered at
 * client_start, a store opened there would crash). */
static void exit_flush(void)
{
	if (getpid() != exit_flush_pid || !atomic_load(&cl.dead))
		return;
	emergency_flush(0, UINTPTR_MAX);
	atomic_store(&exit_flushed, true);
}

/* sigbus_thread - send thread tid the SIGBUS of a failed access at addr,
 * as the engine's fault thread does (SI_ASYNCIO: only the kernel may send
 * BUS_ADRERR). */
static void sigbus_thread(pid_t tid, uintptr_t addr)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGBUS;
	si.si_code = SI_ASYNCIO;
	si.si_addr = (void *)addr;
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGBUS, &si) < 0)
		syscall(SYS_tgkill, getpid(), tid, SIGBUS);
}

/* told - the daemon refused thread tid's first write to the page at addr
 * (the file system is full), or could not read that page
 * (FM_NOTE_UNREADABLE), and left the thread waiting: a store or load gets
 * SIGBUS, a copy inside a system call EFAULT (refuse.c, poison.c); then
 * the thread is woken. Or it found room for a page it refused
 * (FM_NOTE_ROOM): the page may be written again. Under map_lock: no
 * mapping call changes the page meanwhile. Return: whether a poison
 * marker was made. */
static bool told(const struct fm_refusal *n)
{
	uintptr_t addr = (uintptr_t)n->addr & ~(uintptr_t)(FM_PAGE_SIZE - 1);
	bool unreadable = n->what & FM_NOTE_UNREADABLE;
	sigset_t old;
	lock_take(&map_lock, &old);
	if (n->what & FM_NOTE_ROOM) { /* the refusal ends */
		refuse_forget(addr, addr + FM_PAGE_SIZE);
		lock_drop(&map_lock, &old);
		return false;
	}
	int r = unreadable ? poison_thread(cl.uffd, addr, (pid_t)n->tid, n->what)
			   : refuse_write(cl.uffd, addr, (pid_t)n->tid);
	lock_drop(&map_lock, &old);
	if (r <= 0)
		sigbus_thread((pid_t)n->tid, (uintptr_t)n->addr);
	if (r <= 0 || !unreadable) /* a poison marker woke it */
		uffd_wake(cl.uffd, addr, FM_PAGE_SIZE);
	return unreadable && r > 0;
}

/* orphan_fault - a fault of this process after the daemon died: no page
 * can be served. A load or store gets SIGBUS; inside a system call, where
 * the kernel would retry the fault for ever, the access fails with EFAULT
 * instead, as at a page that cannot be read: a missing page is poisoned in
 * this process's view (poison.c), and a first write to a page cached
 * before is refused (refuse.c: the page stays readable). Return: whether
 * a poison marker was made (the thread is woken). */
static bool orphan_fault(const struct uffd_msg *msg)
{
	uintptr_t at = (uintptr_t)msg->arg.pagefault.address;
	uintptr_t addr = at & ~(uintptr_t)(FM_PAGE_SIZE - 1);
	pid_t tid = (pid_t)msg->arg.pagefault.feat.ptid;
	bool wp_fault = msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP;
	sigset_t old;
	lock_take(&map_lock, &old);
	int r;
	if (wp_fault) {
		r = refuse_write(cl.uffd, addr, tid);
	} else {
		uint32_t what = FM_NOTE_UNREADABLE | (shared_view(addr) ? FM_NOTE_SHARED : 0);
		/* Whether the view tracks writes is not known here: a
		 * write-protect marker in the way makes the first try fail. */
		r = poison_thread(cl.uffd, addr, tid, what);
		if (r < 0 && (what & FM_NOTE_SHARED))
			r = poison_thread(cl.uffd, addr, tid, what | FM_NOTE_WP);
	}
	lock_drop(&map_lock, &old);
	if (r <= 0)
		sigbus_thread(tid, at);
	if (r <= 0 || wp_fault) /* a poison marker woke it */
		uffd_wake(cl.uffd, addr, FM_PAGE_SIZE);
	return r > 0 && !wp_fault;
}

/* reap - clear the poison markers whose threads are past them. Return:
 * whether poison markers are left. */
static bool reap(bool markers)
{
	sigset_t old;
	lock_take(&map_lock, &old);
	markers = markers && poison_reap(0);
	lock_drop(&map_lock, &old);
	return markers;
}

/* watcher - serves the daemon's messages on the life line (refused writes,
 * and their end; unreadable pages, whose markers it clears once their
 * threads are past them) until the daemon's end closes. Then no fault of this process can be served: every
 * one gets SIGBUS (the page is not in the cache, and reading zeros would
 * be wrong), and a thread the daemon took the fault of but never answered
 * is woken to fault again; inside a system call, the access fails with EFAULT
 * instead (orphan_fault). */
static void *watcher(void *arg)
{
	(void)arg;
	sigset_t old;
	block_signals(&old);
	bool markers = false; /* poison markers left (poison.c) */
	for (;;) {
		struct pollfd p = {.fd = cl.life, .events = POLLIN};
		int k = poll(&p, 1, markers ? POISON_CHECK_MS : -1);
		if (markers)
			markers = reap(markers);
		if (k <= 0)
			continue;
		struct fm_refusal n;
		ssize_t got = sys_read(cl.life, &n, sizeof(n));
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			break; /* hung up: the daemon is gone */
		if (got == (ssize_t)sizeof(n) && told(&n))
			markers = true;
	}
	atomic_store(&cl.dead, true);
	if (!atomic_load(&cl.exited) || getpid() != cl.pid) /* else nothing left to say */
		fprintf(stderr, "faultmap: the faultmap daemon is gone: pages not yet cached "
				"raise SIGBUS in this process (%d)\n", (int)getpid());
	if (emergency_flush(0, UINTPTR_MAX) && exit_flush_pid != getpid()) {
		exit_flush_pid = getpid();
		atexit(exit_flush);
	}
	uffd_wake(cl.uffd, 0, FM_TASK_SIZE);
	for (;;) {
		struct pollfd u = {.fd = cl.uffd, .events = POLLIN};
		int k = poll(&u, 1, markers ? POISON_CHECK_MS : -1);
		if (markers)
			markers = reap(markers);
		struct uffd_msg msg;
		if (k <= 0 || sys_read(cl.uffd, &msg, sizeof(msg)) != (ssize_t)sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		if (orphan_fault(&msg))
			markers = true;
	}
	return NULL;
}

/* introduce - send op (FMD_HELLO or FMD_FORK_ADOPT, with req's arguments)
 * with this process's userfaultfd and a new life line, and start the
 * watcher. Return: 0 or -errno. */
static int introduce(struct fmd_req *req, struct fmd_rep *answer)
{
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return -errno;
	int fds[2] = {cl.uffd, pair[1]};
	struct fmd_rep scratch = {0}, *rep = answer ? answer : &scratch;
	int bounce = -1;
	int err = rpc_on(cl.sock, NULL, req, fds, 2, rep, &bounce, NULL, 0);
	sys_close(pair[1]);
	if (!err && bounce < 0)
		err = -EIO;
	if (!err) {
		if (cl.bounce)
			sys_munmap(cl.bounce, FMD_BOUNCE_MAP); /* a forked child's copy */
		void *b = sys_mmap(NULL, FMD_BOUNCE_MAP, PROT_READ | PROT_WRITE, MAP_SHARED, bounce,
				   0);
		cl.bounce = b == MAP_FAILED ? NULL : b;
		cl.bell = b == MAP_FAILED ? NULL : (struct fmd_bell *)(cl.bounce + FMD_BOUNCE);
		err = b == MAP_FAILED ? -errno : 0;
	}
	if (bounce >= 0)
		sys_close(bounce);
	if (err) {
		sys_close(pair[0]);
		return err;
	}
	cl.life = fd_keep(pair[0]);
	atomic_store(&cl.dead, false);
	atomic_store(&cl.cut, false);
	atomic_store(&watching, false);
	return 0;
}

/* watch - start the watcher, once per process. A forked child starts its
 * own in the atfork handler, before the child runs anything else: a page
 * the daemon cannot serve to the child's first system call (unreadable, or
 * a refused first write) is told on the child's life line, and the call
 * hangs until someone there answers. Under TSan, which kills a child of a
 * threaded process that starts a thread, at its first faultmap call. */
static void watch(void)
{
	if (atomic_load(&watching) || atomic_exchange(&watching, true))
		return;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	/* Born with every signal blocked: a program's handler must never run
	 * on it (its first instruction is too late to block them). */
	sigset_t old;
	block_signals(&old);
	if (pthread_create(&cl.watcher, &attr, watcher, NULL))
		atomic_store(&watching, false); /* tried again at the next call */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
}

/* ---- fork and exit -------------------------------------------------------- */

static sigset_t fork_mask;
static struct fmd_view *fork_views;
static uint64_t fork_token, fork_nviews;

/* views_in_maps - this process's views of faultmap memfds (a file's
 * cache: "/memfd:faultmap:" in /proc/self/maps), at most max. For a fork
 * after the daemon died, whose child cannot be served. */
static size_t views_in_maps(struct fmd_view *out, size_t max)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[4096];
	size_t n = 0;
	while (f && n < max && fgets(line, sizeof(line), f)) {
		uintptr_t lo, hi;
		if (strstr(line, "/memfd:faultmap:/") &&
		    sscanf(line, "%lx-%lx", &lo, &hi) == 2)
			out[n++] = (struct fmd_view){lo, hi, 0, 1};
	}
	if (f)
		fclose(f);
	return n;
}

static void atfork_prepare(void)
{
	sigset_t old;
	lock_take(&map_lock, &old);
	fork_mask = old;
	fork_views = NULL;
	fork_nviews = 0;
	if (atomic_load(&refuse_count)) /* the child would keep them refused */
		refuse_forget(0, UINTPTR_MAX);
	if (!cl.started)
		return;
	if (atomic_load(&cl.dead)) { /* the child makes these inaccessible */
		fork_views = malloc(FMD_MAX_PAYLOAD);
		fork_nviews = fork_views ? views_in_maps(fork_views,
							  FMD_MAX_PAYLOAD / sizeof(*fork_views)) : 0;
		return;
	}
	size_t cap = FMD_MAX_PAYLOAD;
	fork_views = malloc(cap);
	struct fmd_req req = {.op = FMD_FORK_PREPARE};
	struct fmd_rep rep;
	if (fork_views && rpc(&req, -1, &rep, NULL, fork_views, cap) == 0) {
		fork_token = rep.v[0];
		fork_nviews = rep.v[1];
	} else {
		free(fork_views);
		fork_views = NULL;
	}
}

static void atfork_parent(void)
{
	free(fork_views);
	fork_views = NULL;
	sigset_t old = fork_mask;
	lock_drop(&map_lock, &old);
}

/* child_fail_closed - a child the daemon cannot serve: its views lost their
 * registration at the fork, and a fault there would put a page of zeros
 * into the shared cache. They are made inaccessible instead. */
static void child_fail_closed(bool quiet)
{
	for (uint64_t i = 0; i < fork_nviews; i++)
		sys_mmap((void *)(uintptr_t)fork_views[i].start,
			 fork_views[i].end - fork_views[i].start, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (!quiet) /* a child of a process whose daemon died already: said */
		fprintf(stderr, "faultmap: forked child %d cannot reach the faultmap daemon: "
				"its file mappings are inaccessible\n", (int)getpid());
}

/* atfork_child - the child's views lost their userfaultfd registration (no
 * fork events): register them with a userfaultfd of the child's own, and
 * hand it to the daemon, which adopts the copy of the parent's records
 * made at FMD_FORK_PREPARE. Before anything else runs in the child. */
static void atfork_child(void)
{
#ifdef FM_INTERPOSER
	/* Another thread of the parent may have held it at the fork (it sets
	 * RLIMIT_NOFILE); fd_keep below needs it. */
	fd_limit_fork_child();
#endif
	pthread_mutex_init(&map_lock, NULL);
	pthread_mutex_init(&rpc_lock, NULL);
	pthread_mutex_init(&start_lock, NULL);
	pthread_mutex_init(&bounce_lock, NULL);
	if (cl.started) {
		cl.bell = NULL; /* the parent's, until introduce maps the child's own */
		sys_close(cl.sock);
		sys_close(cl.life);
		sys_close(cl.uffd);
		cl.sock = cl.life = cl.uffd = -1;
		cl.pid = getpid();
		int err = fork_views && !atomic_load(&cl.dead) ? uffd_open_client(&cl.uffd) : -EIO;
		for (uint64_t i = 0; !err && i < fork_nviews; i++) {
			struct fmd_view *v = &fork_views[i];
			err = uffd_register(cl.uffd, (void *)(uintptr_t)v->start, v->end - v->start,
					    v->wp);
			if (!err && v->wp)
				err = uffd_writeprotect(cl.uffd, v->start, v->end - v->start, true);
		}
		if (!err) {
			int s = connect_daemon(false);
			err = s < 0 ? s : 0;
			cl.sock = s;
		}
		if (!err) {
			struct fmd_req req = {.op = FMD_FORK_ADOPT,
					      .a = {fork_token, FMD_VERSION, (uint64_t)getpid()}};
			err = introduce(&req, NULL);
		}
		if (!err && !__tsan_init) /* signals still blocked: it starts with none */
			watch();
		if (err) {
			bool quiet = atomic_load(&cl.dead);
			atomic_store(&cl.dead, true);
			child_fail_closed(quiet);
		}
		free(fork_views);
		fork_views = NULL;
	}
	pthread_sigmask(SIG_SETMASK, &fork_mask, NULL);
}

/* daemon_lost - whether the daemon is known to be gone: the watcher saw
 * it, a request's connection broke, or the life line has hung up (which
 * the watcher may not have read yet). */
static bool daemon_lost(void)
{
	if (atomic_load(&cl.dead) || atomic_load(&cl.cut))
		return true;
	struct pollfd p = {.fd = cl.life, .events = POLLIN};
	return cl.life >= 0 && poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/* at_exit - write back what this process wrote, before it is gone, so that
 * whoever waits for it reads the file as it left it (the daemon would
 * write it anyway when the last mapping goes). */
static void at_exit(void)
{
	if (!cl.started || getpid() != cl.pid)
		return;
	/* The daemon gone: what was written since the watcher's flush (or
	 * all of it, if the watcher has not flushed yet: the process's exit
	 * would end the watcher's flush). */
	bool lost = daemon_lost();
	int err = -EIO;
	if (!lost) {
		struct fmd_req req = {.op = FMD_EXIT, .a = {publish_wants_last()}};
		err = rpc_reporting(&req);
	}
	if (lost || (err && daemon_lost())) { /* it died before or meanwhile */
		if (!atomic_load(&exit_flushed))
			emergency_flush(0, UINTPTR_MAX);
		publish_stop();
		return;
	}
	if (err)
		fprintf(stderr, "faultmap: at exit, the daemon could not write back "
				"this process's files: %s\n", strerror(-err));
	else
		atomic_store(&cl.exited, true);
	publish_stop(); /* its counters at the end, written back included */
}

int client_remap_target(uintptr_t start, size_t size, bool write, int *fd)
{
	if (!cl.started)
		return 0;
	struct fmd_req req = {.op = FMD_REMAP_TARGET, .a = {start, size, write}};
	struct fmd_rep rep;
	int got = -1;
	int err = rpc(&req, -1, &rep, &got, NULL, 0);
	if (err || rep.v[0] != 1) {
		if (got >= 0)
			sys_close(got);
		return err ? err : 0;
	}
	if (got < 0)
		return -EIO;
	*fd = got;
	return 1;
}

int client_before_exec(void)
{
	if (!cl.started)
		return 0;
	/* The daemon gone, the exec would drop the views with what was
	 * written since the watcher's flush: written here first, as at exit.
	 * Not in a vfork child (another pid): its exec leaves the parent's
	 * memory, and views, as they are. */
	bool lost = daemon_lost();
	int err = -EIO;
	if (!lost) {
		struct fmd_req req = {.op = FMD_SYNC_ALL};
		err = rpc(&req, -1, NULL, NULL, NULL, 0);
	}
	if ((lost || (err && daemon_lost())) && getpid() == cl.pid) {
		emergency_flush(0, UINTPTR_MAX);
		err = 0;
	}
	publish_stop(); /* this image's line and segment, as at exit */
	return err;
}

/* ---- what publish.c asks of the daemon ------------------------------------ */

int client_pub_counters(struct fm_pub *p)
{
	struct fm_pub *got = fm_alloc(sizeof(*got));
	if (!got)
		return -ENOMEM;
	struct fmd_req req = {.op = FMD_PUBLISH};
	struct fmd_rep rep;
	int err = rpc(&req, -1, &rep, NULL, got, sizeof(*got));
	if (!err && rep.len != sizeof(*got))
		err = -EIO;
	if (!err) {
		p->st = got->st;
		p->read_hits = got->read_hits;
		p->read_misses = got->read_misses;
		p->files_total = got->files_total;
		p->nr_files = got->nr_files < FM_PUB_MAX_FILES ? got->nr_files : FM_PUB_MAX_FILES;
		memcpy(p->files, got->files, p->nr_files * sizeof(p->files[0]));
		for (uint32_t i = 0; i < p->nr_files; i++)
			p->files[i].path[FM_PUB_PATH_MAX - 1] = '\0';
	}
	fm_free(got);
	return err;
}

char *client_inspect(size_t *len)
{
	struct fmd_req req = {.op = FMD_INSPECT};
	int fd = -1;
	if (rpc(&req, -1, NULL, &fd, NULL, 0) || fd < 0)
		return NULL;
	struct stat st;
	char *text = NULL;
	if (fstat(fd, &st) == 0 && st.st_size > 0 && (text = malloc((size_t)st.st_size))) {
		ssize_t n = sys_pread(fd, text, (size_t)st.st_size, 0);
		if (n != st.st_size) {
			free(text);
			text = NULL;
		}
	}
	sys_close(fd);
	if (text)
		*len = (size_t)st.st_size;
	return text;
}

int client_trace(int fd, uint64_t base_ns)
{
	struct fmd_req req = {.op = FMD_TRACE, .a = {base_ns}};
	return rpc(&req, fd, NULL, NULL, NULL, 0);
}

/* ---- start ---------------------------------------------------------------- */

/* check_budget - a budget asked for here (fm_set_budget, FAULTMAP_BUDGET,
 * faultmap run --budget) is the budget of a daemon this process starts: a
 * daemon that was running keeps its own. Say so, once, when they differ,
 * rather than let the program believe in a cap it does not have. */
static void check_budget(void)
{
	uint64_t want = cl.budget;
	const char *env = want ? NULL : secure_getenv("FAULTMAP_BUDGET");
	if (!want && env && *env) {
		struct fm_memory mem;
		memory_usable(&mem);
		if (budget_parse(env, &mem, &want))
			return; /* the daemon's start said why, in its log */
	}
	want -= want % FM_PAGE_SIZE;
	struct fmd_req req = {.op = FMD_STATS};
	struct fm_stats st;
	if (!want || rpc(&req, -1, NULL, NULL, &st, sizeof(st)) || st.budget_bytes == want)
		return;
	fprintf(stderr,
		"faultmap: your faultmap daemon runs with a budget of %llu MiB, not the %llu MiB "
		"asked for here: a budget is set when the daemon starts ('faultmap daemon "
		"--stop' first; or FAULTMAP_MODE=embedded for a cache of this process's own)\n",
		(unsigned long long)(st.budget_bytes >> 20), (unsigned long long)(want >> 20));
}

/* say_other_version - why this process cannot use the daemon that runs:
 * it speaks another protocol (rep: its answer to FMD_HELLO). */
static void say_other_version(const struct fmd_rep *rep)
{
	char which[96] = "";
	if (rep->v[0]) /* a daemon of protocol 11 or later says which, and who uses it */
		snprintf(which, sizeof(which), " (protocol %llu, serving %llu process%s)",
			 (unsigned long long)rep->v[0], (unsigned long long)rep->v[1],
			 rep->v[1] == 1 ? "" : "es");
	fprintf(stderr, "faultmap: your faultmap daemon is of another version%s; this library "
			"speaks protocol %d: stop it with 'faultmap daemon --stop' (it writes "
			"every dirty page first), and the next program starts a new one\n",
		which, FMD_VERSION);
}

/*
 * replace_idle_daemon - the daemon on cl.sock speaks another protocol
 * (rep: its answer): if it says it serves no process (protocol 11 on),
 * stop it (FMD_STOP, a[0] = 1: it refuses if a process came meanwhile),
 * wait until it has exited, and let the caller start this version's. An
 * upgraded faultmap then just works; a daemon in use is never stopped,
 * since its processes would lose it. cl.sock is closed.
 * Return: whether it was stopped.
 */
static bool replace_idle_daemon(const struct fmd_rep *rep)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (!rep->v[0] || rep->v[1] ||
	    getsockopt(cl.sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	struct fmd_req stop = {.op = FMD_STOP, .a = {1}};
	struct fmd_rep answer;
	if (rpc_on(cl.sock, NULL, &stop, NULL, 0, &answer, NULL, NULL, 0))
		return false;
	/* Until it hangs up (it exits once it has written back), 5 s at most. */
	struct timeval limit = {5, 0};
	setsockopt(cl.sock, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
	for (;;) {
		char byte;
		ssize_t r = recv(cl.sock, &byte, 1, 0);
		if (r <= 0 && !(r < 0 && errno == EINTR))
			break;
	}
	sys_close(cl.sock);
	cl.sock = -1;
	for (int i = 0; i < CONNECT_TRIES && kill(cred.pid, 0) == 0; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "faultmap: stopped an idle faultmap daemon of protocol %llu (pid %d) "
			"to start one of protocol %d\n",
		(unsigned long long)rep->v[0], (int)cred.pid, FMD_VERSION);
	return true;
}

int client_start(void)
{
	if (__atomic_load_n(&cl.started, __ATOMIC_ACQUIRE)) {
		watch();
		return 0;
	}
	int saved = errno; /* a successful call leaves errno alone */
	sigset_t old;
	lock_take(&start_lock, &old);
	int err = cl.start_err;
	if (!cl.started && !err) {
		err = uffd_open_client(&cl.uffd);
		if (err == -EPERM)
			uffd_explain_eperm(stderr);
		int s = err ? -1 : connect_daemon(true);
		if (!err && s < 0) {
			err = s;
			fprintf(stderr, "faultmap: cannot reach the faultmap daemon: %s\n",
				strerror(-err));
		}
		cl.sock = s;
		cl.pid = getpid();
		if (!err) {
			struct fmd_req req = {.op = FMD_HELLO,
					      .a = {FMD_VERSION, (uint64_t)getpid()}};
			struct fmd_rep rep = {0};
			err = introduce(&req, &rep);
			if (err == -EPROTO && replace_idle_daemon(&rep)) {
				cl.sock = connect_daemon(true);
				err = cl.sock < 0 ? cl.sock : introduce(&req, &rep);
			}
			if (err == -EPROTO)
				say_other_version(&rep);
		}
		if (!err) {
			watch();
			check_budget();
			/* The table of cached files exists now, and a look
			 * before the daemon started said none: look again, or
			 * read() and write() would pass the cache by for up to
			 * the recheck interval. */
			files_table_refresh();
			pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
			atexit(at_exit);
			__atomic_store_n(&cl.started, true, __ATOMIC_RELEASE);
			publish_client_start();
		} else {
			if (cl.sock >= 0)
				sys_close(cl.sock);
			if (cl.uffd >= 0)
				sys_close(cl.uffd);
			cl.sock = cl.uffd = -1;
			/* Never fall back to embedded mode: that would bring
			 * back one cache per process. */
			cl.start_err = err;
		}
	}
	lock_drop(&start_lock, &old);
	errno = saved;
	return err;
}

/* ---- the mapping calls ------------------------------------------------------ */

/* forget - tell the daemon [start, start+len) is not faultmap's any more. */
static int forget(uintptr_t start, size_t len)
{
	if (atomic_load(&refuse_count)) /* the mapping call ends a refusal */
		refuse_forget(start, start + len);
	struct fmd_req req = {.op = FMD_MUNMAP, .a = {start, len}};
	return rpc_reporting(&req);
}

static int forget_hole(uintptr_t lo, uintptr_t hi, void *arg)
{
	(void)arg;
	return forget(lo, hi - lo);
}

/* failed_fixed - a MAP_FIXED mmap at [addr, addr + len) failed: the kernel
 * may have unmapped what was there first; the daemon forgets what is gone.
 * errno is kept. Context: map_lock. */
static void failed_fixed(void *addr, size_t len)
{
	int saved = errno;
	if (cl.started)
		(void)kernel_holes((uintptr_t)addr, (uintptr_t)addr + len, forget_hole, NULL);
	errno = saved;
}

/* before_drop - [start, start + len) is about to leave the process (its
 * munmap, a MAP_FIXED mapping over it). The daemon gone, nobody else has
 * the pages written there since the watcher's flush (only the exit would
 * write them, if still mapped): they go to their files first (it says
 * what failed). Return: whether the daemon is gone. */
static bool before_drop(uintptr_t start, size_t len)
{
	bool lost = daemon_lost();
	if (lost && len)
		(void)emergency_flush(start, start + len);
	return lost;
}

/* after_drop - [start, start + len) left the process: the daemon forgets
 * it, or, gone (lost), only this process's refusals there go.
 * Return: 0 or -errno. Context: map_lock. */
static int after_drop(uintptr_t start, size_t len, bool lost)
{
	if (!lost)
		return forget(start, len);
	if (atomic_load(&refuse_count))
		refuse_forget(start, start + len);
	return 0;
}

/* client_mmap_by_kernel - mmap_by_kernel's MAP_FIXED in daemon mode: the
 * daemon forgets the faultmap mappings the kernel's replaced. */
void *client_mmap_by_kernel(void *addr, size_t length, int prot, int flags, int fd,
			    off_t offset)
{
	if (!cl.started)
		return sys_mmap(addr, length, prot, flags, fd, offset);
	size_t len = page_round(length);
	bool lost = before_drop((uintptr_t)addr, len); /* gone: the kernel's answer */
	sigset_t old;
	lock_take(&map_lock, &old);
	int err = 0;
	void *p = sys_mmap(addr, length, prot, flags, fd, offset);
	if (p != MAP_FAILED && (err = after_drop((uintptr_t)p, len, lost))) {
		sys_munmap(p, len);
		p = fail_ptr(err);
	} else if (p == MAP_FAILED && len) {
		failed_fixed(addr, len);
	}
	lock_drop(&map_lock, &old);
	return p;
}

void *client_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
	int saved = errno;
	int err = client_start();
	if (err)
		return fail_ptr(err);
	if (daemon_lost()) /* before a MAP_FIXED replaces anything */
		return fail_ptr(-EIO);
	size_t len = page_round(length);
	sigset_t old;
	lock_take(&map_lock, &old);
	void *p = sys_mmap(addr, length, prot, flags & ~MAP_POPULATE, fd, offset);
	if (p == MAP_FAILED) {
		if ((flags & MAP_FIXED) && len)
			failed_fixed(addr, len);
		lock_drop(&map_lock, &old);
		return MAP_FAILED;
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		err = -errno;
	else if (!S_ISREG(st.st_mode))
		err = -ENODEV;
	bool shared = (flags & MAP_TYPE) != MAP_PRIVATE;
	struct fmd_rep rep;
	int memfd = -1;
	bool recorded = false;
	if (!err) {
		struct fmd_req req = {
			.op = FMD_MMAP,
			.a = {(uintptr_t)p, len, (uint64_t)offset, (uint64_t)prot,
			      shared ? MAP_SHARED : MAP_PRIVATE,
			      (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != 0},
		};
		err = rpc(&req, fd, &rep, &memfd, NULL, 0);
		recorded = !err;
		if (!err && memfd < 0)
			err = -EIO;
	}
	/* A shared view that may not write the file: a private view of the
	 * read-only memfd (proto.h, FMD_MMAP), which sees every write to the
	 * cache and cannot make one. */
	bool view_shared = shared && !err && rep.v[1];
	if (!err && sys_mmap(p, len, prot, (view_shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED,
			     memfd, offset) == MAP_FAILED)
		err = -errno;
	if (!err)
		view_small_pages(p, len);
	if (!err && view_shared)
		note_store_view(&st, memfd);
	if (memfd >= 0)
		sys_close(memfd);
	bool wp = !err && rep.v[0];
	if (!err)
		err = uffd_register(cl.uffd, p, len, wp);
	if (!err && wp)
		err = uffd_writeprotect(cl.uffd, (uintptr_t)p, len, true);
	if (err && recorded)
		(void)forget((uintptr_t)p, len);
	lock_drop(&map_lock, &old);
	if (err) {
		sys_munmap(p, len);
		return fail_ptr(err);
	}
	if (flags & MAP_POPULATE)
		(void)sys_madvise(p, len, populate_advice(flags, prot));
	errno = saved;
	return p;
}

int client_munmap(void *addr, size_t length)
{
	uintptr_t start = (uintptr_t)addr; /* fm_munmap checked the arguments */
	size_t len = page_round(length);
	if (!cl.started)
		return sys_munmap(addr, length);
	bool lost = before_drop(start, len); /* gone: the kernel's answer */
	sigset_t old;
	lock_take(&map_lock, &old);
	int err = sys_munmap(addr, len) < 0 ? -errno : 0;
	if (!err)
		err = after_drop(start, len, lost);
	lock_drop(&map_lock, &old);
	if (err == -EIO && !lost && atomic_load(&cl.cut)) /* it died in between */
		fprintf(stderr, "faultmap: the daemon died during munmap(%p, %zu): what was "
				"written there since its last write-back may not have reached "
				"the files\n", addr, length);
	return err ? fail(err) : 0;
}

/* user_part - the bytes of [start, start + len) below the end of the user
 * address space, the most a request may name: the kernel's call says
 * ENOMEM for the rest. */
static size_t user_part(uintptr_t start, size_t len)
{
	const uintptr_t top = FM_TASK_SIZE + FM_PAGE_SIZE;
	if (start >= top)
		return 0;
	return len < top - start ? len : top - start;
}

int client_msync(void *addr, size_t length, int flags)
{
	uintptr_t start = (uintptr_t)addr; /* fm_msync checked the arguments */
	size_t len = page_round(length);
	if (!cl.started)
		return sys_msync(addr, length, flags);
	sigset_t old;
	lock_take(&map_lock, &old);
	/* The kernel first, for what only it knows: holes (ENOMEM), locked
	 * pages (MS_INVALIDATE: EBUSY). Then the daemon writes back. */
	int kerr = sys_msync(addr, length, flags) < 0 ? -errno : 0;
	int err = 0;
	len = user_part(start, len);
	if ((!kerr || kerr == -ENOMEM) && len) {
		struct fmd_req req = {.op = FMD_MSYNC, .a = {start, len, (uint64_t)flags}};
		err = rpc(&req, -1, NULL, NULL, NULL, 0);
	}
	lock_drop(&map_lock, &old);
	err = err ? err : kerr;
	return err ? fail(err) : 0;
}

/* first_view - whether [start, start + len) holds a faultmap mapping
 * (*out); if so, [*lo, *hi) is the first stretch of it that one faultmap
 * mapping covers. */
static int first_view(uintptr_t start, size_t len, bool *out, uintptr_t *lo, uintptr_t *hi)
{
	len = user_part(start, len); /* faultmap maps nothing above */
	*out = false;
	if (!len)
		return 0;
	struct fmd_req req = {.op = FMD_TOUCHES, .a = {start, len}};
	struct fmd_rep rep;
	int err = rpc(&req, -1, &rep, NULL, NULL, 0);
	*out = !err && rep.v[0];
	if (*out) {
		*lo = (uintptr_t)rep.v[1];
		*hi = (uintptr_t)rep.v[0];
		if (*lo < start || *hi <= *lo || *hi > start + len)
			return -EPROTO;
	}
	return err;
}

/* touches - whether [start, start+len) holds a faultmap mapping. */
static int touches(uintptr_t start, size_t len, bool *out)
{
	uintptr_t lo, hi;
	return first_view(start, len, out, &lo, &hi);
}

/* madvise_beside - advice for the kernel on the parts of [start, end) that
 * no faultmap mapping covers, in address order as the kernel goes (a hole:
 * ENOMEM at the end). Return: 0 or -errno. Context: map_lock. */
static int madvise_beside(uintptr_t start, uintptr_t end, int advice)
{
	int unmapped = 0;
	for (uintptr_t at = start; at < end;) {
		bool t;
		uintptr_t lo = end, hi = end;
		int err = first_view(at, end - at, &t, &lo, &hi);
		if (err)
			return err;
		if (!t)
			lo = hi = end;
		err = madvise_kernel_part(at, lo, advice, &unmapped);
		if (err)
			return err;
		at = hi;
	}
	return unmapped;
}

/* madvise_remove - MADV_REMOVE of [start, end), in address order as the
 * kernel goes: the daemon punches the files of faultmap's mappings and
 * stops at each stretch that is the kernel's (a hole: ENOMEM at the end,
 * as the kernel says; another mapping: the kernel's answer). Return: 0 or
 * -errno. Context: map_lock. */
static int madvise_remove(uintptr_t start, uintptr_t end)
{
	int unmapped = 0;
	/* Above the user address space nothing is mapped: a hole, ENOMEM
	 * at the end, unless something below fails first. */
	size_t user = user_part(start, end - start);
	if (user < end - start) {
		unmapped = -ENOMEM;
		end = start + user;
	}
	for (uintptr_t at = start; at < end;) {
		struct fmd_req req = {.op = FMD_MADVISE, .a = {at, end - at, MADV_REMOVE}};
		struct fmd_rep rep;
		int err = rpc(&req, -1, &rep, NULL, NULL, 0);
		if (err)
			return err;
		at = (uintptr_t)rep.v[0];
		if (at >= end)
			break;
		uintptr_t hi = (uintptr_t)rep.v[1];
		if (hi <= at || hi > end)
			return -EPROTO;
		err = madvise_kernel_part(at, hi, MADV_REMOVE, &unmapped);
		if (err)
			return err;
		at = hi;
	}
	return unmapped;
}

int client_madvise(void *addr, size_t length, int advice)
{
	uintptr_t start = (uintptr_t)addr;
	size_t len = page_round(length);
	if (!cl.started)
		return sys_madvise(addr, length, advice);
	bool hint = advice == MADV_NORMAL || advice == MADV_RANDOM ||
		    advice == MADV_SEQUENTIAL || advice == MADV_WILLNEED;
	switch (advice) {
	case MADV_NORMAL: case MADV_RANDOM: case MADV_SEQUENTIAL: case MADV_WILLNEED:
	case MADV_DONTNEED: case MADV_DONTFORK: case MADV_DOFORK:
	case MADV_DONTDUMP: case MADV_DODUMP:
	case MADV_NOHUGEPAGE: case MADV_COLD: case MADV_PAGEOUT:
	case MADV_POPULATE_READ: case MADV_POPULATE_WRITE:
	case MADV_MERGEABLE: case MADV_UNMERGEABLE: case MADV_FREE:
	case MADV_WIPEONFORK: case MADV_KEEPONFORK:
		break;
	case MADV_HUGEPAGE: {
		/* Never for the cache's memfd (view_small_pages): passed on
		 * for the rest of the range only. */
		if ((start & (FM_PAGE_SIZE - 1)) || !len || start + len <= start ||
		    atomic_load(&cl.dead)) /* the daemon is gone: no eviction either */
			return sys_madvise(addr, length, advice);
		sigset_t old;
		lock_take(&map_lock, &old);
		int err = madvise_beside(start, start + len, advice);
		lock_drop(&map_lock, &old);
		/* It died meanwhile: the request's connection broke, maybe
		 * before the watcher saw the life line close. */
		if (err && (atomic_load(&cl.dead) || atomic_load(&cl.cut)))
			return sys_madvise(addr, length, advice);
		return err ? fail(err) : 0;
	}
	default: {
		/* Advice that would bypass the cache is refused on faultmap
		 * mappings, and passed on elsewhere; MADV_REMOVE punches the
		 * file through the cache (the daemon's madv_remove). */
		bool t = false;
		if ((start & (FM_PAGE_SIZE - 1)) == 0 && len && start + len > start) {
			int err = touches(start, len, &t);
			if (err)
				return fail(err);
		}
		if (t && advice == MADV_REMOVE) {
			sigset_t old;
			lock_take(&map_lock, &old);
			int err = madvise_remove(start, start + len);
			lock_drop(&map_lock, &old);
			return err ? fail(err) : 0;
		}
		if (t)
			return fail(-EINVAL);
		return sys_madvise(addr, length, advice);
	}
	}
	/* The kernel checks the range and applies what is its own, hints
	 * too (as fm_madvise: MADV_WILLNEED allocates no memfd page). */
	if (sys_madvise(addr, length, advice) < 0)
		return -1;
	if (!hint || len == 0)
		return 0;
	sigset_t old;
	lock_take(&map_lock, &old);
	struct fmd_req req = {.op = FMD_MADVISE, .a = {start, len, (uint64_t)advice}};
	int err = rpc(&req, -1, NULL, NULL, NULL, 0);
	lock_drop(&map_lock, &old);
	return err ? fail(err) : 0;
}

int client_mprotect(void *addr, size_t length, int prot)
{
	uintptr_t start = (uintptr_t)addr;
	size_t len = page_round(length);
	if (atomic_load(&refuse_count) && !(start & (FM_PAGE_SIZE - 1)) && start + len > start) {
		/* The program's protection wins over a refused write's. */
		sigset_t old;
		lock_take(&map_lock, &old);
		refuse_forget(start, start + len);
		int err = 0;
		if (!(prot & PROT_WRITE)) /* else: below, once the views track writes */
			err = sys_mprotect(addr, length, prot) < 0 ? -errno : 0;
		lock_drop(&map_lock, &old);
		if (err || !(prot & PROT_WRITE))
			return err ? fail(err) : 0;
	}
	if (!cl.started || !(prot & PROT_WRITE) ||
	    (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM)) ||
	    (start & (FM_PAGE_SIZE - 1)) || start + len < start || len == 0)
		return sys_mprotect(addr, length, prot);
	sigset_t old;
	lock_take(&map_lock, &old);
	/* Past the user address space: the kernel's ENOMEM. */
	size_t ours = user_part(start, len);
	struct fmd_req req = {.op = FMD_MPROTECT, .a = {start, ours}};
	struct fmd_rep rep = {.v = {start + ours}};
	int err = ours ? rpc(&req, -1, &rep, NULL, NULL, 0) : 0;
	uintptr_t stop = err ? start : (uintptr_t)rep.v[0];
	if (stop == start + ours)
		stop = start + len;
	if (!err && stop > start && sys_mprotect(addr, stop - start, prot) < 0)
		err = -errno;
	else if (!err && stop < start + len)
		err = -EACCES;
	lock_drop(&map_lock, &old);
	return err ? fail(err) : 0;
}

/* kernel_mremap - mremap(2) of a range faultmap maps, to grow or move it.
 * If the kernel finds several vmas there, they may be views that differ
 * only in tracking writes (where the kernel's own vmas merged back: see
 * mm_track_evenly); then all start tracking, and the kernel is asked
 * again. Return: as mremap(2). Context: map_lock. */
static void *kernel_mremap(void *old_address, size_t old_size, size_t new_size, int flags,
			   void *new_address)
{
	void *p = sys_mremap(old_address, old_size, new_size, flags, new_address);
	if (p != MAP_FAILED || errno != EFAULT)
		return p;
	struct fmd_req req = {.op = FMD_MPROTECT,
			      .a = {(uintptr_t)old_address, page_round(old_size), 1}};
	struct fmd_rep rep;
	if (rpc(&req, -1, &rep, NULL, NULL, 0)) {
		errno = EFAULT;
		return MAP_FAILED;
	}
	return sys_mremap(old_address, old_size, new_size, flags, new_address);
}

/* move_vmas - MREMAP_FIXED of [start, start + len) to [to, to + len) when
 * the kernel finds several vmas there. Linux 6.17 on moves them all, one
 * after the other (but not views registered with a userfaultfd): the first
 * page must be mapped; a hole after it is passed over, and the target's
 * pages facing it stay as they were. So here: each vma in turn, the
 * target's part facing it unmapped first, a view's records with it
 * (FMD_MREMAP registers it again). Return: to, or MAP_FAILED with errno.
 * Context: map_lock. */
static void *move_vmas(uintptr_t start, size_t len, uintptr_t to)
{
	uintptr_t end = start + len, at = start, lo, hi;
	if (kernel_vma_at(start, &hi), !hi)
		return fail_ptr(-EFAULT);
	int err = 0;
	while (!err && at < end) {
		kernel_vma_from(at, &lo, &hi);
		if (!hi || lo >= end)
			break; /* a hole to the end */
		at = lo > at ? lo : at;
		hi = hi < end ? hi : end;
		uintptr_t dst = to + (at - start);
		err = sys_munmap((void *)dst, hi - at) < 0 ? -errno : forget(dst, hi - at);
		bool view = false;
		if (!err)
			err = touches(at, hi - at, &view);
		if (!err && sys_mremap((void *)at, hi - at, hi - at, MREMAP_MAYMOVE | MREMAP_FIXED,
				       (void *)dst) == MAP_FAILED)
			err = -errno;
		struct fmd_req req = {.op = FMD_MREMAP, .a = {at, hi - at, dst, hi - at}};
		struct fmd_rep rep;
		if (!err && view)
			err = rpc(&req, -1, &rep, NULL, NULL, 0);
		at = hi;
	}
	return err ? fail_ptr(err) : (void *)to;
}

void *client_mremap(void *old_address, size_t old_size, size_t new_size, int flags,
		    void *new_address)
{
	uintptr_t start = (uintptr_t)old_address, to = (uintptr_t)new_address;
	size_t old_len = page_round(old_size), new_len = page_round(new_size);
	bool t = false;
	/* An old_size that rounds to 0 asks for a duplicate: its first page
	 * says whose mapping it is. */
	size_t span = old_len ? old_len : FM_PAGE_SIZE;
	if (cl.started && !(start & (FM_PAGE_SIZE - 1)) && start + span > start) {
		int err = touches(start, span, &t);
		if (err)
			return fail_ptr(err);
	}
	/* The kernel's checks of the arguments are left to it, but for what
	 * faultmap refuses (as in embedded mode): duplication (old_size 0)
	 * and MREMAP_DONTUNMAP of a faultmap mapping. */
	if (!t || !new_len || (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) ||
	    ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE))) {
		if (!cl.started || !(flags & MREMAP_FIXED) || !new_len)
			return sys_mremap(old_address, old_size, new_size, flags, new_address);
		/* The kernel's own mapping may move over faultmap's, or the
		 * kernel may unmap the target before it refuses: the records
		 * of what it replaced or unmapped go. */
		sigset_t old;
		lock_take(&map_lock, &old);
		void *p = sys_mremap(old_address, old_size, new_size, flags, new_address);
		int err = 0;
		if (p == MAP_FAILED)
			failed_fixed(new_address, new_len);
		else if (!t)
			err = forget(to, new_len);
		lock_drop(&map_lock, &old);
		return err ? fail_ptr(err) : p;
	}
	if ((flags & MREMAP_DONTUNMAP) || !old_len)
		return fail_ptr(-EINVAL);
	sigset_t old;
	lock_take(&map_lock, &old);
	void *p = MAP_FAILED;
	int err = 0;
	struct fmd_rep rep = {0};
	if (atomic_load(&refuse_count)) { /* a refused page moves as a normal one */
		refuse_forget(start, start + old_len);
		if (flags & MREMAP_FIXED)
			refuse_forget(to, to + new_len);
	}
	if (!(flags & MREMAP_FIXED) && new_len <= old_len) {
		/* Shrink (or same size) in place. */
		p = sys_mremap(old_address, old_size, new_size, 0, NULL);
		err = p == MAP_FAILED ? -errno : 0;
		if (!err && new_len < old_len)
			err = forget(start + new_len, old_len - new_len);
		goto out;
	}
	if ((flags & MREMAP_FIXED) && new_len < old_len) {
		/* The kernel cuts the tail off, then moves the rest, which
		 * may be a mapping of its own: faultmap's records of the tail
		 * and of the target go. */
		bool kept = false;
		err = touches(start, new_len, &kept);
		if (!err && !kept) {
			p = sys_mremap(old_address, old_size, new_size, flags, new_address);
			err = p == MAP_FAILED ? -errno : forget(start + new_len, old_len - new_len);
			if (!err)
				err = forget(to, new_len);
		}
		if (err || !kept)
			goto out;
	}
	if (!(flags & MREMAP_FIXED)) { /* grow in place if the kernel can */
		p = kernel_mremap(old_address, old_size, new_size, 0, NULL);
		if (p != MAP_FAILED) {
			struct fmd_req req = {.op = FMD_MREMAP, .a = {start, old_len, start, new_len}};
			err = rpc(&req, -1, &rep, NULL, NULL, 0);
			/* The view kept its registration; its new pages are
			 * protected, as every clean page of a writable view. */
			if (!err && rep.v[0])
				err = uffd_writeprotect(cl.uffd, start + old_len, new_len - old_len,
							true);
			goto out;
		}
		if (errno != ENOMEM || !(flags & MREMAP_MAYMOVE)) {
			err = -errno;
			goto out;
		}
	}
	/* Move. The moved view loses its userfaultfd registration (no
	 * UFFD_EVENT_REMAP), and so does a view the kernel merges it with
	 * (MREMAP_FIXED next to one): the daemon registers them again
	 * (FMD_MREMAP) before the program gets the address. Without
	 * MREMAP_FIXED it moves into a reservation with a guard page on each
	 * side, where the kernel merges it with no neighbour. */
	uintptr_t guard = 0;
	if (!(flags & MREMAP_FIXED)) {
		void *r = sys_mmap(NULL, new_len + 2 * FM_PAGE_SIZE, PROT_NONE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (r == MAP_FAILED) {
			err = -errno;
			goto out;
		}
		guard = (uintptr_t)r;
		to = guard + FM_PAGE_SIZE;
	}
	uintptr_t kend = 0;
	bool apart = !(to & (FM_PAGE_SIZE - 1)) && to <= FM_TASK_SIZE - new_len &&
		     (to + new_len <= start || start + old_len <= to); /* else EINVAL */
	if (!guard && old_len == new_len && apart &&
	    (kernel_vma_at(start, &kend), kend < start + old_len)) {
		/* Several vmas, as Linux 6.17 on moves them: not by the
		 * kernel, which would move those before the first view, then
		 * refuse it (EFAULT), the move left half done. */
		p = move_vmas(start, old_len, to);
		err = p == MAP_FAILED ? -errno : 0;
		goto out;
	}
	p = kernel_mremap(old_address, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)to);
	if (p == MAP_FAILED && errno == EFAULT && !guard && old_len == new_len) {
		p = move_vmas(start, old_len, to); /* views the kernel merged */
		err = p == MAP_FAILED ? -errno : 0;
		goto out;
	}
	if (p == MAP_FAILED) {
		err = -errno;
		if (guard)
			sys_munmap((void *)guard, new_len + 2 * FM_PAGE_SIZE);
		goto out;
	}
	if (guard) {
		sys_munmap((void *)guard, FM_PAGE_SIZE);
		sys_munmap((void *)(to + new_len), FM_PAGE_SIZE);
	}
	struct fmd_req req = {.op = FMD_MREMAP, .a = {start, old_len, to, new_len}};
	err = rpc(&req, -1, &rep, NULL, NULL, 0); /* registers it again */
	if (err) { /* never leave an unserved view: it would read zeros */
		sys_munmap(p, new_len);
		(void)forget(to, new_len);
	}
out:
	lock_drop(&map_lock, &old);
	return err ? fail_ptr(err) : p;
}

/* ---- read(), write() and the rest ------------------------------------------ */

bool client_may_cache(int fd)
{
	return files_table_may_cache(fd);
}

static ssize_t bounce_rw(int fd, char *buf, size_t count, off_t pos, bool at_pos, bool write,
			 int told);

/* file_rw - read (write: false) or write count bytes at offset (at_pos:
 * at the file position) through the daemon, FMD_BOUNCE at a time: the
 * program's buffer is copied to or from the bounce buffer here, as the
 * kernel copies to or from user memory. The kernel's checks come first, in
 * its order (rw_check: EBADF, EFAULT, EINVAL); a bad buffer gives EFAULT,
 * or the count that reached it (a read) or the file (a write) before the
 * first bad page, and a read moves the file position by that count only:
 * it reads at explicit offsets and sets the position itself. */
static ssize_t file_rw(int fd, char *buf, size_t count, off_t offset, bool at_pos, bool write)
{
	if (!at_pos && offset < 0)
		return fail(-EINVAL);
	if (!client_may_cache(fd))
		return write ? (at_pos ? sys_write(fd, buf, count) : sys_pwrite(fd, buf, count, offset))
			     : (at_pos ? sys_read(fd, buf, count) : sys_pread(fd, buf, count, offset));
	int fl = fcntl(fd, F_GETFL);
	off_t pos = at_pos ? lseek(fd, 0, SEEK_CUR) : offset;
	int err = fl < 0 || pos < 0 ? -EBADF : rw_check(fl, write, buf, count, pos);
	if (err)
		return fail(err);
	if (count > MAX_RW_COUNT)
		count = MAX_RW_COUNT;
	ssize_t n = bounce_rw(fd, buf, count, pos, at_pos, write, -1);
	return n < 0 ? fail((int)n) : n;
}

/* bounce_rw - file_rw's transfer of count bytes at pos (at_pos: pos is
 * the fd's position), through the daemon whatever fd is (a store's
 * stand-in too: client_store_rw; told: the program's fd the write is of,
 * which hears of its write-back error, or -1). Return: bytes moved, or
 * -errno if none were. */
static ssize_t bounce_rw(int fd, char *buf, size_t count, off_t pos, bool at_pos, bool write,
			 int told)
{
	int err = client_start();
	if (err)
		return err;
	sigset_t old;
	lock_take(&bounce_lock, &old);
	size_t done = 0;
	do {
		size_t n = count - done < FMD_BOUNCE ? count - done : FMD_BOUNCE;
		if (write && n) {
			size_t got = user_copy(cl.bounce, (uintptr_t)buf + done, n, false);
			if (!got && !done) {
				/* The kernel checks the write (EFBIG, ENOSPC...)
				 * before it copies: let it say why, as it would.
				 * It writes nothing from a buffer whose first
				 * byte it cannot read. */
				ssize_t r = at_pos ? sys_write(fd, buf, n) : sys_pwrite(fd, buf, n, pos);
				err = r < 0 ? -errno : -EFAULT;
				/* It may still have moved EOF to its position
				 * (ext4): a write of nothing through the daemon
				 * makes it look at the file again. */
				struct fmd_req look = {.op = FMD_PWRITE, .a = {0, (uint64_t)pos}};
				struct fmd_rep rep;
				(void)rpc(&look, fd, &rep, NULL, NULL, 0);
			}
			if (!got)
				break;
			n = got; /* a bad page: write what comes before it */
		}
		uint64_t at = write && at_pos ? FMD_AT_POS : (uint64_t)pos + done;
		struct fmd_req req = {.op = write ? FMD_PWRITE : FMD_PREAD, .a = {n, at}};
		if (write && told >= 0) {
			req.a[2] = FMD_RW_TOLD;
			req.a[3] = (uint64_t)told;
		}
		struct fmd_rep rep;
		err = rpc(&req, fd, &rep, NULL, NULL, 0);
		if (err)
			break;
		size_t m = rep.v[0] < n ? (size_t)rep.v[0] : n;
		if (!write && m) {
			size_t copied = user_copy(cl.bounce, (uintptr_t)buf + done, m, true);
			if (copied < m)
				err = -EFAULT; /* the kernel's answer if nothing was copied */
			m = copied;
		}
		done += m;
		if (err || m < n)
			break;
	} while (done < count);
	lock_drop(&bounce_lock, &old);
	if (!write && at_pos && done)
		(void)lseek(fd, pos + (off_t)done, SEEK_SET);
	if (err && !done)
		return err;
	return (ssize_t)done;
}

ssize_t client_pread(int fd, void *buf, size_t count, off_t offset, bool at_pos)
{
	return file_rw(fd, buf, count, offset, at_pos, false);
}

ssize_t client_pwrite(int fd, const void *buf, size_t count, off_t offset, bool at_pos)
{
	return file_rw(fd, (char *)buf, count, offset, at_pos, true);
}

/* client_file_op - ftruncate, fallocate, fsync... (op, its arguments) of a
 * file the daemon may cache, through it: it changes the cache with the
 * file, or writes back first. Others: the kernel's call. */
/* file_op_rpc - request op (a0, a1, a2) of fd from the daemon.
 * Return: 0 or -1 with errno. */
static int file_op_rpc(int op, int fd, uint64_t a0, uint64_t a1, uint64_t a2)
{
	int err = client_start();
	if (!err) {
		struct fmd_req req = {.op = (uint32_t)op, .a = {a0, a1, a2, (uint64_t)fd}};
		err = rpc(&req, fd, NULL, NULL, NULL, 0);
	}
	return err ? fail(err) : 0;
}

int client_file_op(int op, int fd, uint64_t a0, uint64_t a1, uint64_t a2)
{
	/* syncfs: every cached file of fd's file system, whatever fd is. */
	if (op == FMD_SYNCFS ? !cl.started : !client_may_cache(fd)) {
		switch (op) {
		case FMD_FTRUNCATE:
			return sys_ftruncate(fd, (off_t)a0);
		case FMD_FALLOCATE:
			return sys_fallocate(fd, (int)a0, (off_t)a1, (off_t)a2);
		case FMD_FSYNC:
			return a0 ? sys_fdatasync(fd) : sys_fsync(fd);
		case FMD_SYNC_FILE_RANGE:
			return sys_sync_file_range(fd, (off_t)a0, (off_t)a1, (unsigned)a2);
		default:
			return sys_syncfs(fd);
		}
	}
	return file_op_rpc(op, fd, a0, a1, a2);
}

/* client_fsync_standin - fsync (datasync: fdatasync) of fd, which stands
 * in for a store the daemon opened for this process (a --mount object):
 * always the daemon's, cached or not, since the store's own flush is its
 * to make (filemap.c, standin_sync). */
int client_fsync_standin(int fd, bool datasync)
{
	return file_op_rpc(FMD_FSYNC, fd, datasync, 0, 0);
}

int client_sync_all(void)
{
	if (!cl.started)
		return 0;
	struct fmd_req req = {.op = FMD_SYNC_ALL};
	return rpc(&req, -1, NULL, NULL, NULL, 0);
}

int client_stats(struct fm_stats *out)
{
	int err = client_start();
	if (err)
		return err;
	struct fmd_req req = {.op = FMD_STATS};
	return rpc(&req, -1, NULL, NULL, out, sizeof(*out));
}

int client_daemon_pid(char *path, size_t size)
{
	int err = fmd_socket_path(path, size);
	if (err)
		return err;
	int s = connect_daemon(false);
	if (s < 0)
		return s == -ECONNREFUSED ? -ENOENT : s;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	err = getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ? -errno : (int)cred.pid;
	sys_close(s);
	return err;
}

int client_stop_daemon(struct client_stop *out)
{
	struct client_stop scratch;
	if (!out)
		out = &scratch;
	*out = (struct client_stop){.stopped = false};
	int s = connect_daemon(false);
	if (s < 0)
		return s == -ECONNREFUSED ? -ENOENT : s;
	struct fmd_req req = {.op = FMD_STOP};
	struct fmd_rep rep = {0};
	int err = rpc_on(s, NULL, &req, NULL, 0, &rep, NULL, out->report,
			 sizeof(out->report) - 1);
	if (rep.len < sizeof(out->report)) /* else none was copied: zeros */
		out->report[rep.len] = '\0';
	out->stopped = !err || rep.v[0] == 1;
	out->copy_err = out->stopped ? 0 : -(int)rep.v[1];
	if (out->stopped) { /* wait until it is gone: the socket ends */
		char c;
		struct timeval tv = {30, 0};
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		while (recv(s, &c, 1, 0) > 0)
			;
	}
	sys_close(s);
	return err;
}

int client_cache(int fd, int what, uint64_t off, uint64_t len, struct fmd_cache_info *info,
		 int *conn)
{
	bool start = what == FMD_CACHE_TOUCH || what == FMD_CACHE_LOCK;
	if (conn)
		*conn = -1;
	int s = connect_daemon(start);
	if (s < 0)
		return s == -ECONNREFUSED || (!start && s == -ENOENT) ? -ENOENT : s;
	struct fmd_req req = {.op = FMD_CACHE, .a = {(uint64_t)what, off, len}};
	struct fmd_rep rep;
	int err = rpc_on(s, NULL, &req, &fd, 1, &rep, NULL, info, sizeof(*info));
	if (!err && rep.len != sizeof(*info))
		err = -EIO;
	if (conn && !err) {
		*conn = s; /* a lock lasts as long as this connection */
		return err;
	}
	sys_close(s);
	return err;
}

/* ---- stores: opened and cached by the daemon -------------------------------- */

/* A store of the daemon's, as this process holds it (struct daemon_store,
 * above): its number there (FMD_STORE_OPEN) and, as handle_fd, its
 * stand-in. */

static int64_t daemon_store_size(struct fm_store *s)
{
	struct fmd_req req = {.op = FMD_STORE_SIZE};
	struct fmd_rep rep;
	int err = rpc(&req, s->handle_fd, &rep, NULL, NULL, 0);
	return err ? err : (int64_t)rep.v[0];
}

/* daemon_store_destroy - fm_store_close's last reference: the daemon
 * forgets this process's use of the store (gone with the connection if
 * this fails). */
static void daemon_store_destroy(struct fm_store *s)
{
	struct daemon_store *ds = (struct daemon_store *)s;
	struct fmd_req req = {.op = FMD_STORE_CLOSE, .a = {ds->id}};
	(void)rpc(&req, -1, NULL, NULL, NULL, 0);
	sigset_t old;
	lock_take(&map_lock, &old);
	struct daemon_store **pp = &daemon_stores;
	while (*pp && *pp != ds)
		pp = &(*pp)->next;
	if (*pp)
		*pp = ds->next;
	lock_drop(&map_lock, &old);
	if (s->handle_fd >= 0)
		sys_close(s->handle_fd);
	store_fini(s);
	free(ds->here);
	free(ds);
}

/* Only size and destroy: the client reads, writes and maps through the
 * daemon (client_store_rw, fm_mmap of the stand-in). */
static const struct fm_store_ops daemon_store_ops = {
	.scheme = "daemon",
	.size = daemon_store_size,
	.destroy = daemon_store_destroy,
};

bool client_store_is(const struct fm_store *s)
{
	return s->ops == &daemon_store_ops;
}

/* daemon_url - url as the daemon must open it for this process
 * (store_url_here), once the daemon is there: *here (malloc'd, for the
 * bounce buffer), *len its length (less than FMD_BOUNCE). Return: 0 or
 * -errno (-ENAMETOOLONG: too long for the bounce buffer). */
static int daemon_url(const char *url, char **here, size_t *len)
{
	int err = client_start();
	if (err)
		return err;
	*here = store_url_here(url);
	if (!*here)
		return -ENOMEM;
	*len = strlen(*here);
	if (*len < FMD_BOUNCE)
		return 0;
	free(*here);
	return -ENAMETOOLONG;
}

int client_store_open(const char *url, int flags, struct fm_store **out)
{
	char *here;
	size_t len;
	int err = daemon_url(url, &here, &len);
	if (err)
		return err;
	struct daemon_store *ds = calloc(1, sizeof(*ds));
	err = !ds ? -ENOMEM : 0;
	if (!err)
		err = store_init(&ds->s, &daemon_store_ops, url, url, (flags & O_ACCMODE) == O_RDWR);
	if (err) {
		free(here);
		free(ds);
		return err;
	}
	sigset_t old;
	lock_take(&bounce_lock, &old); /* the URL travels in the bounce buffer */
	memcpy(cl.bounce, here, len);
	ds->here = here;
	struct fmd_req req = {.op = FMD_STORE_OPEN, .a = {len, (uint64_t)flags}};
	struct fmd_rep rep;
	int fd = -1;
	err = rpc(&req, -1, &rep, &fd, NULL, 0);
	lock_drop(&bounce_lock, &old);
	if (!err && fd < 0)
		err = -EIO;
	if (err) {
		store_fini(&ds->s);
		free(here);
		free(ds);
		return err;
	}
	ds->id = rep.v[0];
	ds->s.handle_fd = fd_keep(fd);
	struct stat st;
	if (fstat(ds->s.handle_fd, &st) == 0) {
		ds->s.dev = st.st_dev;
		ds->s.ino = st.st_ino;
	}
	lock_take(&map_lock, &old); /* what emergency_flush writes it with */
	ds->next = daemon_stores;
	daemon_stores = ds;
	lock_drop(&map_lock, &old);
	*out = &ds->s;
	return 0;
}

ssize_t client_store_rw(struct fm_store *s, int fd, void *buf, size_t count, off_t off,
			bool write)
{
	return bounce_rw(s->handle_fd, buf, count, off, false, write, fd);
}

/* client_store_remove - store_remove of the daemon's store s (faultmap
 * run --mount's unlink): FMD_STORE_REMOVE of its stand-in. Return: 0 or
 * -errno. */
int client_store_remove(struct fm_store *s)
{
	struct fmd_req req = {.op = FMD_STORE_REMOVE};
	return rpc(&req, s->handle_fd, NULL, NULL, NULL, 0);
}

/* client_store_list - store_list of the container url in the daemon
 * (faultmap run --mount's listing): FMD_STORE_LIST, with url as the
 * daemon must open it for this process (store_url_here); the names read
 * from the memfd of the reply. Return: 0 (out as store_list's) or -errno. */
int client_store_list(const char *url, struct store_names *out)
{
	*out = (struct store_names){0};
	char *here;
	size_t len;
	int err = daemon_url(url, &here, &len);
	if (err)
		return err;
	sigset_t old;
	lock_take(&bounce_lock, &old); /* the URL travels in the bounce buffer */
	memcpy(cl.bounce, here, len);
	explicit_bzero(here, len); /* S3's keys may be in it */
	free(here);
	struct fmd_req req = {.op = FMD_STORE_LIST, .a = {len}};
	struct fmd_rep rep;
	int fd = -1;
	err = rpc(&req, -1, &rep, &fd, NULL, 0);
	lock_drop(&bounce_lock, &old);
	if (!err && (fd < 0 || rep.v[0] > SIZE_MAX / 2))
		err = -EIO;
	size_t n = err ? 0 : (size_t)rep.v[0];
	if (!err && n && !(out->buf = malloc(n)))
		err = -ENOMEM;
	if (!err && n && sys_pread(fd, out->buf, n, 0) != (ssize_t)n)
		err = -EIO;
	if (!err && n && out->buf[n - 1] != '\0')
		err = -EIO;
	if (fd >= 0)
		sys_close(fd);
	if (err) {
		free(out->buf);
		*out = (struct store_names){0};
		return err;
	}
	out->len = out->cap = n;
	return 0;
}

/* client_store_truncate - ftruncate of the daemon's store s (through
 * faultmap run --mount): FMD_FTRUNCATE of its stand-in, which the daemon
 * turns into store_truncate. Return: 0 or -errno. */
int client_store_truncate(struct fm_store *s, uint64_t size)
{
	struct fmd_req req = {.op = FMD_FTRUNCATE, .a = {size, 0, 0, (uint64_t)s->handle_fd}};
	return rpc(&req, s->handle_fd, NULL, NULL, NULL, 0);
}
