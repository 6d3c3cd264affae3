/*
 * In a memory cgroup limited to 256 MiB, a program that reads a 512 MiB
 * file through faultmap mappings under the default budget completes: the
 * budget is half of the limit (128 MiB), not half of RAM, so the cache,
 * faultmap's own memory and the program's fit, and the OOM killer kills
 * nothing. Run twice: a C program with fm_mmap (fm_stats().budget_bytes),
 * and python3's mmap under `faultmap run` (the budget in its exit stats
 * line), where a build without sanitizers has an interposer python3 can
 * load. Half of RAM (the old default) fills the memfds past the limit and
 * the OOM killer ends the reader.
 *
 * Needs root and a cgroup hierarchy with the memory controller (v2, or v1's
 * memory hierarchy), else skips; the cgroup is made by bench/cgroup.c and
 * removed on every path. Skips under TSan, whose shadow of 512 MiB of
 * reads does not fit in 256 MiB.
 */
#include "cgroup.h"
#include "cgroup_env.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FM_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FM_UNDER_ASAN 1
#endif
#endif

#define LIMIT (256ULL << 20)
#define FILE_SIZE (512ULL << 20)
#define TAG_EVERY (1ULL << 20)

static struct cgroup_env cg;
static char leaf[1300], path[PATH_MAX], stats_path[PATH_MAX];
static pid_t owner;

/* cleanup - at every exit of the parent: the file and the cgroups (the
 * children are reaped by then, so the leaf is empty). */
static void cleanup(void)
{
	if (getpid() != owner)
		return;
	if (path[0])
		unlink(path);
	if (stats_path[0])
		unlink(stats_path);
	if (leaf[0])
		cg_leaf_remove(leaf);
	cg_teardown(&cg);
}

/* make_sparse - FILE_SIZE bytes, holes but for an 8-byte tag (its own
 * offset) every TAG_EVERY bytes: quick to write, and each read checked. */
static void make_sparse(void)
{
	const char *dir = getenv("FM_TEST_DIR");
	snprintf(path, sizeof(path), "%s/fmtest-cgroup.XXXXXX", dir ? dir : "/var/tmp");
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	for (uint64_t off = 0; off < FILE_SIZE; off += TAG_EVERY)
		CHECK(pwrite(fd, &off, sizeof(off), (off_t)off) == sizeof(off));
	CHECK(ftruncate(fd, (off_t)FILE_SIZE) == 0);
	CHECK(fsync(fd) == 0);
	close(fd);
}

/* reader - in the leaf: map the file, read every page, check the tags and
 * the budget. Exits 77 if faultmap cannot start. */
static void reader(void *arg)
{
	uint64_t want_budget = *(uint64_t *)arg;
	CHECK(cg_attach(leaf, getpid()) == 0);
	CHECK(unsetenv("FAULTMAP_BUDGET") == 0);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	const volatile unsigned char *p =
		fm_mmap(NULL, FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "skip: faultmap cannot start: %s\n", strerror(errno));
		_exit(77);
	}
	unsigned sum = 0;
	for (uint64_t off = 0; off < FILE_SIZE; off += PS) {
		sum += p[off + PS - 1];
		if (off % TAG_EVERY == 0)
			CHECK_EQ(*(const volatile uint64_t *)(p + off), off);
	}
	CHECK_EQ(sum, 0);
	struct fm_stats st;
	CHECK(fm_stats(&st) == 0);
	CHECK_EQ(st.budget_bytes, want_budget);
	/* The file went through faultmap's cache. */
	CHECK(st.pages_read >= FILE_SIZE / PS);
	CHECK(fm_munmap((void *)p, FILE_SIZE) == 0);
	close(fd);
	_exit(0);
}

static const char python_reader[] =
	"import mmap, sys\n"
	"f = open(sys.argv[1], 'rb')\n"
	"m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\n"
	"for off in range(0, len(m), 1 << 20):\n"
	"    assert int.from_bytes(m[off:off + 8], 'little') == off\n"
	"    assert m[off + 8:off + (1 << 20)].count(0) == (1 << 20) - 8\n"
	"print('read', len(m))\n";

/* python_run - in the leaf: exec `faultmap run -- python3` reading the
 * file, with FAULTMAP_STATS_FILE. */
static void python_run(void *arg)
{
	const char *fm = arg;
	CHECK(cg_attach(leaf, getpid()) == 0);
	CHECK(unsetenv("FAULTMAP_BUDGET") == 0);
	CHECK(setenv("FAULTMAP_STATS_FILE", stats_path, 1) == 0);
	execl(fm, fm, "run", "--", "/usr/bin/python3", "-c", python_reader, path, (char *)NULL);
	_exit(127);
}

/* check_status - the child ended well, and the OOM killer killed nothing. */
static void check_status(const char *what, int status)
{
	uint64_t kills = 0;
	(void)cg_oom_kills(&cg, leaf, &kills);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		fprintf(stderr, "skip: %s: faultmap cannot start here\n", what);
		exit(77);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || kills) {
		fprintf(stderr, "%s: %s %d, %llu OOM kills in the cgroup\n", what,
			WIFSIGNALED(status) ? "killed by signal" : "exit status",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
			(unsigned long long)kills);
		exit(1);
	}
}

/* faultmap_cli - the build's faultmap next to this test's directory, and
 * whether python3 can run under it. */
static bool faultmap_cli(char *out, size_t size)
{
#ifdef FM_UNDER_ASAN
	(void)out;
	(void)size;
	return false; /* its interposer needs the ASan runtime loaded first */
#else
	char exe[PATH_MAX - 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = 0;
	*strrchr(exe, '/') = 0; /* .../build/tests */
	char *up = strrchr(exe, '/');
	if (!up)
		return false;
	*up = 0;
	snprintf(out, size, "%s/faultmap", exe);
	return access(out, X_OK) == 0 && access("/usr/bin/python3", X_OK) == 0;
#endif
}

int main(void)
{
	pin_embedded_mode("the engine inside the cgroup it runs in");
#ifdef FM_UNDER_TSAN
	fprintf(stderr, "skip: TSan's shadow of 512 MiB of reads does not fit in 256 MiB\n");
	return 77;
#endif
	if (geteuid() != 0) {
		fprintf(stderr, "skip: needs root to create a memory cgroup\n");
		return 77;
	}
	long pages = sysconf(_SC_PHYS_PAGES);
	uint64_t ram = pages > 0 ? (uint64_t)pages * PS : 0, limit;
	if (ram < 2 * FILE_SIZE) {
		fprintf(stderr, "skip: needs 1 GiB of RAM\n");
		return 77;
	}
	if (!cgroup_memory_limit(&limit, NULL, 0) && limit < 2 * FILE_SIZE) {
		fprintf(stderr, "skip: this test's own cgroup is limited to %llu bytes\n",
			(unsigned long long)limit);
		return 77;
	}
	owner = getpid();
	if (cg_setup(&cg, "fmtest") < 0) {
		fprintf(stderr, "skip: %s\n", cg.note);
		return 77;
	}
	atexit(cleanup);
	if (cg_leaf_create(&cg, 0, LIMIT, leaf, sizeof(leaf))) {
		leaf[0] = 0;
		fprintf(stderr, "skip: cannot limit a cgroup under %s\n", cg.base);
		return 77;
	}
	make_sparse();

	uint64_t want = LIMIT / 2;
	check_status("fm_mmap reader", in_child(reader, &want));

	char fm[PATH_MAX];
	if (!faultmap_cli(fm, sizeof(fm))) {
		fprintf(stderr, "python3 under faultmap run: not in this build, not run\n");
		return 0;
	}
	const char *dir = getenv("FM_TEST_DIR");
	snprintf(stats_path, sizeof(stats_path), "%s/fmtest-stats.XXXXXX",
		 dir ? dir : "/var/tmp");
	int sfd = mkstemp(stats_path);
	CHECK(sfd >= 0);
	check_status("faultmap run python3", in_child(python_run, fm));
	char line[4096] = "";
	ssize_t n = read(sfd, line, sizeof(line) - 1);
	close(sfd);
	line[n > 0 ? n : 0] = 0;
	char budget[64];
	snprintf(budget, sizeof(budget), " budget=%llu ", (unsigned long long)want);
	if (!strstr(line, "comm=python3") || !strstr(line, budget) ||
	    strstr(line, " pages_read=0 ")) {
		fprintf(stderr, "stats of faultmap run python3: '%s', expected%s\n", line,
			budget);
		return 1;
	}
	return 0;
}
