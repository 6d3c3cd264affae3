/*
 * Daemon mode: what a client sends cannot crash the daemon, hang its other
 * clients or get more than the client's own descriptors allow.
 *  - A fuzzer: connections that send random bytes, wrong sizes, unknown
 *    ops, random arguments, random descriptors (a pipe, /dev/null, a
 *    socket) where a userfaultfd belongs, requests before FMD_HELLO. After
 *    each, this process's own mapping still works, served by the daemon.
 *  - A read-only fd never yields a writable shared view: FMD_MMAP asking
 *    for PROT_WRITE gets EACCES, and the memfd sent for a read-only view
 *    cannot be mapped writable.
 *  - faultmap cache (FMD_CACHE, in the fuzzer too, on the real file with
 *    ranges near it) acts only on what the fd sent may read: an O_PATH or
 *    write-only fd gets EBADF, a pipe ENODEV; bad arguments EINVAL.
 *  - FMD_STORE_OPEN checks every field (the URL's length and NULs, the
 *    flags, the unused arguments); FMD_STORE_CLOSE of a store the client
 *    does not hold, FMD_STORE_SIZE of a file: EBADF.
 *  - Another user cannot connect at all.
 */
#include "helpers.h"
#include "daemon/proto.h"
#include "daemon/server.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 400

static char sock_path[512];

static int dial(void)
{
	const char *path = sock_path;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	strcpy(sun.sun_path, path);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		close(s);
		errno = e;
		return -1;
	}
	return s;
}

/* ask - one request; the reply's err, or 1 if the daemon hung up. */
static int ask(int s, struct fmd_req *r, int *fds, int nfds, int *fd_out)
{
	if (fmd_send(s, r, sizeof(*r), NULL, 0, fds, nfds))
		return 1;
	struct {
		struct fmd_rep rep;
		struct fmd_cache_info info; /* FMD_CACHE's payload */
	} m;
	struct fmd_rep rep;
	int rf[FMD_MAX_FDS], nr;
	ssize_t n = fmd_recv(s, &m, sizeof(m), rf, &nr);
	if (n < (ssize_t)sizeof(rep) || n != (ssize_t)(sizeof(rep) + m.rep.len))
		return 1;
	rep = m.rep;
	for (int i = 0; i < nr; i++) {
		if (fd_out && i == 0)
			*fd_out = rf[i];
		else
			close(rf[i]);
	}
	return rep.err;
}

static void still_served(volatile unsigned char *p, const unsigned char *want, uint64_t *s)
{
	size_t i = rnd(s) % 256;
	CHECK_EQ(p[i * PS + 3], want[i * PS + 3]);
}

int main(void)
{
	daemon_private();
	CHECK(fmd_socket_path(sock_path, sizeof(sock_path)) == 0);
	/* Another user, forked before this process has threads (TSan). */
	int go[2];
	CHECK(pipe(go) == 0);
	pid_t other = geteuid() == 0 ? fork() : -1;
	if (other == 0) {
		char c;
		close(go[1]);
		if (read(go[0], &c, 1) != 1) /* the daemon runs */
			_exit(5);
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(3);
		int x = dial();
		if (x >= 0 || errno != EACCES)
			fprintf(stderr, "another user's connect: %d, %s\n", x, strerror(errno));
		_exit(x < 0 && errno == EACCES ? 0 : 4);
	}
	close(go[0]);
	require_engine();
	char path[64];
	int fd = make_file(path, 256 * PS, 21, O_RDWR);
	unsigned char *want = malloc(256 * PS);
	fill_pattern(want, 256 * PS, 21);
	volatile unsigned char *p = fm_mmap(NULL, 256 * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(fm_madvise((void *)p, 256 * PS, MADV_RANDOM) == 0);
	uint64_t s = 77;
	int junk[3];
	int pp[2], sp[2];
	CHECK(pipe(pp) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
	junk[0] = pp[0], junk[1] = open("/dev/null", O_RDWR), junk[2] = sp[0];
	for (int round = 0; round < ROUNDS; round++) {
		int c = dial();
		CHECK(c >= 0);
		int kind = (int)(rnd(&s) % 4);
		for (int m = 0; m < 8; m++) {
			unsigned char buf[256];
			size_t len = sizeof(struct fmd_req);
			for (size_t i = 0; i < sizeof(buf); i++)
				buf[i] = (unsigned char)rnd(&s);
			struct fmd_req *r = (struct fmd_req *)buf;
			if (kind == 0) /* any size, any bytes */
				len = 1 + rnd(&s) % sizeof(buf);
			else if (kind >= 1) /* a real op, random arguments */
				r->op = 1 + rnd(&s) % (FMD_OP_MAX - 1), r->flags = 0;
			if (r->op == FMD_STOP)
				r->op = FMD_STATS; /* the one a client may really ask */
			if (kind == 2 && (r->op == FMD_HELLO || r->op == FMD_FORK_ADOPT))
				r->a[0] = r->op == FMD_HELLO ? FMD_VERSION : r->a[0],
				r->a[1] = FMD_VERSION;
			int nfds = (int)(rnd(&s) % 3);
			int fds[2] = {junk[rnd(&s) % 3], junk[rnd(&s) % 3]};
			if (kind == 3 && r->op == FMD_MMAP) {
				nfds = 1;
				fds[0] = fd;
			}
			if (kind == 3 && rnd(&s) % 3 == 0)
				r->op = FMD_CACHE; /* often: it needs no FMD_HELLO */
			if (kind == 3 && r->op == FMD_CACHE) { /* the real file, near ranges */
				nfds = 1;
				fds[0] = fd;
				r->a[0] %= FMD_CACHE_WHAT_MAX + 1;
				if (rnd(&s) % 2)
					r->a[1] %= 300 * PS, r->a[2] %= 300 * PS;
			}
			if (fmd_send(c, buf, len, NULL, 0, fds, nfds))
				break; /* it hung up on us: fine */
			char rep[sizeof(struct fmd_rep) + sizeof(struct fmd_cache_info)];
			int rf[FMD_MAX_FDS], nr = 0;
			struct timeval tv = {5, 0};
			setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			ssize_t n = fmd_recv(c, rep, sizeof(rep), rf, &nr);
			for (int i = 0; i < nr; i++)
				close(rf[i]);
			CHECK(n != -EAGAIN); /* an answer or a hang-up, never silence */
			if (n <= 0)
				break;
		}
		close(c);
		still_served(p, want, &s);
	}
	/* faultmap cache acts only on what the client's fd may read: an
	 * O_PATH or write-only fd gets EBADF, a pipe ENODEV. */
	int opath = open(path, O_PATH), wronly = open(path, O_WRONLY);
	CHECK(opath >= 0 && wronly >= 0);
	struct fmd_req cache = {.op = FMD_CACHE, .a = {FMD_CACHE_TOUCH, 0, 0}};
	int c0 = dial();
	CHECK_EQ(ask(c0, &cache, &opath, 1, NULL), -EBADF);
	CHECK_EQ(ask(c0, &cache, &wronly, 1, NULL), -EBADF);
	CHECK_EQ(ask(c0, &cache, &pp[0], 1, NULL), -ENODEV);
	cache.a[0] = FMD_CACHE_WHAT_MAX;
	CHECK_EQ(ask(c0, &cache, &fd, 1, NULL), -EINVAL);
	cache.a[0] = FMD_CACHE_QUERY, cache.a[1] = (uint64_t)INT64_MAX + 1;
	CHECK_EQ(ask(c0, &cache, &fd, 1, NULL), -EINVAL);
	cache.a[0] = FMD_CACHE_LOCK, cache.a[1] = 0, cache.a[2] = UINT64_MAX / 2;
	CHECK_EQ(ask(c0, &cache, &fd, 1, NULL), 0); /* the whole file, past its end */
	close(c0);
	close(opath);
	close(wronly);
	still_served(p, want, &s);
	/* A read-only fd: no writable shared view. */
	int ro = open(path, O_RDONLY);
	CHECK(ro >= 0);
	int c = dial();
	int uffd;
	CHECK(uffd_open_client(&uffd) == 0);
	int life[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, life) == 0);
	int hello_fds[2] = {uffd, life[1]};
	struct fmd_req hello = {.op = FMD_HELLO, .a = {FMD_VERSION, (uint64_t)getpid()}};
	int bounce_fd = -1;
	CHECK_EQ(ask(c, &hello, hello_fds, 2, &bounce_fd), 0);
	char *bounce = mmap(NULL, FMD_BOUNCE, PROT_READ | PROT_WRITE, MAP_SHARED, bounce_fd, 0);
	CHECK(bounce != MAP_FAILED);
	close(bounce_fd);
	void *area = mmap(NULL, 4 * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(area != MAP_FAILED);
	struct fmd_req mm = {.op = FMD_MMAP,
			     .a = {(uintptr_t)area, 4 * PS, 0, PROT_READ | PROT_WRITE, MAP_SHARED, 1}};
	CHECK_EQ(ask(c, &mm, &ro, 1, NULL), -EACCES);
	mm.a[3] = PROT_READ;
	int memfd = -1;
	CHECK_EQ(ask(c, &mm, &ro, 1, &memfd), 0);
	CHECK(memfd >= 0);
	CHECK_EQ(fcntl(memfd, F_GETFL) & O_ACCMODE, O_RDONLY);
	CHECK(mmap(NULL, 4 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0) == MAP_FAILED);
	CHECK_EQ(errno, EACCES);
	close(memfd);
	/* Stores: every field of FMD_STORE_OPEN checked; the URL is read
	 * from the bounce buffer once, and must hold no NUL. */
	static const char url[] = "nbd+unix:///?socket=/nonexistent/faultmap.sock";
	memcpy(bounce, url, sizeof(url));
	struct fmd_req so = {.op = FMD_STORE_OPEN, .a = {sizeof(url) - 1, O_RDONLY}};
	CHECK_EQ(ask(c, &so, NULL, 0, NULL), -ENOENT); /* as fm_store_open */
	so.a[0] = sizeof(url); /* its NUL inside */
	CHECK_EQ(ask(c, &so, NULL, 0, NULL), -EINVAL);
	so.a[0] = FMD_BOUNCE;
	CHECK_EQ(ask(c, &so, NULL, 0, NULL), -EINVAL);
	so.a[0] = sizeof(url) - 1;
	so.a[1] = O_WRONLY;
	CHECK_EQ(ask(c, &so, NULL, 0, NULL), -EINVAL);
	so.a[1] = (uint64_t)1 << 40 | O_RDONLY;
	CHECK_EQ(ask(c, &so, NULL, 0, NULL), -EINVAL);
	so.a[1] = O_RDONLY;
	so.a[5] = 1;
	CHECK_EQ(ask(c, &so, NULL, 0, NULL), -EINVAL);
	struct fmd_req sc = {.op = FMD_STORE_CLOSE, .a = {12345}};
	CHECK_EQ(ask(c, &sc, NULL, 0, NULL), -EBADF); /* no such store */
	struct fmd_req ss = {.op = FMD_STORE_SIZE};
	CHECK_EQ(ask(c, &ss, &ro, 1, NULL), -EBADF); /* a file, no stand-in */
	CHECK_EQ(ask(c, &ss, NULL, 0, NULL), 1); /* its fd missing: hung up */
	munmap(bounce, FMD_BOUNCE);
	close(c);
	still_served(p, want, &s);
	/* Another user cannot even connect (the directory is 0700). */
	if (other > 0) {
		CHECK(write(go[1], "g", 1) == 1);
		int status;
		CHECK(waitpid(other, &status, 0) == other);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	close(go[1]);
	still_served(p, want, &s);
	CHECK(fm_munmap((void *)p, 256 * PS) == 0);
	close(fd);
	close(ro);
	unlink(path);
	free(want);
	return 0;
}
