/*
 * poison.c - a fault that must fail, met inside a system call.
 *
 * When a page cannot be read, the kernel's answer depends on where the
 * access was: SIGBUS for the program's own load or store, EFAULT (or a
 * short count) for a system call that copies to or from the page (read(2)
 * into a mapping, write(2) from it, process_vm_readv). The engine can send
 * SIGBUS itself, but a thread that faulted inside a system call does not
 * take it there: the kernel retries the copy's fault for as long as no
 * fatal signal is pending, and each retry is a new fault for the engine.
 * So for such a thread the engine poisons the page in the faulting view
 * instead (UFFDIO_POISON, Linux 6.6 and later): the kernel then fails the
 * retried fault, the system call returns EFAULT, and a load or store would
 * get SIGBUS (BUS_ADRERR), as from the kernel's own read error.
 *
 * Where the thread was is /proc/self/task/TID/syscall: "-1 ..." while it
 * waits in a fault from user mode, the system call's number inside one.
 *
 * A poisoned page fails without asking the engine, so a marker must not
 * outlive the access it was made for: the next access is to read the page
 * again, which may work by then (the disk healed, the file grew). It is
 * cleared (MADV_DONTNEED of the page, and write protection put back in a
 * view tracking writes) once the thread is past the access: when it faults
 * again anywhere, when it is seen blocked elsewhere (another system call,
 * another place in the program), or when it is gone. The fault thread
 * looks every POISON_CHECK_MS while markers are left. Only this process's
 * views are poisoned (a marker can be cleared only in one's own address
 * space): a daemon's client is told over its life line that its thread's
 * page cannot be read (tell_client), and its watcher thread makes the
 * marker, or sends the SIGBUS of a load, and clears it (poison_thread,
 * poison_reap, under the client's map_lock). Only where the marker can be
 * told apart from a page later
 * (/proc/self/pagemap): any shared view; a private one only where pagemap
 * shows frame numbers (root), since a private view's swapped-out page looks
 * the same as a marker otherwise.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define POISON_MAX 32
#define PM_PRESENT (1ull << 63)
#define PM_SWAP (1ull << 62)
#define PM_UFFD_WP (1ull << 57)
#define PM_FRAME ((1ull << 55) - 1)
/* A poison marker as pagemap shows it with frame numbers: swap type
 * SWP_PTE_MARKER (31), offset PTE_MARKER_POISONED (2). */
#define PM_POISON_FRAME (31ull | 2ull << 5)

struct poisoned {
	uintptr_t addr;
	struct address_space *as; /* NULL: a daemon client's own marker */
	uint64_t index;
	pid_t tid;
	int uffd;	  /* a client's: its userfaultfd */
	bool wp, shared; /* a client's: its view tracks writes, is shared */
	char where[160]; /* the thread's /proc/.../syscall line then */
};
static struct poisoned poisoned[POISON_MAX];
static unsigned nr_poisoned;

/* pagemap - this process's /proc/self/pagemap entry of addr, or 0. */
static uint64_t pagemap(uintptr_t addr)
{
	uint64_t e = 0;
	int fd = sys_openat(AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (sys_pread(fd, &e, sizeof(e), (off_t)(addr / FM_PAGE_SIZE * sizeof(e))) != sizeof(e))
		e = 0;
	sys_close(fd);
	return e;
}

/* is_marker - whether pagemap entry e is a poison marker: surely, when
 * frame numbers show; else it looks like one (not present, swap, no
 * uffd-wp), which only a shared view can be sure of. */
static bool is_marker(uint64_t e, bool shared)
{
	if ((e & (PM_PRESENT | PM_SWAP | PM_UFFD_WP)) != PM_SWAP)
		return false;
	if (e & PM_FRAME)
		return (e & PM_FRAME) == PM_POISON_FRAME;
	return shared;
}

/* frames_visible - whether pagemap shows this process frame numbers (it
 * does to CAP_SYS_ADMIN): looked up once, on a page surely present. */
static bool frames_visible(void)
{
	static int visible = -1;
	if (visible < 0) {
		volatile char here = 0;
		visible = (pagemap((uintptr_t)&here) & PM_FRAME) != 0;
	}
	return visible;
}

/* mark - poison the page at addr in this process's view: a write-protect
 * marker, in the way of the poison one, goes first (and comes back if the
 * poison cannot be put). Return: whether the page is poisoned (and its
 * waiters woken). */
static bool mark(int uffd, uintptr_t addr, bool wp)
{
	if (wp && uffd_writeprotect_nowake(uffd, addr, FM_PAGE_SIZE, false))
		return false;
	if (uffd_poison(uffd, addr, FM_PAGE_SIZE)) {
		if (wp)
			uffd_writeprotect_nowake(uffd, addr, FM_PAGE_SIZE, true);
		return false;
	}
	return true;
}

/* clear - zap the marker at addr in this process's view, and write-protect
 * the page again in a view tracking writes. */
static void clear(int uffd, uintptr_t addr, bool wp)
{
	sys_madvise((void *)addr, FM_PAGE_SIZE, MADV_DONTNEED);
	if (wp)
		uffd_writeprotect_nowake(uffd, addr, FM_PAGE_SIZE, true);
}

/* tell_client - the access of thread tid at addr in vma, a daemon's
 * client's, must fail: the page leaves the cache, as below, and the client
 * is told over its life line; it poisons its own view or sends SIGBUS, and
 * wakes the thread (poison_thread). Return: whether it was told. */
static bool tell_client(struct vma *vma, uintptr_t addr, pid_t tid)
{
	if (!reclaim_evict_page(vma->mapping, vma_index(vma, addr)))
		return false;
	struct fm_refusal n = {.addr = addr, .tid = tid, .what = FM_NOTE_UNREADABLE};
	n.what |= (vma->wp ? FM_NOTE_WP : 0) | (vma->shared ? FM_NOTE_SHARED : 0);
	if (send(vma->mm->notify, &n, sizeof(n), MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(n))
		return false;
	count_event(read_errors, 1);
	return true;
}

bool poison_fault(struct vma *vma, const struct uffd_msg *msg)
{
	uintptr_t addr = (uintptr_t)msg->arg.pagefault.address & ~(FM_PAGE_SIZE - 1);
	struct poisoned *p = &poisoned[nr_poisoned];
	if (!(uffd_kernel_features & UFFD_FEATURE_POISON) || (!vma->shared && !frames_visible()))
		return false;
	if (vma->mm != engine_self())
		return vma->mm->notify >= 0 &&
		       tell_client(vma, addr, (pid_t)msg->arg.pagefault.feat.ptid);
	if (nr_poisoned == POISON_MAX)
		return false;
	p->tid = (pid_t)msg->arg.pagefault.feat.ptid;
	if (thread_syscall(p->tid, p->where, sizeof(p->where)) ||
	    !syscall_line_in_call(p->where))
		return false; /* from user mode: SIGBUS */
	int uffd = vma->mm->uffd;
	uint64_t index = vma_index(vma, addr);
	/* Not over a page that is cached, or being read, meanwhile (it
	 * leaves the cache if clean); and a write-protect marker, in the way
	 * of the poison one, goes. */
	if (!reclaim_evict_page(vma->mapping, index) || !mark(uffd, addr, vma->wp))
		return false;
	p->addr = addr;
	p->as = vma->mapping;
	p->index = index;
	nr_poisoned++;
	count_event(read_errors, 1);
	return true;
}

int poison_thread(int uffd, uintptr_t addr, pid_t tid, uint32_t what)
{
	struct poisoned *p = &poisoned[nr_poisoned];
	bool wp = what & FM_NOTE_WP, shared = what & FM_NOTE_SHARED;
	if (nr_poisoned == POISON_MAX || (!shared && !frames_visible()))
		return -EAGAIN;
	int err = thread_syscall(tid, p->where, sizeof(p->where));
	if (err)
		return err;
	if (!syscall_line_in_call(p->where))
		return 0; /* from user mode: SIGBUS */
	if (!mark(uffd, addr, wp))
		return -EIO;
	p->addr = addr;
	p->as = NULL;
	p->tid = tid;
	p->uffd = uffd;
	p->wp = wp;
	p->shared = shared;
	nr_poisoned++;
	return 1;
}

/* unpoison - clear marker p if it is still there, in the view it was made
 * in: zap it, and write-protect the page again in a view tracking writes.
 * There, a page cached meanwhile leaves the cache first: between the zap
 * and the protection, a write to it would not be seen.
 * Return: false if it must wait (that page is dirty). Context: engine.lock. */
static bool unpoison(const struct poisoned *p)
{
	if (!p->as) { /* a daemon's client's: zapped only if still a marker */
		if (is_marker(pagemap(p->addr), p->shared))
			clear(p->uffd, p->addr, p->wp);
		return true;
	}
	struct vma *vma = vma_find(engine_self(), p->addr);
	if (!vma || vma->mapping != p->as || vma_index(vma, p->addr) != p->index ||
	    !is_marker(pagemap(p->addr), vma->shared))
		return true; /* unmapped, moved or zapped since: nothing to clear */
	if (vma->wp && !reclaim_evict_page(p->as, p->index))
		return false;
	clear(vma->mm->uffd, p->addr, vma->wp);
	return true;
}

/* past_access - whether the thread of marker p is past the access it was
 * made for: gone, or blocked elsewhere (its syscall line changed). */
static bool past_access(const struct poisoned *p)
{
	char now[sizeof(p->where)];
	int err = thread_syscall(p->tid, now, sizeof(now));
	if (err == -ENOENT || err == -ESRCH)
		return true;
	return !err && strncmp(now, "running", 7) && strcmp(now, p->where);
}

bool poison_reap(pid_t tid)
{
	for (unsigned i = 0; i < nr_poisoned;) {
		struct poisoned *p = &poisoned[i];
		bool past = tid ? p->tid == tid : past_access(p);
		if (past && unpoison(p))
			*p = poisoned[--nr_poisoned];
		else
			i++;
	}
	return nr_poisoned > 0;
}
