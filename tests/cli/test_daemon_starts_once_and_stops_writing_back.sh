#!/usr/bin/env bash
# test_daemon_starts_once_and_stops_writing_back.sh - faultmap daemon:
# --stop with none running says so and exits 0; the background start
# returns once it listens (doctor then names its pid); a second start
# fails ("already running"), or exits 0 with --if-not-running; a python3
# program under faultmap run in daemon mode writes a shared mapping and
# exits, and --stop leaves the bytes in the file (the daemon writes them
# back), then no daemon runs; the socket and the files table are gone.
. "$(dirname "$0")/lib.sh"
export XDG_RUNTIME_DIR=$TMP/runtime
mkdir -m 700 "$XDG_RUNTIME_DIR"
D=$XDG_RUNTIME_DIR/faultmap
expect_exit 0 "$FM" daemon --stop
expect_out 'none is running'
expect_exit 0 "$FM" daemon --budget 1M
[ -S "$D/daemon.sock" ] || fail "no socket at $D/daemon.sock"
[ "$(stat -c %a "$D/daemon.sock")" = 600 ] || fail "socket mode $(stat -c %a "$D/daemon.sock")"
expect_exit 0 "$FM" doctor
expect_out '^daemon +running, pid [0-9]+'
expect_exit 1 "$FM" daemon --foreground
expect_out 'already running'
expect_exit 0 "$FM" daemon --if-not-running
printf 'x%.0s' $(seq 8192) >"$TMP/data"
cat >"$TMP/w.py" <<'PYEOF'
import mmap, sys
with open(sys.argv[1], "r+b") as f:
    m = mmap.mmap(f.fileno(), 8192)
    m[100:105] = b"HELLO"
    m[5000:5005] = b"WORLD"
    # Served by faultmap: the mapping is a view of the daemon's memfd.
    print([l for l in open("/proc/self/maps") if "memfd:faultmap:" in l and "data" in l][0])
import os
os._exit(0)  # no munmap, no msync, no atexit
PYEOF
expect_exit 0 "$FM" run --daemon -- "$PY" "$TMP/w.py" "$TMP/data"
expect_out 'memfd:faultmap:.*/data'
expect_exit 0 "$FM" daemon --stop
grep -q HELLO "$TMP/data" && grep -q WORLD "$TMP/data" ||
	fail "the daemon did not write back what the program wrote before _exit"
[ ! -e "$D/daemon.sock" ] || fail "the socket is still there after --stop"
[ ! -e "$D/daemon.files" ] || fail "the files table is still there after --stop"
expect_exit 0 "$FM" doctor
expect_out '^daemon +not running'
exit 0
