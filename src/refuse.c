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
 * is valid. So the page is made read-only instead, in this process's view
 * (mprotect of the page, without PROT_WRITE): the retried copy fails with
 * EFAULT at that page, as under the kernel, and loads still read it.
 *
 * The page is writable again (its protection put back) as soon as the
 * thread is past the access: gone, running, faulting again, or scheduled
 * since the refusal (it was woken to retry, and a retry fails at once);
 * the next write asks page_mkwrite again, which may find room by then.
 * Meanwhile a store to that page by another thread gets SIGSEGV where the
 * kernel would send SIGBUS (docs/design.md, "What is not done yet").
 *
 * Only the process itself can change its protections: in embedded mode
 * the fault thread does it, under engine.lock; a daemon's client is told
 * by the daemon over its life line, and its watcher does it, under the
 * client's map_lock (client.c). The table is this process's; the caller's
 * lock covers it. A mapping call over a refused page forgets it (the
 * program's protection wins); one that moves it (mremap) or a fork puts it
 * back first.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define REFUSE_MAX 32

struct refused {
	uintptr_t addr;
	int prot;		/* the view's protection, put back */
	pid_t tid;
	unsigned long long runs; /* the thread's times scheduled, then */
	char where[160];	/* its /proc/.../syscall line then */
};
static struct refused refused[REFUSE_MAX];
_Atomic unsigned refuse_count;

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

/* thread_runs - how many times thread tid was scheduled (the third field
 * of its schedstat), or 0 where the kernel does not count. */
static unsigned long long thread_runs(pid_t tid)
{
	char path[64], buf[96];
	unsigned long long run, wait, slices;
	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", (int)tid);
	if (read_small(path, buf, sizeof(buf)) ||
	    sscanf(buf, "%llu %llu %llu", &run, &wait, &slices) != 3)
		return 0;
	return slices;
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

int refuse_write(uintptr_t addr, pid_t tid)
{
	addr &= ~(uintptr_t)(FM_PAGE_SIZE - 1);
	unsigned n = atomic_load(&refuse_count);
	struct refused *r = &refused[n];
	if (n == REFUSE_MAX)
		return -EAGAIN;
	int err = thread_syscall(tid, r->where, sizeof(r->where));
	if (err)
		return err;
	if (!syscall_line_in_call(r->where))
		return 0; /* a store of the program's: SIGBUS */
	for (unsigned i = 0; i < n; i++)
		if (refused[i].addr == addr) { /* refused already: the retry fails */
			refused[i].tid = tid;
			memcpy(refused[i].where, r->where, sizeof(r->where));
			refused[i].runs = thread_runs(tid);
			return 1;
		}
	r->prot = view_prot(addr);
	if (r->prot < 0 || !(r->prot & PROT_WRITE))
		return -ENOENT;
	r->runs = thread_runs(tid);
	if (sys_mprotect((void *)addr, FM_PAGE_SIZE, r->prot & ~PROT_WRITE) < 0)
		return -errno;
	r->addr = addr;
	r->tid = tid;
	atomic_store(&refuse_count, n + 1);
	return 1;
}

/* past_access - whether the thread of r is past the access it was refused:
 * gone, in user mode or running, blocked elsewhere, or scheduled since. */
static bool past_access(const struct refused *r)
{
	char now[sizeof(r->where)];
	int err = thread_syscall(r->tid, now, sizeof(now));
	if (err)
		return true;
	return !syscall_line_in_call(now) || strcmp(now, r->where) || thread_runs(r->tid) != r->runs;
}

/* put_back - make r's page writable again, if the view is still as the
 * refusal left it (else the program changed it since: its protection
 * stays). */
static void put_back(const struct refused *r)
{
	if (view_prot(r->addr) == (r->prot & ~PROT_WRITE))
		(void)sys_mprotect((void *)r->addr, FM_PAGE_SIZE, r->prot);
}

/* drop - remove refusal i, putting its page back or not. */
static void drop(unsigned i, bool restore)
{
	unsigned n = atomic_load(&refuse_count);
	if (restore)
		put_back(&refused[i]);
	refused[i] = refused[n - 1];
	atomic_store(&refuse_count, n - 1);
}

bool refuse_reap(pid_t tid)
{
	for (unsigned i = 0; i < atomic_load(&refuse_count);) {
		const struct refused *r = &refused[i];
		if (tid ? r->tid == tid : past_access(r))
			drop(i, true);
		else
			i++;
	}
	return atomic_load(&refuse_count) > 0;
}

void refuse_forget(uintptr_t lo, uintptr_t hi, bool restore)
{
	for (unsigned i = 0; i < atomic_load(&refuse_count);) {
		if (refused[i].addr >= lo && refused[i].addr < hi)
			drop(i, restore);
		else
			i++;
	}
}
