#!/usr/bin/env bash
# Clients that connect to a process's inspect socket and send nothing do
# not keep others out: with 20 idle connections open, faultmap inspect
# still gets its answer (under a timeout: it would wait 2 s per idle client
# if the process served one client at a time).
set -u
. "$(dirname "$0")/lib.sh"
[ -x "$PY" ] || { echo "skip: no $PY"; exit 77; }
start_published_mapper
pid=$BG_PID
sock=$TMP/run/faultmap/faultmap.$pid.sock
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "no socket $sock"

IDLE='
import socket, sys, os, time
conns = []
for i in range(20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    conns.append(s)
print("idle", len(conns), flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
'
"$PY" -c "$IDLE" "$sock" "$TMP/stop" >"$TMP/idle.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do grep -q '^idle 20' "$TMP/idle.log" && break; sleep 0.05; done
grep -q '^idle 20' "$TMP/idle.log" || { cat "$TMP/idle.log"; fail "could not open 20 idle connections"; }
expect_exit 0 timeout 20 "$FM" inspect "$pid"
expect_out "^process $pid: budget [0-9]+ pages"
exit 0
