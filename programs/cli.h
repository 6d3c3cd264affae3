/*
 * cli.h - what the files of the faultmap command (programs/) share: the
 * subcommands, usage errors, running a program under faultmap, and the
 * parsed form of an "inspect" answer (src/publish.h, channel 2) that the
 * text and SVG drawings use.
 */
#ifndef FAULTMAP_CLI_H
#define FAULTMAP_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define EXIT_USAGE 2
#define EXIT_EXEC 127

/* The interposer, from the directory of the faultmap executable (the
 * Makefile sets it for the installed CLI). */
#ifndef FM_PRELOAD_NAME
#define FM_PRELOAD_NAME "libfaultmap-preload.so"
#endif

/* ---- usage.c -------------------------------------------------------------- */

/* cmd_usage - the synopsis of subcommand cmd, or NULL if there is none. */
const char *cmd_usage(const char *cmd);
/* print_command_help - cmd's synopsis and options (faultmap cmd --help) to
 * f. Return: 0, or -1 if there is no such command. */
int print_command_help(FILE *f, const char *cmd);
/* print_manual - the whole manual (faultmap --help) to f. */
void print_manual(FILE *f);
/* print_version - "faultmap MAJOR.MINOR (git REV)" to f. */
void print_version(FILE *f);
/* help_or_version - an option every command takes: --help or -h prints
 * cmd's help, --version or -V the version, on stdout. Return: true if arg
 * was one of them (the command then exits 0). */
bool help_or_version(const char *cmd, const char *arg);
/* usage_error - "faultmap: <message>" and cmd's synopsis on stderr; exit 2. */
_Noreturn void usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- common.c ------------------------------------------------------------- */

/* check_budget - validate a --budget value for cmd (usage error if bad). */
void check_budget(const char *cmd, const char *text);
/* prepare_env - export LD_PRELOAD (with the preload library),
 * FAULTMAP_PUBLISH=1 and FAULTMAP_BUDGET (if budget). Return: 0, or -1
 * after saying why on stderr. */
int prepare_env(const char *budget);
/* spawn - fork and exec argv (PATH search); in the child, exec failure
 * prints why and exits 127. Return: the child's pid, or -1. */
pid_t spawn(char **argv);
/* exec_program - execvp argv; on failure say why and exit 127. */
_Noreturn void exec_program(char **argv);
/* wait_child - wait for pid with SIGINT and SIGQUIT ignored here.
 * Return: an exit code: its status, or 128 + signal. */
int wait_child(pid_t pid);
/* fmt_bytes - bytes as "12.0 MiB" into buf. Return: buf. */
char *fmt_bytes(char *buf, size_t size, uint64_t bytes);
/* parse_u64 - whole-string decimal. Return: 0 or -1. */
int parse_u64(const char *text, uint64_t *out);
/* kv_get - the value of "key=" in a line of space-separated key=value
 * tokens, copied into buf (up to the next space). Return: buf or NULL. */
char *kv_get(const char *line, const char *key, char *buf, size_t size);
/* kv_u64 - kv_get as a number; 0 if absent. */
uint64_t kv_u64(const char *line, const char *key);
/* esc_name - name as text that is safe on a terminal, malloc'ed: control
 * characters (C0, DEL, C1), bidirectional overrides and bytes that are not
 * UTF-8 become \xHH, and '\' becomes \\; printable UTF-8 is kept.
 * Return: the copy, or NULL when out of memory. */
char *esc_name(const char *name);
/* print_esc - fputs(esc_name(name)) to f; "?" when out of memory. */
void print_esc(FILE *f, const char *name);

/* JSON output (stat, inspect, run --stats and trace with --json;
 * docs/cli.md). */
/* json_str - name to f as a JSON string: escaped as the text output
 * escapes it (esc_name), then '"' and '\' escaped for JSON. */
void json_str(FILE *f, const char *name);
/* json_ratio - ,"key":part/whole, or ,"key":null when whole is 0. */
void json_ratio(FILE *f, const char *key, uint64_t part, uint64_t whole);
/* A field of a JSON object. JSON_FIELDS(f, {"key", value}, ...) prints
 * ,"key":value for each to f. */
struct json_field {
	const char *key;
	uint64_t value;
};
void json_fields(FILE *f, const struct json_field *fields, size_t n);
#define JSON_FIELDS(f, ...)                                                         \
	json_fields(f, (const struct json_field[]){__VA_ARGS__},                     \
		    sizeof((const struct json_field[]){__VA_ARGS__}) /               \
			sizeof(struct json_field))
/* kv_json - a line "WORD key=value ..." (src/publish.h, channels 3 and 4)
 * to f as one JSON object on one line: {"event":"WORD"<extra>,"key":value,
 * ...}: decimal values as numbers, 0x... as numbers, others as strings.
 * extra: more fields, already JSON (",\"pid\":12"), or "". */
void kv_json(FILE *f, const char *line, const char *extra);

/* ---- subcommands ---------------------------------------------------------- */

int cmd_run(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_daemon(int argc, char **argv);
int cmd_cache(int argc, char **argv);

/* check_engine - whether a program run now could start faultmap's engine:
 * budget (the --budget value, or FAULTMAP_BUDGET) valid and userfaultfd
 * usable, as the engine opens it (doctor.c). Says why not on stderr, with
 * how to get access. Return: 0 or -errno. */
int check_engine(const char *budget);

/* ---- inspect.c: a parsed inspect answer ------------------------------------ */

struct ins_run {
	char state; /* '.', 'R', 'D', 'L' */
	uint64_t count;
};

struct ins_vma {
	unsigned mm;
	int pid; /* a daemon's other client that maps it (pid=), else 0 */
	uint64_t start, end, pgoff;
	bool shared;
	char prot[4];
	long cow; /* -1: not known */
};

struct ins_file {
	char dev[32];
	uint64_t ino, size, pages, resident, dirty;
	char *path;
	struct ins_run *runs;
	size_t nr_runs;
	struct ins_vma *vmas;
	size_t nr_vmas;
};

struct inspect {
	int pid;
	uint64_t budget_pages;
	struct ins_file *files;
	size_t nr_files;
};

/* ins_cells - the page index of f drawn at scale pages per cell into
 * out[0..ncells): '.' none cached, 'L' any being read, 'D' any dirty, 'R'
 * all resident, 'r' some resident. Return: 0 or -1 (no memory). */
int ins_cells(const struct ins_file *f, uint64_t scale, char *out, size_t ncells);
/* ins_scale - pages per cell so that pages fit in at most cells cells. */
uint64_t ins_scale(uint64_t pages, uint64_t cells);
/* ins_ncells - cells needed for pages at scale. */
size_t ins_ncells(uint64_t pages, uint64_t scale);
/* ins_vma_pages - the file pages [*first, *last] vma v maps. */
void ins_vma_pages(const struct ins_vma *v, uint64_t *first, uint64_t *last);

/* ins_prot_text - v's protection ("rw", "r-"), or words saying it is not
 * known (a forked child's vma). */
/* ins_mm_text - "mm N", or "mm N (pid P)" for another process of the
 * daemon's, into buf. Return: buf. */
const char *ins_mm_text(const struct ins_vma *v, char *buf, size_t size);
const char *ins_prot_text(const struct ins_vma *v);

/* draw_text - ins as text on stdout (draw.c). */
void draw_text(const struct inspect *ins);

/* ---- svg.c ---------------------------------------------------------------- */

/* write_svg - draw ins into the file path. Return: 0, or -1 after saying
 * why on stderr. */
int write_svg(const struct inspect *ins, const char *path);

#endif /* FAULTMAP_CLI_H */
