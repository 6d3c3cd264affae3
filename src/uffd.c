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
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>


/* What the engine needs of the kernel: shmem MISSING and WP, fork events,
 * and the faulting thread's id (to send it SIGBUS). */
#define FM_UFFD_FEATURES                                                   \
	(UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_WP_HUGETLBFS_SHMEM |    \
	 UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_THREAD_ID)

bool uffd_fork_events;
uint64_t uffd_kernel_features;

/* uffd_new - a userfaultfd, from the system call or /dev/userfaultfd.
 * Return: the fd, or -errno (-EPERM when neither is permitted). */
static int uffd_new(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && (errno == EPERM || errno == EACCES || errno == ENOSYS)) {
		int dev = sys_openat(AT_FDCWD, "/dev/userfaultfd", O_RDWR | O_CLOEXEC, 0);
		if (dev < 0)
			return -EPERM;
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		sys_close(dev);
	}
	if (fd < 0)
		return errno == EACCES ? -EPERM : -errno;
	return fd;
}

/* uffd_open - a userfaultfd with the API handshake done. Returns -EPERM when
 * neither the syscall nor /dev/userfaultfd is permitted. Fork events need
 * CAP_SYS_PTRACE (the kernel refuses UFFD_FEATURE_EVENT_FORK without it,
 * as for a member of the faultmap group): then the userfaultfd is made
 * without them, and uffd_fork_events says so (see mm_unserve_child). */
static int uffd_open_features(int *out, uint64_t features)
{
	for (;;) {
		int fd = uffd_new();
		if (fd < 0)
			return fd;
		struct uffdio_api api = {.api = UFFD_API, .features = features};
		if (ioctl(fd, UFFDIO_API, &api) == 0) {
			uffd_fork_events = features & UFFD_FEATURE_EVENT_FORK;
			uffd_kernel_features = api.features;
			*out = fd_keep(fd);
			return 0;
		}
		int err = errno;
		sys_close(fd);
		if (err != EPERM || !(features & UFFD_FEATURE_EVENT_FORK))
			return err == EINVAL ? -ENOTSUP : -err;
		features &= ~(uint64_t)UFFD_FEATURE_EVENT_FORK;
	}
}

int uffd_open_sigbus(int *out)
{
	int fd = uffd_new();
	if (fd < 0)
		return fd;
	struct uffdio_api api = {.api = UFFD_API,
				 .features = UFFD_FEATURE_SIGBUS | UFFD_FEATURE_MISSING_SHMEM |
					     UFFD_FEATURE_WP_HUGETLBFS_SHMEM};
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		int err = errno;
		sys_close(fd);
		return err == EINVAL ? -ENOTSUP : -err;
	}
	*out = fd_keep(fd);
	return 0;
}

int uffd_unregister(int uffd, uintptr_t addr, size_t len)
{
	struct uffdio_range r = {.start = addr, .len = len};
	return ioctl(uffd, UFFDIO_UNREGISTER, &r) < 0 ? -errno : 0;
}

int uffd_open(int *out)
{
	return uffd_open_features(out, FM_UFFD_FEATURES);
}

/* uffd_open_client - a userfaultfd for a client of the daemon: no fork
 * events (a forked child registers its views again itself, root or not),
 * and uffd_fork_events is left alone. */
int uffd_open_client(int *out)
{
	bool fork_events = uffd_fork_events;
	int err = uffd_open_features(out, FM_UFFD_FEATURES & ~(uint64_t)UFFD_FEATURE_EVENT_FORK);
	uffd_fork_events = fork_events;
	return err;
}

#define UDEV_RULE "60-faultmap-userfaultfd.rules"

/* installed_udev_rule - the path of faultmap's udev rule where udev reads
 * it (make install puts it in $PREFIX/lib/udev/rules.d), or NULL. */
static const char *installed_udev_rule(void)
{
	static const char *const rules[] = {
	    "/etc/udev/rules.d/" UDEV_RULE,		"/run/udev/rules.d/" UDEV_RULE,
	    "/usr/local/lib/udev/rules.d/" UDEV_RULE, "/usr/lib/udev/rules.d/" UDEV_RULE,
	    "/lib/udev/rules.d/" UDEV_RULE,
	};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (access(rules[i], F_OK) == 0)
			return rules[i];
	return NULL;
}

/* uffd_explain_eperm - after uffd_open gave -EPERM: say on f what is in
 * the way and exactly how to get access (faultmap(7), PERMISSIONS): the
 * udev rule is copied from faultmap's sources unless it is installed.
 * Looks nothing up by name (no NSS: it may run inside an interposed mmap). */
void uffd_explain_eperm(FILE *f)
{
	struct stat st;
	if (stat("/dev/userfaultfd", &st)) {
		fprintf(f,
			"faultmap: no permission to use userfaultfd, and this kernel has "
			"no /dev/userfaultfd (Linux 6.1 and later have it). Run as root, "
			"or see PERMISSIONS in faultmap(7).\n");
		return;
	}
	const char *rule = installed_udev_rule();
	fprintf(f,
		"faultmap: no permission to use userfaultfd: /dev/userfaultfd is "
		"owned by uid %u, gid %u, mode %04o, and this process (uid %u, gid %u) "
		"may not open it.\n"
		"To give access to the group faultmap, and add yourself to it%s%s%s:\n"
		"    sudo groupadd --system faultmap\n"
		"    sudo usermod -aG faultmap $USER\n"
		"%s"
		"    sudo udevadm control --reload\n"
		"    sudo udevadm trigger --sysname-match=userfaultfd\n"
		"then log in again (or run \"newgrp faultmap\"). Or run as root. Members "
		"of that group can pause the kernel inside a copy, a known aid to kernel "
		"exploits: add trusted users only (PERMISSIONS in faultmap(7)).\n",
		(unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777),
		(unsigned)geteuid(), (unsigned)getegid(), rule ? " (the udev rule is installed: " : "",
		rule ? rule : "", rule ? ")" : "",
		rule ? "" : "    sudo cp contrib/" UDEV_RULE " /etc/udev/rules.d/   # from faultmap's sources\n");
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

static int writeprotect(int uffd, uintptr_t addr, size_t len, uint64_t mode)
{
	struct uffdio_writeprotect wp = {.range = {.start = addr, .len = len}, .mode = mode};
	return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) < 0 ? -errno : 0;
}

/* uffd_writeprotect - protect or unprotect [addr, addr+len). Unprotecting
 * also wakes threads waiting on the range. */
int uffd_writeprotect(int uffd, uintptr_t addr, size_t len, bool protect)
{
	return writeprotect(uffd, addr, len, protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0);
}

/* uffd_writeprotect_nowake - the same, never waking anyone. Protecting
 * wakes no one anyway, and the kernel refuses DONTWAKE with WP (EINVAL). */
int uffd_writeprotect_nowake(int uffd, uintptr_t addr, size_t len, bool protect)
{
	return writeprotect(uffd, addr, len,
			    protect ? UFFDIO_WRITEPROTECT_MODE_WP : UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
}

/* uffd_poison - put a poison marker on the page table entries of [addr,
 * addr+len), which must be empty, and wake the threads waiting there: an
 * access fails as at a page the kernel cannot read (SIGBUS, or EFAULT in
 * a system call) until the entries are zapped. Linux 6.6 and later. */
int uffd_poison(int uffd, uintptr_t addr, size_t len)
{
	struct uffdio_poison p = {.range = {.start = addr, .len = len}};
	return ioctl(uffd, UFFDIO_POISON, &p) < 0 ? -errno : 0;
}
