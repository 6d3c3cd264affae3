/*
 * faultmap.h - memory-mapped files served from a user-space page cache.
 *
 * faultmap implements mmap() of regular files the way Linux does (one page
 * cache per file, mappings that are views of it, pages read on demand by
 * page faults, MAP_SHARED writes that reach the file, MAP_PRIVATE
 * copy-on-write), but the page cache belongs to the library: its size is
 * capped, its eviction, readahead and writeback are faultmap's.
 *
 * Conventions.
 *  - The functions named after a system call (fm_mmap, fm_munmap,
 *    fm_msync, fm_madvise, fm_mprotect, fm_mremap, fm_pread, fm_read,
 *    fm_pwrite, fm_write, fm_ftruncate, fm_fallocate, fm_fsync,
 *    fm_fdatasync, fm_sync_file_range, fm_syncfs, fm_sync) return what that call
 *    returns: MAP_FAILED or -1 with errno set on failure, with the errno
 *    values the Linux call gives for the same arguments.
 *  - faultmap's own functions (fm_stats, fm_set_budget, fm_parse_size,
 *    fm_store_size) return 0 (or a size) on success or a negative errno,
 *    and leave errno alone. The store calls named after a system call
 *    (fm_mmap_store, fm_store_pread, fm_store_pwrite, fm_store_close)
 *    follow that call; fm_store_open returns NULL with errno, as fopen.
 *  - All functions are thread-safe. A process that forks keeps being
 *    served (see "fork" in README.md).
 *
 * Requirements: Linux >= 6.1 with userfaultfd for shmem (write-protect
 * included). Without permission to use userfaultfd, fm_mmap fails with
 * EPERM: run as root, set the sysctl vm.unprivileged_userfaultfd=1, or give
 * the user read/write access to /dev/userfaultfd.
 */
#ifndef FAULTMAP_H
#define FAULTMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FM_API __attribute__((visibility("default")))
#else
#define FM_API
#endif

#define FAULTMAP_VERSION_MAJOR 0
#define FAULTMAP_VERSION_MINOR 1

/*
 * fm_mmap - map a regular file, like mmap(2).
 *
 * flags: MAP_SHARED, MAP_SHARED_VALIDATE or MAP_PRIVATE, with any flag
 * mmap accepts: MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_POPULATE, MAP_NORESERVE
 * are served; MAP_32BIT and MAP_STACK only place the mapping; flags the
 * kernel ignores for a file (MAP_UNINITIALIZED, unknown bits with
 * MAP_SHARED or MAP_PRIVATE) are ignored. A mapping with MAP_LOCKED,
 * MAP_GROWSDOWN, MAP_HUGETLB or MAP_SYNC is made by the kernel (a plain
 * kernel mapping of the file, outside faultmap's cache; fm_munmap and the
 * others pass it to the kernel). prot: any combination mmap accepts. offset must be page aligned; length may reach
 * past the end of the file (pages wholly past EOF raise SIGBUS on access,
 * the tail of the last page reads as zeros). MAP_ANONYMOUS requests are
 * passed to mmap(2) unchanged.
 *
 * Nothing is read at map time (except with MAP_POPULATE).
 *
 * Errors (errno): those mmap(2) gives for the same arguments, and EBADF (fd
 * not open), EACCES (fd not open for reading, or a PROT_WRITE MAP_SHARED
 * mapping of an fd not open for writing), EINVAL (bad length, offset,
 * flags, a flag faultmap does not implement such as MAP_LOCKED or
 * MAP_HUGETLB, or an invalid FAULTMAP_BUDGET), ENODEV (fd is not a regular
 * file), EEXIST (MAP_FIXED_NOREPLACE over a mapping), EMFILE and ENFILE (no
 * fd left for the engine), ENOMEM (no address space or memory), EOVERFLOW,
 * EPERM (userfaultfd not permitted), ENOTSUP (called in a forked child:
 * only the parent's engine maps files; or a kernel without userfaultfd
 * write-protect for shmem). See fm_mmap(3).
 */
FM_API void *fm_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);

/*
 * fm_munmap - unmap [addr, addr+length), like munmap(2). Any page-aligned
 * range works: part of a mapping splits it, and non-faultmap mappings in the
 * range are unmapped too. When the last mapping of a file goes away its
 * dirty pages are written to the file and its cache is released.
 *
 * Errors: EINVAL (addr not page aligned, length 0), ENOMEM (no memory to
 * split a mapping).
 */
FM_API int fm_munmap(void *addr, size_t length);

/*
 * fm_msync - like msync(2). MS_SYNC writes the dirty pages of shared
 * mappings in the range to the file and makes them durable (fdatasync).
 * MS_ASYNC starts nothing and returns any write-back error this mapping
 * has not heard of yet. MS_INVALIDATE is accepted (the cache is always
 * coherent), except on locked pages (mlock): EBUSY, as Linux.
 *
 * A write-back that failed leaves the pages dirty in the cache, to be
 * retried; the error is reported here (EIO, ENOSPC, ...), not dropped: once
 * to each mapping of the file (the kernel's errseq, per open file; see
 * fm_fsync).
 *
 * Errors: EINVAL (bad flags, addr not aligned), ENOMEM (part of the range is
 * not mapped), EBUSY (MS_INVALIDATE of locked pages), EIO/ENOSPC/EDQUOT/...
 * (write-back failed).
 */
FM_API int fm_msync(void *addr, size_t length, int flags);

/*
 * fm_madvise - like madvise(2). MADV_NORMAL, MADV_RANDOM and
 * MADV_SEQUENTIAL set the readahead of the range; MADV_WILLNEED reads it
 * into the cache (up to half the budget); MADV_DONTNEED drops the range's
 * page-table entries (and private copies, as Linux does). MADV_DONTFORK,
 * MADV_DOFORK, MADV_DONTDUMP, MADV_DODUMP, MADV_NOHUGEPAGE,
 * MADV_COLD, MADV_PAGEOUT, MADV_POPULATE_READ, MADV_POPULATE_WRITE,
 * MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_FREE, MADV_WIPEONFORK and
 * MADV_KEEPONFORK are passed to the kernel. MADV_HUGEPAGE is passed to
 * the kernel for the parts of the range that are not faultmap mappings
 * (the cache keeps 4 KiB pages: docs/design.md, "Reclaim"). MADV_REMOVE punches a hole in
 * the file of a shared writable mapping (EACCES otherwise), as Linux does.
 * Other advice is refused (EINVAL) on faultmap mappings.
 *
 * Errors: those of madvise(2), and EINVAL (bad advice or alignment, or
 * advice refused on a faultmap mapping), ENOMEM (range not mapped).
 */
FM_API int fm_madvise(void *addr, size_t length, int advice);

/*
 * fm_mprotect - like mprotect(2).
 *
 * Errors: EINVAL, ENOMEM (range not mapped), EACCES (PROT_WRITE on a shared
 * mapping of a file opened read-only).
 */
FM_API int fm_mprotect(void *addr, size_t length, int prot);

/*
 * fm_mremap - like mremap(2): grow, shrink or move a mapping. A faultmap
 * mapping keeps being served where it goes; a grown shared mapping sees the
 * file's pages past its old end (SIGBUS past EOF, as mmap). Other ranges
 * are passed to mremap(2). new_address is read only with MREMAP_FIXED.
 *
 * A shrink in place unmaps the tail whatever it holds; a move with
 * MREMAP_FIXED that keeps the size may take several mappings (as Linux
 * 6.17 does).
 *
 * Errors: those of mremap(2); EFAULT when [old_address, old_address +
 * old_size) spans more than one mapping as the kernel would see them (to
 * grow it or move it elsewhere; see fm_mremap(3));
 * EINVAL for old_size 0 (duplicating a mapping) and MREMAP_DONTUNMAP on a
 * faultmap mapping (not supported).
 */
FM_API void *fm_mremap(void *old_address, size_t old_size, size_t new_size, int flags, ...);

/*
 * The read/write family on a file faultmap caches (one that is mapped).
 *
 * On Linux, read(2) and write(2) see the same page cache as mappings. These
 * keep that true for faultmap's cache: fm_pread/fm_read copy from the cache
 * (reading missing pages into it), so they see writes made through shared
 * mappings and not yet written back; fm_pwrite/fm_write write to the file
 * and update the cached pages, so every mapping sees the write at once; a
 * write past EOF grows the file and the cache.
 *
 * On a file faultmap does not cache, each is exactly its system call.
 * Same arguments, results and errno as pread(2), read(2), pwrite(2) and
 * write(2) (EBADF, EFAULT, EINVAL, EIO...), plus ENOMEM (no memory for the
 * bounce buffer). fm_read/fm_write move the file offset as read/write do,
 * but are not atomic with respect to another thread using the same fd.
 */
FM_API ssize_t fm_pread(int fd, void *buf, size_t count, off_t offset);
FM_API ssize_t fm_read(int fd, void *buf, size_t count);
FM_API ssize_t fm_pwrite(int fd, const void *buf, size_t count, off_t offset);
FM_API ssize_t fm_write(int fd, const void *buf, size_t count);

/*
 * fm_ftruncate and fm_fallocate change a cached file and its cache together:
 * pages past a new EOF leave the cache and raise SIGBUS in mappings, as on
 * Linux. On a file faultmap does not cache, each is exactly its system
 * call. Same arguments, results and errno as ftruncate(2) and fallocate(2),
 * plus ENOMEM (the cache could not grow). fm_fallocate refuses
 * FALLOC_FL_COLLAPSE_RANGE and FALLOC_FL_INSERT_RANGE on a cached file
 * (EOPNOTSUPP).
 */
FM_API int fm_ftruncate(int fd, off_t length);
FM_API int fm_fallocate(int fd, int mode, off_t offset, off_t len);

/*
 * Flushing a cached file, like fsync(2), fdatasync(2), sync_file_range(2),
 * syncfs(2) and sync(2): faultmap's dirty pages of that file (of every file
 * on fd's file system for fm_syncfs; of every file for fm_sync) are written
 * first, then the system call is made. Same results and errno as those
 * calls (fm_sync returns nothing).
 *
 * Write-back errors are reported as Linux's errseq does: fm_fsync and
 * fm_fdatasync (and fm_sync_file_range with SYNC_FILE_RANGE_WAIT_AFTER)
 * report each write-back error of the file once per open file (EIO,
 * ENOSPC...; the pages stay dirty, to be written again). An fd that has not
 * heard of the last error yet hears of it, once; under `faultmap run`, an
 * fd opened after an error that was already reported does not. Open files
 * are told apart by fd number: dup()s of one fd each hear of an error, and
 * in a program that calls the library itself, an fd number closed and
 * opened again for the same file continues the old one's record. fm_msync
 * reports to each mapping the same way.
 */
FM_API int fm_fsync(int fd);
FM_API int fm_fdatasync(int fd);
FM_API int fm_sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags);
FM_API int fm_syncfs(int fd);
FM_API void fm_sync(void);

/* Counters of the engine, process-wide. */
struct fm_stats {
	uint64_t budget_bytes;	 /* page-cache cap */
	uint64_t resident_bytes; /* page-cache bytes held now */
	uint64_t dirty_bytes;	 /* of which not yet written to the file */
	uint64_t major_faults;	 /* misses that read the backing file */
	uint64_t minor_faults;	 /* faults that found the page cached */
	uint64_t write_faults;	 /* first writes to clean shared pages */
	uint64_t pages_read;	 /* pages read from files */
	uint64_t pages_written;	 /* pages written back to files */
	uint64_t evictions;	 /* pages dropped from the cache */
	uint64_t refaults;	 /* misses on pages evicted recently */
	uint64_t read_errors;	 /* faults answered with SIGBUS */
	uint64_t writeback_errors; /* failed page writes (kept dirty) */
	uint64_t readahead_pages;  /* of pages_read, read ahead of a stream */
};

/*
 * fm_stats - copy the engine's counters into *out.
 * Return: 0, or -EINVAL if out is NULL.
 */
FM_API int fm_stats(struct fm_stats *out);

/*
 * fm_set_budget - cap the page cache at bytes (rounded down to pages; at
 * least 16 pages). Must be called before the first mapping; it overrides
 * FAULTMAP_BUDGET. In daemon mode it is the budget of a daemon that this
 * process starts; a daemon already running keeps its own (faultmap-daemon(1)).
 * Return: 0, -EINVAL (too small), -EBUSY (the engine already started, or
 * this process is connected to its daemon).
 */
FM_API int fm_set_budget(size_t bytes);

/*
 * fm_set_mode - where this process's page cache lives. FM_MODE_DAEMON: in
 * the user's faultmap daemon, one cache for every process that maps the
 * file (started on demand; see faultmap-daemon(1)). FM_MODE_EMBEDDED: in
 * this process (an engine of its own, which no other process shares).
 * Without a call, FAULTMAP_MODE ("daemon" or "embedded") chooses, and
 * daemon is the default. Call it before the first fm_ call.
 * Return: 0, -EINVAL (no such mode), or
 * -EBUSY (the process already uses the other mode).
 */
#define FM_MODE_EMBEDDED 1
#define FM_MODE_DAEMON 2
FM_API int fm_set_mode(int mode);

/*
 * fm_parse_size - parse a size such as "65536", "64K", "64M", "2G", "1T"
 * (binary multiples, optional trailing "B" or "iB").
 * Return: 0 and *out set, or -EINVAL.
 */
FM_API int fm_parse_size(const char *text, size_t *out);

/*
 * Backing stores. A store is where a cache's pages come from and go to:
 * a local file, an export of an NBD server, an object of a Ceph RADOS
 * pool, or an object of an S3 bucket. fm_store_open opens one by
 * URL; fm_mmap_store maps it like fm_mmap maps a file (same cache, budget,
 * readahead and write-back); fm_store_pread and fm_store_pwrite read and
 * write it through the same cache; fm_msync(MS_SYNC) of a shared mapping
 * makes its writes durable in the store (written, then flushed: fdatasync,
 * NBD_CMD_FLUSH; acknowledged by the OSDs; the answer to S3's PUT). Thread-safe. The handle must not be used after
 * fm_store_close; mappings of the store live on after it.
 */
struct fm_store;

/*
 * fm_store_open - open the store at url.
 *
 * url:   file:///path (a local file; flags may add O_CREAT, which makes it
 *        mode 0600, and O_EXCL),
 *        nbd+unix:///[export]?socket=/path/to.sock, nbd://host[:port]/[export]
 *        (an NBD export, through libnbd, loaded at the first open),
 *        rados://pool/object[?conf=/path/to/ceph.conf] (an object, through
 *        librados, loaded at the first open; the cluster of conf=, else of
 *        $CEPH_CONF, else librados's default; O_CREAT and O_EXCL as for a
 *        file),
 *        s3://bucket/key (an object, through libcurl, loaded at the first
 *        open; path-style requests signed with SigV4 to the endpoint
 *        $FAULTMAP_S3_ENDPOINT, else $AWS_ENDPOINT_URL_S3, else
 *        $AWS_ENDPOINT_URL, region $AWS_REGION, else $AWS_DEFAULT_REGION,
 *        else us-east-1, keys $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY,
 *        $AWS_SESSION_TOKEN (none: anonymous); each may be given in the URL
 *        instead: ?endpoint=&region=&key_id=&secret=&token=. It maps the
 *        version seen at open: a read after another writer replaced the
 *        object fails with ESTALE. Write-back (O_RDWR) is a PUT of the
 *        whole object with If-Match, or for an object over 32 MiB a
 *        multipart upload (dirty 8 MiB parts uploaded, the rest copied by
 *        the server from the version mapped); a write past the end grows
 *        the object (PUT at its new size); O_CREAT makes a missing object
 *        with an empty PUT with If-None-Match: *, O_EXCL as for a file).
 * flags: O_RDONLY or O_RDWR.
 * Return: the handle, or NULL with errno set: EINVAL (bad flags, a rados
 * or s3 URL that is not one, an s3 URL with no endpoint), EPROTONOSUPPORT
 * (unknown scheme; nbd without libnbd.so.0, rados without librados.so.2,
 * s3 without libcurl.so.4), EACCES (s3: keys refused, HTTP 403), EFBIG
 * (s3: O_RDWR of an object over 5 TiB), EIO (s3: server error, no
 * connection), EROFS (O_RDWR of a read-only
 * export), ENODEV (not a regular file), EEXIST (O_CREAT|O_EXCL of what
 * exists), the open's errno for a file (ENOENT, EACCES...), the
 * connection's for NBD (ENOENT, ECONNREFUSED...), librados's for RADOS
 * (ENOENT: no such conf, pool or object; ETIMEDOUT: no monitor answered),
 * the server's for S3 (ENOENT: no such bucket or object).
 * Two fm_store_open of one NBD or RADOS URL are two stores with two caches.
 */
FM_API struct fm_store *fm_store_open(const char *url, int flags);

/*
 * fm_store_close - give the handle back. Mappings of the store keep it
 * alive until they go. Return: 0, or -1 with errno EBADF (NULL).
 */
FM_API int fm_store_close(struct fm_store *store);

/* fm_store_size - the store's size in bytes, or -EBADF. */
FM_API int64_t fm_store_size(struct fm_store *store);

/*
 * fm_mmap_store - fm_mmap of the store: the same arguments and errors,
 * the store in place of the fd. A shared writable mapping needs a store
 * opened O_RDWR (EACCES). Pages past the store's end raise SIGBUS; so does
 * a page the store cannot read (only that page). A write-back error leaves
 * the pages dirty, and fm_msync reports it (EIO...). MAP_ANONYMOUS and the
 * flags fm_mmap leaves to the kernel (MAP_LOCKED...) give EINVAL. NULL
 * store: EBADF. In daemon mode (fm_set_mode) only a file store can be
 * mapped: EOPNOTSUPP for the others.
 */
FM_API void *fm_mmap_store(void *addr, size_t length, int prot, int flags, struct fm_store *store, off_t offset);

/*
 * fm_store_pread, fm_store_pwrite - pread(2) and pwrite(2) of the store,
 * through its cache (what mappings wrote is read; what is written is seen
 * by every mapping at once). fm_store_pwrite writes through: the data is
 * in the store, flushed, when it returns. A file grows; an NBD export has a
 * fixed size (a write past its end is short, ENOSPC if nothing fits).
 * Return: bytes read or written, or -1 with errno: EBADF (NULL, or a write
 * to a store opened O_RDONLY), EINVAL (negative offset), EFAULT (bad buf),
 * the store's error (EIO...; a failed pwrite leaves the pages dirty in the
 * cache, to be written by a later msync or write); EOPNOTSUPP in daemon
 * mode, but for a file store.
 */
FM_API ssize_t fm_store_pread(struct fm_store *store, void *buf, size_t count, off_t offset);
FM_API ssize_t fm_store_pwrite(struct fm_store *store, const void *buf, size_t count, off_t offset);

#ifdef __cplusplus
}
#endif
#endif /* FAULTMAP_H */
