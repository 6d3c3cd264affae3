/*
 * usage.c - the faultmap command's manual: faultmap --help (every command
 * with its options), faultmap COMMAND --help and faultmap help COMMAND (that
 * command's), faultmap --version, and the one-line synopses printed with
 * usage errors. The man pages (man/man1/) say the same at more length.
 */
#include "cli.h"
#include "faultmap.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifndef FM_GIT_REV
#define FM_GIT_REV ""
#endif

/* Each command: its synopsis, and what it does with each option. */
static const struct {
	const char *cmd, *synopsis, *text;
} commands[] = {
    {"run", "faultmap run [--budget SIZE] [--mount PATH=URL]... [--stats [--json]] [--require] [--daemon | --embedded] [--] PROGRAM [ARGS...]",
     "Run PROGRAM (same pid) with the faultmap interposer preloaded: its\n"
     "mmap()s of regular files are served by faultmap's page cache. Without\n"
     "permission to use userfaultfd the kernel maps its files instead, with a\n"
     "warning saying how to get access (faultmap doctor says more).\n"
     "  --budget SIZE  cap the page cache (65536, 64K, 64M, 2G; binary units;\n"
     "                 at least 64K), or 25%: a share of the smaller of RAM and\n"
     "                 the memory cgroup's limit. Default: half of that. A\n"
     "                 budget that does not fit with faultmap's own memory is\n"
     "                 named on stderr.\n"
     "  --mount PATH=URL  make PATH a store's, for PROGRAM's open, stat, access,\n"
     "                 mmap, read, write, lseek, ftruncate and close: with a\n"
     "                 URL of a container (rados://pool, s3://bucket/prefix/,\n"
     "                 file:///dir) PATH/NAME is its object NAME; with a URL of\n"
     "                 one object (nbd+unix:///?socket=S, nbd://host/export,\n"
     "                 rados://pool/object) PATH is that object. Pages are\n"
     "                 cached within the budget, never copied to local disk;\n"
     "                 write() reaches the store before it returns, a shared\n"
     "                 mapping's writes at msync. Repeatable.\n"
     "  --require      fail (exit 1, saying how to get access) instead of\n"
     "                 letting the kernel map the files, when faultmap cannot\n"
     "                 serve them: checked before PROGRAM runs, and in each\n"
     "                 process when it first maps a file.\n"
     "  --stats        run PROGRAM as a child and print on stderr, when it ends,\n"
     "                 a summary per process that used faultmap (faults, pages\n"
     "                 read and written, evictions, refaults, read hit ratio,\n"
     "                 errors).\n"
     "  --json         with --stats: the summary as one JSON object per process\n"
     "                 and line, on stderr (schema: docs/cli.md).\n"
     "  --daemon       serve it from your faultmap daemon (faultmap daemon, started\n"
     "                 if none runs): one cache for every process, as the\n"
     "                 kernel's (the default); with --budget, the budget of a\n"
     "                 daemon it starts. --embedded: a cache of each process's\n"
     "                 own (FAULTMAP_MODE chooses too).\n"
     "  --             end of options.\n"},
    {"stat", "faultmap stat [--json] [--watch [SECONDS]] [PID...]",
     "One line per process of yours (root: of every user) running under\n"
     "faultmap: pid, program, budget, resident (the cache), memory (the\n"
     "process's, the cache counted once, unlike RSS), dirty, major faults,\n"
     "bytes read, refaults, read hit ratio, faults/s; then one line per file:\n"
     "resident bytes, pages and percent, dirty, major faults, bytes read and\n"
     "read ahead, bytes evicted, refaults, read hit ratio, path (escaped).\n"
     "The read hit ratio is of read() calls of cached files: hits through a\n"
     "mapping never reach faultmap, so none is shown for mappings. With PIDs,\n"
     "only those processes (exit 1 if one is not found).\n"
     "  --json             one JSON object per report, on one line (schema:\n"
     "                     faultmap-stat(1)).\n"
     "  --watch [SECONDS]  print again every SECONDS (0.1..86400, up to three\n"
     "                     decimals; default 1) until interrupted.\n"},
    {"inspect", "faultmap inspect PID [--json] [--svg FILE]",
     "Draw the page cache of process PID (yours, or any as root): each file's\n"
     "address_space, its page index (. not cached, R resident, D dirty, L being\n"
     "read, r partly resident) and the vmas that map it (the reverse map), with\n"
     "the part of the file each covers.\n"
     "  --json      print it as one JSON object instead (schema: docs/cli.md).\n"
     "  --svg FILE  also draw it as SVG into FILE.\n"},
    {"trace", "faultmap trace [--budget SIZE] [--json] [-o FILE] [--] PROGRAM [ARGS...]",
     "Run PROGRAM as run --stats does and narrate every fault faultmap serves\n"
     "(address -> vma -> page -> miss/hit/write -> pages read -> installed,\n"
     "with times), then a summary per process.\n"
     "  --budget SIZE  as for run.\n"
     "  --json         one JSON object per fault and line instead, and one per\n"
     "                 process for the summary (schema: docs/cli.md).\n"
     "  -o FILE        write the narration to FILE instead of stderr.\n"
     "  --             end of options.\n"},
    {"doctor", "faultmap doctor [--json]",
     "Check, and explain in one screen, what faultmap needs here: the kernel,\n"
     "userfaultfd (access, /dev/userfaultfd, the sysctl, features, fork\n"
     "events), io_uring, the shmem THP settings, the memory (RAM, the memory\n"
     "cgroup's limit) and the default budget, the runtime directory, the\n"
     "daemon. Exit 0 if faultmap can serve mappings for this user, else 1,\n"
     "saying how to get access.\n"
     "  --json  what it found as one JSON object, with the report's lines\n"
     "          (schema: docs/cli.md).\n"},
    {"daemon", "faultmap daemon [--budget SIZE] [--foreground] [--if-not-running] | --stop",
     "Run your faultmap daemon: the one page cache of all your processes that\n"
     "run in daemon mode (the default; not FAULTMAP_MODE=embedded): a shared\n"
     "write is seen by every process at once and outlives its writer. One per user; the library\n"
     "starts it on demand. Its socket is daemon.sock in your runtime directory.\n"
     "  --budget SIZE    cap its page cache, as for run (default: FAULTMAP_BUDGET,\n"
     "                   else half of the smaller of RAM and the memory cgroup's\n"
     "                   limit).\n"
     "  --foreground     stay in the foreground (systemd; logs on stderr).\n"
     "                   Otherwise it returns once the daemon listens, and the\n"
     "                   daemon logs to daemon.log in the runtime directory.\n"
     "  --if-not-running exit 0, silently, if your daemon already runs.\n"
     "  --stop           write every dirty page back and stop your daemon; what a\n"
     "                   file or store refuses goes to a rescue file (named;\n"
     "                   exit 1); if that cannot be written either, the daemon\n"
     "                   goes on, holding the pages (exit 1).\n"},
    {"cache", "faultmap cache [--offset N] [--length N] [--json] [--touch | --evict | --lock] PATH...",
     "What vmtouch does to the kernel's page cache, done to your faultmap\n"
     "daemon's (the cache of daemon mode). Without an action: how much of\n"
     "FILE (or of the range) the daemon caches: resident pages, bytes and\n"
     "percent, dirty and locked pages. FILE is opened here and its descriptor\n"
     "sent to the daemon: you act only on files you can read. A directory is\n"
     "walked: every regular file under it, symbolic links not followed, and\n"
     "the totals; so are several PATHs.\n"
     "  --offset N  the range starts at byte N (rounded down to a page; sizes\n"
     "              as 64K, 2M). Default 0.\n"
     "  --length N  the range is N bytes long (rounded up to pages). Default:\n"
     "              to the end of the file.\n"
     "  --json      the answer as one JSON object on one line (schema:\n"
     "              docs/cli.md).\n"
     "  --touch     read the range into the cache, through the budget (a range\n"
     "              bigger than the budget cycles through it), and say what is\n"
     "              resident after. The pages stay cached after the command,\n"
     "              until evicted. Starts the daemon if none runs.\n"
     "  --evict     write the range's dirty pages back, then drop its clean\n"
     "              pages. A page whose write-back fails stays (dirty: exit 1),\n"
     "              and so does a locked page; both are counted. No daemon:\n"
     "              nothing to evict (exit 0).\n"
     "  --lock      read the range and keep it from being evicted until this\n"
     "              command gets SIGINT, SIGTERM or SIGHUP (or dies): it stays\n"
     "              in the foreground, as vmtouch -l. Locked pages count\n"
     "              against the budget: all locks together hold at most the\n"
     "              budget less 1 MiB (half of a budget under 2 MiB); beyond,\n"
     "              the lock is refused (ENOMEM, exit 1). Starts the daemon if\n"
     "              none runs.\n"},
    {"help", "faultmap help [COMMAND]",
     "Print this manual, or COMMAND's part of it. Also: faultmap --help,\n"
     "faultmap COMMAND --help. faultmap --version (or COMMAND --version)\n"
     "prints the version.\n"},
};
#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char environment[] =
    "ENVIRONMENT\n"
    "    FAULTMAP_PRELOAD   the interposer to preload (default: " FM_PRELOAD_NAME "\n"
    "                       from the directory of the faultmap executable)\n"
    "    FAULTMAP_STAT_DIR  the one runtime directory stat reads (tests)\n"
    "    run and trace set LD_PRELOAD, FAULTMAP_PUBLISH=1, FAULTMAP_BUDGET (with\n"
    "    --budget), FAULTMAP_STATS_FILE (--stats), FAULTMAP_REQUIRE=1 (run\n"
    "    --require) and FAULTMAP_TRACE_FD (trace).\n"
    "    faultmap(7) describes every variable.\n"
    "\n"
    "EXIT STATUS\n"
    "    run and trace: the program's status (128 + N if killed by signal N),\n"
    "    127 if it cannot be executed, 1 if faultmap cannot set it up.\n"
    "    Otherwise 0; 1 on errors; 2 on usage errors.\n"
    "\n"
    "SEE ALSO\n"
    "    faultmap(1), faultmap-run(1), faultmap-stat(1), faultmap-inspect(1),\n"
    "    faultmap-trace(1), faultmap-doctor(1), faultmap-daemon(1),\n"
    "    faultmap-cache(1), faultmap(7),\n"
    "    fm_mmap(3)\n";

/* cmd_usage - see cli.h. */
const char *cmd_usage(const char *cmd)
{
	for (size_t i = 0; i < NR_COMMANDS; i++)
		if (cmd && strcmp(cmd, commands[i].cmd) == 0)
			return commands[i].synopsis;
	return NULL;
}

/* print_command_help - see cli.h. */
int print_command_help(FILE *f, const char *cmd)
{
	for (size_t i = 0; i < NR_COMMANDS; i++)
		if (strcmp(cmd, commands[i].cmd) == 0) {
			fprintf(f, "usage: %s\n\n%s", commands[i].synopsis, commands[i].text);
			return 0;
		}
	return -1;
}

/* print_indented - text with each line indented by n spaces. */
static void print_indented(FILE *f, const char *text, int n)
{
	while (*text) {
		size_t len = strcspn(text, "\n");
		fprintf(f, "%*s%.*s\n", len ? n : 0, "", (int)len, text);
		text += len + (text[len] == '\n');
	}
}

/* print_manual - see cli.h. */
void print_manual(FILE *f)
{
	fputs("NAME\n"
	      "    faultmap - run programs on faultmap's user-space page cache, and "
	      "watch it\n\nSYNOPSIS\n",
	      f);
	for (size_t i = 0; i < NR_COMMANDS; i++)
		fprintf(f, "    %s\n", commands[i].synopsis);
	fputs("    faultmap --version\n\nCOMMANDS\n", f);
	for (size_t i = 0; i < NR_COMMANDS; i++) {
		fprintf(f, "    %s\n", commands[i].synopsis);
		print_indented(f, commands[i].text, 8);
		fputc('\n', f);
	}
	fputs(environment, f);
}

/* print_version - see cli.h. */
void print_version(FILE *f)
{
	fprintf(f, "faultmap %d.%d", FAULTMAP_VERSION_MAJOR, FAULTMAP_VERSION_MINOR);
	if (FM_GIT_REV[0])
		fprintf(f, " (git %s)", FM_GIT_REV);
	fputc('\n', f);
}

/* help_or_version - see cli.h. */
bool help_or_version(const char *cmd, const char *arg)
{
	if (!strcmp(arg, "--help") || !strcmp(arg, "-h"))
		print_command_help(stdout, cmd);
	else if (!strcmp(arg, "--version") || !strcmp(arg, "-V"))
		print_version(stdout);
	else
		return false;
	return true;
}

/* usage_error - see cli.h. */
void usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("faultmap: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	const char *syn = cmd_usage(cmd);
	if (syn) {
		fprintf(stderr, "\nusage: %s\n", syn);
	} else {
		fputs("\nusage:\n", stderr);
		for (size_t i = 0; i < NR_COMMANDS; i++)
			fprintf(stderr, "    %s\n", commands[i].synopsis);
	}
	fputs("(faultmap --help for the manual)\n", stderr);
	exit(EXIT_USAGE);
}
