#!/usr/bin/env bash
# test_cache_lock_survives_budget_pressure_and_ends_with_command.sh -
# faultmap cache --lock, with a daemon of 2 MiB (512 pages; locks may hold
# 256): a lock of 200 pages of f reads them and holds them; another
# client's scan of a 4 MiB file (a program mapping it, else --touch) leaves
# all 200 resident and locked, and --evict keeps them (counted as kept
# locked); a second lock that would pass the limit is refused (exit 1,
# ENOMEM named); the locking command killed with SIGKILL leaves no lock
# (the daemon drops it with the connection), and a scan then evicts those
# pages; a lock ended by SIGINT exits 0 and leaves no lock either.
. "$(dirname "$0")/lib.sh"
private_daemon_dir
head -c 1048576 /dev/urandom >"$TMP/f"
head -c 4194304 /dev/urandom >"$TMP/big"
expect_exit 0 "$FM" daemon --budget 2M

# resident_locked FILE - "RESIDENT LOCKED" of the report on FILE's first
# 200 pages.
resident_locked() {
	"$FM" cache --length 800K "$1" >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "cache $1"; }
	local r l
	r=$(sed -nE 's/^ Resident Pages: ([0-9]+)\/200 .*/\1/p' "$TMP/out")
	l=$(sed -nE 's/^ +Locked: ([0-9]+) pages? .*/\1/p' "$TMP/out")
	echo "$r $l"
}
# until_state FILE WANT - wait (20 s at most) until resident_locked says WANT.
until_state() {
	for _ in $(seq 200); do
		[ "$(resident_locked "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	cat "$TMP/out"; fail "never '$2' (resident locked) for $1"
}
# scan - another client reads all of big through the daemon's cache.
scan() {
	if [ -x "$PY" ] && [ -f "$FAULTMAP_BUILD/libfaultmap-preload.so" ] &&
		! nm -D --undefined-only "$FAULTMAP_BUILD/libfaultmap-preload.so" | grep -Eq '__(asan|tsan)_init'; then
		expect_exit 0 "$FM" run --daemon -- "$PY" -c '
import mmap, sys
with open(sys.argv[1], "rb") as f:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    print("sum", sum(m[i] for i in range(0, len(m), 4096)))
' "$TMP/big"
		expect_out '^sum [0-9]+$'
	fi
	expect_exit 0 "$FM" cache --touch "$TMP/big"
}

# lock LOG - start faultmap cache --lock of f's first 200 pages in the
# background, and wait until it says it holds them. Sets LOCK_PID.
lock() {
	"$FM" cache --lock --length 800K "$TMP/f" >"$1" 2>&1 &
	LOCK_PID=$!
	PIDS+=("$LOCK_PID")
	wait_locked "$1" "$LOCK_PID"
}

lock "$TMP/lock1.log"
grep -Eq '^ +Locked: 200 pages ' "$TMP/lock1.log" || { cat "$TMP/lock1.log"; fail "lock1 output"; }
grep -Eq '^ +All locks: 200 pages of at most 256 \(budget 512 pages, 2\.0 MiB\)$' "$TMP/lock1.log" ||
	{ cat "$TMP/lock1.log"; fail "lock1 output"; }
[ "$(resident_locked "$TMP/f")" = "200 200" ] || { cat "$TMP/out"; fail "not locked: $(resident_locked "$TMP/f")"; }
scan
[ "$(resident_locked "$TMP/f")" = "200 200" ] || { cat "$TMP/out"; fail "the scan evicted locked pages"; }
expect_exit 0 "$FM" cache --evict "$TMP/f"
expect_out '^ +Kept locked: 200 pages '
expect_out '^ Resident Pages: 200/256 '
expect_exit 1 "$FM" cache --lock --length 400K "$TMP/big"
expect_out 'cannot lock 100 pages: the locks would hold 300 pages, over their limit of 256 .*Cannot allocate memory'
{ kill -9 "$LOCK_PID"; wait "$LOCK_PID"; } 2>/dev/null
until_state "$TMP/f" "200 0"
scan
r=$(resident_locked "$TMP/f")
[ "${r% *}" -lt 200 ] || { cat "$TMP/out"; fail "unlocked pages not evicted by the scan: $r"; }

lock "$TMP/lock2.log"
[ "$(resident_locked "$TMP/f")" = "200 200" ] || { cat "$TMP/out"; fail "not locked again"; }
kill -INT "$LOCK_PID"
wait "$LOCK_PID"
rc=$?
[ "$rc" -eq 0 ] || { cat "$TMP/lock2.log"; fail "cache --lock ended by SIGINT exited $rc"; }
until_state "$TMP/f" "200 0"
daemon_stop_clean
exit 0
