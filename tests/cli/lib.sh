# lib.sh - sourced by the CLI tests (tests/cli/test_*.sh): where things are,
# a scratch directory under the build directory, and small checks.
# Each test: exit 0 pass, 77 skip, anything else fail.
set -u
: "${FAULTMAP_BUILD:?set FAULTMAP_BUILD to the absolute build directory}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FM=$FAULTMAP_BUILD/faultmap
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1 # tests/cli/json_schema.py is imported from the tree
[ -x "$FM" ] || { echo "no $FM: run make first"; exit 1; }
TMP=$(mktemp -d -p "$FAULTMAP_BUILD" cli-test.XXXXXX)
PIDS=()
# root_daemon_runs - whether root's own daemon runs (the runtime directory
# root's programs use without XDG_RUNTIME_DIR): its lock is held.
root_daemon_runs() {
	local d
	for d in /run/user/0/faultmap /run/faultmap; do
		[ -e "$d/daemon.lock" ] && ! flock -n "$d/daemon.lock" true && return 0
	done
	return 1
}
# A test that runs a program as root without XDG_RUNTIME_DIR (or a setuid
# one) starts root's own daemon: cleanup stops it, unless it ran before.
ROOT_DAEMON_BEFORE=0
[ "$(id -u)" -eq 0 ] && root_daemon_runs && ROOT_DAEMON_BEFORE=1
cleanup() {
	touch "$TMP/stop" 2>/dev/null
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	# A daemon of a runtime directory of the test's own goes with it.
	case ${XDG_RUNTIME_DIR:-} in
	"$TMP"/*) [ -S "$XDG_RUNTIME_DIR/faultmap/daemon.sock" ] && "$FM" daemon --stop >/dev/null 2>&1 ;;
	esac
	if [ "$(id -u)" -eq 0 ] && [ "$ROOT_DAEMON_BEFORE" = 0 ] && root_daemon_runs; then
		env -u XDG_RUNTIME_DIR "$FM" daemon --stop >/dev/null 2>&1
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

# expect_exit CODE CMD... - run CMD, its stdout+stderr into $TMP/out; fail
# unless it exits with CODE.
expect_exit() {
	local want=$1; shift
	"$@" >"$TMP/out" 2>&1
	local rc=$?
	[ "$rc" -eq "$want" ] || { cat "$TMP/out"; fail "'$*' exited $rc, expected $want"; }
}

# expect_out PATTERN - the last output matches the extended regex.
expect_out() {
	grep -Eq -- "$1" "$TMP/out" || { cat "$TMP/out"; fail "output lacks /$1/"; }
}

# build_mapper - compile fm_mapper.c (libfaultmap.a, no interposer) into
# $MAPPER, and an empty library into $EMPTY_SO (a preload that does nothing,
# for run and trace of a program that has the engine built in). For a
# sanitizer build directory set FM_CLI_CC and FM_CLI_CFLAGS to match it.
build_mapper() {
	MAPPER=$TMP/fm-mapper
	EMPTY_SO=$TMP/empty.so
	# shellcheck disable=SC2086
	${FM_CLI_CC:-cc} ${FM_CLI_CFLAGS:-} -D_GNU_SOURCE -std=c11 -I"$ROOT/include" "$ROOT/tests/cli/fm_mapper.c" \
		"$FAULTMAP_BUILD/libfaultmap.a" -luring -lpthread -o "$MAPPER" || fail "cannot build fm_mapper"
	echo 'int fm_cli_test_empty;' | cc -shared -fPIC -x c - -o "$EMPTY_SO" || fail "cannot build empty.so"
}

# start_bg LOG CMD... - start CMD in the background, output to LOG, and wait
# (10 s at most) for its "ready" line; skips if it exits 77. Sets BG_PID.
start_bg() {
	local log=$1; shift
	"$@" >"$log" 2>&1 &
	BG_PID=$!
	PIDS+=("$BG_PID")
	for _ in $(seq 200); do
		grep -q '^ready' "$log" 2>/dev/null && return 0
		if ! kill -0 "$BG_PID" 2>/dev/null; then
			wait "$BG_PID"; local rc=$?
			[ "$rc" -eq 77 ] && { tail -n 1 "$log"; exit 77; }
			cat "$log"; fail "'$*' exited $rc before it was ready"
		fi
		sleep 0.05
	done
	cat "$log"; fail "'$*' not ready after 10 s"
}

# start_published_mapper [OPTION...] - build fm_mapper and start it (with
# the options, e.g. --read) on $TMP with FAULTMAP_PUBLISH=1 and a private
# XDG_RUNTIME_DIR ($TMP/run); it waits for $TMP/stop. Sets BG_PID.
start_published_mapper() {
	build_mapper
	mkdir -m 0700 "$TMP/run"
	export XDG_RUNTIME_DIR=$TMP/run
	FAULTMAP_PUBLISH=1 start_bg "$TMP/mapper.log" "$MAPPER" "$@" "$TMP"
}

# stat_until PATTERN [OPTION...] - run faultmap stat (with the options)
# into $TMP/out until its output matches the extended regex PATTERN: the
# segments are refreshed every 200 ms, so the counters of what a program did
# before it said "ready" show up soon after. Fails after 20 s.
stat_until() {
	local pattern=$1; shift
	for _ in $(seq 200); do
		"$FM" stat "$@" >"$TMP/out" 2>&1 && grep -Eq -- "$pattern" "$TMP/out" && return 0
		sleep 0.1
	done
	cat "$TMP/out"; fail "faultmap stat $* never showed /$pattern/"
}

# require_interposer - the preload library must export mmap.
require_interposer() {
	local so=$FAULTMAP_BUILD/libfaultmap-preload.so
	[ -f "$so" ] || fail "no $so"
	nm -D --defined-only "$so" | grep -qw mmap || fail "$so does not export mmap yet"
	if nm -D --undefined-only "$so" | grep -Eq ' U __(asan|tsan)_init'; then
		echo "skip: a sanitizer build of the interposer cannot be preloaded into $PY"
		exit 77
	fi
	[ -x "$PY" ] || { echo "skip: no $PY"; exit 77; }
}

# mapper.py - a Python program that maps FILE (64 pages) shared, reads every
# other page, writes one byte, says "ready", and waits for STOP if given.
MAPPER_PY='
import mmap, os, sys, time
path = sys.argv[1]
with open(path, "wb") as f:
    f.write(b"x" * 64 * 4096)
f = open(path, "r+b")
m = mmap.mmap(f.fileno(), 0)
s = sum(m[i * 4096] for i in range(0, 64, 2))
m[0:1] = b"y"
print("ready", s, flush=True)
stop = sys.argv[2] if len(sys.argv) > 2 else None
while stop and not os.path.exists(stop):
    time.sleep(0.05)
m.close()
'

# require_second_user - skip unless this runs as root with setpriv, which
# the tests use to act as another user: as_nobody CMD... runs CMD as
# nobody:nogroup.
require_second_user() {
	[ "$(id -u)" -eq 0 ] || { echo "skip: needs root to act as a second user"; exit 77; }
	command -v setpriv >/dev/null || { echo "skip: no setpriv"; exit 77; }
	nobody_reaches_build || { echo "skip: nobody cannot reach $FM (a parent directory of the tree is closed to other users, as mktemp -d makes it)"; exit 77; }
}
# nobody_reaches_build - whether nobody can run the build's faultmap.
nobody_reaches_build() { as_nobody test -x "$FM"; }
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

# rules_ns DIR CMD... - run CMD as nobody (as_nobody) in a private mount
# namespace where each of the directories in which faultmap looks for its
# installed udev rule (src/uffd.c) that exists is DIR: with an empty DIR no
# rule is installed, with the rule in DIR it is (udev outside sees nothing).
rules_ns() {
	command -v unshare >/dev/null || { echo "skip: no unshare"; exit 77; }
	unshare -m sh -c 'd=$1; shift
		for r in /etc/udev/rules.d /run/udev/rules.d /usr/local/lib/udev/rules.d \
			/usr/lib/udev/rules.d /lib/udev/rules.d; do
			[ -d "$r" ] && { mount --bind "$d" "$r" || exit 125; }
		done
		exec setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"' sh "$@"
}

# shared_dir NAME MODE [FILE...] - make D, a fresh directory
# /tmp/faultmap-NAME.XXXXXX of mode MODE (the build tree may be out of
# another user's reach), with copies of FILE... (mode 0755), removed at
# exit (after a "stop" file is put in it, for a mapper that waits on one).
# With FILEs, a copy of faultmap goes there too: a program copied there
# (run as another user, or setuid) finds its daemon beside it, as an
# installed program finds $LIBDIR/faultmap/faultmap; the daemons started
# from it (other users') are stopped at exit (SIGTERM: they write back
# first). Without, D can be a runtime directory (D/faultmap is its own).
shared_dir() {
	local name=$1 mode=$2 f
	shift 2
	D=$(mktemp -d "/tmp/faultmap-$name.XXXXXX") || fail "mktemp -d /tmp/faultmap-$name.XXXXXX"
	trap 'touch "$D/stop"; cleanup; stop_shared_daemons; rm -rf "$D"' EXIT
	chmod "$mode" "$D" || fail "chmod $mode $D"
	[ $# -gt 0 ] && set -- "$@" "$FM"
	for f in "$@"; do
		cp "$f" "$D/" && chmod 0755 "$D/${f##*/}" || fail "cp $f $D/"
	done
}
# setuid_dir - skip unless this can act as a second user; build fm_mapper
# and copy it (with faultmap) into D (shared_dir suid 0755), owned by root,
# on a file system that honours setuid.
setuid_dir() {
	require_second_user
	build_mapper
	shared_dir suid 0755 "$MAPPER"
	findmnt -n -o OPTIONS -T "$D" | grep -qw nosuid && { echo "skip: $D is nosuid"; exit 77; }
	chown root:root "$D/fm-mapper" "$D/faultmap" || fail "chown root $D"
}
stop_shared_daemons() {
	pkill -TERM -f "^$D/faultmap daemon" 2>/dev/null || return 0
	for _ in $(seq 100); do
		pgrep -f "^$D/faultmap daemon" >/dev/null || return 0
		sleep 0.1
	done
	pkill -KILL -f "^$D/faultmap daemon"
}

# require_nobody_denied - skip unless nobody may not use userfaultfd here
# (vm.unprivileged_userfaultfd=0, a /dev/userfaultfd that nobody cannot open).
require_nobody_denied() {
	[ "$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null)" = 0 ] ||
		{ echo "skip: vm.unprivileged_userfaultfd is not 0"; exit 77; }
	[ -c /dev/userfaultfd ] || { echo "skip: no /dev/userfaultfd"; exit 77; }
	as_nobody test -r /dev/userfaultfd && { echo "skip: nobody may open /dev/userfaultfd"; exit 77; }
	return 0
}

# group_node DIR - a /dev/userfaultfd node in DIR of group $UFFD_GID, mode
# 0660 (what contrib/60-faultmap-userfaultfd.rules makes); then
# in_group_ns CMD... runs CMD in a private mount namespace where that node
# is /dev/userfaultfd, and as_member CMD... runs CMD there as nobody with
# that group. Skips where this cannot be set up.
UFFD_GID=4242
group_node() {
	command -v unshare >/dev/null || { echo "skip: no unshare"; exit 77; }
	[ -c /dev/userfaultfd ] || { echo "skip: no /dev/userfaultfd"; exit 77; }
	UFFD_NODE=$1/uffd
	mknod "$UFFD_NODE" c "$((16#$(stat -c %t /dev/userfaultfd)))" "$((16#$(stat -c %T /dev/userfaultfd)))" || fail "mknod"
	chgrp "$UFFD_GID" "$UFFD_NODE" && chmod 0660 "$UFFD_NODE" || fail "chgrp/chmod $UFFD_NODE"
}
in_group_ns() { unshare -m sh -c 'mount --bind "$1" /dev/userfaultfd && shift && exec "$@"' sh "$UFFD_NODE" "$@"; }
as_member() { in_group_ns setpriv --reuid=nobody --regid=nogroup --groups="$UFFD_GID" "$@"; }

# wait_locked FILE PID - wait (20 s at most) until faultmap cache --lock,
# running as PID, has said in FILE that it holds its locks; fail if it
# exits first or never says so.
wait_locked() {
	for _ in $(seq 200); do
		grep -q '^Locked until interrupted' "$1" && return 0
		kill -0 "$2" 2>/dev/null || { cat "$1"; fail "cache --lock exited"; }
		sleep 0.1
	done
	cat "$1"; fail "cache --lock never locked"
}

# private_daemon_dir - a runtime directory of the test's own
# (XDG_RUNTIME_DIR=$TMP/runtime), so that a daemon started there is the
# test's; stopped at exit. daemon_stop_clean stops it and fails if its
# sanitizers (a sanitizer build) said anything in its log.
private_daemon_dir() {
	export XDG_RUNTIME_DIR=$TMP/runtime
	mkdir -m 700 "$XDG_RUNTIME_DIR" || fail "mkdir $XDG_RUNTIME_DIR"
	trap '"$FM" daemon --stop >/dev/null 2>&1; cleanup' EXIT
}
daemon_stop_clean() {
	expect_exit 0 "$FM" daemon --stop
	! grep -Eq 'Sanitizer|runtime error' "$XDG_RUNTIME_DIR/faultmap/daemon.log" 2>/dev/null ||
		{ cat "$XDG_RUNTIME_DIR/faultmap/daemon.log"; fail "the daemon's sanitizers spoke"; }
}
