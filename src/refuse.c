/*
 * refuse.c - a first write refused (the file system is full), met inside a
 * system call.
 *
 * A first write to a page the file has no blocks for, on a full file
 * system, fails in the kernel's page_mkwrite: a store of the program gets
 * SIGBUS, and a system call that copies into the page (read(2) or recv
 * into a mapping) gets EFAULT, or a short count. The page stays readable.
 * The engine refuses such a write (writeback.c, page_mkwrite) and sends a
 * store SIGBUS; but a thread that faulted inside a system call does not
 * take the signal there, and the kernel retries the copy's fault for as
 * long as no fatal signal is pending: it would hang. A poison marker
 * (poison.c) would fail the call, but also every load of the page, which
 * is valid; a read-only page (mprotect) fails the call, but a store by
 * another thread meanwhile would get SIGSEGV, where the kernel sends
 * SIGBUS. So the page moves, in this process's view, to a second
 * userfaultfd made with UFFD_FEATURE_SIGBUS (registered missing and
 * write-protect, the page write-protected there): the kernel then fails
 * every fault there at once, as page_mkwrite's failure does: the retried
 * copy gets EFAULT (or a short count), a store of any thread SIGBUS, and
 * loads still read the page. The move is made with the page read-only for
 * its few system calls (the unregistration makes it writable: a store
 * then would pass unseen).
 *
 * The page moves back (registered with the engine's userfaultfd again,
 * write-protected) when the engine finds room for it: it keeps each page
 * it refused out of eviction's way (a load there would fail) and tries
 * the reservation again every POISON_CHECK_MS (fault.c, refusals_check);
 * once it succeeds, the next write is accepted. So while the file system
 * stays full, the page stays here and every write fails as under the
 * kernel; only a store in the few system calls of a move (the page
 * read-only) gets SIGSEGV (docs/design.md, "What is not done yet").
 *
 * Only the process itself can change its protections and registrations:
 * in embedded mode the fault thread does it, under engine.lock; a daemon's
 * client is told by the daemon over its life line, and its watcher does
 * it, under the client's map_lock (client.c). The table is this process's;
 * the caller's lock covers it. A mapping call over a refused page moves it
 * back, and forgets it (the program's protection is what it asks); so does
 * a fork.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define REFUSE_MAX 256

struct refused {
	uintptr_t addr;
	int uffd; /* the userfaultfd the view is registered with */
};
static struct refused refused[REFUSE_MAX];
_Atomic unsigned refuse_count;
static int sigbus_uffd = -1; /* UFFD_FEATURE_SIGBUS: where refused pages are */

/* read_small - the text of a small /proc file into buf (NUL-terminated).
 * Return: 0, or -errno (-ENOENT: the thread is gone). */
static int read_small(const char *path, char *buf, size_t n)
{
	int fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ssize_t r = sys_read(fd, buf, n - 1);
	int err = errno;
	sys_close(fd);
	if (r < 0)
		return -err;
	buf[r] = '\0';
	return 0;
}

int thread_syscall(pid_t tid, char *buf, size_t n)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	return read_small(path, buf, n);
}

bool syscall_line_in_call(const char *line)
{
	return strncmp(line, "-1 ", 3) && strncmp(line, "running", 7);
}

/*
 * view_prot - the protection of this process's faultmap shared view at
 * addr (a memfd named "faultmap:..."), from /proc/self/maps, read with a
 * fixed buffer (no allocation). Return: PROT_* bits, or -1 if addr is not
 * in such a view.
 */
static int view_prot(uintptr_t addr)
{
	static const char tag[] = "/memfd:faultmap:";
	int fd = sys_openat(AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	char buf[4096];
	size_t have = 0;
	int prot = -1;
	for (bool done = false; !done;) {
		ssize_t n = sys_read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			unsigned long lo, hi;
			char perms[8];
			if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && lo <= addr &&
			    addr < hi) {
				if (perms[3] == 's' && strstr(line, tag))
					prot = (perms[0] == 'r' ? PROT_READ : 0) |
					       (perms[1] == 'w' ? PROT_WRITE : 0) |
					       (perms[2] == 'x' ? PROT_EXEC : 0);
				done = true;
				break;
			}
			line = nl + 1;
		}
		have = buf + have - line;
		memmove(buf, line, have);
		if (have == sizeof(buf) - 1)
			have = 0; /* a line longer than the buffer: not ours */
	}
	sys_close(fd);
	return prot;
}

bool shared_view(uintptr_t addr)
{
	return view_prot(addr) >= 0;
}

/* move - register the page at addr, in a shared view of protection prot
 * that tracks writes, with userfaultfd to (missing and write-protect) in
 * place of from, and write-protect it there. Read-only meanwhile: the
 * unregistration drops the write protection (and wakes the threads
 * waiting on the page: the refused one may retry, and run on, before the
 * move is done). Return: 0 or -errno. */
static int move(uintptr_t addr, int prot, int from, int to)
{
	void *page = (void *)addr;
	if (sys_mprotect(page, FM_PAGE_SIZE, prot & ~PROT_WRITE) < 0)
		return -errno;
	int err = uffd_unregister(from, addr, FM_PAGE_SIZE);
	if (!err)
		err = uffd_register(to, page, FM_PAGE_SIZE, true);
	if (!err)
		err = uffd_writeprotect_nowake(to, addr, FM_PAGE_SIZE, true);
	if (sys_mprotect(page, FM_PAGE_SIZE, prot) < 0 && !err)
		err = -errno;
	return err;
}

/* sigbus_uffd_get - the userfaultfd whose every fault fails at once,
 * made at the first refusal. Return: it, or -errno. */
static int sigbus_uffd_get(void)
{
	if (sigbus_uffd < 0) {
		int err = uffd_open_sigbus(&sigbus_uffd);
		if (err)
			return err;
	}
	return sigbus_uffd;
}

int refuse_write(int uffd, uintptr_t addr, pid_t tid)
{
	addr &= ~(uintptr_t)(FM_PAGE_SIZE - 1);
	unsigned n = atomic_load(&refuse_count);
	char where[160];
	int err = thread_syscall(tid, where, sizeof(where));
	if (err)
		return err;
	if (!syscall_line_in_call(where))
		return 0; /* a store of the program's: SIGBUS */
	for (unsigned i = 0; i < n; i++)
		if (refused[i].addr == addr)
			return 1; /* refused already */
	if (n == REFUSE_MAX)
		return -EAGAIN;
	int prot = view_prot(addr);
	if (prot < 0 || !(prot & PROT_WRITE))
		return -ENOENT;
	int to = sigbus_uffd_get();
	if (to < 0)
		return to;
	err = move(addr, prot, uffd, to);
	if (err) { /* back where it was, if it moved at all */
		(void)move(addr, prot, to, uffd);
		return err;
	}
	refused[n] = (struct refused){.addr = addr, .uffd = uffd};
	atomic_store(&refuse_count, n + 1);
	return 1;
}

/* put_back - register r's page with its view's userfaultfd again,
 * write-protected, if it is still in a faultmap shared view (a mapping
 * call may have unmapped or replaced it: then only its registration with
 * sigbus_uffd goes, if any is left). */
static void put_back(const struct refused *r)
{
	int prot = view_prot(r->addr);
	if (prot >= 0) {
		(void)move(r->addr, prot, sigbus_uffd, r->uffd);
	} else {
		(void)uffd_unregister(sigbus_uffd, r->addr, FM_PAGE_SIZE);
	}
}

/* drop - remove refusal i, putting its page back or not. */
static void drop(unsigned i)
{
	unsigned n = atomic_load(&refuse_count);
	put_back(&refused[i]);
	refused[i] = refused[n - 1];
	atomic_store(&refuse_count, n - 1);
}

void refuse_forget(uintptr_t lo, uintptr_t hi)
{
	for (unsigned i = 0; i < atomic_load(&refuse_count);) {
		if (refused[i].addr >= lo && refused[i].addr < hi)
			drop(i);
		else
			i++;
	}
}
