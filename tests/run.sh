#!/usr/bin/env bash
# run.sh DIR - run every test program in DIR, each in its own process under a
# timeout. Exit 77 means skipped. Ends with "N passed, N failed, N skipped".
#
# Each test gets a runtime directory of its own (XDG_RUNTIME_DIR), so that
# the faultmap daemon it starts on demand (daemon mode is the default) is its
# own, started with its environment, and never one that an earlier test left
# behind. After the test, that daemon is stopped (it writes back first) and
# what the sanitizers said in its log fails the test.
set -u
dir=${1:?usage: run.sh DIR}
timeout_s=${FM_TEST_TIMEOUT:-300}
build=${FAULTMAP_BUILD:-$(cd "$dir/.." && pwd)}
pass=0 fail=0 skip=0 failed=()

# stop_daemon RT - stop the daemon of runtime directory RT, if one runs.
stop_daemon() {
	[ -e "$1/faultmap/daemon.sock" ] || return 0
	XDG_RUNTIME_DIR=$1 timeout -k 5 60 "$build/faultmap" daemon --stop >/dev/null 2>&1 || true
}

for t in "$dir"/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	log=$(mktemp)
	rt=$(mktemp -d /tmp/fm-test-rt.XXXXXX)
	start=$(date +%s%N)
	XDG_RUNTIME_DIR=$rt timeout -k 5 "$timeout_s" "$t" >"$log" 2>&1
	rc=$?
	stop_daemon "$rt"
	if [ -f "$rt/faultmap/daemon.log" ] &&
		grep -q -e Sanitizer -e 'runtime error' "$rt/faultmap/daemon.log"; then
		{ echo "the daemon's log:"; cat "$rt/faultmap/daemon.log"; } >>"$log"
		if [ "$rc" = 0 ] || [ "$rc" = 77 ]; then rc=1; fi
	fi
	rm -rf "$rt"
	ms=$((($(date +%s%N) - start) / 1000000))
	secs="$((ms / 1000)).$((ms % 1000 / 100))"
	case $rc in
	0) pass=$((pass + 1)); echo "PASS $name (${secs}s)" ;;
	77) skip=$((skip + 1)); echo "SKIP $name: $(tail -n 1 "$log")" ;;
	*) fail=$((fail + 1)); failed+=("$name"); echo "FAIL $name (exit $rc, ${secs}s)"; sed 's/^/    /' "$log" | tail -n 30 ;;
	esac
	rm -f "$log"
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
