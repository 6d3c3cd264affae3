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
 * instead of mixing two versions. A read of more
 * than S3_CHUNK is cut into pieces, all in flight at once on a curl multi
 * handle; each store keeps S3_CTXS multi handles (and their connections)
 * for the threads that read at once.
 *
 * S3 cannot write part of an object. Write-back of a batch to an object of
 * up to S3_MULTIPART_MIN is one whole-object PUT (the untouched bytes
 * fetched first with a GET, unless the runs cover the object), with
 * If-Match on the ETag the store last saw (its own last write-back's, else
 * open's): an object changed by another writer fails with ESTALE and is
 * not overwritten. A bigger object's is a multipart upload (put_multipart):
 * the S3_PART grid parts the runs touch (or that reach past the bytes
 * kept of a resized object: zeros) are uploaded, fetched and patched
 * like the whole object above, and the untouched ranges between them are
 * copied by the server from the version mapped (UploadPartCopy); a HEAD
 * checks that version is still there before the upload is completed, and
 * any failure aborts the upload. A failed write-back fails every run of
 * the batch: their pages stay dirty, and msync reports the error.
 *
 * Size: the object's at open, then resize's (ftruncate, a write past the
 * end), here: the bytes past the old end read zeros, a shrink's cut bytes
 * are no longer the object's (kept), and the next write-back PUTs the
 * whole object at its new size (sync PUTs it if no write-back did: a
 * resize with no dirty page), with If-Match as above; a failure keeps the
 * new size here and PUTs it again at the next. ftruncate (store_truncate)
 * PUTs the new size at once instead, and a refused PUT changes nothing
 * (s3_store_truncate). O_RDWR refuses objects over
 * S3's 5 TiB (EFBIG), and resize sizes past it. O_CREAT makes a missing
 * object: an empty PUT with If-None-Match: *, so that one another writer
 * made meanwhile is never replaced (O_EXCL: EEXIST). remove (faultmap run
 * --mount's unlink) is a DELETE of the object; a removed store reads and
 * sizes as an empty object, and its writes are dropped (store_remove).
 * Errors: HTTP 404 ENOENT, 401/403 EACCES, 412 ESTALE, 5xx and transport
 * errors (connection refused, timeouts) EIO. A bucket's listing under a
 * prefix (s3_store_list: faultmap run --mount's opendir) is
 * ListObjectsV2, page after page.
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
#include <time.h>
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
#define S3_MULTIPART_MIN (32ULL << 20) /* write-back of bigger objects: multipart */
#define S3_PART (8ULL << 20)		   /* multipart: the parts' grid, at least */
#define S3_PARTS_MAX 10000		   /* S3: parts of one upload, at most */
#define S3_PART_MAX (5ULL << 30)	   /* S3: a part's size, at most */
#define S3_OBJECT_MAX (5ULL << 40)	   /* S3: an object's size, at most */
#define S3_INFLIGHT 8			   /* multipart: parts in flight at once */
#define S3_INFLIGHT_BYTES (32ULL << 20)	   /* multipart: part bodies held at once */
#define S3_REPLY_MAX 4096		   /* a reply's XML kept (POST, copy) */
#define S3_LIST_MAX (64U << 20)		   /* a listing's page of XML, at most */
#define S3_EASY (S3_PIECES > S3_INFLIGHT ? S3_PIECES : S3_INFLIGHT)
#define S3_CONNECT_TIMEOUT 10L		   /* seconds */
#define S3_STALL_TIME 30L		   /* seconds below 1 byte/s: EIO */
#define S3_ETAG_MAX 128

/* A multi handle and its easy handles, for one thread's requests at once;
 * the connections stay in the multi handle's cache between uses. */
struct s3_ctx {
	CURLM *multi;
	CURL *easy[S3_EASY];
	bool busy; /* s3_store.lock */
};

struct s3_store {
	struct fm_store s;
	char *object_url; /* endpoint/bucket/key, escaped */
	char *userpwd;	  /* key_id:secret, or NULL: anonymous */
	char *sigv4;	  /* "aws:amz:REGION:s3" */
	char *token;	  /* "x-amz-security-token: ...", or NULL */
	/* for the requests signed here (sigv4.c): */
	char *host;	   /* the endpoint's host[:port] */
	char *url_path;	   /* object_url's path: /[prefix/]bucket/key */
	char *copy_source; /* "/bucket/key", escaped */
	char *region;
	char *keys;	   /* "key_id\0secret\0", or NULL: anonymous */
	_Atomic uint64_t size; /* the object's: at open, then resize's */
	pthread_mutex_t lock;
	pthread_cond_t free_ctx;
	char etag[S3_ETAG_MAX]; /* the version mapped (lock) */
	/* lock: the bytes of that version still the object's (its size at
	 * open or at the last write-back, less what a shrink cut); past
	 * them the object reads zeros. */
	uint64_t kept;
	bool resized; /* lock: resized since: the next write-back or sync PUTs */
	struct s3_ctx ctx[S3_CTXS];
};

static const struct fm_store_ops s3_ops;

static struct s3_store *s3_of(struct fm_store *s)
{
	return (struct s3_store *)s;
}

enum s3_method { S3_GET, S3_HEAD, S3_PUT, S3_POST, S3_DELETE };

/* One HTTP request: a read piece, a HEAD, a whole-object PUT, and the
 * multipart upload's (POST, PUT of a part or a copy, DELETE). */
struct s3_req {
	enum s3_method method;
	char *buf;	 /* GET: into; PUT, POST: from */
	size_t len;	 /* GET: room in buf (and the range); PUT, POST: body size */
	size_t done;	 /* bytes received (GET) or sent (PUT) */
	uint64_t off;	 /* GET: the range's start */
	bool ranged;	 /* GET: Range: bytes=off-(off+len-1) */
	const char *query; /* "?..." after the object's URL, or NULL */
	bool presigned;	   /* hdrs given, signed (sigv4.c): curl signs nothing */
	char *reply;	   /* S3_REPLY_MAX bytes for a 2xx's body (XML), or NULL */
	size_t reply_len;
	bool grow;	   /* reply: malloc'd (or NULL), grown up to S3_LIST_MAX */
	size_t reply_cap;
	char if_match[S3_ETAG_MAX]; /* "" for none */
	bool if_none_match; /* PUT: If-None-Match: * (only if there is none) */
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
	if (r->grow) { /* a listing's page */
		if (r->reply_len + n + 1 > r->reply_cap) {
			size_t cap = r->reply_cap ? 2 * r->reply_cap : 64 * 1024;
			while (cap < r->reply_len + n + 1)
				cap *= 2;
			char *p = cap <= S3_LIST_MAX ? realloc(r->reply, cap) : NULL;
			if (!p)
				return 0; /* curl fails the transfer: EIO */
			r->reply = p;
			r->reply_cap = cap;
		}
		memcpy(r->reply + r->reply_len, data, n);
		r->reply_len += n;
		r->reply[r->reply_len] = '\0';
		return n;
	}
	if (r->reply) {
		size_t room = S3_REPLY_MAX - 1 - r->reply_len;
		size_t take = n < room ? n : room;
		memcpy(r->reply + r->reply_len, data, take);
		r->reply_len += take;
		r->reply[r->reply_len] = '\0';
		return n;
	}
	size_t room = r->method == S3_GET ? r->len - r->done : 0;
	size_t take = n < room ? n : room;
	if (take)
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
		r->reply_len = 0;
		if (r->reply)
			r->reply[0] = '\0';
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
	if (!r->presigned)
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
	if (r->hdrs && r->if_none_match)
		r->hdrs = lib.curl_slist_append(r->hdrs, "If-None-Match: *");
	if (r->hdrs && st->token && !r->presigned)
		r->hdrs = lib.curl_slist_append(r->hdrs, st->token);
	if (r->hdrs && r->method == S3_POST)
		r->hdrs = lib.curl_slist_append(r->hdrs, "Content-Type: application/xml");
	if (!r->hdrs)
		return -ENOMEM;
	char *url = st->object_url;
	if (r->query && asprintf(&url, "%s%s", st->object_url, r->query) < 0)
		return -ENOMEM;
	lib.curl_easy_setopt(h, CURLOPT_URL, url); /* copied by curl */
	if (url != st->object_url)
		free(url);
	lib.curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	lib.curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, S3_CONNECT_TIMEOUT);
	lib.curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	lib.curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, S3_STALL_TIME);
	lib.curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->hdrs);
	lib.curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	lib.curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	lib.curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	lib.curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (st->userpwd && !r->presigned) {
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
	} else if (r->method == S3_POST) {
		lib.curl_easy_setopt(h, CURLOPT_POST, 1L);
		lib.curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
		lib.curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->buf ? r->buf : "");
	} else if (r->method == S3_DELETE) {
		lib.curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else if (r->ranged) {
		char range[64];
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)r->off,
			 (unsigned long long)(r->off + r->len - 1));
		lib.curl_easy_setopt(h, CURLOPT_RANGE, range); /* copied by curl */
	}
	r->status = 0;
	r->done = 0;
	r->reply_len = 0;
	if (r->reply)
		r->reply[0] = '\0';
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

/* run_reqs - send reqs[0..n) (n <= S3_EASY) to st, all in flight at
 * once on one context, and wait for all; each gets its ret (and its
 * presigned headers are freed, sent or not). */
static void run_reqs(struct s3_store *st, struct s3_req *reqs, size_t n)
{
	struct s3_ctx *c = ctx_take(st);
	for (size_t i = 0; i < n; i++)
		reqs[i].ret = -ENOMEM;
	size_t added = 0;
	if (!c)
		goto unsent;
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
unsent:
	for (size_t i = added; i < n; i++) {
		lib.curl_slist_free_all(reqs[i].hdrs);
		reqs[i].hdrs = NULL;
	}
}

/* etag_now - the ETag the store maps now, into out. */
static void etag_now(struct s3_store *st, char *out)
{
	pthread_mutex_lock(&st->lock);
	memcpy(out, st->etag, S3_ETAG_MAX);
	pthread_mutex_unlock(&st->lock);
}

/* version_now - the ETag the store maps now, into out, and how many of
 * that version's bytes are still the object's. */
static uint64_t version_now(struct s3_store *st, char *out)
{
	pthread_mutex_lock(&st->lock);
	memcpy(out, st->etag, S3_ETAG_MAX);
	uint64_t kept = st->kept;
	pthread_mutex_unlock(&st->lock);
	return kept;
}

/*
 * s3_read_at - read [off, off + len) of the version whose ETag is etag, of
 * which the first have bytes are wanted, into buf: ranged GETs of
 * S3_CHUNK, all in flight at once. Return: bytes (short only at have, or
 * at the end), or -errno.
 */
static ssize_t s3_read_at(struct s3_store *st, char *buf, size_t len, uint64_t off,
			  const char *etag, uint64_t have)
{
	struct s3_req reqs[S3_PIECES];
	size_t n = 0, at = 0;
	if (off >= have)
		return 0;
	if (len > have - off)
		len = have - off;
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

/* s3_store_read - [off, off + len) of the object: the mapped version's
 * bytes it kept, zeros past them (a resize's growth, not yet PUT). */
static ssize_t s3_store_read(struct fm_store *s, void *buf, size_t len, uint64_t off)
{
	struct s3_store *st = s3_of(s);
	if (s->removed) /* store_remove: an empty object */
		return 0;
	uint64_t size = st->size;
	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	char etag[S3_ETAG_MAX], later[S3_ETAG_MAX];
	uint64_t have = version_now(st, etag);
	size_t from = off >= have ? 0 : len < have - off ? len : (size_t)(have - off);
	ssize_t r = from ? s3_read_at(st, buf, from, off, etag, have) : 0;
	uint64_t have2 = version_now(st, later);
	if (r == -ESTALE && strcmp(etag, later) != 0) { /* our own PUT, meanwhile */
		from = off >= have2 ? 0 : len < have2 - off ? len : (size_t)(have2 - off);
		r = from ? s3_read_at(st, buf, from, off, later, have2) : 0;
	}
	if (r < 0 || (size_t)r < from)
		return r; /* an error, or shorter than the object: its end */
	memset((char *)buf + from, 0, len - from);
	return (ssize_t)len;
}

/* fetch - [off, off + len) of the object into buf, whole: the bytes
 * before have of the version etag, zeros from have on. Return: 0 or
 * -errno (ESTALE if the version is shorter: replaced). */
static int fetch(struct s3_store *st, char *buf, size_t len, uint64_t off, const char *etag,
		 uint64_t have)
{
	int err = 0;
	size_t from = off >= have ? 0 : len < have - off ? len : (size_t)(have - off);
	memset(buf + from, 0, len - from);
	for (size_t at = 0; at < from && !err;) {
		size_t piece = from - at > S3_PIECES * S3_CHUNK ? S3_PIECES * S3_CHUNK : from - at;
		ssize_t r = s3_read_at(st, buf + at, piece, off + at, etag, have);
		err = r < 0 ? (int)r : (size_t)r < piece ? -ESTALE : 0;
		at += piece;
	}
	return err;
}

/* put_done - a write-back of st made the object size bytes long, the
 * version etag (if the reply gave one: "" keeps the last). */
static void put_done(struct s3_store *st, const char *etag, uint64_t size)
{
	pthread_mutex_lock(&st->lock);
	if (etag[0])
		memcpy(st->etag, etag, S3_ETAG_MAX);
	st->kept = size;
	st->resized = false;
	pthread_mutex_unlock(&st->lock);
}

/* runs_into - copy the bytes of the runs of st (ios[first..n)) that fall
 * in [off, off + len) into buf (its start at off). Return: how many. */
static uint64_t runs_into(struct s3_store *st, const struct fm_store_io *ios, size_t first,
			  size_t n, char *buf, uint64_t off, uint64_t len)
{
	uint64_t copied = 0, end = off + len;
	for (size_t i = first; i < n; i++) {
		const struct fm_store_io *io = &ios[i];
		if (io->store != &st->s || io->off >= end || io->off + io->len <= off)
			continue;
		uint64_t a = io->off > off ? io->off : off;
		uint64_t b = io->off + io->len < end ? io->off + io->len : end;
		if (b > st->size)
			b = st->size;
		if (b <= a)
			continue;
		if (buf)
			memcpy(buf + (a - off), (const char *)io->buf + (a - io->off), b - a);
		copied += b - a; /* runs do not overlap */
	}
	return copied;
}

/* put_object - st's object, at its size now, as the batch's runs of st
 * (ios[first..n)) make it: the rest fetched (unless the runs cover it;
 * zeros past the bytes kept), then one PUT with If-Match on the ETag the
 * store maps. Return: 0 or -errno. */
static int put_object(struct s3_store *st, struct fm_store_io *ios, size_t first, size_t n)
{
	uint64_t size = st->size;
	char *obj = malloc(size ? size : 1);
	if (!obj)
		return -ENOMEM;
	char etag[S3_ETAG_MAX];
	uint64_t have = version_now(st, etag);
	int err = 0;
	if (runs_into(st, ios, first, n, NULL, 0, size) < size)
		err = fetch(st, obj, size, 0, etag, have);
	if (!err)
		runs_into(st, ios, first, n, obj, 0, size);
	if (!err) {
		struct s3_req put = {.method = S3_PUT, .buf = obj, .len = size};
		memcpy(put.if_match, etag, S3_ETAG_MAX);
		run_reqs(st, &put, 1);
		err = put.ret;
		if (!err)
			put_done(st, put.etag, size);
	}
	free(obj);
	return err;
}

/* ---- multipart write-back ------------------------------------------------ */

/* xml_text - the text of xml's first <tag> element into out (size bytes),
 * &quot; as '"'. Return: whether there was one, and it fit. */
static bool xml_text(const char *xml, const char *tag, char *out, size_t size)
{
	char open[48], close[48];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	const char *a = xml ? strstr(xml, open) : NULL;
	const char *b = a ? strstr(a, close) : NULL;
	if (!b)
		return false;
	size_t k = 0;
	for (a += strlen(open); a < b && k + 1 < size; k++) {
		bool quot = strncmp(a, "&quot;", 6) == 0;
		out[k] = quot ? '"' : *a;
		a += quot ? 6 : 1;
	}
	out[k] = '\0';
	return a == b;
}

/* reply_err - the errno of a 2xx reply that says <Error> (S3 may answer a
 * copy or a completion so, once it has begun to answer), else 0. */
static int reply_err(const char *xml)
{
	char code[64];
	if (!xml || !strstr(xml, "<Error>"))
		return 0;
	if (!xml_text(xml, "Code", code, sizeof(code)))
		return -EIO;
	if (!strcmp(code, "PreconditionFailed"))
		return -ESTALE;
	if (!strcmp(code, "AccessDenied"))
		return -EACCES;
	if (!strcmp(code, "NoSuchKey") || !strcmp(code, "NoSuchUpload"))
		return -ENOENT;
	return -EIO;
}

/* quoted - an ETag as S3 shows it in headers: in quotes. */
static void quoted(const char *etag, char out[S3_ETAG_MAX])
{
	size_t n = strlen(etag);
	if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"')
		snprintf(out, S3_ETAG_MAX, "%s", etag);
	else
		snprintf(out, S3_ETAG_MAX, "\"%.*s\"", S3_ETAG_MAX - 3, etag);
}

/* One part of a multipart write-back: uploaded (dirty: it holds bytes of
 * the runs, sent whole) or copied server-side from the mapped version. */
struct s3_part {
	uint64_t off, len;
	bool dirty;
	uint64_t covered;	/* dirty: the runs' bytes in it */
	char etag[S3_ETAG_MAX]; /* out: the part's, quoted */
};

/* part_size - the grid of a multipart write-back of an object of size
 * bytes: S3_PART, or more (whole MiB) if that takes over S3_PARTS_MAX. */
static uint64_t part_size(uint64_t size)
{
	uint64_t need = (size + S3_PARTS_MAX - 1) / S3_PARTS_MAX, mib = 1ULL << 20;
	return need > S3_PART ? (need + mib - 1) / mib * mib : S3_PART;
}

/*
 * plan_parts - the parts of a write-back of the runs of st (ios[first..n)):
 * each grid part a run touches is uploaded; the others, run by run,
 * copied in parts of up to S3_PART_MAX (every part but the last is a whole
 * number of grid parts, so at least S3_PART: S3's minimum is 5 MiB).
 * Return: the parts (malloc'd, *np set), or NULL (ENOMEM).
 */
static struct s3_part *plan_parts(struct s3_store *st, const struct fm_store_io *ios,
				  size_t first, size_t n, uint64_t size, uint64_t have, size_t *np)
{
	uint64_t psize = part_size(size), grid = (size + psize - 1) / psize;
	uint64_t copy_max = S3_PART_MAX / psize * psize;
	struct s3_part *parts = calloc(grid ? grid : 1, sizeof(*parts));
	if (!parts)
		return NULL;
	size_t k = 0;
	for (uint64_t g = 0; g < grid; g++) {
		uint64_t off = g * psize, len = size - off < psize ? size - off : psize;
		uint64_t covered = runs_into(st, ios, first, n, NULL, off, len);
		bool dirty = covered > 0 || off + len > have; /* zeros: uploaded */
		struct s3_part *last = k ? &parts[k - 1] : NULL;
		if (!dirty && last && !last->dirty && last->len + len <= copy_max) {
			last->len += len; /* the copy goes on */
			continue;
		}
		parts[k++] = (struct s3_part){.off = off, .len = len, .dirty = dirty,
					      .covered = covered};
	}
	*np = k;
	return parts;
}

/*
 * copy_req - r as an UploadPartCopy of part (number num) of upload id from
 * the version etag: headers signed here (sigv4.c), x-amz-copy-source-range
 * its bytes, x-amz-copy-source-if-match the version: another version there
 * fails it (412, ESTALE). query is r's, kept by the caller. Return: 0 or
 * -ENOMEM.
 */
static int copy_req(struct s3_store *st, struct s3_req *r, const struct s3_part *part,
		    const char *query, const char *etag)
{
	char h[8][S3_ETAG_MAX + 512], date[32], auth[1024];
	const char *canon[8];
	size_t n = 0;
	time_t now = time(NULL);
	struct tm tm;
	strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
	snprintf(h[n++], sizeof(h[0]), "host:%s", st->host);
	snprintf(h[n++], sizeof(h[0]), "x-amz-content-sha256:UNSIGNED-PAYLOAD");
	snprintf(h[n++], sizeof(h[0]), "x-amz-copy-source:%s", st->copy_source);
	snprintf(h[n++], sizeof(h[0]), "x-amz-copy-source-if-match:%s", etag);
	snprintf(h[n++], sizeof(h[0]), "x-amz-copy-source-range:bytes=%llu-%llu",
		 (unsigned long long)part->off, (unsigned long long)(part->off + part->len - 1));
	snprintf(h[n++], sizeof(h[0]), "x-amz-date:%s", date);
	if (st->token) /* "x-amz-security-token: VALUE" */
		snprintf(h[n++], sizeof(h[0]), "x-amz-security-token:%s",
			 st->token + strlen("x-amz-security-token: "));
	*r = (struct s3_req){.method = S3_PUT, .query = query, .presigned = true};
	for (size_t i = 0; i < n; i++) {
		char line[sizeof(h[0]) + 1];
		const char *colon = strchr(h[i], ':');
		snprintf(line, sizeof(line), "%.*s: %s", (int)(colon - h[i]), h[i], colon + 1);
		canon[i] = h[i];
		r->hdrs = lib.curl_slist_append(r->hdrs, line);
		if (!r->hdrs)
			return -ENOMEM;
	}
	if (st->keys) {
		const char *secret = st->keys + strlen(st->keys) + 1;
		int err = sigv4_sign("PUT", st->url_path, query + 1, canon, n, st->keys, secret,
				     st->region, date, auth, sizeof(auth));
		struct curl_slist *l = err ? NULL : lib.curl_slist_append(r->hdrs, auth);
		explicit_bzero(auth, sizeof(auth));
		if (!l)
			return -ENOMEM;
		r->hdrs = l;
	}
	return 0;
}

/*
 * send_parts - parts[0..n) (numbers first + 1...) of upload id, in flight
 * at once: a dirty part's body is its bytes of the version etag (fetched,
 * unless the runs cover it) with the runs copied in. Each part gets its
 * ETag. Return: 0 or the first -errno.
 */
static int send_parts(struct s3_store *st, struct s3_part *parts, size_t n, size_t first_num,
		      const char *id, const char *etag, uint64_t have,
		      const struct fm_store_io *ios, size_t first, size_t nio)
{
	struct s3_req reqs[S3_INFLIGHT];
	char query[S3_INFLIGHT][320], *reply = calloc(n, S3_REPLY_MAX);
	char *body[S3_INFLIGHT] = {0};
	size_t k = 0;
	int err = reply ? 0 : -ENOMEM;
	for (; k < n && !err; k++) {
		struct s3_part *p = &parts[k];
		snprintf(query[k], sizeof(query[k]), "?partNumber=%zu&uploadId=%s",
			 first_num + k + 1, id);
		if (!p->dirty) {
			err = copy_req(st, &reqs[k], p, query[k], etag);
			reqs[k].reply = reply + k * S3_REPLY_MAX;
			continue;
		}
		reqs[k] = (struct s3_req){.method = S3_PUT, .query = query[k], .len = p->len};
		if (!(body[k] = reqs[k].buf = malloc(p->len)))
			err = -ENOMEM;
		if (!err && p->covered < p->len)
			err = fetch(st, body[k], p->len, p->off, etag, have);
		if (!err)
			runs_into(st, ios, first, nio, body[k], p->off, p->len);
	}
	if (!err) {
		run_reqs(st, reqs, n);
	} else {
		for (size_t i = 0; i < k; i++) /* none sent: their headers */
			lib.curl_slist_free_all(reqs[i].hdrs);
	}
	for (size_t i = 0; i < n && !err; i++) {
		char tag[S3_ETAG_MAX];
		err = reqs[i].ret ? reqs[i].ret : reply_err(reqs[i].reply);
		if (!err && !parts[i].dirty && !xml_text(reqs[i].reply, "ETag", tag, sizeof(tag)))
			err = -EIO;
		if (!err && parts[i].dirty && !reqs[i].etag[0])
			err = -EIO;
		if (!err)
			quoted(parts[i].dirty ? reqs[i].etag : tag, parts[i].etag);
	}
	for (size_t i = 0; i < n; i++)
		free(body[i]);
	free(reply);
	return err;
}

/*
 * multipart_etag - the ETag of the object parts[0..n) make, as S3 and
 * radosgw name it: the MD5 of the parts' MD5s (their ETags) and "-n",
 * into out. radosgw 16.2 answers CompleteMultipartUpload with an empty
 * <ETag>. Return: 0, or -EIO if a part's ETag is no MD5.
 */
static int multipart_etag(const struct s3_part *parts, size_t n, char *out)
{
	unsigned char *md5s = malloc(16 * n + 1), digest[16];
	if (!md5s)
		return -ENOMEM;
	int err = 0;
	for (size_t i = 0; i < n && !err; i++) {
		const char *hexd = parts[i].etag + 1; /* quoted */
		for (size_t j = 0; j < 16 && !err; j++) {
			unsigned v;
			if (!isxdigit((unsigned char)hexd[2 * j]) ||
			    !isxdigit((unsigned char)hexd[2 * j + 1]) ||
			    sscanf(hexd + 2 * j, "%2x", &v) != 1)
				err = -EIO;
			else
				md5s[16 * i + j] = (unsigned char)v;
		}
		if (!err && strcmp(hexd + 32, "\"") != 0)
			err = -EIO;
	}
	if (!err) {
		md5(md5s, 16 * n, digest);
		int k = 0;
		for (int j = 0; j < 16; j++)
			k += sprintf(out + k, "%02x", digest[j]);
		sprintf(out + k, "-%zu", n);
	}
	free(md5s);
	return err;
}

/*
 * complete - CompleteMultipartUpload of upload id with parts[0..n), with
 * If-Match on the version etag (S3 refuses the completion if the object
 * is another version now; radosgw 16.2 ignores it). On success the store
 * maps the new object's ETag. Return: 0 or -errno.
 */
static int complete(struct s3_store *st, const struct s3_part *parts, size_t n, const char *id,
		    const char *etag)
{
	size_t size = 64 + n * (64 + S3_ETAG_MAX), k = 0;
	char *xml = malloc(size), *reply = malloc(S3_REPLY_MAX), query[320];
	int err = xml && reply ? 0 : -ENOMEM;
	if (!err) {
		k += (size_t)snprintf(xml, size, "<CompleteMultipartUpload>");
		for (size_t i = 0; i < n; i++)
			k += (size_t)snprintf(xml + k, size - k,
					      "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>",
					      i + 1, parts[i].etag);
		k += (size_t)snprintf(xml + k, size - k, "</CompleteMultipartUpload>");
		snprintf(query, sizeof(query), "?uploadId=%s", id);
		struct s3_req r = {.method = S3_POST, .query = query, .buf = xml, .len = k,
				   .reply = reply};
		memcpy(r.if_match, etag, S3_ETAG_MAX);
		run_reqs(st, &r, 1);
		char tag[S3_ETAG_MAX];
		err = r.ret ? r.ret : reply_err(reply);
		if (!err && (!xml_text(reply, "ETag", tag, sizeof(tag)) || !tag[0]))
			err = multipart_etag(parts, n, tag);
		if (!err) {
			char q[S3_ETAG_MAX];
			quoted(tag, q);
			put_done(st, q, parts[n - 1].off + parts[n - 1].len);
		}
	}
	free(xml);
	free(reply);
	return err;
}

/*
 * put_multipart - st's object as the batch's runs of st (ios[first..n))
 * make it, as a multipart upload: the grid parts the runs touch uploaded
 * (fetched and patched), the rest copied server-side from the version
 * mapped (UploadPartCopy with x-amz-copy-source-if-match), S3_INFLIGHT
 * parts in flight at once; then a HEAD checks that the object still is
 * that version (radosgw 16.2 ignores x-amz-copy-source-if-match: a copy
 * from another version would mix them), and the upload is completed. On
 * any failure the upload is aborted: the object stays as it was. Return: 0
 * or -errno.
 */
static int put_multipart(struct s3_store *st, struct fm_store_io *ios, size_t first, size_t n)
{
	char etag[S3_ETAG_MAX], id[256], reply[S3_REPLY_MAX];
	uint64_t have = version_now(st, etag), size = st->size;
	size_t np;
	struct s3_part *parts = plan_parts(st, ios, first, n, size, have, &np);
	if (!parts)
		return -ENOMEM;
	struct s3_req r = {.method = S3_POST, .query = "?uploads=", .reply = reply};
	run_reqs(st, &r, 1); /* "uploads=": curl 7.88 signs the query as sent */
	int err = r.ret ? r.ret : reply_err(reply);
	if (!err && !xml_text(reply, "UploadId", id, sizeof(id)))
		err = -EIO;
	if (err) {
		free(parts);
		return err;
	}
	for (const char *c = id; *c && !err; c++) /* sent as is, in the query */
		if (!isalnum((unsigned char)*c) && !strchr("-._~", *c))
			err = -EIO;
	for (size_t i = 0; i < np && !err;) {
		size_t j = i;
		uint64_t held = 0;
		while (j < np && j - i < S3_INFLIGHT &&
		       (!parts[j].dirty || j == i || held + parts[j].len <= S3_INFLIGHT_BYTES))
			held += parts[j].dirty ? parts[j++].len : (j++, 0);
		err = send_parts(st, parts + i, j - i, i, id, etag, have, ios, first, n);
		i = j;
	}
	if (!err) { /* radosgw 16.2 copies whatever version is there: see */
		struct s3_req head = {.method = S3_HEAD};
		run_reqs(st, &head, 1);
		err = head.ret ? head.ret : strcmp(head.etag, etag) ? -ESTALE : 0;
	}
	if (!err)
		err = complete(st, parts, np, id, etag);
	if (err) {
		char query[320];
		snprintf(query, sizeof(query), "?uploadId=%s", id);
		struct s3_req abort_req = {.method = S3_DELETE, .query = query};
		run_reqs(st, &abort_req, 1);
		if (abort_req.ret && abort_req.ret != -ENOENT)
			fprintf(stderr,
				"faultmap: %s: multipart upload %s not aborted (%s): it "
				"stays open until aborted\n",
				st->s.name, id, strerror(-abort_req.ret));
	}
	free(parts);
	return err;
}

/* write_back - st's object at its size now, as the runs of st
 * (ios[first..n)) make it: one whole-object PUT, or a multipart upload
 * for an object over S3_MULTIPART_MIN. Return: 0 or -errno. */
static int write_back(struct s3_store *st, struct fm_store_io *ios, size_t first, size_t n)
{
	return st->size > S3_MULTIPART_MIN ? put_multipart(st, ios, first, n)
					   : put_object(st, ios, first, n);
}

/* s3_store_write - each S3 store's runs of the batch: one write_back per
 * store; a failure fails all its runs (their pages stay dirty). */
static void s3_store_write(struct fm_store_io *ios, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct fm_store_io *io = &ios[i];
		if (io->store->ops != &s3_ops || io->err || io->done == io->len)
			continue;
		struct s3_store *st = s3_of(io->store);
		int err = write_back(st, ios, i, n);
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
	return s->removed ? 0 : (int64_t)s3_of(s)->size;
}

/* s3_store_resize - the object's size, here: the cache's pages past the
 * old end read zeros, a shrink's cut bytes are no longer the object's,
 * and the next write-back (or sync) PUTs the object at its new size.
 * Context: engine.lock held, no read of the store in flight. */
static int s3_store_resize(struct fm_store *s, uint64_t size)
{
	struct s3_store *st = s3_of(s);
	if (size > S3_OBJECT_MAX)
		return -EFBIG;
	pthread_mutex_lock(&st->lock);
	if (size != st->size) {
		if (size < st->kept)
			st->kept = size;
		st->size = size;
		st->resized = true;
	}
	pthread_mutex_unlock(&st->lock);
	return 0;
}

/* s3_store_truncate - ftruncate's resize: the object PUT at its new size
 * now (the kept bytes fetched, zeros after), or, if S3 refuses the PUT,
 * nothing changed: a failed ftruncate leaves a file as it was. The
 * cache's dirty pages are not in this PUT: store_truncate's sync PUTs them
 * next (a dirty page past a new, shorter end is dropped with the cache's
 * pages past it). Context: engine.lock held, no read of the store in
 * flight. */
static int s3_store_truncate(struct fm_store *s, uint64_t size)
{
	struct s3_store *st = s3_of(s);
	if (size > S3_OBJECT_MAX)
		return -EFBIG;
	pthread_mutex_lock(&st->lock);
	uint64_t old_size = st->size, old_kept = st->kept;
	bool old_resized = st->resized;
	pthread_mutex_unlock(&st->lock);
	int err = s3_store_resize(s, size);
	if (err || s->removed || (size == old_size && !old_resized))
		return err;
	err = write_back(st, NULL, 0, 0);
	if (err) { /* engine.lock: nobody resized it meanwhile */
		pthread_mutex_lock(&st->lock);
		st->size = old_size;
		st->kept = old_kept;
		st->resized = old_resized;
		pthread_mutex_unlock(&st->lock);
	}
	return err;
}

/* s3_store_sync - a PUT is durable once answered: nothing in flight; a
 * resize no write-back PUT yet is PUT now (the object at its new size).
 * Context: engine.lock held. */
static int s3_store_sync(struct fm_store *s)
{
	struct s3_store *st = s3_of(s);
	pthread_mutex_lock(&st->lock);
	bool resized = st->resized && !s->removed;
	pthread_mutex_unlock(&st->lock);
	return resized ? write_back(st, NULL, 0, 0) : 0;
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

/* s3_store_version - the ETag the store maps (version op). */
static void s3_store_version(struct fm_store *s, char *out, size_t size)
{
	char etag[S3_ETAG_MAX];
	etag_now(s3_of(s), etag);
	snprintf(out, size, "%s", etag);
}

/* s3_store_remove - DELETE of the object (store_remove). S3 answers a
 * DELETE of a missing key with success too. */
static int s3_store_remove(struct fm_store *s)
{
	struct s3_req del = {.method = S3_DELETE};
	run_reqs(s3_of(s), &del, 1);
	return del.ret;
}

static void s3_store_destroy(struct fm_store *s)
{
	struct s3_store *st = s3_of(s);
	for (size_t i = 0; i < S3_CTXS; i++) {
		for (size_t j = 0; j < S3_EASY; j++)
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
	free(st->host);
	free(st->url_path);
	free(st->copy_source);
	free(st->region);
	if (st->keys) /* a secret too */
		explicit_bzero(st->keys, strlen(st->keys) + strlen(st->keys + strlen(st->keys) + 1) + 1);
	free(st->keys);
	store_fini(s);
	free(st);
}

static const struct fm_store_ops s3_ops = {
	.scheme = "s3",
	.read = s3_store_read,
	.write = s3_store_write,
	.size = s3_store_size,
	.resize = s3_store_resize,
	.truncate = s3_store_truncate,
	.sync = s3_store_sync,
	.current = s3_store_current,
	.version = s3_store_version,
	.remove = s3_store_remove,
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

/* parse_url - s3://bucket/key[?param=value&...] (params[] each once), or
 * with container a bucket's s3://bucket[/prefix/][?...] (u->key: the
 * prefix, maybe ""); the missing parameters from the environment.
 * Return: 0 or -EINVAL (-ENOMEM); u freed by url_free either way. */
static int parse_url(const char *url, struct s3_url *u, bool container)
{
	memset(u, 0, sizeof(*u));
	if (strncmp(url, "s3://", 5) != 0)
		return -EINVAL;
	const char *p = url + 5, *q = strchr(p, '?');
	const char *end = q ? q : p + strlen(p);
	const char *slash = memchr(p, '/', (size_t)(end - p));
	if ((!slash && !container) || slash == p || end == p)
		return -EINVAL;
	size_t n = slash ? (size_t)(end - slash - 1) : 0; /* the key's, or the prefix */
	if (!slash)
		slash = end;
	if (container && n && slash[n] != '/')
		return -EINVAL; /* a prefix ends in '/' */
	int err;
	u->bucket = store_unescape(p, (size_t)(slash - p), &err);
	if (!err && container && !n && !(u->key = strdup("")))
		err = -ENOMEM;
	else if (!err && !u->key)
		u->key = store_unescape(slash + 1, n, &err);
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
	if (key && bucket && asprintf(&st->copy_source, "/%s/%s", bucket, key) < 0)
		st->copy_source = NULL;
	free(key);
	free(bucket);
	/* host[:port] and the path, for the requests signed here */
	const char *host = strstr(ep, "://");
	host = host && host < ep + eplen ? host + 3 : ep;
	const char *path = memchr(host, '/', eplen - (size_t)(host - ep));
	size_t hostlen = path ? (size_t)(path - host) : eplen - (size_t)(host - ep);
	st->host = strndup(host, hostlen);
	if (st->object_url)
		st->url_path = strdup(st->object_url + (size_t)(host - ep) + hostlen);
	const char *region = u->val[1] ? u->val[1] : "us-east-1";
	st->region = strdup(region);
	if (u->val[2]) { /* "key_id\0secret\0" */
		size_t a = strlen(u->val[2]) + 1, b = strlen(u->val[3]) + 1;
		if ((st->keys = malloc(a + b))) {
			memcpy(st->keys, u->val[2], a);
			memcpy(st->keys + a, u->val[3], b);
		}
	}
	if (asprintf(&st->sigv4, "aws:amz:%s:s3", region) < 0)
		st->sigv4 = NULL;
	if (u->val[2] && asprintf(&st->userpwd, "%s:%s", u->val[2], u->val[3]) < 0)
		st->userpwd = NULL;
	if (u->val[4] && asprintf(&st->token, "x-amz-security-token: %s", u->val[4]) < 0)
		st->token = NULL;
	bool ok = st->object_url && st->sigv4 && (!u->val[2] || st->userpwd) &&
		  (!u->val[4] || st->token) && st->copy_source && st->host && st->url_path &&
		  st->region && (!u->val[2] || st->keys);
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

/*
 * create - make st's missing object: an empty PUT with If-None-Match: *,
 * so that an object another writer made meanwhile is never replaced (412:
 * EEXIST if excl, else that object is the one opened). Fills head as a
 * HEAD of the object would. Return: 0 or -errno.
 */
static int create(struct s3_store *st, bool excl, struct s3_req *head)
{
	struct s3_req put = {.method = S3_PUT, .buf = "", .len = 0, .if_none_match = true};
	run_reqs(st, &put, 1);
	if (put.ret == -ESTALE) { /* 412: there is one now */
		if (excl)
			return -EEXIST;
		*head = (struct s3_req){.method = S3_HEAD};
		run_reqs(st, head, 1);
		return head->ret;
	}
	if (put.ret)
		return put.ret;
	memcpy(head->etag, put.etag, S3_ETAG_MAX);
	head->length = 0;
	return 0;
}

/* s3_store_open - the store of an s3 URL. flags: O_RDONLY, or O_RDWR (an
 * object up to S3_OBJECT_MAX); O_CREAT makes a missing object (empty),
 * O_EXCL with it fails with EEXIST if there is one. Return: 0 or -errno. */
int s3_store_open(const char *url, int flags, struct fm_store **out)
{
	struct s3_url u;
	int err = parse_url(url, &u, false);
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
	if (!err && (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
		err = -EEXIST;
	else if (err == -ENOENT && (flags & O_CREAT))
		err = create(st, flags & O_EXCL, &head);
	if (!err && !head.etag[0])
		err = -EIO; /* no version to hold on to */
	if (!err) {
		memcpy(st->etag, head.etag, S3_ETAG_MAX);
		st->size = st->kept = (uint64_t)head.length;
		if (writable && st->size > S3_OBJECT_MAX)
			err = -EFBIG; /* more than S3 can store */
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

/* ---- listing a bucket ----------------------------------------------------- */

/* utf8 - code point c as UTF-8 into out (4 bytes). Return: its length, 0
 * for no character (0, a surrogate, past U+10FFFF). */
static size_t utf8(unsigned long c, char *out)
{
	if (c == 0 || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* xml_decode - the text [a, b) of an XML element, its entities decoded
 * (&amp; &lt; &gt; &quot; &apos; and &#N; &#xN;), into a malloc'd string.
 * Return: it, or NULL (ENOMEM, or a bad entity: *err). */
static char *xml_decode(const char *a, const char *b, int *err)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
	char *out = malloc((size_t)(b - a) + 1);
	size_t k = 0;
	*err = out ? 0 : -ENOMEM;
	while (!*err && a < b) {
		if (*a != '&') {
			out[k++] = *a++;
			continue;
		}
		const char *semi = memchr(a, ';', (size_t)(b - a));
		size_t i = 0, len = semi ? (size_t)(semi - a) : 0;
		while (i < 5 && !(len == strlen(named[i].name) &&
				  !strncmp(a + 1, named[i].name, strlen(named[i].name))))
			i++;
		if (semi && i < 5) {
			out[k++] = named[i].c;
		} else if (semi && len >= 3 && a[1] == '#') {
			bool hexd = a[2] == 'x' || a[2] == 'X';
			char *stop;
			unsigned long c = strtoul(a + 2 + hexd, &stop, hexd ? 16 : 10);
			size_t n = stop == semi && isxdigit((unsigned char)a[2 + hexd]) ? utf8(c, out + k)
										: 0;
			if (!n)
				*err = -EIO;
			k += n;
		} else {
			*err = -EIO; /* no XML a server sends */
		}
		a = semi ? semi + 1 : b;
	}
	if (*err) {
		free(out);
		return NULL;
	}
	out[k] = '\0';
	return out;
}

/* query_escape - s URI-encoded as SigV4 wants a query value (RFC 3986
 * unreserved characters kept, the rest %XX), appended to out[size] at *k.
 * Return: 0 or -ENOMEM (no room). */
static int query_escape(const char *s, char *out, size_t size, size_t *k)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		bool plain = isalnum(*c) || strchr("-._~", *c);
		if (*k + 4 > size)
			return -ENOMEM;
		if (plain)
			out[(*k)++] = (char)*c;
		else
			*k += (size_t)snprintf(out + *k, size - *k, "%%%02X", *c);
	}
	out[*k] = '\0';
	return 0;
}

/* list_page - the keys of one ListObjectsV2 page of xml into out (the
 * prefix taken off: store_names_add), and its CommonPrefixes (each
 * "<Prefix>": the request's own, the prefix itself, names nothing);
 * *token: the next page's continuation token (malloc'd), or NULL at the
 * last page. Return: 0 or -errno. */
static int list_page(const char *xml, const char *prefix, struct store_names *out, char **token)
{
	*token = NULL;
	int err = 0;
	static const char *const tags[][2] = {{"<Key>", "</Key>"}, {"<Prefix>", "</Prefix>"}};
	for (size_t t = 0; t < 2; t++)
		for (const char *a = strstr(xml, tags[t][0]); !err && a; a = strstr(a, tags[t][0])) {
			a += strlen(tags[t][0]);
			const char *b = strstr(a, tags[t][1]);
			char *key = b ? xml_decode(a, b, &err) : NULL;
			if (!b)
				err = -EIO;
			if (key)
				err = store_names_add(out, key, prefix);
			free(key);
			a = b;
		}
	char more[8];
	if (!err && xml_text(xml, "IsTruncated", more, sizeof(more)) && !strcmp(more, "true")) {
		const char *a = strstr(xml, "<NextContinuationToken>");
		const char *b = a ? strstr(a, "</NextContinuationToken>") : NULL;
		if (!b)
			return -EIO; /* more, and no way to ask for it */
		*token = xml_decode(a + strlen("<NextContinuationToken>"), b, &err);
		if (*token && !**token) {
			free(*token);
			*token = NULL;
			err = -EIO;
		}
	}
	return err;
}

/*
 * s3_store_list - the keys of the bucket of url, s3://bucket[/prefix/]
 * [?params] (store_list): ListObjectsV2 (GET /bucket?list-type=2) with
 * the prefix and delimiter '/' (the server gives the deeper keys as
 * <CommonPrefixes>, listed as directories: "a/"), page after page (IsTruncated,
 * NextContinuationToken); signed as every request (CURLOPT_AWS_SIGV4: the
 * query's parameters sorted and escaped here, as SigV4's canonical query
 * wants them). Return: 0 or -errno (ENOENT: no such bucket; EACCES: 403).
 */
int s3_store_list(const char *url, struct store_names *out)
{
	struct s3_url u;
	int err = parse_url(url, &u, true);
	if (!err) {
		pthread_once(&lib_once, lib_load);
		if (!lib_ok)
			err = -EPROTONOSUPPORT;
	}
	struct s3_store *st = err ? NULL : calloc(1, sizeof(*st));
	if (!err && (!st || store_init(&st->s, &s3_ops, NULL, NULL, false))) {
		free(st);
		st = NULL;
		err = -ENOMEM;
	}
	char *prefix = NULL;
	if (st) {
		pthread_mutex_init(&st->lock, NULL);
		pthread_cond_init(&st->free_ctx, NULL);
		prefix = u.key;
		u.key = strdup(""); /* the bucket's URL: endpoint/bucket/ */
		err = u.key && prefix ? setup(st, &u) : -ENOMEM;
		if (!err) /* without the '/': GET /bucket?list-type=2 */
			st->object_url[strlen(st->object_url) - 1] = '\0';
	}
	url_free(&u);
	char *token = NULL, *query = NULL;
	size_t size = 0;
	while (!err) {
		size_t need = 96 + 3 * (strlen(prefix) + (token ? strlen(token) : 0));
		if (need > size) {
			free(query);
			size = need;
			if (!(query = malloc(size))) {
				err = -ENOMEM;
				break;
			}
		}
		size_t k = 0;
		query[0] = '\0';
		if (token) { /* the parameters in SigV4's order: by name */
			k += (size_t)snprintf(query, size, "?continuation-token=");
			err = query_escape(token, query, size, &k);
		}
		k += (size_t)snprintf(query + k, size - k, "%cdelimiter=%%2F&list-type=2&prefix=",
				      token ? '&' : '?');
		if (!err)
			err = query_escape(prefix, query, size, &k);
		struct s3_req r = {.method = S3_GET, .query = query, .grow = true};
		if (!err) {
			run_reqs(st, &r, 1);
			err = r.ret ? r.ret : !r.reply ? -EIO : reply_err(r.reply);
		}
		free(token);
		token = NULL;
		if (!err)
			err = list_page(r.reply, prefix, out, &token);
		free(r.reply);
		if (!token)
			break;
	}
	free(token);
	free(query);
	free(prefix);
	if (st)
		s3_store_destroy(&st->s);
	return err;
}
