# lib.sh - shared functions for the real-program tests (tests/programs).
#
# Each test runs one workload twice, once on the kernel and once under
# `faultmap run --budget SIZE` with a budget smaller than its data, compares
# outputs (and resulting files) byte for byte, and proves from the
# FAULTMAP_STATS_FILE lines that the faultmap run really went through
# faultmap's cache (pages read, evictions...).
#
# Usage, in a test:
#     . "$(dirname "$0")/lib.sh"
#     need_cmd sqlite3
#     setup                      # $WORK: fresh dir on disk, removed at exit
#     cd "$WORK/kern" && run_kernel CMD ARGS... >"$WORK/kern.out"
#     cd "$WORK/fm"   && run_fm 256K CMD ARGS... >"$WORK/fm.out"
#     same_output "$WORK/kern.out" "$WORK/fm.out" "what it is"
#     expect_stat pages_read -gt 0
#     expect_stat evictions -gt 0
#
# Both runs use the same relative paths (run each in its own directory), so
# that outputs naming files can be compared. Environment: FAULTMAP_BUILD, the
# absolute build directory (holds faultmap and libfaultmap-preload.so).
set -u

_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
FM=${FAULTMAP_BUILD:-}/faultmap
WORK=
STATS=
STATS_ALL=()
RUN_OPTS=()
_fm_runs=0

# skip MSG - the test cannot run here: exit 77 with MSG as the last line.
skip() {
	echo "skip: $*"
	exit 77
}

# fail MSG - the test failed.
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# note MSG - progress, to stderr (shown by run.sh on failure).
note() {
	echo "# $*" >&2
}

# need_cmd CMD [PACKAGE] - skip unless CMD is installed.
need_cmd() {
	command -v "$1" >/dev/null 2>&1 || skip "$1 not installed (apt-get install ${2:-$1})"
}

# need_py MODULE PACKAGE - skip unless /usr/bin/python3 can import MODULE.
need_py() {
	[ -x "$PY" ] || skip "$PY not installed (apt-get install python3)"
	"$PY" -c "import $1" 2>/dev/null || skip "python3 module $1 not installed (apt-get install $2)"
}

# setup - check the build, make $WORK (with kern/ and fm/ in it) under
# $FAULTMAP_BUILD, on disk (tmpfs files are passed through to the kernel),
# removed at exit.
setup() {
	case ${FAULTMAP_BUILD:-} in
	/*) ;;
	*) fail "FAULTMAP_BUILD must be the absolute build directory (got '${FAULTMAP_BUILD:-}')" ;;
	esac
	[ -x "$FM" ] || fail "$FM not built (make all)"
	[ -e "$FAULTMAP_BUILD/libfaultmap-preload.so" ] ||
		fail "$FAULTMAP_BUILD/libfaultmap-preload.so not built (make all)"
	if [ "$(id -u)" != 0 ] && [ "$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null)" != 1 ] &&
		! { [ -r /dev/userfaultfd ] && [ -w /dev/userfaultfd ]; }; then
		skip "no userfaultfd permission (run as root, or sysctl vm.unprivileged_userfaultfd=1)"
	fi
	WORK=$(mktemp -d -p "$FAULTMAP_BUILD" programs-test.XXXXXX) || fail "mktemp -d -p $FAULTMAP_BUILD"
	# FM_KEEP=1 keeps it, to look at after a failure.
	trap '_finish' EXIT
	case $(stat -f -c %T "$WORK") in
	tmpfs | ramfs) skip "$FAULTMAP_BUILD is on tmpfs; faultmap passes tmpfs files to the kernel" ;;
	esac
	mkdir -p "$WORK/kern" "$WORK/fm" "$WORK/stats" || fail "mkdir in $WORK"
	# Keep what the programs see the same in both runs.
	unset LD_PRELOAD FAULTMAP_STATS_FILE FAULTMAP_BUDGET
	export LC_ALL=C TZ=UTC HOME="$WORK/home"
	mkdir -p "$HOME"
	cd "$WORK" || fail "cd $WORK"
}

# use_daemon - from now on, faultmap runs are in daemon mode, with a
# daemon of this test's own (a private runtime directory), started on
# demand by the first run (with that run's --budget) and stopped at the end;
# its log is shown then.
use_daemon() {
	export XDG_RUNTIME_DIR=$WORK/runtime FAULTMAP_MODE=daemon
	mkdir -m 700 "$XDG_RUNTIME_DIR" || fail "mkdir $XDG_RUNTIME_DIR"
	_daemon=1
}

_finish() {
	local rc=$?
	if [ -n "${_daemon:-}" ]; then
		"$FM" daemon --stop >&2 || rc=1
		if [ -s "$XDG_RUNTIME_DIR/faultmap/daemon.log" ]; then
			echo "# the daemon's log:" >&2
			sed 's/^/#   /' "$XDG_RUNTIME_DIR/faultmap/daemon.log" >&2
		fi
	fi
	cd /
	if [ ${#STATS_ALL[@]} -gt 0 ]; then
		echo "# faultmap stats lines:" >&2
		cat "${STATS_ALL[@]}" | sed 's/^/#   /' >&2
	fi
	if [ -n "${FM_KEEP:-}" ]; then
		echo "# kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit $rc
}

# build_c SRC [CC_FLAGS...] - compile SRC (a C program beside lib.sh) into
# $WORK/prog; skip without a C compiler.
build_c() {
	need_cmd cc gcc
	local src=$1
	shift
	cc -O2 "$@" -o "$WORK/prog" "$_LIB_DIR/$src" || fail "cc $src"
}

# gen_files NAME SIZE SEED - gen_file of $WORK/kern/NAME, copied to
# $WORK/fm/NAME: the same input for both runs.
gen_files() {
	gen_file "$WORK/kern/$1" "$2" "$3"
	cp "$WORK/kern/$1" "$WORK/fm/$1" || fail "cp $1"
}

# same_file NAME - fail unless both runs left the same $WORK/{kern,fm}/NAME.
same_file() {
	same_output "$WORK/kern/$1" "$WORK/fm/$1" "$1 after the run"
}

# run_both BUDGET CMD ARGS... - run CMD on the kernel in $WORK/kern (its
# output in $WORK/kern.out), then under `faultmap run --budget BUDGET` in
# $WORK/fm ($WORK/fm.out, also shown on stderr); fail unless the outputs
# are the same. The current directory is $WORK/fm after.
run_both() {
	local budget=$1
	shift
	cd "$WORK/kern" && run_kernel "$@" >"$WORK/kern.out"
	cd "$WORK/fm" && run_fm "$budget" "$@" >"$WORK/fm.out"
	cat "$WORK/fm.out" >&2
	same_output "$WORK/kern.out" "$WORK/fm.out" "the program's output"
}

# run_kernel CMD ARGS... - run CMD on the kernel in the current directory;
# fail if it fails. Its stdout and stderr are the caller's.
run_kernel() {
	env -u LD_PRELOAD -u FAULTMAP_STATS_FILE -u FAULTMAP_BUDGET -u FAULTMAP_MODE "$@"
	local rc=$?
	[ $rc -eq 0 ] || fail "kernel run failed (exit $rc): $*"
}

# run_fm BUDGET CMD ARGS... - run CMD under `faultmap run --budget BUDGET`
# (and the options in the array RUN_OPTS, if set) in the current directory, with FAULTMAP_STATS_FILE set to a fresh file,
# left in $STATS (and added to the array STATS_ALL); fail if it fails.
run_fm() {
	local budget=$1
	shift
	_fm_runs=$((_fm_runs + 1))
	STATS=$WORK/stats/run$_fm_runs
	: >"$STATS"
	STATS_ALL+=("$STATS")
	FAULTMAP_STATS_FILE=$STATS "$FM" run --budget "$budget" ${RUN_OPTS[@]+"${RUN_OPTS[@]}"} -- "$@"
	local rc=$?
	[ $rc -eq 0 ] || fail "faultmap run --budget $budget failed (exit $rc): $*"
}

# stat_sum FIELD [FILE...] - sum of FIELD over every stats line of the
# files (default: the last run's $STATS).
stat_sum() {
	local field=$1
	shift
	[ $# -gt 0 ] || set -- "$STATS"
	cat "$@" | awk -v f="$field" '
		/^stats / { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) s += kv[2] } }
		END { printf "%d\n", s }'
}

# stat_max FIELD [FILE...] - the largest value of FIELD over the lines.
stat_max() {
	local field=$1
	shift
	[ $# -gt 0 ] || set -- "$STATS"
	cat "$@" | awk -v f="$field" '
		/^stats / { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f && kv[2] + 0 > m) m = kv[2] + 0 } }
		END { printf "%d\n", m }'
}

# expect_stat FIELD OP VALUE [FILE...] - assert that the sum of FIELD over
# the stats lines (default: the last run's) satisfies `test SUM OP VALUE`.
expect_stat() {
	local field=$1 op=$2 value=$3
	shift 3
	[ $# -gt 0 ] || set -- "$STATS"
	local sum
	sum=$(stat_sum "$field" "$@")
	if ! test "$sum" "$op" "$value"; then
		echo "stats lines:" >&2
		cat "$@" | sed 's/^/    /' >&2
		fail "faultmap stats: sum of $field is $sum, expected $op $value"
	fi
}

# expect_served BUDGET_BYTES [FILE...] - the faultmap run went through
# faultmap: at least one process appended a stats line, with the budget
# asked for, and faultmap read pages into its cache.
expect_served() {
	local budget=$1
	shift
	[ $# -gt 0 ] || set -- "$STATS"
	if ! grep -q '^stats ' "$@"; then
		fail "no process wrote a stats line: the program did not map a file through faultmap"
	fi
	local b
	for b in $(cat "$@" | grep '^stats ' | sed 's/.* budget=\([0-9]*\).*/\1/'); do
		[ "$b" = "$budget" ] || fail "a stats line has budget=$b, expected $budget"
	done
	expect_stat pages_read -gt 0 "$@"
}

# same_output KERNEL FAULTMAP WHAT - the two files are byte-for-byte equal.
same_output() {
	local k=$1 f=$2 what=$3
	[ -e "$k" ] || fail "$what: $k missing"
	[ -e "$f" ] || fail "$what: $f missing"
	if ! cmp -s "$k" "$f"; then
		echo "$what differs between the kernel (<) and faultmap (>) runs:" >&2
		echo "    sizes: $(stat -c %s "$k") vs $(stat -c %s "$f") bytes; $(cmp "$k" "$f" 2>&1 | head -n 1)" >&2
		if [ "$(head -c 65536 "$k" | tr -d '\0' | wc -c)" = "$(head -c 65536 "$k" | wc -c)" ]; then
			diff "$k" "$f" | head -n 20 | sed 's/^/    /' >&2
		fi
		fail "$what differs"
	fi
}

# size_of FILE - its size in bytes.
size_of() {
	stat -c %s "$1"
}

# gen_file PATH BYTES SEED - deterministic, incompressible bytes.
gen_file() {
	"$PY" - "$1" "$2" "$3" <<'EOF' || fail "gen_file $1"
import hashlib, sys
path, n, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "wb") as f:
    i = 0
    while n > 0:
        block = b"".join(hashlib.sha256(f"{seed}:{i}:{j}".encode()).digest() for j in range(128))
        f.write(block[:n])
        n -= len(block[:n])
        i += 1
EOF
}

# start_nbdkit FILE SOCKET - serve FILE as an NBD export on the Unix socket
# SOCKET (nbdkit's file plugin, writes to FILE), stopped at exit; skip
# without nbdkit. Its pid in $NBDKIT_PID.
NBDKIT_PID=
start_nbdkit() {
	need_cmd nbdkit
	nbdkit --foreground --exit-with-parent -U "$2" file file="$1" </dev/null >"$WORK/nbdkit.log" 2>&1 &
	NBDKIT_PID=$!
	trap 'rc=$?; _stop_servers; (exit $rc); _finish' EXIT
	local i
	for i in $(seq 300); do
		[ -S "$2" ] && return 0
		kill -0 "$NBDKIT_PID" 2>/dev/null || { cat "$WORK/nbdkit.log" >&2; skip "nbdkit exited before serving"; }
		sleep 0.1
	done
	fail "nbdkit did not serve $2 in 30 s"
}

# mount_export ORIG MODE - the next runs in MODE (embedded or daemon) on
# a fresh copy of ORIG ($WORK/export.img), served by nbdkit and mounted at
# $WORK/mnt/disk.img (RUN_OPTS).
mount_export() {
	note "mode $2"
	[ "$2" = daemon ] && [ -z "${_daemon:-}" ] && use_daemon
	cp "$1" "$WORK/export.img" || fail "cp"
	rm -f "$WORK/nbd.sock"
	start_nbdkit "$WORK/export.img" "$WORK/nbd.sock"
	RUN_OPTS=(--"$2" --mount "$WORK/mnt/disk.img=nbd+unix:///?socket=$WORK/nbd.sock")
}

# stop_nbdkit - stop the nbdkit of start_nbdkit, if it runs.
stop_nbdkit() {
	if [ -n "$NBDKIT_PID" ]; then
		kill "$NBDKIT_PID" 2>/dev/null
		wait "$NBDKIT_PID" 2>/dev/null
		NBDKIT_PID=
	fi
}

# start_ceph [rgw] - a single-node Ceph cluster of this test's own
# (scripts/ceph-dev.sh, no manager) in $WORK/ceph, stopped at exit;
# CEPH_CONF exported, pool "fm". With rgw, radosgw too, its endpoint and
# keys exported (FAULTMAP_S3_ENDPOINT, AWS_*: DIR/s3.env). Skip (77, with
# the reason) when Ceph (or radosgw, curl) is not installed or the cluster
# cannot start.
CEPH_DIR=
start_ceph() {
	command -v ceph-osd >/dev/null && command -v rados >/dev/null ||
		skip "Ceph is not installed (Debian packages ceph librados-dev)"
	local rgw=0
	if [ "${1:-}" = rgw ]; then
		command -v radosgw >/dev/null && command -v curl >/dev/null ||
			skip "radosgw or curl is not installed (Debian packages radosgw curl)"
		rgw=1
	fi
	CEPH_DIR=$WORK/ceph
	trap 'rc=$?; _stop_servers; (exit $rc); _finish' EXIT
	if ! CEPH_DEV_MGR=0 CEPH_DEV_RGW=$rgw CEPH_DEV_PARENT=$$ \
		"$_LIB_DIR/../../scripts/ceph-dev.sh" up "$CEPH_DIR" >"$WORK/ceph-dev.out" 2>&1; then
		cat "$WORK/ceph-dev.out" >&2
		skip "the Ceph cluster could not start (scripts/ceph-dev.sh up)"
	fi
	export CEPH_CONF=$CEPH_DIR/ceph.conf
	if [ $rgw = 1 ]; then
		set -a
		. "$CEPH_DIR/s3.env"
		set +a
	fi
}

# mode_pool MODE PREFIX - the next runs in MODE (embedded or daemon), on
# a new pool PREFIX-MODE of the cluster of start_ceph, its name in $pool.
mode_pool() {
	note "mode $1"
	[ "$1" = daemon ] && [ -z "${_daemon:-}" ] && use_daemon
	pool=$2-$1
	ceph osd pool create "$pool" 8 8 >/dev/null 2>&1 || fail "ceph osd pool create $pool"
}

# s3 METHOD PATH [CURL_ARGS...] - an S3 request to radosgw (start_ceph
# rgw), signed with its keys; fails on an HTTP error.
s3() {
	local method=$1 path=$2
	shift 2
	curl -sS --fail -X "$method" --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@" "$FAULTMAP_S3_ENDPOINT$path"
}

# s3_user_steps CMD... - run CMD (a script of an S3 test, its last argument
# the fifo $WORK/fifo), its output in $WORK/step.out, answering each of
# its waits on the fifo (after it prints "ready", then "ready again" at
# each next one) after the step of $STEPS (default: "suspend enable"):
# with $SUSPEND set, suspend the S3 user fm with radosgw-admin (every
# request refused, 403) or enable it again. Fails if CMD fails, or ends
# before a step's "ready" or without reading its answer (never waits on
# the fifo for a script that has ended).
s3_user_steps() {
	rm -f "$WORK/fifo" && mkfifo "$WORK/fifo" || fail "mkfifo"
	# Emptied here, not by CMD's redirection: the background shell does
	# that when it runs, maybe after the first count below, which would
	# take an earlier run's "ready" lines for this one's.
	: >"$WORK/step.out" || fail "emptying $WORK/step.out"
	"$@" "$WORK/fifo" >>"$WORK/step.out" &
	local pid=$! state n=0
	for state in ${STEPS:-suspend enable}; do
		n=$((n + 1))
		while [ "$(grep -c -E '^ready( again)?$' "$WORK/step.out")" -lt $n ]; do
			kill -0 $pid 2>/dev/null || fail "the script ended early"
			sleep 0.1
		done
		if [ -n "${SUSPEND:-}" ]; then
			radosgw-admin -c "$CEPH_CONF" -n client.rgw.x user $state --uid=fm >/dev/null 2>&1 ||
				fail "radosgw-admin user $state"
		fi
		answer_fifo "$WORK/fifo" $pid
	done
	wait $pid || fail "the script failed"
}

# answer_fifo FIFO PID - write a line into FIFO once process PID opens
# it to read; fail if PID ends first. Each try opens FIFO without
# blocking (ENXIO while it has no reader): a bare `echo >FIFO` waits for
# a reader forever.
answer_fifo() {
	until echo | dd of="$1" oflag=nonblock conv=notrunc status=none 2>/dev/null; do
		kill -0 "$2" 2>/dev/null || fail "the script ended without reading its answer"
		sleep 0.1
	done
}

# s3_refused_runs SCRIPT HOW - the faultmap runs of an S3 refusal test,
# after the kernel's (its output in $WORK/kern.out, its file $WORK/kern/obj):
# in each mode (embedded, then daemon: use_daemon), with the object
# fmbucket/obj deleted first, `$PY SCRIPT HOW refused $WORK/mnt/obj` under
# faultmap run --mount $WORK/mnt=s3://fmbucket (a 256K budget), its waits
# answered by s3_user_steps with the user suspended and enabled ($STEPS).
# Its output must be the kernel's, and the object, fetched with curl
# once it exited, the kernel's file.
s3_refused_runs() {
	local script=$1 how=$2 mode
	for mode in embedded daemon; do
		note "mode $mode, ending with $how"
		[ $mode = daemon ] && [ -z "${_daemon:-}" ] && use_daemon
		s3 DELETE /fmbucket/obj >/dev/null || fail "DELETE obj"
		RUN_OPTS=(--$mode --mount "$WORK/mnt=s3://fmbucket")
		cd "$WORK/fm" || fail "cd"
		SUSPEND=1 s3_user_steps run_fm 256K "$PY" "$script" "$how" refused "$WORK/mnt/obj"
		cat "$WORK/step.out" >&2
		same_output "$WORK/kern.out" "$WORK/step.out" "the script's output ($mode, $how)"
		s3 GET /fmbucket/obj -o "$WORK/back" || fail "GET obj ($mode, $how)"
		cmp "$WORK/kern/obj" "$WORK/back" >&2 || fail "the object is not the kernel's file ($mode, $how)"
	done
}

_stop_servers() {
	stop_nbdkit
	if [ -n "$CEPH_DIR" ]; then
		"$_LIB_DIR/../../scripts/ceph-dev.sh" down "$CEPH_DIR" >/dev/null 2>&1
		CEPH_DIR=
	fi
}

# sqlite_journal_case TRANSACTIONS ROWS - the sqlite3 rollback-journal
# case of the mount tests, and the kernel's answers to it: $WORK/fill.sql
# (a table filled by TRANSACTIONS transactions of ROWS rows, an index, an
# update, a delete, a rolled back delete of everything), $WORK/crash.py DB
# (a transaction that spills changed pages into the database, a 5-page
# cache, and dies in it: a hot journal), SQLITE_QUERY (run by the next
# sqlite3, which rolls the journal back); run on the local file
# $WORK/kern/db under the kernel: $WORK/kern.out, $WORK/kern.dump (the
# database's .dump). Fails unless the kernel's run left a hot journal and
# rolled it back, in journal mode delete. Leaves the current directory
# $WORK/kern.
sqlite_journal_case() {
	local n=$1 rows=$2 i
	{
		echo "PRAGMA journal_mode;"
		echo "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);"
		for i in $(seq 0 $((n - 1))); do
			echo "WITH RECURSIVE n(i) AS (SELECT $((i * rows + 1)) UNION ALL SELECT i + 1 FROM n WHERE i < $((i * rows + rows)))"
			echo "INSERT INTO t(k, v) SELECT (i * 7919) % 1000, printf('row %d %s', i, hex(i * i)) FROM n;"
		done
		echo "CREATE INDEX tk ON t(k);"
		echo "UPDATE t SET v = v || ' updated' WHERE k % 3 = 0;"
		echo "DELETE FROM t WHERE k % 7 = 0;"
		echo "BEGIN; DELETE FROM t; ROLLBACK;"
		echo "SELECT count(*), sum(k), max(length(v)) FROM t;"
	} >"$WORK/fill.sql"
	SQLITE_QUERY="SELECT count(*) FROM t WHERE v LIKE 'crashed%';
SELECT k, count(*), min(id), max(v) FROM t WHERE k BETWEEN 100 AND 110 GROUP BY k;
PRAGMA integrity_check;"
	cat >"$WORK/crash.py" <<'PY'
import os, sqlite3, sys
db = sys.argv[1]
c = sqlite3.connect(db, isolation_level=None)
c.execute("PRAGMA cache_size=5")
c.execute("BEGIN")
c.execute("UPDATE t SET v = 'crashed ' || v")
print("journal during the transaction:", os.path.exists(db + "-journal"))
sys.stdout.flush()
os._exit(0)  # no rollback, no unlink: a hot journal
PY
	cd "$WORK/kern" || fail "cd"
	run_kernel sqlite3 db <"$WORK/fill.sql" >"$WORK/kern.out"
	run_kernel "$PY" "$WORK/crash.py" db >>"$WORK/kern.out"
	[ -e db-journal ] || fail "the kernel run left no hot journal: the test checks nothing"
	run_kernel sqlite3 db "$SQLITE_QUERY" >>"$WORK/kern.out"
	if [ -e db-journal ]; then fail "the kernel run kept its journal"; fi
	run_kernel sqlite3 db .dump >"$WORK/kern.dump"
	cat "$WORK/kern.out" >&2
	grep -qx delete "$WORK/kern.out" || fail "sqlite3's default journal mode is not delete"
}

# listing_files DIR - make DIR and in it the files the listing tests put in
# their store as objects (names with a space, '&', '<', '>' and a quote, an
# empty one, one of 200000 bytes), mode 0644 (an object's).
listing_files() {
	local d=$1
	mkdir -p "$d" || fail "mkdir $d"
	printf alpha >"$d/alpha"
	gen_file "$d/big" 200000 listing
	printf abc >"$d/with space"
	printf 1234 >"$d/amp&ersand"
	printf x >"$d/a<b>c"
	printf 12 >"$d/it's"
	: >"$d/dots.in.name"
	chmod 644 "$d"/* || fail "chmod"
}

# listing_case - the workload of the listing tests, $WORK/listing.sh DIR
# PROG (ls -1, ls -a, ls -ln, a bash glob and stat of it, find, Python's
# os.listdir, os.scandir (of the path and of an fd), glob and os.walk,
# mount_dir.c as PROG; files made by redirections and removed by rm,
# listed again), and the kernel's run of it on the local directory
# $WORK/kern/d holding listing_files: $WORK/kern.out. Builds PROG
# ($WORK/prog). Leaves the current directory $WORK/kern.
listing_case() {
	build_c mount_dir.c
	cat >"$WORK/listing.py" <<'PY'
import glob, os, sys
d = sys.argv[1]
print("os.listdir", sorted(os.listdir(d)))
print("os.scandir", sorted((e.name, e.is_file(), e.is_dir(), e.stat().st_size) for e in os.scandir(d)))
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
print("os.listdir(fd)", sorted(os.listdir(fd)))
with os.scandir(fd) as it:
    print("os.scandir(fd)", sorted((e.name, e.is_file(), e.stat().st_size) for e in it))
os.close(fd)
print("glob", sorted(os.path.basename(p) for p in glob.glob(d + "/*")))
print("os.walk", [(r, sorted(ds), sorted(fs)) for r, ds, fs in os.walk(d)])
PY
	cat >"$WORK/listing.sh" <<'SH'
d=$1 prog=$2
/usr/bin/printf 'made through the mount\n' >"$d/made" || echo "redirection failed"
head -c 10000 /dev/zero >"$d/zeros" || echo "head failed"
echo "ls -1:"; ls -1 "$d"
echo "ls -a:"; ls -a "$d"
echo "ls -ln:"; ls -ln --time-style=+X "$d" | sed 1d
echo "a bash glob:"; for f in "$d"/*; do echo "$f"; done
echo "stat of it:"; stat -c '%s %F %n' "$d"/*
echo "find -type f:"; find "$d" -type f | sort
echo "find:"; find "$d" | sort
/usr/bin/python3 "${0%.sh}.py" "$d"
"$prog" "$d" new
rm "$d/made" || echo "rm failed"
echo "after rm, ls -1:"; ls -1 "$d"
/usr/bin/python3 -c 'import os, sys; print("after rm, os.listdir", sorted(os.listdir(sys.argv[1])))' "$d"
SH
	listing_files "$WORK/kern/d"
	cd "$WORK/kern" && run_kernel bash "$WORK/listing.sh" d "$WORK/prog" >"$WORK/kern.out"
	grep -q "^after rm, ls -1:" "$WORK/kern.out" || fail "the kernel's run did not finish"
}
