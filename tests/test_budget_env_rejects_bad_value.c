/*
 * FAULTMAP_BUDGET is read when the engine starts (on the first fm_mmap): a
 * value that is not a size, or is below the 16-page minimum, makes fm_mmap
 * fail with EINVAL; a good one sets the budget fm_stats reports;
 * fm_set_budget before the first mapping overrides it and fails with -EBUSY
 * after. A percentage ("50%", "12.5%"; above 0, at most 100) is a share of
 * the memory the default takes half of (RAM, or the memory cgroup's limit
 * if smaller); other forms are refused. Each case starts the engine in a
 * fresh child process. And fm_parse_size accepts the documented forms and
 * refuses the rest.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
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
	{"0%", 0, EINVAL, 0},
	{"101%", 0, EINVAL, 0},
	{"%", 0, EINVAL, 0},
	{"50%%", 0, EINVAL, 0},
	{"50%x", 0, EINVAL, 0},
	{"-5%", 0, EINVAL, 0},
	{"5.%", 0, EINVAL, 0},
	{".5%", 0, EINVAL, 0},
	{"1.2345%", 0, EINVAL, 0},
	{"1e2%", 0, EINVAL, 0},
	{"50M%", 0, EINVAL, 0},
};

/* Percentages are of the smaller of RAM and the memory cgroup's limit, the
 * memory the default takes half of: each case's budget against the
 * default's, in thousandths of a percent. */
struct share_case {
	const char *value;
	uint64_t milli; /* of the memory: 50000 is the default */
};

static const struct share_case shares[] = {
	{"50%", 50000}, {"100%", 100000}, {"25%", 25000}, {"12.5%", 12500}, {"0.001%", 1},
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

/* budget_of - the budget a fresh engine takes with FAULTMAP_BUDGET=value
 * (NULL: unset), or 0 if fm_mmap fails; 77 exits. */
static uint64_t budget_of(const char *value)
{
	uint64_t *out = mmap(NULL, PS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(out != MAP_FAILED);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (value)
			CHECK(setenv("FAULTMAP_BUDGET", value, 1) == 0);
		else
			CHECK(unsetenv("FAULTMAP_BUDGET") == 0);
		char path[64];
		int fd = make_file(path, PS, 7, O_RDONLY);
		void *p = fm_mmap(NULL, PS, PROT_READ, MAP_PRIVATE, fd, 0);
		unlink(path);
		if (p == MAP_FAILED)
			_exit(errno == EPERM || errno == ENOTSUP ? 77 : 0);
		struct fm_stats st;
		CHECK(fm_stats(&st) == 0);
		*out = st.budget_bytes;
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		exit(77);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	uint64_t b = *out;
	munmap(out, PS);
	return b;
}

/* check_shares - each percentage gives its share of the default's memory,
 * to the page (the memory is a whole number of pages). */
static int check_shares(void)
{
	uint64_t memory = 2 * budget_of(NULL); /* to a page */
	int bad = 0;
	for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++) {
		uint64_t want = memory / 100000 * shares[i].milli +
				memory % 100000 * shares[i].milli / 100000;
		uint64_t got = budget_of(shares[i].value);
		if (want / PS < 16)
			want = 0; /* below the minimum: refused */
		if (got + 2 * PS < want || got > want + 2 * PS) {
			fprintf(stderr, "FAULTMAP_BUDGET=\"%s\": budget %llu, expected %llu\n",
				shares[i].value, (unsigned long long)got, (unsigned long long)want);
			bad = 1;
		}
	}
	CHECK_EQ(budget_of("50%"), budget_of(NULL));
	return bad;
}

int main(void)
{
	pin_embedded_mode("FAULTMAP_BUDGET as this process's own engine reads it");
	/* The parent never starts the engine: every case gets a fresh one. */
	check_parse();
	if (check_shares())
		return 1;
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
