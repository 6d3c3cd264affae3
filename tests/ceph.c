/* ceph.c - see ceph.h. */
#include "ceph.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static struct ceph *running; /* stopped at exit, even by a failed CHECK */

static void stop_at_exit(void)
{
	/* not in a child (each_mode's): the cluster is its parent's */
	if (running && running->owner == (int)getpid())
		ceph_stop(running);
}

/* script - scripts/ceph-dev.sh of the tree this test was built in: looked
 * for from the test's own directory up (build/tests, build/asan/tests). */
static void script(char *path, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(n > 0);
	exe[n] = '\0';
	for (char *slash = strrchr(exe, '/'); slash; slash = strrchr(exe, '/')) {
		*slash = '\0';
		if ((size_t)snprintf(path, size, "%s/scripts/ceph-dev.sh", exe) < size &&
		    access(path, X_OK) == 0)
			return;
	}
	snprintf(path, size, "scripts/ceph-dev.sh"); /* from the tree's top */
}

/* run - run argv with stdout and stderr into log (append) and env added to
 * the environment; its exit code (127 if it could not run, 128 + signal).
 * posix_spawn, not fork: the child shares the memory until it execs, so
 * the engine's userfaultfd sees no fork (whose event a fault thread must
 * answer while this thread waits, which TSan's fork can deadlock). */
static int run(char *const argv[], const char *log, char *const env[])
{
	extern char **environ;
	size_t n = 0, extra = 0;
	while (environ[n])
		n++;
	while (env && env[extra])
		extra++;
	char **envp = calloc(n + extra + 1, sizeof(char *));
	CHECK(envp);
	if (extra)
		memcpy(envp, env, extra * sizeof(char *));
	size_t k = extra;
	for (size_t i = 0; i < n; i++) { /* the rest, but what env sets */
		bool set = false;
		for (size_t j = 0; j < extra && !set; j++) {
			size_t len = (size_t)(strchr(env[j], '=') - env[j]) + 1;
			set = strncmp(environ[i], env[j], len) == 0;
		}
		if (!set)
			envp[k++] = environ[i];
	}
	posix_spawn_file_actions_t fa;
	CHECK(posix_spawn_file_actions_init(&fa) == 0);
	CHECK(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) == 0);
	CHECK(posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0600) == 0);
	CHECK(posix_spawn_file_actions_adddup2(&fa, 1, 2) == 0);
	pid_t pid;
	int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
	if (err)
		return 127;
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void skip(struct ceph *c, const char *why, const char *log)
{
	printf("SKIP: no Ceph cluster here: %s\n", why);
	if (log && getenv("FM_CEPH_VERBOSE")) {
		size_t n;
		unsigned char *text = slurp(log, &n);
		if (text)
			fwrite(text, 1, n, stdout);
		free(text);
	}
	if (log)
		unlink(log);
	ceph_stop(c);
	exit(77);
}

/* start - ceph_start, with radosgw if rgw. */
static void start(struct ceph *c, bool rgw)
{
	memset(c, 0, sizeof(*c));
	c->pool = "fm";
	c->owner = (int)getpid();
	running = c;
	atexit(stop_at_exit);
	snprintf(c->dir, sizeof(c->dir), "/tmp/fm-ceph.XXXXXX");
	CHECK(mkdtemp(c->dir)); /* mode 0700, empty: ours alone */
	snprintf(c->conf, sizeof(c->conf), "%s/ceph.conf", c->dir);
	if (access("/usr/bin/ceph-osd", X_OK) != 0 || access("/usr/bin/rados", X_OK) != 0)
		skip(c, "Ceph is not installed (Debian packages ceph librados-dev)", NULL);
	if (rgw && (access("/usr/bin/radosgw", X_OK) != 0 || access("/usr/bin/curl", X_OK) != 0))
		skip(c, "radosgw is not installed (Debian packages radosgw curl)", NULL);
	char sh[PATH_MAX], log[128], parent[48];
	script(sh, sizeof(sh));
	snprintf(log, sizeof(log), "/tmp/fm-ceph-start.%d.log", (int)getpid());
	snprintf(parent, sizeof(parent), "CEPH_DEV_PARENT=%d", (int)getpid());
	char *env[] = {parent, "CEPH_DEV_MGR=0", "CEPH_DEV_POOL=fm",
		       rgw ? "CEPH_DEV_RGW=1" : "CEPH_DEV_RGW=0", NULL};
	char *argv[] = {sh, "up", c->dir, NULL};
	int rc = run(argv, log, env);
	if (rc != 0) {
		char why[64];
		snprintf(why, sizeof(why), "ceph-dev.sh up exited %d (FM_CEPH_VERBOSE=1 shows why)", rc);
		skip(c, why, log);
	}
	unlink(log);
}

void ceph_start(struct ceph *c)
{
	start(c, false);
}

void ceph_start_rgw(struct ceph *c)
{
	start(c, true);
}

/* s3_env - the value of name in c->dir/s3.env, into val (size bytes). */
static void s3_env(const struct ceph *c, const char *name, char *val, size_t size)
{
	char path[128], line[256];
	snprintf(path, sizeof(path), "%s/s3.env", c->dir);
	FILE *f = fopen(path, "r");
	CHECK(f);
	val[0] = '\0';
	size_t n = strlen(name);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, name, n) == 0 && line[n] == '=') {
			line[strcspn(line, "\n")] = '\0';
			CHECK((size_t)snprintf(val, size, "%s", line + n + 1) < size);
		}
	fclose(f);
	CHECK(val[0]);
}

void ceph_s3_env(const struct ceph *c)
{
	static const char *const names[] = {"FAULTMAP_S3_ENDPOINT", "AWS_ACCESS_KEY_ID",
					    "AWS_SECRET_ACCESS_KEY", "AWS_REGION"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char val[160];
		s3_env(c, names[i], val, sizeof(val));
		CHECK(setenv(names[i], val, 1) == 0);
	}
}

void ceph_s3_start(struct ceph *c, const char *prefix, char *bucket, size_t size)
{
	ceph_start_rgw(c);
	each_mode();
	require_engine();
	ceph_s3_env(c);
	snprintf(bucket, size, "%s-%d", prefix, (int)getpid());
	CHECK_EQ(ceph_s3(c, "PUT", bucket, NULL, 0, NULL, NULL), 200);
}

int ceph_s3(const struct ceph *c, const char *method, const char *path, const void *in,
	    size_t in_size, unsigned char **out, size_t *out_size)
{
	/* the keys go in a 0600 config file, not on curl's command line */
	char conf[128], key[160], secret[160], endpoint[160], region[64];
	snprintf(conf, sizeof(conf), "%s/curl.%d.conf", c->dir, (int)getpid());
	s3_env(c, "AWS_ACCESS_KEY_ID", key, sizeof(key));
	s3_env(c, "AWS_SECRET_ACCESS_KEY", secret, sizeof(secret));
	s3_env(c, "FAULTMAP_S3_ENDPOINT", endpoint, sizeof(endpoint));
	s3_env(c, "AWS_REGION", region, sizeof(region));
	int fd = open(conf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	FILE *f = fdopen(fd, "w");
	CHECK(f);
	fprintf(f, "user = \"%s:%s\"\naws-sigv4 = \"aws:amz:%s:s3\"\n"
		   "header = \"x-amz-content-sha256: UNSIGNED-PAYLOAD\"\n", key, secret, region);
	CHECK(fclose(f) == 0);
	char inp[128], outp[128], status[128], url[512];
	snprintf(inp, sizeof(inp), "%s/s3in.%d", c->dir, (int)getpid());
	snprintf(outp, sizeof(outp), "%s/s3out.%d", c->dir, (int)getpid());
	snprintf(status, sizeof(status), "%s/s3status.%d", c->dir, (int)getpid());
	CHECK((size_t)snprintf(url, sizeof(url), "%s/%s", endpoint, path) < sizeof(url));
	if (in) {
		fd = open(inp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		CHECK(fd >= 0);
		CHECK_EQ(write(fd, in, in_size), (ssize_t)in_size);
		close(fd);
	}
	unlink(status);
	char *argv[20];
	size_t n = 0;
	argv[n++] = "curl";
	argv[n++] = "-s";
	argv[n++] = "--stderr"; /* the log holds the status alone */
	argv[n++] = "/dev/null";
	argv[n++] = "-K";
	argv[n++] = conf;
	argv[n++] = "-X";
	argv[n++] = (char *)method;
	argv[n++] = "-o";
	argv[n++] = outp;
	argv[n++] = "-w";
	argv[n++] = "%{http_code}";
	if (!strcmp(method, "HEAD"))
		argv[n++] = "-I";
	if (in) {
		argv[n++] = "-T";
		argv[n++] = inp;
	}
	argv[n++] = url;
	argv[n] = NULL;
	int rc = run(argv, status, NULL);
	unlink(conf);
	unlink(inp);
	CHECK_EQ(rc, 0);
	size_t sn;
	unsigned char *code = slurp(status, &sn);
	CHECK(code);
	unlink(status);
	if (sn != 3)
		fprintf(stderr, "curl %s %s: its status was \"%.*s\"\n", method, path, (int)sn,
			(char *)code);
	CHECK_EQ(sn, 3);
	char digits[4] = {0}; /* slurp's buffer has no NUL after the bytes */
	memcpy(digits, code, 3);
	int http = atoi(digits);
	free(code);
	if (out) {
		*out = slurp(outp, out_size);
		if (!*out) { /* no body: an empty one */
			*out = malloc(1);
			*out_size = 0;
		}
	}
	unlink(outp);
	return http;
}

void ceph_s3_object_is(const struct ceph *c, const char *path, const void *want, size_t size)
{
	unsigned char *got;
	const unsigned char *w = want;
	size_t n;
	CHECK_EQ(ceph_s3(c, "GET", path, NULL, 0, &got, &n), 200);
	CHECK_EQ(n, size);
	for (size_t i = 0; i < size; i++)
		if (got[i] != w[i]) {
			fprintf(stderr, "object byte %zu is %#x, expected %#x\n", i, got[i], w[i]);
			exit(1);
		}
	free(got);
}

void ceph_s3_no_open_uploads(const struct ceph *c, const char *bucket)
{
	char q[128];
	unsigned char *xml;
	size_t n;
	snprintf(q, sizeof(q), "%s?uploads=", bucket); /* "=": curl signs it as sent */
	CHECK_EQ(ceph_s3(c, "GET", q, NULL, 0, &xml, &n), 200);
	CHECK(memmem(xml, n, "ListMultipartUploadsResult", 26));
	if (memmem(xml, n, "<Upload>", 8)) {
		fprintf(stderr, "an upload is left open: %.*s\n", (int)n, (char *)xml);
		exit(1);
	}
	free(xml);
}

size_t ceph_rgw_part_puts(const struct ceph *c, const char *path, int *part, long *bytes,
			  size_t max)
{
	char log[128], pat[160];
	snprintf(log, sizeof(log), "%s/log/client.rgw.x.log", c->dir);
	snprintf(pat, sizeof(pat), "\"PUT /%s?partNumber=", path);
	size_t size, n = 0;
	unsigned char *text = slurp(log, &size);
	CHECK(text);
	/* beast: ... "PUT /b/k?partNumber=N&uploadId=ID HTTP/1.1" 200 BYTES ... */
	for (char *at = (char *)text, *end = at + size; n < max && at < end;) {
		char *nl = memchr(at, '\n', (size_t)(end - at)), *hit;
		if (!nl)
			break; /* a line not yet whole */
		*nl = '\0';
		if ((hit = strstr(at, pat))) {
			const char *q = strstr(hit + 1, "\" ");
			part[n] = atoi(hit + strlen(pat));
			if (q && sscanf(q + 2, "%*d %ld", &bytes[n]) == 1)
				n++;
		}
		at = nl + 1;
	}
	free(text);
	return n;
}

int ceph_rgw_admin(const struct ceph *c, const char *const args[])
{
	char *argv[32];
	size_t n = 0;
	argv[n++] = "radosgw-admin";
	argv[n++] = "-c";
	argv[n++] = (char *)c->conf;
	argv[n++] = "-n";
	argv[n++] = "client.rgw.x";
	for (size_t i = 0; args[i] && n < 31; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	return run(argv, "/dev/null", NULL);
}

int ceph_osd_config(const struct ceph *c, const char *name, const char *value)
{
	char *argv[] = {"ceph", "-c", (char *)c->conf, "tell", "osd.0", "config", "set",
			(char *)name, (char *)value, NULL};
	return run(argv, "/dev/null", NULL);
}

void ceph_stop(struct ceph *c)
{
	if (c->owner && c->owner != (int)getpid())
		return; /* a child's (each_mode): the cluster is its parent's */
	if (running == c)
		running = NULL;
	if (!c->dir[0])
		return;
	char sh[PATH_MAX];
	script(sh, sizeof(sh));
	char *down[] = {sh, "down", c->dir, NULL};
	(void)run(down, "/dev/null", NULL);
	char *rm[] = {"rm", "-rf", c->dir, NULL};
	(void)run(rm, "/dev/null", NULL);
	c->dir[0] = '\0';
}

void ceph_dead_conf(const struct ceph *c, char *path, size_t size)
{
	CHECK((size_t)snprintf(path, size, "%s/dead.conf", c->dir) < size);
	FILE *f = fopen(path, "w");
	CHECK(f);
	fprintf(f, "[global]\nmon host = v2:127.0.0.1:1\nauth client required = none\n"
		   "client mount timeout = 2\n");
	CHECK(fclose(f) == 0);
}

void ceph_url(const struct ceph *c, const char *oid, char *url, size_t size)
{
	CHECK((size_t)snprintf(url, size, "rados://%s/%s?conf=%s", c->pool, oid, c->conf) < size);
}

unsigned char *ceph_get(const struct ceph *c, const char *oid, size_t *size)
{
	char out[128];
	snprintf(out, sizeof(out), "%s/get.%d", c->dir, (int)getpid());
	char *argv[] = {"rados", "-c", (char *)c->conf, "-p", (char *)c->pool, "get",
			(char *)oid, out, NULL};
	if (run(argv, "/dev/null", NULL) != 0)
		return NULL;
	unsigned char *data = slurp(out, size);
	unlink(out);
	return data;
}

void ceph_put(const struct ceph *c, const char *oid, const void *buf, size_t size)
{
	char in[128];
	snprintf(in, sizeof(in), "%s/put.%d", c->dir, (int)getpid());
	int fd = open(in, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, buf, size), (ssize_t)size);
	close(fd);
	char *argv[] = {"rados", "-c", (char *)c->conf, "-p", (char *)c->pool, "put",
			(char *)oid, in, NULL};
	CHECK_EQ(run(argv, "/dev/null", NULL), 0);
	unlink(in);
}

/* Under TSan: librados, libceph-common and their libstdc++ are not
 * instrumented, and they hand buffers and strings between their threads
 * with atomics TSan cannot see, so the memcpy and free they call look like
 * races of this program. (Only the RADOS tests load these libraries.) */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "called_from_lib:libceph-common.so.2\ncalled_from_lib:librados.so.2\n"
	       "called_from_lib:libstdc++.so.6\nmutex:libceph-common.so.2\n";
}
