/*
 * publish.c - what a process running faultmap shows the outside world: the
 * engine side of src/publish.h.
 *
 * With FAULTMAP_PUBLISH=1 a publisher thread copies the engine's counters
 * into the segment faultmap.<pid> of the user's runtime directory
 * (runtime_dir.h: 0700, the user's own) every FM_PUB_INTERVAL_MS (under a
 * sequence lock), and answers "inspect" requests on the socket
 * faultmap.<pid>.sock beside it, from the same user or root only, with a
 * text dump of every address_space, its page index and the vmas that map
 * it; it serves up to PUB_CONNS clients at once, each with a deadline. With
 * FAULTMAP_TRACE_FD the fault threads write one line per served fault to an
 * inherited pipe; with FAULTMAP_STATS_FILE the process appends a summary
 * line at exit. The publisher takes engine.lock only, briefly, to copy, and
 * never does I/O while holding it.
 */
#include "publish.h"
#include "internal.h"
#include "runtime_dir.h"
#include "client/client.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

_Atomic int fm_trace_fd = -1;

static struct {
	bool started; /* publish_start ran in this process */
	bool client;  /* a daemon's client (publish_client_start) */
	pid_t pid;    /* the process that started it */
	atomic_bool stopped;
	uint64_t start_ns; /* CLOCK_MONOTONIC at publish_start */
	char *stats_file;  /* FAULTMAP_STATS_FILE, copied */
	struct fm_pub *seg;
	int dir_fd;  /* the runtime directory (runtime_dir.h), or -1 */
	char dir[RT_DIR_PATH_MAX];
	char seg_name[32], sock_name[32];
	bool sock_bound; /* sock_name exists in dir and is ours */
	int sock;    /* listening socket, or -1 */
	int stop_fd; /* eventfd: stop the thread */
	bool thread_running;
	pthread_t thread;
	uint64_t last_faults, last_ms; /* for faults_per_sec */
} pub = {.sock = -1, .stop_fd = -1, .dir_fd = -1};

/* Scratch copy of the segment, built by the one writer at a time. */
static struct fm_pub scratch;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- a growable text buffer ---------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

/* sb_printf - append formatted text; on allocation failure sets failed. */
static void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	for (;;) {
		size_t room = b->cap - b->len;
		va_list ap;
		va_start(ap, fmt);
		int n =
		    b->failed ? 0 : vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (b->failed || n < 0)
			return;
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap <= b->len + (size_t)n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* ---- small file helpers --------------------------------------------------- */

/* read_comm - this process's name, spaces and control characters as '_'. */
static void read_comm(char *out, size_t size)
{
	snprintf(out, size, "?");
	int fd = sys_openat(AT_FDCWD, "/proc/self/comm", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return;
	ssize_t n = sys_read(fd, out, size - 1);
	sys_close(fd);
	if (n <= 0)
		return;
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
	for (char *c = out; *c; c++)
		if (*c <= ' ' || *c == 0x7f)
			*c = '_';
}

/* ---- counters: the segment ------------------------------------------------ */

/* fill_file - one fm_pub_file from as. Context: engine.lock held. */
static void fill_file(struct fm_pub_file *f, const struct address_space *as)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s", as->path ? as->path : "?");
	f->size_bytes = as->i_size;
	f->pages = as->nr_pages;
	f->resident_pages = as->nr_resident;
	f->dirty_pages = as->nr_dirty;
	f->c = as->st;
	for (const struct vma *v = as->i_mmap; v; v = v->i_mmap_next)
		f->nr_vmas++;
}

/* mapped_by - whether mm maps as (NULL: every mm does). Context:
 * engine.lock held. */
static bool mapped_by(const struct address_space *as, const struct mm *mm)
{
	if (!mm)
		return true;
	for (const struct vma *v = as->i_mmap; v; v = v->i_mmap_next)
		if (v->mm == mm)
			return true;
	return false;
}

/* snapshot_of - copy into p (not magic, seq, comm) the counters of the
 * engine (mm NULL), or those of one mm (a daemon's client) and the files
 * it maps. Context: engine.lock held (dropped while fills land). */
static void snapshot_of(struct fm_pub *p, const struct mm *mm)
{
	fill_wait_landed(); /* what the program could read is counted */
	p->st = mm ? mm->st : engine.st;
	p->st.budget_bytes = engine.budget_pages * FM_PAGE_SIZE;
	p->st.resident_bytes = 0;
	p->st.dirty_bytes = 0;
	p->read_hits = mm ? mm->read_hits : engine.read_hits;
	p->read_misses = mm ? mm->read_misses : engine.read_misses;
	p->nr_files = 0;
	p->files_total = 0;
	for (struct address_space *as = engine.mappings; as; as = as->next) {
		if (!mapped_by(as, mm))
			continue;
		p->st.resident_bytes += as->nr_resident * FM_PAGE_SIZE;
		p->st.dirty_bytes += as->nr_dirty * FM_PAGE_SIZE;
		if (p->nr_files < FM_PUB_MAX_FILES)
			fill_file(&p->files[p->nr_files++], as);
		p->files_total++;
	}
}

/* publish_mm_counters - see publish.h. */
void publish_mm_counters(const struct mm *mm, struct fm_pub *p)
{
	snapshot_of(p, mm);
}

/* snapshot - this process's counters into p (not magic, seq, comm): its
 * engine's, or in daemon mode its daemon's for it.
 * Context: takes engine.lock (embedded mode). */
static void snapshot(struct fm_pub *p)
{
	if (pub.client) {
		(void)client_pub_counters(p); /* the daemon is gone: the last ones stay */
		return;
	}
	pthread_mutex_lock(&engine.lock);
	snapshot_of(p, NULL);
	pthread_mutex_unlock(&engine.lock);
}

/* note_rate - set p->faults_per_sec from the faults since the last call. */
static void note_rate(struct fm_pub *p)
{
	uint64_t faults = p->st.major_faults + p->st.minor_faults + p->st.write_faults;
	uint64_t ms = mono_ns() / 1000000;
	if (pub.last_ms && ms > pub.last_ms)
		p->faults_per_sec =
		    (faults - pub.last_faults) * 1000 / (ms - pub.last_ms);
	pub.last_faults = faults;
	pub.last_ms = ms;
	p->updated_ms = ms;
}

/* seg_write - copy src into the segment under its sequence lock: seq is odd
 * while the body changes. Readers: fm_pub_read. */
static void seg_write(struct fm_pub *seg, const struct fm_pub *src)
{
	const size_t body = offsetof(struct fm_pub, pid);
	uint64_t seq = __atomic_load_n(&seg->seq, __ATOMIC_RELAXED);
	__atomic_store_n(&seg->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy((char *)seg + body, (const char *)src + body, sizeof(*seg) - body);
	__atomic_store_n(&seg->seq, seq + 2, __ATOMIC_RELEASE);
	if (__atomic_load_n(&seg->magic, __ATOMIC_RELAXED) != FM_PUB_MAGIC)
		__atomic_store_n(&seg->magic, FM_PUB_MAGIC, __ATOMIC_RELEASE);
}

/* refresh - bring the segment up to date. Only one caller at a time: the
 * publisher thread, or publish_stop after joining it. */
static void refresh(void)
{
	snapshot(&scratch);
	note_rate(&scratch);
	seg_write(pub.seg, &scratch);
}

/* fm_pub_read - see publish.h: the reader side of seg_write. */
int fm_pub_read(const struct fm_pub *seg, struct fm_pub *out)
{
	for (int tries = 0; tries < 10000; tries++) {
		uint64_t s1 = __atomic_load_n(&seg->seq, __ATOMIC_ACQUIRE);
		if (!(s1 & 1)) {
			memcpy(out, seg, sizeof(*out));
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(&seg->seq, __ATOMIC_RELAXED) == s1)
				return out->magic == FM_PUB_MAGIC ? 0 : -EINVAL;
		}
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
	return -EAGAIN;
}

/* create_excl - create name in the runtime directory, 0600, O_EXCL and
 * O_NOFOLLOW. A leftover of a dead process of this pid (the directory is
 * this user's alone, so it is this user's) is removed and the name created
 * again; nothing found at the name is ever opened.
 * Return: the fd or -errno. */
static int create_excl(const char *name)
{
	const int flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int fd = sys_openat(pub.dir_fd, name, flags, 0600);
	if (fd < 0 && errno == EEXIST && !unlinkat(pub.dir_fd, name, 0))
		fd = sys_openat(pub.dir_fd, name, flags, 0600);
	return fd < 0 ? -errno : fd;
}

/* segment_create - create and size the segment faultmap.<pid> in the
 * runtime directory. Return: 0 or -errno. */
static int segment_create(void)
{
	snprintf(pub.seg_name, sizeof(pub.seg_name), RT_SEG_FMT, (int)getpid());
	int fd = create_excl(pub.seg_name);
	if (fd < 0)
		return fd;
	fd = fd_keep(fd);
	int err = 0;
	if (sys_ftruncate(fd, sizeof(struct fm_pub)))
		err = -errno;
	void *p = err ? MAP_FAILED
		      : sys_mmap(NULL, sizeof(struct fm_pub), PROT_READ | PROT_WRITE,
				 MAP_SHARED, fd, 0);
	if (!err && p == MAP_FAILED)
		err = -errno;
	sys_close(fd);
	if (err) {
		unlinkat(pub.dir_fd, pub.seg_name, 0);
		return err;
	}
	pub.seg = p;
	memset(&scratch, 0, sizeof(scratch));
	scratch.pid = (int32_t)getpid();
	scratch.page_size = FM_PAGE_SIZE;
	read_comm(scratch.comm, sizeof(scratch.comm));
	return 0;
}

/* socket_create - listen on the inspection socket faultmap.<pid>.sock in
 * the runtime directory. Return: 0 or -errno. */
static int socket_create(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(pub.sock_name, sizeof(pub.sock_name), RT_SOCK_FMT, (int)getpid());
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", pub.dir, pub.sock_name);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	if (unlinkat(pub.dir_fd, pub.sock_name, 0) && errno != ENOENT)
		return -errno;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	fd = fd_keep(fd);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;
		sys_close(fd);
		return err;
	}
	pub.sock_bound = true;
	if (listen(fd, 64)) {
		int err = -errno;
		sys_close(fd);
		return err;
	}
	pub.sock = fd;
	return 0;
}

/* ---- inspection: a snapshot, then text ------------------------------------ */

struct snap_vma {
	size_t file;
	unsigned mm;
	pid_t pid; /* a daemon's client's process, else 0 */
	uintptr_t start, end;
	uint64_t pgoff;
	bool shared;
	bool may_write;
	char prot[3];
	long cow; /* -1: not known */
};

struct snap_file {
	dev_t dev;
	ino_t ino;
	uint64_t size, pages, resident, dirty;
	char *path;
	struct sbuf runs;
};

struct snap {
	uint64_t budget_pages;
	struct snap_file *files;
	size_t nr_files;
	struct snap_vma *vmas;
	size_t nr_vmas;
	const struct mm *others[64]; /* a daemon's: the other mms, mm=1.. */
	unsigned nr_others;
	bool failed;
};

/* other_number - the number of another process's mm in s's dump: 1, 2...
 * in the order met (the last one for all beyond 64). */
static unsigned other_number(struct snap *s, const struct mm *m)
{
	unsigned i = 0;
	while (i < s->nr_others && s->others[i] != m)
		i++;
	if (i == s->nr_others && s->nr_others < 64)
		s->others[s->nr_others++] = m;
	return i < 64 ? i + 1 : 64;
}

/* page_state - the state letter of page index. Context: engine.lock held. */
static char page_state(struct address_space *as, uint64_t index)
{
	uint32_t nr = as_find_frame(as, index);
	if (nr == FM_NIL)
		return '.';
	uint8_t flags = frame_get(nr)->flags;
	if (flags & PG_LOCKED)
		return 'L';
	return flags & PG_DIRTY ? 'D' : 'R';
}

/* page_runs - as's page index as run-length tokens into b.
 * Context: engine.lock held. */
static void page_runs(struct sbuf *b, struct address_space *as)
{
	char cur = 0;
	uint64_t count = 0;
	for (uint64_t i = 0; i < as->nr_pages;) {
		uint64_t c = i >> TREE_CHUNK_SHIFT;
		bool hole = c >= as->tree_chunks || !as->page_tree[c];
		char s = hole ? '.' : page_state(as, i);
		uint64_t n = hole ? ((c + 1) << TREE_CHUNK_SHIFT) - i : 1;
		if (n > as->nr_pages - i)
			n = as->nr_pages - i;
		if (s != cur && count) {
			sb_printf(b, "%s%c%" PRIu64, b->len ? " " : "", cur, count);
			count = 0;
		}
		cur = s;
		count += n;
		i += n;
	}
	if (count)
		sb_printf(b, "%s%c%" PRIu64, b->len ? " " : "", cur, count);
}

/* mm_number - index of mm in engine.mms. Context: engine.lock held. */
static unsigned mm_number(const struct mm *mm)
{
	unsigned n = 0;
	for (const struct mm *m = engine.mms; m && m != mm; m = m->next)
		n++;
	return n;
}

/* snap_add_vma - append one vma of file f. Return: 0 or -ENOMEM. */
static int snap_add_vma(struct snap *s, size_t f, const struct vma *v)
{
	struct snap_vma *nv = realloc(s->vmas, (s->nr_vmas + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	s->vmas = nv;
	nv[s->nr_vmas++] = (struct snap_vma){
	    .file = f,
	    .mm = mm_number(v->mm),
	    .pid = v->mm->pid,
	    .start = v->vm_start,
	    .end = v->vm_end,
	    .pgoff = v->vm_pgoff,
	    .shared = v->shared,
	    .may_write = v->may_write,
	    .prot = "?",
	    .cow = -1,
	};
	return 0;
}

/* snap_add_file - append as, its page runs and its vmas (of mm only,
 * numbered 0, unless mm is NULL). Return: 0 or -ENOMEM. Context:
 * engine.lock held. */
static int snap_add_file(struct snap *s, struct address_space *as, const struct mm *mm)
{
	struct snap_file *nf = realloc(s->files, (s->nr_files + 1) * sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	s->files = nf;
	struct snap_file *f = &nf[s->nr_files++];
	*f = (struct snap_file){
	    .dev = as->dev,
	    .ino = as->ino,
	    .size = as->i_size,
	    .pages = as->nr_pages,
	    .resident = as->nr_resident,
	    .dirty = as->nr_dirty,
	    .path = strdup(as->path ? as->path : "?"),
	};
	page_runs(&f->runs, as);
	if (!f->path || f->runs.failed)
		return -ENOMEM;
	for (const struct vma *v = as->i_mmap; v; v = v->i_mmap_next) {
		if (snap_add_vma(s, s->nr_files - 1, v))
			return -ENOMEM;
		if (mm) /* mm 0 is the process asked about; the others follow */
			s->vmas[s->nr_vmas - 1].mm = v->mm == mm ? 0 : other_number(s, v->mm);
	}
	return 0;
}

/* snap_take - copy what inspect shows: every file of the engine, or the
 * files that mm maps (a daemon's client). Context: engine.lock held. */
static void snap_take(struct snap *s, const struct mm *mm)
{
	s->budget_pages = engine.budget_pages;
	for (struct address_space *as = engine.mappings; as && !s->failed; as = as->next)
		if (mapped_by(as, mm))
			s->failed = snap_add_file(s, as, mm) != 0;
}

/* snap_free - release what snap_take allocated. */
static void snap_free(struct snap *s)
{
	for (size_t i = 0; i < s->nr_files; i++) {
		free(s->files[i].path);
		free(s->files[i].runs.p);
	}
	free(s->files);
	free(s->vmas);
}

/* count_cow - pages of [start, end) that this process copied on write,
 * from /proc/self/pagemap (fd). Return: the count, or -1. */
static long count_cow(int fd, uintptr_t start, uintptr_t end)
{
	uint64_t ent[512];
	long cow = 0;
	for (uintptr_t a = start; a < end;) {
		size_t n = (end - a) >> FM_PAGE_SHIFT;
		if (n > 512)
			n = 512;
		off_t off = (off_t)((a >> FM_PAGE_SHIFT) * sizeof(uint64_t));
		ssize_t got = sys_pread(fd, ent, n * sizeof(uint64_t), off);
		if (got <= 0)
			return -1;
		n = (size_t)got / sizeof(uint64_t);
		for (size_t i = 0; i < n; i++) {
			bool present = ent[i] >> 63 & 1, swapped = ent[i] >> 62 & 1;
			bool file = ent[i] >> 61 & 1;
			cow += (present && !file) || swapped;
		}
		a += n << FM_PAGE_SHIFT;
	}
	return cow;
}

/* snap_cow - cow counts of the private vmas of mm number mm, process pid
 * (outside the lock: reading pagemap does not touch the views). */
static void snap_cow(struct snap *s, unsigned mm, pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	int fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return;
	for (size_t i = 0; i < s->nr_vmas; i++) {
		struct snap_vma *v = &s->vmas[i];
		if (v->mm == mm && !v->shared)
			v->cow = count_cow(fd, v->start, v->end);
	}
	sys_close(fd);
}

/* snap_prot - current protection of the vmas of mm number mm, process
 * pid, from its /proc/PID/maps; those not read stay "?". */
static void snap_prot(struct snap *s, unsigned mm, pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		uintptr_t lo, hi;
		char perms[8];
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s", &lo, &hi, perms) != 3)
			continue;
		for (size_t i = 0; i < s->nr_vmas; i++) {
			struct snap_vma *v = &s->vmas[i];
			if (v->mm == mm && v->start >= lo && v->start < hi) {
				v->prot[0] = perms[0] == 'r' ? 'r' : '-';
				v->prot[1] = perms[1] == 'w' ? 'w' : '-';
				v->prot[2] = '\0';
			}
		}
	}
	fclose(f);
}

/* snap_format - the dump of channel 2 of process pid into b. */
static void snap_format(struct sbuf *b, const struct snap *s, pid_t pid)
{
	sb_printf(b, "faultmap-inspect 1\npid %d\nbudget_pages %" PRIu64 "\n",
		  (int)pid, s->budget_pages);
	for (size_t i = 0; i < s->nr_files; i++) {
		const struct snap_file *f = &s->files[i];
		sb_printf(b,
			  "file %zu dev=%u:%u ino=%" PRIu64 " size=%" PRIu64
			  " pages=%" PRIu64 " resident=%" PRIu64 " dirty=%" PRIu64
			  " path=%s\n",
			  i, major(f->dev), minor(f->dev), (uint64_t)f->ino, f->size,
			  f->pages, f->resident, f->dirty, f->path);
		sb_printf(b, "pages %zu %s\n", i, f->runs.p ? f->runs.p : "");
		for (size_t j = 0; j < s->nr_vmas; j++) {
			const struct snap_vma *v = &s->vmas[j];
			if (v->file != i)
				continue;
			char cow[24] = "-";
			if (v->cow >= 0)
				snprintf(cow, sizeof(cow), "%ld", v->cow);
			char other[24] = "";
			if (v->mm && v->pid > 0)
				snprintf(other, sizeof(other), " pid=%d", (int)v->pid);
			sb_printf(b,
				  "vma %zu mm=%u start=0x%" PRIxPTR " end=0x%" PRIxPTR
				  " pgoff=%" PRIu64 " %s prot=%s cow=%s%s\n",
				  i, v->mm, v->start, v->end, v->pgoff,
				  v->shared ? "shared" : "private", v->prot, cow, other);
		}
	}
	sb_printf(b, "end\n");
}

/* inspect_of - the whole dump of channel 2 of process pid, malloc'ed: of
 * every file of the engine (mm NULL: pid is this process), or of what mm
 * maps (a daemon's client, pid its process); *len its length.
 * Return: NULL when out of memory. Context: takes engine.lock. */
static char *inspect_of(const struct mm *mm, pid_t pid, size_t *len)
{
	struct snap s = {0};
	struct sbuf b = {0};
	pthread_mutex_lock(&engine.lock);
	snap_take(&s, mm);
	pthread_mutex_unlock(&engine.lock);
	/* Each process's own: this one's (mm 0), and a daemon's other
	 * clients' (an embedded engine cannot read its forked children's). */
	for (size_t i = 0; i < s.nr_vmas; i++) {
		unsigned m = s.vmas[i].mm;
		pid_t p = m == 0 ? pid : s.vmas[i].pid;
		bool seen = p <= 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = s.vmas[j].mm == m;
		if (!seen) {
			snap_cow(&s, m, p);
			snap_prot(&s, m, p);
		}
	}
	if (!s.failed)
		snap_format(&b, &s, pid);
	snap_free(&s);
	if (s.failed || b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* publish_mm_inspect - see publish.h. */
char *publish_mm_inspect(const struct mm *mm, pid_t pid, size_t *len)
{
	return inspect_of(mm, pid, len);
}

/* inspect_answer - this process's dump of channel 2, malloc'ed; *len its
 * length: its engine's, or in daemon mode its daemon's for it.
 * Return: NULL when out of memory (or the daemon is gone). */
static char *inspect_answer(size_t *len)
{
	if (pub.client)
		return client_inspect(len);
	return inspect_of(NULL, getpid(), len);
}

/* ---- the inspect server: several clients, each with a deadline ---------- */

#define PUB_CONNS 16
#define PUB_REQUEST_MS 2000 /* to send "inspect\n" */
#define PUB_ANSWER_MS 10000 /* to read the answer */

struct conn {
	int fd; /* -1: free */
	uint64_t deadline_ns;
	char req[64];
	size_t req_len;
	char *out; /* the answer being sent, or NULL while reading */
	const char *msg; /* or a constant one */
	bool denied;	 /* another user: answered "error permission denied" */
	size_t out_len, out_off;
};

static struct conn conns[PUB_CONNS];

static void conn_close(struct conn *c)
{
	sys_close(c->fd);
	free(c->out);
	*c = (struct conn){.fd = -1};
}

/* peer_allowed - whether the client is this process's user or root. */
static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || len != sizeof(cred))
		return false;
	return cred.uid == geteuid() || cred.uid == 0;
}

/* conn_free_slot - a free slot; when all are taken, the one closest to its
 * deadline is closed to make room (a client that sits idle cannot keep
 * others out for longer than its deadline). */
static struct conn *conn_free_slot(void)
{
	struct conn *oldest = &conns[0];
	for (int i = 0; i < PUB_CONNS; i++) {
		if (conns[i].fd < 0)
			return &conns[i];
		if (conns[i].deadline_ns < oldest->deadline_ns)
			oldest = &conns[i];
	}
	conn_close(oldest);
	return oldest;
}

/* accept_all - accept every waiting client. Another user's request is
 * read like any other (closing on an unread request would reset the
 * connection before the client reads why) and refused. */
static void accept_all(void)
{
	for (;;) {
		int fd = accept4(pub.sock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		fd = fd_keep(fd);
		struct conn *c = conn_free_slot();
		*c = (struct conn){.fd = fd,
				   .deadline_ns = mono_ns() + PUB_REQUEST_MS * 1000000ull,
				   .denied = !peer_allowed(fd)};
	}
}

/* conn_reply - the request is complete (or bad): prepare the answer. */
static void conn_reply(struct conn *c)
{
	c->deadline_ns = mono_ns() + PUB_ANSWER_MS * 1000000ull;
	c->req[c->req_len] = '\0';
	if (c->denied) {
		c->msg = "error permission denied\n";
	} else if (strncmp(c->req, "inspect\n", 8)) {
		c->msg = "error unknown request\n";
	} else if (!(c->out = inspect_answer(&c->out_len))) {
		c->msg = "error out of memory\n";
	}
	if (c->msg)
		c->out_len = strlen(c->msg);
}

/* conn_io - make progress on c after poll said it is ready. */
static void conn_io(struct conn *c, short revents)
{
	if (!c->out && !c->msg) {
		ssize_t n = recv(c->fd, c->req + c->req_len,
				 sizeof(c->req) - 1 - c->req_len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(c);
			return;
		}
		if (n > 0)
			c->req_len += (size_t)n;
		if (memchr(c->req, '\n', c->req_len) || c->req_len == sizeof(c->req) - 1)
			conn_reply(c);
		else
			return;
	} else if (!(revents & (POLLOUT | POLLERR | POLLHUP))) {
		return;
	}
	const char *p = c->out ? c->out : c->msg;
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, p + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		c->out_off += (size_t)n;
	}
	conn_close(c);
}

/* serve - poll the stop fd, the listening socket and the clients until
 * deadline_ns (CLOCK_MONOTONIC). Return: false when stop_fd was signalled. */
static bool serve(uint64_t deadline_ns)
{
	for (uint64_t now = mono_ns(); now < deadline_ns; now = mono_ns()) {
		struct pollfd p[2 + PUB_CONNS] = {{.fd = pub.stop_fd, .events = POLLIN},
						  {.fd = pub.sock, .events = POLLIN}};
		uint64_t until = deadline_ns;
		for (int i = 0; i < PUB_CONNS; i++) {
			struct conn *c = &conns[i];
			if (c->fd >= 0 && c->deadline_ns <= now)
				conn_close(c);
			p[2 + i].fd = c->fd;
			p[2 + i].events = c->out || c->msg ? POLLOUT : POLLIN;
			if (c->fd >= 0 && c->deadline_ns < until)
				until = c->deadline_ns;
		}
		int ms = (int)((until - now + 999999) / 1000000);
		if (poll(p, 2 + PUB_CONNS, ms) < 0 && errno != EINTR)
			return false;
		if (p[0].revents)
			return false;
		for (int i = 0; i < PUB_CONNS; i++)
			if (conns[i].fd >= 0 && p[2 + i].revents)
				conn_io(&conns[i], p[2 + i].revents);
		if (p[1].revents & POLLIN)
			accept_all();
	}
	return true;
}

/* ---- the publisher thread ------------------------------------------------- */

/* publisher - refresh the segment every interval; serve the socket
 * meanwhile; return when stop_fd is signalled. */
static void *publisher(void *arg)
{
	(void)arg;
	for (int i = 0; i < PUB_CONNS; i++)
		conns[i] = (struct conn){.fd = -1};
	for (;;) {
		refresh();
		if (!serve(mono_ns() + FM_PUB_INTERVAL_MS * 1000000ull))
			break;
	}
	for (int i = 0; i < PUB_CONNS; i++)
		if (conns[i].fd >= 0)
			conn_close(&conns[i]);
	return NULL;
}

/* thread_start - start the publisher with every signal blocked.
 * Return: 0 or -errno. */
static int thread_start(void)
{
	pub.stop_fd = fd_keep(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (pub.stop_fd < 0)
		return -errno;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&pub.thread, NULL, publisher, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return -err;
	pub.thread_running = true;
	return 0;
}

/* thread_stop - stop and join the publisher, if it runs. */
static void thread_stop(void)
{
	if (pub.thread_running) {
		uint64_t one = 1;
		(void)!sys_write(pub.stop_fd, &one, sizeof(one));
		pthread_join(pub.thread, NULL);
		pub.thread_running = false;
	}
	if (pub.stop_fd >= 0)
		sys_close(pub.stop_fd);
	pub.stop_fd = -1;
}

/* teardown - remove the segment and the socket. */
static void teardown(void)
{
	if (pub.seg) {
		unlinkat(pub.dir_fd, pub.seg_name, 0);
		sys_munmap(pub.seg, sizeof(struct fm_pub));
		pub.seg = NULL;
	}
	if (pub.sock_bound)
		unlinkat(pub.dir_fd, pub.sock_name, 0);
	pub.sock_bound = false;
	if (pub.sock >= 0)
		sys_close(pub.sock);
	pub.sock = -1;
	if (pub.dir_fd >= 0)
		sys_close(pub.dir_fd);
	pub.dir_fd = -1;
}

/* ---- start and stop ------------------------------------------------------- */

/* env_get - the variable name, but never in a setuid or setgid program
 * (AT_SECURE): there the invoking user could make the program create a file
 * of its choice (FAULTMAP_STATS_FILE, created as the program's owner) or
 * write to an fd of its choice. Says once on stderr that it was ignored. */
static const char *env_get(const char *name)
{
	const char *v = secure_getenv(name);
	if (!v && getenv(name) && getauxval(AT_SECURE))
		fprintf(stderr, "faultmap: %s ignored: setuid or setgid program\n", name);
	return v;
}

/* trace_from_env - take FAULTMAP_TRACE_FD. The inherited fd is left as it
 * is (an exec'd image traces through it too); the engine writes to a kept
 * copy that the program cannot close. */
static void trace_from_env(void)
{
	const char *v = env_get("FAULTMAP_TRACE_FD");
	if (!v || !*v)
		return;
	char *end;
	long fd = strtol(v, &end, 10);
	if (*end || fd < 0 || fd > INT32_MAX || fcntl((int)fd, F_GETFD) < 0) {
		fprintf(stderr, "faultmap: FAULTMAP_TRACE_FD=%s: not an open fd\n", v);
		return;
	}
	int copy = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
	if (copy >= 0)
		atomic_store(&fm_trace_fd, fd_keep(copy));
}

/* publish_segment_start - the segment, socket and thread, all or none. */
static void publish_segment_start(void)
{
	int err = runtime_dir_create(pub.dir, sizeof(pub.dir));
	if (err >= 0) {
		pub.dir_fd = fd_keep(err);
		err = segment_create();
	}
	if (!err) {
		refresh();
		err = socket_create();
	}
	if (!err)
		err = thread_start();
	if (err) {
		fprintf(stderr, "faultmap: cannot publish counters in %s: %s\n",
			pub.dir[0] ? pub.dir : "the runtime directory", strerror(-err));
		thread_stop();
		teardown();
	}
}

/* start - publish_start's work; client: for a daemon's client, whose
 * trace the daemon writes. */
static void start(bool client)
{
	if (pub.started)
		return;
	pub.started = true;
	pub.client = client;
	pub.pid = getpid();
	pub.start_ns = mono_ns();
	trace_from_env();
	int fd = atomic_load(&fm_trace_fd);
	int err = client && fd >= 0 ? client_trace(fd, pub.start_ns) : 0;
	if (err)
		fprintf(stderr, "faultmap: FAULTMAP_TRACE_FD: the daemon cannot trace this "
				"process: %s\n", strerror(-err));
	const char *stats = env_get("FAULTMAP_STATS_FILE");
	if (stats && *stats)
		pub.stats_file = strdup(stats);
	const char *on = env_get("FAULTMAP_PUBLISH");
	if (on && strcmp(on, "1") == 0)
		publish_segment_start();
}

/* publish_start - see publish.h. */
void publish_start(void)
{
	start(false);
}

/* publish_client_start - see publish.h. */
void publish_client_start(void)
{
	start(true);
}

/* publish_wants_last - see publish.h. */
bool publish_wants_last(void)
{
	return pub.started && pub.pid == getpid() && (pub.stats_file || pub.seg);
}

/* write_stats - append this process's line to FAULTMAP_STATS_FILE. */
static void write_stats(void)
{
	struct fm_pub p = {0};
	snapshot(&p);
	char comm[32], line[1024];
	read_comm(comm, sizeof(comm));
	const struct fm_stats *s = &p.st;
	int n = snprintf(
	    line, sizeof(line),
	    "stats pid=%d comm=%s budget=%" PRIu64 " resident=%" PRIu64 " dirty=%" PRIu64
	    " major_faults=%" PRIu64 " minor_faults=%" PRIu64 " write_faults=%" PRIu64
	    " pages_read=%" PRIu64 " readahead_pages=%" PRIu64 " pages_written=%" PRIu64
	    " evictions=%" PRIu64 " refaults=%" PRIu64 " read_errors=%" PRIu64
	    " writeback_errors=%" PRIu64 " read_hits=%" PRIu64 " read_misses=%" PRIu64
	    " files=%u\n",
	    (int)getpid(), comm, s->budget_bytes, s->resident_bytes, s->dirty_bytes,
	    s->major_faults, s->minor_faults, s->write_faults, s->pages_read,
	    s->readahead_pages, s->pages_written, s->evictions, s->refaults,
	    s->read_errors, s->writeback_errors, p.read_hits, p.read_misses,
	    p.files_total);
	int fd = sys_openat(AT_FDCWD, pub.stats_file,
			    O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	(void)!sys_write(fd, line,
			 (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	sys_close(fd);
}

/* publish_stop - see publish.h. */
void publish_stop(void)
{
	if (!pub.started || getpid() != pub.pid || (!pub.client && engine.forked_child))
		return;
	if (atomic_exchange(&pub.stopped, true))
		return;
	thread_stop();
	if (pub.seg)
		refresh();
	teardown();
	if (trace_enabled()) {
		char line[48];
		int n = snprintf(line, sizeof(line), "exit pid=%d\n", (int)getpid());
		(void)!sys_write(atomic_load(&fm_trace_fd), line, (size_t)n);
	}
	if (pub.stats_file)
		write_stats();
}

/* trace_line - the line of fault t into line[512], t_us counted from
 * base_ns. Return: its length, or 0. */
static size_t trace_line(char *line, const struct fm_trace *t, uint64_t base_ns)
{
	const size_t size = 512;
	uint64_t t_us = t->t_ns > base_ns ? (t->t_ns - base_ns) / 1000 : 0;
	bool miss = t->result && strcmp(t->result, "miss") == 0;
	int n =
	    snprintf(line, size,
		     "fault t_us=%" PRIu64 " tid=%d addr=0x%" PRIxPTR " vma=0x%" PRIxPTR
		     "-0x%" PRIxPTR " pgoff=%" PRIu64 " index=%" PRIu64
		     " result=%s read_start=%" PRIu64 " read_pages=%" PRIu64
		     " read_us=%" PRIu64 " installed=%" PRIu64 " total_us=%" PRIu64 "\n",
		     t_us, t->tid, t->addr, t->vm_start, t->vm_end, t->pgoff, t->index,
		     t->result ? t->result : "?", miss ? t->read_start : 0,
		     miss ? t->read_pages : 0, miss ? t->read_ns / 1000 : 0,
		     miss ? t->installed : 0, t->total_ns / 1000);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* trace_fault - see publish.h: one line, one write (atomic on a pipe). */
void trace_fault(const struct fm_trace *t)
{
	char line[512];
	size_t n = trace_line(line, t, pub.start_ns);
	if (n)
		(void)!sys_write(atomic_load_explicit(&fm_trace_fd, memory_order_relaxed),
				 line, n);
}

/* trace_mm_fault - see publish.h. */
void trace_mm_fault(struct mm *mm, struct fm_trace *t)
{
	char line[512];
	t->total_ns = mono_ns() - t->t_ns;
	size_t n = trace_line(line, t, mm->trace_base_ns);
	if (n) /* non-blocking: a full pipe drops the line */
		(void)!sys_write(atomic_load(&mm->trace_fd), line, n);
}

/* trace_take - in the daemon (FMD_TRACE): trace mm's faults to fd, a
 * client's FAULTMAP_TRACE_FD, from now on. A pipe is opened again
 * (/proc/self/fd), non-blocking, so that the client's own end stays as it
 * was, and made as large as allowed. Return: 0 or -errno.
 * Context: engine.lock held. */
int trace_take(struct mm *mm, int fd, uint64_t base_ns)
{
	if (atomic_load(&mm->trace_fd) >= 0)
		return -EBUSY;
	struct stat st;
	if (fstat(fd, &st))
		return -errno;
	int acc = fcntl(fd, F_GETFL);
	if (acc < 0 || (acc & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	int own;
	if (S_ISFIFO(st.st_mode)) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		own = sys_openat(AT_FDCWD, path, O_WRONLY | O_NONBLOCK | O_CLOEXEC, 0);
		if (own >= 0)
			(void)fcntl(own, F_SETPIPE_SZ, 1 << 20);
	} else if (S_ISREG(st.st_mode)) {
		own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	} else {
		return -EINVAL;
	}
	if (own < 0)
		return -errno;
	mm->trace_base_ns = base_ns;
	atomic_store(&mm->trace_fd, fd_keep(own));
	return 0;
}
