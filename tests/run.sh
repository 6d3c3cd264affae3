#!/usr/bin/env bash
# run.sh DIR - run every test program in DIR, each in its own process under a
# timeout. Exit 77 means skipped. Ends with "N passed, N failed, N skipped".
set -u
dir=${1:?usage: run.sh DIR}
timeout_s=${FM_TEST_TIMEOUT:-300}
pass=0 fail=0 skip=0 failed=()
for t in "$dir"/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	log=$(mktemp)
	start=$(date +%s%N)
	timeout -k 5 "$timeout_s" "$t" >"$log" 2>&1
	rc=$?
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
