/*
 * proto.c - one message over the daemon's SOCK_SEQPACKET socket, with its
 * file descriptors (SCM_RIGHTS). See proto.h.
 */
#include "daemon/proto.h"
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

static long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

bool fmd_bell_wait(_Atomic uint32_t *counter, uint32_t seen, long ns)
{
	if (ns <= 0)
		return false;
	long until = 0;
	for (unsigned i = 0;; i++) {
		if (atomic_load_explicit(counter, memory_order_acquire) != seen)
			return true;
		if (i % 64 == 0) { /* the clock is a vDSO call: 30 ns */
			long now = now_ns();
			if (!until)
				until = now + ns;
			else if (now >= until)
				return false;
		}
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
}

int fmd_send(int sock, const void *msg, size_t len, const void *payload,
	     size_t plen, const int *fds, int nfds)
{
	struct iovec iov[2] = {{(void *)msg, len}, {(void *)payload, plen}};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * FMD_MAX_FDS)];
	} ctl;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = plen ? 2 : 1};
	if (nfds < 0 || nfds > FMD_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n == (ssize_t)(len + plen))
			return 0;
		if (n >= 0)
			return -EMSGSIZE; /* a seqpacket send is all or nothing */
		if (errno != EINTR)
			return errno == ECONNRESET ? -EPIPE : -errno;
	}
}

ssize_t fmd_recv(int sock, void *buf, size_t size, int *fds, int *nfds)
{
	struct iovec iov = {buf, size};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
	*nfds = 0;
	ssize_t n;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET ? 0 : -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < FMD_MAX_FDS && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
				fds[(*nfds)++] = fd;
			else
				sys_close(fd);
		}
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		for (int i = 0; i < *nfds; i++)
			sys_close(fds[i]);
		*nfds = 0;
		return -EMSGSIZE;
	}
	return n;
}
