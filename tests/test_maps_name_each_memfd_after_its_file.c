/*
 * /proc/PID/maps (and smaps) name a faultmap view after the file it holds:
 * "/memfd:faultmap:<path> (deleted)", <path> being the file's name as the
 * kernel gives it for the fd (/proc/self/fd). A memfd's name holds 249
 * bytes at most, so a longer path keeps its end: "faultmap:..." and the
 * tail of the path, cut at a character boundary. Checked for a short path,
 * a long ASCII path (exactly 249 bytes) and a long path of two-byte UTF-8
 * characters, where the cut would fall inside one.
 */
#include "helpers.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_MEMFD 249

/* map_name - the path /proc/self/maps shows for the mapping at addr, into
 * out (without the kernel's " (deleted)"), or fail. */
static void map_name(const void *addr, char *out, size_t size)
{
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f);
	char line[8192];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long start;
		int off = 0;
		if (sscanf(line, "%lx-%*x %*s %*s %*s %*s %n", &start, &off) < 1 ||
		    start != (unsigned long)addr)
			continue;
		line[strcspn(line, "\n")] = 0;
		const char *suffix = " (deleted)";
		size_t len = strlen(line + off), slen = strlen(suffix);
		CHECK(len > slen && !strcmp(line + off + len - slen, suffix));
		snprintf(out, size, "%.*s", (int)(len - slen), line + off);
		found = true;
	}
	fclose(f);
	CHECK(found);
}

/* check_file - map path through faultmap and check the name maps shows:
 * "/memfd:" + want. */
static void check_file(const char *path, const char *want)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, 4 * PS) == 0);
	unsigned char *p = fm_mmap(NULL, 4 * PS, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(p[PS] == 0);
	char got[4 * PATH_MAX], expect[5 * PATH_MAX];
	map_name(p, got, sizeof(got));
	snprintf(expect, sizeof(expect), "/memfd:%s", want);
	if (strcmp(got, expect)) {
		fprintf(stderr, "maps shows\n  %s\nexpected\n  %s\n", got, expect);
		exit(1);
	}
	CHECK(fm_munmap(p, 4 * PS) == 0);
	close(fd);
	CHECK(unlink(path) == 0);
}

/* long_dir - under base, directories of 100 'd's until the path is at
 * least len bytes long; the path into out. */
static void long_dir(const char *base, size_t len, char *out, size_t size)
{
	char comp[101];
	memset(comp, 'd', 100);
	comp[100] = 0;
	snprintf(out, size, "%s", base);
	while (strlen(out) < len) {
		size_t n = strlen(out);
		snprintf(out + n, size - n, "/%s", comp);
		CHECK(mkdir(out, 0700) == 0);
	}
}

static void remove_dirs(const char *base, char *dir)
{
	while (strcmp(dir, base)) {
		CHECK(rmdir(dir) == 0);
		*strrchr(dir, '/') = 0;
	}
	CHECK(rmdir(base) == 0);
}

int main(void)
{
	require_engine();
	const char *tmp = getenv("FM_TEST_DIR");
	/* each buffer longer than the one it is made from, for -Wformat-truncation */
	char tmpl[PATH_MAX], base[PATH_MAX], dir[2 * PATH_MAX], path[3 * PATH_MAX],
		want[4 * PATH_MAX];
	snprintf(tmpl, sizeof(tmpl), "%s/fmtest-name.XXXXXX", tmp ? tmp : "/var/tmp");
	CHECK(mkdtemp(tmpl));
	CHECK(realpath(tmpl, base)); /* the kernel names the fd by its real path */

	/* Short: the whole path. */
	snprintf(path, sizeof(path), "%s/data.bin", base);
	snprintf(want, sizeof(want), "faultmap:%s", path);
	check_file(path, want);

	/* Long, ASCII: "faultmap:..." and the path's last 237 bytes. */
	long_dir(base, 300, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/the-end-of-the-path.bin", dir);
	size_t keep = NAME_MAX_MEMFD - strlen("faultmap:...");
	snprintf(want, sizeof(want), "faultmap:...%s", path + strlen(path) - keep);
	CHECK_EQ(strlen(want), NAME_MAX_MEMFD);
	check_file(path, want);

	/* Long, UTF-8: a file name of 120 "é" (2 bytes each). 237 bytes from
	 * the end is the second byte of a character, so the name starts at
	 * the next one: 118 characters, 248 bytes in all. */
	char name[241];
	for (int i = 0; i < 120; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	name[240] = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(want, sizeof(want), "faultmap:...%s", name + 4);
	CHECK_EQ(strlen(want), NAME_MAX_MEMFD - 1);
	check_file(path, want);

	remove_dirs(base, dir);
	return 0;
}
