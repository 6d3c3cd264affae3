/*
 * hello.c - the first program of the README's walk-through ("From install
 * to your first program"): map a file through faultmap's page cache, write
 * a byte through a plain pointer, make it durable, and say what the cache
 * did. Built against the installed library with pkg-config alone:
 *
 *   cc $(pkg-config --cflags faultmap) hello.c $(pkg-config --libs faultmap) -o hello
 *
 * Usage: hello [FILE]   (default hello.dat; made 1 MiB long)
 */
#include <faultmap.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "hello.dat";
	size_t len = 1 << 20;
	int fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || fm_ftruncate(fd, len) != 0) {
		perror(path);
		return 1;
	}
	char *p = fm_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("fm_mmap");
		return 1;
	}
	p[42] = 'x';                   /* plain pointers */
	if (fm_msync(p, len, MS_SYNC)) { /* durable, or the write-back error */
		perror("fm_msync");
		return 1;
	}
	struct fm_stats st;
	fm_stats(&st);
	printf("%s[42] = '%c'; major faults: %llu, pages read: %llu, pages written: %llu\n", path,
	       p[42], (unsigned long long)st.major_faults, (unsigned long long)st.pages_read,
	       (unsigned long long)st.pages_written);
	fm_munmap(p, len);
	close(fd);
	return 0;
}
