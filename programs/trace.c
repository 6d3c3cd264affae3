/*
 * trace.c - faultmap trace: run a program under faultmap with
 * FAULTMAP_TRACE_FD set to a pipe, and narrate each fault the engine serves
 * (src/publish.h, channel 3) the way the seed tells it: address -> vma ->
 * file page -> miss, read, installed. Ends with a summary per process.
 * The narration goes to stderr (or -o FILE), apart from the program's
 * stdout.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct proc {
	int pid; /* 0: not known (thread gone before we looked) */
	bool exited;
	uint64_t faults, miss, hit, write, sigbus, other;
	uint64_t pages_read, total_us, max_us, read_us;
};

struct tracer {
	FILE *out;
	bool json; /* one JSON object per line (kv_json) instead of prose */
	struct proc *procs;
	size_t nr_procs;
	int tids[64], tgids[64]; /* recent tid -> process */
	unsigned next_tid;
};

/* tgid_of - the process of thread tid, from /proc, or 0. */
static int tgid_of(struct tracer *tr, int tid)
{
	for (unsigned i = 0; i < 64; i++)
		if (tid && tr->tids[i] == tid)
			return tr->tgids[i];
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	FILE *f = tid > 0 ? fopen(path, "r") : NULL;
	int tgid = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	if (f)
		fclose(f);
	unsigned slot = tr->next_tid++ % 64;
	tr->tids[slot] = tid;
	tr->tgids[slot] = tgid;
	return tgid;
}

/* proc_get - the record of pid, created if need be (NULL: no memory). */
static struct proc *proc_get(struct tracer *tr, int pid)
{
	for (size_t i = 0; i < tr->nr_procs; i++)
		if (tr->procs[i].pid == pid && !tr->procs[i].exited)
			return &tr->procs[i];
	struct proc *p = realloc(tr->procs, (tr->nr_procs + 1) * sizeof(*p));
	if (!p)
		return NULL;
	tr->procs = p;
	p = &p[tr->nr_procs++];
	*p = (struct proc){.pid = pid};
	return p;
}

/* account - add one fault line to its process's totals. */
static void account(struct proc *p, const char *result, const char *line)
{
	uint64_t total = kv_u64(line, "total_us");
	p->faults++;
	p->total_us += total;
	if (total > p->max_us)
		p->max_us = total;
	if (!strcmp(result, "miss")) {
		p->miss++;
		p->pages_read += kv_u64(line, "read_pages");
		p->read_us += kv_u64(line, "read_us");
	} else if (!strcmp(result, "hit")) {
		p->hit++;
	} else if (!strcmp(result, "write")) {
		p->write++;
	} else if (!strcmp(result, "sigbus")) {
		p->sigbus++;
	} else {
		p->other++;
	}
}

/* outcome - the end of the story of one fault, into buf. */
static void outcome(char *buf, size_t size, const char *result, const char *line)
{
	uint64_t total = kv_u64(line, "total_us");
	if (!strcmp(result, "miss"))
		snprintf(buf, size,
			 "miss -> read %" PRIu64 " pages from page %" PRIu64 " (%" PRIu64
			 " us) -> %" PRIu64 " installed (%" PRIu64 " us)",
			 kv_u64(line, "read_pages"), kv_u64(line, "read_start"),
			 kv_u64(line, "read_us"), kv_u64(line, "installed"), total);
	else if (!strcmp(result, "hit"))
		snprintf(buf, size, "hit: another fault brought it in (%" PRIu64 " us)",
			 total);
	else if (!strcmp(result, "write"))
		snprintf(buf, size,
			 "first write: marked dirty, made writable (%" PRIu64 " us)",
			 total);
	else if (!strcmp(result, "sigbus"))
		snprintf(buf, size, "SIGBUS: past EOF or read error (%" PRIu64 " us)",
			 total);
	else
		snprintf(buf, size, "%s (%" PRIu64 " us)", result, total);
}

/* on_fault - narrate and account one "fault" line. */
static void on_fault(struct tracer *tr, const char *line)
{
	char result[16] = "?", vma[64] = "?", end[160];
	kv_get(line, "result", result, sizeof(result));
	kv_get(line, "vma", vma, sizeof(vma));
	char *dash = strchr(vma, '-');
	if (dash)
		*dash = ',';
	int tid = (int)kv_u64(line, "tid");
	int pid = tgid_of(tr, tid);
	struct proc *p = proc_get(tr, pid);
	if (p)
		account(p, result, line);
	if (tr->json) {
		char extra[32];
		snprintf(extra, sizeof(extra), ",\"pid\":%d", pid);
		kv_json(tr->out, line, extra);
		return;
	}
	outcome(end, sizeof(end), result, line);
	uint64_t t = kv_u64(line, "t_us");
	fprintf(tr->out,
		"[%6" PRIu64 ".%03" PRIu64 " ms] pid %d tid %d: 0x%" PRIx64
		" -> vma [%s) pgoff %" PRIu64 " -> page %" PRIu64 " -> %s\n",
		t / 1000, t % 1000, pid, tid, kv_u64(line, "addr"), vma,
		kv_u64(line, "pgoff"), kv_u64(line, "index"), end);
}

/* on_exit_line - "exit pid=<n>": the process's engine stopped. */
static void on_exit_line(struct tracer *tr, const char *line)
{
	int pid = (int)kv_u64(line, "pid");
	struct proc *p = proc_get(tr, pid);
	if (p)
		p->exited = true;
	if (tr->json) {
		kv_json(tr->out, line, "");
		return;
	}
	fprintf(tr->out,
		"-- process %d: faultmap stopped (exit or exec), %" PRIu64
		" faults served\n",
		pid, p ? p->faults : 0);
}

/* json_summary - the totals, one JSON object per process (docs/cli.md). */
static void json_summary(const struct tracer *tr)
{
	for (size_t i = 0; i < tr->nr_procs; i++) {
		const struct proc *p = &tr->procs[i];
		fprintf(tr->out, "{\"event\":\"summary\",\"pid\":%d", p->pid);
		JSON_FIELDS(tr->out, {"faults", p->faults}, {"miss", p->miss},
			    {"hit", p->hit}, {"write", p->write}, {"sigbus", p->sigbus},
			    {"pages_read", p->pages_read}, {"total_us", p->total_us},
			    {"max_us", p->max_us}, {"read_us", p->read_us});
		fputs("}\n", tr->out);
	}
}

/* summary - the totals, per process. */
static void summary(struct tracer *tr)
{
	if (tr->json) {
		json_summary(tr);
		return;
	}
	uint64_t faults = 0;
	for (size_t i = 0; i < tr->nr_procs; i++)
		faults += tr->procs[i].faults;
	fprintf(tr->out, "faultmap trace: %" PRIu64 " faults served in %zu process%s\n",
		faults, tr->nr_procs, tr->nr_procs == 1 ? "" : "es");
	for (size_t i = 0; i < tr->nr_procs; i++) {
		const struct proc *p = &tr->procs[i];
		char b[32];
		fprintf(tr->out,
			"  pid %d: %" PRIu64 " faults (%" PRIu64 " miss, %" PRIu64
			" hit, %" PRIu64 " write, %" PRIu64 " sigbus); %" PRIu64
			" pages read (%s)",
			p->pid, p->faults, p->miss, p->hit, p->write, p->sigbus,
			p->pages_read, fmt_bytes(b, sizeof(b), p->pages_read * 4096));
		if (p->faults)
			fprintf(tr->out,
				"; service time mean %" PRIu64 " us, max %" PRIu64 " us",
				p->total_us / p->faults, p->max_us);
		if (p->miss)
			fprintf(tr->out, "; read time mean %" PRIu64 " us",
				p->read_us / p->miss);
		fputc('\n', tr->out);
	}
}

/* follow - read trace lines from fd until every writer closed it. */
static void follow(struct tracer *tr, int fd)
{
	FILE *in = fdopen(fd, "r");
	char line[1024];
	while (in && fgets(line, sizeof(line), in)) {
		if (!strncmp(line, "fault ", 6))
			on_fault(tr, line);
		else if (!strncmp(line, "exit ", 5))
			on_exit_line(tr, line);
		fflush(tr->out);
	}
	if (in)
		fclose(in);
}

/* start_traced - fork and exec argv with FAULTMAP_TRACE_FD set to a copy
 * of wfd. Return: the child's pid, or -1. */
static pid_t start_traced(char **argv, int wfd)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		fprintf(stderr, "faultmap: fork: %s\n", strerror(errno));
	if (pid == 0) {
		int w = dup(wfd); /* without O_CLOEXEC */
		char v[16];
		snprintf(v, sizeof(v), "%d", w);
		if (w < 0 || setenv("FAULTMAP_TRACE_FD", v, 1))
			_exit(EXIT_EXEC);
		exec_program(argv);
	}
	return pid;
}

/* trace_program - run argv, narrate to out (as JSON if json). Return:
 * the exit code. */
static int trace_program(char **argv, FILE *out, bool json)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC)) {
		fprintf(stderr, "faultmap: pipe: %s\n", strerror(errno));
		return 1;
	}
	pid_t pid = start_traced(argv, fds[1]);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return 1;
	}
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	struct tracer tr = {.out = out, .json = json};
	follow(&tr, fds[0]);
	int code = wait_child(pid);
	summary(&tr);
	free(tr.procs);
	return code;
}

/* cmd_trace - faultmap trace. Return: the exit code. */
int cmd_trace(int argc, char **argv)
{
	const char *budget = NULL, *out_path = NULL;
	bool json = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "--budget")) {
			if (++i >= argc)
				usage_error("trace", "--budget needs a SIZE");
			check_budget("trace", budget = argv[i]);
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "-o")) {
			if (++i >= argc || !argv[i][0])
				usage_error("trace", "-o needs a FILE");
			out_path = argv[i];
		} else if (help_or_version("trace", argv[i])) {
			return 0;
		} else {
			usage_error("trace", "unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc)
		usage_error("trace", "no PROGRAM given");
	FILE *out = out_path ? fopen(out_path, "we") : stderr;
	if (!out) {
		fprintf(stderr, "faultmap: %s: %s\n", out_path, strerror(errno));
		return 1;
	}
	int code = prepare_env(budget) ? 1 : trace_program(argv + i, out, json);
	if (out != stderr)
		fclose(out);
	return code;
}
