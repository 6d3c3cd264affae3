/*
 * mount_stdio.c - what a program does with a file through stdio, printed
 * so that a run on a local copy under the kernel and a run on a store's
 * object under faultmap run --mount can be compared line by line
 * (test_mount_stdio_fopen_fdopen_and_std_streams_use_object.sh).
 *
 *   mount_stdio FILE MISSING
 *   mount_stdio freopen FILE
 *
 * FILE (text): fopen "r": fstat(fileno) size, every line with fgets (count,
 * hash), fseek/fread/ftell, a read from SEEK_END; fopen "r+": fprintf
 * at 200, fflush, fseek back and fread; fdopen of an open(2) fd: getc
 * and fgets; fopen64 "rb". MISSING: fopen's errno name. Each step prints
 * one line. With "freopen": freopen(FILE, "r", stdin), the errno name or
 * the first line read from stdin.
 */
#define _LARGEFILE64_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mount_prog.h"

static char buf[1 << 16];

static void show_fread(FILE *f, const char *what, size_t n)
{
	size_t r = fread(buf, 1, n, f);
	printf("%s: fread %zu: %zu bytes, hash %016llx, ftell %ld, eof %d, error %d\n", what, n, r,
	       (unsigned long long)fnv(FNV0, buf, r), ftell(f), feof(f) != 0, ferror(f) != 0);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "freopen")) {
		errno = 0;
		if (!freopen(argv[2], "r", stdin)) {
			printf("freopen: %s\n", strerror(errno));
			return 0;
		}
		printf("freopen: %s", fgets(buf, sizeof(buf), stdin) ? buf : "NULL\n");
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: mount_stdio FILE MISSING\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	FILE *f = fopen(argv[1], "r");
	if (!f)
		die("fopen r");
	struct stat st;
	if (fstat(fileno(f), &st) < 0)
		die("fstat(fileno)");
	printf("fopen r: fstat size %lld, regular %d\n", (long long)st.st_size, S_ISREG(st.st_mode));
	uint64_t h = FNV0;
	size_t lines = 0;
	while (fgets(buf, sizeof(buf), f)) {
		h = fnv(h, buf, strlen(buf));
		lines++;
	}
	printf("fgets: %zu lines, hash %016llx, eof %d\n", lines, (unsigned long long)h, feof(f) != 0);
	printf("fseek 5000: %d\n", fseek(f, 5000, SEEK_SET));
	show_fread(f, "at 5000", 1000);
	printf("fseek -100 from the end: %d\n", fseek(f, -100, SEEK_END));
	show_fread(f, "at the end", 1000);
	printf("fclose: %d\n", fclose(f));

	f = fopen(argv[1], "r+");
	if (!f)
		die("fopen r+");
	printf("fseek 200: %d\n", fseek(f, 200, SEEK_SET));
	printf("fprintf: %d\n", fprintf(f, "written by fprintf %d\n", 42));
	printf("fflush: %d, ftell %ld\n", fflush(f), ftell(f));
	printf("fseek 150: %d\n", fseek(f, 150, SEEK_SET));
	show_fread(f, "r+ at 150", 100);
	printf("fclose: %d\n", fclose(f));

	int fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		die("open");
	f = fdopen(fd, "r");
	if (!f)
		die("fdopen");
	int c = getc(f);
	printf("fdopen: fileno is the fd %d, getc %d\n", fileno(f) == fd, c);
	printf("fgets: %s", fgets(buf, sizeof(buf), f) ? buf : "NULL\n");
	printf("fclose: %d\n", fclose(f));
	errno = 0;
	f = fdopen(open(argv[1], O_RDONLY), "w");
	printf("fdopen w of a read-only fd: %s\n", f ? "a FILE" : strerror(errno));

	f = fopen64(argv[1], "rb");
	if (!f)
		die("fopen64");
	show_fread(f, "fopen64", 4096);
	printf("fclose: %d\n", fclose(f));

	errno = 0;
	f = fopen(argv[2], "r");
	printf("fopen missing: %s\n", f ? "a FILE" : strerror(errno));
	return 0;
}
