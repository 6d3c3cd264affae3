/*
 * mount_dir.c DIR NEW - list DIR with every call of dirent.h, as a program
 * would, and print what it sees in an order that does not depend on the
 * directory's own order (names sorted): run on a local directory under the
 * kernel and on a store container's PATH under faultmap run --mount, the
 * outputs must be equal.
 *
 *   opendir/readdir (names, d_type, d_ino nonzero), scandir with
 *   alphasort, readdir_r, open(DIR, O_DIRECTORY) then fdopendir, dirfd and
 *   fstatat(dirfd, NAME) of each entry (size, regular), telldir/seekdir
 *   back to an entry, rewinddir after DIR/NEW is made (O_CREAT) and after
 *   it is unlinked, opendir of a file (ENOTDIR) and of a missing name
 *   (ENOENT), closedir.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *type_name(unsigned char t)
{
	return t == DT_REG ? "reg" : t == DT_DIR ? "dir" : t == DT_UNKNOWN ? "unknown" : "other";
}

/* names - every entry of d from where it is, "name\ttype" each, sorted;
 * their count into *n. */
static char **names(DIR *d, size_t *n)
{
	char **v = NULL;
	struct dirent *e;
	*n = 0;
	errno = 0;
	while ((e = readdir(d))) {
		v = realloc(v, (*n + 1) * sizeof(*v));
		if (!v || asprintf(&v[*n], "%s\t%s%s", e->d_name, type_name(e->d_type),
				   e->d_ino ? "" : " (d_ino 0)") < 0)
			exit(2);
		(*n)++;
	}
	if (errno)
		printf("readdir: %s\n", strerror(errno));
	qsort(v, *n, sizeof(*v), cmp);
	return v;
}

static void print_free(const char *what, char **v, size_t n)
{
	printf("%s:", what);
	for (size_t i = 0; i < n; i++) {
		printf(" [%s]", v[i]);
		free(v[i]);
	}
	printf("\n");
	free(v);
}

static bool listed(DIR *d, const char *name)
{
	size_t n;
	char **v = names(d, &n);
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		found |= !strncmp(v[i], name, strlen(name)) && v[i][strlen(name)] == '\t';
		free(v[i]);
	}
	free(v);
	return found;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mount_dir DIR NEW\n");
		return 2;
	}
	const char *dir = argv[1], *new_name = argv[2];
	char path[4096];

	DIR *d = opendir(dir);
	if (!d) {
		printf("opendir: %s\n", strerror(errno));
		return 1;
	}
	size_t n;
	char **v = names(d, &n);
	print_free("readdir", v, n);

	struct dirent **list;
	int k = scandir(dir, &list, NULL, alphasort);
	printf("scandir: %d:", k);
	for (int i = 0; i < k; i++) {
		printf(" %s", list[i]->d_name);
		free(list[i]);
	}
	printf("\n");
	if (k >= 0)
		free(list);

	rewinddir(d);
	struct dirent ent, *res;
	size_t count = 0;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	while (readdir_r(d, &ent, &res) == 0 && res) /* what old programs call */
		count++;
#pragma GCC diagnostic pop
	printf("readdir_r: %zu entries\n", count);
	closedir(d);

	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *fdd = fd >= 0 ? fdopendir(fd) : NULL;
	if (!fdd) {
		printf("fdopendir: %s\n", strerror(errno));
		return 1;
	}
	printf("dirfd is the fd: %s\n", dirfd(fdd) == fd ? "yes" : "no");
	v = names(fdd, &n);
	for (size_t i = 0; i < n; i++) {
		char name[300];
		sscanf(v[i], "%299[^\t]", name);
		struct stat st;
		if (fstatat(dirfd(fdd), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			printf("fstatat %s: %s\n", name, strerror(errno));
		else if (S_ISREG(st.st_mode))
			printf("fstatat %s: regular, %lld bytes\n", name, (long long)st.st_size);
		else
			printf("fstatat %s: %s\n", name, S_ISDIR(st.st_mode) ? "directory" : "other");
		free(v[i]);
	}
	free(v);

	/* telldir after two entries; seekdir back gives the third again */
	rewinddir(fdd);
	readdir(fdd);
	readdir(fdd);
	long pos = telldir(fdd);
	struct dirent *third = readdir(fdd);
	char want[300] = "";
	if (third)
		snprintf(want, sizeof(want), "%s", third->d_name);
	readdir(fdd);
	seekdir(fdd, pos);
	struct dirent *again = readdir(fdd);
	printf("seekdir to telldir's: %s\n",
	       third && again && !strcmp(again->d_name, want) ? "same entry" : "another entry");

	snprintf(path, sizeof(path), "%s/%s", dir, new_name);
	int nfd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
	if (nfd < 0 || write(nfd, "1234567", 7) != 7 || close(nfd) < 0)
		printf("making %s: %s\n", new_name, strerror(errno));
	rewinddir(fdd);
	printf("after O_CREAT, rewinddir lists %s: %s\n", new_name,
	       listed(fdd, new_name) ? "yes" : "no");
	if (unlink(path) < 0)
		printf("unlink %s: %s\n", new_name, strerror(errno));
	rewinddir(fdd);
	printf("after unlink, rewinddir lists %s: %s\n", new_name,
	       listed(fdd, new_name) ? "yes" : "no");
	if (closedir(fdd) < 0)
		printf("closedir: %s\n", strerror(errno));
	printf("fd closed by closedir: %s\n", fcntl(fd, F_GETFD) < 0 ? "yes" : "no");

	d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) && e->d_name[0] == '.')
		;
	if (d && e) { /* a file: no directory */
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		DIR *f = opendir(path);
		printf("opendir of a file: %s\n", f ? "opened" : strerror(errno));
	}
	if (d)
		closedir(d);
	snprintf(path, sizeof(path), "%s/no-such-name", dir);
	DIR *m = opendir(path);
	printf("opendir of a missing name: %s\n", m ? "opened" : strerror(errno));
	return 0;
}
