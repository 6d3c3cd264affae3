/*
 * nbd.c - the NBD store: an export of a Network Block Device server,
 * through libnbd. URLs: nbd+unix:///[export]?socket=PATH and
 * nbd://host[:port]/[export] (libnbd's nbd_connect_uri).
 *
 * Many requests are in flight at once, with libnbd's asynchronous API: a
 * cluster read is cut into NBD_CHUNK pieces read together, and a write-back
 * batch puts all its runs in flight on one connection before waiting for
 * any (run_cmds). When the server allows several connections (multi-conn),
 * the store keeps NBD_CONNS of them, so that the fault threads and the
 * readahead threads read at the same time; otherwise one, which they take
 * in turn. A connection is used by one thread at a time (conn_take).
 *
 * An export has a fixed size: resize fails with EOPNOTSUPP unless the size
 * does not change. Write-back ends with NBD_CMD_FLUSH where the server has
 * it (sync). Errors come back as the server's errno (EIO, ENOSPC...).
 *
 * libnbd is loaded when the first NBD store is opened (dlopen of
 * libnbd.so.0, Debian's libnbd0): a program that never opens one needs
 * neither the library nor -lnbd (the header, libnbd-dev, is needed to
 * build).
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libnbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The libnbd calls the store makes, found with dlsym: lib.nbd_xxx. */
#define NBD_CALLS(X)                                                                   \
	X(nbd_create) X(nbd_close) X(nbd_get_errno) X(nbd_connect_uri) X(nbd_get_size) \
	X(nbd_is_read_only) X(nbd_can_flush) X(nbd_can_multi_conn) X(nbd_pread)        \
	X(nbd_aio_pread) X(nbd_aio_pwrite) X(nbd_aio_command_completed) X(nbd_poll)    \
	X(nbd_flush) X(nbd_shutdown)
#define NBD_MEMBER(f) __typeof__(f) *f;
static struct {
	NBD_CALLS(NBD_MEMBER)
} lib;
static bool lib_ok;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

/* lib_load - find libnbd and its calls; lib_ok says whether all were. */
static void lib_load(void)
{
	void *h = dlopen("libnbd.so.0", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
#define NBD_LOAD(f)                               \
	if (!(*(void **)&lib.f = dlsym(h, #f))) { \
		dlclose(h);                       \
		return;                           \
	}
	NBD_CALLS(NBD_LOAD)
#undef NBD_LOAD
	lib_ok = true;
}

#define NBD_CONNS 4		    /* connections, with multi-conn */
#define NBD_CHUNK (256 * 1024)	    /* a read is cut into pieces this big */
#define NBD_DEPTH 64		    /* commands in flight on a connection */

struct nbd_conn {
	struct nbd_handle *h;
	bool busy; /* nbd_store.lock */
};

struct nbd_store {
	struct fm_store s;
	uint64_t size;
	bool can_flush;
	unsigned nconns;
	struct nbd_conn conns[NBD_CONNS];
	pthread_mutex_t lock;
	pthread_cond_t free_conn;
};

/* One command of a run_cmds batch. */
struct nbd_cmd {
	char *buf;
	size_t len;
	uint64_t off;
	int64_t cookie;
	int err; /* out: 0 or -errno */
};

static const struct fm_store_ops nbd_ops;

static struct nbd_store *ns_of(struct fm_store *s)
{
	return (struct nbd_store *)s;
}

/* nbd_err - libnbd's errno for the last failed call, never 0. */
static int nbd_err(void)
{
	int e = lib.nbd_get_errno();
	return e > 0 ? -e : -EIO;
}

/* io_err - nbd_err of a command (read, write, flush) on a connection: EIO
 * for one that is gone (libnbd: EINVAL or ENOTCONN for a handle no longer
 * connected, as after its server died; a command's arguments are never
 * bad), as the kernel's nbd device. */
static int io_err(void)
{
	int e = nbd_err();
	return e == -EINVAL || e == -ENOTCONN ? -EIO : e;
}

/* conn_take - a connection no other thread uses, waiting for one. */
static struct nbd_conn *conn_take(struct nbd_store *ns)
{
	pthread_mutex_lock(&ns->lock);
	for (;;) {
		for (unsigned i = 0; i < ns->nconns; i++)
			if (!ns->conns[i].busy) {
				ns->conns[i].busy = true;
				pthread_mutex_unlock(&ns->lock);
				return &ns->conns[i];
			}
		pthread_cond_wait(&ns->free_conn, &ns->lock);
	}
}

static void conn_give(struct nbd_store *ns, struct nbd_conn *c)
{
	pthread_mutex_lock(&ns->lock);
	c->busy = false;
	pthread_cond_signal(&ns->free_conn);
	pthread_mutex_unlock(&ns->lock);
}

/* wait_cmd - until cmd completes; set its err. Return: false if the
 * connection itself failed (nothing more can complete on it). */
static bool wait_cmd(struct nbd_handle *h, struct nbd_cmd *cmd)
{
	for (;;) {
		int r = lib.nbd_aio_command_completed(h, (uint64_t)cmd->cookie);
		if (r == 1)
			return true;
		if (r < 0) {
			cmd->err = io_err();
			return true;
		}
		if (lib.nbd_poll(h, -1) < 0) {
			cmd->err = io_err();
			return false;
		}
	}
}

/*
 * run_cmds - read (or write) each of cmds[0..n) on c, up to NBD_DEPTH of
 * them in flight at once, and wait for all. Sets each cmd's err.
 */
static void run_cmds(struct nbd_conn *c, struct nbd_cmd *cmds, size_t n, bool write)
{
	size_t next = 0, done = 0;
	bool dead = false;
	while (done < n) {
		while (!dead && next < n && next - done < NBD_DEPTH) {
			struct nbd_cmd *cmd = &cmds[next++];
			cmd->err = 0;
			cmd->cookie = write ? lib.nbd_aio_pwrite(c->h, cmd->buf, cmd->len, cmd->off,
							     NBD_NULL_COMPLETION, 0)
					    : lib.nbd_aio_pread(c->h, cmd->buf, cmd->len, cmd->off,
							    NBD_NULL_COMPLETION, 0);
			if (cmd->cookie < 0)
				cmd->err = io_err();
		}
		struct nbd_cmd *cmd = &cmds[done++];
		if (dead && !cmd->err)
			cmd->err = -EIO;
		if (!cmd->err && !dead && !wait_cmd(c->h, cmd))
			dead = true;
		for (; dead && next < n; next++)
			cmds[next].err = -EIO;
	}
}

/* nbd_read - clamp to the export's end; cut into NBD_CHUNK pieces, all in
 * flight at once. */
static ssize_t nbd_read(struct fm_store *s, void *buf, size_t len, uint64_t off)
{
	struct nbd_store *ns = ns_of(s);
	if (off >= ns->size)
		return 0;
	if (len > ns->size - off)
		len = (size_t)(ns->size - off);
	struct nbd_cmd cmds[FM_CLUSTER_MAX * FM_PAGE_SIZE / NBD_CHUNK + 1];
	size_t n = 0, at = 0, max = sizeof(cmds) / sizeof(cmds[0]);
	while (at < len && n < max) {
		size_t piece = len - at < NBD_CHUNK ? len - at : NBD_CHUNK;
		cmds[n++] = (struct nbd_cmd){.buf = (char *)buf + at, .len = piece, .off = off + at};
		at += piece;
	}
	struct nbd_conn *c = conn_take(ns);
	run_cmds(c, cmds, n, false);
	conn_give(ns, c);
	size_t got = 0; /* the pieces read before the first that failed */
	for (size_t i = 0; i < n; i++) {
		if (cmds[i].err)
			return got ? (ssize_t)got : cmds[i].err;
		got += cmds[i].len;
	}
	return (ssize_t)got;
}

/* nbd_write - every run of this kind, each store's on one of its
 * connections, all in flight at once. */
static void nbd_write(struct fm_store_io *ios, size_t n)
{
	struct nbd_cmd cmds[WB_BATCH];
	size_t idx[WB_BATCH];
	for (size_t i = 0; i < n; i++) {
		if (ios[i].store->ops != &nbd_ops || ios[i].err || ios[i].done == ios[i].len)
			continue;
		struct nbd_store *ns = ns_of(ios[i].store);
		size_t m = 0; /* the runs of store ns, from i on, not yet done */
		for (size_t j = i; j < n && m < WB_BATCH; j++) {
			struct fm_store_io *io = &ios[j];
			if (io->store != &ns->s || io->err || io->done == io->len)
				continue;
			cmds[m] = (struct nbd_cmd){.buf = (char *)io->buf, .len = io->len,
						   .off = io->off};
			idx[m++] = j;
		}
		struct nbd_conn *c = conn_take(ns);
		run_cmds(c, cmds, m, true);
		conn_give(ns, c);
		for (size_t k = 0; k < m; k++) {
			struct fm_store_io *io = &ios[idx[k]];
			io->err = cmds[k].err;
			io->done = io->err ? 0 : io->len;
		}
	}
}

static int64_t nbd_size(struct fm_store *s)
{
	return (int64_t)ns_of(s)->size;
}

static int nbd_resize(struct fm_store *s, uint64_t size)
{
	return size == ns_of(s)->size ? 0 : -EOPNOTSUPP;
}

static int nbd_sync(struct fm_store *s)
{
	struct nbd_store *ns = ns_of(s);
	if (!ns->can_flush)
		return 0;
	struct nbd_conn *c = conn_take(ns);
	int err = lib.nbd_flush(c->h, 0) < 0 ? io_err() : 0;
	conn_give(ns, c);
	return err;
}

static void nbd_destroy(struct fm_store *s)
{
	struct nbd_store *ns = ns_of(s);
	for (unsigned i = 0; i < ns->nconns; i++) {
		lib.nbd_shutdown(ns->conns[i].h, 0);
		lib.nbd_close(ns->conns[i].h);
	}
	if (s->handle_fd >= 0)
		sys_close(s->handle_fd);
	pthread_mutex_destroy(&ns->lock);
	pthread_cond_destroy(&ns->free_conn);
	store_fini(s);
	free(ns);
}

static const struct fm_store_ops nbd_ops = {
	.scheme = "nbd",
	.read = nbd_read,
	.write = nbd_write,
	.size = nbd_size,
	.resize = nbd_resize,
	.sync = nbd_sync,
	.destroy = nbd_destroy,
};

/* connect - a new connection to url. Return: 0 or -errno. */
static int connect_to(const char *url, struct nbd_handle **out)
{
	struct nbd_handle *h = lib.nbd_create();
	if (!h)
		return nbd_err();
	if (lib.nbd_connect_uri(h, url) < 0) {
		int err = nbd_err();
		lib.nbd_close(h);
		return err;
	}
	*out = h;
	return 0;
}

/* measure - the latency of one page's read, for readahead's sake. */
static void measure(struct nbd_store *ns)
{
	char *page = malloc(FM_PAGE_SIZE);
	uint64_t t = store_clock_us();
	if (page && ns->size >= FM_PAGE_SIZE)
		(void)lib.nbd_pread(ns->conns[0].h, page, FM_PAGE_SIZE, 0, 0);
	store_set_latency(&ns->s, store_clock_us() - t);
	free(page);
}

/* nbd_open - connect, check the export, add connections if the server
 * allows multi-conn. Return: 0 or -errno. */
static int nbd_open(struct nbd_store *ns, const char *url, bool writable)
{
	int err = connect_to(url, &ns->conns[0].h);
	if (err)
		return err;
	ns->nconns = 1;
	int64_t size = lib.nbd_get_size(ns->conns[0].h);
	if (size < 0)
		return nbd_err();
	ns->size = (uint64_t)size;
	if (writable && lib.nbd_is_read_only(ns->conns[0].h) == 1)
		return -EROFS;
	ns->can_flush = lib.nbd_can_flush(ns->conns[0].h) == 1;
	if (lib.nbd_can_multi_conn(ns->conns[0].h) == 1)
		while (ns->nconns < NBD_CONNS && !connect_to(url, &ns->conns[ns->nconns].h))
			ns->nconns++;
	measure(ns);
	return store_standin(&ns->s, url, writable);
}

/* nbd_store_open - the store of an nbd URL. flags: O_RDONLY or O_RDWR
 * (EROFS if the export is read-only). Return: 0 or -errno. */
int nbd_store_open(const char *url, int flags, struct fm_store **out)
{
	pthread_once(&lib_once, lib_load);
	if (!lib_ok)
		return -EPROTONOSUPPORT; /* libnbd0 is not installed */
	struct nbd_store *ns = calloc(1, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	pthread_mutex_init(&ns->lock, NULL);
	pthread_cond_init(&ns->free_conn, NULL);
	bool writable = (flags & O_ACCMODE) == O_RDWR;
	int err = store_init(&ns->s, &nbd_ops, url, url, writable);
	if (err) {
		free(ns);
		return err;
	}
	err = nbd_open(ns, url, writable);
	if (err) {
		nbd_destroy(&ns->s);
		return err;
	}
	*out = &ns->s;
	return 0;
}
