/*
 * inspect.c - faultmap inspect PID: ask a process running under faultmap
 * for its page cache on its socket faultmap.<pid>.sock, in its owner's
 * runtime directory (src/runtime_dir.h; the format: src/publish.h, channel
 * 2), parse the answer, and draw it as text (draw.c) and, with --svg, as a
 * picture (svg.c). Only the process's owner and root may ask. The socket
 * must be in a verified directory of that owner, and the process that
 * listens on it (SO_PEERCRED) must be PID itself; the exchange has
 * timeouts and a size limit, and every name is printed escaped.
 */
#include "cli.h"
#include "publish.h"
#include "runtime_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define INSPECT_TIMEOUT_S 10	       /* per send, recv and connect */
#define INSPECT_TOTAL_S 30	       /* for the whole answer */
#define INSPECT_MAX_BYTES (256u << 20) /* the largest answer taken */
#define INSPECT_JSON_VERSION 2	       /* inspect --json's "faultmap_inspect" */

/* connect_in - connect to pid's socket in the runtime directory path of
 * uid, and check that pid itself, running as uid, listens on it.
 * Return: the fd; -1 if there is no socket there; -2 after saying why. */
static int connect_in(const char *path, uid_t uid, int pid)
{
	int dir = runtime_dir_open(path, uid);
	if (dir < 0)
		return -1;
	char name[32];
	struct stat st;
	snprintf(name, sizeof(name), RT_SOCK_FMT, pid);
	bool there = !fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) &&
		     S_ISSOCK(st.st_mode) && st.st_uid == uid;
	close(dir);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!there || strlen(path) + 1 + strlen(name) >= sizeof(sa.sun_path))
		return -1;
	strcat(strcat(strcpy(sa.sun_path, path), "/"), name);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "faultmap: socket: %s\n", strerror(errno));
		return -2;
	}
	struct timeval tv = {.tv_sec = INSPECT_TIMEOUT_S};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1; /* a socket left by a dead process */
	}
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.pid != pid ||
	    cred.uid != uid) {
		fprintf(stderr,
			"faultmap: %s is not served by process %d of uid %u: not "
			"asking it\n",
			sa.sun_path, pid, (unsigned)uid);
		close(fd);
		return -2;
	}
	return fd;
}

/* connect_pid - connect to pid's inspection socket. Return: fd or -1 after
 * saying why. */
static int connect_pid(int pid)
{
	uid_t uid;
	if (proc_owner(pid, &uid)) {
		fprintf(stderr, "faultmap: no process %d\n", pid);
		return -1;
	}
	if (geteuid() != 0 && uid != geteuid()) {
		fprintf(stderr,
			"faultmap: process %d belongs to uid %u: only that user or root "
			"can inspect it\n",
			pid, (unsigned)uid);
		return -1;
	}
	char paths[RT_DIR_CANDIDATES][RT_DIR_PATH_MAX];
	int nr = runtime_dir_candidates(uid, paths);
	for (int i = 0; i < nr; i++) {
		int fd = connect_in(paths[i], uid, pid);
		if (fd >= 0)
			return fd;
		if (fd == -2)
			return -1;
	}
	fprintf(stderr,
		"faultmap: process %d is not running under faultmap "
		"(or has not mapped a file yet)\n",
		pid);
	return -1;
}

/* fetch - the whole answer of pid to "inspect", NUL-terminated, or NULL. */
static char *fetch(int pid)
{
	int fd = connect_pid(pid);
	if (fd < 0)
		return NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	const char *why = "no answer";
	time_t until = time(NULL) + INSPECT_TOTAL_S;
	ssize_t n = send(fd, "inspect\n", 8, MSG_NOSIGNAL);
	while (n > 0) {
		if (time(NULL) > until || len >= INSPECT_MAX_BYTES) {
			why = len >= INSPECT_MAX_BYTES ? "answer too long" : "timed out";
			n = 0;
			free(buf);
			buf = NULL;
			break;
		}
		if (cap - len < 4096) {
			char *b = realloc(buf, cap = cap ? cap * 2 : 65536);
			if (!b)
				break;
			buf = b;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n > 0)
			len += (size_t)n;
	}
	close(fd);
	if (n < 0 || !buf) {
		fprintf(stderr, "faultmap: reading from process %d: %s\n", pid,
			n < 0 ? (errno == EAGAIN ? "timed out" : strerror(errno)) : why);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

/* parse_runs - the run tokens of a "pages" line into f. Return: 0 or -1. */
static int parse_runs(struct ins_file *f, char *text)
{
	for (char *tok = strtok(text, " \n"); tok; tok = strtok(NULL, " \n")) {
		uint64_t count;
		if (!strchr(".RDL", tok[0]) || parse_u64(tok + 1, &count))
			return -1;
		struct ins_run *r = realloc(f->runs, (f->nr_runs + 1) * sizeof(*r));
		if (!r)
			return -1;
		f->runs = r;
		r[f->nr_runs++] = (struct ins_run){tok[0], count};
	}
	return 0;
}

/* parse_file - a "file" line. Return: 0 or -1. */
static int parse_file(struct inspect *ins, const char *line)
{
	const char *path = strstr(line, " path=");
	struct ins_file *f = realloc(ins->files, (ins->nr_files + 1) * sizeof(*f));
	if (!path || !f)
		return -1;
	ins->files = f;
	f = &f[ins->nr_files++];
	*f = (struct ins_file){0};
	if (!kv_get(line, "dev", f->dev, sizeof(f->dev)))
		strcpy(f->dev, "?");
	f->ino = kv_u64(line, "ino");
	f->size = kv_u64(line, "size");
	f->pages = kv_u64(line, "pages");
	f->resident = kv_u64(line, "resident");
	f->dirty = kv_u64(line, "dirty");
	char *raw = strndup(path + 6, strcspn(path + 6, "\n"));
	f->path = raw ? esc_name(raw) : NULL; /* printed as is from here on */
	free(raw);
	return f->path ? 0 : -1;
}

/* parse_vma - a "vma" line, of the last file. Return: 0 or -1. */
static int parse_vma(struct inspect *ins, const char *line)
{
	if (!ins->nr_files)
		return -1;
	struct ins_file *f = &ins->files[ins->nr_files - 1];
	struct ins_vma *v = realloc(f->vmas, (f->nr_vmas + 1) * sizeof(*v));
	if (!v)
		return -1;
	f->vmas = v;
	v = &v[f->nr_vmas++];
	char cow[24] = "-";
	*v = (struct ins_vma){
	    .mm = (unsigned)kv_u64(line, "mm"),
	    .pid = (int)kv_u64(line, "pid"),
	    .start = kv_u64(line, "start"),
	    .end = kv_u64(line, "end"),
	    .pgoff = kv_u64(line, "pgoff"),
	    .shared = strstr(line, " shared ") != NULL,
	    .cow = -1,
	};
	if (!kv_get(line, "prot", v->prot, sizeof(v->prot)))
		strcpy(v->prot, "?");
	if (kv_get(line, "cow", cow, sizeof(cow)) && strcmp(cow, "-"))
		v->cow = atol(cow);
	return v->end > v->start ? 0 : -1;
}

/* parse_line - one line of the answer. Return: 1 at "end", 0, or -1. */
static int parse_line(struct inspect *ins, char *line)
{
	uint64_t v;
	if (!strcmp(line, "end"))
		return 1;
	if (!strncmp(line, "pid ", 4))
		return parse_u64(line + 4, &v) ? -1 : (ins->pid = (int)v, 0);
	if (!strncmp(line, "budget_pages ", 13))
		return parse_u64(line + 13, &ins->budget_pages);
	if (!strncmp(line, "file ", 5))
		return parse_file(ins, line);
	if (!strncmp(line, "pages ", 6)) {
		char *runs = strchr(line + 6, ' ');
		if (!ins->nr_files)
			return -1;
		return runs ? parse_runs(&ins->files[ins->nr_files - 1], runs) : 0;
	}
	if (!strncmp(line, "vma ", 4))
		return parse_vma(ins, line);
	if (!strncmp(line, "error ", 6)) {
		fprintf(stderr, "faultmap: the process answered: ");
		print_esc(stderr, line + 6);
		fputc('\n', stderr);
		return -1;
	}
	return 0; /* unknown lines: newer versions may add some */
}

/* parse - the whole answer into ins. Return: 0 or -1 after saying why. */
static int parse(char *text, struct inspect *ins)
{
	char *save, *line = strtok_r(text, "\n", &save);
	if (!line || strcmp(line, "faultmap-inspect 1")) {
		fprintf(stderr, "faultmap: not an inspect answer (version?)\n");
		return -1;
	}
	int r = 0;
	while (r == 0 && (line = strtok_r(NULL, "\n", &save)))
		r = parse_line(ins, line);
	if (r != 1)
		fprintf(stderr, "faultmap: the answer is %s\n",
			r ? "malformed" : "truncated");
	return r == 1 ? 0 : -1;
}

/* ins_free - release what parse allocated. */
static void ins_free(struct inspect *ins)
{
	for (size_t i = 0; i < ins->nr_files; i++) {
		free(ins->files[i].path);
		free(ins->files[i].runs);
		free(ins->files[i].vmas);
	}
	free(ins->files);
}

/* cmd_inspect - faultmap inspect. Return: the exit code. */
/* json_vma - one element of a file's "vmas" (docs/cli.md). */
static void json_vma(const struct ins_vma *v)
{
	uint64_t first, last;
	ins_vma_pages(v, &first, &last);
	printf("{\"mm\":%u", v->mm);
	if (v->pid > 0)
		printf(",\"pid\":%d", v->pid);
	else
		printf(",\"pid\":null");
	JSON_FIELDS(stdout, {"start", v->start}, {"end", v->end}, {"pgoff", v->pgoff},
		    {"first_page", first}, {"last_page", last});
	printf(",\"shared\":%s,\"prot\":", v->shared ? "true" : "false");
	if (v->prot[0] == '?')
		printf("null");
	else
		json_str(stdout, v->prot);
	if (v->cow < 0)
		printf(",\"cow_pages\":null}");
	else
		printf(",\"cow_pages\":%ld}", v->cow);
}

/* json_inspect - the whole answer as one JSON object on one line
 * (docs/cli.md). */
static void json_inspect(const struct inspect *ins)
{
	printf("{\"faultmap_inspect\":%d", INSPECT_JSON_VERSION);
	JSON_FIELDS(stdout, {"pid", (uint64_t)ins->pid}, {"page_size", 4096},
		    {"budget_pages", ins->budget_pages},
		    {"budget_bytes", ins->budget_pages * 4096});
	printf(",\"files\":[");
	for (size_t i = 0; i < ins->nr_files; i++) {
		const struct ins_file *f = &ins->files[i];
		printf("%s{\"id\":%zu,\"path\":", i ? "," : "", i);
		json_str(stdout, f->path);
		printf(",\"dev\":");
		json_str(stdout, f->dev);
		JSON_FIELDS(stdout, {"ino", f->ino}, {"size_bytes", f->size},
			    {"pages", f->pages}, {"resident_pages", f->resident},
			    {"dirty_pages", f->dirty});
		printf(",\"runs\":[");
		for (size_t r = 0; r < f->nr_runs; r++)
			printf("%s[\"%c\",%" PRIu64 "]", r ? "," : "", f->runs[r].state,
			       f->runs[r].count);
		printf("],\"vmas\":[");
		for (size_t v = 0; v < f->nr_vmas; v++) {
			if (v)
				putchar(',');
			json_vma(&f->vmas[v]);
		}
		printf("]}");
	}
	printf("]}\n");
}

int cmd_inspect(int argc, char **argv)
{
	const char *svg = NULL, *pid_text = NULL;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--svg")) {
			if (++i >= argc || !argv[i][0])
				usage_error("inspect", "--svg needs a FILE");
			svg = argv[i];
		} else if (help_or_version("inspect", argv[i])) {
			return 0;
		} else if (argv[i][0] == '-' || pid_text) {
			usage_error("inspect", "unexpected argument '%s'", argv[i]);
		} else {
			pid_text = argv[i];
		}
	}
	uint64_t pid;
	if (!pid_text)
		usage_error("inspect", "no PID given");
	if (parse_u64(pid_text, &pid) || !pid || pid > INT32_MAX)
		usage_error("inspect", "bad PID '%s'", pid_text);
	char *text = fetch((int)pid);
	if (!text)
		return 1;
	struct inspect ins = {0};
	int err = parse(text, &ins);
	free(text);
	if (!err && json)
		json_inspect(&ins);
	else if (!err)
		draw_text(&ins);
	if (!err && svg)
		err = write_svg(&ins, svg);
	ins_free(&ins);
	return err ? 1 : 0;
}
