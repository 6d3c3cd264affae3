/*
 * test_fork_without_fork_events_child_reads_file_data - a user who may open
 * /dev/userfaultfd through a group (the faultmap group of README.md,
 * "Permissions"), but lacks CAP_SYS_PTRACE, gets a userfaultfd without
 * fork events. faultmap then still works, and a forked child reads the
 * file's data in every page of its inherited mappings: the pages the
 * parent had cached, the parent's shared writes, its private copies, and
 * the pages nobody had read yet (which must not read zeros, nor leave zeros
 * in the parent's cache: the parent reads them afterwards).
 *
 * Set up as root: in a private mount namespace a /dev/userfaultfd node of
 * group G, mode 0660, is bound over the real one, and the test drops to
 * nobody with G as its only group. Skipped when not root.
 *
 * Embedded mode: fork events are the embedded engine's (uffd_fork_events);
 * in daemon mode the test would also start nobody's daemon, which nothing
 * stops.
 */
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 64 /* pages 16-63 are not read before the fork (read-around is 16) */
#define GROUP 4242

static unsigned char *want;

/* member - become nobody with group access to a 0660 /dev/userfaultfd. */
static void member(void)
{
	struct stat st;
	char node[] = "/tmp/fm-uffd-node.XXXXXX";
	CHECK(stat("/dev/userfaultfd", &st) == 0);
	int t = mkstemp(node);
	CHECK(t >= 0);
	close(t);
	unlink(node);
	CHECK(mknod(node, S_IFCHR | 0660, st.st_rdev) == 0);
	CHECK(chown(node, 0, GROUP) == 0 && chmod(node, 0660) == 0);
	CHECK(unshare(CLONE_NEWNS) == 0);
	CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
	CHECK(mount(node, "/dev/userfaultfd", NULL, MS_BIND, NULL) == 0);
	unlink(node);
	gid_t g = GROUP;
	CHECK(setgroups(1, &g) == 0 && setgid(65534) == 0 && setuid(65534) == 0);
	/* As a process the user started is (setuid made this one not). */
	CHECK(prctl(PR_SET_DUMPABLE, 1) == 0);
}

static void check_page(const unsigned char *p, size_t i, const char *what)
{
	if (memcmp(p + i * PS, want + i * PS, PS)) {
		fprintf(stderr, "%s: page %zu differs (first byte %d, want %d)\n", what, i,
			p[i * PS], want[i * PS]);
		exit(1);
	}
}

static void scenario(void *arg)
{
	(void)arg;
	CHECK_EQ(fm_set_mode(FM_MODE_EMBEDDED), 0);
	member();
	char path[64];
	int fd = make_file(path, NPAGES * PS, 31, O_RDWR);
	want = malloc(NPAGES * PS);
	CHECK(want);
	fill_pattern(want, NPAGES * PS, 31);
	unsigned char *shared =
	    fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (shared == MAP_FAILED) {
		fprintf(stderr, "skip: a group member cannot use faultmap: %s\n",
			strerror(errno));
		unlink(path);
		_exit(77);
	}
	if (uffd_fork_events) {
		fprintf(stderr, "skip: this user gets fork events\n");
		unlink(path);
		_exit(77);
	}
	unsigned char *priv =
	    fm_mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(priv != MAP_FAILED);
	volatile unsigned sum = 0;
	for (size_t i = 0; i < 4; i++)
		sum += shared[i * PS]; /* cached (and read around) */
	shared[1 * PS] = 'S';	       /* a shared write */
	want[1 * PS] = 'S';
	priv[2 * PS] = 'P';	       /* a private copy */
	sum += priv[5 * PS];
	CHECK(sum != 0);

	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		for (size_t i = 0; i < NPAGES; i++)
			check_page(shared, i, "child, shared");
		for (size_t i = 0; i < NPAGES; i++) {
			if (i == 2)
				CHECK(priv[2 * PS] == 'P');
			else
				check_page(priv, i, "child, private");
		}
		_exit(0);
	}
	int st;
	CHECK(waitpid(child, &st, 0) == child);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (size_t i = 0; i < NPAGES; i++)
		check_page(shared, i, "parent after the child, shared");
	CHECK(priv[2 * PS] == 'P');
	CHECK_EQ(fm_munmap(priv, NPAGES * PS), 0);
	CHECK_EQ(fm_munmap(shared, NPAGES * PS), 0);
	close(fd);
	unlink(path);
	free(want);
	_exit(0);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skip: needs root to set up a group member\n");
		return 77;
	}
	if (access("/dev/userfaultfd", F_OK)) {
		fprintf(stderr, "skip: no /dev/userfaultfd\n");
		return 77;
	}
	int st = in_child(scenario, NULL);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		return 77;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}
