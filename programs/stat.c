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

/* The version of stat --json's schema (docs/cli.md): its "faultmap_stat". */
#define STAT_JSON_VERSION 1

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
 * Return: 0, -1 (not readable: skip it), or the layout version of a
 * segment written by another version of faultmap (*out untouched). */
static int load_segment(int dir, const char *name, uid_t uid, int pid, struct fm_pub *out)
{
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	uint64_t magic;
	int err = -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != uid ||
	    pread(fd, &magic, sizeof(magic), 0) != (ssize_t)sizeof(magic)) {
		close(fd);
		return -1;
	}
	unsigned version = fm_pub_version(magic);
	if (version && version != FM_PUB_VERSION) {
		close(fd);
		return (int)version;
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
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &name) ==
			2 &&
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

/* How stat prints: text (the columns of print_header) or JSON. */
static bool json;

/* ratio - part / whole into buf as a percentage ("-" when whole is 0). */
static char *ratio(char *buf, size_t size, uint64_t part, uint64_t whole)
{
	if (!whole)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.1f%%", 100.0 * (double)part / (double)whole);
	return buf;
}

/* print_header - the column names: a process's line, then its files'. */
static void print_header(void)
{
	printf("%-8s %-16s %10s %10s %10s %10s %8s %10s %8s %8s %8s\n", "PID", "COMMAND",
	       "BUDGET", "RESIDENT", "MEMORY", "DIRTY", "MAJFLT", "READ", "REFAULTS",
	       "READ-HIT", "FAULTS/S");
	printf("  %10s %13s %6s %10s %8s %10s %10s %10s %8s %8s  %s\n", "RESIDENT",
	       "PAGES", "%", "DIRTY", "MAJFLT", "READ", "AHEAD", "EVICTED", "REFAULTS",
	       "READ-HIT", "FILE");
}

/* print_file - one file's line of print_header. */
static void print_file(const struct fm_pub_file *f, uint64_t page)
{
	const struct fm_file_counts *c = &f->c;
	char b[7][32], pages[48], path[FM_PUB_PATH_MAX + 1];
	snprintf(pages, sizeof(pages), "%" PRIu64 "/%" PRIu64, f->resident_pages,
		 f->pages);
	snprintf(path, sizeof(path), "%.*s", FM_PUB_PATH_MAX, f->path);
	printf("  %10s %13s %6s %10s %8" PRIu64 " %10s %10s %10s %8" PRIu64 " %8s  ",
	       fmt_bytes(b[0], sizeof(b[0]), f->resident_pages * page), pages,
	       ratio(b[1], sizeof(b[1]), f->resident_pages, f->pages),
	       fmt_bytes(b[2], sizeof(b[2]), f->dirty_pages * page), c->faults,
	       fmt_bytes(b[3], sizeof(b[3]), c->pages_read * page),
	       fmt_bytes(b[4], sizeof(b[4]), c->readahead_pages * page),
	       fmt_bytes(b[5], sizeof(b[5]), c->evictions * page), c->refaults,
	       ratio(b[6], sizeof(b[6]), c->read_hits, c->read_hits + c->read_misses));
	print_esc(stdout, path);
	putchar('\n');
}

/* print_process - one process and its files, names escaped. memory: see
 * process_memory, or UINT64_MAX if not known. */
static void print_process(const struct fm_pub *p, uint64_t memory)
{
	char b[6][32], comm[sizeof(p->comm) + 1];
	snprintf(comm, sizeof(comm), "%.*s", (int)sizeof(p->comm), p->comm);
	char *ecomm = esc_name(comm);
	const struct fm_stats *st = &p->st;
	if (memory == UINT64_MAX)
		snprintf(b[3], sizeof(b[3]), "-");
	else
		fmt_bytes(b[3], sizeof(b[3]), memory);
	printf("%-8d %-16.16s %10s %10s %10s %10s %8" PRIu64 " %10s %8" PRIu64
	       " %8s %8" PRIu64 "\n",
	       (int)p->pid, ecomm ? ecomm : "?",
	       fmt_bytes(b[0], sizeof(b[0]), st->budget_bytes),
	       fmt_bytes(b[1], sizeof(b[1]), st->resident_bytes), b[3],
	       fmt_bytes(b[2], sizeof(b[2]), st->dirty_bytes), st->major_faults,
	       fmt_bytes(b[4], sizeof(b[4]), st->pages_read * p->page_size), st->refaults,
	       ratio(b[5], sizeof(b[5]), p->read_hits, p->read_hits + p->read_misses),
	       p->faults_per_sec);
	free(ecomm);
	for (uint32_t i = 0; i < p->nr_files && i < FM_PUB_MAX_FILES; i++)
		print_file(&p->files[i], p->page_size);
	uint32_t more = p->files_total - p->nr_files;
	if (p->files_total > p->nr_files)
		printf("  ... and %u more %s\n", more, more == 1 ? "file" : "files");
}

/* json_traffic - the pages that came and went, and the reads, of a file
 * or a process (its other fields unused). */
static void json_traffic(const struct fm_file_counts *c)
{
	JSON_FIELDS(stdout, {"pages_read", c->pages_read},
		    {"readahead_pages", c->readahead_pages},
		    {"pages_written", c->pages_written}, {"evictions", c->evictions},
		    {"refaults", c->refaults}, {"read_hits", c->read_hits},
		    {"read_misses", c->read_misses});
	json_ratio(stdout, "read_hit_ratio", c->read_hits, c->read_hits + c->read_misses);
}

/* json_file - one element of a process's "files" (docs/cli.md). */
static void json_file(const struct fm_pub_file *f, uint64_t page)
{
	const struct fm_file_counts *c = &f->c;
	char path[FM_PUB_PATH_MAX + 1];
	snprintf(path, sizeof(path), "%.*s", FM_PUB_PATH_MAX, f->path);
	printf("{\"path\":");
	json_str(stdout, path);
	JSON_FIELDS(stdout, {"size_bytes", f->size_bytes}, {"pages", f->pages},
		    {"resident_pages", f->resident_pages},
		    {"resident_bytes", f->resident_pages * page});
	json_ratio(stdout, "resident_ratio", f->resident_pages, f->pages);
	JSON_FIELDS(stdout, {"dirty_pages", f->dirty_pages},
		    {"dirty_bytes", f->dirty_pages * page}, {"vmas", f->nr_vmas},
		    {"faults", c->faults}, {"fault_hits", c->fault_hits},
		    {"write_faults", c->write_faults});
	json_traffic(c);
	putchar('}');
}

/* json_process - one element of "processes" (docs/cli.md). */
static void json_process(const struct fm_pub *p, uint64_t memory)
{
	const struct fm_stats *st = &p->st;
	char comm[sizeof(p->comm) + 1];
	snprintf(comm, sizeof(comm), "%.*s", (int)sizeof(p->comm), p->comm);
	printf("{\"pid\":%d,\"command\":", (int)p->pid);
	json_str(stdout, comm);
	if (memory == UINT64_MAX)
		printf(",\"memory_bytes\":null");
	else
		JSON_FIELDS(stdout, {"memory_bytes", memory});
	JSON_FIELDS(
	    stdout, {"page_size", p->page_size}, {"budget_bytes", st->budget_bytes},
	    {"resident_bytes", st->resident_bytes}, {"dirty_bytes", st->dirty_bytes},
	    {"major_faults", st->major_faults}, {"minor_faults", st->minor_faults},
	    {"write_faults", st->write_faults}, {"faults_per_sec", p->faults_per_sec},
	    {"read_errors", st->read_errors}, {"writeback_errors", st->writeback_errors},
	    {"files_total", p->files_total});
	json_traffic(&(struct fm_file_counts){.pages_read = st->pages_read,
					      .readahead_pages = st->readahead_pages,
					      .pages_written = st->pages_written,
					      .evictions = st->evictions,
					      .refaults = st->refaults,
					      .read_hits = p->read_hits,
					      .read_misses = p->read_misses});
	printf(",\"files\":[");
	for (uint32_t i = 0; i < p->nr_files && i < FM_PUB_MAX_FILES; i++) {
		if (i)
			putchar(',');
		json_file(&p->files[i], p->page_size);
	}
	printf("]}");
}

/* show - one process, after the header (text) or a comma (JSON) if it is
 * not the first (*shown processes so far). */
static void show(const struct fm_pub *p, int *shown)
{
	uint64_t memory;
	if (process_memory(p->pid, p->st.resident_bytes, &memory))
		memory = UINT64_MAX;
	if (json) {
		if (*shown)
			putchar(',');
		json_process(p, memory);
	} else {
		if (!*shown)
			print_header();
		print_process(p, memory);
	}
	++*shown;
}

/* The processes asked for (faultmap stat PID...), or none: all. */
static struct wanted {
	int pid;
	bool shown; /* in this report */
} * wanted;
static size_t nr_wanted;

/* want - whether to show process pid (and, if it was asked for, note that
 * it is shown). */
static bool want(int pid)
{
	for (size_t i = 0; i < nr_wanted; i++)
		if (wanted[i].pid == pid)
			return wanted[i].shown = true;
	return !nr_wanted;
}

/* visit - show the segment name of dir (a runtime directory of uid) if its
 * process lives, belongs to uid and is wanted; unlink it if the process is
 * dead. A segment of another layout version is named on stderr. */
static void visit(int dir, uid_t uid, const char *name, int *shown)
{
	int pid = segment_pid(name);
	uid_t owner;
	if (!pid)
		return;
	if (proc_owner(pid, &owner)) {
		unlinkat(dir, name, 0);
		return;
	}
	if (owner != uid)
		return; /* not written by that process: never read */
	struct fm_pub *p = malloc(sizeof(*p));
	int v = p ? load_segment(dir, name, uid, pid, p) : -1;
	if (!v && want(pid))
		show(p, shown);
	else if (v > 0)
		fprintf(
		    stderr,
		    "faultmap: pid %d publishes its counters in layout version %d; this "
		    "faultmap reads version %d: use the faultmap that started it\n",
		    pid, v, FM_PUB_VERSION);
	free(p);
}

/* show_dir - the processes of the runtime directory path of uid; *shown
 * counts them. */
static void show_dir(const char *path, uid_t uid, int *shown)
{
	int fd = runtime_dir_open(path, uid);
	if (fd < 0)
		return;
	int dup_fd = dup(fd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d)))
		visit(fd, uid, e->d_name, shown);
	if (d)
		closedir(d);
	else if (dup_fd >= 0)
		close(dup_fd);
	close(fd);
}

/* show_uid - the processes of uid, in every place its directory may be. */
static void show_uid(uid_t uid, int *shown)
{
	char paths[RT_DIR_CANDIDATES][RT_DIR_PATH_MAX];
	int nr = runtime_dir_candidates(uid, paths);
	for (int i = 0; i < nr; i++)
		show_dir(paths[i], uid, shown);
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

/* show_all - one report: text, or one JSON object on one line. A process
 * asked for and not found is named on stderr.
 * Return: processes shown, -1 on errors, -2 if one asked for is not found. */
static int show_all(void)
{
	int n = 0;
	for (size_t i = 0; i < nr_wanted; i++)
		wanted[i].shown = false;
	const char *only = secure_getenv("FAULTMAP_STAT_DIR");
	struct stat st;
	if (only && *only && lstat(only, &st)) {
		fprintf(stderr, "faultmap: %s: %s\n", only, strerror(errno));
		return -1;
	}
	if (json)
		printf("{\"faultmap_stat\":%d,\"processes\":[", STAT_JSON_VERSION);
	if (only && *only) {
		show_dir(only, st.st_uid, &n);
	} else {
		uid_t *uids;
		size_t nr = users(&uids);
		for (size_t i = 0; i < nr; i++)
			show_uid(uids[i], &n);
		free(uids);
	}
	if (json)
		printf("]}\n");
	else if (!n && !nr_wanted)
		printf("no process is running under faultmap\n");
	bool missing = false;
	for (size_t i = 0; i < nr_wanted; i++) {
		if (wanted[i].shown)
			continue;
		fflush(stdout);
		fprintf(
		    stderr,
		    "faultmap: pid %d is not a process of yours running under faultmap "
		    "(with FAULTMAP_PUBLISH=1)\n",
		    wanted[i].pid);
		missing = true;
	}
	return missing ? -2 : n;
}

/* add_wanted - note that process text (a PID argument) was asked for. */
static void add_wanted(const char *text)
{
	uint64_t pid;
	if (parse_u64(text, &pid) || !pid || pid > INT32_MAX)
		usage_error("stat", "unexpected argument '%s'", text);
	struct wanted *w = realloc(wanted, (nr_wanted + 1) * sizeof(*w));
	if (!w) {
		fprintf(stderr, "faultmap: out of memory\n");
		exit(1);
	}
	wanted = w;
	wanted[nr_wanted++] = (struct wanted){.pid = (int)pid};
}

/* parse_interval - "SECONDS" with up to three decimals ("0.2", "5") into
 * milliseconds. Return: 0, or -1 if not a number in 0.1..86400. */
static int parse_interval(const char *text, uint64_t *ms)
{
	const char *dot = strchr(text, '.');
	char whole[16] = "";
	size_t len = dot ? (size_t)(dot - text) : strlen(text);
	uint64_t sec = 0, frac = 0;
	if (len >= sizeof(whole))
		return -1;
	memcpy(whole, text, len);
	if (len && parse_u64(whole, &sec))
		return -1;
	if (dot) {
		size_t digits = strlen(dot + 1);
		if (!digits || digits > 3 || parse_u64(dot + 1, &frac))
			return -1;
		for (size_t i = digits; i < 3; i++)
			frac *= 10;
	} else if (!len) {
		return -1;
	}
	if (sec > 86400)
		return -1;
	*ms = sec * 1000 + frac;
	return *ms < 100 || *ms > 86400000 ? -1 : 0;
}

/* cmd_stat - faultmap stat. Return: the exit code. */
int cmd_stat(int argc, char **argv)
{
	uint64_t every_ms = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--watch")) {
			every_ms = 1000;
			if (i + 1 < argc && argv[i + 1][0] != '-' &&
			    parse_interval(argv[++i], &every_ms))
				usage_error("stat",
					    "bad interval '%s' (seconds, 0.1..86400)",
					    argv[i]);
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (help_or_version("stat", argv[i])) {
			return 0;
		} else {
			add_wanted(argv[i]);
		}
	}
	if (!every_ms) {
		int n = show_all();
		free(wanted);
		return n < 0 ? 1 : 0;
	}
	bool tty = !json && isatty(STDOUT_FILENO);
	for (unsigned frame = 0;; frame++) {
		if (tty)
			printf("\033[H\033[2J");
		else if (frame && !json)
			putchar('\n');
		if (show_all() == -1) /* one asked for may come, or go: -2 */
			return 1;
		fflush(stdout);
		struct timespec ts = {(time_t)(every_ms / 1000),
				      (long)(every_ms % 1000) * 1000000};
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
}
