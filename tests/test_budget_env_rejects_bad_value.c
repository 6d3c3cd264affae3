/*
 * FAULTMAP_BUDGET is read when the engine starts (on the first fm_mmap): a
 * value that is not a size, or is below the 16-page minimum, makes fm_mmap
 * fail with EINVAL; a good one sets the budget fm_stats reports;
 * fm_set_budget before the first mapping overrides it and fails with -EBUSY
 * after. Each case starts the engine in a fresh child process. And
 * fm_parse_size accepts the documented forms and refuses the rest.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct env_case {
	const char *value; /* FAULTMAP_BUDGET, or NULL for unset */
	size_t set_budget; /* fm_set_budget() first, if not 0 */
	int err;	   /* errno fm_mmap must fail with, or 0 */
	uint64_t budget;   /* budget_bytes fm_stats must then report */
};

static const struct env_case cases[] = {
	{"64M", 0, 0, 64UL << 20},
	{"abc", 0, EINVAL, 0},
	{"1K", 0, EINVAL, 0},
	{"63K", 0, EINVAL, 0}, /* one page short of the minimum */
	{"", 0, EINVAL, 0},
	{"-1", 0, EINVAL, 0},
	{"12X", 0, EINVAL, 0},
	{"64K", 0, 0, 64UL << 10}, /* exactly the minimum */
	{"2G", 0, 0, 2UL << 30},
	{"64M", 32UL << 20, 0, 32UL << 20},
	{"abc", 32UL << 20, 0, 32UL << 20}, /* overridden: never parsed */
};

/* Try one fm_mmap in this (fresh) process and check the outcome. Exits 77
 * if userfaultfd is not usable at all. */
static void run_case(void *arg)
{
	const struct env_case *c = arg;
	if (c->value)
		CHECK(setenv("FAULTMAP_BUDGET", c->value, 1) == 0);
	else
		CHECK(unsetenv("FAULTMAP_BUDGET") == 0);
	CHECK_EQ(fm_set_budget(15 * PS), -EINVAL); /* below the minimum: ignored */
	if (c->set_budget)
		CHECK_EQ(fm_set_budget(c->set_budget), 0);

	char path[64];
	int fd = make_file(path, PS, 61, O_RDONLY);
	errno = 0;
	unsigned char *p = fm_mmap(NULL, PS, PROT_READ, MAP_PRIVATE, fd, 0);
	int err = p == MAP_FAILED ? errno : 0;
	if (err == EPERM || err == ENOTSUP) {
		fprintf(stderr, "skip: faultmap cannot start: %s\n", strerror(err));
		unlink(path);
		_exit(77);
	}
	if (err != c->err) {
		fprintf(stderr, "FAULTMAP_BUDGET=\"%s\"%s: fm_mmap gave %s, expected %s\n",
			c->value ? c->value : "(unset)", c->set_budget ? " + fm_set_budget" : "",
			err ? strerrorname_np(err) : "a mapping",
			c->err ? strerrorname_np(c->err) : "a mapping");
		unlink(path);
		_exit(1);
	}
	if (!err) {
		unsigned char want[PS];
		fill_pattern(want, PS, 61);
		CHECK(memcmp(p, want, PS) == 0);
		struct fm_stats st;
		CHECK(fm_stats(&st) == 0);
		if (st.budget_bytes != c->budget) {
			fprintf(stderr, "FAULTMAP_BUDGET=\"%s\": budget_bytes %llu, expected %llu\n",
				c->value ? c->value : "(unset)",
				(unsigned long long)st.budget_bytes,
				(unsigned long long)c->budget);
			unlink(path);
			_exit(1);
		}
		/* The engine runs: too late to change the budget. */
		CHECK_EQ(fm_set_budget(16UL << 20), -EBUSY);
		CHECK(fm_stats(&st) == 0);
		CHECK_EQ(st.budget_bytes, c->budget);
		CHECK(fm_munmap(p, PS) == 0);
	} else {
		/* The engine did not start: asking again gives the same answer. */
		errno = 0;
		CHECK(fm_mmap(NULL, PS, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED);
		CHECK_EQ(errno, c->err);
	}
	close(fd);
	unlink(path);
	_exit(0);
}

struct parse_case {
	const char *text;
	int ret;
	size_t value;
};

static const struct parse_case parses[] = {
	{"65536", 0, 65536},
	{"64K", 0, 64UL << 10},
	{"64M", 0, 64UL << 20},
	{"2G", 0, 2UL << 30},
	{"1T", 0, 1UL << 40},
	{"64MiB", 0, 64UL << 20},
	{"64MB", 0, 64UL << 20},
	{"", -EINVAL, 0},
	{"abc", -EINVAL, 0},
	{"-1", -EINVAL, 0},
	{"12X", -EINVAL, 0},
	{"99999999999999999999T", -EINVAL, 0},
	{"16777216T", -EINVAL, 0}, /* 2^64 bytes: does not fit */
};

static void check_parse(void)
{
	int bad = 0;
	for (size_t i = 0; i < sizeof(parses) / sizeof(parses[0]); i++) {
		const struct parse_case *c = &parses[i];
		size_t out = 12345;
		int ret = fm_parse_size(c->text, &out);
		if (ret != c->ret || (ret == 0 && out != c->value)) {
			fprintf(stderr, "fm_parse_size(\"%s\") = %d, %zu; expected %d, %zu\n",
				c->text, ret, out, c->ret, c->value);
			bad = 1;
		}
	}
	if (bad)
		exit(1);
}

int main(void)
{
	/* The parent never starts the engine: every case gets a fresh one. */
	check_parse();
	int failed = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = in_child(run_case, (void *)&cases[i]);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
			return 77;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "case FAULTMAP_BUDGET=\"%s\" failed (status %#x)\n",
				cases[i].value ? cases[i].value : "(unset)", st);
			failed = 1;
		}
	}
	return failed;
}
