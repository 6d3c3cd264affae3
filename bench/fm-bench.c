/*
 * fm-bench - faultmap against kernel mmap (and pread, and UMap), side by
 * side, in one invocation (and against fio, the device's ceiling, where the
 * workload is plain reads).
 *
 * For each workload and each of its variants the contenders run in turn,
 * each in a fresh forked child (faultmap's budget is per process, and its
 * engine starts once per process) placed by the parent in a memory cgroup
 * of its own, from which the parent reads the peak memory. See
 * `fm-bench --help` and bench.h.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPS 16
#define MAX_VARIANTS 2

const char *const contender_name[CT_COUNT] = {
	[CT_FM] = "faultmap",	       [CT_FM_HINT] = "faultmap+hint",
	[CT_KERNEL] = "kernel",	       [CT_KERNEL_HINT] = "kernel+hint",
	[CT_PREAD] = "pread",	       [CT_UMAP] = "UMap",
	[CT_FIO] = "fio",	       [CT_FM_DAEMON] = "fm-daemon",
	[CT_FM_INLINE] = "fm-inline",
};

/* ---- output: stdout, and a copy in <out>/results.txt ---------------------- */

static FILE *txt;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (txt) {
		va_start(ap, fmt);
		vfprintf(txt, fmt, ap);
		va_end(ap);
	}
}

/* ---- options -------------------------------------------------------------- */

static struct {
	bool smoke, no_plot, private_maps, keep_files, no_cgroup;
	uint64_t budget, fault_size, scan_size, random_size, zipf_size, write_size,
		retouch_size, fm_limit;
	double scale, duration, timeout, zipf_theta, phase_cap;
	int reps, phases;
	unsigned threads_max, msync_every, sample_every;
	unsigned threads_3b[2];
	size_t zipf_reads;
	const char *disk_dir, *tmpfs_dir, *out_dir, *plot_script;
	bool only[W_COUNT];
} opt = {
	.reps = 1,
	.disk_dir = "/var/tmp",
	.tmpfs_dir = "/dev/shm",
	.plot_script = "bench/plot.sh",
	.zipf_theta = 0.99,
	.threads_max = 2,
	.msync_every = 4096,
	.sample_every = 16,
	.threads_3b = {8, 32},
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fm-bench [options]\n"
		"Runs faultmap, kernel mmap (default advice and best hint, in a memory\n"
		"cgroup limited to the budget), pread, fio (workloads 2, 3, 3b; if installed)\n"
		"and (with UMAP_DIR) UMap side by side.\n"
		"\n"
		"  --smoke            tiny sizes, short durations: everything in seconds (CI)\n"
		"  --only LIST        workloads to run, e.g. 1,3,3b,5 (default: all eight)\n"
		"  --budget SIZE      faultmap budget = kernel cgroup limit (default 256M)\n"
		"  --scale F          multiply the default budget and file sizes by F\n"
		"  --fault-size SIZE  1: tmpfs file, first touch (default 1G; budget 5/4 of it)\n"
		"  --scan-size SIZE   2: cold sequential scan (default 8 x budget = 2G)\n"
		"  --random-size SIZE 3: random 4 KiB reads (default 8 x budget)\n"
		"  --zipf-size SIZE   4: Zipfian reads + scans (default 4 x budget)\n"
		"  --write-size SIZE  5: random writes + msync (default 4 x budget)\n"
		"  --retouch-size SIZE 6: re-touch of resident pages (default budget / 2)\n"
		"  --duration SEC     length of the timed workloads 3, 3b, 5 and 7 (default 4)\n"
		"  --threads N        workload 3 runs 1..N threads (default 2)\n"
		"  --threads-3b N,M   workload 3b's two thread counts = fio's queue depths\n"
		"                     (default 8,32)\n"
		"  --zipf-reads N     reads per Zipfian phase (default 200000)\n"
		"  --zipf-phases N    scan + Zipfian phases after the warm-up (default 3)\n"
		"  --zipf-theta T     Zipf exponent (default 0.99)\n"
		"  --zipf-cap SEC     a Zipf phase stops after SEC even if not done (default 2 x\n"
		"                     --duration): kernel mmap without hints can be very slow\n"
		"  --msync-every N    workload 5: msync(MS_SYNC) every N writes (default 4096)\n"
		"  --reps N           alternate the contenders N times; report medians (default 1)\n"
		"  --private          map MAP_PRIVATE in the reading workloads (default MAP_SHARED)\n"
		"  --fm-limit SIZE    also limit faultmap's cgroup to SIZE (default: no limit)\n"
		"  --no-cgroup        no cgroups: kernel runs unlimited, peak = sampled VmHWM\n"
		"  --timeout SEC      kill a contender running longer (default 600; smoke 60)\n"
		"  --disk-dir DIR     files for workloads 2-6 (default /var/tmp)\n"
		"  --tmpfs-dir DIR    file for workload 1 (default /dev/shm)\n"
		"  --out DIR          results.csv and plots (default docs/bench; smoke: build/bench-smoke)\n"
		"  --plot-script P    (default bench/plot.sh)   --no-plot   --keep-files\n"
		"\n"
		"Exit status: 0, or 1 if a data check failed or a contender crashed or hung.\n");
}

static uint64_t parse_size_opt(const char *name, const char *text)
{
	size_t v;
	if (fm_parse_size(text, &v) < 0 || v == 0) {
		fprintf(stderr, "fm-bench: %s: bad size \"%s\"\n", name, text);
		exit(2);
	}
	return v;
}

static double parse_num(const char *name, const char *text)
{
	char *end;
	double v = strtod(text, &end);
	if (*end || !(v > 0)) {
		fprintf(stderr, "fm-bench: %s: bad number \"%s\"\n", name, text);
		exit(2);
	}
	return v;
}

static uint64_t mib_round(double bytes)
{
	uint64_t b = (uint64_t)bytes / MIB * MIB;
	return b ? b : MIB;
}

static void parse_options(int argc, char **argv)
{
	enum { O_ONLY = 256, O_BUDGET, O_SCALE, O_FAULT, O_SCAN, O_RANDOM, O_ZIPF, O_WRITE,
	       O_RETOUCH, O_DURATION, O_THREADS, O_ZREADS, O_ZPHASES, O_ZTHETA, O_MSYNC,
	       O_REPS, O_PRIVATE, O_FMLIMIT, O_TIMEOUT, O_DISK, O_TMPFS, O_OUT, O_PLOT,
	       O_NOPLOT, O_KEEP, O_SMOKE, O_HELP, O_ZCAP, O_NOCG, O_THREADS3B };
	static const struct option longopts[] = {
		{"smoke", no_argument, NULL, O_SMOKE},
		{"only", required_argument, NULL, O_ONLY},
		{"budget", required_argument, NULL, O_BUDGET},
		{"scale", required_argument, NULL, O_SCALE},
		{"fault-size", required_argument, NULL, O_FAULT},
		{"scan-size", required_argument, NULL, O_SCAN},
		{"random-size", required_argument, NULL, O_RANDOM},
		{"zipf-size", required_argument, NULL, O_ZIPF},
		{"write-size", required_argument, NULL, O_WRITE},
		{"retouch-size", required_argument, NULL, O_RETOUCH},
		{"duration", required_argument, NULL, O_DURATION},
		{"threads", required_argument, NULL, O_THREADS},
		{"threads-3b", required_argument, NULL, O_THREADS3B},
		{"zipf-reads", required_argument, NULL, O_ZREADS},
		{"zipf-phases", required_argument, NULL, O_ZPHASES},
		{"zipf-theta", required_argument, NULL, O_ZTHETA},
		{"zipf-cap", required_argument, NULL, O_ZCAP},
		{"msync-every", required_argument, NULL, O_MSYNC},
		{"reps", required_argument, NULL, O_REPS},
		{"private", no_argument, NULL, O_PRIVATE},
		{"fm-limit", required_argument, NULL, O_FMLIMIT},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"disk-dir", required_argument, NULL, O_DISK},
		{"tmpfs-dir", required_argument, NULL, O_TMPFS},
		{"out", required_argument, NULL, O_OUT},
		{"plot-script", required_argument, NULL, O_PLOT},
		{"no-plot", no_argument, NULL, O_NOPLOT},
		{"keep-files", no_argument, NULL, O_KEEP},
		{"no-cgroup", no_argument, NULL, O_NOCG},
		{"help", no_argument, NULL, O_HELP},
		{0, 0, 0, 0},
	};
	uint64_t budget = 0, fault = 0, scan = 0, rnd = 0, zipf = 0, wr = 0, re = 0;
	double duration = 0, timeout = 0, scale = 1;
	int c, phases = 0;
	size_t zreads = 0;
	bool any_only = false;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_SMOKE: opt.smoke = true; break;
		case O_ONLY:
			any_only = true;
			for (const char *p = optarg; *p; p++) {
				if (p[0] == '3' && p[1] == 'b')
					opt.only[W_RANDOM_MT] = true, p++;
				else if (*p == '7')
					opt.only[W_MAPCALLS] = true;
				else if (*p >= '1' && *p <= '6')
					opt.only[*p - '0'] = true;
				else if (*p != ',') {
					fprintf(stderr, "fm-bench: --only: workloads are 1-7 and 3b\n");
					exit(2);
				}
			}
			break;
		case O_BUDGET: budget = parse_size_opt("--budget", optarg); break;
		case O_SCALE: scale = parse_num("--scale", optarg); break;
		case O_FAULT: fault = parse_size_opt("--fault-size", optarg); break;
		case O_SCAN: scan = parse_size_opt("--scan-size", optarg); break;
		case O_RANDOM: rnd = parse_size_opt("--random-size", optarg); break;
		case O_ZIPF: zipf = parse_size_opt("--zipf-size", optarg); break;
		case O_WRITE: wr = parse_size_opt("--write-size", optarg); break;
		case O_RETOUCH: re = parse_size_opt("--retouch-size", optarg); break;
		case O_DURATION: duration = parse_num("--duration", optarg); break;
		case O_THREADS: opt.threads_max = (unsigned)parse_num("--threads", optarg); break;
		case O_THREADS3B:
			if (sscanf(optarg, "%u,%u", &opt.threads_3b[0], &opt.threads_3b[1]) != 2 ||
			    !opt.threads_3b[0] || !opt.threads_3b[1] || opt.threads_3b[0] > 64 ||
			    opt.threads_3b[1] > 64) {
				fprintf(stderr, "fm-bench: --threads-3b: two counts, 1-64, e.g. 8,32\n");
				exit(2);
			}
			break;
		case O_ZREADS: zreads = (size_t)parse_num("--zipf-reads", optarg); break;
		case O_ZPHASES: phases = (int)parse_num("--zipf-phases", optarg); break;
		case O_ZTHETA: opt.zipf_theta = parse_num("--zipf-theta", optarg); break;
		case O_ZCAP: opt.phase_cap = parse_num("--zipf-cap", optarg); break;
		case O_MSYNC: opt.msync_every = (unsigned)parse_num("--msync-every", optarg); break;
		case O_REPS: opt.reps = (int)parse_num("--reps", optarg); break;
		case O_PRIVATE: opt.private_maps = true; break;
		case O_FMLIMIT: opt.fm_limit = parse_size_opt("--fm-limit", optarg); break;
		case O_TIMEOUT: timeout = parse_num("--timeout", optarg); break;
		case O_DISK: opt.disk_dir = optarg; break;
		case O_TMPFS: opt.tmpfs_dir = optarg; break;
		case O_OUT: opt.out_dir = optarg; break;
		case O_PLOT: opt.plot_script = optarg; break;
		case O_NOPLOT: opt.no_plot = true; break;
		case O_KEEP: opt.keep_files = true; break;
		case O_NOCG: opt.no_cgroup = true; break;
		case 'h': case O_HELP: usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
	if (!any_only)
		for (int w = 1; w < W_COUNT; w++)
			opt.only[w] = true;
	if (opt.reps > MAX_REPS)
		opt.reps = MAX_REPS;
	if (opt.threads_max < 1 || opt.threads_max > 64)
		opt.threads_max = 2;
	if (opt.zipf_theta >= 0.999 && opt.zipf_theta <= 1.001)
		opt.zipf_theta = 0.99; /* the generator needs theta != 1 */

	/* defaults: budget 256M; smoke: 16M and small, fixed files */
	uint64_t b = budget ? budget : mib_round((opt.smoke ? 16.0 : 256.0) * MIB * scale);
	opt.budget = b;
	if (opt.smoke) {
		opt.fault_size = fault ? fault : 32 * MIB;
		opt.scan_size = scan ? scan : 8 * b;
		opt.random_size = rnd ? rnd : 8 * b;
		opt.zipf_size = zipf ? zipf : 4 * b;
		opt.write_size = wr ? wr : 4 * b;
		opt.retouch_size = re ? re : b / 2;
		opt.duration = duration ? duration : 0.3;
		opt.timeout = timeout ? timeout : 60;
		opt.zipf_reads = zreads ? zreads : 20000;
		opt.phases = phases ? phases : 1;
	} else {
		opt.fault_size = fault ? fault : mib_round(1.0 * GIB * scale);
		opt.scan_size = scan ? scan : 8 * b;
		opt.random_size = rnd ? rnd : 8 * b;
		opt.zipf_size = zipf ? zipf : 4 * b;
		opt.write_size = wr ? wr : 4 * b;
		opt.retouch_size = re ? re : b / 2;
		opt.duration = duration ? duration : 4;
		opt.timeout = timeout ? timeout : 600;
		opt.zipf_reads = zreads ? zreads : 200000;
		opt.phases = phases ? phases : 3;
	}
	opt.scale = scale;
	if (!opt.phase_cap)
		opt.phase_cap = 2 * opt.duration;
	uint64_t *sizes[] = {&opt.fault_size, &opt.scan_size, &opt.random_size,
			     &opt.zipf_size, &opt.write_size, &opt.retouch_size};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		*sizes[i] = mib_round((double)*sizes[i]);
	if (!opt.out_dir)
		opt.out_dir = opt.smoke ? "build/bench-smoke" : "docs/bench";
}

/* ---- test files ------------------------------------------------------------ */

struct tfile {
	char path[300];
	uint64_t size;
	bool tmpfs, for_writes, created;
	uint64_t sum; /* of all 64-bit words */
};

static struct tfile files[8];
static int nfiles;

static void remove_files(void)
{
	if (opt.keep_files)
		return;
	for (int i = 0; i < nfiles; i++)
		if (files[i].created)
			unlink(files[i].path);
}

/* get_file - a test file of size bytes, created on first use; files are
 * shared between workloads except the one workload 5 writes. */
static struct tfile *get_file(bool tmpfs, uint64_t size, bool for_writes)
{
	for (int i = 0; i < nfiles; i++)
		if (files[i].tmpfs == tmpfs && files[i].size == size &&
		    files[i].for_writes == for_writes)
			return &files[i];
	struct tfile *f = &files[nfiles++];
	f->tmpfs = tmpfs;
	f->size = size;
	f->for_writes = for_writes;
	snprintf(f->path, sizeof(f->path), "%s/fmbench-%d-%d%s",
		 tmpfs ? opt.tmpfs_dir : opt.disk_dir, (int)getpid(), nfiles,
		 for_writes ? "-w" : "");
	say("  (creating %s, %llu MiB ...", f->path, (unsigned long long)(size / MIB));
	fflush(stdout);
	double t0 = now_sec();
	f->created = true;
	int err = create_file(f->path, size, !tmpfs);
	if (err) {
		say(" failed: %s)\n", strerror(-err));
		fprintf(stderr, "fm-bench: cannot create %s: %s\n", f->path, strerror(-err));
		remove_files();
		exit(2);
	}
	f->sum = file_sum(size);
	say(" %.1f s)\n", now_sec() - t0);
	return f;
}

/* ---- the contenders' runs ------------------------------------------------- */

static struct cgroup_env cg;
static struct outcome *shared_out;
static volatile sig_atomic_t child_pid;
static char cur_leaf[1300];
static unsigned run_counter;
static char cache_how[120] = "drop_caches";
static const char *umap_lib, *umap_note, *fio_path;

/* hang_report - before a hung contender is killed: where each thread of it
 * and of its children (fm-daemon's daemon) waits, on stderr, so that a hang
 * in CI can be understood from its log alone. */
static void hang_report(pid_t pid)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "for p in %d $(cat /proc/%d/task/*/children 2>/dev/null); do "
		 "for t in /proc/$p/task/*; do echo \"fm-bench: hung $p/${t##*/} "
		 "$(cat $t/comm 2>/dev/null) wchan=$(cat $t/wchan 2>/dev/null)\"; "
		 "sed 's/^/    /' $t/stack 2>/dev/null | head -n 12; done; done >&2",
		 (int)pid, (int)pid);
	if (system(cmd)) {
	}
}

/* find_program - name's path in $PATH, or NULL. */
static const char *find_program(const char *name)
{
	static char path[600];
	const char *env = getenv("PATH");
	for (const char *p = env ? env : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");
		snprintf(path, sizeof(path), "%.*s/%s", (int)n, p, name);
		if (n && access(path, X_OK) == 0)
			return path;
		p += n + (p[n] == ':');
	}
	return NULL;
}

static void on_signal(int sig)
{
	if (child_pid > 0) {
		kill(child_pid, SIGKILL);
		waitpid(child_pid, NULL, 0);
	}
	if (cur_leaf[0])
		rmdir(cur_leaf);
	if (cg.version)
		rmdir(cg.base);
	if (!opt.keep_files)
		for (int i = 0; i < nfiles; i++)
			if (files[i].created)
				unlink(files[i].path);
	signal(sig, SIG_DFL);
	raise(sig);
}

struct run {
	int status;	  /* 0 ok, 1 skipped, 2 failed (crash, hang, error) */
	bool data_bad;
	char msg[640];
	struct outcome out;
	uint64_t peak, kfile_max, shanon_max;
	bool peak_sampled; /* no peak counter: the largest sample */
};

static bool limited(int c)
{
	return c == CT_KERNEL || c == CT_KERNEL_HINT || c == CT_PREAD || c == CT_FIO;
}

static void run_one(const struct job *job, uint64_t limit, struct run *r)
{
	memset(r, 0, sizeof(*r));
	memset(shared_out, 0, sizeof(*shared_out));
	cur_leaf[0] = 0;
	bool in_cg = false;
	if (cg.version) {
		int err = cg_leaf_create(&cg, ++run_counter, limit, cur_leaf, sizeof(cur_leaf));
		if (err) {
			fprintf(stderr, "fm-bench: cgroup run%u: %s\n", run_counter, strerror(-err));
			cur_leaf[0] = 0;
		} else {
			in_cg = true;
		}
	}
	int go[2];
	if (pipe(go) < 0) {
		perror("fm-bench: pipe");
		exit(2);
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fm-bench: fork");
		exit(2);
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		close(go[1]);
		char c;
		if (read(go[0], &c, 1) != 1)
			_exit(4);
		close(go[0]);
		run_job(job, shared_out);
		_exit(0);
	}
	child_pid = pid;
	close(go[0]);
	if (in_cg && cg_attach(cur_leaf, pid) < 0) {
		fprintf(stderr, "fm-bench: cannot move the child into %s\n", cur_leaf);
		in_cg = false;
	}
	if (write(go[1], "g", 1) != 1)
		perror("fm-bench: pipe write");
	close(go[1]);

	double t0 = now_sec();
	int status = 0;
	bool timed_out = false;
	uint64_t hwm = 0;
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	for (;;) {
		pid_t w = wait4(pid, &status, WNOHANG, &ru);
		if (w == pid)
			break;
		struct mem_sample s = {0, 0, 0};
		if (in_cg ? cg_sample(&cg, cur_leaf, &s) == 0 : proc_sample(pid, &s, &hwm) == 0) {
			if (s.kfile > r->kfile_max)
				r->kfile_max = s.kfile;
			if (s.shmem_anon > r->shanon_max)
				r->shanon_max = s.shmem_anon;
			if (s.current > r->peak)
				r->peak = s.current;
		}
		if (now_sec() - t0 > opt.timeout && !timed_out) {
			timed_out = true;
			hang_report(pid);
			kill(pid, SIGKILL);
		}
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	child_pid = 0;
	r->out = *shared_out;
	r->peak_sampled = true;
	if (in_cg && cg.peak_counter && cg_peak(&cg, cur_leaf, &r->peak) == 0)
		r->peak_sampled = false;
	else if (!in_cg) { /* the kernel's maxrss of the child, from wait4 */
		if (hwm > r->peak)
			r->peak = hwm;
		if ((uint64_t)ru.ru_maxrss * 1024 > r->peak)
			r->peak = (uint64_t)ru.ru_maxrss * 1024;
		r->peak_sampled = false;
	}
	uint64_t oom_kills = 0;
	if (in_cg && limit && cg_oom_kills(&cg, cur_leaf, &oom_kills))
		oom_kills = 0;
	if (cur_leaf[0])
		cg_leaf_remove(cur_leaf);
	cur_leaf[0] = 0;

	if (!timed_out && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && oom_kills &&
	    limited(job->contender)) {
		/* The kernel's cache and the process's own memory under one
		 * limit, the budget: at a small budget (--smoke) the cgroup's
		 * OOM killer may end a kernel contender. That is the kernel's
		 * failure mode, measured, not a failed run: no figure. */
		r->status = 1;
		snprintf(r->msg, sizeof(r->msg),
			 "OOM-killed by its cgroup at this budget (%llu kills): no figure",
			 (unsigned long long)oom_kills);
	} else if (timed_out) {
		r->status = 2;
		snprintf(r->msg, sizeof(r->msg), "HANG: killed after %.0f s (--timeout)", opt.timeout);
	} else if (WIFSIGNALED(status)) {
		r->status = 2;
		snprintf(r->msg, sizeof(r->msg), "CRASH: killed by signal %d (%s)%s%s%.240s",
			 WTERMSIG(status), strsignal(WTERMSIG(status)),
			 WTERMSIG(status) == SIGKILL && limit ? ", maybe the cgroup's OOM killer" : "",
			 r->out.msg[0] ? "; " : "", r->out.msg);
	} else if (r->out.skipped) {
		r->status = 1;
		snprintf(r->msg, sizeof(r->msg), "skipped: %s", r->out.msg);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) || !r->out.done) {
		r->status = 2;
		snprintf(r->msg, sizeof(r->msg), "ERROR (exit %d): %s",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			 r->out.msg[0] ? r->out.msg : "no result");
	} else if (r->out.data_errors) {
		r->data_bad = true;
		snprintf(r->msg, sizeof(r->msg), "DATA CHECK FAILED: %s", r->out.msg);
	}
}

/* ---- workloads: what to run and how to show it ------------------------------ */

struct variant {
	const char *label; /* in the table */
	const char *tag;   /* in the CSV and the plots */
	int variant, threads;
};

struct workload_desc {
	int id;
	const char *name;
	const char *unit; /* of the figure shown */
	int contenders[CT_COUNT];
	int ncontenders;
	struct variant variants[MAX_VARIANTS + 6];
	int nvariants;
	char title[300], cache[300], hint[300], note[400];
	uint64_t file_size, budget;
};

struct row {
	int ct, reps, nfail;
	double thr[MAX_REPS];	/* ops/s (bytes/s for the scan) */
	double extra[MAX_REPS]; /* W4: scan bytes/s; W6: first-pass s/page */
	double cpu[MAX_REPS];	/* CPU seconds per operation (page, read, write) */
	uint64_t peak, kfile, shanon;
	bool peak_sampled;
	uint64_t samples, sample_hits, accesses, misses;
	bool have_misses, probes_ok;
	struct outcome last;
	char msg[640];
	int status;
	bool data_bad;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	if (n <= 0)
		return NAN;
	double t[MAX_REPS];
	memcpy(t, v, (size_t)n * sizeof(*v));
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static double row_thr(const struct row *r)
{
	return r && r->reps ? median(r->thr, r->reps) : NAN;
}

/* figure - the number shown for a throughput: ns/page for the fault
 * workloads, MB/s for the scan, operations/s otherwise. */
static double figure(int w, double thr)
{
	if (w == W_FAULT || w == W_RETOUCH || w == W_MAPCALLS)
		return 1e9 / thr;
	if (w == W_SCAN)
		return thr / 1e6;
	return thr;
}

static FILE *csv;
static int exit_status;

/* mkdir_p - create dir and its missing parents. Return: 0 or -errno. */
static int mkdir_p(const char *dir)
{
	char path[600];
	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;
		*p = 0;
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (!c)
			return 0;
	}
}

static void csv_open(void)
{
	char path[600];
	int err = mkdir_p(opt.out_dir);
	if (err) {
		fprintf(stderr, "fm-bench: cannot create %s: %s\n", opt.out_dir, strerror(-err));
		return;
	}
	snprintf(path, sizeof(path), "%s/results.txt", opt.out_dir);
	txt = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/results.csv", opt.out_dir);
	csv = fopen(path, "w");
	if (!csv) {
		fprintf(stderr, "fm-bench: %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(csv, "workload,workload_name,variant,contender,reps,figure,figure_unit,"
		     "throughput,throughput_unit,vs_kernel,vs_kernel_hint,peak_mib,"
		     "kfile_peak_mib,shmem_anon_peak_mib,extra,extra_unit,hit_probe,"
		     "hit_faults,file_mib,budget_mib,threads,cache_state,status,cpu_us_per_op,"
		     "vs_fio\n");
}

static const char *thr_unit(int w)
{
	static const char *const u[W_COUNT] = {
		[W_FAULT] = "pages/s", [W_SCAN] = "bytes/s", [W_RANDOM] = "reads/s",
		[W_ZIPF] = "reads/s", [W_WRITE] = "writes/s", [W_RETOUCH] = "pages/s",
		[W_RANDOM_MT] = "reads/s", [W_MAPCALLS] = "calls/s",
	};
	return u[w];
}

static void fmt_ratio(char *buf, size_t size, double a, double b)
{
	if (isnan(a) || isnan(b) || b <= 0)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.2fx", a / b);
}

static void fmt_fig(char *buf, size_t size, double v)
{
	if (isnan(v))
		snprintf(buf, size, "-");
	else if (v >= 100000)
		snprintf(buf, size, "%.0f", v);
	else if (v >= 100)
		snprintf(buf, size, "%.1f", v);
	else
		snprintf(buf, size, "%.2f", v);
}

static const char *display_name(int w, int c)
{
	if (w == W_WRITE && c == CT_PREAD)
		return "pwrite";
	return contender_name[c];
}

static void notes_of(const struct row *r, char *buf, size_t size)
{
	const struct outcome *o = &r->last;
	buf[0] = 0;
	if (r->status || r->data_bad) {
		snprintf(buf, size, "%s", r->msg);
		return;
	}
	if (o->have_fm)
		snprintf(buf, size,
			 "fm: majflt %llu minflt %llu read %llu wrote %llu evict %llu refault %llu; "
			 "ru: majflt %ld minflt %ld",
			 (unsigned long long)o->fm.major_faults,
			 (unsigned long long)o->fm.minor_faults,
			 (unsigned long long)o->fm.pages_read,
			 (unsigned long long)o->fm.pages_written,
			 (unsigned long long)o->fm.evictions, (unsigned long long)o->fm.refaults,
			 o->majflt, o->minflt);
	else if (r->ct == CT_FIO)
		snprintf(buf, size, "%s", o->msg);
	else if (r->ct != CT_PREAD)
		snprintf(buf, size, "ru: majflt %ld minflt %ld", o->majflt, o->minflt);
	if (o->capped) {
		size_t n = strlen(buf);
		snprintf(buf + n, size - n, "%s%d Zipf phase%s stopped by the time cap, warm-up included (%llu counted reads "
			 "done)", n ? "; " : "", o->capped, o->capped > 1 ? "s" : "",
			 (unsigned long long)o->ops);
	}
	if (r->nfail) {
		size_t n = strlen(buf);
		snprintf(buf + n, size - n, "%s%d of %d reps failed", n ? "; " : "", r->nfail,
			 r->nfail + r->reps);
	}
}

static void print_and_record(const struct workload_desc *wd, const struct variant *v,
			     struct row *rows, int nrows)
{
	const struct row *kern = NULL, *khint = NULL, *fio = NULL;
	for (int i = 0; i < nrows; i++) {
		if (rows[i].ct == CT_KERNEL && rows[i].reps)
			kern = &rows[i];
		if (rows[i].ct == CT_KERNEL_HINT && rows[i].reps)
			khint = &rows[i];
		if (rows[i].ct == CT_FIO && rows[i].reps)
			fio = &rows[i];
	}
	bool w4 = wd->id == W_ZIPF, w6 = wd->id == W_RETOUCH;
	say("\n  -- %s --\n", v->label);
	say("  %-14s %11s %9s %9s", "contender", wd->unit, "vs kernel", "vs k+hint");
	if (fio)
		say(" %9s", "vs fio");
	say(" %9s %9s %16s", "cpu us/op", "peak MiB", "kcache/own MiB");
	if (w4)
		say(" %9s %8s %8s", "scan MB/s", "hit%prb", "hit%flt");
	if (w6)
		say(" %14s", "1st pass ns/pg");
	say("  notes\n");
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		double thr = row_thr(r);
		char fig[32], rk[32], rkh[32], rf[32], cpu[32], peak[32], mem[48], ex[96],
			notes[800];
		double cpu_op = r->reps ? median(r->cpu, r->reps) : NAN;
		fmt_fig(fig, sizeof(fig), r->reps ? figure(wd->id, thr) : NAN);
		fmt_ratio(rk, sizeof(rk), thr, row_thr(kern));
		fmt_ratio(rkh, sizeof(rkh), thr, row_thr(khint));
		fmt_ratio(rf, sizeof(rf), thr, row_thr(fio));
		fmt_fig(cpu, sizeof(cpu), cpu_op * 1e6);
		if (r->reps || r->status == 2) {
			snprintf(peak, sizeof(peak), "%.0f%s", (double)r->peak / MIB,
				 r->peak_sampled ? "~" : "");
			snprintf(mem, sizeof(mem), "%.0f/%.0f", (double)r->kfile / MIB,
				 (double)r->shanon / MIB);
		} else {
			snprintf(peak, sizeof(peak), "-");
			snprintf(mem, sizeof(mem), "-");
		}
		notes_of(r, notes, sizeof(notes));
		say("  %-14s %11s %9s %9s", display_name(wd->id, r->ct), fig, rk, rkh);
		if (fio)
			say(" %9s", rf);
		say(" %9s %9s %16s", cpu, peak, mem);
		double hp = NAN, hf = NAN, extra = r->reps ? median(r->extra, r->reps) : NAN;
		const char *extra_unit = "";
		ex[0] = 0;
		if (w4) {
			char a[16], b[16], c[16];
			if (r->samples && r->probes_ok)
				hp = (double)r->sample_hits / (double)r->samples;
			if (r->have_misses && r->accesses)
				hf = 1.0 - (double)r->misses / (double)r->accesses;
			fmt_fig(a, sizeof(a), isnan(extra) ? NAN : extra / 1e6);
			if (isnan(hp))
				snprintf(b, sizeof(b), "-");
			else
				snprintf(b, sizeof(b), "%.1f", 100 * hp);
			if (isnan(hf))
				snprintf(c, sizeof(c), "-");
			else
				snprintf(c, sizeof(c), "%.1f", 100 * hf);
			say(" %9s %8s %8s", a, b, c);
			extra_unit = "scan bytes/s";
		}
		if (w6) {
			fmt_fig(ex, sizeof(ex), isnan(extra) ? NAN : extra * 1e9);
			say(" %14s", ex);
			extra_unit = "first pass s/page";
		}
		say("  %s\n", notes);
		if (r->status == 2 || r->data_bad)
			exit_status = 1;
		if (!csv)
			continue;
		double kt = row_thr(kern), kht = row_thr(khint);
		const char *st = r->data_bad ? "data-check-failed"
				 : r->status == 2 ? (strstr(r->msg, "HANG") ? "hang" : "crash-or-error")
				 : r->status == 1 ? "skipped"
				 : r->nfail	   ? "some-reps-failed"
						   : "ok";
		fprintf(csv, "%s,%s,%s,%s,%d,", workload_label(wd->id), wd->name, v->tag,
			display_name(wd->id, r->ct), r->reps);
		if (r->reps)
			fprintf(csv, "%.6g,%s,%.6g,%s,", figure(wd->id, thr), wd->unit, thr,
				thr_unit(wd->id));
		else
			fprintf(csv, ",%s,,%s,", wd->unit, thr_unit(wd->id));
		if (r->reps && kern)
			fprintf(csv, "%.4g", thr / kt);
		fprintf(csv, ",");
		if (r->reps && khint)
			fprintf(csv, "%.4g", thr / kht);
		fprintf(csv, ",");
		if (r->reps || r->status == 2)
			fprintf(csv, "%.1f,%.1f,%.1f,", (double)r->peak / MIB,
				(double)r->kfile / MIB, (double)r->shanon / MIB);
		else
			fprintf(csv, ",,,");
		if (!isnan(extra) && (w4 || w6))
			fprintf(csv, "%.6g", extra);
		fprintf(csv, ",%s,", extra_unit);
		if (!isnan(hp))
			fprintf(csv, "%.4f", hp);
		fprintf(csv, ",");
		if (!isnan(hf))
			fprintf(csv, "%.4f", hf);
		fprintf(csv, ",%llu,%llu,%d,\"%s\",%s,", (unsigned long long)(wd->file_size / MIB),
			(unsigned long long)(wd->budget / MIB), v->threads, wd->cache, st);
		if (!isnan(cpu_op))
			fprintf(csv, "%.4g", cpu_op * 1e6);
		fprintf(csv, ",");
		if (r->reps && fio)
			fprintf(csv, "%.4g", thr / row_thr(fio));
		fprintf(csv, "\n");
		fflush(csv);
	}
}

/* The failures of the run, repeated at its end: a CI log may show only
 * its tail, and a failed repetition of a row with results is not in the
 * table's notes. */
static char failures[16][400];
static unsigned nfailures;

static void remember_failure(const struct workload_desc *wd, const struct variant *v,
			     enum contender ct, int rep, const char *msg)
{
	if (nfailures < sizeof(failures) / sizeof(failures[0]))
		snprintf(failures[nfailures], sizeof(failures[0]), "workload %s, %s, %s, repetition %d: %.300s",
			 workload_label(wd->id), v->label, display_name(wd->id, ct), rep + 1, msg);
	nfailures++;
}

/* run_variant - every contender of wd on one variant, alternating them
 * opt.reps times; then the table. */
static void run_variant(const struct workload_desc *wd, const struct variant *v,
			struct job *base_job, struct tfile *file)
{
	struct row rows[CT_COUNT];
	memset(rows, 0, sizeof(rows));
	for (int i = 0; i < wd->ncontenders; i++)
		rows[i].ct = wd->contenders[i];
	for (int rep = 0; rep < opt.reps; rep++) {
		for (int i = 0; i < wd->ncontenders; i++) {
			struct row *row = &rows[i];
			if (row->status == 1)
				continue; /* skipped once: not available */
			struct job job = *base_job;
			job.contender = row->ct;
			job.variant = v->variant;
			job.threads = v->threads;
			job.nonce = run_counter + 1;
			if (wd->id != W_FAULT) {
				char how[120];
				if (drop_caches(file->path, how, sizeof(how)) < 0)
					fprintf(stderr, "fm-bench: cannot drop the caches of %s\n",
						file->path);
			}
			uint64_t limit = limited(row->ct) ? wd->budget
					 : row->ct == CT_UMAP ? 0 : opt.fm_limit;
			if (!cg.version)
				limit = 0;
			struct run r;
			run_one(&job, limit, &r);
			if (wd->id == W_WRITE) {
				if (r.status == 0) {
					char msg[240];
					uint64_t bad = verify_writes(file->path, file->size, job.seed,
								     job.nonce, r.out.ops, msg,
								     sizeof(msg));
					if (bad) {
						r.data_bad = true;
						snprintf(r.msg, sizeof(r.msg),
							 "DATA CHECK FAILED: %llu bad pages; %s",
							 (unsigned long long)bad, msg);
					}
				}
				if (r.status == 2 || r.data_bad) { /* start the next one clean */
					int err = create_file(file->path, file->size, true);
					if (err)
						fprintf(stderr, "fm-bench: cannot recreate %s: %s\n",
							file->path, strerror(-err));
				}
			}
			if (r.peak > row->peak)
				row->peak = r.peak;
			if (r.kfile_max > row->kfile)
				row->kfile = r.kfile_max;
			if (r.shanon_max > row->shanon)
				row->shanon = r.shanon_max;
			row->peak_sampled |= r.peak_sampled;
			if (r.status == 2 || r.data_bad)
				remember_failure(wd, v, row->ct, rep, r.msg);
			if (r.status == 1 || r.status == 2 || r.data_bad) {
				if (r.status == 2 || r.data_bad || !row->reps)
					row->status = r.data_bad ? 0 : r.status;
				row->data_bad |= r.data_bad;
				snprintf(row->msg, sizeof(row->msg), "%s", r.msg);
				if (r.status == 2)
					row->nfail++;
				if (r.status != 0)
					continue;
			}
			const struct outcome *o = &r.out;
			double sec = o->seconds > 0 ? o->seconds : 1e-9;
			double thr = wd->id == W_SCAN ? (double)o->bytes / sec : (double)o->ops / sec;
			row->thr[row->reps] = thr;
			if (wd->id == W_ZIPF)
				row->extra[row->reps] = o->seconds2 > 0 ? (double)o->bytes2 / o->seconds2 : NAN;
			else if (wd->id == W_RETOUCH)
				row->extra[row->reps] = o->ops2 ? o->seconds2 / (double)o->ops2 : NAN;
			row->cpu[row->reps] = o->ops ? o->cpu / (double)o->ops : NAN;
			row->reps++;
			row->samples += o->samples;
			row->sample_hits += o->sample_hits;
			row->probes_ok = o->probes_ok;
			row->accesses += o->accesses;
			row->misses += o->misses;
			row->have_misses = o->have_misses;
			row->last = *o;
		}
	}
	/* a row with both results and failures keeps its results; a failure
	 * still makes the exit status 1 */
	for (int i = 0; i < wd->ncontenders; i++)
		if (rows[i].reps && rows[i].status == 2)
			rows[i].status = 0, exit_status = 1;
	print_and_record(wd, v, rows, wd->ncontenders);
}

/* ---- precomputed access sequences ----------------------------------------- */

static uint32_t *shuffled(uint64_t n, uint64_t seed)
{
	uint32_t *a = malloc(n * sizeof(*a));
	if (!a) {
		perror("fm-bench: malloc");
		exit(2);
	}
	for (uint64_t i = 0; i < n; i++)
		a[i] = (uint32_t)i;
	uint64_t s = seed;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = xrand(&s) % (i + 1);
		uint32_t t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
	return a;
}

/* zipf_pages - count page numbers of a Zipf(theta) distribution over n
 * pages (Gray et al., "Quickly generating billion-record synthetic
 * databases"), rank r mapped to page perm[r] so the hot pages are spread
 * over the file. */
static uint32_t *zipf_pages(uint64_t n, size_t count, double theta, uint64_t seed)
{
	uint32_t *perm = shuffled(n, seed ^ 0xabcdef);
	uint32_t *out = malloc(count * sizeof(*out));
	if (!out) {
		perror("fm-bench: malloc");
		exit(2);
	}
	double zetan = 0;
	for (uint64_t i = 1; i <= n; i++)
		zetan += 1.0 / pow((double)i, theta);
	double zeta2 = 1.0 + 1.0 / pow(2.0, theta);
	double alpha = 1.0 / (1.0 - theta);
	double eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / zetan);
	uint64_t s = seed;
	for (size_t i = 0; i < count; i++) {
		double u = (double)(xrand(&s) >> 11) / 9007199254740992.0;
		double uz = u * zetan;
		uint64_t r;
		if (uz < 1.0)
			r = 0;
		else if (uz < 1.0 + pow(0.5, theta))
			r = 1;
		else
			r = (uint64_t)((double)n * pow(eta * u - eta + 1.0, alpha));
		if (r >= n)
			r = n - 1;
		out[i] = perm[r];
	}
	free(perm);
	return out;
}

/* ---- main ------------------------------------------------------------------ */

static void add(struct workload_desc *wd, int c)
{
	if (c == CT_UMAP && !umap_lib)
		return;
	wd->contenders[wd->ncontenders++] = c;
}

static void print_header(int argc, char **argv)
{
	say("fm-bench: faultmap vs kernel mmap, side by side\ncommand:");
	for (int i = 0; i < argc; i++)
		say(strpbrk(argv[i], " \t'\"") ? " '%s'" : " %s", argv[i]);
	say("\n");
#ifndef FM_BENCH_REV
#define FM_BENCH_REV "unknown"
#endif
	say("faultmap: built from git %s (libfaultmap.a linked statically)\n", FM_BENCH_REV);
	struct utsname u;
	uname(&u);
	time_t t = time(NULL);
	char date[64];
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
	say("date: %s; host: %s %s %s, %ld CPUs, %.1f GiB RAM\n", date, u.sysname, u.release,
	       u.machine, sysconf(_SC_NPROCESSORS_ONLN),
	       (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / GIB);
	say("memory: %s\n", cg.version ? cg.note : "no memory cgroup");
	if (cg.version)
		say("  kernel mmap and pread run in a cgroup limited to the budget; faultmap%s "
		       "in one %s; all measured the same way, from outside the child.\n"
		       "  peak MiB = the cgroup's peak counter (~: sampled); kcache/own = largest "
		       "sample (every 10 ms) of kernel file cache (not shmem) / shmem+anon.\n",
		       umap_lib ? " and UMap" : "",
		       opt.fm_limit ? "limited by --fm-limit" : "without a limit (its budget is its own)");
	else
		say("  WARNING: %s: the kernel contenders run WITHOUT a memory limit; peak = "
		       "the child's peak RSS (wait4 ru_maxrss; a page mapped twice counts twice), "
		       "kcache/own = samples of RssFile / RssShmem+RssAnon.\n",
		       cg.note);
	say("ratios: throughput / throughput of kernel mmap (default advice, \"vs kernel\") "
	       "or of kernel mmap with the best hint (\"vs k+hint\") in the same run; >1 is "
	       "faster.\n");
	say("maps: %s, PROT_READ in the reading workloads; repetitions: %d (median shown)\n",
	       opt.private_maps ? "MAP_PRIVATE" : "MAP_SHARED", opt.reps);
	say("faultmap: embedded mode (an engine in the process); fm-daemon: daemon mode; "
	    "fm-inline: embedded with FAULTMAP_INLINE_FAULTS=1 (misses served by the thread "
	    "that faulted; the reading workloads, whose files are open read-only)\n");
	say("UMap: %s\n", umap_note);
	say("fio: %s\n", fio_path ? fio_path : "not installed (Debian package fio): its rows are skipped");
	say("cpu us/op: user + system time of the contender's whole process (every thread, "
	    "faultmap's engine threads included; getrusage) over the measured part, per page "
	    "(per read in 3, 3b, 4; per write in 5)\n");
}

int main(int argc, char **argv)
{
	parse_options(argc, argv);
	pattern_init();
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* UMap only from a local build named by UMAP_DIR. */
	static char umap_path[600], umap_buf[700];
	const char *ud = getenv("UMAP_DIR");
	if (!ud || !*ud) {
		umap_note = "not available (UMAP_DIR unset)";
	} else {
		const char *cands[] = {"lib/libumap.so", "lib64/libumap.so", "libumap.so",
				       "src/umap/libumap.so"};
		for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]) && !umap_lib; i++) {
			snprintf(umap_path, sizeof(umap_path), "%s/%s", ud, cands[i]);
			if (access(umap_path, R_OK) == 0)
				umap_lib = umap_path;
		}
		if (umap_lib)
			snprintf(umap_buf, sizeof(umap_buf), "%s (budget via UMAP_BUFSIZE; "
				 "MAP_PRIVATE only, so not in workload 5)", umap_lib);
		else
			snprintf(umap_buf, sizeof(umap_buf),
				 "not available (no libumap.so under UMAP_DIR=%s)", ud);
		umap_note = umap_buf;
	}

	fio_path = find_program("fio");
	if (opt.no_cgroup)
		snprintf(cg.note, sizeof(cg.note), "cgroups not used (--no-cgroup)");
	else if (cg_setup(&cg, "fmbench") < 0)
		cg.version = 0;
	shared_out = mmap(NULL, sizeof(*shared_out), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared_out == MAP_FAILED) {
		perror("fm-bench: mmap");
		return 2;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL); /* e.g. piped into head */

	/* How cold runs are made cold: drop_caches, or per-file fadvise. */
	{
		int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			snprintf(cache_how, sizeof(cache_how),
				 "fadvise(DONTNEED) on the file (drop_caches not permitted)");
		else
			close(fd);
	}
	csv_open();
	print_header(argc, argv);
	double t_start = now_sec();
	int map_flags = opt.private_maps ? MAP_PRIVATE : MAP_SHARED;
	uint64_t seed = 0x5eed5eedULL;

	static const int run_order[] = {W_FAULT, W_SCAN, W_RANDOM, W_RANDOM_MT,
					W_ZIPF, W_WRITE, W_RETOUCH, W_MAPCALLS};
	for (size_t k = 0; k < sizeof(run_order) / sizeof(run_order[0]); k++) {
		int w = run_order[k];
		if (!opt.only[w])
			continue;
		struct workload_desc wd;
		memset(&wd, 0, sizeof(wd));
		wd.id = w;
		struct job job = {.workload = w, .map_flags = map_flags, .duration = opt.duration,
				  .seed = seed + (uint64_t)w, .msync_every = opt.msync_every,
				  .umap_lib = umap_lib, .fio = fio_path, .threads = 1};
		struct tfile *f = NULL;
		uint32_t *seq = NULL;
		double tw = now_sec();
		say("\n");
		switch (w) {
		case W_FAULT:
			wd.name = "fault-path";
			wd.unit = "ns/page";
			wd.file_size = opt.fault_size;
			wd.budget = mib_round((double)opt.fault_size * 1.25);
			snprintf(wd.title, sizeof(wd.title),
				 "1. Fault path, no I/O: first touch of each page (read 8 bytes) of a "
				 "%llu MiB file on tmpfs (%s); budget %llu MiB",
				 (unsigned long long)(wd.file_size / MIB), opt.tmpfs_dir,
				 (unsigned long long)(wd.budget / MIB));
			snprintf(wd.cache, sizeof(wd.cache),
				 "warm: the file is in tmpfs (RAM); no I/O");
			snprintf(wd.hint, sizeof(wd.hint),
				 "k+hint: MADV_SEQUENTIAL in order, MADV_RANDOM shuffled; pread: n/a "
				 "(no fault path)");
			snprintf(wd.note, sizeof(wd.note),
				 "with cgroups, tmpfs pages are charged to the bench parent that wrote them, so the "
				 "kernel's peak excludes the file; faultmap's includes its own copy.");
			add(&wd, CT_FM), add(&wd, CT_FM_DAEMON), add(&wd, CT_FM_INLINE), add(&wd, CT_KERNEL), add(&wd, CT_KERNEL_HINT), add(&wd, CT_UMAP);
			wd.variants[0] = (struct variant){"in order", "in-order", 0, 1};
			wd.variants[1] = (struct variant){"shuffled", "shuffled", 1, 1};
			wd.nvariants = 2;
			f = get_file(true, wd.file_size, false);
			seq = shuffled(wd.file_size / PG, seed);
			job.order = seq;
			break;
		case W_SCAN:
			wd.name = "cold-scan";
			wd.unit = "MB/s";
			wd.file_size = opt.scan_size;
			wd.budget = opt.budget;
			snprintf(wd.title, sizeof(wd.title),
				 "2. Cold sequential scan (sum of every 64-bit word) of a %llu MiB "
				 "file in %s; budget %llu MiB",
				 (unsigned long long)(wd.file_size / MIB), opt.disk_dir,
				 (unsigned long long)(wd.budget / MIB));
			snprintf(wd.cache, sizeof(wd.cache),
				 "cold: sync + %s before each run (the host may still cache the "
				 "virtual disk)", cache_how);
			snprintf(wd.hint, sizeof(wd.hint),
				 "+hint: MADV_SEQUENTIAL; pread: 1 MiB per call, 1 thread; fio: 1 MiB "
				 "O_DIRECT reads through io_uring, queue depth 4");
			add(&wd, CT_FM), add(&wd, CT_FM_DAEMON), add(&wd, CT_FM_INLINE), add(&wd, CT_FM_HINT), add(&wd, CT_KERNEL),
				add(&wd, CT_KERNEL_HINT), add(&wd, CT_PREAD), add(&wd, CT_FIO),
				add(&wd, CT_UMAP);
			wd.variants[0] = (struct variant){"1 thread", "scan", 0, 1};
			wd.nvariants = 1;
			break;
		case W_RANDOM:
		case W_RANDOM_MT:
			wd.name = w == W_RANDOM ? "random-reads" : "random-reads-many-threads";
			wd.unit = "reads/s";
			wd.file_size = opt.random_size;
			wd.budget = opt.budget;
			snprintf(wd.title, sizeof(wd.title),
				 "%s. Uniform random 4 KiB reads (whole page summed) over a %llu MiB "
				 "file in %s (%.1fx the budget); budget %llu MiB; %.1f s per run",
				 workload_label(w), (unsigned long long)(wd.file_size / MIB), opt.disk_dir,
				 (double)wd.file_size / (double)wd.budget,
				 (unsigned long long)(wd.budget / MIB), opt.duration);
			snprintf(wd.cache, sizeof(wd.cache),
				 "cold start: sync + %s before each run, then %.1f s of reads",
				 cache_how, opt.duration);
			snprintf(wd.hint, sizeof(wd.hint),
				 "faultmap: no hint; k+hint: MADV_RANDOM; pread: 4 KiB per call, same "
				 "threads; fio: 1 job, O_DIRECT, io_uring, queue depth = threads");
			add(&wd, CT_FM), add(&wd, CT_FM_DAEMON), add(&wd, CT_FM_INLINE), add(&wd, CT_KERNEL), add(&wd, CT_KERNEL_HINT),
				add(&wd, CT_PREAD), add(&wd, CT_FIO), add(&wd, CT_UMAP);
			for (int i = 0; w == W_RANDOM_MT && i < 2; i++) {
				static char labels[2][32], tags[2][32];
				unsigned t = opt.threads_3b[i];
				snprintf(labels[i], sizeof(labels[i]), "%u threads, fio QD %u", t, t);
				snprintf(tags[i], sizeof(tags[i]), "%u-threads", t);
				wd.variants[wd.nvariants++] = (struct variant){labels[i], tags[i], 0, (int)t};
			}
			for (unsigned t = 1; w == W_RANDOM && t <= opt.threads_max && t <= MAX_VARIANTS + 5; t++) {
				static char labels[8][32], tags[8][32];
				snprintf(labels[t], sizeof(labels[t]), "%u thread%s", t, t > 1 ? "s" : "");
				snprintf(tags[t], sizeof(tags[t]), "%u-thread%s", t, t > 1 ? "s" : "");
				wd.variants[wd.nvariants++] =
					(struct variant){labels[t], tags[t], 0, (int)t};
			}
			break;
		case W_ZIPF:
			wd.name = "zipf-plus-scans";
			wd.unit = "reads/s";
			wd.file_size = opt.zipf_size;
			wd.budget = opt.budget;
			snprintf(wd.title, sizeof(wd.title),
				 "4. Hot set plus scans: Zipf(%.2f) 4 KiB reads over a %llu MiB file "
				 "in %s (%.1fx the budget), %zu reads per phase; a warm-up phase, then "
				 "%d x (full scan, Zipf phase), a phase capped at %.1f s; budget %llu MiB",
				 opt.zipf_theta, (unsigned long long)(wd.file_size / MIB), opt.disk_dir,
				 (double)wd.file_size / (double)wd.budget, opt.zipf_reads, opt.phases,
				 opt.phase_cap, (unsigned long long)(wd.budget / MIB));
			snprintf(wd.cache, sizeof(wd.cache),
				 "cold start (sync + %s); reads/s and hit ratios over the Zipf phases "
				 "after scans (warm-up not counted)", cache_how);
			snprintf(wd.hint, sizeof(wd.hint),
				 "+hint: MADV_RANDOM for the Zipf phases, MADV_SEQUENTIAL for the "
				 "scans; pread: 4 KiB reads, 1 MiB scan reads");
			snprintf(wd.note, sizeof(wd.note),
				 "hit%%prb: 1 in %u accesses probed just before the access (mincore on "
				 "the mapping; pread: a RWF_NOWAIT read, which only succeeds from the "
				 "page cache). hit%%flt: 1 - major faults/accesses (faultmap: fm_stats "
				 "major_faults; kernel: getrusage ru_majflt; a major fault may bring "
				 "in several pages).", opt.sample_every);
			add(&wd, CT_FM), add(&wd, CT_FM_DAEMON), add(&wd, CT_FM_INLINE), add(&wd, CT_FM_HINT), add(&wd, CT_KERNEL),
				add(&wd, CT_KERNEL_HINT), add(&wd, CT_PREAD), add(&wd, CT_UMAP);
			wd.variants[0] = (struct variant){"1 thread", "zipf", 0, 1};
			wd.nvariants = 1;
			seq = zipf_pages(wd.file_size / PG, opt.zipf_reads * (size_t)(opt.phases + 1),
					 opt.zipf_theta, seed);
			job.zipf = seq;
			job.zipf_per_phase = opt.zipf_reads;
			job.phases = opt.phases;
			job.sample_every = opt.sample_every;
			job.phase_cap = opt.phase_cap;
			break;
		case W_WRITE:
			wd.name = "random-writes";
			wd.unit = "writes/s";
			wd.file_size = opt.write_size;
			wd.budget = opt.budget;
			snprintf(wd.title, sizeof(wd.title),
				 "5. Random 8-byte writes through a MAP_SHARED mapping of a %llu MiB "
				 "file in %s (%.1fx the budget), msync(MS_SYNC) every %u writes and at "
				 "the end (timed); %.1f s per run; budget %llu MiB",
				 (unsigned long long)(wd.file_size / MIB), opt.disk_dir,
				 (double)wd.file_size / (double)wd.budget, opt.msync_every,
				 opt.duration, (unsigned long long)(wd.budget / MIB));
			snprintf(wd.cache, sizeof(wd.cache), "cold start: sync + %s before each run",
				 cache_how);
			snprintf(wd.hint, sizeof(wd.hint),
				 "k+hint: MADV_RANDOM; pwrite: 8 bytes per call, fdatasync where the "
				 "others msync");
			snprintf(wd.note, sizeof(wd.note),
				 "check: after each run the whole file is read back with pread: every "
				 "written slot must hold its last value and every other byte the "
				 "original pattern (UMap: n/a, no MAP_SHARED).");
			add(&wd, CT_FM), add(&wd, CT_FM_DAEMON), add(&wd, CT_KERNEL), add(&wd, CT_KERNEL_HINT),
				add(&wd, CT_PREAD);
			wd.variants[0] = (struct variant){"1 thread", "writes", 0, 1};
			wd.nvariants = 1;
			break;
		case W_RETOUCH:
			wd.name = "retouch";
			wd.unit = "ns/page";
			wd.file_size = opt.retouch_size;
			wd.budget = opt.budget;
			snprintf(wd.title, sizeof(wd.title),
				 "6. Re-touch: a %llu MiB file in %s (budget %llu MiB) read once "
				 "(8 bytes per page), then a second pass timed",
				 (unsigned long long)(wd.file_size / MIB), opt.disk_dir,
				 (unsigned long long)(wd.budget / MIB));
			snprintf(wd.cache, sizeof(wd.cache),
				 "warm: the timed pass finds every page resident (the first pass "
				 "started cold, after sync + %s)", cache_how);
			snprintf(wd.hint, sizeof(wd.hint), "k+hint: MADV_SEQUENTIAL");
			snprintf(wd.note, sizeof(wd.note),
				 "same mapping: its page tables are filled (no faults expected); new "
				 "mapping: a second mapping of the file, so every page takes a minor "
				 "fault on a cached page.");
			add(&wd, CT_FM), add(&wd, CT_FM_DAEMON), add(&wd, CT_FM_INLINE), add(&wd, CT_KERNEL), add(&wd, CT_KERNEL_HINT),
				add(&wd, CT_UMAP);
			wd.variants[0] = (struct variant){"same mapping", "same-mapping", 0, 1};
			wd.variants[1] = (struct variant){"new mapping", "new-mapping", 1, 1};
			wd.nvariants = 2;
			break;
		case W_MAPCALLS:
			wd.name = "map-calls";
			wd.unit = "ns/call";
			wd.file_size = 1 * MIB;
			wd.budget = opt.budget;
			snprintf(wd.title, sizeof(wd.title),
				 "7. Mapping calls: one call in a loop for %.1f s on a 16-page "
				 "MAP_SHARED mapping of a file in %s whose pages are resident and "
				 "dirty (the call's own cost, no fault); budget %llu MiB",
				 opt.duration, opt.disk_dir, (unsigned long long)(wd.budget / MIB));
			snprintf(wd.cache, sizeof(wd.cache), "warm: the pages are touched before the loop");
			snprintf(wd.hint, sizeof(wd.hint), "none");
			snprintf(wd.note, sizeof(wd.note),
				 "mmap+munmap: 16 pages; mprotect: read-only <-> read-write; mremap: 8 "
				 "<-> 4 pages, MREMAP_MAYMOVE; msync: MS_ASYNC. In daemon mode (fm-daemon) "
				 "each is a request to the daemon: the cost of a round trip between "
				 "processes.");
			add(&wd, CT_FM), add(&wd, CT_FM_DAEMON), add(&wd, CT_KERNEL);
			wd.variants[0] = (struct variant){"mmap+munmap", "mmap-munmap", MC_MMAP_MUNMAP, 1};
			wd.variants[1] = (struct variant){"mprotect", "mprotect", MC_MPROTECT, 1};
			wd.variants[2] = (struct variant){"mremap", "mremap", MC_MREMAP, 1};
			wd.variants[3] = (struct variant){"msync(MS_ASYNC)", "msync-async", MC_MSYNC_ASYNC, 1};
			wd.nvariants = 4;
			break;
		default:
			break;
		}
		if (!f)
			f = get_file(false, wd.file_size, w == W_WRITE);
		job.path = f->path;
		job.file_bytes = f->size;
		job.budget = wd.budget;
		job.expect_sum = f->sum;
		say("== %s\n   cache: %s\n   hints: %s\n", wd.title, wd.cache, wd.hint);
		if (wd.note[0])
			say("   note: %s\n", wd.note);
		for (int v = 0; v < wd.nvariants; v++)
			run_variant(&wd, &wd.variants[v], &job, f);
		free(seq);
		say("  (workload %s took %.0f s)\n", workload_label(w), now_sec() - tw);
	}

	double total = now_sec() - t_start;
	say("\ntotal time: %.0f s (%.1f min)\n", total, total / 60);
	if (csv) {
		fclose(csv);
		say("results: %s/results.csv, %s/results.txt (this table)\n", opt.out_dir,
		    opt.out_dir);
	}
	remove_files();
	cg_teardown(&cg);

	if (opt.no_plot) {
		say("plots: skipped (--no-plot)\n");
	} else if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
		say("plots: skipped: gnuplot not found (install Debian's gnuplot-nox)\n");
	} else if (access(opt.plot_script, R_OK) != 0) {
		say("plots: skipped: %s not found (run from the source tree, or "
		       "--plot-script)\n", opt.plot_script);
	} else if (csv) {
		char cmd[1400];
		snprintf(cmd, sizeof(cmd), "sh '%s' '%s/results.csv' '%s'", opt.plot_script,
			 opt.out_dir, opt.out_dir);
		int rc = system(cmd);
		if (rc != 0)
			say("plots: %s failed (status %d)\n", opt.plot_script, rc);
	}
	if (exit_status) {
		say("\nFAILED: a contender crashed, hung or failed a data check:\n");
		for (unsigned i = 0; i < nfailures && i < sizeof(failures) / sizeof(failures[0]); i++)
			say("  %s\n", failures[i]);
		if (nfailures > sizeof(failures) / sizeof(failures[0]))
			say("  (and %u more)\n", nfailures - (unsigned)(sizeof(failures) / sizeof(failures[0])));
	}
	if (txt)
		fclose(txt);
	return exit_status;
}
