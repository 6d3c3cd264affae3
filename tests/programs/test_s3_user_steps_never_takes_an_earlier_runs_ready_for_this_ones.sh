#!/usr/bin/env bash
# test_s3_user_steps_never_takes_an_earlier_runs_ready_for_this_ones.sh -
# lib.sh's s3_user_steps (the S3 refusal tests' driver) takes a user
# step (radosgw-admin user suspend) only after the script it runs says
# "ready": never on the lines an earlier run left in $WORK/step.out.
# Here they are "ready" lines, and the command's redirection is slowed
# down (a read lease on step.out: an open for writing waits until its
# holder lets go, 1 s), and the script fails at once: s3_user_steps
# must fail ("the script ended early") having taken no step. Before, the
# background shell emptied step.out, and s3_user_steps read it at once:
# under load it read the old lines first, suspended the user before the
# script's first open (which got EACCES) and then waited on the fifo
# forever. No Ceph needed: radosgw-admin is a stand-in that logs.
set -u
. "$(dirname "$0")/lib.sh"
setup
. "$_LIB_DIR/s3_user_steps_case.sh"

printf 'ready\nready again\nready again\nready again\ndone\n' >"$WORK/step.out"
cat >"$WORK/lease.py" <<'PY'
import fcntl, os, signal, sys, time
broken = []
signal.signal(signal.SIGIO, lambda *_: broken.append(1))
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
except OSError as e:
    print(f"no lease: {e}", flush=True)
    sys.exit(0)
print("leased", flush=True)
deadline = time.monotonic() + 30
while not broken and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(1)  # the writer's open waits this long
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
PY
coproc LEASE { "$PY" "$WORK/lease.py" "$WORK/step.out"; }
lease_pid=$LEASE_PID
read -r -t 10 leased <&"${LEASE[0]}" || fail "the lease holder did not start"
[ "$leased" = leased ] || skip "no read lease on $WORK/step.out here ($leased)"

user_steps_case sh -c 'exit 3'  # fails before it says ready
wait "$lease_pid"
[ "$rc" != 124 ] || fail "s3_user_steps hung (it took an earlier run's ready for this one's)"
[ "$rc" = 1 ] || fail "s3_user_steps exited $rc, not 1: $out"
[ ! -s "$WORK/admin.log" ] ||
	fail "a user step was taken on an earlier run's output: $(cat "$WORK/admin.log")"
grep -q 'FAIL: the script ended early' <<<"$out" ||
	fail "s3_user_steps did not say the script ended early: $out"
