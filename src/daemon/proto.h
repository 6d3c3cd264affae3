/*
 * proto.h - the messages between a faultmap client (the library in a
 * program: fm_mmap and the interposer) and the faultmap daemon, which owns
 * the one page cache of every process of its user (issue 10,
 * docs/design.md "The daemon").
 *
 * Transport: a SOCK_SEQPACKET Unix socket in the user's runtime directory
 * (runtime_dir.h), named FMD_SOCK_NAME. One request, one reply, in order;
 * every request is exactly sizeof(struct fmd_req) bytes, every reply a
 * struct fmd_rep followed by rep.len bytes of payload (only FMD_FORK_PREPARE
 * has one). File descriptors travel with SCM_RIGHTS: at most FMD_MAX_FDS
 * with a message, and only where the op says so; anything else (a wrong
 * size, an unknown op, a wrong count of fds, a truncated message) ends the
 * connection. The daemon checks its peer with SO_PEERCRED: its own uid only.
 */
#ifndef FAULTMAP_DAEMON_PROTO_H
#define FAULTMAP_DAEMON_PROTO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* 2: FMD_MMAP's rep.v[1] (a view that may not write is private);
 * 3: FMD_MREMAP registers the moved view (and its neighbours) again, not
 * the client; 4: refused writes told on the life line (struct
 * fm_refusal); 5: and unreadable pages (FM_NOTE_UNREADABLE); 6: FMD_MADVISE
 * of MADV_REMOVE stops at the kernel's stretches, FMD_MUNMAP and FMD_EXIT
 * answer the write-back reports; 7: the store ops (FMD_STORE_OPEN...),
 * FMD_PREAD/FMD_PWRITE of a stand-in; 8: FMD_REMAP_TARGET; 9: FMD_PUBLISH,
 * FMD_INSPECT, FMD_TRACE and FMD_EXIT's a[0]; 10: a refused write lasts
 * until FM_NOTE_ROOM on the life line; 11: the doorbell (struct fmd_bell)
 * after the bounce buffer; a FMD_HELLO or FMD_FORK_ADOPT of another
 * version is answered -EPROTO with rep.v[0] = the daemon's version and
 * rep.v[1] = the processes it serves; FMD_STOP's a[0] = 1; 12:
 * FMD_STORE_REMOVE; 13: FMD_STORE_LIST; 14: FMD_PWRITE's a[2] =
 * FMD_RW_TOLD; 15: FMD_TOUCHES's stretch */
#define FMD_VERSION 15
#define FMD_SOCK_NAME "daemon.sock"
#define FMD_LOCK_NAME "daemon.lock"
#define FMD_MAX_FDS 2
#define FMD_MAX_PAYLOAD (192 * 1024)
#define FMD_BOUNCE (1024 * 1024)
#define FMD_AT_POS UINT64_MAX
#define FMD_RW_TOLD 1 /* FMD_PWRITE's a[2]: a[3] is the client's fd */
#define FMD_BELL_SIZE 4096
#define FMD_BOUNCE_MAP (FMD_BOUNCE + FMD_BELL_SIZE) /* the memfd: buffer, then bell */
#define FMD_REPORT_MAX 4096

enum fmd_op {
	/* a[0] = FMD_VERSION, a[1] = the client's pid. Another version:
	 * -EPROTO, rep.v[0] = the daemon's version (0 before 11), rep.v[1] =
	 * the processes it serves.
	 * fds: the client's userfaultfd, the client's end of its life line
	 * (a SOCK_SEQPACKET socketpair whose hang-up tells the client the
	 * daemon is gone; the daemon sends there a struct fm_refusal for each
	 * first write it refuses, and for each page it cannot read
	 * (FM_NOTE_UNREADABLE), and leaves that thread for the client to
	 * wake).
	 * rep.v[0] = the budget in pages; fds: the client's bounce buffer
	 * (a memfd of FMD_BOUNCE bytes that cannot shrink). */
	FMD_HELLO = 1,
	/* A new mapping [a[0], a[0]+a[1]) of the file fd at offset a[2]
	 * (bytes), a[3] = prot, a[4] = MAP_SHARED or MAP_PRIVATE, a[5] = 1
	 * if it replaces what was there (MAP_FIXED). fds: the file.
	 * rep: fds = the view's memfd (read-only unless the view may write
	 * the file; one read-only open file of it for every view, so that
	 * they merge as the kernel's vmas of one fd do); v[0] = 1 if the view must be registered for
	 * write-protect and protected whole; v[1] = 1 if the view may write
	 * the file (a shared view that may not is mapped MAP_PRIVATE from the
	 * read-only memfd: userfaultfd registers only views that may write,
	 * VM_MAYWRITE, and a private one may, by copy on write, without ever
	 * writing the cache). The record exists from this
	 * reply on: the client maps the memfd there and registers it, or
	 * sends FMD_MUNMAP. */
	FMD_MMAP,
	/* [a[0], a[0]+a[1]) was unmapped (or replaced) by the client: forget
	 * it; the last mapping of a file writes its dirty pages back first.
	 * Payload: the lines that say what could not be written back (kept
	 * in the daemon's cache), for the client's stderr; at most
	 * FMD_REPORT_MAX bytes with the NUL, which is not sent. */
	FMD_MUNMAP,
	/* msync of [a[0], a[0]+a[1]) with flags a[2]: write back (MS_SYNC),
	 * report write-back errors (errseq). rep.err. */
	FMD_MSYNC,
	/* madvise hint a[2] (MADV_NORMAL, RANDOM, SEQUENTIAL, WILLNEED) on
	 * [a[0], a[0]+a[1]). MADV_REMOVE: punch the files of the faultmap
	 * mappings from a[0] on, up to the first stretch that has none:
	 * rep.v[0] = where that stretch starts (the end: done), rep.v[1] =
	 * where it ends; the client asks the kernel for it, then goes on. */
	FMD_MADVISE,
	/* Whether [a[0], a[0]+a[1]) holds a faultmap mapping: if so, the
	 * first stretch of it that one mapping covers is [rep.v[1],
	 * rep.v[0]), within the range; if not, rep.v[0] = 0. */
	FMD_TOUCHES,
	/* [a[0], a[0]+a[1]) is about to become writable: the shared views
	 * there start tracking writes. rep.v[0] = where the first view that
	 * may not write (read-only fd) starts, or the end. With a[2] = 1, only
	 * if some view there tracks writes already (mm_track_evenly: the
	 * range is to be grown or moved as one mapping). */
	FMD_MPROTECT,
	/* The client is about to fork: keep a copy of its mappings for the
	 * child. rep.v[0] = token; payload: struct fmd_view[rep.v[1]]. */
	FMD_FORK_PREPARE,
	/* A forked child: a[0] = token from its parent's FMD_FORK_PREPARE,
	 * a[1] = FMD_VERSION, a[2] = pid. fds: as FMD_HELLO. Instead of
	 * FMD_HELLO. */
	FMD_FORK_ADOPT,
	/* The parent's fork failed (or it forgets a token): a[0] = token. */
	FMD_FORK_FORGET,
	/* The client exits: forget all its mappings, writing back first.
	 * a[0] = 1: keep its counters as they are at the end, for one more
	 * FMD_PUBLISH. Payload: as FMD_MUNMAP's. */
	FMD_EXIT,
	/* Write back every dirty page of every file (exec, fm_sync). */
	FMD_SYNC_ALL,
	/* faultmap daemon --stop: write back everything and exit. rep.err:
	 * the write-back's; rep.v[0] = 1 if the daemon exits (after an
	 * error: every page it could not write is in a rescue file), else
	 * rep.v[1] = the errno of the rescue file it could not write, and it
	 * goes on; after an error, the payload has a line for each file or
	 * store left dirty (its name, bytes, error, rescue file), at most
	 * FMD_REPORT_MAX bytes with the NUL, which is not sent (a daemon
	 * before this answered an error with no payload, and went on).
	 * a[0] = 1: only if no process maps through the daemon, else -EBUSY
	 * (a client of a newer version replacing an idle daemon), and only if
	 * every page was written (no payload). Needs no FMD_HELLO, and keeps
	 * its number in every version. */
	FMD_STOP,
	/* The daemon's counters: payload struct fm_stats. */
	FMD_STATS,
	/* read/write of the file fd through the daemon's cache, with the
	 * client's bounce buffer (the memfd of FMD_HELLO's reply, FMD_BOUNCE
	 * bytes) as the buffer: a[0] = bytes (at most FMD_BOUNCE), a[1] =
	 * offset, or FMD_AT_POS for the fd's file position (read, write).
	 * fds: the file. rep.v[0] = bytes done; rep.err as the call's.
	 * The stand-in of a store (FMD_STORE_OPEN) instead of a file: the
	 * store's bytes (fm_store_pread, fm_store_pwrite: a write reaches the
	 * store before the reply); never at FMD_AT_POS (ESPIPE). A write's
	 * a[2] = FMD_RW_TOLD: a[3] is the client's fd number the write is of
	 * (as FMD_FSYNC's a[3]), whose record hears of the write-back error
	 * the write returns (store_pwrite_fd), so that fd's next FMD_FSYNC
	 * does not report it again. */
	FMD_PREAD,
	FMD_PWRITE,
	/* ftruncate(fd, a[0]); fallocate(fd, a[0] = mode, a[1], a[2]);
	 * fsync (a[0] = 1: fdatasync); sync_file_range(fd, a[0], a[1],
	 * a[2]); syncfs(fd). fds: the file. */
	FMD_FTRUNCATE,
	FMD_FALLOCATE,
	FMD_FSYNC,
	FMD_SYNC_FILE_RANGE,
	FMD_SYNCFS,
	/* mremap: the client's kernel call moved or resized the view at
	 * [a[0], a[0]+a[1]) (one faultmap mapping, as the kernel requires) to
	 * [a[2], a[2]+a[3]); what the client had at a[2] was replaced. The
	 * records follow, without the file ever being unmapped on the way.
	 * A moved view, and every view touching it at its new place (the
	 * kernel may have merged them with it, dropping their registration:
	 * MREMAP_FIXED next to a view), are registered again and protected.
	 * rep.v[0] = 1 if the view tracks writes: the client protects a grown
	 * one's new part. */
	FMD_MREMAP,
	/* faultmap cache: act on the cache of the file fd (the client's own
	 * open file: it acts only on files it can read), pages
	 * [a[1] / page, (a[1] + a[2]) / page rounded up), a[2] = 0: to the
	 * end. a[0] = what (enum fmd_cache_what). Needs no FMD_HELLO.
	 * fds: the file. rep.err: 0 or -errno (-ENOMEM: a lock over the
	 * limit); payload: struct fmd_cache_info. A lock lasts until the
	 * connection ends. */
	FMD_CACHE,
	/* fm_store_open in the daemon: the URL is the first a[0] bytes of the
	 * bounce buffer (no NUL), a[1] = the flags (O_RDONLY or O_RDWR, with
	 * O_CREAT, O_EXCL). The daemon shares one store per URL among its
	 * clients (store_open_shared). rep.v[0] = the store's number for this
	 * client (FMD_STORE_CLOSE); fds: its stand-in (store.h), read-only
	 * unless a[1] asks O_RDWR: what the client maps (FMD_MMAP), reads
	 * and writes (FMD_PREAD, FMD_PWRITE) and asks the size of. The
	 * client's stores are closed when its connection ends, however it
	 * ends; a forked child (FMD_FORK_ADOPT) has its parent's, by the
	 * same numbers. */
	FMD_STORE_OPEN,
	/* fm_store_close: a[0] = the number FMD_STORE_OPEN gave. */
	FMD_STORE_CLOSE,
	/* fm_store_size of the store whose stand-in is fds[0]: rep.v[0]. */
	FMD_STORE_SIZE,
	/* remap_file_pages (the interposer) of [a[0], a[0]+a[1]), a[2] = 1
	 * if the mapping there is writable: rep.v[0] = 0 if faultmap maps
	 * none of it, 1 if one shared mapping of one file covers it all
	 * (fds: that file, writable if a[2], for the client's fm_mmap of the
	 * new offset in place); rep.err = -EINVAL where the kernel would
	 * refuse (holes, several files, private). */
	FMD_REMAP_TARGET,
	/* The client's counters (what its faults and requests made the
	 * engine do) and the files it maps (publish.h, channel 1): payload
	 * struct fm_pub, of which pid, comm, magic and seq are not set.
	 * After FMD_EXIT with a[0] = 1, the counters at its end. */
	FMD_PUBLISH,
	/* The dump of publish.h's channel 2 for the client: its files, its
	 * vmas (mm=0). fds: a memfd holding the text. */
	FMD_INSPECT,
	/* Trace the client's faults (publish.h, channel 3) to fds[0] (its
	 * FAULTMAP_TRACE_FD), t_us counted from a[0] (CLOCK_MONOTONIC ns).
	 * Once per connection (-EBUSY). */
	FMD_TRACE,
	/* store_remove (faultmap run --mount's unlink) of the store whose
	 * stand-in is fds[0]: its object is removed from the store, and the
	 * store marked removed (its writes dropped; a later FMD_STORE_OPEN of
	 * its URL gets a new store). rep.err: 0 or -errno. */
	FMD_STORE_REMOVE,
	/* store_list (faultmap run --mount's listing of a container's PATH)
	 * of the container URL in the first a[0] bytes of the bounce buffer
	 * (no NUL; as FMD_STORE_OPEN's, with the client's parameters in it:
	 * store_url_here). rep.err: 0 or -errno; fds: a memfd holding the
	 * names, each NUL-terminated, one after another (rep.v[0] bytes). */
	FMD_STORE_LIST,
	FMD_OP_MAX
};

struct fmd_req {
	uint32_t op;
	uint32_t flags; /* 0 */
	uint64_t a[6];
};

struct fmd_rep {
	int32_t err; /* 0 or -errno */
	uint32_t len; /* payload bytes that follow */
	uint64_t v[2];
};

enum fmd_cache_what {
	FMD_CACHE_QUERY, /* what is cached (residency) */
	FMD_CACHE_TOUCH, /* read the range into the cache */
	FMD_CACHE_EVICT, /* write back the dirty pages, drop the clean ones */
	FMD_CACHE_LOCK,	 /* read and lock the range while connected */
	FMD_CACHE_WHAT_MAX
};

/* FMD_CACHE's answer: the file and the range (pages), after the action. */
struct fmd_cache_info {
	uint64_t size;		/* the file's size, bytes */
	uint64_t first, count;	/* the range, pages (cut at the file's end) */
	uint64_t cached;	/* 1 if the daemon caches the file at all */
	uint64_t resident;	/* pages of the range in the cache */
	uint64_t dirty;		/* of them, dirty (not written back yet) */
	uint64_t locked;	/* of them, locked (by any lock) */
	uint64_t done;		/* touch, lock: pages read; evict: pages dropped */
	uint64_t kept_dirty;	/* evict: dirty pages whose write-back failed */
	uint64_t kept_locked;	/* evict: pages kept because they are locked */
	uint64_t budget;	/* the daemon's budget, pages */
	uint64_t locked_total;	/* pages of every lock, and their limit */
	uint64_t lock_limit;
	int64_t err;		/* evict: the write-back's error (-errno), or 0 */
};

struct fmd_view {
	uint64_t start, end;
	uint32_t wp; /* registered for write-protect */
	uint32_t shared;
};

/*
 * struct fmd_bell - the doorbell: two counters in the page after a client's
 * bounce buffer, which both sides map. The client counts the requests it
 * has sent, the daemon the replies. Each side, waiting for the other's
 * next message, first watches its counter for a few microseconds
 * (fmd_bell_wait), and only then sleeps in recvmsg. On these 2-vCPU guests
 * a sleep in recvmsg and the wake-up cost 70-90 us a round trip, and a
 * side that is still awake when the message comes pays none of it
 * (docs/design.md, "The cost of a request").
 *
 * Only ever a hint: every message is still received from the socket, and
 * a counter that lies (a hostile client's, a forked child's inherited
 * one) costs at most one wait's spinning.
 */
struct fmd_bell {
	_Atomic uint32_t requests; /* the client's: one more after each request sent */
	char apart[60]; /* each counter in a cache line of its own */
	_Atomic uint32_t replies; /* the daemon's: one more after each reply sent */
};

/* How long each side stays awake; 0 turns the bell off (a build with
 * -DFMD_BELL_CLIENT_NS=0 -DFMD_BELL_DAEMON_NS=0 measures the difference:
 * fm-bench workload 7). */
#ifndef FMD_BELL_CLIENT_NS
#define FMD_BELL_CLIENT_NS 60000 /* a client waits this long for a reply awake */
#endif
#ifndef FMD_BELL_DAEMON_NS
#define FMD_BELL_DAEMON_NS 30000 /* the daemon, for a client's next request */
#endif

/* fmd_bell_wait - watch *counter, for at most ns nanoseconds, until it is
 * no longer seen. Return: whether it moved. */
bool fmd_bell_wait(_Atomic uint32_t *counter, uint32_t seen, long ns);

/* fmd_send - send one message of len bytes (a header, then payload) with
 * nfds descriptors. Return: 0 or -errno (-EPIPE: the peer is gone). */
int fmd_send(int sock, const void *msg, size_t len, const void *payload,
	     size_t plen, const int *fds, int nfds);

/* fmd_recv - receive one message into buf (size bytes). The descriptors
 * that came with it go to fds (at most FMD_MAX_FDS; *nfds says how many);
 * any beyond that, and any of a truncated message, are closed.
 * Return: its length, 0 at end of file, or -errno (-EMSGSIZE: truncated). */
ssize_t fmd_recv(int sock, void *buf, size_t size, int *fds, int *nfds);

#endif /* FAULTMAP_DAEMON_PROTO_H */
