#!/usr/bin/env bash
# test_mount_s3_objects_created_truncated_and_memmapped_as_local_files.sh -
# under faultmap run --mount DIR=s3://BUCKET (radosgw on a single-node
# Ceph cluster of the test's own), Python makes objects as files: os.open
# with O_CREAT|O_EXCL makes DIR/new (again: EEXIST), write() and pwrite()
# past the end grow it, ftruncate shrinks it (past the cut: the bytes are
# gone, a later growth reads zeros there) and grows it; open with O_TRUNC
# empties it; numpy.memmap(DIR/arr, mode="w+", shape=...) makes and fills
# an array, flushed. Every output equals the same script's on a local
# directory under the kernel, and each object, fetched with curl, equals
# the kernel's file byte for byte. radosgw refuses a PUT with
# If-None-Match: * of an object that exists (412), which O_CREAT relies
# on. Both modes, a 256K budget.
set -u
. "$(dirname "$0")/lib.sh"
need_py numpy python3-numpy
setup
start_ceph rgw

cat >"$WORK/files.py" <<'PY'
import hashlib, os, sys
import numpy as np
from errno_of import errno_of
d = sys.argv[1]
def show(name):
    with open(os.path.join(d, name), "rb") as f:
        data = f.read()
    print(name, os.stat(os.path.join(d, name)).st_size, len(data),
          hashlib.sha256(data).hexdigest())
new = os.path.join(d, "new")
fd = os.open(new, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
print("size at creation", os.fstat(fd).st_size)
print("O_EXCL again", errno_of(lambda: os.open(new, os.O_RDWR | os.O_CREAT | os.O_EXCL)))
os.write(fd, b"hello")
os.pwrite(fd, b"past the end", 3 * 4096 + 7)
print("after the writes", os.fstat(fd).st_size)
os.ftruncate(fd, 4096 + 100)
print("shrunk", os.fstat(fd).st_size, os.pread(fd, 8, 4096 + 96))
os.ftruncate(fd, 5 * 4096)
print("grown", os.fstat(fd).st_size, os.pread(fd, 16, 3 * 4096), os.pread(fd, 8, 4096 + 96))
os.close(fd)
show("new")
fd = os.open(os.path.join(d, "emptied"), os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"x" * 10000)
os.close(fd)
fd = os.open(os.path.join(d, "emptied"), os.O_RDWR | os.O_TRUNC)
print("O_TRUNC", os.fstat(fd).st_size)
os.close(fd)
show("emptied")
a = np.memmap(os.path.join(d, "arr"), dtype=np.float64, mode="w+", shape=(3000,))
a[:] = np.arange(3000) * 0.5
a[::7] = -1.0
a.flush()
del a
b = np.memmap(os.path.join(d, "arr"), dtype=np.float64, mode="r")
print("memmap", b.shape, repr(float(b.sum())))
del b
show("arr")
PY

cd "$WORK/kern" || fail "cd"
PYTHONPATH=$_LIB_DIR run_kernel "$PY" "$WORK/files.py" "$WORK/kern" >"$WORK/kern.out"
cat "$WORK/kern.out" >&2
s3 PUT /fmbucket >/dev/null || fail "making the bucket"
echo -n first >"$WORK/first"
s3 PUT /fmbucket/there -T "$WORK/first" >/dev/null || fail "PUT there"
if s3 PUT /fmbucket/there -H "If-None-Match: *" -T "$WORK/first" 2>"$WORK/412"; then
	fail "radosgw replaced an object on a PUT with If-None-Match: *"
fi
grep -q 412 "$WORK/412" || fail "PUT with If-None-Match: * of an object: $(cat "$WORK/412"), not 412"

for mode in embedded daemon; do
	note "mode $mode"
	[ $mode = daemon ] && use_daemon
	for o in new emptied arr; do
		s3 DELETE /fmbucket/$o >/dev/null || fail "DELETE $o"
	done
	RUN_OPTS=(--$mode --mount "$WORK/mnt=s3://fmbucket")
	cd "$WORK/fm" || fail "cd"
	PYTHONPATH=$_LIB_DIR run_fm 256K "$PY" "$WORK/files.py" "$WORK/mnt" >"$WORK/fm.out"
	cat "$WORK/fm.out" >&2
	same_output "$WORK/kern.out" "$WORK/fm.out" "the script's output ($mode)"
	expect_served 262144 "${STATS_ALL[@]}"
	for o in new emptied arr; do
		s3 GET /fmbucket/$o -o "$WORK/back" || fail "GET $o ($mode)"
		cmp "$WORK/kern/$o" "$WORK/back" >&2 || fail "object $o is not the kernel's file ($mode)"
	done
done
