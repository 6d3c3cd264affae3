/*
 * usage.c - the faultmap command's manual (faultmap --help, faultmap help)
 * and the one-line synopses printed with usage errors.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *cmd, *synopsis;
} synopses[] = {
    {"run", "faultmap run [--budget SIZE] [--stats] [--] PROGRAM [ARGS...]"},
    {"stat", "faultmap stat [--watch [SECONDS]]"},
    {"inspect", "faultmap inspect PID [--svg FILE]"},
    {"trace", "faultmap trace [--budget SIZE] [-o FILE] [--] PROGRAM [ARGS...]"},
    {"help", "faultmap help [COMMAND]"},
};

static const char manual[] =
    "NAME\n"
    "    faultmap - run programs on faultmap's user-space page cache, and watch it\n"
    "\n"
    "SYNOPSIS\n"
    "    faultmap run [--budget SIZE] [--stats] [--] PROGRAM [ARGS...]\n"
    "    faultmap stat [--watch [SECONDS]]\n"
    "    faultmap inspect PID [--svg FILE]\n"
    "    faultmap trace [--budget SIZE] [-o FILE] [--] PROGRAM [ARGS...]\n"
    "    faultmap help [COMMAND] | faultmap --help\n"
    "\n"
    "DESCRIPTION\n"
    "    run      Run PROGRAM (same pid) with the faultmap interposer preloaded:\n"
    "             its mmap()s of files are served by faultmap. --budget caps the\n"
    "             page cache (65536, 64K, 64M, 2G; at least 64K). --stats runs it\n"
    "             as a child and prints, on stderr, a summary per process at exit\n"
    "             (faults, pages read and written, evictions, hit ratio).\n"
    "    stat     One line per process of yours (root: of every user) running\n"
    "             under faultmap (pid, program, budget, resident, dirty, hit\n"
    "             ratio, faults/s), then its files (resident and dirty pages,\n"
    "             path; names escaped). --watch refreshes every\n"
    "             SECONDS (default 1) until interrupted.\n"
    "    inspect  Draw the page cache of process PID: each file's address_space,\n"
    "             its page index (. not cached, R resident, D dirty, L being\n"
    "             read) and the vmas that map it (the reverse map), with the\n"
    "             part of the file each covers. --svg FILE also draws it as SVG.\n"
    "    trace    Run PROGRAM as run does and narrate every fault faultmap\n"
    "             serves (address -> vma -> page -> miss/hit/write -> pages read\n"
    "             -> installed, with times), then a summary per process. The\n"
    "             narration goes to stderr, or to FILE with -o, so that it does\n"
    "             not mix with the program's output.\n"
    "\n"
    "ENVIRONMENT\n"
    "    FAULTMAP_PRELOAD  the interposer to preload (default: "
    "libfaultmap-preload.so\n"
    "                      next to the faultmap executable)\n"
    "    FAULTMAP_STAT_DIR the one runtime directory stat reads (tests)\n"
    "    run and trace set LD_PRELOAD, FAULTMAP_PUBLISH=1, FAULTMAP_BUDGET,\n"
    "    FAULTMAP_STATS_FILE (run --stats) and FAULTMAP_TRACE_FD (trace).\n"
    "\n"
    "EXIT STATUS\n"
    "    run and trace: the program's status (128 + N if killed by signal N),\n"
    "    127 if it cannot be executed. Otherwise 0; 1 on errors; 2 on usage\n"
    "    errors.\n";

/* cmd_usage - see cli.h. */
const char *cmd_usage(const char *cmd)
{
	for (size_t i = 0; i < sizeof(synopses) / sizeof(synopses[0]); i++)
		if (cmd && strcmp(cmd, synopses[i].cmd) == 0)
			return synopses[i].synopsis;
	return NULL;
}

/* print_manual - see cli.h. */
void print_manual(FILE *f) { fputs(manual, f); }

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
		for (size_t i = 0; i < sizeof(synopses) / sizeof(synopses[0]); i++)
			fprintf(stderr, "    %s\n", synopses[i].synopsis);
	}
	fputs("(faultmap --help for the manual)\n", stderr);
	exit(EXIT_USAGE);
}
