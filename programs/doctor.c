/*
 * doctor.c - faultmap doctor: can faultmap serve mappings here, and what is
 * in the way if not; one screen, one line per thing it depends on (the
 * memory and default budget from budget.c, as the engine sees them). Also
 * check_engine(), which faultmap run --require uses before it runs
 * anything.
 */
#include "budget.h"
#include "cli.h"
#include "client/client.h"
#include "daemon/rescue.h"
#include "faultmap.h"
#include "internal.h"
#include "runtime_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <liburing.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* try_engine - open a userfaultfd as the engine would (uffd_open).
 * Return: 0 (then uffd_fork_events and uffd_kernel_features are set) or
 * -errno. */
static int try_engine(void)
{
	int fd;
	int err = uffd_open(&fd);
	if (!err)
		sys_close(fd);
	return err;
}

/* env_budget - FAULTMAP_BUDGET as the engine reads it, into *bytes.
 * Return: 0, 1 if it is not set, or -EINVAL if the engine would refuse it. */
static int env_budget(const struct fm_memory *m, uint64_t *bytes)
{
	const char *env = secure_getenv("FAULTMAP_BUDGET");
	if (!env)
		return 1;
	if (budget_parse(env, m, bytes) || *bytes < 64 * 1024)
		return -EINVAL;
	return 0;
}

/* check_engine - see cli.h. */
int check_engine(const char *budget)
{
	struct fm_memory m;
	uint64_t bytes;
	memory_usable(&m);
	if (!budget && env_budget(&m, &bytes) < 0) {
		fprintf(stderr, "faultmap: FAULTMAP_BUDGET=\"%s\" is not a size of at "
				"least 64K (65536, 64M, 2G) or a percentage of memory (50%%)\n",
			secure_getenv("FAULTMAP_BUDGET"));
		return -EINVAL;
	}
	int err = try_engine();
	if (err == -EPERM)
		uffd_explain_eperm(stderr);
	else if (err)
		fprintf(stderr, "faultmap: cannot use userfaultfd: %s\n", strerror(-err));
	return err;
}

/* read_line - the first line of path into buf, without its newline.
 * Return: buf, or NULL if it cannot be read. */
static char *read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *r = fgets(buf, (int)size, f);
	fclose(f);
	if (r)
		buf[strcspn(buf, "\n")] = '\0';
	return r;
}

/* thp_choice - the [selected] word of a transparent_hugepage setting. */
static const char *thp_choice(const char *path, char *buf, size_t size)
{
	if (!read_line(path, buf, size))
		return "?";
	char *open = strchr(buf, '['), *close = open ? strchr(open, ']') : NULL;
	if (!open || !close)
		return buf;
	*close = '\0';
	return open + 1;
}

/* in_group - whether this process has group gid. */
static bool in_group(gid_t gid)
{
	if (getegid() == gid)
		return true;
	gid_t groups[256];
	int n = getgroups(256, groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* Where the report goes: stdout, or with --json a memory stream that
 * becomes its "report" lines. What it found, for --json (docs/cli.md). */
static FILE *out;
static struct {
	char kernel[65];
	bool kernel_ok;
	int uffd_err; /* 0 or -errno, as the engine would get it */
	bool device;  /* /dev/userfaultfd exists: then its fields */
	uint64_t device_uid, device_gid, device_mode;
	bool device_member;
	char unprivileged[32]; /* "" if it cannot be read */
	bool features_ok, fork_events, io_uring_ok;
	uint64_t ram, limit, budget, env_budget;
	int env; /* env_budget(): 0 set, 1 not set, <0 invalid */
	bool env_fits;
	char runtime_dir[RT_DIR_PATH_MAX]; /* "" if refused */
} found;

/* kernel_line - the kernel's release. Return: whether it is 6.1 or later. */
static bool kernel_line(void)
{
	struct utsname u;
	int major = 0, minor = 0;
	if (uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2) {
		fprintf(out, "kernel          ? (uname failed)\n");
		return false;
	}
	bool ok = major > 6 || (major == 6 && minor >= 1);
	snprintf(found.kernel, sizeof(found.kernel), "%s", u.release);
	found.kernel_ok = ok;
	fprintf(out, "kernel          %s: %s\n", u.release,
		ok ? "ok (6.1 or later)" : "TOO OLD: faultmap needs Linux 6.1 or later");
	return ok;
}

/* uffd_lines - userfaultfd: access, the device, the sysctl, the features.
 * Return: 0 if the engine can open it, or -errno. */
static int uffd_lines(void)
{
	int err = try_engine();
	found.uffd_err = err;
	if (!err)
		fprintf(out, "userfaultfd     ok: this user may use it\n");
	else if (err == -EPERM)
		fprintf(out,
			"userfaultfd     NOT PERMITTED: faultmap cannot serve mappings "
			"(faultmap run falls back to the kernel)\n");
	else
		fprintf(out, "userfaultfd     UNUSABLE: %s\n", strerror(-err));
	char sysctl[32];
	const char *unpriv = read_line("/proc/sys/vm/unprivileged_userfaultfd", sysctl,
				       sizeof(sysctl));
	struct stat st;
	if (stat("/dev/userfaultfd", &st) == 0) {
		struct group *g = getgrgid(st.st_gid);
		char gname[64];
		snprintf(gname, sizeof(gname), "%s", g ? g->gr_name : "?");
		bool member = in_group(st.st_gid);
		found.device = true;
		found.device_uid = st.st_uid;
		found.device_gid = st.st_gid;
		found.device_mode = st.st_mode & 07777;
		found.device_member = member;
		fprintf(
		    out,
		    "  device        /dev/userfaultfd: uid %u, group %s (%u), mode %04o; "
		    "you are%s in that group\n",
		    (unsigned)st.st_uid, gname, (unsigned)st.st_gid,
		    (unsigned)(st.st_mode & 07777), member ? "" : " not");
	} else {
		fprintf(out, "  device        no /dev/userfaultfd (Linux 6.1 and later "
			     "have it)\n");
	}
	fprintf(out, "  sysctl        vm.unprivileged_userfaultfd = %s%s\n",
		unpriv ? unpriv : "?",
		unpriv && !strcmp(unpriv, "1") ? " (every local user may use it: see "
						 "faultmap(7))"
					       : "");
	snprintf(found.unprivileged, sizeof(found.unprivileged), "%s",
		 unpriv ? unpriv : "");
	if (err)
		return err;
	uint64_t f = uffd_kernel_features;
	bool need = (f & UFFD_FEATURE_MISSING_SHMEM) && (f & UFFD_FEATURE_WP_HUGETLBFS_SHMEM) &&
		    (f & UFFD_FEATURE_THREAD_ID);
	found.features_ok = need;
	found.fork_events = uffd_fork_events;
	fprintf(
	    out,
	    "  features      shmem missing %s, shmem write-protect %s, thread id %s%s\n",
	    f & UFFD_FEATURE_MISSING_SHMEM ? "yes" : "NO",
	    f & UFFD_FEATURE_WP_HUGETLBFS_SHMEM ? "yes" : "NO",
	    f & UFFD_FEATURE_THREAD_ID ? "yes" : "NO",
	    need ? "" : ": faultmap needs all three");
	if (uffd_fork_events)
		fprintf(out,
			"  fork events   yes: forked children are served by faultmap\n");
	else
		fprintf(
		    out,
		    "  fork events   no (needs CAP_SYS_PTRACE, e.g. root): a forked "
		    "child's "
		    "mappings are\n                the kernel's, not coherent with the "
		    "parent's cache\n");
	return 0;
}

/* io_uring_line - whether a ring can be set up (the engine reads and
 * writes back with it, and does without when it cannot). */
static void io_uring_line(void)
{
	struct io_uring ring;
	int err = io_uring_queue_init(4, &ring, 0);
	char sysctl[32];
	const char *disabled = read_line("/proc/sys/kernel/io_uring_disabled", sysctl,
					 sizeof(sysctl));
	found.io_uring_ok = !err;
	if (!err) {
		io_uring_queue_exit(&ring);
		fprintf(out, "io_uring        ok");
	} else {
		fprintf(
		    out,
		    "io_uring        unavailable (%s): faultmap reads and writes back "
		    "with pread/pwrite, slower",
		    strerror(-err));
	}
	if (disabled)
		fprintf(out, " (kernel.io_uring_disabled = %s)", disabled);
	fprintf(out, "\n");
}

/* by_size - qsort order of hugepages-<N>kB paths: by N. */
static int by_size(const void *a, const void *b)
{
	long x = atol(strstr(*(char *const *)a, "hugepages-") + 10);
	long y = atol(strstr(*(char *const *)b, "hugepages-") + 10);
	return (x > y) - (x < y);
}

/* thp_line - the shmem transparent huge page settings: the global one, then
 * each size's that is not "never". */
static void thp_line(void)
{
	char buf[256];
	fprintf(out, "shmem THP       shmem_enabled %s",
		thp_choice("/sys/kernel/mm/transparent_hugepage/shmem_enabled", buf,
			   sizeof(buf)));
	glob_t g;
	if (glob("/sys/kernel/mm/transparent_hugepage/hugepages-*kB/shmem_enabled", 0,
		 NULL, &g) == 0) {
		qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), by_size);
		size_t never = 0;
		for (size_t i = 0; i < g.gl_pathc; i++) {
			const char *v = thp_choice(g.gl_pathv[i], buf, sizeof(buf));
			if (!strcmp(v, "never")) {
				never++;
				continue;
			}
			const char *size = strstr(g.gl_pathv[i], "hugepages-") + 10;
			fprintf(out, ", %.*s %s", (int)strcspn(size, "/"), size, v);
		}
		if (never)
			fprintf(out, ", %zu other size%s never", never,
				never == 1 ? "" : "s");
		globfree(&g);
	}
	fprintf(out,
		"\n                (faultmap's cache stays in 4 KiB pages, whatever "
		"these say)\n");
}

/* memory_lines - the memory this process may use (RAM, the memory
 * cgroup's limit) and the budget the engine would take (budget.c). */
static void memory_lines(void)
{
	struct fm_memory m;
	char b1[32], b2[32], b3[32];
	memory_usable(&m);
	fprintf(out, "memory          RAM %s; ", fmt_bytes(b1, sizeof(b1), m.ram));
	if (m.limit)
		fprintf(out, "memory cgroup limit %s (%s)\n",
			fmt_bytes(b2, sizeof(b2), m.limit), m.cgroup);
	else
		fprintf(out, "no memory cgroup limit\n");
	uint64_t bytes, def = budget_default(&m);
	int env = env_budget(&m, &bytes);
	found.ram = m.ram;
	found.limit = m.limit;
	found.budget = def;
	found.env = env;
	found.env_budget = env ? 0 : bytes;
	found.env_fits =
	    !env && (bytes + budget_overhead(bytes) <= m.usable || !m.usable);
	fprintf(out, "budget          default %s: half of %s\n",
		fmt_bytes(b1, sizeof(b1), def),
		m.limit && m.limit == m.usable ? "the cgroup's limit" : "RAM");
	if (env == 0)
		fprintf(out, "                FAULTMAP_BUDGET=%s: %s, %s\n",
			secure_getenv("FAULTMAP_BUDGET"),
			fmt_bytes(b3, sizeof(b3), bytes),
			bytes + budget_overhead(bytes) <= m.usable || !m.usable
			    ? "fits with faultmap's own memory"
			    : "DOES NOT FIT with faultmap's own memory: the program may "
			      "be killed");
	else if (env < 0)
		fprintf(out,
			"                FAULTMAP_BUDGET=%s: INVALID (the engine will "
			"not start)\n",
			secure_getenv("FAULTMAP_BUDGET"));
}

/* runtime_dir_line - where this user's processes publish (stat, inspect). */
static void runtime_dir_line(void)
{
	char path[RT_DIR_PATH_MAX];
	fflush(out);
	int fd = runtime_dir_create(path, sizeof(path));
	if (fd >= 0) {
		snprintf(found.runtime_dir, sizeof(found.runtime_dir), "%s", path);
		fprintf(out, "runtime dir     %s: ok (yours, mode 0700)\n", path);
		close(fd);
	} else {
		fprintf(out,
			"runtime dir     REFUSED (%s; see above): processes will not "
			"publish to faultmap stat and inspect\n",
			strerror(-fd));
	}
}

/* daemon_line - whether this user's daemon runs (it is not started). */
static void daemon_line(void)
{
	char path[512];
	int pid = client_daemon_pid(path, sizeof(path));
	if (pid > 0)
		fprintf(out, "daemon          running, pid %d (%s): your programs share its "
			     "cache (daemon mode, the default; FAULTMAP_MODE=embedded: a cache "
			     "of their own)\n", pid, path);
	else if (pid == -ENOENT)
		fprintf(out, "daemon          not running: your first program under faultmap "
			     "starts it (daemon mode, the default; FAULTMAP_MODE=embedded: a "
			     "cache of its own)\n");
	else
		fprintf(out, "daemon          cannot be reached: %s\n", strerror(-pid));
}

/* rescue_line - the rescue files in the runtime directory: dirty pages a
 * daemon could not write back, which the next daemon writes at its start. */
static void rescue_line(void)
{
	int fd = found.runtime_dir[0] ? runtime_dir_open(found.runtime_dir, geteuid()) : -1;
	if (fd < 0)
		return;
	int n = rescue_list(fd, NULL);
	if (!n)
		fprintf(out, "rescue files    none\n");
	else
		fprintf(out, "rescue files    %d in %s: dirty pages a daemon could not write "
			     "back; the next daemon to start writes them (its log says why one is "
			     "kept):\n", n, found.runtime_dir);
	if (n)
		rescue_list(fd, out);
	close(fd);
}

/* report - the report to out. Return: 0 if faultmap can serve mappings
 * here, 1 if not. */
static int report(void)
{
	fprintf(out, "faultmap doctor: ");
	print_version(out);
	fprintf(out, "user            uid %u, gid %u%s\n", (unsigned)geteuid(),
		(unsigned)getegid(), geteuid() == 0 ? " (root)" : "");
	bool kernel_ok = kernel_line();
	int err = uffd_lines();
	io_uring_line();
	thp_line();
	memory_lines();
	runtime_dir_line();
	daemon_line();
	rescue_line();
	if (!err && kernel_ok) {
		fprintf(out, "=> faultmap can serve mappings for this user.\n");
		return 0;
	}
	fprintf(out, "=> faultmap cannot serve mappings for this user");
	if (err == -EPERM) {
		fprintf(out, ". How to get access:\n");
		fflush(out);
		uffd_explain_eperm(out);
	} else {
		fprintf(out, " (%s).\n", err ? strerror(-err) : "kernel too old");
	}
	return 1;
}

/* json_str_or_null - s as a JSON string, or null if it is empty. */
static void json_str_or_null(const char *key, const char *s)
{
	printf(",\"%s\":", key);
	if (*s)
		json_str(stdout, s);
	else
		printf("null");
}

/* json_bool - ,"key":true/false (or null if !known). */
static void json_bool(const char *key, bool v, bool known)
{
	printf(",\"%s\":%s", key, !known ? "null" : v ? "true" : "false");
}

/* json_report - what report() found (found) and its text (text, len
 * bytes) as one JSON object on one line (docs/cli.md). */
static void json_report(int code, const char *text, size_t len)
{
	printf("{\"faultmap_doctor\":1,\"can_serve\":%s", code ? "false" : "true");
	JSON_FIELDS(stdout, {"uid", geteuid()}, {"gid", getegid()});
	json_str_or_null("kernel", found.kernel);
	json_bool("kernel_ok", found.kernel_ok, true);
	json_bool("userfaultfd_ok", !found.uffd_err, true);
	json_str_or_null("userfaultfd_error",
			 found.uffd_err ? strerror(-found.uffd_err) : "");
	json_bool("device", found.device, true);
	if (found.device)
		JSON_FIELDS(stdout, {"device_uid", found.device_uid},
			    {"device_gid", found.device_gid},
			    {"device_mode", found.device_mode});
	else
		printf(",\"device_uid\":null,\"device_gid\":null,\"device_mode\":null");
	json_bool("device_member", found.device_member, found.device);
	json_str_or_null("unprivileged_userfaultfd", found.unprivileged);
	json_bool("features_ok", found.features_ok, !found.uffd_err);
	json_bool("fork_events", found.fork_events, !found.uffd_err);
	json_bool("io_uring_ok", found.io_uring_ok, true);
	JSON_FIELDS(stdout, {"ram_bytes", found.ram});
	if (found.limit)
		JSON_FIELDS(stdout, {"cgroup_limit_bytes", found.limit});
	else
		printf(",\"cgroup_limit_bytes\":null");
	JSON_FIELDS(stdout, {"default_budget_bytes", found.budget});
	if (found.env == 0)
		JSON_FIELDS(stdout, {"env_budget_bytes", found.env_budget});
	else
		printf(",\"env_budget_bytes\":null");
	json_bool("env_budget_valid", found.env == 0, found.env != 1);
	json_bool("env_budget_fits", found.env_fits, found.env == 0);
	json_str_or_null("runtime_dir", found.runtime_dir);
	printf(",\"report\":[");
	for (size_t i = 0, n = 0; i < len; n++) {
		size_t l = strcspn(text + i, "\n");
		char *line = strndup(text + i, l);
		printf("%s", n ? "," : "");
		json_str(stdout, line ? line : "?");
		free(line);
		i += l + (i + l < len);
	}
	printf("]}\n");
}

/* cmd_doctor - faultmap doctor. Return: 0 if faultmap can serve mappings
 * here, 1 if not. */
int cmd_doctor(int argc, char **argv)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
			continue;
		}
		if (help_or_version("doctor", argv[i])) {
			return 0;
		}
		usage_error("doctor", "unexpected argument '%s'", argv[i]);
	}
	if (!json) {
		out = stdout;
		return report();
	}
	char *text = NULL;
	size_t len = 0;
	out = open_memstream(&text, &len);
	if (!out) {
		fprintf(stderr, "faultmap: doctor: %s\n", strerror(errno));
		return 1;
	}
	int code = report();
	fclose(out);
	json_report(code, text, len);
	free(text);
	return code;
}
