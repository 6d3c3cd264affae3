#!/usr/bin/env bash
# NEEDS THE INTERPOSER. python3 under faultmap run reads a 64 MiB file
# through mmap (budget 128M, so all of it stays cached). In embedded mode
# its RSS counts each cached page twice (the engine's fill view and the
# program's view), so it is at least twice the cache; faultmap stat's
# MEMORY column counts the cache once: at least RESIDENT, and less than RSS
# by about RESIDENT. In daemon mode the fill view is the daemon's: RSS
# counts the cache once, and MEMORY is about RSS.
set -u
. "$(dirname "$0")/lib.sh"
require_interposer
mkdir -m 0700 "$TMP/run"
export XDG_RUNTIME_DIR=$TMP/run

READER='
import mmap, os, sys, time
path, stop = sys.argv[1], sys.argv[2]
with open(path, "wb") as f:
    f.truncate(64 << 20)
f = open(path, "rb")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
s = sum(m[i] for i in range(0, len(m), 4096))
print("ready", s, flush=True)
while not os.path.exists(stop):
    time.sleep(0.05)
'
start_bg "$TMP/py.log" "$FM" run --budget 128M -- "$PY" -c "$READER" "$TMP/data.bin" "$TMP/stop"
pid=$BG_PID
sleep 0.5 # the segment is refreshed every 200 ms
expect_exit 0 "$FM" stat
expect_out "^PID +COMMAND +BUDGET +RESIDENT +MEMORY +DIRTY "
line=$(grep -E "^$pid +python3 " "$TMP/out") || { cat "$TMP/out"; fail "stat does not list $pid"; }
# bytes "64.0 MiB" -> 67108864; fields: pid comm budget(2) resident(2) memory(2)
to_bytes() { awk -v n="$1" -v u="$2" 'BEGIN { m["B"]=1; m["KiB"]=1024; m["MiB"]=1048576; m["GiB"]=1073741824; printf "%.0f\n", n * m[u] }'; }
read -r _ _ _ _ rn ru mn mu _ <<<"$line"
resident=$(to_bytes "$rn" "$ru")
memory=$(to_bytes "$mn" "$mu")
rss=$(awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$pid/status")
touch "$TMP/stop"
wait "$pid" || fail "the reader failed"
echo "resident $resident memory $memory rss $rss"
mib=1048576
[ "$resident" -ge $((60 * mib)) ] || fail "resident $resident: the file is not cached"
[ "$memory" -ge "$resident" ] || fail "MEMORY $memory below the cache ($resident)"
if [ "${FAULTMAP_MODE:-daemon}" = embedded ]; then
	[ "$rss" -ge $((2 * resident - 4 * mib)) ] || fail "RSS $rss does not count the cache twice"
	[ "$memory" -le $((rss - resident + 8 * mib)) ] || fail "MEMORY $memory counts the cache twice (RSS $rss)"
else
	# The fill view is the daemon's: the program's RSS holds its own view
	# of the cache once, and MEMORY counts it once too.
	[ "$rss" -ge $((resident - 4 * mib)) ] || fail "RSS $rss lacks the program's view of the cache"
	[ "$memory" -le $((rss + 8 * mib)) ] || fail "MEMORY $memory counts the cache twice (RSS $rss)"
fi
exit 0
