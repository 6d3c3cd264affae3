/*
 * fm_pread, fm_pwrite, fm_read and fm_write on a file faultmap caches, with
 * a buffer the kernel refuses (NULL, unmapped, PROT_NONE, read-only for a
 * read, a PROT_NONE or read-only mapping of the file itself, a buffer that
 * runs into unmapped memory or past the EOF of a mapped file), give what
 * the kernel's call gives on the same file uncached with the same kind of
 * buffer: EFAULT, or the short count where the kernel stops. Never a crash.
 * Good buffers that are faultmap mappings (pages not yet cached, or the
 * file's own mapping) still work, and both files end up the same.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum kind {
	B_NULL,
	B_UNMAPPED,
	B_NONE_ANON,
	B_NONE_FILE,	 /* PROT_NONE shared mapping of the file itself */
	B_RO_ANON,
	B_RO_FILE,	 /* read-only shared mapping of the file itself */
	B_HALF_UNMAPPED, /* 100 bytes before an unmapped page */
	B_PAST_EOF,	 /* page 1 of a mapping of a PS+100 byte file */
	B_OTHER_FILE,	 /* a shared writable mapping of another file, uncached */
	B_OWN_FILE,	 /* page 2 of a shared writable mapping of the file */
	B_KINDS
};

static const char *const kind_name[B_KINDS] = {
	"NULL", "unmapped", "PROT_NONE anonymous", "PROT_NONE mapping of the file",
	"read-only anonymous", "read-only mapping of the file", "running into unmapped memory",
	"running past EOF of a mapped file", "mapping of another file",
	"mapping of the file itself",
};

enum op { PREAD, PWRITE, READ, WRITE, OPS };
static const char *const op_name[OPS] = {"pread", "pwrite", "read", "write"};

#define SIZE (8 * PS)

struct side {
	int fm;	    /* through faultmap (1) or the kernel (0) */
	int fd;	    /* the file read and written */
	int other;  /* a file whose mapping is a buffer */
	int shortf; /* a file of PS + 100 bytes */
	unsigned char *keep; /* faultmap: a mapping that makes fd cached */
};

static void *map(const struct side *s, size_t len, int prot, int flags, int fd)
{
	void *p = s->fm ? fm_mmap(NULL, len, prot, flags, fd, 0)
			: mmap(NULL, len, prot, flags, fd, 0);
	CHECK(p != MAP_FAILED);
	return p;
}

static void unmap(const struct side *s, void *p, size_t len)
{
	CHECK((s->fm ? fm_munmap(p, len) : munmap(p, len)) == 0);
}

/* buffer - a buffer of this kind for side s; *base, *len: what to unmap. */
static unsigned char *buffer(const struct side *s, enum kind k, void **base, size_t *len)
{
	*base = NULL;
	*len = 0;
	unsigned char *p;
	switch (k) {
	case B_NULL:
		return NULL;
	case B_UNMAPPED:
		/* A hole of two pages between guards: a big allocation of the
		 * engine's during the call (a bounce buffer) cannot land in it,
		 * as it could at the end of the free space. */
		p = mmap(NULL, 4 * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(p != MAP_FAILED);
		CHECK(munmap(p + PS, 2 * PS) == 0);
		*base = p, *len = 4 * PS;
		return p + PS; /* an engine thread may map here: see still_a_hole */
	case B_NONE_ANON:
	case B_RO_ANON:
		p = mmap(NULL, 2 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(p != MAP_FAILED);
		memset(p, 0x5a, 2 * PS);
		CHECK(mprotect(p, 2 * PS, k == B_NONE_ANON ? PROT_NONE : PROT_READ) == 0);
		*base = p, *len = 2 * PS;
		return p;
	case B_NONE_FILE:
	case B_RO_FILE:
		p = map(s, SIZE, k == B_NONE_FILE ? PROT_NONE : PROT_READ, MAP_SHARED, s->fd);
		*base = p, *len = SIZE;
		return p;
	case B_HALF_UNMAPPED:
		p = mmap(NULL, 2 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(p != MAP_FAILED);
		memset(p, 0x6b, PS);
		CHECK(munmap(p + PS, PS) == 0);
		*base = p, *len = PS;
		return p + PS - 100;
	case B_PAST_EOF:
		p = map(s, 3 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, s->shortf);
		*base = p, *len = 3 * PS;
		return p + PS;
	case B_OTHER_FILE:
		p = map(s, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->other);
		*base = p, *len = SIZE;
		return p + PS;
	case B_OWN_FILE:
		p = map(s, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd);
		*base = p, *len = SIZE;
		return p + 2 * PS;
	default:
		return NULL;
	}
}

/* still_a_hole - page p is unmapped. The holes this test makes can be
 * taken by a mapping of one of the engine's threads (a view, an arena); a
 * case whose hole was taken is run again on a new one (run). */
static bool still_a_hole(const void *p)
{
	uintptr_t page = (uintptr_t)p & ~(PS - 1);
	return msync((void *)page, PS, MS_ASYNC) == -1 && errno == ENOMEM;
}

/* hole_of - the unmapped page a buffer of kind k at buf runs into, or NULL. */
static const void *hole_of(enum kind k, const unsigned char *buf)
{
	if (k == B_UNMAPPED)
		return buf;
	if (k == B_HALF_UNMAPPED)
		return buf + 100;
	return NULL;
}

struct result {
	bool hole_taken; /* the case's hole was mapped by the time it ended */
	long ret;
	int err;
	off_t pos; /* file offset after the call */
	unsigned char head[64]; /* the buffer's first bytes after a read, if readable */
};

static void run(const struct side *s, enum kind k, enum op op, size_t count, off_t off,
		struct result *r)
{
	void *base;
	size_t len;
	unsigned char *buf = buffer(s, k, &base, &len);
	const void *hole = hole_of(k, buf);
	while (hole && !still_a_hole(hole)) {
		if (base)
			CHECK(munmap(base, len) == 0);
		buf = buffer(s, k, &base, &len);
		hole = hole_of(k, buf);
	}
	CHECK(lseek(s->fd, off, SEEK_SET) == off);
	errno = 0;
	switch (op) {
	case PREAD:
		r->ret = s->fm ? fm_pread(s->fd, buf, count, off) : pread(s->fd, buf, count, off);
		break;
	case PWRITE:
		r->ret = s->fm ? fm_pwrite(s->fd, buf, count, off) : pwrite(s->fd, buf, count, off);
		break;
	case READ:
		r->ret = s->fm ? fm_read(s->fd, buf, count) : read(s->fd, buf, count);
		break;
	case WRITE:
		r->ret = s->fm ? fm_write(s->fd, buf, count) : write(s->fd, buf, count);
		break;
	default:
		break;
	}
	r->err = r->ret < 0 ? errno : 0;
	r->hole_taken = hole && !still_a_hole(hole);
	r->pos = lseek(s->fd, 0, SEEK_CUR);
	memset(r->head, 0, sizeof(r->head));
	if (k == B_OTHER_FILE || k == B_OWN_FILE || k == B_PAST_EOF)
		memcpy(r->head, buf, sizeof(r->head));
	if (k == B_OTHER_FILE || k == B_OWN_FILE) /* shared: reach the file */
		CHECK((s->fm ? fm_msync(base, len, MS_SYNC) : msync(base, len, MS_SYNC)) == 0);
	if (base && (k == B_NONE_FILE || k == B_RO_FILE || k == B_PAST_EOF ||
		     k == B_OTHER_FILE || k == B_OWN_FILE))
		unmap(s, base, len);
	else if (base)
		CHECK(munmap(base, len) == 0);
}

int main(void)
{
	each_mode();
	require_engine();
	char kp[64], fp[64], kop[64], fop[64], ksp[64], fsp[64];
	struct side k = {.fm = 0}, f = {.fm = 1};
	k.fd = make_file(kp, SIZE, 21, O_RDWR);
	f.fd = make_file(fp, SIZE, 21, O_RDWR);
	k.other = make_file(kop, SIZE, 22, O_RDWR);
	f.other = make_file(fop, SIZE, 22, O_RDWR);
	k.shortf = make_file(ksp, PS + 100, 23, O_RDWR);
	f.shortf = make_file(fsp, PS + 100, 23, O_RDWR);
	/* The faultmap side's file is cached while mapped. */
	f.keep = fm_mmap(NULL, SIZE, PROT_READ, MAP_SHARED, f.fd, 0);
	CHECK(f.keep != MAP_FAILED);

	static const size_t counts[] = {0, 1, PS, 2 * PS};
	int bad = 0, cases = 0;
	for (int kind = 0; kind < B_KINDS; kind++)
		for (int op = 0; op < OPS; op++)
			for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++)
				for (off_t off = 0; off <= (off_t)SIZE; off += 3 * PS + 1) {
					struct result rk, rf;
					do {
						run(&k, (enum kind)kind, (enum op)op, counts[c], off, &rk);
						run(&f, (enum kind)kind, (enum op)op, counts[c], off, &rf);
					} while (rk.hole_taken || rf.hole_taken);
					cases++;
					if (rk.ret != rf.ret || rk.err != rf.err || rk.pos != rf.pos ||
					    memcmp(rk.head, rf.head, sizeof(rk.head))) {
						fprintf(stderr,
							"%s of %zu bytes at %lld into a buffer %s: "
							"kernel %ld (%s) offset %lld, faultmap %ld (%s) "
							"offset %lld%s\n",
							op_name[op], counts[c], (long long)off,
							kind_name[kind], rk.ret,
							rk.err ? strerrorname_np(rk.err) : "ok",
							(long long)rk.pos, rf.ret,
							rf.err ? strerrorname_np(rf.err) : "ok",
							(long long)rf.pos,
							memcmp(rk.head, rf.head, sizeof(rk.head))
								? ", buffers differ" : "");
						bad++;
					}
				}
	/* Both files went through the same calls. */
	CHECK(fm_munmap(f.keep, SIZE) == 0);
	const char *pairs[3][2] = {{kp, fp}, {kop, fop}, {ksp, fsp}};
	for (int i = 0; i < 3; i++) {
		size_t n1, n2;
		unsigned char *a = slurp(pairs[i][0], &n1), *b = slurp(pairs[i][1], &n2);
		if (n1 != n2 || memcmp(a, b, n1)) {
			fprintf(stderr, "file pair %d differs after the calls\n", i);
			bad++;
		}
		free(a), free(b);
		unlink(pairs[i][0]), unlink(pairs[i][1]);
	}
	printf("%d cases, %d differences\n", cases, bad);
	return bad ? 1 : 0;
}
