/*
 * uffd.c - the userfaultfd layer: opening, registering views, inserting
 * pages (UFFDIO_COPY), waking faulting threads, write-protecting.
 *
 * All functions return 0 or -errno.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

/* What the engine needs of the kernel: shmem MISSING and WP, fork events,
 * and the faulting thread's id (to send it SIGBUS). */
#define FM_UFFD_FEATURES                                                   \
	(UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_WP_HUGETLBFS_SHMEM |    \
	 UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_THREAD_ID)

/* uffd_open - a userfaultfd with the API handshake done. Returns -EPERM when
 * neither the syscall nor /dev/userfaultfd is permitted. */
int uffd_open(int *out)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && (errno == EPERM || errno == EACCES || errno == ENOSYS)) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev < 0)
			return -EPERM;
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		sys_close(dev);
	}
	if (fd < 0)
		return errno == EACCES ? -EPERM : -errno;
	struct uffdio_api api = {.api = UFFD_API, .features = FM_UFFD_FEATURES};
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		int err = errno;
		sys_close(fd);
		return err == EINVAL ? -ENOTSUP : -err;
	}
	*out = fd_keep(fd);
	return 0;
}

int uffd_register(int uffd, void *addr, size_t len, bool wp)
{
	struct uffdio_register reg = {
		.range = {.start = (uintptr_t)addr, .len = len},
		.mode = UFFDIO_REGISTER_MODE_MISSING |
			(wp ? UFFDIO_REGISTER_MODE_WP : 0),
	};
	return ioctl(uffd, UFFDIO_REGISTER, &reg) < 0 ? -errno : 0;
}

/* uffd_copy - fill [dst, dst+len) from src and add the pages to the memfd's
 * cache, without waking anyone; *done says how many bytes were copied. Fails
 * with -EEXIST at a page already there, and with -EAGAIN while the mm is
 * changing (a fork in progress). */
int uffd_copy(int uffd, void *dst, const void *src, size_t len, size_t *done)
{
	*done = 0;
	while (*done < len) {
		struct uffdio_copy c = {
			.dst = (uintptr_t)dst + *done,
			.src = (uintptr_t)src + *done,
			.len = len - *done,
			.mode = UFFDIO_COPY_MODE_DONTWAKE,
		};
		int ret = ioctl(uffd, UFFDIO_COPY, &c);
		if (c.copy > 0)
			*done += (size_t)c.copy;
		if (ret == 0)
			continue;
		if (c.copy <= 0)
			return -errno;
	}
	return 0;
}

int uffd_wake(int uffd, uintptr_t addr, size_t len)
{
	struct uffdio_range r = {.start = addr, .len = len};
	return ioctl(uffd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
}

/* uffd_writeprotect - protect or unprotect [addr, addr+len). Unprotecting
 * also wakes threads waiting on the range. */
int uffd_writeprotect(int uffd, uintptr_t addr, size_t len, bool protect)
{
	struct uffdio_writeprotect wp = {
		.range = {.start = addr, .len = len},
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};
	return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) < 0 ? -errno : 0;
}
