#!/usr/bin/env bash
# test_mount_s3_refused_write_reported_once_then_reaches_bucket_at_fsync_or_exit.sh
# - under faultmap run --mount DIR=s3://BUCKET (radosgw on a single-node
# Ceph cluster of the test's own), Python writes 3 pages into DIR/obj and
# opens it a second time (other); then, while the S3 user is suspended
# (every request refused), a pwrite past the end and one into the page
# it left dirty fail with EACCES. The user enabled again:
#  - fsync: fsync(fd) returns 0: the writes reported their errors, as the
#    kernel's write() of an O_SYNC file consumes its file's errseq (before,
#    fsync reported EACCES again); other, which heard of no failure, gets
#    EACCES once, then 0. Suspended again, a pwrite of other past the end
#    fails; enabled again, that failure is new to fd: its fsync gets
#    EACCES once, then 0, and other's fsync 0.
#  - exit: the program exits without fsync. Its kept dirty pages reach the
#    bucket at its exit in daemon mode too (the daemon writes a store's
#    pages again when its client lets go of it: before, they waited for
#    faultmap daemon --stop).
# Fetched with curl right after it exits (the daemon still running), the
# object equals the kernel's file, on which the same program ran with no
# refusal. Both modes, a 256K budget.
set -u
. "$(dirname "$0")/lib.sh"
setup
start_ceph rgw

cat >"$WORK/refused.py" <<'PY'
import errno, os, sys
how, run, path, fifo = sys.argv[1:5]
refused = run == "refused"  # else the kernel's run: every call succeeds
fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, b"a" * 3 * 4096)
other = os.open(path, os.O_RDWR)  # another open file of it

def expect(what, call, refused_errno):
    """call() fails with refused_errno if refused (0: succeeds), else succeeds."""
    try:
        call()
    except OSError as e:
        if e.errno != refused_errno or not refused:
            sys.exit(f"{what}: {e}")
    else:
        if refused and refused_errno:
            sys.exit(f"{what} succeeded, not {errno.errorcode[refused_errno]}")

def wait(marker):
    print(marker, flush=True)
    open(fifo).read()  # faultmap's runs: the S3 user suspended or enabled

wait("ready")  # suspended
expect("pwrite past the end", lambda: os.pwrite(fd, b"b" * 100, 3 * 4096 + 50), errno.EACCES)
# into the page kept dirty (reads are refused too: a page not cached
# fails to be read, and the write with it, writing nothing)
expect("pwrite inside", lambda: os.pwrite(fd, b"c" * 10, 3 * 4096 + 10), errno.EACCES)
wait("ready again")  # enabled
if how == "fsync":
    expect("fsync after the writes' errors", lambda: os.fsync(fd), 0)
    expect("fsync of the other open file", lambda: os.fsync(other), errno.EACCES)
    expect("fsync of the other open file again", lambda: os.fsync(other), 0)
    wait("ready again")  # suspended
    expect("pwrite of other past the end", lambda: os.pwrite(other, b"d" * 10, 4 * 4096 + 10),
           errno.EACCES)
    wait("ready again")  # enabled
    expect("fsync after other's failure", lambda: os.fsync(fd), errno.EACCES)
    expect("fsync again", lambda: os.fsync(fd), 0)
    expect("fsync of other after its write's error", lambda: os.fsync(other), 0)
    print("synced", os.fstat(fd).st_size, os.pread(fd, 24, 3 * 4096))
print("done", flush=True)  # exit, fds open
PY

s3 PUT /fmbucket >/dev/null || fail "making the bucket"
for how in fsync exit; do
	STEPS="suspend enable"
	[ $how = fsync ] && STEPS="suspend enable suspend enable"
	rm -f "$WORK/kern/obj"
	cd "$WORK/kern" || fail "cd"
	s3_user_steps "$PY" "$WORK/refused.py" $how kernel "$WORK/kern/obj"
	mv "$WORK/step.out" "$WORK/kern.out"
	cat "$WORK/kern.out" >&2
	s3_refused_runs "$WORK/refused.py" $how
done
