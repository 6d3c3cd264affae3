#!/usr/bin/env bash
# faultmap inspect PID --json prints one JSON object (python3 -m json.tool
# parses it) whose keys are exactly the fields documented in docs/cli.md's
# inspect table (the answer, each file, each vma), of the documented kinds,
# with fm_mapper's data.bin: 256 pages, 4 dirty, its runs covering every
# page, a shared vma over pages 0-255 and a private one over 128-191 with
# 3 pages copied on write.
set -u
. "$(dirname "$0")/lib.sh"
[ -x "$PY" ] || { echo "skip: no $PY"; exit 77; }
start_published_mapper
pid=$BG_PID
data=$(realpath "$TMP/data.bin")
expect_exit 0 "$FM" inspect "$pid" --json
"$PY" -m json.tool "$TMP/out" >/dev/null || { cat "$TMP/out"; fail "inspect --json is not JSON"; }
[ "$(wc -l <"$TMP/out")" -eq 1 ] || fail "inspect --json is not one line"
PYTHONPATH=$ROOT/tests/cli "$PY" - "$ROOT/docs/cli.md" "$TMP/out" "$pid" "$data" <<'PYEOF' || { cat "$TMP/out"; fail "inspect --json does not match docs/cli.md"; }
import json, sys
from json_schema import tables, check as schema_check
doc, out, pid, data = open(sys.argv[1]).read(), json.load(open(sys.argv[2])), int(sys.argv[3]), sys.argv[4]
want = tables(sys.argv[1])
check = lambda obj, name: schema_check(want, obj, name)
check(out, "inspect")
assert out["faultmap_inspect"] == 2 and out["pid"] == pid and out["budget_bytes"] == out["budget_pages"] * 4096
f = [f for f in out["files"] if f["path"] == data]
assert len(f) == 1, out["files"]
f = f[0]
check(f, "inspect_file")
for v in f["vmas"]:
    check(v, "inspect_vma")
assert (f["pages"], f["dirty_pages"], f["size_bytes"]) == (256, 4, 1 << 20), f
assert sum(n for _, n in f["runs"]) == 256 and all(s in ".RDL" for s, _ in f["runs"]), f["runs"]
assert sum(n for s, n in f["runs"] if s in "RD") == f["resident_pages"], f
vmas = sorted((v["shared"], v["first_page"], v["last_page"], v["prot"], v["cow_pages"]) for v in f["vmas"])
assert vmas == [(False, 128, 191, "rw", 3), (True, 0, 255, "rw", None)], vmas
PYEOF
touch "$TMP/stop"
wait "$pid" || fail "fm_mapper failed"
exit 0
