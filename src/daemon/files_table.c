/*
 * files_table.c - which files the daemon caches, shared with its clients
 * through a file of its runtime directory. See files_table.h.
 */
#include "daemon/files_table.h"
#include "internal.h"
#include "runtime_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TABLE_BYTES (FMD_TABLE_SLOTS * sizeof(uint32_t))
#define RECHECK_NS 100000000ull /* a client looks for a new table this often */

static _Atomic(_Atomic uint32_t *) table; /* the daemon's (writable) */

static uint32_t slot_of(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)dev * 0x9E3779B97F4A7C15ull ^ (uint64_t)ino * 0xC2B2AE3D27D4EB4Full;
	return 1 + (uint32_t)((h >> 32) % (FMD_TABLE_SLOTS - 1));
}

int files_table_create(int dfd)
{
	(void)unlinkat(dfd, FMD_TABLE_NAME, 0); /* a dead daemon's: we hold the lock */
	int fd = sys_openat(dfd, FMD_TABLE_NAME, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
	if (fd < 0)
		return -errno;
	void *p = MAP_FAILED;
	if (sys_ftruncate(fd, TABLE_BYTES) == 0)
		p = sys_mmap(NULL, TABLE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int err = p == MAP_FAILED ? -errno : 0;
	sys_close(fd);
	if (!err)
		atomic_store(&table, (_Atomic uint32_t *)p);
	return err;
}

void files_table_remove(int dfd)
{
	(void)unlinkat(dfd, FMD_TABLE_NAME, 0);
}

void files_table_count(dev_t dev, ino_t ino, int delta)
{
	_Atomic uint32_t *t = atomic_load(&table);
	if (!t)
		return; /* not the daemon */
	/* Counted in before a page of it is cached, out after the last. */
	atomic_fetch_add(&t[slot_of(dev, ino)], (uint32_t)delta);
	atomic_fetch_add(&t[0], (uint32_t)delta);
}

/* ---- the client's side --------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	const _Atomic uint32_t *map; /* the table mapped, or NULL */
	int fd;
	_Atomic uint64_t recheck_at; /* ns: look for the table (again) then */
} seen = {PTHREAD_MUTEX_INITIALIZER, NULL, -1, 0};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* refresh - map the current daemon's table, if there is one: none yet, or
 * the one mapped was removed (its daemon is gone). */
static void refresh(void)
{
	pthread_mutex_lock(&seen.lock);
	struct stat st;
	if (seen.map && fstat(seen.fd, &st) == 0 && st.st_nlink > 0)
		goto out; /* still the live one */
	if (seen.map) {
		sys_munmap((void *)seen.map, TABLE_BYTES);
		sys_close(seen.fd);
		seen.map = NULL;
		seen.fd = -1;
	}
	char dir[RT_DIR_PATH_MAX];
	int dfd = runtime_dir_create(dir, sizeof(dir));
	if (dfd < 0)
		goto out;
	int fd = sys_openat(dfd, FMD_TABLE_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
	sys_close(dfd);
	if (fd < 0)
		goto out;
	void *p = MAP_FAILED;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    st.st_size == (off_t)TABLE_BYTES)
		p = sys_mmap(NULL, TABLE_BYTES, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		sys_close(fd);
		goto out;
	}
	seen.fd = fd_keep(fd);
	seen.map = p;
out:
	atomic_store(&seen.recheck_at, now_ns() + RECHECK_NS);
	pthread_mutex_unlock(&seen.lock);
}

void files_table_refresh(void)
{
	int saved = errno;
	refresh();
	errno = saved;
}

bool files_table_may_cache(int fd)
{
	if (now_ns() >= atomic_load(&seen.recheck_at)) {
		int saved = errno; /* a successful call leaves errno alone */
		refresh();
		errno = saved;
	}
	const _Atomic uint32_t *t = seen.map;
	if (!t || !atomic_load(&t[0]))
		return false;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	return atomic_load(&t[slot_of(st.st_dev, st.st_ino)]) != 0;
}
