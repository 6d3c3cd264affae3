#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

bool file_in_memory(int fd)
{
	struct statfs sfs;
	return fstatfs(fd, &sfs) == 0 &&
	       (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
}

void require_engine(void)
{
	char path[64];
	int fd = make_file(path, PS, 1, O_RDONLY);
	void *p = fm_mmap(NULL, PS, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "skip: faultmap cannot start: %s\n", strerror(errno));
		unlink(path);
		exit(77);
	}
	fm_munmap(p, PS);
	close(fd);
	unlink(path);
}

void require_sigbus_delivery(void)
{
#ifdef FM_UNDER_TSAN
	fprintf(stderr, "skip: TSan defers the SIGBUS the fault thread sends\n");
	exit(77);
#endif
}

uint32_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 11);
}

void fill_pattern(void *buf, size_t size, uint32_t seed)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL ^ seed;
	unsigned char *b = buf;
	for (size_t i = 0; i < size; i++)
		b[i] = (unsigned char)(rnd(&s) | 1); /* never 0: zeros mean "not read" */
}

int make_file(char *path, size_t size, uint32_t seed, int flags)
{
	const char *dir = getenv("FM_TEST_DIR");
	snprintf(path, 64, "%s/fmtest.XXXXXX", dir ? dir : "/var/tmp");
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	unsigned char *buf = malloc(size ? size : 1);
	CHECK(buf);
	fill_pattern(buf, size, seed);
	CHECK(write(fd, buf, size) == (ssize_t)size);
	free(buf);
	close(fd);
	fd = open(path, flags);
	CHECK(fd >= 0);
	return fd;
}

unsigned char *slurp(const char *path, size_t *size)
{
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	struct stat st;
	CHECK(fstat(fd, &st) == 0);
	unsigned char *b = malloc((size_t)st.st_size + 1);
	CHECK(b);
	CHECK(pread(fd, b, (size_t)st.st_size, 0) == st.st_size);
	close(fd);
	*size = (size_t)st.st_size;
	return b;
}

void check_file_is(const char *path, const unsigned char *want, size_t size)
{
	size_t got;
	unsigned char *b = slurp(path, &got);
	CHECK_EQ(got, size);
	for (size_t i = 0; i < size; i++)
		if (b[i] != want[i]) {
			fprintf(stderr, "%s: byte %zu (page %zu) is %02x, expected %02x\n", path,
				i, i / PS, b[i], want[i]);
			exit(1);
		}
	free(b);
}

uint64_t memfd_bytes(void)
{
	DIR *d = opendir("/proc/self/fd");
	CHECK(d);
	uint64_t total = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char link[300], target[256];
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strncmp(target, "/memfd:faultmap", 15) != 0)
			continue;
		struct stat st;
		if (stat(link, &st) == 0)
			total += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return total;
}

int in_child(void (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	return status;
}

static char tmpfs_dir[64];
static pid_t tmpfs_owner;

static void unmount_tmpfs(void)
{
	if (getpid() != tmpfs_owner || !tmpfs_dir[0])
		return;
	umount2(tmpfs_dir, MNT_DETACH);
	rmdir(tmpfs_dir);
}

void mount_tmpfs(char *dir, const char *options)
{
	CHECK(!tmpfs_dir[0]); /* one per test */
	snprintf(tmpfs_dir, sizeof(tmpfs_dir), "/tmp/fmtest-tmpfs.XXXXXX");
	CHECK(mkdtemp(tmpfs_dir));
	if (mount("faultmap-test", tmpfs_dir, "tmpfs", 0, options) != 0) {
		printf("cannot mount a tmpfs here (%s)\n", strerror(errno));
		rmdir(tmpfs_dir);
		exit(77);
	}
	tmpfs_owner = getpid();
	atexit(unmount_tmpfs);
	snprintf(dir, 64, "%s", tmpfs_dir);
}
