#!/usr/bin/env bash
# test_mount_unlink_deletes_s3_object.sh - under faultmap run --mount
# DIR=s3://BUCKET (radosgw on a single-node Ceph cluster of the test's
# own), Python's os.unlink of DIR/NAME deletes the object NAME (a signed
# DELETE: a GET of it with curl then fails), after which it is ENOENT to
# stat and to unlink again; a missing object is ENOENT, a rename in the
# bucket's mount EXDEV (S3 has no atomic rename). An object mapped shared
# and written, then unlinked: msync answers, and its dirty page is dropped,
# never PUT (which would make the object again). Both modes, a 256K
# budget.
set -u
. "$(dirname "$0")/lib.sh"
setup
start_ceph rgw

cat >"$WORK/checks.py" <<'PY'
import mmap, os, sys
from errno_of import errno_of
mnt = sys.argv[1]
print("size of a", os.stat(mnt + "/a").st_size)
print("unlink a", errno_of(lambda: os.unlink(mnt + "/a")))
print("stat a", errno_of(lambda: os.stat(mnt + "/a")))
print("unlink a again", errno_of(lambda: os.unlink(mnt + "/a")))
print("unlink missing", errno_of(lambda: os.unlink(mnt + "/missing")))
print("rename b c", errno_of(lambda: os.rename(mnt + "/b", mnt + "/c")))
fd = os.open(mnt + "/b", os.O_RDWR)
m = mmap.mmap(fd, 4096)
m[:5] = b"AFTER"
print("unlink b (mapped, dirty)", errno_of(lambda: os.unlink(mnt + "/b")))
print("msync of the unlinked b", errno_of(m.flush))
m.close()
os.close(fd)
print("stat b", errno_of(lambda: os.stat(mnt + "/b")))
PY
cat >"$WORK/checks.want" <<'WANT'
size of a 3
unlink a ok
stat a ENOENT
unlink a again ENOENT
unlink missing ENOENT
rename b c EXDEV
unlink b (mapped, dirty) ok
msync of the unlinked b ok
stat b ENOENT
WANT
s3 PUT /fmbucket >/dev/null || fail "making the bucket"
echo -n abc >"$WORK/a"
head -c 8192 /dev/zero >"$WORK/b"

for mode in embedded daemon; do
	note "mode $mode"
	[ $mode = daemon ] && use_daemon
	s3 PUT /fmbucket/a -T "$WORK/a" >/dev/null || fail "PUT a"
	s3 PUT /fmbucket/b -T "$WORK/b" >/dev/null || fail "PUT b"
	RUN_OPTS=(--$mode --mount "$WORK/mnt=s3://fmbucket")
	cd "$WORK/fm" || fail "cd"
	PYTHONPATH=$_LIB_DIR run_fm 256K "$PY" "$WORK/checks.py" "$WORK/mnt" >"$WORK/checks.out"
	cat "$WORK/checks.out" >&2
	same_output "$WORK/checks.want" "$WORK/checks.out" "the Python checks ($mode)"
	for o in a b; do
		if s3 GET /fmbucket/$o -o /dev/null 2>/dev/null; then
			fail "object $o is still in the bucket ($mode)"
		fi
	done
	s3 GET "/fmbucket?list-type=2" -o "$WORK/list" || fail "listing the bucket"
	if grep -q "<Key>" "$WORK/list"; then
		fail "the bucket still lists: $(cat "$WORK/list") ($mode)"
	fi
done
