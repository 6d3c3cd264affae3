/*
 * scene.c - the seed's own example, run on faultmap.
 *
 *  1. Two processes map scene.dat privately; "render" writes, "3drender"
 *     only reads, and does not see render's write (copy on write).
 *  2. A shared mapping's write reaches the file.
 *  3. A file bigger than the page-cache budget is read through, and the
 *     cache stays within the budget.
 *
 * Along the way it runs `faultmap inspect` on itself (the CLI next to this
 * program), which draws each file's address_space, page index, vmas and
 * reverse map, and `faultmap stat`.
 *
 * Its 4 MiB cache is its own (embedded mode) unless FAULTMAP_MODE says
 * otherwise: in daemon mode fm_set_budget would be the budget of the daemon
 * it starts, which would then serve every later program of the user within
 * 4 MiB until stopped (and a daemon already running keeps its own budget,
 * so part 3 would not show a 4 MiB cache).
 */
#include "faultmap.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024UL * 1024)

static void die(const char *what)
{
	fprintf(stderr, "scene: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void show_stats(const char *when)
{
	struct fm_stats st;
	fm_stats(&st);
	printf("   [stats %s] budget %llu KiB, resident %llu KiB, dirty %llu KiB, "
	       "major faults %llu, pages read %llu, written %llu, evictions %llu\n",
	       when, (unsigned long long)st.budget_bytes / 1024,
	       (unsigned long long)st.resident_bytes / 1024,
	       (unsigned long long)st.dirty_bytes / 1024,
	       (unsigned long long)st.major_faults, (unsigned long long)st.pages_read,
	       (unsigned long long)st.pages_written, (unsigned long long)st.evictions);
}

extern char **environ;
static char cli[512]; /* the faultmap CLI, beside this program */

/* faultmap ARG [pid]: the CLI looks at this process from outside. Spawned
 * (vfork-like), so the engine does not see a fork. */
static void run_cli(const char *arg, bool with_pid)
{
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", getpid());
	char *argv[] = {cli, (char *)arg, with_pid ? pid : NULL, NULL};
	pid_t child;
	int status;
	fflush(stdout);
	if (access(cli, X_OK) != 0 ||
	    posix_spawn(&child, cli, NULL, NULL, argv, environ) != 0) {
		printf("   (no %s: skipped)\n", cli);
		return;
	}
	waitpid(child, &status, 0);
}

static int make(const char *path, size_t size, char fill)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die(path);
	char *buf = malloc(MiB);
	memset(buf, fill, MiB);
	for (size_t off = 0; off < size; off += MiB)
		if (write(fd, buf, size - off < MiB ? size - off : MiB) < 0)
			die("write");
	free(buf);
	return fd;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/var/tmp";
	char scene[256], big[256];
	snprintf(scene, sizeof(scene), "%s/scene.dat", dir);
	snprintf(big, sizeof(big), "%s/scene-big.dat", dir);
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(cli, sizeof(cli), "%s", argv[0]);
	char *slash = strrchr(cli, '/');
	snprintf(slash ? slash + 1 : cli, sizeof(cli) - (size_t)(slash ? slash + 1 - cli : 0),
		 "faultmap");
	setenv("FAULTMAP_PUBLISH", "1", 1); /* for faultmap inspect and stat */
	if (!getenv("FAULTMAP_MODE") && fm_set_mode(FM_MODE_EMBEDDED) != 0)
		die("fm_set_mode");
	if (fm_set_budget(4 * MiB) != 0)
		die("fm_set_budget");

	printf("1. render and 3drender map %s privately\n", scene);
	int fd = make(scene, 64 * 1024, 'S');
	char *view = fm_mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (view == MAP_FAILED && errno == EPERM) {
		/* The library has just said why, and how to get access. */
		fprintf(stderr, "scene: faultmap may not use userfaultfd here: follow the "
				"steps above, or run the demo as root (README.md, "
				"\"Permissions\")\n");
		exit(1);
	}
	if (view == MAP_FAILED)
		die("fm_mmap");
	printf("   both see '%c' at offset 100\n", view[100]);
	fflush(stdout);
	pid_t pid = fork(); /* 3drender: the child, reading only */
	if (pid == 0) {
		sleep(1); /* let render write first */
		printf("   3drender (pid %d) reads '%c': render's write is not visible\n",
		       getpid(), view[100]);
		fflush(stdout);
		_exit(view[100] == 'S' ? 0 : 1);
	}
	view[100] = 'R'; /* render: copy on write */
	printf("   render (pid %d) wrote '%c' into its private copy\n", getpid(), view[100]);
	printf("   $ faultmap inspect %d   (mm 0 is render, mm 1 is 3drender)\n", getpid());
	run_cli("inspect", true);
	int status;
	waitpid(pid, &status, 0);
	fm_munmap(view, 64 * 1024);
	char c;
	if (pread(fd, &c, 1, 100) != 1)
		die("pread");
	printf("   scene.dat still holds '%c' at offset 100\n", c);

	printf("2. a shared mapping's write reaches the file\n");
	view = fm_mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (view == MAP_FAILED)
		die("fm_mmap");
	view[100] = 'W';
	show_stats("after the write");
	printf("   $ faultmap inspect %d   (page 0 is dirty: D)\n", getpid());
	run_cli("inspect", true);
	if (fm_msync(view, 64 * 1024, MS_SYNC) != 0)
		die("fm_msync");
	if (pread(fd, &c, 1, 100) != 1)
		die("pread");
	printf("   after fm_msync the file holds '%c' at offset 100\n", c);
	fm_munmap(view, 64 * 1024);
	close(fd);

	printf("3. a 64 MiB file read through a 4 MiB page cache\n");
	fd = make(big, 64 * MiB, 'B');
	char *p = fm_mmap(NULL, 64 * MiB, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("fm_mmap");
	unsigned long sum = 0;
	for (size_t off = 0; off < 64 * MiB; off += 4096)
		sum += (unsigned char)p[off];
	printf("   read %lu pages, all 'B': %s\n", 64 * MiB / 4096,
	       sum == 'B' * (64 * MiB / 4096) ? "yes" : "NO");
	show_stats("after the scan");
	printf("   $ faultmap stat\n");
	run_cli("stat", false);
	fm_munmap(p, 64 * MiB);
	close(fd);
	unlink(scene);
	unlink(big);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 && c == 'W' ? 0 : 1;
}
