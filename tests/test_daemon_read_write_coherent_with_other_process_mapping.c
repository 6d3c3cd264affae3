/*
 * Daemon mode: read() and write() in one process are coherent with
 * another process's mapping of the file, as on Linux, where both go
 * through one page cache. The writer below never maps the file: its
 * fm_pwrite/fm_pread still go through the daemon's cache, because the
 * daemon caches the file (the files table). Also size changes: its
 * ftruncate shrinks the file under the mapper, whose access past the new
 * end raises SIGBUS, and growth is seen.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 32
#define ROUNDS 300

struct msg {
	uint32_t op, off, len;
	uint8_t val;
};

/* rw: no mapping; writes and reads the file with fm_pwrite/fm_pread. */
static int rw(const char *path, int in, int out)
{
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	for (;;) {
		struct msg m;
		xread(in, &m, sizeof(m));
		unsigned char buf[3 * 4096];
		if (m.op == 0) { /* write: every byte m.val */
			memset(buf, m.val, m.len);
			CHECK_EQ(fm_pwrite(fd, buf, m.len, m.off), m.len);
		} else if (m.op == 1) { /* read back what the mapper wrote */
			CHECK_EQ(fm_pread(fd, buf, m.len, m.off), m.len);
			for (uint32_t i = 0; i < m.len; i++)
				CHECK_EQ(buf[i], m.val);
		} else if (m.op == 2) {
			CHECK(fm_ftruncate(fd, m.off) == 0);
		} else {
			_exit(0);
		}
		xwrite(out, &m, sizeof(m));
	}
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "rw"))
		return rw(argv[2], atoi(argv[3]), atoi(argv[4]));
	daemon_private();
	require_engine();
	char path[64];
	int fd = make_file(path, NPAGES * PS, 9, O_RDWR);
	volatile unsigned char *p = fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
					    MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	int to[2], from[2];
	CHECK(pipe(to) == 0 && pipe(from) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char in[16], out[16];
		snprintf(in, sizeof(in), "%d", to[0]);
		snprintf(out, sizeof(out), "%d", from[1]);
		execl("/proc/self/exe", argv[0], "rw", path, in, out, (char *)NULL);
		_exit(127);
	}
	uint64_t s = 4;
	for (int i = 0; i < ROUNDS; i++) {
		struct msg m = {(uint32_t)(i & 1), 0, 1 + rnd(&s) % (3 * 4096), (uint8_t)(i + 1)};
		m.off = rnd(&s) % (NPAGES * PS - m.len);
		if (m.op == 1) /* the mapper writes, the other reads */
			for (uint32_t k = 0; k < m.len; k++)
				p[m.off + k] = m.val;
		xwrite(to[1], &m, sizeof(m));
		xread(from[0], &m, sizeof(m));
		if (m.op == 0) /* the other wrote, the mapping sees it */
			for (uint32_t k = 0; k < m.len; k++)
				CHECK_EQ(p[m.off + k], m.val);
	}
	/* The other shrinks the file: the mapping's pages past EOF are gone. */
	struct msg t = {2, 8 * PS, 0, 0};
	xwrite(to[1], &t, sizeof(t));
	xread(from[0], &t, sizeof(t));
	catch_sigbus();
	int before = sigbus_count;
	if (sigsetjmp(sigbus_env, 1) == 0)
		(void)p[20 * PS];
	CHECK_EQ(sigbus_count, before + 1);
	CHECK_EQ(lseek(fd, 0, SEEK_END), 8 * PS);
	struct msg q = {3, 0, 0, 0};
	xwrite(to[1], &q, sizeof(q));
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(fm_munmap((void *)p, NPAGES * PS) == 0);
	close(fd);
	unlink(path);
	return 0;
}
