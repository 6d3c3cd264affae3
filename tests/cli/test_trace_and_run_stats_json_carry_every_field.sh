#!/usr/bin/env bash
# faultmap trace --json and faultmap run --stats --json print one JSON
# object per line (fm_mapper, engine linked in): every fault, every engine
# exit and every process summary of trace, every process's exit summary of
# run, each with exactly the fields of docs/cli.md's table for it, of the
# documented kinds; addresses are numbers. The program's stdout is apart.
set -u
. "$(dirname "$0")/lib.sh"
[ -x "$PY" ] || { echo "skip: no $PY"; exit 77; }
build_mapper
export FAULTMAP_PRELOAD=$EMPTY_SO
"$FM" trace --json --budget 1M -o "$TMP/trace" -- "$MAPPER" --once "$TMP" >"$TMP/stdout" 2>"$TMP/err"
rc=$?
[ "$rc" -eq 77 ] && { echo "skip: faultmap cannot start here"; exit 77; }
[ "$rc" -eq 0 ] || { cat "$TMP/stdout" "$TMP/err"; fail "trace --json exited $rc"; }
"$FM" run --stats --json --budget 1M -- "$MAPPER" --once "$TMP" >"$TMP/stdout" 2>"$TMP/stats"
[ $? -eq 0 ] || { cat "$TMP/stdout" "$TMP/stats"; fail "run --stats --json failed"; }
grep -q '^ready ' "$TMP/stdout" || fail "program output lost"
expect_exit 2 "$FM" run --json -- true
expect_out 'faultmap: --json goes with --stats'
PYTHONPATH=$ROOT/tests/cli "$PY" - "$ROOT/docs/cli.md" "$TMP/trace" "$TMP/stats" <<'PYEOF' || fail "the JSON lines do not match docs/cli.md"
import json, sys
from json_schema import tables, check as schema_check
doc = open(sys.argv[1]).read()
want = tables(sys.argv[1])
check = lambda obj, name: schema_check(want, obj, name)
seen = {}
for line in open(sys.argv[2]):
    o = json.loads(line)
    name = {"fault": "trace_fault", "exit": "trace_exit", "summary": "trace_summary"}[o["event"]]
    check(o, name)
    seen[name] = seen.get(name, 0) + 1
    if name == "trace_fault":
        lo, hi = (int(x, 16) for x in o["vma"].split("-"))
        assert lo <= o["addr"] < hi and o["result"] in ("miss", "hit", "write", "sigbus"), o
assert seen.get("trace_fault", 0) >= 5 and seen.get("trace_exit") == 1 and seen.get("trace_summary") == 1, seen
stats = [json.loads(line) for line in open(sys.argv[3])]
assert len(stats) == 1, stats
check(stats[0], "run_stats")
assert stats[0]["comm"] == "fm-mapper" and stats[0]["write_faults"] == 4 and stats[0]["budget"] == 1 << 20, stats
PYEOF
exit 0
