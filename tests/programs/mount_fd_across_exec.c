/*
 * mount_fd_across_exec.c - a file's fd carried across exec, used by the
 * image after it, printed so that a run on a local copy under the kernel
 * and a run on a store's object under faultmap run --mount can be compared
 * line by line (test_mount_object_fd_inherited_across_exec_reads_object.sh).
 *
 *   mount_fd_across_exec FILE
 *
 * The parent opens FILE O_RDWR, reads 100 bytes, and forks a child that
 * execs this program ("child FD"); the child fstats the inherited fd,
 * reads at the shared position, preads, seeks to the end, pwrites, maps
 * it shared (reads it all; writes a page through a second mapping,
 * msync), seeks to 300 and execs again ("grandchild FD"), which reads at
 * the position and preads what the child wrote. The parent, after the
 * child, reads at the position the two moved (not what they wrote: in
 * embedded mode its cache is its own, and may hold those pages from
 * before). Each step prints one line (a hash of the bytes read).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t fnv(const void *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}

static void die(const char *who, const char *what)
{
	printf("%s: FAILED %s: %s\n", who, what, strerror(errno));
	exit(1);
}

static char buf[1 << 16];

/* show_read - read(fd, n), its count and hash. */
static void show_read(const char *who, int fd, size_t n)
{
	ssize_t r = read(fd, buf, n);
	if (r < 0)
		die(who, "read");
	printf("%s: read %zu: %zd bytes, hash %016llx\n", who, n, r,
	       (unsigned long long)fnv(buf, (size_t)r));
}

/* show_pread - pread(fd, n, off), its count and hash. */
static void show_pread(const char *who, int fd, size_t n, off_t off)
{
	ssize_t r = pread(fd, buf, n, off);
	if (r < 0)
		die(who, "pread");
	printf("%s: pread %zu at %lld: %zd bytes, hash %016llx\n", who, n, (long long)off, r,
	       (unsigned long long)fnv(buf, (size_t)r));
}

static void show_pos(const char *who, int fd)
{
	printf("%s: position %lld\n", who, (long long)lseek(fd, 0, SEEK_CUR));
}

static void exec_self(const char *as, int fd)
{
	char arg[16];
	snprintf(arg, sizeof(arg), "%d", fd);
	fflush(stdout);
	execl("/proc/self/exe", "mount_fd_across_exec", as, arg, (char *)NULL);
	die(as, "execl");
}

static void child(int fd)
{
	const char *who = "child";
	struct stat st;
	if (fstat(fd, &st) < 0)
		die(who, "fstat");
	printf("%s: fstat: regular %d, size %lld\n", who, S_ISREG(st.st_mode), (long long)st.st_size);
	show_pos(who, fd);
	show_read(who, fd, 4096);
	show_pread(who, fd, 8192, 65536);
	printf("%s: SEEK_END %lld\n", who, (long long)lseek(fd, 0, SEEK_END));
	static const char msg[] = "written by the child";
	printf("%s: pwrite at 200: %zd\n", who, pwrite(fd, msg, sizeof(msg) - 1, 200));
	char *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die(who, "mmap");
	printf("%s: mapping: hash %016llx\n", who, (unsigned long long)fnv(p, (size_t)st.st_size));
	munmap(p, (size_t)st.st_size);
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 12288);
	if (p == MAP_FAILED)
		die(who, "mmap shared writable");
	static const char mapped[] = "mapped by the child";
	memcpy(p + 10, mapped, sizeof(mapped) - 1);
	printf("%s: msync: %d\n", who, msync(p, 8192, MS_SYNC));
	munmap(p, 8192);
	printf("%s: seek to 300: %lld\n", who, (long long)lseek(fd, 300, SEEK_SET));
	exec_self("grandchild", fd);
}

static void grandchild(int fd)
{
	const char *who = "grandchild";
	show_pos(who, fd);
	show_read(who, fd, 1000);
	show_pos(who, fd);
	show_pread(who, fd, 64, 12288);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "child")) {
		child(atoi(argv[2]));
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "grandchild")) {
		grandchild(atoi(argv[2]));
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: mount_fd_across_exec FILE\n");
		return 2;
	}
	const char *who = "parent";
	int fd = open(argv[1], O_RDWR);
	if (fd < 0)
		die(who, "open");
	show_read(who, fd, 100);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		die(who, "fork");
	if (pid == 0)
		exec_self("child", fd);
	int status;
	if (waitpid(pid, &status, 0) < 0)
		die(who, "waitpid");
	printf("%s: child exit %d\n", who, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	show_pos(who, fd);
	show_read(who, fd, 64);
	close(fd);
	return 0;
}
