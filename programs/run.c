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

/* mount_normalise - PATH of --mount PATH=URL made absolute (from the
 * current directory) and normalised without looking at the disk, as the
 * interposer normalises the program's paths (interposer/mount.c). */
static void mount_normalise(const char *path, char *out, size_t size)
{
	char tmp[2 * 4096 + 2] = "";
	if (path[0] != '/' && !getcwd(tmp, sizeof(tmp) - 1))
		usage_error("run", "--mount: cannot name the current directory: %s",
			    strerror(errno));
	if (strlen(tmp) + 1 + strlen(path) >= sizeof(tmp))
		usage_error("run", "--mount: path too long");
	if (path[0] != '/')
		strcat(tmp, "/");
	strcat(tmp, path);
	size_t k = 0;
	for (const char *in = tmp; *in;) {
		while (*in == '/')
			in++;
		size_t n = strcspn(in, "/");
		if (n == 2 && in[0] == '.' && in[1] == '.') {
			while (k > 0 && out[--k] != '/')
				;
		} else if (n && !(n == 1 && in[0] == '.')) {
			if (k + 1 + n >= size)
				usage_error("run", "--mount: path too long");
			out[k++] = '/';
			memcpy(out + k, in, n);
			k += n;
		}
		in += n;
	}
	out[k] = '\0';
}

/* add_mount - --mount PATH=URL into the list FAULTMAP_MOUNTS (lines
 * "PATH=URL", PATH absolute), which the interposer reads. */
static void add_mount(char **list, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || !eq[1])
		usage_error("run", "--mount needs PATH=URL (got '%s')", arg);
	const char *url = eq + 1;
	if (!strstr(url, "://") && strncmp(url, "file:/", 6))
		usage_error("run", "--mount %s: '%s' is not a URL (file:///path, "
				   "nbd+unix:///?socket=PATH, rados://pool...)", arg, url);
	if (strchr(arg, '\n'))
		usage_error("run", "--mount: a newline in '%s'", arg);
	char path[4096], raw[4096];
	size_t n = (size_t)(eq - arg);
	if (n >= sizeof(raw))
		usage_error("run", "--mount: path too long");
	memcpy(raw, arg, n);
	raw[n] = '\0';
	mount_normalise(raw, path, sizeof(path));
	if (!path[0])
		usage_error("run", "--mount %s: cannot mount over /", arg);
	if (strchr(path, '='))
		usage_error("run", "--mount %s: PATH cannot hold '='", arg);
	size_t old = *list ? strlen(*list) : 0;
	char *more = realloc(*list, old + strlen(path) + strlen(url) + 3);
	if (!more) {
		perror("faultmap");
		exit(1);
	}
	sprintf(more + old, "%s%s=%s", old ? "\n" : "", path, url);
	*list = more;
}

/* cmd_run - faultmap run. Return: the exit code. */
int cmd_run(int argc, char **argv)
{
	const char *budget = NULL;
	bool stats = false, require = false, json = false;
	char *mounts = NULL;
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
		} else if (!strcmp(argv[i], "--mount")) {
			if (++i >= argc)
				usage_error("run", "--mount needs PATH=URL");
			add_mount(&mounts, argv[i]);
		} else if (!strncmp(argv[i], "--mount=", 8)) {
			add_mount(&mounts, argv[i] + 8);
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
		} else if (help_or_version("run", argv[i])) {
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
	if (mounts) { /* these first: the first mount a path is under wins */
		const char *outer = getenv("FAULTMAP_MOUNTS");
		if (outer && *outer) {
			char *all = malloc(strlen(mounts) + strlen(outer) + 2);
			if (!all)
				return 1;
			sprintf(all, "%s\n%s", mounts, outer);
			free(mounts);
			mounts = all;
		}
		if (setenv("FAULTMAP_MOUNTS", mounts, 1))
			return 1;
		free(mounts);
	}
	if (prepare_env(budget))
		return 1;
	if (stats)
		return run_with_stats(argv + i, json);
	exec_program(argv + i);
}
