/*
 * s3.c - the S3 store: one object of an S3 bucket, over HTTP with libcurl
 * (AWS Signature V4: CURLOPT_AWS_SIGV4). URL: s3://bucket/key (%XX escapes
 * allowed in the key), path-style requests to an endpoint:
 *
 *   endpoint  ?endpoint=URL, else $FAULTMAP_S3_ENDPOINT, else
 *             $AWS_ENDPOINT_URL_S3, else $AWS_ENDPOINT_URL (none: EINVAL)
 *   region    ?region=R, else $AWS_REGION, else $AWS_DEFAULT_REGION, else
 *             us-east-1
 *   keys      ?key_id=&secret=[&token=], else $AWS_ACCESS_KEY_ID,
 *             $AWS_SECRET_ACCESS_KEY [$AWS_SESSION_TOKEN]; none: unsigned
 *             (anonymous) requests
 *
 * The parameters exist for daemon mode: the client writes what it takes
 * from its environment into the URL (s3_url_here) before the URL travels to
 * the daemon in the client's 0600 bounce memfd. The store's name
 * (/proc/PID/maps, the tools, every message) is s3://bucket/key alone,
 * its stand-in memfd's the URL without key_id, secret and token
 * (url_without_secrets): the URL with its keys is never shown nor logged.
 *
 * A store maps one version of the object: the ETag seen at open. Every
 * read is a ranged GET with If-Match on that ETag, so a page read after the
 * object was replaced by another writer fails (ESTALE: SIGBUS in a mapping)
 * instead of mixing two versions; size is the size at open. A read of more
 * than S3_CHUNK is cut into pieces, all in flight at once on a curl multi
 * handle; each store keeps S3_CTXS multi handles (and their connections)
 * for the threads that read at once.
 *
 * S3 cannot write part of an object: write-back of a batch is one whole
 * object PUT (the untouched bytes fetched first with a GET, unless the
 * runs cover the object), with If-Match on the ETag the store last saw (its
 * own last PUT's, else open's): an object changed by another writer fails
 * with ESTALE and is not overwritten. A failed PUT fails every run of the
 * batch: their pages stay dirty, and msync reports the error. The size is
 * fixed (resize: EOPNOTSUPP), and O_RDWR refuses objects over S3_WRITE_MAX
 * (EFBIG), since write-back holds a whole object in memory. Errors: HTTP
 * 404 ENOENT, 401/403 EACCES, 412 ESTALE, 5xx and transport errors
 * (connection refused, timeouts) EIO.
 *
 * libcurl is loaded when the first S3 store is opened (dlopen of
 * libcurl.so.4, Debian's libcurl4): a program that never opens one needs
 * neither the library nor -lcurl (the header, libcurl4-openssl-dev, is
 * needed to build).
 */
#include "internal.h"

#define CURL_DISABLE_TYPECHECK /* lib.curl_easy_setopt is no macro */
#include <curl/curl.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* The libcurl calls the store makes, found with dlsym: lib.curl_xxx. */
#define CURL_CALLS(X)                                                                       \
	X(curl_global_init) X(curl_easy_init) X(curl_easy_setopt) X(curl_easy_getinfo)      \
	X(curl_easy_cleanup) X(curl_easy_reset) X(curl_easy_escape) X(curl_free)            \
	X(curl_slist_append) X(curl_slist_free_all) X(curl_multi_init)                       \
	X(curl_multi_add_handle) X(curl_multi_remove_handle) X(curl_multi_perform)          \
	X(curl_multi_poll) X(curl_multi_info_read) X(curl_multi_cleanup)
#define CURL_MEMBER(f) __typeof__(f) *f;
static struct {
	CURL_CALLS(CURL_MEMBER)
} lib;
static bool lib_ok;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

/*
 * no_openssl_atexit - keep OpenSSL (libcurl's, for TLS and for SigV4's
 * HMACs) alive until the process is gone. By default its first use
 * registers an atexit cleanup, which runs before faultmap's own exit
 * write-back (registered earlier, so run later): that write-back's PUT
 * then signs with a freed OpenSSL and crashes. Initialised first with
 * OPENSSL_INIT_NO_ATEXIT, it registers none. A libcurl of another TLS
 * library (no libcrypto.so.3 loaded with it) is left alone.
 */
static void no_openssl_atexit(void)
{
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
	if (!h)
		return;
	int (*init)(uint64_t opts, const void *settings);
	*(void **)&init = dlsym(h, "OPENSSL_init_crypto");
	if (init)
		(void)init(0x00080000ULL /* OPENSSL_INIT_NO_ATEXIT */, NULL);
	dlclose(h);
}

/* lib_load - find libcurl and its calls, and initialise it (once, before
 * any thread uses it); lib_ok says whether all went well. */
static void lib_load(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
#define CURL_LOAD(f)                              \
	if (!(*(void **)&lib.f = dlsym(h, #f))) { \
		dlclose(h);                       \
		return;                           \
	}
	CURL_CALLS(CURL_LOAD)
#undef CURL_LOAD
	no_openssl_atexit();
	lib_ok = lib.curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

#define S3_CHUNK (1024 * 1024)		   /* a read is cut into pieces this big */
#define S3_PIECES (FM_CLUSTER_MAX * FM_PAGE_SIZE / S3_CHUNK + 1)
#define S3_CTXS 8			   /* multi handles kept for reading threads */
#define S3_WRITE_MAX (256ULL << 20)	   /* O_RDWR: objects up to this size */
#define S3_CONNECT_TIMEOUT 10L		   /* seconds */
#define S3_STALL_TIME 30L		   /* seconds below 1 byte/s: EIO */
#define S3_ETAG_MAX 128

/* A multi handle and its easy handles, for one thread's requests at once;
 * the connections stay in the multi handle's cache between uses. */
struct s3_ctx {
	CURLM *multi;
	CURL *easy[S3_PIECES];
	bool busy; /* s3_store.lock */
};

struct s3_store {
	struct fm_store s;
	char *object_url; /* endpoint/bucket/key, escaped */
	char *userpwd;	  /* key_id:secret, or NULL: anonymous */
	char *sigv4;	  /* "aws:amz:REGION:s3" */
	char *token;	  /* "x-amz-security-token: ...", or NULL */
	uint64_t size;	  /* at open: fixed */
	pthread_mutex_t lock;
	pthread_cond_t free_ctx;
	char etag[S3_ETAG_MAX]; /* the version mapped (lock) */
	struct s3_ctx ctx[S3_CTXS];
};

static const struct fm_store_ops s3_ops;

static struct s3_store *s3_of(struct fm_store *s)
{
	return (struct s3_store *)s;
}

enum s3_method { S3_GET, S3_HEAD, S3_PUT };

/* One HTTP request: a read piece, a HEAD, a whole-object PUT. */
struct s3_req {
	enum s3_method method;
	char *buf;	 /* GET: into; PUT: from */
	size_t len;	 /* GET: room in buf (and the range); PUT: body size */
	size_t done;	 /* bytes received (GET) or sent (PUT) */
	uint64_t off;	 /* GET: the range's start */
	bool ranged;	 /* GET: Range: bytes=off-(off+len-1) */
	char if_match[S3_ETAG_MAX]; /* "" for none */
	char etag[S3_ETAG_MAX];	    /* out: the response's ETag */
	long status;		    /* out: HTTP status */
	int64_t length;		    /* out: Content-Length (HEAD) */
	struct curl_slist *hdrs;
	int ret; /* out: 0 or -errno */
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct s3_req *r = arg;
	size_t n = size * nmemb;
	if (r->status / 100 != 2)
		return n; /* an error's XML: dropped (the status line came first) */
	size_t room = r->len - r->done;
	size_t take = n < room ? n : room;
	memcpy(r->buf + r->done, data, take);
	r->done += take;
	return n;
}

static size_t on_send(char *data, size_t size, size_t nmemb, void *arg)
{
	struct s3_req *r = arg;
	size_t n = size * nmemb, left = r->len - r->done;
	if (n > left)
		n = left;
	memcpy(data, r->buf + r->done, n);
	r->done += n;
	return n;
}

/* on_header - each header line: the status, and the ETag. */
static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct s3_req *r = arg;
	size_t n = size * nmemb;
	if (n > 5 && strncmp(line, "HTTP/", 5) == 0) {
		const char *sp = memchr(line, ' ', n);
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		if (r->method == S3_GET)
			r->done = 0; /* a new response's body (a GET's only: a
				      * PUT's done counts what was sent) */
		r->etag[0] = '\0';
	} else if (n > 5 && strncasecmp(line, "etag:", 5) == 0) {
		size_t i = 5, end = n;
		while (i < n && (line[i] == ' ' || line[i] == '\t'))
			i++;
		while (end > i && (line[end - 1] == '\r' || line[end - 1] == '\n' ||
				   line[end - 1] == ' '))
			end--;
		if (end - i < S3_ETAG_MAX) {
			memcpy(r->etag, line + i, end - i);
			r->etag[end - i] = '\0';
		}
	}
	return n;
}

/* req_setup - make easy handle h ready to send r to st. Return: 0 or
 * -ENOMEM. */
static int req_setup(struct s3_store *st, CURL *h, struct s3_req *r)
{
	lib.curl_easy_reset(h);
	r->hdrs = lib.curl_slist_append(NULL, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	char line[64 + S3_ETAG_MAX];
	if (r->hdrs && r->if_match[0]) {
		/* radosgw (16.2) matches a PUT's If-Match against the ETag
		 * without its quotes, a GET's with them */
		const char *tag = r->if_match;
		size_t n = strlen(tag);
		if (r->method == S3_PUT && n >= 2 && tag[0] == '"' && tag[n - 1] == '"')
			tag++, n -= 2;
		snprintf(line, sizeof(line), "If-Match: %.*s", (int)n, tag);
		r->hdrs = lib.curl_slist_append(r->hdrs, line);
	}
	if (r->hdrs && st->token)
		r->hdrs = lib.curl_slist_append(r->hdrs, st->token);
	if (!r->hdrs)
		return -ENOMEM;
	lib.curl_easy_setopt(h, CURLOPT_URL, st->object_url);
	lib.curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	lib.curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, S3_CONNECT_TIMEOUT);
	lib.curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	lib.curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, S3_STALL_TIME);
	lib.curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->hdrs);
	lib.curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	lib.curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	lib.curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	lib.curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (st->userpwd) {
		lib.curl_easy_setopt(h, CURLOPT_USERPWD, st->userpwd);
		lib.curl_easy_setopt(h, CURLOPT_AWS_SIGV4, st->sigv4);
	}
	if (r->method == S3_HEAD) {
		lib.curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (r->method == S3_PUT) {
		lib.curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		lib.curl_easy_setopt(h, CURLOPT_READFUNCTION, on_send);
		lib.curl_easy_setopt(h, CURLOPT_READDATA, r);
		lib.curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->len);
	} else if (r->ranged) {
		char range[64];
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)r->off,
			 (unsigned long long)(r->off + r->len - 1));
		lib.curl_easy_setopt(h, CURLOPT_RANGE, range); /* copied by curl */
	}
	r->status = 0;
	r->done = 0;
	r->etag[0] = '\0';
	r->length = -1;
	return 0;
}

/* http_errno - the errno of an HTTP status that is not a success. */
static int http_errno(long status)
{
	switch (status) {
	case 404:
		return -ENOENT;
	case 401:
	case 403:
		return -EACCES;
	case 412:
		return -ESTALE; /* If-Match: the object is another version now */
	case 400:
		return -EINVAL;
	default:
		return -EIO; /* 5xx, and what else a server may say */
	}
}

/* req_finish - r's result, from curl's code and the status; frees its
 * headers. */
static void req_finish(CURL *h, struct s3_req *r, CURLcode code)
{
	lib.curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
	if (code == CURLE_OUT_OF_MEMORY) {
		r->ret = -ENOMEM;
		return;
	}
	if (code != CURLE_OK) {
		r->ret = -EIO; /* refused, timed out, cut */
		return;
	}
	if (r->status == 416 && r->method == S3_GET) {
		r->ret = 0; /* the range starts past the end: nothing */
		r->done = 0;
		return;
	}
	if (r->status / 100 != 2) {
		r->ret = http_errno(r->status);
		return;
	}
	if (r->method == S3_GET && r->ranged && r->off && r->status != 206) {
		r->ret = -EIO; /* the whole object, where a range was asked */
		return;
	}
	r->ret = 0;
	if (r->method == S3_HEAD) {
		curl_off_t cl = -1;
		lib.curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		r->length = cl;
		r->ret = cl < 0 ? -EIO : 0;
	}
}

static void ctx_give(struct s3_store *st, struct s3_ctx *c)
{
	pthread_mutex_lock(&st->lock);
	c->busy = false;
	pthread_cond_signal(&st->free_ctx);
	pthread_mutex_unlock(&st->lock);
}

/* ctx_take - a free context of st (made if need be), waiting for one if
 * all are taken. Return: it, or NULL (ENOMEM). */
static struct s3_ctx *ctx_take(struct s3_store *st)
{
	pthread_mutex_lock(&st->lock);
	struct s3_ctx *c = NULL;
	while (!c) {
		for (size_t i = 0; i < S3_CTXS && !c; i++)
			if (!st->ctx[i].busy)
				c = &st->ctx[i];
		if (!c)
			pthread_cond_wait(&st->free_ctx, &st->lock);
	}
	c->busy = true;
	pthread_mutex_unlock(&st->lock);
	if (!c->multi)
		c->multi = lib.curl_multi_init();
	if (!c->multi) {
		ctx_give(st, c);
		return NULL;
	}
	return c;
}

/* run_reqs - send reqs[0..n) (n <= S3_PIECES) to st, all in flight at
 * once on one context, and wait for all; each gets its ret. */
static void run_reqs(struct s3_store *st, struct s3_req *reqs, size_t n)
{
	struct s3_ctx *c = ctx_take(st);
	for (size_t i = 0; i < n; i++)
		reqs[i].ret = -ENOMEM;
	if (!c)
		return;
	size_t added = 0;
	for (size_t i = 0; i < n; i++) {
		if (!c->easy[i] && !(c->easy[i] = lib.curl_easy_init()))
			break;
		if (req_setup(st, c->easy[i], &reqs[i]) != 0) {
			lib.curl_slist_free_all(reqs[i].hdrs);
			reqs[i].hdrs = NULL;
			break;
		}
		lib.curl_easy_setopt(c->easy[i], CURLOPT_PRIVATE, (char *)&reqs[i]);
		if (lib.curl_multi_add_handle(c->multi, c->easy[i]) != CURLM_OK) {
			lib.curl_slist_free_all(reqs[i].hdrs);
			reqs[i].hdrs = NULL;
			break;
		}
		added++;
	}
	int running = 1;
	while (running) {
		if (lib.curl_multi_perform(c->multi, &running) != CURLM_OK)
			break;
		if (running)
			lib.curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
	}
	CURLMsg *m;
	int left;
	while ((m = lib.curl_multi_info_read(c->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		char *priv = NULL;
		lib.curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		req_finish(m->easy_handle, (struct s3_req *)(void *)priv, m->data.result);
	}
	for (size_t i = 0; i < added; i++) {
		if (reqs[i].hdrs) { /* never finished: the multi handle failed */
			lib.curl_slist_free_all(reqs[i].hdrs);
			reqs[i].hdrs = NULL;
			reqs[i].ret = -EIO;
		}
		lib.curl_multi_remove_handle(c->multi, c->easy[i]);
	}
	ctx_give(st, c);
}

/* etag_now - the ETag the store maps now, into out. */
static void etag_now(struct s3_store *st, char *out)
{
	pthread_mutex_lock(&st->lock);
	memcpy(out, st->etag, S3_ETAG_MAX);
	pthread_mutex_unlock(&st->lock);
}

/*
 * s3_read_at - read [off, off + len) of the version whose ETag is etag into
 * buf: ranged GETs of S3_CHUNK, all in flight at once. Return: bytes (short
 * only at the end), or -errno.
 */
static ssize_t s3_read_at(struct s3_store *st, char *buf, size_t len, uint64_t off,
			  const char *etag)
{
	struct s3_req reqs[S3_PIECES];
	size_t n = 0, at = 0;
	if (off >= st->size)
		return 0;
	if (len > st->size - off)
		len = st->size - off;
	while (at < len && n < S3_PIECES) {
		size_t piece = len - at < S3_CHUNK ? len - at : S3_CHUNK;
		reqs[n] = (struct s3_req){.method = S3_GET, .buf = buf + at, .len = piece,
					  .off = off + at, .ranged = true};
		memcpy(reqs[n++].if_match, etag, S3_ETAG_MAX);
		at += piece;
	}
	run_reqs(st, reqs, n);
	size_t got = 0; /* up to the first piece short or failed */
	for (size_t i = 0; i < n; i++) {
		if (reqs[i].ret < 0)
			return got ? (ssize_t)got : reqs[i].ret;
		got += reqs[i].done;
		if (reqs[i].done < reqs[i].len)
			break;
	}
	return (ssize_t)got;
}

static ssize_t s3_store_read(struct fm_store *s, void *buf, size_t len, uint64_t off)
{
	struct s3_store *st = s3_of(s);
	char etag[S3_ETAG_MAX], later[S3_ETAG_MAX];
	etag_now(st, etag);
	ssize_t r = s3_read_at(st, buf, len, off, etag);
	etag_now(st, later);
	if (r == -ESTALE && strcmp(etag, later) != 0) /* our own PUT, meanwhile */
		r = s3_read_at(st, buf, len, off, later);
	return r;
}

/* put_object - st's object as the batch's runs of st (ios[first..n))
 * make it: the rest fetched (unless the runs cover it), then one PUT with
 * If-Match on the ETag the store maps. Return: 0 or -errno. */
static int put_object(struct s3_store *st, struct fm_store_io *ios, size_t first, size_t n)
{
	char *obj = malloc(st->size ? st->size : 1);
	if (!obj)
		return -ENOMEM;
	char etag[S3_ETAG_MAX];
	etag_now(st, etag);
	/* covered: the bytes the runs write (runs do not overlap) */
	uint64_t covered = 0;
	for (size_t i = first; i < n; i++)
		if (ios[i].store == &st->s && ios[i].off < st->size)
			covered += (ios[i].off + ios[i].len > st->size ? st->size - ios[i].off
								       : ios[i].len);
	int err = 0;
	for (uint64_t at = 0; covered < st->size && at < st->size && !err;) {
		size_t len = st->size - at > S3_PIECES * S3_CHUNK ? S3_PIECES * S3_CHUNK
								 : (size_t)(st->size - at);
		ssize_t r = s3_read_at(st, obj + at, len, at, etag);
		err = r < 0 ? (int)r : (size_t)r < len ? -ESTALE : 0; /* shorter: replaced */
		at += len;
	}
	for (size_t i = first; i < n && !err; i++) {
		const struct fm_store_io *io = &ios[i];
		if (io->store != &st->s || io->off >= st->size)
			continue;
		size_t len = io->off + io->len > st->size ? st->size - io->off : io->len;
		memcpy(obj + io->off, io->buf, len);
	}
	if (!err) {
		struct s3_req put = {.method = S3_PUT, .buf = obj, .len = st->size};
		memcpy(put.if_match, etag, S3_ETAG_MAX);
		run_reqs(st, &put, 1);
		err = put.ret;
		if (!err && put.etag[0]) {
			pthread_mutex_lock(&st->lock);
			memcpy(st->etag, put.etag, S3_ETAG_MAX);
			pthread_mutex_unlock(&st->lock);
		}
	}
	free(obj);
	return err;
}

/* s3_store_write - each S3 store's runs of the batch: one whole-object PUT
 * per store; a failure fails all its runs (their pages stay dirty). */
static void s3_store_write(struct fm_store_io *ios, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct fm_store_io *io = &ios[i];
		if (io->store->ops != &s3_ops || io->err || io->done == io->len)
			continue;
		struct s3_store *st = s3_of(io->store);
		int err = put_object(st, ios, i, n);
		for (size_t j = i; j < n; j++) {
			if (ios[j].store != io->store || ios[j].err || ios[j].done == ios[j].len)
				continue;
			ios[j].err = err;
			ios[j].done = err ? 0 : ios[j].len;
		}
	}
}

static int64_t s3_store_size(struct fm_store *s)
{
	return (int64_t)s3_of(s)->size;
}

static int s3_store_resize(struct fm_store *s, uint64_t size)
{
	return size == s3_of(s)->size ? 0 : -EOPNOTSUPP;
}

static int s3_store_sync(struct fm_store *s)
{
	(void)s; /* a PUT is durable once answered: nothing in flight */
	return 0;
}

/* s3_store_current - whether the object's ETag still is the store's (a
 * HEAD; a HEAD that fails says yes: a new open would fail the same way). */
static bool s3_store_current(struct fm_store *s)
{
	struct s3_store *st = s3_of(s);
	struct s3_req head = {.method = S3_HEAD};
	char etag[S3_ETAG_MAX];
	run_reqs(st, &head, 1);
	etag_now(st, etag);
	return head.ret != 0 || strcmp(head.etag, etag) == 0;
}

static void s3_store_destroy(struct fm_store *s)
{
	struct s3_store *st = s3_of(s);
	for (size_t i = 0; i < S3_CTXS; i++) {
		for (size_t j = 0; j < S3_PIECES; j++)
			if (st->ctx[i].easy[j])
				lib.curl_easy_cleanup(st->ctx[i].easy[j]);
		if (st->ctx[i].multi)
			lib.curl_multi_cleanup(st->ctx[i].multi);
	}
	if (s->handle_fd >= 0)
		sys_close(s->handle_fd);
	pthread_cond_destroy(&st->free_ctx);
	pthread_mutex_destroy(&st->lock);
	free(st->object_url);
	if (st->userpwd) /* a secret: not left in freed memory */
		explicit_bzero(st->userpwd, strlen(st->userpwd));
	free(st->userpwd);
	free(st->sigv4);
	free(st->token);
	store_fini(s);
	free(st);
}

static const struct fm_store_ops s3_ops = {
	.scheme = "s3",
	.read = s3_store_read,
	.write = s3_store_write,
	.size = s3_store_size,
	.resize = s3_store_resize,
	.sync = s3_store_sync,
	.current = s3_store_current,
	.destroy = s3_store_destroy,
};

/* ---- the URL ------------------------------------------------------------- */

/* The parameters a URL may carry, and where each comes from otherwise. */
static const struct {
	const char *param;
	const char *env[3];
} params[] = {
	{"endpoint", {"FAULTMAP_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}},
	{"region", {"AWS_REGION", "AWS_DEFAULT_REGION", NULL}},
	{"key_id", {"AWS_ACCESS_KEY_ID", NULL, NULL}},
	{"secret", {"AWS_SECRET_ACCESS_KEY", NULL, NULL}},
	{"token", {"AWS_SESSION_TOKEN", NULL, NULL}},
};
#define NPARAMS (sizeof(params) / sizeof(params[0]))

struct s3_url {
	char *bucket, *key;
	char *val[NPARAMS]; /* from the URL, else the environment; NULL */
};

static void url_free(struct s3_url *u)
{
	free(u->bucket);
	free(u->key);
	for (size_t i = 0; i < NPARAMS; i++) {
		if (u->val[i])
			explicit_bzero(u->val[i], strlen(u->val[i]));
		free(u->val[i]);
	}
}

/* from_env - the first of a parameter's variables that is set, or NULL. */
static const char *from_env(size_t i)
{
	for (size_t k = 0; k < 3 && params[i].env[k]; k++) {
		const char *v = secure_getenv(params[i].env[k]);
		if (v && *v)
			return v;
	}
	return NULL;
}

/* parse_url - s3://bucket/key[?param=value&...] (params[] each once), the
 * missing parameters from the environment. Return: 0 or -EINVAL (-ENOMEM);
 * u freed by url_free either way. */
static int parse_url(const char *url, struct s3_url *u)
{
	memset(u, 0, sizeof(*u));
	if (strncmp(url, "s3://", 5) != 0)
		return -EINVAL;
	const char *p = url + 5, *slash = strchr(p, '/');
	if (!slash || slash == p)
		return -EINVAL;
	const char *q = strchr(slash, '?');
	const char *end = q ? q : slash + strlen(slash);
	if (memchr(p, '?', (size_t)(slash - p)))
		return -EINVAL;
	int err;
	u->bucket = store_unescape(p, (size_t)(slash - p), &err);
	if (!err)
		u->key = store_unescape(slash + 1, (size_t)(end - slash - 1), &err);
	while (!err && q) {
		const char *v = q + 1, *next = strchr(v, '&'), *eq = strchr(v, '=');
		size_t len = next ? (size_t)(next - v) : strlen(v);
		size_t i = 0;
		err = -EINVAL;
		for (; eq && eq < v + len && i < NPARAMS; i++)
			if (strlen(params[i].param) == (size_t)(eq - v) &&
			    strncmp(v, params[i].param, (size_t)(eq - v)) == 0) {
				err = 0;
				break;
			}
		if (!err && u->val[i])
			err = -EINVAL; /* twice */
		if (!err)
			u->val[i] = store_unescape(eq + 1, len - (size_t)(eq + 1 - v), &err);
		q = next;
	}
	for (size_t i = 0; !err && i < NPARAMS; i++)
		if (!u->val[i] && from_env(i) && !(u->val[i] = strdup(from_env(i))))
			err = -ENOMEM;
	if (!err && (!u->val[0] || (!u->val[2] != !u->val[3])))
		err = -EINVAL; /* no endpoint; a key id without its secret */
	return err;
}

/*
 * s3_url_here - url as the daemon must open it for this process: each
 * parameter the URL does not give, from this process's environment, since
 * the daemon's is not the client's. The result holds the secret key: it
 * travels only in the client's 0600 bounce buffer, and is never shown.
 * Return: a new string, or NULL (ENOMEM).
 */
char *s3_url_here(const char *url)
{
	size_t n = strlen(url) + 1;
	const char *v[NPARAMS] = {0};
	for (size_t i = 0; i < NPARAMS; i++) {
		char pat[32];
		const char *q = strchr(url, '?');
		bool given = false;
		for (const char *a = q; a && !given; a = strchr(a + 1, '&')) {
			snprintf(pat, sizeof(pat), "%s=", params[i].param);
			given = strncmp(a + 1, pat, strlen(pat)) == 0;
		}
		v[i] = given ? NULL : from_env(i);
		if (v[i])
			n += strlen(params[i].param) + 2 + 3 * strlen(v[i]);
	}
	char *out = malloc(n);
	if (!out)
		return NULL;
	size_t k = (size_t)snprintf(out, n, "%s", url);
	bool has_q = strchr(url, '?') != NULL;
	for (size_t i = 0; i < NPARAMS; i++) {
		if (!v[i])
			continue;
		k += (size_t)snprintf(out + k, n - k, "%c%s=", has_q ? '&' : '?', params[i].param);
		has_q = true;
		for (const char *c = v[i]; *c; c++) {
			if (isalnum((unsigned char)*c) || strchr("/._-:", *c))
				out[k++] = *c;
			else
				k += (size_t)snprintf(out + k, n - k, "%%%02X", (unsigned char)*c);
		}
	}
	out[k] = '\0';
	return out;
}

/* escape_key - the key for the request's path: each '/'-separated part
 * escaped (RFC 3986 unreserved kept). Return: malloc'd, or NULL. */
static char *escape_key(const char *key)
{
	size_t n = strlen(key);
	char *out = malloc(3 * n + 1);
	if (!out)
		return NULL;
	size_t k = 0;
	for (const char *c = key; *c; c++) {
		if (isalnum((unsigned char)*c) || strchr("/-._~", *c))
			out[k++] = *c;
		else
			k += (size_t)sprintf(out + k, "%%%02X", (unsigned char)*c);
	}
	out[k] = '\0';
	return out;
}

/* setup - st's request URL and signing, from u. Return: 0 or -ENOMEM. */
static int setup(struct s3_store *st, const struct s3_url *u)
{
	char *key = escape_key(u->key), *bucket = escape_key(u->bucket);
	const char *ep = u->val[0];
	size_t eplen = strlen(ep);
	while (eplen && ep[eplen - 1] == '/')
		eplen--;
	size_t n = eplen + strlen(bucket ? bucket : "") + strlen(key ? key : "") + 3;
	st->object_url = key && bucket ? malloc(n) : NULL;
	if (st->object_url)
		snprintf(st->object_url, n, "%.*s/%s/%s", (int)eplen, ep, bucket, key);
	free(key);
	free(bucket);
	const char *region = u->val[1] ? u->val[1] : "us-east-1";
	if (asprintf(&st->sigv4, "aws:amz:%s:s3", region) < 0)
		st->sigv4 = NULL;
	if (u->val[2] && asprintf(&st->userpwd, "%s:%s", u->val[2], u->val[3]) < 0)
		st->userpwd = NULL;
	if (u->val[4] && asprintf(&st->token, "x-amz-security-token: %s", u->val[4]) < 0)
		st->token = NULL;
	bool ok = st->object_url && st->sigv4 && (!u->val[2] || st->userpwd) &&
		  (!u->val[4] || st->token);
	return ok ? 0 : -ENOMEM;
}

/* url_without_secrets - url with no key_id, secret or token parameter,
 * into out[size] (size > strlen(url) leaves nothing out): what the
 * stand-in's name may show, and a process with the keys in its environment
 * can open again. */
static void url_without_secrets(const char *url, char *out, size_t size)
{
	size_t pre = strcspn(url, "?"), k = 0;
	if (pre >= size)
		pre = size - 1;
	memcpy(out, url, pre);
	k = pre;
	for (const char *a = url[pre] ? url + pre + 1 : NULL; a; a = strchr(a, '&')) {
		a += *a == '&';
		size_t len = strcspn(a, "&");
		if (!strncmp(a, "key_id=", 7) || !strncmp(a, "secret=", 7) || !strncmp(a, "token=", 6))
			continue;
		if (k + 1 + len >= size)
			break;
		char sep = k == pre ? '?' : '&';
		out[k++] = sep;
		memcpy(out + k, a, len);
		k += len;
	}
	out[k] = '\0';
}

/* s3_store_open - the store of an s3 URL. flags: O_RDONLY, or O_RDWR (an
 * object up to S3_WRITE_MAX); no O_CREAT (EINVAL: an object is made by a
 * PUT of its own). Return: 0 or -errno. */
int s3_store_open(const char *url, int flags, struct fm_store **out)
{
	if (flags & (O_CREAT | O_EXCL))
		return -EINVAL;
	struct s3_url u;
	int err = parse_url(url, &u);
	if (err) {
		url_free(&u);
		return err;
	}
	pthread_once(&lib_once, lib_load);
	if (!lib_ok) {
		url_free(&u);
		return -EPROTONOSUPPORT; /* libcurl4 is not installed */
	}
	bool writable = (flags & O_ACCMODE) == O_RDWR;
	char name[512]; /* s3://bucket/key: never the keys */
	snprintf(name, sizeof(name), "s3://%s/%s", u.bucket, u.key);
	struct s3_store *st = calloc(1, sizeof(*st));
	err = st ? store_init(&st->s, &s3_ops, url, name, writable) : -ENOMEM;
	if (err) {
		free(st);
		url_free(&u);
		return err;
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->free_ctx, NULL);
	err = setup(st, &u);
	url_free(&u);
	struct s3_req head = {.method = S3_HEAD};
	if (!err) {
		run_reqs(st, &head, 1);
		err = head.ret;
	}
	if (!err && !head.etag[0])
		err = -EIO; /* no version to hold on to */
	if (!err) {
		memcpy(st->etag, head.etag, S3_ETAG_MAX);
		st->size = (uint64_t)head.length;
		if (writable && st->size > S3_WRITE_MAX)
			err = -EFBIG;
	}
	if (!err) {
		store_measure(&st->s);
		/* never longer than url: store_standin cuts it, if need be */
		char *again = malloc(strlen(url) + 1);
		err = again ? 0 : -ENOMEM;
		if (again) {
			url_without_secrets(url, again, strlen(url) + 1);
			err = store_standin(&st->s, again, writable);
			free(again);
		}
	}
	if (err) {
		s3_store_destroy(&st->s);
		return err;
	}
	*out = &st->s;
	return 0;
}
