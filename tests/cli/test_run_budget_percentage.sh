#!/usr/bin/env bash
# faultmap run --budget 50% gives the program the default budget (half of
# the smaller of RAM and the memory cgroup's limit), and --budget 25% half
# of that; the summary of run --stats shows each (fm_mapper, engine linked
# in). In daemon mode (the default) the budget is the daemon's: each run
# starts one of its own.
set -u
. "$(dirname "$0")/lib.sh"
build_mapper

export FAULTMAP_PRELOAD=$EMPTY_SO
# budget_of ARGS... - the budget line of run --stats ARGS.
budget_of() {
	# The budget is the daemon's, set when it starts: a new one each time.
	"$FM" daemon --stop >/dev/null 2>&1
	"$FM" run --stats "$@" -- "$MAPPER" --once "$TMP" >"$TMP/stdout" 2>"$TMP/out"
	local rc=$?
	[ "$rc" -eq 77 ] && { echo "skip: faultmap cannot start here"; exit 77; }
	[ "$rc" -eq 0 ] || { cat "$TMP/stdout" "$TMP/out"; fail "run --stats $* exited $rc"; }
	sed -n 's/^faultmap: pid [0-9]* (fm-mapper), budget //p' "$TMP/out"
}
default=$(budget_of)
half=$(budget_of --budget 50%)
quarter=$(budget_of --budget 25%)
[ -n "$default" ] || fail "no budget line"
[ "$half" = "$default" ] || fail "--budget 50% gave $half, the default is $default"
[ "$quarter" != "$default" ] || fail "--budget 25% gave the default, $quarter"
# FAULTMAP_BUDGET=25% set by hand is the same
"$FM" daemon --stop >/dev/null 2>&1
FAULTMAP_BUDGET=25% "$FM" run --stats -- "$MAPPER" --once "$TMP" >"$TMP/stdout" 2>"$TMP/out2"
grep -q "budget $quarter\$" "$TMP/out2" || { cat "$TMP/out2"; fail "FAULTMAP_BUDGET=25% differs from --budget 25%"; }
exit 0
