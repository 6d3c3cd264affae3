/*
 * store.h - backing stores: where a cache's pages come from and go to.
 *
 * The seed's address_space has its operations (readpage, readahead,
 * writepage; a VMA's nopage before them), and a file system, a block device
 * or NFS plugs in below them. faultmap's are struct fm_store_ops: an
 * address_space reads its misses and writes its dirty pages through its
 * store, and does not care what is below. Today's stores:
 *
 *   file.c   a local file: O_DIRECT, io_uring for write-back batches (and,
 *            through store_ring_fd, for the fault thread's misses), pread
 *            and pwrite where those cannot be used (file://, and every file
 *            fm_mmap maps).
 *   nbd.c    an NBD export (libnbd): nbd+unix:///?socket=PATH,
 *            nbd://host[:port]/export. Several connections when the server
 *            allows multi-conn; write-back batches in flight at once on one.
 *   rados.c  an object of a Ceph RADOS pool (librados): rados://pool/object.
 *            Reads cut into pieces in flight together, write-back runs
 *            in flight at once (rados_aio_*).
 *   s3.c     an object of an S3 bucket (libcurl, SigV4): s3://bucket/key.
 *            Ranged GETs in flight together (curl multi); write-back is a
 *            whole-object PUT with If-Match, or a multipart upload that
 *            copies the untouched parts server-side (read-mostly).
 *   sigv4.c  AWS Signature V4 for the requests libcurl signs wrongly.
 *   client.c (struct daemon_store) in daemon mode, a store the daemon
 *            opened for this process (FMD_STORE_OPEN): only size and
 *            destroy; it is mapped, read and written through the daemon,
 *            which runs one of the above (docs/design.md, "Stores in
 *            daemon mode").
 *
 * Conventions: every op returns 0 (or bytes) or -errno, as the rest of the
 * engine; none takes engine.lock, and read may be called by several fault
 * threads at once, without the lock. A store is reference counted: the
 * handle fm_store_open returns holds one reference, each address_space
 * caching it another (store_get, store_put).
 *
 * Identity: the engine finds a cache by (st_dev, st_ino). A file store has
 * its file's. Any other store has the identity of its stand-in: a memfd of
 * its own, never written, that fm_mmap_store gives the kernel to check the
 * arguments and pick the address; address_space.c asks store_find which
 * store a (dev, ino) is.
 */
#ifndef FAULTMAP_STORE_H
#define FAULTMAP_STORE_H

#include "errseq.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct fm_store;

/* One run of pages to write: buf[0..len) at byte off of the store. */
struct fm_store_io {
	struct fm_store *store;
	const char *buf;
	uint64_t off;
	size_t len;
	size_t done; /* out: bytes written */
	int err;     /* out: 0 or -errno */
	bool direct; /* file store: in flight with O_DIRECT */
};

struct fm_store_ops {
	const char *scheme; /* "file", "nbd", "rados", "s3" */
	/* read - read len bytes at off (page aligned, buf page aligned) into
	 * buf. Return: bytes read (short only at the end of the store), or
	 * -errno. Context: any thread, no engine lock; concurrent calls. */
	ssize_t (*read)(struct fm_store *s, void *buf, size_t len, uint64_t off);
	/* read_start - start the same read and return at once: when it
	 * ends, the store calls done(tag, bytes or -errno) once, from a
	 * thread of its own (the main fault thread leaves misses of a store
	 * that has no ring_fd in flight so). NULL: the store cannot.
	 * Return: 0 (done will be called) or -errno (it will not). */
	int (*read_start)(struct fm_store *s, void *buf, size_t len, uint64_t off,
			  void (*done)(void *tag, int res), void *tag);
	/* write - write each io of ios[0..n) whose store has these ops (the
	 * others are left alone), many in flight at once; set its done and
	 * err. Context: engine.lock held (write-back). */
	void (*write)(struct fm_store_io *ios, size_t n);
	/* size - the store's size in bytes, or -errno. */
	int64_t (*size)(struct fm_store *s);
	/* resize - make the store size bytes long. Return: 0 or -errno
	 * (-EOPNOTSUPP where the store has a fixed size). */
	int (*resize)(struct fm_store *s, uint64_t size);
	/* truncate - ftruncate's resize where resize only changes the size
	 * here and a later sync makes it the store's (S3): make the store
	 * size bytes long now, durably, or change nothing, as a failed
	 * ftruncate of a file. NULL: resize, then sync. Return: 0 or -errno.
	 * Context: engine.lock held, no read of the store in flight. */
	int (*truncate)(struct fm_store *s, uint64_t size);
	/* sync - make what was written durable. Return: 0 or -errno. */
	int (*sync)(struct fm_store *s);
	/* reserve - room for [off, off + len) before its first write
	 * (page_mkwrite), or NULL. Return: 0, -ENOSPC/-EDQUOT, -EOPNOTSUPP
	 * (never asked again), other -errno (ignored: write-back tells). */
	int (*reserve)(struct fm_store *s, uint64_t off, uint64_t len);
	/* ring_fd - an fd the main fault thread's io_uring may read the store
	 * from (offsets as in the store), or -1 (NULL: never); with buffered,
	 * the fd for the second try of a page whose first read failed (a
	 * file: without O_DIRECT, as the kernel's own read). */
	int (*ring_fd)(const struct fm_store *s, bool buffered);
	/* add_writer - fd, open for writing on this store, makes it writable
	 * (file store: the first O_RDWR fd mapped), or NULL. */
	void (*add_writer)(struct fm_store *s, int fd);
	/* current - whether s still is what its URL names now, or NULL
	 * (always): a store that maps one version of an object (S3) is not
	 * shared with a later open once the object was replaced
	 * (store_open_shared). Context: no lock held. */
	bool (*current)(struct fm_store *s);
	/* version - what names the version of the object s caches, as s
	 * last knew it (no I/O: its open's, or its own last write's), into
	 * out[size], NUL-terminated (S3: the ETag; RADOS: the object's
	 * version number), or NULL where the store has none (NBD: an export
	 * has no version). A store rescue file keeps it; the daemon that
	 * writes the rescue back opens the store again and compares
	 * (daemon/rescue.c). Context: engine.lock held (write-back's). */
	void (*version)(struct fm_store *s, char *out, size_t size);
	/* remove - remove the object from the store (faultmap run --mount's
	 * unlink), or NULL (-EPERM: an NBD export, a file fm_mmap maps).
	 * Return: 0 or -errno (-ENOENT: no such object). Context: no lock. */
	int (*remove)(struct fm_store *s);
	/* destroy - free s (its last reference is gone). */
	void (*destroy)(struct fm_store *s);
};

struct fm_store {
	const struct fm_store_ops *ops;
	dev_t dev; /* identity: the address_space key (see above) */
	ino_t ino;
	int handle_fd;	/* file: the file; else the stand-in memfd */
	char *url;	/* as opened (NULL for a file fm_mmap maps) */
	char *name;	/* for /proc/PID/maps and the tools */
	bool writable;	/* writes can reach the store */
	bool in_memory; /* a read never waits (tmpfs): read under the lock */
	/* Set once store_remove removed its object: its writes are dropped
	 * (never bring the object back), its reads and size are an empty
	 * object's, and no later open shares it (store_open_shared). */
	_Atomic bool removed;
	/* What readahead wants to know (filled by the store at open): a
	 * read's latency, and the cluster that amortises it. */
	uint32_t latency_us;
	uint32_t cluster_pages;
	/* The errseq of a store's cache (not a file's, which goes with its
	 * cache), kept while no cache holds the store (as_free, as_create):
	 * an open file of a --mount object that has not heard of a failure
	 * still hears of it once the cache went, as the kernel keeps an
	 * inode's. Under engine.lock. */
	struct errseq wb_err;
	unsigned refs; /* store_lock */
	bool registered;
	struct fm_store *next; /* in the registry (store.c) */
};

/* store.c */
struct fm_store *store_find(dev_t dev, ino_t ino);
void store_get(struct fm_store *s);
void store_put(struct fm_store *s);
/* store_put_if_last - store_put only if it is the last reference, at
 * once. Return: whether it was (s destroyed). */
bool store_put_if_last(struct fm_store *s);
int store_init(struct fm_store *s, const struct fm_store_ops *ops, const char *url,
	       const char *name, bool writable);
void store_fini(struct fm_store *s);
int store_standin(struct fm_store *s, const char *url, bool writable);
/* A stand-in memfd's name: FM_STANDIN_NAME and a URL that opens its store,
 * or FM_STANDIN_CUT and the start of a longer one; at most
 * FM_STANDIN_NAME_MAX bytes (memfd_create's limit). */
#define FM_STANDIN_NAME "faultmap-store:"
#define FM_STANDIN_CUT "faultmap-store-cut:"
#define FM_STANDIN_NAME_MAX 249
uint64_t store_clock_us(void);
void store_set_latency(struct fm_store *s, uint64_t us);
void store_measure(struct fm_store *s);
void store_write(struct fm_store_io *ios, size_t n);
int store_ring_fd(const struct fm_store *s, bool buffered);
bool store_is_file(const struct fm_store *s);
/* store_version - s's version op, or "" where it has none. */
void store_version(struct fm_store *s, char *out, size_t size);
/* store_write_sync - store_write of ios[0..n), every one of s, then s's
 * sync. Return: 0 or the first -errno (-EIO for a short write).
 * Context: engine.lock held, or a store of this thread's alone. */
int store_write_sync(struct fm_store *s, struct fm_store_io *ios, size_t n);
int store_read_start(struct fm_store *s, void *buf, size_t len, uint64_t off,
		     void (*done)(void *tag, int res), void *tag);

bool store_flags_ok(int flags);
int store_open_url(const char *url, int flags, struct fm_store **out);
int store_open_shared(const char *url, int flags, struct fm_store **out);
int store_standin_fd(const struct fm_store *s, bool writable);
char *store_url_here(const char *url);
char *store_unescape(const char *s, size_t n, int *err);
int store_truncate(struct fm_store *s, uint64_t size);
int store_remove(struct fm_store *s);
/* store_pwrite_fd - fm_store_pwrite, the write() of fd, an open file of s
 * (a --mount object's fd, or in the daemon the client's, whose record
 * the caller keeps): a write-back error it returns is told to fd's open
 * file (errseq), so its next fsync does not report it again; another
 * open file still hears of it, and a later failure is new to fd too.
 * Return: bytes written, or -1 with errno. */
ssize_t store_pwrite_fd(struct fm_store *s, int fd, const void *buf, size_t count, off_t offset);

/* A listing of a container's objects (store_list): their names, each
 * NUL-terminated, one after another in buf[0..len). */
struct store_names {
	char *buf;
	size_t len, cap;
};
int store_names_add(struct store_names *n, const char *key, const char *prefix);
int store_list(const char *url, struct store_names *out);

/* file.c */
int file_store_new(int fd, const char *url, struct fm_store **out);
int file_store_open(const char *path, int flags, const char *url, struct fm_store **out);
void file_store_start(void);
/* file.c: the fd of the file, for the calls that need the kernel's own
 * file (mremap's fallback, madvise(MADV_REMOVE)), or -1 for other stores. */
int file_store_fd(const struct fm_store *s, bool write);

/* nbd.c */
int nbd_store_open(const char *url, int flags, struct fm_store **out);

/* rados.c */
int rados_store_open(const char *url, int flags, struct fm_store **out);
char *rados_url_here(const char *url);
int rados_store_list(const char *url, struct store_names *out);

/* s3.c */
int s3_store_open(const char *url, int flags, struct fm_store **out);
char *s3_url_here(const char *url);
int s3_store_list(const char *url, struct store_names *out);

/* sigv4.c */
int sigv4_sign(const char *method, const char *path, const char *query,
	       const char *const headers[], size_t n, const char *key_id, const char *secret,
	       const char *region, const char *amz_date, char *out, size_t size);
void md5(const void *data, size_t n, unsigned char out[16]);

#endif /* FAULTMAP_STORE_H */
