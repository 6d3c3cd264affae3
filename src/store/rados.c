/*
 * rados.c - the RADOS store: one object of a pool of a Ceph cluster,
 * through librados. URL: rados://pool/object[?conf=/path/to/ceph.conf]
 * (%XX escapes allowed in the object's name and the path); without conf=,
 * $CEPH_CONF, else librados's default search (/etc/ceph/ceph.conf...).
 *
 * An object is written in place, as a file: shared mappings and write-back
 * work as on a file, the object grows with writes past its end, and resize
 * is rados_trunc. A read of more than RADOS_CHUNK is cut into pieces, all
 * in flight at once (rados_aio_read); a write-back batch puts all its runs
 * in flight at once, RADOS_DEPTH at most, and waits for all
 * (rados_aio_write). remove is rados_remove (faultmap run --mount's
 * unlink); a removed store then reads and sizes as an empty object and
 * drops its writes and resizes (store_remove). librados acknowledges a
 * write once it is durable on the OSDs (their journal or memstore), so
 * sync has nothing to wait for but what is still in flight
 * (rados_aio_flush). Errors are the OSD's or
 * librados's -errno: ENOENT (no such pool, or object without O_CREAT),
 * EEXIST (O_CREAT|O_EXCL of an object that exists), ETIMEDOUT (no monitor
 * answers: connecting waits RADOS_MOUNT_TIMEOUT seconds unless the conf
 * says otherwise), EFBIG (past the OSD's osd_max_object_size, 128 MiB by
 * default).
 *
 * A process's stores of one conf share one connected cluster handle
 * (struct rados_conn); each has its own pool context. A pool's listing
 * (rados_store_list: faultmap run --mount's opendir) uses it too.
 *
 * librados is loaded when the first RADOS store is opened (dlopen of
 * librados.so.2, Debian's librados2): a program that never opens one needs
 * neither the library nor -lrados, and the build needs no header either
 * (the few calls are declared here, after librados.h's C API, whose
 * handles are opaque pointers).
 */
#include "internal.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

typedef void *rados_t;
typedef void *rados_ioctx_t;
typedef void *rados_completion_t;
typedef void *rados_write_op_t;
typedef void *rados_list_ctx_t;
typedef void (*rados_callback_t)(rados_completion_t c, void *arg);
#define RADOS_CREATE_EXCLUSIVE 1 /* LIBRADOS_CREATE_EXCLUSIVE */
#define RADOS_CREATE_IDEMPOTENT 0

/* The librados calls the store makes, found with dlsym: lib.rados_xxx. */
static struct {
	int (*rados_create)(rados_t *cluster, const char *id);
	int (*rados_conf_set)(rados_t cluster, const char *option, const char *value);
	int (*rados_conf_read_file)(rados_t cluster, const char *path);
	int (*rados_conf_get)(rados_t cluster, const char *option, char *buf, size_t len);
	int (*rados_connect)(rados_t cluster);
	void (*rados_shutdown)(rados_t cluster);
	int (*rados_ioctx_create)(rados_t cluster, const char *pool, rados_ioctx_t *io);
	void (*rados_ioctx_destroy)(rados_ioctx_t io);
	int (*rados_read)(rados_ioctx_t io, const char *oid, char *buf, size_t len, uint64_t off);
	int (*rados_stat)(rados_ioctx_t io, const char *oid, uint64_t *size, time_t *mtime);
	int (*rados_trunc)(rados_ioctx_t io, const char *oid, uint64_t size);
	int (*rados_remove)(rados_ioctx_t io, const char *oid);
	int (*rados_aio_create_completion2)(void *arg, rados_callback_t complete,
					    rados_completion_t *c);
	int (*rados_aio_read)(rados_ioctx_t io, const char *oid, rados_completion_t c, char *buf,
			      size_t len, uint64_t off);
	int (*rados_aio_write)(rados_ioctx_t io, const char *oid, rados_completion_t c,
			       const char *buf, size_t len, uint64_t off);
	int (*rados_aio_wait_for_complete)(rados_completion_t c);
	int (*rados_aio_get_return_value)(rados_completion_t c);
	void (*rados_aio_release)(rados_completion_t c);
	int (*rados_aio_flush)(rados_ioctx_t io);
	rados_write_op_t (*rados_create_write_op)(void);
	void (*rados_write_op_create)(rados_write_op_t op, int exclusive, const char *category);
	int (*rados_write_op_operate)(rados_write_op_t op, rados_ioctx_t io, const char *oid,
				      time_t *mtime, int flags);
	void (*rados_release_write_op)(rados_write_op_t op);
	int (*rados_nobjects_list_open)(rados_ioctx_t io, rados_list_ctx_t *ctx);
	int (*rados_nobjects_list_next)(rados_list_ctx_t ctx, const char **entry, const char **key,
					const char **nspace);
	void (*rados_nobjects_list_close)(rados_list_ctx_t ctx);
	uint64_t (*rados_get_last_version)(rados_ioctx_t io);
	uint64_t (*rados_aio_get_version)(rados_completion_t c);
} lib;
#define RADOS_CALLS(X)                                                                   \
	X(rados_create) X(rados_conf_set) X(rados_conf_read_file) X(rados_conf_get)      \
	X(rados_connect) X(rados_shutdown) X(rados_ioctx_create) X(rados_ioctx_destroy)  \
	X(rados_read) X(rados_stat) X(rados_trunc) X(rados_remove)                       \
	X(rados_aio_create_completion2)                                                  \
	X(rados_aio_read) X(rados_aio_write) X(rados_aio_wait_for_complete)              \
	X(rados_aio_get_return_value) X(rados_aio_release) X(rados_aio_flush)            \
	X(rados_create_write_op) X(rados_write_op_create) X(rados_write_op_operate)      \
	X(rados_release_write_op) X(rados_nobjects_list_open) X(rados_nobjects_list_next)     \
	X(rados_nobjects_list_close) X(rados_get_last_version) X(rados_aio_get_version)
static bool lib_ok;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void rados_at_exit(void);

/* lib_load - find librados and its calls; lib_ok says whether all were;
 * if so, rados_at_exit will run at exit before librados's own destructors
 * (registered by its constructors, at the dlopen). */
static void lib_load(void)
{
	void *h = dlopen("librados.so.2", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
#define RADOS_LOAD(f)                             \
	if (!(*(void **)&lib.f = dlsym(h, #f))) { \
		dlclose(h);                       \
		return;                           \
	}
	RADOS_CALLS(RADOS_LOAD)
#undef RADOS_LOAD
	lib_ok = true;
	atexit(rados_at_exit);
}

#define RADOS_CHUNK (256 * 1024)  /* a read is cut into pieces this big */
#define RADOS_DEPTH 32		  /* writes in flight at once */
#define RADOS_MOUNT_TIMEOUT "30"  /* seconds to find the cluster (librados: 300) */
#define RADOS_MOUNT_DEFAULT 300.0

/* A connected cluster, shared by this process's stores of one conf:
 * connecting takes milliseconds and a dozen librados threads, and
 * faultmap run --mount opens a store for every name it looks up (sqlite3
 * looks for db-journal and db-wal at each transaction); a store is an
 * ioctx on it. Connected when the first store of the conf opens, shut
 * down when the last is destroyed; a failed connection is not kept. */
struct rados_conn {
	char *conf; /* the conf file, or NULL: librados's search */
	pid_t pid;  /* the process that connected (a forked child has none
		     * of its threads: it connects anew) */
	rados_t cluster;
	unsigned refs; /* conns_lock */
	struct rados_conn *next;
};

static struct rados_conn *conns;
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * At exit: librados's threads (its messengers, its timer) go on running
 * while exit() runs librados's C++ destructors, which free what those
 * threads read: a process that exited with a connection to an OSD or a
 * monitor that had gone (reconnecting) crashed there (SIGSEGV in
 * md_config_t::find_option; test_rados_store_osd_stopped_or_killed_during_
 * write_back_loses_nothing). So rados_at_exit, registered after the
 * dlopen and run before those destructors, first writes the cache back
 * (engine_exit_writeback: the exit's own write-back, which would otherwise
 * run after them); then, if a RADOS call of this process has failed
 * (rados_trouble: a timeout, a lost connection), shuts every connection of
 * this process down; from then on every RADOS call fails with EIO
 * (rados_gone, CALL), never touching librados. Only then: a program under
 * faultmap run in embedded mode can have closed or dup2'ed over
 * librados's descriptors (they take the lowest free numbers, which a
 * shell's exec 3>file then reuses), and a shutdown that wakes a worker
 * through such a pipe aborts the process (ceph_abort in
 * EventCenter::wakeup), where a healthy cluster's threads sat quiet
 * through the destructors (test_mount_shell_builtins_redirected_to_rados_
 * objects_write_them, 5 runs in 8 under load with every exit shutting
 * down).
 */
static atomic_bool rados_gone, rados_trouble;

/* CALL - lib.f(...), or -EIO without touching librados once rados_gone.
 * Each op's first call into librados, and a new connection's, is made
 * through it: after the exit's shutdown every op fails with EIO. */
#define CALL(f, ...) (atomic_load(&rados_gone) ? -EIO : lib.f(__VA_ARGS__))

/* note - a RADOS call's result r: a failure that is not about the object
 * (its absence, its existence) says the cluster is in trouble. */
static int note(int r)
{
	if (r < 0 && r != -ENOENT && r != -EEXIST && r != -ECANCELED)
		atomic_store(&rados_trouble, true);
	return r;
}

static void rados_at_exit(void)
{
	engine_exit_writeback();
	if (!atomic_load(&rados_trouble))
		return;
	/* A shutdown's threads write to pipes whose readers have gone (the
	 * messengers' wake-up pipes): SIGPIPE killed the exiting process
	 * (exit status 141) unless ignored meanwhile. rados_shutdown joins
	 * them, so nothing of theirs writes after it returns. */
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	sigemptyset(&ign.sa_mask);
	bool restore = sigaction(SIGPIPE, &ign, &old) == 0;
	pthread_mutex_lock(&conns_lock);
	atomic_store(&rados_gone, true);
	pid_t self = getpid();
	for (struct rados_conn *c = conns; c; c = c->next)
		if (c->pid == self) {
			lib.rados_shutdown(c->cluster);
			c->pid = 0; /* nobody's: never found again */
		}
	pthread_mutex_unlock(&conns_lock);
	if (restore)
		sigaction(SIGPIPE, &old, NULL);
}

struct rados_store {
	struct fm_store s;
	struct rados_conn *conn;
	rados_ioctx_t io;
	char *oid;
	/* The object's version (the OSD's, which every write changes) as
	 * this store last knew it: its open's stat, its own writes' and
	 * truncations' (version op: a store rescue file keeps it). */
	_Atomic uint64_t objver;
};

static const struct fm_store_ops rados_ops;

static struct rados_store *rs_of(struct fm_store *s)
{
	return (struct rados_store *)s;
}

/* One request in flight: a read piece or a write-back run. */
struct rados_req {
	rados_completion_t c;
	char *buf;
	size_t len;
	uint64_t off;
	int ret; /* out: bytes (read), 0 (write) or -errno */
	uint64_t ver; /* out: the object's version after it */
};

/* req_start - put r in flight on rs (a write if write). */
static void req_start(struct rados_store *rs, struct rados_req *r, bool write)
{
	r->c = NULL;
	r->ret = CALL(rados_aio_create_completion2, NULL, NULL, &r->c);
	if (r->ret < 0)
		return;
	r->ret = write ? lib.rados_aio_write(rs->io, rs->oid, r->c, r->buf, r->len, r->off)
		       : lib.rados_aio_read(rs->io, rs->oid, r->c, r->buf, r->len, r->off);
	if (r->ret < 0) {
		lib.rados_aio_release(r->c);
		r->c = NULL;
	}
}

/* req_wait - wait for r (if it went in flight) and set its ret. */
static void req_wait(struct rados_req *r)
{
	if (!r->c)
		return;
	lib.rados_aio_wait_for_complete(r->c);
	r->ret = note(lib.rados_aio_get_return_value(r->c));
	r->ver = r->ret < 0 ? 0 : lib.rados_aio_get_version(r->c);
	lib.rados_aio_release(r->c);
	r->c = NULL;
}

/* rados_store_read - one rados_read for a small read; a bigger one cut
 * into RADOS_CHUNK pieces, all in flight at once. Short at the object's
 * end. */
static ssize_t rados_store_read(struct fm_store *s, void *buf, size_t len, uint64_t off)
{
	struct rados_store *rs = rs_of(s);
	if (s->removed) /* store_remove: an empty object, not a new one */
		return 0;
	if (len <= RADOS_CHUNK) {
		int r = note(CALL(rados_read, rs->io, rs->oid, buf, len, off));
		return r == -ENOENT ? 0 : r; /* removed under us: nothing to read */
	}
	struct rados_req reqs[FM_CLUSTER_MAX * FM_PAGE_SIZE / RADOS_CHUNK + 1];
	size_t n = 0, at = 0, max = sizeof(reqs) / sizeof(reqs[0]);
	while (at < len && n < max) {
		size_t piece = len - at < RADOS_CHUNK ? len - at : RADOS_CHUNK;
		reqs[n] = (struct rados_req){.buf = (char *)buf + at, .len = piece, .off = off + at};
		req_start(rs, &reqs[n++], false);
		at += piece;
	}
	for (size_t i = 0; i < n; i++)
		req_wait(&reqs[i]);
	size_t got = 0; /* up to the first piece short or failed */
	for (size_t i = 0; i < n; i++) {
		int r = reqs[i].ret == -ENOENT ? 0 : reqs[i].ret;
		if (r < 0)
			return got ? (ssize_t)got : r;
		got += (size_t)r;
		if ((size_t)r < reqs[i].len)
			break;
	}
	return (ssize_t)got;
}

/*
 * An asynchronous read (read_start): its pieces all in flight, each with
 * a completion whose callback (on a librados thread) records its result;
 * the last to end adds them up as rados_store_read does and calls done.
 * (rados_store_read keeps its own pieces, waited for without callbacks: a
 * callback runs on librados's finisher thread, one hand-off more, and a
 * read_start waited for with a condition variable scanned 634-679 MB/s
 * against 727-795 in build/fm-rados-bench, three alternating runs.)
 * librados holds its own reference on a completion while the callback
 * runs, so the callback may release it. The pieces' bookkeeping is under
 * aread_lock: librados hands a request to its threads through atomics of
 * its own, which TSan does not see, and a lock makes the hand-off plain.
 */
struct rados_piece {
	struct rados_aread *a;
	size_t len;
	int ret;
};

struct rados_aread {
	unsigned left; /* pieces not ended, and one for the starter */
	void (*done)(void *tag, int res);
	void *tag;
	size_t n;
	struct rados_piece p[];
};

static pthread_mutex_t aread_lock = PTHREAD_MUTEX_INITIALIZER;

/* aread_put - one piece of a (or its starter) is done with it: the last
 * reports the bytes up to the first piece short or failed (or that
 * piece's error), and frees a. */
static void aread_put(struct rados_aread *a)
{
	pthread_mutex_lock(&aread_lock);
	bool last = --a->left == 0;
	pthread_mutex_unlock(&aread_lock);
	if (!last)
		return;
	size_t got = 0;
	int res = 0;
	for (size_t i = 0; i < a->n; i++) {
		int r = a->p[i].ret == -ENOENT ? 0 : a->p[i].ret; /* removed: empty */
		if (r < 0) {
			res = got ? 0 : r;
			break;
		}
		got += (size_t)r;
		if ((size_t)r < a->p[i].len)
			break;
	}
	void (*done)(void *, int) = a->done;
	void *tag = a->tag;
	free(a);
	done(tag, res < 0 ? res : (int)got);
}

static void aread_piece_done(rados_completion_t c, void *arg)
{
	struct rados_piece *p = arg;
	int ret = note(lib.rados_aio_get_return_value(c));
	lib.rados_aio_release(c);
	pthread_mutex_lock(&aread_lock);
	struct rados_aread *a = p->a;
	p->ret = ret;
	pthread_mutex_unlock(&aread_lock);
	aread_put(a);
}

/* rados_store_read_start - the read of rados_store_read, RADOS_CHUNK
 * pieces in flight, done called when the last ends. Return: 0, or -errno
 * when nothing went in flight. */
static int rados_store_read_start(struct fm_store *s, void *buf, size_t len, uint64_t off,
				  void (*done)(void *tag, int res), void *tag)
{
	struct rados_store *rs = rs_of(s);
	if (s->removed) /* read as rados_store_read reads it: empty */
		return -ECANCELED;
	size_t n = (len + RADOS_CHUNK - 1) / RADOS_CHUNK;
	if (!n || len > INT_MAX)
		return -EINVAL;
	struct rados_aread *a = malloc(sizeof(*a) + n * sizeof(a->p[0]));
	if (!a)
		return -ENOMEM;
	pthread_mutex_lock(&aread_lock);
	a->left = (unsigned)n + 1;
	a->done = done;
	a->tag = tag;
	a->n = n;
	for (size_t i = 0; i < n; i++)
		a->p[i] = (struct rados_piece){
			.a = a, .len = len - i * RADOS_CHUNK < RADOS_CHUNK ? len - i * RADOS_CHUNK
									   : RADOS_CHUNK};
	pthread_mutex_unlock(&aread_lock);
	size_t started = 0;
	int err = 0;
	for (size_t i = 0; i < n; i++) {
		size_t at = i * RADOS_CHUNK;
		rados_completion_t c = NULL;
		int r = err ? err : CALL(rados_aio_create_completion2, &a->p[i], aread_piece_done, &c);
		if (!r) {
			r = lib.rados_aio_read(rs->io, rs->oid, c, (char *)buf + at, a->p[i].len,
					       off + at);
			if (r < 0)
				lib.rados_aio_release(c);
		}
		if (r < 0) { /* this piece and the rest fail */
			err = r;
			pthread_mutex_lock(&aread_lock);
			a->p[i].ret = r;
			a->left--;
			pthread_mutex_unlock(&aread_lock);
			continue;
		}
		started++;
	}
	if (!started) {
		free(a);
		return err;
	}
	aread_put(a);
	return 0;
}

/* version_seen - the object is at version ver after a write of rs's: the
 * newest it knows (writes end in any order). */
static void version_seen(struct rados_store *rs, uint64_t ver)
{
	uint64_t had = atomic_load(&rs->objver);
	while (ver > had && !atomic_compare_exchange_weak(&rs->objver, &had, ver))
		;
}

/* rados_store_write - every run of a RADOS store, RADOS_DEPTH in flight at
 * once (in the order given; each waited for in turn). */
static void rados_store_write(struct fm_store_io *ios, size_t n)
{
	struct rados_req reqs[RADOS_DEPTH];
	size_t idx[RADOS_DEPTH];
	size_t head = 0, tail = 0; /* reqs in flight: [tail, head), mod RADOS_DEPTH */
	for (size_t i = 0; i <= n; i++) {
		struct fm_store_io *io = i < n ? &ios[i] : NULL;
		if (io && (io->store->ops != &rados_ops || io->err || io->done == io->len))
			continue;
		/* room for one more, or (at the end) every one done */
		while (tail < head && (!io || head - tail == RADOS_DEPTH)) {
			struct rados_req *r = &reqs[tail % RADOS_DEPTH];
			req_wait(r);
			struct fm_store_io *w = &ios[idx[tail++ % RADOS_DEPTH]];
			w->err = r->ret < 0 ? r->ret : 0;
			w->done = w->err ? 0 : w->len;
			if (!w->err)
				version_seen(rs_of(w->store), r->ver);
		}
		if (!io)
			break;
		struct rados_req *r = &reqs[head % RADOS_DEPTH];
		*r = (struct rados_req){.buf = (char *)io->buf, .len = io->len, .off = io->off};
		idx[head++ % RADOS_DEPTH] = i;
		req_start(rs_of(io->store), r, true);
	}
}

static int64_t rados_store_size(struct fm_store *s)
{
	struct rados_store *rs = rs_of(s);
	uint64_t size = 0;
	time_t mtime;
	if (s->removed)
		return 0;
	int r = note(CALL(rados_stat, rs->io, rs->oid, &size, &mtime));
	if (r == -ENOENT)
		return 0; /* removed under us: empty, as a truncated file */
	return r < 0 ? r : (int64_t)size;
}

static int rados_store_resize(struct fm_store *s, uint64_t size)
{
	struct rados_store *rs = rs_of(s);
	if (s->removed) /* dropped, as its writes: rados_trunc would make it again */
		return 0;
	int r = CALL(rados_trunc, rs->io, rs->oid, size);
	if (!r) /* the context's last operation (no read is in flight) */
		version_seen(rs, lib.rados_get_last_version(rs->io));
	return r;
}

/* rados_store_version - the object's version as rs last knew it
 * (version op), as "v<number>". */
static void rados_store_version(struct fm_store *s, char *out, size_t size)
{
	snprintf(out, size, "v%llu", (unsigned long long)atomic_load(&rs_of(s)->objver));
}

/* rados_store_remove - rados_remove of the object (store_remove). */
static int rados_store_remove(struct fm_store *s)
{
	struct rados_store *rs = rs_of(s);
	return CALL(rados_remove, rs->io, rs->oid);
}

static int rados_store_sync(struct fm_store *s)
{
	return note(CALL(rados_aio_flush, rs_of(s)->io));
}

static bool same_conf(const char *a, const char *b)
{
	return a ? b && !strcmp(a, b) : !b;
}

/* conn_put - one store fewer on c: the last shuts the cluster down. */
static void conn_put(struct rados_conn *c)
{
	pthread_mutex_lock(&conns_lock);
	bool last = --c->refs == 0;
	if (last) {
		struct rados_conn **pp = &conns;
		while (*pp != c)
			pp = &(*pp)->next;
		*pp = c->next;
	}
	pthread_mutex_unlock(&conns_lock);
	if (last) {
		if (!atomic_load(&rados_gone)) /* else shut down already */
			lib.rados_shutdown(c->cluster);
		free(c->conf);
		free(c);
	}
}

/* conn_find - the connection of conf, with a reference, or NULL.
 * Context: conns_lock. */
static struct rados_conn *conn_find(const char *conf)
{
	struct rados_conn *c = conns;
	pid_t self = getpid();
	while (c && (c->pid != self || !same_conf(c->conf, conf)))
		c = c->next;
	if (c)
		c->refs++;
	return c;
}

/* connect_new - a cluster handle of conf, connected. Return: 0 or -errno
 * (*out shut down, NULL). */
static int connect_new(const char *conf, rados_t *out)
{
	rados_t cluster;
	int r = CALL(rados_create, &cluster, NULL);
	if (r < 0)
		return r;
	r = lib.rados_conf_read_file(cluster, conf);
	/* librados waits 300 s for a monitor by default: 30 s unless the
	 * conf sets another timeout. */
	char val[32];
	if (r >= 0 && lib.rados_conf_get(cluster, "client_mount_timeout", val, sizeof(val)) == 0 &&
	    strtod(val, NULL) == RADOS_MOUNT_DEFAULT)
		(void)lib.rados_conf_set(cluster, "client_mount_timeout", RADOS_MOUNT_TIMEOUT);
	if (r >= 0)
		r = lib.rados_connect(cluster);
	if (r < 0) {
		lib.rados_shutdown(cluster);
		return r;
	}
	*out = cluster;
	return 0;
}

/* conn_get - the connection of conf (NULL: librados's search), shared,
 * made if need be (connecting outside the lock: a cluster that does not
 * answer holds up no other). Return: 0 or -errno. */
static int conn_get(const char *conf, struct rados_conn **out)
{
	pthread_mutex_lock(&conns_lock);
	struct rados_conn *c = conn_find(conf);
	pthread_mutex_unlock(&conns_lock);
	if (c) {
		*out = c;
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c || (conf && !(c->conf = strdup(conf)))) {
		free(c);
		return -ENOMEM;
	}
	c->pid = getpid();
	int r = connect_new(conf, &c->cluster);
	if (r < 0) {
		free(c->conf);
		free(c);
		return r;
	}
	pthread_mutex_lock(&conns_lock);
	struct rados_conn *other = conn_find(conf); /* made meanwhile */
	if (!other) {
		c->refs = 1;
		c->next = conns;
		conns = c;
	}
	pthread_mutex_unlock(&conns_lock);
	if (other) {
		lib.rados_shutdown(c->cluster);
		free(c->conf);
		free(c);
		c = other;
	}
	*out = c;
	return 0;
}

static void rados_store_destroy(struct fm_store *s)
{
	struct rados_store *rs = rs_of(s);
	if (rs->io && !atomic_load(&rados_gone))
		lib.rados_ioctx_destroy(rs->io);
	if (rs->conn)
		conn_put(rs->conn);
	if (s->handle_fd >= 0)
		sys_close(s->handle_fd);
	free(rs->oid);
	store_fini(s);
	free(rs);
}

static const struct fm_store_ops rados_ops = {
	.scheme = "rados",
	.read = rados_store_read,
	.read_start = rados_store_read_start,
	.write = rados_store_write,
	.size = rados_store_size,
	.resize = rados_store_resize,
	.sync = rados_store_sync,
	.version = rados_store_version,
	.remove = rados_store_remove,
	.destroy = rados_store_destroy,
};

struct rados_url {
	char *pool, *oid, *conf; /* conf: NULL if not given */
};

static void url_free(struct rados_url *u)
{
	free(u->pool);
	free(u->oid);
	free(u->conf);
}

/* parse_url - rados://pool/object[?conf=PATH], or with container a
 * pool's rados://pool[/prefix/][?conf=PATH] (u->oid: the prefix, maybe
 * ""). Return: 0 or -EINVAL (-ENOMEM); u freed by url_free either way. */
static int parse_url(const char *url, struct rados_url *u, bool container)
{
	memset(u, 0, sizeof(*u));
	if (strncmp(url, "rados://", 8) != 0)
		return -EINVAL;
	const char *p = url + 8, *q = strchr(p, '?');
	const char *end = q ? q : p + strlen(p);
	const char *slash = memchr(p, '/', (size_t)(end - p));
	if (!slash && !container)
		return -EINVAL; /* rados://pool?conf=... : no object */
	size_t n = slash ? (size_t)(end - slash - 1) : 0; /* the object's, or the prefix */
	if (!slash)
		slash = end;
	if (container && n && slash[n] != '/')
		return -EINVAL; /* a prefix ends in '/' */
	int err;
	u->pool = store_unescape(p, (size_t)(slash - p), &err);
	if (!err && container && !n && !(u->oid = strdup("")))
		err = -ENOMEM;
	else if (!err && !u->oid)
		u->oid = store_unescape(slash + 1, n, &err);
	while (!err && q) { /* the parameters: conf= only, once */
		const char *v = q + 1, *next = strchr(v, '&');
		size_t len = next ? (size_t)(next - v) : strlen(v);
		if (len < 5 || strncmp(v, "conf=", 5) != 0 || u->conf)
			err = -EINVAL;
		else
			u->conf = store_unescape(v + 5, len - 5, &err);
		q = next;
	}
	return err;
}

/* conf_of - the conf file u names, else $CEPH_CONF, else NULL (librados's
 * search). */
static const char *conf_of(const struct rados_url *u)
{
	const char *conf = u->conf ? u->conf : getenv("CEPH_CONF");
	return conf && *conf ? conf : NULL;
}

/*
 * rados_url_here - url as the daemon must open it for this process: a URL
 * without conf= gets this process's $CEPH_CONF (made absolute, escaped),
 * since the daemon's environment and directory are not the client's.
 * Return: a new string (url itself copied if nothing is to add), or NULL
 * (ENOMEM).
 */
char *rados_url_here(const char *url)
{
	const char *conf = getenv("CEPH_CONF");
	char cwd[PATH_MAX] = "";
	if (!conf || !*conf || strchr(url, '?'))
		return strdup(url);
	if (conf[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		return strdup(url); /* the daemon's search, as without one */
	size_t n = strlen(url) + 7 + 3 * (strlen(cwd) + 1 + strlen(conf)) + 1;
	char *out = malloc(n);
	if (!out)
		return NULL;
	size_t k = (size_t)snprintf(out, n, "%s?conf=", url);
	char path[2 * PATH_MAX + 2];
	snprintf(path, sizeof(path), "%s%s%s", cwd, *cwd ? "/" : "", conf);
	for (const char *c = path; *c; c++) {
		if (isalnum((unsigned char)*c) || strchr("/._-", *c))
			out[k++] = *c;
		else
			k += (size_t)snprintf(out + k, n - k, "%%%02X", (unsigned char)*c);
	}
	out[k] = '\0';
	return out;
}

/* object_open - the object, made (O_CREAT, exclusively with O_EXCL) if
 * need be. Return: 0 or -errno. */
static int object_open(struct rados_store *rs, int flags)
{
	if (flags & O_CREAT) {
		rados_write_op_t op = lib.rados_create_write_op();
		if (!op)
			return -ENOMEM;
		lib.rados_write_op_create(op, (flags & O_EXCL) ? RADOS_CREATE_EXCLUSIVE
							       : RADOS_CREATE_IDEMPOTENT, NULL);
		int r = lib.rados_write_op_operate(op, rs->io, rs->oid, NULL, 0);
		lib.rados_release_write_op(op);
		if (r < 0)
			return r;
	}
	uint64_t size;
	time_t mtime;
	int r = lib.rados_stat(rs->io, rs->oid, &size, &mtime);
	if (!r) /* the version that stat saw: nothing else runs on io yet */
		atomic_store(&rs->objver, lib.rados_get_last_version(rs->io));
	return r;
}

/* connect_to - the cluster of u's conf (conn_get), the pool's context,
 * the object. Return: 0 or -errno. */
static int connect_to(struct rados_store *rs, const struct rados_url *u, int flags)
{
	int r = conn_get(conf_of(u), &rs->conn);
	if (r < 0) {
		rs->conn = NULL;
		return r;
	}
	r = lib.rados_ioctx_create(rs->conn->cluster, u->pool, &rs->io);
	if (r < 0) {
		rs->io = NULL;
		return r;
	}
	return object_open(rs, flags);
}

/* rados_store_open - the store of a rados URL. flags: O_RDONLY or O_RDWR,
 * with O_CREAT (and O_EXCL). Return: 0 or -errno. */
int rados_store_open(const char *url, int flags, struct fm_store **out)
{
	struct rados_url u;
	int err = parse_url(url, &u, false);
	if (err) {
		url_free(&u);
		return err;
	}
	pthread_once(&lib_once, lib_load);
	if (!lib_ok) {
		url_free(&u);
		return -EPROTONOSUPPORT; /* librados2 is not installed */
	}
	struct rados_store *rs = calloc(1, sizeof(*rs));
	bool writable = (flags & O_ACCMODE) == O_RDWR;
	err = rs ? store_init(&rs->s, &rados_ops, url, url, writable) : -ENOMEM;
	if (err) {
		free(rs);
		url_free(&u);
		return err;
	}
	rs->oid = u.oid;
	u.oid = NULL;
	err = connect_to(rs, &u, flags);
	url_free(&u);
	if (!err) {
		store_measure(&rs->s);
		err = store_standin(&rs->s, url, writable);
	}
	if (err) {
		rados_store_destroy(&rs->s);
		return err;
	}
	*out = &rs->s;
	return 0;
}

/*
 * rados_store_list - the objects of the pool of url, rados://pool
 * [/prefix/][?conf=] (store_list): rados_nobjects_list_* on the pool's
 * context (the default namespace, as every store's), on the shared
 * connection of the conf (conn_get). Return: 0 or -errno (-ENOENT: no
 * such pool).
 */
int rados_store_list(const char *url, struct store_names *out)
{
	struct rados_url u;
	int err = parse_url(url, &u, true);
	if (!err) {
		pthread_once(&lib_once, lib_load);
		if (!lib_ok)
			err = -EPROTONOSUPPORT;
	}
	struct rados_conn *conn = NULL;
	rados_ioctx_t io = NULL;
	rados_list_ctx_t list = NULL;
	if (!err && (err = conn_get(conf_of(&u), &conn)) < 0)
		conn = NULL;
	if (!err && (err = lib.rados_ioctx_create(conn->cluster, u.pool, &io)) < 0)
		io = NULL;
	if (!err && (err = lib.rados_nobjects_list_open(io, &list)) < 0)
		list = NULL;
	while (!err) {
		const char *entry, *key, *nspace;
		int r = lib.rados_nobjects_list_next(list, &entry, &key, &nspace);
		if (r == -ENOENT)
			break; /* the end */
		err = r < 0 ? r : store_names_add(out, entry, u.oid);
	}
	if (list)
		lib.rados_nobjects_list_close(list);
	if (io)
		lib.rados_ioctx_destroy(io);
	if (conn)
		conn_put(conn);
	url_free(&u);
	return err;
}
