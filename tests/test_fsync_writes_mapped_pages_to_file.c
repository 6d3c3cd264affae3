/*
 * fm_fsync, fm_fdatasync, fm_sync_file_range, fm_syncfs and fm_sync write
 * the dirty pages of a shared mapping to the file, as the kernel's do: a
 * process that reads the file with read(2) (the kernel's page cache), while
 * the mapping is still there and nothing else wrote it back, sees the data.
 * The reader is forked before faultmap starts, so it is a plain process.
 */
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE (64 * PS)

static char path[64];

/* reader - for each byte v sent on cmd, read the file and answer 1 if every
 * byte is v, else 0. Ends when cmd closes. */
static void reader(int cmd, int answer)
{
	unsigned char *buf = malloc(SIZE);
	unsigned char v;
	while (read(cmd, &v, 1) == 1) {
		int fd = open(path, O_RDONLY);
		unsigned char ok = fd >= 0 && pread(fd, buf, SIZE, 0) == (ssize_t)SIZE;
		for (size_t i = 0; ok && i < SIZE; i++)
			ok = buf[i] == v;
		close(fd);
		if (write(answer, &ok, 1) != 1)
			break;
	}
	free(buf);
	_exit(0);
}

static int sync_range(int fd)
{
	return fm_sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
}

static int sync_all(int fd)
{
	(void)fd;
	fm_sync();
	return 0;
}

int main(void)
{
	int fd = make_file(path, SIZE, 72, O_RDWR);
	int to_reader[2], from_reader[2];
	CHECK(pipe(to_reader) == 0 && pipe(from_reader) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(to_reader[1]), close(from_reader[0]);
		reader(to_reader[0], from_reader[1]);
	}
	close(to_reader[0]), close(from_reader[1]);
	require_engine();

	unsigned char *p = fm_mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	static const struct {
		const char *name;
		int (*flush)(int);
	} flushes[] = {
		{"fm_fsync", fm_fsync},	      {"fm_fdatasync", fm_fdatasync},
		{"fm_sync_file_range", sync_range}, {"fm_syncfs", fm_syncfs},
		{"fm_sync", sync_all},
	};
	for (unsigned i = 0; i < sizeof(flushes) / sizeof(flushes[0]); i++) {
		unsigned char v = (unsigned char)(0x21 + i), ok = 0;
		memset(p, v, SIZE);
		CHECK_EQ(flushes[i].flush(fd), 0);
		CHECK(write(to_reader[1], &v, 1) == 1);
		CHECK(read(from_reader[0], &ok, 1) == 1);
		if (!ok) {
			fprintf(stderr, "after %s, the file does not hold the mapping's data\n",
				flushes[i].name);
			return 1;
		}
	}
	struct fm_stats st;
	CHECK(fm_stats(&st) == 0);
	CHECK_EQ(st.dirty_bytes, 0);

	close(to_reader[1]);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK_EQ(fm_munmap(p, SIZE), 0);
	close(fd), close(from_reader[0]);
	unlink(path);
	return 0;
}
