#!/usr/bin/env bash
# In daemon mode the cache is the daemon's, and each program still has a
# row of its own in faultmap stat and its own faultmap inspect: two
# fm_mappers, each on a file of its own, both clients of one daemon. Each
# row lists its own files only, with its own faults and read() pages;
# inspect of each shows its own vmas (mm 0); run --stats of a third counts
# its own write-back at exit. Two programs that map one file see each
# other in inspect.
set -u
. "$(dirname "$0")/lib.sh"
build_mapper
mkdir -m 0700 "$TMP/run"
export XDG_RUNTIME_DIR=$TMP/run FAULTMAP_MODE=daemon
trap '"$FM" daemon --stop >/dev/null 2>&1; cleanup' EXIT
mkdir "$TMP/a" "$TMP/b"
FAULTMAP_PUBLISH=1 start_bg "$TMP/a.log" "$MAPPER" "$TMP/a"
a=$BG_PID
FAULTMAP_PUBLISH=1 start_bg "$TMP/b.log" "$MAPPER" --read "$TMP/b"
b=$BG_PID
fa=$(realpath "$TMP/a/data.bin") fb=$(realpath "$TMP/b/data.bin")

# rows_are_own - whether the last stat --json ($TMP/out) has each process
# with its own files and counters; why not in $TMP/why.
rows_are_own() {
	"$PY" - "$TMP/out" "$a" "$b" "$fa" "$fb" 2>"$TMP/why" <<'PYEOF'
import json, sys
out, a, b, fa, fb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
doc = json.load(open(out))
procs = {p["pid"]: p for p in doc["processes"]}
assert a in procs and b in procs, procs.keys()
paths = lambda p: sorted(f["path"] for f in p["files"])
assert paths(procs[a]) == [fa], paths(procs[a])
assert fb in paths(procs[b]) and fa not in paths(procs[b]), paths(procs[b])
assert len(paths(procs[b])) == 2, paths(procs[b])  # data.bin and read.bin
for p in (a, b):
    assert procs[p]["major_faults"] >= 1 and procs[p]["write_faults"] == 4, procs[p]
# b read read.bin's pages 0-3 twice with fm_pread: 4 misses, 4 hits, its own
assert procs[b]["read_misses"] == 4 and procs[b]["read_hits"] == 4, procs[b]
assert procs[a]["read_misses"] == 0 and procs[a]["read_hits"] == 0, procs[a]
PYEOF
}
# The segments are refreshed every 200 ms: ask again until they are.
for _ in $(seq 100); do
	"$FM" stat --json >"$TMP/out" 2>&1 && rows_are_own && break
	sleep 0.1
done
rows_are_own || { cat "$TMP/out" "$TMP/why"; fail "rows are not each process's own"; }

expect_exit 0 "$FM" inspect "$a"
expect_out "^file 0  $fa\$"
grep -q "$fb" "$TMP/out" && fail "inspect of $a shows $b's file"
expect_out 'mm 0, shared rw$'
expect_out 'mm 0, private rw, 3 pages copied on write$'
grep -Eq 'mm [1-9]' "$TMP/out" && fail "inspect of $a shows another process's vmas"

# Two programs that map one file: each one's inspect draws the other's vma
# too (the reverse map spans processes), with its pid and protection.
if [ -f "$FAULTMAP_BUILD/libfaultmap-preload.so" ]; then
	head -c 65536 /dev/zero >"$TMP/shared.bin"
	SHARER='
import mmap, os, sys, time
f = open(sys.argv[1], "r+b")
m = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
m[0] = 1
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
'
	unset FAULTMAP_PRELOAD
	start_bg "$TMP/s1.log" "$FM" run -- "$PY" -c "$SHARER" "$TMP/shared.bin" "$TMP/stop"
	s1=$BG_PID
	start_bg "$TMP/s2.log" "$FM" run -- "$PY" -c "$SHARER" "$TMP/shared.bin" "$TMP/stop"
	s2=$BG_PID
	expect_exit 0 "$FM" inspect "$s1"
	expect_out "mm 0, shared rw\$"
	expect_out "mm 1 \(pid $s2\), shared rw\$"
	# A scan read ahead by the daemon's readahead thread counts as the
	# scanner's: all of a 16 MiB file, 4096 pages, most of them ahead.
	head -c 16777216 /dev/zero | tr '\0' 'x' >"$TMP/scan.bin"
	SCAN='
import mmap, sys
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
print(sum(m[i] for i in range(0, len(m), 4096)))
'
	"$FM" run --stats -- "$PY" -c "$SCAN" "$TMP/scan.bin" >"$TMP/stdout" 2>"$TMP/out" || { cat "$TMP/out"; fail "the scan failed"; }
	expect_out '^  pages: +4(09[6-9]|[1-9][0-9]{2}) read \([1-9][0-9]* ahead\)'
fi

# A third client's run --stats: its own 4 pages written at exit.
mkdir "$TMP/c"
FAULTMAP_PRELOAD=$EMPTY_SO "$FM" run --stats -- "$MAPPER" --once "$TMP/c" >"$TMP/stdout" 2>"$TMP/out" || { cat "$TMP/out"; fail "run --stats failed"; }
expect_out '^  faults: +[1-9][0-9]* major, [0-9]+ minor, 4 write$'
expect_out '^  pages: +[1-9][0-9]* read \([0-9]+ ahead\), 4 written'
exit 0
