#!/usr/bin/env bash
# test_mount_s3_refused_ftruncate_changes_nothing.sh - under faultmap run
# --mount DIR=s3://BUCKET (radosgw on a single-node Ceph cluster of the
# test's own), Python fills DIR/obj with 3 pages of 'a'; then, while the
# S3 user is suspended (every PUT refused), ftruncate(100) fails with
# EACCES and changes nothing, as a failed ftruncate leaves a file: the
# size stays, and once reads are answered again the bytes past 100 are
# still 'a's (before, the new size stayed in the store, its bytes read
# zeros, and it was PUT later). Then, the user enabled again,
# ftruncate(100) and ftruncate(3 pages) succeed and the bytes past 100
# read zeros; the program ends with a write or with fsync(2). Fetched
# with curl after it exits, the object equals the kernel's file, on
# which the same program ran with no refusal. Both modes, a 256K budget.
set -u
. "$(dirname "$0")/lib.sh"
setup
start_ceph rgw

cat >"$WORK/refused.py" <<'PY'
import errno, os, sys
how, refused, path, fifo = sys.argv[1], sys.argv[2] == "refused", sys.argv[3], sys.argv[4]
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"a" * 3 * 4096)
print("ready", flush=True)
open(fifo).read()  # faultmap's runs: the S3 user is suspended now
if refused:  # reads are refused too: the bytes are read further down
    try:
        os.ftruncate(fd, 100)
    except OSError as e:
        if e.errno != errno.EACCES:
            sys.exit(f"ftruncate(100): {e}, not EACCES")
    else:
        sys.exit("ftruncate(100) succeeded while every PUT is refused")
    if os.fstat(fd).st_size != 3 * 4096:
        sys.exit(f"a refused ftruncate changed the size to {os.fstat(fd).st_size}")
print("ready again", flush=True)
open(fifo).read()  # the user is enabled again
print("unchanged", os.fstat(fd).st_size, os.pread(fd, 8, 96), os.pread(fd, 8, 5000))
for size in (100, 3 * 4096):
    os.ftruncate(fd, size)
print("truncated", os.fstat(fd).st_size, os.pread(fd, 8, 96), os.pread(fd, 8, 5000))
if how == "write":
    os.pwrite(fd, b"z", 7)
    print("after a write", os.fstat(fd).st_size, os.pread(fd, 8, 0))
else:
    os.fsync(fd)
os.close(fd)
PY

s3 PUT /fmbucket >/dev/null || fail "making the bucket"
for how in write fsync; do
	rm -f "$WORK/kern/obj"
	cd "$WORK/kern" || fail "cd"
	s3_user_steps "$PY" "$WORK/refused.py" $how kernel "$WORK/kern/obj"
	mv "$WORK/step.out" "$WORK/kern.out"
	cat "$WORK/kern.out" >&2
	cat >"$WORK/zeros" <<'WANT'
truncated 12288 b'aaaa\x00\x00\x00\x00' b'\x00\x00\x00\x00\x00\x00\x00\x00'
WANT
	grep -qxF -f "$WORK/zeros" "$WORK/kern.out" || fail "the kernel's run does not read zeros: the test checks nothing"
	s3_refused_runs "$WORK/refused.py" $how
done
