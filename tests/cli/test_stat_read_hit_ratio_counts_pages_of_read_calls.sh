#!/usr/bin/env bash
# The read hit ratio is of read() calls only, where faultmap sees hits and
# misses alike: fm_mapper --read reads the same 4 pages of read.bin twice
# with fm_pread, so 4 read misses (read from the file, and not also counted
# as hits) and then 4 read hits: 50%, for the file and the process.
# data.bin, only mapped (its hits go through the page tables, unseen),
# has faults but no read hit ratio (null, "-").
set -u
. "$(dirname "$0")/lib.sh"
[ -x "$PY" ] || { echo "skip: no $PY"; exit 77; }
start_published_mapper --read
pid=$BG_PID
stat_until '"read_misses":4' --json
"$PY" - "$TMP/out" "$pid" <<'PYEOF' || { cat "$TMP/out"; fail "wrong read hit counts"; }
import json, sys
p = [p for p in json.load(open(sys.argv[1]))["processes"] if p["pid"] == int(sys.argv[2])][0]
files = {f["path"].rsplit("/", 1)[1]: f for f in p["files"]}
r, d = files["read.bin"], files["data.bin"]
got = (r["read_hits"], r["read_misses"], r["read_hit_ratio"], r["pages_read"], r["faults"])
assert got == (4, 4, 0.5, 4, 0), got
assert (p["read_hits"], p["read_misses"], p["read_hit_ratio"]) == (4, 4, 0.5), p
assert d["faults"] > 0 and (d["read_hits"], d["read_misses"], d["read_hit_ratio"]) == (0, 0, None), d
PYEOF
expect_exit 0 "$FM" stat
expect_out "^$pid +fm-mapper .* 50\\.0% +[0-9]+\$"
touch "$TMP/stop"
wait "$pid" || fail "fm_mapper failed"
exit 0
