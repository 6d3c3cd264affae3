/*
 * cache.c - faultmap cache: what vmtouch does to the kernel's page cache,
 * done to the faultmap daemon's (src/daemon/cache.c):
 *
 *   faultmap cache [--offset N] [--length N] [--json] [--touch | --evict | --lock] FILE
 *
 * Without an action it reports how much of FILE (or of the range) the
 * daemon caches. --touch reads the range into the cache; --evict writes its
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

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
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

/* report - the answer, as vmtouch's summary. */
static void report(const char *path, int what, const struct fmd_cache_info *in, bool running)
{
	char a[32], b[32];
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
		if (in->err)
			printf("%15s: failed: %s\n", "Write-back", strerror((int)-in->err));
	}
	if (running)
		printf("%15s: %" PRIu64 " page%s of at most %" PRIu64 " (budget %" PRIu64
		       " pages, %s)\n",
		       "All locks", in->locked_total, in->locked_total == 1 ? "" : "s",
		       in->lock_limit, in->budget, fmt_bytes(a, sizeof(a), in->budget * PAGE));
	fflush(stdout);
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

/* report_json - the answer as one JSON object on one line. */
static void report_json(const char *path, int what, const struct fmd_cache_info *in,
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
	printf("}\n");
	fflush(stdout);
}

/* hold - keep the lock (the connection conn) until SIGINT, SIGTERM or
 * SIGHUP, or until the daemon goes. Return: the exit status. */
static int hold(int conn, bool json)
{
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("faultmap cache: signalfd");
		return 1;
	}
	fprintf(json ? stderr : stdout, "Locked until interrupted (SIGINT, SIGTERM, SIGHUP).\n");
	fflush(stdout);
	struct pollfd p[2] = {{sfd, POLLIN, 0}, {conn, POLLIN, 0}};
	while (poll(p, 2, -1) < 0 && errno == EINTR)
		;
	if (p[0].revents)
		return 0; /* the lock goes with the connection, at exit */
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

int cmd_cache(int argc, char **argv)
{
	int what = FMD_CACHE_QUERY;
	const char *path = NULL;
	uint64_t off = 0, len = 0;
	bool dashdash = false, json = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int act = -1;
		if (dashdash || a[0] != '-' || !a[1]) {
			if (path)
				usage_error("cache", "one FILE only");
			path = a;
		} else if (!strcmp(a, "--")) {
			dashdash = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			print_command_help(stdout, "cache");
			return 0;
		} else if (!strcmp(a, "--offset")) {
			off = size_arg(a, i + 1 < argc ? argv[++i] : NULL);
		} else if (!strcmp(a, "--length")) {
			len = size_arg(a, i + 1 < argc ? argv[++i] : NULL);
			if (!len)
				usage_error("cache", "--length must not be 0");
		} else if (!strcmp(a, "--json")) {
			json = true;
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
			if (what != FMD_CACHE_QUERY)
				usage_error("cache", "one of --touch, --evict, --lock only");
			what = act;
		}
	}
	if (!path)
		usage_error("cache", "no FILE given");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "faultmap cache: %s: %s\n", path, strerror(errno));
		return 1;
	}
	struct fmd_cache_info info = {0};
	struct stat st;
	int conn = -1;
	int err = fstat(fd, &st) < 0 ? -errno : 0;
	if (!err)
		err = client_cache(fd, what, off, len, &info, what == FMD_CACHE_LOCK ? &conn : NULL);
	close(fd);
	if (err == -ENOENT) { /* a report or --evict: nothing is cached */
		uint64_t pages = ((uint64_t)st.st_size + PAGE - 1) / PAGE;
		uint64_t end = len && off + len <= INT64_MAX ? (off + len + PAGE - 1) / PAGE : pages;
		info.size = (uint64_t)st.st_size;
		info.first = off / PAGE < pages ? off / PAGE : pages;
		info.count = (end < pages ? end : pages) > info.first
				     ? (end < pages ? end : pages) - info.first
				     : 0;
		(json ? report_json : report)(path, what, &info, false);
		return 0;
	}
	if (err == -ENOMEM && what == FMD_CACHE_LOCK) {
		fprintf(stderr,
			"faultmap cache: %s: cannot lock %" PRIu64 " pages: the locks would hold "
			"%" PRIu64 " pages, over their limit of %" PRIu64 " (the budget, %" PRIu64
			" pages, less room for the other files' misses): %s\n",
			path, info.count, info.locked_total + info.count, info.lock_limit,
			info.budget, strerror(-err));
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
		return 1;
	}
	(json ? report_json : report)(path, what, &info, true);
	if (what == FMD_CACHE_EVICT && info.err) {
		fprintf(stderr,
			"faultmap cache: %s: write-back failed (%s): %" PRIu64
			" dirty pages kept in the cache, to be written again\n",
			path, strerror((int)-info.err), info.kept_dirty);
		return 1;
	}
	if (what != FMD_CACHE_LOCK)
		return 0;
	return hold(conn, json);
}
