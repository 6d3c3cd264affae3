#!/usr/bin/env bash
# test_daemon_without_socket_and_clients_stops.sh - a daemon whose socket
# was removed (its runtime directory deleted, as a test's cleanup or a
# logout does) can never be reached again: once no client uses it, it
# writes back and exits instead of living on for ever. While a client is
# connected it stays; a program's write through a shared mapping, made
# before, is in the file.
. "$(dirname "$0")/lib.sh"
export XDG_RUNTIME_DIR=$TMP/runtime
mkdir -m 700 "$XDG_RUNTIME_DIR"
D=$XDG_RUNTIME_DIR/faultmap
expect_exit 0 "$FM" daemon --budget 1M
pid=$(sed -n 's/.*pid \([0-9]*\).*/\1/p' <<<"$("$FM" doctor 2>&1 | grep '^daemon')")
[ -n "$pid" ] && kill -0 "$pid" || fail "no daemon pid from doctor"
printf 'x%.0s' $(seq 8192) >"$TMP/data"
cat >"$TMP/w.py" <<'PYEOF'
import mmap, sys, time
with open(sys.argv[1], "r+b") as f:
    m = mmap.mmap(f.fileno(), 8192)
    m[100:105] = b"HELLO"
    print("written", flush=True)
    time.sleep(float(sys.argv[2]))
PYEOF
# A client connected while the socket goes: the daemon waits for it.
"$FM" run --daemon -- "$PY" "$TMP/w.py" "$TMP/data" 25 >"$TMP/w.out" 2>&1 &
client=$!
for _ in $(seq 200); do grep -q written "$TMP/w.out" && break; sleep 0.1; done
grep -q written "$TMP/w.out" || fail "the client did not start: $(cat "$TMP/w.out")"
rm -rf "$XDG_RUNTIME_DIR"
sleep 12 # more than the daemon's 10 s look
kill -0 "$pid" 2>/dev/null || fail "the daemon stopped while a client still used it"
wait "$client" || fail "the client failed: $(cat "$TMP/w.out")"
# No client now, no socket: it stops (it looks every 10 s).
for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$pid" 2>/dev/null && fail "the daemon still runs, with no socket and no client"
grep -q HELLO "$TMP/data" || fail "the write did not reach the file"
exit 0
