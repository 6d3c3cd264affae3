/*
 * cache.c - faultmap cache: what vmtouch does to the kernel's page cache,
 * done to the faultmap daemon's (src/daemon/cache.c):
 *
 *   faultmap cache [--offset N] [--length N] [--json] [--touch | --evict | --lock] PATH...
 *
 * Without an action it reports how much of FILE (or of the range) the
 * daemon caches. A directory is walked, as vmtouch walks one: every
 * regular file under it, symbolic links not followed (a link named on the
 * command line is), each file's range acted on as one FILE's, then the
 * totals; so is a list of several PATHs. --touch reads the range into the cache; --evict writes its
 * dirty pages back and drops its clean ones; --lock reads it and keeps it
 * from being evicted until this command is interrupted (or killed: the
 * daemon drops the lock when the connection ends). The file goes to the
 * daemon as this command's open fd: it acts only on files the user can
 * read. --touch and --lock start the daemon if none runs; a report or
 * --evict does not (nothing is cached then).
 */
#include "cli.h"
#include "client/client.h"
#include "daemon/proto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096

static void print_pages(const char *label, uint64_t pages)
{
	char b[32];
	printf("%15s: %" PRIu64 " page%s (%s)\n", label, pages, pages == 1 ? "" : "s",
	       fmt_bytes(b, sizeof(b), pages * PAGE));
}

/* print_counts - the pages of an answer (one file's, or a tree's totals),
 * from "Resident Pages" on, as vmtouch's summary; the write-back error if
 * werr. */
static void print_counts(int what, const struct fmd_cache_info *in, bool running, bool werr)
{
	char a[32], b[32];
	printf("%15s: %" PRIu64 "/%" PRIu64 "  %s/%s  %.0f%%\n", "Resident Pages", in->resident,
	       in->count, fmt_bytes(a, sizeof(a), in->resident * PAGE),
	       fmt_bytes(b, sizeof(b), in->count * PAGE),
	       in->count ? 100.0 * (double)in->resident / (double)in->count : 0.0);
	print_pages("Dirty", in->dirty);
	print_pages("Locked", in->locked);
	if (what == FMD_CACHE_TOUCH || what == FMD_CACHE_LOCK)
		print_pages("Read", in->done);
	if (what == FMD_CACHE_EVICT) {
		print_pages("Evicted", in->done);
		print_pages("Kept dirty", in->kept_dirty);
		print_pages("Kept locked", in->kept_locked);
		if (werr && in->err)
			printf("%15s: failed: %s\n", "Write-back", strerror((int)-in->err));
	}
	if (running)
		printf("%15s: %" PRIu64 " page%s of at most %" PRIu64 " (budget %" PRIu64
		       " pages, %s)\n",
		       "All locks", in->locked_total, in->locked_total == 1 ? "" : "s",
		       in->lock_limit, in->budget, fmt_bytes(a, sizeof(a), in->budget * PAGE));
	fflush(stdout);
}

/* report - the answer, as vmtouch's summary. */
static void report(const char *path, int what, const struct fmd_cache_info *in, bool running)
{
	char a[32];
	printf("%15s: ", "File");
	print_esc(stdout, path);
	printf("\n%15s: %s\n", "Size", fmt_bytes(a, sizeof(a), in->size));
	if (in->count)
		printf("%15s: pages %" PRIu64 "-%" PRIu64 " (%" PRIu64 " page%s)\n", "Range",
		       in->first, in->first + in->count - 1, in->count, in->count == 1 ? "" : "s");
	else
		printf("%15s: no page\n", "Range");
	printf("%15s: %s\n", "Cached",
	       !running ? "no (no faultmap daemon runs)"
	       : in->cached ? "yes"
			    : "no (the daemon does not cache this file)");
	print_counts(what, in, running, true);
}

/* The version of cache --json's schema (docs/cli.md): its "faultmap_cache". */
#define CACHE_JSON_VERSION 1

/* opt_u64 - ,"key":v, or ,"key":null unless present. */
static void opt_u64(const char *key, bool present, uint64_t v)
{
	if (present)
		printf(",\"%s\":%" PRIu64, key, v);
	else
		printf(",\"%s\":null", key);
}

/* report_json_object - the answer as one JSON object, no newline. */
static void report_json_object(const char *path, int what, const struct fmd_cache_info *in,
			       bool running)
{
	static const char *const actions[] = {"report", "touch", "evict", "lock"};
	printf("{\"faultmap_cache\":%d,\"file\":", CACHE_JSON_VERSION);
	json_str(stdout, path);
	printf(",\"action\":\"%s\",\"daemon\":%s,\"cached\":%s", actions[what],
	       running ? "true" : "false", in->cached ? "true" : "false");
	JSON_FIELDS(stdout, {"size_bytes", in->size}, {"first_page", in->first},
		    {"pages", in->count}, {"resident_pages", in->resident},
		    {"resident_bytes", in->resident * PAGE}, {"dirty_pages", in->dirty},
		    {"locked_pages", in->locked});
	bool reads = what == FMD_CACHE_TOUCH || what == FMD_CACHE_LOCK;
	bool evict = what == FMD_CACHE_EVICT;
	opt_u64("read_pages", reads, in->done);
	opt_u64("evicted_pages", evict, in->done);
	opt_u64("kept_dirty_pages", evict, in->kept_dirty);
	opt_u64("kept_locked_pages", evict, in->kept_locked);
	printf(",\"writeback_error\":");
	if (in->err)
		json_str(stdout, strerror((int)-in->err));
	else
		printf("null");
	opt_u64("locked_total_pages", running, in->locked_total);
	opt_u64("lock_limit_pages", running, in->lock_limit);
	opt_u64("budget_pages", running, in->budget);
	putchar('}');
}

/* report_json - the answer as one JSON object on one line. */
static void report_json(const char *path, int what, const struct fmd_cache_info *in,
			bool running)
{
	report_json_object(path, what, in, running);
	putchar('\n');
	fflush(stdout);
}

/* hold - keep the locks (the connections conns) until SIGINT, SIGTERM
 * or SIGHUP, or until the daemon goes. Return: the exit status. */
static int hold(const int *conns, size_t n, bool json)
{
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	struct pollfd *p = calloc(n + 1, sizeof(*p));
	if (sfd < 0 || !p) {
		perror("faultmap cache: signalfd");
		free(p);
		return 1;
	}
	p[0] = (struct pollfd){sfd, POLLIN, 0};
	for (size_t i = 0; i < n; i++)
		p[i + 1] = (struct pollfd){conns[i], POLLIN, 0};
	fprintf(json ? stderr : stdout, "Locked until interrupted (SIGINT, SIGTERM, SIGHUP).\n");
	fflush(stdout);
	while (poll(p, n + 1, -1) < 0 && errno == EINTR)
		;
	bool sig = p[0].revents;
	free(p);
	if (sig)
		return 0; /* the locks go with the connections, at exit */
	fprintf(stderr, "faultmap cache: the daemon is gone, and the lock with it\n");
	return 1;
}

static uint64_t size_arg(const char *opt, const char *text)
{
	size_t v;
	if (!text)
		usage_error("cache", "%s needs a size", opt);
	if (fm_parse_size(text, &v) || v > INT64_MAX)
		usage_error("cache", "bad %s '%s'", opt, text);
	return v;
}

/* One run of the command: what it does to each file, and, for a tree (a
 * directory, or several PATHs), the totals. */
struct job {
	int what;
	uint64_t off, len;
	bool json, tree;
	bool running;	  /* a daemon answered */
	bool stop;	  /* a lock was refused: no more files */
	int *conns;	  /* --lock: a connection per file, held to the end */
	size_t nconns, cap;
	uint64_t files, cached, dirs, skipped, errors;
	struct fmd_cache_info sum; /* err: the first write-back error */
};

/* no_daemon - info for a file of size bytes when no daemon runs: its range
 * (as the daemon would cut it), nothing cached. */
static void no_daemon(const struct job *j, uint64_t size, struct fmd_cache_info *info)
{
	uint64_t pages = (size + PAGE - 1) / PAGE;
	uint64_t end = j->len && j->off + j->len <= INT64_MAX ? (j->off + j->len + PAGE - 1) / PAGE
							      : pages;
	if (end > pages)
		end = pages;
	*info = (struct fmd_cache_info){0};
	info->size = size;
	info->first = j->off / PAGE < pages ? j->off / PAGE : pages;
	info->count = end > info->first ? end - info->first : 0;
}

/* add - a file's answer into the totals. */
static void add(struct job *j, const struct fmd_cache_info *in)
{
	struct fmd_cache_info *s = &j->sum;
	j->files++;
	j->cached += in->cached != 0;
	s->size += in->size;
	s->count += in->count;
	s->resident += in->resident;
	s->dirty += in->dirty;
	s->locked += in->locked;
	s->done += in->done;
	s->kept_dirty += in->kept_dirty;
	s->kept_locked += in->kept_locked;
	if (!s->err)
		s->err = in->err;
	if (j->running) { /* the daemon's own figures: the last answer's */
		s->budget = in->budget;
		s->locked_total = in->locked_total;
		s->lock_limit = in->lock_limit;
	}
}

/* cache_one - act on the open file fd (path) as the job says: the single
 * FILE's report, or a tree's entry and totals. Return: 0, or 1 after
 * saying why on stderr. */
static int cache_one(struct job *j, int fd, const char *path)
{
	struct fmd_cache_info info = {0};
	struct stat st;
	int conn = -1;
	int err = fstat(fd, &st) < 0 ? -errno : 0;
	if (!err && j->what == FMD_CACHE_LOCK && j->nconns == j->cap) {
		size_t cap = j->cap ? 2 * j->cap : 16;
		int *c = realloc(j->conns, cap * sizeof(*c));
		if (!c) {
			fprintf(stderr, "faultmap cache: %s: out of memory\n", path);
			j->stop = true;
			return 1;
		}
		j->conns = c;
		j->cap = cap;
	}
	if (!err)
		err = client_cache(fd, j->what, j->off, j->len, &info,
				   j->what == FMD_CACHE_LOCK ? &conn : NULL);
	if (err == -ENOENT) { /* a report or --evict: nothing is cached */
		no_daemon(j, (uint64_t)st.st_size, &info);
		err = 0;
	} else if (!err) {
		j->running = true;
	}
	if (err == -ENOMEM && j->what == FMD_CACHE_LOCK) {
		fprintf(stderr,
			"faultmap cache: %s: cannot lock %" PRIu64 " pages: the locks would hold "
			"%" PRIu64 " pages, over their limit of %" PRIu64 " (the budget, %" PRIu64
			" pages, less room for the other files' misses): %s\n",
			path, info.count, info.locked_total + info.count, info.lock_limit,
			info.budget, strerror(-err));
		j->stop = true;
		return 1;
	}
	if (err) {
		const char *why = err == -ENODEV ? "not a regular file"
				  : err == -EIO	   ? "the daemon did not answer (older than "
						     "faultmap cache? faultmap daemon --stop, "
						     "then again)"
				  : err == -ENOTCONN ? "cannot start the faultmap daemon"
						     : strerror(-err);
		fprintf(stderr, "faultmap cache: %s: %s\n", path, why);
		j->stop = err == -ENOTCONN || err == -EIO;
		return 1;
	}
	if (conn >= 0)
		j->conns[j->nconns++] = conn;
	if (!j->tree) {
		(j->json ? report_json : report)(path, j->what, &info, j->running);
	} else if (j->json) {
		if (j->files)
			putchar(',');
		report_json_object(path, j->what, &info, j->running);
	}
	add(j, &info);
	if (j->what == FMD_CACHE_EVICT && info.err) {
		fprintf(stderr,
			"faultmap cache: %s: write-back failed (%s): %" PRIu64
			" dirty pages kept in the cache, to be written again\n",
			path, strerror((int)-info.err), info.kept_dirty);
		return 1;
	}
	return 0;
}

/* A directory on the way down from a PATH: a link (of a bind mount)
 * back to one of them is not walked again. */
struct walk_up {
	dev_t dev;
	ino_t ino;
	const struct walk_up *up;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* walk - act on every regular file under the directory dfd (path), in
 * name order, depth first; a symbolic link, device, FIFO or socket is
 * skipped. Takes dfd. Return: 0, or 1 if anything failed. */
static int walk(struct job *j, int dfd, const char *path, const struct walk_up *up)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		fprintf(stderr, "faultmap cache: %s: %s\n", path, strerror(errno));
		close(dfd);
		j->errors++;
		return 1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn)
				break;
			names = nn;
		}
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
		errno = 0;
	}
	if (errno) {
		fprintf(stderr, "faultmap cache: %s: %s\n", path, strerror(errno));
		j->errors++;
		rc = 1;
	}
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n && !j->stop; i++) {
		char *sub;
		if (asprintf(&sub, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/",
			     names[i]) < 0) {
			rc = 1;
			break;
		}
		struct stat st;
		if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			fprintf(stderr, "faultmap cache: %s: %s\n", sub, strerror(errno));
			j->errors++;
			rc = 1;
		} else if (S_ISDIR(st.st_mode)) {
			bool loop = false;
			for (const struct walk_up *u = up; u; u = u->up)
				loop |= u->dev == st.st_dev && u->ino == st.st_ino;
			int sfd = loop ? -1
				       : openat(dirfd(d), names[i],
						O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (loop) {
				j->skipped++;
			} else if (sfd < 0) {
				fprintf(stderr, "faultmap cache: %s: %s\n", sub, strerror(errno));
				j->errors++;
				rc = 1;
			} else {
				j->dirs++;
				struct walk_up here = {st.st_dev, st.st_ino, up};
				rc |= walk(j, sfd, sub, &here);
			}
		} else if (S_ISREG(st.st_mode)) {
			/* O_NOFOLLOW|O_NONBLOCK: what was a file when looked at may
			 * be a link or a FIFO by now; fstat says which */
			int fd = openat(dirfd(d), names[i],
					O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			struct stat fst;
			if (fd < 0) {
				fprintf(stderr, "faultmap cache: %s: %s\n", sub, strerror(errno));
				j->errors++;
				rc = 1;
			} else if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode)) {
				j->skipped++;
			} else if (cache_one(j, fd, sub)) {
				j->errors++;
				rc = 1;
			}
			if (fd >= 0)
				close(fd);
		} else {
			j->skipped++;
		}
		free(sub);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

/* report_tree - a tree's totals, as vmtouch's summary. */
static void report_tree(const struct job *j, char **paths, int npaths)
{
	const struct fmd_cache_info *s = &j->sum;
	char a[32];
	for (int i = 0; i < npaths; i++) {
		printf("%15s: ", "Path");
		print_esc(stdout, paths[i]);
		putchar('\n');
	}
	printf("%15s: %" PRIu64 " (%" PRIu64 " cached by the daemon)\n", "Files", j->files,
	       j->cached);
	printf("%15s: %" PRIu64 "\n", "Directories", j->dirs);
	printf("%15s: %" PRIu64 " (symbolic links, devices, FIFOs, sockets: not followed)\n",
	       "Skipped", j->skipped);
	if (j->errors)
		printf("%15s: %" PRIu64 " (named on standard error)\n", "Errors", j->errors);
	printf("%15s: %s\n", "Size", fmt_bytes(a, sizeof(a), s->size));
	if (!j->running)
		printf("%15s: no (no faultmap daemon runs)\n", "Cached");
	print_counts(j->what, s, j->running, false);
}

/* report_tree_json - the rest of a tree's JSON object (after its files):
 * the totals, and the object's end. */
static void report_tree_json(const struct job *j)
{
	const struct fmd_cache_info *s = &j->sum;
	bool reads = j->what == FMD_CACHE_TOUCH || j->what == FMD_CACHE_LOCK;
	bool evict = j->what == FMD_CACHE_EVICT;
	printf("],\"daemon\":%s", j->running ? "true" : "false");
	JSON_FIELDS(stdout, {"files", j->files}, {"cached_files", j->cached},
		    {"directories", j->dirs}, {"skipped", j->skipped}, {"errors", j->errors},
		    {"size_bytes", s->size}, {"pages", s->count}, {"resident_pages", s->resident},
		    {"resident_bytes", s->resident * PAGE}, {"dirty_pages", s->dirty},
		    {"locked_pages", s->locked});
	opt_u64("read_pages", reads, s->done);
	opt_u64("evicted_pages", evict, s->done);
	opt_u64("kept_dirty_pages", evict, s->kept_dirty);
	opt_u64("kept_locked_pages", evict, s->kept_locked);
	opt_u64("locked_total_pages", j->running, s->locked_total);
	opt_u64("lock_limit_pages", j->running, s->lock_limit);
	opt_u64("budget_pages", j->running, s->budget);
	printf("}\n");
	fflush(stdout);
}

/* more_fds - --lock of a tree holds a connection per file: the soft limit
 * of descriptors raised to the hard one. */
static void more_fds(void)
{
	struct rlimit r;
	if (!getrlimit(RLIMIT_NOFILE, &r) && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &r);
	}
}

int cmd_cache(int argc, char **argv)
{
	static const char *const actions[] = {"report", "touch", "evict", "lock"};
	struct job j = {.what = FMD_CACHE_QUERY};
	char **paths = calloc((size_t)argc, sizeof(*paths));
	int npaths = 0;
	bool dashdash = false;
	if (!paths) {
		perror("faultmap cache");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int act = -1;
		if (dashdash || a[0] != '-' || !a[1]) {
			paths[npaths++] = argv[i];
		} else if (!strcmp(a, "--")) {
			dashdash = true;
		} else if (help_or_version("cache", a)) {
			free(paths);
			return 0;
		} else if (!strcmp(a, "--offset")) {
			j.off = size_arg(a, i + 1 < argc ? argv[++i] : NULL);
		} else if (!strcmp(a, "--length")) {
			j.len = size_arg(a, i + 1 < argc ? argv[++i] : NULL);
			if (!j.len)
				usage_error("cache", "--length must not be 0");
		} else if (!strcmp(a, "--json")) {
			j.json = true;
		} else if (!strcmp(a, "--touch")) {
			act = FMD_CACHE_TOUCH;
		} else if (!strcmp(a, "--evict")) {
			act = FMD_CACHE_EVICT;
		} else if (!strcmp(a, "--lock")) {
			act = FMD_CACHE_LOCK;
		} else {
			usage_error("cache", "unknown option '%s'", a);
		}
		if (act >= 0) {
			if (j.what != FMD_CACHE_QUERY)
				usage_error("cache", "one of --touch, --evict, --lock only");
			j.what = act;
		}
	}
	if (!npaths)
		usage_error("cache", "no FILE given");
	struct stat st;
	j.tree = npaths > 1 || (stat(paths[0], &st) == 0 && S_ISDIR(st.st_mode));
	if (j.tree && j.what == FMD_CACHE_LOCK)
		more_fds();
	if (j.tree && j.json) {
		printf("{\"faultmap_cache\":%d,\"paths\":[", CACHE_JSON_VERSION);
		for (int i = 0; i < npaths; i++) {
			if (i)
				putchar(',');
			json_str(stdout, paths[i]);
		}
		printf("],\"action\":\"%s\",\"entries\":[", actions[j.what]);
	}
	int rc = 0;
	for (int i = 0; i < npaths && !j.stop; i++) {
		/* a link named here is followed (a directory's are not) */
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC | (j.tree ? O_NONBLOCK : 0));
		if (fd < 0) {
			fprintf(stderr, "faultmap cache: %s: %s\n", paths[i], strerror(errno));
			j.errors++;
			rc = 1;
		} else if (j.tree && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
			j.dirs++;
			struct walk_up top = {st.st_dev, st.st_ino, NULL};
			rc |= walk(&j, fd, paths[i], &top);
			continue; /* walk took fd */
		} else if (cache_one(&j, fd, paths[i])) {
			j.errors++;
			rc = 1;
		}
		if (fd >= 0)
			close(fd);
	}
	if (j.tree && j.json)
		report_tree_json(&j);
	else if (j.tree)
		report_tree(&j, paths, npaths);
	free(paths);
	if (rc || j.what != FMD_CACHE_LOCK || !j.nconns) {
		free(j.conns);
		return rc;
	}
	rc = hold(j.conns, j.nconns, j.json);
	free(j.conns);
	return rc;
}
