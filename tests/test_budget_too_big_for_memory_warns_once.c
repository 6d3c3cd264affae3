/*
 * A budget chosen by hand (FAULTMAP_BUDGET, fm_set_budget) that does not
 * fit, with faultmap's own memory, in the memory the process may use (RAM,
 * or its memory cgroup's limit if smaller) is named on stderr once, however
 * many files are mapped; a budget that fits, and the default, say nothing.
 * Each case starts the engine in a fresh child whose stderr is a file.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct warn_case {
	const char *env;    /* FAULTMAP_BUDGET, or NULL */
	bool set_ram_twice; /* fm_set_budget(2 x RAM) */
	int warnings;	    /* lines of stderr saying it does not fit */
};

static char ram2[32];

static const struct warn_case cases[] = {
	{ram2, false, 1},   {"100%", false, 1}, {NULL, true, 1},
	{"64M", false, 0},  {"50%", false, 0},  {NULL, false, 0},
};

static void run_case(void *arg)
{
	const struct warn_case *c = arg;
	if (c->env)
		CHECK(setenv("FAULTMAP_BUDGET", c->env, 1) == 0);
	else
		CHECK(unsetenv("FAULTMAP_BUDGET") == 0);
	if (c->set_ram_twice)
		CHECK(fm_set_budget(strtoull(ram2, NULL, 10)) == 0);
	for (int i = 0; i < 3; i++) { /* three files, three mappings */
		char path[64];
		int fd = make_file(path, 4 * PS, 5 + i, O_RDONLY);
		unsigned char *p = fm_mmap(NULL, 4 * PS, PROT_READ, MAP_SHARED, fd, 0);
		unlink(path);
		if (p == MAP_FAILED)
			_exit(errno == EPERM || errno == ENOTSUP ? 77 : 1);
		CHECK(p[PS] != 0);
		close(fd);
	}
	_exit(0);
}

int main(void)
{
	pin_embedded_mode("the warning of this process's own engine");
	long pages = sysconf(_SC_PHYS_PAGES);
	CHECK(pages > 0);
	snprintf(ram2, sizeof(ram2), "%llu", 2ULL * (unsigned long long)pages * PS);
	char log[] = "/tmp/fmtest-warn.XXXXXX";
	int fd = mkstemp(log);
	CHECK(fd >= 0);
	unlink(log);
	int failed = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct warn_case *c = &cases[i];
		CHECK(ftruncate(fd, 0) == 0);
		CHECK(lseek(fd, 0, SEEK_SET) == 0);
		int saved = dup(STDERR_FILENO);
		CHECK(saved >= 0 && dup2(fd, STDERR_FILENO) == STDERR_FILENO);
		int st = in_child(run_case, (void *)c);
		CHECK(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
		close(saved);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
			fprintf(stderr, "skip: faultmap cannot start here\n");
			return 77;
		}
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		char out[8192];
		ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
		CHECK(n >= 0);
		out[n] = 0;
		int lines = 0;
		for (char *p = out; (p = strstr(p, "does not fit in")); p++)
			lines++;
		if (lines != c->warnings) {
			fprintf(stderr, "FAULTMAP_BUDGET=%s%s: %d warnings, expected %d:\n%s",
				c->env ? c->env : "(unset)",
				c->set_ram_twice ? " + fm_set_budget(2 x RAM)" : "", lines,
				c->warnings, out);
			failed = 1;
		}
	}
	close(fd);
	return failed;
}
