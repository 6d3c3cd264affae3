/*
 * common.c - what the faultmap subcommands share: finding the interposer
 * and setting up the environment of a program to run under faultmap,
 * starting and waiting for it, and small parsing and formatting helpers.
 */
#include "budget.h"
#include "cli.h"
#include "faultmap.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FM_MIN_BUDGET (64 * 1024)

/* check_budget - see cli.h. */
void check_budget(const char *cmd, const char *text)
{
	struct fm_memory mem;
	uint64_t bytes;
	memory_usable(&mem);
	if (budget_parse(text, &mem, &bytes))
		usage_error(cmd,
			    "bad size '%s' (e.g. 65536, 64K, 64M, 2G, or 50%% of memory)",
			    text);
	if (bytes < FM_MIN_BUDGET)
		usage_error(cmd, "budget '%s' is below the minimum of 64K", text);
}

/* find_preload - the interposer's path into out. Return: 0, or -1 after
 * saying why. */
static int find_preload(char *out, size_t size)
{
	const char *env = getenv("FAULTMAP_PRELOAD");
	if (env && *env) {
		snprintf(out, size, "%s", env);
	} else {
		char exe[PATH_MAX - 64];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0) {
			fprintf(stderr, "faultmap: /proc/self/exe: %s\n",
				strerror(errno));
			return -1;
		}
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		snprintf(out, size, "%s/%s", exe, FM_PRELOAD_NAME);
	}
	if (access(out, R_OK)) {
		fprintf(stderr,
			"faultmap: cannot use the interposer %s: %s\n"
			"(build it with make, or set FAULTMAP_PRELOAD)\n",
			out, strerror(errno));
		return -1;
	}
	if (strpbrk(out, ": ")) {
		fprintf(stderr, "faultmap: %s: LD_PRELOAD cannot hold ':' or ' '\n", out);
		return -1;
	}
	return 0;
}

/* prepare_env - see cli.h. */
int prepare_env(const char *budget)
{
	char lib[PATH_MAX];
	if (find_preload(lib, sizeof(lib)))
		return -1;
	const char *old = getenv("LD_PRELOAD");
	size_t len = strlen(lib) + (old ? strlen(old) : 0) + 2;
	char *val = malloc(len);
	if (!val)
		return -1;
	snprintf(val, len, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
	int err = setenv("LD_PRELOAD", val, 1) || setenv("FAULTMAP_PUBLISH", "1", 1) ||
		  (budget && setenv("FAULTMAP_BUDGET", budget, 1));
	free(val);
	if (err)
		fprintf(stderr, "faultmap: setenv: %s\n", strerror(errno));
	return err ? -1 : 0;
}

/* exec_program - see cli.h. */
void exec_program(char **argv)
{
	execvp(argv[0], argv);
	fprintf(stderr, "faultmap: cannot run %s: %s\n", argv[0], strerror(errno));
	exit(EXIT_EXEC);
}

/* spawn - see cli.h. */
pid_t spawn(char **argv)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		fprintf(stderr, "faultmap: fork: %s\n", strerror(errno));
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "faultmap: cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(EXIT_EXEC);
	}
	return pid;
}

/* wait_child - see cli.h. */
int wait_child(pid_t pid)
{
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* fmt_bytes - see cli.h. */
char *fmt_bytes(char *buf, size_t size, uint64_t bytes)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

/* parse_u64 - see cli.h. */
int parse_u64(const char *text, uint64_t *out)
{
	if (!text || *text < '0' || *text > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* kv_get - see cli.h. */
char *kv_get(const char *line, const char *key, char *buf, size_t size)
{
	size_t klen = strlen(key);
	for (const char *p = line; p && *p; p = strchr(p, ' ')) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			p += klen + 1;
			size_t n = strcspn(p, " \n");
			if (n >= size)
				n = size - 1;
			memcpy(buf, p, n);
			buf[n] = '\0';
			return buf;
		}
	}
	return NULL;
}

/* kv_u64 - see cli.h. */
uint64_t kv_u64(const char *line, const char *key)
{
	char buf[32];
	if (!kv_get(line, key, buf, sizeof(buf)))
		return 0;
	if (!strncmp(buf, "0x", 2))
		return strtoull(buf + 2, NULL, 16);
	return strtoull(buf, NULL, 10);
}

/* utf8_len - the length of the UTF-8 sequence at s if it is valid and
 * encodes a character safe to print (not a C1 control, not a
 * bidirectional override or isolate); else 0. */
static size_t utf8_len(const unsigned char *s)
{
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	unsigned c = s[0];
	size_t n = c >= 0xf5 ? 0 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
	if (!n)
		return 0;
	uint32_t cp = c & (0x7fu >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0 ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
		return 0;
	return n;
}

/* esc_name - see cli.h. */
char *esc_name(const char *name)
{
	const unsigned char *s = (const unsigned char *)name;
	char *out = malloc(4 * strlen(name) + 1), *o = out;
	if (!out)
		return NULL;
	while (*s) {
		size_t n = *s >= 0x80 ? utf8_len(s) : 0;
		if (n) {
			memcpy(o, s, n);
			o += n;
			s += n;
		} else if (*s == '\\') {
			*o++ = '\\';
			*o++ = '\\';
			s++;
		} else if (*s < 0x20 || *s >= 0x7f) {
			o += sprintf(o, "\\x%02x", *s++);
		} else {
			*o++ = (char)*s++;
		}
	}
	*o = '\0';
	return out;
}

/* print_esc - see cli.h. */
void print_esc(FILE *f, const char *name)
{
	char *e = esc_name(name);
	fputs(e ? e : "?", f);
	free(e);
}

/* json_str - see cli.h. */
void json_str(FILE *f, const char *name)
{
	char *e = esc_name(name);
	fputc('"', f);
	for (const char *c = e ? e : "?"; *c; c++) {
		if (*c == '"' || *c == '\\')
			fputc('\\', f);
		fputc(*c, f);
	}
	fputc('"', f);
	free(e);
}

/* json_ratio - see cli.h. */
void json_ratio(FILE *f, const char *key, uint64_t part, uint64_t whole)
{
	if (whole)
		fprintf(f, ",\"%s\":%.4f", key, (double)part / (double)whole);
	else
		fprintf(f, ",\"%s\":null", key);
}

/* json_fields - see cli.h. */
void json_fields(FILE *f, const struct json_field *fields, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, ",\"%s\":%" PRIu64, fields[i].key, fields[i].value);
}

/* kv_json - see cli.h. */
void kv_json(FILE *f, const char *line, const char *extra)
{
	size_t n = strcspn(line, " \n");
	fprintf(f, "{\"event\":\"%.*s\"%s", (int)n, line, extra);
	for (const char *p = line + n; *p == ' ';) {
		p++;
		size_t klen = strcspn(p, "= \n");
		if (p[klen] != '=')
			break;
		const char *v = p + klen + 1;
		size_t vlen = strcspn(v, " \n");
		char val[256];
		snprintf(val, sizeof(val), "%.*s", (int)vlen, v);
		const char *digits = strncmp(val, "0x", 2) ? val : val + 2;
		bool number =
		    *digits &&
		    strspn(digits, digits == val ? "0123456789" : "0123456789abcdef") ==
			strlen(digits);
		fprintf(f, ",\"%.*s\":", (int)klen, p);
		if (number)
			fprintf(f, "%llu",
				strtoull(digits, NULL, digits == val ? 10 : 16));
		else
			json_str(f, val);
		p = v + vlen;
	}
	fputs("}\n", f);
}
