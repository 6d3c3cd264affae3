/*
 * stat.c - faultmap stat: the counters of every process running under
 * faultmap, read from their /dev/shm/faultmap.<pid> segments (src/publish.h,
 * channel 1). Segments of dead processes are removed on the way.
 */
#include "cli.h"
#include "publish.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* shm_dir - where the segments are (FAULTMAP_SHM_DIR, for tests). */
static const char *shm_dir(void)
{
	const char *d = getenv("FAULTMAP_SHM_DIR");
	return d && *d ? d : "/dev/shm";
}

/* segment_pid - the pid in a "faultmap.<pid>" name, or 0. */
static int segment_pid(const char *name)
{
	uint64_t pid;
	if (strncmp(name, "faultmap.", 9) || parse_u64(name + 9, &pid) || !pid ||
	    pid > INT32_MAX)
		return 0;
	return (int)pid;
}

/* load_segment - read the segment at path consistently into out.
 * Return: 0 or -1. */
static int load_segment(const char *path, struct fm_pub *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	void *p = MAP_FAILED;
	if (!fstat(fd, &st) && st.st_size >= (off_t)sizeof(struct fm_pub))
		p = mmap(NULL, sizeof(struct fm_pub), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	int err = fm_pub_read(p, out);
	munmap(p, sizeof(struct fm_pub));
	return err ? -1 : 0;
}

/* print_process - one process and its files. */
static void print_process(const struct fm_pub *p)
{
	char b[3][32], hit[16] = "-";
	if (p->hits + p->misses)
		snprintf(hit, sizeof(hit), "%.1f%%",
			 100.0 * (double)p->hits / (double)(p->hits + p->misses));
	printf("%-8d %-16.16s %10s %10s %10s %7s %9" PRIu64 "\n", (int)p->pid, p->comm,
	       fmt_bytes(b[0], sizeof(b[0]), p->st.budget_bytes),
	       fmt_bytes(b[1], sizeof(b[1]), p->st.resident_bytes),
	       fmt_bytes(b[2], sizeof(b[2]), p->st.dirty_bytes), hit, p->faults_per_sec);
	for (uint32_t i = 0; i < p->nr_files && i < FM_PUB_MAX_FILES; i++) {
		const struct fm_pub_file *f = &p->files[i];
		printf("    %10" PRIu64 " %10" PRIu64 " %10" PRIu64 "  %.*s\n",
		       f->resident_pages, f->dirty_pages, f->pages, FM_PUB_PATH_MAX,
		       f->path);
	}
	if (p->files_total > p->nr_files)
		printf("    ... and %u more files\n", p->files_total - p->nr_files);
}

/* print_header - the column names. */
static void print_header(void)
{
	printf("%-8s %-16s %10s %10s %10s %7s %9s\n", "PID", "COMMAND", "BUDGET",
	       "RESIDENT", "DIRTY", "HIT", "FAULTS/S");
	printf("    %10s %10s %10s  %s\n", "RES.PAGES", "DIRTY", "PAGES", "FILE");
}

/* visit - show the segment name if its process lives; unlink it if dead.
 * Return: whether it was shown. */
static bool visit(const char *name, bool *header)
{
	int pid = segment_pid(name);
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", shm_dir(), name);
	if (!pid)
		return false;
	if (kill(pid, 0) && errno == ESRCH) {
		unlink(path);
		return false;
	}
	struct fm_pub *p = malloc(sizeof(*p));
	bool ok = p && !load_segment(path, p);
	if (ok) {
		if (!*header)
			print_header();
		*header = true;
		print_process(p);
	}
	free(p);
	return ok;
}

/* show_all - one report. Return: processes shown, or -1. */
static int show_all(void)
{
	DIR *d = opendir(shm_dir());
	if (!d) {
		fprintf(stderr, "faultmap: %s: %s\n", shm_dir(), strerror(errno));
		return -1;
	}
	int n = 0;
	bool header = false;
	struct dirent *e;
	while ((e = readdir(d)))
		n += visit(e->d_name, &header);
	closedir(d);
	if (!n)
		printf("no process is running under faultmap\n");
	return n;
}

/* cmd_stat - faultmap stat. Return: the exit code. */
int cmd_stat(int argc, char **argv)
{
	uint64_t every = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--watch")) {
			every = 1;
			if (i + 1 < argc && argv[i + 1][0] != '-' &&
			    (parse_u64(argv[++i], &every) || !every || every > 86400))
				usage_error("stat",
					    "bad interval '%s' (whole seconds, 1..86400)",
					    argv[i]);
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: %s\n", cmd_usage("stat"));
			return 0;
		} else {
			usage_error("stat", "unexpected argument '%s'", argv[i]);
		}
	}
	if (!every)
		return show_all() < 0 ? 1 : 0;
	for (;;) {
		printf("\033[H\033[2J");
		if (show_all() < 0)
			return 1;
		fflush(stdout);
		sleep((unsigned)every);
	}
}
