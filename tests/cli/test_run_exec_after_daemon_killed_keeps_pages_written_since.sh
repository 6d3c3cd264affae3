#!/usr/bin/env bash
# Daemon mode under faultmap run: a program's daemon is SIGKILLed; the
# program writes again a page it had dirtied (still writable), then execs.
# The exec would drop the program's views, and with them what was written
# since the watcher's flush: before_exec writes them first, as the exit
# does. Before, the exec went on and the second write was lost. Four
# rounds, each with a daemon of its own.
set -u
. "$(dirname "$0")/lib.sh"
require_interposer
mkdir -m 0700 "$TMP/run"
export XDG_RUNTIME_DIR=$TMP/run FAULTMAP_MODE=daemon
trap '"$FM" daemon --stop >/dev/null 2>&1; cleanup' EXIT
for round in 0 1 2 3; do
	head -c 65536 /dev/zero > "$TMP/f"
	"$FM" run "$PY" - "$TMP/f" "$TMP/run/faultmap/daemon.lock" "$round" \
		>"$TMP/out" 2>&1 <<'PYEOF' || { cat "$TMP/out"; fail "round $round: the program failed"; }
import mmap, os, signal, sys, time
path, lock, rnd = sys.argv[1], sys.argv[2], int(sys.argv[3])
f = open(path, "r+b")
m = mmap.mmap(f.fileno(), 65536)
m[0:4] = b"aaaa"                      # dirty: the page stays writable
ino = os.stat(lock).st_ino
pid = None
for line in open("/proc/locks"):      # the daemon holds its lock file
    fields = line.split()
    if fields[1] == "FLOCK" and int(fields[5].split(":")[2]) == ino:
        pid = int(fields[4])
assert pid, "no daemon"
os.kill(pid, signal.SIGKILL)
for _ in range(500):                  # until it has exited
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        break
    if state in ("Z", "X"):
        break
    time.sleep(0.01)
if rnd % 2:
    time.sleep(0.2)                   # the watcher has flushed by now
m[4:8] = b"BBBB"                      # written since the watcher's flush
os.execv("/bin/true", ["true"])
PYEOF
	got=$(head -c 8 "$TMP/f" | tr '\0' .)
	[ "$got" = "aaaaBBBB" ] || { cat "$TMP/out"; fail "round $round: the file begins with '$got', not aaaaBBBB"; }
	for _ in $(seq 500); do # the daemon's lock is free: the next round starts its own
		flock -n "$TMP/run/faultmap/daemon.lock" true && break
		sleep 0.01
	done
done
echo "PASS"
