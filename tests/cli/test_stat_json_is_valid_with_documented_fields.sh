#!/usr/bin/env bash
# faultmap stat --json prints one JSON object (python3 -m json.tool parses
# it; jq too, when installed) whose keys are exactly the fields documented
# in docs/cli.md's schema table (top level, each process, each file), with
# numbers where the table says so, and the right values for fm_mapper's two
# files: data.bin (256 pages, 4 dirty, 2 vmas) and read.bin (16 pages, 4
# resident, read with fm_pread).
set -u
. "$(dirname "$0")/lib.sh"
[ -x "$PY" ] || { echo "skip: no $PY"; exit 77; }
start_published_mapper --read
pid=$BG_PID
data=$(realpath "$TMP/data.bin")
stat_until '"read_misses":4' --json
"$PY" -m json.tool "$TMP/out" >/dev/null || { cat "$TMP/out"; fail "stat --json is not JSON"; }
[ "$(wc -l <"$TMP/out")" -eq 1 ] || fail "stat --json is not one line"
if command -v jq >/dev/null; then
	jq -e ".processes[] | select(.pid == $pid)" "$TMP/out" >/dev/null || fail "jq does not find pid $pid"
fi
PYTHONPATH=$ROOT/tests/cli "$PY" - "$ROOT/docs/cli.md" "$TMP/out" "$pid" "$data" <<'PYEOF' || fail "stat --json does not match docs/cli.md"
import json, sys
from json_schema import tables, check as schema_check
doc, out, pid, data = open(sys.argv[1]).read(), json.load(open(sys.argv[2])), int(sys.argv[3]), sys.argv[4]
want = tables(sys.argv[1])
check = lambda obj, name: schema_check(want, obj, name)
check(out, "top")
assert out["faultmap_stat"] == 1
procs = [p for p in out["processes"] if p["pid"] == pid]
assert len(procs) == 1, "pid %d not listed" % pid
p = procs[0]
check(p, "process")
assert p["command"] == "fm-mapper" and p["page_size"] == 4096 and p["files_total"] == 2
files = {f["path"]: f for f in p["files"]}
for f in files.values():
    check(f, "file")
d, r = files[data], files[data.replace("data.bin", "read.bin")]
assert (d["pages"], d["size_bytes"], d["dirty_pages"], d["dirty_bytes"], d["vmas"]) == (256, 1 << 20, 4, 16384, 2), d
assert d["resident_bytes"] == d["resident_pages"] * 4096 and d["faults"] > 0, d
assert (r["pages"], r["resident_pages"], r["resident_bytes"], r["resident_ratio"]) == (16, 4, 16384, 0.25), r
assert p["resident_bytes"] == d["resident_bytes"] + r["resident_bytes"], p
PYEOF
touch "$TMP/stop"
wait "$pid" || fail "fm_mapper failed"
FAULTMAP_STAT_DIR=$TMP/run/faultmap expect_exit 0 "$FM" stat --json
expect_out '^\{"faultmap_stat":1,"processes":\[\]\}$'
exit 0
