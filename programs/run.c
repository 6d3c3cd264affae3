/*
 * run.c - faultmap run: run a program with the interposer preloaded, so
 * that its file mappings are served by faultmap. With --stats, run it as a
 * child and summarise, per process, the line each one's engine appended to
 * FAULTMAP_STATS_FILE at exit (src/publish.h, channel 4).
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* print_summary - one readable block for one "stats" line, to stderr. */
static void print_summary(const char *line)
{
	char comm[64] = "?", b1[32], b2[32], b3[32];
	kv_get(line, "comm", comm, sizeof(comm));
	uint64_t hits = kv_u64(line, "read_hits"), misses = kv_u64(line, "read_misses");
	fprintf(stderr, "faultmap: pid %" PRIu64 " (%s), budget %s\n",
		kv_u64(line, "pid"), comm,
		fmt_bytes(b1, sizeof(b1), kv_u64(line, "budget")));
	fprintf(stderr,
		"  faults:      %" PRIu64 " major, %" PRIu64 " minor, %" PRIu64
		" write\n",
		kv_u64(line, "major_faults"), kv_u64(line, "minor_faults"),
		kv_u64(line, "write_faults"));
	fprintf(stderr,
		"  pages:       %" PRIu64 " read (%" PRIu64 " ahead), %" PRIu64
		" written, %" PRIu64 " evicted, %" PRIu64 " refaulted\n",
		kv_u64(line, "pages_read"), kv_u64(line, "readahead_pages"),
		kv_u64(line, "pages_written"), kv_u64(line, "evictions"),
		kv_u64(line, "refaults"));
	if (hits + misses)
		fprintf(stderr,
			"  read():      hit ratio %.1f%% (%" PRIu64
			" pages found cached, %" PRIu64 " read)\n",
			100.0 * (double)hits / (double)(hits + misses), hits, misses);
	else
		fprintf(stderr, "  read():      no page of a cached file read\n");
	fprintf(stderr,
		"  at exit:     %s resident, %s dirty, %" PRIu64 " files cached\n",
		fmt_bytes(b2, sizeof(b2), kv_u64(line, "resident")),
		fmt_bytes(b3, sizeof(b3), kv_u64(line, "dirty")), kv_u64(line, "files"));
	fprintf(stderr, "  errors:      %" PRIu64 " read, %" PRIu64 " write-back\n",
		kv_u64(line, "read_errors"), kv_u64(line, "writeback_errors"));
}

/* print_stats_file - summarise every line of path (as JSON if json). */
static void print_stats_file(const char *path, bool json)
{
	FILE *f = fopen(path, "r");
	char line[2048];
	int n = 0;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "stats ", 6)) {
			if (json)
				kv_json(stderr, line, "");
			else
				print_summary(line);
			n++;
		}
	if (f)
		fclose(f);
	if (!n && !json)
		fprintf(stderr, "faultmap: no process mapped a file through faultmap\n");
}

/* run_with_stats - run argv as a child with FAULTMAP_STATS_FILE set, then
 * summarise (as JSON if json). Return: the exit code. */
static int run_with_stats(char **argv, bool json)
{
	const char *tmp = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/faultmap-stats.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0) {
		fprintf(stderr, "faultmap: %s: %s\n", path, strerror(errno));
		return 1;
	}
	close(fd);
	if (setenv("FAULTMAP_STATS_FILE", path, 1)) {
		unlink(path);
		return 1;
	}
	pid_t pid = spawn(argv);
	int code = pid < 0 ? 1 : wait_child(pid);
	if (pid > 0)
		print_stats_file(path, json);
	unlink(path);
	return code;
}

/* cmd_run - faultmap run. Return: the exit code. */
int cmd_run(int argc, char **argv)
{
	const char *budget = NULL;
	bool stats = false, require = false, json = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "--budget")) {
			if (++i >= argc)
				usage_error("run", "--budget needs a SIZE");
			budget = argv[i];
			check_budget("run", budget);
		} else if (!strcmp(argv[i], "--stats")) {
			stats = true;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--require")) {
			require = true;
		} else if (!strcmp(argv[i], "--daemon") || !strcmp(argv[i], "--embedded")) {
			/* Where the cache lives (FAULTMAP_MODE; faultmap-daemon(1)). */
			if (setenv("FAULTMAP_MODE", argv[i] + 2, 1))
				return 1;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			print_command_help(stdout, "run");
			return 0;
		} else {
			usage_error("run", "unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc)
		usage_error("run", "no PROGRAM given");
	if (json && !stats)
		usage_error("run", "--json goes with --stats");
	/* --require: not a byte of PROGRAM runs if faultmap cannot serve it;
	 * FAULTMAP_REQUIRE makes each process under it (another user's,
	 * after a setuid, may fare otherwise) stop rather than fall back. */
	if (require) {
		if (check_engine(budget)) {
			fprintf(stderr, "faultmap: run --require: faultmap cannot serve "
					"mappings here; not running %s\n", argv[i]);
			return 1;
		}
		if (setenv("FAULTMAP_REQUIRE", "1", 1))
			return 1;
	}
	if (prepare_env(budget))
		return 1;
	if (stats)
		return run_with_stats(argv + i, json);
	exec_program(argv + i);
}
