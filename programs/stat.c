/*
 * stat.c - faultmap stat: the counters of every process running under
 * faultmap, read from the segments faultmap.<pid> in their users' runtime
 * directories (src/runtime_dir.h; the format: src/publish.h, channel 1).
 * A user sees its own processes; root sees every user's. Nothing is read
 * that the process's owner did not write: the directory must be that
 * user's (0700), the segment owned by the owner of /proc/<pid>, its pid
 * field the one in its name. Names are printed escaped. Segments of dead
 * processes are removed on the way.
 */
#include "cli.h"
#include "publish.h"
#include "runtime_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* segment_pid - the pid in a "faultmap.<pid>" name, or 0. */
static int segment_pid(const char *name)
{
	uint64_t pid;
	if (strncmp(name, "faultmap.", 9) || parse_u64(name + 9, &pid) || !pid ||
	    pid > INT32_MAX)
		return 0;
	return (int)pid;
}

/* load_segment - read the segment name of dir, which must be a regular
 * file of uid, written by process pid, consistently into out (with pread:
 * a segment truncated meanwhile cannot fault this process).
 * Return: 0 or -1. */
static int load_segment(int dir, const char *name, uid_t uid, int pid,
			struct fm_pub *out)
{
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	int err = -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != uid) {
		close(fd);
		return -1;
	}
	for (int tries = 0; err && tries < 1000; tries++) {
		uint64_t seq;
		if (pread(fd, out, sizeof(*out), 0) != (ssize_t)sizeof(*out))
			break;
		if (!(out->seq & 1) &&
		    pread(fd, &seq, sizeof(seq), offsetof(struct fm_pub, seq)) ==
			(ssize_t)sizeof(seq) &&
		    seq == out->seq) {
			err = out->magic == FM_PUB_MAGIC && out->pid == pid &&
					  out->nr_files <= FM_PUB_MAX_FILES
				  ? 0
				  : -2;
			break;
		}
		nanosleep(&(struct timespec){0, 100000}, NULL);
	}
	close(fd);
	return err ? -1 : 0;
}

/*
 * process_memory - the memory process pid uses, faultmap's cache counted
 * once. Its RSS counts each cached page once per view that maps it: the
 * engine's fill view (every page it read) and the program's views, and
 * the direct view for pages written back, so /usr/bin/time's max RSS shows
 * about twice the budget. So: the Rss of every mapping in
 * /proc/PID/smaps, but of faultmap's views (memfds named faultmap...) only
 * their Anonymous pages (private copies, the program's own), plus the
 * cache's resident bytes. Return: 0, or -1 if smaps cannot be read.
 */
static int process_memory(int pid, uint64_t cache, uint64_t *out)
{
	char path[64], line[4096];
	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	uint64_t total = cache, kb;
	bool in_cache = false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		int name = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &name) == 2 &&
		    name > 0)
			in_cache = !strncmp(line + name, "/memfd:faultmap", 15);
		else if (sscanf(line, "Rss: %" SCNu64 " kB", &kb) == 1 && !in_cache)
			total += kb * 1024;
		else if (sscanf(line, "Anonymous: %" SCNu64 " kB", &kb) == 1 && in_cache)
			total += kb * 1024;
	}
	fclose(f);
	*out = total;
	return 0;
}

/* print_process - one process and its files, names escaped. */
static void print_process(const struct fm_pub *p)
{
	char b[4][32], hit[16] = "-", comm[sizeof(p->comm) + 1];
	snprintf(comm, sizeof(comm), "%.*s", (int)sizeof(p->comm), p->comm);
	char *ecomm = esc_name(comm);
	if (p->hits + p->misses)
		snprintf(hit, sizeof(hit), "%.1f%%",
			 100.0 * (double)p->hits / (double)(p->hits + p->misses));
	uint64_t memory;
	if (process_memory(p->pid, p->st.resident_bytes, &memory))
		snprintf(b[3], sizeof(b[3]), "-");
	else
		fmt_bytes(b[3], sizeof(b[3]), memory);
	printf("%-8d %-16.16s %10s %10s %10s %10s %7s %9" PRIu64 "\n", (int)p->pid,
	       ecomm ? ecomm : "?", fmt_bytes(b[0], sizeof(b[0]), p->st.budget_bytes),
	       fmt_bytes(b[1], sizeof(b[1]), p->st.resident_bytes), b[3],
	       fmt_bytes(b[2], sizeof(b[2]), p->st.dirty_bytes), hit, p->faults_per_sec);
	free(ecomm);
	for (uint32_t i = 0; i < p->nr_files && i < FM_PUB_MAX_FILES; i++) {
		const struct fm_pub_file *f = &p->files[i];
		char path[FM_PUB_PATH_MAX + 1];
		snprintf(path, sizeof(path), "%.*s", FM_PUB_PATH_MAX, f->path);
		printf("    %10" PRIu64 " %10" PRIu64 " %10" PRIu64 "  ", f->resident_pages,
		       f->dirty_pages, f->pages);
		print_esc(stdout, path);
		putchar('\n');
	}
	if (p->files_total > p->nr_files)
		printf("    ... and %u more files\n", p->files_total - p->nr_files);
}

/* print_header - the column names. */
static void print_header(void)
{
	printf("%-8s %-16s %10s %10s %10s %10s %7s %9s\n", "PID", "COMMAND", "BUDGET",
	       "RESIDENT", "MEMORY", "DIRTY", "HIT", "FAULTS/S");
	printf("    %10s %10s %10s  %s\n", "RES.PAGES", "DIRTY", "PAGES", "FILE");
}

/* visit - show the segment name of dir (a runtime directory of uid) if its
 * process lives and belongs to uid; unlink it if the process is dead.
 * Return: whether it was shown. */
static bool visit(int dir, uid_t uid, const char *name, bool *header)
{
	int pid = segment_pid(name);
	uid_t owner;
	if (!pid)
		return false;
	if (proc_owner(pid, &owner)) {
		unlinkat(dir, name, 0);
		return false;
	}
	if (owner != uid)
		return false; /* not written by that process: never read */
	struct fm_pub *p = malloc(sizeof(*p));
	bool ok = p && !load_segment(dir, name, uid, pid, p);
	if (ok) {
		if (!*header)
			print_header();
		*header = true;
		print_process(p);
	}
	free(p);
	return ok;
}

/* show_dir - the processes of the runtime directory path of uid.
 * Return: how many were shown. */
static int show_dir(const char *path, uid_t uid, bool *header)
{
	int fd = runtime_dir_open(path, uid);
	if (fd < 0)
		return 0;
	int dup_fd = dup(fd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += visit(fd, uid, e->d_name, header);
	if (d)
		closedir(d);
	else if (dup_fd >= 0)
		close(dup_fd);
	close(fd);
	return n;
}

/* show_uid - the processes of uid, in every place its directory may be. */
static int show_uid(uid_t uid, bool *header)
{
	char paths[RT_DIR_CANDIDATES][RT_DIR_PATH_MAX];
	int n = 0, nr = runtime_dir_candidates(uid, paths);
	for (int i = 0; i < nr; i++)
		n += show_dir(paths[i], uid, header);
	return n;
}

/* add_uid - add uid to the set uids[0..*n) (grown as needed).
 * Return: 0 or -1. */
static int add_uid(uid_t **uids, size_t *n, uid_t uid)
{
	for (size_t i = 0; i < *n; i++)
		if ((*uids)[i] == uid)
			return 0;
	uid_t *u = realloc(*uids, (*n + 1) * sizeof(*u));
	if (!u)
		return -1;
	u[(*n)++] = uid;
	*uids = u;
	return 0;
}

/* users - whose processes to show: the caller's; for root, also the owner
 * of every process. Return: how many, in *uids (malloc'ed). */
static size_t users(uid_t **uids)
{
	size_t n = 0;
	*uids = NULL;
	add_uid(uids, &n, geteuid());
	DIR *d = geteuid() == 0 ? opendir("/proc") : NULL;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		uint64_t pid;
		uid_t owner;
		if (!parse_u64(e->d_name, &pid) && pid <= INT32_MAX &&
		    !proc_owner((int)pid, &owner))
			add_uid(uids, &n, owner);
	}
	if (d)
		closedir(d);
	return n;
}

/* show_all - one report. Return: processes shown, or -1. */
static int show_all(void)
{
	int n = 0;
	bool header = false;
	const char *only = secure_getenv("FAULTMAP_STAT_DIR");
	if (only && *only) {
		struct stat st;
		if (lstat(only, &st)) {
			fprintf(stderr, "faultmap: %s: %s\n", only, strerror(errno));
			return -1;
		}
		n = show_dir(only, st.st_uid, &header);
	} else {
		uid_t *uids;
		size_t nr = users(&uids);
		for (size_t i = 0; i < nr; i++)
			n += show_uid(uids[i], &header);
		free(uids);
	}
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
			print_command_help(stdout, "stat");
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
